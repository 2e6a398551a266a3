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

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// A record that could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(String);

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

fn err(msg: &str) -> CodecError {
    CodecError(msg.to_owned())
}

/// Encodes `value`; `capacity` is a guess of the size (the record's previous size), so that
/// large records are written without being copied while they grow.
pub(crate) fn encode<T: Serialize + ?Sized>(
    value: &T,
    capacity: usize,
) -> Result<Zeroizing<Vec<u8>>, CodecError> {
    let mut out = Out::with_capacity(capacity);
    value.serialize(&mut out)?;
    Ok(out.into_bytes())
}

/// Decodes a whole record as a `T`: trailing bytes are an error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let mut input = Input { bytes };
    let value = T::deserialize(&mut input)?;
    if !input.bytes.is_empty() {
        return Err(err("trailing bytes after the record"));
    }
    Ok(value)
}

/// The output buffer: a vector that is wiped when it is dropped or outgrown.
pub(crate) struct Out {
    buf: Zeroizing<Vec<u8>>,
}

impl Out {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Zeroizing::new(Vec::with_capacity(capacity)),
        }
    }

    fn into_bytes(mut self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(std::mem::take(&mut *self.buf))
    }

    /// Moves the contents to a buffer with room for `more` bytes, wiping the old one (a
    /// `Vec`'s own growth would free it unwiped).
    #[cold]
    #[inline(never)]
    fn grow(&mut self, more: usize) {
        let want = self
            .buf
            .len()
            .saturating_add(more)
            .max(self.buf.capacity().saturating_mul(2))
            .max(64);
        let mut bigger = Vec::with_capacity(want);
        bigger.extend_from_slice(&self.buf);
        self.buf.zeroize();
        *self.buf = bigger;
    }

    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        if self.buf.capacity() - self.buf.len() < bytes.len() {
            self.grow(bytes.len());
        }
        self.buf.extend_from_slice(bytes);
    }

    #[inline]
    fn put_u8(&mut self, b: u8) {
        if self.buf.len() == self.buf.capacity() {
            self.grow(1);
        }
        self.buf.push(b);
    }

    fn put_len(&mut self, len: usize) -> Result<(), CodecError> {
        let len = u32::try_from(len).map_err(|_| CodecError::too_long())?;
        self.put(&len.to_le_bytes());
        Ok(())
    }
}

/// A sequence or map being written. When its length was not known up front, a placeholder
/// is written and filled in at the end.
pub(crate) struct Counted<'a> {
    out: &'a mut Out,
    /// Where the placeholder is, for a length that was not given.
    patch: Option<usize>,
    count: usize,
}

impl<'a> Counted<'a> {
    fn new(out: &'a mut Out, len: Option<usize>) -> Result<Self, CodecError> {
        let patch = match len {
            Some(len) => {
                out.put_len(len)?;
                None
            }
            None => {
                let at = out.buf.len();
                out.put(&[0; 4]);
                Some(at)
            }
        };
        Ok(Self {
            out,
            patch,
            count: 0,
        })
    }

    fn finish(self) -> Result<(), CodecError> {
        if let Some(at) = self.patch {
            let len = u32::try_from(self.count).map_err(|_| CodecError::too_long())?;
            let slot = self
                .out
                .buf
                .get_mut(at..at + 4)
                .ok_or_else(|| err("length placeholder lost"))?;
            slot.copy_from_slice(&len.to_le_bytes());
        }
        Ok(())
    }
}

impl<'a> ser::Serializer for &'a mut Out {
    type Ok = ();
    type Error = CodecError;
    type SerializeSeq = Counted<'a>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Counted<'a>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<(), CodecError> {
        self.put_u8(u8::from(v));
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_i16(self, v: i16) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_i32(self, v: i32) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_i64(self, v: i64) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), CodecError> {
        self.put_u8(v);
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_u32(self, v: u32) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_u64(self, v: u64) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), CodecError> {
        self.put(&u32::from(v).to_le_bytes());
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), CodecError> {
        self.serialize_bytes(v.as_bytes())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), CodecError> {
        self.put_len(v.len())?;
        self.put(v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), CodecError> {
        self.put_u8(0);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CodecError> {
        self.put_u8(1);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), CodecError> {
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), CodecError> {
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
    ) -> Result<(), CodecError> {
        self.put(&index.to_le_bytes());
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        self.put(&index.to_le_bytes());
        value.serialize(self)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Counted<'a>, CodecError> {
        Counted::new(self, len)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self, CodecError> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, CodecError> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, CodecError> {
        self.put(&index.to_le_bytes());
        Ok(self)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Counted<'a>, CodecError> {
        Counted::new(self, len)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, CodecError> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, CodecError> {
        self.put(&index.to_le_bytes());
        Ok(self)
    }
}

impl ser::SerializeSeq for Counted<'_> {
    type Ok = ();
    type Error = CodecError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        self.count += 1;
        value.serialize(&mut *self.out)
    }

    fn end(self) -> Result<(), CodecError> {
        self.finish()
    }
}

impl ser::SerializeMap for Counted<'_> {
    type Ok = ();
    type Error = CodecError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CodecError> {
        self.count += 1;
        key.serialize(&mut *self.out)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut *self.out)
    }

