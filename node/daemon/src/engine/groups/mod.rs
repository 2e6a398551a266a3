//! Groups in the engine: MLS (`pars-group`) over the encrypted store, the membership policy
//! (admins add, remove and rename; any member leaves; the owner key with the admins), and
//! what goes to the network (the group outbox) and comes from it (group mailbox items, group
//! work from pairwise sessions).
//!
//! Every operation commits the MLS state it changed in one batch with what it produced (the
//! outbox entry, the message record, the pairwise requests), so a crash leaves all or none.
//!
//! The flow of a membership change, by the admin: ask each new member for a key package over
//! the pairwise session; commit the add when one arrives (pending), store the commit in the
//! group mailbox with the current access token; when the commit comes back from the mailbox
//! first for its epoch, merge it, queue the access record of the new epoch and send each new
//! member its invitation with the Welcome. Members switch to the new token when they merge a
//! commit that adds or removes; until the swarm has the new record, stores and reads fall back
//! to the previous token.

use super::{Engine, EngineError};

mod mailbox;
mod ops;
mod tasks;
mod upkeep;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_crypto::{CryptoRng, SessionId, labels, sha3_256};
use pars_group::{Group, GroupError, IdentitySigner, Member};
use pars_store::client::{Batch, Space};
use pars_wire::group::{
    BlobRef, GroupContent, GroupControl, MAX_GROUP_TEXT, MAX_INLINE_LEN, Payload, check_group_name,
};
use pars_wire::message::{ContentType, MessageKind, SessionMessage};
use pars_wire::records::{
    Delivery, GroupOutKind, GroupOutboxRecord, GroupRecord, GroupState, GroupTaskRecord,
    MessageRecord, TransferPeer,
};
use pars_wire::swarm::{AccessToken, GroupAccess};
use pars_wire::{GroupId, MessageId, Reader, Writer};
pub use upkeep::{BEHIND_WARN_SECS, RENEW_ACCESS_SECS};
use zeroize::Zeroizing;

/// A blob to store: its reference and its content.
type Blob = (BlobRef, Zeroizing<Vec<u8>>);

const MLS_PREFIX: &[u8] = b"m/";
const RECORD_PREFIX: &[u8] = b"r/";
const MESSAGE_PREFIX: &[u8] = b"t/";
const OUTBOX_PREFIX: &[u8] = b"o/";
const SEEN_PREFIX: &[u8] = b"s/";
const TASK_PREFIX: &[u8] = b"f/";
const PENDING_PREFIX: &[u8] = b"p/";
/// When the group's access record was last signed (renewed every [`RENEW_ACCESS_SECS`]).
const ACCESS_PREFIX: &[u8] = b"a/";
/// Since when the group's mailbox has held items of an epoch we have not reached.
const BEHIND_PREFIX: &[u8] = b"x/";
/// Members who left while a commit of ours was pending: removed after it.
const LEAVING_PREFIX: &[u8] = b"l/";

/// A group as listed to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    /// The group.
    pub id: GroupId,
    /// Its name.
    pub name: String,
    /// Its members (empty once we are out).
    pub members: Vec<SessionId>,
    /// Its admins.
    pub admins: Vec<SessionId>,
    /// Asked for a key package, not added yet.
    pub invited: Vec<SessionId>,
    /// Where we stand.
    pub state: GroupState,
    /// Whether we are an admin.
    pub admin: bool,
    /// The MLS epoch.
    pub epoch: u64,
    /// When we created or joined it.
    pub created_at: u64,
    /// Since when the group's mailbox has held items of an epoch we have not reached (a
    /// change we missed): past [`BEHIND_WARN_SECS`] the user is told to ask an admin to add
    /// them again.
    pub behind_since: Option<u64>,
    /// Last message or change.
    pub last_activity: u64,
    /// Unread incoming messages.
    pub unread: u64,
}

/// A group message as the user sees it: the message record (its `peer` is the sender) and
/// its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMessage {
    /// The group.
    pub group: GroupId,
    /// The message.
    pub message: MessageRecord,
}

