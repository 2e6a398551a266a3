//! The relayer's `Received → Verified → Submitted → Finished` machine against an in-memory twin
//! of the chain ([`Twin`], a [`RelayChain`] with a mempool, blocks, account and trigger nonces):
//! no anvil, no sleeps, time passed in. Covers the happy path, duplicates, bad signatures,
//! reverts, a stuck transaction replaced with higher fees, a node that forgets a transaction,
//! an account nonce taken by someone else, an unreachable chain, a restart mid-flight, and a
//! store written by the first relayer (JSON records) migrated on open.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use pars_bridge::relay::core::{Fees, GasBudget, Policy, Senders};
use pars_bridge::relay::{
    ChainError, Intake, Mined, Outcome, RelayChain, RelayConfig, RelayStatus, Relayer,
};
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_crypto::{SessionId, sha3_256};
use pars_wire::action::{Action, ContractAction, ContractReceipt, ReasonCode, ReceiptStatus};

const CHAIN_ID: u64 = 31337;
const TRIGGER: [u8; 20] = [0x77; 20];
const TARGET: [u8; 20] = [0x42; 20];
const FAILING_TARGET: [u8; 20] = [0x66; 20];
/// Unix ms at the start of every test.
const T0: u64 = 1_800_000_000_000;

/// A signed transaction the twin knows.
#[derive(Clone)]
struct Signed {
    account_nonce: u64,
    fees: Fees,
    session_id: [u8; 32],
    nonce: u64,
    target: [u8; 20],
}

#[derive(Default)]
struct State {
    head: u64,
    /// The account's next nonce on chain.
    account_nonce: u64,
    /// What `fees()` answers.
    fees: Option<Fees>,
    /// Transactions with a lower `max_fee` stay in the mempool.
    min_fee_to_mine: u128,
    signed: HashMap<B256, Signed>,
    mempool: Vec<B256>,
    mined: HashMap<B256, Mined>,
    used: HashSet<([u8; 32], u64)>,
    /// Keys registered in the trigger, by session ID.
    registered: HashMap<[u8; 32], Vec<u8>>,
    down: bool,
    /// The node accepts broadcasts but forgets them (a restarted node with an empty mempool).
    forgetful: bool,
    signs: usize,
    broadcasts: usize,
    executions: usize,
}

/// The in-memory chain twin.
#[derive(Clone, Default)]
struct Twin(Arc<Mutex<State>>);

fn down(what: &'static str) -> ChainError {
    ChainError::Unavailable {
        what,
        message: "the twin is down".into(),
    }
}

impl Twin {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    fn check(&self, what: &'static str) -> Result<std::sync::MutexGuard<'_, State>, ChainError> {
        let s = self.state();
        if s.down { Err(down(what)) } else { Ok(s) }
    }

    /// Mines one block: the best-paying pending transaction with the account's next nonce, if
    /// its fee is high enough; replacements with the same nonce leave the mempool.
    fn mine(&self) {
        let mut s = self.state();
        s.head += 1;
        let (next, min) = (s.account_nonce, s.min_fee_to_mine);
        let best = s
            .mempool
            .iter()
            .filter_map(|h| s.signed.get(h).map(|t| (*h, t.clone())))
            .filter(|(_, t)| t.account_nonce == next && t.fees.max_fee >= min)
            .max_by_key(|(_, t)| t.fees.max_fee);
        let Some((hash, tx)) = best else { return };
        let outcome = if !s.used.insert((tx.session_id, tx.nonce)) {
            Outcome::TxReverted
        } else if tx.target == FAILING_TARGET {
            s.executions += 1;
            Outcome::TargetFailed(Bytes::from_static(b"boom"))
        } else {
            s.executions += 1;
            Outcome::Executed
        };
        let block = s.head;
        s.mined.insert(
            hash,
            Mined {
                hash,
                block,
                gas_used: 90_000,
                outcome,
            },
        );
        s.account_nonce += 1;
        let signed = s.signed.clone();
        s.mempool
            .retain(|h| signed.get(h).is_some_and(|t| t.account_nonce > next));
    }

    /// (signed, broadcast, executed) so far.
    fn counts(&self) -> (usize, usize, usize) {
        let s = self.state();
        (s.signs, s.broadcasts, s.executions)
    }

    /// Another transaction of the same account takes its next nonce.
    fn foreign_tx(&self) {
        let mut s = self.state();
        s.head += 1;
        s.account_nonce += 1;
    }
}

impl RelayChain for Twin {
    fn signer(&self) -> Address {
        Address::repeat_byte(0x11)
    }

