//! The running entity: an actor whose every step is a named transition of [`Phase`] (the
//! table is in the module docs of `persistence::entity`).
//!
//! Failures are values. A transition that fails tells the actor runtime with
//! `Context::raise` and an escalation saying how far the supervisor's strategy applies (a
//! failed recovery stops the entity whatever the strategy; a failed or rejected write, or an
//! event handler that panicked on a new event, leaves a state that must not be resumed); the
//! entity then enters [`Phase::Failed`] and handles nothing more. Completions from the reader
//! and writer threads carry the incarnation that asked for them, so a restarted entity never
//! takes its predecessor's outcome.
//!
//! One file, over 600 lines: every transition of [`Phase`] reads and writes the same private
//! `Running` state, and keeping them side by side lets a reader check each against the table;
//! the unit tests at the end are a third of it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::recovery::{self, Recovered};
use super::{Config, EntityContext, EntitySignal};
use crate::actor::{Actor, ActorFailure, Context, InternalSender, Signal};
use crate::dead_letters::DeadLetterReason;
use crate::persistence::effect::{Action, Effect, SideEffect};
use crate::persistence::error::{DeleteError, PersistError, RecoveryError, SnapshotError};
use crate::persistence::event::Event;
use crate::persistence::journal::{AtomicWrite, PersistentRepr, SequenceNr};
use crate::persistence::snapshot::{SnapshotCriteria, SnapshotMetadata, StoredSnapshot};
use crate::persistence::writer::AppendError;
use crate::supervision::Escalation;
use crate::supervision::{backoff_delay, panic};

/// Where the entity is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The recovery job is with the reader thread; commands are held.
    Recovering,
    /// Commands run as they come.
    Running,
    /// One command's events are with the writer, already applied to the state; commands are
    /// held until the write completes.
    Persisting,
    /// A write failed and `with_persist_failure` restarts the entity after a delay; commands are
    /// held.
    BackingOff,
    /// The entity failed and told its supervisor; it handles nothing more (it is about to stop
    /// or restart, and hands its held commands over then).
    Failed,
}

/// The events of one command with the writer: how many, and what runs once they are stored.
struct InFlight<S> {
    events: u64,
    then: Vec<SideEffect<S>>,
    snapshot_due: bool,
}

pub(super) struct EntityActor<C: Send + 'static, E, S> {
    config: Arc<Config<C, E, S>>,
    /// `None` until recovered (and again while backing off): `empty_state` is user code and
    /// runs guarded on the reader thread, with the rest of the recovery.
    state: Option<S>,
    highest: SequenceNr,
    phase: Phase,
    in_flight: Option<InFlight<S>>,
    /// Commands that arrived while not running, or behind others that did, in arrival order.
    commands: VecDeque<C>,
    /// Commands set aside by `Effect::stash`, until `unstash_all`.
    stashed: VecDeque<C>,
    /// Sequence numbers of the snapshots saved by this incarnation, oldest first.
    snapshots_taken: Vec<SequenceNr>,
    internal: InternalSender<C>,
    /// Tells this incarnation's completions from those of one that failed before it.
    incarnation: u64,
    /// `with_persist_failure` restarts so far, and when the last one was.
    restarts: u32,
    last_restart: Option<Instant>,
}

impl<C, E, S> EntityActor<C, E, S>
where
    C: Send + 'static,
    E: Event,
    S: Serialize + DeserializeOwned + Send + 'static,
{
    pub(super) fn new(config: Arc<Config<C, E, S>>, ctx: &Context<C>) -> Self {
        Self {
            config,
            state: None,
            highest: 0,
            phase: Phase::Recovering,
            in_flight: None,
            commands: VecDeque::new(),
            stashed: VecDeque::new(),
            snapshots_taken: Vec::new(),
            internal: ctx.internal_sender(),
            incarnation: fastrand::u64(..),
            restarts: 0,
            last_restart: None,
        }
    }
}

