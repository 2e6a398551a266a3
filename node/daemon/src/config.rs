//! Configuration: command-line flags, then environment variables, then the TOML file, then
//! defaults — the first that sets a value wins.
//!
//! The file is `<datadir>/sessiond.toml` unless `--config` names another; every key is optional
//! and named like its flag (`network`, `listen`, `rpc`, `service-node`, `bootstrap`, `log`,
//! `log-identifiers`, `key-file`, `passphrase-file`, `node-set`, `operator`, `poll-min-ms`,
//! `poll-max-ms`, `eth-rpc`, `registry`, `addresses-file`, `confirmations`, `chain-id`). Unknown
//! keys are an error, so a typo is not silently ignored.

use clap::Parser;
use pars_registry::primitives::Address;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file name of the configuration inside the data directory.
pub const CONFIG_FILE: &str = "sessiond.toml";

/// Which network to join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The Pars mainnet.
    Mainnet,
    /// The public testnet.
    Testnet,
    /// A development network (`scripts/devnet`).
    Devnet,
    /// A local network of static, file-listed service nodes.
    Local,
}

impl Network {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Devnet => "devnet",
            Network::Local => "local",
        }
    }
}

/// The daemon's command line. Every value may also come from the environment (`PARS_…`) or the
/// configuration file.
#[derive(Debug, Clone, Parser, Default)]
#[command(name = "sessiond", version, about = "The Pars Session daemon")]
pub struct Flags {
    /// Data directory (identity, sessions, messages, keys). Default: ~/.pars/session.
    #[arg(long, env = "PARS_DATADIR", value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// Configuration file. Default: <datadir>/sessiond.toml (optional).
    #[arg(long, env = "PARS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Network to join.
    #[arg(long, env = "PARS_NETWORK", value_enum)]
    pub network: Option<Network>,
    /// libp2p listen address (repeatable), e.g. /ip4/0.0.0.0/tcp/9000. Default: none for a user
    /// daemon (it only dials its guard); TCP and QUIC on port 9000 for a service node.
    #[arg(
        long,
        env = "PARS_LISTEN",
        value_name = "MULTIADDR",
        value_delimiter = ','
    )]
    pub listen: Vec<String>,
    /// JSON-RPC address; must be a loopback address. Default: 127.0.0.1:9470.
    #[arg(long, env = "PARS_RPC", value_name = "ADDR")]
    pub rpc: Option<SocketAddr>,
    /// Also run as a service node (relay, DHT and swarm storage). Needs a stake on chain.
    #[arg(long, env = "PARS_SERVICE_NODE")]
    pub service_node: bool,
    /// Bootstrap peer (repeatable), a multiaddr ending in /p2p/<peer-id>.
    #[arg(
        long,
        env = "PARS_BOOTSTRAP",
        value_name = "MULTIADDR",
        value_delimiter = ','
    )]
    pub bootstrap: Vec<String>,
    /// Log filter, e.g. info or sessiond=debug,libp2p=warn (RUST_LOG overrides).
    #[arg(long, env = "PARS_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Show Session IDs, peer IDs and addresses in logs in full (redacted by default).
    #[arg(long, env = "PARS_LOG_IDENTIFIERS")]
    pub log_identifiers: bool,
    /// Unlock the encrypted store with this key file (32+ random bytes) instead of a passphrase.
    #[arg(long, env = "PARS_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Read the store passphrase from this file (first line) instead of PARS_PASSPHRASE.
    #[arg(long, env = "PARS_PASSPHRASE_FILE", value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// The service-node set file (JSON). Default: <datadir>/service-nodes.json.
    #[arg(long, env = "PARS_NODE_SET", value_name = "FILE")]
    pub node_set: Option<PathBuf>,
    /// Operator name put in the node record (service nodes).
    #[arg(long, env = "PARS_OPERATOR", value_name = "NAME")]
    pub operator: Option<String>,
    /// Inbox poll interval right after activity, in milliseconds. Default: 250.
    #[arg(long, env = "PARS_POLL_MIN_MS", value_name = "MS")]
    pub poll_min_ms: Option<u64>,
    /// Inbox poll interval when idle, in milliseconds. Default: 5000.
    #[arg(long, env = "PARS_POLL_MAX_MS", value_name = "MS")]
    pub poll_max_ms: Option<u64>,
    /// Service nodes: most clients' long-polls (waiting retrieves) held at once; above it they
    /// are refused as busy and those clients poll instead. 0 holds none. Default: 1024.
    #[arg(long, env = "PARS_MAX_WAITING_RETRIEVES", value_name = "N")]
    pub max_waiting_retrieves: Option<usize>,
    /// Service nodes: inbound connections from one IP address at once; more are refused.
    /// Default: 64.
    #[arg(long, env = "PARS_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,
    /// Service nodes: inbound connections at once, from everyone; more are refused.
    /// Default: 4096.
    #[arg(long, env = "PARS_MAX_INBOUND_CONNECTIONS", value_name = "N")]
    pub max_inbound_connections: Option<u32>,
    /// Service nodes: onion packets per second each client may send through this node as its
    /// guard (bursts of twice as many); packets above it are dropped. A bulk packet (one
    /// 120 KiB file chunk) counts as 4, so this caps a client's upload rate (1200: about
    /// 36 MB/s). Default: 1200.
    #[arg(long, env = "PARS_ONION_RATE", value_name = "PACKETS")]
    pub onion_rate: Option<u32>,
    /// Largest file sent or received, in bytes. Default: 2 GiB (2147483648).
    #[arg(long, env = "PARS_MAX_FILE_SIZE", value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// Most bytes per second that all file transfers together move (uploads and downloads;
    /// bursts of a second's worth). Default: no cap.
    #[arg(long, env = "PARS_MAX_TRANSFER_RATE", value_name = "BYTES")]
    pub max_transfer_rate: Option<u64>,
    /// EVM JSON-RPC endpoint (http or https) to read the service-node registry from. With it
    /// (or --registry / --addresses-file) the service-node set is the on-chain registry's active
    /// nodes instead of the --node-set file.
    #[arg(long, env = "PARS_ETH_RPC", value_name = "URL")]
    pub eth_rpc: Option<String>,
    /// Address of the ServiceNodeRegistry contract (0x…). Default: the addresses file's.
    #[arg(long, env = "PARS_REGISTRY", value_name = "ADDRESS")]
    pub registry: Option<String>,
    /// Deployment address file (JSON written by the deploy script) giving the registry, chain ID
    /// and RPC URL when the flags do not. Default on devnet: .devnet/addresses.json.
    #[arg(long, env = "PARS_ADDRESSES_FILE", value_name = "FILE")]
    pub addresses_file: Option<PathBuf>,
    /// Blocks a registry change must be buried under before it is used. Default: 1 on a local
    /// chain (anvil), 12 elsewhere.
    #[arg(long, env = "PARS_CONFIRMATIONS", value_name = "BLOCKS")]
    pub confirmations: Option<u64>,
    /// The chain ID the registry must be on (any other chain at --eth-rpc is refused). Default:
    /// the addresses file's, else what the RPC serves at the first start.
    #[arg(long, env = "PARS_CHAIN_ID", value_name = "ID")]
    pub chain_id: Option<u64>,
    /// Print this node's libp2p peer ID (creating its key if needed) and exit.
    #[arg(long)]
    pub print_peer_id: bool,
}

