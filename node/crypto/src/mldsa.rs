//! ML-DSA-87 (FIPS 204). The only file that knows the backend (`ml-dsa`).
//!
//! Signing keys are derived from the 32-byte `ξ` seed of FIPS 204 `KeyGen_internal`. Signing is
//! hedged: the 32-byte `rnd` comes from the caller's RNG. Every signature carries a FIPS 204
//! context string naming its purpose (see [`crate::labels`]).

use crate::{CryptoError, CryptoRng, random_array};
use ml_dsa::signature::Keypair;
use ml_dsa::{EncodedSignature, EncodedVerifyingKey, MlDsa87, Signature, SigningKey, VerifyingKey};
use zeroize::Zeroize;

/// Encoded public key size.
pub const PUBLIC_KEY_LEN: usize = 2592;
/// Encoded signature size.
pub const SIGNATURE_LEN: usize = 4627;
/// Seed (`ξ`) size.
pub const SEED_LEN: usize = 32;
/// Size of the FIPS 204 expanded secret-key encoding (only used by known-answer tests).
pub const EXPANDED_SECRET_KEY_LEN: usize = 4896;

/// An ML-DSA-87 verifying key.
#[derive(Clone)]
pub struct MlDsaPublicKey {
    key: Box<VerifyingKey<MlDsa87>>,
    encoded: Box<[u8; PUBLIC_KEY_LEN]>,
}

/// An ML-DSA-87 signing key. Zeroized on drop (by the backend); `Debug` is redacted.
#[derive(Clone)]
pub struct MlDsaSigningKey(Box<SigningKey<MlDsa87>>);

/// An encoded ML-DSA-87 signature (not yet checked for well-formedness).
#[derive(Clone, PartialEq, Eq)]
pub struct MlDsaSignature(Box<[u8; SIGNATURE_LEN]>);

impl MlDsaSigningKey {
    /// FIPS 204 `ML-DSA.KeyGen_internal(ξ)`.
    pub fn from_seed(xi: &[u8; SEED_LEN]) -> Self {
        let mut seed = ml_dsa::B32::from(*xi);
        let key = SigningKey::<MlDsa87>::from_seed(&seed);
        seed.zeroize();
        Self(Box::new(key))
    }

    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut xi = random_array::<SEED_LEN>(rng);
        let k = Self::from_seed(&xi);
        xi.zeroize();
        k
    }

    /// The verifying key.
    pub fn public_key(&self) -> MlDsaPublicKey {
        let vk = self.0.verifying_key();
        let encoded: [u8; PUBLIC_KEY_LEN] = vk.encode().into();
        MlDsaPublicKey {
            key: Box::new(vk),
            encoded: Box::new(encoded),
        }
    }

    /// FIPS 204 `ML-DSA.Sign` (pure, hedged) of `msg` under context `ctx`.
    pub fn sign(
        &self,
        ctx: &[u8],
        msg: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<MlDsaSignature, CryptoError> {
        let mut rnd = random_array::<32>(rng);
        let out = self.sign_with_rnd(ctx, msg, &rnd);
        rnd.zeroize();
        out
    }

    /// FIPS 204 `ML-DSA.Sign` with explicit `rnd` (all zeros gives the deterministic variant).
    pub fn sign_with_rnd(
        &self,
        ctx: &[u8],
        msg: &[u8],
        rnd: &[u8; 32],
    ) -> Result<MlDsaSignature, CryptoError> {
        if ctx.len() > 255 {
            return Err(CryptoError::ContextTooLong(ctx.len()));
        }
        // M' = 0 ‖ |ctx| ‖ ctx ‖ M (FIPS 204 Algorithm 2), fed as parts to avoid a copy of M.
        let header = [0u8, ctx.len() as u8];
        let rnd = ml_dsa::B32::from(*rnd);
        let sig = self
            .0
            .expanded_key()
            .sign_internal(&[&header, ctx, msg], &rnd);
        Ok(MlDsaSignature(Box::new(sig.encode().into())))
    }
}

impl std::fmt::Debug for MlDsaSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MlDsaSigningKey([redacted])")
    }
}

impl MlDsaPublicKey {
    /// Parses an encoded verifying key (every 2592-byte string is a valid encoding).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; PUBLIC_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::len("ML-DSA-87 public key", PUBLIC_KEY_LEN, bytes.len()))?;
        let enc = EncodedVerifyingKey::<MlDsa87>::from(arr);
        Ok(Self {
            key: Box::new(VerifyingKey::<MlDsa87>::decode(&enc)),
            encoded: Box::new(arr),
        })
    }

    /// The encoded key.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.encoded
    }

    /// FIPS 204 `ML-DSA.Verify` of `msg` under context `ctx`.
    pub fn verify(&self, ctx: &[u8], msg: &[u8], sig: &MlDsaSignature) -> Result<(), CryptoError> {
        if ctx.len() > 255 {
            return Err(CryptoError::ContextTooLong(ctx.len()));
        }
        let sig = sig.decode()?;
        if self.key.verify_with_context(msg, ctx, &sig) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature { which: "ML-DSA-87" })
        }
    }

    /// FIPS 204 `ML-DSA.Verify_internal` on an already formatted `M'` (ACVP sigVer vectors).
    pub fn verify_internal(&self, m_prime: &[u8], sig: &MlDsaSignature) -> Result<(), CryptoError> {
        let sig = sig.decode()?;
        if self.key.verify_internal(m_prime, &sig) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature { which: "ML-DSA-87" })
        }
    }
}

