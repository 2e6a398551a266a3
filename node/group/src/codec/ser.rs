//! Encoding: serde's data model into the format of `codec/mod.rs`, in a buffer that is wiped
//! whenever it is outgrown or dropped.

use super::error::{CodecError, err};
use serde::ser::{self, Serialize};
use zeroize::{Zeroize, Zeroizing};

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
