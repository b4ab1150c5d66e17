//! The actor cell: an actor's mailbox, its current behavior and the lifecycle that runs it.
//!
//! A worker runs a cell for one *turn*: system messages first, then at most `throughput` user
//! messages, then the mailbox decides whether the actor goes idle or back to the end of the
//! queue. Everything the actor owns (behavior, context, held messages) is touched only by the
//! worker that holds the actor's schedule: the mailbox's status word hands that right to one
//! worker at a time (see `dispatch::mailbox`, whose loom models check exactly this), so the
//! state needs no lock of its own.
//!
//! The actor's phase and its transitions are documented in one table, in `actor::lifecycle`;
//! this file moves the actor through them. Stopping stops the children first and waits for
//! each to report back, then delivers `PostStop`, closes the mailbox (leftovers become dead
//! letters, or go to the leftovers keeper) and tells the parent and the watchers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::any::Any;
use std::cell::UnsafeCell;

use super::actor_ref::AnyActorRef;
use super::behavior::{Behavior, Behaviors, Kind};
use super::context::Context;
use super::lifecycle::{Lifecycle, Phase};
use super::path::{ActorPath, anonymous_name};
use super::signal::Signal;
use super::system::SystemCore;
use crate::dead_letters::DeadLetterReason;
use crate::dispatch::mailbox::Mailbox;
use crate::dispatch::{Dispatcher, Runnable};
use crate::supervision::{
    ActorFailure, DEFAULT_RESTART_STASH, Decision, Escalation, SupervisionState,
    SupervisorStrategy, panic,
};
use crate::timers::{TimerKey, TimerTarget};

/// Untyped control messages: what the runtime tells an actor about its life.
pub(crate) enum Control {
    /// Start (or restart) the behavior held in the cell.
    Start,
    /// Stop: children first, then `PostStop`.
    Stop,
    /// Another actor watches this one.
    Watch(AnyActorRef),
    /// That actor (by id) no longer watches this one.
    Unwatch(u64),
    /// A watched actor (not a child) stopped.
    Terminated(AnyActorRef),
    /// A child stopped, because it failed if `failure` is set.
    ChildTerminated {
        child: AnyActorRef,
        failure: Option<ActorFailure>,
    },
    /// The backoff before a restart is over.
    BackoffElapsed,
    /// Stop once every message already queued has been handled and the actor has no work of
    /// its own in progress (sharding's passivation: nothing sent before it is lost).
    StopWhenIdle,
}

/// Runs inside an object-style actor's turn, with the actor itself (as `Any`, for the code
/// that spawned it to downcast) and its context: how runtime extensions such as event-sourced
/// entities get completions (a write became durable, recovery finished) into the actor.
pub(crate) type InternalFn<M> = Box<dyn FnOnce(&mut dyn Any, &mut Context<M>) + Send>;

/// Makes a message for the actor from what another protocol sent: a message adapter's or an
/// ask's mapping, run in the receiving actor's turn so that its failure is that actor's.
pub(crate) type AdaptFn<M> = Box<dyn FnOnce() -> M + Send>;

/// Takes the messages a stopping actor never handled (what it stashed or held, then what was
/// left in its mailbox, oldest first) and returns those it could not place, which become dead
/// letters. Sharding sets one on each entity, so that messages a stopping entity accepted go
/// to its next incarnation.
pub(crate) type LeftoversFn<M> = Box<dyn FnOnce(Vec<M>) -> Vec<M> + Send>;

/// A system message: processed before any user message.
pub(crate) enum SystemMessage<M: Send + 'static> {
    Control(Control),
    Internal(InternalFn<M>),
    /// A message to map (user code) and then handle as a user message.
    Adapted(AdaptFn<M>),
    Timer {
        key: TimerKey,
        generation: u64,
        message: M,
    },
}

/// What the runtime needs of any actor, whatever its message type.
pub(crate) trait CellControl: Send + Sync + 'static {
    fn id(&self) -> u64;
    /// The name given at spawn; `None` for an anonymous actor.
    fn name(&self) -> Option<&str>;
    fn path(&self) -> ActorPath;
    fn is_terminated(&self) -> bool;
    /// Delivers a control message; hands it back if the actor has terminated.
    fn send_control(self: Arc<Self>, control: Control) -> Result<(), Control>;
    /// Records a dead letter in this actor's system (a message for `recipient`, already
    /// dropped).
    fn dead_letter(
        &self,
        recipient: ActorPath,
        message_type: &'static str,
        reason: DeadLetterReason,
    );
}

pub(crate) struct Supervised<M: Send + 'static> {
    state: SupervisionState,
    /// What a restart starts again from; `None` for an actor value, which cannot be restarted.
    initial: Option<Behavior<M>>,
    /// The backoff of a restart waiting for children to stop.
    pending_delay: Option<Duration>,
    /// Starts (setup, `pre_start`) that failed since the last one that succeeded.
    failed_starts: u32,
}

/// Failed starts in a row after which `restart()` without a limit gives up and stops the actor.
pub(crate) const MAX_FAILED_STARTS: u32 = 10;

