//! The relayer: ML-DSA-signed contract actions received over sessions, executed through
//! `SessionTrigger` exactly once, answered with a receipt.
//!
//! For each action ([`pars_wire::action::ContractAction`]):
//! 1. **intake** ([`Relayer::receive`]): decode; the policy's sender list, per-sender rate
//!    limit, gas budgets and the cap on stored requests — refusals here are answered from memory
//!    and store nothing; refuse a signed action that is already queued for another request;
//!    store the action (`received`) and the request durably;
//! 2. **verify** (driver): chain, trigger, deadline, version, policy (allowed targets, value);
//!    the signer's key (inline, or `publicKeyOf` for a registered one; with `senders =
//!    registered`, a key must be registered on chain); the ML-DSA-87 signature off-chain with
//!    pars-crypto (so a bad signature never costs gas); the nonce unused on chain; simulation
//!    with `eth_call`; gas estimate plus margin against the policy's cap and the sender's and
//!    the bridge's gas budgets (the gas limit is counted as spent) → `verified`;
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
//! Answered requests and finished actions are removed after `keep_records` (7 days), so the
//! store stays bounded; at most `max_requests` are kept at once.
//!
//! **Reorganisations and rolled-back chains.** For `reorg_watch` (an hour) after an action's
//! receipt, the driver checks every 30 s that its transaction is still on chain; one that
//! vanished is verified again from the start (the trigger's nonce is checked, so it executes at
//! most once) and answered anew, and the account nonce is read again from the chain. A
//! submitted transaction whose account nonce lies past a gap the chain will never fill (the
//! transactions before it vanished) is signed again at a fresh nonce. Fee bumps stop after
//! `max_fee_bumps`; such actions are counted `stuck` in `pars-bridge status`.
//!
//! A restart resumes from the store: `submitted` actions are looked up by their transaction
//! hashes (and the account nonce), never signed anew unless their account nonce was consumed by
//! something else while the trigger nonce is still unused. While the chain is unreachable actions
//! wait in their state and the driver retries with capped exponential backoff.

mod alloy_chain;
pub mod chain;
mod config;
pub mod core;
mod error;
mod intake;
mod legacy;
mod machine;
pub mod policy_file;
mod store;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, U256};
use pars_registry::EvmSigner;
use pars_registry::events::Backoff;
use pars_wire::action::{ContractReceipt, ReceiptStatus};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use self::alloy_chain::AlloyChain;
pub use self::chain::{ChainError, Mined, Outcome, RelayChain};
pub use self::config::{Answer, Intake, RelayConfig, RelayStatus};
use self::core::{GasBudgets, RateLimiter, Refusal};
pub use self::error::RelayError;
use self::store::RelayStore;

/// Unix milliseconds now.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

struct Inner<C> {
    store: RelayStore,
    chain: C,
    config: RelayConfig,
    data_dir: PathBuf,
    /// Serialises read-modify-write of records between intake, answers and the driver.
    write: Mutex<()>,
    rate: Mutex<RateLimiter>,
    budgets: Mutex<GasBudgets>,
    /// Refusals answered without being stored (malformed, not allowed, over a limit).
    unstored: Mutex<VecDeque<Answer>>,
    refused_unstored: AtomicU64,
    /// Requests in the store (kept up to date by intake and expiry).
    held_requests: AtomicU64,
    /// When expired records were last removed (Unix ms).
    last_expiry: AtomicU64,
    /// When finished actions were last checked for a vanished transaction (Unix ms).
    last_reorg_check: AtomicU64,
    next_nonce: Mutex<Option<u64>>,
    wake: Notify,
    answers: Notify,
}

/// The relayer (cheap to clone; one driver per data directory), over the chain access `C`:
/// [`AlloyChain`] in the binary, an in-memory twin in the machine's tests.
pub struct Relayer<C: RelayChain = AlloyChain> {
    inner: Arc<Inner<C>>,
}

impl<C: RelayChain> Clone for Relayer<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: RelayChain> std::fmt::Debug for Relayer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relayer")
            .field("signer", &self.inner.chain.signer())
            .field("data_dir", &self.inner.data_dir)
            .finish_non_exhaustive()
    }
}

/// Most refusals answered from memory (not stored) waiting to be sent at once.
pub const UNSTORED_ANSWERS: usize = 1024;

fn refused(request_id: [u8; 16], r: &Refusal) -> ContractReceipt {
    ContractReceipt {
        request_id,
        status: ReceiptStatus::Refused,
        reason: r.code,
        reason_text: r.text.clone(),
        tx: None,
    }
}

impl Relayer<AlloyChain> {
    /// Opens the state in `data_dir` (created if missing; `relay.redb`) and connects to the chain.
    /// An unreachable chain is not an error here (actions queue until it answers); a chain that
    /// answers with another chain ID, or has no code at the trigger address, is.
    pub async fn open(
        config: RelayConfig,
        signer: &EvmSigner,
        data_dir: &Path,
    ) -> Result<Self, RelayError> {
        let chain = AlloyChain::new(
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
        Relayer::with_chain(config, chain, data_dir)
    }
}

impl<C: RelayChain> Relayer<C> {
    /// Opens the state in `data_dir` (created if missing; `relay.redb`, migrated if it holds the
    /// first relayer's JSON records) over the chain access `chain`, which is not checked.
    pub fn with_chain(config: RelayConfig, chain: C, data_dir: &Path) -> Result<Self, RelayError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            RelayError::Config(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let store = RelayStore::open(&data_dir.join("relay.redb"))?;
        let held = store.requests()?.len() as u64;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                chain,
                config,
                data_dir: data_dir.to_path_buf(),
                write: Mutex::new(()),
                rate: Mutex::new(RateLimiter::default()),
                budgets: Mutex::new(GasBudgets::default()),
                unstored: Mutex::new(VecDeque::new()),
                refused_unstored: AtomicU64::new(0),
                held_requests: AtomicU64::new(held),
                last_expiry: AtomicU64::new(0),
                last_reorg_check: AtomicU64::new(0),
                next_nonce: Mutex::new(None),
                wake: Notify::new(),
                answers: Notify::new(),
            }),
        })
    }

    /// The chain access.
    pub fn chain(&self) -> &C {
        &self.inner.chain
    }

    /// The relayer's EVM account.
    pub fn signer(&self) -> Address {
        self.inner.chain.signer()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner.write.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The signer's balance.
    pub async fn balance(&self) -> Result<U256, RelayError> {
        Ok(self.inner.chain.balance().await?)
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
