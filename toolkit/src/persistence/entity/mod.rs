//! Event-sourced entities: an actor whose state is the fold of its persisted events.
//!
//! The builder ([`EventSourcedBehavior`]) lives here; the parts of a running entity each have
//! a file: `runtime` (the [`Persistence`] handle, its writer and reader threads), `recovery`
//! (the snapshot and the events folded back into a state), `running` (the state machine of a
//! live entity).
//!
//! The entity's state machine and what each failure does are tabled in the docs of
//! [`crate::persistence`]: one row per transition there is one method in `running.rs`.
//!
//! Slightly over 600 lines: the builder's settings, each with its documentation, and their
//! deprecated former names (see the changelog) until they are removed.

mod recovery;
mod running;
mod runtime;

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec::{Codec, CodecError, MessagePack};
use super::effect::Effect;
use super::error::{DeleteError, PersistError, RecoveryError, SnapshotError};
use super::event::{Event, short_type_name};
use super::journal::{Manifest, PersistenceId, SequenceNr};
use super::snapshot::SnapshotMetadata;
use crate::actor::{ActorFailure, AnyActorRef, Behavior, Behaviors, Context};
use crate::supervision::SupervisorStrategy;

pub use runtime::Persistence;

/// Commands an entity holds while it recovers or persists, unless configured otherwise: no
/// bound, like the mailbox they would otherwise wait in.
const DEFAULT_COMMAND_BUFFER: usize = usize::MAX;

/// What happened to an entity, for its signal handler ([`EventSourcedBehavior::receive_signal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntitySignal {
    /// Recovery started from this snapshot (sent before `RecoveryCompleted`).
    SnapshotRecovered(SnapshotMetadata),
    /// Recovery is complete (also for a new entity with no events); commands follow.
    RecoveryCompleted {
        /// The sequence number of the last event recovered (0 for a new entity).
        highest_sequence_nr: SequenceNr,
    },
    /// Recovery failed; the entity stops, whatever its supervisor.
    RecoveryFailed(RecoveryError),
    /// A snapshot was saved at this sequence number.
    SnapshotCompleted(SequenceNr),
    /// A snapshot could not be saved; the entity keeps running.
    SnapshotFailed(SnapshotError),
    /// The journal failed to store the events of a command (or panicked): nothing of them is
    /// stored, and the entity fails (or restarts after a backoff, see
    /// [`EventSourcedBehavior::with_persist_failure`]).
    PersistFailed(PersistError),
    /// The events of a command were refused. Refused by the codec (before anything changed):
    /// the entity keeps running. Refused by the journal: the entity fails.
    PersistRejected(PersistError),
    /// The events up to this sequence number were deleted (retention after a snapshot).
    DeleteEventsCompleted(SequenceNr),
    /// Deleting the events up to `to` failed; the entity keeps running.
    DeleteEventsFailed {
        /// The deletion asked for.
        to: SequenceNr,
        /// Why it failed.
        error: DeleteError,
    },
    /// The snapshots up to this sequence number were deleted (retention after a snapshot).
    DeleteSnapshotsCompleted(SequenceNr),
    /// Deleting the snapshots up to `to` failed; the entity keeps running.
    DeleteSnapshotsFailed {
        /// The deletion asked for.
        to: SequenceNr,
        /// Why it failed.
        error: DeleteError,
    },
    /// The entity is about to be restarted by its supervisor; the next incarnation recovers.
    PreRestart,
    /// The entity has stopped; no command follows.
    PostStop,
    /// An actor the entity watches has stopped.
    Terminated(AnyActorRef),
    /// A child the entity watches has stopped because it failed.
    ChildFailed(AnyActorRef, ActorFailure),
}

/// What a command handler given [`EventSourcedBehavior::with_context`] sees besides the state
/// and the command: the entity's actor [`Context`] (spawn, watch, timers, its own reference,
/// asks; through `Deref`) and where its stream stands.
pub struct EntityContext<'a, C: Send + 'static> {
    ctx: &'a mut Context<C>,
    persistence_id: &'a PersistenceId,
    last_sequence_nr: SequenceNr,
    sharded: Option<&'a crate::sharding::EntityContext<C>>,
}

impl<C: Send + 'static> EntityContext<'_, C> {
    /// The entity's id: for a sharded entity its id in its region; otherwise what follows the
    /// entity type in the persistence id (`"account|7"` → `"7"`), or the whole id.
    pub fn entity_id(&self) -> &str {
        match self.sharded {
            Some(sharded) => sharded.entity_id(),
            None => {
                let id = self.persistence_id.as_str();
                id.split_once('|').map_or(id, |(_, entity_id)| entity_id)
            }
        }
    }

