//! Errors of persistence: the backends' own ([`JournalError`], [`Rejection`]) and what an
//! event-sourced entity's failure signals carry ([`RecoveryError`], [`PersistError`],
//! [`SnapshotError`], [`DeleteError`]), each naming what happened and what to do.
//!
//! Each message is a whole sentence, the cause's text included, so that `{}` alone tells a
//! user what happened: print these errors with `{}`. A typed cause (a [`JournalError`] inside
//! a [`PersistError`], a [`CodecError`] inside a [`RecoveryCause`], the storage engine's own
//! error inside [`JournalError::Backend`]) is also returned by [`Error::source`], for programs
//! that walk the chain or downcast it; a reporter that prints the whole chain (anyhow's
//! `{:#}`) shows the cause twice.
//!
//! A panic is not an error value: where user code or a backend panicked, the variant carries
//! the panic's message as text.

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use super::codec::CodecError;
use super::journal::{PersistenceId, SequenceNr};

/// A storage failure: nothing of the failed call was written.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalError {
    /// The storage failed (I/O error, full disk, a damaged entry, an operation the backend does
    /// not support), described in words. Nothing of the call was stored.
    #[error("the journal's storage failed: {0}")]
    Storage(String),
    /// The storage engine (RocksDB, or a backend's own store) returned an error, which is this
    /// error's [`source`](StdError::source). Nothing of the call was stored.
    #[error("the journal's storage engine failed: {source}")]
    Backend {
        /// The engine's error.
        #[source]
        source: BackendError,
    },
    /// A stored record cannot be read back: the data is damaged or was not written by Reactant.
    #[error("corrupt record for {persistence_id} at sequence number {sequence_nr}: {detail}")]
    Corrupt {
        /// Whose record.
        persistence_id: PersistenceId,
        /// Which record.
        sequence_nr: SequenceNr,
        /// What is wrong with it.
        detail: String,
    },
    /// The journal has been closed (its system shut down).
    #[error("the journal is closed")]
    Closed,
    /// The journal was opened read-only (to be read while another process holds it): it
    /// refuses every write and deletion. Nothing was written.
    #[error(
        "the journal in {} is open read-only and refuses writes; open it for writing (with \
         `RocksJournal::open`) to change it",
        path.display()
    )]
    ReadOnly {
        /// The journal's folder.
        path: PathBuf,
    },
}

impl JournalError {
    /// A failure of the storage engine, keeping its error as the [`source`](StdError::source):
    /// what a backend returns when its store fails.
    pub fn backend(error: impl StdError + Send + Sync + 'static) -> Self {
        Self::Backend {
            source: BackendError(Arc::new(error)),
        }
    }
}

/// A storage engine's own error, shared: [`JournalError`] is `Clone` (one failed group commit
/// is reported to every entity in it). Two are equal if they are the same error or say the same.
#[derive(Clone)]
pub struct BackendError(Arc<dyn StdError + Send + Sync + 'static>);

impl BackendError {
    /// The engine's error, to downcast (`error.get().downcast_ref::<rocksdb::Error>()`).
    pub fn get(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl StdError for BackendError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for BackendError {}

/// Why one atomic write was refused while the others of the same batch were stored.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// An event could not be serialized; nothing of this write was stored.
    #[error("an event of this write could not be serialized: {0}")]
    Serialization(String),
    /// The write does not continue its stream: its first sequence number is not the stream's
    /// highest plus one (two writers for one persistence id?).
    #[error(
        "sequence number {got} does not follow the stream's highest, {highest}; is another writer using this persistence id?"
    )]
    OutOfOrder {
        /// The stream's highest stored sequence number.
        highest: SequenceNr,
        /// The first sequence number of the refused write.
        got: SequenceNr,
    },
}

/// A recovery that could not complete: the entity never runs with a partly recovered state.
/// It stops, whatever its supervisor (as in Akka: replaying again would fail again).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("recovery of {persistence_id} failed at sequence number {sequence_nr}: {cause}")]
pub struct RecoveryError {
    /// Whose recovery.
    pub persistence_id: PersistenceId,
    /// The record that could not be recovered (0: before any event, e.g. the snapshot).
    pub sequence_nr: SequenceNr,
    /// What went wrong.
    #[source]
    pub cause: RecoveryCause,
}

