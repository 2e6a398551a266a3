//! Clear errors and parsctl's documented exit codes against real processes: the daemon not
//! running, a wrong cookie, an invalid Session ID, one's own Session ID, an unknown recipient,
//! an unknown session, a message too long, the JSON error object of `--json`, a second daemon
//! on the same data directory, a wrong key or passphrase, no way to unlock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{DELIVERY_TIMEOUT, ServiceNet, User, wait_for};
use pars_rpc::SessionApiClient;
use serde_json::Value;
use std::process::Output;

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn expect(o: Output, exit: i32, needle: &str) -> String {
    let err = stderr(&o);
    assert_eq!(code(&o), exit, "stderr: {err}");
    assert!(err.contains(needle), "'{needle}' not in: {err}");
    err
}

/// The `{"error":{…}}` object `parsctl --json` prints on failure, nothing on standard error.
#[track_caller]
fn json_error(o: Output, exit: i32, kind: &str, rpc_code: i64) -> Value {
    assert_eq!(code(&o), exit, "stderr: {}", stderr(&o));
    assert_eq!(stderr(&o), "");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["kind"], kind, "{v}");
    assert_eq!(v["error"]["code"], rpc_code, "{v}");
    v["error"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_clear_messages_and_exit_codes() {
    let net = ServiceNet::start(8);
    let mut alice = User::new(&net, "alice");

    // Daemon not running: 3.
    expect(alice.parsctl(&["status"]), 3, "cannot reach sessiond");

    alice.start().await;
    // No identity yet: 4, saying what to do.
    expect(
        alice.parsctl(&["session", "identity", "show"]),
        4,
        "identity create",
    );
    let out = alice.parsctl(&["--json", "session", "identity", "create"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let me = id["sessionId"].as_str().unwrap().to_string();
    assert_eq!(id["link"], format!("pars://session/{me}"));

    // Invalid Session ID: 4.
    expect(
        alice.parsctl(&["session", "create", "--recipient", "05nothex"]),
        4,
        "invalid Session ID",
    );
    // One's own Session ID: bad input too.
    expect(
        alice.parsctl(&["session", "create", "--recipient", &me]),
        4,
        "your own Session ID",
    );
    let e = json_error(
        alice.parsctl(&["--json", "session", "create", "--recipient", &me]),
        4,
        "bad-input",
        -31001,
    );
    assert!(e["message"].as_str().unwrap().contains("own Session ID"));
    // A well-formed Session ID nobody published: 5 (the network has no bundle for it). No
    // message was given, so the hint does not say one stays queued.
    let unknown = format!("05{}", "ab".repeat(32));
    let err = expect(
        alice.parsctl(&["session", "create", "--recipient", &unknown]),
        5,
        "could not fetch the identity bundle",
    );
    assert!(err.contains("hint: no session was created"), "{err}");
    assert!(!err.contains("queued"), "{err}");
    let e = json_error(
        alice.parsctl(&["--json", "session", "create", "--recipient", &unknown]),
        5,
        "not-found",
        -31006,
    );
    assert!(
        e["hint"]
            .as_str()
            .unwrap()
            .contains("no session was created")
    );
    // No session with a valid peer: 4.
    expect(
        alice.parsctl(&["session", "send", "--session", &unknown, "--message", "hi"]),
        4,
        "no session",
    );
    expect(
        alice.parsctl(&["session", "send", "--session", &me, "--message", ""]),
        4,
        "empty",
    );

    // A message too long for one onion packet: refused at once (4), naming the real limit —
    // 4,094 bytes while the session's messages carry the handshake, 16,382 after — and nothing
    // is queued.
    let mut bob = User::new(&net, "bob");
    bob.start().await;
    let bob_id = bob.client().create_identity().await.unwrap().session_id;
    wait_for(DELIVERY_TIMEOUT, "bob's bundle", || async {
        alice.client().create_session(bob_id.clone()).await.ok()
    })
    .await;
    let send = |text: &str, json: bool| {
        let mut args = vec!["session", "send", "--session", &bob_id, "--message", text];
        if json {
            args.insert(0, "--json");
        }
        alice.parsctl(&args)
    };
    let long = "x".repeat(5_000);
    let err = expect(
        send(&long, false),
        4,
        "at most 4094 bytes until the peer has answered",
    );
    assert!(!err.contains("1043883"), "{err}");
    let longer = "x".repeat(20_000);
    expect(send(&longer, false), 4, "at most 16382 bytes");
    let e = json_error(send(&longer, true), 4, "bad-input", -31001);
    assert!(e["message"].as_str().unwrap().contains("16382"), "{e}");
    assert_eq!(alice.client().get_status().await.unwrap().outbox_pending, 0);

    // Wrong cookie: 6; the right one works again.
    let cookie = alice.dir.join("rpc.cookie");
    let good = std::fs::read_to_string(&cookie).unwrap();
    std::fs::write(&cookie, "00".repeat(32)).unwrap();
    expect(alice.parsctl(&["status"]), 6, "refused");
    json_error(
        alice.parsctl(&["--json", "status"]),
        6,
        "unauthorized",
        -31010,
    );
    std::fs::write(&cookie, &good).unwrap();
    assert_eq!(code(&alice.parsctl(&["status"])), 0);

    // A second daemon on the same data directory: refused at once, the first unharmed.
    let second = alice.command().output().unwrap();
    expect(second, 1, "already using");
    assert_eq!(code(&alice.parsctl(&["status"])), 0);

    // Stopped: 3 again, and the RPC files are gone.
    assert!(alice.stop().success());
    expect(alice.parsctl(&["status"]), 3, "cannot reach sessiond");

    // Unlocking: a key file that is not this store's, and no way to unlock at all.
    let wrong_key = net.dir.path().join("wrong.key");
    std::fs::write(&wrong_key, [7u8; 32]).unwrap();
    let out = alice
        .base_command()
        .arg("--key-file")
        .arg(&wrong_key)
        .output()
        .unwrap();
    expect(out, 1, "wrong passphrase or key file");
    let out = alice
        .base_command()
        .env_remove("PARS_PASSPHRASE")
        .output()
        .unwrap();
    expect(out, 1, "no way to unlock");

    // A passphrase store: created on the first run, refused with another passphrase.
    let mut carol = User::new(&net, "carol");
    let mut first = carol
        .base_command()
        .env("PARS_PASSPHRASE", "correct horse")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::wait_for(common::READY_TIMEOUT, "carol's store and API", || async {
        carol.dir.join("rpc.addr").exists().then_some(())
    })
    .await;
    std::process::Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(first.wait().unwrap().success());
    let out = carol
        .base_command()
        .env("PARS_PASSPHRASE", "battery staple")
        .output()
        .unwrap();
    expect(out, 1, "wrong passphrase or key file");
    // The right one still opens it.
    carol
        .start_with(|c| {
            c.env("PARS_PASSPHRASE", "correct horse");
        })
        .await;
    assert_eq!(code(&carol.parsctl(&["status"])), 0);
}
