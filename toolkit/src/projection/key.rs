//! The order-preserving encoding of table keys: any serde key becomes bytes that sort as the
//! key does, so a table's range and prefix scans are RocksDB range scans.
//!
//! | value | bytes |
//! |---|---|
//! | `bool`, unsigned integers | big-endian |
//! | signed integers | big-endian with the sign bit flipped (negatives first) |
//! | `f32`, `f64` | IEEE bits, all flipped when negative, else the sign bit flipped |
//! | `char` | its `u32`, big-endian |
//! | strings, bytes | each `0x00` written `0x00 0xff`, then the end mark `0x00 0x00` |
//! | `Option` | `0` for `None`; `1`, then the value |
//! | sequences, maps | `1` before each element (key and value for a map), `0` at the end |
//! | tuples, structs | their fields one after the other, in declaration order |
//! | enums | the variant's index as a `u32`, big-endian, then its fields |
//! | unit, unit structs | nothing |
//!
//! The end mark of a string sorts below every byte that can follow inside it, so a string
//! sorts before its extensions whatever follows it in a tuple, and a key's leading fields are
//! a byte prefix of it: `(String, u64)` keys of one customer are one prefix scan.
//! Structs sort by their fields in declaration order, as `#[derive(PartialOrd)]` does;
//! enums by variant order. Maps sort by their serialized order (a `BTreeMap`'s is its key
//! order). The encoding is not self-describing: a key reads back only as its own type.
//!
//! Over 600 lines: the encoder and decoder are one serde data model each way, and their unit
//! tests (order preserved for every type) belong beside them.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

/// Why a key cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub(crate) String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

impl ser::Error for KeyError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        KeyError(msg.to_string())
    }
}

impl de::Error for KeyError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        KeyError(msg.to_string())
    }
}

/// Appends the encoding of `key` to `out`.
pub(crate) fn encode_into<K: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    key: &K,
) -> Result<(), KeyError> {
    key.serialize(&mut Encoder { out })
}

/// Reads a key back from its whole encoding.
pub(crate) fn decode<K: de::DeserializeOwned>(bytes: &[u8]) -> Result<K, KeyError> {
    let mut decoder = Decoder { input: bytes };
    let key = K::deserialize(&mut decoder)?;
    if decoder.input.is_empty() {
        Ok(key)
    } else {
        Err(KeyError(format!(
            "{} bytes are left after the key: it was stored as another type",
            decoder.input.len()
        )))
    }
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl Encoder<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.out.push(byte);
            if byte == 0 {
                self.out.push(0xff);
            }
        }
        self.out.extend_from_slice(&[0, 0]);
    }
}

macro_rules! unsigned {
    ($($method:ident: $t:ty),*) => {$(
        fn $method(self, v: $t) -> Result<(), KeyError> {
            self.out.extend_from_slice(&v.to_be_bytes());
            Ok(())
        }
    )*};
}

macro_rules! signed {
    ($($method:ident: $t:ty => $u:ty),*) => {$(
        fn $method(self, v: $t) -> Result<(), KeyError> {
            let flipped = (v as $u) ^ ((1 as $u) << (<$u>::BITS - 1));
            self.out.extend_from_slice(&flipped.to_be_bytes());
            Ok(())
        }
    )*};
}

impl<'a> ser::Serializer for &mut Encoder<'a> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    unsigned!(serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_u128: u128);
    signed!(serialize_i8: i8 => u8, serialize_i16: i16 => u16, serialize_i32: i32 => u32,
        serialize_i64: i64 => u64, serialize_i128: i128 => u128);

    fn serialize_bool(self, v: bool) -> Result<(), KeyError> {
        self.out.push(u8::from(v));
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), KeyError> {
        let bits = v.to_bits();
        let bits = if bits >> 31 == 1 {
            !bits
        } else {
            bits ^ (1 << 31)
        };
        self.out.extend_from_slice(&bits.to_be_bytes());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), KeyError> {
        let bits = v.to_bits();
        let bits = if bits >> 63 == 1 {
            !bits
        } else {
            bits ^ (1 << 63)
        };
        self.out.extend_from_slice(&bits.to_be_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), KeyError> {
        self.serialize_u32(u32::from(v))
    }
    fn serialize_str(self, v: &str) -> Result<(), KeyError> {
        self.bytes(v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), KeyError> {
        self.bytes(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), KeyError> {
        self.out.push(0);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), KeyError> {
        self.out.push(1);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), KeyError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), KeyError> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
    ) -> Result<(), KeyError> {
        self.serialize_u32(index)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        self.out.extend_from_slice(&index.to_be_bytes());
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, KeyError> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, KeyError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, KeyError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, KeyError> {
        self.out.extend_from_slice(&index.to_be_bytes());
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, KeyError> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, KeyError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, KeyError> {
        self.out.extend_from_slice(&index.to_be_bytes());
        Ok(self)
    }
}

impl ser::SerializeSeq for &mut Encoder<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        self.out.push(1);
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), KeyError> {
        self.out.push(0);
        Ok(())
    }
}

