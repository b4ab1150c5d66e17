//! Opening a journal folder: look before writing.
//!
//! A folder is first classified without writing a byte: missing or empty (a new journal), a
//! creation of ours in progress or cut short, not a database, a database that is not ours (no
//! `meta` column family, no format version), a newer format, a journal of ours that is damaged,
//! or our journal. Only a new journal or our own is then opened for writing; RocksDB's `LOCK`
//! refuses a folder that a live process holds, which we turn into [`OpenError`]s that name the
//! folder. A read-only open refuses a new journal too, and takes no lock.
//!
//! **Creation survives a crash.** A new journal's folder first gets a marker file,
//! [`CREATING`] (written and synced before RocksDB creates anything), and loses it once the
//! format version is durably stored, before the journal is handed out. A folder with the
//! marker is therefore ours and holds no event: the next open finishes the creation, starting
//! it again if RocksDB cannot take up what a killed creation left.
//!
//! **Damage is refused.** The write-ahead log is recovered with
//! [`DBRecoveryMode::TolerateCorruptedTailRecords`]: a torn last record (what a crash in the
//! middle of a write leaves; it was never acknowledged) is dropped, damage before it refuses
//! the open as [`OpenError::Damaged`] rather than silently dropping every later write (the
//! default, point-in-time recovery, does that). `repair.rs` takes such a journal up knowingly.
//!
//! **One folder, one spelling.** RocksDB keys its in-process lock by the path as written, so
//! `dir` and `dir/.` (or a symlink) would open one folder twice: every RocksDB call gets the
//! folder's canonical path.
//!
//! Over 600 lines: opening is one procedure (lock, recover, check the format, upgrade, build the
//! indexes) whose failure cases each need their own typed error, and they read best in order.

use std::fs::{self, File};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::rocksdb::{
    BottommostLevelCompaction, ColumnFamilyDescriptor, CompactOptions, DB, DBCompressionType,
    DBRecoveryMode, ErrorKind as RocksErrorKind, Options, WriteBatch, WriteOptions,
};

use super::error::OpenError;
use super::{keys, record};

/// The format version this build writes and reads. A journal with a higher one is refused.
///
/// - 1: a `highest/{id}` row in `meta` per stream, rewritten by every write.
/// - 2: no such row: a stream's highest sequence number is its last event's, or its
///   `deleted_to` if that is higher (which is what version 1's row held, too). A version 1
///   journal is marked version 2 when opened for writing, since a version 1 program would
///   trust rows that version 2 no longer updates.
/// - 3: an `offsets` column family, the index of every event by its global offset (for
///   queries in global order). A version 2 journal opened for writing gets the index, built
///   from its events, then is marked version 3 (a version 2 program would not keep the index
///   up to date); read-only, it reads as before, without queries in global order.
/// - 4: a `read_models` column family: the projections' read-model tables and offsets
///   (`crate::projection`), each projection's writes and its offset in one batch. A version 3
///   journal opened for writing gets the (empty) family, then is marked version 4 (a version
///   3 program, which does not know the family, is then refused rather than left to repair or
///   rebuild a database whose read models it cannot see); read-only, it reads as before and
///   has no read models.
pub(super) const FORMAT_VERSION: u32 = 4;

/// Column family of the events: stream key → event record.
pub(super) const EVENTS: &str = "events";
/// Column family of the tag index: tag key → stream key of the event.
pub(super) const TAGS: &str = "tags";
/// Column family of the snapshots: stream key → snapshot record.
pub(super) const SNAPSHOTS: &str = "snapshots";
/// Column family of the metadata (see [`keys`]).
pub(super) const META: &str = "meta";
/// Column family of the global order (format 3): offset key → stream key of the event.
pub(super) const OFFSETS: &str = "offsets";
/// Column family of the read models and projection offsets (format 4; laid out as
/// `persistence::read_model_keys` says).
pub(super) const READ_MODELS: &str = "read_models";

