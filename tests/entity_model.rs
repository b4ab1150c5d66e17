//! A randomized model test of event-sourced entities (issue 11): thousands of commands against
//! a few entities over a journal and a snapshot store that fail, reject, panic and delay at
//! random, with restarts (by the supervisor, by `on_persist_failure`'s backoff, and by "the
//! user", who spawns a fresh entity once one has stopped). After each run the journal, the
//! entities' memory and the acknowledged replies must agree exactly, and every command must be
//! accounted for.
//!
//! # The model
//!
//! Each entity is a tally: `Add { id, amounts, reply_to }` persists one event per amount (one
//! or two, in one atomic write), each carrying the command's unique `id`, and replies with the
//! total and the sequence number of its last event; `Lock` and `Unlock` persist an event too
//! (and reply alike), and while the tally is locked an `Add` goes to the user stash until the
//! next `Unlock` (`then_unstash_all`); `Get` replies with the whole state (total, event count, a
//! checksum of the ordered event ids, the lock) and persists nothing. Three entities share one
//! journal, so the group-commit writer batches their writes together and a per-write rejection
//! or a failed batch hits several entities at once.
//!
//! [`ChaosJournal`] wraps the in-memory journal. Per `write` call, from a seeded PRNG, it
//! succeeds, sleeps a little first, fails (`Err`, nothing stored), panics before storing,
//! panics *after* storing (the contract allows it: "nothing of the batch is known to be
//! stored"), or rejects some of the writes one by one (nothing of a rejected write is stored).
//! `replay` fails, panics, or delivers a prefix and then fails; `delete_to` fails.
//! [`ChaosSnapshots`] fails saves, loads and deletions. The wrappers keep the ground truth: a
//! ledger of every event the inner journal stored (deletion does not erase it), every write
//! attempt with its fate, and every injected read failure.
//!
//! The driver pipelines asks (each run draws a window of 1 to [`WINDOW`] outstanding), checks
//! before each command whether the target entity has stopped and, if so, spawns a fresh one (a
//! new actor over the same persistence id), and now and then drains every outstanding ask so
//! that entities go idle between bursts. An ask to an entity that may be locked (a `Lock` was
//! sent and no later `Unlock` acknowledged) that does not end within a few milliseconds makes
//! the driver send an `Unlock`, as a user waiting on a stashed command would.
//!
//! Three setups: supervised with `restart()` and snapshots; `on_persist_failure` backoff (1 ms
//! minimum) under `restart()`, with snapshots and event deletion; backoff alone (a rejection
//! stops the entity), with a small `command_buffer` (commands beyond it are dead-lettered).
//!
//! # What must hold after each run
//!
//! Faults are switched off, every entity is asked for its state (respawned if it stopped), then
//! a fresh system recovers every entity over the same journal.
//!
//! 1. **Every ask ends**, within a bounded wait, in exactly one of: a reply; `TargetStopped`
//!    (the command went to dead letters); `NoReply` (the entity dropped its reply address).
//!    A timeout is a command that vanished and fails the run.
//! 2. **Every `NoReply` is explained**: the set of commands that got `NoReply` is exactly the
//!    set whose write the journal refused (failed, rejected or panicked on). Each command is
//!    written at most once. A dead-lettered command was never written, and the dead-letter
//!    office saw exactly as many commands as asks ended in `TargetStopped`.
//! 3. **The journal equals the acknowledgements**: the command ids stored in the journal are
//!    exactly the acknowledged ones, plus the ones whose write panicked after the backend had
//!    stored it. That is the one legitimate "stored but never acknowledged" case: the entity
//!    cannot know that the write it was told failed is durable (Akka has the same at-least-once
//!    window), and its next incarnation recovers the event. No other case arises here: an
//!    entity has at most one write in flight and holds every command meanwhile, and its
//!    incarnation changes (a backoff, a restart) only once that write has completed, so a
//!    stored write's completion always reaches the incarnation that asked and replies. (The
//!    runtime has one more such window, which this model never opens: an entity stopped or
//!    restarted for another reason while its write is in flight, e.g. by a shutdown or a
//!    panicking signal handler, drops that reply even if the write is stored.) Each
//!    acknowledgement names the sequence number of its command's last event, and the fold of
//!    the journal up to there gives the total it replied with; a command's events are stored
//!    together or not at all.
//! 4. **Sequence numbers are contiguous from 1**, the journal's highest equals the ledger's
//!    length, and what the journal still holds (after deletions) is the ledger's suffix.
//! 5. **Memory equals the journal**: every `Get` during the run saw the fold of a prefix of the
//!    final journal; after the run each live entity and each freshly recovered one hold the fold
//!    of the whole journal (so the last acknowledged total, when the last event's command was
//!    acknowledged). Later `Get`s never see fewer events than earlier ones.
//! 6. **Order**: per entity, the `Add`s are acknowledged at increasing sequence numbers in the
//!    order they were sent, across restarts and the stash (an `Add` may wait in the stash behind
//!    a later `Unlock`, so the order holds among `Add`s, and among `Lock`s and `Unlock`s).
//! 7. **Signals match the faults and the failure table**: `PersistFailed` per failed or
//!    panicked write, `PersistRejected` per rejected write, `RecoveryFailed` per injected read
//!    failure, and nothing else fails a recovery (no gap, no out-of-order write, no
//!    `advance_highest`). `PreRestart` per failure that the setup restarts, `PostStop` per
//!    failure that stops the entity (plus the shutdown), and one fresh entity per stop.
//!
//! Seeds are fixed; `ENTITY_MODEL_SEED=n` runs seed `n` alone in every setup. Thread timing
//! still varies from run to run, so a failure names its seed and setup, and what it expected.
//!
//! Over 600 lines in one file on purpose: the model, the faulty stores it drives and the checks
//! that compare them are one test, and splitting them would only scatter its invariants.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, unbounded};
use parking_lot::Mutex;
use reactant::persistence::memory::{InMemoryJournal, InMemorySnapshotStore};
use reactant::persistence::{
    AtomicWrite, Codec, Effect, EntitySignal, Event, EventSourcedBehavior, Journal, JournalError,
    MessagePack, Persistence, PersistenceId, PersistentRepr, Rejection, SequenceNr,
    SnapshotCriteria, SnapshotMetadata, SnapshotStore, StoredSnapshot,
};
use reactant::prelude::*;
use serde::{Deserialize, Serialize};

