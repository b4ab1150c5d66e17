//! Event-sourced entities: an actor whose state is the fold of its persisted events.
//!
//! The entity's life: **recovering** (the newest snapshot, then the later events, folded on a
//! reader thread while commands wait in the entity's buffer) → **running** (a command handler
//! reads the state and returns an [`Effect`]) ⇄ **persisting** (the events are with the journal
//! writer; commands wait, in order). Only once the journal reports the events durable are they
//! applied to the state, and only then do the effect's side effects and replies run. A failed
//! write never touches the state: the entity reports `PersistFailed` and fails, so that its
//! supervisor stops it (the default) or restarts it, and a restart recovers from the journal.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use super::codec::{Codec, CodecError, MessagePack};
use super::effect::{Action, Effect, SideEffect};
use super::error::JournalError;
use super::event::{Event, short_type_name};
use super::journal::{AtomicWrite, Journal, Manifest, PersistenceId, PersistentRepr, SequenceNr};
use super::memory::{InMemoryJournal, InMemorySnapshotStore};
use super::snapshot::{SnapshotCriteria, SnapshotMetadata, SnapshotStore, StoredSnapshot};
use super::writer::{AppendError, JournalWriter, WriterStats};
use crate::actor::{Actor, Behavior, Behaviors, Context, InternalSender};

/// Threads that run recoveries and snapshot saves: blocking reads never run on a dispatcher.
const READER_THREADS: usize = 2;
/// Commands an entity holds while it recovers or persists, unless configured otherwise: no
/// bound, like the mailbox they would otherwise wait in.
const DEFAULT_COMMAND_BUFFER: usize = usize::MAX;

type Job = Box<dyn FnOnce() + Send>;

/// A journal and a snapshot store, with the group-commit writer and the reader threads that
/// serve every entity persisting to them.
///
/// ```
/// use reactant::persistence::Persistence;
///
/// let persistence = Persistence::in_memory()?;
/// assert_eq!(persistence.writer_stats().batches, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Persistence {
    journal: Arc<dyn Journal>,
    snapshots: Arc<dyn SnapshotStore>,
    writer: JournalWriter,
    jobs: Mutex<Option<Sender<Job>>>,
    readers: Mutex<Vec<JoinHandle<()>>>,
    writer_id: Arc<str>,
}

