//! [`RocksJournal::repair`](super::RocksJournal::repair): takes up a journal whose write-ahead
//! log is damaged before its tail, and says exactly what it dropped.
//!
//! Two views of the folder are compared. The first, read-only, recovers the log skipping every
//! damaged record ([`DBRecoveryMode::SkipAnyCorruptedRecord`]): every write that can still be
//! read. The second, the repaired journal, recovers the log up to its first damaged record
//! ([`DBRecoveryMode::PointInTime`]): a consistent prefix, every stream contiguous. What the
//! first has and the second lacks is what the repair dropped; the offsets between the kept and
//! the read last offset that neither holds were in the damaged records themselves.

use std::fmt;
use std::path::Path;

use ::rocksdb::{DB, DBRawIterator, DBRecoveryMode, Options};

use super::error::OpenError;
use super::open::{self, EVENTS, OURS};
use super::{keys, read_last_offset, record};
use crate::persistence::journal::{PersistenceId, SequenceNr};

/// An event that [`RocksJournal::repair`](super::RocksJournal::repair) dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedEvent {
    /// Its stream.
    pub persistence_id: PersistenceId,
    /// Its sequence number in the stream.
    pub sequence_nr: SequenceNr,
    /// Its global offset (0 if its record could not be decoded).
    pub offset: u64,
}

/// What [`RocksJournal::repair`](super::RocksJournal::repair) dropped; empty for an intact
/// journal. Its `Display` is a summary of one line per event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// The events after the damage that could still be read, in key order (stream, then
    /// sequence number). They are dropped so that no stream has a hole.
    pub dropped_events: Vec<DroppedEvent>,
    /// Events that could not be read at all: their global offsets lie between the last kept
    /// offset and the last readable one, yet no readable event has them. RocksDB distrusts
    /// the rest of a 32 KB block of the log after a damaged record, so the writes there are
    /// unreadable too; those after the last readable write leave no trace, which makes this
    /// count a lower bound (exact whenever a readable write follows the damaged block).
    pub unreadable_events: u64,
    /// Other rows dropped with them: tag index entries, snapshots, metadata.
    pub dropped_rows: u64,
    /// The global offset of the last event kept.
    pub kept_last_offset: u64,
}

impl fmt::Display for RepairReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dropped_events.is_empty() && self.unreadable_events == 0 && self.dropped_rows == 0 {
            return write!(
                f,
                "no readable event was dropped; the last offset is {}",
                self.kept_last_offset
            );
        }
        write!(
            f,
            "kept every event up to offset {}; dropped {} readable events, at least {} \
             unreadable events and {} other rows",
            self.kept_last_offset,
            self.dropped_events.len(),
            self.unreadable_events,
            self.dropped_rows
        )?;
        for event in &self.dropped_events {
            write!(
                f,
                "\ndropped event {} of {} (offset {})",
                event.sequence_nr, event.persistence_id, event.offset
            )?;
        }
        Ok(())
    }
}

pub(super) fn repair(path: &Path) -> Result<RepairReport, OpenError> {
    let damaged = |error: ::rocksdb::Error| open::open_error(path, error);
    // A creation cut short holds no event: finishing it is the whole repair.
    if path.join(open::CREATING).exists() {
        drop(open::open_database(path)?);
        return Ok(RepairReport::default());
    }
    let canonical = std::fs::canonicalize(path).map_err(|source| OpenError::Io {
        path: path.to_owned(),
        source,
    })?;
    let families = DB::list_cf(&Options::default(), &canonical).map_err(damaged)?;
    if let Some(missing) = OURS
        .iter()
        .find(|&&name| !families.iter().any(|f| f == name))
    {
        return Err(OpenError::NotAJournal {
            path: path.to_owned(),
            reason: format!("the `{missing}` column family is missing"),
        });
    }
    let mut readable = open::column_family_options();
    readable.set_wal_recovery_mode(DBRecoveryMode::SkipAnyCorruptedRecord);
    let everything =
        DB::open_cf_for_read_only(&readable, &canonical, &families, false).map_err(damaged)?;
    let read_last_offset_of = |db: &DB| {
        read_last_offset(db).map_err(|detail| OpenError::Damaged {
            path: path.to_owned(),
            detail,
        })
    };
    let readable_last_offset = read_last_offset_of(&everything)?;

    let mut prefix = open::column_family_options();
    prefix.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
    let kept = DB::open_cf(&prefix, &canonical, &families).map_err(damaged)?;
    let mut report = RepairReport {
        kept_last_offset: read_last_offset_of(&kept)?,
        ..RepairReport::default()
    };
    let mut dropped_offsets = Vec::new();
    for name in OURS {
        let all = everything
            .cf_handle(name)
            .expect("opened with every family");
        let mut all = everything.raw_iterator_cf(all);
        let mut left =
            kept.raw_iterator_cf(kept.cf_handle(name).expect("opened with every family"));
        all.seek_to_first();
        left.seek_to_first();
        while let Some(key) = all.key() {
            let key = key.to_vec();
            let is_kept = advance_to(&mut left, &key);
            if !is_kept {
                if name == EVENTS {
                    let (persistence_id, sequence_nr) = keys::parse_stream_key(&key)
                        .unwrap_or_else(|| (PersistenceId::new("?"), 0));
                    let offset = all
                        .value()
                        .and_then(|value| record::decode_event(value).ok())
                        .map_or(0, |event| event.offset);
                    dropped_offsets.push(offset);
                    report.dropped_events.push(DroppedEvent {
                        persistence_id,
                        sequence_nr,
                        offset,
                    });
                } else {
                    report.dropped_rows += 1;
                }
            }
            all.next();
        }
        all.status().map_err(damaged)?;
        left.status().map_err(damaged)?;
    }
    let dropped_offsets: std::collections::HashSet<u64> = dropped_offsets.into_iter().collect();
    report.unreadable_events = (report.kept_last_offset + 1..=readable_last_offset)
        .filter(|offset| !dropped_offsets.contains(offset))
        .count() as u64;
    // The repaired state is made durable in table files, so that the damaged log is no longer
    // needed by the next open.
    for name in &families {
        kept.flush_cf(kept.cf_handle(name).expect("opened with every family"))
            .map_err(damaged)?;
    }
    drop(everything);
    drop(kept);
    for event in &report.dropped_events {
        tracing::warn!(
            folder = %path.display(),
            persistence_id = %event.persistence_id,
            sequence_nr = event.sequence_nr,
            offset = event.offset,
            "repair dropped an event written after the damage in the journal's log"
        );
    }
    tracing::warn!(folder = %path.display(), "journal repaired: {report}");
    Ok(report)
}

/// Moves `iterator` to the first key at or after `key`; whether it holds `key` itself.
fn advance_to(iterator: &mut DBRawIterator<'_>, key: &[u8]) -> bool {
    while let Some(current) = iterator.key() {
        match current.cmp(key) {
            std::cmp::Ordering::Less => iterator.next(),
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Greater => return false,
        }
    }
    false
}