impl ser::SerializeMap for &mut Encoder<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), KeyError> {
        self.out.push(1);
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), KeyError> {
        self.out.push(0);
        Ok(())
    }
}

macro_rules! fields {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for &mut Encoder<'_> {
            type Ok = ();
            type Error = KeyError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), KeyError> {
                Ok(())
            }
        }
    )*};
}
fields!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

macro_rules! named_fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for &mut Encoder<'_> {
            type Ok = ();
            type Error = KeyError;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Result<(), KeyError> {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), KeyError> {
                Ok(())
            }
        }
    )*};
}
named_fields!(SerializeStruct, SerializeStructVariant);

struct Decoder<'de> {
    input: &'de [u8],
}

fn short() -> KeyError {
    KeyError("the key's bytes end early: it was stored as another type".to_owned())
}

impl<'de> Decoder<'de> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], KeyError> {
        let (head, rest) = self.input.split_first_chunk::<N>().ok_or_else(short)?;
        self.input = rest;
        Ok(*head)
    }

    fn byte(&mut self) -> Result<u8, KeyError> {
        Ok(self.take::<1>()?[0])
    }

    fn bytes(&mut self) -> Result<Vec<u8>, KeyError> {
        let mut out = Vec::new();
        loop {
            match self.byte()? {
                0 => match self.byte()? {
                    0 => return Ok(out),
                    0xff => out.push(0),
                    other => {
                        return Err(KeyError(format!(
                            "a string's bytes hold 0x00 0x{other:02x}, which no key writes"
                        )));
                    }
                },
                byte => out.push(byte),
            }
        }
    }

    fn more(&mut self) -> Result<bool, KeyError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(KeyError(format!(
                "a sequence's element mark is {other}, not 0 or 1"
            ))),
        }
    }
}

macro_rules! read_unsigned {
    ($($method:ident: $t:ty => $visit:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
            visitor.$visit(<$t>::from_be_bytes(self.take()?))
        }
    )*};
}

