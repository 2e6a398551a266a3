//! parsctl's exit codes for what it decides without a daemon: usage errors (2), bad input
//! caught before connecting (4), and no daemon to talk to (3).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

fn parsctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parsctl"))
        .args(args)
        .env_remove("PARS_RPC")
        .env_remove("PARS_DATADIR")
        .output()
        .unwrap()
}

#[test]
fn exit_codes_without_a_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();

    let o = parsctl(&["session", "frobnicate"]);
    assert_eq!(o.status.code(), Some(2), "usage error");

    let o = parsctl(&["--datadir", d, "session", "create", "--recipient", "hello"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid Session ID"));

    let o = parsctl(&["--datadir", d, "status"]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot reach sessiond"), "{err}");
    assert!(err.contains("hint:"), "says what to do: {err}");

    // A cookie but nothing listening at the address.
    std::fs::write(dir.path().join("rpc.cookie"), "ab".repeat(32)).unwrap();
    std::fs::write(dir.path().join("rpc.addr"), "127.0.0.1:9").unwrap();
    let o = parsctl(&["--datadir", d, "--json", "status"]);
    assert_eq!(o.status.code(), Some(3));
}
