//! Isolation and discovery patterns built on the actor core (which does not depend on them).
//!
//! - [`CircuitBreaker`]: stop calling a dependency that keeps failing, fail fast meanwhile, and
//!   try it again after a while; usable from a plain thread and from inside an actor.

mod breaker;

pub use breaker::{BreakerError, BreakerState, CircuitBreaker};
