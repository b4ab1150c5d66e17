//! The test journal: the in-memory journal with faults on demand — failures, panics,
//! rejections, delays and holds of the next N calls or of every call — and counts of every
//! call. The one fault-injecting journal of the project: its own tests use it too.
//!
//! A test switches a fault on for every later call (`fail_writes`) or for the next few
//! (`fail_next_writes`, or Akka's names `fail_next_persisted`, `reject_next_persisted`,
//! `fail_next_read`), and switches it off again (`heal_writes`). Writes and replays can also be
//! held until the test releases them, so that a test can line commands up behind an operation
//! before deciding how that operation ends.
//!
//! A write is one call of [`Journal::write`]: one group commit of the journal writer, which
//! may carry the events of several entities.
//!
//! A test that fails while holding an operation must not hang the suite: a held call lets go
//! on its own after [`HOLD_LIMIT`].
//!
//! Over 600 lines: every fault (fail, panic, reject, delay, hold) applies to every operation of
//! the `Journal` and `SnapshotStore` traits, and the counts and waits a test reads go with them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::persistence::memory::InMemoryJournal;
use crate::persistence::{
    AtomicWrite, Codec, CommitNotifier, Event, Journal, JournalError, MessagePack, PersistenceId,
    PersistentRepr, Rejection, SequenceNr,
};
use parking_lot::{Condvar, Mutex};

/// The longest a held call waits for the test to release it.
pub const HOLD_LIMIT: Duration = Duration::from_secs(60);

/// How long [`TestJournal::wait_until_write_held`] and its kin wait for a call to arrive.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(10);

/// What a faulty read or snapshot operation does instead of its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Returns `Err(JournalError::Storage(..))`.
    Fail,
    /// Panics, as a buggy backend would.
    Panic,
    /// Waits this long (the calling thread sleeps), then does its job.
    Delay(Duration),
}

/// What a faulty `Journal::write` does instead of storing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteFault {
    /// Returns `Err(JournalError::Storage(..))`: nothing of the batch is stored.
    Fail,
    /// Panics inside `write`: nothing of the batch is stored.
    Panic,
    /// Returns `Ok` with every write of the batch refused as out of order: nothing is stored.
    Reject,
    /// Waits this long (the journal writer's thread sleeps), then stores the batch.
    Delay(Duration),
}

/// The message of every injected storage failure.
pub const INJECTED: &str = "injected failure";

/// The message of every injected panic.
pub const INJECTED_PANIC: &str = "injected panic";

/// A fault that is on for every call, for the next `remaining` calls, or off.
pub(super) struct Switch<F> {
    fault: Option<F>,
    /// `None`: every call until healed.
    remaining: Option<u64>,
}

impl<F: Copy> Switch<F> {
    pub(super) const fn off() -> Self {
        Self {
            fault: None,
            remaining: None,
        }
    }

    pub(super) fn set(&mut self, fault: F, remaining: Option<u64>) {
        self.fault = Some(fault);
        self.remaining = remaining;
    }

    pub(super) fn heal(&mut self) {
        self.fault = None;
        self.remaining = None;
    }

    /// The fault this call meets, if any; counts it against `remaining`.
    pub(super) fn take(&mut self) -> Option<F> {
        let fault = self.fault?;
        if let Some(remaining) = self.remaining.as_mut() {
            *remaining -= 1;
            if *remaining == 0 {
                self.heal();
            }
        }
        Some(fault)
    }
}

/// Where calls of one kind wait while the test holds them.
struct Hold {
    state: Mutex<HoldState>,
    changed: Condvar,
}

struct HoldState {
    closed: bool,
    /// Calls waiting now.
    waiting: usize,
}

