//! A mailbox owner's authorisation of a request ([`OwnerAuth`]) and how it is encoded inside a
//! request. What is signed is the request's business: `request.rs` makes the signed message,
//! signs and verifies ([`auth_message`](super::auth_message),
//! [`sign_request`](super::sign_request), [`OwnerAuth::verify`]).

use crate::{Reader, WireError, Writer};
use pars_crypto::mldsa::{self, MlDsaPublicKey, MlDsaSignature};

/// A mailbox owner's authorisation of one request.
///
/// The owner signs, with ML-DSA-87 under the context [`labels::SIG_MAILBOX_AUTH`],
/// `tag (1) ‖ timestamp_ms (8) ‖ nonce (16) ‖ target node ID (32) ‖ SHA3-256(request encoded
/// without auth)` (97 bytes). The target is the node ID of the one swarm member the request is
/// for (the path's last hop); it is not sent — a node checks the signature with its own node
/// ID, so an authorisation is good at that member only. A node accepts it when the key hashes
/// to the mailbox's owner digest, the timestamp is within its window of its clock (±5 minutes)
/// and not before the node started, and the `(owner, nonce)` pair was not seen in that window.
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

    /// Writes the auth block of a request: a flag byte (0 none, 1 present), then the
    /// authorisation.
    pub(super) fn write_block(w: &mut Writer, auth: &Option<Self>) {
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

    /// Reads the auth block [`write_block`](Self::write_block) writes.
    pub(super) fn read_block(r: &mut Reader<'_>) -> Result<Option<Self>, WireError> {
        match r.u8("auth flag")? {
            0 => Ok(None),
            1 => Ok(Some(Self::read(r)?)),
            v => Err(WireError::UnknownVariant {
                what: "auth flag",
                value: u64::from(v),
            }),
        }
    }
}
