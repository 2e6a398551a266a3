//! The driver's pass over the stored actions: `Received → Verified` (off-chain checks, signature,
//! simulation, gas), `Verified → Submitted` (sign, store, broadcast), `Submitted → Finished`
//! (receipts, confirmations, rebroadcast, fee bumps, a lost account nonce), every transition
//! written to the store before it has an effect outside.

use alloy::primitives::B256;
use alloy::sol_types::SolInterface;
use pars_crypto::mldsa::MlDsaPublicKey;
use pars_registry::contracts::SessionTrigger::SessionTriggerErrors as TE;
use pars_wire::action::{
    ActionAuthError, ContractAction, ContractReceipt, ReasonCode, ReceiptStatus, ReceiptTx,
    SignerKey,
};
use pars_wire::relay::{ActionKey, ActionRecord, ActionState, SentTx};

use super::chain::{ChainError, Mined, Outcome, RelayChain};
use super::core::{
    Fees, Refusal, Senders, bump_fees, expired, gas_with_margin, is_confirmed, precheck,
};
use super::store::Batch;
use super::{RelayError, Relayer, refused};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// How often the driver removes expired records (10 minutes).
const EXPIRY_EVERY_MS: u64 = 600_000;
/// How often finished actions are checked for a transaction that vanished (30 s).
const REORG_CHECK_EVERY_MS: u64 = 30_000;

/// Maps a revert of the trigger (simulation or estimate) to a refusal.
fn revert_refusal(data: &[u8]) -> Refusal {
    let Ok(err) = TE::abi_decode(data) else {
        return Refusal::new(
            ReasonCode::Rejected,
            format!(
                "the trigger rejected the action (revert data 0x{})",
                hex::encode(data)
            ),
        );
    };
    let code = match &err {
        TE::MalformedAction(_) => ReasonCode::Malformed,
        TE::UnsupportedVersion(_) => ReasonCode::UnsupportedVersion,
        TE::WrongChain(_) => ReasonCode::WrongChain,
        TE::WrongTrigger(_) => ReasonCode::WrongTrigger,
        TE::Expired(_) => ReasonCode::Expired,
        TE::NonceUsed(_) => ReasonCode::NonceUsed,
        TE::KeyMismatch(_) => ReasonCode::KeyMismatch,
        TE::KeyNotRegistered(_) => ReasonCode::KeyNotRegistered,
        TE::InvalidSignature(_) => ReasonCode::BadSignature,
        _ => ReasonCode::Rejected,
    };
    Refusal::new(code, format!("the trigger rejected the action: {err:?}"))
}

impl<C: RelayChain> Relayer<C> {
    /// One pass of the driver at `now_ms`: verifies received actions, follows submitted ones,
    /// submits verified ones. Stops at the first unreachable-chain error (the state is kept).
    pub async fn step(&self, now_ms: u64) -> Result<(), RelayError> {
        let last = self.inner.last_expiry.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= EXPIRY_EVERY_MS || last == 0 {
            self.inner.last_expiry.store(now_ms, Ordering::Relaxed);
            self.expire(now_ms)?;
        }
        let last = self.inner.last_reorg_check.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= REORG_CHECK_EVERY_MS {
            self.inner.last_reorg_check.store(now_ms, Ordering::Relaxed);
            self.recheck_finished(now_ms).await?;
        }
        let mut actions = self.inner.store.actions()?;
        actions.sort_by_key(|(_, a)| a.received_at_ms);
        let mut in_flight = 0usize;
        for (key, rec) in &actions {
            match &rec.state {
                ActionState::Received => self.verify(key, rec, now_ms).await?,
                ActionState::Submitted {
                    gas_limit,
                    account_nonce,
                    txs,
                } => {
                    in_flight += 1;
                    self.follow(key, rec, *gas_limit, *account_nonce, txs, now_ms)
                        .await?;
                }
                _ => {}
            }
        }
        let mut actions = self.inner.store.actions()?;
        actions.sort_by_key(|(_, a)| a.received_at_ms);
        for (key, rec) in &actions {
            if in_flight >= self.inner.config.max_in_flight {
                break;
            }
            if let ActionState::Verified { gas_limit } = rec.state {
                self.submit(key, rec, gas_limit, now_ms).await?;
                in_flight += 1;
            }
        }
        Ok(())
    }