impl Persistence {
    /// Serves entities with `journal` and `snapshots`; starts the writer and reader threads.
    pub fn new(
        journal: Arc<dyn Journal>,
        snapshots: Arc<dyn SnapshotStore>,
    ) -> std::io::Result<Arc<Self>> {
        let writer = JournalWriter::start(journal.clone(), "journal")?;
        let (jobs, incoming) = crossbeam_channel::unbounded::<Job>();
        let mut readers = Vec::with_capacity(READER_THREADS);
        for index in 0..READER_THREADS {
            let incoming = incoming.clone();
            readers.push(
                thread::Builder::new()
                    .name(format!("journal-reader-{index}"))
                    .spawn(move || {
                        for job in incoming {
                            job();
                        }
                    })?,
            );
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(Arc::new(Self {
            journal,
            snapshots,
            writer,
            jobs: Mutex::new(Some(jobs)),
            readers: Mutex::new(readers),
            writer_id: format!("{:x}-{:x}", std::process::id(), nanos).into(),
        }))
    }

    /// An in-memory journal and snapshot store (for tests: nothing survives the process).
    pub fn in_memory() -> std::io::Result<Arc<Self>> {
        Self::new(
            Arc::new(InMemoryJournal::new()),
            Arc::new(InMemorySnapshotStore::new()),
        )
    }

    /// The journal (for reading events back).
    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    /// The snapshot store.
    pub fn snapshot_store(&self) -> &Arc<dyn SnapshotStore> {
        &self.snapshots
    }

    /// How the writer has batched the appends so far.
    pub fn writer_stats(&self) -> WriterStats {
        self.writer.stats()
    }

    fn run(&self, job: Job) {
        if let Some(jobs) = self.jobs.lock().as_ref() {
            let _ = jobs.send(job);
        }
    }
}

impl Drop for Persistence {
    fn drop(&mut self) {
        self.jobs.lock().take();
        for reader in self.readers.lock().drain(..) {
            if reader.thread().id() != thread::current().id() && reader.join().is_err() {
                tracing::error!("a journal reader thread panicked");
            }
        }
    }
}

/// A recovery that could not complete: the entity never runs with a partly recovered state.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("recovery of {persistence_id} failed at sequence number {sequence_nr}: {detail}")]
pub struct RecoveryError {
    /// Whose recovery.
    pub persistence_id: PersistenceId,
    /// The record that could not be recovered (0: before any event, e.g. the snapshot).
    pub sequence_nr: SequenceNr,
    /// What went wrong.
    pub detail: String,
}

/// What happened to an entity, for its signal handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntitySignal {
    /// Recovery is complete (also for a new entity with no events); commands follow.
    RecoveryCompleted {
        /// The sequence number of the last event recovered (0 for a new entity).
        highest_sequence_nr: SequenceNr,
    },
    /// Recovery failed; the entity fails (and stops, unless supervised otherwise).
    RecoveryFailed(RecoveryError),
    /// A snapshot was saved at this sequence number.
    SnapshotCompleted(SequenceNr),
    /// A snapshot could not be saved; the entity keeps running.
    SnapshotFailed(String),
    /// The journal failed to store events; the state is unchanged and the entity fails.
    PersistFailed(String),
    /// The events of one command were refused (e.g. one could not be serialized); nothing of
    /// them was stored, the state is unchanged and the entity keeps running.
    PersistRejected(String),
}

type CommandHandler<C, E, S> = dyn Fn(&S, C) -> Effect<E, S> + Send + Sync;
type EventHandler<E, S> = dyn Fn(&mut S, &E) + Send + Sync;
type SignalHandler<S> = dyn Fn(&S, &EntitySignal) + Send + Sync;
type SnapshotPredicate<E, S> = dyn Fn(&S, &E, SequenceNr) -> bool + Send + Sync;

/// An entity's codec with its event and state types fixed: [`Codec`]'s methods are generic,
/// so the entity keeps the codec it was given behind this object-safe face.
trait EntityCodec<E, S>: Send + Sync {
    fn encode_event(&self, event: &E) -> Result<Vec<u8>, CodecError>;
    /// Decodes an event stored under `manifest`: directly when it is the event type's
    /// `current` manifest, through [`Event::upcast`] otherwise.
    fn decode_event(
        &self,
        current: &Manifest,
        manifest: &Manifest,
        payload: &[u8],
    ) -> Result<E, CodecError>;
    fn encode_state(&self, state: &S) -> Result<Vec<u8>, CodecError>;
    fn decode_state(&self, manifest: &Manifest, payload: &[u8]) -> Result<S, CodecError>;
}

impl<K, E, S> EntityCodec<E, S> for K
where
    K: Codec,
    E: Event,
    S: Serialize + DeserializeOwned,
{
    fn encode_event(&self, event: &E) -> Result<Vec<u8>, CodecError> {
        self.encode(event)
    }

    fn decode_event(
        &self,
        current: &Manifest,
        manifest: &Manifest,
        payload: &[u8],
    ) -> Result<E, CodecError> {
        if manifest == current {
            self.decode(manifest, payload)
        } else {
            E::upcast(self, manifest, payload)
        }
    }

    fn encode_state(&self, state: &S) -> Result<Vec<u8>, CodecError> {
        self.encode(state)
    }

    fn decode_state(&self, manifest: &Manifest, payload: &[u8]) -> Result<S, CodecError> {
        self.decode(manifest, payload)
    }
}

