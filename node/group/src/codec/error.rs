//! The codec's error.

use serde::{de, ser};

/// A record that could not be encoded or decoded.
///
/// One pointer wide, so that the `Result` of every byte read or written fits in registers:
/// openmls's keys and signatures reach serde as sequences of single bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.0)]
pub struct CodecError(Box<Text>);

/// What went wrong, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Text(String);

impl ser::Error for CodecError {
    #[cold]
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Self::new(msg.to_string())
    }
}

impl de::Error for CodecError {
    #[cold]
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Self::new(msg.to_string())
    }
}

impl CodecError {
    #[cold]
    pub(super) fn new(text: String) -> Self {
        Self(Box::new(Text(text)))
    }

    /// A record that ends before its last field.
    #[cold]
    pub(crate) fn truncated() -> Self {
        err("record ends early")
    }

    /// A length that does not fit the format's `u32`.
    #[cold]
    pub(crate) fn too_long() -> Self {
        err("a length above 2^32 - 1")
    }
}

#[cold]
pub(super) fn err(msg: &str) -> CodecError {
    CodecError::new(msg.to_owned())
}
