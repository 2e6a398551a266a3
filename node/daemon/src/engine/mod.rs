//! The client engine: a user's identity, sessions, messages and outbox, kept in the encrypted
//! client store and driven by the sans-IO session protocol. It decides *what* to send and
//! *what* a received blob means; the network layer decides how bytes travel (onion paths to
//! swarms). Time and randomness are passed in.
//!
//! Every operation that changes state commits all its effects in one durable batch (for a send:
//! the advanced ratchet state, the message record and the outbox entry), so a crash at any point
//! leaves either all or none of them. A message is encrypted once, when it is queued; retries
//! resend the same bytes, so the recipient never sees it twice.

use pars_crypto::bundle::{
    IdentityBundle, PREKEY_LIFETIME_SECS, PREKEY_ROTATION_SECS, PrekeySecret,
};
use pars_crypto::classic::X25519SecretKey;
use pars_crypto::hybrid_kem::HybridSecretKey;
use pars_crypto::identity::{IdentityKeys, MasterSeed};
use pars_crypto::mlkem::MlKemSecretKey;
use pars_crypto::{CryptoError, CryptoRng, SessionId, labels};
use pars_error::{ErrorKind, HasKind};
use pars_session::{Role, Session, SessionError};
use pars_store::client::{Batch, ClientStore, ClientStoreError, Space};
use pars_wire::message::{ContentType, SessionMessage};
use pars_wire::records::{IdentityRecord, MessageRecord, PrekeyRecord, SessionRecord};
use pars_wire::{MessageId, WireError};

const IDENTITY_KEY: &[u8] = b"identity";
const BUNDLE_KEY: &[u8] = b"bundle";
const REPLAY_KEY: &[u8] = b"replay";
const MID_PREFIX: &[u8] = b"mid/";
const HANDSHAKE_PREFIX: &[u8] = b"hs/";
/// First retry delay of the outbox (seconds); doubles per attempt up to [`MAX_BACKOFF_SECS`].
pub const FIRST_BACKOFF_SECS: u64 = 2;
/// Longest delay between two attempts.
pub const MAX_BACKOFF_SECS: u64 = 600;

/// When an outbox entry that has failed `attempts` times is tried again, after a failure at
/// `now`.
pub fn retry_at(attempts: u32, now: u64) -> u64 {
    let backoff = FIRST_BACKOFF_SECS
        .saturating_mul(1u64 << attempts.min(16))
        .min(MAX_BACKOFF_SECS);
    now.saturating_add(backoff)
}

mod files;
mod groups;
mod outbox;
mod receive;

pub use groups::{
    BEHIND_WARN_SECS, GroupAccessKeys, GroupDelivered, GroupMessage, GroupReceived, GroupSummary,
    GroupTask, RENEW_ACCESS_SECS,
};

/// What became of one outbox entry in a delivery round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Stored by `copies` swarm members: it leaves the outbox.
    Stored {
        /// The entry.
        id: MessageId,
        /// Copies held.
        copies: u32,
    },
    /// Refused for good: it leaves the outbox and its message shows `Failed` with `reason`.
    Failed {
        /// The entry.
        id: MessageId,
        /// Why.
        reason: String,
    },
    /// Not stored this time: retried after a backoff.
    Retry {
        /// The entry.
        id: MessageId,
    },
}

