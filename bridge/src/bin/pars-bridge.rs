//! `pars-bridge`: the sidecar that turns ML-DSA-signed ContractAction session messages into
//! `SessionTrigger` transactions and answers each with a ContractReceipt.
//!
//! ```text
//! pars-bridge run    --eth-rpc URL (--trigger ADDR --chain-id N | --addresses FILE)
//!                    [--keystore FILE] [--session-datadir DIR] [policy flags] …
//! pars-bridge status [--datadir DIR] [--eth-rpc URL]
//! ```
//!
//! `run` consumes incoming messages from its own sessiond's `subscribeMessages` WebSocket (cookie
//! authentication from the sessiond data directory) and replies over the same session. The EVM
//! key comes from an encrypted keystore (`--keystore`, password in `PARS_EVM_KEYSTORE_PASSWORD`
//! or `--password-file`) or `PARS_EVM_PRIVATE_KEY`, never from the command line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use pars_bridge::relay::core::Senders;
use pars_bridge::relay::policy_file::PolicyFile;
use pars_bridge::relay::{Answer, Intake, RelayConfig, RelayStatus, Relayer, unix_ms};
use pars_crypto::SessionId;
use pars_registry::primitives::{Address, U256};
use pars_registry::{DevnetAddresses, EvmSigner};
use pars_rpc::types::{Direction, MessageInfo};
use pars_rpc::{SessionApiClient, auth};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "pars-bridge",
    version,
    about = "Relays ML-DSA-signed session actions to SessionTrigger"
)]
struct Cli {
    /// The bridge's own data directory (relayer state, status file).
    #[arg(long, global = true, env = "PARS_BRIDGE_DATADIR")]
    datadir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relayer.
    Run(Box<RunArgs>),
    /// Show queue depth, in-flight, confirmed and failed actions, and the signer's balance.
    Status {
        /// EVM JSON-RPC endpoint, to read the balance when no bridge is running.
        #[arg(long, env = "PARS_ETH_RPC")]
        eth_rpc: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct RunArgs {
    /// EVM JSON-RPC endpoint (http or https).
    #[arg(long, env = "PARS_ETH_RPC")]
    eth_rpc: Option<String>,
    /// Deployment address file (`.devnet/addresses.json`): chain ID, trigger and RPC URL.
    #[arg(long)]
    addresses: Option<PathBuf>,
    /// The SessionTrigger address.
    #[arg(long)]
    trigger: Option<Address>,
    /// The chain ID actions must be for.
    #[arg(long)]
    chain_id: Option<u64>,
    /// Encrypted JSON keystore of the relayer's EVM key (else PARS_EVM_PRIVATE_KEY).
    #[arg(long, env = "PARS_EVM_KEYSTORE")]
    keystore: Option<PathBuf>,
    /// File holding the keystore password (else PARS_EVM_KEYSTORE_PASSWORD).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Data directory of the bridge's own sessiond (for its RPC address and cookie).
    #[arg(long, env = "PARS_SESSION_DATADIR")]
    session_datadir: Option<PathBuf>,
    /// The sessiond RPC address (host:port); default: the one in the sessiond data directory.
    #[arg(long)]
    session_rpc: Option<String>,
    /// The operator's policy file (TOML: allowed targets, senders, gas per action, gas budgets
    /// per sender and in all per hour and day, rate limits, how long records are kept). Without
    /// it, the safe defaults: no target, registered senders only (docs/operator-guide.md).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// A target the bridge relays calls to (repeatable; added to the policy file's list).
    #[arg(long = "allow-target")]
    allow_targets: Vec<Address>,
    /// Relay for any sender (default: senders with a key registered on chain, or the policy
    /// file's `senders`).
    #[arg(long)]
    any_sender: bool,
    /// Largest gas limit paid for one action (overrides the policy file; default 1,000,000).
    #[arg(long)]
    max_gas: Option<u64>,
    /// Largest value (wei) forwarded from the relayer's balance (overrides the policy file;
    /// default 0).
    #[arg(long)]
    max_value_wei: Option<U256>,
    /// Actions per sender in a burst (overrides the policy file; default 10).
    #[arg(long)]
    rate_burst: Option<u32>,
    /// Sustained actions per minute per sender (overrides the policy file; default 10).
    #[arg(long)]
    rate_per_minute: Option<u32>,
    /// Confirmations before answering (default: 1 on local chains, 12 elsewhere).
    #[arg(long)]
    confirmations: Option<u64>,
    /// Seconds before a pending transaction is replaced with higher fees.
    #[arg(long, default_value_t = 60)]
    stuck_after_secs: u64,
    /// Most fee-bumped replacements of one transaction; past it the action is reported stuck.
    #[arg(long, default_value_t = 10)]
    max_fee_bumps: u32,
}

/// Exit codes: 2 usage/config, 3 sessiond unreachable, 4 chain or state failure.
#[derive(Debug)]
enum Failure {
    Config(String),
    Session(String),
    Runtime(String),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Session(_) => 3,
            Self::Runtime(_) => 4,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(m) | Self::Session(m) | Self::Runtime(m) => f.write_str(m),
        }
    }
}

