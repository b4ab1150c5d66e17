//! What the runtime tells an actor besides its user messages: control messages, the closures
//! runtime extensions run in its turn, and the untyped view of an actor ([`CellControl`]) that
//! parents, watchers and the guardian hold.

use std::any::Any;
use std::sync::Arc;

use super::super::actor_ref::AnyActorRef;
use super::super::context::Context;
use super::super::path::ActorPath;
use crate::dead_letters::DeadLetterReason;
use crate::supervision::ActorFailure;
use crate::timers::TimerKey;

/// Untyped control messages: what the runtime tells an actor about its life.
pub(crate) enum Control {
    /// Restart the behavior held in the cell (a spawned actor starts in its first turn, with
    /// no message).
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
    /// The testkit's `BehaviorTestKit::signal`: deliver this signal to the behavior now.
    #[cfg(feature = "testkit")]
    Signal(super::super::signal::Signal),
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
    /// Where this actor sits in its parent's [`Children`](crate::actor::actor_ref::Children)
    /// list (`u32::MAX`: in none). Only the parent reads and writes it, under its lock.
    fn child_slot(&self) -> u32 {
        u32::MAX
    }
    /// Records where this actor sits in its parent's list (see [`child_slot`](Self::child_slot)).
    fn set_child_slot(&self, slot: u32) {
        let _ = slot;
    }
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