/// What only the worker running the actor touches. Kept small: an idle actor's whole footprint
/// is this, its mailbox and a few words (see `benches/README.md`).
pub(crate) struct ActorState<M: Send + 'static> {
    behavior: Behavior<M>,
    /// User messages taken out of the mailbox but not handled yet.
    held: Held<M>,
    /// Also holds the [`Lifecycle`] and, out of line, the supervision state: packed there so
    /// an idle actor stays one small allocation.
    ctx: Context<M>,
}

/// A lazily allocated queue: actors that never received a message do not pay for one.
#[allow(
    clippy::box_collection,
    reason = "one word instead of four in every idle actor"
)]
struct Held<M>(Option<Box<VecDeque<M>>>);

impl<M> Held<M> {
    #[inline]
    fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|queue| queue.is_empty())
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |queue| queue.len())
    }

    #[inline]
    fn pop_front(&mut self) -> Option<M> {
        self.0.as_mut()?.pop_front()
    }

    #[inline]
    fn queue(&mut self) -> &mut VecDeque<M> {
        self.0.get_or_insert_with(Box::default)
    }

    fn take_all(&mut self) -> VecDeque<M> {
        self.0.take().map(|queue| *queue).unwrap_or_default()
    }

    /// Puts `front` before what is held, keeping both orders.
    fn prepend(&mut self, mut front: VecDeque<M>) {
        if front.is_empty() {
            return;
        }
        let queue = self.queue();
        front.append(queue);
        *queue = front;
    }
}

/// One actor.
pub(crate) struct ActorCell<M: Send + 'static> {
    mailbox: Mailbox<M, SystemMessage<M>>,
    /// Touched only by the worker holding the schedule (and by `create`, before the cell is
    /// shared).
    state: UnsafeCell<ActorState<M>>,
    id: u64,
    /// `None` for an anonymous actor. One word: the name is read only to build paths.
    name: Option<Arc<String>>,
    parent: Arc<dyn CellControl>,
    system: Arc<SystemCore>,
    dispatcher: Arc<Dispatcher>,
}

