//! ML-KEM-1024 (FIPS 203). The only file that knows the backend (`libcrux-ml-kem`).
//!
//! Keys are derived from the 64-byte `(d, z)` seed of FIPS 203 `KeyGen_internal`, so identity keys
//! can be recomputed from a mnemonic; encapsulation takes its 32-byte `m` from the caller's RNG.

use crate::{CryptoError, CryptoRng, SecretBytes, SharedSecret, random_array};
use libcrux_ml_kem::mlkem1024 as backend;
use zeroize::Zeroize;

/// Encoded public (encapsulation) key size.
pub const PUBLIC_KEY_LEN: usize = 1568;
/// Encoded secret (decapsulation) key size.
pub const SECRET_KEY_LEN: usize = 3168;
/// Ciphertext size.
pub const CIPHERTEXT_LEN: usize = 1568;
/// Key-generation seed size: `d ‖ z`.
pub const SEED_LEN: usize = 64;
/// Size of the PKE decryption key at the start of the encoded decapsulation key.
const DK_PKE_LEN: usize = 1536;

crate::mlkem_impl::ml_kem_parameter_set!(
    name: "ML-KEM-1024",
    backend: (MlKem1024PublicKey, MlKem1024PrivateKey, MlKem1024Ciphertext),
    types: (MlKemPublicKey, MlKemSecretKey, MlKemCiphertext, MlKemKeyPair),
);

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn round_trip_and_wrong_key() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let a = MlKemKeyPair::generate(&mut rng);
        let b = MlKemKeyPair::generate(&mut rng);
        let (ct, ss) = a.public.encapsulate(&mut rng);
        assert_eq!(a.secret.decapsulate(&ct), ss);
        assert_ne!(
            b.secret.decapsulate(&ct),
            ss,
            "wrong key gives a different secret"
        );
        let mut bad = ct.as_bytes().to_vec();
        bad[100] ^= 1;
        let bad = MlKemCiphertext::from_bytes(&bad).unwrap();
        assert_ne!(
            a.secret.decapsulate(&bad),
            ss,
            "tampered ciphertext is implicitly rejected"
        );
        assert_eq!(a.secret.public_key(), a.public);
    }

    #[test]
    fn parsing_rejects_bad_lengths_and_unreduced_keys() {
        assert!(MlKemPublicKey::from_bytes(&[0u8; 10]).is_err());
        assert!(MlKemCiphertext::from_bytes(&[0u8; CIPHERTEXT_LEN + 1]).is_err());
        // All-0xFF coefficients are >= q: the modulus check must reject them.
        assert_eq!(
            MlKemPublicKey::from_bytes(&[0xFFu8; PUBLIC_KEY_LEN]),
            Err(CryptoError::InvalidMlKemPublicKey)
        );
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let kp = MlKemKeyPair::generate(&mut rng);
        let bytes = kp.secret.to_secret_bytes();
        assert!(MlKemSecretKey::from_bytes(bytes.as_slice()).is_ok());
        let mut tampered = bytes.as_slice().to_vec();
        tampered[1536 + 5] ^= 1;
        assert!(MlKemSecretKey::from_bytes(&tampered).is_err());
    }
}
