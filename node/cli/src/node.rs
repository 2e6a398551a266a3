//! `parsctl node …`: the local service node's registration in `ServiceNodeRegistry`.
//!
//! These commands talk to the EVM chain (through `pars-registry`), not to `sessiond`: they work
//! before the node ever ran. The node is the one whose key is `<datadir>/net/node_key` (created by
//! `register` if missing, exactly as `sessiond` would create it). The EVM key signing the
//! transactions comes from an encrypted keystore file (`--keystore`, password from
//! `PARS_EVM_KEYSTORE_PASSWORD`, `--password-file` or a prompt) or from `PARS_EVM_PRIVATE_KEY`,
//! never from the command line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use pars_registry::primitives::{Address, U256};
use pars_registry::{
    ChainTarget, EvmSigner, HasKind, NodeStatus, NodeStatusReport, Operator, OperatorConfig,
    Progress, RegistryError, ServiceNodeIdentity, TxOutcome, format_ether, format_unix_time,
    parse_amount,
};
use serde::Serialize;

use crate::commands::CliError;
use crate::output;

/// The environment variable holding the keystore's password.
pub const KEYSTORE_PASSWORD_ENV: &str = "PARS_EVM_KEYSTORE_PASSWORD";

/// Where the registry is, shared by every `node` subcommand.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// JSON-RPC endpoint of the registry's chain. Default: the address file's rpcUrl.
    #[arg(long, global = true, env = "PARS_ETH_RPC", value_name = "URL")]
    eth_rpc: Option<String>,
    /// The ServiceNodeRegistry address. Default: from the address file.
    #[arg(long, global = true, env = "PARS_REGISTRY", value_name = "ADDRESS")]
    registry: Option<String>,
    /// The chain ID the registry is on (refuses any other). Default: the address file's, else
    /// whatever the RPC serves.
    #[arg(long, global = true, env = "PARS_CHAIN_ID", value_name = "ID")]
    chain_id: Option<u64>,
    /// The deployment address file written by the devnet's deploy script.
    #[arg(
        long,
        global = true,
        env = "PARS_ADDRESSES_FILE",
        value_name = "FILE",
        default_value = pars_registry::DEVNET_ADDRESSES_FILE
    )]
    addresses_file: PathBuf,
    /// Confirmations to wait for (default: 1 on local chains, 12 elsewhere).
    #[arg(long, global = true, value_name = "N")]
    confirmations: Option<u64>,
    /// Stop waiting for confirmations after this many seconds.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 300)]
    timeout: u64,
}

/// Where the EVM key comes from (never the command line itself).
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Encrypted JSON keystore (as written by `cast wallet new` or geth). Without it the key is
    /// read from the environment variable PARS_EVM_PRIVATE_KEY.
    #[arg(long, env = "PARS_EVM_KEYSTORE", value_name = "FILE")]
    keystore: Option<PathBuf>,
    /// File whose first line is the keystore's password (else PARS_EVM_KEYSTORE_PASSWORD, else a
    /// prompt).
    #[arg(long, env = "PARS_EVM_PASSWORD_FILE", value_name = "FILE")]
    password_file: Option<PathBuf>,
}

/// `parsctl node …`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Register this service node in the registry, staking the given amount.
    Register {
        /// The stake: e.g. 100ether, 0.5ether, 2gwei, 1000wei (a bare number is in ether).
        #[arg(long, value_name = "AMOUNT")]
        stake: String,
        /// The operator's name shown in the registry (at most 64 bytes).
        #[arg(long, value_name = "NAME", default_value = "")]
        operator: String,
        /// An address other nodes reach this node at (repeatable, 1 to 8). Default: the
        /// `listen` addresses of <datadir>/sessiond.toml that are not wildcards.
        #[arg(long = "addr", value_name = "MULTIADDR")]
        addrs: Vec<String>,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Registration, stake and exit state of this service node (no key needed).
    Status,
    /// Leave the active set; the stake unbonds for the registry's unbonding period.
    Exit {
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Withdraw the stake after the unbonding period.
    Withdraw {
        #[command(flatten)]
        key: KeyArgs,
    },
}

impl CliError {
    /// Maps a registry error onto its kind, so the exit codes are: 3 unreachable, 4 bad input or
    /// configuration, 5 a transaction that did not confirm, 6 refused by the registry, 1 anything
    /// else.
    fn from_bridge(e: RegistryError) -> Self {
        CliError::failed(e.kind(), e.to_string())
    }
}

/// What a transaction command prints with `--json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TxReport {
    action: &'static str,
    tx_hash: String,
    block: u64,
    node_id: String,
    peer_id: String,
    operator: String,
    chain_id: u64,
    registry: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stake_wei: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<NodeStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unlock_time: Option<u64>,
}

