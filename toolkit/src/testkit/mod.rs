//! Tools for testing actors and entities (feature `testkit`), as Akka's testkits give them.
//!
//! - [`TestProbe`]: an actor whose messages the test reads and asserts on;
//! - [`BehaviorTestKit`]: one behavior run on the test's thread, a message at a time, with
//!   its effects (children, watches, timers, messages to [`TestInbox`]es) recorded;
//! - [`ActorTestKit`]: one actor system per test, with probes, checked for stray dead letters
//!   and actors still running when the test ends;
//! - [`EventSourcedBehaviorTestKit`]: one event-sourced entity, its commands run one at a
//!   time, with the events each persisted, the state after it and its reply, and a restart
//!   that checks recovery;
//! - [`Simulation`]: a whole system run on the test's thread in an order drawn from a seed,
//!   on virtual time: the same seed, the same run;
//! - [`ManualTime`]: the system's timers, ask timeouts and backoffs on a clock the test
//!   advances;
//! - [`PersistenceTestKit`]: a persistence over [`TestJournal`] and [`TestSnapshotStore`],
//!   in memory, whose writes, reads and deletions fail, are rejected, delayed or held on
//!   demand.
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

mod behavior;
mod entity;
mod inbox;
mod journal;
mod kit;
mod persistence;
mod probe;
mod simulation;
mod snapshots;
mod time;

pub use crate::actor::TimerMode;
pub use behavior::{BehaviorFailure, BehaviorTestKit, Effect, Returned};
pub use entity::{
    CommandFailure, CommandResult, EventSourcedBehaviorTestKit, EventSourcedBehaviorTestKitBuilder,
    RestartResult,
};
pub use inbox::TestInbox;
pub use journal::{Fault, HOLD_LIMIT, INJECTED, INJECTED_PANIC, TestJournal, WriteFault};
pub use kit::{ActorTestKit, ActorTestKitBuilder};
pub use persistence::PersistenceTestKit;
pub use probe::{DEFAULT_TIMEOUT, FishingOutcome, TestProbe};
pub use simulation::{MAX_STEPS, Sim, Simulation, TraceEvent};
pub use snapshots::TestSnapshotStore;
pub use time::ManualTime;
