//! The routees a pool's router publishes for its front.
//!
//! The router publishes its routees rarely (when it starts, when one leaves, when it ends);
//! the front reads them at every tell. Reading them under a lock would cost two atomic
//! read-modify-writes per message on a line every sender shares, and an `Arc` per read one
//! more. So a published list is never replaced while a sender may read it: each incarnation of
//! the router (its start, and each restart) publishes one list, kept in the table until the
//! table is dropped, and a tell costs two loads (which incarnation is current, and its list's
//! "initialised" word) before it picks a routee. A routee that leaves is not removed from its
//! list: its slot is marked gone, and the front skips it.
//!
//! | the router                       | the table                                   | a tell through the front          |
//! |----------------------------------|---------------------------------------------|-----------------------------------|
//! | starts (or restarts) with routees | stores their list in the next free place and makes it current | picks among them |
//! | has used every place ([`INCARNATIONS`]) | publishes nothing (a warning is logged)  | hands the message back (the router routes it) |
//! | hears that a routee stopped      | marks its slot gone                         | skips it                          |
//! | ends (stops, or is about to restart) | makes no list current                    | hands the message back            |
//!
//! A tell may run a moment behind the router (it read the list just before the router marked
//! a slot gone, or withdrew the list): it then tells a routee that may have stopped, which
//! refuses, and the front tries the next live slot, or hands the message back when none takes
//! it, as it does whenever a routee refuses. So the lists only ever hold references the router
//! once published, and nothing the router does can leave a tell reading freed memory: no
//! `unsafe` is needed.
//!
//! The price is memory: a list lives as long as its pool (a stopped routee's reference keeps
//! only its cell's shell; its state is dropped when it stops). A router restarts only when its
//! own turn fails, which its code does not do, so one list is the rule; the cap bounds the
//! pathological case, after which the pool still works, through the router's mailbox.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::actor::ActorRef;

/// How many incarnations of a router publish a list for the front. A router restarts only if
/// its own turn fails; after this many starts the front hands every message to the router.
pub(super) const INCARNATIONS: usize = 8;

/// One incarnation's routees, as the router started them.
struct Published<M: Send + 'static> {
    slots: Box<[Slot<M>]>,
}

/// A routee's place in a published list: alone on its cache line, so that nothing a worker
/// writes (an actor's state allocated beside the list, say) makes every tell miss.
#[repr(align(64))]
struct Slot<M: Send + 'static> {
    routee: ActorRef<M>,
    /// Set when the routee has left the pool.
    gone: AtomicBool,
}

/// The routees a pool's front may tell.
pub(super) struct RouteeTable<M: Send + 'static> {
    /// The place of the current list, plus one; zero when there is none.
    current: AtomicUsize,
    lists: [OnceLock<Published<M>>; INCARNATIONS],
}

