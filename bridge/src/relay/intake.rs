//! Intake and answers: [`Relayer::receive`] stores a received ContractAction message (or refuses
//! it at once), [`Relayer::pending_answers`] and [`Relayer::mark_answered`] hand receipts to the
//! session layer, [`Relayer::status`] counts actions by state.

use pars_crypto::SessionId;
use pars_wire::action::{ContractAction, ReasonCode, ReceiptStatus};
use pars_wire::relay::{ActionKey, ActionRecord, ActionState, RequestKey, RequestRecord};

use super::chain::RelayChain;
use super::config::{Answer, Intake, RelayStatus};
use super::core::Refusal;
use super::store::Batch;
use super::{RelayError, Relayer, UNSTORED_ANSWERS, refused};
use std::sync::atomic::Ordering;

/// The least gas any action needs (a transaction's base cost): a budget with less left is spent.
const MIN_ACTION_GAS: u64 = 21_000;

impl<C: RelayChain> Relayer<C> {
    /// Takes a ContractAction message `content` from `sender`, at `now_ms` (Unix ms).
    pub fn receive(
        &self,
        sender: &SessionId,
        content: &[u8],
        now_ms: u64,
    ) -> Result<Intake, RelayError> {
        let request_id: [u8; 16] = content
            .get(1..17)
            .and_then(|s| s.try_into().ok())
            .unwrap_or([0; 16]);
        let rkey = RequestKey::new(&sender.digest(), &request_id);
        let _guard = self.lock();
        let store = &self.inner.store;
        if let Some(mut req) = store.request(&rkey)? {
            if req.answered && req.receipt.is_some() {
                req.answered = false;
                store.write(Batch {
                    requests: vec![(rkey, req)],
                    ..Batch::default()
                })?;
                self.inner.answers.notify_one();
            }
            return Ok(Intake::Repeated);
        }
        let mut request = RequestRecord {
            sender: *sender,
            action: None,
            receipt: None,
            answered: false,
            received_at_ms: now_ms,
        };
        // What the policy refuses before anything is stored: a flood of them costs the bridge
        // no disk (the answers wait in a bounded queue in memory).
        let ca = match ContractAction::decode(content) {
            Err(e) => {
                let r = Refusal::new(
                    ReasonCode::Malformed,
                    format!("the message is not a valid contract action: {e}"),
                );
                return Ok(self.refuse_unstored(sender, request_id, &r));
            }
            Ok(ca) => ca,
        };
        if let Some(r) = self.gate(sender, &ca, now_ms) {
            return Ok(self.refuse_unstored(sender, request_id, &r));
        }
        let akey = ActionKey::new(&ca.action.session_id, ca.action.nonce);
        let retry_allowed = match store.action(&akey)?.as_ref().map(|a| &a.state) {
            None => true,
            // A refused action never reached the chain: it may be tried again.
            Some(ActionState::Finished { receipt: r }) => {
                r.status == ReceiptStatus::Refused
                    && !matches!(r.reason, ReasonCode::NonceUsed | ReasonCode::Duplicate)
            }
            Some(_) => false,
        };
        if retry_allowed {
            request.action = Some(akey);
            let action = ActionRecord {
                request: rkey,
                content: content.to_vec(),
                received_at_ms: now_ms,
                state: ActionState::Received,
            };
            store.write(Batch {
                actions: vec![(akey, action)],
                requests: vec![(rkey, request)],
                ..Batch::default()
            })?;
            self.inner.held_requests.fetch_add(1, Ordering::Relaxed);
            self.inner.wake.notify_one();
            return Ok(Intake::Accepted);
        }
        // The same signed action in another request: refused, and the request kept so that it is
        // answered the same way if it comes again.
        let receipt = refused(
            request_id,
            &Refusal::new(
                ReasonCode::Duplicate,
                format!(
                    "this signed action (nonce {}) was already received in another request; its answer goes to that request",
                    ca.action.nonce
                ),
            ),
        );
        request.receipt = Some(receipt.clone());
        store.write(Batch {
            requests: vec![(rkey, request)],
            ..Batch::default()
        })?;
        self.inner.held_requests.fetch_add(1, Ordering::Relaxed);
        self.inner.answers.notify_one();
        Ok(Intake::Refused(receipt))
    }

