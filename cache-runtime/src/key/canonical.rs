//! The canonical encoding of key arguments: what the default key's digest is taken over.
//!
//! Every value is written as a tag byte followed by a fixed-size or self-delimiting body, so the
//! encoding of an argument list is injective: two different argument lists never produce the same
//! bytes. It depends only on the values' serde form, never on memory addresses, `Debug` output or
//! a seeded hasher. Maps are written with their entries sorted by encoded key, so a `HashMap`
//! gives the same bytes in every process. (A `HashSet` serializes as a sequence in serde, in its
//! random order: use a `BTreeSet` in a key.)
//!
//! ```text
//! u64 42          -> 03 2a 00 00 00 00 00 00 00
//! "ab"            -> 08 02 61 62
//! Some(1u8)       -> 0b 03 01 00 00 00 00 00 00 00
//! [1u8]           -> 10 03 01 00 00 00 00 00 00 00 00
//! ```

use serde::ser::{self, Serialize};

use super::KeyError;

const END: u8 = 0x00;
const BOOL: u8 = 0x01;
const INT: u8 = 0x02;
const UINT: u8 = 0x03;
const INT128: u8 = 0x04;
const UINT128: u8 = 0x05;
const FLOAT: u8 = 0x06;
const CHAR: u8 = 0x07;
const STR: u8 = 0x08;
const BYTES: u8 = 0x09;
const NONE: u8 = 0x0a;
const SOME: u8 = 0x0b;
const UNIT: u8 = 0x0c;
const UNIT_VARIANT: u8 = 0x0e;
const NEWTYPE_VARIANT: u8 = 0x0f;
const SEQ: u8 = 0x10;
const TUPLE: u8 = 0x11;
const TUPLE_VARIANT: u8 = 0x12;
const MAP: u8 = 0x13;
const STRUCT: u8 = 0x14;
const STRUCT_VARIANT: u8 = 0x15;

/// Where encoded bytes go.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        match bytes {
            [byte] => self.push(*byte),
            _ => self.extend_from_slice(bytes),
        }
    }
}

/// Appends the canonical encoding of `value` to `out`.
pub(crate) fn encode<T: Serialize + ?Sized, S: Sink>(
    value: &T,
    out: &mut S,
) -> Result<(), KeyError> {
    value.serialize(Canonical { out })
}

/// Appends a length-prefixed string (LEB128 length, then the bytes).
pub(crate) fn put_str<S: Sink>(out: &mut S, s: &[u8]) {
    let mut len = s.len() as u64;
    let mut buf = [0u8; 10];
    let mut n = 0;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            buf[n] = byte;
            n += 1;
            break;
        }
        buf[n] = byte | 0x80;
        n += 1;
    }
    out.put(&buf[..n]);
    out.put(s);
}

struct Canonical<'a, S: Sink> {
    out: &'a mut S,
}

impl<S: Sink> Canonical<'_, S> {
    #[inline]
    fn tagged<const N: usize>(self, tag: u8, body: [u8; N]) -> Result<(), KeyError> {
        self.out.put(&[tag]);
        self.out.put(&body);
        Ok(())
    }

    fn named(self, tag: u8, name: &str) -> Self {
        self.out.put(&[tag]);
        put_str(self.out, name.as_bytes());
        self
    }
}

/// Writes the elements of a sequence, tuple or struct, then an end marker.
struct Compound<'a, S: Sink> {
    out: &'a mut S,
}

impl<S: Sink> Compound<'_, S> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        value.serialize(Canonical {
            out: &mut *self.out,
        })
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), KeyError> {
        put_str(self.out, name.as_bytes());
        self.element(value)
    }

    fn end(self) -> Result<(), KeyError> {
        self.out.put(&[END]);
        Ok(())
    }
}

/// Buffers each map entry, then writes them sorted so that iteration order does not matter.
struct SortedMap<'a, S: Sink> {
    out: &'a mut S,
    entries: Vec<Vec<u8>>,
    current: Vec<u8>,
}

