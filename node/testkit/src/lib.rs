//! Test support shared by the test suites that need a real chain: a real `anvil` process on a
//! loopback port (fresh or with a persisted `--state`, stop and restart on the same port), the
//! devnet's own deploy script (`contracts/script/Deploy.s.sol` through `forge script`) and anvil's
//! well-known development keys.
//!
//! Everything here is blocking (plain `std`): call it from synchronous tests, or from async tests
//! where a short block of the current thread is harmless (anvil is another process).
//!
//! This crate is test support: a failure to start or drive anvil is a failed test, so it panics
//! with a message that says what is wrong. It must not depend on `pars-bridge`, whose own tests
//! use it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde::Deserialize;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

/// anvil's well-known development private keys (mnemonic `test test … junk`, accounts 0–9).
pub const ANVIL_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// The addresses of [`ANVIL_KEYS`], in the same order (EIP-55 checksummed).
pub const ANVIL_ADDRESSES: [&str; 10] = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
];

/// How long one `forge script` deploy may take (it takes a few seconds) before it is killed.
const FORGE_LIMIT: Duration = Duration::from_secs(180);

/// How long `scripts/install-tools` may hold its lock (an npm install).
const INSTALL_LIMIT: Duration = Duration::from_secs(900);

/// anvil's chain ID.
pub const ANVIL_CHAIN_ID: u64 = 31337;

/// The repository root (this crate is `node/testkit/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("node/testkit has two parents")
        .to_path_buf()
}

/// `.tools/bin` of the repository, where `scripts/install-tools` puts forge, anvil and cast.
pub fn tools_dir() -> PathBuf {
    repo_root().join(".tools").join("bin")
}

/// The path of a pinned tool (`forge`, `anvil`, `cast`). Runs `scripts/install-tools` once if
/// it is missing (that needs npm and the npm registry), and panics with what to do if that fails.
pub fn tool(name: &str) -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let path = tools_dir().join(name);
    if path.exists() {
        return path;
    }
    let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        let root = repo_root();
        let lock = lock_file(&root.join(".tools-install.lock"), INSTALL_LIMIT);
        let out = Command::new(root.join("scripts").join("install-tools"))
            .current_dir(&root)
            .stdin(Stdio::null())
            .output();
        drop(lock);
        let _ = std::fs::remove_file(root.join(".tools-install.lock"));
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "{} is missing and scripts/install-tools failed ({}):\n{}\nrun scripts/install-tools by hand (needs node >= 18 and npm)",
                path.display(),
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!(
                "{} is missing and scripts/install-tools could not run: {e}; run it by hand",
                path.display()
            ),
        }
    }
    assert!(
        path.exists(),
        "{} is missing even after scripts/install-tools: run it by hand and check its output",
        path.display()
    );
    path
}

/// An exclusive lock on `path` (created), held until the file handle drops: serialises
/// processes (parallel test binaries), not only threads. Waits at most `limit`, then panics
/// naming the lock (a holder that never lets go is a hung run, and says so).
fn lock_file(path: &Path, limit: Duration) -> std::fs::File {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open lock file {}: {e}", path.display()));
    let deadline = Instant::now() + limit;
    loop {
        match f.try_lock() {
            Ok(()) => return f,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => panic!(
                "{} still held by another process after {limit:?}: a forge or install run hung",
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                panic!("cannot lock {}: {e}", path.display())
            }
        }
    }
}

/// What a bounded child run gave: its exit status (`None` when it was killed for running
/// past its limit) and everything it printed.
struct Bounded {
    status: Option<std::process::ExitStatus>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `cmd` (stdin closed, output captured) for at most `limit`, then kills it with every
/// process it started (it runs in a process group of its own: forge starts the solc wrapper).
fn run_bounded(cmd: &mut Command, limit: Duration) -> std::io::Result<Bounded> {
    use std::os::unix::process::CommandExt as _;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        rx
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if Instant::now() >= deadline {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // A descendant that escaped the group could keep a pipe open: wait for the output only
    // a little, and keep what there is.
    let grace = Duration::from_secs(5);
    Ok(Bounded {
        status,
        stdout: out.recv_timeout(grace).unwrap_or_default(),
        stderr: err.recv_timeout(grace).unwrap_or_default(),
    })
}

/// A free TCP port on 127.0.0.1 (free when asked; bind it soon).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One ether in wei, times `n`, as a decimal string.
pub fn ether(n: u64) -> String {
    format!("{n}000000000000000000")
}

/// How to start an [`Anvil`].
#[derive(Clone, Debug, Default)]
pub struct AnvilOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Mine a block every this many seconds (`--block-time`); `None` mines on each transaction.
    pub block_time: Option<u64>,
    /// Load the chain from and dump it to this file on a graceful stop (`--state`).
    pub state: Option<PathBuf>,
}

/// A running anvil (`--hardfork prague --disable-block-gas-limit` on 127.0.0.1), killed on drop.
pub struct Anvil {
    child: Option<Child>,
    /// The port it listens on (kept across [`Anvil::restart`]).
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    opts: AnvilOptions,
}

impl Anvil {
    /// A fresh chain on a free port, mining on each transaction.
    pub fn start() -> Self {
        Self::with_options(AnvilOptions::default())
    }

