//! Live queries delivered to an actor, with flow control.
//!
//! A pump reads the query and tells the actor each item. At most [`WINDOW`] items wait in the
//! actor's mailbox: each is sent as a message the actor makes in its own turn, and making it
//! gives its slot back (and wakes the pump if it was waiting for one). A slow actor therefore
//! holds the pump back, never a growing queue; the query goes on from the journal where it
//! stood. When caught up, the pump sleeps until the journal's writer wakes it at the next
//! commit.
//!
//! The pump runs on the actor's own dispatcher, as a task beside the actor: woken by the
//! commit, it reads the new events and tells them to the actor, which then runs next on the
//! same worker. An event reaches a caught-up actor after one thread wake-up, not two (a
//! thread of the pump's own, then a worker). A pump runs at most [`BATCH`] items per turn and
//! then yields the worker. For a reference that is not an actor's own (a converting
//! reference, a router's front), the pump runs on a thread of its own instead.
//!
//! ## The pump's schedule
//!
//! | phase      | on `wake`                         | on a turn's end                          |
//! |------------|-----------------------------------|------------------------------------------|
//! | `Idle`     | → `Queued`: hand it to its home   | —                                        |
//! | `Queued`   | stays (it will run)               | — (a turn starts: → `Running`)           |
//! | `Running`  | → `Rerun`                         | → `Idle`                                 |
//! | `Rerun`    | stays                             | → `Queued`: hand it to its home again    |
//! | `Ended`    | stays: nothing runs any more      | —                                        |
//!
//! A wake that comes while a turn runs is never lost (`Rerun`), and two turns never run at
//! once (only `Queued` → `Running` starts one). Wakes come from the journal's writer at each
//! commit, from the actor when it frees a slot of a full window, from [`Subscription::cancel`],
//! from a pump that stopped at [`BATCH`], and every [`LIVENESS_CHECK`] while the pump waits
//! (a stopped actor takes no message that would wake it).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::error::QueryError;
use super::live::{Live, Polled};
use crate::actor::ActorRef;
use crate::dispatch::{Dispatcher, Runnable};
use crate::persistence::WakerRegistration;
use crate::supervision::panic;
use crate::timers::SchedulerHandle;

/// Items sent to the actor and not yet taken from its mailbox, at most.
pub(crate) const WINDOW: usize = 256;

/// Items a pump sends in one turn on a dispatcher before it yields the worker.
const BATCH: usize = 64;

/// How often a waiting pump looks whether its actor stopped or it was cancelled
/// (a stopped actor takes no message that would wake it).
const LIVENESS_CHECK: Duration = Duration::from_millis(100);

/// Why a delivery ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionEnd {
    /// [`Subscription::cancel`] was called.
    Cancelled,
    /// The actor stopped.
    SubscriberStopped,
    /// The query ended (a query by id passed its last sequence number).
    Finished,
    /// The query failed (an event that cannot be decoded, a failed read, the journal closed);
    /// start it again after the last offset the actor handled.
    Failed(QueryError),
}

struct Shared {
    cancelled: AtomicBool,
    delivered: AtomicU64,
    end: Mutex<Option<SubscriptionEnd>>,
    ended: Condvar,
}

