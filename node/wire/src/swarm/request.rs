//! Requests on the swarm protocol ([`SwarmRequest`]), their encoding, and what a mailbox owner
//! signs of them ([`auth_message`], [`sign_request`], [`OwnerAuth::verify`]).

use super::access::{ACCESS_TOKEN_LEN, AccessToken};
use super::auth::OwnerAuth;
use super::{
    ContentHash, MAX_HASHES, MAX_PAYLOAD_LEN, MAX_REPLICA_ITEMS, MAX_WAIT_MS, Mailbox,
    SWARM_VERSION, read_bool, read_version,
};
use crate::{GroupId, NodeId, Reader, WireError, Writer};
use pars_crypto::mldsa::{MlDsaPublicKey, MlDsaSigningKey};
use pars_crypto::{CryptoError, CryptoRng, labels, sha3_256};

/// One message copied between swarm members (replication and handoff).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReplicaItem {
    /// Its mailbox.
    pub mailbox: Mailbox,
    /// Absolute expiry, Unix milliseconds.
    pub expires_at_ms: u64,
    /// The payload.
    pub payload: Vec<u8>,
}

/// A request on the swarm protocol.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SwarmRequest {
    /// Store a message; the receiving member replicates it to the rest of the swarm.
    Store {
        /// Where.
        mailbox: Mailbox,
        /// Time to live in milliseconds (0 = [`DEFAULT_TTL_MS`](super::DEFAULT_TTL_MS); at most
        /// [`MAX_TTL_MS`](super::MAX_TTL_MS)).
        ttl_ms: u64,
        /// The message (at most [`MAX_PAYLOAD_LEN`] bytes).
        payload: Vec<u8>,
    },
    /// Fetch messages after a cursor (the answering node's sequence numbers).
    Retrieve {
        /// Which mailbox.
        mailbox: Mailbox,
        /// Return messages with `seq > after` (0 = from the start).
        after: u64,
        /// At most this many messages.
        max_count: u16,
        /// At most this many payload bytes (at least one message is returned if any).
        max_bytes: u32,
        /// Long-poll: when nothing is there after `after`, the node may hold the request up to
        /// this many milliseconds (at most [`MAX_WAIT_MS`]) and answers as soon as a message
        /// for the mailbox arrives. 0 = answer at once. A non-zero wait is encoded under its
        /// own tag (`RETRIEVE_WAIT`), so a node that does not know it refuses it as malformed.
        wait_ms: u32,
        /// The owner's authorisation, where the namespace needs it.
        auth: Option<OwnerAuth>,
    },
    /// Delete messages by content hash.
    Delete {
        /// Which mailbox.
        mailbox: Mailbox,
        /// The messages.
        hashes: Vec<ContentHash>,
        /// Set by the member that forwards the request to the rest of the swarm.
        forwarded: bool,
        /// The owner's authorisation.
        auth: Option<OwnerAuth>,
    },
    /// Change the expiry of messages (shorten, or extend up to
    /// [`MAX_TTL_MS`](super::MAX_TTL_MS) from now).
    Expire {
        /// Which mailbox.
        mailbox: Mailbox,
        /// The messages.
        hashes: Vec<ContentHash>,
        /// New absolute expiry, Unix milliseconds.
        expires_at_ms: u64,
        /// Set by the member that forwards the request to the rest of the swarm.
        forwarded: bool,
        /// The owner's authorisation.
        auth: Option<OwnerAuth>,
    },
    /// Swarm-internal: copies of messages, from a member to another (replication and handoff).
    /// Accepted only from service-set members.
    Replicate {
        /// The copies.
        items: Vec<ReplicaItem>,
    },
    /// Ask for the node's signed node record.
    GetRecord,
    /// Store a message in a group's mailbox ([`Mailbox::Group`]) with a member's access token
    /// (the current generation's: see [`GroupAccess`](super::GroupAccess)).
    GroupStore {
        /// The group.
        group: GroupId,
        /// The member's token.
        token: AccessToken,
        /// Time to live in milliseconds, as for [`SwarmRequest::Store`].
        ttl_ms: u64,
        /// The message (at most [`MAX_PAYLOAD_LEN`] bytes).
        payload: Vec<u8>,
    },
    /// Fetch from a group's mailbox with a member's access token. An older generation's token
    /// gets only what the node stored before the next generation's record.
    GroupRetrieve {
        /// The group.
        group: GroupId,
        /// The member's token.
        token: AccessToken,
        /// Return messages with `seq > after`.
        after: u64,
        /// At most this many messages.
        max_count: u16,
        /// At most this many payload bytes.
        max_bytes: u32,
        /// Long-poll as for [`SwarmRequest::Retrieve`] (0 = answer at once; at most
        /// [`MAX_WAIT_MS`]). Only the current generation's token waits.
        wait_ms: u32,
    },
}

