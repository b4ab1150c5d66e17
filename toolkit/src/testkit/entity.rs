//! [`EventSourcedBehaviorTestKit`]: one entity, its commands run one at a time, and what each
//! persisted, left as state and answered (Akka's `EventSourcedBehaviorTestKit`).
//!
//! The entity runs as a real actor on the kit's system, over a [`PersistenceTestKit`]. The kit
//! builds its behavior as [`Entity::behavior`] does (the command handler, `on_signal`, then
//! [`Entity::configure`]), and adds an observer: after each command's effect is done (its
//! events stored and applied), after each recovery and on each failure, the entity's state is
//! encoded with its own codec and sent to the kit, which decodes it. So every state the test
//! sees has been round-tripped through the codec, and every event it sees has been read back
//! from the journal and decoded.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::kit::ActorTestKit;
use super::persistence::PersistenceTestKit;
use crate::actor::{ActorRef, Behaviors, Context};
use crate::persistence::{
    CodecError, Entity, EntityCodec, EntityContext, EntitySignal, Event, EventSourcedBehavior,
    Journal, Manifest, PersistError, PersistenceId, RecoveryError, SequenceNr,
};

/// What a command did: the events it persisted, the state after them, and its reply.
#[derive(Debug)]
#[non_exhaustive]
pub struct CommandResult<A: Entity, R> {
    /// The events the command persisted, in order, as read back from the journal.
    pub events: Vec<A::Event>,
    /// The entity's state after the command (its events applied), through the codec.
    pub state: A,
    /// The command's reply.
    pub reply: R,
}

/// What the entity's recovery rebuilt, checked equal to the state before the restart.
#[derive(Debug)]
#[non_exhaustive]
pub struct RestartResult<A> {
    /// The recovered state.
    pub state: A,
}

/// Why a command ran without a result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandFailure {
    /// The journal failed the command's write: the entity got `PersistFailed` (and stopped or
    /// backs off, as configured).
    #[error("the journal failed to store the command's events: {0}")]
    PersistFailed(#[source] PersistError),
    /// The journal or the codec refused the command's events: the entity got
    /// `PersistRejected`.
    #[error("the command's events were rejected: {0}")]
    PersistRejected(#[source] PersistError),
    /// The entity could not recover: it got `RecoveryFailed` and stopped.
    #[error("the entity could not recover: {0}")]
    RecoveryFailed(#[source] RecoveryError),
    /// The entity has stopped (a failure, or `Effect::stop`); `restart` starts it again.
    #[error("the entity has stopped; call restart() to start it again")]
    Stopped,
    /// The command's effect did not finish in time (a stash, a handler that panicked, a write
    /// held by the test journal).
    #[error(
        "the command did not finish within {0:?}: it was stashed, its handler failed, or its \
         write is held"
    )]
    NoOutcome(Duration),
    /// The command finished without replying in time.
    #[error("the command finished but sent no reply within {0:?}")]
    NoReply(Duration),
    /// A stored event or the state did not round-trip through the entity's codec.
    #[error("{what} did not round-trip through the entity's codec: {error}")]
    Codec {
        /// What failed to round-trip.
        what: String,
        /// The codec's error.
        error: CodecError,
    },
}

/// What the observer inside the entity reports.
enum Observation {
    /// A command's effect is done; the state after it, encoded.
    Handled(Result<Vec<u8>, CodecError>),
    /// Recovery completed; the recovered state, encoded.
    Recovered(Result<Vec<u8>, CodecError>),
    /// A failure signal.
    Failed(EntitySignal),
}

/// How often a command's wait looks whether the entity stopped.
const STOP_CHECK: Duration = Duration::from_millis(10);

/// Work the host actor (the parent of every incarnation of the entity) does in its turn.
struct HostWork(Box<HostFn>);

type HostFn = dyn FnOnce(&mut Context<HostWork>) + Send;

type Codecs<A> = Arc<OnceLock<Arc<dyn EntityCodec<<A as Entity>::Event, A>>>>;

