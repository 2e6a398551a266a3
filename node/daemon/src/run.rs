//! The `sessiond` process: everything `main` does, from the merged configuration to a clean
//! shutdown.
//!
//! Two modes:
//! - **user** (default): unlocks the encrypted client store, joins the network as a client, runs
//!   the workers and serves the JSON-RPC API with cookie auth;
//! - **service node** (`--service-node`): runs a `pars-net` service node (mailbox store, swarm
//!   protocol) from the service-node set file. A service node has **no user identity** and no
//!   RPC API: its peer ID is public (it is in the set), so a user's messaging must not come from
//!   it. Run a second, ordinary `sessiond` with its own data directory for your own identity.
//!
//! In both modes the service-node set is the static `--node-set` file, or, with `--eth-rpc` /
//! `--registry` / `--addresses-file`, the Active nodes of the on-chain `ServiceNodeRegistry`
//! (`pars_registry::open_registry_set`, cached in `<datadir>/registry-cache.json`).

use crate::app::Core;
use crate::config::{Config, Network};
use crate::engine::{Engine, EngineError};
use crate::lock::{DataDirLock, LockError};
use crate::net::{NetSlot, OnionNetwork};
use crate::rpc::{Api, Daemon, NodeFacts};
use crate::workers::{self, WorkerSettings};
use jsonrpsee::server::Server;
use libp2p::{Multiaddr, PeerId};
use pars_net::{ClientConfig, NetError, NodeConfig, ServiceNodeSet, StaticSet};
use pars_registry::{
    REGISTRY_CACHE_FILE, RegistrySetConfig, RegistrySetTask, SyncState, open_registry_set,
};
use pars_rpc::SessionApiServer;
use pars_rpc::auth;
use pars_store::client::{ClientStore, ClientStoreError, KdfParams, Unlock};
use pars_wire::swarm::Mailbox;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// The encrypted client store's file name in the data directory.
pub const STORE_FILE: &str = "client.redb";
/// The network layer's directory (node key, its own databases) in the data directory.
pub const NET_DIR: &str = "net";
/// Environment variable holding the store passphrase.
pub const PASSPHRASE_ENV: &str = "PARS_PASSPHRASE";

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The data directory could not be created or used.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Another daemon holds the data directory.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// No way to unlock the store was given.
    #[error(
        "no way to unlock the client store: set {PASSPHRASE_ENV}, or pass --passphrase-file <file> or --key-file <file>"
    )]
    NoUnlock,
    /// The passphrase file could not be read.
    #[error("cannot read passphrase file {path}: {source}")]
    PassphraseFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key file is missing although the store exists.
    #[error(
        "key file {0} does not exist, but the client store does: give the key file it was created with"
    )]
    KeyFileMissing(String),
    /// The key file could not be created.
    #[error("cannot create key file {path}: {source}")]
    KeyFileCreate {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The store could not be opened or created (wrong passphrase, corruption, …).
    #[error("cannot open the client store: {0}")]
    Store(#[from] ClientStoreError),
    /// The engine could not load the store's contents.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The service-node set could not be read.
    #[error(
        "{0}; pass --node-set <file> (JSON: {{\"nodes\":[{{\"peer_id\",\"addrs\",\"operator\"}}]}})"
    )]
    NodeSet(#[from] pars_net::SetError),
    /// The on-chain service-node registry could not be opened (bad settings, or an unreachable
    /// RPC with no cached set to start from).
    #[error("service-node registry: {0}")]
    Registry(#[from] pars_registry::RegistryError),
    /// A listen or bootstrap address is not a valid multiaddr.
    #[error("invalid multiaddr '{addr}': {reason}")]
    Multiaddr {
        /// The text.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The network layer failed to start.
    #[error("network: {0}")]
    Net(#[from] NetError),
    /// The RPC server failed.
    #[error("RPC server on {addr}: {reason}")]
    Rpc {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The daemon core could not start.
    #[error("cannot start the daemon core: {0}")]
    Core(String),
    /// The OS random number generator failed.
    #[error("the OS random number generator failed: {0}")]
    Rng(String),
}

fn io_dir(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::DataDir {
        path: path.display().to_string(),
        source,
    }
}

/// A generator seeded from the OS.
pub fn os_rng() -> Result<ChaCha20Rng, RunError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rngs::SysRng
        .try_fill_bytes(&mut *seed)
        .map_err(|e| RunError::Rng(e.to_string()))?;
    Ok(ChaCha20Rng::from_seed(*seed))
}

use rand::TryRng as _;

/// Creates the data directory (mode 0700) if needed.
pub fn ensure_datadir(dir: &Path) -> Result<(), RunError> {
    std::fs::create_dir_all(dir).map_err(io_dir(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_dir(dir))?;
    }
    Ok(())
}

/// The node's peer ID (creating its key if needed), for `--print-peer-id`.
pub fn peer_id(cfg: &Config) -> Result<PeerId, RunError> {
    ensure_datadir(&cfg.datadir)?;
    let dir = cfg.datadir.join(NET_DIR);
    ensure_datadir(&dir)?;
    Ok(pars_net::identity::load_or_create_keypair(&dir)?
        .public()
        .to_peer_id())
}

enum Secret {
    Passphrase(Zeroizing<Vec<u8>>),
    KeyFile(PathBuf),
}

fn unlock_secret(
    cfg: &Config,
    store_exists: bool,
    rng: &mut ChaCha20Rng,
) -> Result<Secret, RunError> {
    if let Some(kf) = &cfg.key_file {
        if !kf.exists() {
            if store_exists {
                return Err(RunError::KeyFileMissing(kf.display().to_string()));
            }
            create_key_file(kf, rng)?;
            tracing::info!(path = %kf.display(), "created a new key file; back it up, it unlocks your data");
        }
        return Ok(Secret::KeyFile(kf.clone()));
    }
    if let Some(pf) = &cfg.passphrase_file {
        let text = Zeroizing::new(std::fs::read_to_string(pf).map_err(|source| {
            RunError::PassphraseFile {
                path: pf.display().to_string(),
                source,
            }
        })?);
        let line = text.lines().next().unwrap_or("");
        return Ok(Secret::Passphrase(Zeroizing::new(line.as_bytes().to_vec())));
    }
    match std::env::var(PASSPHRASE_ENV) {
        Ok(p) if !p.is_empty() => Ok(Secret::Passphrase(Zeroizing::new(p.into_bytes()))),
        _ => Err(RunError::NoUnlock),
    }
}

fn create_key_file(path: &Path, rng: &mut ChaCha20Rng) -> Result<(), RunError> {
    use std::io::Write;
    let err = |source| RunError::KeyFileCreate {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let key = Zeroizing::new(pars_crypto::random_array::<32>(rng));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(&*key).map_err(err)?;
    f.sync_all().map_err(err)
}

/// Opens the client store, creating it (and a key file, when one is named but missing) on the
/// first run.
pub fn open_store(cfg: &Config, rng: &mut ChaCha20Rng) -> Result<ClientStore, RunError> {
    let path = cfg.datadir.join(STORE_FILE);
    let exists = path.exists();
    let secret = unlock_secret(cfg, exists, rng)?;
    let unlock = match &secret {
        Secret::Passphrase(p) => Unlock::Passphrase(p),
        Secret::KeyFile(k) => Unlock::KeyFile(k),
    };
    if exists {
        Ok(ClientStore::open(&path, unlock)?)
    } else {
        tracing::info!("creating a new encrypted client store");
        Ok(ClientStore::create(
            &path,
            unlock,
            KdfParams::default(),
            rng,
        )?)
    }
}

fn multiaddrs(list: &[String]) -> Result<Vec<Multiaddr>, RunError> {
    list.iter()
        .map(|a| {
            a.parse()
                .map_err(|e: libp2p::multiaddr::Error| RunError::Multiaddr {
                    addr: a.clone(),
                    reason: e.to_string(),
                })
        })
        .collect()
}

/// Splits `/…/p2p/<peer>` into the peer and its address.
fn bootstrap_peer(a: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut addr = a.clone();
    match addr.pop()? {
        libp2p::multiaddr::Protocol::P2p(p) => Some((p, addr)),
        _ => None,
    }
}

async fn start_node(
    cfg: &Config,
    set: Arc<dyn ServiceNodeSet>,
) -> Result<pars_net::NetworkHandle, RunError> {
    let dir = cfg.datadir.join(NET_DIR);
    ensure_datadir(&dir)?;
    let mut nc = NodeConfig::new(&dir);
    nc.listen = if cfg.listen.is_empty() {
        multiaddrs(&crate::config::default_service_listen())?
    } else {
        multiaddrs(&cfg.listen)?
    };
    nc.operator = cfg.operator.clone();
    nc.max_waiting_retrieves = cfg.max_waiting_retrieves;
    nc.connections = cfg.connections.clone();
    nc.onion_rate_limit = pars_net::RateLimit {
        burst: cfg.onion_rate.saturating_mul(2),
        per_second: cfg.onion_rate,
    };
    if matches!(cfg.network, Network::Local | Network::Devnet) {
        // A local network starts all its nodes at once: a node that fetched the directory
        // before the others listened fills it in within seconds rather than a minute.
        nc.directory_refresh_interval = Duration::from_secs(5);
    }
    let net = pars_net::start(nc, set).await?;
    for b in multiaddrs(&cfg.bootstrap)? {
        match bootstrap_peer(&b) {
            Some((peer, addr)) => net.add_peer_address(peer, addr).await?,
            None => {
                return Err(RunError::Multiaddr {
                    addr: b.to_string(),
                    reason: "a bootstrap address must end in /p2p/<peer-id>".into(),
                });
            }
        }
    }
    Ok(net)
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn remove_rpc_files(datadir: &Path) {
    let _ = std::fs::remove_file(auth::cookie_path(datadir));
    let _ = std::fs::remove_file(datadir.join(auth::ADDR_FILE));
}

fn write_addr_file(datadir: &Path, addr: std::net::SocketAddr) -> std::io::Result<()> {
    let path = datadir.join(auth::ADDR_FILE);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, addr.to_string())?;
    std::fs::rename(&tmp, &path)
}

/// Runs the daemon until `stop` completes (normally [`shutdown_signal`]).
pub async fn run(cfg: Config, stop: impl std::future::Future<Output = ()>) -> Result<(), RunError> {
    ensure_datadir(&cfg.datadir)?;
    let lock = DataDirLock::acquire(&cfg.datadir)?;
    let (set, registry) = open_set(&cfg).await?;
    let chain_set = registry.as_ref().map(|r| r.2.clone());
    let result = if cfg.service_node {
        run_service_node(&cfg, set, chain_set, stop).await
    } else {
        run_user(&cfg, set, chain_set, stop).await
    };
    if let Some((task, health, _)) = registry {
        health.abort();
        task.shutdown().await;
    }
    drop(lock);
    result
}

/// The registry parts of a chain-backed set: the reader task, the health logger, the set.
type RegistryParts = (
    RegistrySetTask,
    tokio::task::JoinHandle<()>,
    Arc<pars_registry::RegistrySet>,
);

/// The service-node set: the on-chain registry's active nodes when a chain is configured (with
/// its reader task, a task logging the reader's health and the set itself), else the static
/// set file.
async fn open_set(
    cfg: &Config,
) -> Result<(Arc<dyn ServiceNodeSet>, Option<RegistryParts>), RunError> {
    let Some(chain) = &cfg.chain else {
        let set: Arc<dyn ServiceNodeSet> = Arc::new(StaticSet::from_file(&cfg.node_set)?);
        return Ok((set, None));
    };
    let mut rc = RegistrySetConfig::new(cfg.datadir.join(REGISTRY_CACHE_FILE));
    if let Some(url) = &chain.eth_rpc {
        rc = rc.with_eth_rpc(url.clone());
    }
    if let Some(registry) = chain.registry {
        rc = rc.with_registry(registry);
    }
    if let Some(file) = &chain.addresses_file {
        rc = rc.with_addresses_file(file.clone());
    } else {
        // Only the flags: never pick up a devnet file from the working directory off devnet.
        rc = rc.with_addresses_file(cfg.datadir.join("no-addresses-file"));
    }
    if let Some(c) = chain.confirmations {
        rc = rc.with_confirmations(c);
    }
    if let Some(id) = chain.chain_id {
        rc = rc.with_expected_chain_id(id);
    }
    if matches!(cfg.network, Network::Local | Network::Devnet) {
        // A local chain comes back within seconds: retry at most every 5 s, not every minute.
        rc = rc.with_backoff(Duration::from_secs(1), Duration::from_secs(5));
    }
    let (set, task) = open_registry_set(rc).await?;
    let health = tokio::spawn(log_registry_health(
        task.handle().subscribe_health(),
        set.clone(),
    ));
    let dyn_set: Arc<dyn ServiceNodeSet> = set.clone();
    Ok((dyn_set, Some((task, health, set))))
}

/// The service node's status file in its data directory, rewritten every second.
pub const NODE_STATUS_FILE: &str = "node-status.json";

/// Writes [`NODE_STATUS_FILE`] (atomically: a temporary file, then a rename).
async fn write_node_status(
    cfg: &Config,
    net: &pars_net::NetworkHandle,
    set: &Arc<dyn ServiceNodeSet>,
    chain_set: Option<&pars_registry::RegistrySet>,
) {
    let connected = net.connected_peers().await.map(|p| p.len()).ok();
    let members = set.members();
    let onion = net.onion_stats();
    let swarm = net.stats();
    let store = net.mailbox_store().stats().ok();
    let mut v = serde_json::json!({
        "peerId": net.peer_id().to_string(),
        "network": cfg.network.as_str(),
        "inSet": members.contains(&net.peer_id()),
        "setMembers": members.nodes.len(),
        "connectedPeers": connected,
        "updatedAt": crate::app::now(),
        "onion": {
            "received": onion.received,
            "forwarded": onion.forwarded,
            "delivered": onion.delivered,
            "replies": onion.replies,
            "dropped": onion.dropped,
            "unroutable": onion.unroutable,
        },
        "swarm": {
            "requests": swarm.requests,
            "replicasAccepted": swarm.replicas_accepted,
            "handedOff": swarm.handed_off,
            "waitingRetrieves": swarm.waiting_retrieves,
            "waitsRefused": swarm.waits_refused,
        },
        "store": {
            "messages": store.map(|s| s.messages),
            "usedBytes": store.map(|s| s.used_bytes),
        },
    });
    if let (Some(cs), Some(obj)) = (chain_set, v.as_object_mut())
        && let Ok(r) = serde_json::to_value(crate::status::registry_status(cs))
    {
        obj.insert("registry".into(), r);
    }
    let path = cfg.datadir.join(NODE_STATUS_FILE);
    let tmp = path.with_extension("json.tmp");
    let written = std::fs::write(&tmp, v.to_string()).and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        tracing::debug!(error = %e, "cannot write the node status file");
    }
}

/// Logs every change of the registry reader's state: synced (with the block and member count),
/// degraded (with the error and the retry delay; the last known set is still served).
async fn log_registry_health(
    mut rx: tokio::sync::watch::Receiver<pars_registry::Health>,
    set: Arc<pars_registry::RegistrySet>,
) {
    let mut last: Option<SyncState> = None;
    loop {
        let h = rx.borrow_and_update().clone();
        if last != Some(h.state) {
            let members = set.members().nodes.len();
            match h.state {
                SyncState::Synced => tracing::info!(
                    block = h.synced_block,
                    members,
                    "registry: synced with the chain"
                ),
                SyncState::CatchingUp => tracing::info!(
                    block = h.synced_block,
                    head = h.head,
                    "registry: catching up with the chain"
                ),
                SyncState::Starting => {
                    tracing::info!(members, from_cache = h.from_cache, "registry: starting")
                }
                SyncState::Degraded => tracing::warn!(
                    members,
                    failures = h.consecutive_failures,
                    retry_in_ms = h.retry_in.map(|d| d.as_millis() as u64),
                    error = h.last_error.as_ref().map(|e| e.error.to_string()),
                    "registry: the chain is unreachable or wrong; serving the last known set"
                ),
            }
            last = Some(h.state);
        }
        if rx.changed().await.is_err() {
            break;
        }
    }
}

async fn run_service_node(
    cfg: &Config,
    set: Arc<dyn ServiceNodeSet>,
    chain_set: Option<Arc<pars_registry::RegistrySet>>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    let net = start_node(cfg, set.clone()).await?;
    let me = net.peer_id();
    if !set.members().contains(&me) {
        tracing::warn!(
            peer = %crate::logging::Redacted(me),
            "this node is not in the service-node set; other nodes will not use it"
        );
    }
    let addrs = net.listen_addrs().await?;
    tracing::info!(
        peer = %crate::logging::Redacted(me),
        listen = ?addrs.iter().map(|a| crate::logging::Redacted(a.clone())).collect::<Vec<_>>(),
        network = cfg.network.as_str(),
        "service node ready"
    );
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => write_node_status(cfg, &net, &set, chain_set.as_deref()).await,
        }
    }
    tracing::info!("shutting down");
    write_node_status(cfg, &net, &set, chain_set.as_deref()).await;
    net.shutdown().await;
    Ok(())
}

async fn run_user(
    cfg: &Config,
    set: Arc<dyn ServiceNodeSet>,
    chain_set: Option<Arc<pars_registry::RegistrySet>>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    remove_rpc_files(&cfg.datadir);
    if !cfg.bootstrap.is_empty() {
        tracing::warn!(
            "--bootstrap is ignored by a user daemon: it reaches the network through guards chosen from the service-node set"
        );
    }
    let mut rng = os_rng()?;
    let store = open_store(cfg, &mut rng)?;
    let engine = Engine::open(store)?.with_max_blob(pars_net::client::MAX_ONION_STORE_PAYLOAD);

    let dir = cfg.datadir.join(NET_DIR);
    ensure_datadir(&dir)?;
    let mut cc = ClientConfig::new(&dir);
    cc.listen = multiaddrs(&cfg.listen)?;
    if matches!(cfg.network, Network::Local | Network::Devnet) {
        // Every node of a local network shares 127.0.0.0/16.
        cc.path.subnet_diversity = false;
    }
    let facts = NodeFacts {
        network: cfg.network.as_str().to_string(),
        service_node: false,
        peer_id: pars_net::identity::load_or_create_keypair(&dir)?
            .public()
            .to_peer_id()
            .to_string(),
        listen_addrs: cfg.listen.clone(),
        registry: chain_set,
        trigger: crate::trigger::TriggerDefaults {
            addresses_file: cfg.chain.as_ref().and_then(|c| c.addresses_file.clone()),
            chain_id: cfg.chain.as_ref().and_then(|c| c.chain_id),
        },
        paths: Default::default(),
    };
    let paths = facts.paths.clone();
    let slot = NetSlot::new(set.clone());
    let core = Arc::new(Core::start(engine, os_rng()?).map_err(|e| RunError::Core(e.to_string()))?);
    let transfers = crate::transfers::Transfers::new(
        core.clone(),
        slot.clone(),
        crate::transfers::TransferSettings {
            max_file_size: cfg.max_file_size,
            max_rate: cfg.max_transfer_rate,
            ..Default::default()
        },
    );
    // Transfers left running resume (each waits for the network).
    match transfers.resume_all().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(transfers = n, "resuming file transfers"),
        Err(e) => tracing::error!(error = %e, "file transfers could not be resumed"),
    }
    let daemon = Daemon::new(core.clone(), slot.clone(), transfers.clone(), facts);
    let settings = WorkerSettings {
        poll_min: Duration::from_millis(cfg.poll_min_ms),
        poll_max: Duration::from_millis(cfg.poll_max_ms),
        ..WorkerSettings::default()
    };
    let server = serve_rpc(cfg, &daemon, &mut rng).await?;

    // The onion client starts once there is an identity: it must know its own mailboxes.
    let starter = {
        let slot = slot.clone();
        let mut events = core.subscribe();
        tokio::spawn(async move {
            let id = loop {
                match core.session_id().await {
                    Ok(id) => break id,
                    Err(crate::app::CoreError::Stopped) => {
                        return Err(NetError::Setup("the daemon core stopped".into()));
                    }
                    Err(_) => {}
                }
                tracing::info!(
                    "waiting for an identity (parsctl session identity create) before joining the network"
                );
                loop {
                    match events.recv().await {
                        Ok(crate::app::Event::IdentityChanged)
                        | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            return Err(NetError::Setup("the daemon core stopped".into()));
                        }
                    }
                }
            };
            let client =
                pars_net::start_client(cc, set, vec![Mailbox::Inbox(id), Mailbox::Bundle(id)])
                    .await?;
            let _ = paths.set(client.clone());
            let net: Arc<dyn crate::net::Network> = Arc::new(OnionNetwork(client));
            slot.set(net.clone());
            tracing::info!("joined the network over onion paths");
            Ok::<_, NetError>(workers::spawn(core, net, settings))
        })
    };
    tokio::pin!(stop);
    let mut starter = starter;
    let workers = tokio::select! {
        _ = &mut stop => {
            starter.abort();
            None
        }
        started = &mut starter => match started {
            Ok(Ok(w)) => Some(w),
            Ok(Err(e)) => {
                let _ = server.stop();
                server.stopped().await;
                remove_rpc_files(&cfg.datadir);
                return Err(e.into());
            }
            Err(e) => {
                let _ = server.stop();
                server.stopped().await;
                remove_rpc_files(&cfg.datadir);
                return Err(RunError::Net(NetError::Setup(e.to_string())));
            }
        },
    };
    if workers.is_some() {
        stop.await;
    }
    tracing::info!("shutting down");
    let _ = server.stop();
    server.stopped().await;
    transfers.stop().await;
    if let Some(w) = workers {
        w.stop().await;
    }
    if let Some(net) = slot.get() {
        net.shutdown().await;
    }
    remove_rpc_files(&cfg.datadir);
    tracing::info!("stopped");
    Ok(())
}

