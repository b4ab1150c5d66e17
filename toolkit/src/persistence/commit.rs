//! The commit notification: how a journal tells live queries that events were committed.
//!
//! A journal that supports live queries owns one [`CommitNotifier`] and calls
//! [`committed`](CommitNotifier::committed) with its new last global offset right after each
//! commit (on the writer thread). Readers either block in [`wait_past`](CommitNotifier::wait_past)
//! (the blocking live iterators) or register a waker (the pumps that deliver to actors).
//!
//! The publish side costs one atomic `fetch_max` and one atomic load when nobody waits: the
//! writer never takes a lock for readers that are not there. The hand-off cannot lose a
//! wake-up: a waiter announces itself (`waiters += 1`) before it checks the offset under the
//! lock, and the publisher stores the offset before it reads `waiters`; both are `SeqCst`, so
//! either the waiter sees the new offset or the publisher sees the waiter and notifies under
//! the lock the waiter holds until it sleeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// A waker registered with [`CommitNotifier::register`]: called on the writer thread after
/// each commit, under the notifier's lock, so it must be short (unpark a thread, send to a
/// channel) and must not use the notifier.
pub type CommitWaker = Arc<dyn Fn() + Send + Sync>;

/// Publishes a journal's last committed global offset to live queries.
///
/// ```
/// use reactant::persistence::{CommitNotifier, CommitWait};
/// use std::time::{Duration, Instant};
///
/// let notifier = std::sync::Arc::new(CommitNotifier::new(0));
/// let publisher = notifier.clone();
/// let writer = std::thread::spawn(move || publisher.committed(3));
/// let waited = notifier.wait_past(0, Some(Instant::now() + Duration::from_secs(5)));
/// assert_eq!(waited, CommitWait::Advanced(3));
/// writer.join().unwrap();
/// assert_eq!(notifier.wait_past(3, Some(Instant::now())), CommitWait::TimedOut);
/// ```
pub struct CommitNotifier {
    last: AtomicU64,
    closed: AtomicBool,
    /// Blocked waiters plus registered wakers: the publisher takes the lock only when > 0.
    waiters: AtomicUsize,
    lock: Mutex<Wakers>,
    condvar: Condvar,
}

#[derive(Default)]
struct Wakers {
    next_id: u64,
    registered: Vec<(u64, CommitWaker)>,
}

/// How a [`CommitNotifier::wait_past`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitWait {
    /// The last committed offset is now this, above the one waited past.
    Advanced(u64),
    /// The deadline passed first.
    TimedOut,
    /// The journal was closed: no commit will come.
    Closed,
}

/// Keeps a waker registered; dropping it unregisters the waker.
pub struct WakerRegistration {
    notifier: Arc<CommitNotifier>,
    id: u64,
}