impl<M: Send + 'static> ActorCell<M> {
    /// Creates an actor and, if its behavior runs code at start, schedules that start.
    pub(crate) fn create(
        system: &Arc<SystemCore>,
        parent: Arc<dyn CellControl>,
        id: u64,
        name: Option<Arc<String>>,
        behavior: Behavior<M>,
        dispatcher: Arc<Dispatcher>,
        leftovers: Option<LeftoversFn<M>>,
    ) -> Arc<Self> {
        let needs_start = behavior.needs_start();
        let cell = Arc::new_cyclic(|weak| {
            let mut ctx = Context::new(weak.clone(), Lifecycle::new(needs_start));
            if let Some(leftovers) = leftovers {
                ctx.keep_leftovers_with(leftovers);
            }
            Self {
                mailbox: Mailbox::new(),
                state: UnsafeCell::new(ActorState {
                    behavior,
                    held: Held(None),
                    ctx,
                }),
                id,
                name,
                parent,
                system: system.clone(),
                dispatcher,
            }
        });
        if needs_start {
            let _ = Self::send_system(&cell, SystemMessage::Control(Control::Start));
        }
        cell
    }

    pub(crate) fn system(&self) -> &Arc<SystemCore> {
        &self.system
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.mailbox.is_closed()
    }

    pub(crate) fn path(&self) -> ActorPath {
        let parent = self.parent.path();
        match &self.name {
            Some(name) => parent.child(name.as_str()),
            None => parent.child(&anonymous_name(self.id)),
        }
    }

    /// Enqueues a user message; schedules the actor if it was idle.
    #[inline]
    pub(crate) fn tell(this: &Arc<Self>, msg: M) {
        match this.mailbox.push_user(msg) {
            Ok(true) => this.dispatcher.schedule(this.clone()),
            Ok(false) => {}
            Err(msg) => this.system.dead_letters().publish(
                || this.path(),
                msg,
                DeadLetterReason::RecipientStopped,
            ),
        }
    }

    /// Enqueues a user message, or hands it back if the actor takes no more.
    #[inline]
    pub(crate) fn try_tell(this: &Arc<Self>, msg: M) -> Result<(), M> {
        let pushed = this.mailbox.push_user(msg);
        Self::schedule_if_idle(this, pushed)
    }

    /// Enqueues the last user message the actor accepts (a stop message), or hands it back.
    pub(crate) fn tell_last(this: &Arc<Self>, msg: M) -> Result<(), M> {
        let pushed = this.mailbox.push_user_last(msg);
        Self::schedule_if_idle(this, pushed)
    }

    /// After a push: hands an actor the push found idle to its dispatcher.
    #[inline]
    fn schedule_if_idle(this: &Arc<Self>, pushed: Result<bool, M>) -> Result<(), M> {
        if pushed? {
            this.dispatcher.schedule(this.clone());
        }
        Ok(())
    }

    pub(crate) fn send_system(
        this: &Arc<Self>,
        msg: SystemMessage<M>,
    ) -> Result<(), SystemMessage<M>> {
        match this.mailbox.push_system(msg) {
            Ok(true) => {
                this.dispatcher.schedule(this.clone());
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(msg) => Err(msg),
        }
    }

    // ----- one turn -----

    /// Runs one turn: system messages, then up to `throughput` user messages.
    fn run_turn(self: &Arc<Self>, st: &mut ActorState<M>) -> Turn {
        let throughput = self.dispatcher.throughput();
        self.process_system(st);
        let mut handled = 0;
        // Size of the last batch taken in this turn; the first take never waits.
        let mut last_batch = usize::MAX;
        loop {
            match st.ctx.lifecycle.phase() {
                Phase::Running => {}
                Phase::Terminated => return Turn::Finished,
                Phase::Terminating => {
                    self.drain_to_dead_letters();
                    return Turn::Drained;
                }
                Phase::New | Phase::AwaitingChildren | Phase::BackingOff => {
                    self.hold_messages(st);
                    return Turn::Drained;
                }
            }
            if st.held.is_empty() {
                if !self.mailbox.has_user_hint() {
                    if self.mailbox.has_system_hint() {
                        self.process_system(st);
                        continue;
                    }
                    if st.ctx.lifecycle.must_stop_when_idle() {
                        // Refuse further messages (their senders route them elsewhere) and
                        // stop, unless one got in since the hint: then handle it first.
                        if self.mailbox.close_user_if_empty() {
                            st.ctx.lifecycle.stopped_when_idle();
                            self.begin_stop(st, None);
                        }
                        continue;
                    }
                    return Turn::Drained;
                }
                if handled == throughput {
                    return Turn::Yield;
                }
                if last_batch < STREAM_BATCH {
                    // Streaming in small batches: the sender is still writing the queue. A
                    // short pause lets a batch build up, so the queue's cache line moves
                    // between the two cores once per batch rather than once per message.
                    for _ in 0..STREAM_PAUSE {
                        std::hint::spin_loop();
                    }
                }
                // Everything queued, in one swap: the lock is taken once per batch however
                // long, and the throughput bound is kept by counting, not by taking less.
                let system_waiting = self.mailbox.take_user(st.held.queue(), usize::MAX);
                last_batch = st.held.len();
                if system_waiting {
                    self.process_system(st);
                    continue;
                }
            } else if handled == throughput {
                // Fairness: to the back of the queue, even with messages in hand.
                return Turn::Yield;
            }
            if let Some(msg) = st.held.pop_front() {
                self.handle_message(st, msg);
                handled += 1;
                if handled % SHARE_NEXT_EVERY == 0 {
                    // A long turn: an actor it woke may run on an idle worker meanwhile.
                    self.dispatcher.share_next_slot();
                }
            }
        }
    }

    /// Handles the system messages queued now; later ones wait for the next turn, so a
    /// restart loop cannot monopolise a worker.
    fn process_system(self: &Arc<Self>, st: &mut ActorState<M>) {
        let mut batch = Vec::new();
        self.mailbox.take_system(&mut batch);
        for msg in batch {
            if st.ctx.lifecycle.is_terminated() {
                self.after_close(msg);
            } else {
                self.handle_system(st, msg);
            }
        }
    }

    // Kept out of line: system messages are the rare path, and inlining this large match (and
    // the copies of `handle_message` it holds) into the turn loop costs the message path.
    #[inline(never)]
    fn handle_system(self: &Arc<Self>, st: &mut ActorState<M>, msg: SystemMessage<M>) {
        match msg {
            SystemMessage::Timer {
                key,
                generation,
                message,
            } => {
                let live = st.ctx.lifecycle.is_running()
                    && st
                        .ctx
                        .live_timers()
                        .is_some_and(|timers| timers.accept(&key, generation));
                if live {
                    self.handle_message(st, message);
                }
            }
            SystemMessage::Adapted(adapt) => match st.ctx.lifecycle.phase() {
                Phase::Running => match panic::catch(adapt) {
                    Ok(message) => self.handle_message(st, message),
                    Err(failure) => self.handle_failure(st, failure),
                },
                // Restarting: mapped now, handled by the next incarnation like the other
                // messages it holds.
                Phase::New | Phase::AwaitingChildren | Phase::BackingOff => {
                    match panic::catch(adapt) {
                        Ok(message) => st.held.queue().push_back(message),
                        Err(failure) => tracing::error!(
                            actor = %self.path(),
                            %failure,
                            "a message adapter or ask mapping failed while the actor restarted; \
                             the message is dropped"
                        ),
                    }
                }
                Phase::Terminating | Phase::Terminated => {
                    self.after_close(SystemMessage::Adapted(adapt))
                }
            },
            SystemMessage::Internal(internal) => {
                if !st.ctx.lifecycle.is_running() {
                    // The actor it was meant for is restarting or stopping: a fresh incarnation
                    // starts over (an entity recovers from its journal).
                    return;
                }
                let ActorState { behavior, ctx, .. } = st;
                let Kind::Actor(actor) = &mut behavior.kind else {
                    return;
                };
                let actor: &mut dyn Any = super::behavior::innermost_actor::<M>(actor.as_mut());
                let outcome = panic::catch(|| internal(actor, ctx));
                self.after_user_code(st, outcome.err());
            }
            SystemMessage::Control(control) => match control {
                Control::Start => {
                    if st.ctx.lifecycle.phase() == Phase::New {
                        let behavior = std::mem::replace(&mut st.behavior, Behaviors::empty());
                        self.start_behavior(st, behavior, false);
                    }
                }
                Control::Stop => self.begin_stop(st, None),
                Control::Watch(watcher) => st.ctx.add_watcher(watcher),
                Control::Unwatch(id) => st.ctx.remove_watcher(id),
                Control::Terminated(who) => {
                    if st.ctx.stop_watching(who.id()) {
                        match st.ctx.lifecycle.phase() {
                            Phase::Running => self.signal(st, Signal::Terminated(who)),
                            // Restarting: the watch outlives the incarnation, so the next one
                            // gets the signal once it has started.
                            Phase::New | Phase::AwaitingChildren | Phase::BackingOff => {
                                st.ctx.defer_signal(Signal::Terminated(who))
                            }
                            Phase::Terminating | Phase::Terminated => {}
                        }
                    }
                }
                Control::ChildTerminated { child, failure } => {
                    self.child_terminated(st, child, failure)
                }
                Control::BackoffElapsed => {
                    if st.ctx.lifecycle.phase() == Phase::BackingOff {
                        self.restart_now(st);
                    }
                }
                // Checked where a turn finds the mailbox empty.
                Control::StopWhenIdle => st.ctx.lifecycle.stop_when_idle(),
            },
        }
    }

    /// Handles one user (or timer) message with the current behavior.
    #[inline]
    fn handle_message(self: &Arc<Self>, st: &mut ActorState<M>, msg: M) {
        let ActorState { behavior, ctx, .. } = st;
        if let Kind::Actor(actor) = &mut behavior.kind {
            // An object-style actor keeps its behavior: no next behavior is built, moved and
            // matched (moving that 24-byte value through the stack cost ping-pong about 10%).
            match panic::catch(|| actor.handle(ctx, msg)) {
                Ok(()) => {
                    if st.ctx.raised {
                        self.raised_failure(st);
                    }
                }
                Err(failure) => self.handle_failure(st, failure),
            }
        } else {
            let outcome = panic::catch(|| match &mut behavior.kind {
                Kind::Receive(receive) => receive.on_message(ctx, msg),
                Kind::Ignore => Behaviors::same(),
                _ => Behaviors::unhandled(),
            });
            match outcome {
                Ok(next) => {
                    if st.ctx.raised {
                        self.raised_failure(st);
                    }
                    self.become_next(st, next, true)
                }
                Err(failure) => self.handle_failure(st, failure),
            }
        }
        if st.ctx.lifecycle.take_stop_request() {
            self.begin_stop(st, None);
        }
        if let Some(unstashed) = st.ctx.take_unstashed() {
            st.held.prepend(unstashed);
        }
    }

    /// Applies the behavior a handler returned.
    fn become_next(self: &Arc<Self>, st: &mut ActorState<M>, next: Behavior<M>, for_message: bool) {
        match next.kind {
            Kind::Same => {}
            Kind::Unhandled => {
                if for_message {
                    self.system
                        .dead_letters()
                        .publish_unhandled::<M>(|| self.path());
                }
            }
            Kind::Stopped => self.begin_stop(st, None),
            kind => self.start_behavior(st, Behavior::from_kind(kind), true),
        }
    }

    /// Unwraps `setup`, `supervise` and factories until a behavior that handles messages
    /// remains, running user code along the way; any panic goes to the supervisor.
    ///
    /// `replacing`: a handler returned this behavior while the actor runs another, which it
    /// keeps if this one unwraps to `same()` (or `unhandled()`), as in Akka.
    fn start_behavior(
        self: &Arc<Self>,
        st: &mut ActorState<M>,
        behavior: Behavior<M>,
        replacing: bool,
    ) {
        let mut behavior = behavior;
        loop {
            behavior = match behavior.kind {
                Kind::Setup(setup) => match panic::catch(|| setup(&mut st.ctx)) {
                    Ok(next) => next,
                    Err(failure) => return self.handle_failure(st, failure),
                },
                Kind::Supervise(supervised) => {
                    let (inner, strategy) = *supervised;
                    st.ctx.set_supervision(Supervised {
                        state: SupervisionState::new(strategy),
                        initial: inner.try_clone(),
                        pending_delay: None,
                        failed_starts: 0,
                    });
                    inner
                }
                Kind::ActorFactory(factory) => match panic::catch(|| factory()) {
                    Ok(actor) => Behavior::from_kind(Kind::Actor(actor)),
                    Err(failure) => return self.handle_failure(st, failure),
                },
                Kind::Actor(mut actor) => {
                    let started = panic::catch(|| actor.pre_start(&mut st.ctx));
                    st.behavior = Behavior::from_kind(Kind::Actor(actor));
                    st.ctx.lifecycle.start();
                    let failed = started.is_err() || st.ctx.raised;
                    self.after_user_code(st, started.err());
                    if !failed {
                        self.start_succeeded(st);
                    }
                    return;
                }
                // Stopped before it started: no `PostStop`.
                Kind::Stopped => return self.begin_stop(st, None),
                Kind::Same | Kind::Unhandled if replacing => return,
                Kind::Same | Kind::Unhandled => {
                    let failure = ActorFailure::new(
                        "an actor cannot start with Behaviors::same() or Behaviors::unhandled(); \
                         return a receive behavior from setup",
                    );
                    tracing::error!(actor = %self.path(), %failure, "invalid initial behavior");
                    return self.begin_stop(st, Some(failure));
                }
                kind @ (Kind::Receive(_) | Kind::Empty | Kind::Ignore) => {
                    st.behavior = Behavior::from_kind(kind);
                    st.ctx.lifecycle.start();
                    self.start_succeeded(st);
                    return;
                }
            };
        }
    }

    fn start_succeeded(self: &Arc<Self>, st: &mut ActorState<M>) {
        if let Some(supervised) = st.ctx.supervision_mut() {
            supervised.failed_starts = 0;
        }
        for signal in st.ctx.take_deferred_signals() {
            if !st.ctx.lifecycle.is_running() {
                break;
            }
            self.signal(st, signal);
        }
    }

    fn handle_failure(self: &Arc<Self>, st: &mut ActorState<M>, failure: ActorFailure) {
        if matches!(
            st.ctx.lifecycle.phase(),
            Phase::Terminating | Phase::Terminated | Phase::AwaitingChildren | Phase::BackingOff
        ) {
            // Already on its way out or to a restart: this failure changes nothing.
            tracing::error!(actor = %self.path(), %failure, "actor failed again while ending");
            return;
        }
        let during_start = !st.ctx.lifecycle.has_started();
        let decision = match failure.escalation() {
            Escalation::Stop => Decision::Stop,
            escalation => {
                let decision = st.ctx.supervision_mut().map_or(Decision::Stop, |s| {
                    let decision = s.state.decide(Instant::now());
                    if during_start {
                        s.failed_starts = s.failed_starts.saturating_add(1);
                    }
                    // A start that keeps failing under `restart()` without a limit would
                    // restart in a hot loop: after this many in a row the actor stops, as an
                    // actor whose start failed without supervision does.
                    let unlimited = matches!(
                        s.state.strategy(),
                        SupervisorStrategy::Restart { limit: None, .. }
                    );
                    if unlimited && s.failed_starts > MAX_FAILED_STARTS {
                        Decision::Stop
                    } else {
                        decision
                    }
                });
                if escalation == Escalation::NoResume && decision == Decision::Resume {
                    Decision::Stop
                } else {
                    decision
                }
            }
        };
        // An actor that has not started, or is ending, cannot resume.
        let decision = match decision {
            Decision::Resume
                if !(st.ctx.lifecycle.is_running() && st.ctx.lifecycle.has_started()) =>
            {
                Decision::Stop
            }
            decision => decision,
        };
        // A failure that supervision handles by design (a restart, a resume) is a warning; an
        // actor that stops of it is an error.
        match decision {
            Decision::Stop => {
                tracing::error!(actor = %self.path(), %failure, "actor failed; it stops")
            }
            Decision::Resume => {
                tracing::warn!(actor = %self.path(), %failure, "actor failed; it resumes with its state")
            }
            Decision::Restart => {
                tracing::warn!(actor = %self.path(), %failure, "actor failed; it restarts")
            }
            Decision::RestartAfter(delay) => tracing::warn!(
                actor = %self.path(),
                %failure,
                "actor failed; it restarts after {}ms",
                delay.as_millis()
            ),
        }
        match decision {
            Decision::Resume => {}
            Decision::Stop => self.begin_stop(st, Some(failure)),
            Decision::Restart => self.restart(st, None, failure),
            Decision::RestartAfter(delay) => self.restart(st, Some(delay), failure),
        }
    }

    fn restart(
        self: &Arc<Self>,
        st: &mut ActorState<M>,
        delay: Option<Duration>,
        failure: ActorFailure,
    ) {
        let initial = st
            .ctx
            .supervision()
            .and_then(|s| s.initial.as_ref())
            .and_then(Behavior::try_clone);
        let Some(initial) = initial else {
            tracing::error!(
                actor = %self.path(),
                "cannot restart an actor spawned from a value; spawn Behaviors::actor(factory) \
                 (or wrap it in Behaviors::setup) to make it restartable; stopping it instead"
            );
            return self.begin_stop(st, Some(failure));
        };
        // Timers first: the `PreRestart` handler sees none of them active, and none fires into
        // the next incarnation.
        st.ctx.cancel_timers();
        if st.ctx.lifecycle.has_started() {
            self.lifecycle_signal(st, Signal::PreRestart);
        }
        st.ctx.lifecycle.end_incarnation();
        // Stashed messages are kept for the new incarnation, oldest first.
        let stashed = st.ctx.drain_stash();
        st.held.prepend(stashed);
        st.behavior = initial;
        if st.ctx.has_children() {
            if let Some(supervised) = st.ctx.supervision_mut() {
                supervised.pending_delay = delay;
            }
            st.ctx.stop_all_children();
            st.ctx.lifecycle.restart_after_children();
        } else {
            self.restart_when_children_stopped(st, delay);
        }
    }

    fn restart_when_children_stopped(
        self: &Arc<Self>,
        st: &mut ActorState<M>,
        delay: Option<Duration>,
    ) {
        match delay {
            Some(delay) => {
                st.ctx.lifecycle.back_off();
                let cell = Arc::downgrade(self);
                self.system.scheduler().schedule_once(delay, move || {
                    if let Some(cell) = cell.upgrade() {
                        let _ = Self::send_system(
                            &cell,
                            SystemMessage::Control(Control::BackoffElapsed),
                        );
                    }
                });
            }
            None => {
                // Through the mailbox, so that a behavior failing at every start yields the
                // worker between attempts.
                st.ctx.lifecycle.restart();
                let _ = Self::send_system(self, SystemMessage::Control(Control::Start));
            }
        }
    }

    fn restart_now(self: &Arc<Self>, st: &mut ActorState<M>) {
        st.ctx.lifecycle.restart();
        let behavior = std::mem::replace(&mut st.behavior, Behaviors::empty());
        self.start_behavior(st, behavior, false);
    }

    /// While not running (starting, restarting, backing off): keep user messages, up to the
    /// restart stash capacity; dead-letter the rest.
    fn hold_messages(self: &Arc<Self>, st: &mut ActorState<M>) {
        let capacity = st.ctx.supervision().map_or(DEFAULT_RESTART_STASH, |s| {
            s.state.strategy().stash_capacity()
        });
        let room = capacity.saturating_sub(st.held.len());
        self.mailbox.take_user(st.held.queue(), room);
        if st.held.len() < capacity {
            // There was room for everything queued: what arrives from now on is taken at the
            // next turn, not counted as overflow (that would drop messages the buffer can hold).
            return;
        }
        let mut overflow = VecDeque::new();
        self.mailbox.take_user(&mut overflow, usize::MAX);
        for msg in overflow {
            self.system.dead_letters().publish(
                || self.path(),
                msg,
                DeadLetterReason::RestartBufferFull,
            );
        }
    }

    fn drain_to_dead_letters(self: &Arc<Self>) {
        let mut dropped = VecDeque::new();
        self.mailbox.take_user(&mut dropped, usize::MAX);
        for msg in dropped {
            self.system.dead_letters().publish(
                || self.path(),
                msg,
                DeadLetterReason::RecipientStopped,
            );
        }
    }

    /// Delivers a signal that may change the behavior (`Terminated`, `ChildFailed`).
    ///
    /// Death pact (as in Akka): a `Terminated` or `ChildFailed` of a watched actor that the
    /// behavior does not handle (no signal handler, or one returning `unhandled()`) fails the
    /// actor. `ignore()` handles every signal; an object-style [`Actor`](super::Actor) handles
    /// them in `on_signal`, which does nothing by default.
    fn signal(self: &Arc<Self>, st: &mut ActorState<M>, signal: Signal) {
        let ActorState { behavior, ctx, .. } = st;
        let outcome = panic::catch(|| match &mut behavior.kind {
            Kind::Receive(receive) => receive.on_signal(ctx, &signal),
            Kind::Actor(actor) => {
                actor.on_signal(ctx, &signal);
                Some(Behaviors::same())
            }
            Kind::Ignore => Some(Behaviors::same()),
            _ => None,
        });
        let watched = match &signal {
            Signal::Terminated(who) | Signal::ChildFailed(who, _) => Some(who),
            Signal::PreRestart | Signal::PostStop => None,
        };
        let unhandled = matches!(
            &outcome,
            Ok(None)
                | Ok(Some(Behavior {
                    kind: Kind::Unhandled
                }))
        );
        if let (Some(who), true) = (watched, unhandled) {
            let failure = ActorFailure::new(format!(
                "death pact: {} stopped, and this actor watched it without handling its \
                 Terminated signal; handle Signal::Terminated in receive_signal, or unwatch it",
                who.path()
            ));
            return self.handle_failure(st, failure);
        }
        match outcome.map(|next| next.unwrap_or_else(Behaviors::same)) {
            Ok(next) => {
                if st.ctx.raised {
                    self.after_user_code(st, None);
                }
                self.become_next(st, next, false)
            }
            Err(failure) => self.handle_failure(st, failure),
        }
        if st.ctx.lifecycle.take_stop_request() {
            self.begin_stop(st, None);
        }
    }

    /// A failure raised as a value by the handler that just ran: rare, so kept out of the
    /// message path's inlined code.
    #[cold]
    #[inline(never)]
    fn raised_failure(self: &Arc<Self>, st: &mut ActorState<M>) {
        if let Some(failure) = st.ctx.take_raised() {
            self.handle_failure(st, failure);
        }
    }

    /// After code that may have raised a failure as a value ([`Context::raise`]) or asked to
    /// stop: hands the failure (a panic's, else the raised one) to the supervisor, then stops
    /// if asked to.
    fn after_user_code(self: &Arc<Self>, st: &mut ActorState<M>, panicked: Option<ActorFailure>) {
        let raised = st.ctx.take_raised();
        if let Some(failure) = panicked.or(raised) {
            self.handle_failure(st, failure);
        }
        if st.ctx.lifecycle.take_stop_request() {
            self.begin_stop(st, None);
        }
    }

    /// Delivers `PreRestart` or `PostStop`: the behavior is ending, so what it returns is
    /// ignored and a panic is only logged.
    fn lifecycle_signal(self: &Arc<Self>, st: &mut ActorState<M>, signal: Signal) {
        let ActorState { behavior, ctx, .. } = st;
        let outcome = panic::catch(|| match &mut behavior.kind {
            Kind::Receive(receive) => drop(receive.on_signal(ctx, &signal)),
            Kind::Actor(actor) => match signal {
                Signal::PostStop => actor.post_stop(ctx),
                Signal::PreRestart => actor.pre_restart(ctx),
                ref other => actor.on_signal(ctx, other),
            },
            _ => {}
        });
        // The behavior is ending: a failure here (a panic, or one raised as a value) is only
        // logged, and must not fail the next incarnation.
        let raised = st.ctx.take_raised();
        if let Some(failure) = outcome.err().or(raised) {
            tracing::error!(actor = %self.path(), %failure, ?signal, "actor failed in a lifecycle signal handler");
        }
    }

    fn begin_stop(self: &Arc<Self>, st: &mut ActorState<M>, failure: Option<ActorFailure>) {
        if !st.ctx.lifecycle.begin_stop() {
            return;
        }
        if let Some(failure) = failure {
            st.ctx.set_failure(failure);
        }
        st.ctx.cancel_timers();
        if st.ctx.has_children() {
            st.ctx.stop_all_children();
        } else {
            self.finish_stop(st);
        }
    }

    fn child_terminated(
        self: &Arc<Self>,
        st: &mut ActorState<M>,
        child: AnyActorRef,
        failure: Option<ActorFailure>,
    ) {
        let watched = st.ctx.remove_child(&child);
        if watched && st.ctx.lifecycle.is_running() {
            let signal = match failure {
                Some(failure) => Signal::ChildFailed(child, failure),
                None => Signal::Terminated(child),
            };
            self.signal(st, signal);
        }
        if st.ctx.has_children() {
            return;
        }
        match st.ctx.lifecycle.phase() {
            Phase::Terminating => self.finish_stop(st),
            Phase::AwaitingChildren => {
                let delay = st
                    .ctx
                    .supervision_mut()
                    .and_then(|s| s.pending_delay.take());
                self.restart_when_children_stopped(st, delay);
            }
            _ => {}
        }
    }

    fn finish_stop(self: &Arc<Self>, st: &mut ActorState<M>) {
        if st.ctx.lifecycle.has_started() {
            self.lifecycle_signal(st, Signal::PostStop);
        }
        st.ctx.lifecycle.terminate();
        let leftovers = self.mailbox.close();
        // Oldest first: what the actor set aside, what it held, what was still queued.
        let mut unhandled: Vec<M> = st
            .ctx
            .drain_stash()
            .into_iter()
            .chain(st.held.take_all())
            .chain(leftovers.user)
            .collect();
        // Not to an incarnation that would fail on them the same way: a start that failed
        // (or never came), a failure that stops whatever the strategy.
        if let Some(keep) = st.ctx.take_leftovers_keeper()
            && !unhandled.is_empty()
            && !st.ctx.stops_for_good()
        {
            unhandled = keep(unhandled);
        }
        let dead_letters = self.system.dead_letters();
        for msg in unhandled {
            dead_letters.publish(|| self.path(), msg, DeadLetterReason::RecipientStopped);
        }
        for msg in leftovers.system {
            self.after_close(msg);
        }
        st.ctx.unwatch_all(self.id);
        let me = AnyActorRef(self.clone());
        let parent_id = self.parent.id();
        for watcher in st.ctx.take_watchers() {
            if watcher.id() != parent_id {
                let _ = watcher.0.send_control(Control::Terminated(me.clone()));
            }
        }
        let failure = st.ctx.take_failure();
        let _ = self
            .parent
            .clone()
            .send_control(Control::ChildTerminated { child: me, failure });
        // Drop what the actor held now: its state, timers, and references to others.
        st.behavior = Behaviors::empty();
        st.ctx.clear();
    }

    /// A system message that reached a terminated actor.
    fn after_close(self: &Arc<Self>, msg: SystemMessage<M>) {
        match msg {
            SystemMessage::Control(Control::Watch(watcher)) => {
                let _ = watcher
                    .0
                    .send_control(Control::Terminated(AnyActorRef(self.clone())));
            }
            SystemMessage::Adapted(_) => self.system.dead_letters().publish_named(
                self.path(),
                std::any::type_name::<M>(),
                DeadLetterReason::RecipientStopped,
            ),
            _ => {}
        }
    }

    /// Delivers a message to map in the actor's turn (see [`AdaptFn`]); a dead letter if the
    /// actor has terminated.
    pub(crate) fn tell_adapted(this: &Arc<Self>, adapt: AdaptFn<M>) {
        if let Err(msg) = Self::send_system(this, SystemMessage::Adapted(adapt)) {
            this.after_close(msg);
        }
    }
}

