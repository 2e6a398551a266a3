//! The bridge end to end, with real processes only: anvil with the devnet's contracts
//! (Deploy.s.sol), 8 service nodes, Alice's sessiond, the bridge's sessiond and the real
//! `pars-bridge run` beside it. Alice uses `parsctl trigger send`; the action travels over onion
//! paths to the bridge, which executes it through SessionTrigger on anvil and answers with a
//! receipt over the same session.
//!
//! Every action costs about 21 M gas of ML-DSA verification (about 2 s on anvil), so the tests
//! send few of them and wait generously.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::bridge::{
    BRIDGE_KEY, Bridge, Chain, OUTSIDER_KEY, hex, messages_of, open_session, unhex, wait_status,
};
use common::{ServiceNet, User, wait_for};
use pars_rpc::SessionApiClient;
use pars_rpc::types::Direction;
use pars_wire::action::{ContractAction, ContractReceipt, ReasonCode, ReceiptStatus, SignerKey};
use std::time::Duration;

/// Waiting for an action: onion delivery both ways plus ML-DSA on anvil, on 2 loaded cores.
const ACTION_TIMEOUT: Duration = Duration::from_secs(300);

struct World {
    net: ServiceNet,
    chain: Chain,
    alice: User,
    alice_id: String,
    bridge: Bridge,
}

async fn world() -> World {
    let net = ServiceNet::start(8);
    let chain = Chain::start(net.dir.path().join("anvil-state.json"));
    let mut alice = User::new(&net, "alice");
    alice.start().await;
    let alice_id = alice.client().create_identity().await.unwrap().session_id;
    let bridge = Bridge::start(&net, &chain).await;
    open_session(&alice, &bridge.session_id).await;
    World {
        net,
        chain,
        alice,
        alice_id,
        bridge,
    }
}

