//! [`ActorTestKit`]: one actor system per test, checked when the test ends.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use parking_lot::Mutex;

use super::probe::{DEFAULT_TIMEOUT, TestProbe};
use crate::actor::{ActorPath, ActorRef, ActorSystem, Behavior};
use crate::dead_letters::DeadLetter;

/// How long the kit's shutdown waits for the actors to stop before it fails the test.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// An actor system for one test, with probes and checks (Akka's `ActorTestKit`).
///
/// When the kit is shut down ([`shutdown`](Self::shutdown), or dropped at the end of the test)
/// it fails the test if
/// - a message became a dead letter that the test did not take with
///   [`dead_letters`](Self::dead_letters) or [`expect_dead_letters`](Self::expect_dead_letters)
///   (unless built with [`allow_dead_letters`](ActorTestKitBuilder::allow_dead_letters)), or
/// - an actor was still running user code when the shutdown timeout ended (a handler blocked
///   or looping).
///
/// A test that is already failing skips the checks, so its own failure is the one reported.
///
/// ```
/// use reactant::prelude::*;
/// use reactant::testkit::ActorTestKit;
///
/// let kit = ActorTestKit::new();
/// let doubler = kit.spawn(
///     Behaviors::receive_message(|(n, reply_to): (u64, ActorRef<u64>)| {
///         reply_to.tell(n * 2);
///         Behaviors::same()
///     }),
///     "doubler",
/// );
/// let probe = kit.probe::<u64>();
/// doubler.tell((21, probe.r#ref()));
/// probe.expect_message(42);
/// kit.shutdown(); // or let it drop
/// ```
pub struct ActorTestKit {
    system: Option<ActorSystem>,
    dead_letters: Receiver<DeadLetter>,
    /// Dead letters the kit itself caused and already reported otherwise (a command the
    /// entity kit sent to an entity that stopped: `CommandFailure::Stopped`), by recipient and
    /// message type; each excuses one letter.
    excused: Mutex<Vec<(ActorPath, &'static str)>>,
    allow_dead_letters: bool,
    timeout: Duration,
    shutdown_timeout: Duration,
}

/// Configures an [`ActorTestKit`].
#[derive(Debug, Clone)]
pub struct ActorTestKitBuilder {
    name: Option<String>,
    threads: usize,
    timeout: Duration,
    shutdown_timeout: Duration,
    allow_dead_letters: bool,
}

impl ActorTestKitBuilder {
    /// The system's name (default: made from the test's name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Worker threads of the system (default 2).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// How long each probe expectation waits by default ([`DEFAULT_TIMEOUT`] unless set).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long the shutdown waits for every actor to stop before failing the test (10 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Dead letters do not fail the test at shutdown.
    pub fn allow_dead_letters(mut self) -> Self {
        self.allow_dead_letters = true;
        self
    }

    /// Starts the kit's system.
    ///
    /// # Panics
    ///
    /// If the system cannot start (an invalid name, no threads left): a test cannot go on.
    #[track_caller]
    pub fn build(self) -> ActorTestKit {
        let name = self.name.unwrap_or_else(name_of_this_test);
        let system = match ActorSystem::builder()
            .name(name.clone())
            .threads(self.threads)
            .shutdown_timeout(self.shutdown_timeout)
            .build()
        {
            Ok(system) => system,
            Err(error) => panic!("the test kit's actor system {name:?} could not start: {error}"),
        };
        let dead_letters = system.dead_letters().subscribe();
        ActorTestKit {
            system: Some(system),
            dead_letters,
            excused: Mutex::new(Vec::new()),
            allow_dead_letters: self.allow_dead_letters,
            timeout: self.timeout,
            shutdown_timeout: self.shutdown_timeout,
        }
    }
}

/// The current test's name as an actor system name: the test harness names each test's thread
/// after the test (`module::test_name`).
fn name_of_this_test() -> String {
    let thread = std::thread::current();
    let name: String = thread
        .name()
        .unwrap_or("testkit")
        .rsplit("::")
        .next()
        .unwrap_or("testkit")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() || name == "main" {
        "testkit".to_owned()
    } else {
        name
    }
}

impl Default for ActorTestKit {
    fn default() -> Self {
        Self::new()
    }
}

impl ActorTestKit {
    /// A kit with a two-thread system named after the test.
    #[track_caller]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a kit.
    pub fn builder() -> ActorTestKitBuilder {
        ActorTestKitBuilder {
            name: None,
            threads: 2,
            timeout: DEFAULT_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            allow_dead_letters: false,
        }
    }

    /// The kit's actor system.
    pub fn system(&self) -> &ActorSystem {
        match &self.system {
            Some(system) => system,
            // Only `shutdown(self)` and `drop` take the system, and both consume the kit.
            None => unreachable!("the kit's system is taken only when the kit goes away"),
        }
    }

