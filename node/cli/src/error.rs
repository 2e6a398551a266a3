//! parsctl's error: every failure carries a [`pars_error::ErrorKind`], from which the exit code
//! comes ([`ErrorKind::exit_code`], the one table); what to try next depends on the kind and on
//! what the command was doing. Reported as text on standard error, or with `--json` as one JSON
//! error object on standard output.

use jsonrpsee::core::client::Error as ClientError;
use pars_error::{ErrorKind, HasKind};
use serde::Serialize;

/// A failure of a command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The daemon could not be reached.
    #[error("cannot reach sessiond at {addr}: {reason}")]
    Unreachable {
        /// Where we tried.
        addr: String,
        /// Why it failed.
        reason: String,
    },
    /// The input was not valid (found before contacting anyone).
    #[error("{0}")]
    BadInput(String),
    /// Something unexpected.
    #[error("{0}")]
    Other(String),
    /// A failure of a known kind: the daemon's (from its error code), the chain's or the
    /// bridge's. The message says what went wrong and what to do.
    #[error("{message}")]
    Failed {
        /// Its kind.
        kind: ErrorKind,
        /// What went wrong.
        message: String,
    },
    /// The command printed its result, and the result itself says what failed (a refused or
    /// reverted contract action): under `--json` that result is the one JSON document on
    /// standard output, so no error object follows it; for people the message goes to stderr.
    #[error("{message}")]
    Answered {
        /// Its kind.
        kind: ErrorKind,
        /// What went wrong.
        message: String,
    },
}

impl HasKind for CliError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Unreachable { .. } => ErrorKind::DaemonUnreachable,
            Self::BadInput(_) => ErrorKind::BadInput,
            Self::Other(_) => ErrorKind::Internal,
            Self::Failed { kind, .. } | Self::Answered { kind, .. } => *kind,
        }
    }
}

impl CliError {
    /// An error of `kind`.
    pub fn failed(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::Failed {
            kind,
            message: message.into(),
        }
    }

    /// An error of the JSON-RPC client talking to the daemon at `addr`. The daemon's error
    /// codes map back to kinds through [`ErrorKind::from_rpc_code`].
    pub fn from_client(e: ClientError, addr: &str) -> Self {
        match e {
            ClientError::Call(obj) => {
                let kind = ErrorKind::from_rpc_code(obj.code()).unwrap_or(ErrorKind::Internal);
                let message = match kind {
                    ErrorKind::Unauthorized => {
                        format!("sessiond refused the request: {}", obj.message())
                    }
                    _ => obj.message().to_string(),
                };
                Self::failed(kind, message)
            }
            ClientError::Transport(t) => {
                let s = t.to_string();
                if s.contains("401") || s.contains("Unauthorized") {
                    Self::failed(
                        ErrorKind::Unauthorized,
                        "sessiond refused the request: missing or wrong RPC cookie",
                    )
                } else {
                    Self::Unreachable {
                        addr: addr.to_string(),
                        reason: s,
                    }
                }
            }
            ClientError::RequestTimeout => Self::Unreachable {
                addr: addr.to_string(),
                reason: "no answer within the timeout".into(),
            },
            other => Self::Other(other.to_string()),
        }
    }
}

/// What the failed command was doing, for the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doing {
    /// `session send`: a message was given, and the daemon queues it.
    SendMessage,
    /// `session create`: no message was given; nothing is queued.
    CreateSession,
    /// `trigger send`.
    Trigger,
    /// `node …`: talks to the chain, not to the daemon.
    Node,
    /// Anything else that talks to the daemon.
    Other,
}

