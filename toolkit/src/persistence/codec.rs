//! Codecs: how events and snapshots become bytes, and the manifest that says what the bytes
//! are.
//!
//! The default, [`MessagePack`], writes maps with field names: compact and fast, and
//! self-describing, so a generic tool can print any stored payload as JSON without the Rust
//! types ([`Codec::to_json`]; `examples/journal_dump.rs` prints a whole journal). A different
//! codec is a type implementing [`Codec`].

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserializer, Serialize, Serializer};
use serde_json::Number;
use thiserror::Error;

use super::journal::Manifest;

/// A payload could not be encoded or decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The value could not be serialized.
    #[error("cannot encode {type_name}: {detail}")]
    Encode {
        /// The value's type.
        type_name: &'static str,
        /// What the serializer said.
        detail: String,
    },
    /// The bytes do not decode as the expected type.
    #[error("cannot decode {manifest_type} (schema version {version}): {detail}")]
    Decode {
        /// The manifest's type name.
        manifest_type: String,
        /// The manifest's version.
        version: u32,
        /// What the deserializer said.
        detail: String,
    },
    /// The manifest names a type (or a version) this program does not know.
    #[error(
        "unknown manifest {manifest_type} version {version}: this program cannot read it; \
             add an upcaster for that version, or run the program version that wrote it"
    )]
    UnknownManifest {
        /// The manifest's type name.
        manifest_type: String,
        /// The manifest's version.
        version: u32,
    },
    /// The codec cannot print its payloads as JSON (it left [`Codec::to_json`] unimplemented).
    #[error(
        "cannot print {manifest_type} (schema version {version}) as JSON: the codec {codec} \
         does not support it; implement `Codec::to_json` for {codec}"
    )]
    NoJson {
        /// The codec's type.
        codec: &'static str,
        /// The manifest's type name.
        manifest_type: String,
        /// The manifest's version.
        version: u32,
    },
}

impl CodecError {
    fn decode(manifest: &Manifest, detail: impl fmt::Display) -> Self {
        Self::Decode {
            manifest_type: manifest.type_name.to_string(),
            version: manifest.version,
            detail: detail.to_string(),
        }
    }
}

/// Turns serde values into bytes and back.
pub trait Codec: Send + Sync + 'static {
    /// Encodes a value.
    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, CodecError>;

    /// Decodes a value written under `manifest`.
    fn decode<T: DeserializeOwned>(
        &self,
        manifest: &Manifest,
        bytes: &[u8],
    ) -> Result<T, CodecError>;

    /// The payload written under `manifest` as JSON text, without its Rust type: what a
    /// generic tool prints. The default returns [`CodecError::NoJson`]; a self-describing
    /// codec implements it.
    ///
    /// ```
    /// use reactant::persistence::{Codec, Manifest, MessagePack};
    ///
    /// #[derive(serde::Serialize)]
    /// enum AccountEvent { Deposited { amount: u64 } }
    ///
    /// let bytes = MessagePack.encode(&AccountEvent::Deposited { amount: 5 })?;
    /// let json = MessagePack.to_json(&Manifest::new("AccountEvent", 1), &bytes)?;
    /// assert_eq!(json, r#"{"Deposited":{"amount":5}}"#);
    /// # Ok::<(), reactant::persistence::CodecError>(())
    /// ```
    fn to_json(&self, manifest: &Manifest, bytes: &[u8]) -> Result<String, CodecError> {
        let _ = bytes;
        Err(CodecError::NoJson {
            codec: std::any::type_name::<Self>(),
            manifest_type: manifest.type_name.to_string(),
            version: manifest.version,
        })
    }
}

/// MessagePack with field names (the default codec).
///
/// ```
/// use reactant::persistence::{Codec, Manifest, MessagePack};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Deposited { amount: u64 }
///
/// let bytes = MessagePack.encode(&Deposited { amount: 5 })?;
/// let back: Deposited = MessagePack.decode(&Manifest::new("Deposited", 1), &bytes)?;
/// assert_eq!(back, Deposited { amount: 5 });
/// # Ok::<(), reactant::persistence::CodecError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct MessagePack;