    /// A chain whose state is loaded from and dumped to `state` (on [`Anvil::stop`]).
    pub fn start_with_state(state: &Path) -> Self {
        Self::with_options(AnvilOptions {
            state: Some(state.to_path_buf()),
            ..AnvilOptions::default()
        })
    }

    /// A chain with these options; returns once it answers `eth_chainId`.
    pub fn with_options(opts: AnvilOptions) -> Self {
        let mut cmd = Command::new(tool("anvil"));
        cmd.args(["--hardfork", "prague", "--disable-block-gas-limit"])
            .args(["--host", "127.0.0.1", "--port", &opts.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(secs) = opts.block_time {
            cmd.args(["--block-time", &secs.to_string()]);
        }
        if let Some(s) = &opts.state {
            cmd.arg("--state").arg(s);
        }
        let mut child = cmd.spawn().expect("start anvil");
        let stdout = child.stdout.take().expect("piped stdout");
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
        let port = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(p)) => p,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "anvil did not report its port (port {} busy?): {other:?}",
                    opts.port
                );
            }
        };
        let anvil = Self {
            child: Some(child),
            port,
            url: format!("http://127.0.0.1:{port}"),
            opts,
        };
        anvil.wait_ready();
        anvil
    }

    /// Waits (up to 60 s) until anvil answers `eth_chainId`.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.try_rpc("eth_chainId", serde_json::json!([])) {
                Ok(_) => return,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "anvil at {} never answered eth_chainId: {e}",
                    self.url
                ),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process is still there.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops anvil gracefully (SIGTERM, so `--state` is dumped) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
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

    /// Starts anvil again on the same port with the same options (the same chain if it has a
    /// state file). Stops it first if it is running.
    pub fn restart(&mut self) {
        self.stop();
        let opts = AnvilOptions {
            port: self.port,
            ..self.opts.clone()
        };
        *self = Self::with_options(opts);
    }

    /// Replaces this chain by a brand-new one on the same port (same chain ID, new history).
    pub fn replace_with_fresh_chain(&mut self) {
        self.stop();
        let opts = AnvilOptions {
            port: self.port,
            state: None,
            ..self.opts.clone()
        };
        *self = Self::with_options(opts);
    }

    /// A JSON-RPC call; the `result`, or why there is none.
    pub fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        json_rpc(self.port, method, params)
    }

    /// A JSON-RPC call that must succeed.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .unwrap_or_else(|e| panic!("anvil {method}: {e}"))
    }

    /// Mines `blocks` blocks now.
    pub fn mine(&self, blocks: u64) {
        self.rpc("anvil_mine", serde_json::json!([blocks]));
    }

    /// The latest block number.
    pub fn head(&self) -> u64 {
        let v = self.rpc("eth_blockNumber", serde_json::json!([]));
        parse_quantity(&v).unwrap_or_else(|| panic!("eth_blockNumber gave {v}"))
    }

    /// The chain ID.
    pub fn chain_id(&self) -> u64 {
        let v = self.rpc("eth_chainId", serde_json::json!([]));
        parse_quantity(&v).unwrap_or_else(|| panic!("eth_chainId gave {v}"))
    }

    /// `evm_snapshot`: an ID for [`Anvil::revert`].
    pub fn snapshot(&self) -> String {
        let id = self.rpc("evm_snapshot", serde_json::json!([]));
        id.as_str()
            .unwrap_or_else(|| panic!("evm_snapshot gave {id}"))
            .to_owned()
    }

    /// `evm_revert` to a snapshot.
    pub fn revert(&self, id: &str) {
        let ok = self.rpc("evm_revert", serde_json::json!([id]));
        assert_eq!(ok, Value::Bool(true), "evm_revert failed");
    }

    /// Moves the clock forward by `secs` and mines a block.
    pub fn increase_time(&self, secs: u64) {
        self.rpc("evm_increaseTime", serde_json::json!([secs]));
        self.mine(1);
    }

    /// Sets the balance of `address` (anvil_setBalance), in wei.
    pub fn set_balance(&self, address: &str, wei: u128) {
        self.rpc(
            "anvil_setBalance",
            serde_json::json!([address, format!("0x{wei:x}")]),
        );
    }

    /// Deploys with `contracts/script/Deploy.s.sol` (the devnet's script; unbonding 3600 s).
    pub fn deploy(&self) -> Deployment {
        self.deploy_with_env(&[])
    }

    /// Deploys with extra environment for the script (`REGISTRY_UNBONDING`,
    /// `REGISTRY_MIN_STAKE`, `VERIFIER_MODE`, …; see its header) and parses the file it writes.
    pub fn deploy_with_env(&self, env: &[(&str, &str)]) -> Deployment {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let root = repo_root();
        let file = format!(
            ".devnet/testkit-deploy-{}-{}-{}.json",
            std::process::id(),
            self.port,
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let forge = tool("forge");
        // forge shares out/, cache/ and broadcast/ in the repository: one run at a time, also
        // across test binaries running in parallel. Every wait is bounded: a run that hangs is
        // killed (its output kept) and tried once more, and a lock never freed fails the test.
        let lock = lock_file(
            &root.join(".devnet").join(".testkit-forge.lock"),
            FORGE_LIMIT * 3,
        );
        let mut runs = Vec::new();
        for _attempt in 0..2 {
            let mut cmd = Command::new(&forge);
            cmd.current_dir(&root)
                .args(["script", "contracts/script/Deploy.s.sol", "--rpc-url"])
                .arg(&self.url)
                .arg("--broadcast")
                .env("ADDRESSES_FILE", &file)
                .env("RPC_URL", &self.url)
                .env("REGISTRY_UNBONDING", "3600");
            for (k, v) in env {
                cmd.env(k, v);
            }
            let run = run_bounded(&mut cmd, FORGE_LIMIT).expect("run forge");
            let hung = run.status.is_none();
            runs.push(run);
            if !hung {
                break;
            }
        }
        drop(lock);
        let last = runs.last().expect("forge ran");
        if last.status.is_none_or(|s| !s.success()) {
            let mut report = String::new();
            for (i, r) in runs.iter().enumerate() {
                let how = match r.status {
                    Some(s) => format!("exited with {s}"),
                    None => format!("killed after {FORGE_LIMIT:?} without finishing"),
                };
                report.push_str(&format!(
                    "forge script, run {}: {how}\n--- stdout\n{}\n--- stderr\n{}\n",
                    i + 1,
                    String::from_utf8_lossy(&r.stdout),
                    String::from_utf8_lossy(&r.stderr)
                ));
            }
            panic!("deploying on {} failed:\n{report}", self.url);
        }
        let path = root.join(&file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("deploy wrote no {}: {e}", path.display()));
        let _ = std::fs::remove_file(&path);
        Deployment::parse(&text)
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

/// The addresses file `Deploy.s.sol` writes (addresses as 0x-hex text, as written).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Chain ID deployed to.
    pub chain_id: u64,
    /// The RPC URL the script was given (`RPC_URL`), if any.
    #[serde(default)]
    pub rpc_url: Option<String>,
    /// Block number when the script started.
    pub deploy_block: u64,
    /// `ServiceNodeRegistry`.
    pub service_node_registry: String,
    /// `SessionTrigger`.
    pub session_trigger: String,
    /// `SessionGuestbook` (the example target).
    pub session_guestbook: String,
    /// `LuxMLDSAPrecompile` (the adapter SessionTrigger calls).
    pub verifier_adapter: String,
    /// The ML-DSA verifier the adapter calls (the precompile address unless `contract` mode).
    pub mldsa_verifier: String,
    /// The `MLDSA87Verifier` contract deployed by the script.
    pub mldsa_verifier_contract: String,
    /// The file's text as written, for tools that read it themselves.
    #[serde(skip)]
    pub json: String,
}

impl Deployment {
    /// Parses an addresses file's text.
    pub fn parse(text: &str) -> Self {
        let mut d: Self = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("not a deployment addresses file ({e}): {text}"));
        d.json = text.to_owned();
        d
    }

    /// The file's JSON with `extra` fields added (e.g. `bridgeSessionId`).
    pub fn json_with(&self, extra: &[(&str, Value)]) -> String {
        let mut v: Value = serde_json::from_str(&self.json).expect("parsed before");
        if let Some(obj) = v.as_object_mut() {
            for (k, val) in extra {
                obj.insert((*k).to_owned(), val.clone());
            }
        }
        v.to_string()
    }

    /// Writes the file's JSON to `path` (as `.devnet/addresses.json` would be).
    pub fn write_to(&self, path: &Path) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, &self.json)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

