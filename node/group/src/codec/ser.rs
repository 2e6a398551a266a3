//! Encoding: serde's data model into the format of `codec/mod.rs`, in a buffer that is wiped
//! whenever it is outgrown or dropped.

use super::error::{CodecError, err};
use super::sink::ByteSink;
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

/// A value encoded with the boundaries of the elements of some of its sequences.
pub(crate) struct Marked {
    /// The encoding: public bytes (not wiped when dropped).
    pub(crate) bytes: Vec<u8>,
    /// For each sequence opened at the depth asked for, in order: the offset where its
    /// elements start, then the offset where each element ends.
    pub(crate) seqs: Vec<Vec<usize>>,
}

/// Encodes `value` as [`encode`] does, and marks the elements of every sequence opened at
/// nesting depth `depth` (1 is a sequence at the top, 2 one inside a struct at the top, …).
/// Elements that are single bytes are not marked. For public values only (the bytes are not
/// wiped): the ratchet tree, stored by pieces (`storage/tree.rs`).
pub(crate) fn encode_marked<T: Serialize + ?Sized>(
    value: &T,
    capacity: usize,
    depth: u32,
) -> Result<Marked, CodecError> {
    let mut out = Out::with_capacity(capacity);
    out.marks = Some(Box::new(Marks {
        depth,
        seqs: Vec::new(),
    }));
    value.serialize(&mut out)?;
    let seqs = out.marks.take().map(|m| m.seqs).unwrap_or_default();
    let mut bytes = out.into_bytes();
    Ok(Marked {
        bytes: std::mem::take(&mut *bytes),
        seqs,
    })
}

/// The output buffer: a vector that is wiped when it is dropped or outgrown.
///
/// The vector is zero-filled to its capacity and written at a cursor, `pos`; it is cut to
/// `pos` at the end. Writing a byte is then a store at an index, and nothing that writes a
/// byte takes a reference to the buffer (as `Vec::push` would, for its growth): openmls's keys
/// and signatures reach serde one byte at a time, and a buffer whose address escapes must
/// have its length reloaded from memory for every byte.
pub(crate) struct Out {
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    /// How many compound values (structs, tuples, sequences, maps) are open.
    depth: u32,
    /// Where the elements of sequences at one depth start and end, when asked for.
    marks: Option<Box<Marks>>,
}

/// The element boundaries of the sequences opened at `depth` (see [`encode_marked`]).
struct Marks {
    depth: u32,
    seqs: Vec<Vec<usize>>,
}

impl Out {
    #[inline]
    fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Zeroizing::new(vec![0; capacity]),
            pos: 0,
            depth: 0,
            marks: None,
        }
    }

    #[inline]
    fn into_bytes(mut self) -> Zeroizing<Vec<u8>> {
        self.buf.truncate(self.pos);
        Zeroizing::new(std::mem::take(&mut *self.buf))
    }

    /// Room for `more` bytes at the cursor (the old buffer is wiped).
    #[cold]
    #[inline(never)]
    fn grow(&mut self, more: usize) {
        *self.buf = grown(std::mem::take(&mut *self.buf), self.pos, more);
    }

    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if end > self.buf.len() {
            self.grow(bytes.len());
        }
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    #[inline]
    fn put_u8(&mut self, b: u8) {
        match self.buf.get_mut(self.pos) {
            Some(slot) => *slot = b,
            None => self.put_u8_cold(b),
        }
        self.pos += 1;
    }

    #[cold]
    #[inline(never)]
    fn put_u8_cold(&mut self, b: u8) {
        self.grow(1);
        if let Some(slot) = self.buf.get_mut(self.pos) {
            *slot = b;
        }
    }

    #[inline]
    fn put_len(&mut self, len: usize) -> Result<(), CodecError> {
        let len = u32::try_from(len).map_err(|_| CodecError::too_long())?;
        self.put(&len.to_le_bytes());
        Ok(())
    }
}

/// `buf`'s first `used` bytes in a zero-filled buffer with room for `more` bytes after them;
/// `buf` is wiped.
#[cold]
#[inline(never)]
fn grown(mut buf: Vec<u8>, used: usize, more: usize) -> Vec<u8> {
    let want = used
        .saturating_add(more)
        .max(buf.len().saturating_mul(2))
        .max(64);
    let mut bigger = vec![0; want];
    if let (Some(dst), Some(src)) = (bigger.get_mut(..used), buf.get(..used)) {
        dst.copy_from_slice(src);
    }
    buf.zeroize();
    bigger
}