/// Our column families, `meta` first: RocksDB creates missing ones in this order, so a creation
/// cut short leaves at least `meta` behind whenever it left any of ours.
/// (They are what makes a folder recognisably ours: a journal of format 2 lacks
/// [`OFFSETS`], one of format 3 [`READ_MODELS`].)
pub(super) const OURS: [&str; 4] = [META, EVENTS, TAGS, SNAPSHOTS];
/// Every column family a journal of this format has.
pub(super) const WRITTEN: [&str; 6] = [META, EVENTS, TAGS, SNAPSHOTS, OFFSETS, READ_MODELS];
/// Events indexed per write batch while building the offset index of an older journal.
const INDEX_BATCH: usize = 10_000;
const DEFAULT: &str = "default";

/// The marker of a journal being created (see the module docs). Its text says what it is to
/// whoever lists the folder.
pub(super) const CREATING: &str = "REACTANT-CREATING";

/// A column family may hold this many table files beyond what its size needs (one per
/// [`TABLE_FILE_SIZE`]) before an open compacts it (see [`bound_table_files`]).
const SPARE_TABLE_FILES: usize = 16;
/// RocksDB's default target size of a table file.
const TABLE_FILE_SIZE: usize = 64 << 20;

/// How often a read-only open tries again when the folder changes under it (a live writer
/// flushed or compacted between the reader's look at the MANIFEST and its open), and how long
/// it waits in between.
const READ_ONLY_ATTEMPTS: u32 = 20;
const READ_ONLY_PAUSE: Duration = Duration::from_millis(25);
/// How many read-only opens may find the folder changing under them before the reader gives
/// up (about 5 s with [`READ_ONLY_PAUSE`]).
const READ_ONLY_MOVING_ATTEMPTS: u32 = 200;

/// What a folder holds, found without writing to it.
enum Found {
    /// Nothing: create a journal.
    Nothing,
    /// Our journal, with these column families, of this format version.
    Journal(Vec<String>, u32),
    /// Our column families, all empty and without a format version: a creation was cut short
    /// (the process died between creating the database and storing the version), by a
    /// version that did not write the [`CREATING`] marker yet. Finish it.
    UnfinishedJournal(Vec<String>),
    /// The [`CREATING`] marker: a creation in progress or cut short. Finish it.
    Creating,
}

/// The canonical path of an existing folder: RocksDB's in-process lock is keyed by it.
fn canonical(path: &Path) -> Result<PathBuf, OpenError> {
    fs::canonicalize(path).map_err(|source| io_error(path, source))
}

fn io_error(path: &Path, source: io::Error) -> OpenError {
    OpenError::Io {
        path: path.to_owned(),
        source,
    }
}

fn is_being_created(path: &Path) -> bool {
    fs::symlink_metadata(path.join(CREATING)).is_ok()
}

/// Syncs a folder's entries (a file created, renamed or removed in it).
fn sync_folder(path: &Path) -> Result<(), OpenError> {
    File::open(path)
        .and_then(|folder| folder.sync_all())
        .map_err(|source| io_error(path, source))
}

/// Puts the [`CREATING`] marker in `path`, durably, before RocksDB writes anything there.
fn mark_creating(path: &Path) -> Result<(), OpenError> {
    let marker = path.join(CREATING);
    let mut file = File::create(&marker).map_err(|source| io_error(&marker, source))?;
    file.write_all(
        b"A Reactant journal is being created in this folder. If this file stays, the creation \
          was cut short: the next RocksJournal::open finishes it.\n",
    )
    .and_then(|()| file.sync_all())
    .map_err(|source| io_error(&marker, source))?;
    sync_folder(path)
}