/// The configuration file's contents.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// See [`Flags::network`].
    pub network: Option<Network>,
    /// See [`Flags::listen`].
    #[serde(default)]
    pub listen: Vec<String>,
    /// See [`Flags::rpc`].
    pub rpc: Option<SocketAddr>,
    /// See [`Flags::service_node`].
    pub service_node: Option<bool>,
    /// See [`Flags::bootstrap`].
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// See [`Flags::log`].
    pub log: Option<String>,
    /// See [`Flags::log_identifiers`].
    pub log_identifiers: Option<bool>,
    /// See [`Flags::key_file`].
    pub key_file: Option<PathBuf>,
    /// See [`Flags::passphrase_file`].
    pub passphrase_file: Option<PathBuf>,
    /// See [`Flags::node_set`].
    pub node_set: Option<PathBuf>,
    /// See [`Flags::operator`].
    pub operator: Option<String>,
    /// See [`Flags::poll_min_ms`].
    pub poll_min_ms: Option<u64>,
    /// See [`Flags::poll_max_ms`].
    pub poll_max_ms: Option<u64>,
    /// See [`Flags::max_waiting_retrieves`].
    pub max_waiting_retrieves: Option<usize>,
    /// See [`Flags::max_connections_per_ip`].
    pub max_connections_per_ip: Option<usize>,
    /// See [`Flags::max_inbound_connections`].
    pub max_inbound_connections: Option<u32>,
    /// See [`Flags::onion_rate`].
    pub onion_rate: Option<u32>,
    /// See [`Flags::max_file_size`].
    pub max_file_size: Option<u64>,
    /// See [`Flags::max_transfer_rate`].
    pub max_transfer_rate: Option<u64>,
    /// See [`Flags::eth_rpc`].
    pub eth_rpc: Option<String>,
    /// See [`Flags::registry`].
    pub registry: Option<String>,
    /// See [`Flags::addresses_file`].
    pub addresses_file: Option<PathBuf>,
    /// See [`Flags::confirmations`].
    pub confirmations: Option<u64>,
    /// See [`Flags::chain_id`].
    pub chain_id: Option<u64>,
}

