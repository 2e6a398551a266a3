//! The crate's error type.

use pars_crypto::CryptoError;
use pars_wire::WireError;

pub use pars_error::{ErrorKind, HasKind};

/// Why a handshake, an encryption or a decryption failed. Messages never contain key material
/// or message content. A failed operation leaves every state object as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The message bytes do not parse.
    #[error("malformed message: {0}")]
    Malformed(#[source] WireError),
    /// The peer's identity bundle does not belong to the Session ID it was fetched for.
    #[error("identity bundle does not belong to Session ID {expected}; refetch it from the swarm")]
    BundleMismatch {
        /// The Session ID the bundle should have matched.
        expected: String,
    },
    /// The peer's identity bundle fails verification (signature, version, times).
    #[error("identity bundle is invalid: {0}")]
    InvalidBundle(#[source] CryptoError),
    /// The bundle passed as our own is not ours.
    #[error("the local bundle does not belong to the local identity")]
    LocalBundleMismatch,
    /// A session with oneself.
    #[error("a session with one's own Session ID is not possible")]
    SelfSession,
    /// The prekey the request was made for is unknown or expired.
    #[error(
        "handshake uses prekey {id}, which is unknown or expired; the initiator must refetch the bundle"
    )]
    StalePrekey {
        /// The prekey ID named by the request.
        id: u32,
    },
    /// The request was already processed.
    #[error("handshake request was already processed (replay)")]
    ReplayedHandshake,
    /// The request does not decrypt: it is not addressed to this identity, or was tampered with.
    #[error("handshake request does not decrypt: not addressed to this identity, or tampered")]
    HandshakeDecryption,
    /// The request's transcript signature does not verify.
    #[error("handshake signature does not verify: {0}")]
    BadHandshakeSignature(#[source] CryptoError),
    /// The request claims a time too far in the future.
    #[error("handshake is dated {timestamp}, beyond now ({now}) plus the allowed clock skew")]
    HandshakeFromTheFuture {
        /// The request's timestamp.
        timestamp: u64,
        /// Local time.
        now: u64,
    },
    /// A normal message was given where an initial message is required.
    #[error("message does not start a session (it carries no handshake)")]
    NotInitial,
    /// An initial message of another handshake than this session's.
    #[error("initial message belongs to another handshake than this session's")]
    WrongHandshake,
    /// No header key of this session opens the header: the message belongs to another session,
    /// to a chain whose keys are deleted, or was tampered with.
    #[error("message header does not decrypt under any key of this session")]
    NotForThisSession,
    /// The message was already decrypted, or its key was discarded (past the skipped-key
    /// bounds): message keys are deleted after use.
    #[error("message {counter} of its chain was already decrypted or its key was discarded")]
    Duplicate {
        /// The message's number in its chain.
        counter: u32,
    },
    /// The message is further ahead in its chain than the skipped-key bound allows.
    #[error("message is {jump} messages ahead of its chain; at most {max} can be skipped")]
    TooFarAhead {
        /// How many keys would have to be skipped.
        jump: u64,
        /// The bound.
        max: u64,
    },
    /// The header decrypted but is inconsistent with the message or the session.
    #[error("message header is inconsistent: {0}")]
    InvalidHeader(&'static str),
    /// The header decrypted but the body does not: the body was tampered with.
    #[error("message body does not decrypt (tampered)")]
    BodyDecryption,
    /// The decrypted body is malformed.
    #[error("message body is malformed: {0}")]
    MalformedBody(&'static str),
    /// The plaintext is larger than one message can carry.
    #[error("plaintext of {got} bytes exceeds the maximum of {max} bytes per message")]
    TooLarge {
        /// The plaintext size.
        got: usize,
        /// The maximum.
        max: usize,
    },
    /// A cryptographic operation failed on a peer-supplied key (e.g. a low-order X25519 point).
    #[error("peer key rejected: {0}")]
    PeerKey(#[source] CryptoError),
    /// The sending chain is exhausted (2³² messages without a reply).
    #[error("sending chain exhausted; wait for a reply from the peer")]
    ChainExhausted,
    /// Stored state has a version this build does not read.
    #[error("stored {what} has version {version}, which this build does not read")]
    UnsupportedStateVersion {
        /// Which state.
        what: &'static str,
        /// The version found.
        version: u8,
    },
    /// Stored state is corrupt.
    #[error("stored {what} is corrupt: {reason}")]
    CorruptState {
        /// Which state.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

impl SessionError {
    pub(crate) fn corrupt(what: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::CorruptState {
            what,
            reason: reason.to_string(),
        }
    }
}

impl HasKind for SessionError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Malformed(_) | Self::InvalidHeader(_) | Self::MalformedBody(_) => {
                ErrorKind::PeerMalformed
            }
            Self::BundleMismatch { .. }
            | Self::InvalidBundle(_)
            | Self::LocalBundleMismatch
            | Self::BadHandshakeSignature(_)
            | Self::PeerKey(_) => ErrorKind::Verification,
            Self::HandshakeDecryption
            | Self::NotForThisSession
            | Self::BodyDecryption
            | Self::WrongHandshake => ErrorKind::Decryption,
            Self::ReplayedHandshake | Self::Duplicate { .. } => ErrorKind::Replay,
            Self::StalePrekey { .. } | Self::HandshakeFromTheFuture { .. } => ErrorKind::Expired,
            // Further ahead than the bounds allow: what the peer sent is unacceptable.
            Self::TooFarAhead { .. } => ErrorKind::PeerMalformed,
            Self::TooLarge { .. } | Self::SelfSession => ErrorKind::BadInput,
            // Wait for the peer's reply.
            Self::ChainExhausted => ErrorKind::Busy,
            Self::NotInitial => ErrorKind::Internal,
            Self::UnsupportedStateVersion { .. } | Self::CorruptState { .. } => ErrorKind::Storage,
        }
    }
}

impl From<WireError> for SessionError {
    fn from(e: WireError) -> Self {
        Self::Malformed(e)
    }
}
