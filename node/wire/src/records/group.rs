//! Records of the client store about groups: the group as the daemon keeps it, its outbox
//! entries, and the group work waiting on the network (a key package to answer with, a
//! Welcome or key package to fetch).

use super::{RECORD_VERSION, flag, session_id, version};
use crate::group::{BlobRef, MAX_ADMINS, MAX_GROUP_NAME, read_ids, write_ids};
use crate::{GroupId, MessageId, Reader, WireError, Writer};
use pars_crypto::SessionId;
use zeroize::Zeroizing;

/// Most members a record lists as invited (asked for a key package, not added yet).
pub const MAX_INVITED: usize = 10_000;
/// Largest outbox item or blob kept (a commit adding 10,000 members is ~150 MB).
pub const MAX_GROUP_BLOB: usize = 1 << 30;

/// Where we stand in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// A member.
    Active,
    /// We left it.
    Left,
    /// An admin removed us.
    Removed,
}

/// A group as the daemon keeps it.
///
/// `version ‖ id (32) ‖ name (var16) ‖ admins (2 + 33 each) ‖ owner seed (1 + 32?) ‖ state (1)
/// ‖ token (32) ‖ generation (8) ‖ previous token (1 + 32 + 8?) ‖ access pending (1) ‖ created
/// (8) ‖ last activity (8) ‖ unread (8) ‖ next local seq (8) ‖ invited (2 + 33 each)`.
#[derive(Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// The group.
    pub id: GroupId,
    /// Its name.
    pub name: String,
    /// Its admins.
    pub admins: Vec<SessionId>,
    /// The owner key's seed, held by admins (secret).
    pub owner_seed: Option<Zeroizing<[u8; 32]>>,
    /// Where we stand.
    pub state: GroupState,
    /// The group mailbox access token (secret).
    pub token: Zeroizing<[u8; 32]>,
    /// Its generation (the epoch of the last membership change).
    pub generation: u64,
    /// The token before it, kept for stores and reads while the swarm has not the new one.
    pub previous: Option<(Zeroizing<[u8; 32]>, u64)>,
    /// Whether our access record for `generation` is yet to be stored (admins).
    pub access_pending: bool,
    /// When we created or joined it.
    pub created_at: u64,
    /// Last message or change.
    pub last_activity: u64,
    /// Unread incoming messages.
    pub unread: u64,
    /// Local counter (orders message records and outbox entries).
    pub next_local_seq: u64,
    /// Asked for a key package, not added yet (admins).
    pub invited: Vec<SessionId>,
}

impl std::fmt::Debug for GroupRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupRecord")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

fn opt_secret(w: &mut Writer, s: Option<&[u8; 32]>) {
    match s {
        Some(s) => {
            w.u8(1).bytes(s);
        }
        None => {
            w.u8(0);
        }
    }
}

impl GroupRecord {
    /// Encodes (the result holds secrets: hand it to the encrypted store only).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::with_capacity(256 + 33 * (self.admins.len() + self.invited.len()));
        w.u8(RECORD_VERSION);
        self.id.write(&mut w);
        w.var16(self.name.as_bytes());
        write_ids(&mut w, &self.admins);
        opt_secret(&mut w, self.owner_seed.as_deref());
        w.u8(match self.state {
            GroupState::Active => 0,
            GroupState::Left => 1,
            GroupState::Removed => 2,
        });
        w.bytes(&self.token[..]).u64(self.generation);
        opt_secret(&mut w, self.previous.as_ref().map(|(t, _)| &**t));
        if let Some((_, g)) = &self.previous {
            w.u64(*g);
        }
        w.u8(u8::from(self.access_pending))
            .u64(self.created_at)
            .u64(self.last_activity)
            .u64(self.unread)
            .u64(self.next_local_seq);
        write_ids(&mut w, &self.invited);
        Zeroizing::new(w.into_vec())
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "group record")?;
        let id = GroupId::read(&mut r)?;
        let name =
            String::from_utf8(r.var16(MAX_GROUP_NAME, "group name")?.to_vec()).map_err(|_| {
                WireError::Invalid {
                    what: "group name",
                    reason: "not UTF-8",
                }
            })?;
        let admins = read_ids(&mut r, MAX_ADMINS, "group admins")?;
        let owner_seed = if flag(&mut r, "owner key flag")? {
            Some(Zeroizing::new(r.array("owner key seed")?))
        } else {
            None
        };
        let state = match r.u8("group state")? {
            0 => GroupState::Active,
            1 => GroupState::Left,
            2 => GroupState::Removed,
            v => {
                return Err(WireError::UnknownVariant {
                    what: "group state",
                    value: u64::from(v),
                });
            }
        };
        let token = Zeroizing::new(r.array("access token")?);
        let generation = r.u64("access generation")?;
        let previous = if flag(&mut r, "previous token flag")? {
            let t = Zeroizing::new(r.array("previous access token")?);
            Some((t, r.u64("previous access generation")?))
        } else {
            None
        };
        let rec = Self {
            id,
            name,
            admins,
            owner_seed,
            state,
            token,
            generation,
            previous,
            access_pending: flag(&mut r, "access pending flag")?,
            created_at: r.u64("created at")?,
            last_activity: r.u64("last activity")?,
            unread: r.u64("unread")?,
            next_local_seq: r.u64("next local seq")?,
            invited: read_ids(&mut r, MAX_INVITED, "invited members")?,
        };
        r.finish("group record")?;
        Ok(rec)
    }
}