    /// How long each probe expectation waits by default.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Spawns a top-level actor at `/user/{name}`.
    ///
    /// # Panics
    ///
    /// If the name is taken or invalid (the test's own mistake).
    #[track_caller]
    pub fn spawn<M: Send + 'static>(
        &self,
        behavior: impl Into<Behavior<M>>,
        name: &str,
    ) -> ActorRef<M> {
        match self.system().spawn(behavior, name) {
            Ok(actor) => actor,
            Err(error) => panic!("the test kit could not spawn {name:?}: {error}"),
        }
    }

    /// Spawns a top-level actor with a generated name.
    ///
    /// # Panics
    ///
    /// If the system has shut down.
    #[track_caller]
    pub fn spawn_anonymous<M: Send + 'static>(
        &self,
        behavior: impl Into<Behavior<M>>,
    ) -> ActorRef<M> {
        match self.system().spawn_anonymous(behavior) {
            Ok(actor) => actor,
            Err(error) => panic!("the test kit could not spawn an actor: {error}"),
        }
    }

    /// A new probe in the kit's system, with the kit's timeout.
    #[track_caller]
    pub fn probe<M: Send + 'static>(&self) -> TestProbe<M> {
        TestProbe::with_timeout(self.system(), self.timeout)
    }

    /// The dead letters so far, taken: they no longer fail the test at shutdown.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead_letters
            .try_iter()
            .filter(|letter| !self.is_excused(letter))
            .collect()
    }

    /// Excuses one dead letter to `recipient` of type `message_type`: the kit caused it and
    /// reported it another way.
    pub(crate) fn excuse_dead_letter(&self, recipient: ActorPath, message_type: &'static str) {
        self.excused.lock().push((recipient, message_type));
    }

    /// Whether `letter` is excused (using up its excuse).
    fn is_excused(&self, letter: &DeadLetter) -> bool {
        let mut excused = self.excused.lock();
        let found = excused.iter().position(|(recipient, message_type)| {
            *recipient == letter.recipient && *message_type == letter.message_type
        });
        found.map(|at| excused.swap_remove(at)).is_some()
    }

    /// Waits (at most the kit's timeout) for `n` dead letters and returns them, taken.
    #[track_caller]
    pub fn expect_dead_letters(&self, n: usize) -> Vec<DeadLetter> {
        let deadline = Instant::now() + self.timeout;
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            match self
                .dead_letters
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(letter) if self.is_excused(&letter) => {}
                Ok(letter) => got.push(letter),
                Err(_) => panic!(
                    "expected {n} dead letters within {:?}, but {} came: {}",
                    self.timeout,
                    got.len(),
                    list(&got)
                ),
            }
        }
        got
    }

    /// Shuts the system down and checks it (see the [type docs](Self)); fails the test with
    /// everything that went wrong.
    #[track_caller]
    pub fn shutdown(mut self) {
        if let Err(report) = self.finish() {
            panic!("{report}");
        }
    }

    /// Shuts down; the text of every check that failed.
    fn finish(&mut self) -> Result<(), String> {
        let Some(system) = self.system.take() else {
            return Ok(());
        };
        // Taken before the shutdown: messages that its stops turn into dead letters are not
        // the test's.
        let unexpected = self.dead_letters();
        system.shutdown();
        let mut report = String::new();
        if !unexpected.is_empty() && !self.allow_dead_letters {
            let _ = write!(
                report,
                "the test left {} unexpected dead letters: {} (take them with \
                 ActorTestKit::dead_letters or expect_dead_letters, or build the kit with \
                 allow_dead_letters)",
                unexpected.len(),
                list(&unexpected)
            );
        }
        if system.shutdown_timed_out() {
            if !report.is_empty() {
                report.push_str("; and ");
            }
            let _ = write!(
                report,
                "actors of {} were still running {:?} after the shutdown began: a handler is \
                 blocked or looping (the shutdown waited for it to return)",
                system.name(),
                self.shutdown_timeout
            );
        }
        if report.is_empty() {
            Ok(())
        } else {
            Err(format!("ActorTestKit: {report}"))
        }
    }
}

fn list(letters: &[DeadLetter]) -> String {
    let shown: Vec<String> = letters.iter().take(10).map(ToString::to_string).collect();
    let mut text = shown.join("; ");
    if letters.len() > shown.len() {
        let _ = write!(text, "; and {} more", letters.len() - shown.len());
    }
    text
}

impl Drop for ActorTestKit {
    fn drop(&mut self) {
        let result = self.finish();
        if let Err(report) = result
            && !std::thread::panicking()
        {
            panic!("{report}");
        }
    }
}

impl std::fmt::Debug for ActorTestKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorTestKit")
            .field("system", &self.system)
            .field("timeout", &self.timeout)
            .finish()
    }
}
