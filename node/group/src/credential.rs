//! Credentials bound to Session IDs. A member's MLS credential is a basic credential whose
//! identity is its 33-byte Session ID, and its MLS signature key is its ML-DSA-87 identity key
//! itself: every leaf is signed by the identity key, and the binding is checked by recomputing
//! the Session ID from the signature key (`SessionId::from_mldsa_public_key`). A leaf whose key
//! does not hash to the ID it claims is refused wherever it appears: in a key package being
//! added, in a Welcome's tree, in a commit's update path or update proposal.

use crate::error::GroupError;
use openmls::prelude::{
    BasicCredential, Credential, CredentialType, CredentialWithKey, SignaturePublicKey,
};
use openmls_traits::signatures::{Signer, SignerError};
use openmls_traits::types::SignatureScheme;
use pars_crypto::SessionId;
use pars_crypto::labels::SIG_MLS;
use pars_crypto::mldsa::{MlDsaSigningKey, PUBLIC_KEY_LEN};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use std::sync::Mutex;

/// The identity key as an openmls [`Signer`] (ML-DSA-87, hedged, context [`SIG_MLS`]).
pub struct IdentitySigner {
    key: MlDsaSigningKey,
    rng: Mutex<ChaCha20Rng>,
}

impl std::fmt::Debug for IdentitySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentitySigner").finish_non_exhaustive()
    }
}

impl IdentitySigner {
    /// Wraps the identity key; `rng` seeds the signer's own generator (the hedge of each
    /// signature).
    pub fn new(key: MlDsaSigningKey, rng: &mut impl pars_crypto::CryptoRng) -> Self {
        let rng = Mutex::new(ChaCha20Rng::from_rng(rng));
        Self { key, rng }
    }

    /// The Session ID of this identity.
    pub fn session_id(&self) -> SessionId {
        SessionId::from_mldsa_public_key(&self.key.public_key())
    }

    /// The credential and signature key of this identity's leaves.
    pub fn credential(&self) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(self.session_id().as_bytes().to_vec()).into(),
            signature_key: self.key.public_key().as_bytes().to_vec().into(),
        }
    }
}

impl Signer for IdentitySigner {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignerError> {
        let mut rnd = [0u8; 32];
        self.rng
            .lock()
            .map_err(|_| SignerError::SigningError)?
            .fill_bytes(&mut rnd);
        let sig = self
            .key
            .sign_with_rnd(SIG_MLS, payload, &rnd)
            .map_err(|_| SignerError::SigningError);
        zeroize::Zeroize::zeroize(&mut rnd);
        sig.map(|s| s.as_bytes().to_vec())
    }

    fn signature_scheme(&self) -> SignatureScheme {
        SignatureScheme::MLDSA87
    }
}

/// The Session ID a leaf is bound to: its credential must be a basic credential holding a
/// Session ID, and its signature key must hash to that ID.
pub fn bound_session_id(
    credential: &Credential,
    signature_key: &SignaturePublicKey,
) -> Result<SessionId, GroupError> {
    if credential.credential_type() != CredentialType::Basic {
        return Err(GroupError::Credential("not a basic credential".into()));
    }
    // A basic credential's content is its identity.
    let id = SessionId::from_bytes(credential.serialized_content())
        .map_err(|e| GroupError::Credential(format!("identity is not a Session ID: {e}")))?;
    // Every 2,592-byte string encodes an ML-DSA-87 key, so the length is the whole check of
    // the key, and the Session ID is its SHA3-256 (`SessionId::from_mldsa_public_key`,
    // without decoding the key, which costs more than the hash; a test keeps the two equal).
    let pk = signature_key.as_slice();
    if pk.len() != PUBLIC_KEY_LEN {
        return Err(GroupError::Credential(
            "signature key is not an ML-DSA-87 key".into(),
        ));
    }
    if SessionId::from_digest(pars_crypto::sha3_256(&[pk])) != id {
        return Err(GroupError::Credential(format!(
            "the signature key does not belong to {}",
            id.short()
        )));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pars_crypto::mldsa::MlDsaPublicKey;

    fn signer(seed: u64) -> IdentitySigner {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        IdentitySigner::new(MlDsaSigningKey::generate(&mut rng), &mut rng)
    }

    #[test]
    fn the_binding_is_the_session_id_of_the_decoded_key_and_nothing_else() {
        let s = signer(1);
        let cwk = s.credential();
        // The shortcut (hash of the encoded key) agrees with the canonical derivation.
        let pk = MlDsaPublicKey::from_bytes(cwk.signature_key.as_slice()).unwrap();
        assert_eq!(SessionId::from_mldsa_public_key(&pk), s.session_id());
        assert_eq!(
            bound_session_id(&cwk.credential, &cwk.signature_key).unwrap(),
            s.session_id()
        );
        // Another identity's key, a truncated key, a wrong identity, another credential type.
        let other = signer(2).credential();
        assert!(bound_session_id(&cwk.credential, &other.signature_key).is_err());
        let short: SignaturePublicKey = cwk.signature_key.as_slice()[1..].to_vec().into();
        assert!(bound_session_id(&cwk.credential, &short).is_err());
        let claimed = BasicCredential::new(signer(2).session_id().as_bytes().to_vec()).into();
        assert!(bound_session_id(&claimed, &cwk.signature_key).is_err());
        let not_an_id = BasicCredential::new(vec![0; 33]).into();
        assert!(bound_session_id(&not_an_id, &cwk.signature_key).is_err());
        let x509 = Credential::new(CredentialType::X509, s.session_id().as_bytes().to_vec());
        assert!(bound_session_id(&x509, &cwk.signature_key).is_err());
    }
}
