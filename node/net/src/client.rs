//! The client: a libp2p host that is not a service node (no mailbox store, not in the set, by
//! default not listening) and talks only to its guard. Every swarm operation goes over a fresh
//! 3-hop onion path (guard → middle → a member of the destination swarm) with a single-use reply
//! block (→ reply middle → guard → client); onion keys come from the guard's directory.
//!
//! Failures are reported to the [`PathSelector`]: a guard that cannot be reached counts against
//! the guard (after [`PathConfig::guard_max_failures`] the next guard is chosen), a request that
//! gets no reply in time marks the path's other hops as failed; either way the operation is
//! retried on a fresh path, up to [`ClientConfig::attempts`] times.

use crate::codec::{Waiters, settle_outbound};
use crate::config::unix_ms;
use crate::identity::{load_or_create_keypair, verify_record, write_private};
use crate::node::os_seeded_rng;
use crate::set::{Membership, ServiceNodeSet, node_id};
use crate::{FrameCodec, NetError};
use libp2p::futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, noise, ping, request_response as rr, tcp, yamux,
};
use pars_crypto::classic::Ed25519PublicKey;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_onion::{
    Candidate, CoverSchedule, GuardState, Operator, Path, PathConfig, PathSelector, PendingReply,
    Reply, ReplyId, ReplyTable, build_loop, build_request, verified_hops,
};
use pars_wire::directory::{
    DIRECTORY_PROTOCOL, DIRECTORY_REQUEST_LEN, DirectoryRequest, DirectoryResponse,
    MAX_DIRECTORY_RESPONSE_LEN, ONION_PROTOCOL,
};
use pars_wire::onion::{MAX_DATA_LEN_WITH_REPLY, OnionKeyList, OnionPacket, PACKET_LEN};
use pars_wire::swarm::{
    ContentHash, ErrorCode, MAX_WAIT_MS, Mailbox, MailboxItem, SwarmRequest, SwarmResponse,
    sign_request,
};
use pars_wire::{NodeId, NodeRecord};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// File name of the persisted guard state inside the client's data dir.
pub const GUARD_STATE_FILE: &str = "guard_state";
/// Largest message payload a client stores through an onion path: the store request (48 bytes
/// of framing for an inbox) must fit [`MAX_DATA_LEN_WITH_REPLY`] (25,485 bytes).
pub const MAX_ONION_STORE_PAYLOAD: usize = MAX_DATA_LEN_WITH_REPLY - 48;
/// Messages asked for in one retrieve page over an onion path.
pub const ONION_RETRIEVE_MAX_COUNT: u16 = 64;
/// Payload bytes asked for in one retrieve page, so that the page fits one reply packet
/// (the exit node also cuts a page that would not fit, setting `more`).
pub const ONION_RETRIEVE_MAX_BYTES: u32 = 24 * 1024;
const COMMAND_QUEUE: usize = 256;

/// Client settings. [`ClientConfig::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Where the client key and the guard state live.
    pub data_dir: PathBuf,
    /// Listen addresses (default none: the client only dials its guard).
    pub listen: Vec<Multiaddr>,
    /// Path selection (use `subnet_diversity: false` on a single-host network).
    pub path: PathConfig,
    /// Loop (cover) packets per second, Poisson; 0 = off.
    pub cover_rate_per_sec: f64,
    /// How long one attempt waits for its reply.
    pub request_timeout: Duration,
    /// Paths tried for one operation before giving up.
    pub attempts: u32,
    /// A directory older than this is fetched again from the guard.
    pub directory_max_age: Duration,
}

impl ClientConfig {
    /// Defaults: no listening, default path selection, no cover traffic, 20 s per attempt,
    /// 4 attempts, directory refreshed every 10 minutes.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: Vec::new(),
            path: PathConfig::default(),
            cover_rate_per_sec: 0.0,
            request_timeout: Duration::from_secs(20),
            attempts: 4,
            directory_max_age: Duration::from_secs(600),
        }
    }
}

/// What a store through an onion path reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientStoreReceipt {
    /// The content hash.
    pub hash: ContentHash,
    /// Swarm members holding the message.
    pub copies: u8,
    /// Whether the swarm already had it.
    pub duplicate: bool,
    /// Expiry, Unix milliseconds.
    pub expires_at_ms: u64,
}

