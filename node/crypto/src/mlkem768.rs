//! ML-KEM-768 (FIPS 203, security category 3), the post-quantum half of the onion-layer KEM.
//!
//! The same wrapper as [`crate::mlkem`] (ML-KEM-1024) over the same backend (`libcrux-ml-kem`),
//! for the one use where the smaller parameter set is chosen: per-hop onion layers, whose keys are
//! short-lived and whose ciphertext is carried once per hop in every packet header (see
//! `docs/protocol.md`, "Onion routing", for the size and speed comparison that motivated it).

use crate::{CryptoError, CryptoRng, SecretBytes, SharedSecret, random_array};
use libcrux_ml_kem::mlkem768 as backend;
use zeroize::Zeroize;

/// Encoded public (encapsulation) key size.
pub const PUBLIC_KEY_LEN: usize = 1184;
/// Encoded secret (decapsulation) key size.
pub const SECRET_KEY_LEN: usize = 2400;
/// Ciphertext size.
pub const CIPHERTEXT_LEN: usize = 1088;
/// Key-generation seed size: `d ‖ z`.
pub const SEED_LEN: usize = 64;
/// Size of the PKE decryption key at the start of the encoded decapsulation key.
const DK_PKE_LEN: usize = 1152;

crate::mlkem_impl::ml_kem_parameter_set!(
    name: "ML-KEM-768",
    backend: (MlKem768PublicKey, MlKem768PrivateKey, MlKem768Ciphertext),
    types: (MlKem768PublicKey, MlKem768SecretKey, MlKem768Ciphertext, MlKem768KeyPair),
);

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn round_trip_wrong_key_tamper_and_parsing() {
        let mut rng = ChaCha20Rng::seed_from_u64(768);
        let a = MlKem768KeyPair::generate(&mut rng);
        let b = MlKem768KeyPair::generate(&mut rng);
        let (ct, ss) = a.public.encapsulate(&mut rng);
        assert_eq!(a.secret.decapsulate(&ct), ss);
        assert_ne!(b.secret.decapsulate(&ct), ss, "wrong key");
        let mut bad = ct.as_bytes().to_vec();
        bad[100] ^= 1;
        let bad = MlKem768Ciphertext::from_bytes(&bad).unwrap();
        assert_ne!(a.secret.decapsulate(&bad), ss, "implicit rejection");
        assert_eq!(a.secret.public_key(), a.public);
        assert_eq!(
            MlKem768PublicKey::from_bytes(a.public.as_bytes()).unwrap(),
            a.public
        );
        assert!(MlKem768PublicKey::from_bytes(&[0u8; 10]).is_err());
        assert_eq!(
            MlKem768PublicKey::from_bytes(&[0xFFu8; PUBLIC_KEY_LEN]),
            Err(CryptoError::InvalidMlKemPublicKey)
        );
        assert!(MlKem768Ciphertext::from_bytes(&[0u8; CIPHERTEXT_LEN + 1]).is_err());
        let bytes = a.secret.to_secret_bytes();
        assert!(MlKem768SecretKey::from_bytes(bytes.as_slice()).is_ok());
        let mut tampered = bytes.as_slice().to_vec();
        tampered[DK_PKE_LEN + 5] ^= 1;
        assert!(MlKem768SecretKey::from_bytes(&tampered).is_err());
    }

    #[test]
    fn deterministic_from_seed_and_m() {
        let kp1 = MlKem768KeyPair::from_seed(&[3; SEED_LEN]);
        let kp2 = MlKem768KeyPair::from_seed(&[3; SEED_LEN]);
        assert_eq!(kp1.public, kp2.public);
        let (c1, s1) = kp1.public.encapsulate_derand(&[4; 32]);
        let (c2, s2) = kp2.public.encapsulate_derand(&[4; 32]);
        assert_eq!((c1.as_bytes(), &s1), (c2.as_bytes(), &s2));
        assert_eq!(c1.as_bytes().len(), 1088);
        assert_eq!(kp1.public.as_bytes().len(), 1184);
    }
}
