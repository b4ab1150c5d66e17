//! [`Journal`] for [`RocksJournal`]: appends as one `WriteBatch`, replays and tag queries as
//! bounded range scans.

use std::collections::hash_map::Entry;

use ::rocksdb::{DBRawIterator, ReadOptions, WriteBatch};

use super::open::{EVENTS, META, OFFSETS, TAGS};
use super::{FastMap, RocksJournal, keys, record, storage};
use crate::persistence::error::{JournalError, Rejection};
use std::sync::Arc;

use crate::persistence::commit::CommitNotifier;
use crate::persistence::journal::{
    AtomicWrite, Journal, PersistenceId, PersistentRepr, SequenceNr,
};

impl RocksJournal {
    /// The persistence id of every stream that has events in the journal, in key order:
    /// shorter ids first, ids of one length in byte order. A stream whose events are all
    /// deleted is not listed. It seeks from stream to stream rather than reading every event.
    ///
    /// ```
    /// use reactant::persistence::rocksdb::RocksJournal;
    /// use reactant::persistence::{AtomicWrite, Journal, Manifest, PersistenceId, PersistentRepr};
    ///
    /// let folder = std::env::temp_dir().join(format!("reactant-doc-ids-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&folder);
    /// let journal = RocksJournal::open(&folder)?;
    /// let event = |id: &str, sequence_nr| PersistentRepr {
    ///     persistence_id: PersistenceId::new(id),
    ///     sequence_nr,
    ///     manifest: Manifest::new("Noted", 1),
    ///     payload: vec![0xc0],
    ///     tags: Vec::new(),
    ///     writer_id: "writer-1".into(),
    ///     timestamp_ms: 0,
    ///     offset: 0,
    /// };
    /// journal.write(&[
    ///     AtomicWrite { events: vec![event("note|b", 1), event("note|b", 2)] },
    ///     AtomicWrite { events: vec![event("note|a", 1)] },
    /// ])?;
    /// let ids = journal.persistence_ids()?;
    /// assert_eq!(ids, [PersistenceId::new("note|a"), PersistenceId::new("note|b")]);
    /// # drop(journal);
    /// # std::fs::remove_dir_all(&folder)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn persistence_ids(&self) -> Result<Vec<PersistenceId>, JournalError> {
        let mut ids = Vec::new();
        let mut events = self.db.raw_iterator_cf(self.family(EVENTS));
        events.seek_to_first();
        while let Some(key) = events.key() {
            let (persistence_id, _) = keys::parse_stream_key(key).ok_or_else(|| {
                JournalError::Storage(format!(
                    "a key of the `{EVENTS}` column family is damaged (not a stream key): \
                     {key:02x?}"
                ))
            })?;
            // Past the last key the stream could have: the next stream's first event.
            events.seek(keys::inclusive_end(keys::stream_key(
                &persistence_id,
                u64::MAX,
            )));
            ids.push(persistence_id);
        }
        events.status().map_err(storage)?;
        Ok(ids)
    }

    /// A `u64` of the stream's metadata (0 when absent).
    fn stream_meta(&self, persistence_id: &PersistenceId, key: &[u8]) -> Result<u64, JournalError> {
        let Some(bytes) = self
            .db
            .get_pinned_cf(self.family(META), key)
            .map_err(storage)?
        else {
            return Ok(0);
        };
        <[u8; 8]>::try_from(&*bytes)
            .map(u64::from_be_bytes)
            .map_err(|_| JournalError::Corrupt {
                persistence_id: persistence_id.clone(),
                sequence_nr: 0,
                detail: format!(
                    "its metadata `{}` is {} bytes, not 8",
                    String::from_utf8_lossy(key),
                    bytes.len()
                ),
            })
    }

    /// The stream's highest sequence number: its last event's, or the number its events are
    /// deleted to if that is higher (deleting never lowers it). Read once per stream, then
    /// kept in memory.
    fn highest(&self, persistence_id: &PersistenceId) -> Result<SequenceNr, JournalError> {
        if let Some(&highest) = self.highest.lock().get(persistence_id) {
            return Ok(highest);
        }
        let mut events = self.scan(
            EVENTS,
            keys::stream_key(persistence_id, 0),
            keys::inclusive_end(keys::stream_key(persistence_id, u64::MAX)),
        );
        events.seek_to_last();
        let last = events.key().map_or(0, keys::sequence_nr_of);
        events.status().map_err(storage)?;
        drop(events);
        let highest = last.max(self.deleted_to(persistence_id)?);
        self.highest
            .lock()
            .entry(persistence_id.clone())
            .or_insert(highest);
        Ok(highest)
    }

    fn deleted_to(&self, persistence_id: &PersistenceId) -> Result<SequenceNr, JournalError> {
        self.stream_meta(persistence_id, &keys::deleted_to_key(persistence_id))
    }

    /// A raw iterator over `lower..upper` of a column family. Every scan is bounded on both
    /// sides: the bounds keep seeks off other streams' keys and off deletion tombstones.
    fn scan(&self, family: &str, lower: Vec<u8>, upper: Vec<u8>) -> DBRawIterator<'_> {
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(lower);
        options.set_iterate_upper_bound(upper);
        self.db.raw_iterator_cf_opt(self.family(family), options)
    }
}

