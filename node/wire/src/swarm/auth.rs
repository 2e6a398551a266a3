//! A mailbox owner's authorisation of a request ([`OwnerAuth`]): what is signed, and how it is
//! encoded inside a request.

use super::SwarmRequest;
use crate::{Reader, WireError, Writer};
use pars_crypto::mldsa::{self, MlDsaPublicKey, MlDsaSignature, MlDsaSigningKey};
use pars_crypto::{CryptoError, CryptoRng, labels, sha3_256};

/// A mailbox owner's authorisation of one request.
///
/// The owner signs, with ML-DSA-87 under the context [`labels::SIG_MAILBOX_AUTH`],
/// `tag (1) ‖ timestamp_ms (8) ‖ nonce (16) ‖ SHA3-256(request encoded without auth)`. A node
/// accepts it when the key hashes to the mailbox's owner digest, the timestamp is within its
/// window of its clock (±5 minutes) and the `(owner, nonce)` pair was not seen in that window.
/// The public key may be left out when the owner's bundle is stored in the same swarm.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OwnerAuth {
    /// The signer's clock, Unix milliseconds.
    pub timestamp_ms: u64,
    /// A fresh random nonce (replay protection).
    pub nonce: [u8; 16],
    /// The owner's ML-DSA-87 public key, unless the node can find it in the owner's bundle.
    pub public_key: Option<MlDsaPublicKey>,
    /// The signature.
    pub signature: MlDsaSignature,
}

impl OwnerAuth {
    fn write(&self, w: &mut Writer) {
        w.u64(self.timestamp_ms).bytes(&self.nonce);
        match &self.public_key {
            Some(pk) => {
                w.u8(1).bytes(pk.as_bytes());
            }
            None => {
                w.u8(0);
            }
        }
        w.bytes(self.signature.as_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let timestamp_ms = r.u64("auth timestamp")?;
        let nonce = r.array("auth nonce")?;
        let public_key = match r.u8("auth key flag")? {
            0 => None,
            1 => Some(
                MlDsaPublicKey::from_bytes(r.bytes(mldsa::PUBLIC_KEY_LEN, "auth public key")?)
                    .map_err(|source| WireError::Crypto {
                        what: "auth public key",
                        source,
                    })?,
            ),
            v => {
                return Err(WireError::UnknownVariant {
                    what: "auth key flag",
                    value: u64::from(v),
                });
            }
        };
        let signature = MlDsaSignature::from_bytes(
            r.bytes(mldsa::SIGNATURE_LEN, "auth signature")?,
        )
        .map_err(|source| WireError::Crypto {
            what: "auth signature",
            source,
        })?;
        Ok(Self {
            timestamp_ms,
            nonce,
            public_key,
            signature,
        })
    }

    /// Verifies the signature over `request` with `key` (the caller checks that the key belongs
    /// to the mailbox owner and that the timestamp and nonce are fresh).
    pub fn verify(&self, key: &MlDsaPublicKey, request: &SwarmRequest) -> Result<(), CryptoError> {
        let msg = auth_message(request, self.timestamp_ms, &self.nonce);
        key.verify(labels::SIG_MAILBOX_AUTH, &msg, &self.signature)
    }
}

/// The bytes an owner signs for `request` (see [`OwnerAuth`]).
pub fn auth_message(request: &SwarmRequest, timestamp_ms: u64, nonce: &[u8; 16]) -> Vec<u8> {
    let unsigned = request.unsigned_encoding();
    let mut w = Writer::with_capacity(1 + 8 + 16 + 32);
    w.u8(request.tag())
        .u64(timestamp_ms)
        .bytes(nonce)
        .bytes(&sha3_256(&[&unsigned]));
    w.into_vec()
}

/// Signs `request` as the mailbox owner and attaches the authorisation. `include_key` carries
/// the 2,592-byte public key; leave it out when the owner's bundle is in the swarm.
pub fn sign_request(
    request: &mut SwarmRequest,
    key: &MlDsaSigningKey,
    timestamp_ms: u64,
    include_key: bool,
    rng: &mut impl CryptoRng,
) -> Result<(), CryptoError> {
    let nonce: [u8; 16] = pars_crypto::random_array(rng);
    let msg = auth_message(request, timestamp_ms, &nonce);
    let signature = key.sign(labels::SIG_MAILBOX_AUTH, &msg, rng)?;
    let auth = OwnerAuth {
        timestamp_ms,
        nonce,
        public_key: include_key.then(|| key.public_key()),
        signature,
    };
    match request {
        SwarmRequest::Retrieve { auth: a, .. }
        | SwarmRequest::Delete { auth: a, .. }
        | SwarmRequest::Expire { auth: a, .. } => *a = Some(auth),
        SwarmRequest::Store { .. } | SwarmRequest::Replicate { .. } | SwarmRequest::GetRecord => {}
    }
    Ok(())
}

pub(super) fn write_auth(w: &mut Writer, auth: &Option<OwnerAuth>) {
    match auth {
        Some(a) => {
            w.u8(1);
            a.write(w);
        }
        None => {
            w.u8(0);
        }
    }
}

pub(super) fn read_auth(r: &mut Reader<'_>) -> Result<Option<OwnerAuth>, WireError> {
    match r.u8("auth flag")? {
        0 => Ok(None),
        1 => Ok(Some(OwnerAuth::read(r)?)),
        v => Err(WireError::UnknownVariant {
            what: "auth flag",
            value: u64::from(v),
        }),
    }
}
