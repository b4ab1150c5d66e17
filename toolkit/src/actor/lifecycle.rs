//! The actor lifecycle: where an actor is in its life, and every way it moves on.
//!
//! One [`Lifecycle`] per actor, touched only by the worker running the actor's turn (it lives
//! in the actor's [`Context`](super::Context), packed beside the other per-actor words). The
//! cell calls the named transitions below; nothing else writes the phase.
//!
//! | phase              | the behavior                                   | user messages        |
//! |--------------------|------------------------------------------------|----------------------|
//! | `New`              | not started: its next turn starts it           | held for it          |
//! | `Running`          | handles messages and signals                   | handled              |
//! | `AwaitingChildren` | restarting: waits for its children to stop     | held for the next    |
//! | `BackingOff`       | restarting after the supervisor's backoff      | held for the next    |
//! | `Terminating`      | stopping: waits for its children to stop       | dead letters         |
//! | `Terminated`       | gone: `PostStop` delivered, mailbox closed     | refused              |
//!
//! Messages are held up to the restart stash's capacity (the supervisor strategy's), the rest
//! become dead letters. Transitions, all of them here:
//!
//! - `(spawn) → New | Running` ([`Lifecycle::new`]): `New` if the behavior runs code at start
//!   (setup, a factory, `pre_start`), which then runs at the very beginning of the actor's
//!   first turn (the cell is created scheduled, with no message queued:
//!   [`Lifecycle::take_first_start`]); `Running` if it can take messages at once.
//! - `New | Running → Running` ([`Lifecycle::start`]): the behavior unwrapped to one that
//!   handles messages (from `New`: the incarnation's first; from `Running`: one a handler
//!   returned, replacing the current one). From here on the incarnation has *started*: it gets
//!   `PreRestart` or `PostStop` when it ends.
//! - `New | Running → AwaitingChildren` ([`Lifecycle::restart_after_children`]): the
//!   supervisor restarts the actor, and its children must stop first.
//! - `New | Running | AwaitingChildren → BackingOff` ([`Lifecycle::back_off`]): children gone,
//!   the restart waits for the backoff; its end queues `BackoffElapsed`.
//! - `New | Running | AwaitingChildren | BackingOff → New` ([`Lifecycle::restart`]): children
//!   gone (and backoff over), the initial behavior starts again, when the `Start` system
//!   message queued then is handled (in order with the system messages queued before it).
//! - `any but Terminating | Terminated → Terminating` ([`Lifecycle::begin_stop`]): the
//!   actor stops (asked to, returned `stopped()`, or its supervisor stopped it), its children
//!   first.
//! - `Terminating → Terminated` ([`Lifecycle::terminate`]): the children have stopped;
//!   `PostStop` if it had started, then the mailbox closes and parent and watchers are told.
//!
//! Beside the phase, three requests that code running in a turn makes, and the cell acts on
//! when that code returns: stop after this handler ([`Lifecycle::request_stop`], for
//! `Context::stop_self`), stop once idle (sharding's passivation,
//! [`Lifecycle::stop_when_idle`]), and whether the actor holds work of its own that such a stop
//! waits for ([`Lifecycle::set_busy`]).

/// Where an actor is in its life; see the module docs for the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The behavior in the cell has not been started: the first turn starts it (at spawn), or
    /// a queued `Start` (at a restart).
    New,
    Running,
    /// Restarting: waiting for the children to stop; then restarting after the supervisor's
    /// pending delay, if any.
    AwaitingChildren,
    /// Restarting after a delay; messages are held meanwhile.
    BackingOff,
    /// Stopping: waiting for the children to stop.
    Terminating,
    Terminated,
}

/// An actor's phase and the lifecycle requests pending on it.
pub(crate) struct Lifecycle {
    phase: Phase,
    /// The current incarnation's behavior has started (so it gets `PostStop` / `PreRestart`).
    started: bool,
    /// `Context::stop_self` was called by the code running now.
    stop_requested: bool,
    /// Stop as soon as the mailbox is drained and the actor is not `busy` (passivation).
    stop_when_idle: bool,
    /// The actor holds work of its own that a passivation must wait for (an event-sourced
    /// entity recovering, persisting, or holding commands).
    busy: bool,
    /// Spawned `New`: the first turn must start the behavior before anything else.
    first_start: bool,
}

impl Lifecycle {
    /// A spawned actor: `New` if its behavior must run code to start, else `Running` (and
    /// started).
    pub(crate) fn new(needs_start: bool) -> Self {
        let phase = if needs_start {
            Phase::New
        } else {
            Phase::Running
        };
        Self {
            phase,
            started: !needs_start,
            stop_requested: false,
            stop_when_idle: false,
            busy: false,
            first_start: needs_start,
        }
    }

    /// True once, at the beginning of the first turn of an actor spawned `New`: the turn must
    /// start the behavior now. An actor is spawned with no `Start` message queued (that would
    /// cost its mailbox a queue allocation, for a message that carries nothing).
    #[inline]
    pub(crate) fn take_first_start(&mut self) -> bool {
        std::mem::take(&mut self.first_start)
    }

