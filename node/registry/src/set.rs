//! The registry as `pars-net`'s [`ServiceNodeSet`]: only nodes **Active** in
//! `ServiceNodeRegistry` are used as onion hops and swarm members.
//!
//! [`open_registry_set`] is what the daemon calls for `sessiond --eth-rpc <url> --registry <addr>`:
//! it resolves where the registry is ([`ChainTarget`]: flags, else the devnet address file), the
//! chain ID (configured, else the address file, else the RPC, else the cache), starts a
//! [`RegistryReader`] with the cache file in the data directory, and maps every snapshot of the
//! active set to a [`Membership`]. A chain that is unreachable at startup is no obstacle: the
//! cached set is served at once and the reader retries with backoff.
//!
//! Mapping a registry entry to a [`ServiceNode`]: the peer-ID bytes must parse, the `onionKey`
//! field must be the node's Ed25519 identity key belonging to that peer ID (see
//! [`crate::service_node`]), and at least one multiaddr must parse and not name another peer.
//! Entries that fail are left out with one warning each, never a crash. The member's `operator`
//! is the EVM account that staked it (checksummed hex), not the self-declared name: path
//! selection keeps hops of one operator apart, and the account is what an operator cannot
//! change without staking again.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use alloy::primitives::Address;
use alloy::providers::Provider;
use libp2p::{Multiaddr, PeerId};
use pars_net::{Membership, ServiceNode, ServiceNodeSet};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cache;
use crate::deployment::{DevnetAddresses, parse_rpc_url, read_provider};
use crate::error::{RegistryError, rpc_call};
use crate::health::{Health, RegistryHandle};
use crate::reader::{RegistryConfig, RegistryReader};
use crate::service_node::{EntryError, check_identity_key, p2p_of};
use crate::types::{RegistryNodeId, RegistrySnapshot};

/// Where `contracts/script/Deploy.s.sol` writes the devnet's addresses, relative to the
/// repository (the working directory of `scripts/devnet`).
pub const DEVNET_ADDRESSES_FILE: &str = ".devnet/addresses.json";

/// File name of the registry cache inside a data directory.
pub const REGISTRY_CACHE_FILE: &str = "registry-cache.json";

/// Where the registry is: an RPC endpoint, the contract, and the chain ID if known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainTarget {
    /// JSON-RPC endpoint (http or https).
    pub rpc_url: String,
    /// The `ServiceNodeRegistry`.
    pub registry: Address,
    /// The expected chain ID, when the flags or the address file give one.
    pub chain_id: Option<u64>,
}

impl ChainTarget {
    /// Resolves `--eth-rpc`, `--registry` and `--chain-id`, filling what is missing from the
    /// deployment address file `addresses_file` (used only if it exists):
    ///
    /// * no `registry`: the file's `serviceNodeRegistry`, `chainId` and `rpcUrl` (each unless
    ///   given); without the file this is an error that says what to pass;
    /// * a `registry`: the file's `rpcUrl` and `chainId` only if the file names the same
    ///   registry.
    pub fn resolve(
        eth_rpc: Option<&str>,
        registry: Option<Address>,
        chain_id: Option<u64>,
        addresses_file: &Path,
    ) -> Result<Self, RegistryError> {
        let no_rpc = || {
            RegistryError::Config(
                "no EVM RPC endpoint: pass --eth-rpc <url> (e.g. http://127.0.0.1:8545)".into(),
            )
        };
        let target = match registry {
            None => {
                if !addresses_file.is_file() {
                    return Err(RegistryError::Config(format!(
                        "no --registry given and no deployment address file at {}; pass --registry <address> and --eth-rpc <url>, or deploy the devnet contracts first",
                        addresses_file.display()
                    )));
                }
                let file = DevnetAddresses::load(addresses_file)?;
                Self {
                    rpc_url: eth_rpc
                        .map(str::to_owned)
                        .or(file.rpc_url)
                        .ok_or_else(no_rpc)?,
                    registry: file.service_node_registry,
                    chain_id: chain_id.or(Some(file.chain_id)),
                }
            }
            Some(registry) => {
                let file = addresses_file
                    .is_file()
                    .then(|| DevnetAddresses::load(addresses_file).ok())
                    .flatten()
                    .filter(|f| f.service_node_registry == registry);
                Self {
                    rpc_url: eth_rpc
                        .map(str::to_owned)
                        .or_else(|| file.as_ref().and_then(|f| f.rpc_url.clone()))
                        .ok_or_else(no_rpc)?,
                    registry,
                    chain_id: chain_id.or(file.map(|f| f.chain_id)),
                }
            }
        };
        parse_rpc_url(&target.rpc_url)?;
        if target.registry == Address::ZERO {
            return Err(RegistryError::Config(
                "--registry is the zero address".into(),
            ));
        }
        Ok(target)
    }

