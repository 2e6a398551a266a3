//! Record keys (a kind byte, openmls's key, the storage version) and list records (items
//! each after its length).

use super::{StorageError, Value};
use crate::codec::{self, CodecError};
use openmls_traits::storage::CURRENT_VERSION;
use serde::Serialize;
use zeroize::Zeroizing;

/// The kinds of record (the first byte of every key).
pub(super) mod kind {
    pub(in crate::storage) const KEY_PACKAGE: u8 = 1;
    pub(in crate::storage) const PSK: u8 = 2;
    pub(in crate::storage) const ENCRYPTION_KEY_PAIR: u8 = 3;
    pub(in crate::storage) const SIGNATURE_KEY_PAIR: u8 = 4;
    pub(in crate::storage) const EPOCH_KEY_PAIRS: u8 = 5;
    pub(in crate::storage) const TREE: u8 = 6;
    pub(in crate::storage) const GROUP_CONTEXT: u8 = 7;
    pub(in crate::storage) const INTERIM_TRANSCRIPT_HASH: u8 = 8;
    pub(in crate::storage) const CONFIRMATION_TAG: u8 = 9;
    pub(in crate::storage) const JOIN_CONFIG: u8 = 10;
    pub(in crate::storage) const OWN_LEAF_NODES: u8 = 11;
    pub(in crate::storage) const GROUP_STATE: u8 = 12;
    pub(in crate::storage) const QUEUED_PROPOSAL: u8 = 13;
    pub(in crate::storage) const PROPOSAL_QUEUE_REFS: u8 = 14;
    pub(in crate::storage) const OWN_LEAF_NODE_INDEX: u8 = 15;
    pub(in crate::storage) const EPOCH_SECRETS: u8 = 16;
    pub(in crate::storage) const RESUMPTION_PSK: u8 = 17;
    pub(in crate::storage) const MESSAGE_SECRETS: u8 = 18;
    pub(in crate::storage) const TREE_NODE: u8 = 19;
}

/// Whether `key` is the key of a record of openmls's JSON storage (`openmls_memory_storage`),
/// which earlier versions of this crate persisted: its keys start with an ASCII label
/// (`Tree`, `GroupContext`, `KeyPackage`, …), ours with a kind byte of 1 to 31.
pub(crate) fn is_json_storage_key(key: &[u8]) -> bool {
    key.first().is_some_and(u8::is_ascii_alphabetic)
}

/// The key of a record of `kind` under openmls's key `k`.
pub(super) fn key<K: Serialize + ?Sized>(kind: u8, k: &K) -> Result<Vec<u8>, StorageError> {
    let mut bytes = codec::encode(&(kind, k), 64)?;
    bytes.extend_from_slice(&CURRENT_VERSION.to_be_bytes());
    Ok(std::mem::take(&mut *bytes))
}

/// The items of a list record.
pub(super) fn items(list: &[u8]) -> Result<Vec<&[u8]>, StorageError> {
    let mut rest = list;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or(CodecError::truncated())?;
        let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| CodecError::truncated())?;
        if tail.len() < len {
            return Err(CodecError::truncated().into());
        }
        let (item, tail) = tail.split_at(len);
        out.push(item);
        rest = tail;
    }
    Ok(out)
}

/// `items` as a list record.
pub(super) fn list<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Result<Value, StorageError> {
    let mut out = Zeroizing::new(Vec::new());
    for item in items {
        let len = u32::try_from(item.len()).map_err(|_| CodecError::too_long())?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(item);
    }
    Ok(out)
}
