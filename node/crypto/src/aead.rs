//! XChaCha20-Poly1305 with associated data: the only AEAD of the protocol.
//!
//! The 24-byte nonce is large enough to draw at random; protocol layers that derive a fresh key
//! per message may use a fixed nonce, and say so in `docs/protocol.md`.

use crate::{CryptoError, CryptoRng, SharedSecret, random_array};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Key size.
pub const KEY_LEN: usize = 32;
/// Nonce size.
pub const NONCE_LEN: usize = 24;
/// Authentication tag size (ciphertext = plaintext + tag).
pub const TAG_LEN: usize = 16;

fn cipher(key: &SharedSecret) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&(*key.as_bytes()).into())
}

/// Encrypts `plaintext` bound to `aad`; returns `ciphertext ‖ tag`.
pub fn seal(key: &SharedSecret, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce = XNonce::from(*nonce);
    // XChaCha20-Poly1305 only fails to encrypt beyond 256 GiB, which no buffer here reaches.
    cipher(key)
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default()
}

/// Decrypts `ciphertext ‖ tag` bound to `aad`.
pub fn open(
    key: &SharedSecret,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if ciphertext.len() < TAG_LEN {
        return Err(CryptoError::Decryption);
    }
    let nonce = XNonce::from(*nonce);
    cipher(key)
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Decryption)
}

/// Encrypts under a random nonce; returns `nonce (24) ‖ ciphertext ‖ tag (16)`.
pub fn seal_random_nonce(
    key: &SharedSecret,
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut impl CryptoRng,
) -> Vec<u8> {
    let nonce = random_array::<NONCE_LEN>(rng);
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&seal(key, &nonce, aad, plaintext));
    out
}

/// Decrypts `nonce (24) ‖ ciphertext ‖ tag (16)`.
pub fn open_random_nonce(
    key: &SharedSecret,
    aad: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if data.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Decryption);
    }
    let (nonce, ct) = data.split_at(NONCE_LEN);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(nonce);
    open(key, &n, aad, ct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn round_trip_and_every_rejection() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let k = SharedSecret::from_bytes([9; 32]);
        let ct = seal_random_nonce(&k, b"aad", b"secret message", &mut rng);
        assert_eq!(
            open_random_nonce(&k, b"aad", &ct).unwrap(),
            b"secret message"
        );
        assert_eq!(
            open_random_nonce(&k, b"aae", &ct),
            Err(CryptoError::Decryption)
        );
        let k2 = SharedSecret::from_bytes([8; 32]);
        assert_eq!(
            open_random_nonce(&k2, b"aad", &ct),
            Err(CryptoError::Decryption)
        );
        for i in 0..ct.len() {
            let mut t = ct.clone();
            t[i] ^= 0x04;
            assert_eq!(
                open_random_nonce(&k, b"aad", &t),
                Err(CryptoError::Decryption),
                "byte {i}"
            );
        }
        for n in 0..ct.len() {
            assert!(
                open_random_nonce(&k, b"aad", &ct[..n]).is_err(),
                "truncated to {n}"
            );
        }
        assert_eq!(seal(&k, &[0; 24], b"", b"").len(), TAG_LEN);
    }
}