    #[inline]
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// Handles messages and signals now.
    #[inline]
    pub(crate) fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }

    /// Stopping or stopped: nothing it does from now on is kept.
    #[inline]
    pub(crate) fn is_ending(&self) -> bool {
        matches!(self.phase, Phase::Terminating | Phase::Terminated)
    }

    #[inline]
    pub(crate) fn is_terminated(&self) -> bool {
        self.phase == Phase::Terminated
    }

    /// The current incarnation's behavior has started: it gets `PreRestart` or `PostStop`
    /// when it ends.
    #[inline]
    pub(crate) fn has_started(&self) -> bool {
        self.started
    }

    /// `New | Running → Running`: the behavior unwrapped to one that handles messages.
    pub(crate) fn start(&mut self) {
        debug_assert!(matches!(self.phase, Phase::New | Phase::Running));
        self.phase = Phase::Running;
        self.started = true;
    }

    /// The incarnation that ran is over (its `PreRestart` delivered): the next has not
    /// started. The phase moves on with [`restart_after_children`](Self::restart_after_children),
    /// [`back_off`](Self::back_off) or [`restart`](Self::restart).
    pub(crate) fn end_incarnation(&mut self) {
        self.started = false;
    }

    /// `New | Running → AwaitingChildren`: restarting, once the children have stopped.
    pub(crate) fn restart_after_children(&mut self) {
        debug_assert!(matches!(self.phase, Phase::New | Phase::Running));
        self.phase = Phase::AwaitingChildren;
    }

    /// `→ BackingOff`: restarting after the supervisor's backoff; no children are left.
    pub(crate) fn back_off(&mut self) {
        debug_assert!(!self.is_ending());
        self.phase = Phase::BackingOff;
    }

    /// `→ New`: the initial behavior starts again (no children left, any backoff over).
    pub(crate) fn restart(&mut self) {
        debug_assert!(!self.is_ending());
        self.phase = Phase::New;
    }

    /// `→ Terminating`: false (and nothing changes) if the actor is ending already.
    pub(crate) fn begin_stop(&mut self) -> bool {
        if self.is_ending() {
            return false;
        }
        self.phase = Phase::Terminating;
        true
    }

    /// `Terminating → Terminated`: the children have stopped.
    pub(crate) fn terminate(&mut self) {
        debug_assert_eq!(self.phase, Phase::Terminating);
        self.phase = Phase::Terminated;
    }

    /// Stop once the code running now returns (`Context::stop_self`).
    #[inline]
    pub(crate) fn request_stop(&mut self) {
        self.stop_requested = true;
    }

    #[inline]
    pub(crate) fn stop_requested(&self) -> bool {
        self.stop_requested
    }

    /// Whether a stop was requested since the last call (which forgets the request).
    #[inline]
    pub(crate) fn take_stop_request(&mut self) -> bool {
        std::mem::take(&mut self.stop_requested)
    }

    /// Stop once every message queued now has been handled and the actor is not busy.
    pub(crate) fn stop_when_idle(&mut self) {
        self.stop_when_idle = true;
    }

    /// Whether an idle actor (nothing queued) must stop now: passivation asked for it and no
    /// work of its own is in progress.
    #[inline]
    pub(crate) fn must_stop_when_idle(&self) -> bool {
        self.stop_when_idle && !self.busy
    }

    /// The stop-when-idle request has been acted on (the mailbox refuses user messages).
    pub(crate) fn stopped_when_idle(&mut self) {
        self.stop_when_idle = false;
    }

    #[inline]
    pub(crate) fn set_busy(&mut self, busy: bool) {
        self.busy = busy;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actor_without_start_code_is_running_and_started_from_its_spawn() {
        let lifecycle = Lifecycle::new(false);
        assert!(lifecycle.is_running() && lifecycle.has_started());
        let lifecycle = Lifecycle::new(true);
        assert_eq!(lifecycle.phase(), Phase::New);
        assert!(!lifecycle.has_started());
    }

    #[test]
    fn a_restart_goes_through_new_and_starts_a_fresh_incarnation() {
        let mut lifecycle = Lifecycle::new(false);
        lifecycle.end_incarnation();
        lifecycle.restart_after_children();
        assert_eq!(lifecycle.phase(), Phase::AwaitingChildren);
        lifecycle.back_off();
        assert_eq!(lifecycle.phase(), Phase::BackingOff);
        lifecycle.restart();
        assert_eq!(lifecycle.phase(), Phase::New);
        assert!(!lifecycle.has_started());
        lifecycle.start();
        assert!(lifecycle.is_running() && lifecycle.has_started());
    }

    #[test]
    fn stopping_happens_once_and_ends_terminated() {
        let mut lifecycle = Lifecycle::new(false);
        assert!(lifecycle.begin_stop());
        assert!(lifecycle.is_ending() && !lifecycle.is_terminated());
        assert!(!lifecycle.begin_stop(), "a second stop changes nothing");
        lifecycle.terminate();
        assert!(lifecycle.is_terminated());
        assert!(!lifecycle.begin_stop());
    }

    #[test]
    fn a_stop_when_idle_waits_while_the_actor_is_busy() {
        let mut lifecycle = Lifecycle::new(false);
        assert!(!lifecycle.must_stop_when_idle());
        lifecycle.set_busy(true);
        lifecycle.stop_when_idle();
        assert!(!lifecycle.must_stop_when_idle());
        lifecycle.set_busy(false);
        assert!(lifecycle.must_stop_when_idle());
        lifecycle.stopped_when_idle();
        assert!(!lifecycle.must_stop_when_idle());
    }

    #[test]
    fn a_stop_request_is_taken_once() {
        let mut lifecycle = Lifecycle::new(false);
        assert!(!lifecycle.take_stop_request());
        lifecycle.request_stop();
        assert!(lifecycle.take_stop_request());
        assert!(!lifecycle.take_stop_request());
    }
}
