//! The relayer against a real anvil with the devnet's contracts (SessionTrigger, the pure-Solidity
//! ML-DSA-87 verifier at the precompile address, SessionGuestbook): actions signed with
//! pars-crypto execute exactly once; replays, tampered signatures and expired deadlines are
//! refused before any transaction; a relayer dropped between submission and confirmation, or a
//! chain that goes away, still ends with exactly one execution and one answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The anvil harness is the registry's (one copy of it for both crates).
#[path = "../../node/registry/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use common::{ANVIL_KEYS, Anvil, signer};
use pars_bridge::relay::core::{GasBudget, Policy, Senders};
use pars_bridge::relay::{Answer, Intake, RelayConfig, Relayer, unix_ms};
use pars_crypto::SessionId;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_registry::contracts::{SessionGuestbook, SessionTrigger};
use pars_registry::{DevnetAddresses, EvmSigner};
use pars_wire::action::{Action, ContractAction, ReasonCode, ReceiptStatus};
use tokio::sync::watch;

const RELAYER_KEY: usize = 2;

fn user(seed: u8) -> MlDsaSigningKey {
    MlDsaSigningKey::from_seed(&[seed; 32])
}

fn sender(seed: u8) -> SessionId {
    SessionId::from_mldsa_public_key(&user(seed).public_key())
}

/// A signed `SessionGuestbook.sign(note)` action.
fn guestbook_action(
    a: &DevnetAddresses,
    key: &MlDsaSigningKey,
    request: u8,
    nonce: u64,
    note: &str,
    deadline: u64,
    inline: bool,
) -> ContractAction {
    let data = SessionGuestbook::signCall {
        note: note.to_owned(),
    }
    .abi_encode();
    let action = Action {
        version: 1,
        chain_id: [0; 32],
        trigger: a.session_trigger.into_array(),
        session_id: [0; 32],
        nonce,
        deadline,
        target: a.session_guestbook.unwrap().into_array(),
        value: [0; 32],
        data,
    }
    .with_chain_id(a.chain_id);
    ContractAction::sign([request; 16], action, key, inline, &[request; 32]).unwrap()
}

fn far_deadline() -> u64 {
    unix_ms() / 1000 + 3600
}

/// An open policy (any target and sender, no budgets): these tests are about the chain, not the
/// policy (`relay_machine.rs` tests that).
fn config(anvil: &Anvil, a: &DevnetAddresses) -> RelayConfig {
    RelayConfig::new(&anvil.url, a.chain_id, a.session_trigger)
        .with_policy(
            Policy::default()
                .with_any_target()
                .with_senders(Senders::Any)
                .with_budget(GasBudget::unlimited()),
        )
        .with_confirmations(1)
        .with_poll_interval(Duration::from_millis(100))
        .with_backoff(Duration::from_millis(100), Duration::from_millis(500))
}

struct Running {
    relayer: Relayer,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn start(cfg: RelayConfig, dir: &Path) -> Self {
        let relayer = Relayer::open(cfg, &signer(RELAYER_KEY), dir).await.unwrap();
        let (stop, rx) = watch::channel(false);
        let task = relayer.spawn(rx);
        Self {
            relayer,
            stop,
            task,
        }
    }

    /// Stops the driver and drops the relayer (closing its database).
    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap();
        drop(self.relayer);
    }
}

