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
use super::{RelayError, Relayer, refused};

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
        let refusal = match ContractAction::decode(content) {
            Err(e) => Some(Refusal::new(
                ReasonCode::Malformed,
                format!("the message is not a valid contract action: {e}"),
            )),
            Ok(ca) => {
                let policy = &self.inner.config.policy;
                let allowed = self
                    .inner
                    .rate
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .allow(sender.digest(), now_ms, policy);
                let akey = ActionKey::new(&ca.action.session_id, ca.action.nonce);
                let existing = store.action(&akey)?;
                let retry_allowed = match existing.as_ref().map(|a| &a.state) {
                    None => true,
                    // A refused action never reached the chain: it may be tried again.
                    Some(ActionState::Finished { receipt: r }) => {
                        r.status == ReceiptStatus::Refused
                            && !matches!(r.reason, ReasonCode::NonceUsed | ReasonCode::Duplicate)
                    }
                    Some(_) => false,
                };
                if !allowed {
                    Some(Refusal::new(
                        ReasonCode::RateLimited,
                        format!(
                            "more than {} actions in a burst or {} per minute from this session; wait and send again",
                            policy.rate_burst, policy.rate_per_minute
                        ),
                    ))
                } else if !retry_allowed {
                    Some(Refusal::new(
                        ReasonCode::Duplicate,
                        format!(
                            "this signed action (nonce {}) was already received in another request; its answer goes to that request",
                            ca.action.nonce
                        ),
                    ))
                } else {
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
                    })?;
                    self.inner.wake.notify_one();
                    return Ok(Intake::Accepted);
                }
            }
        };
        let receipt = refusal.map(|r| refused(request_id, &r));
        if let Some(r) = &receipt {
            request.receipt = Some(r.clone());
        }
        store.write(Batch {
            requests: vec![(rkey, request)],
            ..Batch::default()
        })?;
        self.inner.answers.notify_one();
        match receipt {
            Some(r) => Ok(Intake::Refused(r)),
            None => Err(RelayError::Storage("unreachable intake state".into())),
        }
    }

    /// Receipts not yet handed to the session layer, oldest first.
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
        Ok(out)
    }

    /// Records that `answer` was handed to the session layer.
    pub fn mark_answered(&self, answer: &Answer) -> Result<(), RelayError> {
        let rkey = RequestKey::new(&answer.sender.digest(), &answer.receipt.request_id);
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
                ActionState::Submitted { .. } => s.in_flight += 1,
                ActionState::Finished { receipt } => {
                    if receipt.status == ReceiptStatus::Confirmed {
                        s.confirmed += 1;
                    } else {
                        s.failed += 1;
                    }
                }
            }
        }
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
