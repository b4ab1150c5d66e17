//! [`Simulation`]: a whole actor system run on the test's thread, in an order drawn from a
//! seed, on virtual time — the same seed, the same run.
//!
//! The system is *manual* (see `BehaviorTestKit`): its dispatchers have no threads and its
//! scheduler runs nothing by itself. At each step the simulation takes every actor waiting to
//! run, orders them by actor id (ids are handed out in spawn order, so the order is the same
//! in every run), and runs one turn of the one the seeded generator picks. When no actor can
//! run it moves time to the next timer; now and then (drawn from the seed) it moves time while
//! actors still could run, so that timeouts race replies. The generator behind the runtime's
//! own randomness on this thread (backoff jitter, random routing) is seeded too.
//!
//! Work on other threads is out of its reach: give event-sourced entities the persistence of
//! [`PersistenceTestKit::inline`](super::PersistenceTestKit::inline), whose writes and reads
//! run on the test's thread, in the simulation's order. One thing stays per process: the seed
//! of sharding's key hash, so the same seed reproduces a run within one process, while
//! another process may place entities on other shards.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::inbox::TestInbox;
use crate::actor::{ActorRef, ActorSystem, AnyActorRef, Behavior, Behaviors};
use crate::ask::Pending;
use crate::dispatch::pool::Task;
use crate::error::AskError;

/// At most this many turns in one `run_until_quiet` or `run_for`: a bound against actors that
/// keep each other busy forever (it fails the test, naming the seed).
pub const MAX_STEPS: usize = 1_000_000;

/// Out of this many steps with a timer pending and actors runnable, one moves time first.
const TIME_JUMP_ODDS: usize = 8;

/// One thing a simulation did, in order: what [`Sim::trace`] records, and what two runs of
/// one seed must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceEvent {
    /// One turn of the actor with this id, picked among `runnable` actors.
    Ran {
        /// The actor's id (ids are given in spawn order).
        actor: u64,
        /// How many actors could run.
        runnable: usize,
    },
    /// Virtual time moved to `at` (since the start), and `fired` timers fell due.
    TimeMoved {
        /// The new time, since the simulation started.
        at: Duration,
        /// How many scheduled tasks ran.
        fired: usize,
    },
    /// The whole system crashed at `at` (since the start); a fresh one took its place.
    Crashed {
        /// The time of the crash, since the simulation started.
        at: Duration,
    },
}

/// A deterministic simulation from a seed: every actor runs on the test's thread, in an order
/// drawn from the seed, and time is virtual. The same seed reproduces the same run exactly; a
/// run that fails prints its seed.
///
/// ```
/// use reactant::prelude::*;
/// use reactant::testkit::Simulation;
/// use std::time::Duration;
///
/// struct Ping { reply_to: ActorRef<u32> }
///
/// let trace = Simulation::new(42).run(|sim| {
///     let echo = sim
///         .system()
///         .spawn(Behaviors::receive_message(|Ping { reply_to }| {
///             reply_to.tell(1);
///             Behaviors::same()
///         }), "echo")
///         .expect("a fresh system");
///     let replies = sim.inbox::<u32>("replies");
///     for _ in 0..3 {
///         echo.tell(Ping { reply_to: replies.r#ref() });
///     }
///     sim.run_for(Duration::from_secs(1));
///     assert_eq!(replies.receive_all(), vec![1, 1, 1]);
///     sim.trace().to_vec()
/// });
/// // The same seed, the same run.
/// assert_eq!(trace, Simulation::new(42).run(|sim| {
///     let echo = sim.system().spawn(Behaviors::receive_message(|Ping { reply_to }| {
///         reply_to.tell(1);
///         Behaviors::same()
///     }), "echo").expect("a fresh system");
///     let replies = sim.inbox::<u32>("replies");
///     for _ in 0..3 {
///         echo.tell(Ping { reply_to: replies.r#ref() });
///     }
///     sim.run_for(Duration::from_secs(1));
///     sim.trace().to_vec()
/// }));
/// ```
#[derive(Debug, Clone)]
pub struct Simulation {
    seed: u64,
}

impl Simulation {
    /// A simulation of the run drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Runs `test` in a fresh simulated system, then stops every actor (on this thread). If
    /// `test` panics, prints the seed to standard error (to rerun that run exactly with
    /// `Simulation::new(seed)`) and lets the panic go on.
    pub fn run<R>(self, test: impl FnOnce(&mut Sim) -> R) -> R {
        let seed = self.seed;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            // Dropping the simulation stops its actors, also when the test panics.
            let mut sim = Sim::start(seed);
            test(&mut sim)
        }));
        match outcome {
            Ok(result) => result,
            Err(panic) => {
                eprintln!(
                    "the simulation with seed {seed} failed; Simulation::new({seed}) reruns it \
                     exactly"
                );
                resume_unwind(panic)
            }
        }
    }

    /// Runs `test` once per seed, stopping at the first that fails (its seed is printed).
    pub fn run_seeds(seeds: impl IntoIterator<Item = u64>, test: impl Fn(&mut Sim)) {
        for seed in seeds {
            Simulation::new(seed).run(&test);
        }
    }
}

