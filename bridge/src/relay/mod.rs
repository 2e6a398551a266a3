//! The relayer: ML-DSA-signed contract actions received over sessions, executed through
//! `SessionTrigger` exactly once, answered with a receipt.
//!
//! For each action ([`pars_wire::action::ContractAction`]):
//! 1. **intake** ([`Relayer::receive`]): decode, per-sender rate limit, refuse a signed action
//!    that is already queued for another request; store the action (`received`) and the request
//!    durably;
//! 2. **verify** (driver): chain, trigger, deadline, version, policy (allowed targets, value);
//!    the signer's key (inline, or `publicKeyOf` for a registered one); the ML-DSA-87 signature
//!    off-chain with pars-crypto (so a bad signature never costs gas); the nonce unused on chain;
//!    simulation with `eth_call`; gas estimate plus margin against the policy's cap → `verified`;
//! 3. **submit**: one signer (this relayer's key) assigns account nonces in order, signs, stores
//!    the signed transaction (`submitted`: hash, account nonce, fees, raw bytes) and only then
//!    broadcasts it;
//! 4. **follow**: receipts of every transaction sent for the action (original and fee-bumped
//!    replacements, which reuse the account nonce, so at most one can be mined); a transaction
//!    the node forgot is rebroadcast; one pending longer than `stuck_after` is replaced with fees
//!    raised by `fee_bump_percent`; once mined and buried under the configured confirmations →
//!    `finished` with a receipt (confirmed / reverted), which is copied to the request;
//! 5. **answer**: [`Relayer::pending_answers`] lists receipts not yet handed to the session layer;
//!    [`Relayer::mark_answered`] records that one was. A request received again is answered
//!    again with the same receipt.
//!
//! A restart resumes from the store: `submitted` actions are looked up by their transaction
//! hashes (and the account nonce), never signed anew unless their account nonce was consumed by
//! something else while the trigger nonce is still unused. While the chain is unreachable actions
//! wait in their state and the driver retries with capped exponential backoff.

mod chain;
pub mod core;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, Bytes, U256};
use pars_crypto::SessionId;
use pars_crypto::mldsa::MlDsaPublicKey;
use pars_wire::action::{
    ActionAuthError, ContractAction, ContractReceipt, ReasonCode, ReceiptStatus, ReceiptTx,
    SignerKey,
};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use self::chain::{Chain, ChainError, Execute, Mined, Outcome, decode_trigger_revert};
use self::core::{
    Policy, RateLimiter, Refusal, bump_fees, expired, gas_with_margin, is_confirmed, precheck,
};
use self::store::{
    ActionKey, ActionRecord, ActionState, Batch, RelayStore, RequestKey, RequestRecord, SentTx,
    action_key, request_key,
};
use crate::contracts::SessionTrigger::SessionTriggerErrors as TE;
use crate::events::Backoff;
use crate::operator::EvmSigner;

/// Errors of the relayer.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// A configuration value is unusable.
    #[error("invalid relayer configuration: {0}")]
    Config(String),
    /// The state database failed.
    #[error("relayer state: {0}")]
    Storage(String),
    /// The chain is unreachable (the driver retries).
    #[error("{0} (retrying with backoff)")]
    Unavailable(String),
    /// The chain returned something the relayer cannot interpret.
    #[error("unexpected chain data: {0}")]
    Protocol(String),
}

impl From<ChainError> for RelayError {
    fn from(e: ChainError) -> Self {
        match e {
            ChainError::Unavailable { .. } => Self::Unavailable(e.to_string()),
            ChainError::Reverted { what, data } => Self::Protocol(format!(
                "{what} reverted unexpectedly (0x{})",
                hex::encode(data)
            )),
            ChainError::Protocol { .. } => Self::Protocol(e.to_string()),
        }
    }
}

/// Settings of a [`Relayer`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RelayConfig {
    /// EVM JSON-RPC endpoint (http or https).
    pub rpc_url: String,
    /// The chain actions must be for.
    pub chain_id: u64,
    /// The `SessionTrigger`.
    pub trigger: Address,
    /// Blocks a transaction must be buried under (its own block counts as one).
    pub confirmations: u64,
    /// Pause between driver passes when idle.
    pub poll_interval: Duration,
    /// A transaction pending this long is replaced with higher fees.
    pub stuck_after: Duration,
    /// Fee increase of a replacement, in percent (nodes require at least 10).
    pub fee_bump_percent: u32,
    /// Gas limit = estimate + this many percent.
    pub gas_margin_percent: u32,
    /// Transactions in flight at once.
    pub max_in_flight: usize,
    /// Timeout of each RPC request.
    pub rpc_timeout: Duration,
    /// Backoff while the chain is unreachable: first pause and cap.
    pub backoff: (Duration, Duration),
    /// What is relayed.
    pub policy: Policy,
}