    async fn registered_key(&self, session_id: [u8; 32]) -> Result<Bytes, ChainError> {
        let s = self.check("publicKeyOf")?;
        Ok(s.registered
            .get(&session_id)
            .map(|k| Bytes::copy_from_slice(k))
            .unwrap_or_default())
    }

    async fn nonce_used(&self, session_id: [u8; 32], nonce: u64) -> Result<bool, ChainError> {
        Ok(self.check("nonceUsed")?.used.contains(&(session_id, nonce)))
    }

    async fn simulate(&self, ca: &ContractAction) -> Result<Option<Bytes>, ChainError> {
        self.check("eth_call").map(drop)?;
        Ok((ca.action.target == FAILING_TARGET).then(|| Bytes::from_static(b"boom")))
    }

    async fn estimate_gas(&self, _ca: &ContractAction) -> Result<u64, ChainError> {
        self.check("eth_estimateGas").map(drop)?;
        Ok(100_000)
    }

    async fn fees(&self) -> Result<Fees, ChainError> {
        Ok(self.check("eth_feeHistory")?.fees.unwrap_or(Fees {
            max_fee: 100,
            priority_fee: 10,
        }))
    }

    async fn account_nonce(&self, pending: bool) -> Result<u64, ChainError> {
        let s = self.check("eth_getTransactionCount")?;
        let pool = s
            .mempool
            .iter()
            .filter_map(|h| s.signed.get(h))
            .map(|t| t.account_nonce + 1)
            .max()
            .unwrap_or(0);
        Ok(if pending {
            s.account_nonce.max(pool)
        } else {
            s.account_nonce
        })
    }

    async fn balance(&self) -> Result<U256, ChainError> {
        self.check("eth_getBalance").map(drop)?;
        Ok(U256::from(10u64).pow(U256::from(18u64)))
    }

    async fn head(&self) -> Result<u64, ChainError> {
        Ok(self.check("eth_blockNumber")?.head)
    }

    async fn sign(
        &self,
        ca: &ContractAction,
        account_nonce: u64,
        gas_limit: u64,
        fees: Fees,
    ) -> Result<(B256, Vec<u8>), ChainError> {
        let mut s = self.state();
        let hash = B256::from(sha3_256(&[
            &ca.action.encode().unwrap(),
            &account_nonce.to_be_bytes(),
            &gas_limit.to_be_bytes(),
            &fees.max_fee.to_be_bytes(),
            &fees.priority_fee.to_be_bytes(),
        ]));
        s.signs += 1;
        s.signed.insert(
            hash,
            Signed {
                account_nonce,
                fees,
                session_id: ca.action.session_id,
                nonce: ca.action.nonce,
                target: ca.action.target,
            },
        );
        Ok((hash, hash.to_vec()))
    }

    async fn broadcast(&self, raw: &[u8]) -> Result<(), ChainError> {
        let mut s = self.check("eth_sendRawTransaction")?;
        s.broadcasts += 1;
        let hash = B256::from_slice(raw);
        let known = s.mempool.contains(&hash) || s.mined.contains_key(&hash);
        if !s.forgetful && !known && s.signed[&hash].account_nonce >= s.account_nonce {
            s.mempool.push(hash);
        }
        Ok(())
    }

    async fn knows(&self, hash: B256) -> Result<bool, ChainError> {
        let s = self.check("eth_getTransactionByHash")?;
        Ok(s.mempool.contains(&hash) || s.mined.contains_key(&hash))
    }