impl<C, E, S> Actor for EntityActor<C, E, S>
where
    C: Send + 'static,
    E: Event,
    S: Serialize + DeserializeOwned + Send + 'static,
{
    type Msg = C;

    fn pre_start(&mut self, ctx: &mut Context<C>) {
        self.start_recovery(ctx);
    }

    fn handle(&mut self, ctx: &mut Context<C>, command: C) {
        if self.phase != Phase::Running || !self.commands.is_empty() {
            self.hold(ctx, command);
        } else {
            self.run_command(ctx, command);
            // An `unstash_all` may have put commands back in line.
            self.run_held(ctx);
        }
        self.update_busy(ctx);
    }

    fn pre_restart(&mut self, ctx: &mut Context<C>) {
        self.signal(ctx, &EntitySignal::PreRestart);
        self.hand_back(ctx);
    }

    fn post_stop(&mut self, ctx: &mut Context<C>) {
        self.signal(ctx, &EntitySignal::PostStop);
        self.hand_back(ctx);
    }

    fn on_signal(&mut self, ctx: &mut Context<C>, signal: &Signal) {
        match signal {
            Signal::Terminated(who) => self.signal(ctx, &EntitySignal::Terminated(who.clone())),
            Signal::ChildFailed(who, failure) => self.signal(
                ctx,
                &EntitySignal::ChildFailed(who.clone(), failure.clone()),
            ),
            Signal::PreRestart | Signal::PostStop => {}
        }
    }
}

