//! What the mailbox store answers: stored messages, pages of a mailbox, the outcome of a put,
//! and its counters.

use pars_wire::swarm::ContentHash;

/// A stored message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredMessage {
    /// This store's sequence number (the cursor).
    pub seq: u64,
    /// SHA3-256 of the payload.
    pub hash: ContentHash,
    /// Absolute expiry, Unix milliseconds.
    pub expires_at_ms: u64,
    /// The payload.
    pub payload: Vec<u8>,
}

/// One page of a mailbox.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Page {
    /// Messages in sequence order.
    pub items: Vec<StoredMessage>,
    /// Whether live messages follow the last one.
    pub more: bool,
}

/// The result of a put.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PutOutcome {
    /// The message's content hash.
    pub hash: ContentHash,
    /// Its sequence number.
    pub seq: u64,
    /// Its expiry (the existing one for a duplicate).
    pub expires_at_ms: u64,
    /// Whether the mailbox already held it (nothing was written).
    pub duplicate: bool,
}

/// Counters.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct StoreStats {
    /// Messages held.
    pub messages: u64,
    /// Bytes charged against the cap.
    pub used_bytes: u64,
    /// The cap.
    pub max_bytes: u64,
}
