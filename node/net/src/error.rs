//! [`NetError`]: what went wrong in the network layer, with its causes kept as sources, its
//! [`ErrorKind`](pars_error::ErrorKind) and a [`Retry`] classification, so that callers never
//! look inside wire error codes.

use pars_error::{ErrorKind, HasKind};
use pars_wire::swarm::ErrorCode;
use std::time::Duration;

/// A boxed cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in the network layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// File-system trouble (data dir, key file).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The node key could not be loaded or used.
    #[error("node identity: {0}")]
    Identity(String),
    /// Signing with the node's or the owner's key failed.
    #[error("cannot sign {what}: {source}")]
    Sign {
        /// What was being signed.
        what: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// libp2p could not be set up (transport, listen address).
    #[error("libp2p setup failed: {0}")]
    Setup(String),
    /// libp2p could not be set up, with the cause.
    #[error("libp2p setup failed ({what}): {source}")]
    SetupFailed {
        /// The step that failed.
        what: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The mailbox store failed.
    #[error(transparent)]
    Store(#[from] pars_store::StoreError),
    /// A frame did not decode.
    #[error("malformed frame: {0}")]
    Wire(#[from] pars_wire::WireError),
    /// The request could not be delivered or answered (peer unreachable, timeout, reset).
    #[error("request to {peer} failed: {reason}")]
    Request {
        /// The peer.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The remote node refused the request.
    #[error("node refused the request ({code:?}, {value}): {detail}")]
    Refused {
        /// Its code.
        code: ErrorCode,
        /// Its code-specific number.
        value: u32,
        /// Its explanation.
        detail: String,
    },
    /// No member of the swarm could be reached.
    #[error("no swarm member answered: {0}")]
    NoSwarm(String),
    /// A node record failed verification.
    #[error("invalid node record: {0}")]
    BadRecord(String),
    /// The record was not found in the DHT.
    #[error("node record not found")]
    NotFound,
    /// The node is shutting down.
    #[error("the network task has stopped")]
    Stopped,
    /// An answer of an unexpected kind.
    #[error("unexpected response: {0}")]
    Unexpected(String),
    /// Shared state was left inconsistent by a panicked task (a bug).
    #[error("internal state poisoned: {0}")]
    Poisoned(&'static str),
}

/// Whether, and when, an operation that failed with a [`NetError`] is worth trying again. This is
/// the one classification of network failures: callers (the daemon's workers and scheduler)
/// map it to what they do and never look inside wire error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// No retry changes the outcome: the request itself is unacceptable (too large, invalid
    /// content, a TTL above the maximum).
    Permanent,
    /// The node does not serve this request: it could not decode it (an older or different
    /// build), the namespace forbids the operation, or it answered with a code this build does
    /// not know. Asking it again soon gives the same answer; ask again only much later (the
    /// daemon's scheduler stops long-polling such a node for a long while).
    Unsupported,
    /// Transient, at a node or on the way to it (an unreachable member, a failed path or
    /// timeout, a node error, a member that does not hold or accept this mailbox, a stale or
    /// replayed signature): retry now, on another path or member if there is one, with the
    /// caller's own backoff.
    Now,
    /// The node asked for a pause (busy, rate limit): retry after at least this long.
    After(Duration),
    /// The failure is here, not at a node: the network task stopped, a file, the store or
    /// the node key failed, libp2p could not be set up, shared state was poisoned. Another
    /// path or member does not change it; whether and when to try again is the caller's. The
    /// daemon treats it as transient (it keeps running and tries again on its own schedule),
    /// a one-shot tool as fatal.
    Local,
}
impl NetError {
    /// An I/O error on `path`.
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_string(),
            source,
        }
    }

    /// A setup step that failed with `source`.
    pub fn setup(what: &'static str, source: impl Into<BoxError>) -> Self {
        Self::SetupFailed {
            what,
            source: source.into(),
        }
    }

    /// A signature over `what` that could not be made.
    pub fn sign(what: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Sign {
            what,
            source: source.into(),
        }
    }

    /// The error for an answer that is not the success expected: the node's refusal, or an
    /// unexpected kind of answer.
    pub fn from_answer(resp: pars_wire::swarm::SwarmResponse) -> Self {
        match resp {
            pars_wire::swarm::SwarmResponse::Error {
                code,
                value,
                detail,
            } => Self::Refused {
                code,
                value,
                detail,
            },
            other => Self::Unexpected(format!("{other:?}")),
        }
    }

    /// The node's refusal code, if a node refused.
    pub fn refusal(&self) -> Option<ErrorCode> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether and when to retry (see [`Retry`]).
    pub fn retry(&self) -> Retry {
        match self {
            Self::Refused { code, value, .. } => match code {
                ErrorCode::RateLimited | ErrorCode::Busy => {
                    Retry::After(Duration::from_millis(u64::from(*value)))
                }
                // Another member, or a fresh signature, may succeed.
                ErrorCode::Full
                | ErrorCode::InsufficientCopies
                | ErrorCode::Internal
                | ErrorCode::Replay
                | ErrorCode::Unauthorized
                | ErrorCode::NotMember => Retry::Now,
                ErrorCode::TooLarge | ErrorCode::BadTtl | ErrorCode::InvalidContent => {
                    Retry::Permanent
                }
                ErrorCode::Malformed | ErrorCode::Forbidden | ErrorCode::Other(_) => {
                    Retry::Unsupported
                }
                // Codes added to the wire crate after this match was written.
                _ => Retry::Unsupported,
            },
            Self::Request { .. }
            | Self::NoSwarm(_)
            | Self::NotFound
            | Self::Wire(_)
            | Self::Unexpected(_)
            | Self::BadRecord(_) => Retry::Now,
            Self::Io { .. }
            | Self::Identity(_)
            | Self::Sign { .. }
            | Self::Setup(_)
            | Self::SetupFailed { .. }
            | Self::Store(_)
            | Self::Stopped
            | Self::Poisoned(_) => Retry::Local,
        }
    }

    /// Whether no retry can change the outcome (the request itself is unacceptable).
    pub fn is_permanent(&self) -> bool {
        self.retry() == Retry::Permanent
    }
}

impl HasKind for NetError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Io { .. } | Self::Store(_) => ErrorKind::Storage,
            Self::Identity(_) | Self::Setup(_) | Self::SetupFailed { .. } => ErrorKind::Config,
            Self::Sign { .. } | Self::Poisoned(_) => ErrorKind::Internal,
            Self::Wire(_) | Self::Unexpected(_) => ErrorKind::PeerMalformed,
            Self::Request { .. } | Self::NoSwarm(_) => ErrorKind::NetworkUnavailable,
            Self::Refused { code, .. } => match code {
                ErrorCode::RateLimited | ErrorCode::Busy | ErrorCode::Full => ErrorKind::Busy,
                ErrorCode::InsufficientCopies | ErrorCode::Internal => {
                    ErrorKind::NetworkUnavailable
                }
                ErrorCode::Malformed
                | ErrorCode::TooLarge
                | ErrorCode::BadTtl
                | ErrorCode::InvalidContent => ErrorKind::BadInput,
                ErrorCode::Replay => ErrorKind::Replay,
                ErrorCode::Unauthorized | ErrorCode::Forbidden | ErrorCode::NotMember => {
                    ErrorKind::Rejected
                }
                _ => ErrorKind::Rejected,
            },
            Self::BadRecord(_) => ErrorKind::Verification,
            Self::NotFound => ErrorKind::NotFound,
            Self::Stopped => ErrorKind::Shutdown,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::error::Error as _;

    fn refused(code: ErrorCode, value: u32) -> NetError {
        NetError::Refused {
            code,
            value,
            detail: String::new(),
        }
    }

    #[test]
    fn refusals_classify_themselves() {
        assert_eq!(
            refused(ErrorCode::Busy, 1000).retry(),
            Retry::After(Duration::from_secs(1))
        );
        assert_eq!(
            refused(ErrorCode::RateLimited, 250).retry(),
            Retry::After(Duration::from_millis(250))
        );
        for code in [
            ErrorCode::TooLarge,
            ErrorCode::InvalidContent,
            ErrorCode::BadTtl,
        ] {
            assert!(refused(code, 0).is_permanent(), "{code:?}");
            assert_eq!(refused(code, 0).kind(), ErrorKind::BadInput);
        }
        assert_eq!(refused(ErrorCode::Internal, 0).retry(), Retry::Now);
        assert_eq!(refused(ErrorCode::Busy, 1).kind(), ErrorKind::Busy);
        assert!(refused(ErrorCode::Busy, 1).kind().is_transient());
        let timeout = NetError::Request {
            peer: "p".into(),
            reason: "timeout".into(),
        };
        assert_eq!(timeout.retry(), Retry::Now);
        assert!(timeout.kind().is_transient());
        assert_eq!(NetError::Stopped.retry(), Retry::Local);
        assert!(!NetError::Stopped.is_permanent());
    }

    #[test]
    fn every_refusal_code_has_its_class() {
        let table = [
            (ErrorCode::TooLarge, Retry::Permanent),
            (ErrorCode::InvalidContent, Retry::Permanent),
            (ErrorCode::BadTtl, Retry::Permanent),
            (ErrorCode::Malformed, Retry::Unsupported),
            (ErrorCode::Forbidden, Retry::Unsupported),
            (ErrorCode::Other(999), Retry::Unsupported),
            (ErrorCode::NotMember, Retry::Now),
            (ErrorCode::Unauthorized, Retry::Now),
            (ErrorCode::Full, Retry::Now),
            (ErrorCode::InsufficientCopies, Retry::Now),
            (ErrorCode::Internal, Retry::Now),
            (ErrorCode::Replay, Retry::Now),
            (ErrorCode::Busy, Retry::After(Duration::from_millis(7))),
            (
                ErrorCode::RateLimited,
                Retry::After(Duration::from_millis(7)),
            ),
        ];
        for (code, want) in table {
            assert_eq!(refused(code, 7).retry(), want, "{code:?}");
            assert_eq!(refused(code, 7).is_permanent(), want == Retry::Permanent);
        }
        // A code this build does not know, as it comes off the wire.
        assert_eq!(
            refused(ErrorCode::from_u16(60_000), 0).retry(),
            Retry::Unsupported
        );
    }

    #[test]
    fn failures_on_the_way_are_retried_now_and_local_ones_are_local() {
        let now = [
            NetError::Request {
                peer: "p".into(),
                reason: "timeout".into(),
            },
            NetError::NoSwarm("cannot build a path".into()),
            NetError::NotFound,
            NetError::Unexpected("Done".into()),
            NetError::BadRecord("bad signature".into()),
            NetError::Wire(pars_wire::WireError::TrailingBytes {
                what: "response",
                count: 1,
            }),
        ];
        for e in now {
            assert_eq!(e.retry(), Retry::Now, "{e}");
        }
        let local = [
            NetError::io("/x", std::io::Error::other("disk full")),
            NetError::Identity("not Ed25519".into()),
            NetError::sign("the record", std::io::Error::other("x")),
            NetError::Setup("no transport".into()),
            NetError::setup("listen", std::io::Error::other("in use")),
            NetError::Stopped,
            NetError::Poisoned("state"),
        ];
        for e in local {
            assert_eq!(e.retry(), Retry::Local, "{e}");
        }
    }

    #[test]
    fn causes_are_kept_as_sources() {
        let e = NetError::io(
            "/x/node_key",
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        );
        assert!(e.source().is_some());
        assert_eq!(e.kind(), ErrorKind::Storage);
        let e = NetError::setup("listen", std::io::Error::other("in use"));
        assert_eq!(e.source().map(|s| s.to_string()).as_deref(), Some("in use"));
    }
}
