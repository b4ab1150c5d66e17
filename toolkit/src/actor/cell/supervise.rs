//! The cell's side of supervision: a failure (a panic caught at the actor boundary, or one
//! raised as a value) goes to the actor's strategy, which resumes, restarts (at once or after
//! a backoff, once the children have stopped) or stops the actor.

use std::sync::Arc;
use std::time::Duration;

use super::super::behavior::{Behavior, Behaviors};
use super::super::lifecycle::Phase;
use super::super::signal::Signal;
use super::message::{Control, SystemMessage};
use super::{ActorCell, ActorState};
use crate::event_stream::LifecycleEvent;
use crate::supervision::{
    ActorFailure, Decision, Escalation, SupervisionState, SupervisorStrategy,
};

/// The supervision of an actor spawned under `Behaviors::supervise`: kept out of line, in the
/// context's extras.
pub(crate) struct Supervised<M: Send + 'static> {
    pub(super) state: SupervisionState,
    /// What a restart starts again from; `None` for an actor value, which cannot be restarted.
    pub(super) initial: Option<Behavior<M>>,
    /// The backoff of a restart waiting for children to stop.
    pub(super) pending_delay: Option<Duration>,
    /// Starts (setup, `pre_start`) that failed since the last one that succeeded.
    pub(super) failed_starts: u32,
}

/// Failed starts in a row after which `restart()` without a limit gives up and stops the actor.
pub(crate) const MAX_FAILED_STARTS: u32 = 10;

impl<M: Send + 'static> ActorCell<M> {
    pub(super) fn handle_failure(self: &Arc<Self>, st: &mut ActorState<M>, failure: ActorFailure) {
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
                // The scheduler's clock: the wall clock, or the test's manual time (restart
                // windows and the backoff's quiet period then follow `advance`).
                let now = self.system.scheduler().now();
                let decision = st.ctx.supervision_mut().map_or(Decision::Stop, |s| {
                    let decision = s.state.decide(now);
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

    pub(super) fn restart(
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
        if self.system.event_stream().wants::<LifecycleEvent>() {
            self.system
                .event_stream()
                .publish(LifecycleEvent::Restarted {
                    actor: self.path(),
                    failure: failure.to_string(),
                });
        }
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

    pub(super) fn restart_when_children_stopped(
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

    pub(super) fn restart_now(self: &Arc<Self>, st: &mut ActorState<M>) {
        st.ctx.lifecycle.restart();
        let behavior = std::mem::replace(&mut st.behavior, Behaviors::empty());
        self.start_behavior(st, behavior, false);
    }

    /// A failure raised as a value by the handler that just ran: rare, so kept out of the
    /// message path's inlined code.
    #[cold]
    #[inline(never)]
    pub(super) fn raised_failure(self: &Arc<Self>, st: &mut ActorState<M>) {
        if let Some(failure) = st.ctx.take_raised() {
            self.handle_failure(st, failure);
        }
    }

    /// After code that may have raised a failure as a value ([`Context::raise`](super::super::Context::raise)) or asked to
    /// stop: hands the failure (a panic's, else the raised one) to the supervisor, then stops
    /// if asked to.
    pub(super) fn after_user_code(
        self: &Arc<Self>,
        st: &mut ActorState<M>,
        panicked: Option<ActorFailure>,
    ) {
        let raised = st.ctx.take_raised();
        if let Some(failure) = panicked.or(raised) {
            self.handle_failure(st, failure);
        }
        if st.ctx.lifecycle.take_stop_request() {
            self.begin_stop(st, None);
        }
    }
}
