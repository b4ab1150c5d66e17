//! The mailbox: an actor's two queues (system and user messages) and its scheduling status.
//!
//! The mailbox is the unit of scheduling. Its status lives in one atomic word:
//!
//! | bit         | meaning                                                                 |
//! |-------------|-------------------------------------------------------------------------|
//! | `SCHEDULED` | one worker holds (or is about to run) the actor; clear: the actor is idle |
//! | `CLOSED`    | the actor has stopped; nothing is accepted, it never runs again         |
//! | `SYSTEM`    | system messages are waiting (a hint that spares a lock on every turn)   |
//!
//! Transitions, all of them here:
//!
//! - `idle → SCHEDULED` ([`Mailbox::try_schedule`]): by whoever enqueued a message and wins the
//!   compare-and-swap. Only the winner hands the actor to a dispatcher, so an actor is never
//!   queued twice and never runs on two threads at once.
//! - `SCHEDULED → idle` ([`Mailbox::next_user`], [`Mailbox::finish_turn`]): by the worker,
//!   and **only while holding the queue lock after seeing both queues empty**. A sender
//!   enqueues under the same lock and reads the status after releasing it, so either the worker
//!   saw the message (and keeps the actor scheduled) or the sender sees idle and schedules it:
//!   a message can never be stranded in an idle mailbox.
//! - `* → CLOSED` ([`Mailbox::close`]): under the queue lock, taking whatever is queued so the
//!   caller can route it to dead letters. Enqueueing checks `CLOSED` under the same lock, so
//!   every message is either processed, or handed back at close, or refused to its sender.
//! - `SYSTEM` is set and cleared only under the lock, together with the system queue. Reading
//!   it without the lock may miss a message being added; that sender then finds the actor
//!   scheduled, and the worker sees the message when it ends its turn under the lock.
//!
//! The loom models at the bottom of this file explore these interleavings.

use std::collections::VecDeque;

use crate::sync::{AtomicU32, Mutex, Ordering};

const SCHEDULED: u32 = 0b001;
const CLOSED: u32 = 0b010;
const SYSTEM: u32 = 0b100;

/// An actor's queues and status word. `U` is the user message type, `S` the system one.
pub(crate) struct Mailbox<U, S> {
    status: AtomicU32,
    queues: Mutex<Queues<U, S>>,
}

struct Queues<U, S> {
    user: VecDeque<U>,
    /// Boxed: most actors never get a system message, and an idle actor should be small.
    #[allow(
        clippy::box_collection,
        reason = "one word instead of three in every idle actor"
    )]
    system: Option<Box<Vec<S>>>,
}

impl<U, S> Queues<U, S> {
    fn has_system(&self) -> bool {
        self.system
            .as_ref()
            .is_some_and(|system| !system.is_empty())
    }
}

/// What was left in a mailbox when it closed.
pub(crate) struct Leftovers<U, S> {
    pub(crate) user: VecDeque<U>,
    pub(crate) system: Vec<S>,
}

/// The outcome of [`Mailbox::next_user`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// User messages were taken; `system_waiting`: see to the system queue first.
    Taken { system_waiting: bool },
    /// No user message, but system messages wait.
    SystemWaiting,
    /// Both queues were empty: the actor is now idle (or closed) and must not run on.
    Idle,
}

impl<U, S> Mailbox<U, S> {
    pub(crate) fn new() -> Self {
        Self {
            status: AtomicU32::new(0),
            queues: Mutex::new(Queues {
                user: VecDeque::new(),
                system: None,
            }),
        }
    }

    /// Enqueues a user message. `Ok(true)`: the caller won the right to schedule the actor and
    /// must hand it to its dispatcher. `Err(msg)`: the mailbox is closed.
    #[inline]
    pub(crate) fn push_user(&self, msg: U) -> Result<bool, U> {
        {
            let mut queues = self.queues.lock();
            // CLOSED is only ever set under this lock, so a relaxed load is exact here.
            if self.status.load(Ordering::Relaxed) & CLOSED != 0 {
                return Err(msg);
            }
            queues.user.push_back(msg);
        }
        Ok(self.try_schedule())
    }