    /// Removes requests and finished actions received more than `keep_records` before
    /// `now_ms` (an action still on its way is kept, and its request with it). Returns how many
    /// requests went.
    pub fn expire(&self, now_ms: u64) -> Result<u64, RelayError> {
        let keep = u64::try_from(self.inner.config.keep_records.as_millis()).unwrap_or(u64::MAX);
        let old = |at: u64| at.saturating_add(keep) < now_ms;
        let _guard = self.lock();
        let store = &self.inner.store;
        let actions: HashMap<ActionKey, ActionRecord> = store.actions()?.into_iter().collect();
        let finished = |k: &ActionKey| {
            actions
                .get(k)
                .is_none_or(|a| matches!(a.state, ActionState::Finished { .. }))
        };
        let mut batch = Batch::default();
        for (k, r) in store.requests()? {
            if old(r.received_at_ms) && r.action.as_ref().is_none_or(finished) {
                batch.drop_requests.push(k);
            }
        }
        for (k, a) in &actions {
            if old(a.received_at_ms) && matches!(a.state, ActionState::Finished { .. }) {
                batch.drop_actions.push(*k);
            }
        }
        let gone = batch.drop_requests.len() as u64;
        if gone > 0 || !batch.drop_actions.is_empty() {
            tracing::info!(
                requests = gone,
                actions = batch.drop_actions.len(),
                "expired old relay records"
            );
            store.write(batch)?;
            let _ =
                self.inner
                    .held_requests
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        Some(n.saturating_sub(gone))
                    });
        }
        Ok(gone)
    }

    /// Checks that the transactions of actions finished within `reorg_watch` are still on
    /// chain; an action whose transaction vanished (a reorganisation deeper than the
    /// confirmations, a chain restored from an older state) goes back to `received` — verified
    /// again, nonce checked on chain, sent again, answered anew — and the account nonce is read
    /// again. Returns how many went back.
    pub async fn recheck_finished(&self, now_ms: u64) -> Result<u64, RelayError> {
        let watch = u64::try_from(self.inner.config.reorg_watch.as_millis()).unwrap_or(u64::MAX);
        let mut reopened = 0;
        for (key, rec) in self.inner.store.actions()? {
            let ActionState::Finished { receipt } = &rec.state else {
                continue;
            };
            let Some(tx) = receipt.tx else { continue };
            if rec.received_at_ms.saturating_add(watch) < now_ms {
                continue;
            }
            if self
                .inner
                .chain
                .mined(B256::from(tx.tx_hash))
                .await?
                .is_some()
            {
                continue;
            }
            tracing::warn!(
                tx = %B256::from(tx.tx_hash),
                "a finished action's transaction is no longer on chain (the chain reorganised or \
                 was rolled back); verifying it again"
            );
            self.set_next_nonce(None);
            let _guard = self.lock();
            let mut batch = Batch::default();
            let mut again = rec.clone();
            again.state = ActionState::Received;
            batch.actions.push((key, again));
            if let Some(mut req) = self.inner.store.request(&rec.request)? {
                req.receipt = None;
                req.answered = false;
                batch.requests.push((rec.request, req));
            }
            self.inner.store.write(batch)?;
            reopened += 1;
        }
        if reopened > 0 {
            self.inner.wake.notify_one();
        }
        Ok(reopened)
    }

    fn decode_action(rec: &ActionRecord) -> Result<ContractAction, RelayError> {
        ContractAction::decode(&rec.content)
            .map_err(|e| RelayError::Storage(format!("a stored action is corrupt: {e}")))
    }

    /// Signs the transaction that executes `ca`: its hash, its raw bytes (to broadcast) and the
    /// record kept of it (stored before it is broadcast, so a restart finds it).
    async fn sign_tx(
        &self,
        ca: &ContractAction,
        account_nonce: u64,
        gas_limit: u64,
        fees: Fees,
        now_ms: u64,
    ) -> Result<(B256, Vec<u8>, SentTx), RelayError> {
        let (hash, raw) = self
            .inner
            .chain
            .sign(ca, account_nonce, gas_limit, fees)
            .await?;
        let sent = SentTx {
            hash: hash.0,
            fees,
            raw: raw.clone(),
            sent_at_ms: now_ms,
        };
        Ok((hash, raw, sent))
    }

    /// Finishes `key` with `receipt` (its request ID is set from the request) in one write.
    fn finish(
        &self,
        key: &ActionKey,
        rec: &ActionRecord,
        mut receipt: ContractReceipt,
    ) -> Result<(), RelayError> {
        let rkey = rec.request;
        receipt.request_id = rkey.request_id();
        let _guard = self.lock();
        let mut batch = Batch::default();
        let mut rec = rec.clone();
        rec.state = ActionState::Finished {
            receipt: receipt.clone(),
        };
        batch.actions.push((*key, rec));
        if let Some(mut req) = self.inner.store.request(&rkey)? {
            req.receipt = Some(receipt.clone());
            req.answered = false;
            batch.requests.push((rkey, req));
        }
        self.inner.store.write(batch)?;
        tracing::info!(
            status = ?receipt.status,
            reason = ?receipt.reason,
            "action finished"
        );
        self.inner.answers.notify_one();
        Ok(())
    }

    fn refuse(&self, key: &ActionKey, rec: &ActionRecord, r: Refusal) -> Result<(), RelayError> {
        self.finish(key, rec, refused([0; 16], &r))
    }

    fn set_state(
        &self,
        key: &ActionKey,
        rec: &ActionRecord,
        state: ActionState,
    ) -> Result<(), RelayError> {
        let mut rec = rec.clone();
        rec.state = state;
        let _guard = self.lock();
        self.inner.store.write(Batch {
            actions: vec![(*key, rec)],
            ..Batch::default()
        })
    }

    async fn verify(
        &self,
        key: &ActionKey,
        rec: &ActionRecord,
        now_ms: u64,
    ) -> Result<(), RelayError> {
        let cfg = &self.inner.config;
        let chain = &self.inner.chain;
        let ca = Self::decode_action(rec)?;
        if let Err(r) = precheck(
            &ca.action,
            cfg.chain_id,
            cfg.trigger.into_array(),
            now_ms / 1000,
            &cfg.policy,
        ) {
            return self.refuse(key, rec, r);
        }
        if cfg.policy.senders == Senders::Registered {
            let registered = chain.registered_key(ca.action.session_id).await?;
            if MlDsaPublicKey::from_bytes(&registered).is_err() {
                return self.refuse(
                    key,
                    rec,
                    Refusal::new(
                        ReasonCode::SenderNotAllowed,
                        "this bridge relays only for session IDs whose key is registered in the SessionTrigger (registerKey): registering costs the sender a transaction, which is what keeps throwaway senders out",
                    ),
                );
            }
        }
        let pk = match &ca.key {
            SignerKey::Inline(pk) => pk.clone(),
            SignerKey::Registered => {
                let bytes = chain.registered_key(ca.action.session_id).await?;
                match MlDsaPublicKey::from_bytes(&bytes) {
                    Ok(pk) => pk,
                    Err(_) => {
                        return self.refuse(
                            key,
                            rec,
                            Refusal::new(
                                ReasonCode::KeyNotRegistered,
                                "no key is registered for this session ID; register it with SessionTrigger.registerKey or send the key with the action",
                            ),
                        );
                    }
                }
            }
        };
        match ca.verify(Some(&pk)) {
            Ok(()) => {}
            Err(ActionAuthError::KeyMismatch) => {
                return self.refuse(
                    key,
                    rec,
                    Refusal::new(
                        ReasonCode::KeyMismatch,
                        "the public key does not hash to the action's session ID",
                    ),
                );
            }
            Err(_) => {
                return self.refuse(
                    key,
                    rec,
                    Refusal::new(
                        ReasonCode::BadSignature,
                        "the ML-DSA-87 signature does not verify for this action and key (context lux-evm-precompile-mldsa-v1)",
                    ),
                );
            }
        }
        if chain
            .nonce_used(ca.action.session_id, ca.action.nonce)
            .await?
        {
            return self.refuse(key, rec, nonce_used(ca.action.nonce));
        }
        match chain.simulate(&ca).await {
            Ok(None) => {}
            Ok(Some(reason)) => {
                return self.refuse(
                    key,
                    rec,
                    Refusal::new(
                        ReasonCode::TargetWouldRevert,
                        format!(
                            "the target call would revert (0x{}); nothing was sent",
                            hex::encode(reason)
                        ),
                    ),
                );
            }
            Err(ChainError::Reverted { data, .. }) => {
                return self.refuse(key, rec, revert_refusal(&data));
            }
            Err(e) => return Err(e.into()),
        }
        let estimate = match chain.estimate_gas(&ca).await {
            Ok(g) => g,
            Err(ChainError::Reverted { data, .. }) => {
                return self.refuse(key, rec, revert_refusal(&data));
            }
            Err(e) => return Err(e.into()),
        };
        let gas_limit = gas_with_margin(estimate, cfg.gas_margin_percent);
        if gas_limit > cfg.policy.max_gas {
            return self.refuse(
                key,
                rec,
                Refusal::new(
                    ReasonCode::GasLimitExceeded,
                    format!(
                        "the action needs {gas_limit} gas; this bridge pays for at most {}",
                        cfg.policy.max_gas
                    ),
                ),
            );
        }
        // The gas limit counts against the sender's and the bridge's budgets now, before it is
        // sent: what the bridge may pay.
        {
            let now_s = now_ms / 1000;
            let mut budgets = self.inner.budgets.lock().unwrap_or_else(|e| e.into_inner());
            let who = ca.action.session_id;
            if let Err(r) = budgets.check(who, gas_limit, now_s, &cfg.policy.budget) {
                drop(budgets);
                return self.refuse(key, rec, r);
            }
            budgets.spend(who, gas_limit, now_s);
        }
        self.set_state(key, rec, ActionState::Verified { gas_limit })
    }

    /// The next account nonce: the node's pending count (or the chain's latest, when the pool
    /// holds transactions past a gap none of ours fills), but never below what our own stored
    /// transactions already use.
    async fn take_nonce(&self) -> Result<u64, RelayError> {
        let cached = *self
            .inner
            .next_nonce
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let nonce = match cached {
            Some(n) => n,
            None => {
                let pending = self.inner.chain.account_nonce(true).await?;
                let latest = self.inner.chain.account_nonce(false).await?;
                let ours = self.nonces_in_flight()?;
                let after_ours = ours.iter().max().map_or(0, |n| n + 1);
                // Pool transactions past a gap none of ours fills are what is left of a chain
                // that went back: they will never be mined, so start at the chain's nonce.
                let base = if (latest..pending).all(|n| ours.contains(&n)) {
                    pending
                } else {
                    latest
                };
                base.max(after_ours)
            }
        };
        Ok(nonce)
    }

    /// The account nonces of our transactions in flight.
    fn nonces_in_flight(&self) -> Result<Vec<u64>, RelayError> {
        Ok(self
            .inner
            .store
            .actions()?
            .into_iter()
            .filter_map(|(_, a)| match a.state {
                ActionState::Submitted { account_nonce, .. } => Some(account_nonce),
                _ => None,
            })
            .collect())
    }

    fn set_next_nonce(&self, n: Option<u64>) {
        *self
            .inner
            .next_nonce
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = n;
    }

    async fn submit(
        &self,
        key: &ActionKey,
        rec: &ActionRecord,
        gas_limit: u64,
        now_ms: u64,
    ) -> Result<(), RelayError> {
        let ca = Self::decode_action(rec)?;
        if now_ms / 1000 > ca.action.deadline {
            return self.refuse(key, rec, expired(ca.action.deadline, now_ms / 1000));
        }
        let chain = &self.inner.chain;
        let account_nonce = self.take_nonce().await?;
        let fees = chain.fees().await?;
        let (hash, raw, sent) = self
            .sign_tx(&ca, account_nonce, gas_limit, fees, now_ms)
            .await?;
        // Stored before it is broadcast: after a crash here, the restart finds the hash.
        self.set_state(
            key,
            rec,
            ActionState::Submitted {
                gas_limit,
                account_nonce,
                txs: vec![sent],
            },
        )?;
        self.set_next_nonce(Some(account_nonce + 1));
        tracing::info!(tx = %hash, account_nonce, "action submitted");
        chain.broadcast(&raw).await?;
        Ok(())
    }

    async fn follow(
        &self,
        key: &ActionKey,
        rec: &ActionRecord,
        gas_limit: u64,
        account_nonce: u64,
        txs: &[SentTx],
        now_ms: u64,
    ) -> Result<(), RelayError> {
        let chain = &self.inner.chain;
        let hashes: Vec<B256> = txs.iter().map(|t| B256::from(t.hash)).collect();
        if self.check_mined(key, rec, &hashes).await? {
            return Ok(());
        }
        let latest = chain.account_nonce(false).await?;
        if latest > account_nonce {
            // The account nonce is spent. Mined between the two reads?
            if self.check_mined(key, rec, &hashes).await? {
                return Ok(());
            }
            // A node may report the new account nonce a moment before the receipt: conclude
            // that the nonce went to someone else only once that has lasted a while.
            let last_sent = txs.iter().map(|t| t.sent_at_ms).max().unwrap_or(0);
            if now_ms.saturating_sub(last_sent) < NONCE_GAP_GRACE_MS {
                return Ok(());
            }
            let ca = Self::decode_action(rec)?;
            self.set_next_nonce(None);
            if chain
                .nonce_used(ca.action.session_id, ca.action.nonce)
                .await?
            {
                return self.refuse(key, rec, nonce_used(ca.action.nonce));
            }
            tracing::warn!(
                account_nonce,
                "account nonce used by another transaction; resubmitting"
            );
            return self.set_state(key, rec, ActionState::Verified { gas_limit });
        }
        let Some(last) = txs.last() else {
            return self.set_state(key, rec, ActionState::Verified { gas_limit });
        };
        let stuck_ms = u64::try_from(self.inner.config.stuck_after.as_millis()).unwrap_or(u64::MAX);
        if latest < account_nonce && now_ms.saturating_sub(last.sent_at_ms) >= stuck_ms {
            // The chain waits for an account nonce below ours. If none of our transactions in
            // flight holds it, the transactions that did vanished (a rolled-back chain): the gap
            // will never fill, so this action is signed again at a fresh nonce.
            let held = self.nonces_in_flight()?;
            if !(latest..account_nonce).all(|n| held.contains(&n)) {
                tracing::warn!(
                    account_nonce,
                    chain_nonce = latest,
                    "the chain's account nonce is below this transaction's and nothing of ours \
                     fills the gap (the chain went back); signing the action again"
                );
                self.set_next_nonce(None);
                return self.set_state(key, rec, ActionState::Verified { gas_limit });
            }
        }
        let last_hash = hashes.last().copied().unwrap_or_default();
        if !chain.knows(last_hash).await? {
            tracing::info!(tx = %last_hash, "transaction unknown to the node; broadcasting again");
            chain.broadcast(&last.raw).await?;
            return Ok(());
        }
        if now_ms.saturating_sub(last.sent_at_ms) >= stuck_ms {
            let bumps = txs.len().saturating_sub(1);
            if bumps >= self.inner.config.max_fee_bumps as usize {
                // Reported as stuck (status) rather than paying ever more.
                return Ok(());
            }
            let ca = Self::decode_action(rec)?;
            let current = chain.fees().await?;
            let fees = bump_fees(last.fees, current, self.inner.config.fee_bump_percent);
            let (hash, raw, sent) = self
                .sign_tx(&ca, account_nonce, gas_limit, fees, now_ms)
                .await?;
            let mut txs = txs.to_vec();
            txs.push(sent);
            self.set_state(
                key,
                rec,
                ActionState::Submitted {
                    gas_limit,
                    account_nonce,
                    txs,
                },
            )?;
            tracing::info!(tx = %hash, account_nonce, max_fee = fees.max_fee, "stuck transaction replaced with higher fees");
            chain.broadcast(&raw).await?;
        }
        Ok(())
    }

    /// Looks for a mined transaction among `hashes`; finishes the action once it is confirmed.
    /// `true` if one was mined (confirmed or not yet).
    async fn check_mined(
        &self,
        key: &ActionKey,
        rec: &ActionRecord,
        hashes: &[B256],
    ) -> Result<bool, RelayError> {
        let chain = &self.inner.chain;
        for hash in hashes.iter().rev() {
            let Some(mined) = chain.mined(*hash).await? else {
                continue;
            };
            let head = chain.head().await?;
            if is_confirmed(head, mined.block, self.inner.config.confirmations) {
                let receipt = self.mined_receipt(rec, &mined).await?;
                self.finish(key, rec, receipt)?;
            }
            return Ok(true);
        }
        Ok(false)
    }

    async fn mined_receipt(
        &self,
        rec: &ActionRecord,
        m: &Mined,
    ) -> Result<ContractReceipt, RelayError> {
        let tx = Some(ReceiptTx {
            tx_hash: m.hash.0,
            block: m.block,
            gas_used: m.gas_used,
        });
        let (status, reason, text) = match &m.outcome {
            Outcome::Executed => (ReceiptStatus::Confirmed, ReasonCode::None, String::new()),
            Outcome::TargetFailed(data) => (
                ReceiptStatus::Reverted,
                ReasonCode::TargetReverted,
                format!(
                    "executed, but the target call reverted (0x{}); the nonce is spent",
                    hex::encode(data)
                ),
            ),
            Outcome::TxReverted | Outcome::NoEvent => {
                let ca = Self::decode_action(rec)?;
                let used = self
                    .inner
                    .chain
                    .nonce_used(ca.action.session_id, ca.action.nonce)
                    .await?;
                if used {
                    (
                        ReceiptStatus::Reverted,
                        ReasonCode::NonceUsed,
                        "another transaction used this action's nonce first".into(),
                    )
                } else {
                    (
                        ReceiptStatus::Reverted,
                        ReasonCode::TransactionReverted,
                        "the transaction reverted on chain (the deadline may have passed); the nonce is unused, sign and send the action again".into(),
                    )
                }
            }
        };
        Ok(ContractReceipt {
            request_id: [0; 16],
            status,
            reason,
            reason_text: text,
            tx,
        })
    }
}

/// How long an account nonce may look spent without a receipt of ours before the relayer
/// concludes that another transaction took it.
const NONCE_GAP_GRACE_MS: u64 = 15_000;

fn nonce_used(nonce: u64) -> Refusal {
    Refusal::new(
        ReasonCode::NonceUsed,
        format!(
            "nonce {nonce} of this session was already used on chain; sign the action again with a fresh nonce"
        ),
    )
}