impl RelayConfig {
    /// Defaults: confirmations per [`crate::default_confirmations`], polls every 500 ms, replaces
    /// after 60 s with +25 % fees, 20 % gas margin, 16 in flight, 10 s per RPC request, backoff
    /// 250 ms doubling to 30 s, [`Policy::default`].
    pub fn new(rpc_url: impl Into<String>, chain_id: u64, trigger: Address) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            chain_id,
            trigger,
            confirmations: crate::default_confirmations(chain_id),
            poll_interval: Duration::from_millis(500),
            stuck_after: Duration::from_secs(60),
            fee_bump_percent: 25,
            gas_margin_percent: 20,
            max_in_flight: 16,
            rpc_timeout: Duration::from_secs(10),
            backoff: (Duration::from_millis(250), Duration::from_secs(30)),
            policy: Policy::default(),
        }
    }

    /// Sets the confirmations (at least 1).
    pub fn with_confirmations(mut self, n: u64) -> Self {
        self.confirmations = n.max(1);
        self
    }

    /// Sets the idle poll interval.
    pub fn with_poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d;
        self
    }

    /// Sets when a pending transaction counts as stuck.
    pub fn with_stuck_after(mut self, d: Duration) -> Self {
        self.stuck_after = d;
        self
    }

    /// Sets the backoff while the chain is down.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = (initial, max);
        self
    }

    /// Sets the policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the maximum number of transactions in flight.
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }
}

/// What [`Relayer::receive`] did with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intake {
    /// Stored; the receipt comes later.
    Accepted,
    /// This request was received before; its receipt (if there is one yet) will be sent again.
    Repeated,
    /// Refused at once; the receipt is queued as an answer.
    Refused(ContractReceipt),
}

/// A receipt to send back over the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Who sent the action.
    pub sender: SessionId,
    /// The receipt.
    pub receipt: ContractReceipt,
    /// Its encoding (the content of a ContractReceipt message).
    pub content: Vec<u8>,
}

/// Counts for `pars-bridge status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayStatus {
    /// Actions received or verified, not yet sent.
    pub queued: u64,
    /// Actions whose transaction is sent and not yet confirmed.
    pub in_flight: u64,
    /// Actions executed with success.
    pub confirmed: u64,
    /// Actions refused or reverted, and requests refused at intake.
    pub failed: u64,
    /// Receipts not yet handed to the session layer.
    pub unanswered: u64,
}

/// Unix milliseconds now.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

struct Inner {
    store: RelayStore,
    chain: Chain,
    config: RelayConfig,
    data_dir: PathBuf,
    /// Serialises read-modify-write of records between intake, answers and the driver.
    write: Mutex<()>,
    rate: Mutex<RateLimiter>,
    next_nonce: Mutex<Option<u64>>,
    wake: Notify,
    answers: Notify,
}

/// The relayer (cheap to clone; one driver per data directory).
#[derive(Clone)]
pub struct Relayer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Relayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relayer")
            .field("chain", &self.inner.chain)
            .finish_non_exhaustive()
    }
}

fn unhex(s: &str) -> Result<Vec<u8>, RelayError> {
    hex::decode(s).map_err(|_| RelayError::Storage("a stored hex field is corrupt".into()))
}

fn refused(request_id: [u8; 16], r: &Refusal) -> ContractReceipt {
    ContractReceipt {
        request_id,
        status: ReceiptStatus::Refused,
        reason: r.code,
        reason_text: r.text.clone(),
        tx: None,
    }
}

fn request_id_of(key: &RequestKey) -> [u8; 16] {
    let mut id = [0u8; 16];
    id.copy_from_slice(&key[32..]);
    id
}