/// Why a recovery failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryCause {
    /// The snapshot store or the journal failed (or refused) a read.
    #[error(
        "the journal or snapshot store failed: {0}; check the storage, then send the entity a message to start it again"
    )]
    Storage(#[source] JournalError),
    /// The snapshot could not be decoded into the state type.
    #[error(
        "the snapshot cannot be decoded: {0}; the state type changed incompatibly (keep it readable, or delete the snapshot)"
    )]
    SnapshotDecode(#[source] CodecError),
    /// An event could not be decoded (unknown manifest, damaged payload, no upcaster).
    #[error("{0}; add an upcaster for old event versions (Event::upcast) or fix the codec")]
    EventDecode(#[source] CodecError),
    /// User code panicked while rebuilding the state: the event handler, `empty_state`, the
    /// codec or an upcaster.
    #[error(
        "{what} panicked: {message}; an event handler must accept every event it ever persisted"
    )]
    Panicked {
        /// Which code panicked.
        what: &'static str,
        /// The panic message.
        message: String,
    },
    /// The journal's backend panicked while reading.
    #[error("the journal panicked while reading: {0}")]
    JournalPanicked(String),
    /// The stored stream does not continue where the recovery stood: events are missing
    /// between the snapshot (or the start) and the first stored event.
    #[error(
        "the events after sequence number {after} are missing (the next stored one is {found}); \
         they were deleted without a snapshot covering them, or the snapshot store and the \
         journal belong to different data"
    )]
    Gap {
        /// Where the recovery stood (the snapshot's sequence number, or 0).
        after: SequenceNr,
        /// The sequence number found next (the stream's highest if no event is left).
        found: SequenceNr,
    },
}

/// Why the events of one command were not persisted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PersistError {
    /// An event could not be serialized: nothing was sent to the journal.
    #[error("an event could not be serialized: {0}")]
    Encode(#[source] CodecError),
    /// The codec panicked while serializing an event: nothing was sent to the journal.
    #[error("the codec panicked while serializing an event: {0}")]
    EncodePanicked(String),
    /// The journal refused this write alone (its batch's other writes were stored).
    #[error("the journal rejected the write: {0}")]
    Rejected(#[source] Rejection),
    /// The journal failed: nothing of the write was stored.
    #[error("the journal failed to write: {0}")]
    Journal(#[source] JournalError),
    /// The journal's backend panicked: nothing of its batch was stored.
    #[error("the journal panicked while writing: {0}")]
    JournalPanicked(String),
}

/// Why a snapshot was not saved. The entity keeps running; recovery replays more events.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The state could not be serialized.
    #[error("the state could not be serialized: {0}")]
    Encode(#[source] CodecError),
    /// The codec panicked while serializing the state.
    #[error("the codec panicked while serializing the state: {0}")]
    EncodePanicked(String),
    /// The snapshot store failed.
    #[error("the snapshot store failed: {0}")]
    Store(#[source] JournalError),
    /// The snapshot store panicked.
    #[error("the snapshot store panicked: {0}")]
    StorePanicked(String),
}

/// Why a deletion (of events or of old snapshots) failed. Nothing else changes: the entity
/// keeps running, and a later snapshot retries the deletion.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeleteError {
    /// The journal or snapshot store failed.
    #[error("the deletion failed: {0}")]
    Store(#[source] JournalError),
    /// The journal or snapshot store panicked.
    #[error("the deletion panicked: {0}")]
    Panicked(String),
}

/// Why a text is not a persistence id.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidPersistenceId {
    /// The text is empty.
    #[error(
        "a persistence id cannot be empty: name the stream, by convention \
         \"{{type_key}}|{{entity_id}}\" (PersistenceId::of)"
    )]
    Empty,
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::io;

    use super::*;

    #[test]
    fn a_backend_failure_keeps_the_engine_error_as_its_source_through_every_layer() {
        let engine = io::Error::new(io::ErrorKind::StorageFull, "no space left on device");
        let error = PersistError::Journal(JournalError::backend(engine));

        assert_eq!(
            error.to_string(),
            "the journal failed to write: the journal's storage engine failed: no space left on \
             device"
        );
        let journal = error.source().expect("the journal error is the source");
        assert!(journal.downcast_ref::<JournalError>().is_some());
        let backend = journal
            .source()
            .expect("the engine's error is the journal error's source");
        let Some(JournalError::Backend { source }) = journal.downcast_ref::<JournalError>() else {
            panic!("not a backend failure: {journal}");
        };
        assert_eq!(backend.to_string(), "no space left on device");
        let io = source
            .get()
            .downcast_ref::<io::Error>()
            .expect("the engine's own error type");
        assert_eq!(io.kind(), io::ErrorKind::StorageFull);
    }

    #[test]
    fn backend_failures_are_equal_when_they_are_the_same_error_or_say_the_same() {
        let one = JournalError::backend(io::Error::other("disk gone"));
        assert_eq!(one, one.clone());
        assert_eq!(one, JournalError::backend(io::Error::other("disk gone")));
        assert_ne!(one, JournalError::backend(io::Error::other("disk full")));
    }

    #[test]
    fn recovery_errors_chain_to_the_codec_error_that_stopped_them() {
        let codec = CodecError::Encode {
            type_name: "Account",
            detail: "a map key must be a string".into(),
        };
        let error = RecoveryError {
            persistence_id: PersistenceId::of("account", "a-1"),
            sequence_nr: 3,
            cause: RecoveryCause::EventDecode(codec.clone()),
        };
        let cause = error.source().expect("the cause is the source");
        let inner = cause
            .source()
            .expect("the codec error is the cause's source");
        assert_eq!(inner.downcast_ref::<CodecError>(), Some(&codec));
    }
}
