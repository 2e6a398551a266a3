//! The registry reader: the active set of `ServiceNodeRegistry`, followed with a confirmation lag,
//! kept on disk, served through chain outages.
//!
//! # How it follows the chain
//!
//! 1. **Startup**: the cache file (if it belongs to the configured chain ID and registry) is served
//!    at once; then `eth_chainId` is checked ([`RegistryError::WrongChain`]) and the registry address
//!    must hold code ([`RegistryError::NoContract`]).
//! 2. **Initial load**: the whole active set through the paged `activeNodes` view, every page read
//!    at the same block — the *safe* block `head − confirmations`, pinned by hash (EIP-1898).
//! 3. **Polling**: the logs of the registry's membership events (`NodeRegistered`, `NodeUpdated`,
//!    `StakeAdded`, `ExitRequested`, `Slashed`, `Withdrawn`) block range by block range up to the
//!    safe block, applied in (block, log index) order ([`crate::events`]). The hash of the range's
//!    last block is read before and after the log query; if they differ the range is retried.
//! 4. **Reorg safety**: before each poll the hash of the last processed block is compared with
//!    the chain's block at that height. If it changed (a reorg deeper than the confirmation lag,
//!    or the RPC now serves another history of the same chain ID, e.g. a restarted devnet), the
//!    set is reloaded through the views at the current safe block — the simplest correct rollback:
//!    no per-block undo log, and the result is exactly the contract's state. The old set is served
//!    until the reload succeeds.
//! 5. **Outages**: any failure keeps the last set, is reported through [`Health`] and logged once
//!    per outage at `warn`, and the step is retried with capped exponential backoff. After a
//!    transport failure the chain ID is checked again (the URL may now reach another node).
//!    A gap larger than [`RegistryConfig::reload_gap`] blocks is covered by a reload instead of
//!    thousands of log queries; a failing `eth_getLogs` halves the range of the next attempt
//!    (providers cap ranges and result sizes), successes grow it back.
//!
//! The cache is written after every change of the set and at least every
//! [`RegistryConfig::cache_interval`] while the block advances.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, B256};
use alloy::providers::{DynProvider, Provider};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cache;
use crate::contracts::{RegistryContract, decode_registry_log, registry_filter};
use crate::deployment::{
    DevnetAddresses, LOCAL_CHAIN_IDS, default_confirmations, parse_rpc_url, read_provider,
};
use crate::error::{RegistryError, rpc_call};
use crate::events::{
    ActiveSet, Backoff, NextStep, apply_events, plan, safe_block, still_canonical,
};
use crate::health::{Health, HealthError, RegistryHandle, SyncState};
use crate::types::{BlockRef, RegistrySnapshot};

/// Settings of a [`RegistryReader`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// JSON-RPC endpoint (http or https).
    pub rpc_url: String,
    /// The `ServiceNodeRegistry` address.
    pub registry: Address,
    /// The chain the registry lives on; any other chain ID at `rpc_url` is refused.
    pub chain_id: u64,
    /// Blocks a change must be buried under before the reader applies it.
    pub confirmations: u64,
    /// Pause between polls once up to date.
    pub poll_interval: Duration,
    /// Where the last known set is kept; `None` keeps it in memory only.
    pub cache_path: Option<PathBuf>,
    /// Largest block range per `eth_getLogs` query.
    pub max_log_range: u64,
    /// A gap of more blocks than this is covered by a reload through the views.
    pub reload_gap: u64,
    /// Timeout of each RPC request.
    pub rpc_timeout: Duration,
    /// First retry delay after a failure (doubling up to `backoff_max`).
    pub backoff_initial: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Longest time between cache writes while only the block advances.
    pub cache_interval: Duration,
}

impl RegistryConfig {
    /// Defaults for `chain_id`: confirmations per [`default_confirmations`], polls every 2 s on a
    /// local chain and every 6 s elsewhere, ranges of 2,000 blocks, 10 s RPC timeout, backoff
    /// from 1 s to 60 s, no cache file.
    pub fn new(rpc_url: impl Into<String>, registry: Address, chain_id: u64) -> Self {
        let local = LOCAL_CHAIN_IDS.contains(&chain_id);
        Self {
            rpc_url: rpc_url.into(),
            registry,
            chain_id,
            confirmations: default_confirmations(chain_id),
            poll_interval: Duration::from_secs(if local { 2 } else { 6 }),
            cache_path: None,
            max_log_range: 2_000,
            reload_gap: 50_000,
            rpc_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            cache_interval: Duration::from_secs(60),
        }
    }

