//! Credentials bound to Session IDs. A member's MLS credential is a basic credential whose
//! identity is its 33-byte Session ID, and its MLS signature key is its ML-DSA-87 identity key
//! itself: every leaf is signed by the identity key, and the binding is checked by recomputing
//! the Session ID from the signature key (`SessionId::from_mldsa_public_key`). A leaf whose key
//! does not hash to the ID it claims is refused wherever it appears: in a key package being
//! added, in a Welcome's tree, in a commit's update path or update proposal.

use crate::error::GroupError;
use openmls::prelude::{BasicCredential, Credential, CredentialWithKey, SignaturePublicKey};
use openmls_traits::signatures::{Signer, SignerError};
use openmls_traits::types::SignatureScheme;
use pars_crypto::SessionId;
use pars_crypto::labels::SIG_MLS;
use pars_crypto::mldsa::{MlDsaPublicKey, MlDsaSigningKey};
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
    let basic = BasicCredential::try_from(credential.clone())
        .map_err(|_| GroupError::Credential("not a basic credential".into()))?;
    let id = SessionId::from_bytes(basic.identity())
        .map_err(|e| GroupError::Credential(format!("identity is not a Session ID: {e}")))?;
    let pk = MlDsaPublicKey::from_bytes(signature_key.as_slice())
        .map_err(|_| GroupError::Credential("signature key is not an ML-DSA-87 key".into()))?;
    if !id.matches(&pk) {
        return Err(GroupError::Credential(format!(
            "the signature key does not belong to {}",
            id.short()
        )));
    }
    Ok(id)
}
