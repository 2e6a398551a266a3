//! Hybrid signatures: Ed25519 + ML-DSA-87, valid only if both halves verify.
//!
//! Both halves sign the same message under the same purpose string: ML-DSA-87 as its FIPS 204
//! context, Ed25519 bound into the signed bytes (see [`crate::classic`]).

use crate::classic::{Ed25519PublicKey, Ed25519Signature, Ed25519SigningKey};
use crate::mldsa::{self, MlDsaPublicKey, MlDsaSignature, MlDsaSigningKey};
use crate::{CryptoError, CryptoRng};

/// Encoded hybrid signature size: Ed25519 (64) ‖ ML-DSA-87 (4627).
pub const SIGNATURE_LEN: usize = 64 + mldsa::SIGNATURE_LEN;

/// A hybrid signing key.
#[derive(Clone, Debug)]
pub struct HybridSigningKey {
    /// The classical half.
    pub ed25519: Ed25519SigningKey,
    /// The post-quantum half.
    pub mldsa: MlDsaSigningKey,
}

/// A hybrid verifying key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HybridVerifyingKey {
    /// The classical half.
    pub ed25519: Ed25519PublicKey,
    /// The post-quantum half.
    pub mldsa: MlDsaPublicKey,
}

/// A hybrid signature.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HybridSignature {
    /// The classical half.
    pub ed25519: Ed25519Signature,
    /// The post-quantum half.
    pub mldsa: MlDsaSignature,
}

impl HybridSigningKey {
    /// The verifying key.
    pub fn public_key(&self) -> HybridVerifyingKey {
        HybridVerifyingKey {
            ed25519: self.ed25519.public_key(),
            mldsa: self.mldsa.public_key(),
        }
    }

    /// Signs `msg` for the purpose `ctx` (a label from [`crate::labels`]).
    pub fn sign(
        &self,
        ctx: &[u8],
        msg: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<HybridSignature, CryptoError> {
        Ok(HybridSignature {
            ed25519: self.ed25519.sign(ctx, msg)?,
            mldsa: self.mldsa.sign(ctx, msg, rng)?,
        })
    }
}

impl HybridVerifyingKey {
    /// Verifies both halves; the error names the first half that failed.
    pub fn verify(&self, ctx: &[u8], msg: &[u8], sig: &HybridSignature) -> Result<(), CryptoError> {
        self.ed25519.verify(ctx, msg, &sig.ed25519)?;
        self.mldsa.verify(ctx, msg, &sig.mldsa)
    }
}

impl HybridSignature {
    /// `ed25519 (64) ‖ mldsa (4627)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(SIGNATURE_LEN);
        v.extend_from_slice(&self.ed25519.0);
        v.extend_from_slice(self.mldsa.as_bytes());
        v
    }

    /// Parses `ed25519 (64) ‖ mldsa (4627)`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != SIGNATURE_LEN {
            return Err(CryptoError::len(
                "hybrid signature",
                SIGNATURE_LEN,
                bytes.len(),
            ));
        }
        let (e, m) = bytes.split_at(64);
        Ok(Self {
            ed25519: Ed25519Signature::from_bytes(e)?,
            mldsa: MlDsaSignature::from_bytes(m)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn key(rng: &mut ChaCha20Rng) -> HybridSigningKey {
        HybridSigningKey {
            ed25519: Ed25519SigningKey::generate(rng),
            mldsa: MlDsaSigningKey::generate(rng),
        }
    }

    #[test]
    fn both_halves_must_verify() {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let k = key(&mut rng);
        let other = key(&mut rng);
        let pk = k.public_key();
        let sig = k.sign(b"ctx", b"m", &mut rng).unwrap();
        pk.verify(b"ctx", b"m", &sig).unwrap();
        assert!(pk.verify(b"other", b"m", &sig).is_err());
        assert!(pk.verify(b"ctx", b"n", &sig).is_err());
        assert!(other.public_key().verify(b"ctx", b"m", &sig).is_err());
        // Splice: a valid Ed25519 half with a foreign ML-DSA half, and vice versa.
        let foreign = other.sign(b"ctx", b"m", &mut rng).unwrap();
        let spliced = HybridSignature {
            ed25519: sig.ed25519,
            mldsa: foreign.mldsa.clone(),
        };
        assert_eq!(
            pk.verify(b"ctx", b"m", &spliced),
            Err(CryptoError::BadSignature { which: "ML-DSA-87" })
        );
        let spliced = HybridSignature {
            ed25519: foreign.ed25519,
            mldsa: sig.mldsa.clone(),
        };
        assert_eq!(
            pk.verify(b"ctx", b"m", &spliced),
            Err(CryptoError::BadSignature { which: "Ed25519" })
        );
        let bytes = sig.to_bytes();
        assert_eq!(HybridSignature::from_bytes(&bytes).unwrap(), sig);
        assert!(HybridSignature::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        for i in [0usize, 63, 64, 2000, SIGNATURE_LEN - 1] {
            let mut b = bytes.clone();
            b[i] ^= 0x80;
            let t = HybridSignature::from_bytes(&b).unwrap();
            assert!(pk.verify(b"ctx", b"m", &t).is_err(), "flipped byte {i}");
        }
    }
}