fn default_datadir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".pars")
        .join("bridge")
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let datadir = cli.datadir.clone().unwrap_or_else(default_datadir);
    let result = match cli.command {
        Command::Run(args) => run(*args, &datadir).await,
        Command::Status { eth_rpc, json } => status(&datadir, eth_rpc, json).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pars-bridge: {e}");
            ExitCode::from(e.code())
        }
    }
}

fn signer(args: &RunArgs) -> Result<EvmSigner, Failure> {
    match &args.keystore {
        Some(path) => {
            let password = match &args.password_file {
                Some(p) => std::fs::read_to_string(p)
                    .map_err(|e| {
                        Failure::Config(format!("cannot read the password file {}: {e}", p.display()))
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
                None => std::env::var("PARS_EVM_KEYSTORE_PASSWORD").map_err(|_| {
                    Failure::Config(
                        "the keystore needs a password: set PARS_EVM_KEYSTORE_PASSWORD or pass --password-file".into(),
                    )
                })?,
            };
            EvmSigner::from_keystore(path, password.as_bytes())
                .map_err(|e| Failure::Config(e.to_string()))
        }
        None => EvmSigner::from_env().map_err(|e| {
            Failure::Config(format!(
                "{e}; give the relayer's EVM key with --keystore or {}",
                pars_registry::PRIVATE_KEY_ENV
            ))
        }),
    }
}

fn relay_config(args: &RunArgs) -> Result<RelayConfig, Failure> {
    let deployed = match &args.addresses {
        Some(p) => Some(DevnetAddresses::load(p).map_err(|e| Failure::Config(e.to_string()))?),
        None => None,
    };
    let rpc = args
        .eth_rpc
        .clone()
        .or_else(|| deployed.as_ref().and_then(|d| d.rpc_url.clone()))
        .ok_or_else(|| {
            Failure::Config("give the EVM RPC with --eth-rpc (or PARS_ETH_RPC)".into())
        })?;
    let trigger = args
        .trigger
        .or(deployed.as_ref().map(|d| d.session_trigger))
        .ok_or_else(|| {
            Failure::Config("give the SessionTrigger address with --trigger or --addresses".into())
        })?;
    let chain_id = args
        .chain_id
        .or(deployed.as_ref().map(|d| d.chain_id))
        .ok_or_else(|| {
            Failure::Config("give the chain ID with --chain-id or --addresses".into())
        })?;
    let file = match &args.policy {
        Some(p) => PolicyFile::load(p).map_err(Failure::Config)?,
        None => PolicyFile::default(),
    };
    let mut policy = file.policy;
    if let Some(g) = args.max_gas {
        policy = policy.with_max_gas(g);
    }
    if let Some(v) = args.max_value_wei {
        policy = policy.with_max_value(v);
    }
    if args.rate_burst.is_some() || args.rate_per_minute.is_some() {
        let burst = args.rate_burst.unwrap_or(policy.rate_burst);
        let per_minute = args.rate_per_minute.unwrap_or(policy.rate_per_minute);
        policy = policy.with_rate(burst, per_minute);
    }
    if let Some(listed) = &policy.allowed_targets
        && !args.allow_targets.is_empty()
    {
        let mut all = listed.clone();
        all.extend(args.allow_targets.iter().map(|a| a.into_array()));
        policy = policy.with_allowed_targets(all);
    }
    if args.any_sender {
        policy = policy.with_senders(Senders::Any);
    }
    if policy
        .allowed_targets
        .as_ref()
        .is_some_and(|t| t.is_empty())
    {
        tracing::warn!(
            "no target is allowed: every action will be refused (TargetNotAllowed); list the \
             contracts this bridge pays for with --allow-target or allowed-targets in --policy"
        );
    }
    let mut cfg = RelayConfig::new(rpc, chain_id, trigger)
        .with_policy(policy)
        .with_records(file.keep_records, file.max_requests)
        .with_stuck_after(Duration::from_secs(args.stuck_after_secs.max(1)))
        .with_max_fee_bumps(args.max_fee_bumps);
    if let Some(c) = args.confirmations {
        cfg = cfg.with_confirmations(c);
    }
    Ok(cfg)
}

/// Where the sessiond RPC is and its cookie.
struct SessionTarget {
    addr: String,
    token: String,
}

fn session_target(args: &RunArgs) -> Result<SessionTarget, Failure> {
    let dir = args.session_datadir.clone().unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".pars")
            .join("session")
    });
    let addr = match &args.session_rpc {
        Some(a) => a
            .trim_start_matches("ws://")
            .trim_start_matches("http://")
            .to_owned(),
        None => std::fs::read_to_string(dir.join(auth::ADDR_FILE))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| format!("127.0.0.1:{}", pars_rpc::DEFAULT_RPC_PORT)),
    };
    let token = auth::read_cookie(&dir).map_err(|e| {
        Failure::Session(format!(
            "no RPC cookie in {} ({e}); start the bridge's sessiond first and pass its data directory with --session-datadir",
            dir.display()
        ))
    })?;
    Ok(SessionTarget { addr, token })
}