    /// The chain ID the RPC serves (one request).
    pub async fn query_chain_id(&self, timeout: Duration) -> Result<u64, RegistryError> {
        let provider = read_provider(&self.rpc_url)?;
        rpc_call("eth_chainId", timeout, provider.get_chain_id()).await
    }
}

/// Settings of [`open_registry_set`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RegistrySetConfig {
    /// `--eth-rpc`; from the address file when `None`.
    pub eth_rpc: Option<String>,
    /// `--registry`; from the address file when `None`.
    pub registry: Option<Address>,
    /// The deployment address file (default [`DEVNET_ADDRESSES_FILE`]), read only if it exists.
    pub addresses_file: PathBuf,
    /// The last known set, e.g. `<datadir>/`[`REGISTRY_CACHE_FILE`].
    pub cache_path: PathBuf,
    /// Blocks a change must be buried under (default: 1 on local chains, 12 elsewhere).
    pub confirmations: Option<u64>,
    /// Pause between polls once up to date (default: 2 s local, 6 s elsewhere).
    pub poll_interval: Option<Duration>,
    /// The chain the registry must be on; any other chain at the RPC is refused. Default: the
    /// address file's, else whatever the RPC serves at the first start (then the cache's).
    pub expected_chain_id: Option<u64>,
    /// Timeout of each RPC request.
    pub rpc_timeout: Duration,
    /// First and longest retry delay after failures.
    pub backoff: (Duration, Duration),
}

impl RegistrySetConfig {
    /// Defaults with the cache at `cache_path`: endpoint and registry from
    /// [`DEVNET_ADDRESSES_FILE`], 10 s per request, backoff from 1 s to 60 s.
    pub fn new(cache_path: impl Into<PathBuf>) -> Self {
        Self {
            eth_rpc: None,
            registry: None,
            addresses_file: PathBuf::from(DEVNET_ADDRESSES_FILE),
            cache_path: cache_path.into(),
            confirmations: None,
            poll_interval: None,
            expected_chain_id: None,
            rpc_timeout: Duration::from_secs(10),
            backoff: (Duration::from_secs(1), Duration::from_secs(60)),
        }
    }

    /// Sets `--eth-rpc`.
    pub fn with_eth_rpc(mut self, url: impl Into<String>) -> Self {
        self.eth_rpc = Some(url.into());
        self
    }

    /// Sets `--registry`.
    pub fn with_registry(mut self, registry: Address) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Sets the deployment address file.
    pub fn with_addresses_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.addresses_file = path.into();
        self
    }

    /// Sets the confirmation lag.
    pub fn with_confirmations(mut self, confirmations: u64) -> Self {
        self.confirmations = Some(confirmations);
        self
    }

    /// Sets the poll interval.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// Sets the expected chain ID.
    pub fn with_expected_chain_id(mut self, chain_id: u64) -> Self {
        self.expected_chain_id = Some(chain_id);
        self
    }

    /// Sets the per-request timeout.
    pub fn with_rpc_timeout(mut self, timeout: Duration) -> Self {
        self.rpc_timeout = timeout;
        self
    }

    /// Sets the retry backoff bounds.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = (initial, max);
        self
    }
}