    /// The configuration for a devnet deployment file; `rpc_url` overrides the file's `rpcUrl`.
    pub fn from_devnet(
        addresses: &DevnetAddresses,
        rpc_url: Option<&str>,
    ) -> Result<Self, RegistryError> {
        let url = rpc_url
            .map(str::to_owned)
            .or_else(|| addresses.rpc_url.clone())
            .ok_or_else(|| {
                RegistryError::Config("the address file records no rpcUrl; pass --eth-rpc".into())
            })?;
        Ok(Self::new(
            url,
            addresses.service_node_registry,
            addresses.chain_id,
        ))
    }

    /// Sets the cache file.
    pub fn with_cache(mut self, path: impl Into<PathBuf>) -> Self {
        self.cache_path = Some(path.into());
        self
    }

    /// Sets the confirmation lag.
    pub fn with_confirmations(mut self, confirmations: u64) -> Self {
        self.confirmations = confirmations;
        self
    }

    /// Sets the poll interval.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets the retry backoff bounds.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }

    /// Sets the per-request timeout.
    pub fn with_rpc_timeout(mut self, timeout: Duration) -> Self {
        self.rpc_timeout = timeout;
        self
    }

    /// Sets the largest `eth_getLogs` range.
    pub fn with_max_log_range(mut self, blocks: u64) -> Self {
        self.max_log_range = blocks;
        self
    }

    fn validate(&self) -> Result<(), RegistryError> {
        parse_rpc_url(&self.rpc_url)?;
        if self.registry == Address::ZERO {
            return Err(RegistryError::Config(
                "--registry is the zero address".into(),
            ));
        }
        if self.poll_interval.is_zero()
            || self.rpc_timeout.is_zero()
            || self.backoff_initial.is_zero()
        {
            return Err(RegistryError::Config(
                "poll interval, RPC timeout and backoff must be more than zero".into(),
            ));
        }
        Ok(())
    }
}

/// Starts registry readers.
#[derive(Debug)]
pub struct RegistryReader;

impl RegistryReader {
    /// Loads the cache (if configured and matching) and spawns the reader on the current tokio
    /// runtime. Fails only on an unusable configuration (or outside a runtime); an unreachable or
    /// wrong RPC is reported through [`RegistryHandle::health`] and retried.
    pub fn start(
        config: RegistryConfig,
    ) -> Result<(RegistryHandle, JoinHandle<()>), RegistryError> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            RegistryError::Config(
                "RegistryReader::start must be called inside a tokio runtime".into(),
            )
        })?;
        let provider = read_provider(&config.rpc_url)?;
        let mut snapshot = RegistrySnapshot::empty(config.chain_id, config.registry);
        let mut health = Health::new();
        if let Some(path) = &config.cache_path {
            match cache::load(path, config.chain_id, config.registry) {
                cache::Loaded::Snapshot(s) => {
                    tracing::info!(
                        nodes = s.nodes.len(),
                        block = s.block.map(|b| b.number),
                        "registry reader: serving the cached active set until the chain confirms it"
                    );
                    health.from_cache = true;
                    health.synced_block = s.block.map(|b| b.number);
                    snapshot = s;
                }
                cache::Loaded::Ignored(reason) => {
                    tracing::warn!("registry reader: ignoring the cache file: {reason}");
                }
                cache::Loaded::Missing => {}
            }
        }
        let set: ActiveSet = snapshot
            .nodes
            .iter()
            .map(|n| (n.node_id, n.clone()))
            .collect();
        let last = snapshot.block;
        let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(snapshot));
        let (health_tx, health_rx) = watch::channel(health);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let config_max_range = config.max_log_range.max(1);
        let worker = Worker {
            registry: RegistryContract::new(config.registry, provider.clone()),
            provider,
            backoff: Backoff::new(config.backoff_initial, config.backoff_max),
            config,
            chain_checked: false,
            set,
            last,
            snapshot_tx,
            health_tx,
            last_cache_write: None,
            cache_dirty: false,
            outage_logged: false,
            log_range: config_max_range,
        };
        let task = runtime.spawn(worker.run(shutdown_rx));
        Ok((
            RegistryHandle {
                snapshot: snapshot_rx,
                health: health_rx,
                shutdown: Arc::new(shutdown_tx),
            },
            task,
        ))
    }
}

