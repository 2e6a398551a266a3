//! The crate's error type and its mapping onto the workspace's [`ErrorKind`].

use pars_error::{ErrorKind, HasKind};

/// Errors from pars-crypto. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// An input had the wrong length.
    #[error("{what} must be {expected} bytes, got {got}")]
    InvalidLength {
        /// What the input was.
        what: &'static str,
        /// The required length.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// An ML-KEM public key failed the FIPS 203 modulus check.
    #[error("ML-KEM-1024 public key is malformed (coefficients out of range)")]
    InvalidMlKemPublicKey,
    /// An ML-DSA signature could not be decoded (e.g. a malformed hint).
    #[error("ML-DSA-87 signature is malformed")]
    MalformedSignature,
    /// A signature did not verify.
    #[error("{which} signature does not verify")]
    BadSignature {
        /// Which half (or which object) failed.
        which: &'static str,
    },
    /// An ML-DSA context string longer than FIPS 204 allows (255 bytes).
    #[error("signature context is {0} bytes; FIPS 204 allows at most 255")]
    ContextTooLong(usize),
    /// AEAD decryption failed.
    #[error("decryption failed: wrong key, tampered ciphertext or wrong associated data")]
    Decryption,
    /// Padding was not in the expected format.
    #[error("padding is malformed")]
    BadPadding,
    /// The plaintext is larger than the largest padding bucket.
    #[error("plaintext of {got} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Bytes given.
        got: usize,
        /// Maximum accepted.
        max: usize,
    },
    /// A BIP39 mnemonic could not be read.
    #[error("mnemonic is invalid: {0}; expected 24 English BIP39 words")]
    Mnemonic(String),
    /// A 24-word mnemonic was expected.
    #[error("mnemonic has {0} words; a Pars Session backup has exactly 24")]
    MnemonicWordCount(usize),
    /// A stored key failed its consistency check.
    #[error("key is malformed: {0}")]
    MalformedKey(&'static str),
    /// Bundle bytes could not be decoded.
    #[error("identity bundle is malformed: {0}")]
    MalformedBundle(&'static str),
    /// The bundle's format version is not understood.
    #[error("identity bundle version {0} is not supported (this build reads version 1)")]
    UnsupportedBundleVersion(u8),
    /// The bundle's ML-DSA key does not hash to the claimed Session ID.
    #[error("identity bundle does not belong to Session ID {expected}")]
    BundleIdMismatch {
        /// The Session ID it was expected to match.
        expected: String,
    },
    /// The bundle or its prekey is past its expiry.
    #[error("{what} expired at {expired_at} (now {now})")]
    Expired {
        /// What expired.
        what: &'static str,
        /// Expiry time, Unix seconds.
        expired_at: u64,
        /// The time it was checked at, Unix seconds.
        now: u64,
    },
    /// A timestamp lies implausibly far in the future.
    #[error("{what} was created in the future ({created_at} > now {now})")]
    FromTheFuture {
        /// What it is.
        what: &'static str,
        /// Creation time, Unix seconds.
        created_at: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// An X25519 exchange produced the all-zero output (a low-order public key).
    #[error("X25519 public key is of low order")]
    LowOrderPoint,
}

impl HasKind for CryptoError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidLength { .. }
            | Self::InvalidMlKemPublicKey
            | Self::MalformedSignature
            | Self::BadPadding
            | Self::MalformedBundle(_)
            | Self::MalformedKey(_)
            | Self::UnsupportedBundleVersion(_)
            | Self::LowOrderPoint => ErrorKind::PeerMalformed,
            // What a caller asked for, not what a peer sent: a context or plaintext too long,
            // a backup phrase mistyped.
            Self::ContextTooLong(_)
            | Self::TooLarge { .. }
            | Self::Mnemonic(_)
            | Self::MnemonicWordCount(_) => ErrorKind::BadInput,
            Self::BadSignature { .. } | Self::BundleIdMismatch { .. } => ErrorKind::Verification,
            Self::Decryption => ErrorKind::Decryption,
            Self::Expired { .. } | Self::FromTheFuture { .. } => ErrorKind::Expired,
        }
    }
}

impl CryptoError {
    pub(crate) fn len(what: &'static str, expected: usize, got: usize) -> Self {
        Self::InvalidLength {
            what,
            expected,
            got,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_say_whose_move_it_is() {
        assert_eq!(
            CryptoError::MnemonicWordCount(12).kind(),
            ErrorKind::BadInput
        );
        assert_eq!(CryptoError::Decryption.kind(), ErrorKind::Decryption);
        assert_eq!(
            CryptoError::MalformedBundle("short").kind(),
            ErrorKind::PeerMalformed
        );
        assert_eq!(
            CryptoError::BadSignature { which: "bundle" }.kind(),
            ErrorKind::Verification
        );
    }
}
