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

/// An ML-KEM-768 encapsulation key. Always passes the FIPS 203 modulus check.
#[derive(Clone, PartialEq, Eq)]
pub struct MlKem768PublicKey(Box<[u8; PUBLIC_KEY_LEN]>);

/// An ML-KEM-768 decapsulation key. Zeroized on drop.
#[derive(Clone)]
pub struct MlKem768SecretKey(Box<[u8; SECRET_KEY_LEN]>);

impl Drop for MlKem768SecretKey {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

/// An ML-KEM-768 ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct MlKem768Ciphertext(Box<[u8; CIPHERTEXT_LEN]>);

/// A key pair.
#[derive(Clone)]
pub struct MlKem768KeyPair {
    /// The secret half.
    pub secret: MlKem768SecretKey,
    /// The public half.
    pub public: MlKem768PublicKey,
}

impl MlKem768KeyPair {
    /// FIPS 203 `ML-KEM.KeyGen_internal(d, z)` from `seed = d ‖ z`.
    pub fn from_seed(seed: &[u8; SEED_LEN]) -> Self {
        let mut seed_copy = *seed;
        let kp = backend::generate_key_pair(seed_copy);
        seed_copy.zeroize();
        let (sk, pk) = kp.into_parts();
        let mut sk_bytes: [u8; SECRET_KEY_LEN] = sk.into();
        let secret = MlKem768SecretKey(Box::new(sk_bytes));
        sk_bytes.zeroize();
        Self {
            secret,
            public: MlKem768PublicKey(Box::new(pk.into())),
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

impl MlKem768PublicKey {
    /// Parses and validates an encapsulation key (FIPS 203 §7.2 modulus check).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; PUBLIC_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::len("ML-KEM-768 public key", PUBLIC_KEY_LEN, bytes.len()))?;
        let pk = backend::MlKem768PublicKey::from(&arr);
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
    pub fn encapsulate(&self, rng: &mut impl CryptoRng) -> (MlKem768Ciphertext, SharedSecret) {
        let mut m = random_array::<32>(rng);
        let out = self.encapsulate_derand(&m);
        m.zeroize();
        out
    }

    /// FIPS 203 `Encaps_internal(ek, m)`: deterministic given `m`. Only for known-answer tests
    /// and for callers that derive `m` themselves.
    pub fn encapsulate_derand(&self, m: &[u8; 32]) -> (MlKem768Ciphertext, SharedSecret) {
        let pk = backend::MlKem768PublicKey::from(&*self.0);
        let (ct, mut ss) = backend::encapsulate(&pk, *m);
        let secret = SharedSecret::from_bytes(ss);
        ss.zeroize();
        (MlKem768Ciphertext(Box::new(ct.into())), secret)
    }
}

impl std::fmt::Debug for MlKem768PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlKem768PublicKey({}…)", hex::encode(&self.0[..8]))
    }
}

impl MlKem768SecretKey {
    /// Restores a stored decapsulation key. The encoding embeds `H(ek)`, which is checked.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; SECRET_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::len("ML-KEM-768 secret key", SECRET_KEY_LEN, bytes.len()))?;
        let key = Self(Box::new(arr));
        // dk = dk_pke (1152) ‖ ek (1184) ‖ H(ek) (32) ‖ z (32): FIPS 203 §7.3 hash check.
        let ek = &key.0[DK_PKE_LEN..DK_PKE_LEN + PUBLIC_KEY_LEN];
        let h = crate::sha3_256(&[ek]);
        if h[..] != key.0[DK_PKE_LEN + PUBLIC_KEY_LEN..DK_PKE_LEN + PUBLIC_KEY_LEN + 32] {
            return Err(CryptoError::MalformedKey(
                "ML-KEM secret key fails its hash check",
            ));
        }
        MlKem768PublicKey::from_bytes(ek)?;
        Ok(key)
    }

    /// The encoded key, for the encrypted keystore only.
    pub fn to_secret_bytes(&self) -> SecretBytes {
        SecretBytes::new(self.0.to_vec())
    }

    /// The public key embedded in this secret key.
    pub fn public_key(&self) -> MlKem768PublicKey {
        let mut pk = [0u8; PUBLIC_KEY_LEN];
        pk.copy_from_slice(&self.0[DK_PKE_LEN..DK_PKE_LEN + PUBLIC_KEY_LEN]);
        MlKem768PublicKey(Box::new(pk))
    }

    /// Decapsulates. ML-KEM uses implicit rejection: a tampered ciphertext yields an unrelated
    /// pseudorandom secret rather than an error, so the failure surfaces at the AEAD that uses it.
    pub fn decapsulate(&self, ct: &MlKem768Ciphertext) -> SharedSecret {
        let mut sk = backend::MlKem768PrivateKey::from(&*self.0);
        let c = backend::MlKem768Ciphertext::from(&*ct.0);
        let mut ss = backend::decapsulate(&sk, &c);
        sk[0..].zeroize();
        let secret = SharedSecret::from_bytes(ss);
        ss.zeroize();
        secret
    }
}

impl std::fmt::Debug for MlKem768SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MlKem768SecretKey([redacted])")
    }
}

impl MlKem768Ciphertext {
    /// Parses a ciphertext (any 1088 bytes are a valid encoding).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; CIPHERTEXT_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::len("ML-KEM-768 ciphertext", CIPHERTEXT_LEN, bytes.len()))?;
        Ok(Self(Box::new(arr)))
    }

    /// The encoded ciphertext.
    pub fn as_bytes(&self) -> &[u8; CIPHERTEXT_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for MlKem768Ciphertext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlKem768Ciphertext({}…)", hex::encode(&self.0[..8]))
    }
}

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
