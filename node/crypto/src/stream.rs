//! Length-preserving symmetric pieces: the ChaCha20 keystream and the Poly1305 one-time MAC.
//!
//! Fixed-size formats such as onion packets cannot use the AEAD of [`crate::aead`], which grows
//! its input by a tag and needs a nonce: they transform a buffer in place and keep their tags in
//! fixed fields. Both functions take a key that the caller derives **fresh for each use** (one
//! key, one message): ChaCha20 runs with the all-zero nonce, and Poly1305 is a one-time
//! authenticator whose security is void if a key ever authenticates two different messages.

use crate::SharedSecret;
use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use poly1305::Poly1305;
use poly1305::universal_hash::KeyInit;

/// Poly1305 tag size.
pub const TAG_LEN: usize = 16;

/// XORs `buf` with the ChaCha20 (RFC 8439) keystream of `key` under the all-zero nonce, from
/// block 0. Applying it twice restores `buf`. `key` must never be used for another buffer.
pub fn chacha20_xor(key: &SharedSecret, buf: &mut [u8]) {
    let mut c = ChaCha20::new(&(*key.as_bytes()).into(), &[0u8; 12].into());
    c.apply_keystream(buf);
}

/// Poly1305 (RFC 8439) of `data` under the one-time key `key` (`r ‖ s`; `r` is clamped inside).
pub fn poly1305(key: &SharedSecret, data: &[u8]) -> [u8; TAG_LEN] {
    let mac = Poly1305::new(&(*key.as_bytes()).into());
    mac.compute_unpadded(data).into()
}

/// Whether two tags are equal, in constant time.
pub fn tags_equal(a: &[u8; TAG_LEN], b: &[u8; TAG_LEN]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8439_vectors() {
        // RFC 8439 §2.5.2: Poly1305 test vector.
        let key: [u8; 32] =
            hex::decode("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
                .unwrap()
                .try_into()
                .unwrap();
        let tag = poly1305(
            &SharedSecret::from_bytes(key),
            b"Cryptographic Forum Research Group",
        );
        assert_eq!(hex::encode(tag), "a8061dc1305136c6c22b8baf0c0127a9");
        // RFC 8439 §2.3.2 key with the zero nonce: XOR twice restores, output is not the input.
        let k = SharedSecret::from_bytes(std::array::from_fn(|i| i as u8));
        let mut buf = vec![0u8; 200];
        chacha20_xor(&k, &mut buf);
        assert_ne!(buf, vec![0u8; 200]);
        let ks = buf.clone();
        chacha20_xor(&k, &mut buf);
        assert_eq!(buf, vec![0u8; 200]);
        // A prefix of the keystream does not depend on the length asked for.
        let mut short = vec![0u8; 64];
        chacha20_xor(&k, &mut short);
        assert_eq!(&ks[..64], &short[..]);
        assert!(tags_equal(&tag, &tag));
        let mut other = tag;
        other[15] ^= 1;
        assert!(!tags_equal(&tag, &other));
    }
}
