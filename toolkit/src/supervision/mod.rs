//! Supervision: what happens when an actor's handler panics. The panic is caught at the actor
//! boundary (`supervision::panic`), turned into an [`ActorFailure`], and the actor's
//! [`SupervisorStrategy`] decides: stop (the default), resume, restart (optionally limited), or
//! restart after an exponential backoff.
//!
//! Nothing here knows about actors: the actor core uses these pieces, never the other way.

mod failure;
pub(crate) mod panic;
mod strategy;

pub use failure::ActorFailure;
pub(crate) use failure::Escalation;

pub(crate) use strategy::backoff_delay;
pub use strategy::{Backoff, RestartLimit, SupervisorStrategy};
pub(crate) use strategy::{DEFAULT_RESTART_STASH, Decision, SupervisionState};
