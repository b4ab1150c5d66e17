//! Codecs: how events and snapshots become bytes, and the manifest that says what the bytes
//! are.
//!
//! The default, [`MessagePack`], writes maps with field names: compact and fast, and
//! self-describing, so a generic tool can print any stored payload as JSON without the Rust
//! types. A different codec is a type implementing [`Codec`].

use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use super::journal::Manifest;

/// A payload could not be encoded or decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
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
        rmp_serde::from_slice(bytes).map_err(|error| CodecError::Decode {
            manifest_type: manifest.type_name.to_string(),
            version: manifest.version,
            detail: error.to_string(),
        })
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
}
