//! Timers: one scheduler thread for the whole system, and the keyed [`Timers`] each actor uses.
//!
//! A timer's message travels to its actor's `TimerTarget` (the actor core queues it as a
//! system message) stamped with the timer's key and generation. Starting a timer under an
//! existing key, or cancelling it, moves the key to a new generation (or forgets it), so a
//! message of the earlier timer is dropped when it reaches the actor even if it was already
//! queued: a cancelled or replaced timer's message is never delivered.
//!
//! This module sits below the actor core and knows nothing of it: the core implements
//! `TimerTarget` for its actors and asks `Timers::accept` before handling a timer message.
//!
//! Over 600 lines: the scheduler thread and the per-actor `Timers` share the key, generation and
//! deadline types, and the testkit's driven mode and effect recording reach into both.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::supervision::panic;

/// Identifies a task on the scheduler thread: its first deadline and its number. A task that
/// runs once stays at that deadline, so cancelling it finds it in the queue directly; only a
/// repeating task, which moves, is looked up in [`SchedulerState::repeating`]. (An ask starts
/// and cancels a timer each time: the lookup map on that path cost about 5% of an in-runtime
/// ask in `perf`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskId {
    at: Instant,
    number: u64,
}

enum Task {
    Once(Box<dyn FnOnce() + Send>),
    /// Runs until the closure returns false or the task is cancelled.
    Repeat {
        interval: Duration,
        fixed_rate: bool,
        run: Box<dyn FnMut() -> bool + Send>,
    },
}

/// How a timer repeats (see [`Timers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerMode {
    /// `start_single`: once.
    Single,
    /// `start_fixed_delay`: again `delay` after each delivery.
    FixedDelay,
    /// `start_fixed_rate`: every `interval`, keeping the rate.
    FixedRate,
}

/// Told of each start and cancellation of an actor's timers: the seam a test system uses to
/// record them (the actor core implements it; this module knows nothing of actors).
#[cfg(feature = "testkit")]
pub(crate) trait TimerObserver: Send + Sync + 'static {
    /// A timer under `key` (its `Debug` text) was started.
    fn started(&self, key: String, delay: Duration, mode: TimerMode);
    /// The timer under `key` was cancelled.
    fn cancelled(&self, key: String);
}

/// What the scheduler thread is doing, so that a new task wakes it only when it would
/// otherwise wake too late.
///
/// | state     | set when                                          | an inserted task due at `t` wakes it |
/// |-----------|---------------------------------------------------|--------------------------------------|
/// | `Running` | it starts, or returns from a wait (lock held, or released only to run a task, after which it looks at the queue again) | never: it will see the task |
/// | `At(w)`   | it waits until `w`, the earliest deadline then    | if `t < w`                           |
/// | `Never`   | it waits with no deadline (an empty queue, or manual time) | always                     |
///
/// Without this, a task inserted into an empty queue always woke the thread: an ask's timeout
/// timer, started and cancelled once per ask, cost every ask a wake-up of the scheduler thread
/// and its context switch (the largest share of an in-runtime ask in `perf`).
#[derive(Default, Clone, Copy)]
enum SchedulerWakes {
    #[default]
    Running,
    At(Instant),
    Never,
}

#[derive(Default)]
struct SchedulerState {
    /// Tasks by deadline and number.
    queue: BTreeMap<(Instant, u64), Task>,
    wakes: SchedulerWakes,
    /// Live repeating tasks and their next deadline; a repeating task missing here is
    /// cancelled (it is dropped after its current run instead of queued again).
    repeating: HashMap<u64, Instant>,
    next_id: u64,
    shutdown: bool,
    /// `Some`: manual time (the testkit's `ManualTime`): the clock stands at this instant and
    /// moves only when `advance` moves it. `None`: the system's monotonic clock.
    frozen_at: Option<Instant>,
    /// A manual system's scheduler (the testkit's simulation): the thread runs nothing, not
    /// even a task due now; only `advance`, on the caller's thread, does.
    driven: bool,
}