/// Tests one event-sourced [`Entity`]: each [`run_command`](Self::run_command) sends one
/// command and returns the events it persisted, the state after it and its reply;
/// [`restart`](Self::restart) checks that recovery rebuilds the same state. The journal is a
/// [`PersistenceTestKit`] ([`persistence`](Self::persistence)) that can fail, reject or delay
/// writes and reads, or be filled before the entity starts
/// ([`builder`](Self::builder)`().persistence(..)`).
///
/// ```
/// use reactant::prelude::*;
/// use reactant::testkit::EventSourcedBehaviorTestKit;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// enum AccountEvent { Deposited { amount: u64 } }
///
/// #[derive(Debug, Default, Serialize, Deserialize, Entity)]
/// #[entity(type_key = "account", event = AccountEvent)]
/// struct Account { balance: u64 }
///
/// #[entity]
/// impl Account {
///     fn apply(&mut self, event: &AccountEvent) {
///         match event { AccountEvent::Deposited { amount } => self.balance += amount }
///     }
///     pub fn deposit(&self, amount: u64) -> Effect<AccountEvent, u64> {
///         Effect::persist(AccountEvent::Deposited { amount }).then_reply(|s| s.balance)
///     }
/// }
///
/// let mut es = EventSourcedBehaviorTestKit::<Account>::new();
/// let r = es.run_command(|reply_to| AccountCommand::Deposit { amount: 5, reply_to });
/// assert!(matches!(r.events[..], [AccountEvent::Deposited { amount: 5 }]));
/// assert_eq!(r.state.balance, 5);
/// assert_eq!(r.reply, 5);
/// assert_eq!(es.restart().state.balance, 5);
/// ```
pub struct EventSourcedBehaviorTestKit<A: Entity> {
    kit: ActorTestKit,
    storage: PersistenceTestKit,
    entity_id: String,
    persistence_id: PersistenceId,
    host: ActorRef<HostWork>,
    entity: Option<ActorRef<A::Command>>,
    incarnation: u64,
    observations: Receiver<Observation>,
    observer: Sender<Observation>,
    codec: Codecs<A>,
    state_manifest: OnceLock<Manifest>,
    /// The last state observed, encoded: what the next recovery must rebuild.
    last_state: Option<Vec<u8>>,
}

/// Configures an [`EventSourcedBehaviorTestKit`].
pub struct EventSourcedBehaviorTestKitBuilder<A: Entity> {
    entity_id: Option<String>,
    storage: Option<PersistenceTestKit>,
    kit: Option<ActorTestKit>,
    entity: std::marker::PhantomData<fn() -> A>,
}

impl<A: Entity> EventSourcedBehaviorTestKitBuilder<A> {
    /// The entity's id (default `"1"`): its persistence id is `"{TYPE_KEY}|{entity_id}"`.
    pub fn entity_id(mut self, entity_id: impl Into<String>) -> Self {
        self.entity_id = Some(entity_id.into());
        self
    }

    /// The journal and snapshot store, e.g. filled with
    /// [`persist_for_recovery`](super::TestJournal::persist_for_recovery) beforehand.
    pub fn persistence(mut self, storage: PersistenceTestKit) -> Self {
        self.storage = Some(storage);
        self
    }

    /// The actor test kit to run in (e.g. one built to allow dead letters).
    pub fn kit(mut self, kit: ActorTestKit) -> Self {
        self.kit = Some(kit);
        self
    }

    /// Starts the entity and waits for its recovery.
    ///
    /// # Panics
    ///
    /// If the entity does not recover (see [`CommandFailure`]).
    #[track_caller]
    pub fn build(self) -> EventSourcedBehaviorTestKit<A> {
        let kit = self.kit.unwrap_or_default();
        let storage = self.storage.unwrap_or_default();
        let entity_id = self.entity_id.unwrap_or_else(|| "1".to_owned());
        let host = kit.spawn_anonymous(Behaviors::receive(|ctx, HostWork(work)| {
            work(ctx);
            Behaviors::same()
        }));
        let (observer, observations) = crossbeam_channel::unbounded();
        let mut es = EventSourcedBehaviorTestKit {
            persistence_id: PersistenceId::of(A::TYPE_KEY, &entity_id),
            kit,
            storage,
            entity_id,
            host,
            entity: None,
            incarnation: 0,
            observations,
            observer,
            codec: Arc::new(OnceLock::new()),
            state_manifest: OnceLock::new(),
            last_state: None,
        };
        if let Err(failure) = es.start() {
            panic!("EventSourcedBehaviorTestKit: the entity did not start: {failure}");
        }
        es
    }
}