    async fn mined(&self, hash: B256) -> Result<Option<Mined>, ChainError> {
        Ok(self
            .check("eth_getTransactionReceipt")?
            .mined
            .get(&hash)
            .cloned())
    }
}

fn user(seed: u8) -> MlDsaSigningKey {
    MlDsaSigningKey::from_seed(&[seed; 32])
}

fn sender(seed: u8) -> SessionId {
    SessionId::from_mldsa_public_key(&user(seed).public_key())
}

/// A signed action of user `seed` to `target`, as message content.
fn action(seed: u8, request: u8, nonce: u64, target: [u8; 20]) -> ContractAction {
    let action = Action {
        version: 1,
        chain_id: [0; 32],
        trigger: TRIGGER,
        session_id: [0; 32],
        nonce,
        deadline: T0 / 1000 + 3600,
        target,
        value: [0; 32],
        data: b"note".to_vec(),
    }
    .with_chain_id(CHAIN_ID);
    ContractAction::sign([request; 16], action, &user(seed), true, &[request; 32]).unwrap()
}

fn content(ca: &ContractAction) -> Vec<u8> {
    ca.encode().unwrap()
}

fn config() -> RelayConfig {
    RelayConfig::new("http://127.0.0.1:1", CHAIN_ID, Address::from(TRIGGER))
        .with_confirmations(2)
        .with_stuck_after(Duration::from_secs(60))
        .with_policy(open_policy())
}

/// Any target and sender, budgets out of the way: the tests of the other rules.
fn open_policy() -> Policy {
    Policy::default()
        .with_any_target()
        .with_senders(Senders::Any)
        .with_budget(GasBudget::unlimited())
        .with_rate(100, 100)
}

fn open(twin: &Twin, dir: &Path) -> Relayer<Twin> {
    Relayer::with_chain(config(), twin.clone(), dir).unwrap()
}

fn status(r: &Relayer<Twin>) -> RelayStatus {
    r.status().unwrap()
}

/// The one pending answer, marked answered.
fn answer(r: &Relayer<Twin>) -> ContractReceipt {
    let answers = r.pending_answers().unwrap();
    assert_eq!(answers.len(), 1, "{answers:?}");
    r.mark_answered(&answers[0]).unwrap();
    assert_eq!(
        ContractReceipt::decode(&answers[0].content).unwrap(),
        answers[0].receipt
    );
    answers[0].receipt.clone()
}

#[tokio::test]
async fn an_action_goes_received_verified_submitted_finished() {
    let dir = tempfile::tempdir().unwrap();
    let twin = Twin::default();
    let r = open(&twin, dir.path());
    let ca = action(1, 1, 7, TARGET);
    assert_eq!(
        r.receive(&sender(1), &content(&ca), T0).unwrap(),
        Intake::Accepted
    );
    assert_eq!(status(&r).queued, 1);
    // One pass verifies and submits (signed, stored, then broadcast).
    r.step(T0).await.unwrap();
    assert_eq!(status(&r).in_flight, 1);
    assert_eq!(twin.counts(), (1, 1, 0));
    assert!(r.pending_answers().unwrap().is_empty());
    // Mined, but 2 confirmations are wanted.
    twin.mine();
    r.step(T0 + 1_000).await.unwrap();
    assert_eq!(status(&r).in_flight, 1);
    twin.mine();
    r.step(T0 + 2_000).await.unwrap();
    let s = status(&r);
    assert_eq!((s.in_flight, s.confirmed, s.unanswered), (0, 1, 1));
    let receipt = answer(&r);
    assert_eq!(receipt.request_id, [1; 16]);
    assert_eq!(receipt.status, ReceiptStatus::Confirmed);
    let tx = receipt.tx.unwrap();
    assert_eq!((tx.block, tx.gas_used), (1, 90_000));
    assert_eq!(twin.state().executions, 1);
    assert_eq!(status(&r).unanswered, 0);
    // Further passes change nothing; the same request again is answered again, identically.
    r.step(T0 + 3_000).await.unwrap();
    assert_eq!(twin.state().signs, 1);
    assert_eq!(
        r.receive(&sender(1), &content(&ca), T0 + 4_000).unwrap(),
        Intake::Repeated
    );
    assert_eq!(answer(&r).tx.unwrap().tx_hash, tx.tx_hash);
}

#[tokio::test]
async fn duplicates_and_bad_signatures_never_reach_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let twin = Twin::default();
    let r = open(&twin, dir.path());
    let ca = action(1, 1, 1, TARGET);
    assert_eq!(
        r.receive(&sender(1), &content(&ca), T0).unwrap(),
        Intake::Accepted
    );
    // The same signed action in another request: refused at once as a duplicate.
    let mut again = ca.clone();
    again.request_id = [2; 16];
    let Intake::Refused(dup) = r.receive(&sender(1), &content(&again), T0).unwrap() else {
        panic!("a duplicate was accepted");
    };
    assert_eq!(
        (dup.request_id, dup.reason),
        ([2; 16], ReasonCode::Duplicate)
    );
    // A tampered signature: refused by the off-chain check, nothing signed.
    let mut bad = action(1, 3, 2, TARGET);
    let mut sig = bad.signature.as_bytes().to_vec();
    sig[1000] ^= 1;
    bad.signature = pars_crypto::mldsa::MlDsaSignature::from_bytes(&sig).unwrap();
    assert_eq!(
        r.receive(&sender(1), &content(&bad), T0).unwrap(),
        Intake::Accepted
    );
    // Not an action at all.
    assert!(matches!(
        r.receive(&sender(2), b"\x01garbage", T0).unwrap(),
        Intake::Refused(ContractReceipt {
            reason: ReasonCode::Malformed,
            ..
        })
    ));
    r.step(T0).await.unwrap();
    assert_eq!(twin.state().signs, 1, "only the good action is signed");
    let mut answers = r.pending_answers().unwrap();
    answers.retain(|a| a.receipt.request_id == [3; 16]);
    assert_eq!(answers.len(), 1);
    assert_eq!(
        (answers[0].receipt.status, answers[0].receipt.reason),
        (ReceiptStatus::Refused, ReasonCode::BadSignature)
    );
    assert!(answers[0].receipt.tx.is_none());
    // The refused action may be sent again once fixed: a refusal is not a duplicate.
    let fixed = action(1, 4, 2, TARGET);
    assert_eq!(
        r.receive(&sender(1), &content(&fixed), T0).unwrap(),
        Intake::Accepted
    );
}