/// A sequence or map being written. When its length was not known up front, a placeholder
/// is written and filled in at the end.
///
/// The buffer moves into it while its elements are written and back at the end: held by a
/// value on the stack rather than behind the parent's reference, its length can stay in a
/// register while openmls's byte strings go through serde one byte at a time (a store of a
/// byte through the buffer could otherwise be the parent's length, which is then reloaded for
/// every byte).
pub(crate) struct Counted<'a> {
    parent: &'a mut Out,
    out: Out,
    /// Where the placeholder is, for a length that was not given.
    patch: Option<usize>,
    /// Elements written, counted only for a length that was not given.
    count: usize,
}

impl<'a> Counted<'a> {
    #[inline]
    fn new(parent: &'a mut Out, len: Option<usize>) -> Result<Self, CodecError> {
        let patch = match len {
            Some(len) => {
                parent.put_len(len)?;
                None
            }
            None => {
                let at = parent.pos;
                parent.put(&[0; 4]);
                Some(at)
            }
        };
        let mut out = Out {
            buf: Zeroizing::new(std::mem::take(&mut *parent.buf)),
            pos: parent.pos,
            depth: parent.depth + 1,
            marks: parent.marks.take(),
        };
        if let Some(m) = &mut out.marks
            && m.depth == out.depth
        {
            m.seqs.push(vec![out.pos]);
        }
        Ok(Self {
            parent,
            out,
            patch,
            count: 0,
        })
    }

    #[inline]
    fn finish(mut self) -> Result<(), CodecError> {
        if let Some(at) = self.patch {
            let len = u32::try_from(self.count).map_err(|_| CodecError::too_long())?;
            let slot = self
                .out
                .buf
                .get_mut(at..at + 4)
                .ok_or_else(|| err("length placeholder lost"))?;
            slot.copy_from_slice(&len.to_le_bytes());
        }
        *self.parent.buf = std::mem::take(&mut *self.out.buf);
        self.parent.pos = self.out.pos;
        self.parent.marks = self.out.marks.take();
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

    #[inline]
    fn is_human_readable(&self) -> bool {
        false
    }

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<(), CodecError> {
        self.put_u8(u8::from(v));
        Ok(())
    }

    #[inline]
    fn serialize_i8(self, v: i8) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_i16(self, v: i16) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_i32(self, v: i32) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_i128(self, v: i128) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_u8(self, v: u8) -> Result<(), CodecError> {
        self.put_u8(v);
        Ok(())
    }

    #[inline]
    fn serialize_u16(self, v: u16) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_u32(self, v: u32) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_u64(self, v: u64) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_u128(self, v: u128) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_f32(self, v: f32) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result<(), CodecError> {
        self.put(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_char(self, v: char) -> Result<(), CodecError> {
        self.put(&u32::from(v).to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), CodecError> {
        self.serialize_bytes(v.as_bytes())
    }

    #[inline]
    fn serialize_bytes(self, v: &[u8]) -> Result<(), CodecError> {
        self.put_len(v.len())?;
        self.put(v);
        Ok(())
    }

    #[inline]
    fn serialize_none(self) -> Result<(), CodecError> {
        self.put_u8(0);
        Ok(())
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CodecError> {
        self.put_u8(1);
        value.serialize(self)
    }

    #[inline]
    fn serialize_unit(self) -> Result<(), CodecError> {
        Ok(())
    }

    #[inline]
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), CodecError> {
        Ok(())
    }

    #[inline]
    fn serialize_unit_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
    ) -> Result<(), CodecError> {
        self.put(&index.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(self)
    }

    #[inline]
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

    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Counted<'a>, CodecError> {
        Counted::new(self, len)
    }

    /// What serde's sequences (`Vec<T>`, `[T]`, …) call: their elements are first offered to
    /// [`ByteSink`], which takes a `u8` and refuses anything else. While elements are bytes
    /// they are gathered in a block and copied out by the block, not written one call at a
    /// time; at the first element that is not a byte, this and every later element is written
    /// as [`ser::SerializeSeq::serialize_element`] would. A byte is one byte in this format
    /// either way, so the output is the same: only faster for openmls's keys, signatures and
    /// hashes, which are `Vec<u8>`s inside `VLBytes` (about 9 KB per member of a group).
    fn collect_seq<I>(self, iter: I) -> Result<(), CodecError>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        let iter = iter.into_iter();
        let len = match iter.size_hint() {
            (lo, Some(hi)) if lo == hi => Some(lo),
            _ => None,
        };
        let mut seq = Counted::new(self, len)?;
        let mut block = [0u8; 512];
        let mut n = 0;
        let mut bytes = true;
        for item in iter {
            if bytes {
                let mut sink = ByteSink(0);
                if item.serialize(&mut sink).is_ok() {
                    if let Some(slot) = block.get_mut(n) {
                        *slot = sink.0;
                    }
                    n += 1;
                    if n == block.len() {
                        seq.out.put(&block);
                        n = 0;
                    }
                    if seq.patch.is_some() {
                        seq.count += 1;
                    }
                    continue;
                }
                seq.out.put(block.get(..n).unwrap_or_default());
                n = 0;
                bytes = false;
            }
            ser::SerializeSeq::serialize_element(&mut seq, &item)?;
        }
        seq.out.put(block.get(..n).unwrap_or_default());
        ser::SerializeSeq::end(seq)
    }

    #[inline]
    fn serialize_tuple(self, _: usize) -> Result<Self, CodecError> {
        self.depth += 1;
        Ok(self)
    }

    #[inline]
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, CodecError> {
        self.depth += 1;
        Ok(self)
    }

    #[inline]
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, CodecError> {
        self.put(&index.to_le_bytes());
        self.depth += 1;
        Ok(self)
    }

    #[inline]
    fn serialize_map(self, len: Option<usize>) -> Result<Counted<'a>, CodecError> {
        Counted::new(self, len)
    }

    #[inline]
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, CodecError> {
        self.depth += 1;
        Ok(self)
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, CodecError> {
        self.put(&index.to_le_bytes());
        self.depth += 1;
        Ok(self)
    }
}

impl ser::SerializeSeq for Counted<'_> {
    type Ok = ();
    type Error = CodecError;

    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        if self.patch.is_some() {
            self.count += 1;
        }
        value.serialize(&mut self.out)?;
        if let Some(m) = &mut self.out.marks
            && m.depth == self.out.depth
            && let Some(seq) = m.seqs.last_mut()
        {
            seq.push(self.out.pos);
        }
        Ok(())
    }

