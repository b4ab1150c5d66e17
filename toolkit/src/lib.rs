//! # Reactant
//!
//! Typed actors on a thread pool, supervision and let-it-crash, for one Rust process and
//! without async — what Akka Typed gives JVM teams.
//!
//! ```
//! use reactant::prelude::*;
//! use std::time::Duration;
//!
//! enum Greeter {
//!     Greet { whom: String, reply_to: ActorRef<String> },
//! }
//!
//! let system = ActorSystem::new("hello")?;
//! let greeter = system.spawn(
//!     Behaviors::receive_message(|Greeter::Greet { whom, reply_to }| {
//!         reply_to.tell(format!("Hello, {whom}!"));
//!         Behaviors::same()
//!     }),
//!     "greeter",
//! )?;
//! let greeting = greeter
//!     .ask(|reply_to| Greeter::Greet { whom: "world".into(), reply_to })
//!     .wait(Duration::from_secs(1))?;
//! assert_eq!(greeting, "Hello, world!");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The pieces:
//! - [`actor`](mod@actor): [`ActorSystem`](actor::ActorSystem), [`ActorRef`](actor::ActorRef),
//!   [`Behaviors`](actor::Behaviors), [`Context`](actor::Context), the [`Actor`](actor::Actor)
//!   trait, signals and the stash;
//! - [`supervision`]: what happens when a handler panics;
//! - [`timers`]: keyed single and periodic timers;
//! - [`Pending`](ask::Pending): the reply of an ask;
//! - [`DeadLetters`](dead_letters::DeadLetters): where undeliverable messages are counted;
//! - [`persistence`]: event-sourced entities, the journal and snapshot store (RocksDB or in
//!   memory) and the group-commit writer;
//! - [`query`]: the read side — current and live queries by persistence id, by tag and in
//!   global order, and the state of an entity at a past point;
//! - [`projection`]: read models kept from the journal's events — typed tables beside the
//!   journal, projections exactly-once, at-least-once or grouped, restartable and managed;
//! - [`sharding`]: entities addressed by id, started on demand and passivated, in regions of
//!   shards;
//! - [`pattern`]: the circuit breaker;
//! - [`time`]: where time comes from (a manual clock for tests);
//! - `testkit` (feature `testkit`): probes, a test kit per actor system, and the tools for
//!   testing event-sourced entities;
//! - the macros [`macro@actor`] (an impl block's methods become an actor's messages),
//!   [`derive@Event`], [`derive@Entity`] and [`macro@entity`] (event-sourced entities).
#![deny(missing_docs)]

pub mod actor;
pub mod ask;
pub mod dead_letters;
mod dispatch;
pub mod error;
pub mod event_stream;
pub mod pattern;
pub mod persistence;
pub mod projection;
pub mod query;
pub mod sharding;
pub mod supervision;
mod sync;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod time;
pub mod timers;

#[doc(hidden)]
#[path = "macro_support.rs"]
pub mod __private;

pub use reactant_macros::{Entity, Event, actor, entity};

/// Everything an application usually needs, in one `use`.
pub mod prelude {
    pub use crate::actor::{
        Actor, ActorFailure, ActorPath, ActorRef, ActorSystem, ActorSystemBuilder, AnyActorRef,
        Behavior, Behaviors, Context, Props, Signal, StashBuffer,
    };
    pub use crate::ask::Pending;
    pub use crate::dead_letters::{DeadLetter, DeadLetterReason, DeadLetters};
    pub use crate::error::{AskError, BuildError, SpawnError, StashOverflow, StopError};
    pub use crate::supervision::SupervisorStrategy;
    pub use crate::timers::Timers;
    // The macros, and the traits of the same names that two of them implement.
    pub use crate::persistence::{Effect, Entity, Event, Persistence};
    pub use crate::sharding::{
        EntityId, EntityRef, EntityTypeKey, ShardRegion, ShardedEntity, ShardingEnvelope,
    };
    pub use reactant_macros::{Entity, Event, actor, entity};
}
