//! Live queries delivered to an actor, with flow control.
//!
//! One thread per subscription reads the query and tells the actor each item. At most
//! [`WINDOW`] items wait in the actor's mailbox: each is sent as a message the actor makes in
//! its own turn, and making it gives its slot back (and wakes the thread if it was waiting
//! for one). A slow actor therefore holds the thread back, never a growing queue; the query
//! goes on from the journal where it stood. When caught up, the thread sleeps until the
//! journal's writer wakes it at the next commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::error::QueryError;
use super::live::{Live, Polled};
use crate::actor::ActorRef;

/// Items sent to the actor and not yet taken from its mailbox, at most.
pub(crate) const WINDOW: usize = 256;

/// How often a waiting delivery thread looks whether its actor stopped or it was cancelled
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
    thread: thread::Thread,
    _handle: JoinHandle<()>,
}

impl Subscription {
    /// Stops the delivery; items already sent still reach the actor.
    pub fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::SeqCst);
        self.thread.unpark();
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
    let target = target.clone();
    let thread_shared = shared.clone();
    let handle = thread::Builder::new()
        .name(format!("query-to-{}", target.path()))
        .spawn(move || {
            let end = run(query, &target, &thread_shared);
            if let SubscriptionEnd::Failed(error) = &end {
                tracing::warn!(%error, actor = %target.path(), "a live query delivered to an actor failed");
            }
            *thread_shared.end.lock() = Some(end);
            thread_shared.ended.notify_all();
        })
        .map_err(|error| QueryError::Spawn(error.to_string()))?;
    Ok(Subscription {
        shared,
        thread: handle.thread().clone(),
        _handle: handle,
    })
}

fn run<L: Live>(mut query: L, target: &ActorRef<L::Item>, shared: &Shared) -> SubscriptionEnd {
    let me = thread::current();
    let free = Arc::new(AtomicUsize::new(WINDOW));
    let _woken_at_commit = query.notifier().map(|notifier| {
        let me = me.clone();
        notifier.register(Arc::new(move || me.unpark()))
    });
    loop {
        if shared.cancelled.load(Ordering::SeqCst) {
            return SubscriptionEnd::Cancelled;
        }
        if target.is_terminated() {
            return SubscriptionEnd::SubscriberStopped;
        }
        if free.load(Ordering::SeqCst) == 0 {
            thread::park_timeout(LIVENESS_CHECK);
            continue;
        }
        match query.poll() {
            Polled::Item(Ok(item)) => {
                free.fetch_sub(1, Ordering::SeqCst);
                shared.delivered.fetch_add(1, Ordering::Relaxed);
                let (free, me) = (free.clone(), me.clone());
                target.tell_adapted(Box::new(move || {
                    if free.fetch_add(1, Ordering::SeqCst) == 0 {
                        me.unpark();
                    }
                    item
                }));
            }
            Polled::Item(Err(error)) => return SubscriptionEnd::Failed(error),
            Polled::End => return SubscriptionEnd::Finished,
            Polled::CaughtUp(offset) => {
                let Some(notifier) = query.notifier() else {
                    return SubscriptionEnd::Finished;
                };
                if notifier.is_closed() {
                    return SubscriptionEnd::Failed(QueryError::Closed);
                }
                if notifier.last_committed() <= offset {
                    thread::park_timeout(LIVENESS_CHECK);
                }
            }
        }
    }
}