impl Codec for MessagePack {
    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        rmp_serde::to_vec_named(value).map_err(|error| CodecError::Encode {
            type_name: std::any::type_name::<T>(),
            detail: error.to_string(),
        })
    }

    fn decode<T: DeserializeOwned>(
        &self,
        manifest: &Manifest,
        bytes: &[u8],
    ) -> Result<T, CodecError> {
        rmp_serde::from_slice(bytes).map_err(|error| CodecError::decode(manifest, error))
    }

    /// Transcodes the MessagePack value into JSON as `serde_json` would write the Rust value:
    /// structs are objects, enums are externally tagged, `None` is `null`. What JSON lacks is
    /// mapped: bytes become an array of numbers, map keys that are not strings become their
    /// JSON text (`1` → `"1"`), NaN and infinities become `null`. Trailing bytes after the
    /// value are an error.
    fn to_json(&self, manifest: &Manifest, bytes: &[u8]) -> Result<String, CodecError> {
        let mut deserializer = rmp_serde::Deserializer::new(std::io::Cursor::new(bytes));
        let value = AnyValue
            .deserialize(&mut deserializer)
            .map_err(|error| CodecError::decode(manifest, error))?;
        let read = deserializer.position();
        if read != bytes.len() as u64 {
            return Err(CodecError::decode(
                manifest,
                format!(
                    "{} bytes follow the value, which ends at byte {read}",
                    bytes.len() as u64 - read
                ),
            ));
        }
        serde_json::to_string(&value).map_err(|error| CodecError::decode(manifest, error))
    }
}

/// A JSON value whose objects keep their keys in the order they were read (struct fields in
/// declaration order), unlike `serde_json::Value` without its `preserve_order` feature.
enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(value) => serializer.serialize_bool(*value),
            Json::Number(value) => value.serialize(serializer),
            Json::String(value) => serializer.serialize_str(value),
            Json::Array(items) => serializer.collect_seq(items),
            Json::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

/// Reads any value of a self-describing format as [`Json`] (see [`MessagePack::to_json`]).
#[derive(Clone, Copy)]
struct AnyValue;