impl World {
    /// `parsctl trigger send` from Alice: a guestbook note.
    fn send_note(&self, note: &str, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "--json",
            "trigger",
            "send",
            "--bridge",
            &self.bridge.session_id,
            "--target",
            &self.chain.deployment.session_guestbook,
            "--sig",
            "sign(string)",
            "--args",
            note,
            "--trigger",
            &self.chain.deployment.session_trigger,
        ];
        let chain_id = self.chain.deployment.chain_id.to_string();
        args.extend(["--chain-id", &chain_id]);
        args.extend(extra);
        self.alice.parsctl(&args)
    }

    /// Alice's ContractAction messages to the bridge, decoded.
    async fn sent_actions(&self) -> Vec<(Vec<u8>, ContractAction)> {
        messages_of(
            &self.alice,
            &self.bridge.session_id,
            "contractAction",
            Direction::Outgoing,
        )
        .await
        .into_iter()
        .map(|m| {
            let b = unhex(&m.content_hex);
            let a = ContractAction::decode(&b).unwrap();
            (b, a)
        })
        .collect()
    }

    /// Alice's receipts from the bridge, decoded.
    async fn receipts(&self) -> Vec<ContractReceipt> {
        messages_of(
            &self.alice,
            &self.bridge.session_id,
            "contractReceipt",
            Direction::Incoming,
        )
        .await
        .into_iter()
        .map(|m| ContractReceipt::decode(&unhex(&m.content_hex)).unwrap())
        .collect()
    }

    /// Waits until Alice holds `n` receipts for `request_id`; returns them.
    async fn await_receipts(&self, request_id: [u8; 16], n: usize) -> Vec<ContractReceipt> {
        wait_for(
            ACTION_TIMEOUT,
            &format!("{n} receipt(s) for request {}", hex(&request_id)),
            || async {
                let got: Vec<_> = self
                    .receipts()
                    .await
                    .into_iter()
                    .filter(|r| r.request_id == request_id)
                    .collect();
                (got.len() >= n).then_some(got)
            },
        )
        .await
    }

    /// Sends raw ContractAction bytes as Alice, the way a program would (`sendContent`).
    async fn send_raw(&self, content: &[u8]) {
        self.alice
            .client()
            .send_content(
                self.bridge.session_id.clone(),
                "contractAction".into(),
                hex(content),
            )
            .await
            .unwrap();
    }
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "parsctl printed no JSON ({e}); exit {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// What parsctl said went wrong: the message of its JSON error object under `--json` (printed on
/// standard output), else its standard error.
fn error_text(out: &std::process::Output) -> String {
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

fn digest_of(a: &ContractAction) -> String {
    format!("0x{}", hex(&a.action.session_id))
}

/// Offset of the Action inside an inline-key ContractAction, and of the signature.
const SIG_AT: usize = 1 + 16 + 1 + 2592;
const ACTION_AT: usize = SIG_AT + 4627 + 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_signs_the_guestbook_and_replays_and_tampering_are_refused() {
    let w = world().await;

    // 1. Alice → bridge → SessionTrigger → SessionGuestbook, and the receipt back at Alice.
    let out = w.send_note("hello from alice", &["--timeout", "300s"]);
    let r = json_of(&out);
    assert_eq!(
        r["status"],
        "confirmed",
        "{r}\n{}\nbridge log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        w.bridge.log_text()
    );
    assert_eq!(out.status.code(), Some(0));
    let tx = r["txHash"].as_str().unwrap();
    assert_eq!(tx.len(), 66);
    assert!(r["block"].as_u64().unwrap() > 0);
    assert!(
        r["gasUsed"].as_u64().unwrap() > 1_000_000,
        "ML-DSA on chain"
    );

    let sent = w.sent_actions().await;
    assert_eq!(sent.len(), 1);
    let (bytes, action) = &sent[0];
    assert!(matches!(action.key, SignerKey::Inline(_)));
    assert_eq!(hex(&action.request_id), r["requestId"].as_str().unwrap());
    action.verify(None).unwrap();
    // The note is recorded under Alice's Session ID digest, which is her Session ID's body.
    let digest = digest_of(action);
    assert_eq!(&w.alice_id[2..], &digest[2..]);
    assert_eq!(w.chain.note_of(&digest), "hello from alice");
    assert!(w.chain.nonce_used(&digest, action.action.nonce));
    let receipts = w.await_receipts(action.request_id, 1).await;
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].status, ReceiptStatus::Confirmed);
    assert_eq!(
        format!("0x{}", hex(&receipts[0].tx.unwrap().tx_hash)),
        tx,
        "the receipt in Alice's session is the one parsctl printed"
    );
    let bridge_txs = w.chain.tx_count(BRIDGE_KEY);

    // 2a. The same message again (same request): answered again with the same receipt, no
    //     new transaction.
    w.send_raw(bytes).await;
    let again = w.await_receipts(action.request_id, 2).await;
    assert_eq!(again[1], again[0]);

    // 2b. The same signed action under a new request ID: refused off-chain as a duplicate.
    let mut replay = bytes.clone();
    replay[1] ^= 0xff;
    let replay_id: [u8; 16] = replay[1..17].try_into().unwrap();
    w.send_raw(&replay).await;
    let refused = w.await_receipts(replay_id, 1).await;
    assert_eq!(refused[0].status, ReceiptStatus::Refused);
    assert_eq!(refused[0].reason, ReasonCode::Duplicate, "{:?}", refused[0]);
    assert!(refused[0].tx.is_none());

    // 2c. Forced through on chain by someone else: the contract refuses it (NonceUsed).
    let SignerKey::Inline(pk) = &action.key else {
        unreachable!()
    };
    let outsider_before = w.chain.tx_count(OUTSIDER_KEY);
    let forced = w.chain.force_execute(
        &action.action.encode().unwrap(),
        action.signature.as_bytes(),
        pk.as_bytes(),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&forced.stdout),
        String::from_utf8_lossy(&forced.stderr)
    );
    let reverted_on_chain = serde_json::from_slice::<serde_json::Value>(&forced.stdout)
        .ok()
        .is_some_and(|v| v["status"] == "0x0");
    assert!(
        reverted_on_chain || (!forced.status.success() && text.to_lowercase().contains("revert")),
        "a replay forced on chain must revert: {text}"
    );
    if reverted_on_chain {
        assert_eq!(w.chain.tx_count(OUTSIDER_KEY), outsider_before + 1);
    }
    assert_eq!(w.chain.note_of(&digest), "hello from alice");

    // 3. A tampered signature (on an action the bridge has not seen: one byte of its nonce
    //    changed too) is refused before any transaction.
    let mut tampered = bytes.clone();
    tampered[1] ^= 0x55; // a new request
    tampered[SIG_AT + 100] ^= 0x01;
    tampered[ACTION_AT + 159] ^= 0x01; // the nonce's last byte
    let tampered_id: [u8; 16] = tampered[1..17].try_into().unwrap();
    let t = ContractAction::decode(&tampered).unwrap();
    assert!(t.verify(None).is_err());
    w.send_raw(&tampered).await;
    let refused = w.await_receipts(tampered_id, 1).await;
    assert_eq!(refused[0].status, ReceiptStatus::Refused);
    assert_eq!(
        refused[0].reason,
        ReasonCode::BadSignature,
        "{:?}",
        refused[0]
    );
    assert!(!w.chain.nonce_used(&digest, t.action.nonce));

    // No replay, duplicate or forgery cost the bridge a transaction.
    assert_eq!(w.chain.tx_count(BRIDGE_KEY), bridge_txs);
    // Alice got exactly the answers above, nothing else.
    assert_eq!(w.receipts().await.len(), 4);
    drop(w.net);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_killed_in_flight_chain_down_and_expired_deadline() {
    let mut w = world().await;
    let bridge_txs = w.chain.tx_count(BRIDGE_KEY);

    // 1. Killed between submission and confirmation: no automine, so the transaction waits in
    //    the pool while pars-bridge status shows it in flight.
    w.chain
        .anvil
        .rpc("evm_setAutomine", serde_json::json!([false]));
    let out = w.send_note("once", &["--timeout", "0"]);
    let r = json_of(&out);
    assert_eq!(r["status"], "queued", "{r}");
    let request_id: [u8; 16] = unhex(r["requestId"].as_str().unwrap()).try_into().unwrap();
    wait_status(&w.bridge, "the action in flight", |s| s["inFlight"] == 1).await;
    w.bridge.kill9();
    w.chain.anvil.mine(1);
    w.bridge.run();
    let got = w.await_receipts(request_id, 1).await;
    assert_eq!(got[0].status, ReceiptStatus::Confirmed, "{:?}", got[0]);
    let sent = w.sent_actions().await;
    let digest = digest_of(&sent[0].1);
    assert_eq!(w.chain.note_of(&digest), "once");
    // Exactly once: one transaction from the bridge, one answer at Alice (after a while).
    w.chain
        .anvil
        .rpc("evm_setAutomine", serde_json::json!([true]));
    assert_eq!(w.chain.tx_count(BRIDGE_KEY), bridge_txs + 1);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let all: Vec<_> = w
        .receipts()
        .await
        .into_iter()
        .filter(|r| r.request_id == request_id)
        .collect();
    assert_eq!(all.len(), 1, "exactly one answer: {all:?}");

    // 2. The chain is down: the action waits in the bridge and goes through when it returns.
    //    parsctl gives up waiting (exit 5, the action stays queued); the receipt still comes.
    w.chain.anvil.stop();
    let out = w.send_note("after the outage", &["--timeout", "5s"]);
    let err = error_text(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("stays queued or in flight"), "{err}");
    let sent = w.sent_actions().await;
    assert_eq!(sent.len(), 2);
    let request_id = sent[1].1.request_id;
    wait_for(
        ACTION_TIMEOUT,
        "the bridge to receive the action",
        || async { (w.bridge.log_text().matches("action accepted").count() >= 2).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        w.receipts()
            .await
            .iter()
            .all(|r| r.request_id != request_id),
        "no answer while the chain is down"
    );
    w.chain.anvil.restart();
    let got = w.await_receipts(request_id, 1).await;
    assert_eq!(got[0].status, ReceiptStatus::Confirmed, "{:?}", got[0]);
    assert_eq!(w.chain.note_of(&digest), "after the outage");

    // 3. An expired deadline: the chain's clock is two hours ahead of the action's 10 minutes.
    w.chain.anvil.increase_time(7200);
    let out = w.send_note("too late", &["--timeout", "300s"]);
    let r = json_of(&out);
    assert_eq!(r["status"], "refused", "{r}");
    assert_eq!(r["reasonCode"], ReasonCode::Expired.code());
    assert_eq!(out.status.code(), Some(6), "a refused action exits 6");
    assert_eq!(w.chain.note_of(&digest), "after the outage");
    drop(w.net);
}

#[test]
fn trigger_send_errors_have_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(common::bin("parsctl"))
            .arg("--datadir")
            .arg(dir.path().join("nobody"))
            .args(["trigger", "send"])
            .args(args)
            .output()
            .unwrap()
    };
    let bridge = format!("05{}", "ab".repeat(32));
    let target = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    let cases: [(Vec<&str>, i32, &str); 6] = [
        (vec!["--target", target], 4, "--bridge"),
        (
            vec!["--bridge", "05zz", "--target", target],
            4,
            "Session ID",
        ),
        (
            vec![
                "--bridge", &bridge, "--target", target, "--sig", "f(uint8)", "--args", "300",
            ],
            4,
            "argument 1",
        ),
        (
            vec![
                "--bridge",
                &bridge,
                "--target",
                target,
                "--deadline",
                "soon",
            ],
            4,
            "duration",
        ),
        (
            vec![
                "--bridge",
                &bridge,
                "--target",
                target,
                "--calldata",
                "0x00",
                "--sig",
                "f()",
            ],
            2,
            "cannot be used with",
        ),
        // Valid, but no daemon: unreachable.
        (vec!["--bridge", &bridge, "--target", target], 3, "sessiond"),
    ];
    for (args, code, text) in cases {
        let out = run(&args);
        let err = error_text(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(text), "{args:?}: {err}");
    }
}