    /// The policy's checks that need neither the chain nor the store: the sender list, the
    /// per-sender rate limit, the gas budgets (anything left at all), and the cap on stored
    /// requests. The refusal, if any.
    fn gate(&self, sender: &SessionId, ca: &ContractAction, now_ms: u64) -> Option<Refusal> {
        let cfg = &self.inner.config;
        let policy = &cfg.policy;
        if !policy.sender_listed(&ca.action.session_id) {
            return Some(Refusal::new(
                ReasonCode::SenderNotAllowed,
                "this bridge relays only for the session IDs its operator listed",
            ));
        }
        let allowed = self
            .inner
            .rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allow(sender.digest(), now_ms, policy);
        if !allowed {
            return Some(Refusal::new(
                ReasonCode::RateLimited,
                format!(
                    "more than {} actions in a burst or {} per minute from this session; wait and send again",
                    policy.rate_burst, policy.rate_per_minute
                ),
            ));
        }
        let budget = self
            .inner
            .budgets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(
                ca.action.session_id,
                MIN_ACTION_GAS,
                now_ms / 1000,
                &policy.budget,
            );
        if let Err(r) = budget {
            return Some(r);
        }
        let held = self.inner.held_requests.load(Ordering::Relaxed);
        if held >= cfg.max_requests {
            return Some(Refusal::new(
                ReasonCode::RateLimited,
                format!(
                    "the bridge holds the most requests it keeps ({held}); they expire after \
                     {} hours — send again later",
                    cfg.keep_records.as_secs() / 3600
                ),
            ));
        }
        None
    }

    /// Refuses request `request_id` of `sender` without storing anything: the answer waits in
    /// memory (at most [`UNSTORED_ANSWERS`]; beyond, the oldest is dropped unanswered).
    fn refuse_unstored(&self, sender: &SessionId, request_id: [u8; 16], r: &Refusal) -> Intake {
        let receipt = refused(request_id, r);
        let answer = Answer {
            sender: *sender,
            content: receipt.encode(),
            receipt: receipt.clone(),
        };
        let mut q = self
            .inner
            .unstored
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if q.len() >= UNSTORED_ANSWERS {
            q.pop_front();
        }
        q.push_back(answer);
        drop(q);
        self.inner.refused_unstored.fetch_add(1, Ordering::Relaxed);
        self.inner.answers.notify_one();
        Intake::Refused(receipt)
    }

    /// Receipts not yet handed to the session layer, oldest first (the refusals kept in memory
    /// last).
    pub fn pending_answers(&self) -> Result<Vec<Answer>, RelayError> {
        let mut out = Vec::new();
        let mut reqs = self.inner.store.requests()?;
        reqs.sort_by_key(|(_, r)| r.received_at_ms);
        for (_, req) in reqs {
            if req.answered {
                continue;
            }
            let Some(receipt) = req.receipt else {
                continue;
            };
            out.push(Answer {
                sender: req.sender,
                content: receipt.encode(),
                receipt,
            });
        }
        let q = self
            .inner
            .unstored
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        out.extend(q.iter().cloned());
        Ok(out)
    }

    /// Records that `answer` was handed to the session layer.
    pub fn mark_answered(&self, answer: &Answer) -> Result<(), RelayError> {
        let rkey = RequestKey::new(&answer.sender.digest(), &answer.receipt.request_id);
        {
            let mut q = self
                .inner
                .unstored
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(i) = q.iter().position(|a| a == answer) {
                q.remove(i);
                return Ok(());
            }
        }
        let _guard = self.lock();
        if let Some(mut req) = self.inner.store.request(&rkey)? {
            req.answered = true;
            self.inner.store.write(Batch {
                requests: vec![(rkey, req)],
                ..Batch::default()
            })?;
        }
        Ok(())
    }

    /// Resolves when a new answer may be pending.
    pub async fn answers_changed(&self) {
        self.inner.answers.notified().await;
    }

    /// Counts of actions by state.
    pub fn status(&self) -> Result<RelayStatus, RelayError> {
        let mut s = RelayStatus::default();
        for (_, a) in self.inner.store.actions()? {
            match &a.state {
                ActionState::Received | ActionState::Verified { .. } => s.queued += 1,
                ActionState::Submitted { txs, .. } => {
                    s.in_flight += 1;
                    if txs.len() > self.inner.config.max_fee_bumps as usize {
                        s.stuck += 1;
                    }
                }
                ActionState::Finished { receipt } => {
                    if receipt.status == ReceiptStatus::Confirmed {
                        s.confirmed += 1;
                    } else {
                        s.failed += 1;
                    }
                }
            }
        }
        s.failed += self.inner.refused_unstored.load(Ordering::Relaxed);
        for (_, r) in self.inner.store.requests()? {
            if r.action.is_none() {
                s.failed += 1;
            }
            if r.receipt.is_some() && !r.answered {
                s.unanswered += 1;
            }
        }
        Ok(s)
    }
}
