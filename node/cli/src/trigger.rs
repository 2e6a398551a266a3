//! `parsctl trigger send`: a contract call signed with the identity's ML-DSA-87 key, sent to a
//! bridge over the session, and the bridge's receipt.
//!
//! The calldata is given as hex (`--calldata`) or as a function signature and arguments
//! (`--sig 'sign(string)' --args hello`), ABI-encoded here with alloy's dynamic ABI. On a devnet
//! (`--datadir .devnet/alice`), the bridge's Session ID, the chain ID and the trigger address
//! default to `bridgeSessionId`, `chainId` and `sessionTrigger` of the data directory's sibling
//! `addresses.json`; elsewhere the daemon's own addresses file, or the flags, give them.

use crate::commands::CliError;
use alloy::dyn_abi::{DynSolType, DynSolValue, JsonAbiExt, Specifier};
use alloy::json_abi::Function;
use clap::Args;
use pars_registry::primitives::U256;
use pars_rpc::types::{TriggerRequest, TriggerResult};
use std::path::Path;

/// `parsctl trigger send` arguments.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The bridge's Session ID (default on a devnet: `bridgeSessionId` of addresses.json).
    #[arg(long, value_name = "SESSION_ID")]
    pub bridge: Option<String>,
    /// The contract (or account) to call.
    #[arg(long, value_name = "ADDRESS")]
    pub target: String,
    /// The calldata as hex.
    #[arg(long, value_name = "HEX", conflicts_with_all = ["sig", "args"])]
    pub calldata: Option<String>,
    /// The function to call, e.g. 'sign(string)'; its arguments follow with --args.
    #[arg(long, value_name = "FUNCTION")]
    pub sig: Option<String>,
    /// The function's arguments, in order, up to the next flag (e.g. --args hello 42 0xabc…).
    #[arg(long, value_name = "ARG", num_args = 1.., requires = "sig", allow_negative_numbers = true)]
    pub args: Vec<String>,
    /// Value to forward: wei as a bare number, or with a unit (1ether, 2gwei).
    #[arg(long, value_name = "AMOUNT", default_value = "0")]
    pub value: String,
    /// How long the action stays valid: seconds, or 90s, 10m, 2h, 1d.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub deadline: String,
    /// The chain ID (default: the devnet's addresses.json, else the daemon's configuration).
    #[arg(long, value_name = "N")]
    pub chain_id: Option<u64>,
    /// The SessionTrigger address (default: as --chain-id).
    #[arg(long, value_name = "ADDRESS")]
    pub trigger: Option<String>,
    /// Sign for a key registered on chain (SessionTrigger.registerKey) instead of sending it.
    #[arg(long)]
    pub registered_key: bool,
    /// How long to wait for the bridge's receipt (0: return once the action is queued).
    #[arg(long, value_name = "DURATION", default_value = "120s")]
    pub timeout: String,
}

/// Seconds of a duration: a bare number of seconds, or a number with s, m, h or d.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (n, mult) = match t.chars().last() {
        Some('s') => (&t[..t.len() - 1], 1),
        Some('m') => (&t[..t.len() - 1], 60),
        Some('h') => (&t[..t.len() - 1], 3600),
        Some('d') => (&t[..t.len() - 1], 86_400),
        _ => (t, 1),
    };
    n.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("'{s}' is not a duration; write e.g. 90s, 10m, 2h or 1d"))
}

/// Wei from `--value`: a bare number is wei; with a unit, as `parsctl node register --stake`.
pub fn parse_value(s: &str) -> Result<U256, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<U256>()
            .map_err(|_| format!("'{s}' does not fit 256 bits"));
    }
    pars_registry::parse_amount(t)
}

/// ABI-encodes a call of `sig` (e.g. `sign(string)`) with `args`.
pub fn encode_call(sig: &str, args: &[String]) -> Result<Vec<u8>, String> {
    let f = Function::parse(sig)
        .map_err(|e| format!("'{sig}' is not a function signature like 'sign(string)' ({e})"))?;
    if f.inputs.len() != args.len() {
        return Err(format!(
            "{} takes {} argument(s); {} given with --args",
            f.signature(),
            f.inputs.len(),
            args.len()
        ));
    }
    let values = f
        .inputs
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (p, a))| {
            let ty: DynSolType = p
                .resolve()
                .map_err(|e| format!("argument {} has an unsupported type: {e}", i + 1))?;
            ty.coerce_str(a)
                .map_err(|e| format!("argument {} ('{a}') is not a {ty}: {e}", i + 1))
        })
        .collect::<Result<Vec<DynSolValue>, String>>()?;
    f.abi_encode_input(&values)
        .map_err(|e| format!("cannot encode the call: {e}"))
}

/// What a devnet's addresses.json next to the data directory says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DevnetDefaults {
    /// `bridgeSessionId`.
    pub bridge: Option<String>,
    /// `chainId`.
    pub chain_id: Option<u64>,
    /// `sessionTrigger`.
    pub trigger: Option<String>,
}

/// Reads `<datadir>/../addresses.json` if there is one (the devnet layout).
pub fn devnet_defaults(datadir: &Path) -> DevnetDefaults {
    let Some(file) = datadir.parent().map(|p| p.join("addresses.json")) else {
        return DevnetDefaults::default();
    };
    let Some(v) = std::fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return DevnetDefaults::default();
    };
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    DevnetDefaults {
        bridge: s("bridgeSessionId"),
        chain_id: v.get("chainId").and_then(|x| x.as_u64()),
        trigger: s("sessionTrigger"),
    }
}

