//! The actor system: its dispatchers, scheduler, dead letters, the `/user` guardian under
//! which every top-level actor runs, and the extensions that plug features into it.
//!
//! Slightly over 600 lines: the system, its builder and its guardian share the core's private
//! state; the testkit's manual mode adds the rest.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::actor_ref::{ActorRef, AnyActorRef, Children};
use super::behavior::Behavior;
use super::cell::{CellControl, Control, new_child};
use super::extension::{Extension, Extensions};
use super::front::spawned_ref;
use super::path::{ActorPath, validate_name};
use crate::dead_letters::DeadLetters;
use crate::dispatch::{Dispatcher, on_dispatcher_thread};
use crate::error::{BuildError, SpawnError};
use crate::event_stream::EventStream;
use crate::supervision::panic;
use crate::timers::{Scheduler, SchedulerHandle};

const DEFAULT_DISPATCHER: &str = "default";
const DEFAULT_THROUGHPUT: usize = 64;
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Options for spawning an actor beyond its behavior and name.
///
/// ```
/// use reactant::prelude::*;
///
/// let system = ActorSystem::builder().name("docs").dispatcher("blocking-io", 2).build()?;
/// let io = system.spawn_with(
///     Behaviors::receive_message(|_path: String| Behaviors::same()),
///     Some("file-reader"),
///     &Props::new().with_dispatcher("blocking-io"),
/// )?;
/// # drop(io);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Props {
    dispatcher: Option<String>,
}

impl Props {
    /// Default options: the default dispatcher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs the actor on the named dispatcher (a bulkhead configured on the builder).
    pub fn with_dispatcher(mut self, name: impl Into<String>) -> Self {
        self.dispatcher = Some(name.into());
        self
    }

    pub(crate) fn dispatcher_name(&self) -> Option<&str> {
        self.dispatcher.as_deref()
    }
}

/// What actors share: dispatchers, the scheduler, dead letters, id allocation.
pub(crate) struct SystemCore {
    name: String,
    default_dispatcher: Arc<Dispatcher>,
    dispatchers: HashMap<String, Arc<Dispatcher>>,
    scheduler: Scheduler,
    dead_letters: DeadLetters,
    event_stream: EventStream,
    /// Here rather than on `ActorSystem` so that actors reach them too; emptied when the system
    /// is dropped (they may hold actors, which hold the core).
    extensions: Extensions,
    next_id: AtomicU64,
    terminated: Mutex<bool>,
    on_terminated: Condvar,
    /// Set when a shutdown's wait for the actors to stop ran out (the test kit reports it).
    shutdown_timed_out: AtomicBool,
    /// Where a test system's actors report what they do (see `actor::testing`).
    #[cfg(feature = "testkit")]
    effect_sink: Option<Arc<dyn super::testing::EffectSink>>,
}

impl SystemCore {
    pub(crate) fn dispatcher(&self, name: Option<&str>) -> Result<Arc<Dispatcher>, SpawnError> {
        match name {
            None => Ok(self.default_dispatcher.clone()),
            Some(name) => self
                .dispatchers
                .get(name)
                .cloned()
                .ok_or_else(|| SpawnError::UnknownDispatcher(name.to_owned())),
        }
    }

    pub(crate) fn next_actor_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn scheduler(&self) -> SchedulerHandle {
        self.scheduler.handle()
    }

    /// Where this system's actors report what they do: only a test system has one.
    #[cfg(feature = "testkit")]
    #[inline]
    pub(crate) fn effect_sink(&self) -> Option<&Arc<dyn super::testing::EffectSink>> {
        self.effect_sink.as_ref()
    }

