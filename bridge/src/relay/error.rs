//! The relayer's error type and its [`ErrorKind`]s.

use pars_error::{ErrorKind, HasKind};

use super::chain::ChainError;

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

impl HasKind for RelayError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) => ErrorKind::Config,
            Self::Storage(_) => ErrorKind::Storage,
            Self::Unavailable(_) => ErrorKind::ChainUnavailable,
            Self::Protocol(_) => ErrorKind::PeerMalformed,
        }
    }
}
