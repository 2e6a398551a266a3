//! The relayer's chain access as a trait, [`RelayChain`]: what the `Received → Verified →
//! Submitted → Finished` machine asks of the chain, in terms of actions rather than calldata.
//! The real implementation is [`AlloyChain`](super::AlloyChain) (JSON-RPC over HTTP); tests drive
//! the machine against an in-memory twin (`bridge/tests/relay_machine.rs`).
//!
//! Failures come back as [`ChainError`]: `Unavailable` makes the driver retry with backoff,
//! `Reverted` carries the revert data the machine turns into a refusal.

use alloy::primitives::{Address, B256, Bytes, U256};
use pars_wire::action::ContractAction;

use super::core::Fees;

/// A chain-side failure.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The RPC could not be reached, timed out or answered with a non-revert error.
    #[error("EVM RPC unavailable during {what}: {message}")]
    Unavailable {
        /// The request.
        what: &'static str,
        /// What happened (URLs redacted).
        message: String,
    },
    /// The call reverted.
    #[error("{what} reverted")]
    Reverted {
        /// The request.
        what: &'static str,
        /// The revert data (empty if the node gave none).
        data: Bytes,
    },
    /// Data the relayer cannot interpret.
    #[error("unexpected data in {what}: {message}")]
    Protocol {
        /// The request.
        what: &'static str,
        /// Details.
        message: String,
    },
}

/// What a mined transaction did at the trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `SessionActionExecuted`.
    Executed,
    /// `SessionActionFailed` with the target's revert data.
    TargetFailed(Bytes),
    /// The transaction reverted.
    TxReverted,
    /// Mined, succeeded, but no trigger event: not an action transaction (should not happen).
    NoEvent,
}

/// A mined transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mined {
    /// Its hash.
    pub hash: B256,
    /// The block it is in.
    pub block: u64,
    /// Gas it used.
    pub gas_used: u64,
    /// What it did.
    pub outcome: Outcome,
}

/// The chain as the relayer uses it: one `SessionTrigger`, one signing account.
///
/// Every method may fail with [`ChainError::Unavailable`]; the machine keeps its state and the
/// driver retries. Methods that execute an action (`simulate`, `estimate_gas`, `sign`) take it
/// decoded; the implementation builds the trigger call (`executeFromSession` with an inline key,
/// `executeRegistered` otherwise).
pub trait RelayChain: Send + Sync + 'static {
    /// The relayer's account (the one that signs).
    fn signer(&self) -> Address;

    /// `publicKeyOf(sessionId)`: the registered ML-DSA key (empty if none).
    fn registered_key(
        &self,
        session_id: [u8; 32],
    ) -> impl Future<Output = Result<Bytes, ChainError>> + Send;

    /// `nonceUsed(sessionId, nonce)`.
    fn nonce_used(
        &self,
        session_id: [u8; 32],
        nonce: u64,
    ) -> impl Future<Output = Result<bool, ChainError>> + Send;

    /// Simulates executing `action`: `Ok(None)` if the target call would succeed, `Ok(Some(data))`
    /// with its revert data if the trigger would record a failed target call, `Reverted` if the
    /// trigger itself would revert.
    fn simulate(
        &self,
        action: &ContractAction,
    ) -> impl Future<Output = Result<Option<Bytes>, ChainError>> + Send;

    /// Gas estimate of executing `action` (`Reverted` if it would revert).
    fn estimate_gas(
        &self,
        action: &ContractAction,
    ) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// The fees the chain asks now.
    fn fees(&self) -> impl Future<Output = Result<Fees, ChainError>> + Send;

    /// The signer's account nonce: `pending` includes the node's mempool.
    fn account_nonce(&self, pending: bool) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// The signer's balance.
    fn balance(&self) -> impl Future<Output = Result<U256, ChainError>> + Send;

    /// The latest block number.
    fn head(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// Signs the transaction executing `action`: its hash and signed EIP-2718 bytes. Nothing is
    /// sent.
    fn sign(
        &self,
        action: &ContractAction,
        account_nonce: u64,
        gas_limit: u64,
        fees: Fees,
    ) -> impl Future<Output = Result<(B256, Vec<u8>), ChainError>> + Send;

    /// Broadcasts signed bytes. "Already known" and "nonce too low" are not errors: the receipt
    /// check decides what they mean.
    fn broadcast(&self, raw: &[u8]) -> impl Future<Output = Result<(), ChainError>> + Send;

    /// Whether the node knows the transaction (mined or in its mempool).
    fn knows(&self, hash: B256) -> impl Future<Output = Result<bool, ChainError>> + Send;

    /// The mined transaction `hash`, if it is in a block.
    fn mined(&self, hash: B256) -> impl Future<Output = Result<Option<Mined>, ChainError>> + Send;
}
