//! The RocksDB journal and snapshot store (feature `rocksdb`, on by default): one database per
//! folder, six column families.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `events` | persistence id, sequence number | event record |
//! | `tags` | tag, global offset | key of the event |
//! | `offsets` | global offset | key of the event (format 3: the global order) |
//! | `snapshots` | persistence id, sequence number | snapshot record |
//! | `meta` | `format_version`, `last_offset`, `deleted_to/{id}` | big-endian integer |
//! | `read_models` | table row or projection offset (format 4) | read-model value or offset |
//!
//! Keys put a length-prefixed name before a big-endian number, so a replay is one bounded
//! range scan of a stream and `events_by_tag` one range scan in offset order (`keys.rs` has
//! the details, `record.rs` the record layout).
//!
//! A [`Journal::write`](crate::persistence::Journal::write) call is one `WriteBatch`: the
//! accepted writes' events, their tag and offset entries and the last global offset commit
//! together or not at all, with the [`Durability`] of the
//! [`RocksConfig`]. Offsets are given under a lock held across the commit, so they are
//! gap-free and in commit order, across reopenings too. After each commit the writer tells the
//! journal's [`CommitNotifier`] the new last offset, which
//! wakes the live queries.
//!
//! Deleting events ([`delete_to`](crate::persistence::Journal::delete_to)) removes them with
//! their tag and offset entries: they leave every query.

mod error;
mod journal;
mod keys;
mod open;
mod read_models;
mod recent;
mod record;
mod repair;
mod snapshot;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::sync::atomic::{AtomicBool, Ordering};

use ::rocksdb::{ColumnFamily, DB, WriteOptions};
use parking_lot::Mutex;

pub use error::OpenError;
pub(crate) use read_models::{ReadModelView, RowWrite};
pub use repair::{DroppedEvent, RepairReport};

use super::commit::CommitNotifier;
use super::error::JournalError;
use super::journal::{PersistenceId, SequenceNr};

/// A hash map with foldhash's fast hasher (seeded per process) for the writer's lookups.
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// When a write counts as done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Each write is fsynced before it returns: nothing acknowledged is lost, even to a power
    /// loss. The default.
    #[default]
    Sync,
    /// Each write reaches the operating system before it returns, without fsync: it survives
    /// a crash of the process (`kill -9`), not a power loss or a kernel crash. Much faster.
    Buffered,
}

/// How to open a [`RocksJournal`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RocksConfig {
    /// When a write (events, snapshots, deletions) counts as done.
    pub durability: Durability,
}

