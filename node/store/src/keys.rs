//! The store's tables and how its keys and values are laid out, shared by the store and its
//! write transaction.

use crate::StoreError;
use pars_wire::swarm::ContentHash;
use redb::TableDefinition;

/// Bytes charged per message on top of its payload (keys, index entries).
pub const PER_MESSAGE_OVERHEAD: u64 = 128;

pub(crate) const MESSAGES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("messages");
pub(crate) const HASHES: TableDefinition<&[u8], u64> = TableDefinition::new("hashes");
pub(crate) const EXPIRY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("expiry");
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Per mailbox: `bytes (8) ‖ messages (8)` it is charged for (absent: none, or a mailbox written
/// before per-mailbox accounting, counted from its messages on first touch).
pub(crate) const USAGE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("usage");

pub(crate) const NEXT_SEQ: &str = "next_seq";
pub(crate) const USED_BYTES: &str = "used_bytes";
pub(crate) const COUNT: &str = "count";

pub(crate) fn msg_key(mailbox: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(mailbox.len() + 8);
    k.extend_from_slice(mailbox);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn hash_key(mailbox: &[u8], hash: &ContentHash) -> Vec<u8> {
    let mut k = Vec::with_capacity(mailbox.len() + 32);
    k.extend_from_slice(mailbox);
    k.extend_from_slice(hash);
    k
}

pub(crate) fn expiry_key(expires_at_ms: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&expires_at_ms.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn u64_at(b: &[u8], at: usize, what: &'static str) -> Result<u64, StoreError> {
    b.get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(u64::from_be_bytes)
        .ok_or(StoreError::Corrupt(what))
}

/// Parses a `messages` value: expires ‖ hash ‖ payload.
pub(crate) fn parse_value(v: &[u8]) -> Result<(u64, ContentHash, &[u8]), StoreError> {
    let expires = u64_at(v, 0, "message expiry")?;
    let hash: ContentHash = v
        .get(8..40)
        .and_then(|s| s.try_into().ok())
        .ok_or(StoreError::Corrupt("message hash"))?;
    Ok((expires, hash, &v[40..]))
}

pub(crate) fn cost(payload_len: usize) -> u64 {
    payload_len as u64 + PER_MESSAGE_OVERHEAD
}