/// What a group mailbox item turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupReceived {
    /// A message for the user (a text, or a line about a change: who added or removed whom).
    Message(GroupMessage),
    /// Processed; nothing to show (our own message back, metadata, an item seen before).
    Done(&'static str),
    /// Of an epoch we have not reached: left unprocessed (a later read may take it once we
    /// get there) and the group marked behind; with the line telling the user, the one time
    /// they are told.
    Behind(Option<GroupMessage>),
}

/// A pending commit of ours: its hash (to know it when it comes back), the members it adds
/// with its Welcome, and the members it removes.
struct PendingCommit {
    hash: [u8; 32],
    added: Vec<SessionId>,
    removed: Vec<SessionId>,
    welcome: Option<Zeroizing<Vec<u8>>>,
}

impl PendingCommit {
    fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.u8(1).bytes(&self.hash);
        pars_wire_ids(&mut w, &self.added);
        pars_wire_ids(&mut w, &self.removed);
        w.var32(self.welcome.as_deref().map_or(&[][..], |v| v.as_slice()));
        Zeroizing::new(w.into_vec())
    }

    fn decode(bytes: &[u8]) -> Result<Self, EngineError> {
        let mut r = Reader::new(bytes);
        let _version = r.u8("pending commit")?;
        let hash = r.array("pending commit hash")?;
        let added = read_wire_ids(&mut r)?;
        let removed = read_wire_ids(&mut r)?;
        let welcome = r.var32(pars_wire::records::MAX_GROUP_BLOB, "welcome")?;
        let welcome = (!welcome.is_empty()).then(|| Zeroizing::new(welcome.to_vec()));
        r.finish("pending commit")?;
        Ok(Self {
            hash,
            added,
            removed,
            welcome,
        })
    }
}

fn pars_wire_ids(w: &mut Writer, ids: &[SessionId]) {
    w.u32(ids.len() as u32);
    for id in ids {
        w.bytes(id.as_bytes());
    }
}

fn read_wire_ids(r: &mut Reader<'_>) -> Result<Vec<SessionId>, EngineError> {
    let n = r.u32("member count")? as usize;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let b = r.bytes(pars_crypto::SESSION_ID_LEN, "member")?;
        out.push(SessionId::from_bytes(b).map_err(|_| {
            EngineError::Wire(pars_wire::WireError::Invalid {
                what: "member",
                reason: "not a Session ID",
            })
        })?);
    }
    Ok(out)
}

/// What a group task needs before it can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTask {
    /// Its store key.
    pub key: Vec<u8>,
    /// Who sent it.
    pub from: SessionId,
    /// The control message.
    pub control: GroupControl,
    /// Attempts so far.
    pub attempts: u32,
}

impl GroupTask {
    /// The blob to fetch first, if the task carries one.
    pub fn blob(&self) -> Option<&BlobRef> {
        match &self.control {
            GroupControl::KeyPackage {
                key_package: Payload::Blob(b),
                ..
            }
            | GroupControl::Invite {
                welcome: Payload::Blob(b),
                ..
            } => Some(b),
            _ => None,
        }
    }
}

/// The access tokens of one group, for the network.
#[derive(Clone)]
pub struct GroupAccessKeys {
    /// The group.
    pub group: GroupId,
    /// The current token and its generation.
    pub token: AccessToken,
    /// The one before, while the swarm may not have the current record yet.
    pub previous: Option<AccessToken>,
}

impl std::fmt::Debug for GroupAccessKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupAccessKeys")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// How a group outbox entry fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupDelivered {
    /// Stored: the entry leaves the outbox.
    Stored {
        /// Its key.
        key: Vec<u8>,
        /// Copies held.
        copies: u32,
    },
    /// Refused for good: the entry leaves the outbox; its message shows why.
    Failed {
        /// Its key.
        key: Vec<u8>,
        /// Why.
        reason: String,
    },
    /// Retried after a backoff.
    Retry {
        /// Its key.
        key: Vec<u8>,
    },
}

