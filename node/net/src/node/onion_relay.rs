//! The service node's onion relay: `/pars/onion/1` packets are acknowledged, counted and
//! rate-limited on the event loop, then peeled on a worker pool — the onion router's `&self`
//! [`peel`](pars_onion::OnionRouter::peel) (KEM and MAC checks) runs on up to
//! `onion_peel_workers` blocking threads at once, and only the short replay-tag
//! [`commit`](pars_onion::OnionRouter::commit) takes a (per-key) lock — then forwarded to set
//! members or, as a guard, to connected clients; a delivered packet is run as a swarm request
//! and answered along its reply block.

use super::event_loop::EventLoop;
use super::stats::bump;
use super::{Command, Ctx, NetworkHandle, onion_keys::unix_secs};
use crate::set::node_id;
use crate::swarm::BucketKind;
use libp2p::{PeerId, request_response as rr};
use pars_crypto::classic::Ed25519SigningKey;
use pars_onion::{OnionRouter, Processed, reply_packet};
use pars_wire::onion::{MAX_DATA_LEN, PACKET_LEN, ReplyBlock};
use pars_wire::swarm::{ErrorCode, SwarmRequest, SwarmResponse};
use pars_wire::{NodeId, NodeRecord};
use rand_chacha::ChaCha20Rng;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
}

