//! The routees a pool's router publishes for its front, and each sender thread's copy of them.
//!
//! The router publishes a new list when a routee joins or leaves (rarely); the front reads it
//! at every tell (always). Reading it under a lock would cost two atomic read-modify-writes
//! per message (the lock and the unlock), on a line every sender thread shares. Instead each
//! thread keeps a copy of the lists it used last (an `Arc`, keyed by the table's id and its
//! version), and a tell only loads the version: while it has not changed, the copy is the
//! list. When it has, the thread reads the list under the lock once and keeps the new copy.
//!
//! A copy may be a publication behind (the router publishes while a sender tells): the sender
//! then tells a routee that may have just left, which refuses, and the front hands the
//! message to the router, as it does whenever a routee refuses. A thread keeps at most
//! [`COPIES`] lists; one of a stopped pool stays until the thread's next tell to that pool or
//! until newer ones push it out (it holds only the routees' references: a stopped actor's
//! state is dropped when it stops).

use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::actor::ActorRef;

/// How many pools' lists a thread keeps.
const COPIES: usize = 4;

/// Numbers the tables of the process, so that a thread's copy names its table for good
/// (an address could be reused by a later table).
static NEXT_TABLE: AtomicU64 = AtomicU64::new(0);

/// One thread's copy of one table's list.
struct Copy {
    table: u64,
    version: u64,
    /// An `Arc<Vec<ActorRef<M>>>`, typed by the table that made it.
    routees: Arc<dyn Any + Send + Sync>,
}

thread_local! {
    static COPIES_HERE: RefCell<Vec<Copy>> = const { RefCell::new(Vec::new()) };
}

/// The routees a pool's front may tell.
pub(super) struct RouteeTable<M: Send + 'static> {
    id: u64,
    /// The version of `current`, readable without the lock.
    version: AtomicU64,
    current: RwLock<(u64, Arc<Vec<ActorRef<M>>>)>,
}

impl<M: Send + 'static> RouteeTable<M> {
    pub(super) fn new() -> Self {
        Self {
            id: NEXT_TABLE.fetch_add(1, Ordering::Relaxed),
            version: AtomicU64::new(0),
            current: RwLock::new((0, Arc::new(Vec::new()))),
        }
    }

    /// Replaces the list (the router's side).
    pub(super) fn publish(&self, routees: Vec<ActorRef<M>>) {
        let mut current = self.current.write();
        let version = current.0 + 1;
        *current = (version, Arc::new(routees));
        self.version.store(version, Ordering::Release);
    }

    /// Tells the routee that `pick` chooses among `n` (`pick` is called only if there is at
    /// least one), or hands the message back: no routee, or the routee refused it.
    #[inline]
    pub(super) fn tell(&self, msg: M, pick: impl Fn(usize) -> usize) -> Result<(), M> {
        let version = self.version.load(Ordering::Acquire);
        let mut msg = Some(msg);
        // A thread that is ending has no copies left: it reads under the lock.
        let sent = COPIES_HERE.try_with(|copies| {
            // Borrowed mutably only while a copy is stored, which tells nothing.
            let copies = copies.try_borrow().ok()?;
            let copy = copies
                .iter()
                .find(|copy| copy.table == self.id && copy.version == version)?;
            let routees = copy.routees.downcast_ref::<Vec<ActorRef<M>>>()?;
            Some(tell_one(routees, msg.take()?, &pick))
        });
        if let Ok(Some(sent)) = sent {
            return sent;
        }
        match msg {
            Some(msg) => self.tell_and_copy(msg, pick),
            // Only a found copy takes the message, and it then returns what it did.
            None => Ok(()),
        }
    }

    /// Reads the list under the lock, tells, and keeps a copy for this thread's next tells.
    #[cold]
    fn tell_and_copy(&self, msg: M, pick: impl Fn(usize) -> usize) -> Result<(), M> {
        let (version, routees) = self.current.read().clone();
        let sent = tell_one(&routees, msg, &pick);
        let copy = Copy {
            table: self.id,
            version,
            routees,
        };
        // Not stored while this thread's copies are borrowed: a tell through a pool whose
        // routee is itself a pool's front. What the copy replaces is dropped after the
        // borrow ends (dropping a routee's last reference drops its cell, which may drop
        // more; none of it may find the copies borrowed).
        let _replaced = COPIES_HERE.try_with(|copies| {
            let mut copies = copies.try_borrow_mut().ok()?;
            match copies.iter().position(|old| old.table == self.id) {
                Some(at) => Some(std::mem::replace(&mut copies[at], copy)),
                None if copies.len() < COPIES => {
                    copies.push(copy);
                    None
                }
                None => {
                    let oldest = copies.remove(0);
                    copies.push(copy);
                    Some(oldest)
                }
            }
        });
        sent
    }
}