/// Where the service-node set comes from when the on-chain registry is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainConfig {
    /// EVM JSON-RPC endpoint (else the addresses file's `rpcUrl`).
    pub eth_rpc: Option<String>,
    /// The registry contract (else the addresses file's).
    pub registry: Option<Address>,
    /// The deployment address file, read only if it exists.
    pub addresses_file: Option<PathBuf>,
    /// The confirmation lag (else the chain's default).
    pub confirmations: Option<u64>,
    /// The expected chain ID (else the addresses file's, else the RPC's).
    pub chain_id: Option<u64>,
}

/// The merged configuration the daemon runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Data directory.
    pub datadir: PathBuf,
    /// Network.
    pub network: Network,
    /// libp2p listen addresses (empty: the mode's default, see [`default_service_listen`]).
    pub listen: Vec<String>,
    /// RPC address (loopback).
    pub rpc: SocketAddr,
    /// Whether to run as a service node.
    pub service_node: bool,
    /// Bootstrap peers.
    pub bootstrap: Vec<String>,
    /// Log filter.
    pub log: String,
    /// Whether identifiers are logged in full.
    pub log_identifiers: bool,
    /// Key file unlocking the store, if any.
    pub key_file: Option<PathBuf>,
    /// Passphrase file, if any.
    pub passphrase_file: Option<PathBuf>,
    /// The service-node set file.
    pub node_set: PathBuf,
    /// Operator name (service nodes).
    pub operator: String,
    /// Poll interval after activity, milliseconds.
    pub poll_min_ms: u64,
    /// Poll interval when idle, milliseconds.
    pub poll_max_ms: u64,
    /// Service nodes: most long-polls held at once.
    pub max_waiting_retrieves: usize,
    /// Service nodes: inbound connection limits (in all, per peer, per IP address).
    pub connections: pars_net::ConnectionConfig,
    /// Service nodes: onion packets per second per client at its guard (burst twice that).
    pub onion_rate: u32,
    /// Largest file sent or received, bytes.
    pub max_file_size: u64,
    /// Most bytes per second of all file transfers together; `None`: no cap.
    pub max_transfer_rate: Option<u64>,
    /// The on-chain registry to take the service-node set from; `None`: the `node_set` file.
    pub chain: Option<ChainConfig>,
}

/// Default of [`Config::max_file_size`]: 2 GiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 2 << 30;

/// Default of [`Config::max_waiting_retrieves`].
pub const DEFAULT_MAX_WAITING_RETRIEVES: usize = 1024;

/// The default service-node set file inside the data directory.
pub const NODE_SET_FILE: &str = "service-nodes.json";

/// Configuration errors: each says which value is wrong and where it came from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("configuration file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (names the key and line).
        message: String,
    },
    /// The RPC address is not loopback.
    #[error(
        "RPC address {0} is not a loopback address; the API controls your identity and must only listen on 127.0.0.1 or ::1"
    )]
    RpcNotLoopback(SocketAddr),
    /// The poll intervals are out of order or zero.
    #[error("poll intervals must satisfy 0 < poll-min-ms ({min}) <= poll-max-ms ({max})")]
    PollIntervals {
        /// The minimum.
        min: u64,
        /// The maximum.
        max: u64,
    },
    /// The onion rate limit is zero (every client's packets would be dropped).
    #[error("onion-rate must be at least 1 packet a second (0 would drop every client's packets)")]
    OnionRate,
    /// The transfer rate cap is zero (no file would ever move).
    #[error(
        "max-transfer-rate must be at least 1 byte a second (0 would stop every file transfer; \
         leave it out for no cap)"
    )]
    TransferRate,
    /// A connection limit of 0 (no connection could be accepted).
    #[error(
        "max-connections-per-ip and max-inbound-connections must be at least 1 (0 would refuse \
         every client and node)"
    )]
    Connections,
    /// The registry address is not a 20-byte hex address.
    #[error("--registry '{0}' is not an EVM address (0x followed by 40 hex digits)")]
    Registry(String),
    /// No home directory to put the default data directory in.
    #[error("no home directory found; pass --datadir")]
    NoHome,
}