impl SchedulerState {
    /// The scheduler's time now.
    fn now(&self) -> Instant {
        self.frozen_at.unwrap_or_else(Instant::now)
    }
}

struct SchedulerShared {
    state: Mutex<SchedulerState>,
    wake: Condvar,
}

/// A handle to the system's scheduler thread.
#[derive(Clone)]
pub(crate) struct SchedulerHandle(Arc<SchedulerShared>);

/// The scheduler thread and its handle.
pub(crate) struct Scheduler {
    handle: SchedulerHandle,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Scheduler {
    pub(crate) fn start(system: &str) -> std::io::Result<Self> {
        let shared = Arc::new(SchedulerShared {
            state: Mutex::new(SchedulerState::default()),
            wake: Condvar::new(),
        });
        let handle = SchedulerHandle(shared.clone());
        let thread = thread::Builder::new()
            .name(format!("{system}-scheduler"))
            .spawn(move || run_scheduler(&shared))?;
        Ok(Self {
            handle,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) fn handle(&self) -> SchedulerHandle {
        self.handle.clone()
    }

    /// Drops every pending task and joins the thread.
    pub(crate) fn stop_and_join(&self) {
        {
            let mut state = self.handle.0.state.lock();
            state.shutdown = true;
            state.repeating.clear();
        }
        self.handle.0.wake.notify_all();
        if let Some(thread) = self.thread.lock().take()
            && thread.thread().id() != thread::current().id()
            && thread.join().is_err()
        {
            tracing::error!("the timer scheduler thread panicked");
        }
        // Tasks hold actor references: drop them now, outside the lock.
        let queue = std::mem::take(&mut self.handle.0.state.lock().queue);
        drop(queue);
    }
}

impl SchedulerHandle {
    /// Runs `f` once after `delay`. `None` once the scheduler has stopped.
    pub(crate) fn schedule_once(
        &self,
        delay: Duration,
        f: impl FnOnce() + Send + 'static,
    ) -> Option<TaskId> {
        self.insert(delay, Task::Once(Box::new(f)))
    }

    /// Runs `f` after `initial`, then every `interval` (measured from the previous deadline
    /// when `fixed_rate`, from the end of the previous run otherwise) while it returns true.
    pub(crate) fn schedule_repeating(
        &self,
        initial: Duration,
        interval: Duration,
        fixed_rate: bool,
        f: impl FnMut() -> bool + Send + 'static,
    ) -> Option<TaskId> {
        self.insert(
            initial,
            Task::Repeat {
                interval: interval.max(Duration::from_micros(1)),
                fixed_rate,
                run: Box::new(f),
            },
        )
    }

    fn insert(&self, delay: Duration, task: Task) -> Option<TaskId> {
        let mut state = self.0.state.lock();
        if state.shutdown {
            return None;
        }
        let at = state.now() + delay;
        let number = state.next_id;
        state.next_id += 1;
        if matches!(task, Task::Repeat { .. }) {
            state.repeating.insert(number, at);
        }
        state.queue.insert((at, number), task);
        let wake = match state.wakes {
            SchedulerWakes::Running => false,
            SchedulerWakes::At(wakes_at) => at < wakes_at,
            SchedulerWakes::Never => true,
        };
        drop(state);
        if wake {
            self.0.wake.notify_one();
        }
        Some(TaskId { at, number })
    }

    /// Cancels a task; a no-op if it already ran or was cancelled. A repeating task that is
    /// running now is not queued again.
    pub(crate) fn cancel(&self, id: TaskId) {
        let removed = {
            let mut state = self.0.state.lock();
            match state.queue.remove(&(id.at, id.number)) {
                Some(task) => {
                    if matches!(task, Task::Repeat { .. }) {
                        state.repeating.remove(&id.number);
                    }
                    Some(task)
                }
                // Ran already, is running now, or repeats and has moved on from its first
                // deadline (then it is found at its current one, or not queued again).
                None => match state.repeating.remove(&id.number) {
                    Some(at) => state.queue.remove(&(at, id.number)),
                    None => None,
                },
            }
        };
        // Dropped outside the lock: a task may own actor references.
        drop(removed);
    }
}

/// Manual time, for the testkit: the clock stops, and moves only by [`advance`](Self::advance).
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
impl SchedulerHandle {
    /// Stops the scheduler's clock where it is; from now on only `advance` moves it. Timers
    /// already started keep their deadlines. Idempotent.
    pub(crate) fn freeze(&self) {
        let mut state = self.0.state.lock();
        if state.frozen_at.is_none() {
            state.frozen_at = Some(Instant::now());
        }
        drop(state);
        self.0.wake.notify_all();
    }

    /// Freezes the clock and leaves every task to `advance`: the scheduler's own thread runs
    /// nothing from now on, so all tasks run on the thread that moves time.
    pub(crate) fn drive_manually(&self) {
        self.0.state.lock().driven = true;
        self.freeze();
    }

    /// The deadline of the next task, if any (where a simulation moves time next).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.0.state.lock().queue.keys().next().map(|(at, _)| *at)
    }

    /// The scheduler's time now (frozen or not).
    pub(crate) fn now(&self) -> Instant {
        self.0.state.lock().now()
    }

    /// Moves a frozen clock forward by `by`, running every task that falls due on the way on
    /// the calling thread, in deadline order, each at its own deadline: a periodic timer due
    /// three times in `by` runs three times. Returns how many tasks ran. Does nothing unless
    /// the clock is frozen.
    pub(crate) fn advance(&self, by: Duration) -> usize {
        let mut state = self.0.state.lock();
        let Some(start) = state.frozen_at else {
            return 0;
        };
        let target = start + by;
        let mut ran = 0;
        while !state.shutdown {
            let Some(&(at, id)) = state.queue.keys().next() else {
                break;
            };
            if at > target {
                break;
            }
            state.frozen_at = Some(at.max(start));
            state = run_task(&self.0, state, at, id);
            ran += 1;
        }
        state.frozen_at = Some(target);
        ran
    }
}

fn run_scheduler(shared: &SchedulerShared) {
    let mut state = shared.state.lock();
    loop {
        if state.shutdown {
            return;
        }
        let now = state.now();
        let Some((&(at, id), _)) = state.queue.iter().next() else {
            state.wakes = SchedulerWakes::Never;
            shared.wake.wait(&mut state);
            state.wakes = SchedulerWakes::Running;
            continue;
        };
        if at > now || state.driven {
            if state.frozen_at.is_some() {
                // Manual time: only `advance` (or a task due now) wakes the thread.
                state.wakes = SchedulerWakes::Never;
                shared.wake.wait(&mut state);
            } else {
                state.wakes = SchedulerWakes::At(at);
                shared.wake.wait_until(&mut state, at);
            }
            state.wakes = SchedulerWakes::Running;
            continue;
        }
        state = run_task(shared, state, at, id);
    }
}

/// Runs the task `id` due at `at` (taken out of the queue), outside the lock; reschedules a
/// periodic one. Hands the lock back.
fn run_task<'a>(
    shared: &'a SchedulerShared,
    mut state: parking_lot::MutexGuard<'a, SchedulerState>,
    at: Instant,
    id: u64,
) -> parking_lot::MutexGuard<'a, SchedulerState> {
    let Some(task) = state.queue.remove(&(at, id)) else {
        return state;
    };
    match task {
        Task::Once(f) => {
            drop(state);
            if let Err(failure) = panic::catch(f) {
                tracing::error!(%failure, "a scheduled task panicked");
            }
            state = shared.state.lock();
        }
        Task::Repeat {
            interval,
            fixed_rate,
            mut run,
        } => {
            drop(state);
            let again = panic::catch(&mut run).unwrap_or(false);
            state = shared.state.lock();
            // Cancelled while it ran? Then it is gone from `repeating`.
            if again && state.repeating.contains_key(&id) {
                let next = if fixed_rate {
                    at + interval
                } else {
                    state.now() + interval
                };
                state.repeating.insert(id, next);
                state.queue.insert(
                    (next, id),
                    Task::Repeat {
                        interval,
                        fixed_rate,
                        run,
                    },
                );
            } else {
                state.repeating.remove(&id);
                drop(state);
                drop(run);
                state = shared.state.lock();
            }
        }
    }
    state
}