struct Config<C, E, S> {
    persistence_id: PersistenceId,
    /// `E::manifest()` and the state's manifest, computed once rather than per event.
    event_manifest: Manifest,
    state_manifest: Manifest,
    persistence: Arc<Persistence>,
    /// The persistence's writer id, copied: every event carries it, and a count shared by
    /// every entity would be a cache line that all workers and the writer fight over.
    writer_id: Arc<str>,
    codec: Box<dyn EntityCodec<E, S>>,
    empty_state: Box<dyn Fn() -> S + Send + Sync>,
    command_handler: Box<CommandHandler<C, E, S>>,
    event_handler: Arc<EventHandler<E, S>>,
    signal_handler: Option<Box<SignalHandler<S>>>,
    snapshot_every: Option<u64>,
    snapshot_when: Option<Box<SnapshotPredicate<E, S>>>,
    keep_snapshots: usize,
    delete_events_on_snapshot: bool,
    command_buffer: usize,
}

/// Builds an event-sourced entity: a persistence id, an empty state, a command handler that
/// reads the state and returns an [`Effect`], and an event handler that folds an event into
/// the state. `into_behavior` (or `Behavior::from`) makes it an actor's behavior.
///
/// ```
/// use reactant::prelude::*;
/// use reactant::persistence::{Effect, Event, EventSourcedBehavior, Persistence, PersistenceId};
/// use serde::{Deserialize, Serialize};
/// use std::time::Duration;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Counter { total: u64 }
/// #[derive(Serialize, Deserialize)]
/// struct Added { n: u64 }
/// impl Event for Added {}
/// enum Command { Add(u64, ActorRef<u64>) }
/// type CounterEffect = Effect<Added, Counter>;
///
/// let persistence = Persistence::in_memory()?;
/// let counter = EventSourcedBehavior::new(
///     PersistenceId::of("counter", "1"),
///     persistence,
///     Counter::default,
///     |_state: &Counter, Command::Add(n, reply_to)| {
///         CounterEffect::persist(Added { n }).then_reply_to(reply_to, |state| state.total)
///     },
///     |state: &mut Counter, event: &Added| state.total += event.n,
/// );
/// let system = ActorSystem::new("docs")?;
/// let counter = system.spawn(counter, "counter-1")?;
/// let total = counter.ask(|reply_to| Command::Add(5, reply_to)).wait(Duration::from_secs(3))?;
/// assert_eq!(total, 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EventSourcedBehavior<C, E, S> {
    config: Config<C, E, S>,
}

