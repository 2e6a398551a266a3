//! The swarm storage protocol (`/pars/swarm/1`): requests to and responses from the service nodes
//! that hold a mailbox, and the mailbox owner's authorisation.
//!
//! Every frame starts with the version byte [`SWARM_VERSION`] and a tag; integers are big-endian,
//! variable fields length-prefixed and capped (see the constants). The full layout with sizes is
//! in `docs/protocol.md`, section "Swarm protocol".
//!
//! A mailbox lives on the [`SWARM_SIZE`] service nodes whose node IDs are closest (XOR) to its
//! [`Mailbox::location`]. Who may do what:
//!
//! | namespace | store | retrieve | delete / expire |
//! |---|---|---|---|
//! | [`Mailbox::Inbox`] (DMs to a Session ID) | anyone | owner | owner |
//! | [`Mailbox::Group`] (a group's mailbox) | anyone | group key | group key |
//! | [`Mailbox::Bundle`] (identity bundle / prekeys) | owner (the bundle is self-signed) | anyone | owner |
//! | [`Mailbox::File`] (encrypted file chunks) | anyone | anyone (the file ID is the capability) | nobody: TTL only |
//!
//! "Owner" means an [`OwnerAuth`]: an ML-DSA-87 signature under [`labels::SIG_MAILBOX_AUTH`]
//! by the key whose SHA3-256 is the mailbox's owner digest (the Session ID digest, or the
//! [`GroupId`] for groups).

use crate::{FileId, GroupId, Reader, WireError, Writer};
use pars_crypto::mldsa::{self, MlDsaPublicKey, MlDsaSignature, MlDsaSigningKey};
use pars_crypto::{CryptoError, CryptoRng, SESSION_ID_LEN, SessionId, labels, sha3_256};

/// Version byte of every swarm frame.
pub const SWARM_VERSION: u8 = 1;
/// The libp2p protocol name of the swarm protocol.
pub const SWARM_PROTOCOL: &str = "/pars/swarm/1";
/// Members in a mailbox's swarm (the specification's `RequiredCopies`).
pub const SWARM_SIZE: usize = 5;
/// Copies that make a store successful (the specification's `MinCopies`).
pub const MIN_COPIES: usize = 3;
/// TTL when a client does not ask for one: 14 days, in milliseconds.
pub const DEFAULT_TTL_MS: u64 = 14 * 24 * 3600 * 1000;
/// Longest TTL a node accepts: 30 days, in milliseconds.
pub const MAX_TTL_MS: u64 = 30 * 24 * 3600 * 1000;
/// Largest payload of one stored message (a node may configure a smaller cap).
pub const MAX_PAYLOAD_LEN: usize = 128 * 1024;
/// Most messages in one retrieve response.
pub const MAX_RETRIEVE_COUNT: u16 = 1024;
/// Most payload bytes in one retrieve response.
pub const MAX_RETRIEVE_BYTES: u32 = 2 * 1024 * 1024;
/// Longest a waiting retrieve (long-poll) may ask to be held, milliseconds. A node holds it
/// for at most its own (smaller or equal) bound.
pub const MAX_WAIT_MS: u32 = 25_000;
/// Most hashes in one delete or expire request.
pub const MAX_HASHES: usize = 512;
/// Most items in one replicate request.
pub const MAX_REPLICA_ITEMS: usize = 1024;
/// Largest frame (request or response) on the swarm protocol, length prefix excluded.
pub const MAX_FRAME_LEN: usize = 4 * 1024 * 1024;
/// Largest peer ID in a [`SwarmResponse::WrongSwarm`] list.
pub const MAX_PEER_ID_LEN: usize = 64;
/// Longest error detail text.
pub const MAX_DETAIL_LEN: usize = 512;
/// Largest encoded node record carried in [`SwarmResponse::Record`].
pub const MAX_RECORD_LEN: usize = 16 * 1024;
/// Size of an [`OwnerAuth`] with the public key: 8 + 16 + 1 + 2592 + 4627 = 7244 bytes.
pub const OWNER_AUTH_LEN_WITH_KEY: usize =
    8 + 16 + 1 + mldsa::PUBLIC_KEY_LEN + mldsa::SIGNATURE_LEN;
/// Size of an [`OwnerAuth`] without the public key (the node has the owner's bundle): 4652 bytes.
pub const OWNER_AUTH_LEN_WITHOUT_KEY: usize = 8 + 16 + 1 + mldsa::SIGNATURE_LEN;
/// A message's content hash: SHA3-256 of its payload (the dedupe key).
pub type ContentHash = [u8; 32];

