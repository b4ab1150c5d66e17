//! The errors of sharding.

use thiserror::Error;

use crate::error::SpawnError;

/// Why a region could not be initialised.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShardingError {
    /// The type key is already initialised with another message type.
    #[error(
        "entity type {type_key:?} is already initialised with messages of type {registered}, \
         not {requested}; give each entity type its own key"
    )]
    TypeMismatch {
        /// The key.
        type_key: String,
        /// The message type it was first initialised with.
        registered: &'static str,
        /// The message type of this call.
        requested: &'static str,
    },
    /// A setting is out of range.
    #[error("invalid sharding setting for {type_key:?}: {reason}")]
    InvalidSettings {
        /// The key.
        type_key: String,
        /// What is wrong and what to use instead.
        reason: String,
    },
    /// The remembered entities of an entity type could not be read when its region started.
    #[error(
        "could not read the remembered entities of {type_key:?}, so the region did not start \
         (nothing would restart them): {source}; fix the journal and initialise again"
    )]
    Remembered {
        /// The key.
        type_key: String,
        /// Why.
        #[source]
        source: crate::persistence::JournalError,
    },
    /// An entity asked to be remembered, and its entity type has nowhere to store that.
    #[error(
        "entity {entity_id:?} of {type_key:?} asked to be remembered, and its entity type has \
         no store for remembered entities; configure one with \
         ShardedEntity::with_remember_entities (event-sourced entity types use their \
         persistence)"
    )]
    NoRememberStore {
        /// The key.
        type_key: String,
        /// The entity.
        entity_id: String,
    },
    /// The region's actor could not be started.
    #[error("could not start the region of {type_key:?}: {source}")]
    Spawn {
        /// The key.
        type_key: String,
        /// Why.
        #[source]
        source: SpawnError,
    },
}