/// Finishes the creation of a journal whose folder holds the [`CREATING`] marker: opens it
/// with its lock held, stores the format version if missing, removes the marker.
fn finish_creation(path: &Path) -> Result<DB, OpenError> {
    // The column families a cut creation left, if it got as far as a MANIFEST.
    let existing = DB::list_cf(&Options::default(), canonical(path)?).unwrap_or_default();
    let db = match open_for_writing(path, &existing, true) {
        Ok(db) => db,
        Err(
            error @ (OpenError::AlreadyOpenInThisProcess { .. }
            | OpenError::InUseByAnotherProcess { .. }
            | OpenError::Io { .. }),
        ) => return Err(error),
        Err(_) => {
            // RocksDB does not take up what the killed creation left. Its files hold no event
            // (the marker goes before the journal is handed out), so start again. `destroy`
            // takes the lock, so it never runs under a live creator.
            DB::destroy(&Options::default(), canonical(path)?)
                .map_err(|error| open_error(path, error))?;
            open_for_writing(path, &[], true)?
        }
    };
    if read_format_version(path, &db)?.is_none() {
        store_format_version(path, &db)?;
    }
    match fs::remove_file(path.join(CREATING)) {
        Err(error) if error.kind() != ErrorKind::NotFound => {
            return Err(io_error(&path.join(CREATING), error));
        }
        _ => {}
    }
    sync_folder(path)?;
    Ok(db)
}

/// The stored format version, if any.
fn read_format_version(path: &Path, db: &DB) -> Result<Option<Vec<u8>>, OpenError> {
    let meta = db.cf_handle(META).expect("opened with every column family");
    db.get_cf(meta, keys::FORMAT_VERSION)
        .map_err(|error| open_error(path, error))
}

/// Opens (or creates) the journal database in `path`, refusing what is not ours.
pub(super) fn open_database(path: &Path) -> Result<DB, OpenError> {
    let found = match inspect(path) {
        // Another process began creating a journal here while we looked.
        Err(OpenError::NotAJournal { .. } | OpenError::Damaged { .. })
            if is_being_created(path) =>
        {
            Found::Creating
        }
        found => found?,
    };
    match found {
        Found::Nothing => {
            fs::create_dir_all(path).map_err(|source| io_error(path, source))?;
            mark_creating(path)?;
            finish_creation(path)
        }
        Found::Creating => finish_creation(path),
        Found::UnfinishedJournal(existing) => {
            let db = open_for_writing(path, &existing, true)?;
            store_format_version(path, &db)?;
            Ok(db)
        }
        Found::Journal(existing, version) => {
            for (since, family) in [(3, OFFSETS), (4, READ_MODELS)] {
                if version >= since && !existing.iter().any(|name| name == family) {
                    return Err(OpenError::Damaged {
                        path: path.to_owned(),
                        detail: format!(
                            "the `{family}` column family of format {version} is missing"
                        ),
                    });
                }
            }
            let db = open_for_writing(path, &existing, false)?;
            if version < 3 {
                build_offset_index(path, &db)?;
            }
            if version < FORMAT_VERSION {
                store_format_version(path, &db)?;
            }
            bound_table_files(&db);
            Ok(db)
        }
    }
}

/// Compacts a column family that holds many more table files than its size needs. Keys that
/// only grow (the tag index's offsets, a single stream's sequence numbers) make every flush a
/// table that compaction moves down without merging: without this, one more file per start,
/// for ever. A failure here costs only files, so it is logged, not returned.
fn bound_table_files(db: &DB) {
    let files = match db.live_files() {
        Ok(files) => files,
        Err(error) => {
            tracing::warn!(%error, "cannot list the journal's table files; not compacting");
            return;
        }
    };
    for name in WRITTEN {
        let (count, bytes) = files
            .iter()
            .filter(|file| file.column_family_name == name)
            .fold((0, 0), |(count, bytes), file| {
                (count + 1, bytes + file.size)
            });
        if count > SPARE_TABLE_FILES + bytes / TABLE_FILE_SIZE {
            tracing::debug!(
                family = name,
                files = count,
                "compacting the journal's table files"
            );
            let family = db.cf_handle(name).expect("opened with every column family");
            // Forced: the small files sit in the bottom level already, which a manual
            // compaction otherwise leaves alone.
            let mut compaction = CompactOptions::default();
            compaction.set_bottommost_level_compaction(BottommostLevelCompaction::Force);
            db.compact_range_cf_opt(family, None::<&[u8]>, None::<&[u8]>, &compaction);
        }
    }
}

