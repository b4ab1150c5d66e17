//! Fronts: a behavior that hands its spawner another reference than the actor's own mailbox.
//!
//! A [`Behavior`] made with [`Behavior::with_front`] carries a factory that, once per spawn,
//! makes the behavior the actor runs and a [`MakeFront`]. Every spawn path (`ActorSystem::spawn`,
//! `spawn_anonymous`, `spawn_with`, and the same three on [`Context`](super::Context)) resolves
//! the behavior with [`Behavior::take_front`] before it creates the actor, then gives the front
//! the new actor's own reference; what the front returns is the [`ActorRef`] the spawner gets.
//! This is how a pool router routes on the sender's thread instead of through its own mailbox
//! (`pattern::router`): its front picks a routee and tells it directly.
//!
//! What a front stands for, and what it keeps:
//!
//! - Inside the actor, [`Context::self_ref`](super::Context::self_ref) stays the actor's own
//!   reference (its mailbox). Only `tell` (and `try_tell`) go through the front.
//! - The front names the actor it stands for ([`Recipient::front_of`]), and the returned
//!   reference is that actor in every other respect: its path, [`to_any`](ActorRef::to_any)
//!   (so watching it watches the actor, and it is equal to the actor's [`AnyActorRef`]),
//!   [`is_terminated`](ActorRef::is_terminated), equality and hashing (it is equal to the
//!   actor's own `ActorRef`, and hashes the same), the asks made through it (they are about
//!   the actor), messages adapted in the receiver's turn and the last message of a stop (both
//!   go to the actor's mailbox, as they must run in its turn).
//! - A message the front cannot place goes to the actor's own mailbox, so it is handled or
//!   dead-lettered exactly as it would have been without the front.
//!
//! Where a front survives:
//!
//! | behavior spawned                       | the spawner gets                      |
//! |----------------------------------------|---------------------------------------|
//! | `with_front(..)`                       | the front                             |
//! | `Behaviors::supervise(fronted)`        | the front (the supervisor restarts the actor behind it) |
//! | `fronted.receive_signal(..)`           | the front                             |
//! | `Behaviors::setup(\|_\| fronted)`, a handler returning `fronted` | the actor's own reference: the front is made only at spawn |
//!
//! A front runs on the sender's thread: it must not run user code (a panic there would unwind
//! into the sender, not reach the actor's supervisor).

use std::sync::Arc;

use super::actor_ref::{ActorRef, Recipient};
use super::behavior::{Behavior, Kind};

/// Given the new actor's own reference, makes the recipient its spawner gets instead.
pub(crate) type MakeFront<M> = Box<dyn FnOnce(ActorRef<M>) -> Arc<dyn Recipient<M>> + Send>;

/// Makes, once per spawn, the behavior to run and its front (which share state made here).
pub(crate) type FrontedFn<M> = dyn Fn() -> (Behavior<M>, MakeFront<M>) + Send + Sync;

impl<M: Send + 'static> Behavior<M> {
    /// A behavior whose spawner gets a front instead of the actor's own reference (see the
    /// module docs). `make` runs once at each spawn, on the spawner's thread.
    pub(crate) fn with_front(
        make: impl Fn() -> (Behavior<M>, MakeFront<M>) + Send + Sync + 'static,
    ) -> Self {
        Behavior::from_kind(Kind::Fronted(Arc::new(make)))
    }

    /// The behavior to spawn, and the front its spawner gets, if it has one (looking through
    /// supervision).
    pub(crate) fn take_front(self) -> (Behavior<M>, Option<MakeFront<M>>) {
        match self.kind {
            Kind::Fronted(make) => {
                let (inner, front) = make();
                // A front inside a front: the outer one is what the spawner asked for.
                (inner.take_front().0, Some(front))
            }
            Kind::Supervise(supervised) => {
                let (inner, strategy) = *supervised;
                let (inner, front) = inner.take_front();
                let kind = Kind::Supervise(Box::new((inner, strategy)));
                (Behavior::from_kind(kind), front)
            }
            kind => (Behavior::from_kind(kind), None),
        }
    }
}

/// A fronted behavior whose factory's behavior goes through `f` (a wrapper such as a signal
/// handler): the front is kept.
pub(crate) fn map_fronted<M: Send + 'static>(
    make: Arc<FrontedFn<M>>,
    f: impl Fn(Behavior<M>) -> Behavior<M> + Send + Sync + 'static,
) -> Kind<M> {
    Kind::Fronted(Arc::new(move || {
        let (inner, front) = make();
        (f(inner), front)
    }))
}

/// The reference a spawner gets for `actor`: its front's, if the behavior had one.
pub(crate) fn spawned_ref<M: Send + 'static>(
    actor: ActorRef<M>,
    front: Option<MakeFront<M>>,
) -> ActorRef<M> {
    match front {
        Some(front) => ActorRef::from_recipient(front(actor)),
        None => actor,
    }
}