/// A running simulation: its system, its seeded generator, its steps. See [`Simulation`].
pub struct Sim {
    seed: u64,
    rng: fastrand::Rng,
    system: ActorSystem,
    /// When the current system started, on its clock...
    started: Instant,
    /// ...and the virtual time that passed in the systems before it (see `crash`).
    before: Duration,
    /// Actors taken from the system's queue, waiting to be picked.
    ready: Vec<Task>,
    /// The test's inboxes: never run (their messages wait for the test)...
    inboxes: Vec<AnyActorRef>,
    /// ...until the end, when they stop: their tasks wait here.
    held: Vec<Task>,
    trace: Vec<TraceEvent>,
}

impl Sim {
    fn start(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        // The runtime's own randomness on this thread (backoff jitter, random routing).
        fastrand::seed(rng.u64(..));
        let system = Self::build_system(&mut rng);
        let started = system.core().scheduler().now();
        Self {
            seed,
            rng,
            system,
            started,
            before: Duration::ZERO,
            ready: Vec::new(),
            inboxes: Vec::new(),
            held: Vec::new(),
            trace: Vec::new(),
        }
    }

    fn build_system(rng: &mut fastrand::Rng) -> ActorSystem {
        let throughput = 1 + rng.usize(..4);
        match ActorSystem::builder()
            .name("simulation")
            .throughput(throughput)
            .manual(None)
            .build()
        {
            Ok(system) => system,
            Err(error) => panic!("the simulation could not build its system: {error}"),
        }
    }

    /// Crashes the whole system at once, as when its process dies: no actor runs again or
    /// gets `PostStop`, and what the actors held in memory or had in their mailboxes is gone.
    /// A fresh system takes its place in [`system`](Self::system): start the application again
    /// on it; its entities recover from their journal, which lives outside the system (a
    /// [`PersistenceTestKit`](super::PersistenceTestKit) the test keeps). References and
    /// inboxes of the crashed system reach nothing any more.
    pub fn crash(&mut self) {
        self.ready.clear();
        self.held.clear();
        self.inboxes.clear();
        let fresh = Self::build_system(&mut self.rng);
        self.before = self.elapsed();
        self.started = fresh.core().scheduler().now();
        let crashed = std::mem::replace(&mut self.system, fresh);
        crashed.abandon();
        self.trace.push(TraceEvent::Crashed { at: self.before });
    }

    /// The simulated system: spawn actors and send them messages as in any system; they run
    /// only when the simulation steps.
    pub fn system(&self) -> &ActorSystem {
        &self.system
    }