/// What one step achieved.
enum Stepped {
    /// Up to date with the safe block.
    UpToDate,
    /// More blocks to process: step again without waiting.
    Behind,
}

struct Worker {
    config: RegistryConfig,
    provider: DynProvider,
    registry: RegistryContract,
    backoff: Backoff,
    chain_checked: bool,
    set: ActiveSet,
    last: Option<BlockRef>,
    snapshot_tx: watch::Sender<Arc<RegistrySnapshot>>,
    health_tx: watch::Sender<Health>,
    last_cache_write: Option<Instant>,
    cache_dirty: bool,
    outage_logged: bool,
    /// The current `eth_getLogs` range: halved when a query fails (providers cap ranges and
    /// result sizes), doubled back towards `max_log_range` after each success.
    log_range: u64,
}

impl Worker {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let outcome = tokio::select! {
                r = self.step() => r,
                _ = shutdown.changed() => break,
            };
            let wait = match outcome {
                Ok(stepped) => {
                    self.on_success(&stepped);
                    match stepped {
                        Stepped::UpToDate => self.config.poll_interval,
                        Stepped::Behind => Duration::ZERO,
                    }
                }
                Err(e) => self.on_failure(e),
            };
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => break,
            }
        }
        // Keep what we have for the next start.
        self.write_cache(true);
    }

    fn on_success(&mut self, stepped: &Stepped) {
        if self.outage_logged {
            tracing::info!(
                block = self.last.map(|b| b.number),
                nodes = self.set.len(),
                "registry reader: EVM RPC reachable again, caught up"
            );
        }
        self.outage_logged = false;
        self.backoff.reset();
        self.write_cache(false);
        let synced = self.last.map(|b| b.number);
        self.health_tx.send_modify(|h| {
            h.state = match stepped {
                Stepped::UpToDate => SyncState::Synced,
                Stepped::Behind => SyncState::CatchingUp,
            };
            h.from_cache = false;
            h.synced_block = synced;
            h.last_success = Some(SystemTime::now());
            h.consecutive_failures = 0;
            h.retry_in = None;
        });
    }

    fn on_failure(&mut self, error: RegistryError) -> Duration {
        if error.is_transient() {
            // The URL may reach another node when it comes back: check the chain again.
            self.chain_checked = false;
        }
        let wait = self.backoff.fail();
        if !self.outage_logged {
            tracing::warn!(
                nodes = self.set.len(),
                block = self.last.map(|b| b.number),
                "registry reader: {error}; serving the last known set of service nodes, retrying with backoff"
            );
            self.outage_logged = true;
        } else {
            tracing::debug!(retry_in = ?wait, "registry reader: still failing: {error}");
        }
        let failures = self.backoff.failures();
        self.health_tx.send_modify(|h| {
            h.state = SyncState::Degraded;
            h.last_error = Some(HealthError {
                at: SystemTime::now(),
                error,
            });
            h.consecutive_failures = failures;
            h.retry_in = Some(wait);
        });
        wait
    }

    fn timeout(&self) -> Duration {
        self.config.rpc_timeout
    }

    async fn step(&mut self) -> Result<Stepped, RegistryError> {
        let t = self.timeout();
        if !self.chain_checked {
            let chain_id = rpc_call("eth_chainId", t, self.provider.get_chain_id()).await?;
            if chain_id != self.config.chain_id {
                return Err(RegistryError::WrongChain {
                    expected: self.config.chain_id,
                    actual: chain_id,
                });
            }
            if self.code_at(BlockId::latest()).await?.is_empty() {
                return Err(RegistryError::NoContract {
                    address: self.config.registry,
                    chain_id,
                });
            }
            self.chain_checked = true;
        }
        let head = rpc_call("eth_blockNumber", t, self.provider.get_block_number()).await?;
        self.health_tx.send_modify(|h| h.head = Some(head));
        let safe = safe_block(head, self.config.confirmations);

        if let Some(last) = self.last {
            let canonical = self.block_hash(last.number).await?;
            if !still_canonical(&last, canonical) {
                tracing::warn!(
                    block = last.number,
                    "registry reader: the last processed block is no longer on the chain (a reorg deeper than the confirmation lag, or the RPC serves another history of this chain ID); reloading the active set"
                );
                self.last = None;
                self.health_tx.send_modify(|h| h.reloads += 1);
            }
        }

        match plan(
            self.last.map(|b| b.number),
            safe,
            self.log_range,
            self.config.reload_gap,
        ) {
            NextStep::Idle => Ok(Stepped::UpToDate),
            NextStep::FullLoad { at } => {
                self.full_load(at).await?;
                Ok(Stepped::UpToDate)
            }
            NextStep::Poll { from, to } => {
                self.poll(from, to).await?;
                Ok(if to < safe {
                    Stepped::Behind
                } else {
                    Stepped::UpToDate
                })
            }
        }
    }

    async fn code_at(&self, block: BlockId) -> Result<alloy::primitives::Bytes, RegistryError> {
        rpc_call(
            "eth_getCode",
            self.timeout(),
            self.provider
                .get_code_at(self.config.registry)
                .block_id(block),
        )
        .await
    }

    async fn block_hash(&self, number: u64) -> Result<Option<[u8; 32]>, RegistryError> {
        let block = rpc_call(
            "eth_getBlockByNumber",
            self.timeout(),
            self.provider
                .get_block_by_number(BlockNumberOrTag::Number(number)),
        )
        .await?;
        Ok(block.map(|b| b.header.hash.0))
    }

    async fn full_load(&mut self, at: u64) -> Result<(), RegistryError> {
        let hash = self
            .block_hash(at)
            .await?
            .ok_or_else(|| RegistryError::Decode {
                what: "eth_getBlockByNumber",
                message: format!("the RPC reported head {at} or later but has no block {at}"),
            })?;
        let pinned = BlockId::hash(B256::from(hash));
        let nodes = if self.code_at(pinned).await?.is_empty() {
            // The registry was deployed after the safe block: nothing registered yet.
            Vec::new()
        } else {
            self.registry
                .active_nodes_at(pinned, self.timeout())
                .await?
        };
        let set: ActiveSet = nodes.into_iter().map(|n| (n.node_id, n)).collect();
        let was_known = self.last.is_some() || self.snapshot_tx.borrow().is_known();
        let changed = set != self.set || !was_known;
        tracing::info!(
            block = at,
            nodes = set.len(),
            "registry reader: loaded the active set"
        );
        self.set = set;
        self.last = Some(BlockRef { number: at, hash });
        self.publish(changed);
        Ok(())
    }

    async fn poll(&mut self, from: u64, to: u64) -> Result<(), RegistryError> {
        let before = self.block_hash(to).await?;
        let filter = registry_filter(self.config.registry, from, to);
        let logs = match rpc_call(
            "eth_getLogs",
            self.timeout().saturating_mul(3),
            self.provider.get_logs(&filter),
        )
        .await
        {
            Ok(logs) => {
                self.log_range = self
                    .log_range
                    .saturating_mul(2)
                    .min(self.config.max_log_range.max(1));
                logs
            }
            Err(e) => {
                self.log_range = (self.log_range / 2).max(1);
                return Err(e);
            }
        };
        let after = self.block_hash(to).await?;
        let Some(hash) = before.filter(|h| Some(*h) == after) else {
            // The chain moved under the query: leave `last` alone and look again next step.
            tracing::debug!(
                from,
                to,
                "registry reader: blocks changed during the log query; retrying the range"
            );
            return Ok(());
        };
        let mut events = Vec::with_capacity(logs.len());
        for log in &logs {
            if log.removed {
                continue;
            }
            let number = log.block_number.unwrap_or_default();
            if number < from || number > to {
                return Err(RegistryError::Decode {
                    what: "eth_getLogs",
                    message: format!("asked for blocks {from}..={to}, got a log of block {number}"),
                });
            }
            if number == to && log.block_hash.is_some_and(|h| h.0 != hash) {
                tracing::debug!(
                    to,
                    "registry reader: a log of another fork; retrying the range"
                );
                return Ok(());
            }
            if let Some(e) = decode_registry_log(log)? {
                events.push(e);
            }
        }
        let changed = apply_events(&mut self.set, &mut events);
        if changed {
            tracing::info!(
                from,
                to,
                nodes = self.set.len(),
                "registry reader: active set changed"
            );
        }
        self.last = Some(BlockRef { number: to, hash });
        self.publish(changed);
        Ok(())
    }

    /// Publishes the block (silently) and, if `changed`, the set (notifying subscribers). A
    /// changed set is written to the cache before it is announced.
    fn publish(&mut self, changed: bool) {
        let block = self.last;
        self.cache_dirty = true;
        if changed {
            let snapshot = Arc::new(RegistrySnapshot {
                chain_id: self.config.chain_id,
                registry: self.config.registry,
                block,
                nodes: self.set.values().cloned().collect(),
            });
            self.save_cache(&snapshot);
            self.snapshot_tx.send_replace(snapshot);
        } else {
            self.snapshot_tx.send_if_modified(|s| {
                if s.block != block {
                    Arc::make_mut(s).block = block;
                }
                false
            });
        }
    }

    /// Writes the cache if the block advanced since the last write and `cache_interval` passed
    /// (or `force`).
    fn write_cache(&mut self, force: bool) {
        if !self.cache_dirty || self.last.is_none() {
            return;
        }
        let due = force
            || self
                .last_cache_write
                .is_none_or(|t| t.elapsed() >= self.config.cache_interval);
        if due {
            let snapshot = self.snapshot_tx.borrow().clone();
            self.save_cache(&snapshot);
        }
    }

    fn save_cache(&mut self, snapshot: &RegistrySnapshot) {
        let Some(path) = &self.config.cache_path else {
            return;
        };
        match cache::save(path, snapshot) {
            Ok(()) => {
                self.cache_dirty = false;
                self.last_cache_write = Some(Instant::now());
                self.health_tx
                    .send_if_modified(|h| h.cache_error.take().is_some());
            }
            Err(e) => {
                tracing::warn!("registry reader: {e}");
                self.health_tx.send_modify(|h| h.cache_error = Some(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use pars_error::{ErrorKind, HasKind};

    #[test]
    fn configuration_is_checked_up_front() {
        let reg = Address::repeat_byte(1);
        assert_eq!(default_confirmations(31337), 1);
        assert_eq!(default_confirmations(1), 12);
        let cfg = RegistryConfig::new("http://127.0.0.1:8545", reg, 31337);
        assert_eq!(cfg.confirmations, 1);
        // Outside a runtime: an error, not a panic.
        let err = RegistryReader::start(cfg.clone()).unwrap_err();
        assert!(err.to_string().contains("tokio runtime"), "{err}");
        for (url, registry) in [
            ("ws://127.0.0.1:8545", reg),
            ("not a url", reg),
            ("http://127.0.0.1:8545", Address::ZERO),
        ] {
            let mut c = cfg.clone();
            c.rpc_url = url.into();
            c.registry = registry;
            assert_eq!(c.validate().unwrap_err().kind(), ErrorKind::Config, "{url}");
        }
        let secret = "https://rpc.example/v3/SECRETKEY";
        let err = parse_rpc_url(&secret.replace("https", "wss")).unwrap_err();
        assert!(!err.to_string().contains("SECRETKEY"), "{err}");
        let addresses: DevnetAddresses = serde_json::from_str(
            r#"{"chainId":31337,"deployBlock":0,"serviceNodeRegistry":"0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9","sessionTrigger":"0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"}"#,
        )
        .unwrap();
        let err = RegistryConfig::from_devnet(&addresses, None).unwrap_err();
        assert!(err.to_string().contains("--eth-rpc"), "{err}");
        let c = RegistryConfig::from_devnet(&addresses, Some("http://127.0.0.1:1")).unwrap();
        assert_eq!(c.registry, addresses.service_node_registry);
    }
}