impl<'de> DeserializeSeed<'de> for AnyValue {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnyValue {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Json, E> {
        Ok(Json::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Json, E> {
        Ok(Json::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Json, E> {
        Ok(Json::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Json, E> {
        Ok(Number::from_f64(value).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(Json::String(value.to_owned()))
    }

    fn visit_bytes<E>(self, value: &[u8]) -> Result<Json, E> {
        Ok(Json::Array(
            value
                .iter()
                .map(|&byte| Json::Number(byte.into()))
                .collect(),
        ))
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        // The hint comes from the bytes: trust it only so far.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(key) = map.next_key_seed(self)? {
            let key = match key {
                Json::String(key) => key,
                other => serde_json::to_string(&other).map_err(de::Error::custom)?,
            };
            entries.push((key, map.next_value_seed(self)?));
        }
        Ok(Json::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum AccountEvent {
        Opened { owner: String },
        Deposited { amount: u64 },
    }

    #[test]
    fn events_round_trip_through_message_pack() {
        let manifest = Manifest::new("AccountEvent", 1);
        for event in [
            AccountEvent::Opened {
                owner: "ann".into(),
            },
            AccountEvent::Deposited { amount: 7 },
        ] {
            let bytes = MessagePack.encode(&event).expect("encodes");
            let back: AccountEvent = MessagePack.decode(&manifest, &bytes).expect("decodes");
            assert_eq!(back, event);
        }
    }

    #[test]
    fn payloads_carry_their_field_names() {
        let bytes = MessagePack
            .encode(&AccountEvent::Deposited { amount: 7 })
            .expect("encodes");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("Deposited") && text.contains("amount"),
            "{text}"
        );
    }

    #[test]
    fn garbage_fails_to_decode_with_the_manifest_named() {
        let manifest = Manifest::new("AccountEvent", 3);
        let error = MessagePack
            .decode::<AccountEvent>(&manifest, &[0xc1, 0x00])
            .expect_err("0xc1 is never valid MessagePack");
        assert!(
            error
                .to_string()
                .contains("AccountEvent (schema version 3)"),
            "{error}"
        );
    }

    #[derive(Serialize)]
    struct Address {
        street: String,
        zip: Option<u32>,
    }

    #[derive(Serialize)]
    enum CustomerEvent {
        Registered {
            name: String,
            address: Address,
            tags: Vec<String>,
            referrer: Option<String>,
            visits: u64,
        },
        Renamed(String),
        Closed,
        Scored {
            by_round: std::collections::BTreeMap<u32, i8>,
            ratio: f64,
            avatar: serde_bytes_like::Bytes,
        },
    }

    /// A byte string stored as MessagePack `bin` (what `serde_bytes` does).
    mod serde_bytes_like {
        pub struct Bytes(pub Vec<u8>);

        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_bytes(&self.0)
            }
        }
    }

    fn json_of(event: &CustomerEvent) -> String {
        let bytes = MessagePack.encode(event).expect("encodes");
        MessagePack
            .to_json(&Manifest::new("CustomerEvent", 1), &bytes)
            .expect("transcodes")
    }

    #[test]
    fn payloads_print_as_the_json_serde_json_would_write() {
        let registered = CustomerEvent::Registered {
            name: "Zoë \"the\" \\ 🦀\n".into(),
            address: Address {
                street: "Rue d’Ixelles".into(),
                zip: Some(1050),
            },
            tags: vec!["gold".into(), String::new()],
            referrer: None,
            visits: u64::MAX,
        };
        assert_eq!(
            json_of(&registered),
            r#"{"Registered":{"name":"Zoë \"the\" \\ 🦀\n","address":{"street":"Rue d’Ixelles","zip":1050},"tags":["gold",""],"referrer":null,"visits":18446744073709551615}}"#
        );
        assert_eq!(
            json_of(&CustomerEvent::Renamed("Bo".into())),
            r#"{"Renamed":"Bo"}"#
        );
        assert_eq!(json_of(&CustomerEvent::Closed), r#""Closed""#);
    }

    #[test]
    fn what_json_lacks_is_mapped_not_refused() {
        let scored = CustomerEvent::Scored {
            by_round: [(1, -3), (20, 4)].into_iter().collect(),
            ratio: f64::NAN,
            avatar: serde_bytes_like::Bytes(vec![0, 255]),
        };
        assert_eq!(
            json_of(&scored),
            r#"{"Scored":{"by_round":{"1":-3,"20":4},"ratio":null,"avatar":[0,255]}}"#
        );
    }

    #[test]
    fn garbage_fails_to_print_with_the_manifest_named() {
        let manifest = Manifest::new("CustomerEvent", 2);
        let error = MessagePack
            .to_json(&manifest, &[0xc1, 0x00])
            .expect_err("0xc1 is never valid MessagePack");
        assert!(
            matches!(&error, CodecError::Decode { manifest_type, version: 2, .. } if manifest_type == "CustomerEvent"),
            "{error}"
        );
        let truncated = &MessagePack.encode(&"a string").expect("encodes")[..3];
        assert!(MessagePack.to_json(&manifest, truncated).is_err());
        let mut trailing = MessagePack.encode(&7_u8).expect("encodes");
        trailing.push(0x01);
        let error = MessagePack
            .to_json(&manifest, &trailing)
            .expect_err("one value, then a stray byte");
        assert!(error.to_string().contains("1 bytes follow"), "{error}");
    }

    /// A codec that does not implement `to_json`.
    struct Opaque;

    impl Codec for Opaque {
        fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
            MessagePack.encode(value)
        }

        fn decode<T: DeserializeOwned>(
            &self,
            manifest: &Manifest,
            bytes: &[u8],
        ) -> Result<T, CodecError> {
            MessagePack.decode(manifest, bytes)
        }
    }

    #[test]
    fn a_codec_without_to_json_says_how_to_add_it() {
        let error = Opaque
            .to_json(&Manifest::new("CustomerEvent", 1), &[0x90])
            .expect_err("the default refuses");
        assert!(matches!(error, CodecError::NoJson { .. }), "{error}");
        assert!(
            error.to_string().contains("implement `Codec::to_json`")
                && error.to_string().contains("Opaque"),
            "{error}"
        );
    }
}