mod tag {
    pub const STORE: u8 = 1;
    pub const RETRIEVE: u8 = 2;
    pub const DELETE: u8 = 3;
    pub const EXPIRE: u8 = 4;
    pub const REPLICATE: u8 = 5;
    pub const GET_RECORD: u8 = 6;
    pub const RETRIEVE_WAIT: u8 = 7;
    pub const GROUP_STORE: u8 = 8;
    pub const GROUP_RETRIEVE: u8 = 9;
}

fn write_hashes(w: &mut Writer, hashes: &[ContentHash]) {
    w.u16(u16::try_from(hashes.len()).unwrap_or(u16::MAX));
    for h in hashes.iter().take(usize::from(u16::MAX)) {
        w.bytes(h);
    }
}

/// A long-poll's wait, refused above [`MAX_WAIT_MS`].
fn bounded_wait(w: u32) -> Result<u32, WireError> {
    if w > MAX_WAIT_MS {
        return Err(WireError::TooLong {
            what: "wait",
            len: w as usize,
            max: MAX_WAIT_MS as usize,
        });
    }
    Ok(w)
}

fn read_hashes(r: &mut Reader<'_>) -> Result<Vec<ContentHash>, WireError> {
    let n = usize::from(r.u16("hash count")?);
    if n > MAX_HASHES {
        return Err(WireError::TooLong {
            what: "hash list",
            len: n,
            max: MAX_HASHES,
        });
    }
    (0..n).map(|_| r.array("content hash")).collect()
}

impl SwarmRequest {
    /// The request's tag byte.
    pub fn tag(&self) -> u8 {
        match self {
            SwarmRequest::Store { .. } => tag::STORE,
            SwarmRequest::Retrieve { wait_ms: 0, .. } => tag::RETRIEVE,
            SwarmRequest::Retrieve { .. } => tag::RETRIEVE_WAIT,
            SwarmRequest::Delete { .. } => tag::DELETE,
            SwarmRequest::Expire { .. } => tag::EXPIRE,
            SwarmRequest::Replicate { .. } => tag::REPLICATE,
            SwarmRequest::GetRecord => tag::GET_RECORD,
            SwarmRequest::GroupStore { .. } => tag::GROUP_STORE,
            SwarmRequest::GroupRetrieve { .. } => tag::GROUP_RETRIEVE,
        }
    }