/// What a group outbox entry stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupOutKind {
    /// An item of the group mailbox (a message or a commit), stored with the access token;
    /// its blob, if any, first.
    Item,
    /// The group's access record (an admin's), stored in the access namespace.
    Access,
    /// Only a blob (a Welcome: its reference travels in a pairwise invitation).
    BlobOnly,
}

/// An entry of the group outbox, made once: retries store the same bytes.
///
/// `version ‖ id (16) ‖ group (32) ‖ kind (1) ‖ message key (var16) ‖ attempts (4) ‖ next
/// attempt (8) ‖ item (var32) ‖ blob flag (1) [‖ BlobRef (68) ‖ blob data (var32)]`.
#[derive(Clone, PartialEq, Eq)]
pub struct GroupOutboxRecord {
    /// The entry (for a message, its message ID).
    pub id: MessageId,
    /// The group.
    pub group: GroupId,
    /// What it is.
    pub kind: GroupOutKind,
    /// Store key of the message record it delivers (empty for commits and records).
    pub message_key: Vec<u8>,
    /// Attempts so far.
    pub attempts: u32,
    /// Not before this time (Unix seconds).
    pub next_attempt: u64,
    /// The mailbox item or access record (empty for a blob only).
    pub item: Vec<u8>,
    /// A blob to store first: its reference and its data.
    pub blob: Option<(BlobRef, Zeroizing<Vec<u8>>)>,
}

impl std::fmt::Debug for GroupOutboxRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupOutboxRecord")
            .field("id", &self.id)
            .field("group", &self.group)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl GroupOutboxRecord {
    /// Encodes.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let blob_len = self.blob.as_ref().map_or(0, |(_, d)| d.len());
        let mut w = Writer::with_capacity(160 + self.item.len() + blob_len);
        w.u8(RECORD_VERSION);
        self.id.write(&mut w);
        self.group.write(&mut w);
        w.u8(match self.kind {
            GroupOutKind::Item => 0,
            GroupOutKind::Access => 1,
            GroupOutKind::BlobOnly => 2,
        })
        .var16(&self.message_key)
        .u32(self.attempts)
        .u64(self.next_attempt)
        .var32(&self.item);
        match &self.blob {
            Some((r, data)) => {
                w.u8(1);
                r.write(&mut w);
                w.var32(data);
            }
            None => {
                w.u8(0);
            }
        }
        Zeroizing::new(w.into_vec())
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "group outbox record")?;
        let id = MessageId::read(&mut r)?;
        let group = GroupId::read(&mut r)?;
        let kind = match r.u8("group outbox kind")? {
            0 => GroupOutKind::Item,
            1 => GroupOutKind::Access,
            2 => GroupOutKind::BlobOnly,
            v => {
                return Err(WireError::UnknownVariant {
                    what: "group outbox kind",
                    value: u64::from(v),
                });
            }
        };
        let message_key = r.var16(256, "message key")?.to_vec();
        let attempts = r.u32("attempts")?;
        let next_attempt = r.u64("next attempt")?;
        let item = r.var32(MAX_GROUP_BLOB, "group outbox item")?.to_vec();
        let blob = if flag(&mut r, "blob flag")? {
            let b = BlobRef::read(&mut r)?;
            let data = Zeroizing::new(r.var32(MAX_GROUP_BLOB, "blob data")?.to_vec());
            if data.len() != b.len as usize {
                return Err(WireError::Invalid {
                    what: "blob data",
                    reason: "not as long as its reference says",
                });
            }
            Some((b, data))
        } else {
            None
        };
        r.finish("group outbox record")?;
        Ok(Self {
            id,
            group,
            kind,
            message_key,
            attempts,
            next_attempt,
            item,
            blob,
        })
    }
}

/// Group work that arrived in a pairwise session and waits on the network or the core: the
/// group control message, who sent it, and its retries.
///
/// `version ‖ from (33) ‖ accepted (1) ‖ attempts (4) ‖ next attempt (8) ‖ control (var32)`.
#[derive(Clone, PartialEq, Eq)]
pub struct GroupTaskRecord {
    /// The sender.
    pub from: SessionId,
    /// Whether it may run (an invitation waits for the user to accept it).
    pub accepted: bool,
    /// Attempts so far.
    pub attempts: u32,
    /// Not before this time (Unix seconds).
    pub next_attempt: u64,
    /// The encoded `GroupControl` (may hold an owner key: secret).
    pub control: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for GroupTaskRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupTaskRecord")
            .field("from", &self.from.short())
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl GroupTaskRecord {
    /// Encodes.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::with_capacity(64 + self.control.len());
        w.u8(RECORD_VERSION)
            .bytes(self.from.as_bytes())
            .u8(u8::from(self.accepted))
            .u32(self.attempts)
            .u64(self.next_attempt)
            .var32(&self.control);
        Zeroizing::new(w.into_vec())
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "group task record")?;
        let rec = Self {
            from: session_id(&mut r, "task sender")?,
            accepted: flag(&mut r, "accepted flag")?,
            attempts: r.u32("attempts")?,
            next_attempt: r.u64("next attempt")?,
            control: Zeroizing::new(r.var32(MAX_GROUP_BLOB, "group control")?.to_vec()),
        };
        r.finish("group task record")?;
        Ok(rec)
    }
}