#[inline]
fn tell_one<M: Send + 'static>(
    routees: &[ActorRef<M>],
    msg: M,
    pick: &impl Fn(usize) -> usize,
) -> Result<(), M> {
    match routees.len() {
        0 => Err(msg),
        n => routees[pick(n)].try_tell(msg),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{Sender, channel};
    use std::time::Duration;

    use super::*;
    use crate::actor::{ActorSystem, Behaviors};

    fn reporting(
        system: &ActorSystem,
        name: &'static str,
        out: &Sender<&'static str>,
    ) -> ActorRef<u32> {
        let out = out.clone();
        system
            .spawn(
                Behaviors::receive_message(move |_: u32| {
                    let _ = out.send(name);
                    Behaviors::same()
                }),
                name,
            )
            .expect("spawned")
    }

    #[test]
    fn a_thread_sees_each_publication_at_its_next_tell_and_an_empty_list_hands_back() {
        let system = ActorSystem::builder()
            .name("routees")
            .threads(1)
            .build()
            .expect("a system");
        let (out, seen) = channel();
        let (a, b) = (reporting(&system, "a", &out), reporting(&system, "b", &out));
        let table = RouteeTable::new();
        assert_eq!(
            table.tell(1, |_| 0),
            Err(1),
            "nothing published: handed back"
        );
        table.publish(vec![a.clone()]);
        for _ in 0..2 {
            assert_eq!(table.tell(1, |_| 0), Ok(()));
            assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok("a"));
        }
        table.publish(vec![b]);
        assert_eq!(table.tell(2, |_| 0), Ok(()));
        assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok("b"));
        // Another thread reads the same list.
        let other = std::thread::scope(|scope| scope.spawn(|| table.tell(3, |_| 0)).join());
        assert!(matches!(other, Ok(Ok(()))));
        assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok("b"));
        table.publish(Vec::new());
        assert_eq!(
            table.tell(4, |_| 0),
            Err(4),
            "the list was withdrawn: handed back"
        );
        // More tables than a thread keeps copies of: each still reaches its own list.
        let tables: Vec<RouteeTable<u32>> = (0..COPIES + 2)
            .map(|_| {
                let table = RouteeTable::new();
                table.publish(vec![a.clone()]);
                table
            })
            .collect();
        for _ in 0..2 {
            for table in &tables {
                assert_eq!(table.tell(5, |_| 0), Ok(()));
                assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok("a"));
            }
        }
        system.shutdown();
    }

    /// Tells through its table when the thread's locals are dropped.
    struct TellsAtExit(Arc<RouteeTable<u32>>);

    impl Drop for TellsAtExit {
        fn drop(&mut self) {
            assert_eq!(self.0.tell(7, |_| 0), Ok(()));
        }
    }

    thread_local! {
        static AT_EXIT: RefCell<Option<TellsAtExit>> = const { RefCell::new(None) };
    }

    #[test]
    fn a_tell_from_a_thread_locals_drop_at_thread_exit_reaches_the_routee() {
        let system = ActorSystem::builder()
            .name("routees-exit")
            .threads(1)
            .build()
            .expect("a system");
        let (out, seen) = channel();
        let table = Arc::new(RouteeTable::new());
        table.publish(vec![reporting(&system, "a", &out)]);
        let exiting = table.clone();
        let told = std::thread::spawn(move || {
            // Registered before the thread's copies (made by the tell below), so dropped
            // after them where locals drop in reverse order: the tell then finds no copies.
            AT_EXIT.with(|at_exit| *at_exit.borrow_mut() = Some(TellsAtExit(exiting.clone())));
            for _ in 0..3 {
                assert_eq!(exiting.tell(1, |_| 0), Ok(()));
            }
        })
        .join();
        assert!(
            told.is_ok(),
            "the thread's tells and its exit did not panic"
        );
        for _ in 0..4 {
            assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok("a"));
        }
        system.shutdown();
    }

    #[test]
    fn tells_alternating_between_two_tables_each_reach_their_own_list_after_each_publication() {
        let system = ActorSystem::builder()
            .name("routees-two")
            .threads(1)
            .build()
            .expect("a system");
        let (out, seen) = channel();
        let (a, b, c) = (
            reporting(&system, "a", &out),
            reporting(&system, "b", &out),
            reporting(&system, "c", &out),
        );
        let (first, second) = (RouteeTable::new(), RouteeTable::new());
        first.publish(vec![a.clone()]);
        second.publish(vec![b.clone()]);
        for round in 0..6 {
            if round == 3 {
                // The last-used copy is `second`'s; `first` changes under it.
                first.publish(vec![c.clone()]);
            }
            assert_eq!(first.tell(1, |_| 0), Ok(()));
            let want = if round < 3 { "a" } else { "c" };
            assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok(want));
            assert_eq!(second.tell(2, |_| 0), Ok(()));
            assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok("b"));
        }
        system.shutdown();
    }
}
