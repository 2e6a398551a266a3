//! The primitive reader and writer every format is built from.
//!
//! Integers are big-endian. Variable-length fields are prefixed by their length as `u16` or
//! `u32` and checked against a per-field maximum *before* anything is allocated.

use crate::WireError;

/// A cursor over input bytes. Every read is bounds-checked and returns [`WireError`].
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Reads exactly `n` bytes.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.remaining() < n {
            return Err(WireError::Truncated {
                what,
                needed: n,
                available: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N, what)?);
        Ok(a)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `i64`.
    pub fn i64(&mut self, what: &'static str) -> Result<i64, WireError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// Reads a `u16`-length-prefixed field of at most `max` bytes.
    pub fn var16(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let len = usize::from(self.u16(what)?);
        self.var_body(len, max, what)
    }

    /// Reads a `u32`-length-prefixed field of at most `max` bytes.
    pub fn var32(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let len = usize::try_from(self.u32(what)?).unwrap_or(usize::MAX);
        self.var_body(len, max, what)
    }

    fn var_body(
        &mut self,
        len: usize,
        max: usize,
        what: &'static str,
    ) -> Result<&'a [u8], WireError> {
        if len > max {
            return Err(WireError::TooLong { what, len, max });
        }
        self.bytes(len, what)
    }

    /// Reads the rest of the input.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Fails if any input is left: every format is exactly its encoding.
    pub fn finish(self, what: &'static str) -> Result<(), WireError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(WireError::TrailingBytes { what, count }),
        }
    }
}

/// An output buffer.
#[derive(Debug, Clone, Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// An empty buffer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }

    /// Appends a byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    /// Appends a big-endian `u16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a big-endian `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a big-endian `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a big-endian `i64`.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a `u16`-length-prefixed field. Fields longer than `u16::MAX` are a caller bug and
    /// are truncated to the prefix's range; encoders check their maxima before calling.
    pub fn var16(&mut self, b: &[u8]) -> &mut Self {
        let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
        self.u16(len).bytes(&b[..usize::from(len)])
    }

    /// Appends a `u32`-length-prefixed field.
    pub fn var32(&mut self, b: &[u8]) -> &mut Self {
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        self.u32(len).bytes(&b[..len as usize])
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The finished buffer.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_errors() {
        let mut w = Writer::new();
        w.u8(1)
            .u16(2)
            .u32(3)
            .u64(4)
            .i64(-5)
            .var16(b"abc")
            .var32(b"defg");
        let v = w.into_vec();
        let mut r = Reader::new(&v);
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.u16("b").unwrap(), 2);
        assert_eq!(r.u32("c").unwrap(), 3);
        assert_eq!(r.u64("d").unwrap(), 4);
        assert_eq!(r.i64("e").unwrap(), -5);
        assert_eq!(r.var16(10, "f").unwrap(), b"abc");
        assert_eq!(r.var32(10, "g").unwrap(), b"defg");
        r.finish("x").unwrap();

        let mut r = Reader::new(&[0, 5, 1, 2]);
        assert_eq!(
            r.var16(10, "f"),
            Err(WireError::Truncated {
                what: "f",
                needed: 5,
                available: 2
            })
        );
        let mut r = Reader::new(&[0, 50]);
        assert_eq!(
            r.var16(10, "f"),
            Err(WireError::TooLong {
                what: "f",
                len: 50,
                max: 10
            })
        );
        let r = Reader::new(&[1]);
        assert_eq!(
            r.finish("v"),
            Err(WireError::TrailingBytes {
                what: "v",
                count: 1
            })
        );
    }

    proptest! {
        #[test]
        fn reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&data);
            let _ = r.var32(1 << 20, "a");
            let _ = r.var16(100, "b");
            let _ = r.u64("c");
        }
    }
}
