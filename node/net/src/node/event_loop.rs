//! The one task that owns the libp2p `Swarm`: inbound swarm requests (decoded, rate-limited and
//! handed to a task that runs the service), Kademlia, membership changes and the handle's
//! commands. It never waits on disk or on peers.

use super::behaviour::{Behaviour, BehaviourEvent};
use super::command::Command;
use super::handle::NetworkHandle;
use super::serve::serve;
use super::stats::bump;
use super::{onion_keys, records};
use crate::NetError;
use crate::identity::verify_record;
use crate::set::Membership;
use crate::swarm::{BucketKind, RateLimit, TokenBuckets};
use libp2p::futures::StreamExt;
use libp2p::kad::store::RecordStore;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, kad, request_response as rr};
use pars_wire::swarm::{ErrorCode, SwarmRequest, SwarmResponse};
use pars_wire::{NodeId, NodeRecord};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch};

pub(super) struct EventLoop {
    pub swarm: Swarm<Behaviour>,
    cmd_rx: mpsc::Receiver<Command>,
    pub handle: NetworkHandle,
    pending: crate::codec::Waiters<Vec<u8>>,
    lookups: HashMap<kad::QueryId, (PeerId, oneshot::Sender<Result<NodeRecord, NetError>>)>,
    buckets: TokenBuckets,
    listen_addrs: Vec<Multiaddr>,
    pub members: HashSet<PeerId>,
    /// Node ID → peer of the current members (onion next hops).
    pub member_ids: HashMap<NodeId, PeerId>,
    /// Node ID → peer of connected peers outside the set that sent onion packets: clients,
    /// whose replies this node delivers as their guard.
    pub clients: HashMap<NodeId, PeerId>,
}

impl EventLoop {
    pub fn new(
        swarm: Swarm<Behaviour>,
        cmd_rx: mpsc::Receiver<Command>,
        handle: NetworkHandle,
        listen_addrs: Vec<Multiaddr>,
    ) -> Self {
        Self {
            swarm,
            cmd_rx,
            handle,
            pending: HashMap::new(),
            lookups: HashMap::new(),
            buckets: TokenBuckets::new(),
            listen_addrs,
            members: HashSet::new(),
            member_ids: HashMap::new(),
            clients: HashMap::new(),
        }
    }

