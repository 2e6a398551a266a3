//! A serializer that takes one byte and refuses anything else: how `ser.rs` copies serde's
//! sequences of bytes by the block.

use serde::ser::{self, Serialize};

/// A serializer that takes one `u8` and refuses everything else (see `collect_seq`).
pub(super) struct ByteSink(pub(super) u8);

/// [`ByteSink`]'s refusal: the value is not a byte. Carries nothing, costs nothing.
#[derive(Debug)]
pub(super) struct NotBytes;

impl std::fmt::Display for NotBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a byte")
    }
}

impl std::error::Error for NotBytes {}

impl ser::Error for NotBytes {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotBytes
    }
}

/// `fn $name(self, …) -> Err(NotBytes)` for every other method of the data model.
macro_rules! refuse {
    ($($name:ident($($arg:ty),*);)*) => {
        $(
            #[inline]
            fn $name(self, $(_: $arg),*) -> Result<(), NotBytes> {
                Err(NotBytes)
            }
        )*
    };
}

impl ser::Serializer for &mut ByteSink {
    type Ok = ();
    type Error = NotBytes;
    type SerializeSeq = ser::Impossible<(), NotBytes>;
    type SerializeTuple = ser::Impossible<(), NotBytes>;
    type SerializeTupleStruct = ser::Impossible<(), NotBytes>;
    type SerializeTupleVariant = ser::Impossible<(), NotBytes>;
    type SerializeMap = ser::Impossible<(), NotBytes>;
    type SerializeStruct = ser::Impossible<(), NotBytes>;
    type SerializeStructVariant = ser::Impossible<(), NotBytes>;

    fn is_human_readable(&self) -> bool {
        false
    }

    #[inline]
    fn serialize_u8(self, v: u8) -> Result<(), NotBytes> {
        self.0 = v;
        Ok(())
    }

    refuse! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), NotBytes> {
        Err(NotBytes)
    }

    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotBytes> {
        Err(NotBytes)
    }

    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotBytes> {
        Err(NotBytes)
    }

    #[inline]
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotBytes> {
        Err(NotBytes)
    }

    #[inline]
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotBytes> {
        Err(NotBytes)
    }

    #[inline]
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotBytes> {
        Err(NotBytes)
    }

    #[inline]
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotBytes> {
        Err(NotBytes)
    }

    #[inline]
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotBytes> {
        Err(NotBytes)
    }

    #[inline]
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotBytes> {
        Err(NotBytes)
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotBytes> {
        Err(NotBytes)
    }
}
