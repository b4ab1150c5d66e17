//! Behaviors: what an actor does with its next message, as values (Akka Typed's functional
//! style). A handler returns the behavior for the next message: `same()` to keep it, another
//! behavior to change, `stopped()` to stop.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::context::Context;
use super::front::{FrontedFn, map_fronted};
use super::object::Actor;
use super::observe::ObservedActor;
use super::signal::Signal;
use super::stash::StashBuffer;
use crate::supervision::SupervisorStrategy;
use crate::timers::Timers;

pub(crate) type SignalHandler<M> = dyn Fn(&mut Context<M>, &Signal) -> Behavior<M> + Send + Sync;
pub(crate) type SetupFn<M> = dyn Fn(&mut Context<M>) -> Behavior<M> + Send + Sync;
pub(crate) type ActorFactory<M> = dyn Fn() -> Box<dyn Actor<Msg = M>> + Send + Sync;

/// What an actor does with the messages of type `M` it receives. Build one with
/// [`Behaviors`]; behaviors are values, and handlers return the behavior for the next message.
///
/// Functional behaviors (`receive`, `setup`, …) are immutable and cheap to clone, so a
/// supervisor can restart an actor from its initial behavior. For mutable state in place,
/// implement [`Actor`] instead.
///
/// ```
/// use reactant::prelude::*;
///
/// enum Counter { Add(u64), Get(ActorRef<u64>) }
///
/// fn counter(total: u64) -> Behavior<Counter> {
///     Behaviors::receive_message(move |msg| match msg {
///         Counter::Add(n) => counter(total + n),
///         Counter::Get(reply_to) => {
///             reply_to.tell(total);
///             Behaviors::same()
///         }
///     })
/// }
/// # drop(counter(0));
/// ```
#[must_use = "a behavior does nothing until an actor is spawned with it or a handler returns it"]
pub struct Behavior<M: Send + 'static> {
    pub(crate) kind: Kind<M>,
}

pub(crate) enum Kind<M: Send + 'static> {
    Same,
    Unhandled,
    Stopped,
    Empty,
    Ignore,
    Receive(Arc<dyn Receive<M>>),
    Setup(Arc<SetupFn<M>>),
    /// Boxed: supervision is rare and the strategy is large; `Behavior` stays two words.
    Supervise(Box<(Behavior<M>, SupervisorStrategy)>),
    /// An object-style actor instance: runs once; restarting it needs a factory.
    Actor(Box<dyn Actor<Msg = M>>),
    /// Makes a fresh object-style actor at every (re)start.
    ActorFactory(Arc<ActorFactory<M>>),
    /// A behavior with a front its spawner gets instead of the actor's own reference (see
    /// `front.rs`); resolved at spawn, and like `Setup` if met later.
    Fronted(Arc<FrontedFn<M>>),
}

/// The handlers of a `receive` behavior, in one allocation with the user's closure.
pub(crate) trait Receive<M: Send + 'static>: Send + Sync + 'static {
    fn on_message(&self, ctx: &mut Context<M>, msg: M) -> Behavior<M>;
    /// `None`: this behavior has no signal handler.
    fn on_signal(&self, ctx: &mut Context<M>, signal: &Signal) -> Option<Behavior<M>>;
}

struct OnMessage<F>(F);

impl<M, F> Receive<M> for OnMessage<F>
where
    M: Send + 'static,
    F: Fn(&mut Context<M>, M) -> Behavior<M> + Send + Sync + 'static,
{
    #[inline]
    fn on_message(&self, ctx: &mut Context<M>, msg: M) -> Behavior<M> {
        (self.0)(ctx, msg)
    }

    fn on_signal(&self, _: &mut Context<M>, _: &Signal) -> Option<Behavior<M>> {
        None
    }
}

/// A receive behavior with a signal handler added by `receive_signal`. `on_message: None`
/// leaves messages unhandled (an `empty` behavior with a signal handler).
struct WithSignal<M: Send + 'static> {
    on_message: Option<Arc<dyn Receive<M>>>,
    on_signal: Arc<SignalHandler<M>>,
}

