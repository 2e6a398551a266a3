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

/// An ML-KEM-1024 encapsulation key. Always passes the FIPS 203 modulus check.
#[derive(Clone, PartialEq, Eq)]
pub struct MlKemPublicKey(Box<[u8; PUBLIC_KEY_LEN]>);

/// An ML-KEM-1024 decapsulation key. Zeroized on drop.
#[derive(Clone)]
pub struct MlKemSecretKey(Box<[u8; SECRET_KEY_LEN]>);

impl Drop for MlKemSecretKey {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

/// An ML-KEM-1024 ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct MlKemCiphertext(Box<[u8; CIPHERTEXT_LEN]>);

/// A key pair.
#[derive(Clone)]
pub struct MlKemKeyPair {
    /// The secret half.
    pub secret: MlKemSecretKey,
    /// The public half.
    pub public: MlKemPublicKey,
}

impl MlKemKeyPair {
    /// FIPS 203 `ML-KEM.KeyGen_internal(d, z)` from `seed = d ‖ z`.
    pub fn from_seed(seed: &[u8; SEED_LEN]) -> Self {
        let mut seed_copy = *seed;
        let kp = backend::generate_key_pair(seed_copy);
        seed_copy.zeroize();
        let (sk, pk) = kp.into_parts();
        let mut sk_bytes: [u8; SECRET_KEY_LEN] = sk.into();
        let secret = MlKemSecretKey(Box::new(sk_bytes));
        sk_bytes.zeroize();
        Self {
            secret,
            public: MlKemPublicKey(Box::new(pk.into())),
        }
    }

    /// A fresh random key pair (ephemeral and ratchet keys).
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut seed = random_array::<SEED_LEN>(rng);
        let kp = Self::from_seed(&seed);
        seed.zeroize();
        kp
    }
}

impl MlKemPublicKey {
    /// Parses and validates an encapsulation key (FIPS 203 §7.2 modulus check).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; PUBLIC_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::len("ML-KEM-1024 public key", PUBLIC_KEY_LEN, bytes.len()))?;
        let pk = backend::MlKem1024PublicKey::from(&arr);
        if !backend::validate_public_key(&pk) {
            return Err(CryptoError::InvalidMlKemPublicKey);
        }
        Ok(Self(Box::new(arr)))
    }

    /// The encoded key.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }

    /// Encapsulates with randomness from `rng`: returns the ciphertext and the 32-byte secret.
    pub fn encapsulate(&self, rng: &mut impl CryptoRng) -> (MlKemCiphertext, SharedSecret) {
        let mut m = random_array::<32>(rng);
        let out = self.encapsulate_derand(&m);
        m.zeroize();
        out
    }

    /// FIPS 203 `Encaps_internal(ek, m)`: deterministic given `m`. Only for known-answer tests
    /// and for callers that derive `m` themselves.
    pub fn encapsulate_derand(&self, m: &[u8; 32]) -> (MlKemCiphertext, SharedSecret) {
        let pk = backend::MlKem1024PublicKey::from(&*self.0);
        let (ct, mut ss) = backend::encapsulate(&pk, *m);
        let secret = SharedSecret::from_bytes(ss);
        ss.zeroize();
        (MlKemCiphertext(Box::new(ct.into())), secret)
    }
}

impl std::fmt::Debug for MlKemPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlKemPublicKey({}…)", hex::encode(&self.0[..8]))
    }
}

impl MlKemSecretKey {
    /// Restores a stored decapsulation key. The encoding embeds `H(ek)`, which is checked.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; SECRET_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::len("ML-KEM-1024 secret key", SECRET_KEY_LEN, bytes.len()))?;
        let key = Self(Box::new(arr));
        // dk = dk_pke (1536) ‖ ek (1568) ‖ H(ek) (32) ‖ z (32): FIPS 203 §7.3 hash check.
        let ek = &key.0[1536..1536 + PUBLIC_KEY_LEN];
        let h = crate::sha3_256(&[ek]);
        if h[..] != key.0[1536 + PUBLIC_KEY_LEN..1536 + PUBLIC_KEY_LEN + 32] {
            return Err(CryptoError::MalformedKey(
                "ML-KEM secret key fails its hash check",
            ));
        }
        MlKemPublicKey::from_bytes(ek)?;
        Ok(key)
    }

    /// The encoded key, for the encrypted keystore only.
    pub fn to_secret_bytes(&self) -> SecretBytes {
        SecretBytes::new(self.0.to_vec())
    }

    /// The public key embedded in this secret key.
    pub fn public_key(&self) -> MlKemPublicKey {
        let mut pk = [0u8; PUBLIC_KEY_LEN];
        pk.copy_from_slice(&self.0[1536..1536 + PUBLIC_KEY_LEN]);
        MlKemPublicKey(Box::new(pk))
    }

    /// Decapsulates. ML-KEM uses implicit rejection: a tampered ciphertext yields an unrelated
    /// pseudorandom secret rather than an error, so the failure surfaces at the AEAD that uses it.
    pub fn decapsulate(&self, ct: &MlKemCiphertext) -> SharedSecret {
        let mut sk = backend::MlKem1024PrivateKey::from(&*self.0);
        let c = backend::MlKem1024Ciphertext::from(&*ct.0);
        let mut ss = backend::decapsulate(&sk, &c);
        sk[0..].zeroize();
        let secret = SharedSecret::from_bytes(ss);
        ss.zeroize();
        secret
    }
}

impl std::fmt::Debug for MlKemSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MlKemSecretKey([redacted])")
    }
}

impl MlKemCiphertext {
    /// Parses a ciphertext (any 1568 bytes are a valid encoding).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; CIPHERTEXT_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::len("ML-KEM-1024 ciphertext", CIPHERTEXT_LEN, bytes.len()))?;
        Ok(Self(Box::new(arr)))
    }

    /// The encoded ciphertext.
    pub fn as_bytes(&self) -> &[u8; CIPHERTEXT_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for MlKemCiphertext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlKemCiphertext({}…)", hex::encode(&self.0[..8]))
    }
}

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
