//! Operator actions on `ServiceNodeRegistry`, behind `parsctl node …`: register, status, add
//! stake, request exit, withdraw (and governance's slash, for the devnet and tests).
//!
//! The EVM key comes from an encrypted JSON keystore file or the environment variable
//! [`PRIVATE_KEY_ENV`], never from the command line. Each transaction is estimated first, so a
//! registry rejection comes back as the matching [`RegistryError`] (stake too low, already
//! registered, still unbonding, …) before anything is sent; then it is submitted and followed to
//! the configured number of confirmations, reporting [`Progress`] on the way.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

use crate::contracts::{NodeRecord, RegistryContract, RegistryParameters, ServiceNodeRegistry};
use crate::deployment::{default_confirmations, parse_rpc_url, read_provider};
use crate::error::{InvalidRegistration, RegistryError};
use crate::error::{rpc_call, within};
use crate::types::{MldsaKeyHash, NodeStatus, RegistryNodeId};

/// The environment variable an EVM private key (hex, with or without `0x`) may be given in.
pub const PRIVATE_KEY_ENV: &str = "PARS_EVM_PRIVATE_KEY";

/// An EVM signing key. Its `Debug` shows only the address.
#[derive(Clone)]
pub struct EvmSigner(PrivateKeySigner);

impl fmt::Debug for EvmSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EvmSigner({})", self.0.address())
    }
}

impl EvmSigner {
    /// The key in [`PRIVATE_KEY_ENV`]; [`RegistryError::MissingSigner`] if it is not set.
    pub fn from_env() -> Result<Self, RegistryError> {
        match std::env::var(PRIVATE_KEY_ENV) {
            Ok(v) => Self::from_hex(&v).map_err(|_| {
                RegistryError::Signer(format!(
                    "{PRIVATE_KEY_ENV} is not a 32-byte hex private key"
                ))
            }),
            Err(std::env::VarError::NotPresent) => Err(RegistryError::MissingSigner),
            Err(std::env::VarError::NotUnicode(_)) => Err(RegistryError::Signer(format!(
                "{PRIVATE_KEY_ENV} is not valid text"
            ))),
        }
    }

    /// A key from hex (64 digits, optional `0x`).
    pub fn from_hex(hex_key: &str) -> Result<Self, RegistryError> {
        let text = hex_key.trim();
        let text = text.strip_prefix("0x").unwrap_or(text);
        let mut bytes = hex::decode(text)
            .map_err(|_| RegistryError::Signer("the private key is not hex".into()))?;
        let signer = PrivateKeySigner::from_slice(&bytes).map_err(|_| {
            RegistryError::Signer("the private key is not a valid secp256k1 key".into())
        });
        bytes.iter_mut().for_each(|b| *b = 0);
        signer.map(Self)
    }

    /// Decrypts an encrypted JSON keystore (Web3 Secret Storage, as written by geth, `cast wallet`).
    pub fn from_keystore(path: &Path, password: &[u8]) -> Result<Self, RegistryError> {
        if !path.is_file() {
            return Err(RegistryError::Signer(format!(
                "keystore file {} does not exist",
                path.display()
            )));
        }
        PrivateKeySigner::decrypt_keystore(path, password)
            .map(Self)
            .map_err(|e| {
                let reason = e.to_string();
                let hint = if reason.to_ascii_lowercase().contains("mac") {
                    "wrong password".to_owned()
                } else {
                    reason
                };
                RegistryError::Signer(format!(
                    "cannot decrypt the keystore {}: {hint}",
                    path.display()
                ))
            })
    }

    /// The account address.
    pub fn address(&self) -> Address {
        self.0.address()
    }

    /// A wallet over this key, for signing transactions.
    pub fn wallet(&self) -> EthereumWallet {
        EthereumWallet::from(self.0.clone())
    }
}

/// What a node registers: its identity and endpoints (the stake is passed separately).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Raw libp2p peer-ID bytes of the service node.
    pub peer_id: Vec<u8>,
    /// SHA3-256 of the node's ML-DSA-87 public key.
    pub mldsa_key_hash: MldsaKeyHash,
    /// Onion key material (≤ 128 bytes).
    pub onion_key: Vec<u8>,
    /// Textual multiaddrs (1–8, ≤ 256 bytes each).
    pub multiaddrs: Vec<String>,
    /// Operator name (≤ 64 bytes).
    pub name: String,
}