/// A timer key: any `Hash + Eq + Debug` value (a `&'static str`, an enum, an id).
#[derive(Clone)]
pub(crate) struct TimerKey(Arc<dyn KeyObject>);

trait KeyObject: Send + Sync + 'static {
    fn as_any(&self) -> &dyn Any;
    fn eq_key(&self, other: &dyn KeyObject) -> bool;
    fn hash_key(&self, state: &mut dyn Hasher);
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<K: Hash + Eq + fmt::Debug + Send + Sync + 'static> KeyObject for K {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn eq_key(&self, other: &dyn KeyObject) -> bool {
        other.as_any().downcast_ref::<K>() == Some(self)
    }

    fn hash_key(&self, mut state: &mut dyn Hasher) {
        std::any::TypeId::of::<K>().hash(&mut state);
        self.hash(&mut state);
    }

    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl TimerKey {
    /// Wraps any hashable value as a timer key.
    pub fn new<K: Hash + Eq + fmt::Debug + Send + Sync + 'static>(key: K) -> Self {
        Self(Arc::new(key))
    }
}

impl PartialEq for TimerKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_key(&*other.0)
    }
}

impl Eq for TimerKey {}

impl Hash for TimerKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash_key(state);
    }
}

impl fmt::Debug for TimerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug(f)
    }
}

