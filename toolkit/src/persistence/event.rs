//! What makes a type storable as an event: a manifest (a stable name and a schema version),
//! optional tags, and an upcaster for payloads written with an older schema.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec::{Codec, CodecError};
use super::journal::Manifest;

/// An event type an entity persists. `#[derive(Event)]` implements it; by hand:
///
/// ```
/// use reactant::persistence::{Codec, CodecError, Event, Manifest};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// enum AccountEvent { Deposited { amount: u64 } }
///
/// impl Event for AccountEvent {
///     fn manifest() -> Manifest { Manifest::new("account-event", 2) }
///     fn tags(&self) -> Vec<String> { vec!["account".into()] }
///     fn upcast<C: Codec>(codec: &C, manifest: &Manifest, payload: &[u8]) -> Result<Self, CodecError> {
///         #[derive(Deserialize)]
///         enum V1 { Deposited { cents: u64 } }
///         match manifest.version {
///             1 => match codec.decode::<V1>(manifest, payload)? {
///                 V1::Deposited { cents } => Ok(AccountEvent::Deposited { amount: cents / 100 }),
///             },
///             2 => codec.decode(manifest, payload),
///             version => Err(CodecError::UnknownManifest {
///                 manifest_type: manifest.type_name.to_string(),
///                 version,
///             }),
///         }
///     }
/// }
/// ```
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stable name and current schema version stored with each event. The default is the
    /// type's Rust name at version 1: override it before renaming or moving the type.
    fn manifest() -> Manifest {
        Manifest::new(short_type_name::<Self>(), 1)
    }

    /// Tags for the read side (`events_by_tag`).
    fn tags(&self) -> Vec<String> {
        Vec::new()
    }

    /// Decodes a stored payload, turning older schema versions into the current type. The
    /// default decodes the current version and refuses any other. An entity decodes payloads
    /// written under the current [`manifest`](Self::manifest) directly and calls this for the
    /// others only.
    fn upcast<C: Codec>(
        codec: &C,
        manifest: &Manifest,
        payload: &[u8],
    ) -> Result<Self, CodecError> {
        let current = Self::manifest();
        if manifest.type_name != current.type_name || manifest.version != current.version {
            return Err(CodecError::UnknownManifest {
                manifest_type: manifest.type_name.to_string(),
                version: manifest.version,
            });
        }
        codec.decode(manifest, payload)
    }
}

/// The last segment of a type's Rust name (`AccountEvent` for `my_app::bank::AccountEvent`):
/// the default name in manifests.
pub(crate) fn short_type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}
