//! Signals: `Terminated` and `ChildFailed`, which the behavior may handle (or fail of, by the
//! death pact), and `PreRestart` and `PostStop`, which end an incarnation.

use std::sync::Arc;

use super::super::behavior::{Behavior, Behaviors, Kind};
use super::super::signal::Signal;
use super::{ActorCell, ActorState};
use crate::supervision::{ActorFailure, panic};

impl<M: Send + 'static> ActorCell<M> {
    /// Delivers a signal that may change the behavior (`Terminated`, `ChildFailed`).
    ///
    /// Death pact (as in Akka): a `Terminated` or `ChildFailed` of a watched actor that the
    /// behavior does not handle (no signal handler, or one returning `unhandled()`) fails the
    /// actor. `ignore()` handles every signal; an object-style [`Actor`](super::super::Actor) handles
    /// them in `on_signal`, which does nothing by default.
    pub(super) fn signal(self: &Arc<Self>, st: &mut ActorState<M>, signal: Signal) {
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

    /// Delivers `PreRestart` or `PostStop`: the behavior is ending, so what it returns is
    /// ignored and a panic is only logged.
    pub(super) fn lifecycle_signal(self: &Arc<Self>, st: &mut ActorState<M>, signal: Signal) {
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
}