/// What to try next after `e`, when the command was `doing`.
pub fn hint(e: &CliError, doing: Doing) -> Option<&'static str> {
    use ErrorKind::*;
    match (e.kind(), doing) {
        (DaemonUnreachable, _) => Some(
            "start it with `sessiond --datadir <dir>`, or point parsctl at it with --datadir or --rpc",
        ),
        (Unauthorized, _) => Some(
            "use the same --datadir as the daemon, so parsctl reads its rpc.cookie (the daemon writes a new one at every start)",
        ),
        // `parsctl node` and `trigger send` messages say what to do themselves.
        (_, Doing::Node | Doing::Trigger) => None,
        (NotFound | NetworkUnavailable | Busy | Timeout, Doing::SendMessage) => {
            Some("the message stays queued and is retried; check `parsctl status`")
        }
        (NotFound, Doing::CreateSession) => Some(
            "no session was created: check the Session ID (its owner's daemon publishes it when online), then retry; `parsctl status` shows whether this daemon is connected",
        ),
        (NetworkUnavailable | Busy | Timeout, Doing::CreateSession) => Some(
            "no session was created; retry when `parsctl status` shows connected peers and service nodes",
        ),
        (NotFound | NetworkUnavailable | Busy | Timeout, Doing::Other) => {
            Some("check `parsctl status`, then retry")
        }
        _ => None,
    }
}

/// The JSON error object `parsctl --json` prints on failure:
/// `{"error":{"kind":…,"code":…,"message":…,"hint":…}}`.
#[derive(Debug, Serialize)]
pub struct ErrorReport {
    error: ErrorBody,
}

#[derive(Debug, Serialize)]
struct ErrorBody {
    kind: &'static str,
    code: i32,
    message: String,
    hint: Option<&'static str>,
}

impl ErrorReport {
    /// The report of `e` for a command that was `doing`.
    pub fn new(e: &CliError, doing: Doing) -> Self {
        let kind = e.kind();
        Self {
            error: ErrorBody {
                kind: kind.as_str(),
                code: kind.rpc_code(),
                message: e.to_string(),
                hint: hint(e, doing),
            },
        }
    }

    /// Prints it: as one JSON object on standard output, or as text on standard error.
    pub fn print(&self, json: bool) {
        if json {
            match serde_json::to_string(self) {
                Ok(s) => println!("{s}"),
                Err(_) => println!(
                    "{{\"error\":{{\"kind\":\"internal\",\"code\":{},\"message\":\"the error cannot be encoded\",\"hint\":null}}}}",
                    pars_error::rpc_code::INTERNAL
                ),
            }
        } else {
            eprintln!("error: {}", self.error.message);
            if let Some(hint) = self.error.hint {
                eprintln!("hint: {hint}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn the_create_hint_never_speaks_of_a_queued_message() {
        for kind in ErrorKind::ALL {
            let e = CliError::failed(kind, "x");
            if let Some(h) = hint(&e, Doing::CreateSession) {
                assert!(!h.contains("queued"), "{kind}: {h}");
            }
        }
        let e = CliError::failed(ErrorKind::NotFound, "x");
        assert!(hint(&e, Doing::SendMessage).unwrap().contains("queued"));
        assert!(
            hint(&e, Doing::CreateSession)
                .unwrap()
                .contains("Session ID")
        );
    }

    #[test]
    fn rpc_errors_keep_their_code_and_exit_by_kind() {
        let obj = jsonrpsee::types::ErrorObjectOwned::owned::<()>(-31001, "bad", None);
        let e = CliError::from_client(ClientError::Call(obj), "a");
        assert_eq!(e.kind().exit_code(), 4);
        let v = serde_json::to_value(ErrorReport::new(&e, Doing::Other)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {"kind": "bad-input", "code": -31001, "message": "bad", "hint": null}})
        );
        let obj = jsonrpsee::types::ErrorObjectOwned::owned::<()>(-31010, "cookie", None);
        let e = CliError::from_client(ClientError::Call(obj), "a");
        assert_eq!(e.kind().exit_code(), 6);
        let unknown = jsonrpsee::types::ErrorObjectOwned::owned::<()>(-32603, "boom", None);
        let e = CliError::from_client(ClientError::Call(unknown), "a");
        assert_eq!(e.kind().exit_code(), 1);
    }
}
