//! Errors of persistence: the backends' own ([`JournalError`], [`Rejection`]) and what an
//! event-sourced entity's failure signals carry ([`RecoveryError`], [`PersistError`],
//! [`SnapshotError`], [`DeleteError`]), each naming what happened and what to do.

use std::path::PathBuf;

use thiserror::Error;

use super::codec::CodecError;
use super::journal::{PersistenceId, SequenceNr};

/// A storage failure: nothing of the failed call was written.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalError {
    /// The storage engine failed (I/O error, full disk, …). Nothing of the call was stored.
    #[error("the journal's storage failed: {0}")]
    Storage(String),
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
    Storage(JournalError),
    /// The snapshot could not be decoded into the state type.
    #[error(
        "the snapshot cannot be decoded: {0}; the state type changed incompatibly (keep it readable, or delete the snapshot)"
    )]
    SnapshotDecode(CodecError),
    /// An event could not be decoded (unknown manifest, damaged payload, no upcaster).
    #[error("{0}; add an upcaster for old event versions (Event::upcast) or fix the codec")]
    EventDecode(CodecError),
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
    Encode(CodecError),
    /// The codec panicked while serializing an event: nothing was sent to the journal.
    #[error("the codec panicked while serializing an event: {0}")]
    EncodePanicked(String),
    /// The journal refused this write alone (its batch's other writes were stored).
    #[error("the journal rejected the write: {0}")]
    Rejected(Rejection),
    /// The journal failed: nothing of the write was stored.
    #[error("the journal failed to write: {0}")]
    Journal(JournalError),
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
    Encode(CodecError),
    /// The codec panicked while serializing the state.
    #[error("the codec panicked while serializing the state: {0}")]
    EncodePanicked(String),
    /// The snapshot store failed.
    #[error("the snapshot store failed: {0}")]
    Store(JournalError),
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
    Store(JournalError),
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