/// Opens the journal database in `path` read-only: without its `LOCK`, so while another
/// process writes to it, and without writing a byte. Refuses what [`open_database`] refuses,
/// and a folder holding no journal yet.
///
/// A live writer can flush or compact while we open: RocksDB reads the MANIFEST, then the
/// files it names and the write-ahead logs after it, and a flush in between removes a log
/// whose events then sit in a table file the MANIFEST we read does not name. Such an open
/// either fails (a file gone missing reads as damage) or, worse, succeeds with fewer events
/// than an earlier reader saw. So an open counts only when the MANIFEST (which `CURRENT`
/// names, and its length) was the same before and after it: nothing was flushed, compacted
/// or removed meanwhile, and the view is one the writer really had. Otherwise it is tried
/// again, and a failure is reported only when the folder stood still while it failed.
pub(super) fn open_database_read_only(path: &Path) -> Result<DB, OpenError> {
    let mut attempt = 1;
    loop {
        let before = manifest_state(path);
        let opened = try_open_read_only(path);
        let still = manifest_state(path) == before;
        // Damage that a file removed meanwhile cannot explain is reported after a few tries
        // (a MANIFEST record torn by a write under way reads the same); a view taken while
        // the folder changed is tried again for longer.
        let limit = if still {
            READ_ONLY_ATTEMPTS
        } else {
            READ_ONLY_MOVING_ATTEMPTS
        };
        match opened {
            Ok(db) if still => return Ok(db),
            Err(OpenError::Damaged { .. } | OpenError::Storage { .. }) if attempt < limit => {}
            Err(error) if still || attempt >= limit => return Err(error),
            Ok(_) if attempt >= limit => {
                return Err(OpenError::Storage {
                    path: path.to_owned(),
                    detail: format!(
                        "the journal's writer flushed or compacted during each of {attempt} \
                         read-only opens, so none of them saw a consistent view; try again \
                         when it is less busy"
                    ),
                });
            }
            _ => {}
        }
        attempt += 1;
        std::thread::sleep(READ_ONLY_PAUSE);
    }
}

/// The MANIFEST that `CURRENT` names and its length: a writer's flush or compaction appends
/// to it, a writer's start writes a new one. `None` when either cannot be read (no journal
/// there, or one being created).
fn manifest_state(path: &Path) -> Option<(String, u64)> {
    let current = std::fs::read_to_string(path.join("CURRENT")).ok()?;
    let name = current.trim_end().to_owned();
    let length = std::fs::metadata(path.join(&name)).ok()?.len();
    Some((name, length))
}