/// What went wrong, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No identity yet.
    #[error("no identity yet: create one (parsctl session identity create) or restore one")]
    NoIdentity,
    /// An identity exists already.
    #[error("an identity already exists ({0}); it is never replaced silently")]
    IdentityExists(String),
    /// No session with that peer.
    #[error("no session with {0}; start one with createSession")]
    UnknownSession(String),
    /// The session was closed.
    #[error("the session with {0} is closed; start a new one with createSession")]
    SessionClosed(String),
    /// No such message.
    #[error("no message {0}")]
    UnknownMessage(String),
    /// The peer's bundle failed verification.
    #[error("the identity bundle of {peer} is not valid: {reason}")]
    BadBundle {
        /// The peer.
        peer: String,
        /// Why.
        reason: String,
    },
    /// A blob that no session and no handshake could open: not for us, or corrupted.
    #[error("a received message could not be opened by any session: {0}")]
    Undecryptable(String),
    /// The encrypted message would not fit the network's packet.
    #[error(
        "the message is too large to send: {content} bytes of content, and one message carries at most {max} bytes{}; send shorter content",
        if *initial { " until the peer has answered the session's first message" } else { "" }
    )]
    TooLarge {
        /// Content bytes.
        content: usize,
        /// The most content a message of this session carries now (see
        /// `pars_wire::message::MAX_SENDABLE_CONTENT_LEN`).
        max: usize,
        /// Whether the limit is the smaller one of a message that carries the handshake.
        initial: bool,
    },
    /// Cryptographic failure on local data.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Session protocol error.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Stored or received bytes did not decode.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] ClientStoreError),
    /// A group operation was refused or failed (the group is unchanged).
    #[error(transparent)]
    Group(#[from] pars_group::GroupError),
    /// No such group.
    #[error("no group {0}; list them with getGroups")]
    UnknownGroup(String),
    /// Only admins may do that.
    #[error("only an admin of group {0} may do that")]
    NotAdmin(String),
    /// We left the group or were removed.
    #[error("you are no longer a member of group {0}")]
    GroupInactive(String),
    /// A change of ours is waiting for its commit to come back from the group mailbox.
    #[error("a change to group {0} is still in progress; try again when it is done")]
    PendingCommit(String),
    /// No message offered that file.
    #[error("no message offered file {0}; file messages are listed by getMessages")]
    UnknownFile(String),
    /// No such transfer.
    #[error("no transfer {0}; list them with getTransfers")]
    UnknownTransfer(String),
    /// A group item of an epoch we have not reached (handled inside the engine: the item is
    /// kept for later and the group marked behind).
    #[error("group {group} has items of epoch {message}; we are at {at}")]
    GroupBehind {
        /// The group.
        group: String,
        /// The item's epoch.
        message: u64,
        /// Ours.
        at: u64,
    },
}

impl HasKind for EngineError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NoIdentity => ErrorKind::NoIdentity,
            Self::IdentityExists(_) => ErrorKind::IdentityExists,
            Self::UnknownSession(_) => ErrorKind::UnknownSession,
            Self::SessionClosed(_) => ErrorKind::SessionClosed,
            Self::UnknownMessage(_) => ErrorKind::UnknownMessage,
            Self::BadBundle { .. } => ErrorKind::Verification,
            Self::Undecryptable(_) => ErrorKind::Decryption,
            Self::TooLarge { .. } => ErrorKind::BadInput,
            // A phrase or key given by the user that does not decode.
            Self::Crypto(c) if c.kind() == ErrorKind::BadInput => ErrorKind::BadInput,
            Self::Crypto(_) => ErrorKind::Internal,
            Self::Session(e) => e.kind(),
            // Stored bytes that do not decode, or a received blob (the poll worker handles
            // those itself): nothing the caller can fix.
            Self::Wire(_) => ErrorKind::Internal,
            Self::Store(_) => ErrorKind::Storage,
            Self::Group(e) => e.kind(),
            Self::UnknownGroup(_) => ErrorKind::NotFound,
            Self::NotAdmin(_) => ErrorKind::Unauthorized,
            Self::GroupInactive(_) => ErrorKind::Rejected,
            Self::PendingCommit(_) => ErrorKind::Busy,
            Self::GroupBehind { .. } => ErrorKind::Busy,
            Self::UnknownFile(_) | Self::UnknownTransfer(_) => ErrorKind::NotFound,
        }
    }
}

/// Whether messages of this content type are user messages: kept in the message list and
/// delivered in order (text, contract actions and receipts, …), not protocol control
/// (receipts of delivery or reading, session resets, group control: those may hold secrets).
fn shown(ct: ContentType) -> bool {
    !matches!(
        ct,
        ContentType::ReadReceipt
            | ContentType::DeliveryReceipt
            | ContentType::SessionReset
            | ContentType::GroupControl
    )
}

/// What a received blob turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A new message for the user.
    Message(MessageRecord),
    /// A read receipt: these outgoing messages are now read.
    Receipt(Vec<MessageId>),
    /// Nothing for the user: a duplicate, or an initiation superseded by ours.
    Ignored(&'static str),
    /// Group work for the group worker (a key package asked for or sent, an invitation).
    GroupTask,
}

/// A session as listed to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The peer.
    pub peer: SessionId,
    /// The 32-byte conversation ID (the same on both sides).
    pub conversation: [u8; 32],
    /// Whether the peer has answered.
    pub confirmed: bool,
    /// Closed locally.
    pub closed: bool,
    /// Creation time.
    pub created_at: u64,
    /// Last activity.
    pub last_activity: u64,
    /// Unread incoming messages.
    pub unread: u64,
}

