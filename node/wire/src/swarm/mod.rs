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
//! | [`Mailbox::Group`] (a group's mailbox) | members ([`AccessToken`]) | members; the owner key | owner key |
//! | [`Mailbox::GroupAccess`] (a group's [`GroupAccess`] records) | owner key (each record is signed) | owner key | owner key |
//! | [`Mailbox::Bundle`] (identity bundle / prekeys) | owner (the bundle is self-signed) | anyone | owner |
//! | [`Mailbox::File`] (sealed blob chunks of group messages) | anyone | anyone (the file ID is the capability) | nobody: TTL only |
//! | [`Mailbox::Chunk`] (one sealed file chunk, `pars_wire::file`) | anyone, the chunk whose SHA3-256 is the address | anyone (the chunk ID is the capability) | nobody: TTL only |
//!
//! "Owner" means an [`OwnerAuth`]: an ML-DSA-87 signature under
//! [`SIG_MAILBOX_AUTH`](pars_crypto::labels::SIG_MAILBOX_AUTH) by the key whose SHA3-256 is the
//! mailbox's owner digest (the Session ID digest, or the [`GroupId`](crate::GroupId) for groups).
//!
//! The module is split by concern: [`Mailbox`] and its namespaces (`mailbox.rs`), the owner's
//! authorisation and its encoding (`auth.rs`), requests and what an owner signs of them
//! (`request.rs`), responses (`response.rs`) and the refusal codes (`error_code.rs`). Every item is re-exported here, so its path is
//! `pars_wire::swarm::…` whichever file defines it.

use crate::{Reader, WireError};
use pars_crypto::{SESSION_ID_LEN, mldsa, sha3_256};

mod access;
mod auth;
mod error_code;
mod mailbox;
mod request;
mod response;

pub use access::{
    ACCESS_TOKEN_LEN, AccessToken, GROUP_ACCESS_LEN, GROUP_ACCESS_SIGNED_LEN, GROUP_ACCESS_VERSION,
    GroupAccess, MAX_ACCESS_GENERATIONS, peek_access,
};
pub use auth::OwnerAuth;
pub use error_code::ErrorCode;
pub use mailbox::Mailbox;
pub use request::{AUTH_MESSAGE_LEN, ReplicaItem, SwarmRequest, auth_message, sign_request};
pub use response::{MAX_WRONG_SWARM_PEERS, MailboxItem, SwarmResponse};

/// Version byte of every swarm frame.
pub const SWARM_VERSION: u8 = 1;
/// The libp2p protocol name of the swarm protocol.
pub const SWARM_PROTOCOL: &str = "/pars/swarm/1";
/// Members in a mailbox's swarm (the specification's `RequiredCopies`).
pub const SWARM_SIZE: usize = 5;
/// Members in a file chunk's swarm ([`Mailbox::Chunk`]): fewer than a message's, still one
/// more than [`MIN_COPIES`] so that a store succeeds with one member down. Each copy of a
/// chunk costs every member its hash, its durable write and its transfer; with five, uploads
/// were bound by that work (`docs/performance.md` "Files").
pub const CHUNK_SWARM_SIZE: usize = 4;
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
/// Bytes a [`SwarmRequest::Store`] into an [`Mailbox::Inbox`] adds around its payload: version,
/// tag, mailbox, TTL and payload length (48).
pub const STORE_INBOX_OVERHEAD: usize = 1 + 1 + 1 + SESSION_ID_LEN + 8 + 4;
/// The largest payload a client stores into an inbox through an onion path: the store request
/// must fit one request packet that carries a reply block
/// ([`crate::onion::MAX_DATA_LEN_WITH_REPLY`]). 25,437 bytes.
pub const MAX_ONION_INBOX_PAYLOAD: usize =
    crate::onion::MAX_DATA_LEN_WITH_REPLY - STORE_INBOX_OVERHEAD;
/// Bytes a [`SwarmRequest::Store`] into a [`Mailbox::Chunk`] adds around its payload:
/// version, tag, mailbox, TTL and payload length (47).
pub const STORE_CHUNK_OVERHEAD: usize = 1 + 1 + 1 + 32 + 8 + 4;
/// The largest chunk a client stores through an onion path: the store request must fit one
/// bulk request packet that carries a reply block
/// ([`crate::onion::BULK_MAX_DATA_LEN_WITH_REPLY`]). 123,742 bytes.
pub const MAX_ONION_CHUNK_PAYLOAD: usize =
    crate::onion::BULK_MAX_DATA_LEN_WITH_REPLY - STORE_CHUNK_OVERHEAD;
/// Payload bytes a client asks for when it fetches a chunk through an onion path, so that the
/// page (one chunk and 52 bytes of framing around it) fits one bulk reply packet. 124 KiB.
pub const ONION_CHUNK_RETRIEVE_MAX_BYTES: u32 = 124 * 1024;
/// A message's content hash: SHA3-256 of its payload (the dedupe key).
pub type ContentHash = [u8; 32];

/// The content hash of a payload.
pub fn content_hash(payload: &[u8]) -> ContentHash {
    sha3_256(&[payload])
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
