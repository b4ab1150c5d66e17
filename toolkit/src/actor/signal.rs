//! Lifecycle signals an actor's behavior can react to with `receive_signal`.

use std::fmt;

use super::actor_ref::AnyActorRef;

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

/// Why an actor failed: the message of the panic caught at the actor boundary, or of the
/// failure a runtime extension (an event-sourced entity) reported as a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorFailure {
    message: String,
    escalation: Escalation,
}

/// How far the supervisor's strategy applies to a failure. A panic in a handler leaves the
/// actor's state as the handler left it, so every strategy applies; some failures leave state
/// that must not be used again (an event-sourced entity whose state may hold an event that is
/// not durable), and some must not be retried at once (a recovery that failed would fail again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Escalation {
    /// The supervisor's strategy decides.
    Supervisor,
    /// As the strategy decides, except that `resume` stops the actor: its state is not safe to
    /// keep.
    NoResume,
    /// The actor stops, whatever the strategy.
    Stop,
}

impl ActorFailure {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            escalation: Escalation::Supervisor,
        }
    }

    /// The same failure, handled with `escalation` rather than the plain strategy.
    pub(crate) fn escalate(mut self, escalation: Escalation) -> Self {
        self.escalation = escalation;
        self
    }

    pub(crate) fn escalation(&self) -> Escalation {
        self.escalation
    }

    /// The panic message (or a description when the payload was not a string).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ActorFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ActorFailure {}
