//! The node: libp2p setup, the event loop, the handle, and the swarm protocol's service logic.

#[path = "hop.rs"]
pub(crate) mod hop;

pub use hop::{ONION_KEYS_FILE, OnionSeen, OnionStats};

use crate::codec::FrameCodec;
use crate::identity::{load_or_create_keypair, sign_record, verify_record};
use crate::set::{Membership, ServiceNodeSet};
use crate::{NetError, SOFTWARE};
use libp2p::futures::StreamExt;
use libp2p::kad::store::RecordStore;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, identify, kad, noise, ping, request_response as rr,
    tcp, yamux,
};
use pars_crypto::bundle::IdentityBundle;
use pars_crypto::mldsa::{MlDsaPublicKey, MlDsaSigningKey};
use pars_crypto::{CryptoRng, sha3_256};
use pars_onion::{KeySchedule, OnionRouter};
use pars_store::{MailboxStore, StoreConfig, StoreError};
use pars_wire::directory::{
    DIRECTORY_PROTOCOL, DIRECTORY_REQUEST_LEN, MAX_DIRECTORY_RESPONSE_LEN, ONION_PROTOCOL,
};
use pars_wire::onion::PACKET_LEN;
use pars_wire::swarm::{
    ContentHash, DEFAULT_TTL_MS, ErrorCode, MAX_FRAME_LEN, MAX_PAYLOAD_LEN, MAX_RETRIEVE_BYTES,
    MAX_RETRIEVE_COUNT, MIN_COPIES, Mailbox, MailboxItem, ReplicaItem, SWARM_PROTOCOL,
    SwarmRequest, SwarmResponse, sign_request,
};
use pars_wire::{NodeId, NodeRecord};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// The Kademlia protocol name of the Pars network (distinct from the public IPFS DHT).
pub const KAD_PROTOCOL: &str = "/pars/kad/1.0.0";
/// The identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/pars/id/1.0.0";
/// Commands waiting for the event loop.
const COMMAND_QUEUE: usize = 1024;
/// Default of [`NodeConfig::max_retrieve_wait`] (below the default 10 s request timeout).
pub const DEFAULT_MAX_RETRIEVE_WAIT: Duration = Duration::from_secs(8);
/// The retry hint of a [`ErrorCode::Busy`] refusal, milliseconds.
const BUSY_RETRY_MS: u32 = 1000;
/// Most items and bytes in one replicate request.
const REPLICA_BATCH_ITEMS: usize = 256;
const REPLICA_BATCH_BYTES: usize = 2 * 1024 * 1024;

/// The current time in Unix milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A per-peer token bucket: `burst` requests at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Bucket size.
    pub burst: u32,
    /// Refill rate.
    pub per_second: u32,
}

/// Node settings. [`NodeConfig::new`] gives production defaults.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Where the node key and the mailbox database live.
    pub data_dir: PathBuf,
    /// Listen addresses (TCP and/or QUIC).
    pub listen: Vec<Multiaddr>,
    /// Operator name put in the node record.
    pub operator: String,
    /// Per-message size cap (at most [`MAX_PAYLOAD_LEN`]).
    pub max_payload: usize,
    /// Mailbox store settings (size cap, batching).
    pub store: StoreConfig,
    /// Per-peer rate limit of swarm requests from peers outside the set (clients).
    pub rate_limit: RateLimit,
    /// Per-peer rate limit of swarm requests from set members (onion exits forwarding clients'
    /// requests, deletes forwarded to the swarm, record fetches); replication is exempt.
    pub member_rate_limit: RateLimit,
    /// Per-peer rate limit of onion packets and directory requests from peers outside the set
    /// (clients at their guard). Packets from members are not limited.
    pub onion_rate_limit: RateLimit,
    /// Onion key rotation schedule.
    pub onion_schedule: KeySchedule,
    /// How often the onion key ring is checked for rotation.
    pub onion_maintain_interval: Duration,
    /// How often the directory (other members' signed records) is refreshed.
    pub directory_refresh_interval: Duration,
    /// Timeout of one outbound request.
    pub request_timeout: Duration,
    /// How often expired messages are swept.
    pub sweep_interval: Duration,
    /// How often handoffs are retried (they also run on every set change).
    pub rebalance_interval: Duration,
    /// Accepted clock difference of owner authorisations (and replay-cache lifetime).
    pub auth_window: Duration,
    /// Longest this node holds a waiting retrieve (long-poll) before answering it empty. Keep
    /// it below `request_timeout`: an onion exit outside the mailbox's swarm forwards the
    /// request to a member and waits at most that long for the answer.
    pub max_retrieve_wait: Duration,
    /// Waiting retrieves held at once; more are refused with [`ErrorCode::Busy`].
    pub max_waiting_retrieves: usize,
}