impl<M: Send + 'static> Receive<M> for WithSignal<M> {
    fn on_message(&self, ctx: &mut Context<M>, msg: M) -> Behavior<M> {
        match &self.on_message {
            Some(inner) => inner.on_message(ctx, msg),
            None => Behaviors::unhandled(),
        }
    }

    fn on_signal(&self, ctx: &mut Context<M>, signal: &Signal) -> Option<Behavior<M>> {
        Some((self.on_signal)(ctx, signal))
    }
}

/// An object-style actor (an `impl Actor`, or an event-sourced entity) with a signal handler
/// added by `receive_signal`: the actor's own hooks run first, then the handler. The handler's
/// `Behaviors::stopped()` stops the actor; any other behavior it returns is ignored (an object
/// keeps handling its messages itself).
struct WithActorSignal<M: Send + 'static> {
    inner: Box<dyn Actor<Msg = M>>,
    on_signal: Arc<SignalHandler<M>>,
}

impl<M: Send + 'static> WithActorSignal<M> {
    fn deliver(&self, ctx: &mut Context<M>, signal: &Signal) {
        if let Kind::Stopped = (self.on_signal)(ctx, signal).kind {
            ctx.stop_self();
        }
    }
}

impl<M: Send + 'static> Actor for WithActorSignal<M> {
    type Msg = M;

    fn handle(&mut self, ctx: &mut Context<M>, msg: M) {
        self.inner.handle(ctx, msg);
    }

    fn pre_start(&mut self, ctx: &mut Context<M>) {
        self.inner.pre_start(ctx);
    }

    fn post_stop(&mut self, ctx: &mut Context<M>) {
        self.inner.post_stop(ctx);
        self.deliver(ctx, &Signal::PostStop);
    }

    fn pre_restart(&mut self, ctx: &mut Context<M>) {
        self.inner.pre_restart(ctx);
        self.deliver(ctx, &Signal::PreRestart);
    }

    fn on_signal(&mut self, ctx: &mut Context<M>, signal: &Signal) {
        self.inner.on_signal(ctx, signal);
        self.deliver(ctx, signal);
    }
}

/// The actor inside any signal-handler or message-observing wrappers: what code that spawned an actor downcasts to
/// (see `cell::InternalFn`).
pub(crate) fn innermost_actor<M: Send + 'static>(actor: &mut dyn Any) -> &mut dyn Any {
    if actor.is::<WithActorSignal<M>>() {
        match actor.downcast_mut::<WithActorSignal<M>>() {
            Some(wrapper) => innermost_actor::<M>(wrapper.inner.as_mut()),
            None => unreachable!("`is` just said it is one"),
        }
    } else if actor.is::<ObservedActor<M>>() {
        match actor.downcast_mut::<ObservedActor<M>>() {
            Some(wrapper) => innermost_actor::<M>(wrapper.inner.as_mut()),
            None => unreachable!("`is` just said it is one"),
        }
    } else {
        actor
    }
}