    /// Takes every actor waiting to run on this system's dispatchers. Only a manual system
    /// (built with `ActorSystemBuilder::manual`) has such a queue that nobody else drains: its
    /// dispatchers have no threads, and the test runs the actors it takes, on its own thread.
    #[cfg(feature = "testkit")]
    pub(crate) fn take_runnable(&self) -> Vec<crate::dispatch::pool::Task> {
        let mut names: Vec<&String> = self.dispatchers.keys().collect();
        // A fixed order: a simulation must see the same queue for the same run.
        names.sort();
        let mut tasks = Vec::new();
        for name in names {
            tasks.extend(self.dispatchers[name].take_queued());
        }
        tasks
    }

    pub(crate) fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    pub(crate) fn event_stream(&self) -> &EventStream {
        &self.event_stream
    }

    /// The extension `T` as [`ActorSystem::extension`] gives it, made with `make` where it
    /// does not exist yet: for extensions that actors reach without the system at hand.
    pub(crate) fn extension_or_make<T: Extension>(&self, make: impl FnOnce() -> T) -> Arc<T> {
        self.extensions.get_or_make(make)
    }

    fn mark_terminated(&self) {
        *self.terminated.lock() = true;
        self.on_terminated.notify_all();
    }

    fn wait_terminated(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut terminated = self.terminated.lock();
        while !*terminated {
            if self
                .on_terminated
                .wait_until(&mut terminated, deadline)
                .timed_out()
            {
                return *terminated;
            }
        }
        true
    }

    /// Waits for every actor to stop, then stops and joins the system's threads.
    fn finish_shutdown(&self, timeout: Duration) {
        if !self.wait_terminated(timeout) {
            self.shutdown_timed_out.store(true, Ordering::Release);
            tracing::error!(
                system = %self.name,
                ?timeout,
                "actors were still running at the end of the shutdown timeout; a handler may be \
                 blocked or looping"
            );
        }
        self.stop_threads();
    }

    fn stop_threads(&self) {
        self.scheduler.stop_and_join();
        for dispatcher in self.dispatchers.values() {
            dispatcher.stop_and_join();
        }
    }
}

/// The `/user` guardian: the parent of every top-level actor. Not an actor itself, so that
/// spawning from any thread takes only its registry lock. When the system shuts down it stops
/// every top-level actor (each stops its own children first) and marks the system terminated
/// once the last one has reported back.
struct Guardian {
    core: Weak<SystemCore>,
    registry: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    children: Children,
    names: HashMap<String, AnyActorRef>,
    stopping: bool,
}

impl Guardian {
    fn spawn<M: Send + 'static>(
        self: &Arc<Self>,
        behavior: Behavior<M>,
        name: Option<&str>,
        props: &Props,
    ) -> Result<ActorRef<M>, SpawnError> {
        let core = self.core.upgrade().ok_or(SpawnError::SystemTerminated)?;
        let (behavior, front) = behavior.take_front();
        let mut registry = self.registry.lock();
        if registry.stopping {
            return Err(SpawnError::SystemTerminated);
        }
        let taken = |name: &str| registry.names.contains_key(name);
        let cell = new_child(&core, self.clone(), name, taken, behavior, props, None)?;
        let child = AnyActorRef(cell.clone());
        if let Some(name) = CellControl::name(&*cell) {
            registry.names.insert(name.to_owned(), child.clone());
        }
        registry.children.insert(child);
        drop(registry);
        Ok(spawned_ref(ActorRef::from_cell(cell), front))
    }

    fn terminated(&self) {
        if let Some(core) = self.core.upgrade() {
            core.mark_terminated();
        }
    }
}

impl CellControl for Guardian {
    fn id(&self) -> u64 {
        0
    }

    fn dead_letter(
        &self,
        recipient: ActorPath,
        message_type: &'static str,
        reason: crate::dead_letters::DeadLetterReason,
    ) {
        if let Some(core) = self.core.upgrade() {
            core.dead_letters()
                .publish_named(recipient, message_type, reason);
        }
    }

    fn name(&self) -> Option<&str> {
        Some("user")
    }

    fn path(&self) -> ActorPath {
        ActorPath::new("/user")
    }

    fn is_terminated(&self) -> bool {
        self.core
            .upgrade()
            .is_none_or(|core| *core.terminated.lock())
    }