/// What `node status` prints with `--json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusReport {
    peer_id: String,
    node_id: String,
    chain_id: u64,
    registry: String,
    status: NodeStatus,
    registered: bool,
    operator: Option<String>,
    name: String,
    stake_wei: String,
    stake: String,
    registered_block: Option<u64>,
    multiaddrs: Vec<String>,
    unlock_time: Option<u64>,
    withdrawable_now: bool,
    min_stake_wei: String,
    unbonding_period_secs: u64,
    chain_time: u64,
    signer_is_operator: Option<bool>,
}

/// The directory inside a data dir that holds a service node's network state (`node_key`), as
/// `sessiond` lays it out.
pub const NET_DIR: &str = "net";

/// Runs `parsctl node …` for the node whose key is in `<datadir>/net`.
pub async fn run(
    datadir: &Path,
    json: bool,
    chain: ChainArgs,
    command: NodeCommand,
) -> Result<(), CliError> {
    let bridge = CliError::from_bridge;
    // sessiond keeps a service node's libp2p key (and the rest of its network state) in
    // `<datadir>/net`, so that is where the registered key must come from.
    let key_dir = datadir.join(NET_DIR);
    // Everything that can be checked locally first: amounts, addresses, keys.
    let registry = chain
        .registry
        .as_deref()
        .map(|r| {
            r.trim()
                .parse::<Address>()
                .map_err(|e| CliError::BadInput(format!("--registry {r:?} is not an address: {e}")))
        })
        .transpose()?;
    let (identity, registration, stake) = match &command {
        NodeCommand::Register {
            stake,
            operator,
            addrs,
            ..
        } => {
            let stake = parse_amount(stake).map_err(CliError::BadInput)?;
            let addrs = if addrs.is_empty() {
                config_addrs(datadir)?
            } else {
                addrs.clone()
            };
            let identity = ServiceNodeIdentity::load_or_create(&key_dir).map_err(bridge)?;
            let registration = identity.registration(&addrs, operator).map_err(bridge)?;
            (identity, Some(registration), stake)
        }
        _ => (
            ServiceNodeIdentity::load(&key_dir).map_err(bridge)?,
            None,
            U256::ZERO,
        ),
    };
    let signer = match &command {
        NodeCommand::Register { key, .. }
        | NodeCommand::Exit { key }
        | NodeCommand::Withdraw { key } => Some(load_signer(key)?),
        // Status needs no key; with one in the environment it says whether it is the operator.
        NodeCommand::Status => EvmSigner::from_env().ok(),
    };

    let target = ChainTarget::resolve(
        chain.eth_rpc.as_deref(),
        registry,
        chain.chain_id,
        &chain.addresses_file,
    )
    .map_err(bridge)?;
    let chain_id = match target.chain_id {
        Some(id) => id,
        None => target
            .query_chain_id(Duration::from_secs(30))
            .await
            .map_err(bridge)?,
    };
    let mut cfg = OperatorConfig::new(&target.rpc_url, target.registry, chain_id)
        .with_confirmation_timeout(Duration::from_secs(chain.timeout));
    if let Some(c) = chain.confirmations {
        cfg = cfg.with_confirmations(c);
    }
    let op = Operator::connect(cfg, signer).await.map_err(bridge)?;
    let peer_bytes = identity.peer_id_bytes();
    let mut progress = progress_printer(json);
    let tx = |action: &'static str, outcome: TxOutcome| TxReport {
        action,
        tx_hash: outcome.tx_hash.to_string(),
        block: outcome.block,
        node_id: outcome.node_id.to_string(),
        peer_id: identity.peer_id.to_string(),
        operator: op.address().map(|a| a.to_string()).unwrap_or_default(),
        chain_id,
        registry: target.registry.to_string(),
        stake_wei: None,
        status: None,
        unlock_time: None,
    };

    match command {
        NodeCommand::Register { .. } => {
            let Some(registration) = registration else {
                return Err(CliError::Other("no registration was prepared".into()));
            };
            if !json {
                eprintln!(
                    "registering service node {} (node ID {}) with a stake of {} ({} wei) from {}",
                    identity.peer_id,
                    identity.node_id(),
                    format_ether(stake),
                    stake,
                    op.address().map(|a| a.to_string()).unwrap_or_default()
                );
            }
            let outcome = op
                .register(&registration, stake, &mut progress)
                .await
                .map_err(bridge)?;
            let mut report = tx("register", outcome);
            report.stake_wei = Some(stake.to_string());
            report.status = Some(NodeStatus::Active);
            output::print(json, &report, |r| {
                println!(
                    "registered: node {} is active with a stake of {} (transaction {} in block {})",
                    r.peer_id,
                    format_ether(stake),
                    r.tx_hash,
                    r.block
                );
                println!(
                    "the network uses it once the block is confirmed; check with `parsctl node status`"
                );
            });
        }
        NodeCommand::Status => {
            let s = op.status(&peer_bytes).await.map_err(bridge)?;
            let report = status_report(&identity, chain_id, target.registry, &s);
            output::print(json, &report, print_status);
        }
        NodeCommand::Exit { .. } => {
            let outcome = op
                .request_exit(&peer_bytes, &mut progress)
                .await
                .map_err(bridge)?;
            let after = op.node(&peer_bytes).await.map_err(bridge)?;
            let mut report = tx("exit", outcome);
            report.status = Some(after.status);
            report.unlock_time = Some(after.unlock_time);
            output::print(json, &report, |r| {
                println!(
                    "exit requested: node {} left the active set (transaction {} in block {})",
                    r.peer_id, r.tx_hash, r.block
                );
                println!(
                    "its stake of {} unbonds until {}; then run `parsctl node withdraw`",
                    format_ether(after.stake),
                    format_unix_time(after.unlock_time)
                );
                println!(
                    "keep the node running for a while: other nodes take over its mailboxes as they see it leave"
                );
            });
        }
        NodeCommand::Withdraw { .. } => {
            let before = op.node(&peer_bytes).await.map_err(bridge)?;
            let outcome = op
                .withdraw(&peer_bytes, &mut progress)
                .await
                .map_err(bridge)?;
            let mut report = tx("withdraw", outcome);
            report.stake_wei = Some(before.stake.to_string());
            report.status = Some(NodeStatus::Withdrawn);
            output::print(json, &report, |r| {
                println!(
                    "withdrawn: {} returned to {} (transaction {} in block {})",
                    format_ether(before.stake),
                    r.operator,
                    r.tx_hash,
                    r.block
                );
            });
        }
    }
    Ok(())
}