/// Maps a revert of the trigger (simulation or estimate) to a refusal.
fn revert_refusal(data: &[u8]) -> Refusal {
    let Some(err) = decode_trigger_revert(data) else {
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

impl Relayer {
    /// Opens the state in `data_dir` (created if missing; `relay.redb`) and connects to the chain.
    /// An unreachable chain is not an error here (actions queue until it answers); a chain that
    /// answers with another chain ID, or has no code at the trigger address, is.
    pub async fn open(
        config: RelayConfig,
        signer: &EvmSigner,
        data_dir: &Path,
    ) -> Result<Self, RelayError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            RelayError::Config(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let chain = Chain::new(
            &config.rpc_url,
            signer.wallet(),
            signer.address(),
            config.trigger,
            config.chain_id,
            config.rpc_timeout,
        )
        .map_err(|e| RelayError::Config(e.to_string()))?;
        match chain.chain_id().await {
            Ok(id) if id != config.chain_id => {
                return Err(RelayError::Config(format!(
                    "the EVM RPC serves chain {id}, but chain {} is configured",
                    config.chain_id
                )));
            }
            Ok(_) => {
                if !chain.has_code(config.trigger).await.unwrap_or(true) {
                    return Err(RelayError::Config(format!(
                        "no contract at the trigger address {} on chain {}",
                        config.trigger, config.chain_id
                    )));
                }
            }
            Err(e) => tracing::warn!("EVM RPC not reachable at startup, actions will queue: {e}"),
        }
        let store = RelayStore::open(&data_dir.join("relay.redb"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                chain,
                config,
                data_dir: data_dir.to_path_buf(),
                write: Mutex::new(()),
                rate: Mutex::new(RateLimiter::default()),
                next_nonce: Mutex::new(None),
                wake: Notify::new(),
                answers: Notify::new(),
            }),
        })
    }

    /// The relayer's EVM account.
    pub fn signer(&self) -> Address {
        self.inner.chain.signer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner.write.lock().unwrap_or_else(|e| e.into_inner())
    }

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
        let rkey = request_key(&sender.digest(), &request_id);
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
            sender: sender.to_string(),
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
                let akey = action_key(&ca.action.session_id, ca.action.nonce);
                let existing = store.action(&akey)?;
                let retry_allowed = match existing.as_ref().map(|a| &a.state) {
                    None => true,
                    // A refused action never reached the chain: it may be tried again.
                    Some(ActionState::Finished { receipt }) => {
                        ContractReceipt::decode(&unhex(receipt)?)
                            .map(|r| {
                                r.status == ReceiptStatus::Refused
                                    && !matches!(
                                        r.reason,
                                        ReasonCode::NonceUsed | ReasonCode::Duplicate
                                    )
                            })
                            .unwrap_or(false)
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
                    request.action = Some(hex::encode(akey));
                    let action = ActionRecord {
                        request: hex::encode(rkey),
                        content: hex::encode(content),
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
            request.receipt = Some(hex::encode(r.encode()));
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
            let Some(receipt) = &req.receipt else {
                continue;
            };
            let content = unhex(receipt)?;
            let receipt = ContractReceipt::decode(&content)
                .map_err(|e| RelayError::Storage(format!("a stored receipt is corrupt: {e}")))?;
            let sender = req
                .sender
                .parse::<SessionId>()
                .map_err(|e| RelayError::Storage(format!("a stored sender is corrupt: {e}")))?;
            out.push(Answer {
                sender,
                receipt,
                content,
            });
        }
        Ok(out)
    }

    /// Records that `answer` was handed to the session layer.
    pub fn mark_answered(&self, answer: &Answer) -> Result<(), RelayError> {
        let rkey = request_key(&answer.sender.digest(), &answer.receipt.request_id);
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
                    let ok = ContractReceipt::decode(&unhex(receipt)?)
                        .map(|r| r.status == ReceiptStatus::Confirmed)
                        .unwrap_or(false);
                    if ok {
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

    /// The signer's balance.
    pub async fn balance(&self) -> Result<U256, RelayError> {
        Ok(self.inner.chain.balance().await?)
    }

    /// One pass of the driver at `now_ms`: verifies received actions, follows submitted ones,
    /// submits verified ones. Stops at the first unreachable-chain error (the state is kept).
    pub async fn step(&self, now_ms: u64) -> Result<(), RelayError> {
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

    fn decode_action(rec: &ActionRecord) -> Result<ContractAction, RelayError> {
        ContractAction::decode(&unhex(&rec.content)?)
            .map_err(|e| RelayError::Storage(format!("a stored action is corrupt: {e}")))
    }

    /// Signs the transaction that executes `ca`: its hash, its raw bytes (to broadcast) and the
    /// record kept of it (stored before it is broadcast, so a restart finds it).
    async fn sign_tx(
        &self,
        ca: &ContractAction,
        account_nonce: u64,
        gas_limit: u64,
        fees: self::core::Fees,
        now_ms: u64,
    ) -> Result<(B256, Vec<u8>, SentTx), RelayError> {
        let (calldata, value) = Self::calldata(ca)?;
        let (hash, raw) = self
            .inner
            .chain
            .sign(calldata, value, account_nonce, gas_limit, fees)
            .await?;
        let sent = SentTx {
            hash: hex::encode(hash),
            fees,
            raw: hex::encode(&raw),
            sent_at_ms: now_ms,
        };
        Ok((hash, raw, sent))
    }

    fn calldata(ca: &ContractAction) -> Result<(Bytes, U256), RelayError> {
        let message = ca
            .action
            .encode()
            .map_err(|e| RelayError::Storage(e.to_string()))?;
        let how = match &ca.key {
            SignerKey::Inline(pk) => Execute::Inline(pk.as_bytes().to_vec()),
            SignerKey::Registered => Execute::Registered,
        };
        Ok((
            chain::execute_calldata(&message, ca.signature.as_bytes(), &how),
            U256::from_be_bytes(ca.action.value),
        ))
    }

    /// Finishes `key` with `receipt` (its request ID is set from the request) in one write.
    fn finish(
        &self,
        key: &ActionKey,
        rec: &ActionRecord,
        mut receipt: ContractReceipt,
    ) -> Result<(), RelayError> {
        let rkey: RequestKey = unhex(&rec.request)?
            .try_into()
            .map_err(|_| RelayError::Storage("a stored request key is corrupt".into()))?;
        receipt.request_id = request_id_of(&rkey);
        let encoded = hex::encode(receipt.encode());
        let _guard = self.lock();
        let mut batch = Batch::default();
        let mut rec = rec.clone();
        rec.state = ActionState::Finished {
            receipt: encoded.clone(),
        };
        batch.actions.push((*key, rec));
        if let Some(mut req) = self.inner.store.request(&rkey)? {
            req.receipt = Some(encoded);
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
        let (calldata, value) = Self::calldata(&ca)?;
        match chain.simulate(calldata.clone(), value).await {
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
        let estimate = match chain.estimate_gas(calldata, value).await {
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
        self.set_state(key, rec, ActionState::Verified { gas_limit })
    }

    /// The next account nonce: the node's pending count, but never below what our own stored
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
                let ours = self
                    .inner
                    .store
                    .actions()?
                    .into_iter()
                    .filter_map(|(_, a)| match a.state {
                        ActionState::Submitted { account_nonce, .. } => Some(account_nonce + 1),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                pending.max(ours)
            }
        };
        Ok(nonce)
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
        let hashes: Vec<B256> = txs
            .iter()
            .map(|t| unhex(&t.hash).map(|h| B256::from_slice(&h)))
            .collect::<Result<_, _>>()?;
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
        let last_hash = hashes.last().copied().unwrap_or_default();
        if !chain.knows(last_hash).await? {
            tracing::info!(tx = %last_hash, "transaction unknown to the node; broadcasting again");
            chain.broadcast(&unhex(&last.raw)?).await?;
            return Ok(());
        }
        let stuck_ms = u64::try_from(self.inner.config.stuck_after.as_millis()).unwrap_or(u64::MAX);
        if now_ms.saturating_sub(last.sent_at_ms) >= stuck_ms {
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

    /// Runs the driver until `shutdown` turns true: passes every `poll_interval` (sooner when an
    /// action arrives), capped exponential backoff while the chain is unreachable. Writes
    /// `status.json` in the data directory after each pass, for `pars-bridge status`.
    pub fn spawn(&self, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let (initial, max) = this.inner.config.backoff;
            let mut backoff = Backoff::new(initial, max);
            loop {
                if *shutdown.borrow() {
                    break;
                }
                let pause = match this.step(unix_ms()).await {
                    Ok(()) => {
                        backoff.reset();
                        this.inner.config.poll_interval
                    }
                    Err(e) => {
                        let wait = backoff.fail();
                        tracing::warn!("relayer pass failed: {e}; next try in {wait:?}");
                        wait
                    }
                };
                this.write_status_file().await;
                tokio::select! {
                    _ = shutdown.changed() => {}
                    _ = this.inner.wake.notified() => {}
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        })
    }

    async fn write_status_file(&self) {
        let Ok(status) = self.status() else { return };
        let balance = self.inner.chain.balance().await.ok();
        let json = serde_json::json!({
            "signer": self.signer().to_string(),
            "balanceWei": balance.map(|b| b.to_string()),
            "updatedAtMs": unix_ms(),
            "status": status,
        });
        let path = self.inner.data_dir.join("status.json");
        let tmp = self.inner.data_dir.join("status.json.tmp");
        if std::fs::write(&tmp, json.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
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