/// The content hash of a payload.
pub fn content_hash(payload: &[u8]) -> ContentHash {
    sha3_256(&[payload])
}

/// A mailbox: a namespace and the identifier it is addressed by.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Mailbox {
    /// Direct messages to a Session ID. Anyone may store; the owner retrieves.
    Inbox(SessionId),
    /// A group's mailbox; the owner key is the group's ML-DSA key, `GroupId = SHA3-256(pk)`.
    Group(GroupId),
    /// The identity bundle (with its prekey) of a Session ID; anyone fetches it.
    Bundle(SessionId),
    /// Chunks of an encrypted file, addressed by the file ID.
    File(FileId),
}

/// Namespace tags on the wire.
mod ns {
    pub const INBOX: u8 = 1;
    pub const GROUP: u8 = 2;
    pub const BUNDLE: u8 = 3;
    pub const FILE: u8 = 4;
}

impl Mailbox {
    /// The namespace tag.
    pub fn namespace(&self) -> u8 {
        match self {
            Mailbox::Inbox(_) => ns::INBOX,
            Mailbox::Group(_) => ns::GROUP,
            Mailbox::Bundle(_) => ns::BUNDLE,
            Mailbox::File(_) => ns::FILE,
        }
    }

    /// The 32-byte key that places the mailbox in node-ID space. An inbox and the bundle of the
    /// same Session ID share a swarm, so that swarm can authenticate requests from the bundle.
    pub fn location(&self) -> [u8; 32] {
        match self {
            Mailbox::Inbox(s) | Mailbox::Bundle(s) => s.digest(),
            Mailbox::Group(g) => g.0,
            Mailbox::File(f) => f.0,
        }
    }

    /// The digest an owner's ML-DSA-87 public key must hash to, if the mailbox has an owner.
    pub fn owner_digest(&self) -> Option<[u8; 32]> {
        match self {
            Mailbox::Inbox(s) | Mailbox::Bundle(s) => Some(s.digest()),
            Mailbox::Group(g) => Some(g.0),
            Mailbox::File(_) => None,
        }
    }

    /// Whether a store needs no owner authorisation (a bundle store is authorised by the bundle's
    /// own signature instead).
    pub fn open_store(&self) -> bool {
        !matches!(self, Mailbox::Bundle(_))
    }

    /// Whether retrieving needs the owner's authorisation.
    pub fn owner_retrieves(&self) -> bool {
        matches!(self, Mailbox::Inbox(_) | Mailbox::Group(_))
    }

    /// Whether a store replaces everything in the mailbox (only the newest bundle is kept).
    pub fn single_slot(&self) -> bool {
        matches!(self, Mailbox::Bundle(_))
    }

    /// Encoded length: 1 + 33 (Session ID) or 1 + 32.
    pub fn encoded_len(&self) -> usize {
        match self {
            Mailbox::Inbox(_) | Mailbox::Bundle(_) => 1 + SESSION_ID_LEN,
            Mailbox::Group(_) | Mailbox::File(_) => 1 + 32,
        }
    }

    /// Writes `namespace ‖ id`.
    pub fn write(&self, w: &mut Writer) {
        w.u8(self.namespace());
        match self {
            Mailbox::Inbox(s) | Mailbox::Bundle(s) => {
                w.bytes(s.as_bytes());
            }
            Mailbox::Group(g) => g.write(w),
            Mailbox::File(f) => f.write(w),
        }
    }

    /// The encoding as bytes (also the store's key prefix).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.encoded_len());
        self.write(&mut w);
        w.into_vec()
    }

    /// Reads `namespace ‖ id`.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let tag = r.u8("mailbox namespace")?;
        let session = |r: &mut Reader<'_>| -> Result<SessionId, WireError> {
            SessionId::from_bytes(r.bytes(SESSION_ID_LEN, "mailbox session ID")?).map_err(|_| {
                WireError::Invalid {
                    what: "mailbox session ID",
                    reason: "not a Session ID (must start with 05)",
                }
            })
        };
        Ok(match tag {
            ns::INBOX => Mailbox::Inbox(session(r)?),
            ns::GROUP => Mailbox::Group(GroupId::read(r)?),
            ns::BUNDLE => Mailbox::Bundle(session(r)?),
            ns::FILE => Mailbox::File(FileId::read(r)?),
            other => {
                return Err(WireError::UnknownVariant {
                    what: "mailbox namespace",
                    value: u64::from(other),
                });
            }
        })
    }

    /// Parses exactly one encoded mailbox.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let m = Self::read(&mut r)?;
        r.finish("mailbox")?;
        Ok(m)
    }
}

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