impl<A: Entity> Default for EventSourcedBehaviorTestKit<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Entity> EventSourcedBehaviorTestKit<A> {
    /// The entity `"1"` over an empty test journal, on a new [`ActorTestKit`].
    #[track_caller]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a kit: [`build`](EventSourcedBehaviorTestKitBuilder::build) starts it.
    pub fn builder() -> EventSourcedBehaviorTestKitBuilder<A> {
        EventSourcedBehaviorTestKitBuilder {
            entity_id: None,
            storage: None,
            kit: None,
            entity: std::marker::PhantomData,
        }
    }

    /// The journal and snapshot store, to inject faults or read what was stored.
    pub fn persistence(&self) -> &PersistenceTestKit {
        &self.storage
    }

    /// The actor test kit the entity runs in (probes, dead letters).
    pub fn kit(&self) -> &ActorTestKit {
        &self.kit
    }

    /// The entity's persistence id.
    pub fn persistence_id(&self) -> &PersistenceId {
        &self.persistence_id
    }

    /// The running incarnation's reference, to send it commands directly; `None` once it has
    /// stopped.
    pub fn entity_ref(&self) -> Option<ActorRef<A::Command>> {
        self.entity.clone().filter(|entity| !entity.is_terminated())
    }

    /// The entity's state now: the last one observed (after the last command or recovery),
    /// decoded again.
    ///
    /// # Panics
    ///
    /// If it does not decode (it did when it was observed).
    #[track_caller]
    pub fn state(&self) -> A {
        let Some(bytes) = &self.last_state else {
            panic!("EventSourcedBehaviorTestKit: the entity has no state yet (it never recovered)");
        };
        match self.decode_state(bytes) {
            Ok(state) => state,
            Err(failure) => panic!("EventSourcedBehaviorTestKit: {failure}"),
        }
    }