/// The service-node set read from `ServiceNodeRegistry` (implements [`ServiceNodeSet`]).
#[derive(Debug)]
pub struct RegistrySet {
    tx: watch::Sender<Arc<Membership>>,
    handle: RegistryHandle,
}

impl ServiceNodeSet for RegistrySet {
    fn watch(&self) -> watch::Receiver<Arc<Membership>> {
        self.tx.subscribe()
    }
}

impl RegistrySet {
    /// The registry snapshot the membership was made from (with the stake, name and keys).
    pub fn snapshot(&self) -> Arc<RegistrySnapshot> {
        self.handle.snapshot()
    }

    /// The reader's health (for the daemon's status).
    pub fn health(&self) -> Health {
        self.handle.health()
    }

    /// The registered Ed25519 identity key of `peer`, if it is an active member: the key its node
    /// record must be signed with.
    pub fn identity_key(&self, peer: &PeerId) -> Option<Vec<u8>> {
        self.handle
            .snapshot()
            .by_peer_id(&peer.to_bytes())
            .map(|n| n.onion_key.clone())
    }

    /// Applies a snapshot: publishes a new membership (epoch + 1) if the usable nodes changed.
    fn apply(&self, snapshot: &RegistrySnapshot, warned: &mut HashSet<RegistryNodeId>) {
        let (nodes, skipped) = membership_nodes(snapshot);
        for (id, why) in skipped {
            if warned.insert(id) {
                tracing::warn!(node = %id, "registry set: ignoring a registered node: {why}");
            }
        }
        self.tx.send_if_modified(|m| {
            if m.nodes == nodes {
                return false;
            }
            tracing::info!(
                members = nodes.len(),
                block = snapshot.block.map(|b| b.number),
                "registry set: service-node membership changed"
            );
            *m = Arc::new(Membership {
                epoch: m.epoch + 1,
                nodes,
            });
            true
        });
    }
}

/// The usable members of a snapshot, in node-ID order, and the entries left out with the reason.
pub fn membership_nodes(
    snapshot: &RegistrySnapshot,
) -> (Vec<ServiceNode>, Vec<(RegistryNodeId, EntryError)>) {
    let mut nodes = Vec::with_capacity(snapshot.nodes.len());
    let mut skipped = Vec::new();
    for n in &snapshot.nodes {
        let peer = match check_identity_key(&n.peer_id, &n.onion_key) {
            Ok(p) => p,
            Err(e) => {
                skipped.push((n.node_id, e));
                continue;
            }
        };
        let addrs: Vec<Multiaddr> = n
            .multiaddrs
            .iter()
            .filter_map(|a| a.parse::<Multiaddr>().ok())
            .filter(|a| p2p_of(a).is_none_or(|p| p == peer))
            .collect();
        if addrs.is_empty() {
            skipped.push((n.node_id, EntryError::NoAddress));
            continue;
        }
        nodes.push(ServiceNode {
            peer_id: peer,
            addrs,
            operator: n.operator.to_string(),
        });
    }
    (nodes, skipped)
}

/// The running reader behind a [`RegistrySet`].
#[derive(Debug)]
pub struct RegistrySetTask {
    handle: RegistryHandle,
    reader: JoinHandle<()>,
    forward: JoinHandle<()>,
    chain_id: u64,
    target: ChainTarget,
}

impl RegistrySetTask {
    /// The reader's handle: snapshots, health, [`RegistryHandle::wait_synced`].
    pub fn handle(&self) -> &RegistryHandle {
        &self.handle
    }

    /// The chain ID the set is read from.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The endpoint and registry in use.
    pub fn target(&self) -> &ChainTarget {
        &self.target
    }