/// Where an actor's timers send their messages: the actor itself, which the actor core makes
/// a timer target.
pub(crate) trait TimerTarget<M>: Send + Sync + 'static {
    /// Queues a timer's message, stamped with its key and generation, for the actor to check
    /// with [`Timers::accept`]; false once the actor has terminated (a periodic timer then
    /// ends).
    fn deliver_timer(self: Arc<Self>, key: TimerKey, generation: u64, msg: M) -> bool;
}

struct ActiveTimer {
    generation: u64,
    task: Option<TaskId>,
    single: bool,
}

#[derive(Default)]
struct TimerTable {
    active: HashMap<TimerKey, ActiveTimer>,
    /// Never reset, not even across restarts: a generation identifies one timer forever.
    next_generation: u64,
}

/// An actor's keyed timers. Get them with `ctx.timers()` or [`Behaviors::with_timers`].
///
/// Timers send the actor its own messages later or periodically. Each has a key: starting a
/// timer with a key in use replaces the old one, and the old one's message is never delivered,
/// even if it was already on its way. All timers end with their actor (and at a restart).
///
/// ```
/// use reactant::prelude::*;
/// use std::time::Duration;
///
/// #[derive(Clone)]
/// enum Msg { Tick }
///
/// let behavior: Behavior<Msg> = Behaviors::with_timers(|timers| {
///     timers.start_fixed_rate("tick", Msg::Tick, Duration::from_millis(100));
///     Behaviors::receive_message(|Msg::Tick| Behaviors::same())
/// });
/// # drop(behavior);
/// ```
///
/// [`Behaviors::with_timers`]: crate::prelude::Behaviors::with_timers
pub struct Timers<M: Send + 'static> {
    inner: Arc<TimersInner<M>>,
}

struct TimersInner<M: Send + 'static> {
    /// Weak: the actor holds its timers, not the other way round.
    target: Weak<dyn TimerTarget<M>>,
    scheduler: SchedulerHandle,
    table: Mutex<TimerTable>,
    /// A test system's actor reports its timers here (see `actor::testing`).
    #[cfg(feature = "testkit")]
    recording: Option<Arc<dyn TimerObserver>>,
}

