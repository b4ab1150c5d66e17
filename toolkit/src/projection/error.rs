//! What can go wrong in the read store and in projections, each variant saying what to do.

use thiserror::Error;

use crate::persistence::JournalError;
use crate::query::QueryError;

/// Why a read-store call failed. Nothing of a failed write was stored.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadStoreError {
    /// The database under the store failed (or refused: closed, opened read-only).
    #[error("the read store's database failed: {0}; check the storage and try again")]
    Storage(#[source] JournalError),
    /// A key could not be encoded, or a stored key read back as the table's key type.
    #[error(
        "a key of table `{table}` cannot be encoded or read back: {detail}; keys must be plain \
         serde data (no untagged enums, no `serde(flatten)`), and a table must keep its key type"
    )]
    Key {
        /// The table.
        table: String,
        /// What went wrong.
        detail: String,
    },
    /// A value could not be encoded, or a stored value read back as the table's value type.
    #[error(
        "a value of table `{table}` cannot be encoded or read back: {detail}; a table must keep \
         a value type that reads what it stored (add fields with `#[serde(default)]`)"
    )]
    Value {
        /// The table.
        table: String,
        /// What went wrong.
        detail: String,
    },
}

impl From<JournalError> for ReadStoreError {
    fn from(error: JournalError) -> Self {
        ReadStoreError::Storage(error)
    }
}

/// The error a projection handler returns: any error (`?` converts it).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Why a projection could not start or a management call failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProjectionError {
    /// The projection's actor could not be spawned (a projection with this id runs already,
    /// or the system is shutting down).
    #[error(
        "projection {id} cannot start: {reason}; one instance per projection id may run at a \
         time"
    )]
    Spawn {
        /// The projection.
        id: String,
        /// Why.
        reason: String,
    },
    /// [`Projection::run_slices`](super::Projection::run_slices) was given 0 slices.
    #[error(
        "a sliced projection needs at least 1 slice, and was given 0; pass the entity type's \
         `SLICES` (set with `#[entity(.., slices = 8)]`)"
    )]
    NoSlices,
    /// Its offset could not be read or stored.
    #[error("the offset of projection {id} cannot be read or stored: {detail}; check the storage")]
    Offset {
        /// The projection.
        id: String,
        /// What the store said.
        detail: String,
    },
    /// The read store failed.
    #[error(transparent)]
    Store(#[from] ReadStoreError),
    /// The query feeding the projection failed.
    #[error(transparent)]
    Query(#[from] QueryError),
}
