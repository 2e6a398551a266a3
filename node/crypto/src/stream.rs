//! Length-preserving symmetric pieces: two stream ciphers (ChaCha20, AES-256-CTR) and two
//! one-time MACs (Poly1305, GMAC).
//!
//! Fixed-size formats such as onion packets cannot use the AEAD of [`crate::aead`], which grows
//! its input by a tag and needs a nonce: they transform a buffer in place and keep their tags in
//! fixed fields. Every function takes a key that the caller derives **fresh for each use** (one
//! key, one message): the stream ciphers run with an all-zero nonce or counter block, and both
//! MACs are one-time authenticators (Carter–Wegman) whose security is void if a key ever
//! authenticates two different messages.
//!
//! The AES pair runs in AWS-LC (`aws-lc-rs`: AES-NI/VAES and carry-less multiplication, several
//! times faster here than ChaCha20 and Poly1305 over large buffers, see `docs/performance.md`); the
//! RustCrypto `aes`, `ctr` and `ghash` crates compute the same functions as the fallback should
//! AWS-LC ever report an error, so neither function can fail.

use crate::SharedSecret;
use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use poly1305::Poly1305;
use poly1305::universal_hash::KeyInit;
use zeroize::Zeroize;

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

/// XORs `buf` with the AES-256-CTR keystream of `key` (NIST SP 800-38A): initial counter block
/// all zero, incremented as one 128-bit big-endian integer, so keystream block `i` is
/// `AES-256(key, i)`. Applying it twice restores `buf`. `key` must never be used for another
/// buffer.
pub fn aes256_ctr_xor(key: &SharedSecret, buf: &mut [u8]) {
    if aes256_ctr_xor_fast(key, buf).is_err() {
        aes256_ctr_xor_portable(key, buf);
    }
}

fn aes256_ctr_xor_fast(key: &SharedSecret, buf: &mut [u8]) -> Result<(), ()> {
    use aws_lc_rs::cipher::{AES_256, EncryptingKey, EncryptionContext, UnboundCipherKey};
    let k = UnboundCipherKey::new(&AES_256, key.as_bytes()).map_err(|_| ())?;
    let k = EncryptingKey::ctr(k).map_err(|_| ())?;
    // AWS-LC transforms in place and fails before writing anything.
    k.less_safe_encrypt(buf, EncryptionContext::Iv128([0u8; 16].into()))
        .map(|_| ())
        .map_err(|_| ())
}

fn aes256_ctr_xor_portable(key: &SharedSecret, buf: &mut [u8]) {
    use ctr::cipher::{KeyIvInit, StreamCipher};
    let mut c = ctr::Ctr128BE::<aes::Aes256>::new(key.as_bytes().into(), &[0u8; 16].into());
    c.apply_keystream(buf);
}

/// GMAC (NIST SP 800-38D) of `data` under the one-time key `key`: the AES-256-GCM tag with the
/// all-zero 96-bit nonce, `data` as the additional data and an empty plaintext, i.e.
/// `GHASH_H(data, lengths) ⊕ AES-256(key, 0⁹⁶ ‖ 1)` with `H = AES-256(key, 0¹²⁸)`.
pub fn gmac(key: &SharedSecret, data: &[u8]) -> [u8; TAG_LEN] {
    gmac_fast(key, data).unwrap_or_else(|()| gmac_portable(key, data))
}

fn gmac_fast(key: &SharedSecret, data: &[u8]) -> Result<[u8; TAG_LEN], ()> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.as_bytes()).map_err(|_| ())?);
    let tag = k
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key([0u8; 12]),
            Aad::from(data),
            &mut [],
        )
        .map_err(|_| ())?;
    <[u8; TAG_LEN]>::try_from(tag.as_ref()).map_err(|_| ())
}

fn gmac_portable(key: &SharedSecret, data: &[u8]) -> [u8; TAG_LEN] {
    use aes::cipher::{BlockEncrypt, KeyInit as _};
    use ghash::universal_hash::UniversalHash;
    let aes = aes::Aes256::new(key.as_bytes().into());
    let mut h = aes::Block::default();
    aes.encrypt_block(&mut h);
    let mut ghash = ghash::GHash::new(&h);
    ghash.update_padded(data);
    let mut lengths = ghash::Block::default();
    lengths[..8].copy_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    ghash.update(&[lengths]);
    let mut tag: [u8; TAG_LEN] = ghash.finalize().into();
    let mut j0 = aes::Block::default();
    j0[15] = 1;
    aes.encrypt_block(&mut j0);
    for (t, m) in tag.iter_mut().zip(j0.iter()) {
        *t ^= m;
    }
    h.zeroize();
    j0.zeroize();
    tag
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

    fn hex16(s: &str) -> [u8; 16] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn gmac_gcm_spec_vectors() {
        // McGrew–Viega GCM specification, test case 13 (AES-256, zero key, zero IV, no data):
        // the tag of an empty message.
        let zero = SharedSecret::from_bytes([0; 32]);
        let t13 = hex16("530f8afbc74536b9a963b4f1c4cb738b");
        assert_eq!(gmac(&zero, &[]), t13);
        assert_eq!(gmac_portable(&zero, &[]), t13);
        // AES-256 of the zero block under the zero key (FIPS 197 / GCM test case 14's H):
        // keystream block 0 of AES-256-CTR with the zero counter.
        let mut block = [0u8; 16];
        aes256_ctr_xor(&zero, &mut block);
        assert_eq!(block, hex16("dc95c078a2408989ad48a21492842087"));
    }

    /// AWS-LC and the RustCrypto fallback agree, and both agree with the `aes-gcm` crate's
    /// AES-256-GCM, on every length from empty to several thousand bytes (partial blocks
    /// included) under random keys.
    #[test]
    fn aes_pair_fast_equals_portable_equals_aes_gcm() {
        use aes_gcm::aead::AeadInPlace;
        use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
        let mut seed = 0x5eed_u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u8
        };
        for len in [0usize, 1, 15, 16, 17, 63, 64, 255, 256, 1000, 4097, 29_185] {
            let key = SharedSecret::from_bytes(std::array::from_fn(|_| next()));
            let data: Vec<u8> = (0..len).map(|_| next()).collect();
            let tag = gmac(&key, &data);
            assert_eq!(gmac_fast(&key, &data).unwrap(), tag, "len {len}");
            assert_eq!(gmac_portable(&key, &data), tag, "len {len}");
            let gcm = Aes256Gcm::new(key.as_bytes().into());
            let reference = gcm
                .encrypt_in_place_detached(&Nonce::default(), &data, &mut [])
                .unwrap();
            assert_eq!(reference.as_slice(), &tag[..], "len {len}");

            let mut a = data.clone();
            aes256_ctr_xor(&key, &mut a);
            let mut b = data.clone();
            aes256_ctr_xor_portable(&key, &mut b);
            assert_eq!(a, b, "len {len}");
            if len > 0 {
                assert_ne!(a, data);
            }
            aes256_ctr_xor(&key, &mut a);
            assert_eq!(a, data, "applying it twice restores");
        }
        // One flipped bit changes the tag.
        let key = SharedSecret::from_bytes([7; 32]);
        let mut data = vec![0u8; 100];
        let tag = gmac(&key, &data);
        data[99] ^= 0x80;
        assert_ne!(gmac(&key, &data), tag);
    }
}
