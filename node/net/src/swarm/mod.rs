//! The swarm protocol's sans-IO core: what a service node does with one request, decided
//! without a socket, a clock or a task of its own.
//!
//! [`SwarmService::handle`] takes `(now, from, request)`, the current [`Membership`] and a
//! mailbox store behind the narrow [`MailboxBackend`] trait, and returns an [`Outcome`]: an
//! effect for the driver to carry out ([`Step`]: respond, replicate to, hold, forward) and the
//! mailboxes whose waiting retrieves should wake. The pieces it is made of are plain structs that
//! take `now`: [`Authorizer`] (owner signatures, the clock window and the replay cache),
//! [`TokenBuckets`] (per-peer rate limits) and [`Holds`] (long-poll slots and their wake-ups).
//!
//! The redb [`MailboxStore`](pars_store::MailboxStore) implements [`MailboxBackend`]; with the
//! `test-utils` feature, [`MemoryMailboxStore`] is its in-memory twin (rust-libp2p's Kademlia
//! `RecordStore` with its `MemoryStore` is the model) for fast, deterministic tests.
//!
//! It is not the libp2p driver: sending replicas, forwarding, timers and wake-ups are
//! `crate::node`'s business.
//!
//! [`Membership`]: crate::Membership

mod access;
mod auth;
mod bundle;
mod hold;
mod limits;
#[cfg(any(test, feature = "test-utils"))]
mod memory;
mod service;
mod store;
#[cfg(test)]
mod tests;

pub use auth::Authorizer;
pub use hold::{HoldId, Holds};
pub use limits::{BucketKind, RateLimit, TokenBuckets};
#[cfg(any(test, feature = "test-utils"))]
pub use memory::MemoryMailboxStore;
pub use service::{
    BUSY_RETRY_MS, Outcome, PageQuery, PendingStore, ServiceConfig, Step, SwarmService,
};
pub use store::MailboxBackend;
