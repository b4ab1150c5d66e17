//! A dispatcher: a fixed pool of worker threads sharing one injector queue, each with a local
//! FIFO queue others can steal from and a one-task "next" slot for the actor it just woke.
//!
//! Scheduling from a worker thread goes to that worker (an actor that sends to another usually
//! finds it run next on the same core, warm in cache); scheduling from outside goes to the
//! injector and wakes one parked worker if none is already looking for work. The "next" slot
//! is private, so a turn that goes on after waking an actor hands that actor to the stealable
//! queue every few messages (`share_next_slot`): an idle worker takes it instead of it waiting
//! for the whole turn. Idle workers spin briefly, then yield, then park: nothing burns a core
//! when nothing happens.
//!
//! Each worker also has a "parked" slot, so that two actors bouncing messages on one worker
//! schedule each other without touching either's reference count:
//!
//! | event (on one worker)                                        | the parked slot               |
//! |--------------------------------------------------------------|-------------------------------|
//! | a task taken from the "next" slot hands itself back (idle turn) | holds it (what it held is dropped) |
//! | a task from the local or shared queue ends its turn          | unchanged (the task is dropped) |
//! | this worker schedules the parked actor ([`Dispatcher::schedule_cell`]) | emptied: its task is reused |
//! | this worker schedules another actor                          | unchanged (a new reference)   |
//! | the worker finds no task                                     | emptied (dropped)             |
//!
//! A parked task is only ever a reference: the actor it names is idle (its mailbox decides who
//! schedules it next, and anyone else who does counts a reference of their own), so keeping or
//! dropping it changes nothing but when the actor's memory is freed.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use parking_lot::Mutex;

/// Something a worker can run: in practice an actor cell.
pub(crate) trait Runnable: Send + Sync {
    /// Runs the task: for an actor, one turn, or several in a row while nobody else waits for
    /// this worker ([`Dispatcher::others_waiting`]). A task that still has work afterwards
    /// requeues itself through [`Dispatcher::requeue`]. Returns the task when its turn ended
    /// idle (nothing queued, not requeued, not finished): a worker may keep it to schedule it
    /// again without a new reference ([`Dispatcher::schedule_cell`]); others just drop it.
    fn run(self: Arc<Self>) -> Option<Task>;

    /// The actor's id: a simulation (feature `testkit`) orders what is runnable by it, the
    /// same in every run.
    #[cfg(feature = "testkit")]
    fn actor_id(&self) -> u64;
}

pub(crate) type Task = Arc<dyn Runnable>;

/// How many tasks a worker takes from its "next" slot in a row before looking at its queue,
/// so two actors bouncing messages cannot starve the others on that worker.
const MAX_NEXT_SLOT_RUNS: u32 = 16;
/// A worker looks at the shared queue first every this many tasks, so actors scheduled from
/// outside (or requeued) are not starved by a busy local queue.
const SHARED_QUEUE_INTERVAL: u32 = 61;
/// Looks for work between short pauses this many times before yielding the core: work that
/// arrives within a few microseconds is picked up at once, without a wake-up.
const SPIN_ROUNDS: u32 = 128;
/// Then looks this many more times, yielding the core in between, before parking.
const YIELD_ROUNDS: u32 = 32;

thread_local! {
    static CURRENT: RefCell<Option<WorkerHandle>> = const { RefCell::new(None) };
    static ON_DISPATCHER: Cell<bool> = const { Cell::new(false) };
}

/// True on any dispatcher worker thread, of any system: blocking here would take a worker away
/// from every actor it serves.
pub(crate) fn on_dispatcher_thread() -> bool {
    ON_DISPATCHER.with(Cell::get)
}

struct WorkerHandle {
    shared: Arc<Shared>,
    local: Worker<Task>,
    next: Cell<Option<Task>>,
    /// The task of the last actor that this worker took from its "next" slot and whose turn
    /// ended idle: a schedule of that actor from this worker reuses it instead of counting a
    /// new reference (see [`Dispatcher::schedule_cell`]).
    parked: Cell<Option<Task>>,
}