impl<M: Send + 'static> Clone for Timers<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Send + 'static> Timers<M> {
    pub(crate) fn new(target: Weak<dyn TimerTarget<M>>, scheduler: SchedulerHandle) -> Self {
        Self {
            inner: Arc::new(TimersInner {
                target,
                scheduler,
                table: Mutex::new(TimerTable::default()),
                #[cfg(feature = "testkit")]
                recording: None,
            }),
        }
    }

    /// Timers that report their starts and cancellations to a test system's sink.
    #[cfg(feature = "testkit")]
    pub(crate) fn recorded(
        target: Weak<dyn TimerTarget<M>>,
        scheduler: SchedulerHandle,
        recording: Arc<dyn TimerObserver>,
    ) -> Self {
        Self {
            inner: Arc::new(TimersInner {
                target,
                scheduler,
                table: Mutex::new(TimerTable::default()),
                recording: Some(recording),
            }),
        }
    }

    #[cfg(feature = "testkit")]
    fn record_start(&self, key: &TimerKey, delay: Duration, mode: TimerMode) {
        if let Some(recording) = &self.inner.recording {
            recording.started(format!("{key:?}"), delay, mode);
        }
    }

    #[cfg(feature = "testkit")]
    fn record_cancel(&self, key: &TimerKey) {
        if let Some(recording) = &self.inner.recording {
            recording.cancelled(format!("{key:?}"));
        }
    }

    /// Sends `msg` once after `delay`.
    pub fn start_single<K>(&self, key: K, msg: M, delay: Duration)
    where
        K: Hash + Eq + fmt::Debug + Send + Sync + 'static,
    {
        let key = TimerKey::new(key);
        #[cfg(feature = "testkit")]
        self.record_start(&key, delay, TimerMode::Single);
        let mut table = self.inner.table.lock();
        let generation = self.replace(&mut table, &key);
        let target = self.inner.target.clone();
        let message_key = key.clone();
        let task = self.inner.scheduler.schedule_once(delay, move || {
            deliver(&target, message_key, generation, msg);
        });
        table.active.insert(
            key,
            ActiveTimer {
                generation,
                task,
                single: true,
            },
        );
    }

    /// Sends `msg` after `delay`, then again `delay` after each delivery was sent.
    pub fn start_fixed_delay<K>(&self, key: K, msg: M, delay: Duration)
    where
        K: Hash + Eq + fmt::Debug + Send + Sync + 'static,
        M: Clone,
    {
        self.start_repeating(TimerKey::new(key), msg, delay, false);
    }

    /// Sends `msg` every `interval`, keeping to the rate even if a delivery ran late.
    pub fn start_fixed_rate<K>(&self, key: K, msg: M, interval: Duration)
    where
        K: Hash + Eq + fmt::Debug + Send + Sync + 'static,
        M: Clone,
    {
        self.start_repeating(TimerKey::new(key), msg, interval, true);
    }

    fn start_repeating(&self, key: TimerKey, msg: M, interval: Duration, fixed_rate: bool)
    where
        M: Clone,
    {
        #[cfg(feature = "testkit")]
        self.record_start(
            &key,
            interval,
            if fixed_rate {
                TimerMode::FixedRate
            } else {
                TimerMode::FixedDelay
            },
        );
        let mut table = self.inner.table.lock();
        let generation = self.replace(&mut table, &key);
        let target = self.inner.target.clone();
        let message_key = key.clone();
        let task =
            self.inner
                .scheduler
                .schedule_repeating(interval, interval, fixed_rate, move || {
                    deliver(&target, message_key.clone(), generation, msg.clone())
                });
        table.active.insert(
            key,
            ActiveTimer {
                generation,
                task,
                single: false,
            },
        );
    }

    /// Cancels the timer with this key, if any. Its message will not be delivered.
    pub fn cancel<K>(&self, key: &K)
    where
        K: Hash + Eq + fmt::Debug + Clone + Send + Sync + 'static,
    {
        let key = TimerKey::new(key.clone());
        #[cfg(feature = "testkit")]
        self.record_cancel(&key);
        let removed = self.inner.table.lock().active.remove(&key);
        if let Some(task) = removed.and_then(|timer| timer.task) {
            self.inner.scheduler.cancel(task);
        }
    }

