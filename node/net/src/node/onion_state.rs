//! The onion state of a service node, shared by the event loop and the packet tasks: the router
//! and its key ring, the directory of members' records, the in-flight and peel-worker limits,
//! and the onion counters.

use libp2p::PeerId;
use pars_crypto::classic::Ed25519SigningKey;
use pars_onion::OnionRouter;
use rand_chacha::ChaCha20Rng;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::Semaphore;

/// Packets processed or delivered at once; more are dropped (and counted) rather than queued.
pub(super) const MAX_INFLIGHT_PACKETS: usize = 512;

/// Onion counters of a service node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OnionStats {
    /// Packets received on `/pars/onion/1`.
    pub received: u64,
    /// Bytes received in those packets.
    pub received_bytes: u64,
    /// Frames that were not exactly one packet long (dropped).
    pub wrong_size: u64,
    /// Frames the codec refused (oversized, truncated): the stream was reset.
    pub bad_frames: u64,
    /// Packets sent (forwarded, replies, loop answers).
    pub sent: u64,
    /// Bytes sent in those packets.
    pub sent_bytes: u64,
    /// Packets this node forwarded after peeling its layer (loop answers included).
    pub forwarded: u64,
    /// Packets this node was the last hop of, delivered as swarm requests.
    pub delivered: u64,
    /// Replies sent along reply blocks.
    pub replies: u64,
    /// Packets dropped by the onion router (bad MAC, replay, unknown key, malformed …).
    pub dropped: u64,
    /// Replays among the drops.
    pub replays: u64,
    /// Packets whose next hop is neither a set member nor a connected client.
    pub unroutable: u64,
    /// Packets from clients refused by the onion rate limit.
    pub rate_limited: u64,
    /// Packets dropped because too many were in flight.
    pub overloaded: u64,
    /// Packets that could not be sent to the next hop.
    pub send_failures: u64,
    /// Directory requests answered.
    pub directory_requests: u64,
    /// Times the key ring changed and the node record was re-signed.
    pub key_rotations: u64,
}

#[derive(Default)]
pub(super) struct OnionCounters {
    pub received: AtomicU64,
    pub received_bytes: AtomicU64,
    pub wrong_size: AtomicU64,
    pub sent: AtomicU64,
    pub sent_bytes: AtomicU64,
    pub forwarded: AtomicU64,
    pub delivered: AtomicU64,
    pub replies: AtomicU64,
    pub dropped: AtomicU64,
    pub replays: AtomicU64,
    pub unroutable: AtomicU64,
    pub rate_limited: AtomicU64,
    pub overloaded: AtomicU64,
    pub send_failures: AtomicU64,
    pub directory_requests: AtomicU64,
    pub key_rotations: AtomicU64,
}

/// Peers this node exchanged onion packets with (what it "saw").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OnionSeen {
    /// Peers it received packets from.
    pub from: HashSet<PeerId>,
    /// Peers it sent packets to.
    pub to: HashSet<PeerId>,
}

/// The node's onion state, shared by the loop and the packet tasks.
pub(super) struct OnionState {
    /// Peeled under a read lock by many workers at once; written only to rotate keys.
    pub router: RwLock<OnionRouter>,
    pub identity: Ed25519SigningKey,
    pub rng: Mutex<ChaCha20Rng>,
    pub counters: OnionCounters,
    pub seen: Mutex<OnionSeen>,
    /// Verified records of other set members, by peer.
    pub directory: Mutex<HashMap<PeerId, pars_wire::NodeRecord>>,
    pub inflight: Arc<Semaphore>,
    /// One permit per peel worker: packets peeled at once.
    pub peelers: Arc<Semaphore>,
    pub codec: crate::FrameCodec,
}

impl OnionState {
    pub fn new(
        router: OnionRouter,
        identity: Ed25519SigningKey,
        rng: ChaCha20Rng,
        codec: crate::FrameCodec,
        peel_workers: usize,
    ) -> Self {
        Self {
            router: RwLock::new(router),
            identity,
            rng: Mutex::new(rng),
            counters: OnionCounters::default(),
            seen: Mutex::new(OnionSeen::default()),
            directory: Mutex::new(HashMap::new()),
            inflight: Arc::new(Semaphore::new(MAX_INFLIGHT_PACKETS)),
            peelers: Arc::new(Semaphore::new(peel_workers)),
            codec,
        }
    }

    /// A snapshot of the onion counters.
    pub fn stats(&self) -> OnionStats {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        OnionStats {
            received: g(&c.received),
            received_bytes: g(&c.received_bytes),
            wrong_size: g(&c.wrong_size),
            bad_frames: self.codec.rejected(),
            sent: g(&c.sent),
            sent_bytes: g(&c.sent_bytes),
            forwarded: g(&c.forwarded),
            delivered: g(&c.delivered),
            replies: g(&c.replies),
            dropped: g(&c.dropped),
            replays: g(&c.replays),
            unroutable: g(&c.unroutable),
            rate_limited: g(&c.rate_limited),
            overloaded: g(&c.overloaded),
            send_failures: g(&c.send_failures),
            directory_requests: g(&c.directory_requests),
            key_rotations: g(&c.key_rotations),
        }
    }

    /// Updates the peers this node exchanged packets with.
    pub fn update_seen(&self, f: impl FnOnce(&mut OnionSeen)) {
        if let Ok(mut s) = self.seen.lock() {
            f(&mut s);
        }
    }
}
