//! The service node's onion side: the `/pars/onion/1` and `/pars/directory/1` protocols, the
//! key ring (persisted, rotated, announced in a re-signed node record), packet processing off
//! the event loop, delivery of a packet's data as a swarm request, and the directory of signed
//! member records that clients fetch from their guard.
//!
//! A child module of `node`, so it shares the event loop's private state.

use super::{Command, Ctx, EventLoop, NetworkHandle, bump, serve, unix_ms};
use crate::NetError;
use crate::identity::{sign_record, verify_record, write_private};
use crate::set::node_id;
use libp2p::{PeerId, request_response as rr};
use pars_crypto::classic::Ed25519SigningKey;
use pars_onion::{KeySchedule, OnionKeyRing, OnionRouter, Processed, reply_packet};
use pars_wire::directory::{DirectoryRequest, DirectoryResponse};
use pars_wire::onion::{MAX_DATA_LEN, PACKET_LEN, ReplyBlock};
use pars_wire::onion_state::StoredKeyRing;
use pars_wire::swarm::{ErrorCode, Mailbox, SwarmRequest, SwarmResponse};
use pars_wire::{NodeId, NodeRecord};
use rand_chacha::ChaCha20Rng;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// File name of the persisted onion key ring inside the data dir (mode 0600).
pub const ONION_KEYS_FILE: &str = "onion_keys";
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
    received: AtomicU64,
    received_bytes: AtomicU64,
    wrong_size: AtomicU64,
    sent: AtomicU64,
    sent_bytes: AtomicU64,
    forwarded: AtomicU64,
    delivered: AtomicU64,
    replies: AtomicU64,
    dropped: AtomicU64,
    replays: AtomicU64,
    unroutable: AtomicU64,
    rate_limited: AtomicU64,
    overloaded: AtomicU64,
    send_failures: AtomicU64,
    directory_requests: AtomicU64,
    key_rotations: AtomicU64,
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
    pub router: Mutex<OnionRouter>,
    pub identity: Ed25519SigningKey,
    pub rng: Mutex<ChaCha20Rng>,
    pub counters: OnionCounters,
    pub seen: Mutex<OnionSeen>,
    /// Verified records of other set members, by peer.
    pub directory: Mutex<HashMap<PeerId, NodeRecord>>,
    pub inflight: Arc<Semaphore>,
    pub codec: crate::FrameCodec,
}

/// Unix seconds.
pub(super) fn unix_secs() -> u64 {
    unix_ms() / 1000
}

/// A CSPRNG seeded from the operating system.
pub(crate) fn os_seeded_rng() -> Result<ChaCha20Rng, NetError> {
    use rand_core::SeedableRng;
    ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng)
        .map_err(|e| NetError::Setup(format!("no OS randomness: {e}")))
}

/// The pars-crypto form of the node's libp2p Ed25519 key (it signs the onion announcements).
pub(super) fn ed25519_identity(
    key: &libp2p::identity::Keypair,
) -> Result<Ed25519SigningKey, NetError> {
    let kp = key
        .clone()
        .try_into_ed25519()
        .map_err(|_| NetError::Identity("the node key is not Ed25519".into()))?;
    let mut secret = [0u8; 32];
    secret.copy_from_slice(kp.secret().as_ref());
    let k = Ed25519SigningKey::from_bytes(secret);
    zeroize::Zeroize::zeroize(&mut secret);
    Ok(k)
}