#[tokio::test]
async fn reverts_become_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let twin = Twin::default();
    let r = open(&twin, dir.path());
    // The simulation says the target would revert: refused, nothing sent.
    r.receive(&sender(1), &content(&action(1, 1, 1, FAILING_TARGET)), T0)
        .unwrap();
    r.step(T0).await.unwrap();
    let rc = answer(&r);
    assert_eq!(
        (rc.status, rc.reason),
        (ReceiptStatus::Refused, ReasonCode::TargetWouldRevert)
    );
    assert_eq!(twin.state().signs, 0);
    // Sent, but another transaction spends the action's nonce first: the transaction reverts.
    let ca = action(1, 2, 2, TARGET);
    r.receive(&sender(1), &content(&ca), T0).unwrap();
    r.step(T0).await.unwrap();
    twin.state().used.insert((ca.action.session_id, 2));
    twin.mine();
    twin.mine();
    r.step(T0 + 1_000).await.unwrap();
    let rc = answer(&r);
    assert_eq!(
        (rc.status, rc.reason),
        (ReceiptStatus::Reverted, ReasonCode::NonceUsed)
    );
    assert!(rc.tx.is_some());
    assert_eq!(status(&r).failed, 2);
}

#[tokio::test]
async fn a_stuck_transaction_is_replaced_with_higher_fees() {
    let dir = tempfile::tempdir().unwrap();
    let twin = Twin::default();
    twin.state().min_fee_to_mine = 120;
    let r = open(&twin, dir.path());
    r.receive(&sender(1), &content(&action(1, 1, 1, TARGET)), T0)
        .unwrap();
    r.step(T0).await.unwrap();
    twin.mine();
    // Not stuck yet: nothing new is signed.
    r.step(T0 + 59_000).await.unwrap();
    assert_eq!(twin.state().signs, 1);
    // Stuck: replaced with +25 % fees and the same account nonce.
    r.step(T0 + 61_000).await.unwrap();
    assert_eq!(twin.counts(), (2, 2, 0));
    let fees: Vec<Fees> = twin.state().signed.values().map(|t| t.fees).collect();
    assert!(fees.contains(&Fees {
        max_fee: 125,
        priority_fee: 13
    }));
    assert!(twin.state().signed.values().all(|t| t.account_nonce == 0));
    twin.mine();
    twin.mine();
    r.step(T0 + 62_000).await.unwrap();
    let rc = answer(&r);
    assert_eq!(rc.status, ReceiptStatus::Confirmed);
    assert_eq!(twin.state().executions, 1);
}