impl<M: Send + 'static> Behavior<M> {
    pub(crate) const fn from_kind(kind: Kind<M>) -> Self {
        Self { kind }
    }

    /// Adds a signal handler (for `PostStop`, `PreRestart`, `Terminated`, `ChildFailed`).
    /// On `setup` and `supervise` behaviors it applies to the behavior they produce. On an
    /// object-style actor (an [`Actor`], an event-sourced entity) it runs after the actor's own
    /// hooks; there only a returned `Behaviors::stopped()` counts (it stops the actor).
    pub fn receive_signal<F>(self, handler: F) -> Behavior<M>
    where
        F: Fn(&mut Context<M>, &Signal) -> Behavior<M> + Send + Sync + 'static,
    {
        self.with_signal_handler(Arc::new(handler))
    }

    fn with_signal_handler(self, handler: Arc<SignalHandler<M>>) -> Behavior<M> {
        let kind = match self.kind {
            Kind::Receive(inner) => Kind::Receive(Arc::new(WithSignal {
                on_message: Some(inner),
                on_signal: handler,
            })),
            Kind::Empty => Kind::Receive(Arc::new(WithSignal {
                on_message: None,
                on_signal: handler,
            })),
            Kind::Ignore => Kind::Receive(Arc::new(WithSignal {
                on_message: Some(Arc::new(OnMessage(|_: &mut Context<M>, _: M| {
                    Behaviors::same()
                }))),
                on_signal: handler,
            })),
            Kind::Setup(setup) => Kind::Setup(Arc::new(move |ctx| {
                setup(ctx).with_signal_handler(handler.clone())
            })),
            Kind::Supervise(supervised) => {
                let (inner, strategy) = *supervised;
                Kind::Supervise(Box::new((inner.with_signal_handler(handler), strategy)))
            }
            Kind::Actor(inner) => Kind::Actor(Box::new(WithActorSignal {
                inner,
                on_signal: handler,
            })),
            Kind::ActorFactory(factory) => Kind::ActorFactory(Arc::new(move || {
                Box::new(WithActorSignal {
                    inner: factory(),
                    on_signal: handler.clone(),
                }) as Box<dyn Actor<Msg = M>>
            })),
            Kind::Fronted(make) => map_fronted(make, move |inner| {
                inner.with_signal_handler(handler.clone())
            }),
            // No behavior to run the handler with: `same`, `unhandled` and `stopped` are not
            // behaviors an actor runs.
            other @ (Kind::Same | Kind::Unhandled | Kind::Stopped) => other,
        };
        Behavior { kind }
    }

    /// A copy for a restart, if this behavior can be started again from scratch.
    pub(crate) fn try_clone(&self) -> Option<Behavior<M>> {
        let kind = match &self.kind {
            Kind::Same => Kind::Same,
            Kind::Unhandled => Kind::Unhandled,
            Kind::Stopped => Kind::Stopped,
            Kind::Empty => Kind::Empty,
            Kind::Ignore => Kind::Ignore,
            Kind::Receive(receive) => Kind::Receive(receive.clone()),
            Kind::Setup(setup) => Kind::Setup(setup.clone()),
            Kind::Supervise(supervised) => {
                let (inner, strategy) = &**supervised;
                Kind::Supervise(Box::new((inner.try_clone()?, strategy.clone())))
            }
            Kind::ActorFactory(factory) => Kind::ActorFactory(factory.clone()),
            Kind::Fronted(make) => Kind::Fronted(make.clone()),
            Kind::Actor(_) => return None,
        };
        Some(Behavior { kind })
    }

    /// Whether starting this behavior runs user code (setup, `pre_start`), so the actor must be
    /// scheduled once right after spawning even before any message arrives.
    pub(crate) fn needs_start(&self) -> bool {
        // `Same` and `Unhandled` are no behavior to start with: the start reports them.
        !matches!(self.kind, Kind::Receive(_) | Kind::Empty | Kind::Ignore)
    }
}

impl<M: Send + 'static> fmt::Debug for Behavior<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match &self.kind {
            Kind::Same => "Same",
            Kind::Unhandled => "Unhandled",
            Kind::Stopped => "Stopped",
            Kind::Empty => "Empty",
            Kind::Ignore => "Ignore",
            Kind::Receive(_) => "Receive",
            Kind::Setup(_) | Kind::Fronted(_) => "Setup",
            Kind::Supervise(_) => "Supervise",
            Kind::Actor(_) | Kind::ActorFactory(_) => "Actor",
        };
        write!(f, "Behavior::{name}")
    }
}

impl<A: Actor> From<A> for Behavior<A::Msg> {
    fn from(actor: A) -> Self {
        Behavior::from_kind(Kind::Actor(Box::new(actor)))
    }
}

/// Constructors of [`Behavior`]s, as in Akka Typed's `Behaviors`.
pub struct Behaviors;

