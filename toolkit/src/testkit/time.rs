//! [`ManualTime`]: the kit's timers, ask timeouts and backoffs on a clock the test moves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::kit::ActorTestKit;
use crate::actor::ActorSystem;
use crate::time::Clock;
use crate::timers::SchedulerHandle;

/// Manual time for an actor system (Akka's `ManualTime`): its clock stops when this is made,
/// and moves only by [`advance`](Self::advance). Everything the system schedules — timers
/// (`ctx.timers()`), `ctx.ask` timeouts, supervision and persistence backoffs — then waits
/// for the test to move time instead of for the wall clock, so timer tests need no sleeps.
///
/// `advance` moves only what is scheduled when it is called: an actor starts its timers in
/// its own turn, on a dispatcher thread, so wait until it has (a message from its setup to a
/// probe) before moving time.
///
/// What runs on the test's own thread is not affected: `Pending::wait(timeout)` and probe
/// expectations wait real time (they are how the test waits for actors to react).
///
/// ```
/// use reactant::prelude::*;
/// use reactant::testkit::{ActorTestKit, ManualTime};
/// use std::time::Duration;
///
/// let kit = ActorTestKit::new();
/// let time = ManualTime::new(&kit);
/// let probe = kit.probe::<&'static str>();
/// let reply_to = probe.r#ref();
/// kit.spawn(Behaviors::with_timers(move |timers| {
///     timers.start_single("ring", (), Duration::from_secs(60));
///     reply_to.tell("armed");
///     let reply_to = reply_to.clone();
///     Behaviors::receive_message(move |()| {
///         reply_to.tell("ring");
///         Behaviors::same()
///     })
/// }), "alarm");
/// probe.expect_message("armed"); // the timer exists: time may move
/// time.advance(Duration::from_secs(59));
/// probe.expect_no_message(Duration::from_millis(20));
/// time.advance(Duration::from_secs(1));
/// probe.expect_message("ring");
/// ```
#[derive(Clone)]
pub struct ManualTime {
    scheduler: SchedulerHandle,
}

impl ManualTime {
    /// Stops the clock of the kit's system. Timers started before keep their deadlines.
    pub fn new(kit: &ActorTestKit) -> Self {
        Self::for_system(kit.system())
    }

    /// Stops the clock of `system`: for a system made without an [`ActorTestKit`].
    pub fn for_system(system: &ActorSystem) -> Self {
        let scheduler = system.core().scheduler();
        scheduler.freeze();
        Self { scheduler }
    }

    /// Moves time forward by `by`: every timer, timeout and backoff that falls due runs, in
    /// deadline order (a periodic timer as many times as it falls due), before this returns.
    /// Their messages are then in the actors' mailboxes: a probe sees what the actors do with
    /// them. Returns how many scheduled tasks ran.
    pub fn advance(&self, by: Duration) -> usize {
        self.scheduler.advance(by)
    }

    /// The system's time now.
    pub fn now(&self) -> Instant {
        self.scheduler.now()
    }

    /// This time as a [`Clock`], for code that takes one (the circuit breaker).
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(self.clone())
    }
}

impl Clock for ManualTime {
    fn now(&self) -> Instant {
        self.scheduler.now()
    }
}

impl std::fmt::Debug for ManualTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualTime").finish_non_exhaustive()
    }
}
