//! The `pars-bridge` binary: configuration errors with their exit codes, and `status` reading what
//! a running relayer reports (the relayer here runs against a real anvil).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The anvil harness is the registry's (one copy of it for both crates).
#[path = "../../node/registry/tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{ANVIL_KEYS, Anvil, signer};
use pars_bridge::relay::{RelayConfig, Relayer};
use tokio::sync::watch;

fn bridge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pars-bridge"));
    c.env_remove("PARS_EVM_PRIVATE_KEY")
        .env_remove("PARS_ETH_RPC")
        .env_remove("PARS_EVM_KEYSTORE")
        .env_remove("PARS_BRIDGE_DATADIR")
        .env_remove("PARS_SESSION_DATADIR");
    c
}

#[test]
fn run_explains_missing_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = bridge().args(["--datadir", d, "run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--eth-rpc"));

    let base = [
        "--datadir",
        d,
        "run",
        "--eth-rpc",
        "http://127.0.0.1:1",
        "--chain-id",
        "31337",
        "--trigger",
        "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
    ];
    let out = bridge().args(base).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PARS_EVM_PRIVATE_KEY"), "{err}");

    // A key, but no sessiond: exit 3 and what to do.
    let out = bridge()
        .args(base)
        .args(["--session-datadir", d])
        .env("PARS_EVM_PRIVATE_KEY", ANVIL_KEYS[2])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("start the bridge's sessiond first"), "{err}");
    assert!(
        !err.contains(&ANVIL_KEYS[2][2..]),
        "the key must never be printed"
    );

    // A policy file with a mistake: exit 2, naming the file and the mistake.
    let pf = dir.path().join("policy.toml");
    std::fs::write(&pf, "senders = \"some\"\n").unwrap();
    let out = bridge()
        .args(base)
        .args(["--policy", pf.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("policy.toml") && err.contains("senders is \"any\""),
        "{err}"
    );

    // A keystore without a password.
    let out = bridge()
        .args(base)
        .args(["--keystore", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_what_the_relayer_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_owned();
    let out = bridge().args(["--datadir", &d, "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no status before any run");

    let anvil = Anvil::start().await;
    let a = anvil.deploy();
    let cfg = RelayConfig::new(&anvil.url, a.chain_id, a.session_trigger)
        .with_poll_interval(Duration::from_millis(100));
    let relayer = Relayer::open(cfg, &signer(2), dir.path()).await.unwrap();
    let (stop, rx) = watch::channel(false);
    let task = relayer.spawn(rx);
    let file = dir.path().join("status.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !file.exists() {
        assert!(Instant::now() < deadline, "no status.json");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = bridge()
        .args(["--datadir", &d, "status", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["queued"], 0);
    assert_eq!(v["inFlight"], 0);
    assert_eq!(
        v["signer"].as_str().unwrap().to_lowercase(),
        signer(2).address().to_string().to_lowercase()
    );
    assert!(v["balanceWei"].as_str().unwrap().parse::<u128>().unwrap() > 0);
    let out = bridge().args(["--datadir", &d, "status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("in flight") && text.contains("ETH"), "{text}");
    stop.send(true).unwrap();
    task.await.unwrap();
}
