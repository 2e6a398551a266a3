//! The workspace's one error kind (arti's `tor-error` `HasKind` pattern).
//!
//! What it is: [`ErrorKind`], a coarse, stable classification of *what went wrong and whose move
//! it is*, and [`HasKind`], the trait every crate's error enum implements to map onto it. The
//! JSON-RPC error code ([`ErrorKind::rpc_code`]) and the `parsctl` exit code
//! ([`ErrorKind::exit_code`]) are derived from the kind here and nowhere else, so a daemon error
//! and the CLI's exit status can never disagree.
//!
//! What it is not: an error type. Each crate keeps its own `thiserror` enum with messages that
//! say what to do; this crate only classifies them. It has no dependencies and does no I/O.

use std::fmt;

/// What went wrong, coarsely, and so what the caller should do about it.
///
/// Kinds are grouped by whose move it is: the caller's (fix the input or configuration), a
/// peer's (something it sent did not verify), the environment's (the network or chain is
/// unavailable: retry), or ours (local storage or a bug).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    // --- The caller's input or configuration: fix it and try again. ---
    /// Input from the user or an API caller is malformed or out of range.
    BadInput,
    /// A configuration value (flag, file, address, key source) is unusable.
    Config,
    /// No identity exists yet: create or restore one.
    NoIdentity,
    /// An identity already exists and is never overwritten silently.
    IdentityExists,
    /// No such session.
    UnknownSession,
    /// No such message.
    UnknownMessage,
    /// The session is closed.
    SessionClosed,
    /// The request carried no or a wrong credential (RPC cookie).
    Unauthorized,

    // --- What a peer sent: it does not verify. Nothing local changed. ---
    /// Bytes from a peer (or a file) that do not parse.
    PeerMalformed,
    /// A signature, MAC or key binding that does not verify.
    Verification,
    /// Something that does not decrypt (tampered, or not for us).
    Decryption,
    /// A replay or duplicate of something already processed.
    Replay,
    /// Something outside its validity period (a stale prekey, an expired deadline).
    Expired,

    // --- The environment: transient, retried where the operation is queued. ---
    /// What was looked up does not exist in the network (an unpublished identity bundle).
    NotFound,
    /// Peers are unreachable, too few answered, or a path failed.
    NetworkUnavailable,
    /// A peer or the local node refused for load or quota; retry later (maybe elsewhere).
    Busy,
    /// A wait ended before the answer came.
    Timeout,
    /// The EVM chain's RPC cannot be reached or did not answer.
    ChainUnavailable,
    /// The EVM RPC serves another chain than the configured one.
    WrongChain,
    /// The chain, the registry or the bridge refused the operation (a revert, too little stake,
    /// not the operator, an action the bridge will not relay).
    Rejected,
    /// The account cannot pay for the transaction.
    InsufficientFunds,
    /// The daemon (sessiond) could not be reached by a client.
    DaemonUnreachable,

    // --- Ours. ---
    /// Local storage failed (disk full, corrupt database, permissions).
    Storage,
    /// The component is shutting down.
    Shutdown,
    /// A bug or an unexpected state; see the log.
    Internal,
}

/// JSON-RPC application error codes (JSON-RPC reserves -32768..-32000; these use -31999..).
/// The values are part of the API and never change meaning; `pars-rpc` names them.
pub mod rpc_code {
    /// Input was malformed.
    pub const INVALID_INPUT: i32 = -31001;
    /// No identity yet.
    pub const NO_IDENTITY: i32 = -31002;
    /// An identity already exists.
    pub const IDENTITY_EXISTS: i32 = -31003;
    /// No such session.
    pub const UNKNOWN_SESSION: i32 = -31004;
    /// No such message.
    pub const UNKNOWN_MESSAGE: i32 = -31005;
    /// The recipient's identity bundle was not found.
    pub const RECIPIENT_NOT_FOUND: i32 = -31006;
    /// The network is unreachable or too few nodes answered.
    pub const NETWORK: i32 = -31007;
    /// Local storage failed.
    pub const STORAGE: i32 = -31008;
    /// The session is closed.
    pub const SESSION_CLOSED: i32 = -31009;
    /// No or a wrong cookie.
    pub const UNAUTHORIZED: i32 = -31010;
    /// A peer sent something that failed verification.
    pub const VERIFICATION: i32 = -31011;
    /// A wait ended before the answer came.
    pub const TIMEOUT: i32 = -31012;
    /// The chain, the registry or the bridge refused.
    pub const REFUSED: i32 = -31013;
    /// Something unexpected inside the daemon.
    pub const INTERNAL: i32 = -31099;
}