    fn end(self) -> Result<(), CodecError> {
        self.finish()
    }
}

impl ser::SerializeTuple for &mut Out {
    type Ok = ();
    type Error = CodecError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Out {
    type Ok = ();
    type Error = CodecError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Out {
    type Ok = ();
    type Error = CodecError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Out {
    type Ok = ();
    type Error = CodecError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), CodecError> {
        // A skipped field would shift every later one: the format has no field names.
        Err(CodecError(format!("field `{key}` skipped while encoding")))
    }

    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Out {
    type Ok = ();
    type Error = CodecError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), CodecError> {
        Err(CodecError(format!("field `{key}` skipped while encoding")))
    }

    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

/// The input being decoded.
struct Input<'de> {
    bytes: &'de [u8],
}

impl<'de> Input<'de> {
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'de [u8], CodecError> {
        if self.bytes.len() < n {
            return Err(CodecError::truncated());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    #[inline]
    fn byte(&mut self) -> Result<u8, CodecError> {
        let (&b, rest) = self.bytes.split_first().ok_or_else(CodecError::truncated)?;
        self.bytes = rest;
        Ok(b)
    }

    fn len(&mut self) -> Result<usize, CodecError> {
        usize::try_from(u32::from_le_bytes(self.array()?)).map_err(|_| err("length too large"))
    }

    fn sized(&mut self) -> Result<&'de [u8], CodecError> {
        let len = self.len()?;
        self.take(len)
    }
}

/// `len` elements of a sequence, a tuple or a struct, read one by one.
struct Elements<'a, 'de> {
    input: &'a mut Input<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = CodecError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, CodecError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.input).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        // Never more than the bytes left: a forged length reserves nothing.
        Some(self.left.min(self.input.bytes.len()))
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = CodecError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, CodecError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.input).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, CodecError> {
        seed.deserialize(&mut *self.input)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left.min(self.input.bytes.len()))
    }
}

impl<'de> de::EnumAccess<'de> for &mut Input<'de> {
    type Error = CodecError;
    type Variant = Self;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), CodecError> {
        let index = u32::from_le_bytes(self.array()?);
        let value = seed.deserialize(IntoDeserializer::<CodecError>::into_deserializer(index))?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Input<'de> {
    type Error = CodecError;

    fn unit_variant(self) -> Result<(), CodecError> {
        Ok(())
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, CodecError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_seq(Elements {
            input: self,
            left: len,
        })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_seq(Elements {
            input: self,
            left: fields.len(),
        })
    }
}

