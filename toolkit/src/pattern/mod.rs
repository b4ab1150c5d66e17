//! Isolation and discovery patterns built on the actor core (which does not depend on them).
//!
//! - [`CircuitBreaker`]: stop calling a dependency that keeps failing, fail fast meanwhile, and
//!   try it again after a while; usable from a plain thread and from inside an actor.
//! - [`Routers`]: a pool of identical routees behind one address (round-robin, random or
//!   consistent hashing).

mod breaker;
mod router;

pub use breaker::{BreakerError, BreakerState, CircuitBreaker};
pub use router::{PoolRouter, Routers};