/// A live query being delivered to an actor (`events_by_tag_to` and friends).
///
/// Dropping it leaves the delivery running (until the actor stops or the journal closes);
/// [`cancel`](Self::cancel) stops it, and [`end`](Self::end) says why it ended.
///
/// ```
/// use reactant::persistence::{Effect, Entity, Event, Persistence};
/// use reactant::prelude::*;
/// use reactant::query::{EventEnvelope, Offset, SubscriptionEnd};
/// use serde::{Deserialize, Serialize};
/// use std::time::Duration;
///
/// #[derive(Serialize, Deserialize)]
/// struct Noted(String);
/// impl Event for Noted {
///     fn tags(&self) -> Vec<String> { vec!["notes".into()] }
/// }
/// #[derive(Default, Serialize, Deserialize)]
/// struct Notebook;
/// impl Entity for Notebook {
///     const TYPE_KEY: &'static str = "notebook";
///     type Event = Noted;
///     type Command = String;
///     fn apply(&mut self, _: &Noted) {}
///     fn handle_command(&self, text: String) -> Effect<Noted, Self> { Effect::persist(Noted(text)) }
/// }
///
/// let system = ActorSystem::new("docs")?;
/// let persistence = Persistence::in_memory()?;
/// let (seen, notes) = crossbeam_channel::unbounded();
/// let reader = system.spawn(
///     Behaviors::receive_message(move |envelope: EventEnvelope<Noted>| {
///         let _ = seen.send(envelope.event.0);
///         Behaviors::same()
///     }),
///     "reader",
/// )?;
/// let subscription = persistence
///     .query()
///     .events_by_tag_to::<Notebook>("notes", Offset::Start, &reader)?;
/// let notebook = system.spawn(Notebook::behavior("n-1", persistence.clone()), "n-1")?;
/// notebook.tell("hello".to_owned());
/// assert_eq!(notes.recv_timeout(Duration::from_secs(3))?, "hello");
/// subscription.cancel();
/// assert_eq!(subscription.wait_end(Duration::from_secs(3)), Some(SubscriptionEnd::Cancelled));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Subscription {
    shared: Arc<Shared>,
    pump: Arc<dyn Wake>,
}

impl Subscription {
    /// Stops the delivery; items already sent still reach the actor.
    pub fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::SeqCst);
        self.pump.wake();
    }

    /// How many items were sent to the actor so far.
    pub fn delivered(&self) -> u64 {
        self.shared.delivered.load(Ordering::Relaxed)
    }

    /// Why the delivery ended, or `None` while it runs.
    pub fn end(&self) -> Option<SubscriptionEnd> {
        self.shared.end.lock().clone()
    }

    /// Waits at most `timeout` for the delivery to end, and says why it did.
    pub fn wait_end(&self, timeout: Duration) -> Option<SubscriptionEnd> {
        let deadline = Instant::now() + timeout;
        let mut end = self.shared.end.lock();
        while end.is_none() {
            if self.shared.ended.wait_until(&mut end, deadline).timed_out() {
                break;
            }
        }
        end.clone()
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("delivered", &self.delivered())
            .field("end", &self.end())
            .finish_non_exhaustive()
    }
}

/// Starts delivering `query` to `target`.
pub(crate) fn deliver<L: Live>(
    query: L,
    target: &ActorRef<L::Item>,
) -> Result<Subscription, QueryError> {
    let shared = Arc::new(Shared {
        cancelled: AtomicBool::new(false),
        delivered: AtomicU64::new(0),
        end: Mutex::new(None),
        ended: Condvar::new(),
    });
    let (home, scheduler) = match target.home() {
        Some((dispatcher, scheduler)) => (Home::Dispatcher(dispatcher), Some(scheduler)),
        None => (Home::Thread(OnceLock::new()), None),
    };
    let pump = Arc::new_cyclic(|me| Pump {
        me: me.clone(),
        query: Mutex::new(query),
        phase: Mutex::new(Phase::Idle),
        free: AtomicUsize::new(WINDOW),
        target: target.clone(),
        shared: shared.clone(),
        home,
        scheduler,
        check_pending: AtomicBool::new(false),
        registration: Mutex::new(None),
    });
    // Woken at each commit from now on: an event committed before this is read by the first
    // turn, one committed after it wakes a turn (the query reads past what it has seen). The
    // waker keeps the pump alive while the delivery runs, whether or not the subscription is
    // kept; the delivery's end drops it.
    let notifier = pump.query.lock().notifier().cloned();
    if let Some(notifier) = notifier {
        let woken = pump.clone();
        *pump.registration.lock() = Some(notifier.register(Arc::new(move || woken.wake())));
    }
    if let Home::Thread(thread) = &pump.home {
        let runner = pump.clone();
        let spawned = thread::Builder::new()
            .name(format!("query-to-{}", target.path()))
            .spawn(move || runner.run_on_own_thread());
        let handle = match spawned {
            Ok(handle) => handle,
            Err(error) => {
                drop(pump.registration.lock().take());
                return Err(QueryError::Spawn(error.to_string()));
            }
        };
        let _ = thread.set(handle.thread().clone());
    } else {
        pump.wake();
    }
    Ok(Subscription { shared, pump })
}