impl<'de> de::Deserializer<'de> for &mut Input<'de> {
    type Error = CodecError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, CodecError> {
        Err(err(
            "a type that needs a self-describing format (stored in this one)",
        ))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, CodecError> {
        Err(err("an unknown field cannot be skipped in this format"))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        match self.byte()? {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            _ => Err(err("a boolean that is neither 0 nor 1")),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_i8(i8::from_le_bytes(self.array()?))
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_i16(i16::from_le_bytes(self.array()?))
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_i32(i32::from_le_bytes(self.array()?))
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_i64(i64::from_le_bytes(self.array()?))
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_i128(i128::from_le_bytes(self.array()?))
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_u8(self.byte()?)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_u16(u16::from_le_bytes(self.array()?))
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_u32(u32::from_le_bytes(self.array()?))
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_u64(u64::from_le_bytes(self.array()?))
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_u128(u128::from_le_bytes(self.array()?))
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_f32(f32::from_le_bytes(self.array()?))
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_f64(f64::from_le_bytes(self.array()?))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        let c = char::from_u32(u32::from_le_bytes(self.array()?))
            .ok_or_else(|| err("a char that is not a Unicode scalar value"))?;
        visitor.visit_char(c)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        let s =
            std::str::from_utf8(self.sized()?).map_err(|_| err("a string that is not UTF-8"))?;
        visitor.visit_borrowed_str(s)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_borrowed_bytes(self.sized()?)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        match self.byte()? {
            0 => visitor.visit_none(),
            1 => visitor.visit_some(self),
            _ => Err(err("an option tag that is neither 0 nor 1")),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        let left = self.len()?;
        visitor.visit_seq(Elements { input: self, left })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_seq(Elements {
            input: self,
            left: len,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_seq(Elements {
            input: self,
            left: len,
        })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        let left = self.len()?;
        visitor.visit_map(Elements { input: self, left })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_seq(Elements {
            input: self,
            left: fields.len(),
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_enum(self)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _: V) -> Result<V::Value, CodecError> {
        // Field names are never written (structs are read as sequences) and variants come
        // through `variant_seed` as indices.
        Err(err("an identifier, which this format does not store"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::collections::{BTreeMap, HashMap};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Kind {
        Empty,
        One(u16),
        Pair(i32, bool),
        Named { a: Option<u64>, b: String },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Unit;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Wrapper(Vec<u8>);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Record {
        id: Wrapper,
        kinds: Vec<Kind>,
        map: BTreeMap<u32, Vec<u8>>,
        #[serde(with = "serde_bytes_like")]
        blob: Vec<u8>,
        tuple: (u8, char, i128, f64),
        unit: Unit,
        nothing: (),
        #[serde(skip)]
        cache: u32,
    }

    /// `serialize_bytes` and `deserialize_byte_buf`, as `serde_bytes` does.
    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
        pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            struct V;
            impl serde::de::Visitor<'_> for V {
                type Value = Vec<u8>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                    Ok(v.to_vec())
                }
            }
            d.deserialize_byte_buf(V)
        }
    }

    fn sample() -> Record {
        Record {
            id: Wrapper(vec![1, 2, 3]),
            kinds: vec![
                Kind::Empty,
                Kind::One(0xbeef),
                Kind::Pair(-7, true),
                Kind::Named {
                    a: Some(u64::MAX),
                    b: "pars ✓".into(),
                },
                Kind::Named {
                    a: None,
                    b: String::new(),
                },
            ],
            map: [(1, vec![9; 3]), (u32::MAX, vec![])].into_iter().collect(),
            blob: (0..=255).collect(),
            tuple: (200, 'λ', -1, 0.5),
            unit: Unit,
            nothing: (),
            cache: 0,
        }
    }

    #[test]
    fn every_data_model_type_round_trips() {
        let r = sample();
        let bytes = encode(&r, 0).unwrap();
        assert_eq!(decode::<Record>(&bytes).unwrap(), r);
        // Deterministic, and a capacity guess changes nothing but the allocation.
        assert_eq!(*encode(&r, 10_000).unwrap(), *bytes);
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let bytes = encode(&(true, 0x0102u16, Some(Kind::One(5)), vec![7u8, 8]), 0).unwrap();
        assert_eq!(
            *bytes,
            [
                1, // bool
                2, 1, // u16, little-endian
                1, // Some
                1, 0, 0, 0, // variant 1
                5, 0, // its u16
                2, 0, 0, 0, 7, 8, // a sequence: count, elements
            ]
        );
        let s: HashMap<u8, u8> = [(3, 4)].into_iter().collect();
        assert_eq!(*encode(&s, 0).unwrap(), [1, 0, 0, 0, 3, 4]);
    }

    #[test]
    fn a_sequence_of_unknown_length_gets_its_count_afterwards() {
        struct Unsized(Vec<u16>);
        impl Serialize for Unsized {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                // `filter` hides the length: `collect_seq` passes `None`.
                s.collect_seq(self.0.iter().filter(|x| **x != 0))
            }
        }
        let bytes = encode(&Unsized(vec![1, 0, 2, 3]), 0).unwrap();
        assert_eq!(decode::<Vec<u16>>(&bytes).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn every_truncation_and_extension_of_a_record_is_an_error_not_a_panic() {
        let bytes = encode(&sample(), 0).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode::<Record>(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(decode::<Record>(&longer).is_err());
    }

    #[test]
    fn corrupt_tags_and_forged_lengths_are_errors() {
        // A bool of 2, an option tag of 2, an unknown variant, a huge length, bad UTF-8.
        assert!(decode::<bool>(&[2]).is_err());
        assert!(decode::<Option<u8>>(&[2, 0]).is_err());
        assert!(decode::<Kind>(&[9, 0, 0, 0]).is_err());
        assert!(decode::<Vec<u64>>(&[0xff, 0xff, 0xff, 0xff, 1]).is_err());
        assert!(decode::<String>(&[2, 0, 0, 0, 0xc3, 0x28]).is_err());
        assert!(decode::<char>(&0xd800u32.to_le_bytes()).is_err());
        // Every single-byte change of a record decodes to something or fails: never panics.
        let bytes = encode(&sample(), 0).unwrap();
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.to_vec();
                b[i] ^= flip;
                let _ = decode::<Record>(&b);
            }
        }
    }

    #[test]
    fn a_type_that_needs_a_self_describing_format_is_refused() {
        #[derive(Debug, Deserialize)]
        #[serde(untagged)]
        #[allow(dead_code)]
        enum Either {
            Int(u64),
            Text(String),
        }
        let bytes = encode(&5u64, 0).unwrap();
        assert!(decode::<Either>(&bytes).is_err());
    }

    #[test]
    fn a_skipped_field_is_refused_when_encoding() {
        #[derive(Serialize)]
        struct Sparse {
            #[serde(skip_serializing_if = "Option::is_none")]
            a: Option<u8>,
            b: u8,
        }
        assert!(encode(&Sparse { a: None, b: 1 }, 0).is_err());
        assert!(encode(&Sparse { a: Some(1), b: 1 }, 0).is_ok());
    }

    #[test]
    fn a_growing_buffer_keeps_its_contents() {
        // From no capacity to 64 KiB, through many growths.
        let v: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
        let bytes = encode(&v, 0).unwrap();
        assert_eq!(bytes.len(), 4 + v.len());
        assert_eq!(decode::<Vec<u8>>(&bytes).unwrap(), v);
    }
}