/// The default data directory, `~/.pars/session`.
pub fn default_datadir() -> Option<PathBuf> {
    dirs::home_dir().map(|h| h.join(".pars").join("session"))
}

/// Where a service node listens when no `--listen` is given: TCP and QUIC on port 9000. A
/// user daemon listens nowhere by default (it only dials its guard).
pub fn default_service_listen() -> Vec<String> {
    vec![
        "/ip4/0.0.0.0/tcp/9000".to_string(),
        "/ip4/0.0.0.0/udp/9000/quic-v1".to_string(),
    ]
}

/// The default RPC address.
pub fn default_rpc() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], pars_rpc_port()))
}

fn pars_rpc_port() -> u16 {
    9470
}

/// Reads the configuration file, if it exists. A missing default file is fine; a missing file
/// named explicitly is an error.
pub fn read_file(path: &Path, explicit: bool) -> Result<FileConfig, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            Ok(FileConfig::default())
        }
        Err(source) => Err(ConfigError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

impl Config {
    /// Loads the configuration for `flags` (which already include the environment).
    pub fn load(flags: Flags) -> Result<Self, ConfigError> {
        let datadir = match &flags.datadir {
            Some(d) => d.clone(),
            None => default_datadir().ok_or(ConfigError::NoHome)?,
        };
        let (path, explicit) = match &flags.config {
            Some(p) => (p.clone(), true),
            None => (datadir.join(CONFIG_FILE), false),
        };
        let file = read_file(&path, explicit)?;
        Self::merge(flags, file, datadir)
    }

    /// Merges flags over the file over defaults.
    pub fn merge(flags: Flags, file: FileConfig, datadir: PathBuf) -> Result<Self, ConfigError> {
        let service_node = flags.service_node || file.service_node.unwrap_or(false);
        let listen = if !flags.listen.is_empty() {
            flags.listen
        } else {
            file.listen
        };
        let rpc = flags.rpc.or(file.rpc).unwrap_or_else(default_rpc);
        if !rpc.ip().is_loopback() {
            return Err(ConfigError::RpcNotLoopback(rpc));
        }
        let poll_min_ms = flags.poll_min_ms.or(file.poll_min_ms).unwrap_or(250);
        let poll_max_ms = flags.poll_max_ms.or(file.poll_max_ms).unwrap_or(5000);
        if poll_min_ms == 0 || poll_min_ms > poll_max_ms {
            return Err(ConfigError::PollIntervals {
                min: poll_min_ms,
                max: poll_max_ms,
            });
        }
        let onion_rate = flags
            .onion_rate
            .or(file.onion_rate)
            .unwrap_or(pars_net::DEFAULT_ONION_RATE);
        if onion_rate == 0 {
            return Err(ConfigError::OnionRate);
        }
        let defaults = pars_net::ConnectionConfig::default();
        let connections = pars_net::ConnectionConfig {
            max_per_ip: flags
                .max_connections_per_ip
                .or(file.max_connections_per_ip)
                .unwrap_or(defaults.max_per_ip),
            max_inbound: flags
                .max_inbound_connections
                .or(file.max_inbound_connections)
                .unwrap_or(defaults.max_inbound),
            ..defaults
        };
        if connections.max_per_ip == 0 || connections.max_inbound == 0 {
            return Err(ConfigError::Connections);
        }
        let max_transfer_rate = flags.max_transfer_rate.or(file.max_transfer_rate);
        if max_transfer_rate == Some(0) {
            return Err(ConfigError::TransferRate);
        }
        let network = flags.network.or(file.network).unwrap_or(Network::Mainnet);
        let registry = match flags.registry.or(file.registry) {
            Some(r) => Some(
                r.trim()
                    .parse::<Address>()
                    .map_err(|_| ConfigError::Registry(r.clone()))?,
            ),
            None => None,
        };
        let eth_rpc = flags.eth_rpc.or(file.eth_rpc);
        let explicit_addresses = flags.addresses_file.or(file.addresses_file);
        let chain = if eth_rpc.is_some() || registry.is_some() || explicit_addresses.is_some() {
            Some(ChainConfig {
                eth_rpc,
                registry,
                addresses_file: explicit_addresses.or_else(|| {
                    (network == Network::Devnet)
                        .then(|| PathBuf::from(pars_registry::DEVNET_ADDRESSES_FILE))
                }),
                confirmations: flags.confirmations.or(file.confirmations),
                chain_id: flags.chain_id.or(file.chain_id),
            })
        } else {
            None
        };
        Ok(Self {
            network,
            listen,
            rpc,
            service_node,
            bootstrap: if flags.bootstrap.is_empty() {
                file.bootstrap
            } else {
                flags.bootstrap
            },
            log: flags.log.or(file.log).unwrap_or_else(|| "info".to_string()),
            log_identifiers: flags.log_identifiers || file.log_identifiers.unwrap_or(false),
            key_file: flags.key_file.or(file.key_file),
            passphrase_file: flags.passphrase_file.or(file.passphrase_file),
            node_set: flags
                .node_set
                .or(file.node_set)
                .unwrap_or_else(|| datadir.join(NODE_SET_FILE)),
            operator: flags.operator.or(file.operator).unwrap_or_default(),
            poll_min_ms,
            poll_max_ms,
            max_waiting_retrieves: flags
                .max_waiting_retrieves
                .or(file.max_waiting_retrieves)
                .unwrap_or(DEFAULT_MAX_WAITING_RETRIEVES),
            connections,
            onion_rate,
            max_file_size: flags
                .max_file_size
                .or(file.max_file_size)
                .unwrap_or(DEFAULT_MAX_FILE_SIZE),
            max_transfer_rate,
            chain,
            datadir,
        })
    }
}

impl pars_error::HasKind for ConfigError {
    fn kind(&self) -> pars_error::ErrorKind {
        // Every configuration error is the operator's to fix: a file, a flag or a value.
        pars_error::ErrorKind::Config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        let mut v = vec!["sessiond"];
        v.extend_from_slice(args);
        Flags::try_parse_from(v).unwrap()
    }

    #[test]
    fn precedence_flags_over_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "network = \"testnet\"\nrpc = \"127.0.0.1:9999\"\nlisten = [\"/ip4/127.0.0.1/tcp/1\"]\nlog = \"debug\"\nmax-waiting-retrieves = 16\n",
        )
        .unwrap();
        let d = dir.path().to_str().unwrap();
        let c = Config::load(flags(&["--datadir", d])).unwrap();
        assert_eq!(c.network, Network::Testnet, "file over default");
        assert_eq!(c.rpc.port(), 9999);
        assert_eq!(c.listen, vec!["/ip4/127.0.0.1/tcp/1"]);
        assert_eq!(c.log, "debug");
        assert_eq!(c.max_waiting_retrieves, 16);
        let c = Config::load(flags(&[
            "--datadir",
            d,
            "--network",
            "devnet",
            "--listen",
            "/ip4/127.0.0.1/tcp/2",
            "--max-waiting-retrieves",
            "0",
        ]))
        .unwrap();
        assert_eq!(c.max_waiting_retrieves, 0, "flag over file");
        assert_eq!(c.network, Network::Devnet, "flag over file");
        assert_eq!(c.listen, vec!["/ip4/127.0.0.1/tcp/2"]);
        assert_eq!(
            c.rpc.port(),
            9999,
            "file still fills what flags leave unset"
        );
        let empty = tempfile::tempdir().unwrap();
        let c = Config::load(flags(&["--datadir", empty.path().to_str().unwrap()])).unwrap();
        assert_eq!(c.network, Network::Mainnet);
        assert_eq!(c.rpc, default_rpc());
        assert!(c.listen.is_empty(), "the mode decides the default");
        assert_eq!(c.max_waiting_retrieves, DEFAULT_MAX_WAITING_RETRIEVES);
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "netwrok = \"testnet\"\n").unwrap();
        let err = Config::load(flags(&["--datadir", dir.path().to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("netwrok"), "{err}");
        let err = Config::load(flags(&[
            "--datadir",
            dir.path().to_str().unwrap(),
            "--config",
            "/nonexistent/x.toml",
        ]))
        .unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        let err = Config::merge(
            flags(&["--rpc", "0.0.0.0:9470"]),
            FileConfig::default(),
            dir.path().into(),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::RpcNotLoopback(_)));
        assert!(Flags::try_parse_from(["sessiond", "--network", "moon"]).is_err());
        let err = Config::merge(
            flags(&["--registry", "0x1234"]),
            FileConfig::default(),
            dir.path().into(),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Registry(_)), "{err}");
        let err = Config::merge(
            flags(&["--onion-rate", "0"]),
            FileConfig::default(),
            dir.path().into(),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::OnionRate), "{err}");
        assert!(err.to_string().contains("at least 1"), "{err}");
        let err = Config::merge(
            flags(&["--max-transfer-rate", "0"]),
            FileConfig::default(),
            dir.path().into(),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::TransferRate), "{err}");
        let err = Config::merge(
            flags(&["--max-connections-per-ip", "0"]),
            FileConfig::default(),
            dir.path().into(),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Connections), "{err}");
        // Set, they reach the node's limits; unset, the defaults.
        let c = Config::merge(
            flags(&["--max-connections-per-ip", "5"]),
            FileConfig {
                max_inbound_connections: Some(100),
                ..FileConfig::default()
            },
            dir.path().into(),
        )
        .unwrap();
        assert_eq!(
            (c.connections.max_per_ip, c.connections.max_inbound),
            (5, 100)
        );
        let c = Config::merge(flags(&[]), FileConfig::default(), dir.path().into()).unwrap();
        assert_eq!(c.connections, pars_net::ConnectionConfig::default());
    }

    #[test]
    fn onion_rate_flag_over_file_over_default() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let c = Config::load(flags(&["--datadir", d])).unwrap();
        assert_eq!(c.onion_rate, pars_net::DEFAULT_ONION_RATE);
        std::fs::write(dir.path().join(CONFIG_FILE), "onion-rate = 300\n").unwrap();
        assert_eq!(
            Config::load(flags(&["--datadir", d])).unwrap().onion_rate,
            300
        );
        let c = Config::load(flags(&["--datadir", d, "--onion-rate", "90"])).unwrap();
        assert_eq!(c.onion_rate, 90);
        // The transfer rate cap: none by default, then the file's, then the flag's.
        assert_eq!(c.max_transfer_rate, None);
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "max-transfer-rate = 5000000\n",
        )
        .unwrap();
        let c = Config::load(flags(&["--datadir", d])).unwrap();
        assert_eq!(c.max_transfer_rate, Some(5_000_000));
        let c = Config::load(flags(&["--datadir", d, "--max-transfer-rate", "100"])).unwrap();
        assert_eq!(c.max_transfer_rate, Some(100));
    }

    #[test]
    fn chain_settings_flags_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let c = Config::load(flags(&["--datadir", d])).unwrap();
        assert_eq!(c.chain, None, "no chain flags: the static set file");
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "eth-rpc = \"http://127.0.0.1:1\"\nregistry = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"\nconfirmations = 3\n",
        )
        .unwrap();
        let c = Config::load(flags(&["--datadir", d])).unwrap();
        let chain = c.chain.unwrap();
        assert_eq!(chain.eth_rpc.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(chain.confirmations, Some(3));
        assert_eq!(chain.addresses_file, None, "no default file off devnet");
        let c = Config::load(flags(&[
            "--datadir",
            d,
            "--network",
            "devnet",
            "--eth-rpc",
            "http://127.0.0.1:2",
            "--confirmations",
            "1",
            "--chain-id",
            "31337",
        ]))
        .unwrap();
        let chain = c.chain.unwrap();
        assert_eq!(chain.eth_rpc.as_deref(), Some("http://127.0.0.1:2"));
        assert_eq!(chain.confirmations, Some(1));
        assert_eq!(chain.chain_id, Some(31337));
        assert_eq!(
            chain.registry.unwrap().to_string(),
            "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        );
        assert_eq!(
            chain.addresses_file,
            Some(PathBuf::from(pars_registry::DEVNET_ADDRESSES_FILE))
        );
    }
}
