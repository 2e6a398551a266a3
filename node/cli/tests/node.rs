//! `parsctl node …` end to end: the real `parsctl` binary against a real anvil with the
//! contracts deployed by the devnet's deploy script. Registration, status, exit, withdraw, keys
//! from the environment and from a keystore, and each failure's message and exit code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use pars_testkit::{ANVIL_ADDRESSES, ANVIL_KEYS, Anvil, tool};

/// anvil's development keys 1 and 2 (0 deploys the contracts).
const KEY1: &str = ANVIL_KEYS[1];
const ADDR1: &str = ANVIL_ADDRESSES[1];
const KEY2: &str = ANVIL_KEYS[2];
const ADDR2: &str = ANVIL_ADDRESSES[2];

/// `parsctl` run in `cwd` (where `.devnet/addresses.json` is), with a clean environment for the
/// variables it reads, plus `env`.
fn parsctl(cwd: &Path, datadir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_parsctl"));
    cmd.current_dir(cwd)
        .arg("--datadir")
        .arg(datadir)
        .args(args)
        .stdin(Stdio::null());
    for var in [
        "PARS_EVM_PRIVATE_KEY",
        "PARS_EVM_KEYSTORE",
        "PARS_EVM_KEYSTORE_PASSWORD",
        "PARS_EVM_PASSWORD_FILE",
        "PARS_ETH_RPC",
        "PARS_REGISTRY",
        "PARS_CHAIN_ID",
        "PARS_ADDRESSES_FILE",
        "PARS_DATADIR",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run parsctl")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> &Output {
    assert!(
        o.status.success(),
        "parsctl failed ({:?}):\nstdout: {}\nstderr: {}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
    o
}

#[track_caller]
/// Exit `code` with `needle` in what parsctl said: the message of its JSON error object under
/// `--json` (on standard output), else its standard error.
fn fails(o: &Output, code: i32, needle: &str) {
    let stderr = text(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}:\nstdout: {}\nstderr: {stderr}",
        text(&o.stdout)
    );
    let said = serde_json::from_slice::<Value>(&o.stdout)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or(stderr);
    assert!(said.contains(needle), "expected {needle:?} in: {said}");
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&ok(o).stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&o.stdout)))
}