/// One stored message as returned by a retrieve.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MailboxItem {
    /// The answering node's sequence number: the cursor to continue after.
    pub seq: u64,
    /// SHA3-256 of the payload.
    pub hash: ContentHash,
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
        /// Time to live in milliseconds (0 = [`DEFAULT_TTL_MS`]; at most [`MAX_TTL_MS`]).
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
    /// Change the expiry of messages (shorten, or extend up to [`MAX_TTL_MS`] from now).
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
}

mod tag {
    pub const STORE: u8 = 1;
    pub const RETRIEVE: u8 = 2;
    pub const DELETE: u8 = 3;
    pub const EXPIRE: u8 = 4;
    pub const REPLICATE: u8 = 5;
    pub const GET_RECORD: u8 = 6;
    pub const RETRIEVE_WAIT: u8 = 7;
}

fn write_hashes(w: &mut Writer, hashes: &[ContentHash]) {
    w.u16(u16::try_from(hashes.len()).unwrap_or(u16::MAX));
    for h in hashes.iter().take(usize::from(u16::MAX)) {
        w.bytes(h);
    }
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

fn write_auth(w: &mut Writer, auth: &Option<OwnerAuth>) {
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

fn read_auth(r: &mut Reader<'_>) -> Result<Option<OwnerAuth>, WireError> {
    match r.u8("auth flag")? {
        0 => Ok(None),
        1 => Ok(Some(OwnerAuth::read(r)?)),
        v => Err(WireError::UnknownVariant {
            what: "auth flag",
            value: u64::from(v),
        }),
    }
}

fn read_bool(r: &mut Reader<'_>, what: &'static str) -> Result<bool, WireError> {
    match r.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(WireError::UnknownVariant {
            what,
            value: u64::from(v),
        }),
    }
}

fn read_version(r: &mut Reader<'_>, what: &'static str) -> Result<(), WireError> {
    match r.u8(what)? {
        SWARM_VERSION => Ok(()),
        version => Err(WireError::UnsupportedVersion { what, version }),
    }
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
                write_auth(&mut w, auth);
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
                write_auth(&mut w, auth);
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
                write_auth(&mut w, auth);
            }
            SwarmRequest::Replicate { items } => {
                w.u16(u16::try_from(items.len()).unwrap_or(u16::MAX));
                for item in items.iter().take(usize::from(u16::MAX)) {
                    item.mailbox.write(&mut w);
                    w.u64(item.expires_at_ms).var32(&item.payload);
                }
            }
            SwarmRequest::GetRecord => {}
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
                auth: read_auth(&mut r)?,
            },
            tag::RETRIEVE_WAIT => SwarmRequest::Retrieve {
                mailbox: Mailbox::read(&mut r)?,
                after: r.u64("cursor")?,
                max_count: r.u16("max count")?,
                max_bytes: r.u32("max bytes")?,
                wait_ms: match r.u32("wait")? {
                    // Zero is encoded under the plain tag: one encoding per request.
                    0 => {
                        return Err(WireError::Invalid {
                            what: "wait",
                            reason: "a waiting retrieve waits at least 1 ms",
                        });
                    }
                    w if w > MAX_WAIT_MS => {
                        return Err(WireError::TooLong {
                            what: "wait",
                            len: w as usize,
                            max: MAX_WAIT_MS as usize,
                        });
                    }
                    w => w,
                },
                auth: read_auth(&mut r)?,
            },
            tag::DELETE => SwarmRequest::Delete {
                mailbox: Mailbox::read(&mut r)?,
                hashes: read_hashes(&mut r)?,
                forwarded: read_bool(&mut r, "forwarded flag")?,
                auth: read_auth(&mut r)?,
            },
            tag::EXPIRE => SwarmRequest::Expire {
                mailbox: Mailbox::read(&mut r)?,
                hashes: read_hashes(&mut r)?,
                expires_at_ms: r.u64("expiry")?,
                forwarded: read_bool(&mut r, "forwarded flag")?,
                auth: read_auth(&mut r)?,
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

/// Why a node refused a request. Codes are stable on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request could not be decoded.
    Malformed,
    /// The peer sent too many requests; retry after `value` milliseconds.
    RateLimited,
    /// The node's store is full; it evicts no live mail, so it refuses new mail.
    Full,
    /// The payload is larger than the node's cap (`value` = the cap).
    TooLarge,
    /// The TTL is above the maximum (`value` = the maximum in seconds).
    BadTtl,
    /// Missing or invalid owner authorisation.
    Unauthorized,
    /// The namespace does not allow the operation.
    Forbidden,
    /// Fewer than `MinCopies` members hold the message (`value` = how many do).
    InsufficientCopies,
    /// A swarm-internal request from a peer outside the service-node set.
    NotMember,
    /// The node failed internally (storage error); retry elsewhere.
    Internal,
    /// The authorisation's nonce was already used.
    Replay,
    /// The content is invalid for its namespace (e.g. a bundle that does not verify).
    InvalidContent,
    /// The node holds as many waiting retrieves as it allows; retry after `value`
    /// milliseconds, or retrieve without waiting.
    Busy,
    /// A code this build does not know.
    Other(u16),
}

