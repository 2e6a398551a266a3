//! Hybrid key encapsulation X25519 + ML-KEM-768, combined X-Wing style: the onion-layer KEM.
//!
//! Identical in construction to [`crate::hybrid_kem`] (X25519 + ML-KEM-1024) — the same
//! [`combine`](crate::hybrid_kem::combine) over both secrets and the whole transcript
//! `ct_x25519 ‖ pk_x25519 ‖ ct_mlkem ‖ pk_mlkem` — with the category-3 parameter set, whose
//! 1,088-byte ciphertext keeps a three-hop onion header 1.5 KB smaller per packet. The secret key
//! caches its public half, so decapsulation does one X25519 scalar multiplication, not two.
//! The public key, ciphertext, encapsulation and combiner are the one implementation of
//! `hybrid_kem_impl`, shared with ML-KEM-1024.

use crate::classic::{X25519PublicKey, X25519SecretKey};
use crate::mlkem768::{
    self, MlKem768Ciphertext, MlKem768KeyPair, MlKem768PublicKey, MlKem768SecretKey,
};
use crate::{CryptoError, CryptoRng, SharedSecret};

/// Encoded public key size: X25519 (32) ‖ ML-KEM-768 (1184).
pub const PUBLIC_KEY_LEN: usize = 32 + mlkem768::PUBLIC_KEY_LEN;
/// Encoded ciphertext size: ephemeral X25519 (32) ‖ ML-KEM-768 ciphertext (1088).
pub const CIPHERTEXT_LEN: usize = 32 + mlkem768::CIPHERTEXT_LEN;
/// Encoded secret key size: X25519 (32) ‖ ML-KEM-768 decapsulation key (2400).
pub const SECRET_KEY_LEN: usize = 32 + mlkem768::SECRET_KEY_LEN;

/// A hybrid X25519 + ML-KEM-768 secret key with its public key. Zeroized on drop.
#[derive(Clone, Debug)]
pub struct Hybrid768SecretKey {
    x25519: X25519SecretKey,
    mlkem: MlKem768SecretKey,
    public: Hybrid768PublicKey,
}

impl Hybrid768SecretKey {
    /// A fresh random key pair.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let x25519 = X25519SecretKey::generate(rng);
        let kp = MlKem768KeyPair::generate(rng);
        Self::from_parts(x25519, kp.secret)
    }

    fn from_parts(x25519: X25519SecretKey, mlkem: MlKem768SecretKey) -> Self {
        let public = Hybrid768PublicKey {
            x25519: x25519.public_key(),
            mlkem: mlkem.public_key(),
        };
        Self {
            x25519,
            mlkem,
            public,
        }
    }

    /// The public key.
    pub fn public_key(&self) -> &Hybrid768PublicKey {
        &self.public
    }

    /// Recovers the combined secret from `ct` under `label`. ML-KEM rejects implicitly: a
    /// tampered ciphertext yields an unrelated secret, so the failure surfaces at the MAC.
    pub fn decapsulate(
        &self,
        ct: &Hybrid768Ciphertext,
        label: &[u8],
    ) -> Result<SharedSecret, CryptoError> {
        decapsulate_parts(&self.x25519, &self.mlkem, &self.public, ct, label)
    }

    /// `x25519 (32) ‖ ML-KEM-768 decapsulation key (2400)`, for encrypted storage only.
    pub fn to_secret_bytes(&self) -> crate::SecretBytes {
        let mut v = Vec::with_capacity(SECRET_KEY_LEN);
        v.extend_from_slice(&self.x25519.to_bytes());
        v.extend_from_slice(self.mlkem.to_secret_bytes().as_slice());
        crate::SecretBytes::new(v)
    }

    /// Restores a key stored by [`to_secret_bytes`](Self::to_secret_bytes).
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != SECRET_KEY_LEN {
            return Err(CryptoError::InvalidLength {
                what: "hybrid ML-KEM-768 secret key",
                expected: SECRET_KEY_LEN,
                got: bytes.len(),
            });
        }
        let (x, m) = bytes.split_at(32);
        let mut xa = [0u8; 32];
        xa.copy_from_slice(x);
        let x25519 = X25519SecretKey::from_bytes(xa);
        zeroize::Zeroize::zeroize(&mut xa);
        Ok(Self::from_parts(x25519, MlKem768SecretKey::from_bytes(m)?))
    }
}

crate::hybrid_kem_impl::hybrid_kem_parameter_set!(
    name: "ML-KEM-768",
    errors: (
        public_key: "hybrid ML-KEM-768 public key",
        ciphertext: "hybrid ML-KEM-768 ciphertext",
    ),
    mlkem: (MlKem768PublicKey, MlKem768SecretKey, MlKem768Ciphertext),
    types: (Hybrid768PublicKey, Hybrid768Ciphertext),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn round_trip_wrong_key_wrong_label_tamper_storage() {
        let mut rng = ChaCha20Rng::seed_from_u64(7680);
        let sk = Hybrid768SecretKey::generate(&mut rng);
        let pk = sk.public_key().clone();
        let (ct, ss) = pk.encapsulate(labels::ONION, &mut rng).unwrap();
        assert_eq!(sk.decapsulate(&ct, labels::ONION).unwrap(), ss);
        assert_ne!(sk.decapsulate(&ct, labels::HANDSHAKE).unwrap(), ss);
        let other = Hybrid768SecretKey::generate(&mut rng);
        assert_ne!(other.decapsulate(&ct, labels::ONION).unwrap(), ss);
        let bytes = ct.to_bytes();
        assert_eq!(bytes.len(), CIPHERTEXT_LEN);
        for i in [0usize, 31, 32, 600, CIPHERTEXT_LEN - 1] {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let t = Hybrid768Ciphertext::from_bytes(&b).unwrap();
            if let Ok(s) = sk.decapsulate(&t, labels::ONION) {
                assert_ne!(s, ss, "tampered byte {i}");
            }
        }
        assert!(Hybrid768Ciphertext::from_bytes(&bytes[1..]).is_err());
        assert_eq!(Hybrid768PublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
        assert!(Hybrid768PublicKey::from_bytes(&pk.to_bytes()[1..]).is_err());
        let stored = sk.to_secret_bytes();
        let restored = Hybrid768SecretKey::from_secret_bytes(stored.as_slice()).unwrap();
        assert_eq!(restored.public_key(), &pk);
        assert_eq!(restored.decapsulate(&ct, labels::ONION).unwrap(), ss);
        assert!(Hybrid768SecretKey::from_secret_bytes(&stored.as_slice()[1..]).is_err());
    }
}
