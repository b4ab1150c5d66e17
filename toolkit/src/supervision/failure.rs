//! Failures: why an actor failed, and how far its supervisor's strategy applies to that.
//!
//! A failure is a value: a panic caught at the actor boundary ([`panic`](super::panic)) becomes
//! one, and a runtime extension (an event-sourced entity) reports one without unwinding. The
//! actor core hands it to the actor's [`SupervisorStrategy`](super::SupervisorStrategy).

use std::fmt;

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