    /// Enqueues a system message; same contract as [`Mailbox::push_user`].
    pub(crate) fn push_system(&self, msg: S) -> Result<bool, S> {
        {
            let mut queues = self.queues.lock();
            if self.status.load(Ordering::Relaxed) & CLOSED != 0 {
                return Err(msg);
            }
            queues.system.get_or_insert_with(Box::default).push(msg);
            self.status.fetch_or(SYSTEM, Ordering::Release);
        }
        Ok(self.try_schedule())
    }

    /// `idle → SCHEDULED`. True if this call made the transition.
    #[inline]
    pub(crate) fn try_schedule(&self) -> bool {
        let mut current = self.status.load(Ordering::Acquire);
        loop {
            if current & (SCHEDULED | CLOSED) != 0 {
                return false;
            }
            match self.status.compare_exchange_weak(
                current,
                current | SCHEDULED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Moves every queued system message, in arrival order, to the end of `into`.
    #[inline]
    pub(crate) fn take_system(&self, into: &mut Vec<S>) {
        if self.status.load(Ordering::Acquire) & SYSTEM == 0 {
            return;
        }
        let mut queues = self.queues.lock();
        if let Some(system) = queues.system.as_deref_mut() {
            if into.is_empty() {
                std::mem::swap(into, system);
            } else {
                into.append(system);
            }
        }
        self.status.fetch_and(!SYSTEM, Ordering::Release);
    }

    /// Takes up to `max` user messages, oldest first, into the (empty) `into`; or, if there
    /// are none and no system message either, makes the actor idle — in one locked step.
    #[inline]
    pub(crate) fn next_user(&self, into: &mut VecDeque<U>, max: usize) -> Next {
        let mut queues = self.queues.lock();
        if !queues.user.is_empty() {
            move_user(&mut queues.user, into, max);
            return Next::Taken {
                system_waiting: queues.has_system(),
            };
        }
        if queues.has_system() {
            return Next::SystemWaiting;
        }
        if self.status.load(Ordering::Relaxed) & CLOSED == 0 {
            // Under the lock, after seeing both queues empty: see the module docs.
            self.status.fetch_and(!SCHEDULED, Ordering::Release);
        }
        Next::Idle
    }

    /// Moves up to `max` user messages to the end of `into`, whatever the actor's state.
    pub(crate) fn drain_user(&self, into: &mut VecDeque<U>, max: usize) {
        let mut queues = self.queues.lock();
        move_user(&mut queues.user, into, max);
    }

    /// Ends a turn that did not end in [`Mailbox::next_user`] going idle. Returns true if the
    /// actor has more work and stays scheduled (the caller must requeue it); false if it went
    /// idle, or is closed and must not run again. `local_work`: the worker still holds
    /// messages it took out of the queues.
    pub(crate) fn finish_turn(&self, local_work: bool) -> bool {
        if local_work {
            return !self.is_closed();
        }
        let queues = self.queues.lock();
        if self.status.load(Ordering::Relaxed) & CLOSED != 0 {
            return false;
        }
        if queues.has_system() || !queues.user.is_empty() {
            return true;
        }
        // Under the lock, after seeing both queues empty: see the module docs.
        self.status.fetch_and(!SCHEDULED, Ordering::Release);
        false
    }

    /// Closes the mailbox and hands back whatever was still queued.
    pub(crate) fn close(&self) -> Leftovers<U, S> {
        let mut queues = self.queues.lock();
        self.status.fetch_or(CLOSED, Ordering::AcqRel);
        self.status.fetch_and(!SYSTEM, Ordering::AcqRel);
        Leftovers {
            user: std::mem::take(&mut queues.user),
            system: queues
                .system
                .take()
                .map(|system| *system)
                .unwrap_or_default(),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.status.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Number of user messages waiting in the queue (not counting those a worker holds).
    #[cfg(test)]
    pub(crate) fn user_len(&self) -> usize {
        self.queues.lock().user.len()
    }
}

#[inline]
fn move_user<U>(from: &mut VecDeque<U>, into: &mut VecDeque<U>, max: usize) {
    if into.is_empty() && from.len() <= max {
        // The common case: take everything by swapping buffers, keeping both allocations.
        std::mem::swap(into, from);
    } else {
        let n = max.min(from.len());
        into.extend(from.drain(..n));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn first_message_schedules_and_later_ones_do_not() {
        let mailbox: Mailbox<u32, ()> = Mailbox::new();
        assert_eq!(mailbox.push_user(1).ok(), Some(true));
        assert_eq!(mailbox.push_user(2).ok(), Some(false));
        let mut buffer = VecDeque::new();
        assert_eq!(
            mailbox.next_user(&mut buffer, 10),
            Next::Taken {
                system_waiting: false
            }
        );
        assert_eq!(buffer, [1, 2]);
        buffer.clear();
        assert_eq!(mailbox.next_user(&mut buffer, 10), Next::Idle);
        assert_eq!(mailbox.push_user(3).ok(), Some(true));
    }

    #[test]
    fn next_user_respects_the_throughput_bound() {
        let mailbox: Mailbox<u32, ()> = Mailbox::new();
        for i in 0..10 {
            let _ = mailbox.push_user(i);
        }
        let mut buffer = VecDeque::new();
        mailbox.next_user(&mut buffer, 4);
        assert_eq!(buffer, [0, 1, 2, 3]);
        assert_eq!(mailbox.user_len(), 6);
        assert!(
            mailbox.finish_turn(true),
            "held messages keep the actor scheduled"
        );
        assert!(
            mailbox.finish_turn(false),
            "queued messages keep the actor scheduled"
        );
    }

    #[test]
    fn system_messages_are_announced_and_taken_in_order() {
        let mailbox: Mailbox<u32, u8> = Mailbox::new();
        let mut system = Vec::new();
        mailbox.take_system(&mut system);
        assert!(system.is_empty());
        let _ = mailbox.push_system(1);
        let _ = mailbox.push_user(10);
        let _ = mailbox.push_system(2);
        let mut buffer = VecDeque::new();
        assert_eq!(
            mailbox.next_user(&mut buffer, 8),
            Next::Taken {
                system_waiting: true
            }
        );
        mailbox.take_system(&mut system);
        assert_eq!(system, [1, 2]);
        assert_eq!(mailbox.next_user(&mut VecDeque::new(), 8), Next::Idle);
    }

    #[test]
    fn a_closed_mailbox_refuses_and_never_reschedules() {
        let mailbox: Mailbox<u32, u8> = Mailbox::new();
        assert!(mailbox.push_user(1).is_ok());
        let _ = mailbox.push_system(7);
        let left = mailbox.close();
        assert_eq!(left.user, [1]);
        assert_eq!(left.system, [7]);
        assert_eq!(mailbox.push_user(2).err(), Some(2));
        assert_eq!(mailbox.push_system(8).err(), Some(8));
        assert!(!mailbox.finish_turn(false));
        assert!(!mailbox.finish_turn(true));
        assert!(!mailbox.try_schedule());
        assert!(mailbox.is_closed());
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! Run with `RUSTFLAGS="--cfg loom" cargo test -p reactant --lib --release loom_models`.
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize;
    use loom::thread;

    /// A sender racing the end of a turn never strands its message: when both are done, the
    /// message was either taken by the turn, or the mailbox is scheduled again.
    #[test]
    fn a_message_racing_the_end_of_a_turn_is_never_stranded() {
        loom::model(|| {
            let mailbox: Arc<Mailbox<u32, ()>> = Arc::new(Mailbox::new());
            assert_eq!(mailbox.push_user(1).ok(), Some(true));

            let sender = {
                let mailbox = mailbox.clone();
                thread::spawn(move || mailbox.push_user(2).ok() == Some(true))
            };

            let mut taken = 0;
            let stays_scheduled = loop {
                let mut buffer = VecDeque::new();
                match mailbox.next_user(&mut buffer, 1) {
                    Next::Taken { .. } => taken += buffer.len(),
                    Next::SystemWaiting => unreachable!("no system messages here"),
                    Next::Idle => break false,
                }
                if taken == 2 {
                    break mailbox.finish_turn(false);
                }
            };
            let sender_scheduled = sender.join().unwrap();

            let left = mailbox.user_len();
            if left > 0 {
                // Someone must be responsible for running it: exactly one of the two.
                assert!(stays_scheduled ^ sender_scheduled);
            } else {
                assert_eq!(taken, 2);
                assert!(!(stays_scheduled && sender_scheduled));
            }
        });
    }

    /// A system message racing the end of a turn is never stranded either, although the
    /// worker reads the `SYSTEM` hint without the lock.
    #[test]
    fn a_system_message_racing_the_end_of_a_turn_is_never_stranded() {
        loom::model(|| {
            let mailbox: Arc<Mailbox<u32, u8>> = Arc::new(Mailbox::new());
            assert_eq!(mailbox.push_user(1).ok(), Some(true));
            let sender = {
                let mailbox = mailbox.clone();
                thread::spawn(move || mailbox.push_system(9).ok() == Some(true))
            };
            let mut system = Vec::new();
            mailbox.take_system(&mut system);
            let mut buffer = VecDeque::new();
            let mut stays_scheduled = true;
            loop {
                match mailbox.next_user(&mut buffer, 8) {
                    Next::Taken { .. } => buffer.clear(),
                    Next::SystemWaiting => {
                        mailbox.take_system(&mut system);
                    }
                    Next::Idle => {
                        stays_scheduled = false;
                        break;
                    }
                }
            }
            let sender_scheduled = sender.join().unwrap();
            if system.is_empty() {
                assert!(sender_scheduled, "the system message was stranded");
            }
            let _ = stays_scheduled;
        });
    }

    /// Many senders: exactly one of them wins the right to schedule an idle actor.
    #[test]
    fn exactly_one_sender_schedules_an_idle_mailbox() {
        loom::model(|| {
            let mailbox: Arc<Mailbox<u32, ()>> = Arc::new(Mailbox::new());
            let winners = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..2)
                .map(|i| {
                    let mailbox = mailbox.clone();
                    let winners = winners.clone();
                    thread::spawn(move || {
                        if mailbox.push_user(i).ok() == Some(true) {
                            winners.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.join().unwrap();
            }
            assert_eq!(winners.load(Ordering::SeqCst), 1);
        });
    }

    /// Close racing a send: the message is refused, or handed back by close — never lost, and
    /// a closed mailbox is never scheduled again.
    #[test]
    fn a_message_racing_close_is_refused_or_handed_back() {
        loom::model(|| {
            let mailbox: Arc<Mailbox<u32, ()>> = Arc::new(Mailbox::new());
            let sender = {
                let mailbox = mailbox.clone();
                thread::spawn(move || mailbox.push_user(1).is_err())
            };
            let left = mailbox.close();
            let refused = sender.join().unwrap();
            assert!(refused ^ (left.user.len() == 1));
            assert!(!mailbox.try_schedule());
        });
    }

    /// Two workers never touch an actor's state concurrently: everything a turn did before
    /// going idle happens-before the next turn. The actor's state is a loom `UnsafeCell`, so
    /// loom reports any unsynchronised access as a data race.
    #[test]
    fn an_actor_is_never_held_by_two_workers() {
        use loom::cell::UnsafeCell;

        loom::model(|| {
            let mailbox: Arc<Mailbox<u32, ()>> = Arc::new(Mailbox::new());
            let handled = Arc::new(UnsafeCell::new(0usize));
            assert_eq!(mailbox.push_user(0).ok(), Some(true));

            // Runs turns until the actor goes idle.
            let run = |mailbox: &Mailbox<u32, ()>, handled: &UnsafeCell<usize>| loop {
                let mut buffer = VecDeque::new();
                match mailbox.next_user(&mut buffer, 1) {
                    Next::Taken { .. } => handled.with_mut(|n| {
                        // SAFETY: `n` points into the live cell; exclusivity is what the
                        // model checks, and loom fails it on any racing access.
                        unsafe { *n += buffer.len() }
                    }),
                    Next::SystemWaiting => unreachable!("no system messages here"),
                    Next::Idle => return,
                }
            };

            let sender = {
                let mailbox = mailbox.clone();
                let handled = handled.clone();
                thread::spawn(move || {
                    if mailbox.push_user(1).ok() == Some(true) {
                        // This thread won the schedule: it plays the second worker.
                        run(&mailbox, &handled);
                    }
                })
            };
            run(&mailbox, &handled);
            sender.join().unwrap();
            assert_eq!(mailbox.user_len(), 0);
            // SAFETY: both workers have finished (joined above); `n` points into the live cell.
            assert_eq!(handled.with(|n| unsafe { *n }), 2);
        });
    }
}
