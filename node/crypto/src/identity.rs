//! A user's identity: one 32-byte master seed, four keys derived from it, and its mnemonic.
//!
//! Derivation (all HKDF-SHA3-256 with salt `pars-identity-v1` and the master seed as IKM):
//!
//! | key | info label | output |
//! |---|---|---|
//! | ML-KEM-1024 | `pars-identity-v1/ml-kem-1024` | 64 bytes `d ‖ z` for `KeyGen_internal` |
//! | ML-DSA-87 | `pars-identity-v1/ml-dsa-87` | 32 bytes `ξ` for `KeyGen_internal` |
//! | X25519 | `pars-identity-v1/x25519` | 32 bytes (clamped on use) |
//! | Ed25519 | `pars-identity-v1/ed25519` | 32-byte secret seed |
//!
//! The mnemonic is the BIP39 encoding (English, 24 words) of the master seed itself, so a
//! restore reproduces byte-identical keys and the same Session ID.

use crate::classic::{Ed25519PublicKey, X25519PublicKey};
use crate::classic::{Ed25519SigningKey, X25519SecretKey};
use crate::hybrid_kem::{HybridPublicKey, HybridSecretKey};
use crate::hybrid_sig::{HybridSigningKey, HybridVerifyingKey};
use crate::mldsa::{MlDsaPublicKey, MlDsaSigningKey};
use crate::mlkem::{MlKemKeyPair, MlKemPublicKey};
use crate::{CryptoError, CryptoRng, SessionId, kdf, labels, random_array};
use zeroize::{Zeroize, Zeroizing};

/// Size of the master seed.
pub const MASTER_SEED_LEN: usize = 32;
/// Words in a backup mnemonic.
pub const MNEMONIC_WORDS: usize = 24;

/// The 32-byte secret from which every identity key is derived. Zeroized on drop.
#[derive(Clone)]
pub struct MasterSeed(Zeroizing<[u8; MASTER_SEED_LEN]>);

impl MasterSeed {
    /// A fresh random seed.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self(Zeroizing::new(random_array(rng)))
    }

    /// From raw bytes (the encrypted keystore).
    pub fn from_bytes(bytes: [u8; MASTER_SEED_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw seed, for the encrypted keystore only.
    pub fn as_bytes(&self) -> &[u8; MASTER_SEED_LEN] {
        &self.0
    }

    /// The 24-word English BIP39 mnemonic of this seed.
    pub fn to_mnemonic(&self) -> Zeroizing<String> {
        match bip39::Mnemonic::from_entropy(&self.0[..]) {
            Ok(m) => Zeroizing::new(m.to_string()),
            // 32 bytes is always a valid BIP39 entropy length.
            Err(_) => Zeroizing::new(String::new()),
        }
    }

    /// Restores a seed from its 24-word mnemonic (case and extra whitespace are tolerated; the
    /// checksum is verified).
    pub fn from_mnemonic(phrase: &str) -> Result<Self, CryptoError> {
        let normalized = Zeroizing::new(
            phrase
                .split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join(" "),
        );
        let words = normalized.split(' ').filter(|w| !w.is_empty()).count();
        if words != MNEMONIC_WORDS {
            return Err(CryptoError::MnemonicWordCount(words));
        }
        let m = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalized)
            .map_err(|e| CryptoError::Mnemonic(mnemonic_error(e)))?;
        let mut entropy = m.to_entropy();
        let arr: Result<[u8; MASTER_SEED_LEN], _> = entropy.as_slice().try_into();
        entropy.zeroize();
        arr.map(Self::from_bytes)
            .map_err(|_| CryptoError::MnemonicWordCount(words))
    }
}

fn mnemonic_error(e: bip39::Error) -> String {
    match e {
        bip39::Error::UnknownWord(i) => format!("word {} is not in the BIP39 English list", i + 1),
        bip39::Error::InvalidChecksum => {
            "the checksum does not match (a word is wrong or misplaced)".into()
        }
        bip39::Error::BadWordCount(n) => format!("{n} words"),
        other => other.to_string(),
    }
}

impl std::fmt::Debug for MasterSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterSeed([redacted])")
    }
}

/// The four identity secret keys, derived from a [`MasterSeed`].
#[derive(Clone, Debug)]
pub struct IdentityKeys {
    seed: MasterSeed,
    encryption: HybridSecretKey,
    signing: HybridSigningKey,
}

/// The four identity public keys.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IdentityPublicKeys {
    /// ML-DSA-87 (its hash is the Session ID).
    pub mldsa: MlDsaPublicKey,
    /// Ed25519.
    pub ed25519: Ed25519PublicKey,
    /// ML-KEM-1024.
    pub mlkem: MlKemPublicKey,
    /// X25519.
    pub x25519: X25519PublicKey,
}