    /// The mailbox the request is about, if it is about one.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            SwarmRequest::Store { mailbox, .. }
            | SwarmRequest::Retrieve { mailbox, .. }
            | SwarmRequest::Delete { mailbox, .. }
            | SwarmRequest::Expire { mailbox, .. } => Some(mailbox),
            SwarmRequest::Replicate { .. } | SwarmRequest::GetRecord => None,
            SwarmRequest::GroupStore { .. } | SwarmRequest::GroupRetrieve { .. } => None,
        }
    }

    /// Whether this request may travel in a bulk onion packet
    /// ([`crate::onion::PacketClass::Bulk`]): only a store into a chunk mailbox. An exit node
    /// refuses any other request that arrives in one.
    pub fn may_travel_bulk(&self) -> bool {
        matches!(
            self,
            SwarmRequest::Store {
                mailbox: Mailbox::Chunk(_),
                ..
            }
        )
    }

    /// Whether this request's answer may travel in a bulk onion packet: only a retrieve from a
    /// chunk mailbox (whose page carries the chunk). Every other answer is cut to fit a
    /// standard packet.
    pub fn answer_may_travel_bulk(&self) -> bool {
        matches!(
            self,
            SwarmRequest::Retrieve {
                mailbox: Mailbox::Chunk(_),
                ..
            }
        )
    }

    /// The group mailbox a member's request is about (also its [`Mailbox::Group`]).
    pub fn group_mailbox(&self) -> Option<Mailbox> {
        match self {
            SwarmRequest::GroupStore { group, .. } | SwarmRequest::GroupRetrieve { group, .. } => {
                Some(Mailbox::Group(*group))
            }
            _ => None,
        }
    }

    /// The owner's authorisation, if the request carries one.
    pub fn auth(&self) -> Option<&OwnerAuth> {
        match self {
            SwarmRequest::Retrieve { auth, .. }
            | SwarmRequest::Delete { auth, .. }
            | SwarmRequest::Expire { auth, .. } => auth.as_ref(),
            _ => None,
        }
    }

    /// The encoding with the authorisation removed and `forwarded` cleared: what
    /// [`auth_message`] hashes.
    pub fn unsigned_encoding(&self) -> Vec<u8> {
        let mut copy = self.clone();
        match &mut copy {
            SwarmRequest::Retrieve { auth, .. } => *auth = None,
            SwarmRequest::Delete {
                auth, forwarded, ..
            }
            | SwarmRequest::Expire {
                auth, forwarded, ..
            } => {
                *auth = None;
                *forwarded = false;
            }
            _ => {}
        }
        copy.encode()
    }

    /// Encodes the request (version, tag, fields).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(SWARM_VERSION).u8(self.tag());
        match self {
            SwarmRequest::Store {
                mailbox,
                ttl_ms,
                payload,
            } => {
                mailbox.write(&mut w);
                w.u64(*ttl_ms).var32(payload);
            }
            SwarmRequest::Retrieve {
                mailbox,
                after,
                max_count,
                max_bytes,
                wait_ms,
                auth,
            } => {
                mailbox.write(&mut w);
                w.u64(*after).u16(*max_count).u32(*max_bytes);
                if *wait_ms > 0 {
                    w.u32(*wait_ms);
                }
                OwnerAuth::write_block(&mut w, auth);
            }
            SwarmRequest::Delete {
                mailbox,
                hashes,
                forwarded,
                auth,
            } => {
                mailbox.write(&mut w);
                write_hashes(&mut w, hashes);
                w.u8(u8::from(*forwarded));
                OwnerAuth::write_block(&mut w, auth);
            }
            SwarmRequest::Expire {
                mailbox,
                hashes,
                expires_at_ms,
                forwarded,
                auth,
            } => {
                mailbox.write(&mut w);
                write_hashes(&mut w, hashes);
                w.u64(*expires_at_ms).u8(u8::from(*forwarded));
                OwnerAuth::write_block(&mut w, auth);
            }
            SwarmRequest::Replicate { items } => {
                w.u16(u16::try_from(items.len()).unwrap_or(u16::MAX));
                for item in items.iter().take(usize::from(u16::MAX)) {
                    item.mailbox.write(&mut w);
                    w.u64(item.expires_at_ms).var32(&item.payload);
                }
            }
            SwarmRequest::GetRecord => {}
            SwarmRequest::GroupStore {
                group,
                token,
                ttl_ms,
                payload,
            } => {
                group.write(&mut w);
                w.bytes(&token.0).u64(*ttl_ms).var32(payload);
            }
            SwarmRequest::GroupRetrieve {
                group,
                token,
                after,
                max_count,
                max_bytes,
                wait_ms,
            } => {
                group.write(&mut w);
                w.bytes(&token.0)
                    .u64(*after)
                    .u16(*max_count)
                    .u32(*max_bytes)
                    .u32(*wait_ms);
            }
        }
        w.into_vec()
    }

    /// Decodes a request. Total: any input gives a request or an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        read_version(&mut r, "swarm request")?;
        let req = match r.u8("swarm request tag")? {
            tag::STORE => SwarmRequest::Store {
                mailbox: Mailbox::read(&mut r)?,
                ttl_ms: r.u64("ttl")?,
                payload: r.var32(MAX_PAYLOAD_LEN, "payload")?.to_vec(),
            },
            tag::RETRIEVE => SwarmRequest::Retrieve {
                mailbox: Mailbox::read(&mut r)?,
                after: r.u64("cursor")?,
                max_count: r.u16("max count")?,
                max_bytes: r.u32("max bytes")?,
                wait_ms: 0,
                auth: OwnerAuth::read_block(&mut r)?,
            },
            tag::RETRIEVE_WAIT => SwarmRequest::Retrieve {
                mailbox: Mailbox::read(&mut r)?,
                after: r.u64("cursor")?,
                max_count: r.u16("max count")?,
                max_bytes: r.u32("max bytes")?,
                wait_ms: match bounded_wait(r.u32("wait")?)? {
                    // Zero is encoded under the plain tag: one encoding per request.
                    0 => {
                        return Err(WireError::Invalid {
                            what: "wait",
                            reason: "a waiting retrieve waits at least 1 ms",
                        });
                    }
                    w => w,
                },
                auth: OwnerAuth::read_block(&mut r)?,
            },
            tag::DELETE => SwarmRequest::Delete {
                mailbox: Mailbox::read(&mut r)?,
                hashes: read_hashes(&mut r)?,
                forwarded: read_bool(&mut r, "forwarded flag")?,
                auth: OwnerAuth::read_block(&mut r)?,
            },
            tag::EXPIRE => SwarmRequest::Expire {
                mailbox: Mailbox::read(&mut r)?,
                hashes: read_hashes(&mut r)?,
                expires_at_ms: r.u64("expiry")?,
                forwarded: read_bool(&mut r, "forwarded flag")?,
                auth: OwnerAuth::read_block(&mut r)?,
            },
            tag::REPLICATE => {
                let n = usize::from(r.u16("replica count")?);
                if n > MAX_REPLICA_ITEMS {
                    return Err(WireError::TooLong {
                        what: "replica list",
                        len: n,
                        max: MAX_REPLICA_ITEMS,
                    });
                }
                let mut items = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    items.push(ReplicaItem {
                        mailbox: Mailbox::read(&mut r)?,
                        expires_at_ms: r.u64("replica expiry")?,
                        payload: r.var32(MAX_PAYLOAD_LEN, "replica payload")?.to_vec(),
                    });
                }
                SwarmRequest::Replicate { items }
            }
            tag::GET_RECORD => SwarmRequest::GetRecord,
            tag::GROUP_STORE => SwarmRequest::GroupStore {
                group: GroupId::read(&mut r)?,
                token: AccessToken(r.array::<ACCESS_TOKEN_LEN>("access token")?),
                ttl_ms: r.u64("ttl")?,
                payload: r.var32(MAX_PAYLOAD_LEN, "payload")?.to_vec(),
            },
            tag::GROUP_RETRIEVE => SwarmRequest::GroupRetrieve {
                group: GroupId::read(&mut r)?,
                token: AccessToken(r.array::<ACCESS_TOKEN_LEN>("access token")?),
                after: r.u64("cursor")?,
                max_count: r.u16("max count")?,
                max_bytes: r.u32("max bytes")?,
                wait_ms: bounded_wait(r.u32("wait")?)?,
            },
            other => {
                return Err(WireError::UnknownVariant {
                    what: "swarm request tag",
                    value: u64::from(other),
                });
            }
        };
        r.finish("swarm request")?;
        Ok(req)
    }
}