struct Loaded {
    keys: IdentityKeys,
    record: IdentityRecord,
    bundle: IdentityBundle,
}

/// The ID both ends use for a message: the first 16 bytes of
/// `SHA3-256("pars-message-id-v1" ‖ encrypted header)`. The encrypted header carries a fresh
/// random nonce, so the ID is unique per message; sender and recipient compute it from the same
/// bytes, so receipts and duplicate detection agree without revealing anything to the network.
pub fn wire_message_id(msg: &SessionMessage) -> MessageId {
    let h = pars_crypto::sha3_256(&[labels::MESSAGE_ID, &msg.header]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&h[..16]);
    MessageId(id)
}

/// The conversation ID of two Session IDs: SHA3-256 of a label and both IDs in byte order.
pub fn conversation_id(a: &SessionId, b: &SessionId) -> [u8; 32] {
    let (lo, hi) = if a.as_bytes() <= b.as_bytes() {
        (a, b)
    } else {
        (b, a)
    };
    pars_crypto::sha3_256(&[labels::CONVERSATION_ID, lo.as_bytes(), hi.as_bytes()])
}

/// The client engine.
pub struct Engine {
    store: ClientStore,
    identity: Option<Loaded>,
    max_blob: usize,
    /// The MLS side of the identity, restored from the store on first use.
    member: Option<pars_group::Member>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn prekey_from_record(r: &PrekeyRecord) -> Result<PrekeySecret, EngineError> {
    let secret = HybridSecretKey {
        x25519: X25519SecretKey::from_bytes(r.x25519),
        mlkem: MlKemSecretKey::from_bytes(&r.mlkem)?,
    };
    Ok(PrekeySecret {
        public: pars_crypto::bundle::Prekey {
            id: r.id,
            created_at: r.created_at,
            expires_at: r.expires_at,
            key: secret.public_key(),
        },
        secret,
    })
}

fn prekey_record(p: &PrekeySecret) -> PrekeyRecord {
    PrekeyRecord {
        id: p.public.id,
        created_at: p.public.created_at,
        expires_at: p.public.expires_at,
        x25519: p.secret.x25519.to_bytes(),
        mlkem: p.secret.mlkem.to_secret_bytes().as_slice().to_vec(),
    }
}

impl Engine {
    /// Opens the engine over `store`, loading the identity if there is one.
    pub fn open(store: ClientStore) -> Result<Self, EngineError> {
        let mut e = Self {
            store,
            identity: None,
            max_blob: usize::MAX,
            member: None,
        };
        e.load_identity()?;
        Ok(e)
    }

    /// Refuses to queue a message whose encrypted form exceeds `max` bytes (what one network
    /// packet carries), so that nothing unsendable ever enters the outbox.
    pub fn with_max_blob(mut self, max: usize) -> Self {
        self.max_blob = max;
        self
    }

    fn load_identity(&mut self) -> Result<(), EngineError> {
        let Some(raw) = self.store.get(Space::Identity, IDENTITY_KEY)? else {
            return Ok(());
        };
        let record = IdentityRecord::decode(&raw)?;
        let keys = IdentityKeys::from_seed(&MasterSeed::from_bytes(record.seed));
        let bundle_raw = self
            .store
            .get(Space::Identity, BUNDLE_KEY)?
            .ok_or(EngineError::Wire(WireError::Invalid {
                what: "identity bundle",
                reason: "missing from the store",
            }))?;
        let bundle = IdentityBundle::from_bytes(&bundle_raw)?;
        self.identity = Some(Loaded {
            keys,
            record,
            bundle,
        });
        Ok(())
    }

    fn loaded(&self) -> Result<&Loaded, EngineError> {
        self.identity.as_ref().ok_or(EngineError::NoIdentity)
    }

    /// The identity keys.
    pub fn keys(&self) -> Result<&IdentityKeys, EngineError> {
        Ok(&self.loaded()?.keys)
    }

    /// The current signed bundle (to publish to our swarm).
    pub fn bundle(&self) -> Result<&IdentityBundle, EngineError> {
        Ok(&self.loaded()?.bundle)
    }

