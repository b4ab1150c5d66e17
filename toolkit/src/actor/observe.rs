//! A behavior wrapper that runs a callback after each message its actor handled: how a
//! balancing pool learns that a routee is free again, without the routee's code knowing.
//!
//! The wrapper follows the behavior through everything it becomes (setup, supervision, the
//! next behavior a handler returns, a restart). The callback also hears of a handler that
//! panicked (a drop guard, while unwinding) and of the restart that follows, so a failing
//! routee is neither given work while its supervisor decides nor left "busy" for good. Handling a message
//! through the wrapper costs one extra indirect call; actors that are not wrapped pay nothing.

use std::sync::Arc;

use super::Actor;
use super::behavior::{Behavior, Kind, Receive};
use super::context::Context;
use super::front::map_fronted;
use super::signal::Signal;
use crate::actor::Behaviors;

/// What the callback is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Observed {
    /// A message was handled.
    Handled,
    /// A handler panicked: the actor's supervisor now restarts or stops it.
    Failed,
    /// The actor is being restarted after a failure; it takes messages again.
    Restarting,
}

/// What runs after each handled message.
pub(crate) type AfterMessage = Arc<dyn Fn(Observed) + Send + Sync>;

/// Calls the callback when dropped: after the handler returned, or while it unwinds.
struct CallOnDrop<'a>(&'a AfterMessage);

impl Drop for CallOnDrop<'_> {
    fn drop(&mut self) {
        (self.0)(if std::thread::panicking() {
            Observed::Failed
        } else {
            Observed::Handled
        });
    }
}

struct ObservedReceive<M: Send + 'static> {
    inner: Arc<dyn Receive<M>>,
    after: AfterMessage,
}

impl<M: Send + 'static> Receive<M> for ObservedReceive<M> {
    fn on_message(&self, ctx: &mut Context<M>, msg: M) -> Behavior<M> {
        let next = {
            let _after = CallOnDrop(&self.after);
            self.inner.on_message(ctx, msg)
        };
        next.after_each_message(self.after.clone())
    }

    fn on_signal(&self, ctx: &mut Context<M>, signal: &Signal) -> Option<Behavior<M>> {
        let next = self
            .inner
            .on_signal(ctx, signal)
            .map(|next| next.after_each_message(self.after.clone()));
        if let Signal::PreRestart = signal {
            (self.after)(Observed::Restarting);
        }
        next
    }
}

/// An object-style actor whose messages are observed.
pub(crate) struct ObservedActor<M: Send + 'static> {
    pub(crate) inner: Box<dyn Actor<Msg = M>>,
    after: AfterMessage,
}

impl<M: Send + 'static> Actor for ObservedActor<M> {
    type Msg = M;

    fn handle(&mut self, ctx: &mut Context<M>, msg: M) {
        let _after = CallOnDrop(&self.after);
        self.inner.handle(ctx, msg);
    }

    fn pre_start(&mut self, ctx: &mut Context<M>) {
        self.inner.pre_start(ctx);
    }

    fn post_stop(&mut self, ctx: &mut Context<M>) {
        self.inner.post_stop(ctx);
    }

    fn pre_restart(&mut self, ctx: &mut Context<M>) {
        self.inner.pre_restart(ctx);
        (self.after)(Observed::Restarting);
    }

    fn on_signal(&mut self, ctx: &mut Context<M>, signal: &Signal) {
        self.inner.on_signal(ctx, signal);
    }
}

impl<M: Send + 'static> Behavior<M> {
    /// This behavior, calling `after` once each message it is given has been handled (or its
    /// handler panicked), whatever the behavior becomes later.
    pub(crate) fn after_each_message(self, after: AfterMessage) -> Behavior<M> {
        let kind = match self.kind {
            Kind::Receive(inner) => Kind::Receive(Arc::new(ObservedReceive { inner, after })),
            Kind::Empty => Kind::Receive(Arc::new(ObservedReceive {
                inner: Behaviors::receive(|_: &mut Context<M>, _: M| Behaviors::unhandled())
                    .into_receive(),
                after,
            })),
            Kind::Ignore => Kind::Receive(Arc::new(ObservedReceive {
                inner: Behaviors::receive(|_: &mut Context<M>, _: M| Behaviors::same())
                    .into_receive(),
                after,
            })),
            Kind::Setup(setup) => Kind::Setup(Arc::new(move |ctx| {
                setup(ctx).after_each_message(after.clone())
            })),
            Kind::Supervise(supervised) => {
                let (inner, strategy) = *supervised;
                Kind::Supervise(Box::new((inner.after_each_message(after), strategy)))
            }
            Kind::Actor(inner) => Kind::Actor(Box::new(ObservedActor { inner, after })),
            Kind::ActorFactory(factory) => Kind::ActorFactory(Arc::new(move || {
                Box::new(ObservedActor {
                    inner: factory(),
                    after: after.clone(),
                }) as Box<dyn Actor<Msg = M>>
            })),
            Kind::Fronted(make) => {
                map_fronted(make, move |inner| inner.after_each_message(after.clone()))
            }
            other @ (Kind::Same | Kind::Unhandled | Kind::Stopped) => other,
        };
        Behavior::from_kind(kind)
    }

    /// The handlers of a behavior made by `Behaviors::receive`.
    fn into_receive(self) -> Arc<dyn Receive<M>> {
        match self.kind {
            Kind::Receive(receive) => receive,
            _ => unreachable!("`Behaviors::receive` makes a receive behavior"),
        }
    }
}