/// The journal and snapshot store of one folder, in one RocksDB database.
///
/// It implements both [`Journal`](crate::persistence::Journal) and
/// [`SnapshotStore`](crate::persistence::SnapshotStore); share the `Arc` between the two uses.
/// The database closes when the last `Arc` is dropped.
///
/// A folder is refused if a live process (this one or another) has it open, under whatever
/// spelling of its path, if it holds something else than a Reactant journal, if its journal
/// has a newer format version, or if it is damaged; in the last three cases nothing is written
/// to it. See [`OpenError`]. [`open_read_only`](Self::open_read_only) reads a folder that
/// another process holds; [`repair`](Self::repair) takes up a journal whose write-ahead log is
/// damaged.
///
/// **Durability and damage.** A process killed at any moment, even during the very first open,
/// leaves a folder that the next open takes up, with every write acknowledged under
/// [`Durability::Sync`] (and, short of a power loss, under [`Durability::Buffered`]). Only the
/// write being made when it died can be missing. Damage to the files (a flipped byte in the
/// write-ahead log before its last record, a corrupt or missing table file, a garbled
/// `CURRENT`) is refused as [`OpenError::Damaged`], never taken for a stranger's folder nor
/// dropped in silence. A log cut at a record boundary cannot be told from a crash before those
/// writes: backups are the defence against lost bytes.
///
/// **Memory.** While a query reads it by tag or in global order within 16,384 events of the
/// head (a live subscriber, a projection that keeps up), the journal keeps its last committed
/// events in memory, at most 16,384 of them and 16 MiB of payload, and such a reader copies
/// them from there instead of reading RocksDB. A journal that no reader follows that closely
/// keeps none.
///
/// ```
/// use reactant::persistence::rocksdb::{Durability, RocksConfig, RocksJournal};
/// use reactant::persistence::{AtomicWrite, Journal, Manifest, PersistenceId, PersistentRepr};
///
/// let folder = std::env::temp_dir().join(format!("reactant-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&folder);
/// let journal = RocksJournal::open_with(
///     &folder,
///     RocksConfig { durability: Durability::Buffered },
/// )?;
/// let id = PersistenceId::of("account", "1");
/// let opened = PersistentRepr {
///     persistence_id: id.clone(),
///     sequence_nr: 1,
///     manifest: Manifest::new("Opened", 1),
///     payload: b"alice".to_vec(),
///     tags: vec!["accounts".into()],
///     writer_id: "writer-1".into(),
///     timestamp_ms: 0,
///     offset: 0,
/// };
/// let results = journal.write(&[AtomicWrite { events: vec![opened] }])?;
/// assert!(results[0].is_ok());
///
/// let mut replayed = Vec::new();
/// let highest = journal.replay(&id, 1, u64::MAX, u64::MAX, &mut |event| replayed.push(event))?;
/// assert_eq!((highest, replayed[0].payload.as_slice(), replayed[0].offset), (1, &b"alice"[..], 1));
///
/// // The folder is locked while the journal is open.
/// assert!(RocksJournal::open(&folder).is_err());
/// drop(journal);
/// assert_eq!(RocksJournal::open(&folder)?.highest_sequence_nr(&id)?, 1);
/// # std::fs::remove_dir_all(&folder)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RocksJournal {
    db: DB,
    path: PathBuf,
    durability: Durability,
    /// Opened with [`RocksJournal::open_read_only`]: every write is refused.
    read_only: bool,
    /// The last global offset given to an event. Writes and deletions hold this lock until
    /// their batch is committed: offsets follow commit order, and a stream's highest sequence
    /// number cannot change between its check and its commit.
    last_offset: Mutex<u64>,
    /// Each stream's highest sequence number, once read or written by this process: this
    /// process holds the folder's lock, so nothing else changes it, and a write need not read
    /// it back from RocksDB. (A read-only journal sees the folder as it was when opened, so
    /// the same holds.) One entry per stream this process has touched.
    highest: Mutex<FastMap<PersistenceId, SequenceNr>>,
    /// The last commits, for readers near the head (see `recent.rs`).
    recent: recent::Recent,
    /// Told the last offset after each commit, for live queries.
    notifier: Arc<CommitNotifier>,
    /// Set by [`RocksJournal::close`].
    closed: AtomicBool,
}

impl RocksJournal {
    /// Opens the journal in `path` with the default [`RocksConfig`] (durability
    /// [`Sync`](Durability::Sync)), creating it if the folder is missing or empty.
    pub fn open(path: impl AsRef<Path>) -> Result<Arc<Self>, OpenError> {
        Self::open_with(path, RocksConfig::default())
    }

    /// Opens the journal in `path` with `config`, creating it if the folder is missing or empty.
    pub fn open_with(path: impl AsRef<Path>, config: RocksConfig) -> Result<Arc<Self>, OpenError> {
        let path = path.as_ref();
        Self::from_database(open::open_database(path)?, path, config.durability, false)
    }

    /// Takes up a journal that [`open`](Self::open) refuses as [`OpenError::Damaged`] because
    /// its write-ahead log is damaged before its tail: keeps every write before the first
    /// damaged record, drops the rest, and returns (and logs at WARN, one line per event)
    /// exactly what was dropped. Afterwards the journal opens as usual; its streams go on after
    /// their last kept event and its offsets after the last kept offset.
    ///
    /// The writes after the damage are dropped even where they are intact, because keeping them
    /// would leave holes in their streams. Run it only once the folder is backed up, with no
    /// process using it (it is refused as [`OpenError::InUseByAnotherProcess`] otherwise). On
    /// an intact journal it drops nothing. Damage elsewhere (table files, `CURRENT`, the
    /// MANIFEST) it cannot take up: restore those from a backup.
    pub fn repair(path: impl AsRef<Path>) -> Result<RepairReport, OpenError> {
        repair::repair(path.as_ref())
    }

