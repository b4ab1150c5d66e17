//! Why a journal folder could not be opened.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// A journal folder was refused or could not be opened. Whenever the folder is refused because
/// of what it holds (not a journal, a newer format, damage), nothing was written to it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The journal of this folder is already open in this process.
    #[error(
        "the journal folder {} is already open in this process; share the open RocksJournal \
         (it is an Arc) or drop it before opening the folder again",
        path.display()
    )]
    AlreadyOpenInThisProcess {
        /// The folder.
        path: PathBuf,
    },
    /// Another live process holds the folder's lock.
    #[error(
        "the journal folder {} is in use by another process (RocksDB's LOCK file is held); \
         stop that process or give this one another folder — do not delete the LOCK file",
        path.display()
    )]
    InUseByAnotherProcess {
        /// The folder.
        path: PathBuf,
    },
    /// The path exists and is not a folder.
    #[error("{} is not a folder; give the journal a folder (missing or empty for a new journal)", path.display())]
    NotAFolder {
        /// The path.
        path: PathBuf,
    },
    /// The folder holds something other than a Reactant journal.
    #[error(
        "{} is not a Reactant journal: {reason}. Nothing was written to it; give the journal \
         an empty or missing folder, or the folder of an existing Reactant journal",
        path.display()
    )]
    NotAJournal {
        /// The folder.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// A read-only open found no journal to read.
    #[error(
        "there is no journal to read in {}: {reason}; give the folder of an existing Reactant \
         journal",
        path.display()
    )]
    NoJournal {
        /// The folder.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The journal was written by a newer Reactant whose format this one cannot read.
    #[error(
        "the journal in {} has format version {found}, newer than the version {supported} this \
         Reactant reads; nothing was written to it. Open it with a newer Reactant",
        path.display()
    )]
    NewerFormat {
        /// The folder.
        path: PathBuf,
        /// The format version stored in the journal.
        found: u32,
        /// The newest format version this build reads.
        supported: u32,
    },
    /// The journal's folder is recognisably a Reactant journal, but damaged: a file of its
    /// database is corrupt or missing, or its write-ahead log is damaged before its tail (a
    /// crash only ever tears the last record, which is dropped without this error).
    #[error(
        "the journal in {} is damaged: {detail}. Nothing was written to it. Restore the folder \
         from a backup; if the damage is in the write-ahead log (a `*.log` file), \
         `RocksJournal::repair` keeps every write before the damage and lists each event it \
         drops",
        path.display()
    )]
    Damaged {
        /// The folder.
        path: PathBuf,
        /// RocksDB's reason.
        detail: String,
    },
    /// A file or folder of the journal could not be read, written or created.
    #[error(
        "cannot use {} for the journal: {source}; check that it exists and that this process may \
         read and write it",
        path.display()
    )]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// RocksDB failed to open the journal (damaged files, I/O error, …).
    #[error("RocksDB cannot open the journal in {}: {detail}", path.display())]
    Storage {
        /// The folder.
        path: PathBuf,
        /// RocksDB's message.
        detail: String,
    },
}