    /// Cancels every timer of this actor.
    pub fn cancel_all(&self) {
        let removed: Vec<_> = self.inner.table.lock().active.drain().collect();
        for (_, timer) in removed {
            if let Some(task) = timer.task {
                self.inner.scheduler.cancel(task);
            }
        }
    }

    /// True while a timer with this key is running (a single timer until its message is
    /// handled).
    pub fn is_active<K>(&self, key: &K) -> bool
    where
        K: Hash + Eq + fmt::Debug + Clone + Send + Sync + 'static,
    {
        self.inner
            .table
            .lock()
            .active
            .contains_key(&TimerKey::new(key.clone()))
    }

    /// Cancels any timer under `key` and returns the generation for its successor.
    fn replace(&self, table: &mut TimerTable, key: &TimerKey) -> u64 {
        if let Some(task) = table.active.remove(key).and_then(|timer| timer.task) {
            self.inner.scheduler.cancel(task);
        }
        table.next_generation += 1;
        table.next_generation
    }

    /// Called by the actor when a timer message arrives: true if it is from the live timer
    /// under its key (and then a single timer is done).
    pub(crate) fn accept(&self, key: &TimerKey, generation: u64) -> bool {
        let mut table = self.inner.table.lock();
        match table.active.get(key) {
            Some(timer) if timer.generation == generation => {
                if timer.single {
                    table.active.remove(key);
                }
                true
            }
            _ => false,
        }
    }
}