impl<C, E, S> EntityActor<C, E, S>
where
    C: Send + 'static,
    E: Event,
    S: Serialize + DeserializeOwned + Send + 'static,
{
    // ----- plumbing -----

    /// Sends `step` to run in this entity's turn, dropped if another incarnation runs by then.
    /// (Generic rather than boxed: a persist's completion costs one allocation.)
    fn send_step(
        internal: &InternalSender<C>,
        incarnation: u64,
        step: impl FnOnce(&mut Self, &mut Context<C>) + Send + 'static,
    ) {
        internal.send(Box::new(move |actor, ctx| {
            if let Some(entity) = actor
                .downcast_mut::<Self>()
                .filter(|entity| entity.incarnation == incarnation)
            {
                step(entity, ctx);
                entity.update_busy(ctx);
            }
        }));
    }

    /// Runs `job` on the persistence id's reader thread; its result comes back as `then`, in
    /// this entity's turn.
    fn on_reader<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
        then: impl FnOnce(&mut Self, &mut Context<C>, T) + Send + 'static,
    ) {
        let internal = self.internal.clone();
        let incarnation = self.incarnation;
        let persistence = self.config.persistence.clone();
        let queued = persistence.run_for(
            &self.config.persistence_id,
            Box::new(move || {
                let outcome = job();
                Self::send_step(&internal, incarnation, move |entity, ctx| {
                    then(entity, ctx, outcome)
                });
            }),
        );
        if queued.is_err() {
            tracing::error!(
                persistence_id = %self.config.persistence_id,
                "the persistence's reader threads are gone (its handle was dropped)"
            );
        }
    }

    /// A passivation waits while the entity recovers, persists, backs off or holds commands:
    /// stopping then would drop commands that were already delivered.
    fn update_busy(&self, ctx: &mut Context<C>) {
        ctx.set_busy(self.phase != Phase::Running || !self.commands.is_empty());
    }

    /// Calls the signal handler, guarded: a panic there fails the entity (it may have been in
    /// the middle of a transition).
    fn signal(&self, ctx: &mut Context<C>, signal: &EntitySignal) {
        let (plain, with_ctx) = (&self.config.signal_handler, &self.config.signal_handler_in);
        if plain.is_none() && with_ctx.is_none() {
            return;
        }
        let empty;
        let state = match &self.state {
            Some(state) => state,
            None => match panic::catch(|| (self.config.empty_state)()) {
                Ok(state) => {
                    empty = state;
                    &empty
                }
                Err(failure) => {
                    tracing::error!(
                        persistence_id = %self.config.persistence_id,
                        %failure,
                        "empty_state panicked, so the signal handler did not see {signal:?}"
                    );
                    return;
                }
            },
        };
        let outcome = panic::catch(|| {
            if let Some(handler) = plain {
                handler(state, signal);
            }
            if let Some(handler) = with_ctx {
                let mut entity_ctx = EntityContext {
                    ctx: &mut *ctx,
                    persistence_id: &self.config.persistence_id,
                    last_sequence_nr: self.highest,
                    sharded: self.config.sharded.as_ref(),
                };
                (handler.lock())(&mut entity_ctx, state, signal);
            }
        });
        if let Err(failure) = outcome {
            let failure = ActorFailure::new(format!(
                "the signal handler of {} panicked on {signal:?}: {failure}",
                self.config.persistence_id
            ));
            ctx.raise(failure.escalate(Escalation::NoResume));
        }
    }

    /// Fails the entity: it handles nothing more until its supervisor restarts or stops it.
    fn fail(&mut self, ctx: &mut Context<C>, message: String, escalation: Escalation) {
        self.phase = Phase::Failed;
        self.in_flight = None;
        ctx.raise(ActorFailure::new(message).escalate(escalation));
    }

    /// Gives the held and stashed commands to the runtime: the next incarnation gets them
    /// first after a restart; after a stop they become dead letters.
    fn hand_back(&mut self, ctx: &mut Context<C>) {
        let mut held = std::mem::take(&mut self.stashed);
        held.append(&mut self.commands);
        ctx.hand_back(held);
    }

    fn hold(&mut self, ctx: &mut Context<C>, command: C) {
        if self.commands.len() >= self.config.command_buffer {
            tracing::warn!(
                persistence_id = %self.config.persistence_id,
                capacity = self.config.command_buffer,
                "command buffer full while recovering or persisting; command dead-lettered"
            );
            ctx.dead_letter(command, DeadLetterReason::CommandBufferFull);
            return;
        }
        self.commands.push_back(command);
    }

    // ----- recovering -----

    /// → recovering: the recovery job goes to the reader thread.
    fn start_recovery(&mut self, ctx: &mut Context<C>) {
        self.phase = Phase::Recovering;
        self.state = None;
        self.update_busy(ctx);
        let config = self.config.clone();
        self.on_reader(
            move || recovery::recover(&config),
            |entity, ctx, outcome| match outcome {
                Ok(recovered) => entity.recovered(ctx, recovered),
                Err(error) => entity.recovery_failed(ctx, error),
            },
        );
    }

    /// recovering → running.
    fn recovered(&mut self, ctx: &mut Context<C>, recovered: Recovered<S>) {
        if self.phase != Phase::Recovering {
            return;
        }
        let Recovered {
            state,
            highest,
            snapshot,
        } = recovered;
        self.state = Some(state);
        self.highest = highest;
        self.phase = Phase::Running;
        if let Some(metadata) = snapshot {
            self.signal(ctx, &EntitySignal::SnapshotRecovered(metadata));
        }
        self.signal(
            ctx,
            &EntitySignal::RecoveryCompleted {
                highest_sequence_nr: highest,
            },
        );
        self.run_held(ctx);
    }

    /// recovering → failed: the entity stops, whatever its supervisor.
    fn recovery_failed(&mut self, ctx: &mut Context<C>, error: RecoveryError) {
        if self.phase != Phase::Recovering {
            return;
        }
        tracing::error!(%error, "recovery failed; the entity stops");
        self.signal(ctx, &EntitySignal::RecoveryFailed(error.clone()));
        self.fail(ctx, error.to_string(), Escalation::Stop);
    }

    // ----- running -----

    /// Handles held commands in order until one starts a persist, or the entity stops or fails.
    fn run_held(&mut self, ctx: &mut Context<C>) {
        while self.phase == Phase::Running && !ctx.stop_requested() && !ctx.raised {
            let Some(command) = self.commands.pop_front() else {
                return;
            };
            self.run_command(ctx, command);
        }
    }

    fn run_command(&mut self, ctx: &mut Context<C>, command: C) {
        let Some(state) = self.state.as_ref() else {
            // Not reachable in `Running`; hold rather than lose it.
            self.commands.push_front(command);
            return;
        };
        let outcome = {
            let mut handler = self.config.command_handler.lock();
            let mut entity_ctx = EntityContext {
                ctx: &mut *ctx,
                persistence_id: &self.config.persistence_id,
                last_sequence_nr: self.highest,
                sharded: self.config.sharded.as_ref(),
            };
            panic::catch(|| handler(&mut entity_ctx, state, command))
        };
        let effect = match outcome {
            Ok(effect) => effect,
            Err(failure) => {
                // The handler only read the state: the supervisor may resume. Held commands
                // wait for the decision; a resume runs them (the drain below), a restart or a
                // stop takes them over.
                ctx.raise(failure);
                self.drain_later();
                return;
            }
        };
        let Effect { action, then, .. } = effect;
        match action {
            Action::None => self.run_side_effects(ctx, then),
            Action::Unhandled => {
                ctx.publish_unhandled();
                self.run_side_effects(ctx, then);
            }
            Action::Stash(command) => {
                match command.downcast::<C>() {
                    Ok(command) if self.stashed.len() < self.config.command_buffer => {
                        self.stashed.push_back(*command);
                    }
                    Ok(command) => {
                        tracing::warn!(
                            persistence_id = %self.config.persistence_id,
                            capacity = self.config.command_buffer,
                            "stash full; command dead-lettered"
                        );
                        ctx.dead_letter(*command, DeadLetterReason::CommandBufferFull);
                    }
                    Err(other) => {
                        tracing::error!(
                            persistence_id = %self.config.persistence_id,
                            expected = std::any::type_name::<C>(),
                            "Effect::stash was given a value that is not the entity's command; \
                             dead-lettered as unhandled"
                        );
                        ctx.dead_letter(other, DeadLetterReason::Unhandled);
                    }
                }
                self.run_side_effects(ctx, then);
            }
            Action::Persist(events) if events.is_empty() => self.run_side_effects(ctx, then),
            Action::Persist(events) => self.persist(ctx, events, then),
        }
    }

    /// After a command handler failed with commands still held: run them in a later turn, if
    /// this incarnation is still running then (a resume). Otherwise the step is dropped.
    fn drain_later(&self) {
        if self.commands.is_empty() {
            return;
        }
        Self::send_step(&self.internal, self.incarnation, |entity, ctx| {
            entity.run_held(ctx)
        });
    }

    /// Runs the side effects of an effect whose action is done, guarded: a panic in one fails
    /// the entity as a handler's would, and the ones after it do not run.
    fn run_side_effects(&mut self, ctx: &mut Context<C>, then: Vec<SideEffect<S>>) {
        let mut stop = false;
        for effect in then {
            match effect {
                SideEffect::Run(run) => {
                    let Some(state) = self.state.as_ref() else {
                        continue;
                    };
                    if let Err(failure) = panic::catch(|| run(state)) {
                        ctx.raise(failure);
                        self.drain_later();
                        return;
                    }
                }
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

    /// running → persisting: encode, apply (the event handler decides whether it accepts the
    /// events before anything is stored), then hand the events to the writer.
    fn persist(&mut self, ctx: &mut Context<C>, events: Vec<E>, then: Vec<SideEffect<S>>) {
        let config = self.config.clone();
        let timestamp_ms = now_ms();
        let mut reprs = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let payload = match panic::catch(|| config.codec.encode_event(event)) {
                Ok(Ok(payload)) => payload,
                Ok(Err(error)) => return self.rejected_by_codec(ctx, PersistError::Encode(error)),
                Err(panic) => {
                    let error = PersistError::EncodePanicked(panic.message().to_owned());
                    return self.rejected_by_codec(ctx, error);
                }
            };
            reprs.push(PersistentRepr {
                persistence_id: config.persistence_id.clone(),
                sequence_nr: self.highest + 1 + index as u64,
                manifest: config.event_manifest.clone(),
                payload,
                tags: tags_of(event, &config.extra_tags),
                writer_id: config.writer_id.clone(),
                timestamp_ms,
                offset: 0,
            });
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let first = self.highest + 1;
        let applied = panic::catch(|| {
            let mut snapshot_due = false;
            for (index, event) in events.iter().enumerate() {
                (config.event_handler)(state, event);
                let sequence_nr = first + index as u64;
                snapshot_due |= config
                    .snapshot_every
                    .is_some_and(|every| sequence_nr.is_multiple_of(every))
                    || config
                        .snapshot_when
                        .as_ref()
                        .is_some_and(|when| when(state, event, sequence_nr));
            }
            snapshot_due
        });
        let snapshot_due = match applied {
            Ok(snapshot_due) => snapshot_due,
            Err(failure) => {
                let message = format!(
                    "the event handler of {} panicked on a new event, which was not persisted: \
                     {failure}",
                    config.persistence_id
                );
                return self.fail(ctx, message, Escalation::NoResume);
            }
        };
        self.phase = Phase::Persisting;
        self.in_flight = Some(InFlight {
            events: events.len() as u64,
            then,
            snapshot_due,
        });
        let internal = self.internal.clone();
        let incarnation = self.incarnation;
        self.config.persistence.writer.append(
            AtomicWrite { events: reprs },
            Box::new(move |outcome| {
                Self::send_step(&internal, incarnation, move |entity, ctx| {
                    entity.persisted(ctx, outcome)
                });
            }),
        );
    }

    /// running → running: the codec refused an event; nothing was applied or sent.
    fn rejected_by_codec(&mut self, ctx: &mut Context<C>, error: PersistError) {
        tracing::warn!(persistence_id = %self.config.persistence_id, %error, "events rejected");
        self.signal(ctx, &EntitySignal::PersistRejected(error));
    }

    // ----- persisting -----

    /// persisting → running (stored), failed (rejected, or failed without a backoff), or
    /// backing off.
    fn persisted(&mut self, ctx: &mut Context<C>, outcome: Result<(), AppendError>) {
        if self.phase != Phase::Persisting {
            return;
        }
        let Some(InFlight {
            events,
            then,
            snapshot_due,
        }) = self.in_flight.take()
        else {
            return;
        };
        match outcome {
            Ok(()) => {
                self.phase = Phase::Running;
                self.highest += events;
                if snapshot_due {
                    self.save_snapshot(ctx);
                }
                self.run_side_effects(ctx, then);
                self.run_held(ctx);
            }
            Err(AppendError::Rejected(rejection)) => {
                let error = PersistError::Rejected(rejection);
                self.signal(ctx, &EntitySignal::PersistRejected(error.clone()));
                let message = format!(
                    "the journal rejected the events of {}: {error}",
                    self.config.persistence_id
                );
                self.fail(ctx, message, Escalation::NoResume);
            }
            Err(failure) => {
                let error = match failure {
                    AppendError::Panicked(message) => PersistError::JournalPanicked(message),
                    AppendError::Failed(error) => PersistError::Journal(error),
                    AppendError::Rejected(rejection) => PersistError::Rejected(rejection),
                };
                self.signal(ctx, &EntitySignal::PersistFailed(error.clone()));
                if self.config.persist_backoff.is_some() && !ctx.raised {
                    self.back_off(ctx);
                } else {
                    let message = format!(
                        "persisting events of {} failed: {error}",
                        self.config.persistence_id
                    );
                    self.fail(ctx, message, Escalation::NoResume);
                }
            }
        }
    }

    // ----- backing off -----

    /// persisting → backing off: drop the state (it holds the events that failed), cancel the
    /// timers, and recover again after the backoff, as a new incarnation.
    fn back_off(&mut self, ctx: &mut Context<C>) {
        let Some(backoff) = &self.config.persist_backoff else {
            return;
        };
        let now = Instant::now();
        if self
            .last_restart
            .is_some_and(|last| now.duration_since(last) >= backoff.reset_after)
        {
            self.restarts = 0;
        }
        let delay = backoff_delay(backoff, self.restarts, fastrand::f64());
        self.restarts = self.restarts.saturating_add(1);
        self.last_restart = Some(now);
        tracing::warn!(
            persistence_id = %self.config.persistence_id,
            ?delay,
            "persist failed; recovering again after a backoff"
        );
        self.phase = Phase::BackingOff;
        self.state = None;
        self.snapshots_taken.clear();
        ctx.cancel_timers();
        // The user stash goes back in line, before the commands that came after it.
        let mut waiting = std::mem::take(&mut self.stashed);
        waiting.append(&mut self.commands);
        self.commands = waiting;
        self.incarnation = fastrand::u64(..);
        let incarnation = self.incarnation;
        ctx.schedule_internal(
            delay,
            Box::new(move |actor, ctx| {
                if let Some(entity) = actor
                    .downcast_mut::<Self>()
                    .filter(|entity| entity.incarnation == incarnation)
                {
                    entity.backoff_elapsed(ctx);
                }
            }),
        );
    }

    /// backing off → recovering.
    fn backoff_elapsed(&mut self, ctx: &mut Context<C>) {
        if self.phase == Phase::BackingOff {
            self.start_recovery(ctx);
        }
    }

    // ----- snapshots and retention -----

    /// Encodes the state here, then saves it on the reader thread; retention follows once the
    /// snapshot is saved (`snapshot_saved`), from this live incarnation only.
    fn save_snapshot(&mut self, ctx: &mut Context<C>) {
        let Some(state) = self.state.as_ref() else {
            return;
        };
        let sequence_nr = self.highest;
        let config = &self.config;
        let payload = match panic::catch(|| config.codec.encode_state(state)) {
            Ok(Ok(payload)) => payload,
            Ok(Err(error)) => {
                return self.signal(
                    ctx,
                    &EntitySignal::SnapshotFailed(SnapshotError::Encode(error)),
                );
            }
            Err(panic) => {
                let error = SnapshotError::EncodePanicked(panic.message().to_owned());
                return self.signal(ctx, &EntitySignal::SnapshotFailed(error));
            }
        };
        let snapshot = StoredSnapshot {
            metadata: SnapshotMetadata {
                persistence_id: config.persistence_id.clone(),
                sequence_nr,
                timestamp_ms: now_ms(),
            },
            manifest: config.state_manifest.clone(),
            payload,
        };
        let persistence = config.persistence.clone();
        self.on_reader(
            move || match panic::catch(|| persistence.snapshots.save(snapshot)) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(SnapshotError::Store(error)),
                Err(panic) => Err(SnapshotError::StorePanicked(panic.message().to_owned())),
            },
            move |entity, ctx, outcome| entity.snapshot_saved(ctx, sequence_nr, outcome),
        );
    }

    fn snapshot_saved(
        &mut self,
        ctx: &mut Context<C>,
        sequence_nr: SequenceNr,
        outcome: Result<(), SnapshotError>,
    ) {
        if let Err(error) = outcome {
            self.signal(ctx, &EntitySignal::SnapshotFailed(error));
            return;
        }
        self.signal(ctx, &EntitySignal::SnapshotCompleted(sequence_nr));
        if !matches!(self.phase, Phase::Running | Phase::Persisting) {
            return;
        }
        self.snapshots_taken.push(sequence_nr);
        let keep = self.config.keep_snapshots;
        if self.snapshots_taken.len() < keep {
            return;
        }
        let oldest_kept = self.snapshots_taken[self.snapshots_taken.len() - keep];
        if self.snapshots_taken.len() > keep {
            self.snapshots_taken.remove(0);
        }
        let persistence = self.config.persistence.clone();
        let persistence_id = self.config.persistence_id.clone();
        let delete_events = self.config.delete_events_on_snapshot;
        // Runs on the stream's reader, so it is done before any later recovery of it reads.
        self.on_reader(
            move || {
                let snapshots = (oldest_kept > 0).then(|| {
                    guarded_delete(|| {
                        persistence.snapshots.delete_matching(
                            &persistence_id,
                            SnapshotCriteria::up_to(oldest_kept - 1),
                        )
                    })
                });
                let events = delete_events.then(|| {
                    guarded_delete(|| persistence.journal.delete_to(&persistence_id, oldest_kept))
                });
                (snapshots, events)
            },
            move |entity, ctx, (snapshots, events)| {
                match snapshots {
                    Some(Ok(())) => entity.signal(
                        ctx,
                        &EntitySignal::DeleteSnapshotsCompleted(oldest_kept - 1),
                    ),
                    Some(Err(error)) => entity.signal(
                        ctx,
                        &EntitySignal::DeleteSnapshotsFailed {
                            to: oldest_kept - 1,
                            error,
                        },
                    ),
                    None => {}
                }
                match events {
                    Some(Ok(())) => {
                        entity.signal(ctx, &EntitySignal::DeleteEventsCompleted(oldest_kept))
                    }
                    Some(Err(error)) => entity.signal(
                        ctx,
                        &EntitySignal::DeleteEventsFailed {
                            to: oldest_kept,
                            error,
                        },
                    ),
                    None => {}
                }
            },
        );
    }
}

fn guarded_delete(
    delete: impl FnOnce() -> Result<(), crate::persistence::JournalError>,
) -> Result<(), DeleteError> {
    match panic::catch(delete) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(DeleteError::Store(error)),
        Err(panic) => Err(DeleteError::Panicked(panic.message().to_owned())),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// An event's own tags, then the entity's (`with_tag`) that it does not have already.
fn tags_of<E: Event>(event: &E, extra: &[String]) -> Vec<String> {
    let mut tags = event.tags();
    for tag in extra {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crossbeam_channel::{Receiver, Sender, unbounded};
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::actor::{ActorRef, ActorSystem, Behavior, Behaviors};
    use crate::ask::Pending;
    use crate::dead_letters::DeadLetter;
    use crate::persistence::entity::{EventSourcedBehavior, Persistence};
    use crate::persistence::journal::PersistenceId;
    use crate::supervision::SupervisorStrategy;

    const WAIT: Duration = Duration::from_secs(10);

    #[derive(Serialize, Deserialize)]
    struct Added(u64);
    impl Event for Added {}

    #[derive(Default, Serialize, Deserialize)]
    struct Total(u64);

    enum Command {
        Add(u64, ActorRef<u64>),
        Boom,
        Unhandled,
        StashWrongType,
    }

    /// A counter whose recovery takes a while (its `empty_state` sleeps on the reader
    /// thread), so that commands told right after the spawn arrive while it recovers.
    fn total(persistence: &Arc<Persistence>) -> EventSourcedBehavior<Command, Added, Total> {
        EventSourcedBehavior::new(
            PersistenceId::of("total", "1"),
            persistence.clone(),
            || {
                std::thread::sleep(Duration::from_millis(300));
                Total::default()
            },
            |_: &Total, command| match command {
                Command::Add(n, reply_to) => {
                    Effect::persist(Added(n)).then_run(move |t: &Total| reply_to.tell(t.0))
                }
                Command::Boom => panic!("the command handler broke"),
                Command::Unhandled => Effect::unhandled(),
                Command::StashWrongType => Effect::stash(42_u8),
            },
            |t: &mut Total, Added(n): &Added| t.0 += n,
        )
    }

    fn started(
        behavior: Behavior<Command>,
    ) -> (ActorSystem, ActorRef<Command>, Receiver<DeadLetter>) {
        let system = ActorSystem::new("running-tests").expect("system");
        let dead = system.dead_letters().subscribe();
        let entity = system.spawn(behavior, "total").expect("spawned");
        (system, entity, dead)
    }

    fn add(entity: &ActorRef<Command>, n: u64) -> Pending<u64> {
        entity.ask(|reply_to| Command::Add(n, reply_to))
    }

    #[test]
    fn after_a_command_handler_panic_under_resume_the_held_commands_still_run_in_order() {
        let persistence = Persistence::in_memory().expect("threads");
        let behavior = Behaviors::supervise(total(&persistence).into_behavior())
            .on_failure(SupervisorStrategy::resume());
        let (_system, entity, _dead) = started(behavior);
        // All held while the entity recovers: the panic happens with the adds behind it.
        entity.tell(Command::Boom);
        let pending: Vec<_> = (1..=3).map(|n| add(&entity, n)).collect();
        let totals: Vec<u64> = pending
            .into_iter()
            .map(|p| p.wait(WAIT).expect("answered after the resume"))
            .collect();
        assert_eq!(totals, [1, 3, 6]);
    }

    #[test]
    fn unhandled_and_wrongly_typed_stash_become_dead_letters() {
        let persistence = Persistence::in_memory().expect("threads");
        let (_system, entity, dead) = started(total(&persistence).into_behavior());
        entity.tell(Command::Unhandled);
        entity.tell(Command::StashWrongType);
        let reasons: Vec<_> = (0..2)
            .map(|_| dead.recv_timeout(WAIT).expect("dead letter").reason)
            .collect();
        assert_eq!(reasons, [DeadLetterReason::Unhandled; 2]);
    }

    #[test]
    fn a_full_command_buffer_dead_letters_what_it_cannot_hold() {
        let persistence = Persistence::in_memory().expect("threads");
        let behavior = total(&persistence).with_command_buffer(2).into_behavior();
        let (_system, entity, dead) = started(behavior);
        // All five arrive while the entity recovers: two are held, three overflow.
        let mut pending: Vec<_> = (1..=5).map(|n| add(&entity, n)).collect();
        let overflow: Vec<_> = (0..3)
            .map(|_| dead.recv_timeout(WAIT).expect("dead letter").reason)
            .collect();
        assert_eq!(overflow, [DeadLetterReason::CommandBufferFull; 3]);
        pending.truncate(2);
        let totals: Vec<u64> = pending
            .into_iter()
            .map(|p| p.wait(WAIT).expect("held, then answered"))
            .collect();
        assert_eq!(totals, [1, 3]);
    }

    #[test]
    fn signals_reach_a_handler_added_to_the_entity_behavior() {
        let persistence = Persistence::in_memory().expect("threads");
        let (seen, signals): (Sender<&'static str>, _) = unbounded();
        let behavior = total(&persistence)
            .into_behavior()
            .receive_signal(move |_, signal| {
                if let crate::actor::Signal::PostStop = signal {
                    let _ = seen.send("post-stop");
                }
                Behaviors::same()
            });
        let (system, _entity, _dead) = started(behavior);
        system.shutdown();
        assert_eq!(signals.recv_timeout(WAIT), Ok("post-stop"));
    }
}