/// One page of a mailbox from one swarm member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrievedPage {
    /// The member that answered (cursors are per member).
    pub member: PeerId,
    /// The messages.
    pub items: Vec<MailboxItem>,
    /// Whether more follow the last one.
    pub more: bool,
}

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
struct Counters {
    requests: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    paths: AtomicU64,
    path_failures: AtomicU64,
    guard_failures: AtomicU64,
    directory_fetches: AtomicU64,
    packets_sent: AtomicU64,
    packets_received: AtomicU64,
    wrong_size: AtomicU64,
    replies_rejected: AtomicU64,
    cover_sent: AtomicU64,
    cover_returned: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[derive(NetworkBehaviour)]
struct ClientBehaviour {
    ping: ping::Behaviour,
    onion: rr::Behaviour<FrameCodec>,
    directory: rr::Behaviour<FrameCodec>,
}

enum Cmd {
    Send {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        frame: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Directory {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    Expect {
        pending: PendingReply,
        reply: oneshot::Sender<Reply>,
    },
    Cancel {
        id: ReplyId,
    },
    ConnectedPeers {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// The onion keys the guard's directory gave, verified.
struct Directory {
    guard: NodeId,
    epoch: u64,
    fetched: Instant,
    candidates: Vec<Candidate>,
}

struct State {
    selector: PathSelector,
    saved_guard: Vec<u8>,
    rng: ChaCha20Rng,
    directory: Option<Directory>,
}

struct Inner {
    local: PeerId,
    node: NodeId,
    cfg: ClientConfig,
    set: Arc<dyn ServiceNodeSet>,
    own_mailboxes: Mutex<Vec<Mailbox>>,
    cmd: mpsc::Sender<Cmd>,
    state: Mutex<State>,
    counters: Arc<Counters>,
    log: Arc<Mutex<Vec<PeerId>>>,
    shutdown: watch::Sender<bool>,
}

/// A running client. Cheap to clone; all clones share one libp2p host.
#[derive(Clone)]
pub struct OnionClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OnionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnionClient").finish_non_exhaustive()
    }
}

fn setup(e: impl std::fmt::Display) -> NetError {
    NetError::Setup(e.to_string())
}

fn lock_err() -> NetError {
    NetError::Poisoned("client state lock")
}

/// Starts a client: loads (or creates) its key and guard state in `cfg.data_dir` and spawns its
/// event loop (and the cover-traffic task when `cfg.cover_rate_per_sec > 0`). `own_mailboxes`
/// are the mailboxes this client retrieves from: its guard is never a member of their swarms.
pub async fn start_client(
    cfg: ClientConfig,
    set: Arc<dyn ServiceNodeSet>,
    own_mailboxes: Vec<Mailbox>,
) -> Result<OnionClient, NetError> {
    let key = load_or_create_keypair(&cfg.data_dir)?;
    let local = key.public().to_peer_id();
    let guard = match std::fs::read(cfg.data_dir.join(GUARD_STATE_FILE)) {
        Ok(b) => GuardState::from_bytes(&b).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "guard state unreadable; choosing a new guard");
            GuardState::default()
        }),
        Err(_) => GuardState::default(),
    };
    let saved_guard = guard.to_bytes();
    let timeout = cfg.request_timeout;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(setup)?
        .with_quic()
        .with_behaviour(|_| ClientBehaviour {
            ping: ping::Behaviour::default(),
            onion: rr::Behaviour::with_codec(
                FrameCodec::new(PACKET_LEN, 0),
                [(
                    StreamProtocol::new(ONION_PROTOCOL),
                    rr::ProtocolSupport::Full,
                )],
                rr::Config::default()
                    .with_request_timeout(timeout)
                    .with_max_concurrent_streams(256),
            ),
            directory: rr::Behaviour::with_codec(
                FrameCodec::new(DIRECTORY_REQUEST_LEN, MAX_DIRECTORY_RESPONSE_LEN),
                [(
                    StreamProtocol::new(DIRECTORY_PROTOCOL),
                    rr::ProtocolSupport::Outbound,
                )],
                rr::Config::default().with_request_timeout(timeout),
            ),
        })
        .map_err(setup)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    for addr in &cfg.listen {
        swarm.listen_on(addr.clone()).map_err(setup)?;
    }
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let counters = Arc::new(Counters::default());
    let log = Arc::new(Mutex::new(Vec::new()));
    let (shutdown, _) = watch::channel(false);
    let inner = Arc::new(Inner {
        local,
        node: node_id(&local),
        set,
        own_mailboxes: Mutex::new(own_mailboxes),
        cmd: cmd_tx,
        state: Mutex::new(State {
            selector: PathSelector::new(cfg.path, guard),
            saved_guard,
            rng: os_seeded_rng()?,
            directory: None,
        }),
        counters: counters.clone(),
        log: log.clone(),
        shutdown,
        cfg,
    });
    let el = ClientLoop {
        swarm,
        cmd_rx,
        counters,
        log,
        sends: HashMap::new(),
        directories: HashMap::new(),
        table: ReplyTable::new(),
        waiters: HashMap::new(),
    };
    tokio::spawn(el.run());
    let client = OnionClient { inner };
    if client.inner.cfg.cover_rate_per_sec > 0.0 {
        tokio::spawn(cover_task(client.clone()));
    }
    Ok(client)
}