fn parse_quantity(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

/// One JSON-RPC request over HTTP/1.1 to 127.0.0.1:`port` (a fresh connection each time).
fn json_rpc(port: u16, method: &str, params: Value) -> Result<Value, String> {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        .to_string();
    let mut s = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(5),
    )
    .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP header end")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut payload = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        payload = dechunk(&payload).ok_or("bad chunked body")?;
    }
    if !head.starts_with("http/1.1 200") {
        return Err(format!(
            "HTTP {}: {}",
            head.lines().next().unwrap_or(""),
            String::from_utf8_lossy(&payload)
        ));
    }
    let v: Value = serde_json::from_slice(&payload).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(err) = v.get("error") {
        return Err(format!("error {err}"));
    }
    v.get("result")
        .cloned()
        .ok_or_else(|| format!("no result in {v}"))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde".to_vec()
        );
        assert!(dechunk(b"5\r\nab").is_none());
    }

    #[test]
    fn anvil_deploy_mine_snapshot_restart_with_state() {
        let dir = std::env::temp_dir().join(format!("pars-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let state = dir.join("anvil-state.json");
        let mut anvil = Anvil::start_with_state(&state);
        assert_eq!(anvil.chain_id(), ANVIL_CHAIN_ID);
        let d = anvil.deploy();
        assert_eq!(d.chain_id, ANVIL_CHAIN_ID);
        assert_eq!(d.rpc_url.as_deref(), Some(anvil.url.as_str()));
        assert!(d.service_node_registry.starts_with("0x"));
        assert!(d.json.contains("serviceNodeRegistry"));
        let code = anvil.rpc(
            "eth_getCode",
            serde_json::json!([d.service_node_registry, "latest"]),
        );
        assert!(code.as_str().unwrap().len() > 2, "registry has code");
        let head = anvil.head();
        let snap = anvil.snapshot();
        anvil.mine(3);
        assert_eq!(anvil.head(), head + 3);
        anvil.revert(&snap);
        assert_eq!(anvil.head(), head);
        anvil.mine(2);
        let port = anvil.port;
        anvil.stop();
        assert!(anvil.try_rpc("eth_chainId", serde_json::json!([])).is_err());
        anvil.restart();
        assert_eq!(anvil.port, port);
        assert_eq!(anvil.head(), head + 2, "same chain after the restart");
        let code = anvil.rpc(
            "eth_getCode",
            serde_json::json!([d.service_node_registry, "latest"]),
        );
        assert!(code.as_str().unwrap().len() > 2, "registry survived");
        anvil.replace_with_fresh_chain();
        assert_eq!(anvil.head(), 0);
        drop(anvil);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_hung_child_is_killed_at_its_limit_and_its_output_kept() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; echo warn >&2; sleep 30"]);
        let t = Instant::now();
        let run = run_bounded(&mut cmd, Duration::from_millis(300)).unwrap();
        assert!(run.status.is_none(), "reported as finished");
        assert!(t.elapsed() < Duration::from_secs(20), "not killed");
        assert_eq!(String::from_utf8_lossy(&run.stdout), "started\n");
        assert_eq!(String::from_utf8_lossy(&run.stderr), "warn\n");
        let mut ok = Command::new("sh");
        ok.args(["-c", "echo done"]);
        let run = run_bounded(&mut ok, Duration::from_secs(60)).unwrap();
        assert!(run.status.is_some_and(|s| s.success()));
    }

    #[test]
    fn a_lock_that_is_never_freed_fails_the_wait_with_its_name() {
        let dir = std::env::temp_dir().join(format!("testkit-lock-{}", std::process::id()));
        let path = dir.join("held.lock");
        let held = lock_file(&path, Duration::from_secs(1));
        let waited = std::panic::catch_unwind(|| lock_file(&path, Duration::from_millis(200)));
        let msg = waited
            .err()
            .and_then(|e| e.downcast::<String>().ok())
            .unwrap();
        assert!(
            msg.contains("held.lock") && msg.contains("still held"),
            "{msg}"
        );
        drop(held);
        drop(lock_file(&path, Duration::from_secs(1)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dev_keys_match_their_addresses() {
        let cast = tool("cast");
        for (k, a) in ANVIL_KEYS.iter().zip(ANVIL_ADDRESSES) {
            let out = Command::new(&cast)
                .args(["wallet", "address", "--private-key", k])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), a);
        }
    }
}
