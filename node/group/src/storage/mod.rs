//! openmls's storage for one member: a map of binary records with a transaction log.
//!
//! openmls hands every value to store as a serde type; [`ParsStorage`] encodes it in the
//! binary format of `codec/` (openmls's own memory storage writes JSON, where a byte costs
//! about 3.6 characters and a 1,000-member group's tree about 40 MB). The one exception is the
//! group's join configuration, a few dozen bytes whose type can only be read back from a
//! self-describing format: it is stored as JSON.
//!
//! Record keys are one byte naming the kind of record, the encoded openmls key (a group ID, a
//! public key, a hash reference, …) and openmls's storage version as two big-endian bytes.
//! Lists (a group's own leaf nodes and its queue of proposal references) are stored as one
//! record holding each item's encoding after its length as a `u32`, little-endian. The ratchet
//! tree is stored by pieces, one record per node and a head (`tree.rs`), so that a commit
//! rewrites the nodes it changed, not the whole tree.
//!
//! Records of openmls's JSON storage, which earlier versions persisted, are not read: their keys
//! start with an ASCII label, ours with a kind byte ([`is_json_storage_key`]), and
//! `Member::restore` refuses them by name.
//!
//! The transaction log: for every record written or deleted since the last commit, the log
//! keeps the value it had then (or that it had none). [`ParsStorage::changes`],
//! [`ParsStorage::commit`] and [`ParsStorage::rollback`] therefore cost what changed, not the
//! size of the storage. Every value is wiped from memory when it is overwritten, deleted,
//! rolled back or dropped.

mod keys;
mod mls;
mod store;
mod tree;

pub use crate::codec::CodecError;
use crate::records::StorageBroken;
pub(crate) use keys::is_json_storage_key;
pub use store::ParsStorage;
use zeroize::Zeroizing;

/// A stored value: wiped when dropped.
type Value = Zeroizing<Vec<u8>>;

/// What the storage could not do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The storage's lock was poisoned by a panic while it was held.
    #[error(transparent)]
    Broken(#[from] StorageBroken),
    /// A value could not be encoded, or a stored record could not be decoded.
    #[error("group storage record: {0}")]
    Codec(#[from] CodecError),
    /// The join configuration could not be encoded or decoded.
    #[error("group join configuration record: {0}")]
    Json(#[from] serde_json::Error),
    /// A record that another one refers to is missing.
    #[error("group storage record missing: {0}")]
    Missing(&'static str),
}

#[cfg(test)]
mod tests;