impl Drop for WakerRegistration {
    fn drop(&mut self) {
        let mut wakers = self.notifier.lock.lock();
        if let Some(index) = wakers.registered.iter().position(|(id, _)| *id == self.id) {
            wakers.registered.swap_remove(index);
            self.notifier.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl CommitNotifier {
    /// A notifier whose last committed offset is `last` (the journal's, when opened).
    pub fn new(last: u64) -> Self {
        Self {
            last: AtomicU64::new(last),
            closed: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(Wakers::default()),
            condvar: Condvar::new(),
        }
    }

    /// Called by the journal once every event up to global offset `offset` is committed (and
    /// readable). Offsets only grow: a lower one changes nothing.
    pub fn committed(&self, offset: u64) {
        let previous = self.last.fetch_max(offset, Ordering::SeqCst);
        if previous < offset && self.waiters.load(Ordering::SeqCst) > 0 {
            self.wake_all();
        }
    }

    /// Called when the journal closes: every waiter wakes with [`CommitWait::Closed`], and
    /// later waits return at once.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake_all();
    }

    fn wake_all(&self) {
        // Wakers only unpark or send: cheap enough to call under the lock, which spares the
        // writer a copy of the list per commit.
        let wakers = self.lock.lock();
        self.condvar.notify_all();
        for (_, waker) in &wakers.registered {
            waker();
        }
    }

    /// The last committed global offset published so far.
    pub fn last_committed(&self) -> u64 {
        self.last.load(Ordering::SeqCst)
    }

    /// Whether the journal was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Blocks until the last committed offset is above `offset`, the `deadline` passes (none:
    /// no deadline), or the journal closes.
    pub fn wait_past(&self, offset: u64, deadline: Option<Instant>) -> CommitWait {
        let check = |notifier: &Self| {
            let last = notifier.last.load(Ordering::SeqCst);
            if last > offset {
                Some(CommitWait::Advanced(last))
            } else if notifier.closed.load(Ordering::SeqCst) {
                Some(CommitWait::Closed)
            } else {
                None
            }
        };
        if let Some(outcome) = check(self) {
            return outcome;
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock();
        let outcome = loop {
            if let Some(outcome) = check(self) {
                break outcome;
            }
            match deadline {
                Some(deadline) => {
                    if self.condvar.wait_until(&mut guard, deadline).timed_out() {
                        break check(self).unwrap_or(CommitWait::TimedOut);
                    }
                }
                None => self.condvar.wait(&mut guard),
            }
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        outcome
    }

    /// Registers `waker`, called after each commit (and at close) until the returned
    /// registration is dropped.
    pub fn register(self: &Arc<Self>, waker: CommitWaker) -> WakerRegistration {
        let mut wakers = self.lock.lock();
        wakers.next_id += 1;
        let id = wakers.next_id;
        wakers.registered.push((id, waker));
        self.waiters.fetch_add(1, Ordering::SeqCst);
        WakerRegistration {
            notifier: self.clone(),
            id,
        }
    }
}

impl Default for CommitNotifier {
    fn default() -> Self {
        Self::new(0)
    }
}

impl std::fmt::Debug for CommitNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitNotifier")
            .field("last_committed", &self.last_committed())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    #[test]
    fn a_blocked_waiter_wakes_at_the_commit_past_its_offset_and_at_close() {
        let notifier = Arc::new(CommitNotifier::new(5));
        let waiter = {
            let notifier = notifier.clone();
            std::thread::spawn(move || {
                let first = notifier.wait_past(5, None);
                let second = notifier.wait_past(7, None);
                (first, second)
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        notifier.committed(4); // lower: changes nothing
        notifier.committed(7);
        std::thread::sleep(Duration::from_millis(20));
        notifier.close();
        let (first, second) = waiter.join().expect("the waiter ends");
        assert_eq!(first, CommitWait::Advanced(7));
        assert_eq!(second, CommitWait::Closed);
        assert_eq!(notifier.last_committed(), 7);
    }

    #[test]
    fn wakers_are_called_at_each_commit_until_their_registration_is_dropped() {
        let notifier = Arc::new(CommitNotifier::new(0));
        let calls = Arc::new(AtomicU64::new(0));
        let counted = calls.clone();
        let registration = notifier.register(Arc::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        }));
        notifier.committed(1);
        notifier.committed(1); // no progress: no wake-up
        notifier.committed(2);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        drop(registration);
        notifier.committed(3);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(notifier.waiters.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn no_wake_up_is_lost_between_a_check_and_a_wait() {
        let notifier = Arc::new(CommitNotifier::new(0));
        let publisher = {
            let notifier = notifier.clone();
            std::thread::spawn(move || {
                for offset in 1..=20_000 {
                    notifier.committed(offset);
                }
            })
        };
        let mut seen = 0;
        while seen < 20_000 {
            match notifier.wait_past(seen, Some(Instant::now() + Duration::from_secs(10))) {
                CommitWait::Advanced(offset) => seen = offset,
                other => panic!("stuck at {seen}: {other:?}"),
            }
        }
        publisher.join().expect("the publisher ends");
    }
}