    #[inline]
    fn end(self) -> Result<(), CodecError> {
        self.finish()
    }
}

impl ser::SerializeMap for Counted<'_> {
    type Ok = ();
    type Error = CodecError;

    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CodecError> {
        if self.patch.is_some() {
            self.count += 1;
        }
        key.serialize(&mut self.out)
    }

    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut self.out)
    }

    #[inline]
    fn end(self) -> Result<(), CodecError> {
        self.finish()
    }
}

impl ser::SerializeTuple for &mut Out {
    type Ok = ();
    type Error = CodecError;

    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    #[inline]
    fn end(self) -> Result<(), CodecError> {
        self.depth = self.depth.saturating_sub(1);
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Out {
    type Ok = ();
    type Error = CodecError;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    #[inline]
    fn end(self) -> Result<(), CodecError> {
        self.depth = self.depth.saturating_sub(1);
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Out {
    type Ok = ();
    type Error = CodecError;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    #[inline]
    fn end(self) -> Result<(), CodecError> {
        self.depth = self.depth.saturating_sub(1);
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Out {
    type Ok = ();
    type Error = CodecError;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    #[inline]
    fn skip_field(&mut self, key: &'static str) -> Result<(), CodecError> {
        // A skipped field would shift every later one: the format has no field names.
        Err(CodecError::new(format!(
            "field `{key}` skipped while encoding"
        )))
    }

    #[inline]
    fn end(self) -> Result<(), CodecError> {
        self.depth = self.depth.saturating_sub(1);
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Out {
    type Ok = ();
    type Error = CodecError;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    #[inline]
    fn skip_field(&mut self, key: &'static str) -> Result<(), CodecError> {
        Err(CodecError::new(format!(
            "field `{key}` skipped while encoding"
        )))
    }

    #[inline]
    fn end(self) -> Result<(), CodecError> {
        self.depth = self.depth.saturating_sub(1);
        Ok(())
    }
}
