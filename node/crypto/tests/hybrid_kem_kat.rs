//! Known answers of both hybrid KEMs (X25519 + ML-KEM-1024, X25519 + ML-KEM-768) from a fixed
//! RNG: encodings and combined secrets must never change, whatever the implementation shares.
//! The expected digests were taken from the code before the two modules shared one
//! implementation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pars_crypto::hybrid_kem::{self, HybridCiphertext, HybridPublicKey, HybridSecretKey};
use pars_crypto::hybrid_kem768::{
    self, Hybrid768Ciphertext, Hybrid768PublicKey, Hybrid768SecretKey,
};
use pars_crypto::{CryptoError, labels, sha3_256};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[test]
fn hybrid_kem_1024_known_answer() {
    let mut rng = ChaCha20Rng::seed_from_u64(1024);
    let sk = HybridSecretKey::generate(&mut rng);
    let pk = sk.public_key();
    let (ct, ss) = pk.encapsulate(labels::HANDSHAKE, &mut rng).unwrap();
    assert_eq!(sk.decapsulate(&ct, labels::HANDSHAKE).unwrap(), ss);
    let digest = sha3_256(&[&pk.to_bytes(), &ct.to_bytes(), ss.as_bytes()]);
    assert_eq!(
        hex::encode(digest),
        "84262d2f5c5c640b98ed837859e657d339c68602d00566ac4bf51fd85b93c3eb"
    );
    assert_eq!(pk.to_bytes().len(), hybrid_kem::PUBLIC_KEY_LEN);
    assert_eq!(HybridPublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
    assert_eq!(HybridCiphertext::from_bytes(&ct.to_bytes()).unwrap(), ct);
    assert_eq!(
        HybridCiphertext::from_bytes(&[0; 3]),
        Err(CryptoError::InvalidLength {
            what: "hybrid ciphertext",
            expected: hybrid_kem::CIPHERTEXT_LEN,
            got: 3
        })
    );
    assert_eq!(
        HybridPublicKey::from_bytes(&[0; 3]),
        Err(CryptoError::InvalidLength {
            what: "hybrid public key",
            expected: hybrid_kem::PUBLIC_KEY_LEN,
            got: 3
        })
    );
}

#[test]
fn hybrid_kem_768_known_answer() {
    let mut rng = ChaCha20Rng::seed_from_u64(768);
    let sk = Hybrid768SecretKey::generate(&mut rng);
    let pk = sk.public_key().clone();
    let (ct, ss) = pk.encapsulate(labels::ONION, &mut rng).unwrap();
    assert_eq!(sk.decapsulate(&ct, labels::ONION).unwrap(), ss);
    let digest = sha3_256(&[&pk.to_bytes(), &ct.to_bytes(), ss.as_bytes()]);
    assert_eq!(
        hex::encode(digest),
        "5cb2f5442329e4f94c9d41432cc021e576cc759f86a32e96276c97a2b0c26c3a"
    );
    let mut written = Vec::new();
    ct.write_to(&mut written);
    assert_eq!(written, ct.to_bytes());
    assert_eq!(Hybrid768PublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
    assert_eq!(Hybrid768Ciphertext::from_bytes(&ct.to_bytes()).unwrap(), ct);
    assert_eq!(
        Hybrid768Ciphertext::from_bytes(&[0; 3]),
        Err(CryptoError::InvalidLength {
            what: "hybrid ML-KEM-768 ciphertext",
            expected: hybrid_kem768::CIPHERTEXT_LEN,
            got: 3
        })
    );
    assert_eq!(
        Hybrid768PublicKey::from_bytes(&[0; 3]),
        Err(CryptoError::InvalidLength {
            what: "hybrid ML-KEM-768 public key",
            expected: hybrid_kem768::PUBLIC_KEY_LEN,
            got: 3
        })
    );
}