    /// Creates a fresh identity.
    pub fn create_identity(
        &mut self,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<SessionId, EngineError> {
        if let Some(l) = &self.identity {
            return Err(EngineError::IdentityExists(l.keys.session_id().to_string()));
        }
        self.install_identity(MasterSeed::generate(rng), now, rng)
    }

    /// Restores an identity from its 24-word phrase. Restoring the identity already present is
    /// a no-op; any other identity present is an error.
    pub fn restore_identity(
        &mut self,
        phrase: &str,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<SessionId, EngineError> {
        let seed = MasterSeed::from_mnemonic(phrase)?;
        let id = IdentityKeys::from_seed(&seed).session_id();
        if let Some(l) = &self.identity {
            let existing = l.keys.session_id();
            return if existing == id {
                Ok(id)
            } else {
                Err(EngineError::IdentityExists(existing.to_string()))
            };
        }
        self.install_identity(seed, now, rng)
    }

    fn install_identity(
        &mut self,
        seed: MasterSeed,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<SessionId, EngineError> {
        let keys = IdentityKeys::from_seed(&seed);
        let prekey = PrekeySecret::generate(1, now, PREKEY_LIFETIME_SECS, rng);
        let bundle = IdentityBundle::create(&keys, &prekey.public, now, rng)?;
        let record = IdentityRecord {
            seed: *seed.as_bytes(),
            created_at: now,
            next_prekey_id: 2,
        };
        let mut b = Batch::default();
        b.put(Space::Identity, IDENTITY_KEY, &record.encode())
            .put(Space::Identity, BUNDLE_KEY, &bundle.to_bytes())
            .put(
                Space::Prekeys,
                &1u32.to_be_bytes(),
                &prekey_record(&prekey).encode(),
            );
        self.store.write(b, rng)?;
        let id = keys.session_id();
        self.identity = Some(Loaded {
            keys,
            record,
            bundle,
        });
        Ok(id)
    }

    /// Rotates the prekey when the current one is older than the rotation period, and deletes
    /// prekeys that have expired. Returns the new bundle when it changed (publish it).
    pub fn rotate_prekey_if_due(
        &mut self,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Option<IdentityBundle>, EngineError> {
        let l = self.loaded()?;
        let mut b = Batch::default();
        for (k, v) in self.store.scan(Space::Prekeys, &[])? {
            let r = PrekeyRecord::decode(&v)?;
            if r.expires_at <= now {
                b.delete(Space::Prekeys, &k);
            }
        }
        if now
            < l.bundle
                .prekey
                .created_at
                .saturating_add(PREKEY_ROTATION_SECS)
        {
            self.store.write(b, rng)?;
            return Ok(None);
        }
        let id = l.record.next_prekey_id;
        let prekey = PrekeySecret::generate(id, now, PREKEY_LIFETIME_SECS, rng);
        // A bundle's version is its signed creation time: swarms keep only a newer one, so it
        // never goes back, even if the clock did.
        let created = now.max(l.bundle.created_at.saturating_add(1));
        let bundle = IdentityBundle::create(&l.keys, &prekey.public, created, rng)?;
        let mut record = l.record.clone();
        record.next_prekey_id = id.wrapping_add(1).max(1);
        b.put(Space::Identity, IDENTITY_KEY, &record.encode())
            .put(Space::Identity, BUNDLE_KEY, &bundle.to_bytes())
            .put(
                Space::Prekeys,
                &id.to_be_bytes(),
                &prekey_record(&prekey).encode(),
            );
        self.store.write(b, rng)?;
        if let Some(l) = self.identity.as_mut() {
            l.record = record;
            l.bundle = bundle.clone();
        }
        Ok(Some(bundle))
    }

    fn session_key(&self, peer: &SessionId) -> [u8; 32] {
        self.store.index(Space::Sessions, peer.as_bytes())
    }

    fn load_session(&self, peer: &SessionId) -> Result<Option<SessionRecord>, EngineError> {
        match self.store.get(Space::Sessions, &self.session_key(peer))? {
            Some(raw) => Ok(Some(SessionRecord::decode(&raw)?)),
            None => Ok(None),
        }
    }

    /// Starts (or returns the existing open) session with `peer` from its bundle, which is
    /// verified against `peer` first.
    pub fn open_session(
        &mut self,
        peer: &SessionId,
        peer_bundle: &IdentityBundle,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<SessionSummary, EngineError> {
        if let Some(rec) = self.load_session(peer)?
            && !rec.closed
        {
            return self.summary(&rec);
        }
        let l = self.loaded()?;
        let session = Session::initiate(&l.keys, &l.bundle, peer, peer_bundle, now, rng).map_err(
            |e| match e {
                e @ (SessionError::InvalidBundle(_) | SessionError::BundleMismatch { .. }) => {
                    EngineError::BadBundle {
                        peer: peer.to_string(),
                        reason: e.to_string(),
                    }
                }
                other => EngineError::Session(other),
            },
        )?;
        let rec = SessionRecord {
            peer: *peer,
            closed: false,
            created_at: now,
            last_activity: now,
            unread: 0,
            next_local_seq: self
                .load_session(peer)?
                .map(|r| r.next_local_seq)
                .unwrap_or(0),
            state: session.to_bytes().as_slice().to_vec(),
        };
        let mut b = Batch::default();
        b.put(Space::Sessions, &self.session_key(peer), &rec.encode())
            .put(
                Space::Contacts,
                &self.store.index(Space::Contacts, peer.as_bytes()),
                &peer_bundle.to_bytes(),
            );
        self.store.write(b, rng)?;
        self.summary(&rec)
    }

    fn summary(&self, rec: &SessionRecord) -> Result<SessionSummary, EngineError> {
        let session = Session::from_bytes(&rec.state)?;
        Ok(SessionSummary {
            peer: rec.peer,
            conversation: conversation_id(&self.loaded()?.keys.session_id(), &rec.peer),
            confirmed: session.is_confirmed(),
            closed: rec.closed,
            created_at: rec.created_at,
            last_activity: rec.last_activity,
            unread: rec.unread,
        })
    }

    /// The identity bundle of `peer` cached when a session with it was opened or accepted.
    pub fn cached_bundle(&self, peer: &SessionId) -> Result<Option<IdentityBundle>, EngineError> {
        match self.store.get(
            Space::Contacts,
            &self.store.index(Space::Contacts, peer.as_bytes()),
        )? {
            Some(raw) => Ok(Some(IdentityBundle::from_bytes(&raw)?)),
            None => Ok(None),
        }
    }

    /// All sessions.
    pub fn sessions(&self) -> Result<Vec<SessionSummary>, EngineError> {
        let mut out = Vec::new();
        for (_, v) in self.store.scan(Space::Sessions, &[])? {
            out.push(self.summary(&SessionRecord::decode(&v)?)?);
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.last_activity));
        Ok(out)
    }

    /// Closes the session with `peer`: nothing more is sent or accepted on it.
    pub fn close_session(
        &mut self,
        peer: &SessionId,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let mut rec = self
            .load_session(peer)?
            .ok_or_else(|| EngineError::UnknownSession(peer.to_string()))?;
        rec.closed = true;
        let mut b = Batch::default();
        b.put(Space::Sessions, &self.session_key(peer), &rec.encode());
        self.store.write(b, rng)?;
        Ok(())
    }

    fn message_key(&self, peer: &SessionId, local_seq: u64) -> Vec<u8> {
        let mut k = self.store.index(Space::Messages, peer.as_bytes())[..16].to_vec();
        k.extend_from_slice(&local_seq.to_be_bytes());
        k
    }

    fn mid_key(id: &MessageId) -> Vec<u8> {
        let mut k = MID_PREFIX.to_vec();
        k.extend_from_slice(id.as_bytes());
        k
    }

    /// Messages of one conversation (or all) with `local_time >= since`, oldest first, at most
    /// `limit`.
    pub fn messages(
        &self,
        peer: Option<&SessionId>,
        since: u64,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, EngineError> {
        let prefix = match peer {
            Some(p) => self.store.index(Space::Messages, p.as_bytes())[..16].to_vec(),
            None => Vec::new(),
        };
        let mut out: Vec<MessageRecord> = Vec::new();
        for (_, v) in self.store.scan(Space::Messages, &prefix)? {
            let m = MessageRecord::decode(&v)?;
            if m.local_time >= since {
                out.push(m);
            }
        }
        out.sort_by_key(|m| (m.local_time, m.sequence));
        out.truncate(limit);
        Ok(out)
    }

    /// The session record of `peer`, if any (for the role and confirmation state).
    pub fn session_role(&self, peer: &SessionId) -> Result<Option<Role>, EngineError> {
        match self.load_session(peer)? {
            Some(r) => Ok(Some(Session::from_bytes(&r.state)?.role())),
            None => Ok(None),
        }
    }
}