/// Entities per run, sharing one journal.
const ENTITIES: usize = 3;
/// Commands per run (about one in ten is a `Get`).
const COMMANDS: u64 = 1_500;
/// The most asks outstanding at once before the driver waits for the oldest (each run draws
/// its own window, from 1: one command at a time, to this).
const WINDOW: usize = 32;
/// Seeds per setup, unless `ENTITY_MODEL_SEED` names one.
const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

// ----- the entity -----

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Tally {
    total: u64,
    /// Events folded in: the sequence number of the last one.
    events: u64,
    /// A fold of the ordered event ids: two states agree only if they saw the same events in
    /// the same order.
    checksum: u64,
    /// While locked, `Add` commands are stashed until an `Unlock`.
    locked: bool,
}

impl Tally {
    fn apply(&mut self, event: &TallyEvent) {
        let (id, part) = match *event {
            TallyEvent::Added { id, part, amount } => {
                self.total += amount;
                (id, part)
            }
            TallyEvent::Locked { id } => {
                self.locked = true;
                (id, 0)
            }
            TallyEvent::Unlocked { id } => {
                self.locked = false;
                (id, 0)
            }
        };
        self.events += 1;
        self.checksum = self
            .checksum
            .wrapping_mul(1_000_003)
            .wrapping_add(id * 2 + u64::from(part) + 1);
    }
}

/// Every event carries the id of the command that persisted it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum TallyEvent {
    Added {
        id: u64,
        /// Its place among its command's events.
        part: u8,
        amount: u64,
    },
    Locked {
        id: u64,
    },
    Unlocked {
        id: u64,
    },
}

impl TallyEvent {
    fn id(&self) -> u64 {
        match *self {
            Self::Added { id, .. } | Self::Locked { id } | Self::Unlocked { id } => id,
        }
    }
}

impl Event for TallyEvent {}

/// The total and the sequence number of the command's last event.
type Ack = (u64, SequenceNr);

enum Cmd {
    /// Persists one event per amount, in one atomic write (stashed while locked).
    Add {
        id: u64,
        amounts: Vec<u64>,
        reply_to: ActorRef<Ack>,
    },
    /// Persists `Locked`.
    Lock { id: u64, reply_to: ActorRef<Ack> },
    /// Persists `Unlocked`, then unstashes.
    Unlock { id: u64, reply_to: ActorRef<Ack> },
    /// Replies with the state; never persists, never stashed.
    Get(ActorRef<Tally>),
}

type TallyEffect = Effect<TallyEvent, Tally>;

#[derive(Clone, Copy, Debug)]
enum Supervision {
    /// `Behaviors::supervise(..).on_failure(restart())`, no `on_persist_failure`.
    Restart,
    /// `on_persist_failure(restart_with_backoff(..))`, under `restart()` for the rest.
    BackoffUnderRestart,
    /// `on_persist_failure(restart_with_backoff(..))` alone: a rejection stops the entity.
    BackoffOnly,
}

#[derive(Clone, Copy, Debug)]
struct Setup {
    name: &'static str,
    supervision: Supervision,
    snapshot_every: Option<u64>,
    delete_events: bool,
    /// `command_buffer`: commands held (or stashed) beyond it go to dead letters.
    command_buffer: Option<usize>,
}

fn pid(k: usize) -> PersistenceId {
    PersistenceId::of("tally", &k.to_string())
}

fn ack(tally: &Tally) -> Ack {
    (tally.total, tally.events)
}

fn tally(
    setup: Setup,
    k: usize,
    persistence: &Arc<Persistence>,
    signals: &Sender<(usize, EntitySignal)>,
) -> Behavior<Cmd> {
    let signals = signals.clone();
    let mut entity = EventSourcedBehavior::new(
        pid(k),
        persistence.clone(),
        Tally::default,
        |tally: &Tally, command| match command {
            add @ Cmd::Add { .. } if tally.locked => TallyEffect::stash(add),
            Cmd::Add {
                id,
                amounts,
                reply_to,
            } => TallyEffect::persist_all(amounts.into_iter().enumerate().map(|(part, amount)| {
                TallyEvent::Added {
                    id,
                    part: part as u8,
                    amount,
                }
            }))
            .then_reply_to(reply_to, ack),
            Cmd::Lock { id, reply_to } => {
                TallyEffect::persist(TallyEvent::Locked { id }).then_reply_to(reply_to, ack)
            }
            Cmd::Unlock { id, reply_to } => TallyEffect::persist(TallyEvent::Unlocked { id })
                .then_unstash_all()
                .then_reply_to(reply_to, ack),
            Cmd::Get(reply_to) => TallyEffect::none().then_reply_to(reply_to, Tally::clone),
        },
        Tally::apply,
    )
    .receive_signal(move |_, signal| {
        let _ = signals.send((k, signal.clone()));
    });
    if let Some(every) = setup.snapshot_every {
        entity = entity
            .with_snapshot_every(every, 2)
            .with_delete_events_on_snapshot(setup.delete_events);
    }
    if let Some(commands) = setup.command_buffer {
        entity = entity.with_command_buffer(commands);
    }
    let backoff = || {
        SupervisorStrategy::restart_with_backoff(
            Duration::from_millis(1),
            Duration::from_millis(8),
            0.2,
        )
    };
    match setup.supervision {
        Supervision::Restart => {
            Behaviors::supervise(entity.into_behavior()).on_failure(SupervisorStrategy::restart())
        }
        Supervision::BackoffUnderRestart => {
            Behaviors::supervise(entity.with_persist_failure(backoff()).into_behavior())
                .on_failure(SupervisorStrategy::restart())
        }
        Supervision::BackoffOnly => entity.with_persist_failure(backoff()).into_behavior(),
    }
}