    /// This run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Spawns a top-level actor (as `sim.system().spawn`).
    ///
    /// # Panics
    ///
    /// If the name is invalid or taken.
    #[track_caller]
    pub fn spawn<M: Send + 'static>(
        &self,
        behavior: impl Into<Behavior<M>>,
        name: &str,
    ) -> ActorRef<M> {
        match self.system.spawn(behavior, name) {
            Ok(actor) => actor,
            Err(error) => panic!("the simulation could not spawn {name:?}: {error}"),
        }
    }

    /// An inbox for the test: an actor that never runs, whose messages the test reads.
    ///
    /// # Panics
    ///
    /// If the name is invalid or taken.
    #[track_caller]
    pub fn inbox<N: Send + 'static>(&mut self, name: &str) -> TestInbox<N> {
        let reference = self.spawn(Behaviors::ignore::<N>(), name);
        if let Some(actor) = reference.to_any() {
            self.inboxes.push(actor);
        }
        match TestInbox::over(reference, Arc::new(Mutex::new(VecDeque::new()))) {
            Some(inbox) => inbox,
            None => unreachable!("a spawned actor's reference is its cell"),
        }
    }

    /// A number drawn from the seed, below `bound` (for the test's own choices: which fault
    /// to inject, which command to send).
    ///
    /// # Panics
    ///
    /// If `bound` is zero.
    pub fn below(&mut self, bound: usize) -> usize {
        self.rng.usize(..bound)
    }

    /// True with probability `p`, drawn from the seed.
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.f64() < p
    }

    /// Virtual time since the simulation started.
    pub fn elapsed(&self) -> Duration {
        self.before + (self.system.core().scheduler().now() - self.started)
    }

    /// What the simulation did so far, in order.
    pub fn trace(&self) -> &[TraceEvent] {
        &self.trace
    }

    /// Runs one turn of one actor, picked by the seed among those that can run; with none,
    /// moves time to the next timer instead. False if there was nothing to do (no actor could
    /// run and no timer is pending).
    pub fn step(&mut self) -> bool {
        self.collect_ready();
        let next_timer = self.system.core().scheduler().next_deadline();
        if self.ready.is_empty() {
            return match next_timer {
                Some(at) => {
                    self.move_time_to(at);
                    true
                }
                None => false,
            };
        }
        if let Some(at) = next_timer
            && self.rng.usize(..TIME_JUMP_ODDS) == 0
        {
            self.move_time_to(at);
            self.collect_ready();
        }
        self.run_one();
        true
    }

    /// Runs actors until none can run, without moving time. Returns the turns run.
    ///
    /// # Panics
    ///
    /// After [`MAX_STEPS`] turns (actors that keep each other busy forever).
    #[track_caller]
    pub fn run_until_quiet(&mut self) -> usize {
        let mut turns = 0;
        loop {
            self.collect_ready();
            if self.ready.is_empty() {
                return turns;
            }
            self.run_one();
            turns += 1;
            self.check_bound(turns);
        }
    }

    /// Runs actors and moves time, as [`step`](Self::step) does, until `by` of virtual time
    /// has passed and no actor can run. Returns the turns run.
    ///
    /// # Panics
    ///
    /// After [`MAX_STEPS`] turns.
    #[track_caller]
    pub fn run_for(&mut self, by: Duration) -> usize {
        let end = self.system.core().scheduler().now() + by;
        let mut turns = self.run_while(end, || true);
        if self.system.core().scheduler().now() < end {
            self.move_time_to(end);
            turns += self.run_until_quiet();
        }
        turns
    }

    /// Runs actors and moves time until `pending` has its answer, or nothing is left to do
    /// within `timeout` of virtual time. How the test asks the simulated actors:
    /// `sim.wait_for(account.balance(), Duration::from_secs(5))`.
    ///
    /// # Errors
    ///
    /// The ask's own failure, or an [`AskError`] timeout if no answer
    /// came within `timeout`.
    ///
    /// # Panics
    ///
    /// After [`MAX_STEPS`] turns.
    #[track_caller]
    pub fn wait_for<R>(&mut self, pending: Pending<R>, timeout: Duration) -> Result<R, AskError> {
        let end = self.system.core().scheduler().now() + timeout;
        self.run_while(end, || !pending.is_ready());
        pending.wait(Duration::ZERO)
    }

    /// Steps while `go_on` says so and there is something to do before `end`.
    #[track_caller]
    fn run_while(&mut self, end: Instant, mut go_on: impl FnMut() -> bool) -> usize {
        let scheduler = self.system.core().scheduler();
        let mut turns = 0;
        while go_on() {
            self.collect_ready();
            let next_timer = scheduler.next_deadline().filter(|at| *at <= end);
            if self.ready.is_empty() {
                match next_timer {
                    Some(at) => self.move_time_to(at),
                    None => break,
                }
                continue;
            }
            if let Some(at) = next_timer
                && self.rng.usize(..TIME_JUMP_ODDS) == 0
            {
                self.move_time_to(at);
                continue;
            }
            self.run_one();
            turns += 1;
            self.check_bound(turns);
        }
        turns
    }

    #[track_caller]
    fn check_bound(&self, turns: usize) {
        if turns >= MAX_STEPS {
            panic!(
                "the simulation ran {MAX_STEPS} turns without coming to rest: actors keep each \
                 other busy"
            );
        }
    }

    /// Takes the actors that became runnable into `ready`, kept ordered by actor id: the
    /// system's queue follows the order of sends in a turn, which may come from a hash map;
    /// the actors' ids do not.
    fn collect_ready(&mut self) {
        for task in self.system.core().take_runnable() {
            let is_inbox = self
                .inboxes
                .iter()
                .any(|inbox| std::ptr::addr_eq(Arc::as_ptr(&task), Arc::as_ptr(&inbox.0)));
            if is_inbox {
                // Its messages wait for the test: it stays scheduled, and runs only to stop.
                self.held.push(task);
                continue;
            }
            let id = task.actor_id();
            let at = self.ready.partition_point(|ready| ready.actor_id() < id);
            self.ready.insert(at, task);
        }
    }

    fn run_one(&mut self) {
        let runnable = self.ready.len();
        let task = self.ready.remove(self.rng.usize(..runnable));
        self.trace.push(TraceEvent::Ran {
            actor: task.actor_id(),
            runnable,
        });
        task.run();
    }

    fn move_time_to(&mut self, at: Instant) {
        let scheduler = self.system.core().scheduler();
        let by = at.saturating_duration_since(scheduler.now());
        let fired = scheduler.advance(by);
        self.trace.push(TraceEvent::TimeMoved {
            at: self.elapsed(),
            fired,
        });
    }

    /// Stops every actor, running them until they have (the test's inboxes too).
    fn stop_all(&mut self) {
        self.system.begin_shutdown();
        self.inboxes.clear();
        self.ready.append(&mut self.held);
        for _ in 0..MAX_STEPS {
            self.collect_ready();
            if self.ready.is_empty() || self.system.is_terminated() {
                break;
            }
            self.run_one();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop_all();
    }
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("elapsed", &self.elapsed())
            .field("steps", &self.trace.len())
            .finish_non_exhaustive()
    }
}
