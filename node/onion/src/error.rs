//! The crate's error type and the reasons a hop drops a packet.

use pars_error::{ErrorKind, HasKind};
use pars_wire::{NodeId, WireError};

/// Errors from pars-onion. Messages never contain key material or payload content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OnionError {
    /// A path must have between 1 and 3 hops (a reply path 1 or 2, the client being the third).
    #[error("a {what} path has {got} hops; it must have 1 to {max}")]
    PathLength {
        /// Forward or reply.
        what: &'static str,
        /// Hops given.
        got: usize,
        /// Most allowed.
        max: usize,
    },
    /// The data does not fit one packet.
    #[error("payload of {got} bytes exceeds the {max} bytes one packet carries; split it")]
    TooLarge {
        /// Bytes given.
        got: usize,
        /// Maximum.
        max: usize,
    },
    /// A hop's onion key is expired (or not yet valid) at the time of building.
    #[error("onion key {key_id} of node {node} is not valid now; refresh the node's record")]
    KeyNotValid {
        /// The node.
        node: NodeId,
        /// The key.
        key_id: u32,
    },
    /// A hop's onion key is unusable (a low-order X25519 half).
    #[error("onion key of node {0} is malformed")]
    BadKey(NodeId),
    /// Path selection found too few eligible nodes.
    #[error("cannot build a path: {0}")]
    NoPath(&'static str),
    /// A reply packet was rejected by the client.
    #[error("reply rejected: {0}")]
    ReplyRejected(&'static str),
    /// A stored key ring was not written at a clean shutdown: its replay caches are incomplete,
    /// so its keys must not be reused (make fresh ones).
    #[error("stored onion keys are from an unclean shutdown; fresh keys are needed")]
    NotClean,
    /// Bytes failed to decode.
    #[error("malformed onion data: {0}")]
    Wire(#[from] WireError),
}

impl HasKind for OnionError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::PathLength { .. } | Self::TooLarge { .. } => ErrorKind::BadInput,
            Self::KeyNotValid { .. } | Self::NotClean => ErrorKind::Expired,
            // Too few usable nodes for a diverse path: wait for the node set to grow.
            Self::NoPath(_) => ErrorKind::NetworkUnavailable,
            Self::BadKey(_) | Self::Wire(_) => ErrorKind::PeerMalformed,
            Self::ReplyRejected(_) => ErrorKind::Verification,
        }
    }
}

/// Why a hop dropped a packet. Dropping is silent on the wire (no error goes back: an error
/// would be an oracle); the reason is for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Wrong length or version.
    Malformed,
    /// The packet names a key this hop does not hold: never issued, or expired and deleted.
    UnknownKey,
    /// The key exists but is outside its validity period.
    ExpiredKey,
    /// The key's replay cache is full; the key is retired early and a new one announced.
    KeyExhausted,
    /// The packet was seen before under this key.
    Replay,
    /// The header MAC does not verify: the header (or the KEM ciphertext) was altered.
    HeaderMac,
    /// The payload MAC does not verify: the payload was altered on the last link.
    PayloadMac,
    /// The routing slot does not decode (only a dishonest sender can cause it).
    BadRouting,
    /// The end-to-end body does not verify or decode (altered by an earlier hop).
    BadBody,
}