// ----- the faulty stores -----

/// What became of one atomic write the journal was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Stored,
    /// The call returned `Err`: nothing stored.
    Failed,
    /// The call panicked before storing anything.
    PanickedBefore,
    /// The call stored the write, then panicked.
    PanickedAfter,
    /// Rejected by the wrapper, alone: nothing of it stored.
    Rejected,
    /// Rejected by the in-memory journal itself (out of order): never legitimate here.
    RefusedByInner,
}

#[derive(Debug)]
struct Attempt {
    entity: PersistenceId,
    id: u64,
    fate: Fate,
}

/// The ground truth the wrappers keep.
#[derive(Default)]
struct Truth {
    /// Every event stored, per stream, in storing order (deletion does not remove them).
    ledger: HashMap<PersistenceId, Vec<(SequenceNr, TallyEvent)>>,
    attempts: Vec<Attempt>,
    /// Injected failures of the reads a recovery makes (snapshot load, replay).
    read_faults: u64,
    /// Calls of `advance_highest` (recovery makes one only when a snapshot is ahead of the
    /// journal, which this model never causes).
    advance_highest_calls: u64,
    write_calls: u64,
    delays: u64,
}

fn decode(repr: &PersistentRepr) -> TallyEvent {
    MessagePack
        .decode(&repr.manifest, &repr.payload)
        .expect("every stored payload decodes")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteFault {
    None,
    Delay(Duration),
    Fail,
    PanicBefore,
    PanicAfter,
    Reject,
}

enum ReadFault {
    None,
    Fail,
    Panic,
    /// Delivers some of the events, then fails.
    BreakOff,
}

/// Not the testkit's `TestJournal` (the project's fault-injecting journal): this one draws its
/// faults from the run's seed on every call and records the ground truth of each write, and it
/// has faults a test never asks for by name (a panic *after* storing, a replay that breaks off
/// midway), which the model's checks need and a scripted test does not.
struct ChaosJournal {
    inner: InMemoryJournal,
    rng: Mutex<fastrand::Rng>,
    /// Faults are off.
    calm: AtomicBool,
    truth: Arc<Mutex<Truth>>,
}

impl ChaosJournal {
    fn write_fault(&self) -> WriteFault {
        if self.calm.load(Ordering::SeqCst) {
            return WriteFault::None;
        }
        let mut rng = self.rng.lock();
        match rng.u32(..1000) {
            0..50 => WriteFault::Fail,
            50..70 => WriteFault::PanicBefore,
            70..90 => WriteFault::PanicAfter,
            90..140 => WriteFault::Reject,
            140..220 => WriteFault::Delay(Duration::from_micros(rng.u64(100..2_000))),
            _ => WriteFault::None,
        }
    }

    fn read_fault(&self) -> ReadFault {
        if self.calm.load(Ordering::SeqCst) {
            return ReadFault::None;
        }
        match self.rng.lock().u32(..1000) {
            0..40 => ReadFault::Fail,
            40..50 => ReadFault::Panic,
            50..70 => ReadFault::BreakOff,
            _ => ReadFault::None,
        }
    }

    fn note(&self, write: &AtomicWrite, fate: Fate, truth: &mut Truth) {
        let entity = write
            .persistence_id()
            .expect("an entity never writes nothing")
            .clone();
        let ids: BTreeSet<u64> = write.events.iter().map(|repr| decode(repr).id()).collect();
        assert_eq!(ids.len(), 1, "one write carries one command's events");
        let id = ids.into_iter().next().expect("one id");
        if matches!(fate, Fate::Stored | Fate::PanickedAfter) {
            let ledger = truth.ledger.entry(entity.clone()).or_default();
            ledger.extend(
                write
                    .events
                    .iter()
                    .map(|repr| (repr.sequence_nr, decode(repr))),
            );
        }
        truth.attempts.push(Attempt { entity, id, fate });
    }
}

impl Journal for ChaosJournal {
    fn write(&self, writes: &[AtomicWrite]) -> Result<Vec<Result<(), Rejection>>, JournalError> {
        let fault = self.write_fault();
        let mut truth = self.truth.lock();
        truth.write_calls += 1;
        match fault {
            WriteFault::Fail | WriteFault::PanicBefore => {
                let fate = if fault == WriteFault::Fail {
                    Fate::Failed
                } else {
                    Fate::PanickedBefore
                };
                for write in writes {
                    self.note(write, fate, &mut truth);
                }
                drop(truth);
                if fault == WriteFault::Fail {
                    return Err(JournalError::Storage("injected: the disk is full".into()));
                }
                panic!("injected: the backend panicked before storing");
            }
            WriteFault::Delay(delay) => {
                truth.delays += 1;
                drop(truth);
                std::thread::sleep(delay);
                truth = self.truth.lock();
            }
            _ => {}
        }
        let rejected: Vec<bool> = if fault == WriteFault::Reject {
            let mut rng = self.rng.lock();
            writes.iter().map(|_| rng.bool()).collect()
        } else {
            vec![false; writes.len()]
        };
        let kept: Vec<AtomicWrite> = writes
            .iter()
            .zip(&rejected)
            .filter(|(_, rejected)| !**rejected)
            .map(|(write, _)| write.clone())
            .collect();
        let mut stored = self.inner.write(&kept)?.into_iter();
        let mut results = Vec::with_capacity(writes.len());
        for (write, rejected) in writes.iter().zip(rejected) {
            if rejected {
                self.note(write, Fate::Rejected, &mut truth);
                results.push(Err(Rejection::Serialization(
                    "injected: this write is refused".into(),
                )));
                continue;
            }
            let result = stored.next().expect("one result per kept write");
            let fate = match (&result, fault) {
                (Err(_), _) => Fate::RefusedByInner,
                (Ok(()), WriteFault::PanicAfter) => Fate::PanickedAfter,
                (Ok(()), _) => Fate::Stored,
            };
            self.note(write, fate, &mut truth);
            results.push(result);
        }
        drop(truth);
        if fault == WriteFault::PanicAfter {
            panic!("injected: the backend panicked after storing");
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
        match self.read_fault() {
            ReadFault::None => self.inner.replay(persistence_id, from, to, max, on_event),
            ReadFault::Fail => {
                self.truth.lock().read_faults += 1;
                Err(JournalError::Storage("injected: the read failed".into()))
            }
            ReadFault::Panic => {
                self.truth.lock().read_faults += 1;
                panic!("injected: the backend panicked while reading");
            }
            ReadFault::BreakOff => {
                self.truth.lock().read_faults += 1;
                let mut events = Vec::new();
                self.inner
                    .replay(persistence_id, from, to, max, &mut |e| events.push(e))?;
                let delivered = self.rng.lock().usize(..=events.len());
                events.into_iter().take(delivered).for_each(on_event);
                Err(JournalError::Storage("injected: the read broke off".into()))
            }
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
        if !self.calm.load(Ordering::SeqCst) && self.rng.lock().u32(..10) == 0 {
            return Err(JournalError::Storage(
                "injected: the deletion failed".into(),
            ));
        }
        self.inner.delete_to(persistence_id, to)
    }

    fn advance_highest(
        &self,
        persistence_id: &PersistenceId,
        to: SequenceNr,
    ) -> Result<(), JournalError> {
        self.truth.lock().advance_highest_calls += 1;
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
}

struct ChaosSnapshots {
    inner: InMemorySnapshotStore,
    rng: Mutex<fastrand::Rng>,
    calm: AtomicBool,
    truth: Arc<Mutex<Truth>>,
}

impl ChaosSnapshots {
    /// True (and the fault happens) with probability `per_mille` / 1000, unless calm.
    fn fault(&self, per_mille: u32) -> bool {
        !self.calm.load(Ordering::SeqCst) && self.rng.lock().u32(..1000) < per_mille
    }
}

impl SnapshotStore for ChaosSnapshots {
    fn save(&self, snapshot: StoredSnapshot) -> Result<(), JournalError> {
        if self.fault(100) {
            return Err(JournalError::Storage("injected: the save failed".into()));
        }
        self.inner.save(snapshot)
    }

    fn load(
        &self,
        persistence_id: &PersistenceId,
        criteria: SnapshotCriteria,
    ) -> Result<Option<StoredSnapshot>, JournalError> {
        if self.fault(20) {
            self.truth.lock().read_faults += 1;
            return Err(JournalError::Storage("injected: the load failed".into()));
        }
        self.inner.load(persistence_id, criteria)
    }

    fn delete(&self, metadata: &SnapshotMetadata) -> Result<(), JournalError> {
        self.inner.delete(metadata)
    }

    fn delete_matching(
        &self,
        persistence_id: &PersistenceId,
        criteria: SnapshotCriteria,
    ) -> Result<(), JournalError> {
        if self.fault(100) {
            return Err(JournalError::Storage(
                "injected: the deletion failed".into(),
            ));
        }
        self.inner.delete_matching(persistence_id, criteria)
    }
}

// ----- the driver -----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Add,
    Lock,
    Unlock,
}

/// A command that persists: what the driver sent.
#[derive(Clone, Copy, Debug)]
struct Sent {
    k: usize,
    kind: Kind,
    events: usize,
}

enum Asked {
    Write {
        id: u64,
        k: usize,
        pending: Pending<Ack>,
    },
    Get {
        id: u64,
        k: usize,
        pending: Pending<Tally>,
    },
}

/// How every ask ended.
#[derive(Default)]
struct Outcomes {
    /// Command id → (entity, total, sequence number) replied.
    acked: BTreeMap<u64, (usize, u64, SequenceNr)>,
    no_reply: BTreeSet<u64>,
    dead_lettered: BTreeSet<u64>,
    sent: BTreeMap<u64, Sent>,
    /// (send order, entity, state replied).
    gets: Vec<(u64, usize, Tally)>,
    gets_dead_lettered: u64,
}

/// How long an ask to an entity that may be locked waits before the driver sends an `Unlock`
/// (the ask may be a stashed `Add`).
const NUDGE_AFTER: Duration = Duration::from_millis(5);

struct Run {
    seed: u64,
    setup: Setup,
    system: ActorSystem,
    persistence: Arc<Persistence>,
    signals: Sender<(usize, EntitySignal)>,
    entities: Vec<ActorRef<Cmd>>,
    spawned: usize,
    next_id: u64,
    outstanding: VecDeque<Asked>,
    /// Per entity: the id of the last `Lock` sent, and of the last acknowledged `Unlock`.
    last_lock: Vec<u64>,
    last_unlock: Vec<u64>,
    nudges: usize,
    outcomes: Outcomes,
}

impl Run {
    fn spawn(&mut self, k: usize) -> ActorRef<Cmd> {
        self.spawned += 1;
        self.system
            .spawn(
                tally(self.setup, k, &self.persistence, &self.signals),
                &format!("tally-{k}-{}", self.spawned),
            )
            .expect("the entity spawns")
    }

    /// The user's restart: a fresh entity once the last one has stopped.
    fn alive(&mut self, k: usize) -> ActorRef<Cmd> {
        if self.entities[k].is_terminated() {
            self.entities[k] = self.spawn(k);
        }
        self.entities[k].clone()
    }

    /// Sends a command that persists, to the back of the outstanding asks.
    fn send(&mut self, k: usize, kind: Kind, amounts: Vec<u64>) {
        self.next_id += 1;
        let id = self.next_id;
        let entity = self.alive(k);
        let sent = Sent {
            k,
            kind,
            events: amounts.len().max(1),
        };
        let pending = match kind {
            Kind::Add => entity.ask(|reply_to| Cmd::Add {
                id,
                amounts,
                reply_to,
            }),
            Kind::Lock => {
                self.last_lock[k] = id;
                entity.ask(|reply_to| Cmd::Lock { id, reply_to })
            }
            Kind::Unlock => entity.ask(|reply_to| Cmd::Unlock { id, reply_to }),
        };
        self.outcomes.sent.insert(id, sent);
        self.outstanding.push_back(Asked::Write { id, k, pending });
    }

    fn get(&mut self, k: usize) {
        self.next_id += 1;
        let id = self.next_id;
        let pending = self.alive(k).ask(Cmd::Get);
        self.outstanding.push_back(Asked::Get { id, k, pending });
    }

    /// Waits until `ready`, within the bound; meanwhile, if entity `k` may be locked, sends it
    /// an `Unlock` now and then (what waits may be a stashed `Add`).
    fn wait_for(&mut self, k: usize, ready: impl Fn() -> bool) {
        let started = Instant::now();
        let mut nudge_at = started + NUDGE_AFTER;
        while !ready() && started.elapsed() < common::WAIT {
            if Instant::now() >= nudge_at && self.last_lock[k] > self.last_unlock[k] {
                self.nudges += 1;
                self.send(k, Kind::Unlock, Vec::new());
                nudge_at = Instant::now() + NUDGE_AFTER * 4;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    fn resolve_oldest(&mut self) {
        let Some(asked) = self.outstanding.pop_front() else {
            return;
        };
        let (seed, name) = (self.seed, self.setup.name);
        match asked {
            Asked::Write { id, k, pending } => {
                self.wait_for(k, || pending.is_ready());
                match pending.wait(Duration::ZERO) {
                    Ok((total, seq)) => {
                        self.outcomes.acked.insert(id, (k, total, seq));
                        if self.outcomes.sent[&id].kind == Kind::Unlock && id > self.last_lock[k] {
                            self.last_unlock[k] = id;
                        }
                    }
                    Err(AskError::NoReply) => {
                        self.outcomes.no_reply.insert(id);
                    }
                    Err(AskError::TargetStopped) => {
                        self.outcomes.dead_lettered.insert(id);
                    }
                    Err(other) => panic!(
                        "[{name}, seed {seed:#x}] command {id} ({:?}) to entity {k} was neither \
                         answered, refused nor dead-lettered: {other:?}",
                        self.outcomes.sent[&id]
                    ),
                }
            }
            Asked::Get { id, k, pending } => {
                self.wait_for(k, || pending.is_ready());
                match pending.wait(Duration::ZERO) {
                    Ok(tally) => self.outcomes.gets.push((id, k, tally)),
                    Err(AskError::TargetStopped) => self.outcomes.gets_dead_lettered += 1,
                    Err(other) => panic!(
                        "[{name}, seed {seed:#x}] Get {id} to entity {k} was neither answered \
                         nor dead-lettered: {other:?}"
                    ),
                }
            }
        }
    }
}

/// What a run saw, for the log.
#[derive(Debug, Default)]
#[allow(dead_code)] // read through `Debug`
struct Summary {
    acked: usize,
    no_reply: usize,
    dead_lettered: usize,
    stored_unacked: usize,
    write_calls: u64,
    delays: u64,
    failed: usize,
    panicked: usize,
    rejected: usize,
    read_faults: u64,
    spawned: usize,
    restarts: usize,
    events: usize,
    /// `Add`s acknowledged after a later `Unlock`: they waited in the stash.
    stashed: usize,
    window: usize,
    nudges: usize,
    /// Commands dead-lettered because the entity's command buffer was full.
    buffer_full: usize,
    elapsed_ms: u128,
}

fn run_model(seed: u64, setup: Setup) -> Summary {
    let started = Instant::now();
    let truth = Arc::new(Mutex::new(Truth::default()));
    let journal = Arc::new(ChaosJournal {
        inner: InMemoryJournal::new(),
        rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        calm: AtomicBool::new(false),
        truth: truth.clone(),
    });
    let snapshots = Arc::new(ChaosSnapshots {
        inner: InMemorySnapshotStore::new(),
        rng: Mutex::new(fastrand::Rng::with_seed(seed ^ 0x5a5a_5a5a)),
        calm: AtomicBool::new(false),
        truth: truth.clone(),
    });
    let persistence =
        Persistence::new(journal.clone(), snapshots.clone()).expect("persistence threads start");
    let (signals, signal_rx) = unbounded();
    let system = common::system(&format!("model-{}-{seed:x}", setup.name));
    let dead_letters = system.dead_letters().subscribe();
    let mut run = Run {
        seed,
        setup,
        system,
        persistence: persistence.clone(),
        signals,
        entities: Vec::new(),
        spawned: 0,
        next_id: 0,
        outstanding: VecDeque::new(),
        last_lock: vec![0; ENTITIES],
        last_unlock: vec![0; ENTITIES],
        nudges: 0,
        outcomes: Outcomes::default(),
    };
    for k in 0..ENTITIES {
        let entity = run.spawn(k);
        run.entities.push(entity);
    }

    // The commands: pipelined, with a burst boundary now and then.
    let mut rng = fastrand::Rng::with_seed(seed.rotate_left(17) ^ 0xc0ffee);
    let window = rng.usize(1..=WINDOW);
    for _ in 0..COMMANDS {
        let k = rng.usize(..ENTITIES);
        match rng.u32(..100) {
            0..10 => run.get(k),
            10..12 => run.send(k, Kind::Lock, Vec::new()),
            12..15 => run.send(k, Kind::Unlock, Vec::new()),
            roll => {
                let events = if roll < 21 { 2 } else { 1 };
                let amounts = (0..events).map(|_| rng.u64(1..1_000)).collect();
                run.send(k, Kind::Add, amounts);
            }
        }
        let drain = rng.u32(..100) == 0;
        while run.outstanding.len() >= window || (drain && !run.outstanding.is_empty()) {
            run.resolve_oldest();
        }
    }
    while !run.outstanding.is_empty() {
        run.resolve_oldest();
    }

    // Faults off; the memory of every entity, now (restarting stopped ones as a user would).
    journal.calm.store(true, Ordering::SeqCst);
    snapshots.calm.store(true, Ordering::SeqCst);
    let mut live = Vec::new();
    for k in 0..ENTITIES {
        let mut tries = 0;
        let tally = loop {
            tries += 1;
            assert!(
                tries <= 20,
                "[{}, seed {seed:#x}] entity {k} never answers",
                setup.name
            );
            let entity = run.alive(k);
            match entity.ask(Cmd::Get).wait(common::WAIT) {
                Ok(tally) => break tally,
                // It was stopping when asked: a user would ask a fresh one.
                Err(AskError::TargetStopped) => {
                    run.outcomes.gets_dead_lettered += 1;
                    assert!(common::eventually(|| entity.is_terminated()));
                }
                Err(other) => panic!(
                    "[{}, seed {seed:#x}] the final Get to entity {k} failed: {other:?}",
                    setup.name
                ),
            }
        };
        live.push(tally);
    }
    let command_type = std::any::type_name::<Cmd>();
    let dead_letters: Vec<DeadLetter> = dead_letters
        .try_iter()
        .filter(|letter| letter.message_type == command_type)
        .collect();
    let Run {
        system,
        outcomes,
        spawned,
        nudges,
        signals,
        ..
    } = run;
    system.shutdown();
    drop(signals);
    let signals: Vec<(usize, EntitySignal)> = signal_rx.try_iter().collect();

    // A fresh system recovers every entity over the same journal.
    let recovered: Vec<Tally> = {
        let system = common::system(&format!("model-{}-{seed:x}-after", setup.name));
        let (signals, _) = unbounded();
        let tallies = (0..ENTITIES)
            .map(|k| {
                let entity = system
                    .spawn(
                        tally(setup, k, &persistence, &signals),
                        &format!("recovered-{k}"),
                    )
                    .expect("spawn");
                entity.ask(Cmd::Get).wait(common::WAIT).unwrap_or_else(|error| {
                    panic!(
                        "[{}, seed {seed:#x}] entity {k} does not recover after the run: {error:?}",
                        setup.name
                    )
                })
            })
            .collect();
        system.shutdown();
        tallies
    };

    let truth = truth.lock();
    let summary = check(
        seed,
        setup,
        &journal,
        &truth,
        &outcomes,
        &live,
        &recovered,
        dead_letters.len(),
        &signals,
        spawned,
    );
    Summary {
        spawned,
        window,
        nudges,
        buffer_full: dead_letters
            .iter()
            .filter(|letter| letter.reason == DeadLetterReason::CommandBufferFull)
            .count(),
        elapsed_ms: started.elapsed().as_millis(),
        ..summary
    }
}

#[allow(clippy::too_many_arguments)]
fn check(
    seed: u64,
    setup: Setup,
    journal: &ChaosJournal,
    truth: &Truth,
    outcomes: &Outcomes,
    live: &[Tally],
    recovered: &[Tally],
    dead_commands: usize,
    signals: &[(usize, EntitySignal)],
    spawned: usize,
) -> Summary {
    let at = format!("[{}, seed {seed:#x}]", setup.name);

    // 1. Every command ended in exactly one way (a vanished one failed `resolve` already).
    let ended: usize =
        outcomes.acked.len() + outcomes.no_reply.len() + outcomes.dead_lettered.len();
    assert_eq!(
        ended,
        outcomes.sent.len(),
        "{at} every command has an outcome"
    );
    let mut seen = BTreeSet::new();
    for id in outcomes
        .acked
        .keys()
        .chain(&outcomes.no_reply)
        .chain(&outcomes.dead_lettered)
    {
        assert!(seen.insert(*id), "{at} command {id} ended twice");
    }

    // 2. Every NoReply is a write the journal refused; dead letters were never written.
    let mut attempted: BTreeMap<u64, Fate> = BTreeMap::new();
    for attempt in &truth.attempts {
        let k = outcomes.sent[&attempt.id].k;
        assert_eq!(
            attempt.entity,
            pid(k),
            "{at} command {} written to its own stream",
            attempt.id
        );
        let earlier = attempted.insert(attempt.id, attempt.fate);
        assert!(
            earlier.is_none(),
            "{at} command {} was written twice: {earlier:?}, then {:?}",
            attempt.id,
            attempt.fate
        );
    }
    let refused_by_inner: Vec<u64> = attempted
        .iter()
        .filter(|(_, fate)| **fate == Fate::RefusedByInner)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        refused_by_inner.is_empty(),
        "{at} the journal refused writes as out of order (two writers, or a wrong sequence \
         number): commands {refused_by_inner:?}"
    );
    let refused: BTreeSet<u64> = attempted
        .iter()
        .filter(|(_, fate)| **fate != Fate::Stored)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(
        outcomes.no_reply, refused,
        "{at} the commands left without a reply are exactly those whose write the journal refused"
    );
    let written_and_dead: Vec<_> = outcomes
        .dead_lettered
        .iter()
        .filter(|id| attempted.contains_key(id))
        .collect();
    assert!(
        written_and_dead.is_empty(),
        "{at} dead-lettered commands were written: {written_and_dead:?}"
    );
    assert_eq!(
        dead_commands as u64,
        outcomes.dead_lettered.len() as u64 + outcomes.gets_dead_lettered,
        "{at} the dead-letter office saw every command that ended in TargetStopped, and no other"
    );

    // 3-6. Per entity: the ledger, the journal, the acknowledgements the memory and the order.
    let mut stored_ids: BTreeMap<u64, Vec<SequenceNr>> = BTreeMap::new();
    let mut events = 0;
    let mut stashed = 0;
    for k in 0..ENTITIES {
        let id = pid(k);
        let ledger = truth.ledger.get(&id).map_or(&[][..], Vec::as_slice);
        events += ledger.len();
        for (index, (seq, _)) in ledger.iter().enumerate() {
            assert_eq!(
                *seq,
                index as u64 + 1,
                "{at} entity {k}: sequence numbers contiguous from 1"
            );
        }
        let highest = journal.inner.highest_sequence_nr(&id).expect("readable");
        assert_eq!(
            highest,
            ledger.len() as u64,
            "{at} entity {k}: the journal's highest"
        );
        let mut held = Vec::new();
        journal
            .inner
            .replay(&id, 1, u64::MAX, u64::MAX, &mut |repr| {
                held.push((repr.sequence_nr, decode(&repr)))
            })
            .expect("readable");
        let deleted = ledger.len() - held.len();
        assert_eq!(
            held,
            ledger[deleted..],
            "{at} entity {k}: the journal holds the ledger's suffix"
        );
        if !setup.delete_events {
            assert_eq!(
                deleted, 0,
                "{at} entity {k}: nothing deleted without retention"
            );
        }
        // The fold of every prefix of the journal.
        let mut folds = vec![Tally::default()];
        for (_, event) in ledger {
            let mut next = folds.last().expect("a fold").clone();
            next.apply(event);
            stored_ids.entry(event.id()).or_default().push(next.events);
            folds.push(next);
        }
        let full = folds.last().expect("a fold");
        assert_eq!(
            &live[k], full,
            "{at} entity {k}: the live entity's memory is the journal's fold"
        );
        assert_eq!(
            &recovered[k], full,
            "{at} entity {k}: recovery gives the journal's fold"
        );
        let mut gets: Vec<&(u64, usize, Tally)> =
            outcomes.gets.iter().filter(|(_, e, _)| *e == k).collect();
        gets.sort_by_key(|(id, _, _)| *id);
        for (id, _, tally) in &gets {
            let prefix = folds.get(tally.events as usize);
            assert_eq!(
                Some(tally),
                prefix,
                "{at} entity {k}: Get {id} saw a state that is no prefix of the journal"
            );
        }
        let sees = |(id, _, tally): &&(u64, usize, Tally)| (*id, tally.events);
        for pair in gets.windows(2) {
            assert!(
                pair[0].2.events <= pair[1].2.events,
                "{at} entity {k}: a later Get saw fewer events: {:?} then {:?}",
                sees(&pair[0]),
                sees(&pair[1])
            );
        }
        // An `Add` acknowledged after an `Unlock` sent later waited in the stash.
        let mut first_later_unlock = SequenceNr::MAX;
        for (id, (e, _, seq)) in outcomes.acked.iter().rev() {
            if *e != k {
                continue;
            }
            match outcomes.sent[id].kind {
                Kind::Unlock => first_later_unlock = first_later_unlock.min(*seq),
                Kind::Add if *seq > first_later_unlock => stashed += 1,
                _ => {}
            }
        }
        // Acknowledged in the order sent: the `Add`s among themselves (one may wait in the
        // stash behind a later `Unlock`), and the `Lock`s and `Unlock`s among themselves.
        for adds in [true, false] {
            let acked: Vec<(u64, SequenceNr)> = outcomes
                .acked
                .iter()
                .filter(|(id, (e, _, _))| *e == k && (outcomes.sent[*id].kind == Kind::Add) == adds)
                .map(|(id, (_, _, seq))| (*id, *seq))
                .collect();
            for pair in acked.windows(2) {
                assert!(
                    pair[0].1 < pair[1].1,
                    "{at} entity {k}: commands acknowledged out of the order they were sent \
                     (id, sequence number): {:?} then {:?}",
                    pair[0],
                    pair[1]
                );
            }
        }
        if let Some((_, last)) = ledger.last()
            && let Some((_, total, seq)) = outcomes.acked.get(&last.id())
        {
            assert_eq!(
                (*total, *seq),
                (full.total, full.events),
                "{at} entity {k}: last ack"
            );
        }
        for (command, (entity, total, seq)) in outcomes.acked.iter().filter(|(_, a)| a.0 == k) {
            let stored = ledger
                .get((*seq as usize).wrapping_sub(1))
                .map(|(_, e)| e.id());
            assert_eq!(
                stored,
                Some(*command),
                "{at} entity {entity}: command {command} was acknowledged at sequence number \
                 {seq}"
            );
            assert_eq!(
                folds[*seq as usize].total, *total,
                "{at} entity {entity}: command {command} replied the total at {seq}"
            );
        }
    }
    let panicked_after: BTreeSet<u64> = attempted
        .iter()
        .filter(|(_, fate)| **fate == Fate::PanickedAfter)
        .map(|(id, _)| *id)
        .collect();
    let acked: BTreeSet<u64> = outcomes.acked.keys().copied().collect();
    let expected_stored: BTreeSet<u64> = acked.union(&panicked_after).copied().collect();
    let stored: BTreeSet<u64> = stored_ids.keys().copied().collect();
    assert_eq!(
        stored, expected_stored,
        "{at} the journal holds exactly the acknowledged commands (and those whose write \
         panicked after storing)"
    );
    for (id, seqs) in &stored_ids {
        let events = outcomes.sent[id].events;
        let contiguous = seqs.windows(2).all(|pair| pair[1] == pair[0] + 1);
        assert!(
            seqs.len() == events && contiguous,
            "{at} command {id}'s {events} events are stored together: {seqs:?}"
        );
    }

    // 7. Signals match the faults.
    let count = |pick: fn(&EntitySignal) -> bool| signals.iter().filter(|(_, s)| pick(s)).count();
    let fates = |pick: fn(Fate) -> bool| attempted.values().filter(|f| pick(**f)).count();
    let failed_writes =
        fates(|f| matches!(f, Fate::Failed | Fate::PanickedBefore | Fate::PanickedAfter));
    let rejected_writes = fates(|f| f == Fate::Rejected);
    assert_eq!(
        count(|s| matches!(s, EntitySignal::PersistFailed(_))),
        failed_writes,
        "{at} one PersistFailed per failed or panicked write"
    );
    assert_eq!(
        count(|s| matches!(s, EntitySignal::PersistRejected(_))),
        rejected_writes,
        "{at} one PersistRejected per rejected write"
    );
    let recovery_failures: Vec<_> = signals
        .iter()
        .filter(|(_, s)| matches!(s, EntitySignal::RecoveryFailed(_)))
        .collect();
    assert_eq!(
        recovery_failures.len() as u64,
        truth.read_faults,
        "{at} one RecoveryFailed per injected read failure, and no other: {recovery_failures:?}"
    );
    assert_eq!(
        truth.advance_highest_calls, 0,
        "{at} no snapshot was ever ahead of the journal"
    );
    // The failure table: a failed or panicked write restarts the entity under `restart()`
    // without `on_persist_failure` (with it, the entity backs off in place); a rejected write
    // restarts it under `restart()` and stops it otherwise; a failed recovery stops it
    // whatever the supervisor. Every stopped entity was replaced once by the driver, and the
    // shutdown stopped the last ones.
    let (restarts, stops) = match setup.supervision {
        Supervision::Restart => (failed_writes + rejected_writes, recovery_failures.len()),
        Supervision::BackoffUnderRestart => (rejected_writes, recovery_failures.len()),
        Supervision::BackoffOnly => (0, rejected_writes + recovery_failures.len()),
    };
    assert_eq!(
        count(|s| matches!(s, EntitySignal::PreRestart)),
        restarts,
        "{at} restarts by the supervisor"
    );
    assert_eq!(spawned, ENTITIES + stops, "{at} stopped entities replaced");
    assert_eq!(
        count(|s| matches!(s, EntitySignal::PostStop)),
        stops + ENTITIES,
        "{at} one PostStop per stop, and per entity at the shutdown"
    );

    Summary {
        acked: acked.len(),
        no_reply: outcomes.no_reply.len(),
        dead_lettered: outcomes.dead_lettered.len(),
        stored_unacked: panicked_after.len(),
        write_calls: truth.write_calls,
        delays: truth.delays,
        failed: fates(|f| f == Fate::Failed),
        panicked: fates(|f| matches!(f, Fate::PanickedBefore | Fate::PanickedAfter)),
        rejected: rejected_writes,
        read_faults: truth.read_faults,
        restarts: count(|s| matches!(s, EntitySignal::PreRestart)),
        events,
        stashed,
        ..Summary::default()
    }
}

fn seeds() -> Vec<u64> {
    match std::env::var("ENTITY_MODEL_SEED") {
        Ok(seed) => {
            let seed = seed.trim();
            let parsed = match seed.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => seed.parse(),
            };
            vec![parsed.expect("ENTITY_MODEL_SEED is a number (decimal or 0x-hex)")]
        }
        Err(_) => SEEDS.to_vec(),
    }
}

fn run_seeds(setup: Setup) {
    for seed in seeds() {
        let summary = run_model(seed, setup);
        println!("[{}, seed {seed:#x}] {summary:?}", setup.name);
        assert!(
            summary.acked > 0 && summary.no_reply > 0,
            "[{}, seed {seed:#x}] the run exercised both outcomes: {summary:?}",
            setup.name
        );
    }
}

#[test]
fn supervised_restart_with_snapshots_keeps_journal_memory_and_replies_in_agreement() {
    run_seeds(Setup {
        name: "restart",
        supervision: Supervision::Restart,
        snapshot_every: Some(5),
        delete_events: false,
        command_buffer: None,
    });
}

#[test]
fn persist_failure_backoff_with_event_deletion_keeps_journal_memory_and_replies_in_agreement() {
    run_seeds(Setup {
        name: "backoff-restart",
        supervision: Supervision::BackoffUnderRestart,
        snapshot_every: Some(7),
        delete_events: true,
        command_buffer: None,
    });
}

#[test]
fn persist_failure_backoff_with_user_restarts_keeps_journal_memory_and_replies_in_agreement() {
    run_seeds(Setup {
        name: "backoff-only",
        supervision: Supervision::BackoffOnly,
        snapshot_every: None,
        delete_events: false,
        command_buffer: Some(6),
    });
}
