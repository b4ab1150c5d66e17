//! Tools for testing actors and entities (feature `testkit`), as Akka's testkits give them.
//!
//! - [`TestProbe`]: an actor whose messages the test reads and asserts on;
//! - [`ActorTestKit`]: one actor system per test, with probes, checked for stray dead letters
//!   and actors still running when the test ends.
//!
//! Every check fails the test by panicking with a sentence that names what was expected and
//! what arrived, as `assert_eq!` does.
//!
//! Enable the feature for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! reactant = { version = "0.1", features = ["testkit"] }
//! ```

mod kit;
mod probe;

pub use kit::{ActorTestKit, ActorTestKitBuilder};
pub use probe::{DEFAULT_TIMEOUT, FishingOutcome, TestProbe};
