//! Stopping: the children first, then `PostStop`, then the mailbox closes and what the actor
//! never handled goes to its leftovers keeper or to dead letters; the parent and the watchers
//! are told last.

use std::sync::Arc;

use super::super::actor_ref::AnyActorRef;
use super::super::behavior::Behaviors;
use super::super::lifecycle::Phase;
use super::super::signal::Signal;
use super::message::{Control, SystemMessage};
use super::{ActorCell, ActorState};
use crate::dead_letters::DeadLetterReason;
use crate::event_stream::LifecycleEvent;
use crate::supervision::ActorFailure;

impl<M: Send + 'static> ActorCell<M> {
    pub(super) fn begin_stop(
        self: &Arc<Self>,
        st: &mut ActorState<M>,
        failure: Option<ActorFailure>,
    ) {
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

    pub(super) fn child_terminated(
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
        if self.system.event_stream().wants::<LifecycleEvent>() {
            self.system.event_stream().publish(LifecycleEvent::Stopped {
                actor: self.path(),
                failure: failure.as_ref().map(ToString::to_string),
            });
        }
        let _ = self
            .parent
            .clone()
            .send_control(Control::ChildTerminated { child: me, failure });
        // Drop what the actor held now: its state, timers, and references to others.
        st.behavior = Behaviors::empty();
        st.ctx.clear();
    }

    /// A system message that reached a terminated actor.
    pub(super) fn after_close(self: &Arc<Self>, msg: SystemMessage<M>) {
        match msg {
            // The parent hears of the end through `ChildTerminated` (sent by `finish_stop`,
            // with the failure): a `Terminated` from here could overtake it and turn the
            // parent's `ChildFailed` signal into a plain `Terminated`.
            SystemMessage::Control(Control::Watch(watcher)) if watcher.id() != self.parent.id() => {
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
}
