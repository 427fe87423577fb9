//! What a decoded value weighs in memory, for a byte-bounded [`MemoryStore`](super::MemoryStore):
//! its inline size plus what it owns on the heap, added up from its serde form.
//!
//! ```text
//! Vec<u64> of 1,000 small numbers:   MessagePack ~1,000 bytes,   held 24 + 8,000 bytes
//! ```
//!
//! The encoded size (what was weighed before) undercounts what the store holds by up to 8x for
//! such values. Each node of the serde data model counts what its Rust form takes: a number its
//! width, a string or byte buffer 24 bytes and its length, a sequence 24 bytes and its elements,
//! a map 24 bytes and, per entry, its key, its value and [`MAP_ENTRY`] of bookkeeping, a struct
//! its fields. Padding, spare capacity and pointers serde looks through (`Box`, `Arc`) are not
//! seen: an estimate, but of the allocator's order for every value shape.

use serde::ser::{self, Serialize};

/// The bytes `value` holds, inline and on the heap.
pub(crate) fn weight<T: Serialize + ?Sized>(value: &T) -> usize {
    let mut size = Size(0);
    // A value whose `Serialize` fails weighs what was counted before it failed.
    let _ = value.serialize(&mut size);
    size.0
}

/// A `String`, `Vec` or map header: pointer, length, capacity.
const BUFFER: usize = 24;
/// Bookkeeping per map entry beyond its key and value (hash table control bytes, tree nodes).
const MAP_ENTRY: usize = 16;
/// An enum's tag, as counted (the real one is often smaller, or hidden in a niche).
const TAG: usize = 8;

struct Size(usize);

impl Size {
    fn add(&mut self, bytes: usize) -> Result<(), Never> {
        self.0 = self.0.saturating_add(bytes);
        Ok(())
    }
}

#[derive(Debug)]
struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("weighing failed")
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Never
    }
}

macro_rules! numbers {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method(self, _: $ty) -> Result<(), Never> {
            self.add(std::mem::size_of::<$ty>())
        })*
    };
}

impl ser::Serializer for &mut Size {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    numbers!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64, serialize_char: char,
    );

    fn serialize_str(self, value: &str) -> Result<(), Never> {
        self.add(BUFFER + value.len())
    }
    fn serialize_bytes(self, value: &[u8]) -> Result<(), Never> {
        self.add(BUFFER + value.len())
    }
    fn serialize_none(self) -> Result<(), Never> {
        self.add(TAG)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Never> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Never> {
        self.add(1)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.add(TAG)?;
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Never> {
        self.add(BUFFER)?;
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Never> {
        self.add(TAG)?;
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, Never> {
        self.add(BUFFER)?;
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Never> {
        self.add(TAG)?;
        Ok(self)
    }
}

impl ser::SerializeMap for &mut Size {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Never> {
        self.add(MAP_ENTRY)?;
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

/// Sequences, tuples, structs and variants: each element or field counts what it holds.
macro_rules! members {
    ($($trait:ident: $method:ident ($($name:ty),*)),* $(,)?) => {
        $(impl ser::$trait for &mut Size {
            type Ok = ();
            type Error = Never;
            fn $method<T: Serialize + ?Sized>(&mut self, $(_: $name,)* value: &T) -> Result<(), Never> {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Never> {
                Ok(())
            }
        })*
    };
}

members!(
    SerializeSeq: serialize_element(),
    SerializeTuple: serialize_element(),
    SerializeTupleStruct: serialize_field(),
    SerializeTupleVariant: serialize_field(),
    SerializeStruct: serialize_field(&'static str),
    SerializeStructVariant: serialize_field(&'static str),
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn weights_follow_what_is_held() {
        assert_eq!(weight(&7u64), 8);
        assert_eq!(weight(&vec![1u64; 1_000]), 24 + 8_000);
        assert_eq!(weight(&"abc".to_owned()), 24 + 3);
        assert_eq!(weight(&vec!["ab".to_owned(); 10]), 24 + 10 * (24 + 2));
        #[derive(serde::Serialize)]
        struct User {
            id: u64,
            name: String,
            tags: Vec<u32>,
        }
        let user = User {
            id: 1,
            name: "ada".into(),
            tags: vec![1, 2],
        };
        assert_eq!(weight(&user), std::mem::size_of::<User>() + 3 + 8);
        assert_eq!(weight(&Some(vec![1u8; 100])), 24 + 100);
        let map: BTreeMap<u32, u64> = (0..10).map(|i| (i, 0)).collect();
        assert_eq!(weight(&map), 24 + 10 * (MAP_ENTRY + 4 + 8));
    }
}
