//! The openmls provider: libcrux for hashing, HKDF, AEAD and HPKE (ML-KEM-1024 among its KEMs),
//! and `pars-crypto`'s ML-DSA-87 for signatures, so that the MLS signature key of a member is
//! its own identity key (see `credential.rs`). The libcrux provider alone signs only with
//! Ed25519; this one offers exactly the suite Pars Session uses, [`SUITE`].

use crate::hpke::{self, InfoMemo};
use crate::memo;
pub use crate::records::{Changes, StorageBroken};
use crate::storage::ParsStorage;
use openmls_libcrux_crypto::CryptoProvider;
use openmls_traits::OpenMlsProvider;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::types::{
    AeadType, Ciphersuite, CryptoError, ExporterSecret, HashType, HpkeCiphertext, HpkeConfig,
    HpkeKeyPair, KemOutput, SignatureScheme,
};
use pars_crypto::labels::SIG_MLS;
use pars_crypto::mldsa::{MlDsaPublicKey, MlDsaSignature, MlDsaSigningKey, SEED_LEN};
use tls_codec::SecretVLBytes;
use zeroize::Zeroizing;

/// The ciphersuite of every Pars Session group: ML-KEM-1024 (HPKE KEM 0x0042), AES-256-GCM,
/// SHA-512, ML-DSA-87 (draft-ietf-mls-pq-ciphersuites, code point 0x0906). The reasons and the
/// measured alternatives are in `docs/protocol.md`.
pub const SUITE: Ciphersuite = Ciphersuite::MLS_256_MLKEM1024_AES256GCM_SHA512_MLDSA87;

/// The crypto half of [`ParsMls`]: libcrux's provider with ML-DSA-87 signatures (FIPS 204 with
/// the context [`SIG_MLS`], so an MLS signature can never pass for one of the identity key's
/// other signatures).
pub struct ParsMlsCrypto {
    inner: CryptoProvider,
    /// The `info_hash`es of the Welcome being built (`hpke.rs`).
    welcome_infos: InfoMemo,
}

impl ParsMlsCrypto {
    /// Forgets the Welcome `info`s held for sealing (they hold the ratchet tree: the group
    /// core calls this once the commit that adds members is made).
    pub(crate) fn forget_welcome_infos(&self) {
        self.welcome_infos.clear();
    }
}

impl std::fmt::Debug for ParsMlsCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsMlsCrypto").finish_non_exhaustive()
    }
}

/// An ML-DSA-87 signing key as openmls stores it: the 32-byte seed.
fn signing_key(key: &[u8]) -> Result<MlDsaSigningKey, CryptoError> {
    let seed: &[u8; SEED_LEN] = key.try_into().map_err(|_| CryptoError::InvalidLength)?;
    Ok(MlDsaSigningKey::from_seed(seed))
}

impl OpenMlsCrypto for ParsMlsCrypto {
    fn supports(&self, ciphersuite: Ciphersuite) -> Result<(), CryptoError> {
        if ciphersuite == SUITE {
            Ok(())
        } else {
            Err(CryptoError::UnsupportedCiphersuite)
        }
    }

    fn supported_ciphersuites(&self) -> Vec<Ciphersuite> {
        vec![SUITE]
    }

    fn hkdf_extract(
        &self,
        hash_type: HashType,
        salt: &[u8],
        ikm: &[u8],
    ) -> Result<SecretVLBytes, CryptoError> {
        self.inner.hkdf_extract(hash_type, salt, ikm)
    }

    fn hmac(
        &self,
        hash_type: HashType,
        key: &[u8],
        message: &[u8],
    ) -> Result<SecretVLBytes, CryptoError> {
        self.inner.hmac(hash_type, key, message)
    }

    fn hkdf_expand(
        &self,
        hash_type: HashType,
        prk: &[u8],
        info: &[u8],
        okm_len: usize,
    ) -> Result<SecretVLBytes, CryptoError> {
        self.inner.hkdf_expand(hash_type, prk, info, okm_len)
    }

    fn hash(&self, hash_type: HashType, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Ok(memo::hash(hash_type, data))
    }