impl Behaviors {
    /// Handles each message with access to the actor's [`Context`].
    pub fn receive<M, F>(handler: F) -> Behavior<M>
    where
        M: Send + 'static,
        F: Fn(&mut Context<M>, M) -> Behavior<M> + Send + Sync + 'static,
    {
        Behavior::from_kind(Kind::Receive(Arc::new(OnMessage(handler))))
    }

    /// Handles each message without the context.
    pub fn receive_message<M, F>(handler: F) -> Behavior<M>
    where
        M: Send + 'static,
        F: Fn(M) -> Behavior<M> + Send + Sync + 'static,
    {
        Self::receive(move |_, msg| handler(msg))
    }

    /// Runs `factory` when the actor starts (and again at each restart) to build its behavior:
    /// the place to spawn children, start timers, or build state.
    pub fn setup<M, F>(factory: F) -> Behavior<M>
    where
        M: Send + 'static,
        F: Fn(&mut Context<M>) -> Behavior<M> + Send + Sync + 'static,
    {
        Behavior::from_kind(Kind::Setup(Arc::new(factory)))
    }

    /// Keeps the current behavior for the next message.
    pub const fn same<M: Send + 'static>() -> Behavior<M> {
        Behavior::from_kind(Kind::Same)
    }

    /// Stops the actor: its children stop first, then it receives `PostStop`.
    pub const fn stopped<M: Send + 'static>() -> Behavior<M> {
        Behavior::from_kind(Kind::Stopped)
    }

    /// Keeps the current behavior and reports the message as unhandled (to dead letters).
    pub const fn unhandled<M: Send + 'static>() -> Behavior<M> {
        Behavior::from_kind(Kind::Unhandled)
    }

    /// Treats every message as unhandled.
    pub const fn empty<M: Send + 'static>() -> Behavior<M> {
        Behavior::from_kind(Kind::Empty)
    }

    /// Drops every message silently.
    pub const fn ignore<M: Send + 'static>() -> Behavior<M> {
        Behavior::from_kind(Kind::Ignore)
    }

    /// An object-style actor made fresh by `factory` at every start and restart. Spawning an
    /// actor value directly also works, but a value cannot be restarted from scratch.
    pub fn actor<A, F>(factory: F) -> Behavior<A::Msg>
    where
        A: Actor,
        F: Fn() -> A + Send + Sync + 'static,
    {
        Behavior::from_kind(Kind::ActorFactory(Arc::new(move || {
            Box::new(factory()) as Box<dyn Actor<Msg = A::Msg>>
        })))
    }

    /// Wraps a behavior with a supervisor; choose the strategy with
    /// [`Supervise::on_failure`]. Without one, a failed actor stops.
    pub fn supervise<M: Send + 'static>(behavior: Behavior<M>) -> Supervise<M> {
        Supervise { behavior }
    }

    /// Gives the behavior factory the actor's [`Timers`].
    pub fn with_timers<M, F>(factory: F) -> Behavior<M>
    where
        M: Send + 'static,
        F: Fn(Timers<M>) -> Behavior<M> + Send + Sync + 'static,
    {
        Self::setup(move |ctx| factory(ctx.timers().clone()))
    }

    /// Gives the behavior factory a [`StashBuffer`] holding at most `capacity` messages.
    pub fn with_stash<M, F>(capacity: usize, factory: F) -> Behavior<M>
    where
        M: Send + 'static,
        F: Fn(StashBuffer<M>) -> Behavior<M> + Send + Sync + 'static,
    {
        Self::setup(move |ctx| factory(ctx.stash_buffer(capacity)))
    }
}

/// A behavior waiting for its supervisor strategy; see [`Behaviors::supervise`].
#[must_use = "call on_failure to get the supervised behavior"]
pub struct Supervise<M: Send + 'static> {
    behavior: Behavior<M>,
}

impl<M: Send + 'static> Supervise<M> {
    /// What to do when the actor's handler panics.
    pub fn on_failure(self, strategy: SupervisorStrategy) -> Behavior<M> {
        Behavior::from_kind(Kind::Supervise(Box::new((self.behavior, strategy))))
    }
}