impl NodeConfig {
    /// Defaults: listen on all interfaces with TCP and QUIC on ephemeral ports.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"]
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect(),
            operator: String::new(),
            max_payload: MAX_PAYLOAD_LEN,
            store: StoreConfig::default(),
            rate_limit: RateLimit {
                burst: 500,
                per_second: 200,
            },
            member_rate_limit: RateLimit {
                burst: 20_000,
                per_second: 10_000,
            },
            onion_rate_limit: RateLimit {
                burst: 200,
                per_second: 50,
            },
            onion_schedule: KeySchedule::default(),
            onion_maintain_interval: Duration::from_secs(60),
            directory_refresh_interval: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            sweep_interval: Duration::from_secs(60),
            rebalance_interval: Duration::from_secs(300),
            auth_window: Duration::from_secs(300),
            max_retrieve_wait: DEFAULT_MAX_RETRIEVE_WAIT,
            max_waiting_retrieves: 1024,
        }
    }
}

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
struct Counters {
    requests: AtomicU64,
    malformed: AtomicU64,
    inbound_failures: AtomicU64,
    rate_limited: AtomicU64,
    replicas_accepted: AtomicU64,
    handed_off: AtomicU64,
    bad_records: AtomicU64,
    waits_refused: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// What a successful store reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreReceipt {
    /// The swarm member that took the store.
    pub node: PeerId,
    /// The content hash.
    pub hash: ContentHash,
    /// Members holding it.
    pub copies: u8,
    /// Expiry, Unix milliseconds.
    pub expires_at_ms: u64,
    /// Whether the member already had it.
    pub duplicate: bool,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    swarm: rr::Behaviour<FrameCodec>,
    onion: rr::Behaviour<FrameCodec>,
    directory: rr::Behaviour<FrameCodec>,
}

enum Command {
    Request {
        peer: PeerId,
        frame: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    Respond {
        channel: rr::ResponseChannel<Vec<u8>>,
        frame: Vec<u8>,
    },
    AddAddress {
        peer: PeerId,
        addr: Multiaddr,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    ConnectedPeers {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    LookupRecord {
        peer: PeerId,
        reply: oneshot::Sender<Result<NodeRecord, NetError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    /// Send an onion packet to the node (or connected client) with this node ID.
    OnionSend {
        next: NodeId,
        frame: Vec<u8>,
    },
    /// The node record changed: put it in the DHT.
    PublishRecord,
}

/// Used authorisations: (owner digest, nonce) → when the entry may be forgotten (Unix ms).
type ReplayCache = HashMap<([u8; 32], [u8; 16]), u64>;

/// State shared by the loop, the handle and the request tasks.
struct Ctx {
    local: PeerId,
    cfg: NodeConfig,
    store: MailboxStore,
    set: Arc<dyn ServiceNodeSet>,
    /// Members of the current and the previous set (replication and handoff are accepted from
    /// both, so a leaving node can hand off).
    recent: Mutex<HashSet<PeerId>>,
    record: RwLock<NodeRecord>,
    /// The node key (re-signs the record when the onion keys change).
    key: libp2p::identity::Keypair,
    /// The addresses put in the record.
    record_addrs: Vec<Multiaddr>,
    onion: hop::OnionState,
    codec: FrameCodec,
    replay: Mutex<ReplayCache>,
    counters: Counters,
    /// Mailboxes with waiting retrieves: woken when a message for them is stored here.
    arrivals: Mutex<HashMap<Mailbox, Arc<Notify>>>,
    /// Waiting retrieves held now.
    waiting: AtomicUsize,
    /// The membership the last rebalance round saw.
    rebalance: tokio::sync::Mutex<Arc<Membership>>,
    shutdown: watch::Sender<bool>,
}

/// A cloneable handle to a running node. Every method talks to the event loop over a bounded
/// channel; none blocks it.
#[derive(Clone)]
pub struct NetworkHandle {
    cmd: mpsc::Sender<Command>,
    ctx: Arc<Ctx>,
}

impl std::fmt::Debug for NetworkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkHandle")
            .field("peer_id", &self.ctx.local)
            .finish()
    }
}

fn setup(e: impl std::fmt::Display) -> NetError {
    NetError::Setup(e.to_string())
}

/// Starts a service node: loads (or creates) its key in `config.data_dir`, opens its mailbox
/// store, listens, signs its node record, and spawns the event loop, the sweeper and the
/// rebalancer on the current tokio runtime.
pub async fn start(
    config: NodeConfig,
    set: Arc<dyn ServiceNodeSet>,
) -> Result<NetworkHandle, NetError> {
    let key = load_or_create_keypair(&config.data_dir)?;
    let local = key.public().to_peer_id();
    let store = MailboxStore::open(config.data_dir.join("mailbox.redb"), config.store.clone())?;

    let swarm_protocol = StreamProtocol::new(SWARM_PROTOCOL);
    let kad_protocol = StreamProtocol::new(KAD_PROTOCOL);
    let request_timeout = config.request_timeout;
    let swarm_codec = FrameCodec::new(MAX_FRAME_LEN, MAX_FRAME_LEN);
    // Onion frames are one packet; the answer is an empty acknowledgement.
    let onion_codec = FrameCodec::new(PACKET_LEN, 0);
    let directory_codec = FrameCodec::new(DIRECTORY_REQUEST_LEN, MAX_DIRECTORY_RESPONSE_LEN);
    let mut rng = hop::os_seeded_rng()?;
    let identity = hop::ed25519_identity(&key)?;
    let ring = hop::load_ring(
        &config.data_dir,
        crate::set::node_id(&local),
        config.onion_schedule,
        hop::unix_secs(),
        &mut rng,
    )?;
    let onion_keys = hop::announce(&ring, &identity)?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(setup)?
        .with_quic()
        .with_behaviour(|k| {
            let mut kcfg = kad::Config::new(kad_protocol);
            kcfg.set_kbucket_inserts(kad::BucketInserts::Manual)
                .set_record_filtering(kad::StoreInserts::FilterBoth)
                .set_query_timeout(Duration::from_secs(30));
            Behaviour {
                identify: identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_PROTOCOL.into(), k.public())
                        .with_agent_version(SOFTWARE.into()),
                ),
                ping: ping::Behaviour::default(),
                kad: kad::Behaviour::with_config(local, kad::store::MemoryStore::new(local), kcfg),
                swarm: rr::Behaviour::with_codec(
                    swarm_codec.clone(),
                    [(swarm_protocol, rr::ProtocolSupport::Full)],
                    rr::Config::default()
                        .with_request_timeout(request_timeout)
                        .with_max_concurrent_streams(1024),
                ),
                onion: rr::Behaviour::with_codec(
                    onion_codec.clone(),
                    [(
                        StreamProtocol::new(ONION_PROTOCOL),
                        rr::ProtocolSupport::Full,
                    )],
                    rr::Config::default()
                        .with_request_timeout(request_timeout)
                        .with_max_concurrent_streams(1024),
                ),
                directory: rr::Behaviour::with_codec(
                    directory_codec,
                    [(
                        StreamProtocol::new(DIRECTORY_PROTOCOL),
                        rr::ProtocolSupport::Full,
                    )],
                    rr::Config::default()
                        .with_request_timeout(request_timeout)
                        .with_max_concurrent_streams(64),
                ),
            }
        })
        .map_err(setup)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();
    swarm.behaviour_mut().kad.set_mode(Some(kad::Mode::Server));

