//! The on-chain side of the harness: a real anvil (`pars_testkit`) with the devnet's contracts,
//! service nodes registered with the real `parsctl node register` and run by real `sessiond
//! --service-node` processes on the registry, user daemons on the registry, and each service
//! node's `node-status.json` (its counters) for observation.

use super::{READY_TIMEOUT, User, bin, log_tail, port_open};
use pars_testkit::{ANVIL_KEYS, Anvil, AnvilOptions, Deployment, free_port};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A local chain with the contracts deployed, and the address file every process reads.
pub struct Chain {
    pub dir: tempfile::TempDir,
    pub anvil: Anvil,
    pub deployment: Deployment,
    /// `addresses.json` as the deploy script wrote it (with `rpcUrl`).
    pub addresses: PathBuf,
}

impl Chain {
    /// anvil mining a block every second (so confirmations come without transactions), with
    /// its state in the test directory (so it can be stopped and started again as the same
    /// chain), and the contracts deployed.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let anvil = Anvil::with_options(AnvilOptions {
            port: 0,
            block_time: Some(1),
            state: Some(dir.path().join("anvil-state.json")),
        });
        let deployment = anvil.deploy();
        let addresses = dir.path().join("addresses.json");
        deployment.write_to(&addresses);
        Self {
            dir,
            anvil,
            deployment,
            addresses,
        }
    }

    /// Service node `i` (not registered, not started); operator key `ANVIL_KEYS[key]`.
    pub fn node(&self, i: usize, key: usize) -> ChainNode {
        let dir = self.dir.path().join(format!("node{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        ChainNode {
            name: format!("node{i}"),
            log: self.dir.path().join(format!("node{i}.log")),
            dir,
            port: free_port(),
            key: ANVIL_KEYS[key],
            addresses: self.addresses.clone(),
            bootstrap: Vec::new(),
            child: None,
        }
    }

    /// A user daemon on the registry (through the address file).
    pub fn user(&self, name: &str) -> User {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut extra: Vec<String> = ["--poll-min-ms", "100", "--poll-max-ms", "1000"]
            .map(String::from)
            .to_vec();
        extra.push("--addresses-file".into());
        extra.push(self.addresses.display().to_string());
        User {
            name: name.into(),
            log: self.dir.path().join(format!("{name}.log")),
            dir,
            // Unused: with an address file the daemon takes its set from the registry.
            set_file: self.addresses.clone(),
            child: None,
            extra,
        }
    }
}

/// A service node of the chain-backed network.
pub struct ChainNode {
    pub name: String,
    pub dir: PathBuf,
    pub port: u16,
    /// Its operator's EVM key (given to parsctl in the environment only).
    key: &'static str,
    addresses: PathBuf,
    log: PathBuf,
    /// `/ip4/…/p2p/…` addresses it dials at start.
    pub bootstrap: Vec<String>,
    child: Option<Child>,
}

impl ChainNode {
    /// `parsctl --datadir <node> <args>` with the operator's key in the environment.
    pub fn parsctl(&self, args: &[&str]) -> Output {
        Command::new(bin("parsctl"))
            .arg("--datadir")
            .arg(&self.dir)
            .args(args)
            .env("PARS_EVM_PRIVATE_KEY", self.key)
            .env_remove("PARS_EVM_KEYSTORE")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn parsctl_ok(&self, args: &[&str]) -> Value {
        let out = self.parsctl(args);
        assert!(
            out.status.success(),
            "parsctl {args:?} for {} failed ({:?}):\n{}\n{}",
            self.name,
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `parsctl node register` (10 ether, its listen address): the registration's JSON.
    pub fn register(&self) -> Value {
        let addr = format!("/ip4/127.0.0.1/tcp/{}", self.port);
        let file = self.addresses.display().to_string();
        self.parsctl_ok(&[
            "--json",
            "node",
            "register",
            "--stake",
            "10ether",
            "--operator",
            &self.name,
            "--addr",
            &addr,
            "--addresses-file",
            &file,
        ])
    }

    /// `parsctl node exit`.
    pub fn exit(&self) -> Value {
        let file = self.addresses.display().to_string();
        self.parsctl_ok(&["--json", "node", "exit", "--addresses-file", &file])
    }

    /// Its peer ID (creating its node key if needed).
    pub fn peer_id(&self) -> String {
        let out = Command::new(bin("sessiond"))
            .args(["--log", "warn", "--print-peer-id", "--datadir"])
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// The address others dial it at, with its peer ID.
    pub fn p2p_addr(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", self.port, self.peer_id())
    }

    /// Starts `sessiond --service-node` on the registry; returns once it listens.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(bin("sessiond"));
        cmd.arg("--service-node")
            .args(["--network", "local", "--log", "info", "--operator"])
            .arg(&self.name)
            .arg("--datadir")
            .arg(&self.dir)
            .arg("--addresses-file")
            .arg(&self.addresses)
            .arg("--listen")
            .arg(format!("/ip4/127.0.0.1/tcp/{}", self.port));
        for b in &self.bootstrap {
            cmd.arg("--bootstrap").arg(b);
        }
        self.child = Some(
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let start = Instant::now();
        while !port_open(self.port) {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!("{} exited ({st}):\n{}", self.name, log_tail(&self.log));
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "{} did not listen",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Its `node-status.json` (rewritten every second), once it exists.
    pub fn status(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.dir.join("node-status.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// A counter of its status file, e.g. `("onion", "received")`.
    pub fn counter(&self, group: &str, name: &str) -> u64 {
        self.status()
            .and_then(|s| s[group][name].as_u64())
            .unwrap_or_else(|| panic!("{} has no {group}.{name} yet", self.name))
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for ChainNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Registers all `nodes` at once (each has its own operator key), then starts them.
pub fn register_and_start(nodes: &mut [ChainNode]) {
    std::thread::scope(|s| {
        for n in nodes.iter() {
            s.spawn(move || n.register());
        }
    });
    for n in nodes.iter_mut() {
        n.start();
    }
}

/// Waits (blocking) until every node's status file says it sees `members` set members.
pub fn wait_members(nodes: &[ChainNode], members: u64, timeout: Duration) {
    let start = Instant::now();
    for n in nodes {
        while n.status().and_then(|s| s["setMembers"].as_u64()) != Some(members) {
            assert!(
                start.elapsed() < timeout,
                "{} never saw {members} members: {:?}\n{}",
                n.name,
                n.status(),
                n.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