#[tokio::test]
async fn a_forgotten_transaction_is_rebroadcast_and_a_lost_account_nonce_resubmitted() {
    let dir = tempfile::tempdir().unwrap();
    let twin = Twin::default();
    twin.state().forgetful = true;
    let r = open(&twin, dir.path());
    r.receive(&sender(1), &content(&action(1, 1, 1, TARGET)), T0)
        .unwrap();
    r.step(T0).await.unwrap();
    // The node forgot it: the same bytes go out again, nothing is signed anew.
    twin.state().forgetful = false;
    r.step(T0 + 1_000).await.unwrap();
    assert_eq!(twin.counts(), (1, 2, 0));
    assert_eq!(twin.state().mempool.len(), 1);
    // Its account nonce is taken by another transaction of the account before it is mined.
    twin.state().mempool.clear();
    twin.foreign_tx();
    // Within the grace period the relayer waits for a late receipt.
    r.step(T0 + 2_000).await.unwrap();
    assert_eq!(twin.state().signs, 1);
    // After it, the action (its trigger nonce still unused) goes back to verified and is sent
    // again with the next account nonce.
    r.step(T0 + 20_000).await.unwrap();
    r.step(T0 + 20_000).await.unwrap();
    assert_eq!(twin.state().signs, 2);
    twin.mine();
    twin.mine();
    r.step(T0 + 21_000).await.unwrap();
    assert_eq!(answer(&r).status, ReceiptStatus::Confirmed);
    assert_eq!(twin.state().executions, 1);
}

#[tokio::test]
async fn an_unreachable_chain_keeps_the_state_and_a_restart_resumes_mid_flight() {
    let dir = tempfile::tempdir().unwrap();
    let twin = Twin::default();
    let r = open(&twin, dir.path());
    twin.state().down = true;
    r.receive(&sender(1), &content(&action(1, 1, 1, TARGET)), T0)
        .unwrap();
    assert!(matches!(
        r.step(T0).await,
        Err(pars_bridge::relay::RelayError::Unavailable(_))
    ));
    assert_eq!(status(&r).queued, 1);
    twin.state().down = false;
    r.step(T0 + 1_000).await.unwrap();
    assert_eq!(status(&r).in_flight, 1);
    // The relayer stops between broadcast and confirmation; the chain goes on.
    drop(r);
    twin.mine();
    twin.mine();
    let r = open(&twin, dir.path());
    assert_eq!(status(&r).in_flight, 1);
    r.step(T0 + 2_000).await.unwrap();
    assert_eq!(answer(&r).status, ReceiptStatus::Confirmed);
    assert_eq!((twin.counts().0, twin.counts().2), (1, 1));
}

