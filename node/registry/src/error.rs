//! The crate's error type: what went wrong and what to do about it.

use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::transports::{RpcError, TransportErrorKind, TransportResult};

use pars_error::{ErrorKind, HasKind};

use crate::types::{NodeStatus, RegistryNodeId, format_ether, format_unix_time};

/// A registration field the registry rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidRegistration {
    /// The peer ID is empty or longer than 128 bytes.
    PeerId,
    /// The ML-DSA key hash is zero.
    KeyHash,
    /// The onion key is empty or longer than 128 bytes.
    OnionKey,
    /// Not 1–8 multiaddrs of 1–256 bytes each.
    Multiaddrs,
    /// The operator name is longer than 64 bytes.
    Name,
    /// A zero amount of stake to add.
    ZeroAmount,
}

impl std::fmt::Display for InvalidRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PeerId => "the peer ID must be 1 to 128 bytes",
            Self::KeyHash => "the ML-DSA key hash must not be zero",
            Self::OnionKey => "the onion key must be 1 to 128 bytes",
            Self::Multiaddrs => "give 1 to 8 multiaddrs of at most 256 bytes each",
            Self::Name => "the operator name must be at most 64 bytes",
            Self::ZeroAmount => "the amount must be more than zero",
        })
    }
}

/// Errors of the registry crate (reading the chain, operator actions). Messages never contain keys
/// or passwords.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The RPC could not be reached or answered with a transport-level error.
    #[error(
        "EVM RPC unavailable during {what}: {message}; check that the node behind --eth-rpc is running and reachable (retrying)"
    )]
    Rpc {
        /// The request that failed.
        what: &'static str,
        /// The transport's description (URLs are reduced to scheme, host and port).
        message: String,
    },
    /// The RPC did not answer in time.
    #[error(
        "EVM RPC timed out after {after:?} during {what}; the node may be overloaded or unreachable (retrying)"
    )]
    Timeout {
        /// The request that timed out.
        what: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// The RPC serves another chain than the configured one.
    #[error(
        "the EVM RPC serves chain ID {actual}, but chain ID {expected} is configured; point --eth-rpc at a node of chain {expected} (or fix the expected chain ID)"
    )]
    WrongChain {
        /// The configured chain ID.
        expected: u64,
        /// The RPC's chain ID.
        actual: u64,
    },
    /// No contract code at the registry address.
    #[error(
        "no contract at {address} on chain {chain_id}; check --registry (or the devnet address file) and that the contracts are deployed"
    )]
    NoContract {
        /// The configured address.
        address: Address,
        /// The chain it was looked up on.
        chain_id: u64,
    },
    /// Unexpected data from the chain.
    #[error("unexpected data from the chain in {what}: {message}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Details.
        message: String,
    },
    /// The registry cache file could not be read or written.
    #[error("registry cache {path}: {message}")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// Details.
        message: String,
    },
    /// No EVM key was provided.
    #[error(
        "no EVM key: set the environment variable PARS_EVM_PRIVATE_KEY or give an encrypted keystore file with --keystore (keys are never taken from the command line)"
    )]
    MissingSigner,
    /// The EVM key could not be loaded.
    #[error("cannot load the EVM key: {0}")]
    Signer(String),
    /// `register` was sent with less than the minimum stake.
    #[error("stake {} is below the registry's minimum of {}; register with --stake {} or more (amounts in the chain's native token)", format_ether(*sent), format_ether(*minimum), format_ether(*minimum))]
    StakeTooLow {
        /// Wei sent.
        sent: U256,
        /// The registry's `minStake`.
        minimum: U256,
    },
    /// The peer ID is registered already (active, exiting or slashed).
    #[error(
        "this node ({node_id}) is already registered; see `parsctl node status` (a node can register again only after it has withdrawn)"
    )]
    AlreadyRegistered {
        /// The node.
        node_id: RegistryNodeId,
    },
    /// The peer ID has never been registered.
    #[error(
        "this node ({node_id}) is not registered; register it first with `parsctl node register --stake <amount>`"
    )]
    NotRegistered {
        /// The node.
        node_id: RegistryNodeId,
    },
    /// The signing account is not the node's operator.
    #[error(
        "the EVM account {caller} is not the operator of node {node_id}; use the key that registered it (see `parsctl node status`)"
    )]
    NotOperator {
        /// The node.
        node_id: RegistryNodeId,
        /// The account that signed.
        caller: Address,
    },
    /// The operation needs an active node.
    #[error(
        "node {node_id} is {status}, not active; only an active node can add stake, update endpoints or request an exit"
    )]
    NotActive {
        /// The node.
        node_id: RegistryNodeId,
        /// Its status.
        status: NodeStatus,
    },
    /// `withdraw` on a node that has not exited.
    #[error(
        "node {node_id} is {status}; request an exit first (`parsctl node exit`), then withdraw after the unbonding period"
    )]
    NotWithdrawable {
        /// The node.
        node_id: RegistryNodeId,
        /// Its status.
        status: NodeStatus,
    },
    /// `withdraw` before the unbonding period ended.
    #[error("node {node_id} is still unbonding until {}; withdraw after that", format_unix_time(*unlock_time))]
    StillBonded {
        /// The node.
        node_id: RegistryNodeId,
        /// Unix time from which the stake can be withdrawn.
        unlock_time: u64,
    },
    /// The registry rejected a registration field.
    #[error("the registry rejected the registration: {0}")]
    InvalidRegistration(InvalidRegistration),
    /// The registry reverted with an error that needs governance or is not expected here.
    #[error("the registry rejected the transaction: {reason}")]
    Rejected {
        /// The decoded custom error.
        reason: String,
    },
    /// The account cannot pay the value plus gas.
    #[error(
        "the operator account {address} cannot pay for this transaction (stake plus gas); fund it and retry"
    )]
    InsufficientFunds {
        /// The paying account.
        address: Address,
    },
    /// The transaction was mined but reverted.
    #[error("transaction {tx_hash} reverted on chain; check `parsctl node status` and retry")]
    Reverted {
        /// The transaction.
        tx_hash: B256,
    },
    /// The transaction was not confirmed in time.
    #[error(
        "transaction {tx_hash} was not confirmed within {waited:?}; it may still be pending: check `parsctl node status` before sending it again"
    )]
    ConfirmationTimeout {
        /// The transaction.
        tx_hash: B256,
        /// How long we waited.
        waited: Duration,
    },
}