    for addr in &config.listen {
        swarm.listen_on(addr.clone()).map_err(setup)?;
    }
    let mut listen_addrs = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while listen_addrs.len() < config.listen.len() {
        match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
            Ok(SwarmEvent::NewListenAddr { address, .. }) => listen_addrs.push(address),
            Ok(SwarmEvent::ListenerError { error, .. }) => return Err(setup(error)),
            Ok(SwarmEvent::ListenerClosed { reason, .. }) => {
                return Err(setup(format!("listener closed: {reason:?}")));
            }
            Ok(_) => {}
            Err(_) => return Err(setup("timed out waiting for listen addresses")),
        }
    }

    let record = sign_record(
        &key,
        &listen_addrs,
        onion_keys,
        &config.operator,
        SOFTWARE,
        unix_ms(),
    )?;
    let encoded = record.encode()?;
    let _ = swarm
        .behaviour_mut()
        .kad
        .store_mut()
        .put(kad::Record::new(local.to_bytes(), encoded));

    let set_rx = set.watch();
    let initial = set_rx.borrow().clone();
    let (shutdown, _) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        local,
        cfg: config,
        store,
        set,
        recent: Mutex::new(initial.nodes.iter().map(|n| n.peer_id).collect()),
        record: RwLock::new(record),
        key,
        record_addrs: listen_addrs.clone(),
        onion: hop::OnionState {
            router: Mutex::new(OnionRouter::new(ring)),
            identity,
            rng: Mutex::new(rng),
            counters: hop::OnionCounters::default(),
            seen: Mutex::new(OnionSeen::default()),
            directory: Mutex::new(HashMap::new()),
            inflight: Arc::new(tokio::sync::Semaphore::new(hop::MAX_INFLIGHT_PACKETS)),
            codec: onion_codec,
        },
        codec: swarm_codec,
        replay: Mutex::new(HashMap::new()),
        counters: Counters::default(),
        arrivals: Mutex::new(HashMap::new()),
        waiting: AtomicUsize::new(0),
        rebalance: tokio::sync::Mutex::new(initial.clone()),
        shutdown,
    });
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let handle = NetworkHandle { cmd: cmd_tx, ctx };

    let mut el = EventLoop {
        swarm,
        cmd_rx,
        handle: handle.clone(),
        pending: HashMap::new(),
        lookups: HashMap::new(),
        buckets: HashMap::new(),
        listen_addrs,
        members: HashSet::new(),
        member_ids: HashMap::new(),
        clients: HashMap::new(),
    };
    el.apply_membership(&initial);
    tokio::spawn(el.run(set_rx));
    tokio::spawn(sweeper(handle.clone()));
    tokio::spawn(rebalancer(handle.clone()));
    tokio::spawn(hop::onion_maintainer(handle.clone()));
    tokio::spawn(hop::directory_refresher(handle.clone()));
    Ok(handle)
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    cmd_rx: mpsc::Receiver<Command>,
    handle: NetworkHandle,
    pending: crate::codec::Waiters<Vec<u8>>,
    lookups: HashMap<kad::QueryId, (PeerId, oneshot::Sender<Result<NodeRecord, NetError>>)>,
    buckets: HashMap<(BucketKind, PeerId), Bucket>,
    listen_addrs: Vec<Multiaddr>,
    members: HashSet<PeerId>,
    /// Node ID → peer of the current members (onion next hops).
    member_ids: HashMap<NodeId, PeerId>,
    /// Node ID → peer of connected peers outside the set that sent onion packets: clients,
    /// whose replies this node delivers as their guard.
    clients: HashMap<NodeId, PeerId>,
}

/// Which token bucket a request draws from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum BucketKind {
    /// Swarm requests from peers outside the set.
    Client,
    /// Swarm requests from members.
    Member,
    /// Onion packets and directory requests from peers outside the set.
    Onion,
}