impl IdentityKeys {
    /// Derives all identity keys from the master seed.
    pub fn from_seed(seed: &MasterSeed) -> Self {
        let ikm = seed.as_bytes();
        let mut kem_seed = [0u8; 64];
        kdf::hkdf_sha3(
            labels::IDENTITY_SALT,
            ikm,
            &[labels::IDENTITY_MLKEM],
            &mut kem_seed,
        );
        let mut xi = [0u8; 32];
        kdf::hkdf_sha3(
            labels::IDENTITY_SALT,
            ikm,
            &[labels::IDENTITY_MLDSA],
            &mut xi,
        );
        let mut x = [0u8; 32];
        kdf::hkdf_sha3(
            labels::IDENTITY_SALT,
            ikm,
            &[labels::IDENTITY_X25519],
            &mut x,
        );
        let mut ed = [0u8; 32];
        kdf::hkdf_sha3(
            labels::IDENTITY_SALT,
            ikm,
            &[labels::IDENTITY_ED25519],
            &mut ed,
        );
        let keys = Self {
            seed: seed.clone(),
            encryption: HybridSecretKey {
                x25519: X25519SecretKey::from_bytes(x),
                mlkem: MlKemKeyPair::from_seed(&kem_seed).secret,
            },
            signing: HybridSigningKey {
                ed25519: Ed25519SigningKey::from_bytes(ed),
                mldsa: MlDsaSigningKey::from_seed(&xi),
            },
        };
        kem_seed.zeroize();
        xi.zeroize();
        x.zeroize();
        ed.zeroize();
        keys
    }

    /// A new identity from fresh randomness.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self::from_seed(&MasterSeed::generate(rng))
    }

    /// Restores an identity from its 24-word mnemonic.
    pub fn from_mnemonic(phrase: &str) -> Result<Self, CryptoError> {
        Ok(Self::from_seed(&MasterSeed::from_mnemonic(phrase)?))
    }

    /// The master seed (for the encrypted keystore and mnemonic export).
    pub fn master_seed(&self) -> &MasterSeed {
        &self.seed
    }

    /// The Session ID.
    pub fn session_id(&self) -> SessionId {
        SessionId::from_mldsa_public_key(&self.signing.mldsa.public_key())
    }

    /// The hybrid encryption key (X25519 + ML-KEM-1024).
    pub fn encryption_key(&self) -> &HybridSecretKey {
        &self.encryption
    }

    /// The hybrid signing key (Ed25519 + ML-DSA-87).
    pub fn signing_key(&self) -> &HybridSigningKey {
        &self.signing
    }

    /// All four public keys.
    pub fn public_keys(&self) -> IdentityPublicKeys {
        IdentityPublicKeys {
            mldsa: self.signing.mldsa.public_key(),
            ed25519: self.signing.ed25519.public_key(),
            mlkem: self.encryption.mlkem.public_key(),
            x25519: self.encryption.x25519.public_key(),
        }
    }
}

impl IdentityPublicKeys {
    /// The Session ID these keys belong to.
    pub fn session_id(&self) -> SessionId {
        SessionId::from_mldsa_public_key(&self.mldsa)
    }

    /// The hybrid encryption public key.
    pub fn encryption_key(&self) -> HybridPublicKey {
        HybridPublicKey {
            x25519: self.x25519,
            mlkem: self.mlkem.clone(),
        }
    }

    /// The hybrid verifying key.
    pub fn verifying_key(&self) -> HybridVerifyingKey {
        HybridVerifyingKey {
            ed25519: self.ed25519,
            mldsa: self.mldsa.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn mnemonic_restore_is_byte_identical() {
        let mut rng = ChaCha20Rng::seed_from_u64(10);
        let id = IdentityKeys::generate(&mut rng);
        let phrase = id.master_seed().to_mnemonic();
        assert_eq!(phrase.split(' ').count(), 24);
        let restored = IdentityKeys::from_mnemonic(&phrase).unwrap();
        assert_eq!(restored.session_id(), id.session_id());
        assert_eq!(restored.public_keys(), id.public_keys());
        assert_eq!(
            restored.encryption_key().mlkem.to_secret_bytes(),
            id.encryption_key().mlkem.to_secret_bytes()
        );
        assert_eq!(
            restored.signing_key().ed25519.to_bytes(),
            id.signing_key().ed25519.to_bytes()
        );
        // Case and whitespace are tolerated.
        let messy = format!("  {}  ", phrase.to_uppercase().replace(' ', "   "));
        assert_eq!(
            IdentityKeys::from_mnemonic(&messy).unwrap().session_id(),
            id.session_id()
        );
    }

    #[test]
    fn mnemonic_errors_are_precise() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let phrase = MasterSeed::generate(&mut rng).to_mnemonic();
        let words: Vec<&str> = phrase.split(' ').collect();
        assert_eq!(
            MasterSeed::from_mnemonic(&words[..12].join(" ")).unwrap_err(),
            CryptoError::MnemonicWordCount(12)
        );
        let mut w = words.clone();
        w[3] = "notaword";
        let e = MasterSeed::from_mnemonic(&w.join(" ")).unwrap_err();
        assert!(e.to_string().contains("word 4"), "{e}");
        let mut w = words.clone();
        w.swap(0, 1);
        if w != words {
            assert!(matches!(
                MasterSeed::from_mnemonic(&w.join(" ")),
                Err(CryptoError::Mnemonic(_))
            ));
        }
    }

    #[test]
    fn distinct_seeds_distinct_ids_and_debug_is_redacted() {
        let a = IdentityKeys::from_seed(&MasterSeed::from_bytes([1; 32]));
        let b = IdentityKeys::from_seed(&MasterSeed::from_bytes([2; 32]));
        assert_ne!(a.session_id(), b.session_id());
        let dbg = format!("{a:?}");
        assert!(dbg.contains("redacted"));
        assert!(!dbg.contains(&hex::encode([1u8; 32])));
    }
}