/// Where [`WorkerHandle::place_next`] put a task.
enum Placed {
    /// In this worker's private "next" slot: nobody else needs waking.
    NextSlot,
    /// The slot's previous task moved to the stealable local queue.
    Local,
    /// Not this dispatcher's worker: for the shared queue.
    Elsewhere(Task),
}

impl WorkerHandle {
    /// Puts `task` in the "next" slot, moving the one there to the local queue.
    #[inline]
    fn place_next(&self, task: Task) -> Placed {
        match self.next.replace(Some(task)) {
            Some(previous) => {
                self.local.push(previous);
                Placed::Local
            }
            None => Placed::NextSlot,
        }
    }
}

struct Shared {
    name: String,
    injector: Injector<Task>,
    stealers: Vec<Stealer<Task>>,
    /// Workers parked (or about to park), by index.
    sleepers: Mutex<Vec<usize>>,
    num_sleeping: AtomicUsize,
    /// Workers awake and looking for work: a wake-up is not needed while one is.
    num_searching: AtomicUsize,
    threads: Mutex<Vec<Thread>>,
    shutdown: AtomicBool,
}

/// A named pool of worker threads.
pub(crate) struct Dispatcher {
    shared: Arc<Shared>,
    handles: Mutex<Vec<JoinHandle<()>>>,
    throughput: usize,
}