    /// Sends the command `make(reply_to)` and returns what it persisted, the state after it
    /// and its reply (`Effect::then_reply` goes to `reply_to`).
    ///
    /// # Panics
    ///
    /// With the [`CommandFailure`]'s sentence if the command fails; use
    /// [`try_run_command`](Self::try_run_command) to test failures.
    #[track_caller]
    pub fn run_command<R: Send + 'static>(
        &mut self,
        make: impl FnOnce(ActorRef<R>) -> A::Command,
    ) -> CommandResult<A, R> {
        match self.try_run_command(make) {
            Ok(result) => result,
            Err(failure) => panic!("EventSourcedBehaviorTestKit: {failure}"),
        }
    }

    /// [`run_command`](Self::run_command) for a command that sends no reply.
    #[track_caller]
    pub fn run_command_no_reply(&mut self, command: A::Command) -> CommandResult<A, ()> {
        match self.run(command) {
            Ok((events, state)) => CommandResult {
                events,
                state,
                reply: (),
            },
            Err(failure) => panic!("EventSourcedBehaviorTestKit: {failure}"),
        }
    }

    /// [`run_command`](Self::run_command), returning its failure instead of panicking: a
    /// write the journal failed or rejected, a recovery that failed, a stopped entity.
    pub fn try_run_command<R: Send + 'static>(
        &mut self,
        make: impl FnOnce(ActorRef<R>) -> A::Command,
    ) -> Result<CommandResult<A, R>, CommandFailure> {
        let probe = self.kit.probe::<R>();
        let command = make(probe.r#ref());
        let (events, state) = self.run(command)?;
        let timeout = self.kit.timeout();
        let reply = probe
            .next(timeout)
            .ok_or(CommandFailure::NoReply(timeout))?;
        Ok(CommandResult {
            events,
            state,
            reply,
        })
    }

    /// Sends `command` and waits until its effect is done: the events it stored and the state
    /// after them.
    fn run(&mut self, command: A::Command) -> Result<(Vec<A::Event>, A), CommandFailure> {
        let entity = self.entity_ref().ok_or(CommandFailure::Stopped)?;
        let before = self.highest_stored();
        entity.tell(command);
        let deadline = std::time::Instant::now() + self.kit.timeout();
        let bytes = loop {
            match self.next_observation(&entity, deadline)? {
                Observation::Handled(state) => {
                    break state.map_err(|error| self.codec_failure("the state", error))?;
                }
                Observation::Failed(signal) => return Err(failure_of(signal)),
                // A supervisor restarted the entity; the command is held for it.
                Observation::Recovered(_) => {}
            }
        };
        let state = self.decode_state(&bytes)?;
        self.last_state = Some(bytes);
        let events = self.events_after(before)?;
        Ok((events, state))
    }

    /// The entity's next observation, or why none comes: it stopped (the command sent to it
    /// became a dead letter, which the kit excuses: the failure says it), or `deadline` passed.
    fn next_observation(
        &self,
        entity: &ActorRef<A::Command>,
        deadline: std::time::Instant,
    ) -> Result<Observation, CommandFailure> {
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.observations.recv_timeout(left.min(STOP_CHECK)) {
                Ok(observation) => return Ok(observation),
                Err(_) if entity.is_terminated() => {
                    // An outcome sent just before the stop still counts.
                    if let Ok(observation) = self.observations.try_recv() {
                        return Ok(observation);
                    }
                    self.kit
                        .excuse_dead_letter(entity.path(), std::any::type_name::<A::Command>());
                    return Err(CommandFailure::Stopped);
                }
                Err(_) if left.is_zero() => {
                    return Err(CommandFailure::NoOutcome(self.kit.timeout()));
                }
                Err(_) => {}
            }
        }
    }

    /// Stops the entity (if it still runs), starts it again, and checks that its recovery
    /// rebuilds the state it had (compared as JSON values, so the order of map entries does
    /// not matter). Returns the recovered state.
    ///
    /// # Panics
    ///
    /// If the entity does not recover, or recovers a different state.
    #[track_caller]
    pub fn restart(&mut self) -> RestartResult<A> {
        let before = self.last_state.clone();
        self.stop_entity();
        if let Err(failure) = self.start() {
            panic!("EventSourcedBehaviorTestKit: the entity did not restart: {failure}");
        }
        let state = self.state();
        if let Some(before) = before
            && let Ok(before) = self.decode_state(&before)
        {
            let (was, is) = (serde_json::to_value(&before), serde_json::to_value(&state));
            if let (Ok(was), Ok(is)) = (was, is)
                && was != is
            {
                panic!(
                    "EventSourcedBehaviorTestKit: recovery of {} rebuilt a different state: \
                     before the restart {was}, after it {is}; the event handler must be a pure \
                     function of the state and the event",
                    self.persistence_id
                );
            }
        }
        RestartResult { state }
    }

    fn stop_entity(&mut self) {
        let Some(entity) = self.entity.take() else {
            return;
        };
        let target = entity.clone();
        self.host
            .tell(HostWork(Box::new(move |ctx: &mut Context<HostWork>| {
                // An entity that stopped already is no child any more: nothing to stop.
                let _ = ctx.stop(&target);
            })));
        // `ctx.stop` returns before the actor has stopped: wait until it has.
        let deadline = std::time::Instant::now() + self.kit.timeout();
        while !entity.is_terminated() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Spawns the next incarnation and waits for its recovery.
    fn start(&mut self) -> Result<(), CommandFailure> {
        self.incarnation += 1;
        let behavior = self.behavior();
        let (spawned, spawn_result) = crossbeam_channel::bounded(1);
        let name = format!("{}-{}-{}", A::TYPE_KEY, self.entity_id, self.incarnation).replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
            "-",
        );
        self.host
            .tell(HostWork(Box::new(move |ctx: &mut Context<HostWork>| {
                let _ = spawned.send(ctx.spawn(behavior, &name));
            })));
        let entity = match spawn_result.recv_timeout(self.kit.timeout()) {
            Ok(Ok(entity)) => entity,
            Ok(Err(error)) => {
                panic!("EventSourcedBehaviorTestKit: cannot spawn the entity: {error}")
            }
            Err(_) => return Err(CommandFailure::NoOutcome(self.kit.timeout())),
        };
        self.entity = Some(entity);
        let timeout = self.kit.timeout();
        loop {
            match self.observations.recv_timeout(timeout) {
                Ok(Observation::Recovered(state)) => {
                    let bytes = state.map_err(|error| self.codec_failure("the state", error))?;
                    self.decode_state(&bytes)?;
                    self.last_state = Some(bytes);
                    return Ok(());
                }
                Ok(Observation::Failed(signal)) => return Err(failure_of(signal)),
                // Left from the previous incarnation.
                Ok(Observation::Handled(_)) => {}
                Err(_) => return Err(CommandFailure::NoOutcome(timeout)),
            }
        }
    }

    /// The entity's behavior as [`Entity::behavior`] builds it, with the observer.
    fn behavior(&self) -> EventSourcedBehavior<A::Command, A::Event, A> {
        let codec = self.codec.clone();
        let observer = self.observer.clone();
        let on_command =
            move |ctx: &mut EntityContext<'_, A::Command>, state: &A, command: A::Command| {
                let codec = codec.clone();
                let observer = observer.clone();
                state
                    .handle_command_in(ctx, command)
                    .then_run(move |state| {
                        let _ = observer.send(Observation::Handled(encode(&codec, state)));
                    })
            };
        let codec = self.codec.clone();
        let observer = self.observer.clone();
        let on_signal =
            move |ctx: &mut EntityContext<'_, A::Command>, state: &A, signal: &EntitySignal| {
                state.on_signal(ctx, signal);
                let observation = match signal {
                    EntitySignal::RecoveryCompleted { .. } => {
                        Observation::Recovered(encode(&codec, state))
                    }
                    EntitySignal::RecoveryFailed(_)
                    | EntitySignal::PersistFailed(_)
                    | EntitySignal::PersistRejected(_) => Observation::Failed(signal.clone()),
                    _ => return,
                };
                let _ = observer.send(observation);
            };
        let behavior = A::configure(
            EventSourcedBehavior::with_context(
                self.persistence_id.clone(),
                self.storage.persistence(),
                A::default,
                on_command,
                |state: &mut A, event| state.apply(event),
            )
            .receive_signal_in(on_signal),
        );
        let (codec, state_manifest) = behavior.codec_and_state_manifest();
        let _ = self.codec.set(codec);
        let _ = self.state_manifest.set(state_manifest);
        behavior
    }

    fn decode_state(&self, bytes: &[u8]) -> Result<A, CommandFailure> {
        let (Some(codec), Some(manifest)) = (self.codec.get(), self.state_manifest.get()) else {
            unreachable!("the codec is set when the first incarnation's behavior is built")
        };
        codec
            .decode_state(manifest, bytes)
            .map_err(|error| self.codec_failure("the state", error))
    }

    fn highest_stored(&self) -> SequenceNr {
        self.storage
            .inner()
            .highest_sequence_nr(&self.persistence_id)
            .unwrap_or(0)
    }

    /// The events stored after `after`, decoded with the entity's codec.
    fn events_after(&self, after: SequenceNr) -> Result<Vec<A::Event>, CommandFailure> {
        let Some(codec) = self.codec.get() else {
            unreachable!("the codec is set when the first incarnation's behavior is built")
        };
        let current = A::Event::manifest();
        let stored: Vec<_> = self
            .storage
            .written(&self.persistence_id)
            .into_iter()
            .filter(|repr| repr.sequence_nr > after)
            .collect();
        stored
            .into_iter()
            .map(|repr| {
                codec
                    .decode_event(&current, &repr.manifest, &repr.payload)
                    .map_err(|error| {
                        self.codec_failure(&format!("event {}", repr.sequence_nr), error)
                    })
            })
            .collect()
    }

    fn codec_failure(&self, what: &str, error: CodecError) -> CommandFailure {
        CommandFailure::Codec {
            what: format!("{what} of {}", self.persistence_id),
            error,
        }
    }
}

fn encode<A: Entity>(codec: &Codecs<A>, state: &A) -> Result<Vec<u8>, CodecError> {
    match codec.get() {
        Some(codec) => codec.encode_state(state),
        None => unreachable!("the codec is set before the behavior is spawned"),
    }
}

fn failure_of(signal: EntitySignal) -> CommandFailure {
    match signal {
        EntitySignal::PersistFailed(error) => CommandFailure::PersistFailed(error),
        EntitySignal::PersistRejected(error) => CommandFailure::PersistRejected(error),
        EntitySignal::RecoveryFailed(error) => CommandFailure::RecoveryFailed(error),
        _ => CommandFailure::Stopped,
    }
}

impl<A: Entity> std::fmt::Debug for EventSourcedBehaviorTestKit<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSourcedBehaviorTestKit")
            .field("persistence_id", &self.persistence_id)
            .field("incarnation", &self.incarnation)
            .finish_non_exhaustive()
    }
}