    fn send_control(self: Arc<Self>, control: Control) -> Result<(), Control> {
        match control {
            Control::Stop => {
                let children: Vec<AnyActorRef> = {
                    let mut registry = self.registry.lock();
                    if registry.stopping {
                        return Ok(());
                    }
                    registry.stopping = true;
                    registry.children.iter().cloned().collect()
                };
                if children.is_empty() {
                    self.terminated();
                }
                for child in children {
                    let _ = child.0.send_control(Control::Stop);
                }
            }
            Control::ChildTerminated { child, .. } => {
                let all_stopped = {
                    let mut registry = self.registry.lock();
                    registry.children.remove(&child);
                    if let Some(name) = child.0.name()
                        && registry.names.get(name) == Some(&child)
                    {
                        registry.names.remove(name);
                    }
                    registry.stopping && registry.children.is_empty()
                };
                if all_stopped {
                    self.terminated();
                }
            }
            // Nobody watches the guardian, and it has no behavior to signal.
            _ => {}
        }
        Ok(())
    }
}

/// A running actor system: a pool of threads, and the actors running on them.
///
/// Dropping the system shuts it down: every actor stops (children before parents, each with
/// `PostStop`) and every thread it started is joined.
///
/// ```
/// use reactant::prelude::*;
///
/// let system = ActorSystem::builder().name("shop").threads(2).build()?;
/// let logger = system.spawn(
///     Behaviors::receive_message(|line: String| {
///         println!("{line}");
///         Behaviors::same()
///     }),
///     "logger",
/// )?;
/// logger.tell("hello".to_owned());
/// system.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ActorSystem {
    core: Arc<SystemCore>,
    guardian: Arc<Guardian>,
    shut_down: AtomicBool,
    shutdown_timeout: Duration,
}

impl ActorSystem {
    pub(crate) fn core(&self) -> &Arc<SystemCore> {
        &self.core
    }

    /// This system's instance of the extension `T`, created on first use (see [`Extension`]).
    pub fn extension<T: Extension>(&self) -> Arc<T> {
        self.core.extensions.get_or_create(self)
    }

    /// Whether this system's instance of the extension `T` exists already.
    pub fn has_extension<T: Extension>(&self) -> bool {
        self.core.extensions.contains::<T>()
    }

    /// Starts a system with default settings: one worker per core.
    pub fn new(name: &str) -> Result<Self, BuildError> {
        Self::builder().name(name).build()
    }

    /// Configures a system.
    pub fn builder() -> ActorSystemBuilder {
        ActorSystemBuilder::default()
    }

