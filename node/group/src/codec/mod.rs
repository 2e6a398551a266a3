//! The binary encoding of openmls's storage records (keys and values): a compact serde format
//! in the spirit of postcard and bincode, written here so that it adds no dependency and so
//! that secret values are never left in freed memory while they are encoded.
//!
//! The format is not self-describing: a reader must know the type it reads, as the storage
//! provider always does. Encodings, by serde data-model type:
//!
//! | type | bytes |
//! |---|---|
//! | `bool` | one byte, 0 or 1 |
//! | integers, floats | fixed width, little-endian |
//! | `char` | its scalar value as a `u32` |
//! | strings, byte strings | length as a `u32`, then the bytes |
//! | `Option` | 0, or 1 then the value |
//! | unit, unit struct | nothing |
//! | newtype struct | the value |
//! | sequence, map | the number of elements (entries) as a `u32`, then each element (key, value) |
//! | tuple, tuple struct, struct | each field in order, no names, no count |
//! | enum variant | the variant index as a `u32`, then its fields as above |
//!
//! A decoder is total: any input gives a value or an error, never a panic, and sizes read from
//! the input never reserve more memory than the input could fill. Output buffers grow by hand:
//! a buffer that is outgrown is wiped before it is freed, because the values hold private keys.

mod de;
mod error;
mod ser;
mod sink;

pub(crate) use de::decode;
pub use error::CodecError;
pub(crate) use ser::{Marked, encode, encode_marked};

#[cfg(test)]
mod tests;