fn group_error(e: GroupError) -> EngineError {
    EngineError::Group(e)
}

/// A name given by the user: refused as bad input, with the reason.
fn check_name(name: &str) -> Result<(), EngineError> {
    check_group_name(name.trim())
        .map_err(|e| EngineError::Group(GroupError::BadInput(e.to_string())))
}

impl Engine {
    fn group_index(&self, g: &GroupId) -> [u8; 32] {
        self.store.index(Space::Groups, g.as_bytes())
    }

    fn prefixed(prefix: &[u8], rest: &[&[u8]]) -> Vec<u8> {
        let mut k = prefix.to_vec();
        for r in rest {
            k.extend_from_slice(r);
        }
        k
    }

    fn record_key(&self, g: &GroupId) -> Vec<u8> {
        Self::prefixed(RECORD_PREFIX, &[&self.group_index(g)])
    }

    fn group_prefix(&self, prefix: &[u8], g: &GroupId) -> Vec<u8> {
        Self::prefixed(prefix, &[&self.group_index(g)[..16]])
    }

    /// Where we stand in group `g`.
    pub(in crate::engine) fn group_state(&self, g: &GroupId) -> Result<GroupState, EngineError> {
        Ok(self.load_group(g)?.state)
    }

    fn load_group(&self, g: &GroupId) -> Result<GroupRecord, EngineError> {
        let raw = self
            .store
            .get(Space::Groups, &self.record_key(g))?
            .ok_or_else(|| EngineError::UnknownGroup(g.to_string()))?;
        Ok(GroupRecord::decode(&raw)?)
    }

    fn put_group(&self, b: &mut Batch, rec: &GroupRecord) {
        b.put(Space::Groups, &self.record_key(&rec.id), &rec.encode());
    }

    /// Takes the MLS member out of the engine (restoring it from the store the first time).
    fn take_member(&mut self, rng: &mut impl CryptoRng) -> Result<Member, EngineError> {
        if let Some(m) = self.member.take() {
            return Ok(m);
        }
        let key = self.loaded()?.keys.signing_key().mldsa.clone();
        let mut records = Vec::new();
        let mut old = Vec::new();
        for (store_key, v) in self.store.scan(Space::Groups, MLS_PREFIX)? {
            let mut r = Reader::new(&v);
            let k = r.var32(1 << 20, "MLS record key")?.to_vec();
            if Member::is_earlier_format(&k) {
                old.push(store_key);
            } else {
                records.push((k, Zeroizing::new(r.rest().to_vec())));
            }
        }
        let m = Member::restore(IdentitySigner::new(key, rng), records).map_err(group_error)?;
        if !old.is_empty() {
            self.drop_earlier_format(&m, &old, rng)?;
        }
        Ok(m)
    }

    /// Runs `f` with the MLS member and a batch, then writes the member's changes with the
    /// batch in one commit; on any failure the member is rolled back and nothing is written.
    fn with_mls<T, R: CryptoRng>(
        &mut self,
        rng: &mut R,
        f: impl FnOnce(&mut Self, &mut Member, &mut Batch, &mut R) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let mut m = self.take_member(rng)?;
        let mut b = Batch::default();
        let out = f(self, &mut m, &mut b, rng).and_then(|v| {
            let changes = m.changes().map_err(group_error)?;
            for (k, v) in &changes.put {
                let mut w = Writer::with_capacity(8 + k.len() + v.len());
                w.var32(k).bytes(v);
                let value = Zeroizing::new(w.into_vec());
                b.put(
                    Space::Groups,
                    &Self::prefixed(MLS_PREFIX, &[&self.store.index(Space::Groups, k)]),
                    &value,
                );
            }
            for k in &changes.delete {
                b.delete(
                    Space::Groups,
                    &Self::prefixed(MLS_PREFIX, &[&self.store.index(Space::Groups, k)]),
                );
            }
            self.store.write(b, rng)?;
            m.commit().map_err(group_error)?;
            Ok(v)
        });
        if out.is_err() {
            // The storage is as last committed again; a broken lock leaves it unknown: the
            // member is restored from the store on the next call.
            if m.rollback().is_err() {
                return out;
            }
        }
        self.member = Some(m);
        out
    }