impl ErrorCode {
    /// The wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            ErrorCode::Malformed => 1,
            ErrorCode::RateLimited => 2,
            ErrorCode::Full => 3,
            ErrorCode::TooLarge => 4,
            ErrorCode::BadTtl => 5,
            ErrorCode::Unauthorized => 6,
            ErrorCode::Forbidden => 7,
            ErrorCode::InsufficientCopies => 8,
            ErrorCode::NotMember => 9,
            ErrorCode::Internal => 10,
            ErrorCode::Replay => 11,
            ErrorCode::InvalidContent => 12,
            ErrorCode::Busy => 13,
            ErrorCode::Other(v) => v,
        }
    }

    /// From the wire value.
    pub fn from_u16(v: u16) -> Self {
        match v {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::RateLimited,
            3 => ErrorCode::Full,
            4 => ErrorCode::TooLarge,
            5 => ErrorCode::BadTtl,
            6 => ErrorCode::Unauthorized,
            7 => ErrorCode::Forbidden,
            8 => ErrorCode::InsufficientCopies,
            9 => ErrorCode::NotMember,
            10 => ErrorCode::Internal,
            11 => ErrorCode::Replay,
            12 => ErrorCode::InvalidContent,
            13 => ErrorCode::Busy,
            v => ErrorCode::Other(v),
        }
    }
}

/// A response on the swarm protocol.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SwarmResponse {
    /// The store succeeded on `copies` members (at least [`MIN_COPIES`]).
    Stored {
        /// SHA3-256 of the payload.
        hash: ContentHash,
        /// Members holding it, the answering node included.
        copies: u8,
        /// Absolute expiry, Unix milliseconds.
        expires_at_ms: u64,
        /// Whether the answering node already had it.
        duplicate: bool,
    },
    /// Messages in sequence order.
    Messages {
        /// The messages.
        items: Vec<MailboxItem>,
        /// Whether more messages follow the last one.
        more: bool,
    },
    /// A delete, expire or replicate was applied to `count` messages.
    Done {
        /// Messages affected.
        count: u32,
    },
    /// The node is not in the mailbox's swarm; these are the members (peer ID bytes, closest
    /// first). Session's HTTP 421.
    WrongSwarm {
        /// The swarm.
        swarm: Vec<Vec<u8>>,
    },
    /// The node's signed node record (see [`crate::node_record`]).
    Record {
        /// The encoded record.
        record: Vec<u8>,
    },
    /// The request was refused.
    Error {
        /// Why.
        code: ErrorCode,
        /// Code-specific number: retry-after ms, a cap, or a copy count.
        value: u32,
        /// Human-readable detail (never message content).
        detail: String,
    },
}

mod rtag {
    pub const STORED: u8 = 1;
    pub const MESSAGES: u8 = 2;
    pub const DONE: u8 = 3;
    pub const WRONG_SWARM: u8 = 4;
    pub const RECORD: u8 = 5;
    pub const ERROR: u8 = 6;
}

/// Most peers in a wrong-swarm answer.
pub const MAX_WRONG_SWARM_PEERS: usize = 16;

impl SwarmResponse {
    /// An error response.
    pub fn error(code: ErrorCode, value: u32, detail: impl Into<String>) -> Self {
        let mut detail: String = detail.into();
        if detail.len() > MAX_DETAIL_LEN {
            let mut cut = MAX_DETAIL_LEN;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
        }
        SwarmResponse::Error {
            code,
            value,
            detail,
        }
    }

