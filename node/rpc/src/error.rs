//! Stable error codes. A client decides what to do from the code; the message says it in words.

use jsonrpsee::types::ErrorObjectOwned;

/// Application error codes (JSON-RPC reserves -32768..-32000 for itself; these use -31999..).
/// The numeric values are part of the API and never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(i32)]
pub enum ErrorCode {
    /// Input was malformed (a bad Session ID, empty message, …).
    InvalidInput = -31001,
    /// The daemon has no identity yet: create or restore one.
    NoIdentity = -31002,
    /// An identity already exists; it is never overwritten silently.
    IdentityExists = -31003,
    /// No such session.
    UnknownSession = -31004,
    /// No such message.
    UnknownMessage = -31005,
    /// The recipient's identity bundle could not be found in the network.
    RecipientNotFound = -31006,
    /// The network is unreachable or too few service nodes answered; retried automatically
    /// where the operation is queued.
    Network = -31007,
    /// Local storage failed.
    Storage = -31008,
    /// The session is closed.
    SessionClosed = -31009,
    /// The request carried no or a wrong cookie token.
    Unauthorized = -31010,
    /// A peer sent something that failed verification.
    Verification = -31011,
    /// A wait ended before the answer came (`triggerAction`: no receipt from the bridge yet;
    /// the action stays queued or in flight and its receipt is recorded when it arrives).
    Timeout = -31012,
    /// Something unexpected inside the daemon; see its log.
    Internal = -31099,
}

impl ErrorCode {
    /// The code as sent on the wire.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The code for a wire value, if it is one of ours.
    pub fn from_code(code: i32) -> Option<Self> {
        use ErrorCode::*;
        [
            InvalidInput,
            NoIdentity,
            IdentityExists,
            UnknownSession,
            UnknownMessage,
            RecipientNotFound,
            Network,
            Storage,
            SessionClosed,
            Unauthorized,
            Verification,
            Timeout,
            Internal,
        ]
        .into_iter()
        .find(|c| c.code() == code)
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
    /// A new error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
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
        for code in [
            ErrorCode::InvalidInput,
            ErrorCode::Unauthorized,
            ErrorCode::Internal,
        ] {
            assert_eq!(ErrorCode::from_code(code.code()), Some(code));
            assert!(!(-32768..=-32000).contains(&code.code()));
        }
        assert_eq!(ErrorCode::from_code(1), None);
        let obj: ErrorObjectOwned = RpcError::new(ErrorCode::NoIdentity, "create one").into();
        assert_eq!(obj.code(), -31002);
        assert_eq!(obj.message(), "create one");
    }
}