fn status_report(
    identity: &ServiceNodeIdentity,
    chain_id: u64,
    registry: Address,
    s: &NodeStatusReport,
) -> StatusReport {
    let r = &s.record;
    let registered = r.status != NodeStatus::NotRegistered;
    StatusReport {
        peer_id: identity.peer_id.to_string(),
        node_id: identity.node_id().to_string(),
        chain_id,
        registry: registry.to_string(),
        status: r.status,
        registered,
        operator: registered.then(|| r.operator.to_string()),
        name: r.name.clone(),
        stake_wei: r.stake.to_string(),
        stake: format_ether(r.stake),
        registered_block: registered.then_some(r.registered_block),
        multiaddrs: r.multiaddrs.clone(),
        unlock_time: (r.unlock_time != 0).then_some(r.unlock_time),
        withdrawable_now: s.withdrawable_now,
        min_stake_wei: s.parameters.min_stake.to_string(),
        unbonding_period_secs: s.parameters.unbonding_period,
        chain_time: s.chain_time,
        signer_is_operator: s.signer_is_operator,
    }
}

fn print_status(r: &StatusReport) {
    println!("service node {}", r.peer_id);
    println!("node ID:       {}", r.node_id);
    println!("registry:      {} on chain {}", r.registry, r.chain_id);
    println!("status:        {}", r.status);
    if !r.registered {
        println!(
            "register it with `parsctl node register --stake <amount>` (minimum stake {}; unbonding period {} s)",
            format_ether(r.min_stake_wei.parse().unwrap_or_default()),
            r.unbonding_period_secs
        );
        return;
    }
    println!(
        "operator:      {}{}",
        r.operator.as_deref().unwrap_or_default(),
        if r.name.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.name)
        }
    );
    println!("stake:         {}", r.stake);
    if let Some(b) = r.registered_block {
        println!("registered in: block {b}");
    }
    println!("addresses:     {}", r.multiaddrs.join(", "));
    match r.status {
        NodeStatus::Exiting | NodeStatus::Slashed => {
            let unlock = r.unlock_time.unwrap_or_default();
            if r.withdrawable_now {
                println!(
                    "unbonded since {}: withdraw with `parsctl node withdraw`",
                    format_unix_time(unlock)
                );
            } else {
                println!(
                    "unbonding until {}: withdraw after that",
                    format_unix_time(unlock)
                );
            }
        }
        NodeStatus::Active => println!(
            "minimum stake: {}; an exit unbonds for {} s",
            format_ether(r.min_stake_wei.parse().unwrap_or_default()),
            r.unbonding_period_secs
        ),
        _ => {}
    }
    if r.signer_is_operator == Some(false) {
        println!("note: the key in PARS_EVM_PRIVATE_KEY is not this node's operator");
    }
}

