//! Test harness: a real anvil on a loopback port, the real deploy script, helpers to drive the
//! chain (mine, snapshot/revert, time travel) and to wait on the reader's watch channels.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use pars_bridge::{
    DevnetAddresses, EvmSigner, MldsaKeyHash, Operator, OperatorConfig, Progress, Registration,
    TxOutcome,
};
use tokio::sync::watch;

/// The repository root (the crate is `bridge/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn tool(name: &str) -> PathBuf {
    let path = repo_root().join(".tools/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-tools first (scripts/test does)",
        path.display()
    );
    path
}

/// anvil's well-known development keys: 0 deploys and owns the registry, 1.. are operators.
pub const ANVIL_KEYS: [&str; 5] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
];

pub fn signer(i: usize) -> EvmSigner {
    EvmSigner::from_hex(ANVIL_KEYS[i]).unwrap()
}

pub fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

/// A running anvil, killed on drop.
pub struct Anvil {
    child: Option<Child>,
    pub port: u16,
    pub url: String,
    state: Option<PathBuf>,
}

impl Anvil {
    /// A fresh chain on a free port.
    pub async fn start() -> Self {
        Self::spawn(0, None).await
    }

    /// A chain whose state is loaded from and dumped to `state` (on a graceful stop).
    pub async fn start_with_state(state: &Path) -> Self {
        Self::spawn(0, Some(state.to_path_buf())).await
    }

    async fn spawn(port: u16, state: Option<PathBuf>) -> Self {
        let mut cmd = Command::new(tool("anvil"));
        cmd.args([
            "--hardfork",
            "prague",
            "--disable-block-gas-limit",
            "--host",
            "127.0.0.1",
        ])
        .args(["--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        if let Some(s) = &state {
            cmd.arg("--state").arg(s);
        }
        let mut child = cmd.spawn().expect("start anvil");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Reads the port from "Listening on 127.0.0.1:PORT", then keeps draining the output so
        // anvil never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(rest) = line.split("Listening on 127.0.0.1:").nth(1) {
                    let _ = tx.send(rest.trim().parse::<u16>().ok());
                    sent = true;
                }
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Some(p)) => p,
            other => {
                let _ = child.kill();
                panic!("anvil did not report its port: {other:?}");
            }
        };
        let url = format!("http://127.0.0.1:{port}");
        let anvil = Self {
            child: Some(child),
            port,
            url,
            state,
        };
        anvil.wait_ready().await;
        anvil
    }

    async fn wait_ready(&self) {
        let provider = self.provider();
        let deadline = Instant::now() + Duration::from_secs(20);
        while provider.get_chain_id().await.is_err() {
            assert!(
                Instant::now() < deadline,
                "anvil at {} never answered eth_chainId",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops anvil gracefully (SIGTERM, so `--state` is dumped) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts anvil again on the same port (with the same state file, if any).
    pub async fn restart(&mut self) {
        self.stop();
        let next = Self::spawn(self.port, self.state.clone()).await;
        *self = next;
    }

    /// Replaces this chain by a brand-new one on the same port (same chain ID, new history).
    pub async fn replace_with_fresh_chain(&mut self) {
        self.stop();
        let next = Self::spawn(self.port, None).await;
        *self = next;
    }

    pub fn provider(&self) -> DynProvider {
        ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_http(self.url.parse().unwrap())
            .erased()
    }

    pub async fn rpc(&self, method: &'static str, params: serde_json::Value) -> serde_json::Value {
        self.provider()
            .raw_request::<_, serde_json::Value>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    pub async fn mine(&self, blocks: u64) {
        self.rpc("anvil_mine", serde_json::json!([blocks])).await;
    }

    pub async fn head(&self) -> u64 {
        self.provider().get_block_number().await.unwrap()
    }

    pub async fn snapshot(&self) -> String {
        let id = self.rpc("evm_snapshot", serde_json::json!([])).await;
        id.as_str().unwrap().to_owned()
    }

    pub async fn revert(&self, id: &str) {
        let ok = self.rpc("evm_revert", serde_json::json!([id])).await;
        assert_eq!(ok, serde_json::Value::Bool(true), "evm_revert failed");
    }

    pub async fn increase_time(&self, secs: u64) {
        let _: serde_json::Value = self
            .rpc("evm_increaseTime", serde_json::json!([secs]))
            .await;
        self.mine(1).await;
    }

    /// Deploys with `contracts/script/Deploy.s.sol` (the devnet's script) and reads the addresses
    /// file it writes.
    pub fn deploy(&self) -> DevnetAddresses {
        static FORGE: Mutex<()> = Mutex::new(());
        let _one_at_a_time = FORGE.lock().unwrap_or_else(|e| e.into_inner());
        let root = repo_root();
        let file = format!(
            ".devnet/bridge-test-{}-{}.json",
            std::process::id(),
            self.port
        );
        let out = Command::new(tool("forge"))
            .current_dir(&root)
            .args([
                "script",
                "contracts/script/Deploy.s.sol",
                "--rpc-url",
                &self.url,
                "--broadcast",
            ])
            .env("ADDRESSES_FILE", &file)
            .env("RPC_URL", &self.url)
            .env("REGISTRY_UNBONDING", "3600")
            .output()
            .expect("run forge");
        assert!(
            out.status.success(),
            "forge script failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let path = root.join(&file);
        let addresses = DevnetAddresses::load(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        addresses
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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
