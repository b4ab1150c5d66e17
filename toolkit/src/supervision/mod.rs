//! Supervision: what happens when an actor's handler panics. The panic is caught at the actor
//! boundary ([`panic`]), turned into an [`ActorFailure`](crate::actor::ActorFailure), and the
//! actor's [`SupervisorStrategy`] decides: stop (the default), resume, restart (optionally
//! limited), or restart after an exponential backoff.

pub(crate) mod panic;
mod strategy;

pub(crate) use strategy::backoff_delay;
pub use strategy::{Backoff, RestartLimit, SupervisorStrategy};
pub(crate) use strategy::{DEFAULT_RESTART_STASH, Decision, SupervisionState};