/// Progress on standard error while a transaction confirms (also with `--json`, whose answer
/// alone goes to standard output).
fn progress_printer(json: bool) -> impl FnMut(Progress) + Send {
    move |p| {
        if json {
            return;
        }
        match p {
            Progress::Submitted { tx_hash } => {
                eprintln!("submitted transaction {tx_hash}, waiting for it to be mined…")
            }
            Progress::Confirming {
                block,
                confirmations,
                required,
                ..
            } => eprintln!("mined in block {block}: {confirmations} of {required} confirmations"),
            Progress::Confirmed { block, .. } => eprintln!("confirmed (block {block})"),
        }
    }
}

/// The EVM key: a keystore if given (password from the environment, a file or a prompt), else
/// `PARS_EVM_PRIVATE_KEY`.
fn load_signer(key: &KeyArgs) -> Result<EvmSigner, CliError> {
    let bad = |e: RegistryError| CliError::from_bridge(e);
    let Some(path) = &key.keystore else {
        return EvmSigner::from_env().map_err(bad);
    };
    let password = zeroize::Zeroizing::new(keystore_password(key, path)?);
    EvmSigner::from_keystore(path, password.as_bytes()).map_err(bad)
}

fn keystore_password(key: &KeyArgs, path: &Path) -> Result<String, CliError> {
    if let Ok(p) = std::env::var(KEYSTORE_PASSWORD_ENV) {
        return Ok(p);
    }
    if let Some(file) = &key.password_file {
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(file).map_err(|e| {
            CliError::BadInput(format!(
                "cannot read the password file {}: {e}",
                file.display()
            ))
        })?);
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("password of {}: ", path.display()))
            .map_err(|e| CliError::BadInput(format!("cannot read the password: {e}")));
    }
    Err(CliError::BadInput(format!(
        "the keystore needs a password: set {KEYSTORE_PASSWORD_ENV}, pass --password-file, or run in a terminal to be asked"
    )))
}

/// The announceable `listen` addresses of `<datadir>/sessiond.toml`.
fn config_addrs(datadir: &Path) -> Result<Vec<String>, CliError> {
    let path = datadir.join("sessiond.toml");
    let hint = "give the address other nodes reach this node at with --addr /ip4/<ip>/tcp/<port> (repeatable)";
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::BadInput(format!(
                "no --addr given and no {}; {hint}",
                path.display()
            )));
        }
        Err(e) => {
            return Err(CliError::BadInput(format!(
                "cannot read {}: {e}; {hint}",
                path.display()
            )));
        }
    };
    let value: toml::Table = toml::from_str(&text)
        .map_err(|e| CliError::BadInput(format!("{} is not valid TOML: {e}", path.display())))?;
    let listen: Vec<String> = value
        .get("listen")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let usable: Vec<String> = listen
        .into_iter()
        .filter(|a| !a.contains("/0.0.0.0/") && !a.contains("/::/"))
        .collect();
    if usable.is_empty() {
        return Err(CliError::BadInput(format!(
            "{} lists no listen address other nodes can reach (wildcards like /ip4/0.0.0.0 cannot be registered); {hint}",
            path.display()
        )));
    }
    Ok(usable)
}