impl Hold {
    const fn new() -> Self {
        Self {
            state: Mutex::new(HoldState {
                closed: false,
                waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn close(&self) {
        self.state.lock().closed = true;
    }

    fn open(&self) {
        self.state.lock().closed = false;
        self.changed.notify_all();
    }

    /// Waits while the hold is closed (at most [`HOLD_LIMIT`]).
    fn pass(&self) {
        let deadline = Instant::now() + HOLD_LIMIT;
        let mut state = self.state.lock();
        if !state.closed {
            return;
        }
        state.waiting += 1;
        self.changed.notify_all();
        while state.closed {
            if self.changed.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
        state.waiting -= 1;
        self.changed.notify_all();
    }

    /// True once at least `calls` calls wait here; false if they do not within
    /// [`ARRIVAL_LIMIT`].
    fn wait_for(&self, calls: usize) -> bool {
        let deadline = Instant::now() + ARRIVAL_LIMIT;
        let mut state = self.state.lock();
        while state.waiting < calls {
            if self.changed.wait_until(&mut state, deadline).timed_out() {
                return state.waiting >= calls;
            }
        }
        true
    }
}

pub(super) fn storage_failure(operation: &str) -> JournalError {
    JournalError::Storage(format!("{INJECTED} in {operation}"))
}

/// An in-memory journal whose writes, replays and deletions fail, panic, are rejected or
/// are held, as the test says.
pub struct TestJournal {
    inner: InMemoryJournal,
    /// Every event stored, per stream, never deleted (see [`written`](Self::written)).
    written: Mutex<HashMap<PersistenceId, Vec<PersistentRepr>>>,
    writes: Mutex<Switch<WriteFault>>,
    replays: Mutex<Switch<Fault>>,
    deletes: Mutex<Switch<Fault>>,
    remembers: Mutex<Switch<Fault>>,
    write_hold: Hold,
    replay_hold: Hold,
    write_calls: AtomicU64,
    replay_calls: AtomicU64,
    delete_calls: AtomicU64,
}

impl Default for TestJournal {
    fn default() -> Self {
        Self::new()
    }
}

impl TestJournal {
    /// A journal that works until told otherwise.
    pub fn new() -> Self {
        Self {
            inner: InMemoryJournal::new(),
            written: Mutex::new(HashMap::new()),
            writes: Mutex::new(Switch::off()),
            replays: Mutex::new(Switch::off()),
            deletes: Mutex::new(Switch::off()),
            remembers: Mutex::new(Switch::off()),
            write_hold: Hold::new(),
            replay_hold: Hold::new(),
            write_calls: AtomicU64::new(0),
            replay_calls: AtomicU64::new(0),
            delete_calls: AtomicU64::new(0),
        }
    }

    /// Every later `write` meets `fault`, until [`heal_writes`](Self::heal_writes).
    pub fn fail_writes(&self, fault: WriteFault) {
        self.writes.lock().set(fault, None);
    }

    /// The next `calls` calls of `write` meet `fault`; the ones after work.
    pub fn fail_next_writes(&self, calls: u64, fault: WriteFault) {
        self.writes.lock().set(fault, Some(calls.max(1)));
    }

    /// Writes work again.
    pub fn heal_writes(&self) {
        self.writes.lock().heal();
    }

    /// Every later `write` waits (before its fault is looked at) until
    /// [`release_writes`](Self::release_writes).
    pub fn hold_writes(&self) {
        self.write_hold.close();
    }

    /// Lets the held writes (and every later one) go on.
    pub fn release_writes(&self) {
        self.write_hold.open();
    }

    /// True once a `write` is waiting in the hold; false if none comes within a bound.
    pub fn wait_until_write_held(&self) -> bool {
        self.write_hold.wait_for(1)
    }

    /// Every later `replay` meets `fault`, until [`heal_replays`](Self::heal_replays).
    pub fn fail_replays(&self, fault: Fault) {
        self.replays.lock().set(fault, None);
    }

    /// The next `calls` calls of `replay` meet `fault`.
    pub fn fail_next_replays(&self, calls: u64, fault: Fault) {
        self.replays.lock().set(fault, Some(calls.max(1)));
    }

    /// Replays work again.
    pub fn heal_replays(&self) {
        self.replays.lock().heal();
    }

    /// Every later `replay` waits (before its fault is looked at) until
    /// [`release_replays`](Self::release_replays).
    pub fn hold_replays(&self) {
        self.replay_hold.close();
    }

    /// Lets the held replays (and every later one) go on.
    pub fn release_replays(&self) {
        self.replay_hold.open();
    }

    /// True once a `replay` is waiting in the hold; false if none comes within a bound.
    pub fn wait_until_replay_held(&self) -> bool {
        self.replay_hold.wait_for(1)
    }

    /// Every later `delete_to` meets `fault`, until [`heal_deletes`](Self::heal_deletes).
    pub fn fail_deletes(&self, fault: Fault) {
        self.deletes.lock().set(fault, None);
    }

    /// Deletions work again.
    pub fn heal_deletes(&self) {
        self.deletes.lock().heal();
    }

    /// Every later `set_remembered` and `remembered` (the sharding side's store of remembered
    /// entities) meets `fault`, until [`heal_remembers`](Self::heal_remembers).
    pub fn fail_remembers(&self, fault: Fault) {
        self.remembers.lock().set(fault, None);
    }

    /// Remembering works again.
    pub fn heal_remembers(&self) {
        self.remembers.lock().heal();
    }

    /// Calls of `write` so far (failed ones included).
    pub fn write_calls(&self) -> u64 {
        self.write_calls.load(Ordering::SeqCst)
    }

    /// Calls of `replay` so far (failed ones included).
    pub fn replay_calls(&self) -> u64 {
        self.replay_calls.load(Ordering::SeqCst)
    }

    /// Calls of `delete_to` so far (failed ones included).
    pub fn delete_calls(&self) -> u64 {
        self.delete_calls.load(Ordering::SeqCst)
    }

    /// The events stored for `persistence_id`, read past every fault and hold.
    pub fn stored(&self, persistence_id: &PersistenceId) -> Vec<PersistentRepr> {
        let mut events = Vec::new();
        self.inner
            .replay(persistence_id, 1, u64::MAX, u64::MAX, &mut |event| {
                events.push(event)
            })
            .expect("the in-memory journal reads");
        events
    }

    /// The sequence numbers stored for `persistence_id`, read past every fault and hold.
    pub fn stored_sequence_nrs(&self, persistence_id: &PersistenceId) -> Vec<SequenceNr> {
        self.stored(persistence_id)
            .iter()
            .map(|event| event.sequence_nr)
            .collect()
    }

    /// The next write fails with a storage error (Akka's `failNextPersisted`): the entity gets
    /// `PersistFailed`.
    pub fn fail_next_persisted(&self) {
        self.fail_next_writes(1, WriteFault::Fail);
    }

    /// The next `n` writes fail with a storage error.
    pub fn fail_next_n_persisted(&self, n: u64) {
        self.fail_next_writes(n, WriteFault::Fail);
    }

    /// The next write is rejected (Akka's `rejectNextPersisted`): the entity gets
    /// `PersistRejected`.
    pub fn reject_next_persisted(&self) {
        self.fail_next_writes(1, WriteFault::Reject);
    }

    /// The next `n` writes are rejected.
    pub fn reject_next_n_persisted(&self, n: u64) {
        self.fail_next_writes(n, WriteFault::Reject);
    }

    /// The next write waits `delay` on the writer's thread, then stores its events.
    pub fn delay_next_persisted(&self, delay: Duration) {
        self.fail_next_writes(1, WriteFault::Delay(delay));
    }

    /// The next replay (an entity's recovery) fails with a storage error (Akka's
    /// `failNextRead`): the entity gets `RecoveryFailed` and stops.
    pub fn fail_next_read(&self) {
        self.fail_next_replays(1, Fault::Fail);
    }

    /// The next `n` replays fail with a storage error.
    pub fn fail_next_n_reads(&self, n: u64) {
        self.fail_next_replays(n, Fault::Fail);
    }

    /// The next replay waits `delay` on the reader's thread, then reads.
    pub fn delay_next_read(&self, delay: Duration) {
        self.fail_next_replays(1, Fault::Delay(delay));
    }

    /// Stores `events` after the stream's last event, encoded with the default codec
    /// ([`MessagePack`]), past every fault (Akka's `persistForRecovery`): the entity recovers
    /// them when it starts. Returns the sequence number of the last one.
    ///
    /// # Panics
    ///
    /// If an event cannot be encoded, or the journal was closed: the test's own setup failed.
    #[track_caller]
    pub fn persist_for_recovery<E: Event>(
        &self,
        persistence_id: &PersistenceId,
        events: impl IntoIterator<Item = E>,
    ) -> SequenceNr {
        let highest = match self.inner.highest_sequence_nr(persistence_id) {
            Ok(highest) => highest,
            Err(error) => panic!("persist_for_recovery could not read {persistence_id}: {error}"),
        };
        let timestamp_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        let mut next = highest;
        let events: Vec<PersistentRepr> = events
            .into_iter()
            .map(|event| {
                next += 1;
                let payload = match MessagePack.encode(&event) {
                    Ok(payload) => payload,
                    Err(error) => panic!("persist_for_recovery could not encode an event: {error}"),
                };
                PersistentRepr {
                    persistence_id: persistence_id.clone(),
                    sequence_nr: next,
                    manifest: E::manifest(),
                    payload,
                    tags: event.tags(),
                    writer_id: Arc::from("testkit"),
                    timestamp_ms,
                    offset: 0,
                }
            })
            .collect();
        if events.is_empty() {
            return highest;
        }
        match self.store(&[AtomicWrite { events }]) {
            Ok(results) if results.iter().all(Result::is_ok) => next,
            Ok(results) => panic!("persist_for_recovery was refused: {results:?}"),
            Err(error) => panic!("persist_for_recovery could not write: {error}"),
        }
    }

    /// The events stored for `persistence_id`, decoded with the default codec
    /// ([`MessagePack`]), read past every fault and hold.
    ///
    /// # Panics
    ///
    /// If a stored event does not decode as `E`.
    #[track_caller]
    pub fn persisted<E: Event>(&self, persistence_id: &PersistenceId) -> Vec<E> {
        self.stored(persistence_id)
            .iter()
            .map(
                |repr| match MessagePack.decode(&repr.manifest, &repr.payload) {
                    Ok(event) => event,
                    Err(error) => panic!(
                        "event {} of {persistence_id} does not decode: {error}",
                        repr.sequence_nr
                    ),
                },
            )
            .collect()
    }

    /// Every event ever stored for `persistence_id`, in order, deleted ones included: what the
    /// entity test kit reads a command's events from (a snapshot's retention may delete them
    /// from the journal before the test looks).
    pub fn written(&self, persistence_id: &PersistenceId) -> Vec<PersistentRepr> {
        self.written
            .lock()
            .get(persistence_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Writes to the journal underneath, and keeps what it stored in the written log.
    fn store(&self, writes: &[AtomicWrite]) -> Result<Vec<Result<(), Rejection>>, JournalError> {
        let results = self.inner.write(writes)?;
        let mut written = self.written.lock();
        for (write, result) in writes.iter().zip(&results) {
            if let (Ok(()), Some(id)) = (result, write.persistence_id()) {
                written
                    .entry(id.clone())
                    .or_default()
                    .extend(write.events.iter().cloned());
            }
        }
        Ok(results)
    }

    /// The journal under the faults, to write or read behind the entity's back.
    pub fn inner(&self) -> &InMemoryJournal {
        &self.inner
    }
}

impl Journal for TestJournal {
    fn write(&self, writes: &[AtomicWrite]) -> Result<Vec<Result<(), Rejection>>, JournalError> {
        self.write_calls.fetch_add(1, Ordering::SeqCst);
        self.write_hold.pass();
        let fault = self.writes.lock().take();
        match fault {
            None => self.store(writes),
            Some(WriteFault::Delay(delay)) => {
                std::thread::sleep(delay);
                self.store(writes)
            }
            Some(WriteFault::Fail) => Err(storage_failure("write")),
            Some(WriteFault::Panic) => panic!("{INJECTED_PANIC} in write"),
            Some(WriteFault::Reject) => Ok(writes
                .iter()
                .map(|write| {
                    let highest = write
                        .persistence_id()
                        .map_or(Ok(0), |id| self.inner.highest_sequence_nr(id))
                        .unwrap_or(0);
                    Err(Rejection::OutOfOrder {
                        highest,
                        got: write.events.first().map_or(0, |event| event.sequence_nr),
                    })
                })
                .collect()),
        }
    }

    fn replay(
        &self,
        persistence_id: &PersistenceId,
        from: SequenceNr,
        to: SequenceNr,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<SequenceNr, JournalError> {
        self.replay_calls.fetch_add(1, Ordering::SeqCst);
        self.replay_hold.pass();
        let fault = self.replays.lock().take();
        match fault {
            None => self.inner.replay(persistence_id, from, to, max, on_event),
            Some(Fault::Delay(delay)) => {
                std::thread::sleep(delay);
                self.inner.replay(persistence_id, from, to, max, on_event)
            }
            Some(Fault::Fail) => Err(storage_failure("replay")),
            Some(Fault::Panic) => panic!("{INJECTED_PANIC} in replay"),
        }
    }

    fn highest_sequence_nr(
        &self,
        persistence_id: &PersistenceId,
    ) -> Result<SequenceNr, JournalError> {
        self.inner.highest_sequence_nr(persistence_id)
    }

    fn delete_to(
        &self,
        persistence_id: &PersistenceId,
        to: SequenceNr,
    ) -> Result<(), JournalError> {
        self.delete_calls.fetch_add(1, Ordering::SeqCst);
        let fault = self.deletes.lock().take();
        match fault {
            None => self.inner.delete_to(persistence_id, to),
            Some(Fault::Delay(delay)) => {
                std::thread::sleep(delay);
                self.inner.delete_to(persistence_id, to)
            }
            Some(Fault::Fail) => Err(storage_failure("delete_to")),
            Some(Fault::Panic) => panic!("{INJECTED_PANIC} in delete_to"),
        }
    }

    fn advance_highest(
        &self,
        persistence_id: &PersistenceId,
        to: SequenceNr,
    ) -> Result<(), JournalError> {
        self.inner.advance_highest(persistence_id, to)
    }

    fn events_by_tag(
        &self,
        tag: &str,
        after_offset: u64,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<u64, JournalError> {
        self.inner.events_by_tag(tag, after_offset, max, on_event)
    }

    fn set_remembered(
        &self,
        type_key: &str,
        entity_id: &str,
        remembered: bool,
    ) -> Result<(), JournalError> {
        let fault = self.remembers.lock().take();
        match fault {
            None => self.inner.set_remembered(type_key, entity_id, remembered),
            Some(Fault::Delay(delay)) => {
                std::thread::sleep(delay);
                self.inner.set_remembered(type_key, entity_id, remembered)
            }
            Some(Fault::Fail) => Err(storage_failure("set_remembered")),
            Some(Fault::Panic) => panic!("{INJECTED_PANIC} in set_remembered"),
        }
    }

    fn remembered(&self, type_key: &str) -> Result<Vec<String>, JournalError> {
        let fault = self.remembers.lock().take();
        match fault {
            None => self.inner.remembered(type_key),
            Some(Fault::Delay(delay)) => {
                std::thread::sleep(delay);
                self.inner.remembered(type_key)
            }
            Some(Fault::Fail) => Err(storage_failure("remembered")),
            Some(Fault::Panic) => panic!("{INJECTED_PANIC} in remembered"),
        }
    }

    fn events_by_offset(
        &self,
        after_offset: u64,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<u64, JournalError> {
        self.inner.events_by_offset(after_offset, max, on_event)
    }

    fn highest_offset(&self) -> Result<u64, JournalError> {
        self.inner.highest_offset()
    }

    fn persistence_ids_after(
        &self,
        after: Option<&PersistenceId>,
        max: u64,
        on_id: &mut dyn FnMut(PersistenceId),
    ) -> Result<(), JournalError> {
        self.inner.persistence_ids_after(after, max, on_id)
    }

    fn commit_notifier(&self) -> Option<Arc<CommitNotifier>> {
        self.inner.commit_notifier()
    }
}
