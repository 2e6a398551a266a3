//! The narrow mailbox-store trait the swarm core works against.

use pars_store::{MailboxStore, Page, PutOutcome, StoreError};
use pars_wire::swarm::{ContentHash, ErrorCode, Mailbox, SwarmResponse};
use std::future::Future;

/// What the swarm core needs of a mailbox store: durable writes (a write's future resolves once
/// it is committed) and consistent reads. Implemented by the redb
/// [`MailboxStore`](pars_store::MailboxStore) and, for tests, by
/// [`MemoryMailboxStore`](super::MemoryMailboxStore).
pub trait MailboxBackend: Send + Sync {
    /// Stores `payload` in `mailbox` until `expires_at_ms`; a payload the mailbox already holds
    /// is not stored twice. With `replace`, everything else in the mailbox goes (single-slot
    /// namespaces). Fails with [`StoreError::Full`] at the size cap. `hash` is the payload's
    /// [`content_hash`](pars_wire::swarm::content_hash), computed by the caller, who often
    /// needed it to check the payload (a file chunk's address): hashed once per copy.
    fn put(
        &self,
        mailbox: &Mailbox,
        expires_at_ms: u64,
        payload: Vec<u8>,
        hash: ContentHash,
        replace: bool,
    ) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send;

    /// Deletes messages by content hash; returns how many existed.
    fn delete(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Sets the expiry of messages; returns how many existed.
    fn set_expiry(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
        expires_at_ms: u64,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Live messages of `mailbox` with `seq > after`, at most `max_count` of them and at most
    /// `max_bytes` of payload (but at least one message if any is live).
    fn get_since(
        &self,
        mailbox: &Mailbox,
        after: u64,
        max_count: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> Result<Page, StoreError>;
}

impl MailboxBackend for MailboxStore {
    fn put(
        &self,
        mailbox: &Mailbox,
        expires_at_ms: u64,
        payload: Vec<u8>,
        hash: ContentHash,
        replace: bool,
    ) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send {
        MailboxStore::put_hashed(self, mailbox, expires_at_ms, payload, hash, replace)
    }

    fn delete(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send {
        MailboxStore::delete(self, mailbox, hashes)
    }

    fn set_expiry(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
        expires_at_ms: u64,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send {
        MailboxStore::set_expiry(self, mailbox, hashes, expires_at_ms)
    }

    fn get_since(
        &self,
        mailbox: &Mailbox,
        after: u64,
        max_count: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> Result<Page, StoreError> {
        MailboxStore::get_since(self, mailbox, after, max_count, max_bytes, now_ms)
    }
}

/// The answer to a failed store operation.
pub(crate) fn store_error(e: StoreError) -> SwarmResponse {
    match e {
        StoreError::Full { cap, .. } | StoreError::MailboxFull { cap, .. } => SwarmResponse::error(
            ErrorCode::Full,
            u32::try_from(cap / (1024 * 1024)).unwrap_or(u32::MAX),
            e.to_string(),
        ),
        other => {
            tracing::error!(error = %other, "mailbox store failed");
            SwarmResponse::error(ErrorCode::Internal, 0, "storage error; try another member")
        }
    }
}