/// Every this many messages of one turn, the worker lets idle workers take the actor it woke
/// last (see `Dispatcher::share_next_slot`). A ping-pong turn (one message) never gets there,
/// so the pair stays on one warm core.
const SHARE_NEXT_EVERY: usize = 16;

/// A batch smaller than this, taken in the middle of a turn, means a sender is streaming.
const STREAM_BATCH: usize = 16;
/// Pause before taking the next batch of a stream, in spin-loop hints.
const STREAM_PAUSE: u32 = 16;

/// How a turn ended.
enum Turn {
    /// Used up its throughput with work left: back of the queue.
    Yield,
    /// Nothing left in hand: go idle unless something arrived meanwhile.
    Drained,
    /// Terminated: never run again.
    Finished,
}

// SAFETY: every field is `Sync` but `state`, and `state` is only ever accessed by the one
// worker that holds the actor's schedule (`Runnable::run`), or by `create` before the cell is
// shared. The mailbox hands the schedule to one worker at a time, and everything a worker did
// before letting go (under the queue lock, in `Mailbox::try_idle`) happens-before the next
// worker's turn. The loom models in `dispatch::mailbox` check this protocol with the state as
// a loom `UnsafeCell`.
unsafe impl<M: Send + 'static> Sync for ActorCell<M> {}