struct ClientLoop {
    swarm: Swarm<ClientBehaviour>,
    cmd_rx: mpsc::Receiver<Cmd>,
    counters: Arc<Counters>,
    log: Arc<Mutex<Vec<PeerId>>>,
    sends: Waiters<()>,
    directories: Waiters<Vec<u8>>,
    table: ReplyTable,
    waiters: HashMap<ReplyId, oneshot::Sender<Reply>>,
}

impl ClientLoop {
    async fn run(mut self) {
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_event(ev),
                cmd = self.cmd_rx.recv() => match cmd {
                    None => break,
                    Some(Cmd::Shutdown { reply }) => {
                        let _ = reply.send(());
                        break;
                    }
                    Some(c) => self.on_command(c),
                },
            }
        }
        for (_, r) in self.sends.drain() {
            let _ = r.send(Err(NetError::Stopped));
        }
        for (_, r) in self.directories.drain() {
            let _ = r.send(Err(NetError::Stopped));
        }
    }

    fn on_command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Send {
                peer,
                addrs,
                frame,
                reply,
            } => {
                bump(&self.counters.packets_sent);
                let id = self
                    .swarm
                    .behaviour_mut()
                    .onion
                    .send_request_with_addresses(&peer, frame, addrs);
                self.sends.insert(id, reply);
            }
            Cmd::Directory { peer, addrs, reply } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .directory
                    .send_request_with_addresses(&peer, DirectoryRequest.encode(), addrs);
                self.directories.insert(id, reply);
            }
            Cmd::Expect { pending, reply } => {
                self.waiters.insert(pending.id(), reply);
                self.table.insert(pending);
            }
            Cmd::Cancel { id } => {
                self.table.cancel(&id);
                self.waiters.remove(&id);
            }
            Cmd::ConnectedPeers { reply } => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Cmd::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn on_event(&mut self, ev: SwarmEvent<ClientBehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                if let Ok(mut log) = self.log.lock()
                    && !log.contains(&peer_id)
                {
                    log.push(peer_id);
                }
            }
            SwarmEvent::Behaviour(ClientBehaviourEvent::Onion(e)) => self.on_onion(e),
            SwarmEvent::Behaviour(ClientBehaviourEvent::Directory(e)) => {
                let _ = settle_outbound(&mut self.directories, e, |_| "guard".into(), |r| r);
            }
            _ => {}
        }
    }

    fn on_onion(&mut self, e: rr::Event<Vec<u8>, Vec<u8>>) {
        let rest = settle_outbound(&mut self.sends, e, |_| "guard".into(), |_| ());
        if let Some(rr::Event::Message {
            message: rr::Message::Request {
                request, channel, ..
            },
            ..
        }) = rest
        {
            let _ = self
                .swarm
                .behaviour_mut()
                .onion
                .send_response(channel, Vec::new());
            bump(&self.counters.packets_received);
            let Ok(packet) = OnionPacket::from_bytes(&request) else {
                bump(&self.counters.wrong_size);
                return;
            };
            match self.table.open_reply(&packet) {
                Ok(reply) => {
                    if let Some(w) = self.waiters.remove(&reply.id) {
                        let _ = w.send(reply);
                    }
                }
                Err(e) => {
                    bump(&self.counters.replies_rejected);
                    tracing::debug!(error = %e, "packet from the guard rejected");
                }
            }
        }
    }
}

