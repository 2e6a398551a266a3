//! # pars-store
//!
//! Persistence on [redb](https://docs.rs/redb) (ARCHITECTURE decision 10). Today it holds the
//! service node's **mailbox store**: messages kept for offline recipients, per mailbox, with
//! a TTL, a dedupe index by content hash and a total size cap.
//!
//! - **Durable and batched.** Every write goes to one writer thread, which gathers whatever
//!   writes are waiting into one redb transaction and commits it with
//!   [`redb::Durability::Immediate`] (group commit). A write returns only after its commit is on
//!   disk, so a crash (even `kill -9`) loses nothing that was acknowledged; redb repairs itself
//!   on the next open.
//! - **Never silently evicts.** When the cap is reached a store fails with [`StoreError::Full`];
//!   only expiry, deletion or handoff free space.
//! - **Reads** run concurrently on their own read transactions.
//!
//! It is not a protocol: who may store what, and where, is `pars-net`'s business.

pub mod client;
mod keys;
mod mailbox;
mod page;
mod tables;

pub use keys::PER_MESSAGE_OVERHEAD;
pub use mailbox::{MailboxStore, StoreConfig};
pub use page::{Page, PutOutcome, StoreStats, StoredMessage};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The size cap is reached. Nothing is evicted to make room.
    #[error(
        "mailbox store is full: {used} of {cap} bytes used, {needed} more needed; live mail is \
         never evicted, so wait for messages to expire or raise the cap"
    )]
    Full {
        /// Bytes in use.
        used: u64,
        /// The cap.
        cap: u64,
        /// Bytes the refused write needed.
        needed: u64,
    },
    /// One mailbox holds its share of the store already (bytes or messages). Nothing is
    /// evicted to make room: its messages expire or its owner deletes them.
    #[error(
        "this mailbox holds its share of the store: {used} of {cap} bytes and {items} of \
         {max_items} messages; its owner must fetch and delete some, or they must expire"
    )]
    MailboxFull {
        /// Bytes the mailbox uses.
        used: u64,
        /// Its byte quota.
        cap: u64,
        /// Messages it holds.
        items: u64,
        /// Its message quota.
        max_items: u64,
    },
    /// The database failed (I/O, corruption); the write was not committed.
    #[error("mailbox database error: {0}")]
    Db(String),
    /// The writer thread has stopped (the store is shutting down).
    #[error("mailbox store is closed")]
    Closed,
    /// A stored record could not be decoded (corruption).
    #[error("corrupt mailbox record: {0}")]
    Corrupt(&'static str),
}

impl pars_error::HasKind for StoreError {
    fn kind(&self) -> pars_error::ErrorKind {
        use pars_error::ErrorKind;
        match self {
            // A quota refusal: the sender retries later or on another swarm member.
            Self::Full { .. } | Self::MailboxFull { .. } => ErrorKind::Busy,
            Self::Db(_) | Self::Corrupt(_) => ErrorKind::Storage,
            Self::Closed => ErrorKind::Shutdown,
        }
    }
}

impl StoreError {
    pub(crate) fn db(e: impl std::fmt::Display) -> Self {
        StoreError::Db(e.to_string())
    }
}