impl PartialEq for MlDsaPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.encoded == other.encoded
    }
}
impl Eq for MlDsaPublicKey {}

impl std::fmt::Debug for MlDsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlDsaPublicKey({}…)", hex::encode(&self.encoded[..8]))
    }
}

impl MlDsaSignature {
    /// Wraps an encoded signature. Length is checked here; structure when verifying.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; SIGNATURE_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::len("ML-DSA-87 signature", SIGNATURE_LEN, bytes.len()))?;
        Ok(Self(Box::new(arr)))
    }

    /// The encoded signature.
    pub fn as_bytes(&self) -> &[u8; SIGNATURE_LEN] {
        &self.0
    }

    fn decode(&self) -> Result<Signature<MlDsa87>, CryptoError> {
        let enc = EncodedSignature::<MlDsa87>::from(*self.0);
        Signature::<MlDsa87>::decode(&enc).ok_or(CryptoError::MalformedSignature)
    }
}

impl std::fmt::Debug for MlDsaSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlDsaSignature({}…)", hex::encode(&self.0[..8]))
    }
}

/// FIPS 204 internal functions for the NIST ACVP known-answer tests. They trust their input
/// (the backend's expanded-key decoder is not hardened), so the node never enables them.
#[cfg(feature = "acvp-internals")]
pub mod acvp {
    use super::*;

    /// The FIPS 204 expanded secret-key encoding (`skEncode`) of a key derived from `ξ`.
    #[allow(deprecated)]
    pub fn expanded_secret_key(key: &MlDsaSigningKey) -> Vec<u8> {
        key.0.expanded_key().to_expanded().to_vec()
    }

    /// `ML-DSA.Sign_internal(sk, M', rnd)` from an expanded secret key.
    #[allow(deprecated)]
    pub fn sign_internal_expanded(
        sk: &[u8],
        m_prime: &[u8],
        rnd: &[u8; 32],
    ) -> Result<MlDsaSignature, CryptoError> {
        let arr: [u8; EXPANDED_SECRET_KEY_LEN] = sk.try_into().map_err(|_| {
            CryptoError::len(
                "ML-DSA-87 expanded secret key",
                EXPANDED_SECRET_KEY_LEN,
                sk.len(),
            )
        })?;
        let enc = ml_dsa::ExpandedSigningKeyBytes::<MlDsa87>::from(arr);
        let key = ml_dsa::ExpandedSigningKey::<MlDsa87>::from_expanded(&enc);
        let sig = key.sign_internal(&[m_prime], &ml_dsa::B32::from(*rnd));
        MlDsaSignature::from_bytes(&sig.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn sign_verify_and_rejections() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let sk = MlDsaSigningKey::generate(&mut rng);
        let pk = sk.public_key();
        let sig = sk.sign(b"ctx", b"hello", &mut rng).unwrap();
        pk.verify(b"ctx", b"hello", &sig).unwrap();
        assert!(pk.verify(b"ctx2", b"hello", &sig).is_err(), "wrong context");
        assert!(pk.verify(b"ctx", b"hellp", &sig).is_err(), "wrong message");
        let other = MlDsaSigningKey::generate(&mut rng).public_key();
        assert!(other.verify(b"ctx", b"hello", &sig).is_err(), "wrong key");
        let mut bad = sig.as_bytes().to_vec();
        bad[40] ^= 0x10;
        let bad = MlDsaSignature::from_bytes(&bad).unwrap();
        assert!(pk.verify(b"ctx", b"hello", &bad).is_err(), "tampered");
        assert!(
            MlDsaSignature::from_bytes(&sig.as_bytes()[..100]).is_err(),
            "truncated"
        );
        assert!(
            MlDsaPublicKey::from_bytes(&pk.as_bytes()[1..]).is_err(),
            "truncated key"
        );
        assert_eq!(
            sk.sign(&[0u8; 256], b"m", &mut rng),
            Err(CryptoError::ContextTooLong(256))
        );
        // Round trip of the public key encoding.
        assert_eq!(MlDsaPublicKey::from_bytes(pk.as_bytes()).unwrap(), pk);
    }
}