    fn mls_group(m: &Member, g: &GroupId) -> Result<Group, EngineError> {
        m.load(g.as_bytes())
            .map_err(group_error)?
            .ok_or_else(|| EngineError::UnknownGroup(g.to_string()))
    }

    fn me(&self) -> Result<SessionId, EngineError> {
        Ok(self.loaded()?.keys.session_id())
    }

    fn require_admin(&self, rec: &GroupRecord) -> Result<(), EngineError> {
        let me = self.me()?;
        if rec.state != GroupState::Active {
            return Err(EngineError::GroupInactive(rec.id.to_string()));
        }
        if !rec.admins.contains(&me) {
            return Err(EngineError::NotAdmin(rec.id.to_string()));
        }
        Ok(())
    }

    /// The next local sequence number of a group (orders its messages and outbox entries).
    fn next_seq(rec: &mut GroupRecord) -> [u8; 8] {
        let s = rec.next_local_seq;
        rec.next_local_seq += 1;
        s.to_be_bytes()
    }

    /// Stages an outbox entry of the group.
    #[allow(clippy::too_many_arguments)]
    fn stage_group_out(
        &self,
        b: &mut Batch,
        rec: &mut GroupRecord,
        kind: GroupOutKind,
        id: MessageId,
        message_key: Vec<u8>,
        item: Vec<u8>,
        blob: Option<Blob>,
        now: u64,
    ) {
        let key = Self::prefixed(
            &self.group_prefix(OUTBOX_PREFIX, &rec.id),
            &[&Self::next_seq(rec)],
        );
        let out = GroupOutboxRecord {
            id,
            group: rec.id,
            kind,
            message_key,
            attempts: 0,
            next_attempt: now,
            item,
            blob,
        };
        b.put(Space::Groups, &key, &out.encode());
    }

    /// An MLS message as a group mailbox item: inline, or as a blob stored first.
    fn as_item(
        mls: Vec<u8>,
        rng: &mut impl CryptoRng,
    ) -> Result<(Vec<u8>, Option<Blob>), EngineError> {
        if mls.len() <= MAX_INLINE_LEN {
            return Ok((Payload::Inline(mls).encode(), None));
        }
        let r = BlobRef::random(mls.len(), rng)?;
        Ok((
            Payload::Blob(r.clone()).encode(),
            Some((r, Zeroizing::new(mls))),
        ))
    }

