//! Isolation and discovery patterns built on the actor core (which does not depend on them).
//!
//! - [`CircuitBreaker`]: stop calling a dependency that keeps failing, fail fast meanwhile, and
//!   try it again after a while; usable from a plain thread and from inside an actor.
//! - [`Routers`]: a pool of identical routees behind one address (round-robin, random or
//!   consistent hashing), a balancing pool whose routees share one queue, and a group router
//!   over the actors registered under a [`ServiceKey`].
//! - [`Receptionist`]: register actors under a typed [`ServiceKey`]; find or subscribe to them.
//! - [`Topic`]: typed publish / subscribe by name. (The system's
//!   [event stream](crate::event_stream), by message type, is in the core.)

mod balancing;
mod breaker;
mod group;
mod pool;
mod receptionist;
mod routees;
mod router;
mod topic;

pub use balancing::BalancingPool;
pub use breaker::{BreakerError, BreakerState, CircuitBreaker};
pub use group::GroupRouter;
pub use receptionist::{Listing, Receptionist, ServiceKey};
pub use router::{FromBehavior, FromFactory, PoolRouter, RouteeBehavior, Routers};
pub use topic::{Topic, TopicError};
