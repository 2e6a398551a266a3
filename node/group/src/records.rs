//! What the group storage hands to its caller: the records changed since the last commit
//! ([`Changes`]), and the one failure every storage operation can meet ([`StorageBroken`]).
//! Shared by the provider (`provider.rs`) and the storage (`storage/`).

use zeroize::Zeroizing;

/// What changed in a provider's storage since it was last committed: records to write and
/// records to delete. Keys are the storage's (they hold group IDs: the caller stores them under
/// a keyed index, never raw); values hold private keys and are wiped when dropped.
#[derive(Default)]
pub struct Changes {
    /// Records written or rewritten.
    pub put: Vec<(Vec<u8>, Zeroizing<Vec<u8>>)>,
    /// Records deleted.
    pub delete: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes")
            .field("put", &self.put.len())
            .field("delete", &self.delete.len())
            .finish()
    }
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.put.is_empty() && self.delete.is_empty()
    }

    /// The bytes to write: keys and values of [`Changes::put`], keys of [`Changes::delete`].
    pub fn size(&self) -> usize {
        self.put
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
            + self.delete.iter().map(Vec::len).sum::<usize>()
    }
}

/// The storage's lock was poisoned by a panic while it was held: its contents are unknown.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the group storage was left inconsistent by an earlier failure")]
pub struct StorageBroken;