    /// Encrypts `content` for the group and stages its outbox entry (inline or as a blob);
    /// `message_key` is the message record it delivers, if any. Returns the message ID.
    #[allow(clippy::too_many_arguments)]
    fn stage_group_send(
        &self,
        b: &mut Batch,
        rec: &mut GroupRecord,
        group: &mut Group,
        m: &Member,
        content: &GroupContent,
        message_key: Vec<u8>,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<MessageId, EngineError> {
        let mls = group.send(m, &content.encode()).map_err(group_error)?;
        let id = Self::group_message_id(&mls);
        let (item, blob) = Self::as_item(mls, rng)?;
        self.stage_group_out(b, rec, GroupOutKind::Item, id, message_key, item, blob, now);
        Ok(id)
    }

    /// The group message ID of an MLS message.
    fn group_message_id(mls: &[u8]) -> MessageId {
        let h = sha3_256(&[labels::MESSAGE_ID, b"group", mls]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&h[..16]);
        MessageId(id)
    }

    /// Stages a message record of the group (a text, or a line about a change).
    #[allow(clippy::too_many_arguments)]
    fn stage_group_message(
        &self,
        b: &mut Batch,
        rec: &mut GroupRecord,
        id: MessageId,
        from: SessionId,
        outgoing: bool,
        content_type: ContentType,
        sent_at: u64,
        content: Vec<u8>,
        now: u64,
    ) -> (Vec<u8>, GroupMessage) {
        let key = Self::prefixed(
            &self.group_prefix(MESSAGE_PREFIX, &rec.id),
            &[&Self::next_seq(rec)],
        );
        let message = MessageRecord {
            id,
            peer: from,
            outgoing,
            content_type: content_type as u8,
            timestamp: sent_at,
            local_time: now,
            sequence: rec.next_local_seq,
            delivery: if outgoing {
                Delivery::Queued
            } else {
                Delivery::Received
            },
            read: outgoing,
            content,
            error: None,
        };
        if !outgoing && matches!(content_type, ContentType::Text | ContentType::File) {
            rec.unread += 1;
        }
        rec.last_activity = now;
        b.put(Space::Groups, &key, &message.encode());
        (
            key,
            GroupMessage {
                group: rec.id,
                message,
            },
        )
    }

    /// Stages a line about the group (a change, a notice) as a message of it from `from`.
    #[allow(clippy::too_many_arguments)]
    fn stage_group_line(
        &self,
        b: &mut Batch,
        rec: &mut GroupRecord,
        id: MessageId,
        from: SessionId,
        outgoing: bool,
        line: String,
        now: u64,
    ) -> GroupMessage {
        let content_type = ContentType::GroupControl;
        let content = line.into_bytes();
        self.stage_group_message(b, rec, id, from, outgoing, content_type, now, content, now)
            .1
    }

    /// Stages the owner key to each of `to` over their pairwise sessions (new admins).
    fn stage_owner_key(
        &self,
        b: &mut Batch,
        rec: &GroupRecord,
        to: &[SessionId],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let Some(seed) = &rec.owner_seed else {
            return Ok(());
        };
        let hand = GroupControl::OwnerKey {
            group: rec.id,
            seed: seed.clone(),
        }
        .encode();
        for p in to {
            if self.load_session(p)?.is_some_and(|s| !s.closed) {
                self.stage_send(b, p, &hand, ContentType::GroupControl, now, rng)?;
            }
        }
        Ok(())
    }

    /// Stages the access record of the group's current token (admins holding the owner key).
    fn stage_access_record(
        &self,
        b: &mut Batch,
        rec: &mut GroupRecord,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let Some(seed) = &rec.owner_seed else {
            return Ok(());
        };
        let owner = MlDsaSigningKey::from_seed(seed);
        let record = GroupAccess::sign(
            &owner,
            rec.generation,
            &AccessToken(*rec.token),
            now.saturating_mul(1000),
            rng,
        )?;
        rec.access_pending = true;
        b.put(
            Space::Groups,
            &self.group_prefix(ACCESS_PREFIX, &rec.id),
            &now.to_be_bytes(),
        );
        let id = Self::group_message_id(&record.encode()[..64]);
        self.stage_group_out(
            b,
            rec,
            GroupOutKind::Access,
            id,
            Vec::new(),
            record.encode(),
            None,
            now,
        );
        Ok(())
    }

    /// The largest group control message inline in a pairwise message.
    fn control_fits(&self, control: &GroupControl) -> bool {
        control.encode().len()
            <= SessionMessage::max_content_len(MessageKind::Normal, self.max_blob)
    }
}

/// A line about a change, as the user reads it.
fn describe(me: &SessionId, by: &SessionId, added: &[SessionId], removed: &[SessionId]) -> String {
    let who = |p: &SessionId| {
        if p == me {
            "you".to_string()
        } else {
            p.short()
        }
    };
    let list = |ids: &[SessionId]| ids.iter().map(who).collect::<Vec<_>>().join(", ");
    let by = if by == me {
        "You".to_string()
    } else {
        by.short()
    };
    match (added.is_empty(), removed.is_empty()) {
        (false, true) => format!("{by} added {}", list(added)),
        (true, false) => format!("{by} removed {}", list(removed)),
        (false, false) => format!("{by} added {} and removed {}", list(added), list(removed)),
        (true, true) => format!("{by} renewed the group's keys"),
    }
}
