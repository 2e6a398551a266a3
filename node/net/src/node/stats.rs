//! The node's swarm-protocol counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a running node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Swarm-protocol requests received.
    pub requests: u64,
    /// Frames that did not decode (answered with `Malformed`).
    pub malformed: u64,
    /// Inbound requests dropped before decoding (oversized or truncated frames, resets).
    pub bad_frames: u64,
    /// Inbound streams that failed after the request was read (timeouts, resets).
    pub inbound_failures: u64,
    /// Requests refused by the rate limiter.
    pub rate_limited: u64,
    /// Replica copies accepted from other members.
    pub replicas_accepted: u64,
    /// Waiting retrieves (long-polls) held now.
    pub waiting_retrieves: u64,
    /// Waiting retrieves refused because as many as allowed were held.
    pub waits_refused: u64,
    /// Messages dropped locally after their new owners acknowledged them.
    pub handed_off: u64,
    /// DHT records refused (invalid node records).
    pub bad_records: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    pub requests: AtomicU64,
    pub malformed: AtomicU64,
    pub inbound_failures: AtomicU64,
    pub rate_limited: AtomicU64,
    pub replicas_accepted: AtomicU64,
    pub handed_off: AtomicU64,
    pub bad_records: AtomicU64,
    pub waits_refused: AtomicU64,
}

/// Adds `n` to a counter.
pub(super) fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    /// The counters now, with the two kept elsewhere: frames the codec refused and waiting
    /// retrieves held.
    pub(super) fn snapshot(&self, bad_frames: u64, waiting_retrieves: u64) -> NodeStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NodeStats {
            requests: g(&self.requests),
            malformed: g(&self.malformed),
            bad_frames,
            inbound_failures: g(&self.inbound_failures),
            rate_limited: g(&self.rate_limited),
            replicas_accepted: g(&self.replicas_accepted),
            waiting_retrieves,
            waits_refused: g(&self.waits_refused),
            handed_off: g(&self.handed_off),
            bad_records: g(&self.bad_records),
        }
    }
}