impl<M: Send + 'static> Runnable for ActorCell<M> {
    fn run(self: Arc<Self>) {
        loop {
            // SAFETY: the dispatcher runs a cell only for the worker that won its schedule (see
            // the `Sync` impl above); the reference ends with `run_turn`, before `try_idle` may
            // hand the schedule to another worker.
            let turn = self.run_turn(unsafe { &mut *self.state.get() });
            let requeue = match turn {
                // Nobody else waits for this worker: another turn here is fair, and warm.
                Turn::Yield if !self.dispatcher.others_waiting() => continue,
                Turn::Yield => true,
                Turn::Drained => !self.mailbox.try_idle(),
                Turn::Finished => false,
            };
            if requeue {
                let dispatcher = self.dispatcher.clone();
                dispatcher.requeue(self);
            }
            return;
        }
    }
}

/// Timer messages come from the scheduler thread as system messages; `handle_system` asks the
/// actor's [`Timers`](crate::timers::Timers) whether each is still live.
impl<M: Send + 'static> TimerTarget<M> for ActorCell<M> {
    fn deliver_timer(self: Arc<Self>, key: TimerKey, generation: u64, message: M) -> bool {
        let timer = SystemMessage::Timer {
            key,
            generation,
            message,
        };
        Self::send_system(&self, timer).is_ok()
    }
}

