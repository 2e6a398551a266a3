//! The crate's error type and its mapping onto the workspace's [`ErrorKind`].

use pars_crypto::CryptoError;
use pars_error::{ErrorKind, HasKind};

/// Why bytes could not be decoded. Messages name the field, never its (possibly secret) content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended inside a field.
    #[error("truncated {what}: needed {needed} more bytes, {available} available")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// Bytes were left over after a complete value.
    #[error("{count} unexpected trailing bytes after {what}")]
    TrailingBytes {
        /// The value that was complete.
        what: &'static str,
        /// How many bytes were left.
        count: usize,
    },
    /// A version this build does not understand.
    #[error("{what} version {version} is not supported by this build")]
    UnsupportedVersion {
        /// The format.
        what: &'static str,
        /// The version byte found.
        version: u8,
    },
    /// An enum discriminant with no meaning.
    #[error("unknown {what} value {value}")]
    UnknownVariant {
        /// The field.
        what: &'static str,
        /// The value found.
        value: u64,
    },
    /// A length field larger than the format allows.
    #[error("{what} is {len} bytes; the maximum is {max}")]
    TooLong {
        /// The field.
        what: &'static str,
        /// The length found.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A field whose value is structurally invalid.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A key, signature or other cryptographic field failed to parse.
    #[error("{what}: {source}")]
    Crypto {
        /// The field.
        what: &'static str,
        /// The underlying error.
        source: CryptoError,
    },
}

impl HasKind for WireError {
    /// Bytes that do not decode are a peer's (or a file's) fault; a key or signature field that
    /// does not parse keeps the kind its cryptographic cause has.
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Crypto { source, .. } => source.kind(),
            Self::Truncated { .. }
            | Self::TrailingBytes { .. }
            | Self::UnsupportedVersion { .. }
            | Self::UnknownVariant { .. }
            | Self::TooLong { .. }
            | Self::Invalid { .. } => ErrorKind::PeerMalformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_errors_are_the_peers_and_crypto_causes_keep_their_kind() {
        let short = WireError::Truncated {
            what: "x",
            needed: 1,
            available: 0,
        };
        assert_eq!(short.kind(), ErrorKind::PeerMalformed);
        let sig = WireError::Crypto {
            what: "signature",
            source: CryptoError::BadSignature { which: "record" },
        };
        assert_eq!(sig.kind(), ErrorKind::Verification);
        assert!(std::error::Error::source(&sig).is_some());
    }
}
