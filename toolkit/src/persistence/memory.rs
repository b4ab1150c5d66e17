//! In-memory journal and snapshot store: the same contract as the RocksDB backend, nothing
//! durable. For tests, and for entities whose events may be lost with the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::commit::CommitNotifier;

use super::error::{JournalError, Rejection};
use super::journal::{AtomicWrite, Journal, PersistenceId, PersistentRepr, SequenceNr};
use super::snapshot::{SnapshotCriteria, SnapshotMetadata, SnapshotStore, StoredSnapshot};

/// A journal in memory.
///
/// ```
/// use reactant::persistence::{Journal, memory::InMemoryJournal, PersistenceId};
///
/// let journal = InMemoryJournal::new();
/// assert_eq!(journal.highest_sequence_nr(&PersistenceId::new("account|1"))?, 0);
/// # Ok::<(), reactant::persistence::JournalError>(())
/// ```
#[derive(Default)]
pub struct InMemoryJournal {
    state: Mutex<JournalState>,
    /// Told the last offset after each write, for live queries.
    notifier: Arc<CommitNotifier>,
    /// Set by [`close`](InMemoryJournal::close): every call fails with
    /// [`JournalError::Closed`].
    closed: AtomicBool,
}

#[derive(Default)]
struct JournalState {
    streams: HashMap<PersistenceId, Stream>,
    /// Global offset → (stream, sequence number), for `events_by_tag`.
    by_offset: BTreeMap<u64, (PersistenceId, SequenceNr)>,
    last_offset: u64,
    /// Remembered sharded entities: type key → entity ids.
    remembered: HashMap<String, std::collections::BTreeSet<String>>,
    /// Offsets of (at-least-once) projections: (name, key) → offset.
    projection_offsets: HashMap<(String, String), u64>,
}

#[derive(Default)]
struct Stream {
    events: BTreeMap<SequenceNr, PersistentRepr>,
    highest: SequenceNr,
}

impl InMemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Closes the journal: every later call fails with [`JournalError::Closed`], and live
    /// queries end with a `QueryError::Closed`.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.notifier.close();
    }

    fn check_open(&self) -> Result<(), JournalError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(JournalError::Closed);
        }
        Ok(())
    }
}

/// The order of persistence ids in listings: shorter ids first, ids of one length in byte
/// order (the RocksDB journal's key order, so both list alike).
fn id_order(a: &PersistenceId, b: &PersistenceId) -> std::cmp::Ordering {
    (a.as_str().len(), a.as_str().as_bytes()).cmp(&(b.as_str().len(), b.as_str().as_bytes()))
}

impl Journal for InMemoryJournal {
    fn projection_offset(&self, name: &str, key: &str) -> Result<Option<u64>, JournalError> {
        self.check_open()?;
        let state = self.state.lock();
        Ok(state
            .projection_offsets
            .get(&(name.to_owned(), key.to_owned()))
            .copied())
    }

    fn save_projection_offset(
        &self,
        name: &str,
        key: &str,
        offset: Option<u64>,
    ) -> Result<(), JournalError> {
        self.check_open()?;
        let mut state = self.state.lock();
        let id = (name.to_owned(), key.to_owned());
        match offset {
            Some(offset) => state.projection_offsets.insert(id, offset),
            None => state.projection_offsets.remove(&id),
        };
        Ok(())
    }

    fn set_remembered(
        &self,
        type_key: &str,
        entity_id: &str,
        remembered: bool,
    ) -> Result<(), JournalError> {
        self.check_open()?;
        let mut state = self.state.lock();
        if remembered {
            state
                .remembered
                .entry(type_key.to_owned())
                .or_default()
                .insert(entity_id.to_owned());
        } else if let Some(ids) = state.remembered.get_mut(type_key) {
            ids.remove(entity_id);
        }
        Ok(())
    }

    fn remembered(&self, type_key: &str) -> Result<Vec<String>, JournalError> {
        self.check_open()?;
        Ok(self
            .state
            .lock()
            .remembered
            .get(type_key)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default())
    }

    fn write(&self, writes: &[AtomicWrite]) -> Result<Vec<Result<(), Rejection>>, JournalError> {
        self.check_open()?;
        let mut state = self.state.lock();
        let mut results = Vec::with_capacity(writes.len());
        for write in writes {
            let Some(persistence_id) = write.persistence_id() else {
                results.push(Ok(()));
                continue;
            };
            let highest = state
                .streams
                .get(persistence_id)
                .map_or(0, |stream| stream.highest);
            let first = write.events[0].sequence_nr;
            if first != highest + 1 {
                results.push(Err(Rejection::OutOfOrder {
                    highest,
                    got: first,
                }));
                continue;
            }
            for event in &write.events {
                state.last_offset += 1;
                let offset = state.last_offset;
                let mut stored = event.clone();
                stored.offset = offset;
                state
                    .by_offset
                    .insert(offset, (stored.persistence_id.clone(), stored.sequence_nr));
                let stream = state.streams.entry(persistence_id.clone()).or_default();
                stream.highest = stream.highest.max(stored.sequence_nr);
                stream.events.insert(stored.sequence_nr, stored);
            }
            results.push(Ok(()));
        }
        let last_offset = state.last_offset;
        drop(state);
        self.notifier.committed(last_offset);
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
        let (events, highest) = {
            let state = self.state.lock();
            let Some(stream) = state.streams.get(persistence_id) else {
                return Ok(0);
            };
            let events: Vec<PersistentRepr> = if from > to {
                Vec::new()
            } else {
                stream
                    .events
                    .range(from..=to)
                    .take(usize::try_from(max).unwrap_or(usize::MAX))
                    .map(|(_, event)| event.clone())
                    .collect()
            };
            (events, stream.highest)
        };
        // Outside the lock: the callback may take its time.
        events.into_iter().for_each(on_event);
        Ok(highest)
    }