impl Dispatcher {
    /// Starts `threads` workers named `{system}-{name}-{i}`.
    pub(crate) fn start(
        system: &str,
        name: &str,
        threads: usize,
        throughput: usize,
    ) -> std::io::Result<Arc<Self>> {
        let locals: Vec<Worker<Task>> = (0..threads).map(|_| Worker::new_fifo()).collect();
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            injector: Injector::new(),
            stealers: locals.iter().map(Worker::stealer).collect(),
            sleepers: Mutex::new(Vec::with_capacity(threads)),
            num_sleeping: AtomicUsize::new(0),
            num_searching: AtomicUsize::new(0),
            threads: Mutex::new(Vec::with_capacity(threads)),
            shutdown: AtomicBool::new(false),
        });
        let dispatcher = Arc::new(Self {
            shared: shared.clone(),
            handles: Mutex::new(Vec::with_capacity(threads)),
            throughput,
        });
        for (index, local) in locals.into_iter().enumerate() {
            let shared = shared.clone();
            let spawned = thread::Builder::new()
                .name(format!("{system}-{name}-{index}"))
                .spawn(move || worker_loop(shared, local, index));
            match spawned {
                Ok(handle) => {
                    dispatcher
                        .shared
                        .threads
                        .lock()
                        .push(handle.thread().clone());
                    dispatcher.handles.lock().push(handle);
                }
                Err(error) => {
                    dispatcher.stop_and_join();
                    return Err(error);
                }
            }
        }
        Ok(dispatcher)
    }

    pub(crate) fn throughput(&self) -> usize {
        self.throughput
    }

    /// Hands a newly scheduled task to this dispatcher. From one of its own workers the task
    /// runs next on that worker; from anywhere else it goes to the shared queue.
    #[inline]
    pub(crate) fn schedule(&self, task: Task) {
        let placed = self.with_own_worker(|worker| match worker {
            Some(worker) => worker.place_next(task),
            None => Placed::Elsewhere(task),
        });
        self.placed(placed);
    }

    /// Runs `f` with this thread's worker state if this thread is one of this dispatcher's
    /// workers (`None` on any other thread, a worker of another dispatcher included).
    #[inline]
    fn with_own_worker<R>(&self, f: impl FnOnce(Option<&WorkerHandle>) -> R) -> R {
        CURRENT.with(|current| {
            let current = current.borrow();
            f(current
                .as_ref()
                .filter(|worker| Arc::ptr_eq(&worker.shared, &self.shared)))
        })
    }

    /// Schedules `task`, an idle actor that a push has just scheduled: like [`schedule`](Self::schedule)
    /// with `task.clone()`, but on a worker whose last idle turn was this actor's, the task it
    /// parked is reused, so the reference count is not touched.
    ///
    /// Two actors that bounce messages on one worker (ping-pong) then schedule each other with
    /// no atomic read-modify-write on either cell's count: each ran from the worker's "next"
    /// slot, the worker parks its task when its turn ends idle, and the other's tell takes it
    /// back. The count's increment and decrement were about a sixth of a hop (`perf`,
    /// benches/README.md, session 9). Only tasks from the "next" slot are parked: an actor
    /// scheduled from outside (a spawn's start, a stream from a plain thread) drops its task
    /// at the end of its turn as before, on a cache line the turn just used.
    #[inline]
    pub(crate) fn schedule_cell<R: Runnable + 'static>(&self, task: &Arc<R>) {
        let placed = self.with_own_worker(|worker| match worker {
            Some(worker) => {
                let task = match worker.parked.take() {
                    Some(parked) if std::ptr::addr_eq(Arc::as_ptr(&parked), Arc::as_ptr(task)) => {
                        parked
                    }
                    other => {
                        // Put back as it was (the slot holds `None` now: nothing drops).
                        worker.parked.set(other);
                        task.clone() as Task
                    }
                };
                worker.place_next(task)
            }
            None => Placed::Elsewhere(task.clone()),
        });
        self.placed(placed);
    }

    /// Wakes or queues what [`WorkerHandle::place_next`] decided.
    #[inline]
    fn placed(&self, placed: Placed) {
        match placed {
            Placed::NextSlot => {}
            Placed::Local => self.shared.notify_one_if_idle(),
            Placed::Elsewhere(task) => {
                self.shared.injector.push(task);
                self.shared.notify_one();
            }
        }
    }

    /// True if another task waits for this worker (or for the shared queue), and always off this
    /// dispatcher's workers: a task that used up its turn must then yield; otherwise it may run
    /// another turn at once, on a warm cache.
    #[inline]
    pub(crate) fn others_waiting(&self) -> bool {
        if !self.shared.injector.is_empty() {
            return true;
        }
        self.with_own_worker(|worker| match worker {
            Some(worker) => {
                !worker.local.is_empty() || {
                    let next = worker.next.take();
                    let waiting = next.is_some();
                    worker.next.set(next);
                    waiting
                }
            }
            None => true,
        })
    }

    /// Called from a long turn: moves the task waiting in this worker's private "next" slot
    /// to its stealable queue and wakes an idle worker, so that an actor this turn woke runs
    /// elsewhere now instead of waiting for the whole turn to end. Nothing happens when the
    /// slot is empty (the common case: one look at a thread-local).
    #[inline]
    pub(crate) fn share_next_slot(&self) {
        let moved = self.with_own_worker(|worker| {
            let Some(worker) = worker else {
                return false;
            };
            match worker.next.take() {
                Some(task) => {
                    worker.local.push(task);
                    true
                }
                None => false,
            }
        });
        if moved {
            self.shared.notify_one_if_idle();
        }
    }

    /// Puts a task that still has work after its turn (it used up its throughput, or messages
    /// arrived as it went idle) at the back of the dispatcher's shared queue, behind every
    /// actor already waiting, for whichever worker.
    pub(crate) fn requeue(&self, task: Task) {
        self.shared.injector.push(task);
        self.shared.notify_one();
    }

    /// Stops the workers once their current task returns, and joins them. A worker that this
    /// very thread runs on is not joined (it exits on its own after the current task).
    pub(crate) fn stop_and_join(&self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        for thread in self.shared.threads.lock().iter() {
            thread.unpark();
        }
        let handles = std::mem::take(&mut *self.handles.lock());
        let me = thread::current().id();
        for handle in handles {
            if handle.thread().id() != me
                && let Err(panic) = handle.join()
            {
                tracing::error!(
                    dispatcher = %self.shared.name,
                    ?panic,
                    "a worker thread panicked outside any actor"
                );
            }
        }
    }

    /// Takes every task waiting in the shared queue, oldest first: for a manual dispatcher (no
    /// workers), whose tasks the testkit runs on the test's thread.
    #[cfg(feature = "testkit")]
    pub(crate) fn take_queued(&self) -> Vec<Task> {
        let mut tasks = Vec::new();
        loop {
            match self.shared.injector.steal() {
                Steal::Success(task) => tasks.push(task),
                Steal::Retry => continue,
                Steal::Empty => return tasks,
            }
        }
    }

    /// Number of worker threads still alive (for tests and metrics).
    pub(crate) fn live_threads(&self) -> usize {
        self.handles
            .lock()
            .iter()
            .filter(|h| !h.is_finished())
            .count()
    }
}