/// `parsctl` exit codes (documented in docs/user-guide.md, "Exit codes").
pub mod exit_code {
    /// Success.
    pub const SUCCESS: u8 = 0;
    /// Any other error.
    pub const OTHER: u8 = 1;
    /// Usage error (unknown command or flag); clap's own code.
    pub const USAGE: u8 = 2;
    /// The daemon, or the EVM RPC for `parsctl node`, is not reachable.
    pub const UNREACHABLE: u8 = 3;
    /// Bad input or configuration, including what the daemon rejects.
    pub const BAD_INPUT: u8 = 4;
    /// Network failure or a wait that ran out; queued work is retried.
    pub const NETWORK: u8 = 5;
    /// Refused: a wrong cookie, or the chain/registry/bridge said no.
    pub const REFUSED: u8 = 6;
}

impl ErrorKind {
    /// Every kind, for tables and tests.
    pub const ALL: [ErrorKind; 25] = [
        Self::BadInput,
        Self::Config,
        Self::NoIdentity,
        Self::IdentityExists,
        Self::UnknownSession,
        Self::UnknownMessage,
        Self::SessionClosed,
        Self::Unauthorized,
        Self::PeerMalformed,
        Self::Verification,
        Self::Decryption,
        Self::Replay,
        Self::Expired,
        Self::NotFound,
        Self::NetworkUnavailable,
        Self::Busy,
        Self::Timeout,
        Self::ChainUnavailable,
        Self::WrongChain,
        Self::Rejected,
        Self::InsufficientFunds,
        Self::DaemonUnreachable,
        Self::Storage,
        Self::Shutdown,
        Self::Internal,
    ];