    /// Stops the reader (writing the cache) and waits for it.
    pub async fn shutdown(self) {
        self.handle.shutdown();
        let _ = self.reader.await;
        let _ = self.forward.await;
    }
}

/// Opens the registry-backed service-node set (what `sessiond --eth-rpc --registry` runs).
///
/// Fails only on configuration errors (a bad URL or address, no address file and no flags) and
/// when the chain ID cannot be learnt at all: none configured, none in the address file, the
/// RPC unreachable and no cache of this registry. Everything else — an RPC that is down, serves
/// another chain or has no contract at the address — is reported through
/// [`RegistrySet::health`] and retried with backoff while the cached set (if any) is served.
pub async fn open_registry_set(
    cfg: RegistrySetConfig,
) -> Result<(Arc<RegistrySet>, RegistrySetTask), RegistryError> {
    let target = ChainTarget::resolve(
        cfg.eth_rpc.as_deref(),
        cfg.registry,
        cfg.expected_chain_id,
        &cfg.addresses_file,
    )?;
    let chain_id = match target.chain_id {
        Some(id) => id,
        None => match target.query_chain_id(cfg.rpc_timeout).await {
            Ok(id) => id,
            Err(e) if e.is_transient() => match cache::peek(&cfg.cache_path) {
                Some((id, registry)) if registry == target.registry => {
                    tracing::warn!(
                        chain_id = id,
                        "registry set: {e}; starting from the cached set of chain {id}"
                    );
                    id
                }
                _ => {
                    return Err(RegistryError::Config(format!(
                        "cannot learn the registry's chain ID: {e}; and there is no cached set of this registry yet. Start the EVM node, or give the expected chain ID"
                    )));
                }
            },
            Err(e) => return Err(e),
        },
    };
    let mut rc = RegistryConfig::new(&target.rpc_url, target.registry, chain_id)
        .with_cache(&cfg.cache_path)
        .with_rpc_timeout(cfg.rpc_timeout)
        .with_backoff(cfg.backoff.0, cfg.backoff.1);
    if let Some(c) = cfg.confirmations {
        rc = rc.with_confirmations(c);
    }
    if let Some(p) = cfg.poll_interval {
        rc = rc.with_poll_interval(p);
    }
    let (handle, reader) = RegistryReader::start(rc)?;
    tracing::info!(
        registry = %target.registry,
        chain_id,
        rpc = %crate::error::redact_urls(&target.rpc_url),
        "registry set: following the service-node registry"
    );
    let (tx, _) = watch::channel(Arc::new(Membership::default()));
    let set = Arc::new(RegistrySet {
        tx,
        handle: handle.clone(),
    });
    let mut rx = handle.subscribe();
    let mut warned = HashSet::new();
    let first = rx.borrow_and_update().clone();
    set.apply(&first, &mut warned);
    let weak: Weak<RegistrySet> = Arc::downgrade(&set);
    let forward = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let snapshot = rx.borrow_and_update().clone();
            let Some(set) = weak.upgrade() else { break };
            set.apply(&snapshot, &mut warned);
        }
    });
    Ok((
        set,
        RegistrySetTask {
            handle,
            reader,
            forward,
            chain_id,
            target,
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::service_node::ServiceNodeIdentity;
    use crate::types::{MldsaKeyHash, NodeStatus, RegisteredNode};
    use alloy::primitives::U256;
    use libp2p::identity::Keypair;

    fn entry(id: &ServiceNodeIdentity, addrs: &[&str]) -> RegisteredNode {
        RegisteredNode {
            node_id: id.node_id(),
            peer_id: id.peer_id_bytes(),
            operator: Address::repeat_byte(7),
            name: "op".into(),
            mldsa_key_hash: MldsaKeyHash([1; 32]),
            onion_key: id.identity_key.to_vec(),
            multiaddrs: addrs.iter().map(|s| (*s).to_owned()).collect(),
            stake: U256::from(1u64),
            status: NodeStatus::Active,
            registered_block: 1,
        }
    }

    #[test]
    fn bad_entries_are_skipped() {
        let ids: Vec<_> = (0..5)
            .map(|_| ServiceNodeIdentity::from_keypair(&Keypair::generate_ed25519()).unwrap())
            .collect();
        let good = entry(&ids[0], &["/ip4/10.0.0.1/tcp/9000", "garbage"]);
        let mut wrong_key = entry(&ids[1], &["/ip4/10.0.0.2/tcp/9000"]);
        wrong_key.onion_key = ids[2].identity_key.to_vec();
        let mut short_key = entry(&ids[2], &["/ip4/10.0.0.3/tcp/9000"]);
        short_key.onion_key = vec![0x5a; 64];
        let other_peer = format!("/ip4/10.0.0.4/tcp/9000/p2p/{}", ids[0].peer_id);
        let no_addr = entry(&ids[3], &["nonsense", &other_peer]);
        let mut bad_peer = entry(&ids[4], &["/ip4/10.0.0.5/tcp/9000"]);
        bad_peer.peer_id = vec![0xff; 5];
        let mut snap = RegistrySnapshot::empty(31337, Address::repeat_byte(1));
        snap.nodes = vec![good, wrong_key, short_key, no_addr, bad_peer];
        let (nodes, skipped) = membership_nodes(&snap);
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].peer_id, ids[0].peer_id);
        assert_eq!(
            nodes[0].addrs,
            vec!["/ip4/10.0.0.1/tcp/9000".parse::<Multiaddr>().unwrap()]
        );
        assert_eq!(nodes[0].operator, Address::repeat_byte(7).to_string());
        let reasons: Vec<_> = skipped.iter().map(|(_, e)| e.clone()).collect();
        assert_eq!(
            reasons,
            vec![
                EntryError::KeyMismatch(ids[2].peer_id),
                EntryError::IdentityKey,
                EntryError::NoAddress,
                EntryError::PeerId,
            ]
        );
    }

    #[test]
    fn target_resolution() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.json");
        let err = ChainTarget::resolve(None, None, None, &missing).unwrap_err();
        assert!(err.to_string().contains("--registry"), "{err}");
        let reg = Address::repeat_byte(9);
        let err = ChainTarget::resolve(None, Some(reg), None, &missing).unwrap_err();
        assert!(err.to_string().contains("--eth-rpc"), "{err}");
        let t =
            ChainTarget::resolve(Some("http://127.0.0.1:1"), Some(reg), None, &missing).unwrap();
        assert_eq!(t.chain_id, None);
        let file = dir.path().join("addresses.json");
        std::fs::write(
            &file,
            format!(
                r#"{{"chainId":31337,"rpcUrl":"http://127.0.0.1:8545","serviceNodeRegistry":"{reg}","sessionTrigger":"{}"}}"#,
                Address::repeat_byte(2)
            ),
        )
        .unwrap();
        let t = ChainTarget::resolve(None, None, None, &file).unwrap();
        assert_eq!(
            t,
            ChainTarget {
                rpc_url: "http://127.0.0.1:8545".into(),
                registry: reg,
                chain_id: Some(31337)
            }
        );
        // Flags win; the file's chain ID and URL only for the same registry.
        let t = ChainTarget::resolve(Some("http://10.0.0.1:8545"), None, Some(5), &file).unwrap();
        assert_eq!(
            (t.rpc_url.as_str(), t.chain_id),
            ("http://10.0.0.1:8545", Some(5))
        );
        let other = Address::repeat_byte(3);
        assert!(ChainTarget::resolve(None, Some(other), None, &file).is_err());
        let t = ChainTarget::resolve(None, Some(reg), None, &file).unwrap();
        assert_eq!(t.chain_id, Some(31337));
        assert!(ChainTarget::resolve(Some("ws://x"), Some(reg), None, &file).is_err());
    }
}
