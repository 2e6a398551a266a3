//! Stable error codes. A client decides what to do from the code; the message says it in words.
//!
//! The codes are not chosen here: each is the [`pars_error::ErrorKind`] class's
//! [`rpc_code`](ErrorKind::rpc_code) (the one table, in `pars-error`). The daemon builds every
//! API error from a kind with [`RpcError::from_kind`]; a client reads the kind back with
//! [`ErrorCode::kind`].

use jsonrpsee::types::ErrorObjectOwned;
use pars_error::{ErrorKind, HasKind, rpc_code};

/// Application error codes (JSON-RPC reserves -32768..-32000 for itself; these use -31999..).
/// The numeric values are part of the API and never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(i32)]
pub enum ErrorCode {
    /// Input was malformed (a bad Session ID, empty message, …).
    InvalidInput = rpc_code::INVALID_INPUT,
    /// The daemon has no identity yet: create or restore one.
    NoIdentity = rpc_code::NO_IDENTITY,
    /// An identity already exists; it is never overwritten silently.
    IdentityExists = rpc_code::IDENTITY_EXISTS,
    /// No such session.
    UnknownSession = rpc_code::UNKNOWN_SESSION,
    /// No such message.
    UnknownMessage = rpc_code::UNKNOWN_MESSAGE,
    /// The recipient's identity bundle could not be found in the network.
    RecipientNotFound = rpc_code::RECIPIENT_NOT_FOUND,
    /// The network is unreachable or too few service nodes answered; retried automatically
    /// where the operation is queued.
    Network = rpc_code::NETWORK,
    /// Local storage failed.
    Storage = rpc_code::STORAGE,
    /// The session is closed.
    SessionClosed = rpc_code::SESSION_CLOSED,
    /// The request carried no or a wrong cookie token.
    Unauthorized = rpc_code::UNAUTHORIZED,
    /// A peer sent something that failed verification.
    Verification = rpc_code::VERIFICATION,
    /// A wait ended before the answer came (`triggerAction`: no receipt from the bridge yet;
    /// the action stays queued or in flight and its receipt is recorded when it arrives).
    Timeout = rpc_code::TIMEOUT,
    /// The chain, the registry or the bridge refused the operation.
    Refused = rpc_code::REFUSED,
    /// Something unexpected inside the daemon; see its log.
    Internal = rpc_code::INTERNAL,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 14] = [
        Self::InvalidInput,
        Self::NoIdentity,
        Self::IdentityExists,
        Self::UnknownSession,
        Self::UnknownMessage,
        Self::RecipientNotFound,
        Self::Network,
        Self::Storage,
        Self::SessionClosed,
        Self::Unauthorized,
        Self::Verification,
        Self::Timeout,
        Self::Refused,
        Self::Internal,
    ];

    /// The code as sent on the wire.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The code for a wire value, if it is one of ours.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The kind this code stands for (the representative kind of its class).
    pub fn kind(self) -> ErrorKind {
        ErrorKind::from_rpc_code(self.code()).unwrap_or(ErrorKind::Internal)
    }
}

impl From<ErrorKind> for ErrorCode {
    fn from(kind: ErrorKind) -> Self {
        Self::from_code(kind.rpc_code()).unwrap_or(Self::Internal)
    }
}

/// An API error: a stable code and a message that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RpcError {
    /// The code.
    pub code: ErrorCode,
    /// What went wrong and what to do about it.
    pub message: String,
}

impl RpcError {
    /// An error of `kind`: the one way the daemon builds an API error (its code comes from the
    /// kind).
    pub fn from_kind(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            code: kind.into(),
            message: message.into(),
        }
    }

    /// An error with an explicit code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An error carrying `e`'s kind and message.
    pub fn from_error<E: HasKind + std::fmt::Display>(e: &E) -> Self {
        Self::from_kind(e.kind(), e.to_string())
    }
}

impl HasKind for RpcError {
    fn kind(&self) -> ErrorKind {
        self.code.kind()
    }
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        ErrorObjectOwned::owned::<()>(e.code.code(), e.message, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_outside_the_reserved_range() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(code.code()), Some(code));
            assert!(!(-32768..=-32000).contains(&code.code()));
            assert_eq!(ErrorCode::from(code.kind()), code, "{code:?}");
        }
        assert_eq!(ErrorCode::from_code(1), None);
        let obj: ErrorObjectOwned = RpcError::new(ErrorCode::NoIdentity, "create one").into();
        assert_eq!(obj.code(), -31002);
        assert_eq!(obj.message(), "create one");
    }

    #[test]
    fn every_kind_has_a_code_and_the_values_never_change() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorCode::from(kind).code(), kind.rpc_code(), "{kind}");
        }
        let values: Vec<i32> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(
            values,
            [
                -31001, -31002, -31003, -31004, -31005, -31006, -31007, -31008, -31009, -31010,
                -31011, -31012, -31013, -31099
            ]
        );
        let e = RpcError::from_kind(ErrorKind::Busy, "try later");
        assert_eq!(e.code, ErrorCode::Network);
        assert_eq!(e.kind(), ErrorKind::NetworkUnavailable);
        assert_eq!(
            RpcError::from_kind(ErrorKind::WrongChain, "x").code,
            ErrorCode::InvalidInput
        );
    }
}