impl Ctx {
    pub(super) fn onion_stats(&self) -> OnionStats {
        let c = &self.onion.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        OnionStats {
            received: g(&c.received),
            received_bytes: g(&c.received_bytes),
            wrong_size: g(&c.wrong_size),
            bad_frames: self.onion.codec.rejected(),
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

    fn seen(&self, f: impl FnOnce(&mut OnionSeen)) {
        if let Ok(mut s) = self.onion.seen.lock() {
            f(&mut s);
        }
    }
}

impl EventLoop {
    /// A packet arrived: acknowledge the frame, account for it, and process it off the loop.
    pub(super) fn on_onion_packet(
        &mut self,
        peer: PeerId,
        frame: Vec<u8>,
        channel: rr::ResponseChannel<Vec<u8>>,
    ) {
        let _ = self
            .swarm
            .behaviour_mut()
            .onion
            .send_response(channel, Vec::new());
        let ctx = self.handle.ctx.clone();
        let c = &ctx.onion.counters;
        bump(&c.received, 1);
        bump(&c.received_bytes, frame.len() as u64);
        ctx.seen(|s| {
            s.from.insert(peer);
        });
        if frame.len() != PACKET_LEN {
            bump(&c.wrong_size, 1);
            return;
        }
        if !self.members.contains(&peer) {
            // A client (or a node outside the set): its guard connection is how replies reach it.
            self.clients.insert(node_id(&peer), peer);
            if self.take_token_for(peer, BucketKind::Onion).is_err() {
                bump(&c.rate_limited, 1);
                return;
            }
        }
        let Ok(permit) = ctx.onion.inflight.clone().try_acquire_owned() else {
            bump(&c.overloaded, 1);
            return;
        };
        let handle = self.handle.clone();
        tokio::spawn(async move {
            process_packet(&handle, frame, permit).await;
        });
    }

    /// Sends a packet to the node or client behind `next`.
    pub(super) fn onion_send(&mut self, next: NodeId, frame: Vec<u8>) {
        let ctx = self.handle.ctx.clone();
        let c = &ctx.onion.counters;
        let peer = if let Some(p) = self.member_ids.get(&next) {
            *p
        } else if let Some(p) = self.clients.get(&next) {
            *p
        } else {
            bump(&c.unroutable, 1);
            tracing::debug!("onion packet for an unknown next hop dropped");
            return;
        };
        if peer == ctx.local {
            // Our own layer again (only a malformed path does this): process it once more.
            let Ok(permit) = ctx.onion.inflight.clone().try_acquire_owned() else {
                bump(&c.overloaded, 1);
                return;
            };
            let handle = self.handle.clone();
            tokio::spawn(async move {
                Box::pin(process_packet(&handle, frame, permit)).await;
            });
            return;
        }
        let addrs = ctx
            .set
            .members()
            .get(&peer)
            .map(|n| n.addrs.clone())
            .unwrap_or_default();
        bump(&c.sent, 1);
        bump(&c.sent_bytes, frame.len() as u64);
        ctx.seen(|s| {
            s.to.insert(peer);
        });
        self.swarm
            .behaviour_mut()
            .onion
            .send_request_with_addresses(&peer, frame, addrs);
    }

    pub(super) fn on_onion_event(&mut self, e: rr::Event<Vec<u8>, Vec<u8>>) {
        match e {
            rr::Event::Message {
                peer,
                message:
                    rr::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_onion_packet(peer, request, channel),
            rr::Event::Message { .. } | rr::Event::ResponseSent { .. } => {}
            rr::Event::OutboundFailure { error, .. } => {
                bump(&self.handle.ctx.onion.counters.send_failures, 1);
                tracing::debug!(%error, "onion packet not delivered to the next hop");
            }
            rr::Event::InboundFailure { error, .. } => {
                tracing::debug!(%error, "inbound onion stream failed");
            }
        }
    }
}

/// Peels one layer on a peel worker (the blocking pool: it costs a KEM decapsulation), without
/// the router's write lock, commits its replay tag, and acts on the result.
/// `permit` is the packet's in-flight slot, held until it is handled.
async fn process_packet(handle: &NetworkHandle, frame: Vec<u8>, permit: OwnedSemaphorePermit) {
    let ctx = handle.ctx.clone();
    let now = unix_secs();
    // A peel worker's permit; the semaphore is never closed.
    let Ok(worker) = ctx.onion.peelers.clone().acquire_owned().await else {
        return;
    };
    let processed = tokio::task::spawn_blocking(move || {
        let _worker = worker;
        ctx.onion
            .router
            .read()
            .map(|r| r.commit(r.peel_bytes(&frame, now)))
            .ok()
    })
    .await
    .ok()
    .flatten();
    let c = &handle.ctx.onion.counters;
    match processed {
        Some(Processed::Forward { next_hop, packet }) => {
            bump(&c.forwarded, 1);
            let _ = handle
                .cmd
                .send(Command::OnionSend {
                    next: next_hop,
                    frame: packet.to_vec(),
                })
                .await;
        }
        Some(Processed::Deliver { data, reply }) => {
            bump(&c.delivered, 1);
            deliver(handle, data, reply, permit).await;
        }
        Some(Processed::Drop(reason)) => {
            bump(&c.dropped, 1);
            if reason == pars_onion::DropReason::Replay {
                bump(&c.replays, 1);
            }
            tracing::debug!(?reason, "onion packet dropped");
        }
        None => {
            bump(&c.dropped, 1);
        }
    }
}

/// The last hop: the data is a swarm request; run it as this node would a direct request (or as
/// a client of the swarm when this node is not in it) and answer along the reply block.
async fn deliver(
    handle: &NetworkHandle,
    data: Vec<u8>,
    reply: Option<ReplyBlock>,
    permit: OwnedSemaphorePermit,
) {
    let req = SwarmRequest::decode(&data);
    if let Ok(SwarmRequest::Retrieve { wait_ms: 1.., .. }) = req {
        // A long-poll may be held for seconds: it is bounded by the waiting-retrieve limit,
        // not by the in-flight packet slots.
        drop(permit);
    }
    let resp = match req {
        Err(e) => SwarmResponse::error(ErrorCode::Malformed, 0, e.to_string()),
        Ok(SwarmRequest::Replicate { .. }) => SwarmResponse::error(
            ErrorCode::NotMember,
            0,
            "replication is not accepted through onion paths",
        ),
        Ok(req) => handle.exit_request(req).await,
    };
    let Some(reply) = reply else {
        return;
    };
    let bytes = fit_reply(resp);
    match reply_packet(&reply, &bytes) {
        Ok((next, packet)) => {
            bump(&handle.ctx.onion.counters.replies, 1);
            let _ = handle
                .cmd
                .send(Command::OnionSend {
                    next,
                    frame: packet.to_vec(),
                })
                .await;
        }
        Err(e) => tracing::debug!(error = %e, "reply could not be built"),
    }
}

/// Encodes a response so that it fits one reply packet: a page of messages is cut at the last
/// message that fits (with `more` set, so the client continues after it).
pub(crate) fn fit_reply(resp: SwarmResponse) -> Vec<u8> {
    let bytes = resp.encode();
    if bytes.len() <= MAX_DATA_LEN {
        return bytes;
    }
    match resp {
        SwarmResponse::Messages { mut items, .. } => {
            while items.len() > 1 {
                items.pop();
                let b = SwarmResponse::Messages {
                    items: items.clone(),
                    more: true,
                }
                .encode();
                if b.len() <= MAX_DATA_LEN {
                    return b;
                }
            }
            SwarmResponse::error(
                ErrorCode::TooLarge,
                MAX_DATA_LEN as u32,
                "the next message is larger than one onion reply carries",
            )
            .encode()
        }
        _ => SwarmResponse::error(
            ErrorCode::TooLarge,
            MAX_DATA_LEN as u32,
            "the answer is larger than one onion reply carries",
        )
        .encode(),
    }
}

impl NetworkHandle {
    /// Onion counters.
    pub fn onion_stats(&self) -> OnionStats {
        self.ctx.onion_stats()
    }

    /// The peers this node received onion packets from and sent them to.
    pub fn onion_seen(&self) -> OnionSeen {
        self.ctx
            .onion
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// How many other members' verified records the node's directory holds.
    pub fn directory_len(&self) -> usize {
        self.ctx
            .onion
            .directory
            .lock()
            .map(|d| d.len())
            .unwrap_or(0)
    }

    /// The verified record of `peer` the node's directory holds (what it serves its clients).
    pub fn directory_record(&self, peer: &PeerId) -> Option<NodeRecord> {
        self.ctx
            .onion
            .directory
            .lock()
            .ok()
            .and_then(|d| d.get(peer).cloned())
    }

    /// The IDs and validity `(key_id, valid_from, valid_until)` of the node's onion keys.
    pub fn onion_key_ids(&self) -> Vec<(u32, u64, u64)> {
        self.ctx
            .onion
            .router
            .read()
            .map(|r| r.keys().key_ids())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pars_wire::swarm::MailboxItem;

    fn item(seq: u64, len: usize) -> MailboxItem {
        MailboxItem {
            seq,
            hash: [seq as u8; 32],
            expires_at_ms: 1,
            payload: vec![seq as u8; len],
        }
    }

    #[test]
    fn replies_are_cut_to_fit_one_packet() {
        // Small answers are untouched.
        let small = SwarmResponse::Done { count: 3 };
        assert_eq!(fit_reply(small.clone()), small.encode());
        // A page of 40 × 1,000 bytes is cut after the last message that fits, with `more`.
        let page = SwarmResponse::Messages {
            items: (1..=40).map(|i| item(i, 1000)).collect(),
            more: false,
        };
        let b = fit_reply(page);
        assert!(b.len() <= MAX_DATA_LEN);
        match SwarmResponse::decode(&b).unwrap() {
            SwarmResponse::Messages { items, more } => {
                assert!(more);
                assert_eq!(items.len(), (MAX_DATA_LEN - 5) / 1052);
                assert_eq!(items.last().unwrap().seq, items.len() as u64);
            }
            other => panic!("expected messages, got {other:?}"),
        }
        // One message too large for a reply: TooLarge, not a truncated message.
        let huge = SwarmResponse::Messages {
            items: vec![item(1, MAX_DATA_LEN)],
            more: false,
        };
        assert!(matches!(
            SwarmResponse::decode(&fit_reply(huge)).unwrap(),
            SwarmResponse::Error {
                code: ErrorCode::TooLarge,
                ..
            }
        ));
    }
}