impl Registration {
    /// The registry's checks, locally, so a bad registration fails before any RPC.
    pub fn validate(&self) -> Result<(), RegistryError> {
        let bad = |what| Err(RegistryError::InvalidRegistration(what));
        if self.peer_id.is_empty() || self.peer_id.len() > 128 {
            return bad(InvalidRegistration::PeerId);
        }
        if self.mldsa_key_hash.0 == [0; 32] {
            return bad(InvalidRegistration::KeyHash);
        }
        if self.onion_key.is_empty() || self.onion_key.len() > 128 {
            return bad(InvalidRegistration::OnionKey);
        }
        if self.multiaddrs.is_empty()
            || self.multiaddrs.len() > 8
            || self
                .multiaddrs
                .iter()
                .any(|m| m.is_empty() || m.len() > 256)
        {
            return bad(InvalidRegistration::Multiaddrs);
        }
        if self.name.len() > 64 {
            return bad(InvalidRegistration::Name);
        }
        Ok(())
    }

    /// The registry key of this node.
    pub fn node_id(&self) -> RegistryNodeId {
        RegistryNodeId::of_peer_id(&self.peer_id)
    }
}

impl From<&Registration> for ServiceNodeRegistry::Registration {
    /// The registration as the contract's `register` call takes it.
    fn from(r: &Registration) -> Self {
        Self {
            peerId: Bytes::copy_from_slice(&r.peer_id),
            mldsaKeyHash: B256::from(r.mldsa_key_hash.0),
            onionKey: Bytes::copy_from_slice(&r.onion_key),
            multiaddrs: r.multiaddrs.clone(),
            name: r.name.clone(),
        }
    }
}

/// Where a transaction stands, reported while waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Accepted by the node, waiting to be mined.
    Submitted {
        /// The transaction.
        tx_hash: B256,
    },
    /// Mined in `block`; `confirmations` of `required` so far (the block itself counts as one).
    Confirming {
        /// The transaction.
        tx_hash: B256,
        /// Its block.
        block: u64,
        /// Confirmations so far.
        confirmations: u64,
        /// Confirmations required.
        required: u64,
    },
    /// Done.
    Confirmed {
        /// The transaction.
        tx_hash: B256,
        /// Its block.
        block: u64,
    },
}

/// A confirmed operator transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxOutcome {
    /// The transaction.
    pub tx_hash: B256,
    /// The block it was mined in.
    pub block: u64,
    /// The node it acted on.
    pub node_id: RegistryNodeId,
}

/// What `parsctl node status` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStatusReport {
    /// The node's record.
    pub record: NodeRecord,
    /// Registry parameters (minimum stake, unbonding period).
    pub parameters: RegistryParameters,
    /// Timestamp of the latest block.
    pub chain_time: u64,
    /// An exiting or slashed node whose stake can be withdrawn now.
    pub withdrawable_now: bool,
    /// Whether the configured signer is the node's operator (`None` without a signer).
    pub signer_is_operator: Option<bool>,
}

/// Settings of an [`Operator`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OperatorConfig {
    /// JSON-RPC endpoint.
    pub rpc_url: String,
    /// The registry.
    pub registry: Address,
    /// The expected chain ID.
    pub chain_id: u64,
    /// Confirmations to wait for.
    pub confirmations: u64,
    /// Interval between receipt and head polls.
    pub poll_interval: Duration,
    /// Give up waiting for confirmations after this long.
    pub confirmation_timeout: Duration,
    /// Timeout of each RPC request.
    pub rpc_timeout: Duration,
}

impl OperatorConfig {
    /// Defaults: confirmations per [`default_confirmations`], polls every 500 ms, 5 minutes for
    /// the confirmations, 30 s per request.
    pub fn new(rpc_url: impl Into<String>, registry: Address, chain_id: u64) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            registry,
            chain_id,
            confirmations: default_confirmations(chain_id),
            poll_interval: Duration::from_millis(500),
            confirmation_timeout: Duration::from_secs(300),
            rpc_timeout: Duration::from_secs(30),
        }
    }

    /// Sets the confirmations to wait for (at least 1).
    pub fn with_confirmations(mut self, confirmations: u64) -> Self {
        self.confirmations = confirmations.max(1);
        self
    }

    /// Sets the confirmation timeout.
    pub fn with_confirmation_timeout(mut self, timeout: Duration) -> Self {
        self.confirmation_timeout = timeout;
        self
    }

    /// Sets the poll interval.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }
}