    fn aead_encrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        data: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.inner.aead_encrypt(alg, key, data, nonce, aad)
    }

    fn aead_decrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        ct_tag: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.inner.aead_decrypt(alg, key, ct_tag, nonce, aad)
    }

    fn signature_key_gen(&self, alg: SignatureScheme) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        if alg != SignatureScheme::MLDSA87 {
            return Err(CryptoError::UnsupportedSignatureScheme);
        }
        let mut seed = [0u8; SEED_LEN];
        openmls_traits::random::OpenMlsRand::random_array::<SEED_LEN>(&self.inner)
            .map(|s| seed = s)
            .map_err(|_| CryptoError::InsufficientRandomness)?;
        let key = MlDsaSigningKey::from_seed(&seed);
        let public = key.public_key().as_bytes().to_vec();
        let secret = seed.to_vec();
        zeroize::Zeroize::zeroize(&mut seed);
        Ok((secret, public))
    }

    fn verify_signature(
        &self,
        alg: SignatureScheme,
        data: &[u8],
        pk: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        if alg != SignatureScheme::MLDSA87 {
            return Err(CryptoError::UnsupportedSignatureScheme);
        }
        let pk = MlDsaPublicKey::from_bytes(pk).map_err(|_| CryptoError::InvalidLength)?;
        let sig = MlDsaSignature::from_bytes(signature).map_err(|_| CryptoError::InvalidLength)?;
        pk.verify(SIG_MLS, data, &sig)
            .map_err(|_| CryptoError::InvalidSignature)
    }

    fn sign(&self, alg: SignatureScheme, data: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if alg != SignatureScheme::MLDSA87 {
            return Err(CryptoError::UnsupportedSignatureScheme);
        }
        let key = signing_key(key)?;
        let rnd = openmls_traits::random::OpenMlsRand::random_array::<32>(&self.inner)
            .map_err(|_| CryptoError::InsufficientRandomness)?;
        key.sign_with_rnd(SIG_MLS, data, &rnd)
            .map(|s| s.as_bytes().to_vec())
            .map_err(|_| CryptoError::SigningError)
    }

    fn hpke_seal(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        aad: &[u8],
        ptxt: &[u8],
    ) -> Result<HpkeCiphertext, CryptoError> {
        match hpke::seal(
            &self.inner,
            &self.welcome_infos,
            &config,
            pk_r,
            info,
            aad,
            ptxt,
        ) {
            Some(sealed) => sealed,
            None => self.inner.hpke_seal(config, pk_r, info, aad, ptxt),
        }
    }

    fn hpke_open(
        &self,
        config: HpkeConfig,
        input: &HpkeCiphertext,
        sk_r: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.inner.hpke_open(config, input, sk_r, info, aad)
    }

    fn hpke_setup_sender_and_export(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<(KemOutput, ExporterSecret), CryptoError> {
        self.inner.hpke_setup_sender_and_export(
            config,
            pk_r,
            info,
            exporter_context,
            exporter_length,
        )
    }

    fn hpke_setup_receiver_and_export(
        &self,
        config: HpkeConfig,
        enc: &[u8],
        sk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<ExporterSecret, CryptoError> {
        self.inner.hpke_setup_receiver_and_export(
            config,
            enc,
            sk_r,
            info,
            exporter_context,
            exporter_length,
        )
    }

    fn derive_hpke_keypair(
        &self,
        config: HpkeConfig,
        ikm: &[u8],
    ) -> Result<HpkeKeyPair, CryptoError> {
        self.inner.derive_hpke_keypair(config, ikm)
    }
}

/// The openmls provider of one member: [`ParsMlsCrypto`], libcrux's generator (seeded from
/// the OS), and a [`ParsStorage`] of binary records, whose contents the caller persists.
///
/// The storage is transactional in the way the ratchet's state is: what the caller last
/// persisted is committed; [`ParsMls::changes`] is what changed since, [`ParsMls::commit`]
/// marks it persisted and [`ParsMls::rollback`] puts the storage back as it was committed.
/// All three cost what changed since the last commit, not the size of the storage.
pub struct ParsMls {
    crypto: ParsMlsCrypto,
    storage: ParsStorage,
}

impl std::fmt::Debug for ParsMls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsMls").finish_non_exhaustive()
    }
}

impl ParsMls {
    /// A provider with empty storage.
    pub fn new() -> Result<Self, CryptoError> {
        Self::restore(std::iter::empty())
    }

    /// A provider whose storage holds `records` (as [`ParsMls::changes`] gave them out),
    /// committed.
    pub fn restore(
        records: impl IntoIterator<Item = (Vec<u8>, Zeroizing<Vec<u8>>)>,
    ) -> Result<Self, CryptoError> {
        Ok(Self {
            crypto: ParsMlsCrypto {
                inner: CryptoProvider::new()?,
                welcome_infos: InfoMemo::default(),
            },
            storage: ParsStorage::from_records(records),
        })
    }

