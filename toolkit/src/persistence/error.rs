//! Errors of the persistence backends.

use std::path::PathBuf;

use thiserror::Error;

use super::journal::{PersistenceId, SequenceNr};

/// A storage failure: nothing of the failed call was written.
#[derive(Debug, Error)]
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
