//! The client: a libp2p host that is not a service node (no mailbox store, not in the set, by
//! default not listening) and talks only to its guard. Every swarm operation goes over a fresh
//! 3-hop onion path (guard → middle → a member of the destination swarm) with a single-use reply
//! block (→ reply middle → guard → client); onion keys come from the guard's directory.
//!
//! The policy — which guard, when to fetch the directory, which nodes to avoid, how long to wait
//! for a reply, when to give up — is the sans-IO [`PathManager`] (`paths.rs`), tested in mock
//! time. This module and `driver.rs` are its thin driver: they fetch directories
//! (`directory.rs` verifies them), build and send packets through the event loop
//! (`event_loop.rs`) and report what happened. [`OnionClient::health`] is the manager's
//! snapshot; a client that turns degraded logs a warning, and a note when it recovers.
//!
//! What it is not: a service node, and not a scheduler (when to poll or send is the daemon's).

mod directory;
mod driver;
mod event_loop;
pub mod paths;
mod stats;

pub use paths::{PathHealth, PolicyConfig};
pub use stats::ClientStats;

use crate::config::unix_ms;
use crate::identity::load_or_create_keypair;
use crate::node::os_seeded_rng;
use crate::set::{ServiceNodeSet, node_id};
use crate::{FrameCodec, NetError};
use event_loop::{ClientBehaviour, ClientLoop, Cmd};
use libp2p::{Multiaddr, PeerId, StreamProtocol, noise, ping, request_response as rr, tcp, yamux};
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_onion::{GuardState, PathConfig, ReplyTable};
use pars_wire::directory::{
    DIRECTORY_PROTOCOL, DIRECTORY_REQUEST_LEN, MAX_DIRECTORY_RESPONSE_LEN, ONION_PROTOCOL,
};
use pars_wire::onion::BULK_PACKET_LEN;
use pars_wire::swarm::{
    AccessToken, ContentHash, MAX_WAIT_MS, Mailbox, MailboxItem, SwarmRequest, SwarmResponse,
    sign_request,
};
use pars_wire::{GroupId, NodeId};
use paths::PathManager;
use rand_chacha::ChaCha20Rng;
use stats::Counters;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// File name of the persisted guard state inside the client's data dir.
pub const GUARD_STATE_FILE: &str = "guard_state";
/// Largest message payload a client stores through an onion path: the store request (48 bytes
/// of framing for an inbox) must fit one standard request packet with a reply block (25,485
/// bytes). The wire's [`pars_wire::swarm::MAX_ONION_INBOX_PAYLOAD`], under the client's name.
pub const MAX_ONION_STORE_PAYLOAD: usize = pars_wire::swarm::MAX_ONION_INBOX_PAYLOAD;
/// Messages asked for in one retrieve page over an onion path.
pub const ONION_RETRIEVE_MAX_COUNT: u16 = 64;
/// Payload bytes asked for in one retrieve page, so that the page fits one reply packet
/// (the exit node also cuts a page that would not fit, setting `more`).
pub const ONION_RETRIEVE_MAX_BYTES: u32 = 24 * 1024;
const COMMAND_QUEUE: usize = 256;

/// Payload bytes to ask for in one page of `mailbox` so that the page fits one reply packet: a
/// standard one's, or a bulk one's for a file chunk.
fn retrieve_max_bytes(mailbox: &Mailbox) -> u32 {
    match mailbox {
        Mailbox::Chunk(_) => pars_wire::swarm::ONION_CHUNK_RETRIEVE_MAX_BYTES,
        _ => ONION_RETRIEVE_MAX_BYTES,
    }
}

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
    /// The longest one attempt waits for its reply (the per-attempt timeout adapts to
    /// measured round trips below it; see [`PolicyConfig`]).
    pub request_timeout: Duration,
    /// Paths tried for one operation before giving up (guard failures are counted apart).
    pub attempts: u32,
    /// A directory older than this is fetched again from the guard.
    pub directory_max_age: Duration,
    /// The rest of the path policy (its `max_timeout_ms`, `attempts` and
    /// `directory_max_age_ms` are taken from the three fields above).
    pub policy: PolicyConfig,
}