    fn highest_sequence_nr(
        &self,
        persistence_id: &PersistenceId,
    ) -> Result<SequenceNr, JournalError> {
        self.check_open()?;
        Ok(self
            .state
            .lock()
            .streams
            .get(persistence_id)
            .map_or(0, |stream| stream.highest))
    }

    fn advance_highest(
        &self,
        persistence_id: &PersistenceId,
        to: SequenceNr,
    ) -> Result<(), JournalError> {
        self.check_open()?;
        let mut state = self.state.lock();
        let stream = state.streams.entry(persistence_id.clone()).or_default();
        stream.highest = stream.highest.max(to);
        Ok(())
    }

    fn delete_to(
        &self,
        persistence_id: &PersistenceId,
        to: SequenceNr,
    ) -> Result<(), JournalError> {
        self.check_open()?;
        let mut state = self.state.lock();
        let JournalState {
            streams, by_offset, ..
        } = &mut *state;
        if let Some(stream) = streams.get_mut(persistence_id) {
            let kept = stream.events.split_off(&to.saturating_add(1));
            for deleted in std::mem::replace(&mut stream.events, kept).into_values() {
                by_offset.remove(&deleted.offset);
            }
        }
        Ok(())
    }

    fn events_by_tag(
        &self,
        tag: &str,
        after_offset: u64,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<u64, JournalError> {
        self.check_open()?;
        let events: Vec<PersistentRepr> = {
            let state = self.state.lock();
            state
                .by_offset
                .range(after_offset.saturating_add(1)..)
                .filter_map(|(_, (pid, seq))| state.streams.get(pid)?.events.get(seq))
                .filter(|event| event.tags.iter().any(|t| t == tag))
                .take(usize::try_from(max).unwrap_or(usize::MAX))
                .cloned()
                .collect()
        };
        let last = events.last().map_or(after_offset, |event| event.offset);
        events.into_iter().for_each(on_event);
        Ok(last)
    }

    fn events_by_offset(
        &self,
        after_offset: u64,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<u64, JournalError> {
        self.check_open()?;
        let events: Vec<PersistentRepr> = {
            let state = self.state.lock();
            state
                .by_offset
                .range(after_offset.saturating_add(1)..)
                .filter_map(|(_, (pid, seq))| state.streams.get(pid)?.events.get(seq))
                .take(usize::try_from(max).unwrap_or(usize::MAX))
                .cloned()
                .collect()
        };
        let last = events.last().map_or(after_offset, |event| event.offset);
        events.into_iter().for_each(on_event);
        Ok(last)
    }

    fn highest_offset(&self) -> Result<u64, JournalError> {
        self.check_open()?;
        Ok(self.state.lock().last_offset)
    }

    fn persistence_ids_after(
        &self,
        after: Option<&PersistenceId>,
        max: u64,
        on_id: &mut dyn FnMut(PersistenceId),
    ) -> Result<(), JournalError> {
        self.check_open()?;
        let mut ids: Vec<PersistenceId> = {
            let state = self.state.lock();
            state
                .streams
                .iter()
                .filter(|(id, stream)| {
                    !stream.events.is_empty()
                        && after.is_none_or(|after| id_order(id, after).is_gt())
                })
                .map(|(id, _)| id.clone())
                .collect()
        };
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if ids.len() > max {
            ids.select_nth_unstable_by(max, id_order);
            ids.truncate(max);
        }
        ids.sort_unstable_by(id_order);
        ids.into_iter().for_each(on_id);
        Ok(())
    }

    fn commit_notifier(&self) -> Option<Arc<CommitNotifier>> {
        Some(self.notifier.clone())
    }
}

/// A snapshot store in memory.
#[derive(Default)]
pub struct InMemorySnapshotStore {
    snapshots: Mutex<HashMap<PersistenceId, BTreeMap<SequenceNr, StoredSnapshot>>>,
}

impl InMemorySnapshotStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SnapshotStore for InMemorySnapshotStore {
    fn save(&self, snapshot: StoredSnapshot) -> Result<(), JournalError> {
        self.snapshots
            .lock()
            .entry(snapshot.metadata.persistence_id.clone())
            .or_default()
            .insert(snapshot.metadata.sequence_nr, snapshot);
        Ok(())
    }

    fn load(
        &self,
        persistence_id: &PersistenceId,
        criteria: SnapshotCriteria,
    ) -> Result<Option<StoredSnapshot>, JournalError> {
        Ok(self
            .snapshots
            .lock()
            .get(persistence_id)
            .and_then(|stream| {
                stream
                    .values()
                    .rev()
                    .find(|snapshot| criteria.matches(&snapshot.metadata))
                    .cloned()
            }))
    }

    fn delete(&self, metadata: &SnapshotMetadata) -> Result<(), JournalError> {
        if let Some(stream) = self.snapshots.lock().get_mut(&metadata.persistence_id) {
            stream.remove(&metadata.sequence_nr);
        }
        Ok(())
    }

    fn delete_matching(
        &self,
        persistence_id: &PersistenceId,
        criteria: SnapshotCriteria,
    ) -> Result<(), JournalError> {
        if let Some(stream) = self.snapshots.lock().get_mut(persistence_id) {
            stream.retain(|_, snapshot| !criteria.matches(&snapshot.metadata));
        }
        Ok(())
    }
}