    pub async fn run(mut self, mut set_rx: watch::Receiver<Arc<Membership>>) {
        let mut set_open = true;
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_event(ev),
                cmd = self.cmd_rx.recv() => match cmd {
                    None => break,
                    Some(Command::Shutdown { reply }) => {
                        self.save_onion_keys_clean();
                        let _ = self.handle.ctx.shutdown.send_replace(true);
                        let _ = reply.send(());
                        break;
                    }
                    Some(c) => self.on_command(c),
                },
                changed = set_rx.changed(), if set_open => {
                    if changed.is_ok() {
                        let m = set_rx.borrow_and_update().clone();
                        self.apply_membership(&m);
                    } else {
                        set_open = false;
                    }
                }
            }
        }
        let _ = self.handle.ctx.shutdown.send_replace(true);
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(NetError::Stopped));
        }
    }

    pub fn apply_membership(&mut self, m: &Membership) {
        let new: HashSet<PeerId> = m.nodes.iter().map(|n| n.peer_id).collect();
        if let Ok(mut recent) = self.handle.ctx.recent.lock() {
            *recent = self.members.union(&new).copied().collect();
        }
        let local = self.handle.ctx.local;
        for gone in self.members.difference(&new) {
            self.swarm.behaviour_mut().kad.remove_peer(gone);
        }
        for n in &m.nodes {
            if n.peer_id == local {
                continue;
            }
            for a in &n.addrs {
                self.swarm.add_peer_address(n.peer_id, a.clone());
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&n.peer_id, a.clone());
            }
        }
        self.member_ids = m.nodes.iter().map(|n| (n.node_id(), n.peer_id)).collect();
        self.members = new;
        if self.members.iter().any(|p| *p != local) {
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
            self.publish_record();
        }
    }

    /// Writes the key ring with its replay caches (a clean shutdown: the next start reuses it).
    fn save_onion_keys_clean(&self) {
        let ctx = &self.handle.ctx;
        if let Ok(router) = ctx.onion.router.read()
            && let Err(e) = onion_keys::save_ring(&ctx.cfg.data_dir, router.keys(), true)
        {
            tracing::warn!(error = %e, "could not save the onion keys");
        }
    }

    /// Puts the current node record in the local DHT store and the network.
    fn publish_record(&mut self) {
        let local = self.handle.ctx.local;
        if let Ok(value) = self.handle.ctx.record().encode() {
            let _ = self
                .swarm
                .behaviour_mut()
                .kad
                .store_mut()
                .put(kad::Record::new(local.to_bytes(), value.clone()));
            if self.members.iter().any(|p| *p != local) {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .put_record(kad::Record::new(local.to_bytes(), value), kad::Quorum::One);
            }
        }
    }

    fn respond(&mut self, channel: rr::ResponseChannel<Vec<u8>>, frame: Vec<u8>) {
        // The channel is closed if the peer went away or timed out: nothing left to do.
        let _ = self
            .swarm
            .behaviour_mut()
            .swarm
            .send_response(channel, frame);
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Request { peer, frame, reply } => {
                // The set may have changed after the loop last applied it: take a member's
                // addresses from the set itself.
                let addrs = self
                    .handle
                    .ctx
                    .set
                    .members()
                    .get(&peer)
                    .map(|n| n.addrs.clone())
                    .unwrap_or_default();
                let id = self
                    .swarm
                    .behaviour_mut()
                    .swarm
                    .send_request_with_addresses(&peer, frame, addrs);
                self.pending.insert(id, reply);
            }
            Command::Respond { channel, frame } => self.respond(channel, frame),
            Command::AddAddress { peer, addr } => {
                self.swarm.add_peer_address(peer, addr);
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.listen_addrs.clone());
            }
            Command::ConnectedPeers { reply } => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::LookupRecord { peer, reply } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_record(kad::RecordKey::new(&peer.to_bytes()));
                self.lookups.insert(id, (peer, reply));
            }
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
            Command::OnionSend { next, frame } => self.onion_send(next, frame),
            Command::PublishRecord => self.publish_record(),
        }
    }

    /// The limit of a bucket kind.
    fn limit(&self, kind: BucketKind) -> RateLimit {
        let cfg = &self.handle.ctx.cfg;
        match kind {
            BucketKind::Client => cfg.rate_limit,
            BucketKind::Member => cfg.member_rate_limit,
            BucketKind::Onion => cfg.onion_rate_limit,
        }
    }

    /// Takes a token from `peer`'s bucket of this kind, or says how long to wait for one.
    pub fn take_token_for(&mut self, peer: PeerId, kind: BucketKind) -> Result<(), u32> {
        self.take_tokens_for(peer, kind, 1)
    }

    /// Takes `cost` tokens at once from `peer`'s bucket of this kind (a bulk onion packet costs
    /// as many as the standard packets it is worth), or says how long to wait for them.
    pub fn take_tokens_for(
        &mut self,
        peer: PeerId,
        kind: BucketKind,
        cost: u32,
    ) -> Result<(), u32> {
        let limit = self.limit(kind);
        self.buckets.take_n(peer, kind, limit, cost, Instant::now())
    }

    fn on_inbound(&mut self, peer: PeerId, frame: Vec<u8>, channel: rr::ResponseChannel<Vec<u8>>) {
        let ctx = self.handle.ctx.clone();
        bump(&ctx.counters.requests, 1);
        let req = match SwarmRequest::decode(&frame) {
            Ok(r) => r,
            Err(e) => {
                bump(&ctx.counters.malformed, 1);
                tracing::debug!(%peer, error = %e, "malformed swarm request");
                let resp = SwarmResponse::error(ErrorCode::Malformed, 0, e.to_string());
                self.respond(channel, resp.encode());
                return;
            }
        };
        let member = ctx.is_recent_member(&peer);
        let exempt = matches!(req, SwarmRequest::Replicate { .. }) && member;
        let kind = if member {
            BucketKind::Member
        } else {
            BucketKind::Client
        };
        if !exempt && let Err(wait_ms) = self.take_token_for(peer, kind) {
            bump(&ctx.counters.rate_limited, 1);
            let resp = self.limit(kind).refusal(wait_ms);
            self.respond(channel, resp.encode());
            return;
        }
        tokio::spawn(async move {
            let resp = serve(&ctx, peer, req).await;
            let _ = ctx
                .cmd
                .send(Command::Respond {
                    channel,
                    frame: resp.encode(),
                })
                .await;
        });
    }

    fn on_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::Behaviour(BehaviourEvent::Swarm(e)) => self.on_swarm_protocol(e),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => self.on_kad(e),
            SwarmEvent::Behaviour(BehaviourEvent::Onion(e)) => self.on_onion_event(e),
            SwarmEvent::Behaviour(BehaviourEvent::Directory(e)) => self.on_directory_event(e),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } if num_established.get() == 1 => self.on_member_connected(peer_id),
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.clients.remove(&crate::set::node_id(&peer_id));
            }
            SwarmEvent::NewListenAddr { address, .. } if !self.listen_addrs.contains(&address) => {
                self.listen_addrs.push(address);
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(%error, "incoming connection failed");
            }
            _ => {}
        }
    }

    /// A member connected (it may have restarted with fresh onion keys): its record is fetched
    /// at once, so the directory this node serves to its clients does not wait for the next
    /// round. Not rate-limited: one small request per connection, which costs the member a
    /// whole handshake to cause (and a restart right after the last fetch is exactly the case
    /// this is for).
    fn on_member_connected(&mut self, peer: PeerId) {
        if peer == self.handle.ctx.local || !self.members.contains(&peer) {
            return;
        }
        tokio::spawn(records::refresh_member(self.handle.clone(), peer));
    }

    fn on_swarm_protocol(&mut self, e: rr::Event<Vec<u8>, Vec<u8>>) {
        let rest = crate::codec::settle_outbound(&mut self.pending, e, |p| p.to_string(), |r| r);
        match rest {
            Some(rr::Event::Message {
                peer,
                message:
                    rr::Message::Request {
                        request, channel, ..
                    },
                ..
            }) => self.on_inbound(peer, request, channel),
            Some(rr::Event::InboundFailure { peer, error, .. }) => {
                bump(&self.handle.ctx.counters.inbound_failures, 1);
                tracing::debug!(%peer, %error, "inbound swarm stream failed");
            }
            _ => {}
        }
    }

    fn on_kad(&mut self, e: kad::Event) {
        match e {
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => {
                let valid = NodeRecord::decode(&record.value)
                    .map_err(NetError::from)
                    .and_then(|r| verify_record(&r))
                    .is_ok_and(|p| record.key.as_ref() == p.to_bytes().as_slice());
                if valid {
                    let _ = self.swarm.behaviour_mut().kad.store_mut().put(record);
                } else {
                    bump(&self.handle.ctx.counters.bad_records, 1);
                    tracing::debug!(%source, "refused an invalid node record");
                }
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetRecord(r),
                step,
                ..
            } => {
                let found = match r {
                    Ok(kad::GetRecordOk::FoundRecord(pr)) => Some(pr.record),
                    _ => None,
                };
                let Some((peer, _)) = self.lookups.get(&id) else {
                    return;
                };
                let peer = *peer;
                let verified = found.and_then(|rec| {
                    let r = NodeRecord::decode(&rec.value).ok()?;
                    (verify_record(&r).ok()? == peer).then_some(r)
                });
                if let Some(r) = verified {
                    if let Some((_, reply)) = self.lookups.remove(&id) {
                        let _ = reply.send(Ok(r));
                    }
                    if let Some(mut q) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                        q.finish();
                    }
                } else if step.last
                    && let Some((_, reply)) = self.lookups.remove(&id)
                {
                    let _ = reply.send(Err(NetError::NotFound));
                }
            }
            _ => {}
        }
    }
}