/// Where a pump's turns run.
enum Home {
    /// As a task on the actor's dispatcher.
    Dispatcher(Arc<Dispatcher>),
    /// On a thread of its own, which parks between turns.
    Thread(OnceLock<thread::Thread>),
}

/// See the module docs' table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Queued,
    Running,
    Rerun,
    Ended,
}

/// How a turn left the pump.
enum Turn {
    /// It stopped at [`BATCH`] items with more to send: run again soon.
    More,
    /// Caught up, or the window is full: wait for a wake.
    Wait,
    /// The delivery is over.
    End(SubscriptionEnd),
}

/// Wakes a pump, whatever its query.
trait Wake: Send + Sync {
    fn wake(&self);
}

struct Pump<L: Live> {
    /// This pump, to hand itself to its dispatcher.
    me: Weak<Self>,
    /// Taken only by a running turn (never two at once: see [`Phase`]).
    query: Mutex<L>,
    phase: Mutex<Phase>,
    /// Free places in the actor's window.
    free: AtomicUsize,
    target: ActorRef<L::Item>,
    shared: Arc<Shared>,
    home: Home,
    /// The system's timers, for the liveness check on a dispatcher (a thread parks with a
    /// timeout instead).
    scheduler: Option<SchedulerHandle>,
    /// A liveness check is scheduled.
    check_pending: AtomicBool,
    /// The commit notification's waker, dropped when the delivery ends.
    registration: Mutex<Option<WakerRegistration>>,
}

impl<L: Live> Wake for Pump<L> {
    fn wake(&self) {
        let mut phase = self.phase.lock();
        match *phase {
            Phase::Idle => {
                *phase = Phase::Queued;
                drop(phase);
                self.hand_to_home();
            }
            Phase::Running => *phase = Phase::Rerun,
            Phase::Queued | Phase::Rerun | Phase::Ended => {}
        }
    }
}

impl<L: Live> Pump<L> {
    /// Makes a queued pump run: on its dispatcher, or by unparking its thread.
    fn hand_to_home(&self) {
        match &self.home {
            Home::Dispatcher(dispatcher) => {
                if let Some(this) = self.this() {
                    dispatcher.schedule(this);
                }
            }
            Home::Thread(thread) => {
                if let Some(thread) = thread.get() {
                    thread.unpark();
                }
            }
        }
    }

    /// This pump as a dispatcher task (`None` only while it is being dropped).
    fn this(&self) -> Option<Arc<dyn Runnable>> {
        self.me.upgrade().map(|this| this as Arc<dyn Runnable>)
    }

    /// One turn: `Queued` → `Running`, send what there is, then back to `Idle`, `Queued` or
    /// `Ended` (see the module docs' table). Returns whether it ended.
    fn turn(self: &Arc<Self>) -> bool {
        {
            let mut phase = self.phase.lock();
            if *phase != Phase::Queued {
                return *phase == Phase::Ended;
            }
            *phase = Phase::Running;
        }
        // The query's reads catch their own panics and the journal's; this catch keeps the
        // worker alive should anything else in a turn panic.
        let turn = panic::catch(|| self.send()).unwrap_or_else(|failure| {
            Turn::End(SubscriptionEnd::Failed(QueryError::JournalPanicked(
                failure.message().to_owned(),
            )))
        });
        let mut phase = self.phase.lock();
        match turn {
            Turn::End(end) => {
                *phase = Phase::Ended;
                drop(phase);
                self.end(end);
                true
            }
            Turn::More => {
                *phase = Phase::Queued;
                drop(phase);
                self.hand_to_home();
                false
            }
            Turn::Wait => {
                if *phase == Phase::Rerun {
                    *phase = Phase::Queued;
                    drop(phase);
                    self.hand_to_home();
                } else {
                    *phase = Phase::Idle;
                    drop(phase);
                    self.check_liveness_later();
                }
                false
            }
        }
    }