    /// The system's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// Spawns a top-level actor at `/user/{name}`.
    pub fn spawn<M: Send + 'static>(
        &self,
        behavior: impl Into<Behavior<M>>,
        name: &str,
    ) -> Result<ActorRef<M>, SpawnError> {
        self.spawn_with(behavior, Some(name), &Props::default())
    }

    /// Spawns a top-level actor with a generated `$`-name.
    pub fn spawn_anonymous<M: Send + 'static>(
        &self,
        behavior: impl Into<Behavior<M>>,
    ) -> Result<ActorRef<M>, SpawnError> {
        self.spawn_with(behavior, None, &Props::default())
    }

    /// Spawns a top-level actor with [`Props`]; `name: None` for an anonymous one.
    pub fn spawn_with<M: Send + 'static>(
        &self,
        behavior: impl Into<Behavior<M>>,
        name: Option<&str>,
        props: &Props,
    ) -> Result<ActorRef<M>, SpawnError> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(SpawnError::SystemTerminated);
        }
        self.guardian.spawn(behavior.into(), name, props)
    }

    /// The system's dead letters: a count, and a subscription.
    pub fn dead_letters(&self) -> &DeadLetters {
        self.core.dead_letters()
    }

    /// The system's event stream: publish / subscribe by type. Dead letters and
    /// [`LifecycleEvent`](crate::event_stream::LifecycleEvent)s appear there.
    pub fn event_stream(&self) -> &EventStream {
        self.core.event_stream()
    }

    /// Worker threads alive across all dispatchers (a panic in an actor never ends one).
    pub fn live_worker_threads(&self) -> usize {
        self.core
            .dispatchers
            .values()
            .map(|d| d.live_threads())
            .sum()
    }

    /// True once every actor has stopped.
    pub fn is_terminated(&self) -> bool {
        *self.core.terminated.lock()
    }

    /// True if a shutdown gave up waiting for the actors to stop (its timeout ran out).
    #[cfg_attr(not(feature = "testkit"), allow(dead_code))]
    pub(crate) fn shutdown_timed_out(&self) -> bool {
        self.core.shutdown_timed_out.load(Ordering::Acquire)
    }

    /// Asks every actor to stop, without waiting: a manual system's test then runs them until
    /// they have (see `take_runnable`), and `shutdown` finds them stopped.
    #[cfg(feature = "testkit")]
    pub(crate) fn begin_shutdown(&self) {
        if !self.shut_down.swap(true, Ordering::AcqRel) {
            let _ = self.guardian.clone().send_control(Control::Stop);
        }
    }

    /// Drops a manual system as if its process had died: no actor runs again (none gets
    /// `PostStop`), and its scheduler's thread is joined without waiting for anything.
    #[cfg(feature = "testkit")]
    pub(crate) fn abandon(self) {
        self.shut_down.store(true, Ordering::Release);
        self.core.stop_threads();
        self.core.mark_terminated();
    }

    /// Stops every actor (children before parents, each receiving `PostStop`), then joins every
    /// thread the system started. Idempotent.
    ///
    /// Actors still running user code after the shutdown timeout (30 s by default) are left
    /// behind with an error in the log. Called on one of the system's own threads (the last
    /// owner dropped inside an actor), it cannot wait there: a short-lived thread of its own
    /// finishes the shutdown and joins the workers.
    pub fn shutdown(&self) {
        let first = !self.shut_down.swap(true, Ordering::AcqRel);
        if first {
            let _ = self.guardian.clone().send_control(Control::Stop);
        }
        if on_dispatcher_thread() {
            let core = self.core.clone();
            let timeout = self.shutdown_timeout;
            let finisher = std::thread::Builder::new()
                .name(format!("{}-shutdown", self.core.name))
                .spawn(move || core.finish_shutdown(timeout));
            if let Err(error) = finisher {
                tracing::error!(%error, "could not start a thread to finish the shutdown");
            }
            return;
        }
        self.core.finish_shutdown(self.shutdown_timeout);
    }
}

impl Drop for ActorSystem {
    fn drop(&mut self) {
        self.shutdown();
        self.core.extensions.clear();
    }
}

impl std::fmt::Debug for ActorSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorSystem")
            .field("name", &self.core.name)
            .field("terminated", &self.is_terminated())
            .finish()
    }
}

/// Builds an [`ActorSystem`]: its name, threads, fairness, and extra named dispatchers.
#[derive(Debug, Clone)]
pub struct ActorSystemBuilder {
    name: String,
    threads: Option<usize>,
    throughput: usize,
    dispatchers: Vec<(String, usize)>,
    shutdown_timeout: Duration,
    /// `Some`: a manual system for the testkit (see [`manual`](Self::manual)).
    #[cfg(feature = "testkit")]
    manual: Option<super::testing::Manual>,
}

impl Default for ActorSystemBuilder {
    fn default() -> Self {
        Self {
            name: "reactant".to_owned(),
            threads: None,
            throughput: DEFAULT_THROUGHPUT,
            dispatchers: Vec::new(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            #[cfg(feature = "testkit")]
            manual: None,
        }
    }
}

impl ActorSystemBuilder {
    /// The system's name, used in thread names and logs.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Worker threads of the default dispatcher (default: the number of cores).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// At most this many user messages per actor per turn before it yields its worker
    /// (default 64).
    pub fn throughput(mut self, messages: usize) -> Self {
        self.throughput = messages;
        self
    }

