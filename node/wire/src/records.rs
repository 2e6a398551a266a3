//! Records of the client's encrypted store (`pars_store::client`): what a user daemon keeps on
//! disk about its identity, prekeys, sessions, messages and outbox. Each is a version byte and
//! a fixed field order; the store encrypts them as opaque values.

use crate::{MessageId, Reader, WireError, Writer};

mod group;
mod transfer;
pub use group::{
    GroupOutKind, GroupOutboxRecord, GroupRecord, GroupState, GroupTaskRecord, MAX_GROUP_BLOB,
    MAX_INVITED,
};
use pars_crypto::{SESSION_ID_LEN, SessionId};
pub use transfer::{
    ChunkIdsRecord, FileOfferRecord, MAX_PATH_LEN, TransferPeer, TransferProgress, TransferRecord,
    TransferState,
};

/// Version of every record format in this module.
pub const RECORD_VERSION: u8 = 1;
/// Largest stored message content (matches the largest padded message).
pub const MAX_CONTENT: usize = 1 << 20;
/// Largest stored session state or outbox blob.
pub const MAX_BLOB: usize = 4 << 20;

fn version(r: &mut Reader<'_>, what: &'static str) -> Result<(), WireError> {
    match r.u8(what)? {
        RECORD_VERSION => Ok(()),
        version => Err(WireError::UnsupportedVersion { what, version }),
    }
}

fn session_id(r: &mut Reader<'_>, what: &'static str) -> Result<SessionId, WireError> {
    SessionId::from_bytes(r.bytes(SESSION_ID_LEN, what)?).map_err(|_| WireError::Invalid {
        what,
        reason: "not a Session ID",
    })
}

/// A boolean byte: 0 or 1, anything else refused (so encodings stay canonical).
pub(crate) fn flag(r: &mut Reader<'_>, what: &'static str) -> Result<bool, WireError> {
    match r.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(WireError::UnknownVariant {
            what,
            value: u64::from(v),
        }),
    }
}

/// The local identity: `version ‖ master seed (32) ‖ created_at (8) ‖ next prekey id (4)`.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    /// The master seed (secret).
    pub seed: [u8; 32],
    /// When the identity was created or restored.
    pub created_at: u64,
    /// The id the next prekey gets.
    pub next_prekey_id: u32,
}

impl std::fmt::Debug for IdentityRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityRecord([redacted])")
    }
}

impl IdentityRecord {
    /// Encodes (the result holds the secret seed: hand it to the encrypted store only).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(45);
        w.u8(RECORD_VERSION)
            .bytes(&self.seed)
            .u64(self.created_at)
            .u32(self.next_prekey_id);
        w.into_vec()
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "identity record")?;
        let rec = Self {
            seed: r.array("identity seed")?,
            created_at: r.u64("identity created_at")?,
            next_prekey_id: r.u32("next prekey id")?,
        };
        r.finish("identity record")?;
        Ok(rec)
    }
}

/// Delivery state of a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Outgoing, in the outbox.
    Queued,
    /// Outgoing, stored by this many swarm members.
    Stored(u32),
    /// Outgoing, read by the peer.
    Read,
    /// Outgoing, given up.
    Failed,
    /// Incoming.
    Received,
}

impl Delivery {
    fn write(self, w: &mut Writer) {
        let (tag, n) = match self {
            Delivery::Queued => (0, 0),
            Delivery::Stored(n) => (1, n),
            Delivery::Read => (2, 0),
            Delivery::Failed => (3, 0),
            Delivery::Received => (4, 0),
        };
        w.u8(tag).u32(n);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let tag = r.u8("delivery state")?;
        let n = r.u32("delivery copies")?;
        Ok(match tag {
            0 => Delivery::Queued,
            1 => Delivery::Stored(n),
            2 => Delivery::Read,
            3 => Delivery::Failed,
            4 => Delivery::Received,
            v => {
                return Err(WireError::UnknownVariant {
                    what: "delivery state",
                    value: u64::from(v),
                });
            }
        })
    }
}

/// A message as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// Its ID (the same on both sides).
    pub id: MessageId,
    /// The peer.
    pub peer: SessionId,
    /// Whether we sent it.
    pub outgoing: bool,
    /// The content type byte (`pars_wire::message::ContentType`).
    pub content_type: u8,
    /// The sender's coarse timestamp.
    pub timestamp: u64,
    /// When this node stored it.
    pub local_time: u64,
    /// The ratchet sequence number on the sender's side.
    pub sequence: u64,
    /// Delivery state.
    pub delivery: Delivery,
    /// Read by the local user (incoming) or by the peer (outgoing).
    pub read: bool,
    /// The content.
    pub content: Vec<u8>,
    /// Why delivery failed, if it did.
    pub error: Option<String>,
}