    /// Sends what the query has now, up to [`BATCH`] items on a dispatcher.
    fn send(self: &Arc<Self>) -> Turn {
        let mut query = self.query.lock();
        let batch = match self.home {
            Home::Dispatcher(_) => BATCH,
            Home::Thread(_) => usize::MAX,
        };
        let mut sent = 0;
        loop {
            if self.shared.cancelled.load(Ordering::SeqCst) {
                return Turn::End(SubscriptionEnd::Cancelled);
            }
            if self.target.is_terminated() {
                return Turn::End(SubscriptionEnd::SubscriberStopped);
            }
            if self.free.load(Ordering::SeqCst) == 0 {
                return Turn::Wait;
            }
            if sent == batch {
                return Turn::More;
            }
            match query.poll() {
                Polled::Item(Ok(item)) => {
                    sent += 1;
                    self.free.fetch_sub(1, Ordering::SeqCst);
                    self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                    let pump = Arc::downgrade(self);
                    self.target.tell_adapted(Box::new(move || {
                        if let Some(pump) = pump.upgrade()
                            && pump.free.fetch_add(1, Ordering::SeqCst) == 0
                        {
                            pump.wake();
                        }
                        item
                    }));
                }
                Polled::Item(Err(error)) => return Turn::End(SubscriptionEnd::Failed(error)),
                Polled::End => return Turn::End(SubscriptionEnd::Finished),
                Polled::CaughtUp(offset) => {
                    let Some(notifier) = query.notifier() else {
                        return Turn::End(SubscriptionEnd::Finished);
                    };
                    if notifier.is_closed() {
                        return Turn::End(SubscriptionEnd::Failed(QueryError::Closed));
                    }
                    if notifier.last_committed() <= offset {
                        // A commit after this load wakes the pump (it is registered).
                        return Turn::Wait;
                    }
                }
            }
        }
    }

    /// Records why the delivery ended and lets go of the commit notification.
    fn end(&self, end: SubscriptionEnd) {
        if let SubscriptionEnd::Failed(error) = &end {
            tracing::warn!(%error, actor = %self.target.path(), "a live query delivered to an actor failed");
        }
        drop(self.registration.lock().take());
        *self.shared.end.lock() = Some(end);
        self.shared.ended.notify_all();
    }

    /// On a dispatcher: wakes the pump after [`LIVENESS_CHECK`] (one check at a time), so that
    /// a stopped actor or a cancel is noticed without a commit.
    fn check_liveness_later(self: &Arc<Self>) {
        let Some(scheduler) = &self.scheduler else {
            return;
        };
        if self.check_pending.swap(true, Ordering::SeqCst) {
            return;
        }
        let pump = Arc::downgrade(self);
        let scheduled = scheduler.schedule_once(LIVENESS_CHECK, move || {
            if let Some(pump) = pump.upgrade() {
                pump.check_pending.store(false, Ordering::SeqCst);
                pump.wake();
            }
        });
        if scheduled.is_none() {
            // The system's timers have stopped: the system is shutting down, and its actors
            // with it.
            self.check_pending.store(false, Ordering::SeqCst);
        }
    }

    /// The loop of a pump that has a thread of its own.
    fn run_on_own_thread(self: Arc<Self>) {
        loop {
            {
                let mut phase = self.phase.lock();
                if *phase == Phase::Idle {
                    *phase = Phase::Queued;
                }
            }
            if self.turn() {
                return;
            }
            if *self.phase.lock() == Phase::Idle {
                thread::park_timeout(LIVENESS_CHECK);
            }
        }
    }
}

impl<L: Live> Runnable for Pump<L> {
    fn run(self: Arc<Self>) -> Option<crate::dispatch::Task> {
        self.turn();
        None
    }

    #[cfg(feature = "testkit")]
    fn actor_id(&self) -> u64 {
        u64::MAX
    }
}