impl Shared {
    /// Wakes one parked worker if there is one and nobody is already searching.
    #[inline]
    fn notify_one(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.num_sleeping.load(Ordering::SeqCst) == 0
            || self.num_searching.load(Ordering::SeqCst) != 0
        {
            return;
        }
        self.wake_one();
    }

    /// Local (stealable) work was added: wake a helper as [`notify_one`](Self::notify_one)
    /// does — if a worker is parked and none is searching — unless this pool has only one
    /// worker, which nobody could steal from.
    #[inline]
    fn notify_one_if_idle(&self) {
        if self.stealers.len() > 1 {
            self.notify_one();
        }
    }

    fn wake_one(&self) {
        let index = {
            let mut sleepers = self.sleepers.lock();
            let Some(index) = sleepers.pop() else { return };
            self.num_sleeping.fetch_sub(1, Ordering::SeqCst);
            index
        };
        // Counted as searching from the moment it is chosen, so no second wake-up follows.
        self.num_searching.fetch_add(1, Ordering::SeqCst);
        if let Some(thread) = self.threads.lock().get(index) {
            thread.unpark();
        }
    }

    fn has_shared_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }
}

fn worker_loop(shared: Arc<Shared>, local: Worker<Task>, index: usize) {
    ON_DISPATCHER.with(|flag| flag.set(true));
    CURRENT.with(|current| {
        *current.borrow_mut() = Some(WorkerHandle {
            shared: shared.clone(),
            local,
            next: Cell::new(None),
            parked: Cell::new(None),
        });
    });
    let mut next_slot_runs = 0u32;
    let mut tick = 0u32;
    let mut searching = false;
    // The last task, if this worker took it from its "next" slot and its turn ended idle: to
    // park (see `Dispatcher::schedule_cell`).
    let mut idle: Option<Task> = None;
    loop {
        tick = tick.wrapping_add(1);
        let (task, unparked) = CURRENT.with(|current| {
            let current = current.borrow();
            let worker = current.as_ref().expect("worker handle set above");
            // What the parked task replaces is dropped below, once the borrow has ended
            // (dropping an actor's last reference drops its state, which may send).
            let unparked = match idle.take() {
                Some(task) => worker.parked.replace(Some(task)),
                None => None,
            };
            if tick.is_multiple_of(SHARED_QUEUE_INTERVAL)
                && let Some(task) = steal_shared(worker, &shared)
            {
                return (Some((task, false)), unparked);
            }
            (
                find_task(worker, &shared, index, &mut next_slot_runs),
                unparked,
            )
        });
        drop(unparked);
        match task {
            Some((task, from_next)) => {
                if searching {
                    searching = false;
                    shared.num_searching.fetch_sub(1, Ordering::SeqCst);
                }
                let back = task.run();
                if from_next {
                    idle = back;
                }
            }
            None => {
                if shared.shutdown.load(Ordering::SeqCst) {
                    break;
                }
                // Idle: the parked task must not keep its actor's memory meanwhile.
                let parked = CURRENT.with(|current| {
                    current
                        .borrow()
                        .as_ref()
                        .and_then(|worker| worker.parked.take())
                });
                drop(parked);
                // Count ourselves as searching while we spin, so wakers leave the others be.
                if !searching {
                    shared.num_searching.fetch_add(1, Ordering::SeqCst);
                }
                let found = spin_for_task(&shared, index);
                shared.num_searching.fetch_sub(1, Ordering::SeqCst);
                searching = false;
                if let Some(task) = found {
                    drop(task.run());
                    continue;
                }
                park(&shared, index);
                // Counted as searching now: by the waker that picked us, or by `park` itself
                // when we woke on our own.
                searching = true;
            }
        }
    }
    if searching {
        shared.num_searching.fetch_sub(1, Ordering::SeqCst);
    }
    // Tasks still queued (or parked) here belong to a stopped system: drop them with the
    // handle, after the borrow has ended and the handle is gone from the thread-local. Dropping
    // an actor's last reference drops its state, whose `Drop` may send, and a send looks the
    // thread-local up.
    let handle = CURRENT.with(|current| current.borrow_mut().take());
    drop(idle);
    drop(handle);
}