async fn serve_rpc(
    cfg: &Config,
    daemon: &Arc<Daemon>,
    rng: &mut ChaCha20Rng,
) -> Result<jsonrpsee::server::ServerHandle, RunError> {
    let rpc_err = |reason: String| RunError::Rpc {
        addr: cfg.rpc.to_string(),
        reason,
    };
    let token = auth::write_cookie(&cfg.datadir, rng).map_err(|e| rpc_err(e.to_string()))?;
    let server = Server::builder()
        .set_http_middleware(tower::ServiceBuilder::new().layer(auth::CookieAuthLayer::new(&token)))
        .build(cfg.rpc)
        .await
        .map_err(|e| rpc_err(e.to_string()))?;
    let addr = server.local_addr().map_err(|e| rpc_err(e.to_string()))?;
    let handle = server.start(Api(daemon.clone()).into_rpc());
    write_addr_file(&cfg.datadir, addr).map_err(|e| rpc_err(e.to_string()))?;
    tracing::info!(rpc = %addr, network = cfg.network.as_str(), "sessiond ready");
    Ok(handle)
}

impl pars_error::HasKind for RunError {
    fn kind(&self) -> pars_error::ErrorKind {
        use pars_error::ErrorKind;
        match self {
            Self::DataDir { .. } | Self::Store(_) => ErrorKind::Storage,
            Self::Lock(e) => e.kind(),
            Self::NoUnlock
            | Self::PassphraseFile { .. }
            | Self::KeyFileMissing(_)
            | Self::KeyFileCreate { .. }
            | Self::NodeSet(_)
            | Self::Multiaddr { .. }
            | Self::Rpc { .. } => ErrorKind::Config,
            Self::Engine(e) => e.kind(),
            Self::Registry(_) => ErrorKind::ChainUnavailable,
            Self::Net(_) => ErrorKind::NetworkUnavailable,
            Self::Core(_) | Self::Rng(_) => ErrorKind::Internal,
        }
    }
}