impl HasKind for RegistryError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) | Self::NoContract { .. } | Self::MissingSigner | Self::Signer(_) => {
                ErrorKind::Config
            }
            Self::Rpc { .. } | Self::Timeout { .. } => ErrorKind::ChainUnavailable,
            Self::WrongChain { .. } => ErrorKind::WrongChain,
            Self::Decode { .. } => ErrorKind::PeerMalformed,
            Self::Cache { .. } => ErrorKind::Storage,
            Self::StakeTooLow { .. }
            | Self::AlreadyRegistered { .. }
            | Self::NotRegistered { .. }
            | Self::NotOperator { .. }
            | Self::NotActive { .. }
            | Self::NotWithdrawable { .. }
            | Self::StillBonded { .. }
            | Self::InvalidRegistration(_)
            | Self::Rejected { .. }
            | Self::Reverted { .. } => ErrorKind::Rejected,
            Self::InsufficientFunds { .. } => ErrorKind::InsufficientFunds,
            Self::ConfirmationTimeout { .. } => ErrorKind::Timeout,
        }
    }
}

impl RegistryError {
    /// Whether retrying the same request later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind(), ErrorKind::ChainUnavailable)
    }

    /// Maps a transport error; URLs in its text are reduced to scheme, host and port. An error
    /// answer of the node (rate limits, "header not found" behind a load balancer, …) counts as
    /// unavailability and is retried; a revert that is not one of the registry's errors becomes
    /// [`RegistryError::Rejected`].
    pub(crate) fn from_transport(what: &'static str, e: &RpcError<TransportErrorKind>) -> Self {
        if let RpcError::ErrorResp(payload) = e {
            let message = redact_urls(&payload.message);
            if payload.code == 3 || message.to_ascii_lowercase().contains("revert") {
                return Self::Rejected {
                    reason: format!("{what}: {message}"),
                };
            }
            return Self::Rpc {
                what,
                message: format!("the node answered error {}: {message}", payload.code),
            };
        }
        Self::Rpc {
            what,
            message: redact_urls(&e.to_string()),
        }
    }
}