    /// Adds a named dispatcher with its own threads: a bulkhead, e.g. for blocking I/O.
    pub fn dispatcher(mut self, name: impl Into<String>, threads: usize) -> Self {
        self.dispatchers.push((name.into(), threads));
        self
    }

    /// How long `shutdown` waits for actors to stop (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// A manual system, for the testkit: its dispatchers have no threads (the test runs its
    /// actors on its own thread, taking them with `SystemCore::take_runnable`), its clock is
    /// frozen and its scheduler runs nothing by itself (only `advance` does, on the caller's
    /// thread), and its actors report what they do to `sink`, if any.
    #[cfg(feature = "testkit")]
    pub(crate) fn manual(mut self, sink: Option<Arc<dyn super::testing::EffectSink>>) -> Self {
        self.manual = Some(super::testing::Manual(sink));
        self
    }

    /// Starts the system.
    pub fn build(self) -> Result<ActorSystem, BuildError> {
        validate_name(&self.name).map_err(|reason| BuildError::InvalidName {
            name: self.name.clone(),
            reason,
        })?;
        if self.throughput == 0 {
            return Err(BuildError::ZeroThroughput);
        }
        let default_threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let mut wanted = vec![(DEFAULT_DISPATCHER.to_owned(), default_threads)];
        wanted.extend(self.dispatchers.iter().cloned());
        #[cfg(feature = "testkit")]
        let manual = self.manual.is_some();
        #[cfg(not(feature = "testkit"))]
        let manual = false;
        for (index, (name, threads)) in wanted.iter().enumerate() {
            if *threads == 0 {
                return Err(BuildError::ZeroThreads {
                    dispatcher: name.clone(),
                });
            }
            if wanted[..index].iter().any(|(other, _)| other == name) {
                return Err(BuildError::DuplicateDispatcher(name.clone()));
            }
        }
        panic::install_hook();

        let mut dispatchers = HashMap::new();
        let stop_started = |dispatchers: &HashMap<String, Arc<Dispatcher>>| {
            for dispatcher in dispatchers.values() {
                dispatcher.stop_and_join();
            }
        };
        for (name, threads) in &wanted {
            let threads = if manual { 0 } else { *threads };
            match Dispatcher::start(&self.name, name, threads, self.throughput) {
                Ok(dispatcher) => {
                    dispatchers.insert(name.clone(), dispatcher);
                }
                Err(error) => {
                    stop_started(&dispatchers);
                    return Err(error.into());
                }
            }
        }
        let scheduler = match Scheduler::start(&self.name) {
            Ok(scheduler) => scheduler,
            Err(error) => {
                stop_started(&dispatchers);
                return Err(error.into());
            }
        };
        #[cfg(feature = "testkit")]
        if manual {
            scheduler.handle().drive_manually();
        }
        let default_dispatcher = dispatchers[DEFAULT_DISPATCHER].clone();
        let event_stream = EventStream::default();
        let core = Arc::new(SystemCore {
            name: self.name,
            default_dispatcher,
            dispatchers,
            scheduler,
            dead_letters: DeadLetters::with_event_stream(event_stream.clone()),
            event_stream,
            extensions: Extensions::default(),
            next_id: AtomicU64::new(1),
            terminated: Mutex::new(false),
            on_terminated: Condvar::new(),
            shutdown_timed_out: AtomicBool::new(false),
            #[cfg(feature = "testkit")]
            effect_sink: self.manual.and_then(|manual| manual.0),
        });
        let guardian = Arc::new(Guardian {
            core: Arc::downgrade(&core),
            registry: Mutex::new(Registry::default()),
        });
        Ok(ActorSystem {
            core,
            guardian,
            shut_down: AtomicBool::new(false),
            shutdown_timeout: self.shutdown_timeout,
        })
    }
}