/// A store the first relayer wrote (JSON values, exactly its serde shapes) is migrated when
/// opened: an answered request, a finished refusal, and an action in flight whose transaction
/// then confirms — and it stays readable after the migration, on the next open.
#[tokio::test]
async fn a_store_of_json_records_is_migrated_and_resumed() {
    use redb::{Database, TableDefinition};
    const ACTIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("actions");
    const REQUESTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("requests");

    let dir = tempfile::tempdir().unwrap();
    let twin = Twin::default();
    let alice = sender(1);
    let ca = action(1, 1, 5, TARGET);
    let akey = [&ca.action.session_id[..], &5u64.to_be_bytes()].concat();
    let rkey = [&alice.digest()[..], &[1u8; 16][..]].concat();
    let rkey2 = [&alice.digest()[..], &[2u8; 16][..]].concat();
    let refusal = ContractReceipt {
        request_id: [2; 16],
        status: ReceiptStatus::Refused,
        reason: ReasonCode::RateLimited,
        reason_text: "wait".into(),
        tx: None,
    };
    // The transaction the first relayer signed and broadcast before it stopped.
    let (hash, raw) = twin
        .sign(
            &ca,
            0,
            120_000,
            Fees {
                max_fee: 2_000_000_000,
                priority_fee: 1_000_000_000,
            },
        )
        .await
        .unwrap();
    twin.broadcast(&raw).await.unwrap();
    {
        let db = Database::create(dir.path().join("relay.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(ACTIONS).unwrap();
            let json = format!(
                r#"{{"request":"{}","content":"{}","received_at_ms":{T0},"state":{{"state":"submitted","gas_limit":120000,"account_nonce":0,"txs":[{{"hash":"{}","fees":{{"max_fee":"2000000000","priority_fee":"1000000000"}},"raw":"{}","sent_at_ms":{T0}}}]}}}}"#,
                hex::encode(&rkey),
                hex::encode(content(&ca)),
                hex::encode(hash),
                hex::encode(&raw),
            );
            t.insert(akey.as_slice(), json.as_bytes()).unwrap();
            let mut t = tx.open_table(REQUESTS).unwrap();
            let json = format!(
                r#"{{"sender":"{alice}","action":"{}","receipt":null,"answered":false,"received_at_ms":{T0}}}"#,
                hex::encode(&akey)
            );
            t.insert(rkey.as_slice(), json.as_bytes()).unwrap();
            let json = format!(
                r#"{{"sender":"{alice}","action":null,"receipt":"{}","answered":false,"received_at_ms":{}}}"#,
                hex::encode(refusal.encode()),
                T0 + 1
            );
            t.insert(rkey2.as_slice(), json.as_bytes()).unwrap();
        }
        tx.commit().unwrap();
    }
    let r = open(&twin, dir.path());
    let s = status(&r);
    assert_eq!((s.in_flight, s.failed, s.unanswered), (1, 1, 1));
    assert_eq!(answer(&r), refusal);
    drop(r);
    // Reopened (already migrated): the in-flight action confirms without signing again.
    let r = open(&twin, dir.path());
    twin.mine();
    twin.mine();
    r.step(T0 + 5_000).await.unwrap();
    let rc = answer(&r);
    assert_eq!(
        (rc.request_id, rc.status),
        ([1; 16], ReceiptStatus::Confirmed)
    );
    assert_eq!(rc.tx.unwrap().tx_hash, hash.0);
    assert_eq!((twin.counts().0, twin.counts().2), (1, 1));
}

/// The policy, before anything is stored: an unlisted sender, a sender over its gas budget and a
/// malformed message are refused from memory (nothing of them survives a restart), while other
/// senders are served; with `senders = registered` only a key registered on chain is relayed.
#[tokio::test]
async fn the_policy_stops_senders_at_their_budget_and_list_and_keeps_serving_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let twin = Twin::default();
    // Each action's gas limit is 120,000 (the twin's estimate + 20 %): two fit Alice's hour.
    let budget = GasBudget {
        sender_per_hour: 250_000,
        sender_per_day: u64::MAX,
        per_hour: u64::MAX,
        per_day: u64::MAX,
    };
    let cfg = config().with_policy(open_policy().with_budget(budget));
    let r = Relayer::with_chain(cfg.clone(), twin.clone(), dir.path()).unwrap();
    for n in 1..=3 {
        let ca = action(1, n, u64::from(n), TARGET);
        assert_eq!(
            r.receive(&sender(1), &content(&ca), T0).unwrap(),
            Intake::Accepted
        );
    }
    r.step(T0).await.unwrap();
    assert_eq!(twin.state().signs, 2, "two actions fit the budget");
    let mut answers = r.pending_answers().unwrap();
    answers.retain(|a| a.receipt.request_id == [3; 16]);
    assert_eq!(answers[0].receipt.reason, ReasonCode::BudgetExhausted);
    assert!(
        answers[0]
            .receipt
            .reason_text
            .contains("this sender's hourly")
    );
    // Now spent: Alice's next is refused at intake, before anything is stored.
    let next = action(1, 4, 4, TARGET);
    let Intake::Refused(rc) = r.receive(&sender(1), &content(&next), T0).unwrap() else {
        panic!("accepted over the budget");
    };
    assert_eq!(rc.reason, ReasonCode::BudgetExhausted);
    // Bob is served all the same.
    let bob = action(2, 5, 1, TARGET);
    assert_eq!(
        r.receive(&sender(2), &content(&bob), T0).unwrap(),
        Intake::Accepted
    );
    r.step(T0).await.unwrap();
    assert_eq!(twin.state().signs, 3);
    // The next hour, Alice's budget is back.
    let later = action(1, 6, 6, TARGET);
    let t1 = T0 + 3_600_000;
    assert_eq!(
        r.receive(&sender(1), &content(&later), t1).unwrap(),
        Intake::Accepted
    );
    r.step(t1).await.unwrap();
    let sent = |twin: &Twin, seed: u8, nonce: u64| {
        twin.state()
            .signed
            .values()
            .any(|s| s.session_id == user_session(seed) && s.nonce == nonce)
    };
    assert!(sent(&twin, 1, 6), "Alice's budget renews with the hour");
    // A malformed message: answered, not stored.
    assert!(matches!(
        r.receive(&sender(2), b"\x01junk", t1).unwrap(),
        Intake::Refused(ContractReceipt {
            reason: ReasonCode::Malformed,
            ..
        })
    ));
    let in_memory = |r: &Relayer<Twin>, id: u8| {
        r.pending_answers()
            .unwrap()
            .iter()
            .any(|a| a.receipt.request_id == [id; 16])
    };
    assert!(in_memory(&r, 4));
    drop(r);
    let r = Relayer::with_chain(cfg, twin.clone(), dir.path()).unwrap();
    assert!(!in_memory(&r, 4), "a refusal at intake is never stored");
    assert!(in_memory(&r, 3), "a refusal after verification is");
    drop(r);

    // Listed senders only: Bob is refused at intake.
    let listed =
        config().with_policy(open_policy().with_senders(Senders::Only([user_session(1)].into())));
    let d2 = tempfile::tempdir().unwrap();
    let r = Relayer::with_chain(listed, twin.clone(), d2.path()).unwrap();
    let Intake::Refused(rc) = r
        .receive(&sender(2), &content(&action(2, 7, 7, TARGET)), t1)
        .unwrap()
    else {
        panic!("an unlisted sender was accepted");
    };
    assert_eq!(rc.reason, ReasonCode::SenderNotAllowed);
    assert_eq!(
        r.receive(&sender(1), &content(&action(1, 8, 8, TARGET)), t1)
            .unwrap(),
        Intake::Accepted
    );
    drop(r);

    // Registered keys only: Alice registered hers, Bob did not.
    twin.state()
        .registered
        .insert(user_session(1), user(1).public_key().as_bytes().to_vec());
    let registered = config().with_policy(open_policy().with_senders(Senders::Registered));
    let d3 = tempfile::tempdir().unwrap();
    let r = Relayer::with_chain(registered, twin.clone(), d3.path()).unwrap();
    r.receive(&sender(1), &content(&action(1, 9, 9, TARGET)), t1)
        .unwrap();
    r.receive(&sender(2), &content(&action(2, 10, 10, TARGET)), t1)
        .unwrap();
    r.step(t1).await.unwrap();
    assert!(sent(&twin, 1, 9), "the registered sender's action is sent");
    assert!(!sent(&twin, 2, 10), "the unregistered sender's is not");
    let mut answers = r.pending_answers().unwrap();
    answers.retain(|a| a.receipt.request_id == [10; 16]);
    assert_eq!(answers[0].receipt.reason, ReasonCode::SenderNotAllowed);
}