impl OwnerAuth {
    /// Verifies the signature over `request` for the node `target` with `key` (the caller
    /// checks that the key belongs to the mailbox owner and that the timestamp and nonce are
    /// fresh).
    pub fn verify(
        &self,
        key: &MlDsaPublicKey,
        request: &SwarmRequest,
        target: &NodeId,
    ) -> Result<(), CryptoError> {
        let msg = auth_message(request, self.timestamp_ms, &self.nonce, target);
        key.verify(labels::SIG_MAILBOX_AUTH, &msg, &self.signature)
    }
}

/// Length of the message an owner signs: tag, timestamp, nonce, target node ID, request hash.
pub const AUTH_MESSAGE_LEN: usize = 1 + 8 + 16 + 32 + 32;

/// The bytes an owner signs for `request` to the node `target` (see [`OwnerAuth`]).
pub fn auth_message(
    request: &SwarmRequest,
    timestamp_ms: u64,
    nonce: &[u8; 16],
    target: &NodeId,
) -> Vec<u8> {
    let unsigned = request.unsigned_encoding();
    let mut w = Writer::with_capacity(AUTH_MESSAGE_LEN);
    w.u8(request.tag())
        .u64(timestamp_ms)
        .bytes(nonce)
        .bytes(&target.0)
        .bytes(&sha3_256(&[&unsigned]));
    w.into_vec()
}

/// Signs `request` as the mailbox owner, for the swarm member `target` alone, and attaches the
/// authorisation. `include_key` carries the 2,592-byte public key; leave it out when the
/// owner's bundle is in the swarm.
pub fn sign_request(
    request: &mut SwarmRequest,
    key: &MlDsaSigningKey,
    target: &NodeId,
    timestamp_ms: u64,
    include_key: bool,
    rng: &mut impl CryptoRng,
) -> Result<(), CryptoError> {
    let nonce: [u8; 16] = pars_crypto::random_array(rng);
    let msg = auth_message(request, timestamp_ms, &nonce, target);
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
        SwarmRequest::Store { .. }
        | SwarmRequest::Replicate { .. }
        | SwarmRequest::GetRecord
        | SwarmRequest::GroupStore { .. }
        | SwarmRequest::GroupRetrieve { .. } => {}
    }
    Ok(())
}