    /// Whether retrying later, unchanged, may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::NetworkUnavailable
                | Self::Busy
                | Self::Timeout
                | Self::ChainUnavailable
                | Self::DaemonUnreachable
                | Self::NotFound
        )
    }

    /// Whether the caller's input or configuration is at fault.
    pub fn is_caller_fault(self) -> bool {
        matches!(
            self,
            Self::BadInput
                | Self::Config
                | Self::NoIdentity
                | Self::IdentityExists
                | Self::UnknownSession
                | Self::UnknownMessage
                | Self::SessionClosed
                | Self::Unauthorized
                | Self::WrongChain
        )
    }

    /// The JSON-RPC error code the daemon answers with.
    pub fn rpc_code(self) -> i32 {
        use rpc_code::*;
        match self {
            Self::BadInput | Self::Config | Self::WrongChain => INVALID_INPUT,
            Self::NoIdentity => NO_IDENTITY,
            Self::IdentityExists => IDENTITY_EXISTS,
            Self::UnknownSession => UNKNOWN_SESSION,
            Self::UnknownMessage => UNKNOWN_MESSAGE,
            Self::NotFound => RECIPIENT_NOT_FOUND,
            Self::NetworkUnavailable | Self::Busy | Self::ChainUnavailable => NETWORK,
            Self::Storage => STORAGE,
            Self::SessionClosed => SESSION_CLOSED,
            Self::Unauthorized => UNAUTHORIZED,
            Self::PeerMalformed
            | Self::Verification
            | Self::Decryption
            | Self::Replay
            | Self::Expired => VERIFICATION,
            Self::Timeout => TIMEOUT,
            Self::Rejected | Self::InsufficientFunds => REFUSED,
            Self::DaemonUnreachable | Self::Shutdown | Self::Internal => INTERNAL,
        }
    }

    /// The kind a JSON-RPC error code stands for (the representative kind of its class), or
    /// `None` for a code that is not one of ours.
    pub fn from_rpc_code(code: i32) -> Option<Self> {
        use rpc_code::*;
        Some(match code {
            INVALID_INPUT => Self::BadInput,
            NO_IDENTITY => Self::NoIdentity,
            IDENTITY_EXISTS => Self::IdentityExists,
            UNKNOWN_SESSION => Self::UnknownSession,
            UNKNOWN_MESSAGE => Self::UnknownMessage,
            RECIPIENT_NOT_FOUND => Self::NotFound,
            NETWORK => Self::NetworkUnavailable,
            STORAGE => Self::Storage,
            SESSION_CLOSED => Self::SessionClosed,
            UNAUTHORIZED => Self::Unauthorized,
            VERIFICATION => Self::Verification,
            TIMEOUT => Self::Timeout,
            REFUSED => Self::Rejected,
            INTERNAL => Self::Internal,
            _ => return None,
        })
    }

    /// The `parsctl` exit code for a failure of this kind.
    pub fn exit_code(self) -> u8 {
        use exit_code::*;
        match self {
            Self::BadInput
            | Self::Config
            | Self::NoIdentity
            | Self::IdentityExists
            | Self::UnknownSession
            | Self::UnknownMessage
            | Self::SessionClosed
            | Self::WrongChain
            | Self::PeerMalformed
            | Self::Verification
            | Self::Decryption
            | Self::Replay => BAD_INPUT,
            Self::DaemonUnreachable | Self::ChainUnavailable => UNREACHABLE,
            Self::NotFound | Self::NetworkUnavailable | Self::Busy | Self::Timeout => NETWORK,
            Self::Unauthorized | Self::Rejected | Self::InsufficientFunds | Self::Expired => {
                REFUSED
            }
            Self::Storage | Self::Shutdown | Self::Internal => OTHER,
        }
    }

    /// The kind named `name` (what [`ErrorKind::as_str`] gives), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// A stable lower-case name (`"bad-input"`, `"network-unavailable"`, …), used in JSON error
    /// objects printed by `parsctl --json` and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadInput => "bad-input",
            Self::Config => "config",
            Self::NoIdentity => "no-identity",
            Self::IdentityExists => "identity-exists",
            Self::UnknownSession => "unknown-session",
            Self::UnknownMessage => "unknown-message",
            Self::SessionClosed => "session-closed",
            Self::Unauthorized => "unauthorized",
            Self::PeerMalformed => "peer-malformed",
            Self::Verification => "verification",
            Self::Decryption => "decryption",
            Self::Replay => "replay",
            Self::Expired => "expired",
            Self::NotFound => "not-found",
            Self::NetworkUnavailable => "network-unavailable",
            Self::Busy => "busy",
            Self::Timeout => "timeout",
            Self::ChainUnavailable => "chain-unavailable",
            Self::WrongChain => "wrong-chain",
            Self::Rejected => "rejected",
            Self::InsufficientFunds => "insufficient-funds",
            Self::DaemonUnreachable => "daemon-unreachable",
            Self::Storage => "storage",
            Self::Shutdown => "shutdown",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that knows its [`ErrorKind`]. Every crate's error enum implements it.
pub trait HasKind {
    /// The kind of this error.
    fn kind(&self) -> ErrorKind;
}

impl HasKind for ErrorKind {
    fn kind(&self) -> ErrorKind {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn all_lists_every_kind_once() {
        let names: HashSet<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(ErrorKind::from_name("no-such-kind"), None);
    }

    #[test]
    fn rpc_codes_round_trip_to_the_same_code() {
        for kind in ErrorKind::ALL {
            let code = kind.rpc_code();
            let back = ErrorKind::from_rpc_code(code);
            assert_eq!(back.map(ErrorKind::rpc_code), Some(code), "{kind}");
            // The representative kind of a code exits the same way as every kind of that code,
            // so the CLI's exit status does not depend on which side classified the error,
            // except for the kinds that only exist on the client side.
            if !matches!(
                kind,
                ErrorKind::DaemonUnreachable
                    | ErrorKind::Shutdown
                    | ErrorKind::ChainUnavailable
                    | ErrorKind::Expired
            ) {
                assert_eq!(
                    back.map(ErrorKind::exit_code),
                    Some(kind.exit_code()),
                    "{kind}"
                );
            }
        }
        assert_eq!(ErrorKind::from_rpc_code(-32600), None);
    }

    #[test]
    fn exit_codes_are_documented_ones() {
        for kind in ErrorKind::ALL {
            assert!(
                (1..=6).contains(&kind.exit_code()) && kind.exit_code() != 2,
                "{kind}"
            );
        }
    }

    #[test]
    fn transient_kinds_are_not_caller_faults() {
        for kind in ErrorKind::ALL {
            assert!(!(kind.is_transient() && kind.is_caller_fault()), "{kind}");
        }
    }
}
