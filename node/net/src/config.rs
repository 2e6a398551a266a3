//! A service node's settings ([`NodeConfig`]), the clock helper [`unix_ms`] and the stop
//! signal helper [`stopped`].

use crate::swarm::RateLimit;
use libp2p::Multiaddr;
use pars_onion::KeySchedule;
use pars_store::StoreConfig;
use pars_wire::swarm::MAX_PAYLOAD_LEN;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default of [`NodeConfig::max_retrieve_wait`] (below the default 10 s request timeout).
pub const DEFAULT_MAX_RETRIEVE_WAIT: Duration = Duration::from_secs(8);

/// Default onion packets per second a client may send through this node as its guard (the
/// bucket holds twice as many). The bound of a file transfer's throughput when it was 50: one
/// packet carries one 24 KiB chunk (`docs/performance.md`, "Files").
pub const DEFAULT_ONION_RATE: u32 = 1_200;

/// The current time in Unix milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Resolves once `stop` says true (at once if it already does, also when the value was set
/// before this receiver subscribed) or its sender is gone: the background tasks' way out.
pub(crate) async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
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
    /// Waiting retrieves held at once; more are refused with
    /// [`ErrorCode::Busy`](pars_wire::swarm::ErrorCode::Busy).
    pub max_waiting_retrieves: usize,
    /// Onion packets peeled at once (the KEM and MAC work runs on the blocking pool); default:
    /// the number of cores.
    pub onion_peel_workers: usize,
    /// Inbound connection limits: in all, per peer, per remote address.
    pub connections: ConnectionConfig,
}

/// Inbound connection limits of a service node. Peer IDs are free to make, addresses are not:
/// the per-address limit is what bounds one host's share of a node's connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Inbound connections at once, pending and established each (default 4,096).
    pub max_inbound: u32,
    /// Connections with one peer (default 8).
    pub max_per_peer: u32,
    /// Inbound connections from one IP address (default 64: a few clients behind one NAT and
    /// every node of an operator's host).
    pub max_per_ip: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            max_inbound: 4096,
            max_per_peer: 8,
            max_per_ip: 64,
        }
    }
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
            // 1,200 packets/s (burst 2,400) lets one client move about 29 MB/s through its
            // guard (a file transfer's chunks are one packet each), while a client flooding its
            // guard costs it at most 1,200 peels a second (docs/security.md).
            onion_rate_limit: RateLimit {
                burst: DEFAULT_ONION_RATE.saturating_mul(2),
                per_second: DEFAULT_ONION_RATE,
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
            onion_peel_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            connections: ConnectionConfig::default(),
        }
    }
}
