//! parsctl's exit codes for what it decides without a daemon: usage errors (2), bad input
//! caught before connecting (4), and no daemon to talk to (3); and the JSON error object that
//! `--json` prints instead of text. (The errors the daemon decides are tested against a real
//! sessiond in `tests/tests/errors.rs`.)

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

/// Under `--json` a failure is one JSON object on standard output, nothing on standard error,
/// for every command; its kind and code say the same as the exit code.
#[test]
fn json_errors_are_json_objects() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let error = |o: &Output, exit: i32| -> serde_json::Value {
        assert_eq!(o.status.code(), Some(exit), "{o:?}");
        assert!(
            o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let keys: Vec<&String> = v["error"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["code", "hint", "kind", "message"], "{v}");
        v["error"].clone()
    };

    let e = error(
        &parsctl(&[
            "--datadir",
            d,
            "--json",
            "session",
            "create",
            "--recipient",
            "hello",
        ]),
        4,
    );
    assert_eq!(e["kind"], "bad-input");
    assert_eq!(e["code"], -31001);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("invalid Session ID")
    );
    assert_eq!(e["hint"], serde_json::Value::Null);

    // No daemon: every command that talks to it, the same object.
    for cmd in [
        &["status"][..],
        &["peers"],
        &["session", "list"],
        &["session", "send", "--session", "x", "--message", "hi"],
        &["session", "identity", "show"],
    ] {
        let mut args = vec!["--datadir", d, "--json"];
        args.extend_from_slice(cmd);
        let e = error(&parsctl(&args), 3);
        assert_eq!(e["kind"], "daemon-unreachable", "{cmd:?}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("cannot reach sessiond")
        );
        assert!(e["hint"].as_str().unwrap().contains("sessiond --datadir"));
    }

    // `--json` anywhere on the line, and for `node` commands too.
    let e = error(
        &parsctl(&[
            "--datadir",
            d,
            "node",
            "status",
            "--json",
            "--registry",
            "not-an-address",
        ]),
        4,
    );
    assert_eq!(e["kind"], "bad-input");
    assert!(e["message"].as_str().unwrap().contains("--registry"));

    // Without --json the same failure is text on standard error.
    let o = parsctl(&["--datadir", d, "session", "create", "--recipient", "hello"]);
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("error: invalid Session ID"));
}