impl<'a, S: Sink> ser::Serializer for Canonical<'a, S> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = Compound<'a, S>;
    type SerializeTuple = Compound<'a, S>;
    type SerializeTupleStruct = Compound<'a, S>;
    type SerializeTupleVariant = Compound<'a, S>;
    type SerializeMap = SortedMap<'a, S>;
    type SerializeStruct = Compound<'a, S>;
    type SerializeStructVariant = Compound<'a, S>;

    fn serialize_bool(self, v: bool) -> Result<(), KeyError> {
        self.tagged(BOOL, [u8::from(v)])
    }
    fn serialize_i8(self, v: i8) -> Result<(), KeyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), KeyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), KeyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), KeyError> {
        self.tagged(INT, v.to_le_bytes())
    }
    fn serialize_i128(self, v: i128) -> Result<(), KeyError> {
        self.tagged(INT128, v.to_le_bytes())
    }
    fn serialize_u8(self, v: u8) -> Result<(), KeyError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), KeyError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), KeyError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), KeyError> {
        self.tagged(UINT, v.to_le_bytes())
    }
    fn serialize_u128(self, v: u128) -> Result<(), KeyError> {
        self.tagged(UINT128, v.to_le_bytes())
    }
    fn serialize_f32(self, v: f32) -> Result<(), KeyError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), KeyError> {
        // Every NaN is the same key; -0.0 and 0.0 stay distinct values.
        let bits = if v.is_nan() {
            f64::NAN.to_bits()
        } else {
            v.to_bits()
        };
        self.tagged(FLOAT, bits.to_le_bytes())
    }
    fn serialize_char(self, v: char) -> Result<(), KeyError> {
        self.tagged(CHAR, u32::from(v).to_le_bytes())
    }
    fn serialize_str(self, v: &str) -> Result<(), KeyError> {
        self.out.put(&[STR]);
        put_str(self.out, v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), KeyError> {
        self.out.put(&[BYTES]);
        put_str(self.out, v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), KeyError> {
        self.tagged(NONE, [])
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), KeyError> {
        self.out.put(&[SOME]);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), KeyError> {
        self.tagged(UNIT, [])
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), KeyError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), KeyError> {
        self.named(UNIT_VARIANT, variant);
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
        variant: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        value.serialize(self.named(NEWTYPE_VARIANT, variant))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, S>, KeyError> {
        self.out.put(&[SEQ]);
        Ok(Compound { out: self.out })
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a, S>, KeyError> {
        self.out.put(&[TUPLE]);
        Ok(Compound { out: self.out })
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, S>, KeyError> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, S>, KeyError> {
        Ok(Compound {
            out: self.named(TUPLE_VARIANT, variant).out,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<SortedMap<'a, S>, KeyError> {
        Ok(SortedMap {
            out: self.out,
            entries: Vec::new(),
            current: Vec::new(),
        })
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, S>, KeyError> {
        self.out.put(&[STRUCT]);
        Ok(Compound { out: self.out })
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, S>, KeyError> {
        Ok(Compound {
            out: self.named(STRUCT_VARIANT, variant).out,
        })
    }
}

/// The element-wise serde traits: each element is written as it comes, then the end marker.
macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl<S: Sink> ser::$trait for Compound<'_, S> {
            type Ok = ();
            type Error = KeyError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
                self.element(value)
            }
            fn end(self) -> Result<(), KeyError> {
                Compound::end(self)
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// The field-wise serde traits: each field is written with its name.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl<S: Sink> ser::$trait for Compound<'_, S> {
            type Ok = ();
            type Error = KeyError;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                name: &'static str,
                value: &T,
            ) -> Result<(), KeyError> {
                self.field(name, value)
            }
            fn end(self) -> Result<(), KeyError> {
                Compound::end(self)
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

impl<S: Sink> ser::SerializeMap for SortedMap<'_, S> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), KeyError> {
        encode(key, &mut self.current)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        encode(value, &mut self.current)?;
        self.entries.push(std::mem::take(&mut self.current));
        Ok(())
    }
    fn end(mut self) -> Result<(), KeyError> {
        // Each entry is self-delimiting, so sorting whole entries sorts by key.
        self.entries.sort_unstable();
        self.out.put(&[MAP]);
        for entry in &self.entries {
            self.out.put(entry);
        }
        self.out.put(&[END]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    fn bytes<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
        let mut out = Vec::new();
        encode(value, &mut out).unwrap();
        out
    }

    #[test]
    fn documented_examples() {
        assert_eq!(bytes(&42u64), [3, 42, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("ab"), [8, 2, b'a', b'b']);
        assert_eq!(bytes(&Some(1u8)), [11, 3, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(&[1u8][..]), [16, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn argument_boundaries_never_blur() {
        assert_ne!(bytes(&("ab", "c")), bytes(&("a", "bc")));
        assert_ne!(
            bytes(&(vec![1u8, 2], vec![3u8])),
            bytes(&(vec![1u8], vec![2u8, 3]))
        );
        assert_ne!(
            bytes(&(None::<u8>, Some(0u8))),
            bytes(&(Some(0u8), None::<u8>))
        );
    }

    #[test]
    fn hash_map_order_does_not_matter() {
        let forward: HashMap<String, u32> = (0..50).map(|i| (format!("k{i}"), i)).collect();
        let mut backward: HashMap<String, u32> = HashMap::new();
        for i in (0..50).rev() {
            backward.insert(format!("k{i}"), i);
        }
        let sorted: BTreeMap<String, u32> = forward.clone().into_iter().collect();
        assert_eq!(bytes(&forward), bytes(&backward));
        assert_eq!(bytes(&forward), bytes(&sorted));
    }

    #[test]
    fn every_nan_is_one_key() {
        assert_eq!(bytes(&f64::NAN), bytes(&-f64::NAN));
        assert_ne!(bytes(&0.0f64), bytes(&-0.0f64));
    }
}
