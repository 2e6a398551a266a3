//! The client's counters ([`ClientStats`]) and the atomics behind them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Operations started.
    pub requests: u64,
    /// Operations that got an answer.
    pub succeeded: u64,
    /// Operations that failed after all attempts (or at once, for bad input).
    pub failed: u64,
    /// Paths built (attempts), cover loops excluded.
    pub paths: u64,
    /// Attempts that got no reply in time (the path's hops were marked failed).
    pub path_failures: u64,
    /// Attempts whose guard could not be reached.
    pub guard_failures: u64,
    /// Directories fetched from a guard.
    pub directory_fetches: u64,
    /// Packets sent to the guard (requests and cover loops).
    pub packets_sent: u64,
    /// Packets received from the guard.
    pub packets_received: u64,
    /// Received frames that were not exactly one packet long.
    pub wrong_size: u64,
    /// Received packets that did not open as a pending reply.
    pub replies_rejected: u64,
    /// Cover loops sent.
    pub cover_sent: u64,
    /// Cover loops that came back.
    pub cover_returned: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) requests: AtomicU64,
    pub(super) succeeded: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) paths: AtomicU64,
    pub(super) path_failures: AtomicU64,
    pub(super) guard_failures: AtomicU64,
    pub(super) directory_fetches: AtomicU64,
    pub(super) packets_sent: AtomicU64,
    pub(super) packets_received: AtomicU64,
    pub(super) wrong_size: AtomicU64,
    pub(super) replies_rejected: AtomicU64,
    pub(super) cover_sent: AtomicU64,
    pub(super) cover_returned: AtomicU64,
}

pub(super) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// A snapshot.
    pub(super) fn snapshot(&self) -> ClientStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClientStats {
            requests: g(&self.requests),
            succeeded: g(&self.succeeded),
            failed: g(&self.failed),
            paths: g(&self.paths),
            path_failures: g(&self.path_failures),
            guard_failures: g(&self.guard_failures),
            directory_fetches: g(&self.directory_fetches),
            packets_sent: g(&self.packets_sent),
            packets_received: g(&self.packets_received),
            wrong_size: g(&self.wrong_size),
            replies_rejected: g(&self.replies_rejected),
            cover_sent: g(&self.cover_sent),
            cover_returned: g(&self.cover_returned),
        }
    }
}
