//! A mailbox: its namespace and the identifier it is addressed by, and where it lives.

use crate::{ChunkId, FileId, GroupId, Reader, WireError, Writer};
use pars_crypto::{SESSION_ID_LEN, SessionId};

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
    /// A group's access records ([`GroupAccess`](super::GroupAccess)), in the group mailbox's
    /// swarm: stored only as records signed by the group's owner key, read by no client.
    GroupAccess(GroupId),
    /// One sealed file chunk, addressed by its chunk ID (SHA3-256 of the chunk): anyone may
    /// store a chunk whose hash is the address, anyone may fetch it (the ID is the capability).
    Chunk(ChunkId),
}

/// Namespace tags on the wire.
mod ns {
    pub const INBOX: u8 = 1;
    pub const GROUP: u8 = 2;
    pub const BUNDLE: u8 = 3;
    pub const FILE: u8 = 4;
    pub const GROUP_ACCESS: u8 = 5;
    pub const CHUNK: u8 = 6;
}

impl Mailbox {
    /// The namespace tag.
    pub fn namespace(&self) -> u8 {
        match self {
            Mailbox::Inbox(_) => ns::INBOX,
            Mailbox::Group(_) => ns::GROUP,
            Mailbox::Bundle(_) => ns::BUNDLE,
            Mailbox::File(_) => ns::FILE,
            Mailbox::GroupAccess(_) => ns::GROUP_ACCESS,
            Mailbox::Chunk(_) => ns::CHUNK,
        }
    }

    /// How many members hold this mailbox: [`super::SWARM_SIZE`], or
    /// [`super::CHUNK_SWARM_SIZE`] for a file chunk.
    pub fn swarm_size(&self) -> usize {
        match self {
            Mailbox::Chunk(_) => super::CHUNK_SWARM_SIZE,
            _ => super::SWARM_SIZE,
        }
    }

    /// How many members of its swarm are meant to hold a copy: every member for a message, and
    /// [`super::MIN_COPIES`] for a file chunk — its closest members, the rest of its swarm
    /// standing by to take a copy when one of them does not answer. A chunk is written once and
    /// read by few, so a fourth copy would cost every upload a write and a transfer for no
    /// reader.
    pub fn holders(&self) -> usize {
        match self {
            Mailbox::Chunk(_) => super::MIN_COPIES,
            _ => self.swarm_size(),
        }
    }

    /// The 32-byte key that places the mailbox in node-ID space. An inbox and the bundle of the
    /// same Session ID share a swarm, so that swarm can authenticate requests from the bundle.
    pub fn location(&self) -> [u8; 32] {
        match self {
            Mailbox::Inbox(s) | Mailbox::Bundle(s) => s.digest(),
            Mailbox::Group(g) | Mailbox::GroupAccess(g) => g.0,
            Mailbox::File(f) => f.0,
            Mailbox::Chunk(c) => c.0,
        }
    }

    /// The digest an owner's ML-DSA-87 public key must hash to, if the mailbox has an owner.
    pub fn owner_digest(&self) -> Option<[u8; 32]> {
        match self {
            Mailbox::Inbox(s) | Mailbox::Bundle(s) => Some(s.digest()),
            Mailbox::Group(g) | Mailbox::GroupAccess(g) => Some(g.0),
            Mailbox::File(_) | Mailbox::Chunk(_) => None,
        }
    }

    /// Whether a plain store needs nothing (a bundle or an access record is authorised by its
    /// own signature instead, a file chunk by its hash being its address, a group message by a member's token on a
    /// [`GroupStore`](super::SwarmRequest::GroupStore)).
    pub fn open_store(&self) -> bool {
        matches!(self, Mailbox::Inbox(_) | Mailbox::File(_))
    }

    /// Whether a plain retrieve needs the owner's authorisation (members read a group mailbox
    /// with their token on a [`GroupRetrieve`](super::SwarmRequest::GroupRetrieve)).
    pub fn owner_retrieves(&self) -> bool {
        matches!(
            self,
            Mailbox::Inbox(_) | Mailbox::Group(_) | Mailbox::GroupAccess(_)
        )
    }

    /// Whether a store replaces everything in the mailbox (only the newest bundle is kept).
    pub fn single_slot(&self) -> bool {
        matches!(self, Mailbox::Bundle(_))
    }

    /// Encoded length: 1 + 33 (Session ID) or 1 + 32.
    pub fn encoded_len(&self) -> usize {
        match self {
            Mailbox::Inbox(_) | Mailbox::Bundle(_) => 1 + SESSION_ID_LEN,
            Mailbox::Group(_) | Mailbox::File(_) | Mailbox::GroupAccess(_) | Mailbox::Chunk(_) => {
                1 + 32
            }
        }
    }

    /// Writes `namespace ‖ id`.
    pub fn write(&self, w: &mut Writer) {
        w.u8(self.namespace());
        match self {
            Mailbox::Inbox(s) | Mailbox::Bundle(s) => {
                w.bytes(s.as_bytes());
            }
            Mailbox::Group(g) | Mailbox::GroupAccess(g) => g.write(w),
            Mailbox::File(f) => f.write(w),
            Mailbox::Chunk(c) => c.write(w),
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
            ns::GROUP_ACCESS => Mailbox::GroupAccess(GroupId::read(r)?),
            ns::CHUNK => Mailbox::Chunk(ChunkId::read(r)?),
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
