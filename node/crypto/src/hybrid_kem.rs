//! Hybrid key encapsulation: X25519 + ML-KEM-1024, combined X-Wing style.
//!
//! The combined secret is
//! `HKDF-SHA3-256(salt = label, ikm = ss_mlkem ‖ ss_x25519, info = label ‖ transcript)`,
//! where the transcript is every public value of the exchange, each prefixed by its 4-byte
//! big-endian length ([`combine`]). An attacker must break both X25519 and ML-KEM to learn it,
//! and a ciphertext cannot be replayed under another public key or purpose. The public key,
//! ciphertext and encapsulation are `hybrid_kem_impl`'s, shared with [`crate::hybrid_kem768`].

use crate::classic::{X25519PublicKey, X25519SecretKey};
use crate::mlkem::{self, MlKemCiphertext, MlKemKeyPair, MlKemPublicKey, MlKemSecretKey};
use crate::{CryptoError, CryptoRng, SharedSecret, kdf};
use zeroize::Zeroize;

/// Encoded hybrid public key size: X25519 (32) ‖ ML-KEM-1024 (1568).
pub const PUBLIC_KEY_LEN: usize = 32 + mlkem::PUBLIC_KEY_LEN;
/// Encoded hybrid ciphertext size: ephemeral X25519 (32) ‖ ML-KEM-1024 ciphertext (1568).
pub const CIPHERTEXT_LEN: usize = 32 + mlkem::CIPHERTEXT_LEN;

/// A hybrid encryption secret key. Zeroized on drop (both halves).
#[derive(Clone, Debug)]
pub struct HybridSecretKey {
    /// The classical half.
    pub x25519: X25519SecretKey,
    /// The post-quantum half.
    pub mlkem: MlKemSecretKey,
}

impl HybridSecretKey {
    /// A fresh random key pair.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self {
            x25519: X25519SecretKey::generate(rng),
            mlkem: MlKemKeyPair::generate(rng).secret,
        }
    }

    /// The public key.
    pub fn public_key(&self) -> HybridPublicKey {
        HybridPublicKey {
            x25519: self.x25519.public_key(),
            mlkem: self.mlkem.public_key(),
        }
    }

    /// Recovers the combined secret from `ct` under `label`.
    pub fn decapsulate(
        &self,
        ct: &HybridCiphertext,
        label: &[u8],
    ) -> Result<SharedSecret, CryptoError> {
        decapsulate_parts(&self.x25519, &self.mlkem, &self.public_key(), ct, label)
    }
}

crate::hybrid_kem_impl::hybrid_kem_parameter_set!(
    name: "ML-KEM-1024",
    errors: (public_key: "hybrid public key", ciphertext: "hybrid ciphertext"),
    mlkem: (MlKemPublicKey, MlKemSecretKey, MlKemCiphertext),
    types: (HybridPublicKey, HybridCiphertext),
);

/// The hybrid combiner used by every protocol step that mixes a classical and a post-quantum
/// secret: `HKDF-SHA3-256(salt = label, ikm = ss_pq ‖ ss_classical,
/// info = label ‖ Σ (u32_be(len(t)) ‖ t))`.
pub fn combine(
    label: &[u8],
    ss_classical: &SharedSecret,
    ss_pq: &SharedSecret,
    transcript: &[&[u8]],
) -> SharedSecret {
    let mut ikm = [0u8; 64];
    ikm[..32].copy_from_slice(ss_pq.as_bytes());
    ikm[32..].copy_from_slice(ss_classical.as_bytes());
    let mut info =
        Vec::with_capacity(label.len() + transcript.iter().map(|t| 4 + t.len()).sum::<usize>());
    info.extend_from_slice(label);
    for t in transcript {
        info.extend_from_slice(&(t.len() as u32).to_be_bytes());
        info.extend_from_slice(t);
    }
    let out = kdf::derive_key(label, &ikm, &[&info]);
    ikm.zeroize();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn round_trip_wrong_key_wrong_label_tamper() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let sk = HybridSecretKey::generate(&mut rng);
        let pk = sk.public_key();
        let (ct, ss) = pk.encapsulate(labels::HANDSHAKE, &mut rng).unwrap();
        assert_eq!(sk.decapsulate(&ct, labels::HANDSHAKE).unwrap(), ss);
        assert_ne!(
            sk.decapsulate(&ct, labels::ONION).unwrap(),
            ss,
            "label binds"
        );
        let other = HybridSecretKey::generate(&mut rng);
        assert_ne!(
            other.decapsulate(&ct, labels::HANDSHAKE).unwrap(),
            ss,
            "wrong key"
        );
        // Flip one bit anywhere in the ciphertext: the secret changes (or X25519 rejects).
        let bytes = ct.to_bytes();
        for i in [0usize, 31, 32, 500, CIPHERTEXT_LEN - 1] {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let t = HybridCiphertext::from_bytes(&b).unwrap();
            if let Ok(s) = sk.decapsulate(&t, labels::HANDSHAKE) {
                assert_ne!(s, ss, "tampered byte {i}");
            }
        }
        assert!(HybridCiphertext::from_bytes(&bytes[..CIPHERTEXT_LEN - 1]).is_err());
        assert_eq!(HybridCiphertext::from_bytes(&bytes).unwrap(), ct);
        assert_eq!(HybridPublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
        assert!(HybridPublicKey::from_bytes(&pk.to_bytes()[1..]).is_err());
    }

    #[test]
    fn combiner_depends_on_both_secrets() {
        let a = SharedSecret::from_bytes([1; 32]);
        let b = SharedSecret::from_bytes([2; 32]);
        let c = SharedSecret::from_bytes([3; 32]);
        let base = combine(b"l", &a, &b, &[b"t"]);
        assert_ne!(base, combine(b"l", &c, &b, &[b"t"]));
        assert_ne!(base, combine(b"l", &a, &c, &[b"t"]));
        assert_ne!(base, combine(b"l", &a, &b, &[b"u"]));
        assert_ne!(base, combine(b"m", &a, &b, &[b"t"]));
        // Length prefixes make the transcript unambiguous.
        assert_ne!(
            combine(b"l", &a, &b, &[b"ab", b"c"]),
            combine(b"l", &a, &b, &[b"a", b"bc"])
        );
    }
}