/// Operator access to the registry: reads without a key, transactions with one.
#[derive(Clone, Debug)]
pub struct Operator {
    config: OperatorConfig,
    provider: DynProvider,
    registry: RegistryContract,
    signer: Option<Address>,
}

impl Operator {
    /// Connects and checks the chain ID and the registry's code. Without `signer` only
    /// [`Operator::status`] and [`Operator::parameters`] work.
    pub async fn connect(
        config: OperatorConfig,
        signer: Option<EvmSigner>,
    ) -> Result<Self, RegistryError> {
        let url = parse_rpc_url(&config.rpc_url)?;
        let (provider, address) = match signer {
            Some(s) => {
                let address = s.address();
                // The nonce is read from the node for every transaction: a cached nonce would be
                // consumed by a call the gas estimate rejects, leaving a gap that blocks the next.
                let provider = ProviderBuilder::new()
                    .disable_recommended_fillers()
                    .with_gas_estimation()
                    .with_simple_nonce_management()
                    .with_chain_id(config.chain_id)
                    .wallet(EthereumWallet::from(s.0))
                    .connect_http(url)
                    .erased();
                (provider, Some(address))
            }
            None => (read_provider(&config.rpc_url)?, None),
        };
        let t = config.rpc_timeout;
        let chain_id = rpc_call("eth_chainId", t, provider.get_chain_id()).await?;
        if chain_id != config.chain_id {
            return Err(RegistryError::WrongChain {
                expected: config.chain_id,
                actual: chain_id,
            });
        }
        let code = rpc_call("eth_getCode", t, provider.get_code_at(config.registry)).await?;
        if code.is_empty() {
            return Err(RegistryError::NoContract {
                address: config.registry,
                chain_id,
            });
        }
        Ok(Self {
            registry: RegistryContract::new(config.registry, provider.clone()),
            provider,
            signer: address,
            config,
        })
    }

    /// The signer's address, if there is one.
    pub fn address(&self) -> Option<Address> {
        self.signer
    }

    fn signer(&self) -> Result<Address, RegistryError> {
        self.signer.ok_or(RegistryError::MissingSigner)
    }

    /// Minimum stake and unbonding period.
    pub async fn parameters(&self) -> Result<RegistryParameters, RegistryError> {
        within(
            "registry parameters",
            self.config.rpc_timeout,
            self.registry.parameters(),
        )
        .await
    }

    /// The record of `peer_id`'s node.
    pub async fn node(&self, peer_id: &[u8]) -> Result<NodeRecord, RegistryError> {
        within(
            "getNode",
            self.config.rpc_timeout,
            self.registry.node(peer_id),
        )
        .await
    }

    /// Registration, stake and exit state of `peer_id`'s node.
    pub async fn status(&self, peer_id: &[u8]) -> Result<NodeStatusReport, RegistryError> {
        let record = self.node(peer_id).await?;
        let parameters = self.parameters().await?;
        let chain_time = self.chain_time().await?;
        let withdrawable_now = matches!(record.status, NodeStatus::Exiting | NodeStatus::Slashed)
            && chain_time >= record.unlock_time;
        let signer_is_operator = self
            .signer
            .map(|a| record.status != NodeStatus::NotRegistered && a == record.operator);
        Ok(NodeStatusReport {
            record,
            parameters,
            chain_time,
            withdrawable_now,
            signer_is_operator,
        })
    }