    /// The sharding side of a sharded entity — [`passivate`](crate::sharding::EntityContext::passivate),
    /// [`remember`](crate::sharding::EntityContext::remember) /
    /// [`forget`](crate::sharding::EntityContext::forget), a reference through its region —
    /// or `None` for an entity spawned without sharding.
    pub fn sharding(&self) -> Option<&crate::sharding::EntityContext<C>> {
        self.sharded
    }

    /// The sequence number of the last event persisted and applied (0 for a new entity).
    /// Events of the effect being decided get the numbers after it.
    pub fn last_sequence_nr(&self) -> SequenceNr {
        self.last_sequence_nr
    }

    /// The entity's persistence id.
    pub fn persistence_id(&self) -> &PersistenceId {
        self.persistence_id
    }
}

impl<C: Send + 'static> std::ops::Deref for EntityContext<'_, C> {
    type Target = Context<C>;

    fn deref(&self) -> &Context<C> {
        self.ctx
    }
}

impl<C: Send + 'static> std::ops::DerefMut for EntityContext<'_, C> {
    fn deref_mut(&mut self) -> &mut Context<C> {
        self.ctx
    }
}

type CommandHandler<C, E, S> = dyn FnMut(&mut EntityContext<'_, C>, &S, C) -> Effect<E, S> + Send;
type EventHandler<E, S> = dyn Fn(&mut S, &E) + Send + Sync;
type SignalHandler<S> = dyn Fn(&S, &EntitySignal) + Send + Sync;
type SignalHandlerIn<C, S> = dyn FnMut(&mut EntityContext<'_, C>, &S, &EntitySignal) + Send;
type SnapshotPredicate<E, S> = dyn Fn(&S, &E, SequenceNr) -> bool + Send + Sync;

/// An entity's codec with its event and state types fixed: [`Codec`]'s methods are generic,
/// so the entity keeps the codec it was given behind this object-safe face.
pub(crate) trait EntityCodec<E, S>: Send + Sync {
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

pub(super) struct Config<C: Send + 'static, E, S> {
    persistence_id: PersistenceId,
    /// `E::manifest()` and the state's manifest, computed once rather than per event.
    event_manifest: Manifest,
    state_manifest: Manifest,
    persistence: Arc<Persistence>,
    /// The persistence's writer id, copied: every event carries it, and a count shared by
    /// every entity would be a cache line that all workers and the writer fight over.
    writer_id: Arc<str>,
    codec: Arc<dyn EntityCodec<E, S>>,
    empty_state: Box<dyn Fn() -> S + Send + Sync>,
    /// Called only in the entity's turns (never concurrently with itself); the lock makes the
    /// shared configuration `Sync` without asking the handler to be, so it may keep plain
    /// mutable state (one uncontended lock per command).
    command_handler: parking_lot::Mutex<Box<CommandHandler<C, E, S>>>,
    event_handler: Arc<EventHandler<E, S>>,
    signal_handler: Option<Box<SignalHandler<S>>>,
    /// Called in the entity's turns only, as the command handler is.
    signal_handler_in: Option<parking_lot::Mutex<Box<SignalHandlerIn<C, S>>>>,
    snapshot_every: Option<u64>,
    snapshot_when: Option<Box<SnapshotPredicate<E, S>>>,
    keep_snapshots: usize,
    delete_events_on_snapshot: bool,
    command_buffer: usize,
    /// `with_persist_failure`: restart after a backoff rather than fail.
    persist_backoff: Option<crate::supervision::Backoff>,
    /// The sharding side, for an entity started by a region.
    sharded: Option<crate::sharding::EntityContext<C>>,
    /// `with_tag`: tags every event gets besides its own (e.g. its slice's).
    extra_tags: Vec<String>,
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
pub struct EventSourcedBehavior<C: Send + 'static, E, S> {
    config: Config<C, E, S>,
}

impl<C, E, S> EventSourcedBehavior<C, E, S>
where
    C: Send + 'static,
    E: Event,
    S: Serialize + DeserializeOwned + Send + 'static,
{
    /// An entity persisting to `persistence` under `persistence_id`.
    ///
    /// The command handler is `FnMut`: it runs only in the entity's own turns, so it may keep
    /// scratch state of its own (an attempt counter, replies to answer later) in plain
    /// captured variables, as Akka's handlers keep variables of `setup`. That state lives as
    /// long as the behavior: it survives a supervised restart (the state of the entity is
    /// rebuilt from the journal; the handler is the same closure). For scratch state per
    /// incarnation, build the behavior where each incarnation is built: a sharded entity's
    /// factory runs once per incarnation. The event handler stays `Fn + Sync`: recovery runs it
    /// on the persistence's reader threads, and it must be a pure fold of the events.
    pub fn new(
        persistence_id: PersistenceId,
        persistence: Arc<Persistence>,
        empty_state: impl Fn() -> S + Send + Sync + 'static,
        mut command_handler: impl FnMut(&S, C) -> Effect<E, S> + Send + 'static,
        event_handler: impl Fn(&mut S, &E) + Send + Sync + 'static,
    ) -> Self {
        Self::with_context(
            persistence_id,
            persistence,
            empty_state,
            move |_ctx: &mut EntityContext<'_, C>, state: &S, command: C| {
                command_handler(state, command)
            },
            event_handler,
        )
    }

    /// An entity whose command handler also gets an [`EntityContext`]: the actor context
    /// (spawn, watch, timers, its own reference, asks) and the last sequence number, as
    /// Akka's handlers have them.
    ///
    /// ```
    /// use reactant::prelude::*;
    /// use reactant::persistence::{Effect, EntityContext, Event, EventSourcedBehavior, Persistence, PersistenceId};
    /// use serde::{Deserialize, Serialize};
    /// use std::time::Duration;
    ///
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct Log { lines: Vec<String> }
    /// #[derive(Serialize, Deserialize)]
    /// struct Logged(String);
    /// impl Event for Logged {}
    /// enum Command { Log(String, ActorRef<u64>) }
    ///
    /// let log = EventSourcedBehavior::with_context(
    ///     PersistenceId::of("log", "1"),
    ///     Persistence::in_memory()?,
    ///     Log::default,
    ///     |ctx: &mut EntityContext<'_, Command>, _log: &Log, Command::Log(line, reply_to)| {
    ///         let next = ctx.last_sequence_nr() + 1; // the number this event will get
    ///         Effect::persist(Logged(line)).then_run(move |_: &Log| reply_to.tell(next))
    ///     },
    ///     |log: &mut Log, Logged(line): &Logged| log.lines.push(line.clone()),
    /// );
    /// let system = ActorSystem::new("docs")?;
    /// let log = system.spawn(log, "log-1")?;
    /// let seq = log.ask(|reply_to| Command::Log("hello".into(), reply_to)).wait(Duration::from_secs(3))?;
    /// assert_eq!(seq, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_context(
        persistence_id: PersistenceId,
        persistence: Arc<Persistence>,
        empty_state: impl Fn() -> S + Send + Sync + 'static,
        command_handler: impl FnMut(&mut EntityContext<'_, C>, &S, C) -> Effect<E, S> + Send + 'static,
        event_handler: impl Fn(&mut S, &E) + Send + Sync + 'static,
    ) -> Self {
        Self {
            config: Config {
                persistence_id,
                event_manifest: E::manifest(),
                state_manifest: Manifest::new(short_type_name::<S>(), 1),
                writer_id: Arc::from(&*persistence.writer_id),
                persistence,
                codec: Arc::new(MessagePack),
                empty_state: Box::new(empty_state),
                command_handler: parking_lot::Mutex::new(Box::new(command_handler)),
                event_handler: Arc::new(event_handler),
                signal_handler: None,
                signal_handler_in: None,
                snapshot_every: None,
                snapshot_when: None,
                keep_snapshots: 2,
                delete_events_on_snapshot: false,
                command_buffer: DEFAULT_COMMAND_BUFFER,
                persist_backoff: None,
                sharded: None,
                extra_tags: Vec::new(),
            },
        }
    }

    /// Runs as the sharded entity `entity` (what a region's factory is given): command
    /// handlers then reach its sharding side through [`EntityContext::sharding`], and
    /// [`EntityContext::entity_id`] is its id.
    /// [`ShardedEntity::for_entity`](crate::sharding::ShardedEntity::for_entity) does this for
    /// [`Entity`](super::Entity) types.
    pub fn with_shard(mut self, entity: &crate::sharding::EntityContext<C>) -> Self {
        self.config.sharded = Some(entity.clone());
        self
    }

    /// Tags every event this entity persists with `tag`, besides the event's own
    /// [`tags`](Event::tags) (Akka's `withTagger`, for a tag that depends on the entity rather
    /// than the event). [`Entity`](super::Entity) types with `SLICES` set tag their slice
    /// this way.
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        let tag = tag.into();
        if !self.config.extra_tags.contains(&tag) {
            self.config.extra_tags.push(tag);
        }
        self
    }

    /// Saves a snapshot every `events` events, keeping the newest `keep` snapshots.
    pub fn with_snapshot_every(mut self, events: u64, keep: usize) -> Self {
        self.config.snapshot_every = Some(events.max(1));
        self.config.keep_snapshots = keep.max(1);
        self
    }

    /// Also saves a snapshot after an event for which `predicate(state, event, seq)` holds.
    pub fn with_snapshot_when(
        mut self,
        predicate: impl Fn(&S, &E, SequenceNr) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.config.snapshot_when = Some(Box::new(predicate));
        self
    }

    /// After each snapshot, deletes the events the oldest kept snapshot covers.
    pub fn with_delete_events_on_snapshot(mut self, delete: bool) -> Self {
        self.config.delete_events_on_snapshot = delete;
        self
    }

    /// Stores this entity's events and snapshots with `codec` rather than the default
    /// [`MessagePack`]. Every incarnation of a persistence id must use the same codec (or one
    /// that reads what the others wrote): the manifest names the type and its version, not the
    /// codec.
    pub fn with_codec(mut self, codec: impl Codec) -> Self {
        self.config.codec = Arc::new(codec);
        self
    }

    /// Called with the entity's state on each [`EntitySignal`]: its own (recovery, persist,
    /// snapshot and deletion outcomes) and the actor's (`PreRestart`, `PostStop`,
    /// `Terminated`, `ChildFailed`). Where the entity has no state yet (a failed recovery), the
    /// handler sees `empty_state()`; if `empty_state` itself panics, the signal is only logged.
    /// A panic in the handler fails the entity (it cannot resume).
    pub fn receive_signal(
        mut self,
        handler: impl Fn(&S, &EntitySignal) + Send + Sync + 'static,
    ) -> Self {
        self.config.signal_handler = Some(Box::new(handler));
        self
    }

    /// Like [`receive_signal`](Self::receive_signal), with the entity's context: to act on a
    /// signal, e.g. to resume unfinished work after `RecoveryCompleted` by sending itself a
    /// command (`ctx.self_ref().tell(..)`) or starting a timer. Both handlers run if both are
    /// set (this one second). A panic here fails the entity, as there.
    pub fn receive_signal_in(
        mut self,
        handler: impl FnMut(&mut EntityContext<'_, C>, &S, &EntitySignal) + Send + 'static,
    ) -> Self {
        self.config.signal_handler_in = Some(parking_lot::Mutex::new(Box::new(handler)));
        self
    }

    /// How many commands the entity holds while recovering, persisting or backing off, and
    /// how many it stashes (default: no bound, like a mailbox). Beyond the bound a command goes
    /// to dead letters (`CommandBufferFull`).
    pub fn with_command_buffer(mut self, commands: usize) -> Self {
        self.config.command_buffer = commands.max(1);
        self
    }

    /// What the entity does when the journal fails a write (or panics in it), as Akka's
    /// `onPersistFailure`. By default it fails, and its supervisor stops it (or restarts it,
    /// if supervised with `restart()`); `resume()` stops it, since its state may hold events
    /// that are not stored.
    ///
    /// With [`SupervisorStrategy::restart_with_backoff`] it restarts itself after the backoff
    /// instead, keeping the commands it holds, in order: it drops its state, cancels its
    /// timers, waits, and recovers from the journal (its children keep running). The delay
    /// doubles with each failure that follows a restart within the strategy's reset period.
    /// Any other strategy keeps the default. A failed *recovery* is never retried this way: it
    /// would fail again; the entity stops.
    pub fn with_persist_failure(mut self, strategy: SupervisorStrategy) -> Self {
        self.config.persist_backoff = match strategy {
            SupervisorStrategy::RestartWithBackoff(backoff) => Some(backoff),
            SupervisorStrategy::Stop => None,
            other => {
                tracing::warn!(
                    persistence_id = %self.config.persistence_id,
                    strategy = ?other,
                    "with_persist_failure takes restart_with_backoff (or stop); keeping the default"
                );
                None
            }
        };
        self
    }

    /// The entity's codec and its state's manifest: the test kit decodes what the entity
    /// stored, and round-trips its state, with them.
    #[cfg(feature = "testkit")]
    pub(crate) fn codec_and_state_manifest(&self) -> (Arc<dyn EntityCodec<E, S>>, Manifest) {
        (
            self.config.codec.clone(),
            self.config.state_manifest.clone(),
        )
    }

    /// Renamed [`with_shard`](Self::with_shard) (the `with_` convention of settings; see the
    /// changelog).
    #[deprecated(since = "0.2.0", note = "renamed `with_shard`")]
    pub fn in_shard(self, entity: &crate::sharding::EntityContext<C>) -> Self {
        self.with_shard(entity)
    }

    /// Renamed [`with_snapshot_every`](Self::with_snapshot_every) (the `with_` convention of settings; see the
    /// changelog).
    #[deprecated(since = "0.2.0", note = "renamed `with_snapshot_every`")]
    pub fn snapshot_every(self, events: u64, keep: usize) -> Self {
        self.with_snapshot_every(events, keep)
    }

    /// Renamed [`with_delete_events_on_snapshot`](Self::with_delete_events_on_snapshot) (the `with_` convention of settings; see the
    /// changelog).
    #[deprecated(since = "0.2.0", note = "renamed `with_delete_events_on_snapshot`")]
    pub fn delete_events_on_snapshot(self, delete: bool) -> Self {
        self.with_delete_events_on_snapshot(delete)
    }

    /// Renamed [`with_codec`](Self::with_codec) (the `with_` convention of settings; see the
    /// changelog).
    #[deprecated(since = "0.2.0", note = "renamed `with_codec`")]
    pub fn codec(self, codec: impl Codec) -> Self {
        self.with_codec(codec)
    }

    /// Renamed [`with_command_buffer`](Self::with_command_buffer) (the `with_` convention of settings; see the
    /// changelog).
    #[deprecated(since = "0.2.0", note = "renamed `with_command_buffer`")]
    pub fn command_buffer(self, commands: usize) -> Self {
        self.with_command_buffer(commands)
    }

    /// Renamed [`with_persist_failure`](Self::with_persist_failure) (the `with_` convention of settings; see the
    /// changelog).
    #[deprecated(since = "0.2.0", note = "renamed `with_persist_failure`")]
    pub fn on_persist_failure(self, strategy: SupervisorStrategy) -> Self {
        self.with_persist_failure(strategy)
    }

    /// Renamed [`with_snapshot_when`](Self::with_snapshot_when) (the `with_` convention of
    /// settings; see the changelog).
    #[deprecated(since = "0.2.0", note = "renamed `with_snapshot_when`")]
    pub fn snapshot_when(
        self,
        predicate: impl Fn(&S, &E, SequenceNr) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.with_snapshot_when(predicate)
    }

    /// The behavior of an actor running this entity. Each start (and restart) recovers from
    /// the journal.
    pub fn into_behavior(self) -> Behavior<C> {
        let config = Arc::new(self.config);
        Behaviors::setup(move |ctx| Behavior::from(running::EntityActor::new(config.clone(), ctx)))
    }
}

/// What the read side needs of an entity: its codec, event manifest, empty state and event
/// handler, without an actor (the query module decodes events and rebuilds past states with it).
pub(crate) struct EntityReader<E, S> {
    codec: Arc<dyn EntityCodec<E, S>>,
    event_manifest: Manifest,
    empty_state: Box<dyn Fn() -> S + Send + Sync>,
    event_handler: Arc<EventHandler<E, S>>,
}

impl<C, E, S> EventSourcedBehavior<C, E, S>
where
    C: Send + 'static,
    E: Event,
    S: Serialize + DeserializeOwned + Send + 'static,
{
    /// The parts of this entity the read side uses; the rest (handlers of commands and
    /// signals, the actor side) is dropped.
    pub(crate) fn into_reader(self) -> EntityReader<E, S> {
        let config = self.config;
        EntityReader {
            codec: config.codec,
            event_manifest: config.event_manifest,
            empty_state: config.empty_state,
            event_handler: config.event_handler,
        }
    }
}

impl<E: Event, S> EntityReader<E, S> {
    /// Decodes an event stored under `manifest`, through the upcaster for an older one.
    pub(crate) fn decode_event(
        &self,
        manifest: &Manifest,
        payload: &[u8],
    ) -> Result<E, CodecError> {
        self.codec
            .decode_event(&self.event_manifest, manifest, payload)
    }

    /// Decodes a snapshot of the state.
    pub(crate) fn decode_state(
        &self,
        manifest: &Manifest,
        payload: &[u8],
    ) -> Result<S, CodecError> {
        self.codec.decode_state(manifest, payload)
    }

    /// The state of an entity without events.
    pub(crate) fn empty_state(&self) -> S {
        (self.empty_state)()
    }

    /// Folds one event into `state`.
    pub(crate) fn apply(&self, state: &mut S, event: &E) {
        (self.event_handler)(state, event)
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
