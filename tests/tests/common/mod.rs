//! The harness: a loopback service-node network of real `sessiond --service-node` processes,
//! user daemons (real `sessiond` processes) and `parsctl` runs. Every process is killed when its
//! handle drops, so a failing test leaves nothing behind.

#![allow(dead_code)]

pub mod bridge;
pub mod chain;

use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use pars_rpc::auth;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Generous: the CI machine has 2 cores and runs other tests at the same time.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// A binary of this build: `target/<profile>/<name>`, next to the test's `deps/` directory
/// (or next to the running binary, for `bench-e2e`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let here = exe.parent().unwrap();
    let dir = if here.ends_with("deps") {
        here.parent().unwrap()
    } else {
        here
    };
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: `cargo test --workspace` builds it; with `cargo test -p pars-e2e`, run `cargo build -p sessiond -p parsctl` first",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

fn log_tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Waits until `f` gives `Some`, polling; panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn terminate(child: &mut Child) -> ExitStatus {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("process {} did not stop within 60 s of SIGTERM", child.id());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback network of service nodes from a generated set file.
pub struct ServiceNet {
    pub dir: tempfile::TempDir,
    pub set_file: PathBuf,
    nodes: Vec<Child>,
    /// Each node's peer ID.
    pub peers: Vec<String>,
    ports: Vec<u16>,
    extra: Vec<String>,
}

impl ServiceNet {
    pub fn start(n: usize) -> Self {
        Self::start_with(n, &[])
    }

    /// `n` service nodes, each also given the flags `extra`.
    pub fn start_with(n: usize, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = Vec::new();
        let mut ports = Vec::new();
        for i in 0..n {
            let d = dir.path().join(format!("node{i}"));
            let out = Command::new(bin("sessiond"))
                .args(["--log", "warn", "--print-peer-id", "--datadir"])
                .arg(&d)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let peer = String::from_utf8(out.stdout).unwrap().trim().to_string();
            let port = free_port();
            ports.push(port);
            entries.push(serde_json::json!({
                "peer_id": peer,
                "addrs": [format!("/ip4/127.0.0.1/tcp/{port}")],
                "operator": format!("op{i}"),
            }));
        }
        let peers = entries
            .iter()
            .map(|e| e["peer_id"].as_str().unwrap().to_string())
            .collect();
        let set_file = dir.path().join("service-nodes.json");
        std::fs::write(
            &set_file,
            serde_json::json!({ "nodes": entries }).to_string(),
        )
        .unwrap();
        let mut net = Self {
            dir,
            set_file,
            nodes: Vec::new(),
            peers,
            ports,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        for i in 0..n {
            let child = net.spawn(i);
            net.nodes.push(child);
        }
        for i in 0..n {
            net.wait_listening(i);
        }
        net
    }

    fn spawn(&self, i: usize) -> Child {
        let d = self.dir.path().join(format!("node{i}"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("node{i}.log")))
            .unwrap();
        Command::new(bin("sessiond"))
            .arg("--service-node")
            .args(["--network", "local", "--log", "info", "--operator"])
            .arg(format!("op{i}"))
            .arg("--datadir")
            .arg(&d)
            .arg("--node-set")
            .arg(&self.set_file)
            .arg("--listen")
            .arg(format!("/ip4/127.0.0.1/tcp/{}", self.ports[i]))
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn wait_listening(&mut self, i: usize) {
        let start = Instant::now();
        while !port_open(self.ports[i]) {
            if let Some(st) = self.nodes[i].try_wait().unwrap() {
                panic!(
                    "service node {i} exited ({st}):\n{}",
                    log_tail(&self.dir.path().join(format!("node{i}.log")))
                );
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "service node {i} did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL to service node `i` (a crash: it makes fresh onion keys when it comes back).
    pub fn kill9(&mut self, i: usize) {
        let _ = self.nodes[i].kill();
        let _ = self.nodes[i].wait();
    }

    /// Starts service node `i` again (same key, address and data) and waits until it listens.
    pub fn restart(&mut self, i: usize) {
        self.nodes[i] = self.spawn(i);
        self.wait_listening(i);
    }
}

impl Drop for ServiceNet {
    fn drop(&mut self) {
        for c in &mut self.nodes {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A user daemon with its own data directory (kept across restarts).
pub struct User {
    pub name: String,
    pub dir: PathBuf,
    set_file: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// Further flags (default: poll every 100 ms after activity, at most every second).
    pub extra: Vec<String>,
}

impl User {
    /// A user whose data directory is `<net dir>/<name>`; not started yet.
    pub fn new(net: &ServiceNet, name: &str) -> Self {
        let dir = net.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            name: name.into(),
            log: net.dir.path().join(format!("{name}.log")),
            dir,
            set_file: net.set_file.clone(),
            child: None,
            extra: ["--poll-min-ms", "100", "--poll-max-ms", "1000"]
                .map(String::from)
                .to_vec(),
        }
    }

    /// The command line of this user's daemon, unlocking with its key file.
    pub fn command(&self) -> Command {
        let mut c = self.base_command();
        c.arg("--key-file").arg(self.dir.join("store.key"));
        c
    }

    /// The command line without a way to unlock the store.
    pub fn base_command(&self) -> Command {
        let mut c = Command::new(bin("sessiond"));
        c.args(["--network", "local", "--log", "info,sessiond=debug"])
            .args(&self.extra)
            .arg("--datadir")
            .arg(&self.dir)
            .arg("--node-set")
            .arg(&self.set_file)
            .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--rpc", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        c
    }

    /// The daemon's process ID while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the daemon and waits until its API answers.
    pub async fn start(&mut self) {
        let c = self.command();
        self.spawn_and_wait(c).await
    }

    /// Starts the daemon without a key file, with what `f` adds (a passphrase).
    pub async fn start_with(&mut self, f: impl FnOnce(&mut Command)) {
        let mut c = self.base_command();
        f(&mut c);
        self.spawn_and_wait(c).await
    }

    async fn spawn_and_wait(&mut self, mut cmd: Command) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        self.child = Some(cmd.stderr(log).spawn().unwrap());
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!(
                    "{}'s daemon exited ({st}):\n{}",
                    self.name,
                    log_tail(&self.log)
                );
            }
            if let Some(c) = self.try_client() {
                use pars_rpc::SessionApiClient;
                if c.get_status().await.is_ok() {
                    return;
                }
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "{}'s daemon did not answer within {READY_TIMEOUT:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn try_client(&self) -> Option<HttpClient> {
        let addr = std::fs::read_to_string(self.dir.join(auth::ADDR_FILE)).ok()?;
        let token = auth::read_cookie(&self.dir).ok()?;
        HttpClientBuilder::default()
            .set_headers(auth::auth_headers(&token))
            .request_timeout(Duration::from_secs(120))
            .build(format!("http://{}", addr.trim()))
            .ok()
    }

    /// An RPC client with the daemon's current cookie.
    pub fn client(&self) -> HttpClient {
        self.try_client()
            .unwrap_or_else(|| panic!("{} is not running", self.name))
    }

    /// The messages it received from `peer`, oldest first.
    pub async fn incoming(&self, peer: &str) -> Vec<pars_rpc::types::MessageInfo> {
        use pars_rpc::SessionApiClient;
        self.client()
            .get_messages(Some(peer.to_string()), None, None)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.direction == pars_rpc::types::Direction::Incoming)
            .collect()
    }

    /// Waits until the daemon's outbox is empty (everything sent stored in the swarm).
    pub async fn outbox_empty(&self) {
        use pars_rpc::SessionApiClient;
        wait_for(
            DELIVERY_TIMEOUT,
            &format!("{}'s outbox to drain", self.name),
            || async { (self.client().get_status().await.ok()?.outbox_pending == 0).then_some(()) },
        )
        .await;
    }

    /// SIGTERM and wait: the daemon's exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let st = terminate(self.child.as_mut().expect("running"));
        self.child = None;
        st
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        let mut c = self.child.take().expect("running");
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// Runs parsctl against this daemon's data directory.
    pub fn parsctl(&self, args: &[&str]) -> Output {
        Command::new(bin("parsctl"))
            .arg("--datadir")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap()
    }

    /// Its whole log so far (all runs).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for User {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
