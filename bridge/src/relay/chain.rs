//! The relayer's chain access (alloy over HTTP): trigger views, simulation, gas and fee
//! estimates, signing and broadcasting raw transactions, receipts. Every call has a timeout;
//! transport failures come back as [`ChainError::Unavailable`] so the caller retries with
//! backoff, reverts as [`ChainError::Reverted`] with the revert data.

use std::time::Duration;

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::{SolCall, SolEventInterface, SolInterface};
use alloy::transports::{RpcError, TransportErrorKind};

use super::core::Fees;
use crate::contracts::SessionTrigger;
use crate::reader::read_provider;

/// A chain-side failure.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum ChainError {
    /// The RPC could not be reached, timed out or answered with a non-revert error.
    #[error("EVM RPC unavailable during {what}: {message}")]
    Unavailable { what: &'static str, message: String },
    /// The call reverted.
    #[error("{what} reverted")]
    Reverted { what: &'static str, data: Bytes },
    /// Data we cannot interpret.
    #[error("unexpected data in {what}: {message}")]
    Protocol { what: &'static str, message: String },
}

fn map_err(what: &'static str, e: RpcError<TransportErrorKind>) -> ChainError {
    if let RpcError::ErrorResp(payload) = &e {
        if let Some(data) = payload.as_revert_data() {
            return ChainError::Reverted { what, data };
        }
        let message = payload.message.to_ascii_lowercase();
        if payload.code == 3 || message.contains("revert") {
            return ChainError::Reverted {
                what,
                data: Bytes::new(),
            };
        }
    }
    ChainError::Unavailable {
        what,
        message: crate::error::redact_urls(&e.to_string()),
    }
}

async fn timed<T>(
    what: &'static str,
    after: Duration,
    fut: impl IntoFuture<Output = Result<T, RpcError<TransportErrorKind>>>,
) -> Result<T, ChainError> {
    match tokio::time::timeout(after, fut.into_future()).await {
        Ok(r) => r.map_err(|e| map_err(what, e)),
        Err(_) => Err(ChainError::Unavailable {
            what,
            message: format!("no answer within {after:?}"),
        }),
    }
}

/// Which execute function an action goes through.
#[derive(Clone, Debug)]
pub(crate) enum Execute {
    /// `executeFromSession(message, signature, publicKey)`.
    Inline(Vec<u8>),
    /// `executeRegistered(message, signature)`.
    Registered,
}

/// Calldata of the trigger call for an action.
pub(crate) fn execute_calldata(message: &[u8], signature: &[u8], how: &Execute) -> Bytes {
    match how {
        Execute::Inline(pk) => SessionTrigger::executeFromSessionCall {
            sessionMessage: Bytes::copy_from_slice(message),
            mldsaSignature: Bytes::copy_from_slice(signature),
            mldsaPublicKey: Bytes::copy_from_slice(pk),
        }
        .abi_encode()
        .into(),
        Execute::Registered => SessionTrigger::executeRegisteredCall {
            sessionMessage: Bytes::copy_from_slice(message),
            mldsaSignature: Bytes::copy_from_slice(signature),
        }
        .abi_encode()
        .into(),
    }
}

/// Decodes a trigger revert into its error name and arguments, if it is one of the trigger's.
pub(crate) fn decode_trigger_revert(data: &[u8]) -> Option<SessionTrigger::SessionTriggerErrors> {
    SessionTrigger::SessionTriggerErrors::abi_decode(data).ok()
}

/// What a mined transaction did at the trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
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
#[derive(Clone, Debug)]
pub(crate) struct Mined {
    pub hash: B256,
    pub block: u64,
    pub gas_used: u64,
    pub outcome: Outcome,
}

/// Chain access for one trigger and one signer.
#[derive(Clone)]
pub(crate) struct Chain {
    provider: DynProvider,
    wallet: EthereumWallet,
    pub signer: Address,
    pub trigger: Address,
    pub chain_id: u64,
    timeout: Duration,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("signer", &self.signer)
            .field("trigger", &self.trigger)
            .finish_non_exhaustive()
    }
}

impl Chain {
    pub fn new(
        rpc_url: &str,
        wallet: EthereumWallet,
        signer: Address,
        trigger: Address,
        chain_id: u64,
        timeout: Duration,
    ) -> Result<Self, crate::BridgeError> {
        Ok(Self {
            provider: read_provider(rpc_url)?,
            wallet,
            signer,
            trigger,
            chain_id,
            timeout,
        })
    }

    pub async fn chain_id(&self) -> Result<u64, ChainError> {
        timed("eth_chainId", self.timeout, self.provider.get_chain_id()).await
    }

    pub async fn has_code(&self, address: Address) -> Result<bool, ChainError> {
        let code = timed(
            "eth_getCode",
            self.timeout,
            self.provider.get_code_at(address),
        )
        .await?;
        Ok(!code.is_empty())
    }

    async fn view(&self, what: &'static str, input: Bytes) -> Result<Bytes, ChainError> {
        let tx = TransactionRequest::default()
            .with_to(self.trigger)
            .with_input(input);
        timed(what, self.timeout, self.provider.call(tx)).await
    }

    /// `nonceUsed(sessionId, nonce)`.
    pub async fn nonce_used(&self, session_id: [u8; 32], nonce: u64) -> Result<bool, ChainError> {
        let out = self
            .view(
                "nonceUsed",
                SessionTrigger::nonceUsedCall {
                    sessionId: B256::from(session_id),
                    nonce,
                }
                .abi_encode()
                .into(),
            )
            .await?;
        SessionTrigger::nonceUsedCall::abi_decode_returns(&out).map_err(|e| ChainError::Protocol {
            what: "nonceUsed",
            message: e.to_string(),
        })
    }

    /// `publicKeyOf(sessionId)` (empty if not registered).
    pub async fn registered_key(&self, session_id: [u8; 32]) -> Result<Bytes, ChainError> {
        let out = self
            .view(
                "publicKeyOf",
                SessionTrigger::publicKeyOfCall {
                    sessionId: B256::from(session_id),
                }
                .abi_encode()
                .into(),
            )
            .await?;
        SessionTrigger::publicKeyOfCall::abi_decode_returns(&out).map_err(|e| {
            ChainError::Protocol {
                what: "publicKeyOf",
                message: e.to_string(),
            }
        })
    }

    fn execute_tx(&self, calldata: Bytes, value: U256) -> TransactionRequest {
        TransactionRequest::default()
            .with_from(self.signer)
            .with_to(self.trigger)
            .with_input(calldata)
            .with_value(value)
    }

    /// Simulates the execute call; `Ok(None)` if the target call would succeed, `Ok(Some(data))`
    /// with its revert data if the trigger would record a failed target call.
    pub async fn simulate(
        &self,
        calldata: Bytes,
        value: U256,
    ) -> Result<Option<Bytes>, ChainError> {
        let out = timed(
            "eth_call",
            self.timeout,
            self.provider.call(self.execute_tx(calldata, value)),
        )
        .await?;
        // executeFromSession and executeRegistered return the same (bool, bytes).
        let ret = SessionTrigger::executeRegisteredCall::abi_decode_returns(&out).map_err(|e| {
            ChainError::Protocol {
                what: "eth_call of the trigger",
                message: e.to_string(),
            }
        })?;
        Ok(if ret.success { None } else { Some(ret.result) })
    }

    pub async fn estimate_gas(&self, calldata: Bytes, value: U256) -> Result<u64, ChainError> {
        timed(
            "eth_estimateGas",
            self.timeout,
            self.provider.estimate_gas(self.execute_tx(calldata, value)),
        )
        .await
    }

    pub async fn fees(&self) -> Result<Fees, ChainError> {
        let est = timed(
            "eth_feeHistory",
            self.timeout,
            self.provider.estimate_eip1559_fees(),
        )
        .await?;
        Ok(Fees {
            max_fee: est.max_fee_per_gas,
            priority_fee: est.max_priority_fee_per_gas,
        })
    }

    /// The signer's account nonce: `pending` includes the node's mempool.
    pub async fn account_nonce(&self, pending: bool) -> Result<u64, ChainError> {
        let req = self.provider.get_transaction_count(self.signer);
        let req = if pending { req.pending() } else { req.latest() };
        timed("eth_getTransactionCount", self.timeout, req).await
    }

    pub async fn balance(&self) -> Result<U256, ChainError> {
        timed(
            "eth_getBalance",
            self.timeout,
            self.provider.get_balance(self.signer),
        )
        .await
    }

    pub async fn head(&self) -> Result<u64, ChainError> {
        timed(
            "eth_blockNumber",
            self.timeout,
            self.provider.get_block_number(),
        )
        .await
    }

    /// Signs the execute transaction; returns its hash and EIP-2718 bytes.
    pub async fn sign(
        &self,
        calldata: Bytes,
        value: U256,
        account_nonce: u64,
        gas_limit: u64,
        fees: Fees,
    ) -> Result<(B256, Vec<u8>), ChainError> {
        let tx = self
            .execute_tx(calldata, value)
            .with_nonce(account_nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas_limit)
            .with_max_fee_per_gas(fees.max_fee)
            .with_max_priority_fee_per_gas(fees.priority_fee);
        let envelope = tx
            .build(&self.wallet)
            .await
            .map_err(|e| ChainError::Protocol {
                what: "signing a transaction",
                message: e.to_string(),
            })?;
        Ok((*envelope.tx_hash(), envelope.encoded_2718()))
    }

    /// Broadcasts signed bytes. "Already known" and "nonce too low" are not errors here: the
    /// receipt check decides what they mean.
    pub async fn broadcast(&self, raw: &[u8]) -> Result<(), ChainError> {
        match tokio::time::timeout(self.timeout, self.provider.send_raw_transaction(raw)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RpcError::ErrorResp(p))) => {
                let m = p.message.to_ascii_lowercase();
                if m.contains("already") || m.contains("nonce too low") || m.contains("known") {
                    Ok(())
                } else {
                    Err(ChainError::Unavailable {
                        what: "eth_sendRawTransaction",
                        message: format!("the node refused the transaction: {}", p.message),
                    })
                }
            }
            Ok(Err(e)) => Err(map_err("eth_sendRawTransaction", e)),
            Err(_) => Err(ChainError::Unavailable {
                what: "eth_sendRawTransaction",
                message: format!("no answer within {:?}", self.timeout),
            }),
        }
    }

    /// Whether the node knows the transaction (mined or in its mempool).
    pub async fn knows(&self, hash: B256) -> Result<bool, ChainError> {
        let tx = timed(
            "eth_getTransactionByHash",
            self.timeout,
            self.provider.get_transaction_by_hash(hash),
        )
        .await?;
        Ok(tx.is_some())
    }

    /// The mined transaction `hash`, if it is in a block.
    pub async fn mined(&self, hash: B256) -> Result<Option<Mined>, ChainError> {
        let receipt: Option<TransactionReceipt> = timed(
            "eth_getTransactionReceipt",
            self.timeout,
            self.provider.get_transaction_receipt(hash),
        )
        .await?;
        let Some(r) = receipt else { return Ok(None) };
        let Some(block) = r.block_number else {
            return Ok(None);
        };
        let outcome = if !r.status() {
            Outcome::TxReverted
        } else {
            let mut outcome = Outcome::NoEvent;
            for log in r.logs() {
                if log.address() != self.trigger {
                    continue;
                }
                match SessionTrigger::SessionTriggerEvents::decode_log(&log.inner) {
                    Ok(e) => match e.data {
                        SessionTrigger::SessionTriggerEvents::SessionActionExecuted(_) => {
                            outcome = Outcome::Executed;
                        }
                        SessionTrigger::SessionTriggerEvents::SessionActionFailed(f) => {
                            outcome = Outcome::TargetFailed(f.reason);
                        }
                        _ => {}
                    },
                    Err(_) => continue,
                }
            }
            outcome
        };
        Ok(Some(Mined {
            hash,
            block,
            gas_used: r.gas_used,
            outcome,
        }))
    }
}