fn deliver<M: Send + 'static>(
    target: &Weak<dyn TimerTarget<M>>,
    key: TimerKey,
    generation: u64,
    msg: M,
) -> bool {
    match target.upgrade() {
        Some(target) => target.deliver_timer(key, generation, msg),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn keys_of_different_types_never_collide() {
        assert_ne!(TimerKey::new(1u32), TimerKey::new(1u64));
        assert_eq!(TimerKey::new("tick"), TimerKey::new("tick"));
    }

    #[test]
    fn a_cancelled_task_never_runs() {
        let scheduler = Scheduler::start("test").expect("scheduler thread");
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let id = scheduler
            .handle()
            .schedule_once(Duration::from_millis(30), move || {
                flag.store(true, Ordering::SeqCst)
            })
            .expect("scheduler running");
        scheduler.handle().cancel(id);
        thread::sleep(Duration::from_millis(80));
        assert!(!ran.load(Ordering::SeqCst));
        scheduler.stop_and_join();
    }

    #[test]
    fn a_task_due_before_the_one_the_thread_waits_for_wakes_it_and_a_later_one_still_runs() {
        let scheduler = Scheduler::start("test").expect("scheduler thread");
        let handle = scheduler.handle();
        let (ran_tx, ran) = std::sync::mpsc::channel();
        let report = |name: &'static str| {
            let ran_tx = ran_tx.clone();
            move || {
                let _ = ran_tx.send(name);
            }
        };
        // The thread waits for the far task; an earlier one must wake it.
        let far = handle
            .schedule_once(Duration::from_secs(600), report("far"))
            .expect("scheduler running");
        thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        handle.schedule_once(Duration::from_millis(10), report("soon"));
        assert_eq!(ran.recv_timeout(Duration::from_secs(10)), Ok("soon"));
        assert!(started.elapsed() < Duration::from_secs(10));
        // The thread now waits for the far task again. Cancel it, and start one due after
        // the thread's next wake-up would have been, had the far task been nearer: it does
        // not wake the thread (it waits until the cancelled deadline, or for good), yet runs.
        handle.cancel(far);
        let near = handle
            .schedule_once(Duration::from_millis(40), report("cancelled"))
            .expect("scheduler running");
        thread::sleep(Duration::from_millis(5));
        handle.cancel(near);
        // The thread waits until the cancelled 40 ms deadline; this one is due after it.
        handle.schedule_once(Duration::from_millis(80), report("later"));
        assert_eq!(ran.recv_timeout(Duration::from_secs(10)), Ok("later"));
        assert!(ran.try_recv().is_err(), "cancelled tasks never ran");
        scheduler.stop_and_join();
    }

    #[test]
    fn tasks_run_in_deadline_order() {
        let scheduler = Scheduler::start("test").expect("scheduler thread");
        // Manual time: the order cannot depend on how promptly the thread wakes.
        scheduler.handle().freeze();
        let order = Arc::new(Mutex::new(Vec::new()));
        for (i, delay) in [(2, 40), (1, 20), (3, 60)] {
            let order = order.clone();
            scheduler
                .handle()
                .schedule_once(Duration::from_millis(delay), move || order.lock().push(i));
        }
        assert_eq!(scheduler.handle().advance(Duration::from_millis(39)), 1);
        assert_eq!(*order.lock(), [1]);
        assert_eq!(scheduler.handle().advance(Duration::from_millis(21)), 2);
        assert_eq!(*order.lock(), [1, 2, 3]);
        scheduler.stop_and_join();
    }

    #[test]
    fn cancelling_finds_a_task_before_its_run_during_its_run_and_never_another_one() {
        let scheduler = Scheduler::start("test").expect("scheduler thread");
        let handle = scheduler.handle();
        handle.freeze();
        let runs = Arc::new(Mutex::new(Vec::new()));
        let record = |name: &'static str| {
            let runs = runs.clone();
            move || runs.lock().push(name)
        };
        // A repeating task cancelled before its first run never runs.
        let early = handle
            .schedule_repeating(Duration::from_secs(1), Duration::from_secs(1), true, {
                let record = record("early");
                move || {
                    record();
                    true
                }
            })
            .expect("the scheduler runs");
        handle.cancel(early);
        // A repeating task that cancels itself in its second run is not queued again.
        let itself: Arc<Mutex<Option<TaskId>>> = Arc::new(Mutex::new(None));
        let own = itself.clone();
        let inner = handle.clone();
        let mut count = 0;
        let id = handle
            .schedule_repeating(Duration::from_secs(1), Duration::from_secs(1), true, {
                let record = record("self");
                move || {
                    record();
                    count += 1;
                    if count == 2
                        && let Some(id) = *own.lock()
                    {
                        inner.cancel(id);
                    }
                    true
                }
            })
            .expect("the scheduler runs");
        *itself.lock() = Some(id);
        // A task that runs once, then a late cancel of it: the others are left alone.
        let once = handle
            .schedule_once(Duration::from_millis(500), record("once"))
            .expect("the scheduler runs");
        handle
            .schedule_once(Duration::from_secs(5), record("other"))
            .expect("the scheduler runs");
        assert_eq!(handle.advance(Duration::from_millis(600)), 1);
        handle.cancel(once);
        handle.cancel(once);
        assert_eq!(handle.advance(Duration::from_secs(10)), 3);
        assert_eq!(*runs.lock(), ["once", "self", "self", "other"]);
        scheduler.stop_and_join();
    }

    #[test]
    fn manual_time_runs_a_periodic_task_once_per_interval_and_stops_it_when_cancelled() {
        let scheduler = Scheduler::start("test").expect("scheduler thread");
        let handle = scheduler.handle();
        handle.freeze();
        let runs = Arc::new(Mutex::new(0));
        let counted = runs.clone();
        let id = handle
            .schedule_repeating(
                Duration::from_secs(1),
                Duration::from_secs(1),
                true,
                move || {
                    *counted.lock() += 1;
                    true
                },
            )
            .expect("the scheduler runs");
        assert_eq!(handle.advance(Duration::from_millis(999)), 0);
        assert_eq!(handle.advance(Duration::from_millis(3001)), 4);
        assert_eq!(*runs.lock(), 4);
        handle.cancel(id);
        assert_eq!(handle.advance(Duration::from_secs(10)), 0);
        scheduler.stop_and_join();
    }
}