    async fn chain_time(&self) -> Result<u64, RegistryError> {
        let block = rpc_call(
            "eth_getBlockByNumber",
            self.config.rpc_timeout,
            self.provider
                .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest),
        )
        .await?;
        Ok(block.map(|b| b.header.timestamp).unwrap_or_default())
    }

    /// Registers the node described by `registration`, staking `stake` wei.
    pub async fn register(
        &self,
        registration: &Registration,
        stake: U256,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<TxOutcome, RegistryError> {
        registration.validate()?;
        let from = self.signer()?;
        self.check_funds(from, stake).await?;
        let node_id = registration.node_id();
        let send = self.registry.send_register(registration.into(), stake);
        self.submit(
            "register",
            &registration.peer_id,
            node_id,
            from,
            send,
            progress,
        )
        .await
    }

    /// Adds `amount` wei to the stake of `peer_id`'s (active) node.
    pub async fn add_stake(
        &self,
        peer_id: &[u8],
        amount: U256,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<TxOutcome, RegistryError> {
        let from = self.signer()?;
        if amount.is_zero() {
            return Err(RegistryError::InvalidRegistration(
                InvalidRegistration::ZeroAmount,
            ));
        }
        self.check_funds(from, amount).await?;
        let node_id = RegistryNodeId::of_peer_id(peer_id);
        let send = self.registry.send_add_stake(node_id, amount);
        self.submit("addStake", peer_id, node_id, from, send, progress)
            .await
    }

    /// Takes `peer_id`'s node out of the active set; its stake unbonds.
    pub async fn request_exit(
        &self,
        peer_id: &[u8],
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<TxOutcome, RegistryError> {
        let from = self.signer()?;
        let node_id = RegistryNodeId::of_peer_id(peer_id);
        let send = self.registry.send_request_exit(node_id);
        self.submit("requestExit", peer_id, node_id, from, send, progress)
            .await
    }

    /// Withdraws the stake of `peer_id`'s exited (or slashed) node after the unbonding period.
    pub async fn withdraw(
        &self,
        peer_id: &[u8],
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<TxOutcome, RegistryError> {
        let from = self.signer()?;
        let node_id = RegistryNodeId::of_peer_id(peer_id);
        let send = self.registry.send_withdraw(node_id);
        self.submit("withdraw", peer_id, node_id, from, send, progress)
            .await
    }

    /// Governance: slashes `amount` wei of `peer_id`'s node (the signer must be the registry's
    /// owner). An amount of zero ejects the node without taking stake.
    pub async fn slash(
        &self,
        peer_id: &[u8],
        amount: U256,
        reason: &str,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<TxOutcome, RegistryError> {
        let from = self.signer()?;
        let node_id = RegistryNodeId::of_peer_id(peer_id);
        let send = self.registry.send_slash(node_id, amount, reason);
        self.submit("slash", peer_id, node_id, from, send, progress)
            .await
    }

    /// Sends one transaction (estimated first, so registry rejections come back as errors) and
    /// follows it to the configured confirmations.
    async fn submit(
        &self,
        what: &'static str,
        peer_id: &[u8],
        node_id: RegistryNodeId,
        from: Address,
        send: impl std::future::Future<Output = Result<B256, RegistryError>>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<TxOutcome, RegistryError> {
        let sent = within(what, self.config.rpc_timeout, send).await;
        let tx_hash = self.refine(sent, peer_id, from).await?;
        self.confirm(tx_hash, node_id, progress).await
    }

    async fn check_funds(&self, from: Address, value: U256) -> Result<(), RegistryError> {
        let balance = rpc_call(
            "eth_getBalance",
            self.config.rpc_timeout,
            self.provider.get_balance(from),
        )
        .await?;
        if balance < value {
            return Err(RegistryError::InsufficientFunds { address: from });
        }
        Ok(())
    }

    /// Sharpens errors the contract cannot phrase well: the `onlyOperator` check fires before the
    /// status checks, so an unregistered node surfaces as `NotOperator`; the node's "insufficient
    /// funds" text becomes [`RegistryError::InsufficientFunds`].
    async fn refine<T>(
        &self,
        result: Result<T, RegistryError>,
        peer_id: &[u8],
        from: Address,
    ) -> Result<T, RegistryError> {
        match result {
            Ok(v) => Ok(v),
            Err(RegistryError::NotOperator { node_id, caller }) => match self.node(peer_id).await {
                Ok(r) if r.status == NodeStatus::NotRegistered => {
                    Err(RegistryError::NotRegistered { node_id })
                }
                _ => Err(RegistryError::NotOperator { node_id, caller }),
            },
            Err(
                RegistryError::Rpc { message, .. } | RegistryError::Rejected { reason: message },
            ) if message.to_ascii_lowercase().contains("insufficient funds") => {
                Err(RegistryError::InsufficientFunds { address: from })
            }
            Err(e) => Err(e),
        }
    }

    async fn confirm(
        &self,
        tx_hash: B256,
        node_id: RegistryNodeId,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<TxOutcome, RegistryError> {
        progress(Progress::Submitted { tx_hash });
        let started = Instant::now();
        let deadline = self.config.confirmation_timeout;
        let t = self.config.rpc_timeout;
        let required = self.config.confirmations.max(1);
        let mut last_reported = None;
        loop {
            if started.elapsed() > deadline {
                return Err(RegistryError::ConfirmationTimeout {
                    tx_hash,
                    waited: started.elapsed(),
                });
            }
            // Read the receipt every round: a reorg may move or drop the transaction.
            let receipt = rpc_call(
                "eth_getTransactionReceipt",
                t,
                self.provider.get_transaction_receipt(tx_hash),
            )
            .await;
            let receipt = match receipt {
                Ok(r) => r,
                Err(e) if e.is_transient() => {
                    tracing::debug!("waiting for {tx_hash}: {e}");
                    None
                }
                Err(e) => return Err(e),
            };
            if let Some(receipt) = receipt {
                if !receipt.status() {
                    return Err(RegistryError::Reverted { tx_hash });
                }
                let block = receipt.block_number.unwrap_or_default();
                let head = rpc_call("eth_blockNumber", t, self.provider.get_block_number())
                    .await
                    .unwrap_or(block);
                let confirmations = head.saturating_add(1).saturating_sub(block);
                if last_reported != Some((block, confirmations)) {
                    last_reported = Some((block, confirmations));
                    progress(Progress::Confirming {
                        tx_hash,
                        block,
                        confirmations: confirmations.min(required),
                        required,
                    });
                }
                if confirmations >= required {
                    progress(Progress::Confirmed { tx_hash, block });
                    return Ok(TxOutcome {
                        tx_hash,
                        block,
                        node_id,
                    });
                }
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn registration() -> Registration {
        Registration {
            peer_id: vec![0, 36, 8, 1],
            mldsa_key_hash: MldsaKeyHash([1; 32]),
            onion_key: vec![2; 64],
            multiaddrs: vec!["/ip4/127.0.0.1/tcp/9000".into()],
            name: "op".into(),
        }
    }

    #[test]
    fn local_validation_mirrors_the_contract() {
        assert!(registration().validate().is_ok());
        let check = |f: fn(&mut Registration), want: InvalidRegistration| {
            let mut r = registration();
            f(&mut r);
            match r.validate() {
                Err(RegistryError::InvalidRegistration(got)) => assert_eq!(got, want),
                other => panic!("{other:?}"),
            }
        };
        check(|r| r.peer_id.clear(), InvalidRegistration::PeerId);
        check(|r| r.peer_id = vec![1; 129], InvalidRegistration::PeerId);
        check(
            |r| r.mldsa_key_hash = MldsaKeyHash([0; 32]),
            InvalidRegistration::KeyHash,
        );
        check(
            |r| r.onion_key = vec![1; 129],
            InvalidRegistration::OnionKey,
        );
        check(|r| r.multiaddrs.clear(), InvalidRegistration::Multiaddrs);
        check(
            |r| r.multiaddrs = vec!["/x".into(); 9],
            InvalidRegistration::Multiaddrs,
        );
        check(
            |r| r.multiaddrs = vec![String::new()],
            InvalidRegistration::Multiaddrs,
        );
        check(|r| r.name = "n".repeat(65), InvalidRegistration::Name);
    }

    #[test]
    fn signer_from_hex_and_debug_hides_the_key() {
        // anvil's first account
        let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let s = EvmSigner::from_hex(key).unwrap();
        assert_eq!(
            s.address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("ac0974"), "{dbg}");
        assert!(EvmSigner::from_hex("0x1234").is_err());
        assert!(EvmSigner::from_hex("zz").is_err());
        let err = EvmSigner::from_hex(&"00".repeat(32)).unwrap_err();
        assert!(!err.to_string().contains("0000"));
    }
}