impl MessageRecord {
    /// Encodes: `version ‖ id (16) ‖ peer (33) ‖ outgoing (1) ‖ content type (1) ‖ timestamp (8)
    /// ‖ local time (8) ‖ sequence (8) ‖ delivery (1+4) ‖ read (1) ‖ content (u32-prefixed) ‖
    /// error (u16-prefixed UTF-8, empty for none)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(96 + self.content.len());
        w.u8(RECORD_VERSION);
        self.id.write(&mut w);
        w.bytes(self.peer.as_bytes())
            .u8(u8::from(self.outgoing))
            .u8(self.content_type)
            .u64(self.timestamp)
            .u64(self.local_time)
            .u64(self.sequence);
        self.delivery.write(&mut w);
        w.u8(u8::from(self.read))
            .var32(&self.content)
            .var16(self.error.as_deref().unwrap_or("").as_bytes());
        w.into_vec()
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "message record")?;
        let id = MessageId::read(&mut r)?;
        let peer = session_id(&mut r, "message peer")?;
        let outgoing = flag(&mut r, "message direction")?;
        let content_type = r.u8("content type")?;
        let timestamp = r.u64("timestamp")?;
        let local_time = r.u64("local time")?;
        let sequence = r.u64("sequence")?;
        let delivery = Delivery::read(&mut r)?;
        let read = flag(&mut r, "read flag")?;
        let content = r.var32(MAX_CONTENT, "content")?.to_vec();
        let err = r.var16(u16::MAX as usize, "error text")?;
        let error = if err.is_empty() {
            None
        } else {
            Some(
                std::str::from_utf8(err)
                    .map_err(|_| WireError::Invalid {
                        what: "error text",
                        reason: "not UTF-8",
                    })?
                    .to_string(),
            )
        };
        r.finish("message record")?;
        Ok(Self {
            id,
            peer,
            outgoing,
            content_type,
            timestamp,
            local_time,
            sequence,
            delivery,
            read,
            content,
            error,
        })
    }
}

/// A session with one peer, as the daemon keeps it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The peer.
    pub peer: SessionId,
    /// Closed locally.
    pub closed: bool,
    /// Creation time.
    pub created_at: u64,
    /// Last message sent or received.
    pub last_activity: u64,
    /// Incoming messages not yet read.
    pub unread: u64,
    /// Local message counter of this conversation (orders the message records).
    pub next_local_seq: u64,
    /// `pars_session::Session::to_bytes()` (secret).
    pub state: Vec<u8>,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("peer", &self.peer.short())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl SessionRecord {
    /// Encodes: `version ‖ peer (33) ‖ closed (1) ‖ created (8) ‖ last activity (8) ‖ unread (8)
    /// ‖ next local seq (8) ‖ state (u32-prefixed)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(80 + self.state.len());
        w.u8(RECORD_VERSION)
            .bytes(self.peer.as_bytes())
            .u8(u8::from(self.closed))
            .u64(self.created_at)
            .u64(self.last_activity)
            .u64(self.unread)
            .u64(self.next_local_seq)
            .var32(&self.state);
        w.into_vec()
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "session record")?;
        let rec = Self {
            peer: session_id(&mut r, "session peer")?,
            closed: flag(&mut r, "closed flag")?,
            created_at: r.u64("created_at")?,
            last_activity: r.u64("last activity")?,
            unread: r.u64("unread")?,
            next_local_seq: r.u64("next local seq")?,
            state: r.var32(MAX_BLOB, "session state")?.to_vec(),
        };
        r.finish("session record")?;
        Ok(rec)
    }
}

/// An outgoing message waiting to be stored in the recipient's swarm. The blob is the final
/// encrypted `SessionMessage`, made once: retries resend the same bytes, so the recipient never
/// sees a message twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    /// The message.
    pub id: MessageId,
    /// The recipient.
    pub recipient: SessionId,
    /// Store key of the message record (to update its delivery state), empty for control
    /// messages that have none (receipts).
    pub message_key: Vec<u8>,
    /// Attempts so far.
    pub attempts: u32,
    /// Not before this time (Unix seconds): exponential backoff.
    pub next_attempt: u64,
    /// The encoded `SessionMessage`.
    pub blob: Vec<u8>,
}

