//! The codec's error.

use serde::{de, ser};

/// A record that could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub(super) String);

impl ser::Error for CodecError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

impl de::Error for CodecError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

impl CodecError {
    /// A record that ends before its last field.
    pub(crate) fn truncated() -> Self {
        err("record ends early")
    }

    /// A length that does not fit the format's `u32`.
    pub(crate) fn too_long() -> Self {
        err("a length above 2^32 - 1")
    }
}

pub(super) fn err(msg: &str) -> CodecError {
    CodecError(msg.to_owned())
}
