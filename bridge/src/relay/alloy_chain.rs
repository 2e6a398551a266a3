//! [`AlloyChain`], the real [`RelayChain`]: alloy over HTTP — trigger views, simulation, gas and
//! fee estimates, signing and broadcasting raw transactions, receipts. Every call has a timeout;
//! transport failures come back as [`ChainError::Unavailable`] so the caller retries with
//! backoff, reverts as [`ChainError::Reverted`] with the revert data.

use std::time::Duration;

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::{SolCall, SolEventInterface};
use alloy::transports::{RpcError, TransportErrorKind};

use pars_registry::contracts::SessionTrigger;
use pars_registry::deployment::read_provider;
use pars_registry::{RegistryError, redact_urls};
use pars_wire::action::{ContractAction, SignerKey};

use super::chain::{ChainError, Mined, Outcome, RelayChain};
use super::core::Fees;

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
        message: redact_urls(&e.to_string()),
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
enum Execute {
    /// `executeFromSession(message, signature, publicKey)`.
    Inline(Vec<u8>),
    /// `executeRegistered(message, signature)`.
    Registered,
}

/// Calldata of the trigger call for an action.
fn execute_calldata(message: &[u8], signature: &[u8], how: &Execute) -> Bytes {
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

/// The calldata and value of the trigger call executing `ca`.
fn action_call(ca: &ContractAction) -> Result<(Bytes, U256), ChainError> {
    let message = ca.action.encode().map_err(|e| ChainError::Protocol {
        what: "encoding the action",
        message: e.to_string(),
    })?;
    let how = match &ca.key {
        SignerKey::Inline(pk) => Execute::Inline(pk.as_bytes().to_vec()),
        SignerKey::Registered => Execute::Registered,
    };
    Ok((
        execute_calldata(&message, ca.signature.as_bytes(), &how),
        U256::from_be_bytes(ca.action.value),
    ))
}

/// Chain access over JSON-RPC for one trigger and one signer.
#[derive(Clone)]
pub struct AlloyChain {
    provider: DynProvider,
    wallet: EthereumWallet,
    signer: Address,
    trigger: Address,
    chain_id: u64,
    timeout: Duration,
}

impl std::fmt::Debug for AlloyChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("signer", &self.signer)
            .field("trigger", &self.trigger)
            .finish_non_exhaustive()
    }
}

impl AlloyChain {
    /// Chain access at `rpc_url` (http or https) for `trigger` on `chain_id`, signing with
    /// `wallet` (whose address is `signer`); every request times out after `timeout`.
    pub fn new(
        rpc_url: &str,
        wallet: EthereumWallet,
        signer: Address,
        trigger: Address,
        chain_id: u64,
        timeout: Duration,
    ) -> Result<Self, RegistryError> {
        Ok(Self {
            provider: read_provider(rpc_url)?,
            wallet,
            signer,
            trigger,
            chain_id,
            timeout,
        })
    }

    /// The chain ID the RPC serves.
    pub async fn chain_id(&self) -> Result<u64, ChainError> {
        timed("eth_chainId", self.timeout, self.provider.get_chain_id()).await
    }

    /// Whether `address` holds contract code.
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

    fn execute_tx(&self, calldata: Bytes, value: U256) -> TransactionRequest {
        TransactionRequest::default()
            .with_from(self.signer)
            .with_to(self.trigger)
            .with_input(calldata)
            .with_value(value)
    }

    fn execute_request(&self, ca: &ContractAction) -> Result<TransactionRequest, ChainError> {
        let (calldata, value) = action_call(ca)?;
        Ok(self.execute_tx(calldata, value))
    }
}

impl RelayChain for AlloyChain {
    fn signer(&self) -> Address {
        self.signer
    }

    async fn nonce_used(&self, session_id: [u8; 32], nonce: u64) -> Result<bool, ChainError> {
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

    async fn registered_key(&self, session_id: [u8; 32]) -> Result<Bytes, ChainError> {
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

    async fn simulate(&self, ca: &ContractAction) -> Result<Option<Bytes>, ChainError> {
        let tx = self.execute_request(ca)?;
        let out = timed("eth_call", self.timeout, self.provider.call(tx)).await?;
        // executeFromSession and executeRegistered return the same (bool, bytes).
        let ret = SessionTrigger::executeRegisteredCall::abi_decode_returns(&out).map_err(|e| {
            ChainError::Protocol {
                what: "eth_call of the trigger",
                message: e.to_string(),
            }
        })?;
        Ok(if ret.success { None } else { Some(ret.result) })
    }

    async fn estimate_gas(&self, ca: &ContractAction) -> Result<u64, ChainError> {
        let tx = self.execute_request(ca)?;
        timed(
            "eth_estimateGas",
            self.timeout,
            self.provider.estimate_gas(tx),
        )
        .await
    }

    async fn fees(&self) -> Result<Fees, ChainError> {
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

    async fn account_nonce(&self, pending: bool) -> Result<u64, ChainError> {
        let req = self.provider.get_transaction_count(self.signer);
        let req = if pending { req.pending() } else { req.latest() };
        timed("eth_getTransactionCount", self.timeout, req).await
    }

    async fn balance(&self) -> Result<U256, ChainError> {
        timed(
            "eth_getBalance",
            self.timeout,
            self.provider.get_balance(self.signer),
        )
        .await
    }

    async fn head(&self) -> Result<u64, ChainError> {
        timed(
            "eth_blockNumber",
            self.timeout,
            self.provider.get_block_number(),
        )
        .await
    }

    async fn sign(
        &self,
        ca: &ContractAction,
        account_nonce: u64,
        gas_limit: u64,
        fees: Fees,
    ) -> Result<(B256, Vec<u8>), ChainError> {
        let tx = self
            .execute_request(ca)?
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

    async fn broadcast(&self, raw: &[u8]) -> Result<(), ChainError> {
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

    async fn knows(&self, hash: B256) -> Result<bool, ChainError> {
        let tx = timed(
            "eth_getTransactionByHash",
            self.timeout,
            self.provider.get_transaction_by_hash(hash),
        )
        .await?;
        Ok(tx.is_some())
    }

    async fn mined(&self, hash: B256) -> Result<Option<Mined>, ChainError> {
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