impl<M: Send + 'static> RouteeTable<M> {
    pub(super) fn new() -> Self {
        Self {
            current: AtomicUsize::new(0),
            lists: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Publishes a starting router's routees (the router's side): none publishes nothing
    /// (a tell hands back). Returns false, publishing nothing, once every place is used.
    pub(super) fn start(&self, routees: Vec<ActorRef<M>>) -> bool {
        if routees.is_empty() {
            // A list is never empty: a tell picks in it without looking.
            self.withdraw();
            return true;
        }
        // The first free place: places fill in order and are never emptied.
        let Some((place, list)) = self
            .lists
            .iter()
            .enumerate()
            .find(|(_, list)| list.get().is_none())
        else {
            self.current.store(0, Ordering::Release);
            return false;
        };
        let slots = routees
            .into_iter()
            .map(|routee| Slot {
                routee,
                gone: AtomicBool::new(false),
            })
            .collect();
        let published = Published { slots };
        if list.set(published).is_err() {
            // Only the router sets places, one turn at a time: the place it found free is.
            return false;
        }
        // Release: a sender that reads the place reads the list it names.
        self.current.store(place + 1, Ordering::Release);
        true
    }

    /// Marks `routee` gone in the current list (the router's side): the front skips it.
    pub(super) fn leave(&self, routee: &ActorRef<M>) {
        if let Some(list) = self.current_list() {
            for slot in &list.slots {
                if slot.routee == *routee {
                    slot.gone.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// Withdraws the current list (the router's side): the front hands every message back.
    pub(super) fn withdraw(&self) {
        self.current.store(0, Ordering::Release);
    }

    #[inline(always)]
    fn current_list(&self) -> Option<&Published<M>> {
        match self.current.load(Ordering::Acquire) {
            0 => None,
            place => self.lists.get(place - 1)?.get(),
        }
    }

    /// Tells the live routee that `pick` chooses among `n` (`pick` is called only with
    /// `n >= 1`), trying the next picks while one is gone or refuses, or hands the message
    /// back: no list, or no routee took it.
    #[inline(always)]
    pub(super) fn tell(&self, msg: M, pick: impl Fn(usize) -> usize) -> Result<(), M> {
        let Some(list) = self.current_list() else {
            return Err(msg);
        };
        // The first pick here, the others out of line: the common tell stays small.
        let slot = &list.slots[pick(list.slots.len())];
        if slot.gone.load(Ordering::Relaxed) {
            return Self::tell_others(list, msg, pick);
        }
        match slot.routee.try_tell(msg) {
            Ok(()) => Ok(()),
            Err(refused) => Self::tell_others(list, refused, pick),
        }
    }

    /// The rest of [`tell`](Self::tell): the next picks, after one that was gone or refused.
    #[cold]
    #[inline(never)]
    fn tell_others(
        list: &Published<M>,
        mut msg: M,
        pick: impl Fn(usize) -> usize,
    ) -> Result<(), M> {
        let n = list.slots.len();
        for _ in 1..n {
            let slot = &list.slots[pick(n)];
            if slot.gone.load(Ordering::Relaxed) {
                continue;
            }
            match slot.routee.try_tell(msg) {
                Ok(()) => return Ok(()),
                Err(refused) => msg = refused,
            }
        }
        Err(msg)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc::{Sender, channel};
    use std::time::Duration;

    use super::*;
    use crate::actor::{ActorSystem, Behaviors};

    /// Stops a [`reporting`] actor.
    const STOP: u32 = u32::MAX;

    fn reporting(
        system: &ActorSystem,
        name: &'static str,
        out: &Sender<&'static str>,
    ) -> ActorRef<u32> {
        let out = out.clone();
        system
            .spawn(
                Behaviors::receive_message(move |msg: u32| {
                    if msg == STOP {
                        return Behaviors::stopped();
                    }
                    let _ = out.send(name);
                    Behaviors::same()
                }),
                name,
            )
            .expect("spawned")
    }

    fn one_system(name: &str) -> ActorSystem {
        ActorSystem::builder()
            .name(name)
            .threads(1)
            .build()
            .expect("a system")
    }

    #[test]
    fn a_tell_sees_each_start_and_withdrawal_and_an_empty_table_hands_back() {
        let system = one_system("routees");
        let (out, seen) = channel();
        let (a, b) = (reporting(&system, "a", &out), reporting(&system, "b", &out));
        let table = RouteeTable::new();
        assert_eq!(table.tell(1, |_| 0), Err(1), "nothing started: handed back");
        assert!(table.start(vec![a.clone()]));
        for _ in 0..2 {
            assert_eq!(table.tell(1, |_| 0), Ok(()));
            assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok("a"));
        }
        table.withdraw();
        assert_eq!(table.tell(2, |_| 0), Err(2), "withdrawn: handed back");
        assert!(table.start(vec![b]));
        assert_eq!(table.tell(2, |_| 0), Ok(()));
        assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok("b"));
        // Another thread reads the same list.
        let other = std::thread::scope(|scope| scope.spawn(|| table.tell(3, |_| 0)).join());
        assert!(matches!(other, Ok(Ok(()))));
        assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok("b"));
        system.shutdown();
    }

    /// A one-worker system and three reporting actors, "a", "b" and "c".
    fn three_reporters(
        name: &str,
    ) -> (
        ActorSystem,
        std::sync::mpsc::Receiver<&'static str>,
        [ActorRef<u32>; 3],
    ) {
        let system = one_system(name);
        let (out, seen) = channel();
        let reporters = ["a", "b", "c"].map(|name| reporting(&system, name, &out));
        (system, seen, reporters)
    }

    #[test]
    fn a_gone_routee_is_skipped_and_a_stopped_one_that_refuses_is_passed_over() {
        let (system, seen, [a, b, c]) = three_reporters("routees-gone");
        let table = RouteeTable::new();
        assert!(table.start(vec![a.clone(), b.clone(), c.clone()]));
        // Round-robin over three places.
        let next = AtomicUsize::new(0);
        let pick = |n: usize| next.fetch_add(1, Ordering::Relaxed) % n;
        table.leave(&b);
        for _ in 0..4 {
            assert_eq!(table.tell(1, pick), Ok(()));
        }
        let got: Vec<_> = (0..4)
            .map(|_| seen.recv_timeout(Duration::from_secs(10)))
            .collect();
        assert!(
            got.iter().all(|name| matches!(name, Ok("a" | "c"))),
            "b was marked gone: {got:?}"
        );
        // `c` stops before the router has heard: it refuses, and the next live place takes it.
        c.tell(STOP);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while c.try_tell(0).is_ok() {
            assert!(std::time::Instant::now() < deadline, "c never stopped");
            std::thread::sleep(Duration::from_millis(1));
        }
        while seen.try_recv().is_ok() {}
        for _ in 0..3 {
            assert_eq!(table.tell(1, pick), Ok(()));
            assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok("a"));
        }
        // Every routee gone or stopped: the message comes back for the router.
        table.leave(&a);
        assert_eq!(table.tell(9, pick), Err(9));
        system.shutdown();
    }

    #[test]
    fn senders_on_three_threads_lose_nothing_while_the_router_marks_leavers_and_restarts() {
        let system = ActorSystem::builder()
            .name("routees-hammer")
            .threads(2)
            .build()
            .expect("a system");
        let delivered = Arc::new(AtomicUsize::new(0));
        let routees: Vec<ActorRef<u32>> = (0..4)
            .map(|i| {
                let delivered = delivered.clone();
                system
                    .spawn(
                        Behaviors::receive_message(move |_: u32| {
                            delivered.fetch_add(1, Ordering::Relaxed);
                            Behaviors::same()
                        }),
                        &format!("counting-{i}"),
                    )
                    .expect("spawned")
            })
            .collect();
        let table = RouteeTable::new();
        assert!(table.start(routees.clone()));
        let next = AtomicUsize::new(0);
        let pick = |n: usize| next.fetch_add(1, Ordering::Relaxed) % n;
        let router_done = AtomicBool::new(false);
        let (sent, told, handed_back) = std::thread::scope(|scope| {
            let senders: Vec<_> = (0..3)
                .map(|_| {
                    scope.spawn(|| {
                        // Sent, taken by a routee, handed back.
                        let mut counts = (0usize, 0usize, 0usize);
                        while !router_done.load(Ordering::Relaxed) || counts.0 < 1_000 {
                            counts.0 += 1;
                            match table.tell(counts.0 as u32, pick) {
                                Ok(()) => counts.1 += 1,
                                Err(_) => counts.2 += 1,
                            }
                        }
                        counts
                    })
                })
                .collect();
            // The router's side meanwhile: a routee leaves, the list is withdrawn, the router
            // starts again with all four (a new place each time).
            for round in 0..(INCARNATIONS - 2) {
                std::thread::sleep(Duration::from_micros(300));
                table.leave(&routees[round % routees.len()]);
                std::thread::sleep(Duration::from_micros(300));
                table.withdraw();
                std::thread::sleep(Duration::from_micros(100));
                assert!(table.start(routees.clone()));
            }
            router_done.store(true, Ordering::Relaxed);
            senders
                .into_iter()
                .map(|sender| sender.join().expect("a sender thread"))
                .fold((0, 0, 0), |sum, counts| {
                    (sum.0 + counts.0, sum.1 + counts.1, sum.2 + counts.2)
                })
        });
        assert_eq!(told + handed_back, sent, "every tell answered");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while delivered.load(Ordering::Relaxed) < told {
            assert!(
                std::time::Instant::now() < deadline,
                "{} of {told} accepted messages arrived",
                delivered.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(delivered.load(Ordering::Relaxed), told, "none twice");
        system.shutdown();
    }

    #[test]
    fn after_every_place_is_used_the_table_publishes_nothing_and_hands_back() {
        let system = one_system("routees-cap");
        let (out, seen) = channel();
        let a = reporting(&system, "a", &out);
        let table = RouteeTable::new();
        for _ in 0..INCARNATIONS {
            assert!(table.start(vec![a.clone()]));
            assert_eq!(table.tell(1, |_| 0), Ok(()));
            assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok("a"));
            table.withdraw();
        }
        assert!(!table.start(vec![a.clone()]), "no place left");
        assert_eq!(table.tell(1, |_| 0), Err(1), "handed back for the router");
        system.shutdown();
    }

    #[test]
    fn tells_alternating_between_two_tables_each_reach_their_own_list_after_each_start() {
        let (system, seen, [a, b, c]) = three_reporters("routees-two");
        let (first, second) = (RouteeTable::new(), RouteeTable::new());
        assert!(first.start(vec![a.clone()]));
        assert!(second.start(vec![b.clone()]));
        for round in 0..6 {
            if round == 3 {
                // `first` restarts with another routee between two tells.
                first.withdraw();
                assert!(first.start(vec![c.clone()]));
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
