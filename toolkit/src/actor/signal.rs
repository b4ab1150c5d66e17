//! Lifecycle signals an actor's behavior can react to with `receive_signal`.

use super::actor_ref::AnyActorRef;
use crate::supervision::ActorFailure;

/// A lifecycle event delivered to an actor's signal handler, never through its mailbox order.
///
/// ```
/// use reactant::prelude::*;
///
/// let behavior: Behavior<String> = Behaviors::receive_message(|_msg: String| Behaviors::same())
///     .receive_signal(|_ctx, signal| {
///         if let Signal::PostStop = signal {
///             println!("stopped");
///         }
///         Behaviors::same()
///     });
/// # drop(behavior);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Signal {
    /// The actor is about to be restarted by its supervisor; the current behavior sees this
    /// last, then the initial behavior starts again.
    PreRestart,
    /// The actor has stopped: its children are already stopped and no message follows.
    PostStop,
    /// An actor this one watches has stopped.
    Terminated(AnyActorRef),
    /// A child this one watches has stopped because it failed.
    ChildFailed(AnyActorRef, ActorFailure),
}