/// The next task for this worker, and whether it came from the "next" slot.
fn find_task(
    worker: &WorkerHandle,
    shared: &Shared,
    index: usize,
    next_slot_runs: &mut u32,
) -> Option<(Task, bool)> {
    if *next_slot_runs >= MAX_NEXT_SLOT_RUNS {
        // Give the queues a turn; the "next" task waits in its slot, out of reach of thieves,
        // so two actors talking to each other stay on this core.
        *next_slot_runs = 0;
        if let Some(task) = worker.local.pop().or_else(|| steal_shared(worker, shared)) {
            return Some((task, false));
        }
    }
    if let Some(task) = worker.next.take() {
        *next_slot_runs += 1;
        return Some((task, true));
    }
    *next_slot_runs = 0;
    if let Some(task) = worker.local.pop() {
        return Some((task, false));
    }
    steal(worker, shared, index).map(|task| (task, false))
}

/// Takes from the shared queue (and moves a batch of its tasks to the local queue).
fn steal_shared(worker: &WorkerHandle, shared: &Shared) -> Option<Task> {
    loop {
        match shared.injector.steal_batch_and_pop(&worker.local) {
            Steal::Success(task) => return Some(task),
            Steal::Retry => continue,
            Steal::Empty => return None,
        }
    }
}