/// Waits until `n` answers are pending, returns them and marks them answered.
async fn answers(relayer: &Relayer, n: usize) -> Vec<Answer> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let pending = relayer.pending_answers().unwrap();
        if pending.len() >= n {
            for a in &pending {
                relayer.mark_answered(a).unwrap();
            }
            return pending;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {n} answers; status {:?}",
            relayer.status().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_until(what: &str, mut pred: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !pred().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn note_of(anvil: &Anvil, a: &DevnetAddresses, key: &MlDsaSigningKey) -> String {
    let digest = SessionId::from_mldsa_public_key(&key.public_key()).digest();
    SessionGuestbook::new(a.session_guestbook.unwrap(), anvil.provider())
        .noteOf(B256::from(digest))
        .call()
        .await
        .unwrap()
}

async fn relayer_nonce(anvil: &Anvil) -> u64 {
    anvil
        .provider()
        .get_transaction_count(signer(RELAYER_KEY).address())
        .await
        .unwrap()
}

async fn executed_events(anvil: &Anvil, a: &DevnetAddresses) -> usize {
    use alloy::sol_types::SolEvent;
    let filter = alloy::rpc::types::Filter::new()
        .address(a.session_trigger)
        .from_block(0)
        .event_signature(SessionTrigger::SessionActionExecuted::SIGNATURE_HASH);
    anvil.provider().get_logs(&filter).await.unwrap().len()
}

fn wallet_provider(anvil: &Anvil, key: usize) -> alloy::providers::DynProvider {
    let s: PrivateKeySigner = ANVIL_KEYS[key].parse().unwrap();
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(s))
        .connect_http(anvil.url.parse().unwrap())
        .erased()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_execute_once_and_bad_ones_are_refused_before_any_transaction() {
    let anvil = Anvil::start().await;
    let a = anvil.deploy();
    let dir = tempfile::tempdir().unwrap();
    let run = Running::start(config(&anvil, &a), dir.path()).await;
    let r = &run.relayer;
    let alice = user(1);
    let alice_id = sender(1);

    // An action with the key inline executes SessionGuestbook and records the note under
    // Alice's session ID digest.
    let ca = guestbook_action(&a, &alice, 1, 1, "hello from alice", far_deadline(), true);
    let content = ca.encode().unwrap();
    assert_eq!(
        r.receive(&alice_id, &content, unix_ms()).unwrap(),
        Intake::Accepted
    );
    let got = answers(r, 1).await;
    assert_eq!(got.len(), 1);
    let receipt = &got[0].receipt;
    assert_eq!(receipt.status, ReceiptStatus::Confirmed, "{receipt:?}");
    assert_eq!(receipt.request_id, [1; 16]);
    assert_eq!(got[0].sender, alice_id);
    let tx = receipt.tx.unwrap();
    assert!(tx.block > 0 && tx.gas_used > 1_000_000, "{tx:?}");
    assert_eq!(note_of(&anvil, &a, &alice).await, "hello from alice");
    let nonce_after_first = relayer_nonce(&anvil).await;

    // The same message again (a redelivery): the same answer again, nothing new on chain.
    assert_eq!(
        r.receive(&alice_id, &content, unix_ms()).unwrap(),
        Intake::Repeated
    );
    let again = answers(r, 1).await;
    assert_eq!(again[0].receipt, *receipt);
    assert_eq!(again[0].content, got[0].content);

    // The same signed action in a new request: refused off-chain at once.
    let mut replay = ca.clone();
    replay.request_id = [2; 16];
    match r
        .receive(&alice_id, &replay.encode().unwrap(), unix_ms())
        .unwrap()
    {
        Intake::Refused(rc) => {
            assert_eq!(rc.status, ReceiptStatus::Refused);
            assert_eq!(rc.reason, ReasonCode::Duplicate);
            assert_eq!(rc.request_id, [2; 16]);
        }
        other => panic!("replay accepted: {other:?}"),
    }
    assert_eq!(answers(r, 1).await[0].receipt.reason, ReasonCode::Duplicate);
    // From a fresh relayer state too (another bridge): the chain's used nonce refuses it.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Running::start(config(&anvil, &a), other_dir.path()).await;
    other
        .relayer
        .receive(&alice_id, &content, unix_ms())
        .unwrap();
    let rc = &answers(&other.relayer, 1).await[0].receipt;
    assert_eq!(
        (rc.status, rc.reason),
        (ReceiptStatus::Refused, ReasonCode::NonceUsed),
        "{rc:?}"
    );
    other.stop().await;
    // Forced through on chain by someone else: the trigger reverts with NonceUsed.
    let forced = SessionTrigger::new(a.session_trigger, wallet_provider(&anvil, 3))
        .executeFromSession(
            Bytes::from(ca.action.encode().unwrap()),
            Bytes::copy_from_slice(ca.signature.as_bytes()),
            Bytes::copy_from_slice(alice.public_key().as_bytes()),
        )
        .send()
        .await;
    let err = forced.expect_err("a replay must revert");
    let decoded = err.as_decoded_interface_error::<SessionTrigger::SessionTriggerErrors>();
    assert!(
        matches!(
            decoded,
            Some(SessionTrigger::SessionTriggerErrors::NonceUsed(_))
        ),
        "{err}"
    );

    // A tampered signature: refused before any transaction.
    let mut bad = guestbook_action(&a, &alice, 3, 2, "tampered", far_deadline(), true);
    let mut sig = bad.signature.as_bytes().to_vec();
    sig[1000] ^= 0x01;
    bad.signature = pars_crypto::mldsa::MlDsaSignature::from_bytes(&sig).unwrap();
    assert_eq!(
        r.receive(&alice_id, &bad.encode().unwrap(), unix_ms())
            .unwrap(),
        Intake::Accepted
    );
    let rc = &answers(r, 1).await[0].receipt;
    assert_eq!(
        (rc.status, rc.reason),
        (ReceiptStatus::Refused, ReasonCode::BadSignature)
    );
    assert!(rc.tx.is_none());
    // A key that is not the signer's.
    let mut wrong_key = guestbook_action(&a, &alice, 4, 3, "wrong key", far_deadline(), true);
    wrong_key.key = pars_wire::action::SignerKey::Inline(user(9).public_key());
    r.receive(&alice_id, &wrong_key.encode().unwrap(), unix_ms())
        .unwrap();
    assert_eq!(
        answers(r, 1).await[0].receipt.reason,
        ReasonCode::KeyMismatch
    );
    // An expired deadline: an error receipt, no transaction.
    let old = guestbook_action(&a, &alice, 5, 4, "too late", unix_ms() / 1000 - 10, true);
    r.receive(&alice_id, &old.encode().unwrap(), unix_ms())
        .unwrap();
    let rc = &answers(r, 1).await[0].receipt;
    assert_eq!(
        (rc.status, rc.reason),
        (ReceiptStatus::Refused, ReasonCode::Expired)
    );
    // A registered-key action before the key is registered.
    let reg = guestbook_action(&a, &alice, 6, 5, "registered", far_deadline(), false);
    r.receive(&alice_id, &reg.encode().unwrap(), unix_ms())
        .unwrap();
    let rc = &answers(r, 1).await[0].receipt;
    assert_eq!(rc.reason, ReasonCode::KeyNotRegistered);
    // A call the target rejects (no such function): refused after the simulation.
    let mut bad_call = guestbook_action(&a, &alice, 8, 6, "", far_deadline(), true).action;
    bad_call.data = vec![0xde, 0xad, 0xbe, 0xef];
    let bad_call = ContractAction::sign([8; 16], bad_call, &alice, true, &[8; 32]).unwrap();
    r.receive(&alice_id, &bad_call.encode().unwrap(), unix_ms())
        .unwrap();
    let rc = &answers(r, 1).await[0].receipt;
    assert_eq!(
        (rc.status, rc.reason),
        (ReceiptStatus::Refused, ReasonCode::TargetWouldRevert),
        "{rc:?}"
    );
    // Garbage.
    match r
        .receive(&alice_id, b"\x01not an action", unix_ms())
        .unwrap()
    {
        Intake::Refused(rc) => assert_eq!(rc.reason, ReasonCode::Malformed),
        other => panic!("{other:?}"),
    }
    answers(r, 1).await;
    assert_eq!(
        relayer_nonce(&anvil).await,
        nonce_after_first,
        "no refused action may cost a transaction"
    );

    // After registering the key, the same signed action (retried: it never reached the chain)
    // goes through executeRegistered.
    SessionTrigger::new(a.session_trigger, wallet_provider(&anvil, 3))
        .registerKey(Bytes::copy_from_slice(alice.public_key().as_bytes()))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let mut retry = reg.clone();
    retry.request_id = [7; 16];
    assert_eq!(
        r.receive(&alice_id, &retry.encode().unwrap(), unix_ms())
            .unwrap(),
        Intake::Accepted
    );
    let rc = &answers(r, 1).await[0].receipt;
    assert_eq!(rc.status, ReceiptStatus::Confirmed, "{rc:?}");
    assert_eq!(note_of(&anvil, &a, &alice).await, "registered");
    assert!(
        rc.tx.unwrap().gas_used < tx.gas_used,
        "registered {} vs inline {}",
        rc.tx.unwrap().gas_used,
        tx.gas_used
    );
    assert_eq!(executed_events(&anvil, &a).await, 2);
    let status = r.status().unwrap();
    assert_eq!(
        (status.confirmed, status.queued, status.in_flight),
        (2, 0, 0),
        "{status:?}"
    );
    assert_eq!(status.unanswered, 0);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayer_dropped_between_submission_and_confirmation_executes_once() {
    let anvil = Anvil::start().await;
    let a = anvil.deploy();
    let dir = tempfile::tempdir().unwrap();
    let alice = user(1);
    let alice_id = sender(1);
    let nonce_before = relayer_nonce(&anvil).await;
    // Blocks only when the test mines them; a pending transaction counts as stuck after 1 s.
    anvil
        .rpc("evm_setAutomine", serde_json::json!([false]))
        .await;
    let cfg = config(&anvil, &a)
        .with_confirmations(2)
        .with_stuck_after(Duration::from_secs(1));
    let run = Running::start(cfg.clone(), dir.path()).await;
    let ca = guestbook_action(&a, &alice, 1, 42, "exactly once", far_deadline(), true);
    run.relayer
        .receive(&alice_id, &ca.encode().unwrap(), unix_ms())
        .unwrap();
    wait_until("the transaction in flight", async || {
        run.relayer.status().unwrap().in_flight == 1
    })
    .await;
    // The first transaction sits in the pool; after 1 s the relayer replaces it with higher fees.
    let relayer_addr = signer(RELAYER_KEY).address().to_string().to_lowercase();
    let pool_fee = async || -> Option<u128> {
        let pool = anvil.rpc("txpool_content", serde_json::json!([])).await;
        let pending = pool["pending"].as_object()?;
        let (_, txs) = pending
            .iter()
            .find(|(k, _)| k.to_lowercase() == relayer_addr)?;
        let tx = txs.as_object()?.values().next()?;
        let fee = tx["maxPriorityFeePerGas"].as_str()?;
        u128::from_str_radix(fee.trim_start_matches("0x"), 16).ok()
    };
    let first_fee = {
        let mut fee = None;
        wait_until("the transaction in the pool", async || {
            fee = pool_fee().await;
            fee.is_some()
        })
        .await;
        fee.unwrap()
    };
    wait_until("a fee-bumped replacement", async || {
        pool_fee().await.is_some_and(|f| f > first_fee)
    })
    .await;
    // The relayer goes away before anything is mined, and the node forgets the transaction.
    run.stop().await;
    anvil
        .rpc("anvil_dropAllTransactions", serde_json::json!([]))
        .await;
    assert!(pool_fee().await.is_none());
    // A new relayer on the same state broadcasts the stored transaction again (same account
    // nonce, nothing signed anew) ...
    let run = Running::start(cfg, dir.path()).await;
    wait_until("the stored transaction broadcast again", async || {
        pool_fee().await.is_some()
    })
    .await;
    anvil.mine(1).await;
    // ... finds it mined, waits for the second confirmation, answers once, sends nothing new.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        run.relayer.pending_answers().unwrap().is_empty(),
        "one confirmation is not enough"
    );
    anvil.mine(1).await;
    let got = answers(&run.relayer, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].receipt.status,
        ReceiptStatus::Confirmed,
        "{:?}",
        got[0].receipt
    );
    anvil.mine(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        run.relayer.pending_answers().unwrap().is_empty(),
        "exactly one answer"
    );
    assert_eq!(
        relayer_nonce(&anvil).await,
        nonce_before + 1,
        "exactly one transaction mined"
    );
    assert_eq!(executed_events(&anvil, &a).await, 1);
    assert_eq!(note_of(&anvil, &a, &alice).await, "exactly once");
    let mined = anvil
        .provider()
        .get_transaction_by_hash(B256::from(got[0].receipt.tx.unwrap().tx_hash))
        .await
        .unwrap()
        .unwrap();
    use alloy::consensus::Transaction as _;
    assert!(
        mined.max_priority_fee_per_gas().unwrap() > first_fee,
        "the replacement was mined"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_queue_while_the_chain_is_down_and_go_through_when_it_returns() {
    let state = tempfile::tempdir().unwrap();
    let mut anvil = Anvil::start_with_state(&state.path().join("chain.json")).await;
    let a = anvil.deploy();
    anvil.mine(1).await;
    let dir = tempfile::tempdir().unwrap();
    let run = Running::start(config(&anvil, &a), dir.path()).await;
    let alice = user(1);
    let alice_id = sender(1);
    anvil.stop();
    let ca = guestbook_action(&a, &alice, 1, 7, "after the outage", far_deadline(), true);
    assert_eq!(
        run.relayer
            .receive(&alice_id, &ca.encode().unwrap(), unix_ms())
            .unwrap(),
        Intake::Accepted
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = run.relayer.status().unwrap();
    assert_eq!((status.queued, status.confirmed), (1, 0), "{status:?}");
    assert!(run.relayer.pending_answers().unwrap().is_empty());
    anvil.restart().await;
    let got = answers(&run.relayer, 1).await;
    assert_eq!(
        got[0].receipt.status,
        ReceiptStatus::Confirmed,
        "{:?}",
        got[0].receipt
    );
    assert_eq!(note_of(&anvil, &a, &alice).await, "after the outage");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayer_refuses_the_wrong_chain_and_a_missing_trigger() {
    let anvil = Anvil::start().await;
    let a = anvil.deploy();
    let dir = tempfile::tempdir().unwrap();
    let wrong_chain = RelayConfig::new(&anvil.url, 1, a.session_trigger);
    let err = Relayer::open(wrong_chain, &signer(RELAYER_KEY), dir.path())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("chain 31337"), "{err}");
    let no_code = RelayConfig::new(&anvil.url, 31337, Address::repeat_byte(0x42));
    let err = Relayer::open(no_code, &signer(RELAYER_KEY), dir.path())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no contract"), "{err}");
    let _ = EvmSigner::from_hex(ANVIL_KEYS[0]).unwrap();
}

/// A chain that goes back (restored from an older state, as the devnet's anvil did after a long
/// outage): a confirmed action's transaction vanishes with the blocks. The relayer finds it gone,
/// verifies the action again and executes it once more — once in all on the chain as it is —,
/// answers anew, reads its account nonce again, and the next action goes through; nothing is
/// left resent forever at a nonce the chain will not reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_rolled_back_under_a_confirmed_action_gets_it_executed_again_once() {
    let anvil = Anvil::start().await;
    let a = anvil.deploy();
    let dir = tempfile::tempdir().unwrap();
    let alice = user(1);
    let alice_id = sender(1);
    let before = anvil.snapshot().await;
    let nonce_before = relayer_nonce(&anvil).await;
    let run = Running::start(config(&anvil, &a), dir.path()).await;
    let ca = guestbook_action(
        &a,
        &alice,
        1,
        7,
        "before the rollback",
        far_deadline(),
        true,
    );
    run.relayer
        .receive(&alice_id, &ca.encode().unwrap(), unix_ms())
        .unwrap();
    let first = answers(&run.relayer, 1).await;
    assert_eq!(first[0].receipt.status, ReceiptStatus::Confirmed);
    assert_eq!(note_of(&anvil, &a, &alice).await, "before the rollback");
    assert_eq!(relayer_nonce(&anvil).await, nonce_before + 1);

    // The chain goes back to before the action: its transaction and the note are gone.
    anvil.revert(&before).await;
    assert_eq!(note_of(&anvil, &a, &alice).await, "");
    assert_eq!(relayer_nonce(&anvil).await, nonce_before);

    // Within its 30 s check the relayer executes it again, once, and answers again.
    let again = answers(&run.relayer, 1).await;
    assert_eq!(
        (again[0].receipt.request_id, again[0].receipt.status),
        ([1; 16], ReceiptStatus::Confirmed),
        "{:?}",
        again[0].receipt
    );
    assert_eq!(note_of(&anvil, &a, &alice).await, "before the rollback");
    assert_eq!(executed_events(&anvil, &a).await, 1);
    assert_eq!(relayer_nonce(&anvil).await, nonce_before + 1);

    // The next action goes through at the chain's account nonce.
    let next = guestbook_action(&a, &alice, 2, 8, "after the rollback", far_deadline(), true);
    run.relayer
        .receive(&alice_id, &next.encode().unwrap(), unix_ms())
        .unwrap();
    let got = answers(&run.relayer, 1).await;
    assert_eq!(got[0].receipt.status, ReceiptStatus::Confirmed);
    assert_eq!(note_of(&anvil, &a, &alice).await, "after the rollback");
    assert_eq!(relayer_nonce(&anvil).await, nonce_before + 2);
    assert_eq!(run.relayer.status().unwrap().stuck, 0);
    run.stop().await;
}