macro_rules! read_signed {
    ($($method:ident: $t:ty => $u:ty, $visit:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
            let raw = <$u>::from_be_bytes(self.take()?) ^ ((1 as $u) << (<$u>::BITS - 1));
            visitor.$visit(raw as $t)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Decoder<'de> {
    type Error = KeyError;

    read_unsigned!(deserialize_u8: u8 => visit_u8, deserialize_u16: u16 => visit_u16,
        deserialize_u32: u32 => visit_u32, deserialize_u64: u64 => visit_u64,
        deserialize_u128: u128 => visit_u128);
    read_signed!(deserialize_i8: i8 => u8, visit_i8, deserialize_i16: i16 => u16, visit_i16,
        deserialize_i32: i32 => u32, visit_i32, deserialize_i64: i64 => u64, visit_i64,
        deserialize_i128: i128 => u128, visit_i128);

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, KeyError> {
        Err(KeyError(
            "a table key reads back only as a concrete type (the encoding is not \
             self-describing): no untagged enums or `serde(flatten)` in keys"
                .to_owned(),
        ))
    }
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        visitor.visit_bool(self.byte()? != 0)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        let bits = u32::from_be_bytes(self.take()?);
        let bits = if bits >> 31 == 1 {
            bits ^ (1 << 31)
        } else {
            !bits
        };
        visitor.visit_f32(f32::from_bits(bits))
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        let bits = u64::from_be_bytes(self.take()?);
        let bits = if bits >> 63 == 1 {
            bits ^ (1 << 63)
        } else {
            !bits
        };
        visitor.visit_f64(f64::from_bits(bits))
    }
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        let code = u32::from_be_bytes(self.take()?);
        let c = char::from_u32(code).ok_or_else(|| KeyError(format!("{code:#x} is not a char")))?;
        visitor.visit_char(c)
    }
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        self.deserialize_string(visitor)
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        let text = String::from_utf8(self.bytes()?)
            .map_err(|_| KeyError("a string of the key is not UTF-8".to_owned()))?;
        visitor.visit_string(text)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        self.deserialize_byte_buf(visitor)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        visitor.visit_byte_buf(self.bytes()?)
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        if self.more()? {
            visitor.visit_some(self)
        } else {
            visitor.visit_none()
        }
    }
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        visitor.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, KeyError> {
        visitor.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, KeyError> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        visitor.visit_seq(Elements { decoder: self })
    }
    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, KeyError> {
        visitor.visit_seq(Fields {
            decoder: self,
            left: len,
        })
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, KeyError> {
        self.deserialize_tuple(len, visitor)
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        visitor.visit_map(Elements { decoder: self })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, KeyError> {
        self.deserialize_tuple(fields.len(), visitor)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, KeyError> {
        visitor.visit_enum(self)
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        self.deserialize_u32(visitor)
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyError> {
        self.deserialize_any(visitor)
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

/// A sequence or map: each element after a `1`, a `0` at the end.
struct Elements<'a, 'de> {
    decoder: &'a mut Decoder<'de>,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = KeyError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, KeyError> {
        if self.decoder.more()? {
            seed.deserialize(&mut *self.decoder).map(Some)
        } else {
            Ok(None)
        }
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = KeyError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, KeyError> {
        if self.decoder.more()? {
            seed.deserialize(&mut *self.decoder).map(Some)
        } else {
            Ok(None)
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, KeyError> {
        seed.deserialize(&mut *self.decoder)
    }
}

/// A tuple or struct: a known number of fields, one after the other.
struct Fields<'a, 'de> {
    decoder: &'a mut Decoder<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Fields<'_, 'de> {
    type Error = KeyError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, KeyError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.decoder).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

impl<'de> de::EnumAccess<'de> for &mut Decoder<'de> {
    type Error = KeyError;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), KeyError> {
        let index = u32::from_be_bytes(self.take()?);
        let variant = seed.deserialize(index.into_deserializer())?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Decoder<'de> {
    type Error = KeyError;
    fn unit_variant(self) -> Result<(), KeyError> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, KeyError> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, KeyError> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, KeyError> {
        de::Deserializer::deserialize_tuple(self, fields.len(), visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    fn encoded<K: Serialize>(key: &K) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(&mut out, key).unwrap();
        out
    }

    fn sorts_like_values<K: Serialize + de::DeserializeOwned + PartialOrd + fmt::Debug>(
        keys: &[K],
    ) {
        for a in keys {
            assert_eq!(&decode::<K>(&encoded(a)).unwrap(), a);
            for b in keys {
                assert_eq!(
                    encoded(a).cmp(&encoded(b)),
                    a.partial_cmp(b).unwrap(),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn integers_and_floats_sort_as_numbers() {
        sorts_like_values(&[i64::MIN, -256, -1, 0, 1, 255, 256, i64::MAX]);
        sorts_like_values(&[0u64, 1, 255, 256, u64::MAX]);
        sorts_like_values(&[f64::NEG_INFINITY, -2.5, -0.5, 0.0, 0.5, 3.0, f64::INFINITY]);
        sorts_like_values(&[i8::MIN, -1, 0, i8::MAX]);
    }

    #[test]
    fn strings_sort_as_strings_even_inside_tuples() {
        sorts_like_values(
            &["", "\u{0}", "a", "a\u{0}", "a\u{0}b", "ab", "b", "é"].map(String::from),
        );
        let pairs: Vec<(String, u64)> = ["a", "a\u{0}", "ab"]
            .into_iter()
            .flat_map(|s| [(s.to_owned(), 0), (s.to_owned(), u64::MAX)])
            .collect();
        sorts_like_values(&pairs);
    }

    #[test]
    fn options_sequences_structs_and_enums_sort_as_derived() {
        sorts_like_values(&[None, Some(0u32), Some(7)]);
        sorts_like_values(&[vec![], vec![0u8], vec![0, 0], vec![1]]);
        #[derive(Serialize, Deserialize, PartialEq, PartialOrd, Debug)]
        enum Kind {
            Small,
            Sized(u16),
            Named { name: String, age: u8 },
        }
        #[derive(Serialize, Deserialize, PartialEq, PartialOrd, Debug)]
        struct Day {
            year: i32,
            month: u8,
            kind: Kind,
        }
        let day = |year, month, kind| Day { year, month, kind };
        sorts_like_values(&[
            day(-1, 12, Kind::Small),
            day(2024, 1, Kind::Small),
            day(2024, 1, Kind::Sized(3)),
            day(
                2024,
                1,
                Kind::Named {
                    name: "a".into(),
                    age: 3,
                },
            ),
            day(2024, 2, Kind::Small),
        ]);
    }

    #[test]
    fn leading_fields_are_a_byte_prefix() {
        let key = encoded(&("alice".to_owned(), 42u64));
        assert!(key.starts_with(&encoded(&"alice")));
        assert!(!encoded(&("alicea".to_owned(), 0u64)).starts_with(&encoded(&"alice")));
    }

    #[test]
    fn a_key_read_as_another_type_is_an_error() {
        assert!(decode::<u64>(&encoded(&1u32)).is_err());
        assert!(decode::<(u32, u32)>(&encoded(&1u32)).is_err());
        assert!(decode::<String>(b"a").is_err());
    }
}