fn try_open_read_only(path: &Path) -> Result<DB, OpenError> {
    let no_journal = |reason: &str| OpenError::NoJournal {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    match inspect(path)? {
        Found::Nothing if path.exists() => Err(no_journal("the folder is empty")),
        Found::Nothing => Err(no_journal("the folder does not exist")),
        Found::UnfinishedJournal(_) | Found::Creating => Err(no_journal(
            "its journal is being created, or its creation was cut short before any event",
        )),
        // A journal of an older format reads the same (see [`FORMAT_VERSION`]).
        Found::Journal(existing, _) => {
            DB::open_cf_for_read_only(&column_family_options(), canonical(path)?, &existing, false)
                .map_err(|error| open_error(path, error))
        }
    }
}

fn inspect(path: &Path) -> Result<Found, OpenError> {
    let io_error = |source| OpenError::Io {
        path: path.to_owned(),
        source,
    };
    let not_a_journal = |reason: String| OpenError::NotAJournal {
        path: path.to_owned(),
        reason,
    };
    match std::fs::metadata(path) {
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(error) => return Err(io_error(error)),
        Ok(metadata) if !metadata.is_dir() => {
            return Err(OpenError::NotAFolder {
                path: path.to_owned(),
            });
        }
        Ok(_) => {}
    }
    if is_being_created(path) {
        return Ok(Found::Creating);
    }
    if std::fs::read_dir(path).map_err(io_error)?.next().is_none() {
        return Ok(Found::Nothing);
    }
    // Once the folder is recognisably ours, what cannot be read is damage, not a stranger.
    let damaged_or_foreign = |detail: String, ours: bool| {
        if ours {
            OpenError::Damaged {
                path: path.to_owned(),
                detail,
            }
        } else {
            not_a_journal(detail)
        }
    };
    if !path.join("CURRENT").is_file() {
        return Err(damaged_or_foreign(
            "it holds files but no RocksDB database (no CURRENT file)".to_owned(),
            options_name_ours(path),
        ));
    }
    // Reads CURRENT and the MANIFEST only.
    let families = DB::list_cf(&Options::default(), path).map_err(|error| {
        damaged_or_foreign(
            format!("its database cannot be read: {error}"),
            options_name_ours(path),
        )
    })?;
    let all_families_ours = OURS.iter().all(|&name| families.iter().any(|f| f == name));
    if !families.iter().any(|name| name == META) {
        return Err(not_a_journal(format!(
            "it holds a RocksDB database without a `{META}` column family (its column families: {})",
            families.join(", ")
        )));
    }
    // A read-only open neither takes the LOCK nor creates a file (not even the info LOG), and
    // works while another process has the journal open.
    let db = DB::open_cf_for_read_only(&recovery_options(), path, &families, false).map_err(
        |error| {
            damaged_or_foreign(
                format!("its database cannot be opened: {error}"),
                all_families_ours,
            )
        },
    )?;
    let meta = db.cf_handle(META).expect("opened with every column family");
    let version = db.get_cf(meta, keys::FORMAT_VERSION).map_err(|error| {
        damaged_or_foreign(
            format!("its format version cannot be read: {error}"),
            all_families_ours,
        )
    })?;
    match version {
        Some(bytes) => {
            let found = <[u8; 4]>::try_from(bytes.as_slice())
                .map(u32::from_be_bytes)
                .map_err(|_| {
                    not_a_journal(format!(
                        "its format version is {} bytes, not 4",
                        bytes.len()
                    ))
                })?;
            if found > FORMAT_VERSION {
                return Err(OpenError::NewerFormat {
                    path: path.to_owned(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            if found == 0 {
                return Err(not_a_journal("its format version is 0".to_owned()));
            }
            if let Some(missing) = OURS
                .iter()
                .find(|&&name| !families.iter().any(|f| f == name))
            {
                return Err(not_a_journal(format!(
                    "the `{missing}` column family is missing"
                )));
            }
            Ok(Found::Journal(families, found))
        }
        None => {
            let all_ours = families
                .iter()
                .all(|name| name == DEFAULT || WRITTEN.contains(&name.as_str()));
            let all_empty = families.iter().all(|name| {
                let family = db.cf_handle(name).expect("opened with every column family");
                let mut iterator = db.raw_iterator_cf(family);
                iterator.seek_to_first();
                !iterator.valid() && iterator.status().is_ok()
            });
            if all_ours && all_empty {
                Ok(Found::UnfinishedJournal(families))
            } else {
                Err(not_a_journal(format!(
                    "it holds a RocksDB database with no format version in its `{META}` column family"
                )))
            }
        }
    }
}

/// Whether an `OPTIONS-*` file of the folder (RocksDB writes one at every open) names our four
/// column families: a database RocksDB cannot read any more is still recognisably ours.
fn options_name_ours(path: &Path) -> bool {
    let Ok(entries) = fs::read_dir(path) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        entry.file_name().to_string_lossy().starts_with("OPTIONS-")
            && fs::read_to_string(entry.path()).is_ok_and(|text| {
                OURS.iter()
                    .all(|name| text.contains(&format!("[CFOptions \"{name}\"]")))
            })
    })
}

/// Options for reading what a folder holds: the write-ahead log is recovered as the journal
/// recovers it (see the module docs).
pub(super) fn recovery_options() -> Options {
    let mut options = Options::default();
    options.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
    options
}

pub(super) fn column_family_options() -> Options {
    let mut options = recovery_options();
    options.set_compression_type(DBCompressionType::Lz4);
    options
}

/// Our [`OpenError`] for a failure of RocksDB to open the folder `path`: only a held lock is
/// "in use"; a lock file that cannot be opened is an I/O error naming it; corruption, or a
/// file of the database gone missing, is damage.
pub(super) fn open_error(path: &Path, error: ::rocksdb::Error) -> OpenError {
    let kind = error.kind();
    let message = error.into_string();
    if message.contains("lock hold by current process") {
        OpenError::AlreadyOpenInThisProcess {
            path: path.to_owned(),
        }
    } else if message.contains("While lock file") {
        // fcntl refused the lock: a live process holds it.
        OpenError::InUseByAnotherProcess {
            path: path.to_owned(),
        }
    } else if message.contains("for lock") {
        let kind = if message.contains("Permission denied") {
            ErrorKind::PermissionDenied
        } else if message.contains("Is a directory") {
            ErrorKind::IsADirectory
        } else {
            ErrorKind::Other
        };
        OpenError::Io {
            path: path.join("LOCK"),
            source: io::Error::new(kind, message),
        }
    } else if kind == RocksErrorKind::Corruption || message.contains("No such file or directory") {
        OpenError::Damaged {
            path: path.to_owned(),
            detail: message,
        }
    } else {
        OpenError::Storage {
            path: path.to_owned(),
            detail: message,
        }
    }
}

/// Opens for writing with every existing column family and ours.
fn open_for_writing(path: &Path, existing: &[String], create: bool) -> Result<DB, OpenError> {
    let mut options = column_family_options();
    options.create_if_missing(create);
    // Only ever opened for a folder known to be ours (or to become ours): a family this
    // format adds ([`OFFSETS`], [`READ_MODELS`]) is created in an older journal.
    options.create_missing_column_families(true);
    options.set_keep_log_file_num(4);
    let mut names: Vec<&str> = WRITTEN.to_vec();
    names.extend(
        existing
            .iter()
            .map(String::as_str)
            .filter(|name| !WRITTEN.contains(name)),
    );
    let families = names
        .into_iter()
        .map(|name| ColumnFamilyDescriptor::new(name, column_family_options()));
    DB::open_cf_descriptors(&options, canonical(path)?, families)
        .map_err(|error| open_error(path, error))
}

/// Builds the offset index of a journal of format 2 (or 1) from its events, durably, before
/// the journal is marked format 3. Idempotent: an upgrade cut short is done again at the
/// next open.
fn build_offset_index(path: &Path, db: &DB) -> Result<(), OpenError> {
    let failed = |error| open_error(path, error);
    let family = |name| db.cf_handle(name).expect("opened with every column family");
    let (events, offsets) = (family(EVENTS), family(OFFSETS));
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    let mut rows = db.raw_iterator_cf(events);
    rows.seek_to_first();
    let mut batch = WriteBatch::default();
    let mut indexed = 0u64;
    while let (Some(key), Some(value)) = (rows.key(), rows.value()) {
        let offset = record::decode_event(value)
            .map_err(|detail| OpenError::Damaged {
                path: path.to_owned(),
                detail: format!("an event record cannot be read while indexing offsets: {detail}"),
            })?
            .offset;
        batch.put_cf(offsets, keys::offset_key(offset), key);
        indexed += 1;
        if batch.len() >= INDEX_BATCH {
            db.write_opt(std::mem::take(&mut batch), &sync)
                .map_err(failed)?;
        }
        rows.next();
    }
    rows.status().map_err(failed)?;
    db.write_opt(batch, &sync).map_err(failed)?;
    tracing::info!(folder = %path.display(), events = indexed, "indexed the journal's events by global offset (format 3)");
    Ok(())
}

/// Marks a new database (or one of an older format) as a journal of this format, durably.
fn store_format_version(path: &Path, db: &DB) -> Result<(), OpenError> {
    let meta = db.cf_handle(META).expect("opened with every column family");
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    db.put_cf_opt(
        meta,
        keys::FORMAT_VERSION,
        FORMAT_VERSION.to_be_bytes(),
        &sync,
    )
    .map_err(|error| open_error(path, error))
}