/// Checks that `write` continues its stream, whose highest sequence number is `highest`: its
/// events are numbered `highest + 1`, `highest + 2`, … without gaps.
fn check_continues(write: &AtomicWrite, highest: SequenceNr) -> Result<(), Rejection> {
    let mut previous = highest;
    for event in &write.events {
        if Some(event.sequence_nr) != previous.checked_add(1) {
            return Err(Rejection::OutOfOrder {
                highest: previous,
                got: event.sequence_nr,
            });
        }
        previous = event.sequence_nr;
    }
    Ok(())
}

fn corrupt(
    persistence_id: &PersistenceId,
    sequence_nr: SequenceNr,
    detail: String,
) -> JournalError {
    JournalError::Corrupt {
        persistence_id: persistence_id.clone(),
        sequence_nr,
        detail,
    }
}

impl Journal for RocksJournal {
    fn write(&self, writes: &[AtomicWrite]) -> Result<Vec<Result<(), Rejection>>, JournalError> {
        self.check_writable()?;
        let (events, tags) = (self.family(EVENTS), self.family(TAGS));
        let offsets = self.family(OFFSETS);
        let mut last_offset = self.last_offset.lock();
        let mut offset = *last_offset;
        let mut batch = WriteBatch::default();
        // The streams of this call and their highest sequence numbers once it is committed.
        let mut highest_in_batch: FastMap<&PersistenceId, SequenceNr> =
            FastMap::with_capacity_and_hasher(writes.len(), Default::default());
        let mut results = Vec::with_capacity(writes.len());
        // Each accepted event with its offset, put in key order below.
        let mut rows: Vec<(&PersistenceId, &PersistentRepr, u64)> =
            Vec::with_capacity(writes.len());
        for write in writes {
            // The events are filed under the write's stream, as `AtomicWrite` promises.
            let Some(persistence_id) = write.persistence_id() else {
                results.push(Ok(()));
                continue;
            };
            // One lookup in this call's map; the cache (or RocksDB) only for a stream's first
            // write in the call.
            let mut entry = highest_in_batch.entry(persistence_id);
            let highest = match &entry {
                Entry::Occupied(written) => *written.get(),
                Entry::Vacant(_) => self.highest(persistence_id)?,
            };
            if let Err(rejection) = check_continues(write, highest) {
                results.push(Err(rejection));
                continue;
            }
            for event in &write.events {
                offset += 1;
                rows.push((persistence_id, event, offset));
            }
            let written = write.highest_sequence_nr();
            match entry {
                Entry::Occupied(ref mut known) => *known.get_mut() = written,
                Entry::Vacant(unknown) => {
                    unknown.insert(written);
                }
            }
            results.push(Ok(()));
        }
        if offset != *last_offset {
            // For readers near the head, in offset order (`rows` still is).
            let recent = self.recent.keeping(*last_offset).then(|| {
                rows.iter()
                    .map(|&(_, event, offset)| PersistentRepr {
                        offset,
                        ..event.clone()
                    })
                    .collect::<Vec<_>>()
            });
            // In key order: the memtable inserts each key from where the previous one went (a
            // batch's streams are in completion order, all over the key space; sorted, the
            // inserts sweep it once). The offsets are in the records, so their order stays.
            rows.sort_unstable_by(|a, b| {
                keys::stream_key_order((a.0, a.1.sequence_nr), (b.0, b.1.sequence_nr))
            });
            let (mut key, mut value) = (Vec::new(), Vec::new());
            for &(persistence_id, event, offset) in &rows {
                keys::stream_key_into(&mut key, persistence_id, event.sequence_nr);
                for tag in &event.tags {
                    batch.put_cf(tags, keys::tag_key(tag, offset), &key);
                }
                batch.put_cf(offsets, keys::offset_key(offset), &key);
                record::encode_event_into(&mut value, event, offset);
                batch.put_cf(events, &key, &value);
            }
            batch.put_cf(self.family(META), keys::LAST_OFFSET, offset.to_be_bytes());
            self.db
                .write_opt(batch, &self.write_options())
                .map_err(storage)?;
            *last_offset = offset;
            // Still under the writers' lock: held for readers, then published, in order.
            if let Some(recent) = recent {
                self.recent.push(recent);
            }
            self.notifier.committed(offset);
            // Committed: the cache follows (still under the writers' lock). A stream already
            // cached keeps its key: no clone of its id, whose count the entity's thread uses.
            let mut cached = self.highest.lock();
            for (persistence_id, highest) in highest_in_batch {
                match cached.get_mut(persistence_id) {
                    Some(known) => *known = highest,
                    None => {
                        cached.insert(persistence_id.clone(), highest);
                    }
                }
            }
        }
        Ok(results)
    }

