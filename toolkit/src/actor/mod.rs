//! Typed actors: references, behaviors, the context a handler sees, signals, and the system
//! that runs them.

mod actor_ref;
mod behavior;
pub(crate) mod cell;
mod context;
mod object;
pub(crate) mod path;
mod signal;
mod stash;
pub(crate) mod system;

pub(crate) use actor_ref::Recipient;
pub use actor_ref::{ActorRef, AnyActorRef};
pub use behavior::{Behavior, Behaviors, Supervise};
pub use context::Context;
pub(crate) use context::InternalSender;
pub use object::Actor;
pub use path::ActorPath;
pub(crate) use signal::Escalation;
pub use signal::{ActorFailure, Signal};
pub use stash::StashBuffer;
pub use system::{ActorSystem, ActorSystemBuilder, Props};