impl EventLoop {
    async fn run(mut self, mut set_rx: watch::Receiver<Arc<Membership>>) {
        let mut set_open = true;
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_event(ev),
                cmd = self.cmd_rx.recv() => match cmd {
                    None => break,
                    Some(Command::Shutdown { reply }) => {
                        self.save_onion_keys_clean();
                        let _ = self.handle.ctx.shutdown.send(true);
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
        let _ = self.handle.ctx.shutdown.send(true);
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(NetError::Stopped));
        }
    }

    fn apply_membership(&mut self, m: &Membership) {
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
        if let Ok(router) = ctx.onion.router.lock()
            && let Err(e) = hop::save_ring(&ctx.cfg.data_dir, router.keys(), true)
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

    /// Takes a token from `peer`'s bucket of this kind, or says how long to wait for one.
    fn take_token_for(&mut self, peer: PeerId, kind: BucketKind) -> Result<(), u32> {
        let cfg = &self.handle.ctx.cfg;
        let RateLimit { burst, per_second } = match kind {
            BucketKind::Client => cfg.rate_limit,
            BucketKind::Member => cfg.member_rate_limit,
            BucketKind::Onion => cfg.onion_rate_limit,
        };
        let now = Instant::now();
        if self.buckets.len() > 100_000 {
            // Forget idle peers (a full bucket is the same as no bucket).
            self.buckets
                .retain(|_, b| now.duration_since(b.last) < Duration::from_secs(600));
        }
        let b = self.buckets.entry((kind, peer)).or_insert(Bucket {
            tokens: f64::from(burst),
            last: now,
        });
        let rate = f64::from(per_second.max(1));
        b.tokens =
            (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(f64::from(burst));
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - b.tokens) / rate) * 1000.0).ceil() as u32)
        }
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
            let RateLimit { burst, per_second } = if member {
                ctx.cfg.member_rate_limit
            } else {
                ctx.cfg.rate_limit
            };
            let resp = SwarmResponse::error(
                ErrorCode::RateLimited,
                wait_ms,
                format!(
                    "rate limited: at most {per_second} requests/s per peer (bursts of {burst}); \
                     retry after {wait_ms} ms"
                ),
            );
            self.respond(channel, resp.encode());
            return;
        }
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let resp = serve(&handle, peer, req).await;
            let _ = handle
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

impl Ctx {
    fn record(&self) -> NodeRecord {
        match self.record.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn is_recent_member(&self, peer: &PeerId) -> bool {
        self.recent
            .lock()
            .map(|r| r.contains(peer))
            .unwrap_or(false)
    }

    fn stats(&self) -> NodeStats {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NodeStats {
            requests: g(&c.requests),
            malformed: g(&c.malformed),
            bad_frames: self.codec.rejected(),
            inbound_failures: g(&c.inbound_failures),
            rate_limited: g(&c.rate_limited),
            replicas_accepted: g(&c.replicas_accepted),
            waiting_retrieves: self.waiting.load(Ordering::Relaxed) as u64,
            waits_refused: g(&c.waits_refused),
            handed_off: g(&c.handed_off),
            bad_records: g(&c.bad_records),
        }
    }

    /// Checks the owner's authorisation of `req` for `mailbox`.
    fn authorize(&self, mailbox: &Mailbox, req: &SwarmRequest) -> Result<(), SwarmResponse> {
        let unauthorized = |why: &str| SwarmResponse::error(ErrorCode::Unauthorized, 0, why);
        let Some(owner) = mailbox.owner_digest() else {
            return Err(SwarmResponse::error(
                ErrorCode::Forbidden,
                0,
                "this namespace has no owner: its messages only expire",
            ));
        };
        let Some(auth) = req.auth() else {
            return Err(unauthorized(
                "this operation needs the mailbox owner's signature (OwnerAuth)",
            ));
        };
        let now = unix_ms();
        let window = self.cfg.auth_window.as_millis() as u64;
        if auth.timestamp_ms.abs_diff(now) > window {
            return Err(unauthorized(
                "authorisation timestamp is outside the node's window; check the clock",
            ));
        }
        let key: MlDsaPublicKey = match &auth.public_key {
            Some(k) => k.clone(),
            None => self.owner_key_from_bundle(mailbox).ok_or_else(|| {
                unauthorized("no public key in the request and no bundle of the owner here")
            })?,
        };
        if sha3_256(&[key.as_bytes()]) != owner {
            return Err(unauthorized("the key is not the mailbox owner's"));
        }
        if auth.verify(&key, req).is_err() {
            return Err(unauthorized("owner signature does not verify"));
        }
        let mut replay = self
            .replay
            .lock()
            .map_err(|_| SwarmResponse::error(ErrorCode::Internal, 0, "replay cache poisoned"))?;
        if replay.len() > 100_000 {
            replay.retain(|_, exp| *exp > now);
        }
        let slot = (owner, auth.nonce);
        if replay.get(&slot).is_some_and(|exp| *exp > now) {
            return Err(SwarmResponse::error(
                ErrorCode::Replay,
                0,
                "this authorisation was already used; sign a fresh request",
            ));
        }
        replay.insert(
            slot,
            auth.timestamp_ms.saturating_add(window).max(now + window),
        );
        Ok(())
    }

    fn owner_key_from_bundle(&self, mailbox: &Mailbox) -> Option<MlDsaPublicKey> {
        let sid = match mailbox {
            Mailbox::Inbox(s) | Mailbox::Bundle(s) => *s,
            _ => return None,
        };
        let page = self
            .store
            .get_since(&Mailbox::Bundle(sid), 0, 1, usize::MAX, unix_ms())
            .ok()?;
        let bundle = IdentityBundle::from_bytes(&page.items.first()?.payload).ok()?;
        (bundle.session_id() == sid).then(|| bundle.keys.mldsa.clone())
    }

    fn wrong_swarm(&self, mailbox: &Mailbox) -> Option<SwarmResponse> {
        let swarm = self.set.members().swarm_for(&mailbox.location());
        if swarm.contains(&self.local) {
            None
        } else {
            Some(SwarmResponse::WrongSwarm {
                swarm: swarm.iter().map(|p| p.to_bytes()).collect(),
            })
        }
    }
}

/// A retrieve's answer from a page of the store.
fn messages(page: Result<pars_store::Page, StoreError>) -> SwarmResponse {
    match page {
        Ok(page) => SwarmResponse::Messages {
            items: page
                .items
                .into_iter()
                .map(|m| MailboxItem {
                    seq: m.seq,
                    hash: m.hash,
                    expires_at_ms: m.expires_at_ms,
                    payload: m.payload,
                })
                .collect(),
            more: page.more,
        },
        Err(e) => store_error(e),
    }
}

/// One held waiting retrieve: counted while it lives, its mailbox's wake-up registered.
struct WaitSlot<'a> {
    ctx: &'a Ctx,
    mailbox: Mailbox,
    notify: Arc<Notify>,
}

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        self.ctx.waiting.fetch_sub(1, Ordering::Relaxed);
        if let Ok(mut a) = self.ctx.arrivals.lock()
            // The map's reference and this one: no other waiter on this mailbox.
            && Arc::strong_count(&self.notify) <= 2
            && a.get(&self.mailbox).is_some_and(|n| Arc::ptr_eq(n, &self.notify))
        {
            a.remove(&self.mailbox);
        }
    }
}