async fn connect(t: &SessionTarget) -> Result<WsClient, Failure> {
    WsClientBuilder::default()
        .set_headers(auth::auth_headers(&t.token))
        .request_timeout(Duration::from_secs(60))
        .build(format!("ws://{}", t.addr))
        .await
        .map_err(|e| Failure::Session(format!("cannot reach sessiond at {}: {e}", t.addr)))
}

/// Messages already fed to the relayer, so a catch-up after a restart does not feed them again.
#[derive(Default, Serialize, Deserialize)]
struct Cursor {
    /// Local time (Unix seconds) of the newest message fed.
    since: u64,
    /// IDs of the messages fed with that local time.
    ids: BTreeSet<String>,
}

impl Cursor {
    fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn is_new(&self, local_time: u64, id: &str) -> bool {
        local_time > self.since || (local_time == self.since && !self.ids.contains(id))
    }

    fn advance(&mut self, local_time: u64, id: &str, path: &Path) {
        if local_time > self.since {
            self.since = local_time;
            self.ids.clear();
        }
        self.ids.insert(id.to_owned());
        let tmp = path.with_extension("tmp");
        if let Ok(json) = serde_json::to_vec(self)
            && std::fs::write(&tmp, json).is_ok()
        {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}

/// A message's raw content bytes, from `MessageInfo.contentHex` (`content` is lossy UTF-8 and
/// cannot carry a binary ContractAction). `None` when the field is missing, empty (a sessiond
/// older than the field) or not hex.
fn binary_content(m: &MessageInfo) -> Option<Vec<u8>> {
    Some(m.content_hex.as_str())
        .filter(|h| !h.is_empty())
        .and_then(|h| hex::decode(h.trim_start_matches("0x")).ok())
}

/// Whether `m` is a new incoming message of `content_type`.
fn is_new_incoming(m: &MessageInfo, content_type: &str, cursor: &Cursor) -> bool {
    m.direction == Direction::Incoming
        && m.content_type == content_type
        && cursor.is_new(m.local_time, &m.id)
}

fn feed(relayer: &Relayer, m: &MessageInfo, cursor: &mut Cursor, cursor_path: &Path) {
    if !is_new_incoming(m, "contractAction", cursor) {
        return;
    }
    let Ok(sender) = m.peer.parse::<SessionId>() else {
        tracing::warn!("a contract action without a valid sender; ignored");
        return;
    };
    let Some(content) = binary_content(m) else {
        tracing::error!(
            "sessiond gave no binary content (contentHex) for a contract action; upgrade sessiond to a version whose getMessages and subscribeMessages return contentHex"
        );
        return;
    };
    match relayer.receive(&sender, &content, unix_ms()) {
        Ok(Intake::Accepted) => tracing::info!(sender = %sender.short(), "action accepted"),
        Ok(Intake::Repeated) => tracing::info!(sender = %sender.short(), "action received again"),
        Ok(Intake::Refused(r)) => {
            tracing::info!(sender = %sender.short(), reason = ?r.reason, "action refused")
        }
        Err(e) => {
            // Not advancing the cursor: the catch-up after a restart feeds it again.
            tracing::error!("cannot store an action: {e}");
            return;
        }
    }
    cursor.advance(m.local_time, &m.id, cursor_path);
}

/// What the bridge answers to a text message: who it is and where its actions go, as JSON
/// (`{"parsBridge":1,"chainId":N,"trigger":"0x…"}`). The answer also completes the session
/// handshake, so that the sender's next messages (its ContractActions, ≈ 7.7 kB with the key
/// inline) no longer carry the handshake and fit one onion packet; `triggerAction` sends such a
/// text first when its session with the bridge is new.
fn info_text(chain_id: u64, trigger: Address) -> String {
    serde_json::json!({ "parsBridge": 1, "chainId": chain_id, "trigger": trigger.to_checksum(None) })
        .to_string()
}

/// The sender of `m` if it is a new incoming text message (which the bridge answers with its
/// info); advances the cursor past it.
fn text_sender(m: &MessageInfo, cursor: &mut Cursor, cursor_path: &Path) -> Option<String> {
    if !is_new_incoming(m, "text", cursor) {
        return None;
    }
    cursor.advance(m.local_time, &m.id, cursor_path);
    m.peer.parse::<SessionId>().ok().map(|_| m.peer.clone())
}

/// Answers a text message from `peer` with the bridge's info.
async fn send_info(ws: &WsClient, peer: &str, info: &str) {
    if let Err(e) = ws.send_message(peer.to_owned(), info.to_owned()).await {
        tracing::warn!("cannot answer a text message: {e}");
    }
}

/// Sends `answer` over the session with its sender.
async fn send_answer(ws: &WsClient, answer: &Answer) -> Result<(), String> {
    let sessions = ws
        .get_sessions()
        .await
        .map_err(|e| format!("getSessions: {e}"))?;
    let peer = answer.sender.to_string();
    let session = match sessions.into_iter().find(|s| s.peer == peer) {
        Some(s) => s.id,
        None => {
            let s = ws
                .create_session(peer.clone())
                .await
                .map_err(|e| format!("createSession: {e}"))?;
            s.id
        }
    };
    ws.send_content(
        session,
        "contractReceipt".into(),
        hex::encode(&answer.content),
    )
    .await
    .map_err(|e| format!("sendContent: {e}"))?;
    Ok(())
}

async fn run(args: RunArgs, datadir: &Path) -> Result<(), Failure> {
    let cfg = relay_config(&args)?;
    let info = info_text(cfg.chain_id, cfg.trigger);
    let key = signer(&args)?;
    let target = session_target(&args)?;
    let relayer = Relayer::open(cfg, &key, datadir)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    tracing::info!(signer = %relayer.signer(), "pars-bridge running");
    let (stop_tx, stop_rx) = watch::channel(false);
    let driver = relayer.spawn(stop_rx);
    let cursor_path = datadir.join("cursor.json");
    let mut cursor = Cursor::load(&cursor_path);
    let outcome = loop {
        // (Re)connect, catch up on what arrived meanwhile, then follow the subscription.
        let ws = match connect(&target).await {
            Ok(ws) => ws,
            Err(e) => {
                tracing::warn!("{e}; retrying in 2 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    _ = tokio::signal::ctrl_c() => break Ok(()),
                }
            }
        };
        let mut sub = match ws.subscribe_messages().await {
            Ok(s) => s,
            Err(e) => break Err(Failure::Session(format!("subscribeMessages: {e}"))),
        };
        match ws.get_messages(None, Some(cursor.since), Some(1000)).await {
            Ok(ms) => {
                for m in &ms {
                    feed(&relayer, m, &mut cursor, &cursor_path);
                    if let Some(peer) = text_sender(m, &mut cursor, &cursor_path) {
                        send_info(&ws, &peer, &info).await;
                    }
                }
            }
            Err(e) => tracing::warn!("getMessages: {e}"),
        }
        let mut answer_tick = tokio::time::interval(Duration::from_secs(2));
        let disconnected = loop {
            tokio::select! {
                next = sub.next() => match next {
                    Some(Ok(m)) => {
                        feed(&relayer, &m, &mut cursor, &cursor_path);
                        if let Some(peer) = text_sender(&m, &mut cursor, &cursor_path) {
                            send_info(&ws, &peer, &info).await;
                        }
                    }
                    Some(Err(e)) => tracing::warn!("bad notification from sessiond: {e}"),
                    None => break true,
                },
                _ = relayer.answers_changed() => {}
                _ = answer_tick.tick() => {}
                _ = tokio::signal::ctrl_c() => break false,
            }
            match relayer.pending_answers() {
                Ok(answers) => {
                    for a in answers {
                        match send_answer(&ws, &a).await {
                            Ok(()) => {
                                if let Err(e) = relayer.mark_answered(&a) {
                                    tracing::error!("{e}");
                                }
                            }
                            Err(e) => {
                                tracing::warn!("cannot send a receipt yet: {e}");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::error!("{e}"),
            }
        };
        if !disconnected {
            break Ok(());
        }
        tracing::warn!("sessiond closed the connection; reconnecting");
    };
    let _ = stop_tx.send_replace(true);
    let _ = driver.await;
    outcome
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusFile {
    signer: String,
    balance_wei: Option<String>,
    updated_at_ms: u64,
    status: RelayStatus,
}

async fn status(datadir: &Path, eth_rpc: Option<String>, json: bool) -> Result<(), Failure> {
    // A running bridge holds the database; it writes status.json after every pass.
    let path = datadir.join("status.json");
    let file: StatusFile = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            Failure::Config(format!(
                "no status in {}; has `pars-bridge run` ever run with --datadir {}?",
                path.display(),
                datadir.display()
            ))
        })?;
    let mut balance = file.balance_wei.clone();
    if balance.is_none()
        && let Some(url) = eth_rpc
    {
        balance = read_balance(&url, &file.signer).await;
    }
    let age_s = unix_ms().saturating_sub(file.updated_at_ms) / 1000;
    if json {
        let out = serde_json::json!({
            "signer": file.signer,
            "balanceWei": balance,
            "ageSeconds": age_s,
            "queued": file.status.queued,
            "inFlight": file.status.in_flight,
            "confirmed": file.status.confirmed,
            "failed": file.status.failed,
            "unanswered": file.status.unanswered,
            "stuck": file.status.stuck,
        });
        println!("{out}");
    } else {
        let s = &file.status;
        println!("signer      {}", file.signer);
        println!(
            "balance     {}",
            balance
                .as_deref()
                .and_then(|b| b.parse::<U256>().ok())
                .map(|b| format!("{} ETH", pars_registry::format_ether(b)))
                .unwrap_or_else(|| "unknown (chain unreachable)".into())
        );
        println!("queued      {}", s.queued);
        println!("in flight   {}", s.in_flight);
        println!("confirmed   {}", s.confirmed);
        println!("failed      {}", s.failed);
        println!("unanswered  {}", s.unanswered);
        if s.stuck > 0 {
            println!(
                "stuck       {} (pending after the most fee bumps allowed: check the chain's fees \
                 and the RPC node; raise --max-fee-bumps to pay more)",
                s.stuck
            );
        }
        println!("(as of {age_s} s ago)");
    }
    Ok(())
}

async fn read_balance(url: &str, signer: &str) -> Option<String> {
    use alloy::providers::{Provider, ProviderBuilder};
    let address: Address = signer.parse().ok()?;
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_http(url.parse().ok()?);
    let b = tokio::time::timeout(Duration::from_secs(10), provider.get_balance(address))
        .await
        .ok()?
        .ok()?;
    Some(b.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use pars_rpc::types::DeliveryState;

    fn info(content: &[u8]) -> MessageInfo {
        MessageInfo {
            id: "00".repeat(16),
            session: "11".repeat(32),
            peer: format!("05{}", "ab".repeat(32)),
            direction: Direction::Incoming,
            content: String::from_utf8_lossy(content).into_owned(),
            content_type: "contractAction".into(),
            content_hex: hex::encode(content),
            timestamp: 1,
            local_time: 2,
            sequence: 0,
            delivery: DeliveryState::Received,
            read: false,
            error: None,
            group: None,
            file: None,
        }
    }

    #[test]
    fn binary_content_comes_from_content_hex_of_the_rpc_message() {
        let bytes = [0u8, 0xff, 0x80, 0x7f, 0xc3];
        let m = info(&bytes);
        assert_ne!(m.content.as_bytes(), bytes, "lossy");
        assert_eq!(binary_content(&m).unwrap(), bytes);
        let mut prefixed = m.clone();
        prefixed.content_hex = format!("0x{}", hex::encode(bytes));
        assert_eq!(binary_content(&prefixed).unwrap(), bytes);
    }

    #[test]
    fn missing_empty_or_malformed_content_hex_gives_none() {
        let mut m = info(b"x");
        m.content_hex = "zz".into();
        assert_eq!(binary_content(&m), None);
        m.content_hex = "abc".into();
        assert_eq!(binary_content(&m), None);
        // A daemon older than the field: it is missing from the JSON, so it decodes empty.
        let mut json = serde_json::to_value(info(b"x")).unwrap();
        json.as_object_mut().unwrap().remove("contentHex");
        let old: MessageInfo = serde_json::from_value(json).unwrap();
        assert_eq!(binary_content(&old), None);
    }

    #[test]
    fn only_new_incoming_messages_of_the_type_are_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor.json");
        let mut cursor = Cursor::default();
        let mut text = info(b"hello");
        text.content_type = "text".into();
        assert!(!is_new_incoming(&text, "contractAction", &cursor));
        assert_eq!(
            text_sender(&text, &mut cursor, &path).as_deref(),
            Some(text.peer.as_str())
        );
        assert_eq!(text_sender(&text, &mut cursor, &path), None, "seen");
        let mut out = info(b"x");
        out.id = "22".repeat(16);
        out.local_time = 3;
        out.direction = Direction::Outgoing;
        assert!(!is_new_incoming(&out, "contractAction", &cursor));
        assert!(Cursor::load(&path).ids.contains(&text.id));
    }
}