#[test]
fn register_status_exit_withdraw_with_the_real_binary() {
    let anvil = Anvil::start();
    let addresses = anvil.deploy().json;
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join(".devnet")).unwrap();
    std::fs::write(work.path().join(".devnet/addresses.json"), &addresses).unwrap();
    let registry = serde_json::from_str::<Value>(&addresses).unwrap()["serviceNodeRegistry"]
        .as_str()
        .unwrap()
        .to_owned();
    let cwd = work.path();
    let node = work.path().join("node1");
    let key1 = [("PARS_EVM_PRIVATE_KEY", KEY1)];
    let register = |stake: &str, extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "node",
            "register",
            "--stake",
            stake,
            "--operator",
            "alice",
            "--addr",
            "/ip4/127.0.0.1/tcp/9000",
        ];
        args.extend_from_slice(extra);
        parsctl(cwd, &node, &args, env)
    };

    // Before registering: status needs no key and creates nothing; the node key does not exist.
    fails(
        &parsctl(cwd, &node, &["node", "status"], &[]),
        4,
        "no node key",
    );
    // Registration without an EVM key, with a bad amount, with a wildcard address, too little.
    fails(&register("2ether", &[], &[]), 4, "PARS_EVM_PRIVATE_KEY");
    assert!(
        node.join("net").join("node_key").is_file(),
        "register creates the node key"
    );
    fails(&register("two", &[], &key1), 4, "is not an amount");
    fails(
        &parsctl(
            cwd,
            &node,
            &[
                "node",
                "register",
                "--stake",
                "1",
                "--addr",
                "/ip4/0.0.0.0/tcp/1",
            ],
            &key1,
        ),
        4,
        "wildcard",
    );
    fails(
        &register("0.5ether", &[], &key1),
        6,
        "below the registry's minimum of 1",
    );
    let status = json(&parsctl(cwd, &node, &["--json", "node", "status"], &[]));
    assert_eq!(status["status"], "notRegistered");
    assert_eq!(status["registered"], false);
    assert_eq!(status["minStakeWei"], "1000000000000000000");

    // Register (JSON), then again (refused).
    let r = json(&register("2ether", &["--json"], &key1));
    assert_eq!(r["action"], "register");
    assert_eq!(r["stakeWei"], "2000000000000000000");
    assert_eq!(r["operator"], ADDR1);
    assert_eq!(
        r["registry"].as_str().unwrap().to_lowercase(),
        registry.to_lowercase()
    );
    assert!(r["txHash"].as_str().unwrap().starts_with("0x"));
    let peer_id = r["peerId"].as_str().unwrap().to_owned();
    fails(&register("1ether", &[], &key1), 6, "already registered");

    // Status, as text and JSON.
    let status = json(&parsctl(cwd, &node, &["--json", "node", "status"], &key1));
    assert_eq!(status["status"], "active");
    assert_eq!(status["peerId"], peer_id.as_str());
    assert_eq!(status["stake"], "2");
    assert_eq!(status["operator"], ADDR1);
    assert_eq!(status["name"], "alice");
    assert_eq!(status["multiaddrs"][0], "/ip4/127.0.0.1/tcp/9000");
    assert_eq!(status["signerIsOperator"], true);
    let out = ok(&parsctl(cwd, &node, &["node", "status"], &[]))
        .stdout
        .clone();
    assert!(
        text(&out).contains("status:        active"),
        "{}",
        text(&out)
    );

    // Someone else's key cannot exit it; withdrawing before the exit says what to do.
    fails(
        &parsctl(
            cwd,
            &node,
            &["node", "exit"],
            &[("PARS_EVM_PRIVATE_KEY", KEY2)],
        ),
        6,
        "is not the operator",
    );
    fails(
        &parsctl(cwd, &node, &["node", "withdraw"], &key1),
        6,
        "parsctl node exit",
    );

    // Exit in text mode: progress on stderr, the unbonding time on stdout.
    let out = parsctl(cwd, &node, &["node", "exit"], &key1);
    ok(&out);
    assert!(
        text(&out.stderr).contains("submitted transaction"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("confirmations"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("unbonds until"),
        "{}",
        text(&out.stdout)
    );
    fails(
        &parsctl(cwd, &node, &["node", "withdraw"], &key1),
        6,
        "still unbonding until",
    );
    let status = json(&parsctl(cwd, &node, &["--json", "node", "status"], &[]));
    assert_eq!(status["status"], "exiting");
    assert_eq!(status["withdrawableNow"], false);

    // After the unbonding period.
    anvil.increase_time(3601);
    let w = json(&parsctl(cwd, &node, &["--json", "node", "withdraw"], &key1));
    assert_eq!(w["action"], "withdraw");
    assert_eq!(w["stakeWei"], "2000000000000000000");
    let status = json(&parsctl(cwd, &node, &["--json", "node", "status"], &[]));
    assert_eq!(status["status"], "withdrawn");

    // A wrong chain, a dead RPC, an unknown registry.
    fails(
        &parsctl(cwd, &node, &["node", "status", "--chain-id", "1"], &[]),
        4,
        "serves chain ID 31337",
    );
    fails(
        &parsctl(
            cwd,
            &node,
            &[
                "node",
                "status",
                "--eth-rpc",
                "http://127.0.0.1:1",
                "--registry",
                &registry,
                "--chain-id",
                "31337",
            ],
            &[],
        ),
        3,
        "EVM RPC unavailable",
    );
    fails(
        &parsctl(
            cwd,
            &node,
            &[
                "node",
                "status",
                "--eth-rpc",
                &anvil.url,
                "--registry",
                "0x000000000000000000000000000000000000dEaD",
            ],
            &[],
        ),
        4,
        "no contract at",
    );
    fails(
        &parsctl(
            work.path().join("node1").as_path(),
            &node,
            &["node", "status"],
            &[],
        ),
        4,
        "--registry",
    );

    // A second node with the key from a keystore file; flags instead of the address file.
    let keystores = work.path().join("keystores");
    std::fs::create_dir_all(&keystores).unwrap();
    let out = Command::new(tool("cast"))
        .args([
            "wallet",
            "import",
            "op2",
            "--private-key",
            KEY2,
            "--unsafe-password",
            "hunter2",
            "--keystore-dir",
        ])
        .arg(&keystores)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cast wallet import: {}",
        text(&out.stderr)
    );
    let keystore = keystores.join("op2");
    let node2 = work.path().join("node2");
    let flags = [
        "--eth-rpc",
        anvil.url.as_str(),
        "--registry",
        registry.as_str(),
    ];
    let mut args = vec![
        "--json",
        "node",
        "register",
        "--stake",
        "1.5",
        "--addr",
        "/ip4/127.0.0.1/tcp/9002",
        "--keystore",
        keystore.to_str().unwrap(),
    ];
    args.extend_from_slice(&flags);
    let elsewhere = work.path();
    let wrong = work.path().join("wrong-password");
    std::fs::write(&wrong, "nope\n").unwrap();
    let mut wrong_args = args.clone();
    wrong_args.extend_from_slice(&["--password-file", wrong.to_str().unwrap()]);
    fails(
        &parsctl(elsewhere, &node2, &wrong_args, &[]),
        4,
        "wrong password",
    );
    fails(
        &parsctl(elsewhere, &node2, &args, &[]),
        4,
        "needs a password",
    );
    let r = json(&parsctl(
        elsewhere,
        &node2,
        &args,
        &[("PARS_EVM_KEYSTORE_PASSWORD", "hunter2")],
    ));
    assert_eq!(r["operator"], ADDR2);
    assert_eq!(r["stakeWei"], "1500000000000000000");
    assert_ne!(r["peerId"], peer_id.as_str());
}