impl OutboxRecord {
    /// Encodes: `version ‖ id (16) ‖ recipient (33) ‖ message key (u16-prefixed) ‖ attempts (4)
    /// ‖ next attempt (8) ‖ blob (u32-prefixed)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(80 + self.blob.len());
        w.u8(RECORD_VERSION);
        self.id.write(&mut w);
        w.bytes(self.recipient.as_bytes())
            .var16(&self.message_key)
            .u32(self.attempts)
            .u64(self.next_attempt)
            .var32(&self.blob);
        w.into_vec()
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "outbox record")?;
        let rec = Self {
            id: MessageId::read(&mut r)?,
            recipient: session_id(&mut r, "recipient")?,
            message_key: r.var16(256, "message key")?.to_vec(),
            attempts: r.u32("attempts")?,
            next_attempt: r.u64("next attempt")?,
            blob: r.var32(MAX_BLOB, "outbox blob")?.to_vec(),
        };
        r.finish("outbox record")?;
        Ok(rec)
    }
}

/// A prekey secret: `version ‖ id (4) ‖ created (8) ‖ expires (8) ‖ X25519 secret (32) ‖
/// ML-KEM-1024 secret key (3168)`.
#[derive(Clone, PartialEq, Eq)]
pub struct PrekeyRecord {
    /// Its id.
    pub id: u32,
    /// Creation time.
    pub created_at: u64,
    /// Expiry time.
    pub expires_at: u64,
    /// X25519 secret (secret).
    pub x25519: [u8; 32],
    /// ML-KEM-1024 decapsulation key (secret).
    pub mlkem: Vec<u8>,
}

impl std::fmt::Debug for PrekeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrekeyRecord(id {}, [redacted])", self.id)
    }
}

impl PrekeyRecord {
    /// Encodes (secret: for the encrypted store only).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(53 + self.mlkem.len());
        w.u8(RECORD_VERSION)
            .u32(self.id)
            .u64(self.created_at)
            .u64(self.expires_at)
            .bytes(&self.x25519)
            .bytes(&self.mlkem);
        w.into_vec()
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "prekey record")?;
        let rec = Self {
            id: r.u32("prekey id")?,
            created_at: r.u64("prekey created_at")?,
            expires_at: r.u64("prekey expires_at")?,
            x25519: r.array("prekey X25519 secret")?,
            mlkem: r
                .bytes(pars_crypto::mlkem::SECRET_KEY_LEN, "prekey ML-KEM secret")?
                .to_vec(),
        };
        r.finish("prekey record")?;
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sid(b: u8) -> SessionId {
        SessionId::from_digest([b; 32])
    }

    #[test]
    fn round_trips() {
        let i = IdentityRecord {
            seed: [7; 32],
            created_at: 5,
            next_prekey_id: 2,
        };
        assert_eq!(IdentityRecord::decode(&i.encode()).unwrap(), i);
        assert_eq!(i.encode().len(), 45);
        let m = MessageRecord {
            id: MessageId([1; 16]),
            peer: sid(2),
            outgoing: true,
            content_type: 1,
            timestamp: 100,
            local_time: 101,
            sequence: 3,
            delivery: Delivery::Stored(4),
            read: false,
            content: b"hi".to_vec(),
            error: Some("x".into()),
        };
        assert_eq!(MessageRecord::decode(&m.encode()).unwrap(), m);
        let s = SessionRecord {
            peer: sid(3),
            closed: false,
            created_at: 1,
            last_activity: 2,
            unread: 3,
            next_local_seq: 4,
            state: vec![9; 100],
        };
        assert_eq!(SessionRecord::decode(&s.encode()).unwrap(), s);
        let o = OutboxRecord {
            id: MessageId([4; 16]),
            recipient: sid(5),
            message_key: vec![1, 2, 3],
            attempts: 2,
            next_attempt: 77,
            blob: vec![8; 50],
        };
        assert_eq!(OutboxRecord::decode(&o.encode()).unwrap(), o);
        let p = PrekeyRecord {
            id: 3,
            created_at: 1,
            expires_at: 2,
            x25519: [5; 32],
            mlkem: vec![6; 3168],
        };
        assert_eq!(PrekeyRecord::decode(&p.encode()).unwrap(), p);
        let mut bad = o.encode();
        bad[0] = 9;
        assert!(matches!(
            OutboxRecord::decode(&bad),
            Err(WireError::UnsupportedVersion { .. })
        ));
        let mut longer = o.encode();
        longer.push(0);
        assert!(matches!(
            OutboxRecord::decode(&longer),
            Err(WireError::TrailingBytes { .. })
        ));
    }

    proptest! {
        #[test]
        fn decoders_are_total(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = IdentityRecord::decode(&data);
            let _ = MessageRecord::decode(&data);
            let _ = SessionRecord::decode(&data);
            let _ = OutboxRecord::decode(&data);
            let _ = PrekeyRecord::decode(&data);
        }
    }
}