impl ClientConfig {
    /// Defaults: no listening, default path selection, no cover traffic, at most 20 s per
    /// attempt (4 s before a round trip was measured, then adaptive from 1.5 s), 4 attempts,
    /// directory refreshed every 10 minutes.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: Vec::new(),
            path: PathConfig::default(),
            cover_rate_per_sec: 0.0,
            request_timeout: Duration::from_secs(20),
            attempts: 4,
            directory_max_age: Duration::from_secs(600),
            policy: PolicyConfig::default(),
        }
    }

    /// The path policy with the three overriding fields applied.
    pub fn effective_policy(&self) -> PolicyConfig {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        PolicyConfig {
            max_timeout_ms: ms(self.request_timeout).max(1),
            attempts: self.attempts.max(1),
            directory_max_age_ms: ms(self.directory_max_age),
            ..self.policy
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

/// The client's path health, as [`OnionClient::health`] reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHealth {
    /// Whether paths are failing now (a node avoided, a recent attempt failed, or the guard
    /// failing).
    pub degraded: bool,
    /// Service nodes avoided now because paths through them failed.
    pub failing_nodes: Vec<PeerId>,
    /// Attempts that failed in the last minute.
    pub recent_failures: u32,
    /// Attempts in the last minute.
    pub recent_attempts: u32,
    /// The guard.
    pub guard: Option<PeerId>,
    /// Its consecutive failures.
    pub guard_failures: u32,
    /// Age of the cached directory (none: not fetched, or dropped after a failure).
    pub directory_age: Option<Duration>,
    /// Nodes with usable onion keys in it.
    pub directory_nodes: usize,
    /// The per-attempt timeout a new operation starts with.
    pub attempt_timeout: Duration,
}

struct State {
    paths: PathManager,
    saved_guard: Vec<u8>,
    rng: ChaCha20Rng,
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
                FrameCodec::new(BULK_PACKET_LEN, 0),
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
            paths: PathManager::new(cfg.effective_policy(), cfg.path, guard),
            saved_guard,
            rng: os_seeded_rng()?,
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
        tokio::spawn(client.clone().cover_task());
    }
    Ok(client)
}

impl OnionClient {
    /// The client's peer ID (its node ID, SHA3-256 of it, is where replies are delivered).
    pub fn peer_id(&self) -> PeerId {
        self.inner.local
    }