impl<C, E, S> EventSourcedBehavior<C, E, S>
where
    C: Send + 'static,
    E: Event,
    S: Serialize + DeserializeOwned + Send + 'static,
{
    /// An entity persisting to `persistence` under `persistence_id`.
    pub fn new(
        persistence_id: PersistenceId,
        persistence: Arc<Persistence>,
        empty_state: impl Fn() -> S + Send + Sync + 'static,
        command_handler: impl Fn(&S, C) -> Effect<E, S> + Send + Sync + 'static,
        event_handler: impl Fn(&mut S, &E) + Send + Sync + 'static,
    ) -> Self {
        Self {
            config: Config {
                persistence_id,
                event_manifest: E::manifest(),
                state_manifest: Manifest::new(short_type_name::<S>(), 1),
                writer_id: Arc::from(&*persistence.writer_id),
                persistence,
                codec: Box::new(MessagePack),
                empty_state: Box::new(empty_state),
                command_handler: Box::new(command_handler),
                event_handler: Arc::new(event_handler),
                signal_handler: None,
                snapshot_every: None,
                snapshot_when: None,
                keep_snapshots: 2,
                delete_events_on_snapshot: false,
                command_buffer: DEFAULT_COMMAND_BUFFER,
            },
        }
    }

    /// Saves a snapshot every `events` events, keeping the newest `keep` snapshots.
    pub fn snapshot_every(mut self, events: u64, keep: usize) -> Self {
        self.config.snapshot_every = Some(events.max(1));
        self.config.keep_snapshots = keep.max(1);
        self
    }

    /// Also saves a snapshot after an event for which `predicate(state, event, seq)` holds.
    pub fn snapshot_when(
        mut self,
        predicate: impl Fn(&S, &E, SequenceNr) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.config.snapshot_when = Some(Box::new(predicate));
        self
    }

    /// After each snapshot, deletes the events the oldest kept snapshot covers.
    pub fn delete_events_on_snapshot(mut self, delete: bool) -> Self {
        self.config.delete_events_on_snapshot = delete;
        self
    }

    /// Stores this entity's events and snapshots with `codec` rather than the default
    /// [`MessagePack`]. Every incarnation of a persistence id must use the same codec (or one
    /// that reads what the others wrote): the manifest names the type and its version, not the
    /// codec.
    pub fn codec(mut self, codec: impl Codec) -> Self {
        self.config.codec = Box::new(codec);
        self
    }

    /// Called with the entity's state on each [`EntitySignal`].
    pub fn receive_signal(
        mut self,
        handler: impl Fn(&S, &EntitySignal) + Send + Sync + 'static,
    ) -> Self {
        self.config.signal_handler = Some(Box::new(handler));
        self
    }

    /// How many commands the entity holds while recovering or persisting (default: no bound,
    /// like a mailbox); beyond a bound, commands are dropped with an error in the log.
    pub fn command_buffer(mut self, commands: usize) -> Self {
        self.config.command_buffer = commands.max(1);
        self
    }

    /// The behavior of an actor running this entity. Each start (and restart) recovers from
    /// the journal.
    pub fn into_behavior(self) -> Behavior<C> {
        let config = Arc::new(self.config);
        Behaviors::setup(move |ctx| {
            Behavior::from(EntityActor {
                config: config.clone(),
                state: (config.empty_state)(),
                highest: 0,
                phase: EntityPhase::Recovering,
                commands: VecDeque::new(),
                stashed: VecDeque::new(),
                in_flight: None,
                snapshots_taken: Vec::new(),
                internal: ctx.internal_sender(),
                incarnation: fastrand::u64(..),
            })
        })
    }
}

