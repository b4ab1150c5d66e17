//! Opening a journal folder: look before writing.
//!
//! A folder is first classified without writing a byte: missing or empty (a new journal), not a
//! database, a database that is not ours (no `meta` column family, no format version), a newer
//! format, or our journal. Only a new journal or our own is then opened for writing; RocksDB's
//! `LOCK` refuses a folder that a live process holds, which we turn into [`OpenError`]s that
//! name the folder. A read-only open refuses a new journal too, and takes no lock.

use std::io::ErrorKind;
use std::path::Path;

use ::rocksdb::{ColumnFamilyDescriptor, DB, DBCompressionType, Options, WriteOptions};

use super::error::OpenError;
use super::keys;

/// The format version this build writes and reads. A journal with a higher one is refused.
///
/// - 1: a `highest/{id}` row in `meta` per stream, rewritten by every write.
/// - 2: no such row: a stream's highest sequence number is its last event's, or its
///   `deleted_to` if that is higher (which is what version 1's row held, too). A version 1
///   journal is marked version 2 when opened for writing, since a version 1 program would
///   trust rows that version 2 no longer updates.
pub(super) const FORMAT_VERSION: u32 = 2;

/// Column family of the events: stream key → event record.
pub(super) const EVENTS: &str = "events";
/// Column family of the tag index: tag key → stream key of the event.
pub(super) const TAGS: &str = "tags";
/// Column family of the snapshots: stream key → snapshot record.
pub(super) const SNAPSHOTS: &str = "snapshots";
/// Column family of the metadata (see [`keys`]).
pub(super) const META: &str = "meta";

/// Our column families, `meta` first: RocksDB creates missing ones in this order, so a creation
/// cut short leaves at least `meta` behind whenever it left any of ours.
const OURS: [&str; 4] = [META, EVENTS, TAGS, SNAPSHOTS];
const DEFAULT: &str = "default";

/// What a folder holds, found without writing to it.
enum Found {
    /// Nothing: create a journal.
    Nothing,
    /// Our journal, with these column families, of this format version.
    Journal(Vec<String>, u32),
    /// Our column families, all empty and without a format version: a creation was cut short
    /// (the process died between creating the database and storing the version). Finish it.
    UnfinishedJournal(Vec<String>),
}

/// Opens (or creates) the journal database in `path`, refusing what is not ours.
pub(super) fn open_database(path: &Path) -> Result<DB, OpenError> {
    match inspect(path)? {
        Found::Nothing => {
            std::fs::create_dir_all(path).map_err(|source| OpenError::Io {
                path: path.to_owned(),
                source,
            })?;
            let db = open_for_writing(path, &[], true)?;
            store_format_version(path, &db)?;
            Ok(db)
        }
        Found::UnfinishedJournal(existing) => {
            let db = open_for_writing(path, &existing, true)?;
            store_format_version(path, &db)?;
            Ok(db)
        }
        Found::Journal(existing, version) => {
            let db = open_for_writing(path, &existing, false)?;
            if version < FORMAT_VERSION {
                store_format_version(path, &db)?;
            }
            Ok(db)
        }
    }
}

/// Opens the journal database in `path` read-only: without its `LOCK`, so while another
/// process writes to it, and without writing a byte. Refuses what [`open_database`] refuses,
/// and a folder holding no journal yet.
pub(super) fn open_database_read_only(path: &Path) -> Result<DB, OpenError> {
    let no_journal = |reason: &str| OpenError::NoJournal {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    match inspect(path)? {
        Found::Nothing if path.exists() => Err(no_journal("the folder is empty")),
        Found::Nothing => Err(no_journal("the folder does not exist")),
        Found::UnfinishedJournal(_) => Err(no_journal(
            "its journal was never finished: its creation was cut short before any event",
        )),
        // A journal of an older format reads the same (see [`FORMAT_VERSION`]).
        Found::Journal(existing, _) => {
            DB::open_cf_for_read_only(&column_family_options(), path, &existing, false).map_err(
                |error| OpenError::Storage {
                    path: path.to_owned(),
                    detail: error.into_string(),
                },
            )
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
    if std::fs::read_dir(path).map_err(io_error)?.next().is_none() {
        return Ok(Found::Nothing);
    }
    if !path.join("CURRENT").is_file() {
        return Err(not_a_journal(
            "it holds files but no RocksDB database (no CURRENT file)".to_owned(),
        ));
    }
    // Reads CURRENT and the MANIFEST only.
    let families = DB::list_cf(&Options::default(), path)
        .map_err(|error| not_a_journal(format!("its database cannot be read: {error}")))?;
    if !families.iter().any(|name| name == META) {
        return Err(not_a_journal(format!(
            "it holds a RocksDB database without a `{META}` column family (its column families: {})",
            families.join(", ")
        )));
    }
    // A read-only open neither takes the LOCK nor creates a file (not even the info LOG), and
    // works while another process has the journal open.
    let db = DB::open_cf_for_read_only(&Options::default(), path, &families, false)
        .map_err(|error| not_a_journal(format!("its database cannot be opened: {error}")))?;
    let meta = db.cf_handle(META).expect("opened with every column family");
    let version = db
        .get_cf(meta, keys::FORMAT_VERSION)
        .map_err(|error| not_a_journal(format!("its format version cannot be read: {error}")))?;
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
                .all(|name| name == DEFAULT || OURS.contains(&name.as_str()));
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

fn column_family_options() -> Options {
    let mut options = Options::default();
    options.set_compression_type(DBCompressionType::Lz4);
    options
}

/// Opens for writing with every existing column family and ours.
fn open_for_writing(path: &Path, existing: &[String], create: bool) -> Result<DB, OpenError> {
    let mut options = column_family_options();
    options.create_if_missing(create);
    options.create_missing_column_families(create);
    options.set_keep_log_file_num(4);
    let mut names: Vec<&str> = OURS.to_vec();
    names.extend(
        existing
            .iter()
            .map(String::as_str)
            .filter(|name| !OURS.contains(name)),
    );
    let families = names
        .into_iter()
        .map(|name| ColumnFamilyDescriptor::new(name, column_family_options()));
    DB::open_cf_descriptors(&options, path, families).map_err(|error| {
        let message = error.into_string();
        if message.contains("lock hold by current process") {
            OpenError::AlreadyOpenInThisProcess {
                path: path.to_owned(),
            }
        } else if message.contains("LOCK") || message.contains("lock file") {
            OpenError::InUseByAnotherProcess {
                path: path.to_owned(),
            }
        } else {
            OpenError::Storage {
                path: path.to_owned(),
                detail: message,
            }
        }
    })
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
    .map_err(|error| OpenError::Storage {
        path: path.to_owned(),
        detail: error.into_string(),
    })
}
