//! How a value fills a placeholder of a key template (`key = "user:{id}"`).
//!
//! Scalars are written as text. In strings, every byte outside `[A-Za-z0-9_.-]` is
//! percent-escaped, so a value can never contain a separator such as `:`; the macro requires a
//! separator between two placeholders, and so two different argument lists never render the same
//! key. `None` is `~`; anything that is not a scalar (a sequence, a map, a struct, bytes, an enum
//! variant with data) is `~` followed by the hex of its [canonical](super::canonical) encoding.
//!
//! ```text
//! 42u64        -> 42
//! "a:b c"      -> a%3Ab%20c
//! None::<u8>   -> ~
//! vec![1u8]    -> ~10030100000000000000000
//! ```

use serde::ser::{self, Impossible, Serialize};

use super::canonical::{self, Sink};
use super::KeyError;

/// Appends the placeholder text of `value` to `out`.
pub(crate) fn render<T: Serialize + ?Sized, S: Sink + Truncate>(
    value: &T,
    out: &mut S,
) -> Result<(), KeyError> {
    let start = out.len();
    match value.serialize(Text {
        out: &mut *out,
        inside_some: false,
    }) {
        Err(error) if error.is_not_scalar() => {
            out.truncate(start);
            let mut encoded = Vec::new();
            canonical::encode(value, &mut encoded)?;
            out.put(b"~");
            put_hex(out, &encoded);
            Ok(())
        }
        other => other,
    }
}

/// A sink that can drop what was written after a point.
pub(crate) trait Truncate {
    fn len(&self) -> usize;
    fn truncate(&mut self, len: usize);
}

impl Truncate for Vec<u8> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
}

pub(crate) fn put_hex<S: Sink + ?Sized>(out: &mut S, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.put(&[
            DIGITS[usize::from(byte >> 4)],
            DIGITS[usize::from(byte & 0xf)],
        ]);
    }
}

fn put_escaped<S: Sink>(out: &mut S, text: &str) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-') {
            out.put(&[byte]);
        } else {
            out.put(&[
                b'%',
                DIGITS[usize::from(byte >> 4)],
                DIGITS[usize::from(byte & 0xf)],
            ]);
        }
    }
}

struct Text<'a, S: Sink> {
    out: &'a mut S,
    /// `Some(None)` must not render like `None`.
    inside_some: bool,
}

impl<S: Sink> Text<'_, S> {
    /// An integer, as `Display` writes it, without the formatting machinery (a key's id is
    /// rendered on every call).
    fn integer(self, value: impl itoa::Integer) -> Result<(), KeyError> {
        self.out.put(itoa::Buffer::new().format(value).as_bytes());
        Ok(())
    }

    fn display(self, value: impl std::fmt::Display) -> Result<(), KeyError> {
        struct Writer<'a, S: Sink>(&'a mut S);
        impl<S: Sink> std::fmt::Write for Writer<'_, S> {
            fn write_str(&mut self, text: &str) -> std::fmt::Result {
                self.0.put(text.as_bytes());
                Ok(())
            }
        }
        std::fmt::Write::write_fmt(&mut Writer(self.out), format_args!("{value}"))
            .map_err(|_| KeyError::not_scalar())
    }
}

type Compound = Impossible<(), KeyError>;

impl<S: Sink> ser::Serializer for Text<'_, S> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = Compound;
    type SerializeTuple = Compound;
    type SerializeTupleStruct = Compound;
    type SerializeTupleVariant = Compound;
    type SerializeMap = Compound;
    type SerializeStruct = Compound;
    type SerializeStructVariant = Compound;

    fn serialize_bool(self, v: bool) -> Result<(), KeyError> {
        self.display(v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), KeyError> {
        self.integer(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), KeyError> {
        self.integer(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), KeyError> {
        self.integer(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), KeyError> {
        self.integer(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), KeyError> {
        self.integer(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), KeyError> {
        self.integer(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), KeyError> {
        self.integer(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), KeyError> {
        self.integer(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), KeyError> {
        self.integer(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), KeyError> {
        self.integer(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), KeyError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), KeyError> {
        // Shortest round-trip text: distinct values give distinct text ("NaN", "inf", "-0").
        self.display(v)
    }
    fn serialize_char(self, v: char) -> Result<(), KeyError> {
        put_escaped(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), KeyError> {
        put_escaped(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), KeyError> {
        Err(KeyError::not_scalar())
    }
    fn serialize_none(self) -> Result<(), KeyError> {
        if self.inside_some {
            return Err(KeyError::not_scalar());
        }
        self.out.put(b"~");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), KeyError> {
        value.serialize(Text {
            out: self.out,
            inside_some: true,
        })
    }
    fn serialize_unit(self) -> Result<(), KeyError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), KeyError> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), KeyError> {
        put_escaped(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), KeyError> {
        Err(KeyError::not_scalar())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound, KeyError> {
        Err(KeyError::not_scalar())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound, KeyError> {
        Err(KeyError::not_scalar())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound, KeyError> {
        Err(KeyError::not_scalar())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Compound, KeyError> {
        Err(KeyError::not_scalar())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound, KeyError> {
        Err(KeyError::not_scalar())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound, KeyError> {
        Err(KeyError::not_scalar())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Compound, KeyError> {
        Err(KeyError::not_scalar())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<T: Serialize + ?Sized>(value: &T) -> String {
        let mut out = Vec::new();
        render(value, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn documented_examples() {
        assert_eq!(text(&42u64), "42");
        assert_eq!(text("a:b c"), "a%3Ab%20c");
        assert_eq!(text(&None::<u8>), "~");
        assert_eq!(text(&vec![1u8]), "~1003010000000000000000");
    }

    #[test]
    fn values_never_contain_separators_or_collide() {
        assert_eq!(text("~"), "%7E");
        assert_eq!(text(&Some("x")), "x");
        assert_ne!(text(&Some(None::<u8>)), text(&None::<Option<u8>>));
        assert_ne!(text("%41"), text("A"));
        assert_eq!(text(&-0.5f64), "-0.5");
    }
}