    /// The records written and deleted since the last [`ParsMls::commit`] (a record written
    /// back to its committed value is not among them).
    pub fn changes(&self) -> Result<Changes, StorageBroken> {
        self.storage.changes()
    }

    /// The caller persisted [`ParsMls::changes`]: they are the committed state now.
    pub fn commit(&mut self) -> Result<(), StorageBroken> {
        self.storage.commit()
    }

    /// Puts the storage back as it was at the last [`ParsMls::commit`] (groups loaded since
    /// must be loaded again).
    pub fn rollback(&mut self) -> Result<(), StorageBroken> {
        self.storage.rollback()
    }
}

impl OpenMlsProvider for ParsMls {
    type CryptoProvider = ParsMlsCrypto;
    type RandProvider = CryptoProvider;
    type StorageProvider = ParsStorage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        &self.crypto.inner
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pars_crypto::mldsa::MlDsaSigningKey;

    #[test]
    fn hashes_equal_libcrux_s_whether_memoised_or_not() {
        let p = ParsMls::new().unwrap();
        let libcrux = CryptoProvider::new().unwrap();
        let types = [HashType::Sha2_256, HashType::Sha2_384, HashType::Sha2_512];
        // Short inputs, inputs at the memo's threshold, and long ones, each twice (the
        // second time from the memo), and two long inputs that differ in their last byte.
        let mut inputs: Vec<Vec<u8>> = [0, 1, 127, memo::MIN_INPUT - 1, memo::MIN_INPUT, 9_000]
            .iter()
            .map(|&n| (0..n).map(|i| (i * 7 + n) as u8).collect())
            .collect();
        let mut other = inputs[5].clone();
        *other.last_mut().unwrap() ^= 1;
        inputs.push(other);
        for round in 0..2 {
            for t in types {
                for data in &inputs {
                    let ours = p.crypto().hash(t, data).unwrap();
                    assert_eq!(ours, libcrux.hash(t, data).unwrap(), "round {round}");
                    assert_eq!(ours.len(), t.size());
                }
            }
        }
        assert!(memo::len() >= 6, "large inputs are memoised");
        // The same input under another hash type is another entry.
        assert_ne!(
            p.crypto().hash(HashType::Sha2_256, &inputs[5]).unwrap(),
            p.crypto().hash(HashType::Sha2_512, &inputs[5]).unwrap()[..32]
        );
    }

    #[test]
    fn the_suite_s_primitives_work_and_signatures_are_bound_to_their_context() {
        let p = ParsMls::new().unwrap();
        let c = p.crypto();
        assert!(c.supports(SUITE).is_ok());
        assert!(
            c.supports(Ciphersuite::MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519)
                .is_err()
        );
        let kp = c
            .derive_hpke_keypair(SUITE.hpke_config(), &[7; 64])
            .unwrap();
        assert_eq!(kp.public.len(), 1568, "ML-KEM-1024 encapsulation key");
        let ct = c
            .hpke_seal(SUITE.hpke_config(), &kp.public, b"info", b"aad", b"secret")
            .unwrap();
        let pt = c
            .hpke_open(SUITE.hpke_config(), &ct, &kp.private, b"info", b"aad")
            .unwrap();
        assert_eq!(pt, b"secret");
        assert_eq!(c.hash(HashType::Sha2_512, b"x").unwrap().len(), 64);

        let (sk, pk) = c.signature_key_gen(SignatureScheme::MLDSA87).unwrap();
        let sig = c.sign(SignatureScheme::MLDSA87, b"payload", &sk).unwrap();
        c.verify_signature(SignatureScheme::MLDSA87, b"payload", &pk, &sig)
            .unwrap();
        assert!(
            c.verify_signature(SignatureScheme::MLDSA87, b"other", &pk, &sig)
                .is_err()
        );
        // The same key signing the same bytes under another context does not verify here.
        let seed: [u8; SEED_LEN] = sk.as_slice().try_into().unwrap();
        let other = MlDsaSigningKey::from_seed(&seed)
            .sign_with_rnd(b"pars-bundle-v1", b"payload", &[0; 32])
            .unwrap();
        assert!(
            c.verify_signature(SignatureScheme::MLDSA87, b"payload", &pk, other.as_bytes())
                .is_err()
        );
    }
}