impl<C, E, S> From<EventSourcedBehavior<C, E, S>> for Behavior<C>
where
    C: Send + 'static,
    E: Event,
    S: Serialize + DeserializeOwned + Send + 'static,
{
    fn from(entity: EventSourcedBehavior<C, E, S>) -> Self {
        entity.into_behavior()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntityPhase {
    Recovering,
    Running,
    Persisting,
}

/// The events of one command on their way to the journal, and what runs once they are stored.
struct InFlight<E, S> {
    events: Vec<E>,
    then: Vec<SideEffect<S>>,
}

struct EntityActor<C: Send + 'static, E, S> {
    config: Arc<Config<C, E, S>>,
    state: S,
    highest: SequenceNr,
    phase: EntityPhase,
    /// Commands that arrived while recovering or persisting, in arrival order.
    commands: VecDeque<C>,
    /// Commands set aside by `Effect::stash`, until `unstash_all`.
    stashed: VecDeque<C>,
    in_flight: Option<InFlight<E, S>>,
    /// Sequence numbers of the snapshots saved by this incarnation, oldest first.
    snapshots_taken: Vec<SequenceNr>,
    internal: InternalSender<C>,
    /// Tells this incarnation's completions from those of one that failed before it: a
    /// restarted entity must not take its predecessor's recovery or write outcome.
    incarnation: u64,
}

/// What a recovery found: the state, and the sequence number it is at.
type Recovered<S> = Result<(S, SequenceNr), RecoveryError>;

impl<C, E, S> Actor for EntityActor<C, E, S>
where
    C: Send + 'static,
    E: Event,
    S: Serialize + DeserializeOwned + Send + 'static,
{
    type Msg = C;

    fn pre_start(&mut self, ctx: &mut Context<C>) {
        ctx.busy = true;
        let config = self.config.clone();
        let internal = self.internal.clone();
        let incarnation = self.incarnation;
        self.config.persistence.run(Box::new(move || {
            let recovered = recover(&config);
            internal.send(Box::new(move |actor, ctx| {
                if let Some(entity) = Self::incarnation(actor, incarnation) {
                    entity.recovered(ctx, recovered);
                    entity.update_busy(ctx);
                }
            }));
        }));
    }

    fn handle(&mut self, ctx: &mut Context<C>, command: C) {
        if self.phase != EntityPhase::Running || !self.commands.is_empty() {
            self.hold(command);
            return;
        }
        self.run_command(ctx, command);
        // An `unstash_all` may have put commands back in line.
        self.run_held(ctx);
        self.update_busy(ctx);
    }
}

impl<C, E, S> EntityActor<C, E, S>
where
    C: Send + 'static,
    E: Event,
    S: Serialize + DeserializeOwned + Send + 'static,
{
    /// The entity an internal message is for, if it is still the incarnation that sent it.
    fn incarnation(actor: &mut dyn std::any::Any, incarnation: u64) -> Option<&mut Self> {
        actor
            .downcast_mut::<Self>()
            .filter(|entity| entity.incarnation == incarnation)
    }

    /// A passivation waits while the entity recovers, persists or holds commands: stopping
    /// then would drop commands that were already delivered.
    fn update_busy(&self, ctx: &mut Context<C>) {
        ctx.busy = self.phase != EntityPhase::Running || !self.commands.is_empty();
    }

    fn signal(&self, signal: &EntitySignal) {
        if let Some(handler) = &self.config.signal_handler {
            handler(&self.state, signal);
        }
    }

    fn hold(&mut self, command: C) {
        if self.commands.len() >= self.config.command_buffer {
            tracing::error!(
                persistence_id = %self.config.persistence_id,
                capacity = self.config.command_buffer,
                "command buffer full while recovering or persisting; command dropped"
            );
            return;
        }
        self.commands.push_back(command);
    }

    fn recovered(&mut self, ctx: &mut Context<C>, recovered: Recovered<S>) {
        if self.phase != EntityPhase::Recovering {
            return;
        }
        match recovered {
            Ok((state, highest)) => {
                self.state = state;
                self.highest = highest;
                self.phase = EntityPhase::Running;
                self.signal(&EntitySignal::RecoveryCompleted {
                    highest_sequence_nr: highest,
                });
                self.run_held(ctx);
            }
            Err(error) => {
                self.signal(&EntitySignal::RecoveryFailed(error.clone()));
                // A failure of the actor: its supervisor decides (stop, by default).
                std::panic::panic_any(error.to_string());
            }
        }
    }

    /// Handles held commands in order until one starts a persist (or the entity stops).
    fn run_held(&mut self, ctx: &mut Context<C>) {
        while self.phase == EntityPhase::Running && !ctx.stop_requested {
            let Some(command) = self.commands.pop_front() else {
                return;
            };
            self.run_command(ctx, command);
        }
    }

    fn run_command(&mut self, ctx: &mut Context<C>, command: C) {
        let effect = (self.config.command_handler)(&self.state, command);
        let Effect { action, then, .. } = effect;
        match action {
            Action::None => self.run_side_effects(ctx, then),
            Action::Unhandled => {
                tracing::debug!(persistence_id = %self.config.persistence_id, "unhandled command");
                self.run_side_effects(ctx, then);
            }
            Action::Stash(command) => {
                match command.downcast::<C>() {
                    Ok(command) if self.stashed.len() < self.config.command_buffer => {
                        self.stashed.push_back(*command);
                    }
                    Ok(_) => tracing::error!(
                        persistence_id = %self.config.persistence_id,
                        capacity = self.config.command_buffer,
                        "stash full; command dropped"
                    ),
                    Err(_) => tracing::error!(
                        persistence_id = %self.config.persistence_id,
                        expected = std::any::type_name::<C>(),
                        "Effect::stash was given a value that is not the entity's command; dropped"
                    ),
                }
                self.run_side_effects(ctx, then);
            }
            Action::Persist(events) if events.is_empty() => self.run_side_effects(ctx, then),
            Action::Persist(events) => self.persist(events, then),
        }
    }

    fn persist(&mut self, events: Vec<E>, then: Vec<SideEffect<S>>) {
        let manifest = &self.config.event_manifest;
        let timestamp_ms = now_ms();
        let mut reprs = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let payload = match self.config.codec.encode_event(event) {
                Ok(payload) => payload,
                Err(error) => {
                    tracing::warn!(persistence_id = %self.config.persistence_id, %error, "events rejected");
                    self.signal(&EntitySignal::PersistRejected(error.to_string()));
                    return;
                }
            };
            reprs.push(PersistentRepr {
                persistence_id: self.config.persistence_id.clone(),
                sequence_nr: self.highest + 1 + index as u64,
                manifest: manifest.clone(),
                payload,
                tags: event.tags(),
                writer_id: self.config.writer_id.clone(),
                timestamp_ms,
                offset: 0,
            });
        }
        self.phase = EntityPhase::Persisting;
        self.in_flight = Some(InFlight { events, then });
        let internal = self.internal.clone();
        let incarnation = self.incarnation;
        self.config.persistence.writer.append(
            AtomicWrite { events: reprs },
            Box::new(move |outcome| {
                internal.send(Box::new(move |actor, ctx| {
                    if let Some(entity) = Self::incarnation(actor, incarnation) {
                        entity.persisted(ctx, outcome);
                        entity.update_busy(ctx);
                    }
                }));
            }),
        );
    }

    fn persisted(&mut self, ctx: &mut Context<C>, outcome: Result<(), AppendError>) {
        let Some(InFlight { events, then }) = self.in_flight.take() else {
            return;
        };
        self.phase = EntityPhase::Running;
        match outcome {
            Ok(()) => {
                let first = self.highest + 1;
                let mut snapshot_due = false;
                for (index, event) in events.iter().enumerate() {
                    (self.config.event_handler)(&mut self.state, event);
                    let sequence_nr = first + index as u64;
                    snapshot_due |= self
                        .config
                        .snapshot_every
                        .is_some_and(|every| sequence_nr.is_multiple_of(every))
                        || self
                            .config
                            .snapshot_when
                            .as_ref()
                            .is_some_and(|when| when(&self.state, event, sequence_nr));
                }
                self.highest += events.len() as u64;
                if snapshot_due {
                    self.save_snapshot();
                }
                self.run_side_effects(ctx, then);
                self.run_held(ctx);
            }
            Err(AppendError::Rejected(rejection)) => {
                self.signal(&EntitySignal::PersistRejected(rejection.to_string()));
                self.run_held(ctx);
            }
            Err(AppendError::Failed(error)) => {
                self.signal(&EntitySignal::PersistFailed(error.clone()));
                std::panic::panic_any(format!(
                    "persisting events of {} failed: {error}",
                    self.config.persistence_id
                ));
            }
        }
    }

    fn run_side_effects(&mut self, ctx: &mut Context<C>, then: Vec<SideEffect<S>>) {
        let mut stop = false;
        for effect in then {
            match effect {
                SideEffect::Run(run) => run(&self.state),
                SideEffect::Stop => stop = true,
                SideEffect::UnstashAll => {
                    // Before anything newer that is waiting, keeping their order.
                    let mut unstashed = std::mem::take(&mut self.stashed);
                    unstashed.append(&mut self.commands);
                    self.commands = unstashed;
                }
            }
        }
        if stop {
            ctx.stop_self();
        }
    }

    /// Encodes the state here, then saves it (and prunes) on a reader thread.
    fn save_snapshot(&mut self) {
        let sequence_nr = self.highest;
        let payload = match self.config.codec.encode_state(&self.state) {
            Ok(payload) => payload,
            Err(error) => {
                self.signal(&EntitySignal::SnapshotFailed(error.to_string()));
                return;
            }
        };
        self.snapshots_taken.push(sequence_nr);
        let keep = self.config.keep_snapshots;
        let oldest_kept = (self.snapshots_taken.len() >= keep)
            .then(|| self.snapshots_taken[self.snapshots_taken.len() - keep]);
        if self.snapshots_taken.len() > keep {
            self.snapshots_taken.remove(0);
        }
        let snapshot = StoredSnapshot {
            metadata: SnapshotMetadata {
                persistence_id: self.config.persistence_id.clone(),
                sequence_nr,
                timestamp_ms: now_ms(),
            },
            manifest: self.config.state_manifest.clone(),
            payload,
        };
        let persistence = self.config.persistence.clone();
        let delete_events = self.config.delete_events_on_snapshot;
        let internal = self.internal.clone();
        let incarnation = self.incarnation;
        persistence.clone().run(Box::new(move || {
            let outcome = save_and_prune(&persistence, snapshot, oldest_kept, delete_events);
            internal.send(Box::new(move |actor, _ctx| {
                if let Some(entity) = Self::incarnation(actor, incarnation) {
                    entity.signal(&match outcome {
                        Ok(()) => EntitySignal::SnapshotCompleted(sequence_nr),
                        Err(error) => EntitySignal::SnapshotFailed(error.to_string()),
                    });
                }
            }));
        }));
    }
}