/// The request of `args`, checked as far as can be without the daemon.
pub fn request(args: &SendArgs, datadir: &Path) -> Result<(TriggerRequest, u64), CliError> {
    let bad = CliError::BadInput;
    let defaults = devnet_defaults(datadir);
    let bridge = args.bridge.clone().or(defaults.bridge).ok_or_else(|| {
        bad("give the bridge's Session ID with --bridge (its operator publishes it)".into())
    })?;
    bridge
        .parse::<pars_crypto::SessionId>()
        .map_err(|e| bad(format!("--bridge: invalid Session ID: {e}")))?;
    let calldata = match (&args.calldata, &args.sig) {
        (Some(hex), None) => hex.clone(),
        (None, Some(sig)) => format!(
            "0x{}",
            hex_encode(&encode_call(sig, &args.args).map_err(bad)?)
        ),
        (None, None) => String::new(),
        (Some(_), Some(_)) => {
            return Err(bad(
                "give either --calldata or --sig/--args, not both".into()
            ));
        }
    };
    let value = parse_value(&args.value).map_err(bad)?;
    let deadline = parse_duration(&args.deadline).map_err(bad)?;
    if deadline == 0 || deadline >= 1_000_000_000 {
        return Err(bad(format!(
            "--deadline {} is not a duration from now (1 s to about 31 years)",
            args.deadline
        )));
    }
    let timeout = parse_duration(&args.timeout).map_err(bad)?;
    Ok((
        TriggerRequest {
            bridge,
            target: args.target.clone(),
            calldata,
            value: Some(value.to_string()),
            deadline: Some(deadline),
            chain_id: args.chain_id.or(defaults.chain_id),
            trigger: args.trigger.clone().or(defaults.trigger),
            registered_key: args.registered_key,
            timeout_secs: Some(timeout),
        },
        timeout,
    ))
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Prints a result for humans.
pub fn human(r: &TriggerResult) {
    match r.status.as_str() {
        "confirmed" => println!(
            "confirmed: tx {} in block {} ({} gas)",
            r.tx_hash.as_deref().unwrap_or("?"),
            r.block.unwrap_or(0),
            r.gas_used.unwrap_or(0)
        ),
        "queued" => println!(
            "queued: the action is in the outbox; its receipt will appear in the session with the bridge"
        ),
        other => {
            println!("{other}: {} (reason {})", r.reason, r.reason_code);
            if let Some(tx) = &r.tx_hash {
                println!("transaction: {tx} in block {}", r.block.unwrap_or(0));
            }
        }
    }
    println!("request:     {}", r.request_id);
    println!("bridge:      {}", r.bridge);
    println!("nonce:       {}", r.nonce);
    println!("deadline:    {}", crate::time::format_utc(r.deadline));
    println!("chain:       {} (trigger {})", r.chain_id, r.trigger);
}

/// The exit status of a result: refused or reverted actions fail with 6.
pub fn outcome(r: &TriggerResult) -> Result<(), CliError> {
    match r.status.as_str() {
        "confirmed" | "queued" | "submitted" => Ok(()),
        other => Err(CliError::Answered {
            kind: pars_error::ErrorKind::Rejected,
            message: format!(
                "the bridge answered {other}: {} (reason code {})",
                r.reason, r.reason_code
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn args_stop_at_the_next_flag() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: SendArgs,
        }
        let t = T::try_parse_from([
            "t",
            "--target",
            "0x00",
            "--sig",
            "f(string,int8)",
            "--args",
            "a b",
            "-5",
            "--chain-id",
            "7",
        ])
        .unwrap();
        assert_eq!(t.a.args, vec!["a b".to_string(), "-5".to_string()]);
        assert_eq!(t.a.chain_id, Some(7));
    }

    #[test]
    fn durations_and_values() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("10m").unwrap(), 600);
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert!(parse_duration("ten").is_err());
        assert_eq!(parse_value("1000").unwrap(), U256::from(1000u64));
        assert_eq!(
            parse_value("1ether").unwrap(),
            U256::from(1_000_000_000_000_000_000u64)
        );
        assert!(parse_value("-1").is_err());
    }

    #[test]
    fn calls_are_abi_encoded_from_signature_and_arguments() {
        let c = encode_call("sign(string)", &["hi".into()]).unwrap();
        // selector ‖ offset ‖ length ‖ "hi" padded
        assert_eq!(c.len(), 4 + 96);
        assert_eq!(c[4 + 63], 2);
        assert_eq!(&c[4 + 64..4 + 66], b"hi");
        let t = encode_call(
            "transfer(address,uint256)",
            &[
                "0x5FbDB2315678afecb367f032d93F642f64180aa3".into(),
                "7".into(),
            ],
        )
        .unwrap();
        assert_eq!(&t[..4], &[0xa9, 0x05, 0x9c, 0xbb]);
        assert_eq!(t[4 + 63], 7);
        assert!(encode_call("sign(string)", &[]).is_err());
        assert!(encode_call("f(uint8)", &["300".into()]).is_err());
        assert!(encode_call("not a sig", &[]).is_err());
    }

    #[test]
    fn devnet_defaults_come_from_the_sibling_addresses_file() {
        let dir = tempfile::tempdir().unwrap();
        let alice = dir.path().join("alice");
        std::fs::create_dir_all(&alice).unwrap();
        assert_eq!(devnet_defaults(&alice), DevnetDefaults::default());
        std::fs::write(
            dir.path().join("addresses.json"),
            r#"{"chainId": 31337, "sessionTrigger": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0", "bridgeSessionId": "05ab"}"#,
        )
        .unwrap();
        let d = devnet_defaults(&alice);
        assert_eq!(d.chain_id, Some(31337));
        assert_eq!(d.bridge.as_deref(), Some("05ab"));
        assert!(d.trigger.is_some());
    }
}