    /// Opens the existing journal in `path` for reading only, for a tool that looks at the
    /// journal of a running program (`examples/journal_dump.rs`): it takes no lock, so the
    /// folder may be open in another process (or in this one), and it writes nothing — every
    /// write or deletion through it fails with [`JournalError::ReadOnly`].
    ///
    /// It reads the journal as it was when opened: what is written later is not seen. It
    /// refuses what [`open`](Self::open) refuses, and a folder without a journal
    /// ([`OpenError::NoJournal`]).
    ///
    /// ```
    /// use reactant::persistence::rocksdb::RocksJournal;
    /// use reactant::persistence::{Journal, JournalError, PersistenceId};
    ///
    /// let folder = std::env::temp_dir().join(format!("reactant-doc-ro-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&folder);
    /// assert!(RocksJournal::open_read_only(&folder).is_err(), "no journal there yet");
    /// let journal = RocksJournal::open(&folder)?;
    /// let reader = RocksJournal::open_read_only(&folder)?; // while `journal` holds the folder
    /// assert!(reader.persistence_ids()?.is_empty());
    /// let refused = reader.delete_to(&PersistenceId::of("account", "1"), 1);
    /// assert!(matches!(refused, Err(JournalError::ReadOnly { .. })));
    /// # drop((journal, reader));
    /// # std::fs::remove_dir_all(&folder)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Arc<Self>, OpenError> {
        let path = path.as_ref();
        let db = open::open_database_read_only(path)?;
        Self::from_database(db, path, Durability::default(), true)
    }

    fn from_database(
        db: DB,
        path: &Path,
        durability: Durability,
        read_only: bool,
    ) -> Result<Arc<Self>, OpenError> {
        let last_offset = read_last_offset(&db).map_err(|detail| OpenError::Damaged {
            path: path.to_owned(),
            detail,
        })?;
        Ok(Arc::new(Self {
            db,
            read_only,
            path: path.to_owned(),
            durability,
            last_offset: Mutex::new(last_offset),
            highest: Mutex::new(FastMap::default()),
            recent: recent::Recent::default(),
            notifier: Arc::new(CommitNotifier::new(last_offset)),
            closed: AtomicBool::new(false),
        }))
    }

    /// The folder of the journal.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// When a write counts as done.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The global offset of the last event stored (0 for an empty journal).
    pub fn last_offset(&self) -> u64 {
        *self.last_offset.lock()
    }

    fn family(&self, name: &str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("the journal is opened with every column family")
    }

    /// Closes the journal: every later call fails with [`JournalError::Closed`] and live
    /// queries end with `QueryError::Closed`. The database itself closes when the last `Arc`
    /// is dropped.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.notifier.close();
    }

    /// Refuses any call once the journal is closed.
    fn check_open(&self) -> Result<(), JournalError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(JournalError::Closed);
        }
        Ok(())
    }

    /// Refuses a write (or deletion) through a journal opened read-only, before RocksDB would.
    fn check_writable(&self) -> Result<(), JournalError> {
        self.check_open()?;
        if self.read_only {
            return Err(JournalError::ReadOnly {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    fn write_options(&self) -> WriteOptions {
        let mut options = WriteOptions::default();
        options.set_sync(self.durability == Durability::Sync);
        options
    }
}

impl fmt::Debug for RocksJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksJournal")
            .field("path", &self.path)
            .field("durability", &self.durability)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// The stored last global offset (0 for an empty journal).
fn read_last_offset(db: &DB) -> Result<u64, String> {
    let meta = db
        .cf_handle(open::META)
        .expect("opened with every column family");
    db.get_cf(meta, keys::LAST_OFFSET)
        .map_err(::rocksdb::Error::into_string)?
        .map(|bytes| {
            <[u8; 8]>::try_from(bytes.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| format!("the stored last offset is {} bytes, not 8", bytes.len()))
        })
        .transpose()
        .map(Option::unwrap_or_default)
}

/// A RocksDB failure during a call: nothing of the call was written.
fn storage(error: ::rocksdb::Error) -> JournalError {
    JournalError::backend(error)
}