/// Runs `fut` with a timeout, mapping the elapsed case to [`RegistryError::Timeout`].
pub(crate) async fn within<T>(
    what: &'static str,
    after: Duration,
    fut: impl Future<Output = Result<T, RegistryError>>,
) -> Result<T, RegistryError> {
    tokio::time::timeout(after, fut)
        .await
        .unwrap_or(Err(RegistryError::Timeout { what, after }))
}

/// One RPC request with a timeout, its transport error mapped by [`RegistryError::from_transport`].
pub(crate) async fn rpc_call<T>(
    what: &'static str,
    after: Duration,
    request: impl IntoFuture<Output = TransportResult<T>>,
) -> Result<T, RegistryError> {
    within(what, after, async {
        request
            .await
            .map_err(|e| RegistryError::from_transport(what, &e))
    })
    .await
}

/// Replaces `scheme://host:port/path?query` by `scheme://host:port/…` in free text, so API keys
/// that providers put in URL paths or queries do not reach logs.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (before, after) = rest.split_at(pos + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || c == ')' || c == '"' || c == '\'')
            .unwrap_or(after.len());
        let url = &after[..end];
        let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
        let authority = &url[..authority_end];
        // Drop user:password@ as well.
        let host = authority.rsplit('@').next().unwrap_or(authority);
        out.push_str(host);
        if authority_end < url.len() {
            out.push_str("/…");
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_urls(
                "error sending request for url (https://user:pw@rpc.example:8545/v3/SECRET?x=1)"
            ),
            "error sending request for url (https://rpc.example:8545/…)"
        );
        assert_eq!(
            redact_urls("http://127.0.0.1:8545 down"),
            "http://127.0.0.1:8545 down"
        );
        assert_eq!(redact_urls("no url"), "no url");
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = RegistryError::StakeTooLow {
            sent: U256::from(5u64) * U256::from(10u64).pow(U256::from(17u64)),
            minimum: U256::from(10u64).pow(U256::from(18u64)),
        };
        assert_eq!(
            e.to_string(),
            "stake 0.5 is below the registry's minimum of 1; register with --stake 1 or more (amounts in the chain's native token)"
        );
        assert_eq!(e.kind(), ErrorKind::Rejected);
        let e = RegistryError::WrongChain {
            expected: 31337,
            actual: 1,
        };
        assert!(e.to_string().contains("point --eth-rpc"));
        assert!(!e.is_transient());
    }

    /// `parsctl node` exits as docs/operator-guide.md ("Exit codes and errors") says: 3 the EVM
    /// RPC is unreachable, 4 bad input or configuration (wrong chain, no contract), 5 a
    /// transaction not confirmed in time, 6 refused by the registry or the chain (cannot pay).
    #[test]
    fn exit_codes_are_the_operator_guides() {
        let node_id = RegistryNodeId([1; 32]);
        let cases = [
            (
                RegistryError::Rpc {
                    what: "x",
                    message: "down".into(),
                },
                3,
            ),
            (
                RegistryError::Timeout {
                    what: "x",
                    after: Duration::from_secs(1),
                },
                3,
            ),
            (RegistryError::Config("bad".into()), 4),
            (RegistryError::MissingSigner, 4),
            (RegistryError::Signer("wrong password".into()), 4),
            (
                RegistryError::WrongChain {
                    expected: 1,
                    actual: 2,
                },
                4,
            ),
            (
                RegistryError::NoContract {
                    address: Address::ZERO,
                    chain_id: 1,
                },
                4,
            ),
            (
                RegistryError::ConfirmationTimeout {
                    tx_hash: B256::ZERO,
                    waited: Duration::from_secs(1),
                },
                5,
            ),
            (
                RegistryError::StakeTooLow {
                    sent: U256::ZERO,
                    minimum: U256::from(1u8),
                },
                6,
            ),
            (RegistryError::AlreadyRegistered { node_id }, 6),
            (RegistryError::NotRegistered { node_id }, 6),
            (
                RegistryError::StillBonded {
                    node_id,
                    unlock_time: 0,
                },
                6,
            ),
            (
                RegistryError::InsufficientFunds {
                    address: Address::ZERO,
                },
                6,
            ),
            (
                RegistryError::Reverted {
                    tx_hash: B256::ZERO,
                },
                6,
            ),
            (
                RegistryError::Cache {
                    path: PathBuf::from("x"),
                    message: "disk full".into(),
                },
                1,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(e.kind().exit_code(), code, "{e}");
        }
    }
}