    fn replay(
        &self,
        persistence_id: &PersistenceId,
        from: SequenceNr,
        to: SequenceNr,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<SequenceNr, JournalError> {
        self.check_open()?;
        let highest = self.highest(persistence_id)?;
        // Start after the deleted events: their range tombstones would slow the seek.
        let first = from.max(self.deleted_to(persistence_id)?.saturating_add(1));
        let last = to.min(highest);
        if max == 0 || first > last {
            return Ok(highest);
        }
        let mut events = self.scan(
            EVENTS,
            keys::stream_key(persistence_id, first),
            keys::inclusive_end(keys::stream_key(persistence_id, last)),
        );
        events.seek_to_first();
        let mut left = max;
        let mut interner = record::Interner::default();
        while left > 0 {
            let (Some(key), Some(value)) = (events.key(), events.value()) else {
                break;
            };
            let sequence_nr = keys::sequence_nr_of(key);
            let event = record::decode_event(value)
                .and_then(|record| {
                    record.into_repr(persistence_id.clone(), sequence_nr, &mut interner)
                })
                .map_err(|detail| corrupt(persistence_id, sequence_nr, detail))?;
            on_event(event);
            left -= 1;
            events.next();
        }
        events.status().map_err(storage)?;
        Ok(highest)
    }

    fn highest_sequence_nr(
        &self,
        persistence_id: &PersistenceId,
    ) -> Result<SequenceNr, JournalError> {
        self.check_open()?;
        self.highest(persistence_id)
    }

    fn advance_highest(
        &self,
        persistence_id: &PersistenceId,
        to: SequenceNr,
    ) -> Result<(), JournalError> {
        self.check_writable()?;
        // Serialised with writes, as `delete_to` is.
        let _writes = self.last_offset.lock();
        if self.highest(persistence_id)? >= to {
            return Ok(());
        }
        // Recorded as deleted up to `to`: the highest of a stream is the larger of its last
        // event and its deleted-to mark, so the next write must start at `to + 1`.
        self.db
            .put_cf_opt(
                self.family(META),
                keys::deleted_to_key(persistence_id),
                to.to_be_bytes(),
                &self.write_options(),
            )
            .map_err(storage)?;
        self.highest.lock().insert(persistence_id.clone(), to);
        Ok(())
    }

    fn delete_to(
        &self,
        persistence_id: &PersistenceId,
        to: SequenceNr,
    ) -> Result<(), JournalError> {
        self.check_writable()?;
        // Serialised with writes: the highest read here stays the highest until the commit.
        let _writes = self.last_offset.lock();
        let deleted_to = self.deleted_to(persistence_id)?;
        let last = to.min(self.highest(persistence_id)?);
        if last <= deleted_to {
            return Ok(());
        }
        let lower = keys::stream_key(persistence_id, deleted_to + 1);
        let upper = keys::inclusive_end(keys::stream_key(persistence_id, last));
        let mut batch = WriteBatch::default();
        // The tag and offset entries of the deleted events go too, so no query meets a
        // dangling one.
        let tags = self.family(TAGS);
        let mut events = self.scan(EVENTS, lower.clone(), upper.clone());
        events.seek_to_first();
        while let (Some(key), Some(value)) = (events.key(), events.value()) {
            let event = record::decode_event(value)
                .map_err(|detail| corrupt(persistence_id, keys::sequence_nr_of(key), detail))?;
            for tag in event.tags {
                batch.delete_cf(tags, keys::tag_key(tag, event.offset));
            }
            if let Some(offsets) = self.db.cf_handle(OFFSETS) {
                batch.delete_cf(offsets, keys::offset_key(event.offset));
            }
            events.next();
        }
        events.status().map_err(storage)?;
        drop(events);
        batch.delete_range_cf(self.family(EVENTS), lower, upper);
        batch.put_cf(
            self.family(META),
            keys::deleted_to_key(persistence_id),
            last.to_be_bytes(),
        );
        self.db
            .write_opt(batch, &self.write_options())
            .map_err(storage)?;
        // The deleted events must not be served from memory either.
        self.recent.clear();
        Ok(())
    }

    fn set_remembered(
        &self,
        type_key: &str,
        entity_id: &str,
        remembered: bool,
    ) -> Result<(), JournalError> {
        self.check_writable()?;
        let key = keys::remembered_key(type_key, entity_id);
        let meta = self.family(META);
        let written = if remembered {
            self.db.put_cf_opt(meta, key, [], &self.write_options())
        } else {
            self.db.delete_cf_opt(meta, key, &self.write_options())
        };
        written.map_err(storage)
    }

    fn remembered(&self, type_key: &str) -> Result<Vec<String>, JournalError> {
        self.check_open()?;
        let prefix = keys::remembered_prefix(type_key);
        let mut options = ReadOptions::default();
        if let Some(end) = keys::prefix_end(&prefix) {
            options.set_iterate_upper_bound(end);
        }
        options.set_iterate_lower_bound(prefix.clone());
        let mut rows = self.db.raw_iterator_cf_opt(self.family(META), options);
        rows.seek_to_first();
        let mut ids = Vec::new();
        while let Some(key) = rows.key() {
            let id = key
                .strip_prefix(prefix.as_slice())
                .and_then(|id| std::str::from_utf8(id).ok())
                .ok_or_else(|| {
                    JournalError::Storage(format!(
                        "a remembered entity of `{type_key}` in the `{META}` column family is \
                         damaged (not UTF-8): {key:02x?}"
                    ))
                })?;
            ids.push(id.to_owned());
            rows.next();
        }
        rows.status().map_err(storage)?;
        Ok(ids)
    }

    fn events_by_tag(
        &self,
        tag: &str,
        after_offset: u64,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<u64, JournalError> {
        self.check_open()?;
        let Some(first) = after_offset.checked_add(1).filter(|_| max > 0) else {
            return Ok(after_offset);
        };
        let tagged = |event: &PersistentRepr| event.tags.iter().any(|t| t == tag);
        if let Some(last) = self.recent.read(after_offset, max, &tagged, on_event) {
            return Ok(last);
        }
        // One point in time for the index and the events, so a concurrent deletion cannot
        // remove an event between reading its entry and reading it.
        let snapshot = self.db.snapshot();
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(keys::tag_key(tag, first));
        options.set_iterate_upper_bound(keys::inclusive_end(keys::tag_key(tag, u64::MAX)));
        let mut entries = snapshot.raw_iterator_cf_opt(self.family(TAGS), options);
        entries.seek_to_first();
        let events = self.family(EVENTS);
        let mut last_offset = after_offset;
        let mut left = max;
        let mut interner = record::Interner::default();
        while left > 0 {
            let (Some(key), Some(event_key)) = (entries.key(), entries.value()) else {
                break;
            };
            let offset = keys::offset_of_tag_key(key);
            let damaged = |detail: &str| {
                JournalError::Storage(format!(
                    "the tag index entry of tag {tag:?} at offset {offset} is damaged: {detail}"
                ))
            };
            let (persistence_id, sequence_nr) =
                keys::parse_stream_key(event_key).ok_or_else(|| damaged("not an event key"))?;
            let value = snapshot
                .get_pinned_cf(events, event_key)
                .map_err(storage)?
                .ok_or_else(|| {
                    damaged(&format!(
                        "event {sequence_nr} of {persistence_id} is missing"
                    ))
                })?;
            let event = record::decode_event(&value)
                .and_then(|record| {
                    record.into_repr(persistence_id.clone(), sequence_nr, &mut interner)
                })
                .map_err(|detail| corrupt(&persistence_id, sequence_nr, detail))?;
            on_event(event);
            last_offset = offset;
            left -= 1;
            entries.next();
        }
        entries.status().map_err(storage)?;
        Ok(last_offset)
    }

    fn events_by_offset(
        &self,
        after_offset: u64,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<u64, JournalError> {
        self.check_open()?;
        let offsets = self.db.cf_handle(OFFSETS).ok_or_else(|| {
            JournalError::Storage(format!(
                "the journal in {} was written by an older version and has no index in global \
                 order yet: open it for writing once (RocksJournal::open) to build it",
                self.path.display()
            ))
        })?;
        let Some(first) = after_offset.checked_add(1).filter(|_| max > 0) else {
            return Ok(after_offset);
        };
        if let Some(last) = self.recent.read(after_offset, max, &|_| true, on_event) {
            return Ok(last);
        }
        // One point in time for the index and the events (see `events_by_tag`). Offsets are
        // committed in order under the writers' lock, one batch at a time: every offset below
        // one this snapshot holds is in it too (or was deleted).
        let snapshot = self.db.snapshot();
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(keys::offset_key(first).to_vec());
        let mut entries = snapshot.raw_iterator_cf_opt(offsets, options);
        entries.seek_to_first();
        let events = self.family(EVENTS);
        let mut last_offset = after_offset;
        let mut left = max;
        let mut interner = record::Interner::default();
        while left > 0 {
            let (Some(key), Some(event_key)) = (entries.key(), entries.value()) else {
                break;
            };
            let damaged = |detail: &str| {
                JournalError::Storage(format!(
                    "the offset index entry {key:02x?} is damaged: {detail}"
                ))
            };
            let offset = keys::offset_of_offset_key(key).ok_or_else(|| damaged("not an offset"))?;
            let (persistence_id, sequence_nr) =
                keys::parse_stream_key(event_key).ok_or_else(|| damaged("not an event key"))?;
            let value = snapshot
                .get_pinned_cf(events, event_key)
                .map_err(storage)?
                .ok_or_else(|| {
                    damaged(&format!(
                        "event {sequence_nr} of {persistence_id} is missing"
                    ))
                })?;
            let event = record::decode_event(&value)
                .and_then(|record| {
                    record.into_repr(persistence_id.clone(), sequence_nr, &mut interner)
                })
                .map_err(|detail| corrupt(&persistence_id, sequence_nr, detail))?;
            on_event(event);
            last_offset = offset;
            left -= 1;
            entries.next();
        }
        entries.status().map_err(storage)?;
        Ok(last_offset)
    }

    fn highest_offset(&self) -> Result<u64, JournalError> {
        self.check_open()?;
        // The commit notification's copy, an atomic: the writers' lock can be held back to
        // back by a busy writer, and a reader of the head must not starve behind it.
        Ok(self.notifier.last_committed())
    }

    fn persistence_ids_after(
        &self,
        after: Option<&PersistenceId>,
        max: u64,
        on_id: &mut dyn FnMut(PersistenceId),
    ) -> Result<(), JournalError> {
        self.check_open()?;
        let mut events = self.db.raw_iterator_cf(self.family(EVENTS));
        match after {
            Some(after) => events.seek(keys::inclusive_end(keys::stream_key(after, u64::MAX))),
            None => events.seek_to_first(),
        }
        let mut left = max;
        while left > 0 {
            let Some(key) = events.key() else { break };
            let (persistence_id, _) = keys::parse_stream_key(key).ok_or_else(|| {
                JournalError::Storage(format!(
                    "a key of the `{EVENTS}` column family is damaged (not a stream key): \
                     {key:02x?}"
                ))
            })?;
            // Past the last key the stream could have: the next stream's first event.
            events.seek(keys::inclusive_end(keys::stream_key(
                &persistence_id,
                u64::MAX,
            )));
            on_id(persistence_id);
            left -= 1;
        }
        events.status().map_err(storage)
    }

    fn commit_notifier(&self) -> Option<Arc<CommitNotifier>> {
        Some(self.notifier.clone())
    }

    fn projection_offset(&self, name: &str, key: &str) -> Result<Option<u64>, JournalError> {
        self.stored_projection_offset(name, key)
    }

    fn save_projection_offset(
        &self,
        name: &str,
        key: &str,
        offset: Option<u64>,
    ) -> Result<(), JournalError> {
        self.store_projection_offset(name, key, offset)
    }
}