    /// Stores into `mailbox`'s swarm over a fresh 3-hop path; retries on fresh paths on
    /// failure or timeout. The payload may be at most [`MAX_ONION_STORE_PAYLOAD`] bytes, or
    /// [`pars_wire::swarm::MAX_ONION_CHUNK_PAYLOAD`] for a file chunk (a bulk packet).
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
        store_receipt(
            self.exchange(mailbox, None, |_, _| Ok(req.clone()))
                .await?
                .0,
        )
    }

    /// Stores into group `group`'s mailbox as a member, with the current generation's access
    /// token (see [`pars_wire::swarm::GroupAccess`]); retries as [`Self::store`] does. A token
    /// the swarm does not take (an old generation's, or none it knows) is refused as
    /// `Unauthorized`, with the generations named.
    pub async fn group_store(
        &self,
        group: GroupId,
        token: &AccessToken,
        ttl_ms: u64,
        payload: Vec<u8>,
    ) -> Result<ClientStoreReceipt, NetError> {
        let req = SwarmRequest::GroupStore {
            group,
            token: token.clone(),
            ttl_ms,
            payload,
        };
        let mailbox = Mailbox::Group(group);
        store_receipt(
            self.exchange(&mailbox, None, |_, _| Ok(req.clone()))
                .await?
                .0,
        )
    }

    /// A member's page of group `group`'s mailbox (a long-poll when `wait` is not zero, as
    /// [`Self::retrieve_wait`]). An older generation's token gets what was stored before the
    /// next generation began, and never waits.
    pub async fn group_retrieve_wait(
        &self,
        group: GroupId,
        token: &AccessToken,
        via: Option<PeerId>,
        after: u64,
        wait: Duration,
    ) -> Result<RetrievedPage, NetError> {
        let wait_ms = u32::try_from(wait.as_millis())
            .unwrap_or(u32::MAX)
            .min(MAX_WAIT_MS);
        let hold = Duration::from_millis(u64::from(wait_ms));
        let req = SwarmRequest::GroupRetrieve {
            group,
            token: token.clone(),
            after,
            max_count: ONION_RETRIEVE_MAX_COUNT,
            max_bytes: ONION_RETRIEVE_MAX_BYTES,
            wait_ms,
        };
        let mailbox = Mailbox::Group(group);
        let (resp, member) = self
            .exchange_held(&mailbox, via, hold, |_, _| Ok(req.clone()))
            .await?;
        retrieved_page(resp, member)
    }

    /// One page from one swarm member (`via`: a specific member, or `None` = any); signs as
    /// the owner when `key` is given. Pages hold at most [`ONION_RETRIEVE_MAX_COUNT`] messages
    /// and [`ONION_RETRIEVE_MAX_BYTES`] payload bytes (so that they fit one reply packet; a
    /// chunk's page one bulk reply packet).
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
            .exchange_held(mailbox, via, hold, |rng, exit| {
                let mut req = SwarmRequest::Retrieve {
                    mailbox: mb,
                    after,
                    max_count: ONION_RETRIEVE_MAX_COUNT,
                    max_bytes: retrieve_max_bytes(&mb),
                    wait_ms,
                    auth: None,
                };
                if let Some(k) = key {
                    sign_request(&mut req, k, exit, unix_ms(), true, rng)
                        .map_err(|e| NetError::Identity(e.to_string()))?;
                }
                Ok(req)
            })
            .await?;
        retrieved_page(resp, member)
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
            .exchange(mailbox, None, |rng, exit| {
                let mut req = SwarmRequest::Delete {
                    mailbox: mb,
                    hashes: hashes.clone(),
                    forwarded: false,
                    auth: None,
                };
                sign_request(&mut req, key, exit, unix_ms(), true, rng)
                    .map_err(|e| NetError::Identity(e.to_string()))?;
                Ok(req)
            })
            .await?;
        match resp {
            SwarmResponse::Done { count } => Ok(count),
            other => Err(NetError::from_answer(other)),
        }
    }

    /// Any swarm request for `mailbox`, over a path whose last hop is in its swarm. The answer
    /// is returned as is (an `Error` answer is not turned into an `Err`).
    pub async fn request(
        &self,
        mailbox: &Mailbox,
        req: SwarmRequest,
    ) -> Result<SwarmResponse, NetError> {
        Ok(self
            .exchange(mailbox, None, |_, _| Ok(req.clone()))
            .await?
            .0)
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
        self.inner.set.members().swarm_of(mailbox)
    }

    /// Counters.
    pub fn stats(&self) -> ClientStats {
        self.inner.counters.snapshot()
    }

    /// The path health now: degraded or not, the nodes avoided, recent failures, the guard
    /// and the directory's age (node IDs mapped to peer IDs through the current set).
    pub fn health(&self) -> ClientHealth {
        let now = unix_ms();
        let h = match self.inner.state.lock() {
            Ok(st) => st.paths.health(now),
            Err(_) => PathHealth {
                degraded: true,
                ..PathHealth::default()
            },
        };
        let members = self.inner.set.members();
        ClientHealth {
            degraded: h.degraded,
            failing_nodes: h
                .failing_nodes
                .iter()
                .filter_map(|n| self.peer_of(&members, n))
                .collect(),
            recent_failures: h.recent_failures,
            recent_attempts: h.recent_attempts,
            guard: h.guard.and_then(|g| self.peer_of(&members, &g)),
            guard_failures: h.guard_failures,
            directory_age: h.directory_age_ms.map(Duration::from_millis),
            directory_nodes: h.directory_nodes,
            attempt_timeout: Duration::from_millis(h.attempt_timeout_ms),
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
        let g = self.inner.state.lock().ok()?.paths.guard_state().guard?;
        self.peer_of(&self.inner.set.members(), &g)
    }

    /// Stops the client: the event loop and the cover task end, the guard state is saved.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send_replace(true);
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
}

/// A store's answer as a receipt, or the refusal as an error.
fn store_receipt(resp: SwarmResponse) -> Result<ClientStoreReceipt, NetError> {
    match resp {
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
        other => Err(NetError::from_answer(other)),
    }
}

/// A retrieve's answer from `member` as a page, or the refusal as an error.
fn retrieved_page(resp: SwarmResponse, member: PeerId) -> Result<RetrievedPage, NetError> {
    match resp {
        SwarmResponse::Messages { items, more } => Ok(RetrievedPage {
            member,
            items,
            more,
        }),
        other => Err(NetError::from_answer(other)),
    }
}
