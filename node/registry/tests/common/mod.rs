//! Test harness: a real anvil on a loopback port, the real deploy script, helpers to drive the
//! chain (mine, snapshot/revert, time travel) and to wait on the reader's watch channels.
//! `pars-bridge`'s relayer tests and bench use it too (through `#[path]`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use pars_registry::{
    DevnetAddresses, EvmSigner, MldsaKeyHash, Operator, OperatorConfig, Progress, Registration,
    TxOutcome,
};
use tokio::sync::watch;

/// The repository root.
pub fn repo_root() -> PathBuf {
    pars_testkit::repo_root()
}

/// anvil's well-known development keys: 0 deploys and owns the registry, 1.. are operators.
pub use pars_testkit::ANVIL_KEYS;

pub fn signer(i: usize) -> EvmSigner {
    EvmSigner::from_hex(ANVIL_KEYS[i]).unwrap()
}

pub fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

/// A running anvil (`pars_testkit::Anvil`), killed on drop, with alloy access and the deploy
/// script's addresses as `DevnetAddresses`.
pub struct Anvil {
    kit: pars_testkit::Anvil,
    pub port: u16,
    pub url: String,
}

impl Anvil {
    fn wrap(kit: pars_testkit::Anvil) -> Self {
        Self {
            port: kit.port,
            url: kit.url.clone(),
            kit,
        }
    }

    /// A fresh chain on a free port.
    pub async fn start() -> Self {
        Self::wrap(pars_testkit::Anvil::start())
    }

    /// A chain whose state is loaded from and dumped to `state` (on a graceful stop).
    pub async fn start_with_state(state: &Path) -> Self {
        Self::wrap(pars_testkit::Anvil::start_with_state(state))
    }

    /// Stops anvil gracefully (SIGTERM, so `--state` is dumped) and waits for it to exit.
    pub fn stop(&mut self) {
        self.kit.stop();
    }

    /// Starts anvil again on the same port (with the same state file, if any).
    pub async fn restart(&mut self) {
        self.kit.restart();
    }

    /// Replaces this chain by a brand-new one on the same port (same chain ID, new history).
    pub async fn replace_with_fresh_chain(&mut self) {
        self.kit.replace_with_fresh_chain();
    }

    pub fn provider(&self) -> DynProvider {
        ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_http(self.url.parse().unwrap())
            .erased()
    }

    pub async fn rpc(&self, method: &'static str, params: serde_json::Value) -> serde_json::Value {
        self.kit.rpc(method, params)
    }

    pub async fn mine(&self, blocks: u64) {
        self.kit.mine(blocks);
    }

    pub async fn head(&self) -> u64 {
        self.kit.head()
    }

    pub async fn snapshot(&self) -> String {
        self.kit.snapshot()
    }

    pub async fn revert(&self, id: &str) {
        self.kit.revert(id);
    }

    pub async fn increase_time(&self, secs: u64) {
        self.kit.increase_time(secs);
    }

    /// Deploys with `contracts/script/Deploy.s.sol` (the devnet's script) and reads the addresses
    /// file it writes.
    pub fn deploy(&self) -> DevnetAddresses {
        serde_json::from_str(&self.kit.deploy().json).unwrap()
    }
}

/// A registration for test node `tag`.
pub fn registration(tag: u8) -> Registration {
    // An identity-multihash-shaped peer ID: 0x00 0x24 0x08 0x01 0x12 0x20 ‖ 32 bytes.
    let mut peer_id = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    peer_id.extend_from_slice(&[tag; 32]);
    Registration {
        peer_id,
        mldsa_key_hash: MldsaKeyHash([tag; 32]),
        onion_key: vec![tag ^ 0x5a; 64],
        multiaddrs: vec![
            format!("/ip4/127.0.0.1/tcp/{}", 9000 + u16::from(tag)),
            format!("/ip4/127.0.0.1/udp/{}/quic-v1", 9000 + u16::from(tag)),
        ],
        name: format!("operator-{tag}"),
    }
}

pub async fn operator(
    anvil: &Anvil,
    addresses: &DevnetAddresses,
    key: Option<EvmSigner>,
) -> Operator {
    let cfg = OperatorConfig::new(
        &anvil.url,
        addresses.service_node_registry,
        addresses.chain_id,
    )
    .with_poll_interval(Duration::from_millis(50))
    .with_confirmation_timeout(Duration::from_secs(30));
    Operator::connect(cfg, key).await.unwrap()
}

/// Registers test node `tag` from anvil account `account` with 1 ether.
pub async fn register(
    anvil: &Anvil,
    addresses: &DevnetAddresses,
    account: usize,
    tag: u8,
) -> TxOutcome {
    let op = operator(anvil, addresses, Some(signer(account))).await;
    op.register(&registration(tag), ether(1), &mut |_: Progress| {})
        .await
        .unwrap()
}

/// Waits until `pred` holds for the watched value.
pub async fn wait_for<T>(rx: &watch::Receiver<T>, what: &str, pred: impl FnMut(&T) -> bool) {
    let mut rx = rx.clone();
    match tokio::time::timeout(Duration::from_secs(30), rx.wait_for(pred)).await {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => panic!("the reader stopped while waiting for {what}"),
        Err(_) => panic!("timed out waiting for {what}"),
    }
}
