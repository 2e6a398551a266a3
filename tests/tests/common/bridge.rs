//! The bridge side of the harness: a real anvil with the devnet's contracts (pars-testkit), the
//! bridge's own sessiond (a [`User`]) and the real `pars-bridge run` process beside it, plus
//! what the tests read from the chain (`cast call`, account nonces).

use super::{DELIVERY_TIMEOUT, ServiceNet, User, bin, wait_for};
use pars_rpc::SessionApiClient;
use pars_rpc::types::{Direction, MessageInfo};
use pars_testkit::{ANVIL_ADDRESSES, ANVIL_KEYS, Anvil, AnvilOptions, Deployment, tool};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The anvil account the bridge pays gas from.
pub const BRIDGE_KEY: usize = 5;
/// The anvil account a test uses to force an action through by itself.
pub const OUTSIDER_KEY: usize = 6;

/// A chain with the devnet's contracts.
pub struct Chain {
    pub anvil: Anvil,
    pub deployment: Deployment,
}

impl Chain {
    /// A fresh anvil (state kept in `state` across [`Anvil::restart`]) with the contracts.
    pub fn start(state: PathBuf) -> Self {
        let anvil = Anvil::with_options(AnvilOptions {
            state: Some(state),
            ..AnvilOptions::default()
        });
        let deployment = anvil.deploy();
        Self { anvil, deployment }
    }

    /// `cast call <to> <sig> <args…>` on this chain: the decoded output.
    pub fn call(&self, to: &str, sig: &str, args: &[&str]) -> String {
        let out = Command::new(tool("cast"))
            .args(["call", "--rpc-url", &self.anvil.url, to, sig])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cast call {sig}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// The note SessionGuestbook holds for a session ID digest (`0x…`, 32 bytes).
    pub fn note_of(&self, digest: &str) -> String {
        let raw = self.call(
            &self.deployment.session_guestbook,
            "noteOf(bytes32)(string)",
            &[digest],
        );
        // cast prints strings quoted.
        raw.trim_matches('"').to_owned()
    }

    /// Whether SessionTrigger has seen this (session ID digest, nonce).
    pub fn nonce_used(&self, digest: &str, nonce: u64) -> bool {
        self.call(
            &self.deployment.session_trigger,
            "nonceUsed(bytes32,uint64)(bool)",
            &[digest, &nonce.to_string()],
        ) == "true"
    }

    /// The account nonce (transactions sent) of anvil account `i`.
    pub fn tx_count(&self, i: usize) -> u64 {
        let v = self.anvil.rpc(
            "eth_getTransactionCount",
            serde_json::json!([ANVIL_ADDRESSES[i], "latest"]),
        );
        u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }

    /// `cast send` of `executeFromSession(action, signature, key)` from the outsider account,
    /// with a fixed gas limit so that it is mined even though it reverts.
    pub fn force_execute(&self, action: &[u8], signature: &[u8], key: &[u8]) -> Output {
        Command::new(tool("cast"))
            .args(["send", "--json", "--gas-limit", "30000000", "--rpc-url"])
            .arg(&self.anvil.url)
            .args(["--private-key", ANVIL_KEYS[OUTSIDER_KEY]])
            .arg(&self.deployment.session_trigger)
            .arg("executeFromSession(bytes,bytes,bytes)")
            .arg(format!("0x{}", hex(action)))
            .arg(format!("0x{}", hex(signature)))
            .arg(format!("0x{}", hex(key)))
            .output()
            .unwrap()
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim_start_matches("0x");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The bridge: its sessiond and the `pars-bridge run` process.
pub struct Bridge {
    pub session: User,
    pub session_id: String,
    pub dir: PathBuf,
    log: PathBuf,
    rpc_url: String,
    trigger: String,
    chain_id: u64,
    child: Option<Child>,
}

impl Bridge {
    /// Starts the bridge's sessiond (with a fresh identity) and `pars-bridge run`.
    pub async fn start(net: &ServiceNet, chain: &Chain) -> Self {
        let mut session = User::new(net, "bridge-session");
        session.start().await;
        let session_id = session.client().create_identity().await.unwrap().session_id;
        let dir = net.dir.path().join("bridge");
        std::fs::create_dir_all(&dir).unwrap();
        let mut b = Self {
            session,
            session_id,
            log: net.dir.path().join("pars-bridge.log"),
            dir,
            rpc_url: chain.anvil.url.clone(),
            trigger: chain.deployment.session_trigger.clone(),
            chain_id: chain.deployment.chain_id,
            child: None,
        };
        b.run();
        b
    }

    /// A policy file that relays to any target for any sender without budgets (these tests are
    /// about the path of an action, not the policy: `bridge/tests/relay_machine.rs` tests that).
    fn open_policy(&self) -> PathBuf {
        let p = self.dir.join("policy.toml");
        std::fs::write(
            &p,
            "allowed-targets = \"any\"\nsenders = \"any\"\nsender-gas-per-hour = 100000000000\n\
             sender-gas-per-day = 100000000000\ngas-per-hour = 100000000000\n\
             gas-per-day = 100000000000\n",
        )
        .unwrap();
        p
    }

    /// Starts `pars-bridge run` (again).
    pub fn run(&mut self) {
        assert!(self.child.is_none(), "pars-bridge is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(bin("pars-bridge"))
            .arg("--datadir")
            .arg(&self.dir)
            .args([
                "run",
                "--eth-rpc",
                &self.rpc_url,
                "--trigger",
                &self.trigger,
            ])
            .args(["--chain-id", &self.chain_id.to_string()])
            .args(["--confirmations", "1", "--rate-burst", "50"])
            .arg("--policy")
            .arg(self.open_policy())
            .arg("--session-datadir")
            .arg(&self.session.dir)
            .env("PARS_EVM_PRIVATE_KEY", ANVIL_KEYS[BRIDGE_KEY])
            .env("RUST_LOG", "info")
            .env_remove("PARS_EVM_KEYSTORE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        let mut c = self.child.take().expect("pars-bridge running");
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// `pars-bridge status --json`, once it has written a status.
    pub fn status(&self) -> Option<serde_json::Value> {
        let out = Command::new(bin("pars-bridge"))
            .arg("--datadir")
            .arg(&self.dir)
            .args(["status", "--json"])
            .output()
            .unwrap();
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The bridge's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Alice's messages of one content type in her session with `peer`, one direction.
pub async fn messages_of(
    u: &User,
    peer: &str,
    content_type: &str,
    direction: Direction,
) -> Vec<MessageInfo> {
    u.client()
        .get_messages(Some(peer.to_string()), None, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.content_type == content_type && m.direction == direction)
        .collect()
}

/// Waits until `u` can open a session with `peer` (its bundle is in the network).
pub async fn open_session(u: &User, peer: &str) {
    wait_for(DELIVERY_TIMEOUT, "the bridge's bundle", || async {
        u.client().create_session(peer.to_string()).await.ok()
    })
    .await;
}

/// Waits for the bridge's status to satisfy `pred`.
pub async fn wait_status(bridge: &Bridge, what: &str, pred: impl Fn(&serde_json::Value) -> bool) {
    wait_for(Duration::from_secs(300), what, || async {
        bridge.status().filter(|s| pred(s)).map(|_| ())
    })
    .await;
}