fn steal(worker: &WorkerHandle, shared: &Shared, index: usize) -> Option<Task> {
    if let Some(task) = steal_shared(worker, shared) {
        return Some(task);
    }
    let n = shared.stealers.len();
    for offset in 1..n {
        let victim = &shared.stealers[(index + offset) % n];
        loop {
            match victim.steal() {
                Steal::Success(task) => return Some(task),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
    }
    None
}

fn spin_for_task(shared: &Shared, index: usize) -> Option<Task> {
    for round in 0..SPIN_ROUNDS + YIELD_ROUNDS {
        if shared.shutdown.load(Ordering::Relaxed) {
            return None;
        }
        let found = CURRENT.with(|current| {
            let current = current.borrow();
            let worker = current.as_ref()?;
            worker
                .next
                .take()
                .or_else(|| worker.local.pop())
                .or_else(|| steal(worker, shared, index))
        });
        if found.is_some() {
            return found;
        }
        if round < SPIN_ROUNDS {
            for _ in 0..4 {
                std::hint::spin_loop();
            }
        } else {
            thread::yield_now();
        }
    }
    None
}

fn park(shared: &Shared, index: usize) {
    {
        let mut sleepers = shared.sleepers.lock();
        sleepers.push(index);
        shared.num_sleeping.fetch_add(1, Ordering::SeqCst);
    }
    std::sync::atomic::fence(Ordering::SeqCst);
    // Work that arrived between the last look and registering as a sleeper would otherwise
    // wait for the next wake-up: look once more.
    let must_run = shared.has_shared_work() || shared.shutdown.load(Ordering::SeqCst);
    if !must_run {
        loop {
            // A long timeout guards against a lost wake-up ever becoming a hang.
            thread::park_timeout(Duration::from_millis(100));
            let still_sleeping = shared.sleepers.lock().contains(&index);
            if !still_sleeping || shared.shutdown.load(Ordering::SeqCst) || shared.has_shared_work()
            {
                break;
            }
        }
    }
    let mut sleepers = shared.sleepers.lock();
    if let Some(position) = sleepers.iter().position(|&i| i == index) {
        // Woke on our own (work seen or timeout), not picked by a waker: deregister, and
        // count ourselves as searching as a picked worker would be.
        sleepers.swap_remove(position);
        shared.num_sleeping.fetch_sub(1, Ordering::SeqCst);
        shared.num_searching.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;
    use std::sync::mpsc::{Sender, channel};
    use std::sync::{OnceLock, Weak};

    use super::*;

    /// A task that schedules its partner (by `schedule_cell`) until `left` runs out, and says
    /// when it is dropped.
    struct Bouncer {
        dispatcher: Arc<Dispatcher>,
        partner: OnceLock<Weak<Bouncer>>,
        left: Arc<AtomicU32>,
        runs: Sender<&'static str>,
        name: &'static str,
        dropped: Sender<&'static str>,
    }

    impl Runnable for Bouncer {
        fn run(self: Arc<Self>) -> Option<Task> {
            let _ = self.runs.send(self.name);
            let go_on = self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    left.checked_sub(1)
                })
                .is_ok();
            if go_on && let Some(partner) = self.partner.get().and_then(Weak::upgrade) {
                self.dispatcher.schedule_cell(&partner);
            }
            Some(self)
        }

        #[cfg(feature = "testkit")]
        fn actor_id(&self) -> u64 {
            0
        }
    }

    impl Drop for Bouncer {
        fn drop(&mut self) {
            // Schedules something, as an actor's state may send when it is dropped: the
            // thread-local must not be borrowed here, wherever the worker drops the task.
            self.dispatcher.schedule(Arc::new(Idle));
            let _ = self.dropped.send(self.name);
        }
    }

    /// A task that does nothing.
    struct Idle;

    impl Runnable for Idle {
        fn run(self: Arc<Self>) -> Option<Task> {
            None
        }

        #[cfg(feature = "testkit")]
        fn actor_id(&self) -> u64 {
            0
        }
    }

    #[test]
    fn a_task_the_worker_drops_as_it_stops_may_schedule_from_its_drop() {
        // The worker parks the last task; stopping the dispatcher right after the last run
        // drops it either on the idle path or with the worker's state as the thread ends.
        for _ in 0..500 {
            let dispatcher = Dispatcher::start("parked-stop", "test", 1, 5).expect("a dispatcher");
            let (runs, ran) = channel();
            let (dropped_tx, dropped) = channel();
            let (ping, pong) = pair(&dispatcher, 10, &runs, &dropped_tx);
            dispatcher.schedule_cell(&ping);
            for _ in 0..=10 {
                ran.recv_timeout(Duration::from_secs(10)).expect("a run");
            }
            drop((ping, pong));
            dispatcher.stop_and_join();
            for _ in 0..2 {
                dropped
                    .recv_timeout(Duration::from_secs(10))
                    .expect("each task is dropped, and its drop completes");
            }
        }
    }

    /// Two bouncers that know each other, sharing `left` bounces.
    fn pair(
        dispatcher: &Arc<Dispatcher>,
        left: u32,
        runs: &Sender<&'static str>,
        dropped: &Sender<&'static str>,
    ) -> (Arc<Bouncer>, Arc<Bouncer>) {
        let left = Arc::new(AtomicU32::new(left));
        let bouncer = |name| {
            Arc::new(Bouncer {
                dispatcher: dispatcher.clone(),
                partner: OnceLock::new(),
                left: left.clone(),
                runs: runs.clone(),
                name,
                dropped: dropped.clone(),
            })
        };
        let (ping, pong) = (bouncer("ping"), bouncer("pong"));
        let _ = ping.partner.set(Arc::downgrade(&pong));
        let _ = pong.partner.set(Arc::downgrade(&ping));
        (ping, pong)
    }

    #[test]
    fn tasks_that_wake_each_other_run_every_time_and_are_freed_once_the_worker_is_idle() {
        let dispatcher = Dispatcher::start("parked", "test", 1, 5).expect("a dispatcher");
        let (runs, ran) = channel();
        let (dropped_tx, dropped) = channel();
        let (ping, pong) = pair(&dispatcher, 1_000, &runs, &dropped_tx);
        dispatcher.schedule_cell(&ping);
        // 1,001 runs, alternating, starting with ping.
        let wait = Duration::from_secs(10);
        for turn in 0..=1_000 {
            let want = if turn % 2 == 0 { "ping" } else { "pong" };
            assert_eq!(ran.recv_timeout(wait), Ok(want), "run {turn}");
        }
        // Only the worker's slot may still hold one of them; it lets go once it is idle.
        drop((ping, pong));
        let mut freed = [dropped.recv_timeout(wait), dropped.recv_timeout(wait)]
            .map(|name| name.expect("both tasks are freed once the worker is idle"));
        freed.sort();
        assert_eq!(freed, ["ping", "pong"]);
        assert!(ran.try_recv().is_err(), "no run after the bouncing ended");
        dispatcher.stop_and_join();
    }
}