/// Answered requests and finished actions go after `keep_records`; the store stays bounded.
#[tokio::test]
async fn old_records_expire_and_the_request_cap_refuses_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let twin = Twin::default();
    let cfg = config().with_records(Duration::from_secs(3600), 2);
    let r = Relayer::with_chain(cfg, twin.clone(), dir.path()).unwrap();
    let ca = action(1, 1, 1, TARGET);
    r.receive(&sender(1), &content(&ca), T0).unwrap();
    r.step(T0).await.unwrap();
    twin.mine();
    twin.mine();
    r.step(T0 + 1_000).await.unwrap();
    assert_eq!(answer(&r).status, ReceiptStatus::Confirmed);
    r.receive(&sender(1), &content(&action(1, 2, 2, TARGET)), T0)
        .unwrap();
    // Two requests held: the cap refuses a third, from memory.
    let Intake::Refused(rc) = r
        .receive(&sender(2), &content(&action(2, 3, 1, TARGET)), T0)
        .unwrap()
    else {
        panic!("accepted over the cap");
    };
    assert!(
        rc.reason_text.contains("the most requests it keeps"),
        "{}",
        rc.reason_text
    );
    // An hour later the finished one goes (with its action); the one still on its way stays.
    assert_eq!(
        r.expire(T0 + 3_600_000).unwrap(),
        0,
        "not older than the hour yet"
    );
    let gone = r.expire(T0 + 3_600_000 + 2_000).unwrap();
    assert_eq!(gone, 1);
    assert_eq!(status(&r).confirmed, 0);
    assert_eq!(status(&r).queued, 1);
    // Room again.
    assert_eq!(
        r.receive(
            &sender(2),
            &content(&action(2, 4, 2, TARGET)),
            T0 + 3_600_000 + 3_000
        )
        .unwrap(),
        Intake::Accepted
    );
}

