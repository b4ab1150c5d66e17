//! Typed actors: references, behaviors, the context a handler sees, signals, and the system
//! that runs them.

mod actor_ref;
mod behavior;
mod cell;
mod context;
mod death_watch;
mod extension;
mod front;
mod lifecycle;
mod object;
mod observe;
mod path;
mod signal;
mod stash;
mod system;
#[cfg(feature = "testkit")]
mod testing;

pub(crate) use actor_ref::Recipient;
pub use actor_ref::{ActorRef, AnyActorRef};
pub use behavior::{Behavior, Behaviors, Supervise};
pub use context::Context;
pub(crate) use context::InternalSender;
pub use extension::Extension;
pub use object::Actor;
pub use path::ActorPath;
pub use signal::Signal;
// Failures live in supervision; the actor module names them too, where handlers meet them.
pub use crate::supervision::ActorFailure;
pub use stash::StashBuffer;
pub use system::{ActorSystem, ActorSystemBuilder, Props};

// The seam for runtime extensions above the core (sharding, persistence): what they may ask of
// an actor beyond its public API. Passivation's "stop when idle" is `AnyActorRef::stop_when_idle`.
pub(crate) use cell::{AdaptFn, LeftoversFn};
pub(crate) use death_watch::when_terminated;
pub(crate) use front::MakeFront;
pub(crate) use observe::Observed;
pub(crate) use path::validate_name;
pub(crate) use system::SystemCore;

// The testkit's seam (see `testing`): behaviors it wraps, and what actors report to it.
#[cfg(feature = "testkit")]
pub(crate) use behavior::{Kind, Receive};
#[cfg(feature = "testkit")]
pub(crate) use cell::{ActorCell, Control, SystemMessage};
#[cfg(feature = "testkit")]
pub(crate) use front::map_fronted;
#[cfg(feature = "testkit")]
pub use testing::TimerMode;
#[cfg(feature = "testkit")]
pub(crate) use testing::{EffectSink, RecordedEffect, TimerRecording};