/// Loads the key ring persisted at a clean shutdown, or makes a fresh one (no file, another
/// node's file, an unclean shutdown, all keys expired). Either way the file is rewritten at once
/// as "not clean", so that a crash from now on cannot bring back a stale replay cache.
pub(super) fn load_ring(
    data_dir: &Path,
    node: NodeId,
    schedule: KeySchedule,
    now: u64,
    rng: &mut ChaCha20Rng,
) -> Result<OnionKeyRing, NetError> {
    let path = data_dir.join(ONION_KEYS_FILE);
    let restored = match std::fs::read(&path) {
        Ok(bytes) => {
            let bytes = pars_crypto::SecretBytes::new(bytes);
            match StoredKeyRing::decode(bytes.as_slice())
                .map_err(|e| e.to_string())
                .and_then(|s| {
                    OnionKeyRing::from_stored(&s, node, schedule, now).map_err(|e| e.to_string())
                }) {
                Ok(r) => Some(r),
                Err(why) => {
                    tracing::info!(%why, "making fresh onion keys");
                    None
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(NetError::Io(format!("{}: {e}", path.display()))),
    };
    let mut ring = restored.unwrap_or_else(|| OnionKeyRing::new(node, schedule, now, rng));
    ring.maintain(now, rng);
    save_ring(data_dir, &ring, false)?;
    Ok(ring)
}

/// Writes the ring atomically, readable by the owner only.
pub(super) fn save_ring(data_dir: &Path, ring: &OnionKeyRing, clean: bool) -> Result<(), NetError> {
    let bytes = ring.to_stored(clean).encode();
    write_private(&data_dir.join(ONION_KEYS_FILE), bytes.as_slice())
}

/// The announcements of the ring, encoded for the node record.
pub(super) fn announce(
    ring: &OnionKeyRing,
    identity: &Ed25519SigningKey,
) -> Result<Vec<u8>, NetError> {
    ring.announce_ed25519(identity)
        .map(|l| l.to_bytes())
        .map_err(|e| NetError::Identity(format!("cannot sign onion keys: {e}")))
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
            if self.take_token_for(peer, super::BucketKind::Onion).is_err() {
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

    /// A directory request: the signed records of the current members this node knows.
    pub(super) fn on_directory(
        &mut self,
        peer: PeerId,
        frame: Vec<u8>,
        channel: rr::ResponseChannel<Vec<u8>>,
    ) {
        let ctx = self.handle.ctx.clone();
        if DirectoryRequest::decode(&frame).is_err() {
            // Not answered: the stream is dropped, as for any undecodable onion frame.
            return;
        }
        if !self.members.contains(&peer)
            && self.take_token_for(peer, super::BucketKind::Onion).is_err()
        {
            bump(&ctx.onion.counters.rate_limited, 1);
            return;
        }
        bump(&ctx.onion.counters.directory_requests, 1);
        let mut records = Vec::new();
        if let Ok(own) = ctx.record().encode() {
            records.push(own);
        }
        if let Ok(dir) = ctx.onion.directory.lock() {
            for (p, rec) in dir.iter() {
                if self.members.contains(p)
                    && let Ok(b) = rec.encode()
                {
                    records.push(b);
                }
            }
        }
        let resp = DirectoryResponse { records }.encode();
        let _ = self
            .swarm
            .behaviour_mut()
            .directory
            .send_response(channel, resp);
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

    pub(super) fn on_directory_event(&mut self, e: rr::Event<Vec<u8>, Vec<u8>>) {
        if let rr::Event::Message {
            peer,
            message: rr::Message::Request {
                request, channel, ..
            },
            ..
        } = e
        {
            self.on_directory(peer, request, channel);
        }
    }
}

/// Peels one layer (on the blocking pool: it costs a KEM decapsulation) and acts on the result.
/// `permit` is the packet's in-flight slot, held until it is handled.
async fn process_packet(handle: &NetworkHandle, frame: Vec<u8>, permit: OwnedSemaphorePermit) {
    let ctx = handle.ctx.clone();
    let now = unix_secs();
    let processed = tokio::task::spawn_blocking(move || {
        ctx.onion
            .router
            .lock()
            .map(|mut r| r.process_bytes(&frame, now))
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

    /// The IDs and validity `(key_id, valid_from, valid_until)` of the node's onion keys.
    pub fn onion_key_ids(&self) -> Vec<(u32, u64, u64)> {
        self.ctx
            .onion
            .router
            .lock()
            .map(|r| r.keys().key_ids())
            .unwrap_or_default()
    }

    /// Runs a swarm request as an onion exit: served here if this node is in the mailbox's
    /// swarm (or the request names no mailbox), otherwise sent to the swarm's members in turn,
    /// following wrong-swarm answers and skipping unreachable members.
    pub async fn exit_request(&self, req: SwarmRequest) -> SwarmResponse {
        let Some(mailbox) = req.mailbox().copied() else {
            return Box::pin(serve(self, self.ctx.local, req)).await;
        };
        if self.swarm_of(&mailbox).contains(&self.ctx.local) {
            return Box::pin(serve(self, self.ctx.local, req)).await;
        }
        match self.swarm_request(&mailbox, &req).await {
            Ok((_, r)) => r,
            Err(e) => SwarmResponse::error(
                ErrorCode::Internal,
                0,
                format!("no swarm member answered: {e}"),
            ),
        }
    }

    /// Sends `req` to the members of `mailbox`'s swarm until one answers with something other
    /// than a wrong-swarm redirect (unreachable members are skipped); returns who answered and
    /// the answer.
    pub async fn swarm_request(
        &self,
        mailbox: &Mailbox,
        req: &SwarmRequest,
    ) -> Result<(PeerId, SwarmResponse), NetError> {
        let mut candidates = self.swarm_of(mailbox);
        let mut tried = HashSet::new();
        let mut last = String::from("the swarm is empty");
        while let Some(peer) = candidates.first().copied() {
            candidates.remove(0);
            if !tried.insert(peer) || tried.len() > 16 {
                continue;
            }
            match self.request(peer, req).await {
                Ok(SwarmResponse::WrongSwarm { swarm }) => {
                    let redirect: Vec<PeerId> = swarm
                        .iter()
                        .filter_map(|b| PeerId::from_bytes(b).ok())
                        .filter(|p| self.ctx.set.members().contains(p))
                        .collect();
                    candidates.splice(0..0, redirect);
                    last = "redirected".into();
                }
                Ok(r) => return Ok((peer, r)),
                Err(e) => last = e.to_string(),
            }
        }
        Err(NetError::NoSwarm(last))
    }
}

/// Rotates the onion keys on schedule; on every change re-signs and republishes the node record
/// and rewrites the key file.
pub(super) async fn onion_maintainer(handle: NetworkHandle) {
    let ctx = handle.ctx.clone();
    let mut stop = ctx.shutdown.subscribe();
    let mut tick = tokio::time::interval(ctx.cfg.onion_maintain_interval);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let now = unix_secs();
        let changed = {
            let (Ok(mut router), Ok(mut rng)) = (ctx.onion.router.lock(), ctx.onion.rng.lock())
            else {
                break;
            };
            router.keys_mut().maintain(now, &mut *rng)
        };
        if changed && let Err(e) = handle.republish_onion_keys() {
            tracing::warn!(error = %e, "could not republish onion keys");
        }
    }
}

impl NetworkHandle {
    /// Re-signs the node record with the current onion announcements, publishes it (local DHT
    /// store and a DHT put) and rewrites the key file.
    pub(super) fn republish_onion_keys(&self) -> Result<(), NetError> {
        let ctx = &self.ctx;
        let (keys, ring_file) = {
            let router = ctx
                .onion
                .router
                .lock()
                .map_err(|_| NetError::Identity("onion router poisoned".into()))?;
            (
                announce(router.keys(), &ctx.onion.identity)?,
                save_ring(&ctx.cfg.data_dir, router.keys(), false),
            )
        };
        ring_file?;
        let rec = sign_record(
            &ctx.key,
            &ctx.record_addrs,
            keys,
            &ctx.cfg.operator,
            crate::SOFTWARE,
            unix_ms(),
        )?;
        if let Ok(mut r) = ctx.record.write() {
            *r = rec;
        }
        bump(&ctx.onion.counters.key_rotations, 1);
        let _ = self.cmd.try_send(Command::PublishRecord);
        Ok(())
    }
}

/// Keeps the directory: fetches every other member's signed record (swarm `GetRecord`) on a
/// timer and on every set change, keeping verified records of members only.
pub(super) async fn directory_refresher(handle: NetworkHandle) {
    let h = &handle;
    super::every_tick_or_set_change(h, h.ctx.cfg.directory_refresh_interval, || {
        refresh_directory(h)
    })
    .await;
}

/// One directory round: every other member's record, fetched and verified.
async fn refresh_directory(handle: &NetworkHandle) {
    let ctx = &handle.ctx;
    let members = ctx.set.members();
    let peers: Vec<PeerId> = members
        .nodes
        .iter()
        .map(|n| n.peer_id)
        .filter(|p| *p != ctx.local)
        .collect();
    let fetched = libp2p::futures::future::join_all(peers.iter().map(|p| {
        let h = handle.clone();
        let p = *p;
        async move {
            match h.request(p, &SwarmRequest::GetRecord).await {
                Ok(SwarmResponse::Record { record }) => NodeRecord::decode(&record)
                    .ok()
                    .filter(|r| verify_record(r).is_ok_and(|q| q == p))
                    .map(|r| (p, r)),
                _ => None,
            }
        }
    }))
    .await;
    if let Ok(mut dir) = ctx.onion.directory.lock() {
        dir.retain(|p, _| members.contains(p));
        for (p, r) in fetched.into_iter().flatten() {
            let newer = dir
                .get(&p)
                .is_none_or(|old| old.issued_at_ms <= r.issued_at_ms);
            if newer {
                dir.insert(p, r);
            }
        }
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