fn user_session(seed: u8) -> [u8; 32] {
    sender(seed).digest()
}

/// A chain that went back under a submitted transaction: its account nonce is now below ours
/// and nothing of ours fills the gap. The action is signed again at the chain's nonce (not
/// resent at the old one forever) and confirms; and fee bumps stop at their cap, reported stuck.
#[tokio::test]
async fn a_nonce_gap_left_by_a_rollback_is_closed_and_fee_bumps_stop_at_their_cap() {
    let dir = tempfile::tempdir().unwrap();
    let twin = Twin::default();
    {
        let mut s = twin.state();
        s.account_nonce = 5;
        s.min_fee_to_mine = u128::MAX;
    }
    let r = Relayer::with_chain(config().with_max_fee_bumps(2), twin.clone(), dir.path()).unwrap();
    let ca = action(1, 1, 1, TARGET);
    r.receive(&sender(1), &content(&ca), T0).unwrap();
    r.step(T0).await.unwrap();
    let at = |twin: &Twin, n: u64| twin.state().signed.values().any(|t| t.account_nonce == n);
    assert!(at(&twin, 5));
    // The chain goes back two transactions (not ours): nonces 3 and 4 will never come.
    twin.state().account_nonce = 3;
    r.step(T0 + 61_000).await.unwrap();
    assert!(at(&twin, 3), "signed again at the chain's nonce");
    twin.state().min_fee_to_mine = 0;
    twin.mine();
    twin.mine();
    r.step(T0 + 62_000).await.unwrap();
    let rc = answer(&r);
    assert_eq!(rc.status, ReceiptStatus::Confirmed);
    assert_eq!(twin.state().executions, 1);

    // Fees too low for the chain: two bumps, then the action is reported stuck.
    twin.state().min_fee_to_mine = u128::MAX;
    r.receive(&sender(1), &content(&action(1, 2, 2, TARGET)), T0 + 70_000)
        .unwrap();
    r.step(T0 + 70_000).await.unwrap();
    let signs = twin.state().signs;
    for k in 1..=4 {
        r.step(T0 + 70_000 + k * 61_000).await.unwrap();
    }
    assert_eq!(twin.state().signs, signs + 2, "two bumps, no more");
    assert_eq!(status(&r).stuck, 1);
}