fn save_and_prune(
    persistence: &Persistence,
    snapshot: StoredSnapshot,
    oldest_kept: Option<SequenceNr>,
    delete_events: bool,
) -> Result<(), JournalError> {
    let persistence_id = snapshot.metadata.persistence_id.clone();
    persistence.snapshots.save(snapshot)?;
    if let Some(oldest_kept) = oldest_kept {
        if oldest_kept > 0 {
            persistence
                .snapshots
                .delete_matching(&persistence_id, SnapshotCriteria::up_to(oldest_kept - 1))?;
        }
        if delete_events {
            persistence
                .journal
                .delete_to(&persistence_id, oldest_kept)?;
        }
    }
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Runs on a reader thread: the newest snapshot, then every later event, folded.
fn recover<C, E, S>(config: &Config<C, E, S>) -> Recovered<S>
where
    E: Event,
    S: DeserializeOwned,
{
    let persistence_id = &config.persistence_id;
    let failed = |sequence_nr: SequenceNr, detail: String| RecoveryError {
        persistence_id: persistence_id.clone(),
        sequence_nr,
        detail,
    };
    let snapshot = config
        .persistence
        .snapshots
        .load(persistence_id, SnapshotCriteria::LATEST)
        .map_err(|error| failed(0, format!("loading the snapshot failed: {error}")))?;
    let (mut state, from) = match snapshot {
        Some(snapshot) => {
            let sequence_nr = snapshot.metadata.sequence_nr;
            let state = config
                .codec
                .decode_state(&snapshot.manifest, &snapshot.payload)
                .map_err(|error| {
                    failed(
                        sequence_nr,
                        format!("the snapshot cannot be decoded: {error}"),
                    )
                })?;
            (state, sequence_nr)
        }
        None => ((config.empty_state)(), 0),
    };
    let mut last = from;
    let mut error = None;
    let highest = config
        .persistence
        .journal
        .replay(persistence_id, from + 1, u64::MAX, u64::MAX, &mut |repr| {
            if error.is_some() {
                return;
            }
            if last > from && repr.sequence_nr != last + 1 {
                error = Some(failed(
                    repr.sequence_nr,
                    format!("the stream skips from {last} to {}", repr.sequence_nr),
                ));
                return;
            }
            match config
                .codec
                .decode_event(&config.event_manifest, &repr.manifest, &repr.payload)
            {
                Ok(event) => {
                    (config.event_handler)(&mut state, &event);
                    last = repr.sequence_nr;
                }
                Err(decode) => error = Some(failed(repr.sequence_nr, decode.to_string())),
            }
        })
        .map_err(|journal| failed(last + 1, journal.to_string()))?;
    if let Some(error) = error {
        return Err(error);
    }
    // Events deleted up to a sequence number still count towards the stream's highest.
    Ok((state, highest.max(last)))
}