    /// Encodes the response.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(SWARM_VERSION);
        match self {
            SwarmResponse::Stored {
                hash,
                copies,
                expires_at_ms,
                duplicate,
            } => {
                w.u8(rtag::STORED)
                    .bytes(hash)
                    .u8(*copies)
                    .u64(*expires_at_ms)
                    .u8(u8::from(*duplicate));
            }
            SwarmResponse::Messages { items, more } => {
                w.u8(rtag::MESSAGES)
                    .u16(u16::try_from(items.len()).unwrap_or(u16::MAX));
                for i in items.iter().take(usize::from(u16::MAX)) {
                    w.u64(i.seq)
                        .bytes(&i.hash)
                        .u64(i.expires_at_ms)
                        .var32(&i.payload);
                }
                w.u8(u8::from(*more));
            }
            SwarmResponse::Done { count } => {
                w.u8(rtag::DONE).u32(*count);
            }
            SwarmResponse::WrongSwarm { swarm } => {
                w.u8(rtag::WRONG_SWARM)
                    .u8(u8::try_from(swarm.len()).unwrap_or(u8::MAX));
                for p in swarm.iter().take(usize::from(u8::MAX)) {
                    w.var16(p);
                }
            }
            SwarmResponse::Record { record } => {
                w.u8(rtag::RECORD).var32(record);
            }
            SwarmResponse::Error {
                code,
                value,
                detail,
            } => {
                w.u8(rtag::ERROR)
                    .u16(code.to_u16())
                    .u32(*value)
                    .var16(detail.as_bytes());
            }
        }
        w.into_vec()
    }

    /// Decodes a response. Total.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        read_version(&mut r, "swarm response")?;
        let resp = match r.u8("swarm response tag")? {
            rtag::STORED => SwarmResponse::Stored {
                hash: r.array("content hash")?,
                copies: r.u8("copies")?,
                expires_at_ms: r.u64("expiry")?,
                duplicate: read_bool(&mut r, "duplicate flag")?,
            },
            rtag::MESSAGES => {
                let n = r.u16("message count")?;
                if n > MAX_RETRIEVE_COUNT {
                    return Err(WireError::TooLong {
                        what: "message list",
                        len: usize::from(n),
                        max: usize::from(MAX_RETRIEVE_COUNT),
                    });
                }
                let mut items = Vec::with_capacity(usize::from(n).min(64));
                for _ in 0..n {
                    items.push(MailboxItem {
                        seq: r.u64("sequence number")?,
                        hash: r.array("content hash")?,
                        expires_at_ms: r.u64("expiry")?,
                        payload: r.var32(MAX_PAYLOAD_LEN, "payload")?.to_vec(),
                    });
                }
                SwarmResponse::Messages {
                    items,
                    more: read_bool(&mut r, "more flag")?,
                }
            }
            rtag::DONE => SwarmResponse::Done {
                count: r.u32("count")?,
            },
            rtag::WRONG_SWARM => {
                let n = usize::from(r.u8("swarm size")?);
                if n > MAX_WRONG_SWARM_PEERS {
                    return Err(WireError::TooLong {
                        what: "swarm list",
                        len: n,
                        max: MAX_WRONG_SWARM_PEERS,
                    });
                }
                let swarm = (0..n)
                    .map(|_| r.var16(MAX_PEER_ID_LEN, "peer ID").map(<[u8]>::to_vec))
                    .collect::<Result<_, _>>()?;
                SwarmResponse::WrongSwarm { swarm }
            }
            rtag::RECORD => SwarmResponse::Record {
                record: r.var32(MAX_RECORD_LEN, "node record")?.to_vec(),
            },
            rtag::ERROR => {
                let code = ErrorCode::from_u16(r.u16("error code")?);
                let value = r.u32("error value")?;
                let detail = std::str::from_utf8(r.var16(MAX_DETAIL_LEN, "error detail")?)
                    .map_err(|_| WireError::Invalid {
                        what: "error detail",
                        reason: "not UTF-8",
                    })?
                    .to_owned();
                SwarmResponse::Error {
                    code,
                    value,
                    detail,
                }
            }
            other => {
                return Err(WireError::UnknownVariant {
                    what: "swarm response tag",
                    value: u64::from(other),
                });
            }
        };
        r.finish("swarm response")?;
        Ok(resp)
    }
}