impl Ctx {
    /// Takes a waiting-retrieve slot for `mailbox`, or `None` when as many as allowed are held.
    fn hold(&self, mailbox: &Mailbox) -> Option<WaitSlot<'_>> {
        let max = self.cfg.max_waiting_retrieves;
        self.waiting
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        let notify = match self.arrivals.lock() {
            Ok(mut a) => a.entry(*mailbox).or_default().clone(),
            Err(_) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                return None;
            }
        };
        Some(WaitSlot {
            ctx: self,
            mailbox: *mailbox,
            notify,
        })
    }

    /// A message for `mailbox` was stored here: wake its waiting retrieves.
    fn arrived(&self, mailbox: &Mailbox) {
        if let Ok(a) = self.arrivals.lock()
            && let Some(n) = a.get(mailbox)
        {
            n.notify_waiters();
        }
    }
}

fn store_error(e: StoreError) -> SwarmResponse {
    match e {
        StoreError::Full { cap, .. } => SwarmResponse::error(
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

/// The service logic of one request.
async fn serve(handle: &NetworkHandle, peer: PeerId, req: SwarmRequest) -> SwarmResponse {
    let ctx = &handle.ctx;
    let now = unix_ms();
    match req {
        SwarmRequest::GetRecord => match ctx.record().encode() {
            Ok(record) => SwarmResponse::Record { record },
            Err(e) => SwarmResponse::error(ErrorCode::Internal, 0, e.to_string()),
        },
        SwarmRequest::Store {
            mailbox,
            ttl_ms,
            payload,
        } => {
            if let Some(w) = ctx.wrong_swarm(&mailbox) {
                return w;
            }
            if payload.len() > ctx.cfg.max_payload {
                return SwarmResponse::error(
                    ErrorCode::TooLarge,
                    u32::try_from(ctx.cfg.max_payload).unwrap_or(u32::MAX),
                    format!(
                        "message is {} bytes; this node accepts at most {}",
                        payload.len(),
                        ctx.cfg.max_payload
                    ),
                );
            }
            let ttl = if ttl_ms == 0 { DEFAULT_TTL_MS } else { ttl_ms };
            if ttl > pars_wire::swarm::MAX_TTL_MS {
                return SwarmResponse::error(
                    ErrorCode::BadTtl,
                    (pars_wire::swarm::MAX_TTL_MS / 1000) as u32,
                    "TTL is above the 30-day maximum",
                );
            }
            if let Mailbox::Bundle(sid) = mailbox {
                let ok = IdentityBundle::from_bytes(&payload)
                    .is_ok_and(|b| b.verify(&sid, now / 1000).is_ok());
                if !ok {
                    return SwarmResponse::error(
                        ErrorCode::InvalidContent,
                        0,
                        "not a valid identity bundle of this Session ID",
                    );
                }
            }
            let expires = now.saturating_add(ttl);
            let out = match ctx
                .store
                .put(&mailbox, expires, payload.clone(), mailbox.single_slot())
                .await
            {
                Ok(o) => o,
                Err(e) => return store_error(e),
            };
            if !out.duplicate {
                ctx.arrived(&mailbox);
            }
            let swarm = ctx.set.members().swarm_for(&mailbox.location());
            let item = ReplicaItem {
                mailbox,
                expires_at_ms: out.expires_at_ms,
                payload,
            };
            let others: Vec<PeerId> = swarm.iter().filter(|p| **p != ctx.local).copied().collect();
            let acks = libp2p::futures::future::join_all(
                others
                    .iter()
                    .map(|p| handle.replicate(*p, vec![item.clone()])),
            )
            .await;
            let copies = 1 + acks.iter().filter(|a| **a).count();
            let need = MIN_COPIES.min(swarm.len());
            if copies >= need {
                SwarmResponse::Stored {
                    hash: out.hash,
                    copies: copies as u8,
                    expires_at_ms: out.expires_at_ms,
                    duplicate: out.duplicate,
                }
            } else {
                SwarmResponse::error(
                    ErrorCode::InsufficientCopies,
                    copies as u32,
                    format!("only {copies} of the swarm's members hold the message; need {need}"),
                )
            }
        }
        SwarmRequest::Replicate { items } => {
            if !ctx.is_recent_member(&peer) {
                return SwarmResponse::error(
                    ErrorCode::NotMember,
                    0,
                    "replication is accepted only from service-set members",
                );
            }
            let members = ctx.set.members();
            let max_expiry = now.saturating_add(pars_wire::swarm::MAX_TTL_MS);
            let mut held = 0u32;
            for item in items {
                let ours = members
                    .swarm_for(&item.mailbox.location())
                    .contains(&ctx.local);
                if !ours
                    || item.expires_at_ms <= now
                    || item.expires_at_ms > max_expiry
                    || item.payload.len() > ctx.cfg.max_payload
                {
                    continue;
                }
                match ctx
                    .store
                    .put(
                        &item.mailbox,
                        item.expires_at_ms,
                        item.payload,
                        item.mailbox.single_slot(),
                    )
                    .await
                {
                    Ok(o) => {
                        if !o.duplicate {
                            bump(&ctx.counters.replicas_accepted, 1);
                            ctx.arrived(&item.mailbox);
                        }
                        held += 1;
                    }
                    Err(e) => return store_error(e),
                }
            }
            SwarmResponse::Done { count: held }
        }
        ref r @ SwarmRequest::Retrieve {
            mailbox,
            after,
            max_count,
            max_bytes,
            wait_ms,
            ..
        } => {
            if let Some(w) = ctx.wrong_swarm(&mailbox) {
                return w;
            }
            if mailbox.owner_retrieves()
                && let Err(resp) = ctx.authorize(&mailbox, r)
            {
                return resp;
            }
            let page = || {
                ctx.store.get_since(
                    &mailbox,
                    after,
                    usize::from(max_count.min(MAX_RETRIEVE_COUNT)),
                    max_bytes.min(MAX_RETRIEVE_BYTES) as usize,
                    unix_ms(),
                )
            };
            let first = page();
            if wait_ms == 0 || !first.as_ref().is_ok_and(|p| p.items.is_empty()) {
                return messages(first);
            }
            // A long-poll on an empty mailbox: hold it until a message arrives here (a store
            // or a replica), the wait ends, or the node stops.
            let Some(slot) = ctx.hold(&mailbox) else {
                bump(&ctx.counters.waits_refused, 1);
                return SwarmResponse::error(
                    ErrorCode::Busy,
                    BUSY_RETRY_MS,
                    format!(
                        "this node holds {} waiting retrieves already; retry after {BUSY_RETRY_MS} \
                         ms or retrieve without waiting",
                        ctx.cfg.max_waiting_retrieves
                    ),
                );
            };
            {
                let arrived = slot.notify.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                // Registered before this second look: a store between the two is not missed.
                let second = page();
                if !second.as_ref().is_ok_and(|p| p.items.is_empty()) {
                    return messages(second);
                }
                let wait = Duration::from_millis(u64::from(wait_ms)).min(ctx.cfg.max_retrieve_wait);
                let mut stop = ctx.shutdown.subscribe();
                if !*stop.borrow_and_update() {
                    tokio::select! {
                        _ = arrived => {}
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
            drop(slot);
            messages(page())
        }
        ref r @ (SwarmRequest::Delete { mailbox, .. } | SwarmRequest::Expire { mailbox, .. }) => {
            if let Some(w) = ctx.wrong_swarm(&mailbox) {
                return w;
            }
            if let Err(resp) = ctx.authorize(&mailbox, r) {
                return resp;
            }
            let (result, forwarded) = match r.clone() {
                SwarmRequest::Delete {
                    hashes, forwarded, ..
                } => (ctx.store.delete(&mailbox, hashes).await, forwarded),
                SwarmRequest::Expire {
                    hashes,
                    expires_at_ms,
                    forwarded,
                    ..
                } => {
                    if expires_at_ms > now.saturating_add(pars_wire::swarm::MAX_TTL_MS) {
                        return SwarmResponse::error(
                            ErrorCode::BadTtl,
                            (pars_wire::swarm::MAX_TTL_MS / 1000) as u32,
                            "expiry is more than 30 days away",
                        );
                    }
                    (
                        ctx.store.set_expiry(&mailbox, hashes, expires_at_ms).await,
                        forwarded,
                    )
                }
                _ => return SwarmResponse::error(ErrorCode::Internal, 0, "unreachable request"),
            };
            let count = match result {
                Ok(c) => c,
                Err(e) => return store_error(e),
            };
            if !forwarded {
                let mut fwd = r.clone();
                if let SwarmRequest::Delete { forwarded, .. }
                | SwarmRequest::Expire { forwarded, .. } = &mut fwd
                {
                    *forwarded = true;
                }
                let swarm = ctx.set.members().swarm_for(&mailbox.location());
                let _ = libp2p::futures::future::join_all(
                    swarm
                        .iter()
                        .filter(|p| **p != ctx.local)
                        .map(|p| handle.request(*p, &fwd)),
                )
                .await;
            }
            SwarmResponse::Done { count }
        }
    }
}

async fn sweeper(handle: NetworkHandle) {
    let mut stop = handle.ctx.shutdown.subscribe();
    let mut tick = tokio::time::interval(handle.ctx.cfg.sweep_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = handle.ctx.store.sweep(unix_ms()).await {
                    tracing::warn!(error = %e, "TTL sweep failed");
                }
            }
            _ = stop.changed() => break,
        }
    }
}

async fn rebalancer(handle: NetworkHandle) {
    let h = &handle;
    every_tick_or_set_change(h, h.ctx.cfg.rebalance_interval, || async move {
        if let Err(e) = h.rebalance().await {
            tracing::warn!(error = %e, "rebalance round failed");
        }
    })
    .await;
}

/// Runs `round` at every tick of `interval` (the first at once) and after every change of the
/// service-node set, until the node stops.
pub(super) async fn every_tick_or_set_change<F, Fut>(
    handle: &NetworkHandle,
    interval: Duration,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut stop = handle.ctx.shutdown.subscribe();
    let mut set_rx = handle.ctx.set.watch();
    let mut tick = tokio::time::interval(interval);
    let mut set_open = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = set_rx.changed(), if set_open => {
                if changed.is_err() { set_open = false; }
                set_rx.borrow_and_update();
            }
            _ = stop.changed() => break,
        }
        round().await;
    }
}

/// Splits replica items into request-sized batches.
fn batches(items: Vec<ReplicaItem>) -> Vec<Vec<ReplicaItem>> {
    let mut out = Vec::new();
    let mut cur: Vec<ReplicaItem> = Vec::new();
    let mut bytes = 0;
    for it in items {
        if !cur.is_empty()
            && (cur.len() >= REPLICA_BATCH_ITEMS || bytes + it.payload.len() > REPLICA_BATCH_BYTES)
        {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += it.payload.len();
        cur.push(it);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl NetworkHandle {
    /// This node's peer ID.
    pub fn peer_id(&self) -> PeerId {
        self.ctx.local
    }

    /// This node's signed record (re-signed whenever its onion keys change).
    pub fn record(&self) -> NodeRecord {
        self.ctx.record()
    }

    /// The node's mailbox store (for inspection and the daemon's own use).
    pub fn mailbox_store(&self) -> &MailboxStore {
        &self.ctx.store
    }

    /// Counters.
    pub fn stats(&self) -> NodeStats {
        self.ctx.stats()
    }

    /// The swarm of a mailbox under the current membership.
    pub fn swarm_of(&self, mailbox: &Mailbox) -> Vec<PeerId> {
        self.ctx.set.members().swarm_for(&mailbox.location())
    }

    async fn command<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(make(tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// The addresses the node listens on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.command(|reply| Command::ListenAddrs { reply }).await
    }

    /// Peers with an open connection.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NetError> {
        self.command(|reply| Command::ConnectedPeers { reply })
            .await
    }

    /// Teaches the node an address of a peer outside the set (members' come from the set).
    pub async fn add_peer_address(&self, peer: PeerId, addr: Multiaddr) -> Result<(), NetError> {
        self.cmd
            .send(Command::AddAddress { peer, addr })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Sends one swarm-protocol request and decodes the answer.
    pub async fn request(
        &self,
        peer: PeerId,
        req: &SwarmRequest,
    ) -> Result<SwarmResponse, NetError> {
        if peer == self.ctx.local {
            // libp2p does not dial itself: a node that is in the swarm serves its own request,
            // after the same decoding a remote request gets.
            return Ok(match SwarmRequest::decode(&req.encode()) {
                Ok(req) => Box::pin(serve(self, peer, req)).await,
                Err(e) => SwarmResponse::error(ErrorCode::Malformed, 0, e.to_string()),
            });
        }
        self.request_raw(peer, req.encode())
            .await
            .and_then(|b| Ok(SwarmResponse::decode(&b)?))
    }

    /// Sends raw frame bytes on the swarm protocol (the answer is returned undecoded).
    pub async fn request_raw(&self, peer: PeerId, frame: Vec<u8>) -> Result<Vec<u8>, NetError> {
        self.command(|reply| Command::Request { peer, frame, reply })
            .await?
    }

    /// Copies items to `peer`; true if it acknowledged holding all of them.
    async fn replicate(&self, peer: PeerId, items: Vec<ReplicaItem>) -> bool {
        let n = items.len();
        matches!(
            self.request(peer, &SwarmRequest::Replicate { items }).await,
            Ok(SwarmResponse::Done { count }) if count as usize == n
        )
    }

    /// Looks a node record up in the DHT and verifies it.
    pub async fn lookup_record(&self, peer: PeerId) -> Result<NodeRecord, NetError> {
        self.command(|reply| Command::LookupRecord { peer, reply })
            .await?
    }

    /// Stores a message in its swarm through one of the members (following wrong-swarm answers
    /// and skipping unreachable members). The member replicates it.
    pub async fn store_message(
        &self,
        mailbox: &Mailbox,
        ttl_ms: u64,
        payload: Vec<u8>,
    ) -> Result<StoreReceipt, NetError> {
        let req = SwarmRequest::Store {
            mailbox: *mailbox,
            ttl_ms,
            payload,
        };
        match self.swarm_request(mailbox, &req).await? {
            (
                node,
                SwarmResponse::Stored {
                    hash,
                    copies,
                    expires_at_ms,
                    duplicate,
                },
            ) => Ok(StoreReceipt {
                node,
                hash,
                copies,
                expires_at_ms,
                duplicate,
            }),
            (
                _,
                SwarmResponse::Error {
                    code,
                    value,
                    detail,
                },
            ) => Err(NetError::Refused {
                code,
                value,
                detail,
            }),
            (_, other) => Err(NetError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Retrieves one page from one member, signing as the owner when `key` is given.
    pub async fn retrieve_page(
        &self,
        peer: PeerId,
        mailbox: &Mailbox,
        after: u64,
        key: Option<&MlDsaSigningKey>,
        rng: &mut impl CryptoRng,
    ) -> Result<(Vec<MailboxItem>, bool), NetError> {
        let mut req = SwarmRequest::Retrieve {
            mailbox: *mailbox,
            after,
            max_count: MAX_RETRIEVE_COUNT,
            max_bytes: MAX_RETRIEVE_BYTES,
            wait_ms: 0,
            auth: None,
        };
        if let Some(k) = key {
            sign_request(&mut req, k, unix_ms(), true, rng)
                .map_err(|e| NetError::Identity(e.to_string()))?;
        }
        match self.request(peer, &req).await? {
            SwarmResponse::Messages { items, more } => Ok((items, more)),
            SwarmResponse::Error {
                code,
                value,
                detail,
            } => Err(NetError::Refused {
                code,
                value,
                detail,
            }),
            other => Err(NetError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Retrieves everything in a mailbox from every reachable swarm member and merges it,
    /// each message once (by content hash). Cursors are per member.
    pub async fn retrieve_all(
        &self,
        mailbox: &Mailbox,
        key: Option<&MlDsaSigningKey>,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<MailboxItem>, NetError> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut answered = 0;
        let mut last = String::from("the swarm is empty");
        for peer in self.swarm_of(mailbox) {
            let mut after = 0;
            let mut ok = true;
            loop {
                match self.retrieve_page(peer, mailbox, after, key, rng).await {
                    Ok((items, more)) => {
                        if let Some(l) = items.last() {
                            after = l.seq;
                        }
                        for it in items {
                            if seen.insert(it.hash) {
                                out.push(it);
                            }
                        }
                        if !more {
                            break;
                        }
                    }
                    Err(e) => {
                        last = e.to_string();
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                answered += 1;
            }
        }
        if answered == 0 {
            return Err(NetError::NoSwarm(last));
        }
        Ok(out)
    }

    /// Runs one rebalance round now: pushes mailboxes to members that newly joined their swarm,
    /// and hands off mailboxes this node no longer owns, dropping each only after enough new
    /// owners acknowledged it. Returns how many messages were dropped after handoff.
    pub async fn rebalance(&self) -> Result<u64, NetError> {
        let ctx = &self.ctx;
        let mut prev = ctx.rebalance.lock().await;
        let cur = ctx.set.members();
        let now = unix_ms();
        let mut dropped = 0u64;
        for mb in ctx.store.mailboxes()? {
            let loc = mb.location();
            let new_swarm = cur.swarm_for(&loc);
            let ours = new_swarm.contains(&ctx.local);
            if ours && prev.epoch == cur.epoch {
                continue;
            }
            let items: Vec<ReplicaItem> = ctx
                .store
                .all(&mb, now)?
                .into_iter()
                .map(|m| ReplicaItem {
                    mailbox: mb,
                    expires_at_ms: m.expires_at_ms,
                    payload: m.payload,
                })
                .collect();
            if items.is_empty() {
                continue;
            }
            if ours {
                let old_swarm = prev.swarm_for(&loc);
                for target in new_swarm
                    .iter()
                    .filter(|p| **p != ctx.local && !old_swarm.contains(p))
                {
                    for batch in batches(items.clone()) {
                        self.replicate(*target, batch).await;
                    }
                }
            } else if !new_swarm.is_empty() {
                let need = MIN_COPIES.min(new_swarm.len());
                for batch in batches(items) {
                    let acks = libp2p::futures::future::join_all(
                        new_swarm.iter().map(|p| self.replicate(*p, batch.clone())),
                    )
                    .await;
                    if acks.iter().filter(|a| **a).count() >= need {
                        let hashes: Vec<ContentHash> = batch
                            .iter()
                            .map(|i| pars_wire::swarm::content_hash(&i.payload))
                            .collect();
                        let n = ctx.store.delete(&mb, hashes).await?;
                        dropped += u64::from(n);
                        bump(&ctx.counters.handed_off, u64::from(n));
                    }
                }
            }
        }
        *prev = cur;
        Ok(dropped)
    }

    /// Stops the node: the event loop ends, connections close, background tasks stop. The
    /// store closes when the last handle is dropped.
    pub async fn shutdown(&self) {
        let _ = self.command(|reply| Command::Shutdown { reply }).await;
    }
}