impl<M: Send + 'static> CellControl for ActorCell<M> {
    fn id(&self) -> u64 {
        self.id
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref().map(String::as_str)
    }

    fn path(&self) -> ActorPath {
        ActorCell::path(self)
    }

    fn is_terminated(&self) -> bool {
        self.mailbox.is_closed()
    }

    fn dead_letter(
        &self,
        recipient: ActorPath,
        message_type: &'static str,
        reason: DeadLetterReason,
    ) {
        self.system
            .dead_letters()
            .publish_named(recipient, message_type, reason);
    }

    fn send_control(self: Arc<Self>, control: Control) -> Result<(), Control> {
        match Self::send_system(&self, SystemMessage::Control(control)) {
            Ok(()) => Ok(()),
            Err(SystemMessage::Control(control)) => Err(control),
            Err(
                SystemMessage::Timer { .. }
                | SystemMessage::Internal(_)
                | SystemMessage::Adapted(_),
            ) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The footprint target of an idle actor (≤ 256 bytes beyond its state, its parent's
    /// registry entry and its behavior's allocation included) leaves room for this much: with
    /// the `Arc` header, 184 bytes is one 192-byte malloc chunk.
    #[test]
    fn an_idle_actor_cell_fits_in_one_small_allocation() {
        let with_arc_header =
            std::mem::size_of::<ActorCell<u64>>() + 2 * std::mem::size_of::<usize>();
        assert!(
            with_arc_header <= 184,
            "ActorCell grew to {with_arc_header} bytes"
        );
    }
}