/// The IP a member is reached at (for /16 diversity); unspecified if it has none.
fn member_ip(addrs: &[Multiaddr]) -> IpAddr {
    addrs
        .iter()
        .flat_map(|a| a.iter())
        .find_map(|p| match p {
            Protocol::Ip4(a) => Some(IpAddr::V4(a)),
            Protocol::Ip6(a) => Some(IpAddr::V6(a)),
            _ => None,
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Verifies directory records against the set: signature, peer ID, membership, onion keys.
fn candidates_from(resp: &DirectoryResponse, members: &Membership, now: u64) -> Vec<Candidate> {
    let mut out: HashMap<NodeId, Candidate> = HashMap::new();
    for bytes in &resp.records {
        let Ok(rec) = NodeRecord::decode(bytes) else {
            continue;
        };
        let Ok(peer) = verify_record(&rec) else {
            continue;
        };
        let Some(member) = members.get(&peer) else {
            continue;
        };
        let Ok(list) = OnionKeyList::from_bytes(&rec.onion_keys) else {
            continue;
        };
        let Some(pk) = libp2p::identity::PublicKey::try_decode_protobuf(&rec.public_key)
            .ok()
            .and_then(|k| k.try_into_ed25519().ok())
            .and_then(|k| Ed25519PublicKey::from_bytes(&k.to_bytes()).ok())
        else {
            continue;
        };
        let node = node_id(&peer);
        let keys = verified_hops(&list, node, &pk, now);
        if keys.is_empty() {
            continue;
        }
        let operator = if member.operator.is_empty() {
            rec.operator.clone()
        } else {
            member.operator.clone()
        };
        out.insert(
            node,
            Candidate {
                node,
                operator: Operator(operator),
                ip: member_ip(&member.addrs),
                keys,
                in_set: true,
            },
        );
    }
    out.into_values().collect()
}

impl OnionClient {
    /// The client's peer ID (its node ID, SHA3-256 of it, is where replies are delivered).
    pub fn peer_id(&self) -> PeerId {
        self.inner.local
    }

    /// Stores into `mailbox`'s swarm over a fresh 3-hop path; retries on fresh paths on
    /// failure or timeout. The payload may be at most [`MAX_ONION_STORE_PAYLOAD`] bytes.
    pub async fn store(
        &self,
        mailbox: &Mailbox,
        ttl_ms: u64,
        payload: Vec<u8>,
    ) -> Result<ClientStoreReceipt, NetError> {
        let req = SwarmRequest::Store {
            mailbox: *mailbox,
            ttl_ms,
            payload,
        };
        match self.exchange(mailbox, None, |_| Ok(req.clone())).await?.0 {
            SwarmResponse::Stored {
                hash,
                copies,
                expires_at_ms,
                duplicate,
            } => Ok(ClientStoreReceipt {
                hash,
                copies,
                duplicate,
                expires_at_ms,
            }),
            other => Err(refusal(other)),
        }
    }

    /// One page from one swarm member (`via`: a specific member, or `None` = any); signs as
    /// the owner when `key` is given. Pages hold at most [`ONION_RETRIEVE_MAX_COUNT`] messages
    /// and [`ONION_RETRIEVE_MAX_BYTES`] payload bytes (so that they fit one reply packet).
    pub async fn retrieve_page(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        after: u64,
        key: Option<&MlDsaSigningKey>,
    ) -> Result<RetrievedPage, NetError> {
        self.retrieve_wait(mailbox, via, after, key, Duration::ZERO)
            .await
    }

    /// A long-poll: like [`Self::retrieve_page`], but when the member has nothing after
    /// `after` it holds the request up to `wait` (at most [`MAX_WAIT_MS`], and at most its own
    /// bound) and answers as soon as a message for the mailbox arrives there; an empty page
    /// when the wait ends. The reply is awaited for the client's request timeout plus `wait`.
    /// A node that does not know waiting retrieves refuses it as `Malformed`; one that holds
    /// too many refuses it as `Busy`.
    pub async fn retrieve_wait(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        after: u64,
        key: Option<&MlDsaSigningKey>,
        wait: Duration,
    ) -> Result<RetrievedPage, NetError> {
        let mb = *mailbox;
        let wait_ms = u32::try_from(wait.as_millis())
            .unwrap_or(u32::MAX)
            .min(MAX_WAIT_MS);
        let hold = Duration::from_millis(u64::from(wait_ms));
        let (resp, member) = self
            .exchange_held(mailbox, via, hold, |rng| {
                let mut req = SwarmRequest::Retrieve {
                    mailbox: mb,
                    after,
                    max_count: ONION_RETRIEVE_MAX_COUNT,
                    max_bytes: ONION_RETRIEVE_MAX_BYTES,
                    wait_ms,
                    auth: None,
                };
                if let Some(k) = key {
                    sign_request(&mut req, k, unix_ms(), true, rng)
                        .map_err(|e| NetError::Identity(e.to_string()))?;
                }
                Ok(req)
            })
            .await?;
        match resp {
            SwarmResponse::Messages { items, more } => Ok(RetrievedPage {
                member,
                items,
                more,
            }),
            other => Err(refusal(other)),
        }
    }

    /// Owner-authenticated delete of `hashes` (the member forwards it to the rest of the
    /// swarm). Returns how many messages the member deleted.
    pub async fn delete(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
        key: &MlDsaSigningKey,
    ) -> Result<u32, NetError> {
        let mb = *mailbox;
        let (resp, _) = self
            .exchange(mailbox, None, |rng| {
                let mut req = SwarmRequest::Delete {
                    mailbox: mb,
                    hashes: hashes.clone(),
                    forwarded: false,
                    auth: None,
                };
                sign_request(&mut req, key, unix_ms(), true, rng)
                    .map_err(|e| NetError::Identity(e.to_string()))?;
                Ok(req)
            })
            .await?;
        match resp {
            SwarmResponse::Done { count } => Ok(count),
            other => Err(refusal(other)),
        }
    }

    /// Any swarm request for `mailbox`, over a path whose last hop is in its swarm. The answer
    /// is returned as is (an `Error` answer is not turned into an `Err`).
    pub async fn request(
        &self,
        mailbox: &Mailbox,
        req: SwarmRequest,
    ) -> Result<SwarmResponse, NetError> {
        Ok(self.exchange(mailbox, None, |_| Ok(req.clone())).await?.0)
    }

    /// Peers with an open connection (normally just the guard).
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NetError> {
        self.command(|reply| Cmd::ConnectedPeers { reply }).await
    }

    /// Every peer this client ever opened or accepted a connection to (the connection log).
    pub fn connection_log(&self) -> Vec<PeerId> {
        self.inner.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The swarm of a mailbox under the current membership.
    pub fn swarm_of(&self, mailbox: &Mailbox) -> Vec<PeerId> {
        self.inner.set.members().swarm_for(&mailbox.location())
    }

    /// Counters.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClientStats {
            requests: g(&c.requests),
            succeeded: g(&c.succeeded),
            failed: g(&c.failed),
            paths: g(&c.paths),
            path_failures: g(&c.path_failures),
            guard_failures: g(&c.guard_failures),
            directory_fetches: g(&c.directory_fetches),
            packets_sent: g(&c.packets_sent),
            packets_received: g(&c.packets_received),
            wrong_size: g(&c.wrong_size),
            replies_rejected: g(&c.replies_rejected),
            cover_sent: g(&c.cover_sent),
            cover_returned: g(&c.cover_returned),
        }
    }

    /// Replaces the mailboxes this client retrieves from (e.g. after an identity was created).
    /// If the current guard is a member of one of their swarms, the next operation moves to
    /// another guard.
    pub fn set_own_mailboxes(&self, mailboxes: Vec<Mailbox>) {
        if let Ok(mut m) = self.inner.own_mailboxes.lock() {
            *m = mailboxes;
        }
    }

    /// The current guard, if one was chosen.
    pub fn guard(&self) -> Option<PeerId> {
        let g = self.inner.state.lock().ok()?.selector.guard_state().guard?;
        self.peer_of(&self.inner.set.members(), &g)
    }

    /// Stops the client: the event loop and the cover task end, the guard state is saved.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        if let Ok(mut st) = self.inner.state.lock() {
            self.save_guard(&mut st);
        }
        let (tx, rx) = oneshot::channel();
        if self
            .inner
            .cmd
            .send(Cmd::Shutdown { reply: tx })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    fn peer_of(&self, members: &Membership, node: &NodeId) -> Option<PeerId> {
        members
            .nodes
            .iter()
            .find(|n| n.node_id() == *node)
            .map(|n| n.peer_id)
    }

    /// The node IDs of the swarms of the client's own mailboxes.
    fn own_swarm(&self, members: &Membership) -> Vec<NodeId> {
        let own = self
            .inner
            .own_mailboxes
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        let mut v: Vec<NodeId> = own
            .iter()
            .flat_map(|m| members.swarm_for(&m.location()))
            .map(|p| node_id(&p))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Persists the guard state if it changed (errors are logged: the state is an optimisation
    /// of privacy across restarts, not needed for correctness).
    fn save_guard(&self, st: &mut State) {
        let bytes = st.selector.guard_state().to_bytes();
        if bytes == st.saved_guard {
            return;
        }
        let r = write_private(&self.inner.cfg.data_dir.join(GUARD_STATE_FILE), &bytes);
        match r {
            Ok(()) => st.saved_guard = bytes,
            Err(e) => tracing::warn!(error = %e, "could not save the guard state"),
        }
    }

    async fn command<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Cmd,
    ) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .cmd
            .send(make(tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// The guard to use and the verified candidates from its directory (fetched if missing,
    /// stale, from another guard, or from an older membership).
    async fn directory(
        &self,
        members: &Membership,
        own: &[NodeId],
    ) -> Result<(NodeId, Vec<Candidate>), NetError> {
        let now = unix_ms() / 1000;
        let guard = {
            let mut st = self.inner.state.lock().map_err(|_| lock_err())?;
            let st = &mut *st;
            let ids: Vec<NodeId> = members.nodes.iter().map(|n| n.node_id()).collect();
            let g = st
                .selector
                .bootstrap_guard(&ids, own, now, &mut st.rng)
                .ok_or_else(|| {
                    NetError::NoSwarm(
                        "no service node outside the own swarms to use as guard".into(),
                    )
                })?;
            if let Some(d) = &st.directory
                && d.guard == g
                && d.epoch == members.epoch
                && d.fetched.elapsed() < self.inner.cfg.directory_max_age
            {
                return Ok((g, d.candidates.clone()));
            }
            g
        };
        if let Ok(mut st) = self.inner.state.lock() {
            self.save_guard(&mut st);
        }
        let peer = self
            .peer_of(members, &guard)
            .ok_or_else(|| NetError::NoSwarm("the guard left the set".into()))?;
        let addrs = members
            .get(&peer)
            .map(|n| n.addrs.clone())
            .unwrap_or_default();
        tracing::debug!("fetching the directory from the guard");
        let fetched = self
            .command(|reply| Cmd::Directory { peer, addrs, reply })
            .await?
            .and_then(|b| Ok(DirectoryResponse::decode(&b)?));
        let resp = match fetched {
            Ok(r) => r,
            Err(e) => {
                bump(&self.inner.counters.guard_failures);
                if let Ok(mut st) = self.inner.state.lock() {
                    st.selector.report_failure(guard, now);
                    st.directory = None;
                    self.save_guard(&mut st);
                }
                return Err(e);
            }
        };
        bump(&self.inner.counters.directory_fetches);
        let candidates = candidates_from(&resp, members, now);
        tracing::debug!(nodes = candidates.len(), "directory verified");
        let mut st = self.inner.state.lock().map_err(|_| lock_err())?;
        st.directory = Some(Directory {
            guard,
            epoch: members.epoch,
            fetched: Instant::now(),
            candidates: candidates.clone(),
        });
        Ok((guard, candidates))
    }

    /// Sends one request over fresh paths until an answer comes back; returns it and the
    /// member that answered (the path's last hop).
    async fn exchange(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        make: impl FnMut(&mut ChaCha20Rng) -> Result<SwarmRequest, NetError>,
    ) -> Result<(SwarmResponse, PeerId), NetError> {
        self.exchange_held(mailbox, via, Duration::ZERO, make).await
    }

    /// [`Self::exchange`] of a request the last hop may hold up to `hold` before answering.
    async fn exchange_held(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        hold: Duration,
        mut make: impl FnMut(&mut ChaCha20Rng) -> Result<SwarmRequest, NetError>,
    ) -> Result<(SwarmResponse, PeerId), NetError> {
        let c = &self.inner.counters;
        bump(&c.requests);
        let r = self.exchange_inner(mailbox, via, hold, &mut make).await;
        match &r {
            Ok(_) => bump(&c.succeeded),
            Err(e) => {
                bump(&c.failed);
                tracing::debug!(error = %e, "onion request failed");
            }
        }
        r
    }

    async fn exchange_inner(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        hold: Duration,
        make: &mut impl FnMut(&mut ChaCha20Rng) -> Result<SwarmRequest, NetError>,
    ) -> Result<(SwarmResponse, PeerId), NetError> {
        let c = &self.inner.counters;
        let mut last = NetError::NoSwarm("no attempt was made (attempts = 0)".into());
        for attempt in 0..self.inner.cfg.attempts.max(1) {
            let members = self.inner.set.members();
            let dest: Vec<NodeId> = match via {
                Some(p) if members.contains(&p) => vec![node_id(&p)],
                Some(_) => {
                    return Err(NetError::NoSwarm(
                        "the requested member is not in the service-node set".into(),
                    ));
                }
                None => members
                    .swarm_for(&mailbox.location())
                    .iter()
                    .map(node_id)
                    .collect(),
            };
            if dest.is_empty() {
                return Err(NetError::NoSwarm("the service-node set is empty".into()));
            }
            let own = self.own_swarm(&members);
            let (guard, candidates) = match self.directory(&members, &own).await {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(attempt, error = %e, "guard unreachable");
                    last = e;
                    continue;
                }
            };
            let now = unix_ms() / 1000;
            // Choose the path under the lock; sign and build outside it (ML-DSA signing and five
            // encapsulations), with a generator forked from the client's.
            let chosen = {
                let mut st = self.inner.state.lock().map_err(|_| lock_err())?;
                let st = &mut *st;
                st.selector
                    .select(&candidates, &dest, &own, now, &mut st.rng)
                    .map(|path| (path, ChaCha20Rng::from_rng(&mut st.rng)))
            };
            let built = match chosen {
                Err(e) => Err(e),
                Ok((path, mut rng)) => {
                    let data = make(&mut rng)?.encode();
                    if data.len() > MAX_DATA_LEN_WITH_REPLY {
                        return Err(NetError::Refused {
                            code: ErrorCode::TooLarge,
                            value: MAX_ONION_STORE_PAYLOAD as u32,
                            detail: format!(
                                "the request is {} bytes; one onion packet carries {} \
                                 (payloads up to {} bytes)",
                                data.len(),
                                MAX_DATA_LEN_WITH_REPLY,
                                MAX_ONION_STORE_PAYLOAD
                            ),
                        });
                    }
                    let reply = path.reply_path(self.inner.node);
                    build_request(&path.forward, &data, Some(&reply), now, &mut rng)
                        .map(|r| (path, r))
                }
            };
            let (path, request) = match built {
                Ok(x) => x,
                Err(e) => {
                    // Keys missing or stale: fetch the directory again next time.
                    if let Ok(mut st) = self.inner.state.lock() {
                        st.directory = None;
                        self.save_guard(&mut st);
                    }
                    tracing::debug!(attempt, error = %e, "no path");
                    last = NetError::NoSwarm(format!("cannot build a path: {e}"));
                    continue;
                }
            };
            if path.guard() != guard {
                // The selector moved to another guard (the old one had no usable keys).
                if let Ok(mut st) = self.inner.state.lock() {
                    st.directory = None;
                }
            }
            bump(&c.paths);
            let last_hop = self
                .peer_of(&members, &path.forward[2].node)
                .ok_or_else(|| NetError::NoSwarm("the last hop left the set".into()))?;
            match self.send_and_wait(&members, &path, request, hold).await {
                Ok(reply) => {
                    if let Ok(mut st) = self.inner.state.lock() {
                        for n in path.nodes() {
                            st.selector.report_success(n);
                        }
                        self.save_guard(&mut st);
                    }
                    let resp = SwarmResponse::decode(&reply.data)?;
                    return Ok((resp, last_hop));
                }
                Err(e) => {
                    tracing::debug!(attempt, error = %e, "attempt failed; trying a fresh path");
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Sends a built request to the path's guard and waits for its reply (the request timeout
    /// plus `hold`, how long the last hop may hold the request). Failures are reported to the
    /// selector.
    async fn send_and_wait(
        &self,
        members: &Membership,
        path: &Path,
        request: pars_onion::Request,
        hold: Duration,
    ) -> Result<Reply, NetError> {
        let c = &self.inner.counters;
        let pending = request
            .pending
            .ok_or_else(|| NetError::Unexpected("request built without a reply block".into()))?;
        let id = pending.id();
        let guard = path.guard();
        let peer = self
            .peer_of(members, &guard)
            .ok_or_else(|| NetError::NoSwarm("the guard left the set".into()))?;
        let addrs = members
            .get(&peer)
            .map(|n| n.addrs.clone())
            .unwrap_or_default();
        let (tx, rx) = oneshot::channel();
        self.inner
            .cmd
            .send(Cmd::Expect { pending, reply: tx })
            .await
            .map_err(|_| NetError::Stopped)?;
        let frame = request.packet.to_vec();
        let sent = self
            .command(|reply| Cmd::Send {
                peer,
                addrs,
                frame,
                reply,
            })
            .await
            .and_then(|r| r);
        let now = unix_ms() / 1000;
        if let Err(e) = sent {
            bump(&c.guard_failures);
            let _ = self.inner.cmd.send(Cmd::Cancel { id }).await;
            if let Ok(mut st) = self.inner.state.lock() {
                st.selector.report_failure(guard, now);
                st.directory = None;
                self.save_guard(&mut st);
            }
            return Err(e);
        }
        match tokio::time::timeout(self.inner.cfg.request_timeout + hold, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => {
                bump(&c.path_failures);
                let _ = self.inner.cmd.send(Cmd::Cancel { id }).await;
                if let Ok(mut st) = self.inner.state.lock() {
                    st.selector.path_failed(path, now);
                }
                Err(NetError::Request {
                    peer: "onion path".into(),
                    reason: "no reply in time".into(),
                })
            }
        }
    }

    /// Sends one loop packet over a fresh path and waits for it to come back.
    async fn send_loop(&self) -> Result<(), NetError> {
        let members = self.inner.set.members();
        let own = self.own_swarm(&members);
        let (_, candidates) = self.directory(&members, &own).await?;
        let now = unix_ms() / 1000;
        let dest: Vec<NodeId> = candidates.iter().map(|c| c.node).collect();
        let (path, mut rng) = {
            let mut st = self.inner.state.lock().map_err(|_| lock_err())?;
            let st = &mut *st;
            let path = st
                .selector
                .select(&candidates, &dest, &own, now, &mut st.rng)
                .map_err(|e| NetError::NoSwarm(format!("cannot build a path: {e}")))?;
            (path, ChaCha20Rng::from_rng(&mut st.rng))
        };
        let reply = path.reply_path(self.inner.node);
        let request = build_loop(&path.forward, &reply, now, &mut rng)
            .map_err(|e| NetError::NoSwarm(format!("cannot build a loop: {e}")))?;
        bump(&self.inner.counters.cover_sent);
        let reply = self
            .send_and_wait(&members, &path, request, Duration::ZERO)
            .await?;
        if reply.is_loop {
            bump(&self.inner.counters.cover_returned);
        }
        Ok(())
    }
}

/// Turns a non-success answer into an error.
fn refusal(resp: SwarmResponse) -> NetError {
    match resp {
        SwarmResponse::Error {
            code,
            value,
            detail,
        } => NetError::Refused {
            code,
            value,
            detail,
        },
        other => NetError::Unexpected(format!("{other:?}")),
    }
}

/// Cover traffic: loop packets at Poisson intervals, each on its own task so that a slow loop
/// does not thin out the schedule.
async fn cover_task(client: OnionClient) {
    let mut stop = client.inner.shutdown.subscribe();
    let schedule = CoverSchedule::new(client.inner.cfg.cover_rate_per_sec);
    loop {
        let delay = {
            let Ok(mut st) = client.inner.state.lock() else {
                return;
            };
            match schedule.next_delay(&mut st.rng) {
                Some(d) => d,
                None => return,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
        let c = client.clone();
        tokio::spawn(async move {
            if let Err(e) = c.send_loop().await {
                tracing::debug!(error = %e, "cover loop failed");
            }
        });
    }
}
