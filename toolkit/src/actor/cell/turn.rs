//! One turn of an actor: system messages first, then at most `throughput` user messages, each
//! handled by the current behavior, and what the behavior returns applied (including starting
//! a new one). This is the message path; the rare paths it leads to (failures, signals,
//! stopping) live beside it in `supervise`, `signals` and `stop`.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;

use super::super::behavior::{Behavior, Behaviors, Kind};
use super::super::lifecycle::Phase;
use super::super::signal::Signal;
use super::message::{Control, SystemMessage};
use super::supervise::Supervised;
use super::{ActorCell, ActorState};
use crate::dead_letters::DeadLetterReason;
use crate::dispatch::{Runnable, Task};
use crate::supervision::{ActorFailure, DEFAULT_RESTART_STASH, SupervisionState, panic};

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

impl<M: Send + 'static> Runnable for ActorCell<M> {
    fn run(self: Arc<Self>) -> Option<Task> {
        loop {
            // SAFETY: the dispatcher runs a cell only on the worker that holds its schedule (see
            // the `Sync` impl in `cell/mod.rs`); the reference ends with `run_turn`, before
            // `try_idle` or `requeue` may hand the schedule to another worker.
            let turn = self.run_turn(unsafe { &mut *self.state.get() });
            let requeue = match turn {
                // Nobody else waits for this worker: another turn here is fair, and warm.
                Turn::Yield if !self.dispatcher.others_waiting() => continue,
                Turn::Yield => true,
                Turn::Drained => !self.mailbox.try_idle(),
                Turn::Finished => return None,
            };
            if requeue {
                let dispatcher = self.dispatcher.clone();
                dispatcher.requeue(self);
                return None;
            }
            // Idle: the worker may keep the task for this actor's next schedule.
            return Some(self);
        }
    }

    #[cfg(feature = "testkit")]
    fn actor_id(&self) -> u64 {
        self.id
    }
}

impl<M: Send + 'static> ActorCell<M> {
    /// Runs one turn: system messages, then up to `throughput` user messages.
    fn run_turn(self: &Arc<Self>, st: &mut ActorState<M>) -> Turn {
        let throughput = self.dispatcher.throughput();
        if st.ctx.lifecycle.take_first_start() {
            // Spawned with code to run at start: nothing else can be queued before it.
            let behavior = std::mem::replace(&mut st.behavior, Behaviors::empty());
            self.start_behavior(st, behavior, false);
        }
        // The status word's bit, read here, keeps the common turn (user messages only) from
        // calling the out-of-line system path at all: a worker that got this actor from a
        // queue sees every bit set before it was queued.
        if self.mailbox.has_system_hint() {
            self.process_system(st);
        }
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
    /// restart loop cannot monopolise a worker. Out of line: the message path only calls it
    /// when the status word says system messages wait.
    #[inline(never)]
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
                let actor: &mut dyn Any =
                    super::super::behavior::innermost_actor::<M>(actor.as_mut());
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
                #[cfg(feature = "testkit")]
                Control::Signal(signal) => {
                    if st.ctx.lifecycle.is_running() {
                        self.signal(st, signal);
                    }
                }
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
    pub(super) fn become_next(
        self: &Arc<Self>,
        st: &mut ActorState<M>,
        next: Behavior<M>,
        for_message: bool,
    ) {
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
    pub(super) fn start_behavior(
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
                // Met after spawning (returned by `setup` or a handler): everyone already
                // holds the actor's own reference, so its front is not made.
                Kind::Fronted(make) => match panic::catch(|| make()) {
                    Ok((inner, _front)) => inner,
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
}
