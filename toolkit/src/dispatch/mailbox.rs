//! The mailbox: an actor's two queues (system and user messages) and its scheduling status.
//!
//! The mailbox is the unit of scheduling. Its status lives in one atomic word:
//!
//! | bit         | meaning                                                                   |
//! |-------------|---------------------------------------------------------------------------|
//! | `SCHEDULED` | one worker holds (or is about to run) the actor; clear: the actor is idle |
//! | `CLOSED`    | the actor has stopped; nothing is accepted, it never runs again           |
//! | `USER`      | the user queue is not empty                                               |
//! | `SYSTEM`    | the system queue is not empty                                             |
//! | `USER_CLOSED` | no more user messages are accepted; system messages still are (an actor |
//! |             | stopping for passivation still hears from its children)                   |
//!
//! The queue bits always agree with the queues: they change only under the queue lock. The one
//! write made without the lock is the worker's compare-and-swap from exactly `SCHEDULED` to
//! idle; senders set their bits with a read-modify-write under the lock, so that swap fails
//! if any message arrived. Reads outside the lock are hints for the worker.
//!
//! Transitions, all of them here:
//!
//! - `idle → SCHEDULED` ([`Mailbox::push_user`], [`Mailbox::push_system`]): by the sender whose
//!   `fetch_or` finds the actor idle. Only that sender hands the actor to a dispatcher, so an
//!   actor is never queued twice and never runs on two threads at once.
//! - `SCHEDULED → idle` ([`Mailbox::try_idle`]): by the worker, a compare-and-swap that only
//!   succeeds while no queue bit is set. A sender whose bit got in first keeps the actor
//!   scheduled (the worker runs on); a sender that comes after finds it idle and schedules it:
//!   a message can never be stranded in an idle mailbox. The swap releases everything the
//!   worker did and the sender's `fetch_or` acquires it, so the next worker's turn
//!   happens-after: this is what makes the actor's state exclusive.
//! - `* → CLOSED` ([`Mailbox::close`]): taking whatever is queued so the caller can route it
//!   to dead letters. Enqueueing checks `CLOSED` under the same lock, so every message is
//!   either processed, or handed back at close, or refused to its sender.
//! - `* → USER_CLOSED` ([`Mailbox::close_user_if_empty`], [`Mailbox::push_user_last`]): under
//!   the lock, only when the user queue is empty (so nothing accepted is left behind), or
//!   together with the last message accepted. From then on a user message is refused and
//!   handed back to its sender (sharding routes it to the entity's next incarnation). The bit
//!   is sticky: going idle keeps it.
//!
//! The loom models at the bottom of this file explore these interleavings.

use std::collections::VecDeque;

use crate::sync::{AtomicU32, Ordering, QueueLock};

const SCHEDULED: u32 = 0b0001;
const CLOSED: u32 = 0b0010;
const USER: u32 = 0b0100;
const SYSTEM: u32 = 0b1000;
const USER_CLOSED: u32 = 0b1_0000;

/// An actor's queues and status word. `U` is the user message type, `S` the system one.
pub(crate) struct Mailbox<U, S> {
    status: AtomicU32,
    queues: QueueLock<Queues<U, S>>,
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

/// What was left in a mailbox when it closed.
pub(crate) struct Leftovers<U, S> {
    pub(crate) user: VecDeque<U>,
    pub(crate) system: Vec<S>,
}

impl<U, S> Mailbox<U, S> {
    pub(crate) fn new() -> Self {
        Self {
            status: AtomicU32::new(0),
            queues: QueueLock::new(Queues {
                user: VecDeque::new(),
                system: None,
            }),
        }
    }

    /// Enqueues a user message. `Ok(true)`: the message found the actor idle, so the caller
    /// must hand it to its dispatcher. `Err(msg)`: the mailbox is closed.
    #[inline]
    pub(crate) fn push_user(&self, msg: U) -> Result<bool, U> {
        let mut queues = self.queues.lock();
        let status = self.status.load(Ordering::Relaxed);
        if status & (CLOSED | USER_CLOSED) != 0 {
            return Err(msg);
        }
        queues.user.push_back(msg);
        Ok(self.mark(status, USER))
    }

    /// Enqueues a user message as the last one the mailbox accepts (a stop message): same
    /// contract as [`Mailbox::push_user`], and later user messages are refused.
    pub(crate) fn push_user_last(&self, msg: U) -> Result<bool, U> {
        let mut queues = self.queues.lock();
        let status = self.status.load(Ordering::Relaxed);
        if status & (CLOSED | USER_CLOSED) != 0 {
            return Err(msg);
        }
        queues.user.push_back(msg);
        self.status.fetch_or(USER_CLOSED, Ordering::AcqRel);
        Ok(self.mark(status | USER_CLOSED, USER))
    }

    /// Refuses user messages from now on, if none is queued; false (and nothing changes) if
    /// some are.
    pub(crate) fn close_user_if_empty(&self) -> bool {
        let queues = self.queues.lock();
        if !queues.user.is_empty() {
            return false;
        }
        self.status.fetch_or(USER_CLOSED, Ordering::AcqRel);
        true
    }

    /// Enqueues a system message; same contract as [`Mailbox::push_user`].
    pub(crate) fn push_system(&self, msg: S) -> Result<bool, S> {
        let mut queues = self.queues.lock();
        let status = self.status.load(Ordering::Relaxed);
        if status & CLOSED != 0 {
            return Err(msg);
        }
        queues.system.get_or_insert_with(Box::default).push(msg);
        Ok(self.mark(status, SYSTEM))
    }

    /// Under the lock: records a non-empty queue and schedules an idle actor. True if this
    /// call made the actor go from idle to scheduled.
    #[inline]
    fn mark(&self, status: u32, queue_bit: u32) -> bool {
        if status & (queue_bit | SCHEDULED) == queue_bit | SCHEDULED {
            // Already marked; the bit cannot be cleared but under the lock we hold, so the
            // worker's swap to idle cannot succeed before our message is seen.
            return false;
        }
        let previous = self
            .status
            .fetch_or(queue_bit | SCHEDULED, Ordering::AcqRel);
        previous & SCHEDULED == 0
    }

    /// A hint, read without the lock: user messages may be waiting.
    #[inline]
    pub(crate) fn has_user_hint(&self) -> bool {
        self.status.load(Ordering::Acquire) & USER != 0
    }

    /// A hint, read without the lock: system messages may be waiting.
    #[inline]
    pub(crate) fn has_system_hint(&self) -> bool {
        self.status.load(Ordering::Acquire) & SYSTEM != 0
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
        self.status.fetch_and(!SYSTEM, Ordering::AcqRel);
    }

    /// Moves up to `max` user messages, oldest first, to the end of `into`. Returns true if
    /// system messages are waiting too (the caller should see to them first).
    #[inline]
    pub(crate) fn take_user(&self, into: &mut VecDeque<U>, max: usize) -> bool {
        let mut queues = self.queues.lock();
        let user = &mut queues.user;
        if into.is_empty() && user.len() <= max {
            // The common case: take everything by swapping buffers, keeping both allocations.
            std::mem::swap(into, user);
        } else {
            let n = max.min(user.len());
            into.extend(user.drain(..n));
        }
        let status = self.status.load(Ordering::Relaxed);
        if queues.user.is_empty() && status & USER != 0 {
            self.status.fetch_and(!USER, Ordering::AcqRel);
        }
        status & SYSTEM != 0
    }

    /// Ends a turn with nothing in hand. True: both queues were empty and the actor is now idle
    /// (or closed): the worker must let go of it. False: messages arrived meanwhile; it stays
    /// scheduled and the worker must requeue it.
    pub(crate) fn try_idle(&self) -> bool {
        // `USER_CLOSED` is sticky and set only under the lock; should it be set between this
        // read and the swap, the swap fails and the worker merely runs one more empty turn.
        let sticky = self.status.load(Ordering::Relaxed) & USER_CLOSED;
        match self.status.compare_exchange(
            SCHEDULED | sticky,
            sticky,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => true,
            // A queue bit is set (stay scheduled), unless the actor has closed.
            Err(actual) => actual & CLOSED != 0,
        }
    }

    /// Closes the mailbox and hands back whatever was still queued. A closed mailbox is never
    /// scheduled again.
    pub(crate) fn close(&self) -> Leftovers<U, S> {
        let mut queues = self.queues.lock();
        self.status.fetch_or(CLOSED, Ordering::AcqRel);
        self.status.fetch_and(!(USER | SYSTEM), Ordering::AcqRel);
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
    #[cfg(all(test, not(loom)))]
    pub(crate) fn user_len(&self) -> usize {
        self.queues.lock().user.len()
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
        assert!(!mailbox.take_user(&mut buffer, 10));
        assert_eq!(buffer, [1, 2]);
        assert!(!mailbox.has_user_hint());
        assert!(mailbox.try_idle());
        assert_eq!(mailbox.push_user(3).ok(), Some(true));
    }

    #[test]
    fn a_mailbox_closed_to_user_messages_still_goes_idle_and_takes_system_ones() {
        let mailbox: Mailbox<u32, ()> = Mailbox::new();
        assert!(mailbox.close_user_if_empty());
        assert_eq!(mailbox.push_user(1).err(), Some(1));
        assert_eq!(mailbox.push_system(()).ok(), Some(true));
        let mut system = Vec::new();
        mailbox.take_system(&mut system);
        assert_eq!(system.len(), 1);
        assert!(
            mailbox.try_idle(),
            "the sticky bit does not keep it scheduled"
        );
        assert!(!mailbox.is_closed());
    }

    #[test]
    fn the_last_user_message_is_accepted_and_later_ones_refused() {
        let mailbox: Mailbox<u32, ()> = Mailbox::new();
        assert_eq!(mailbox.push_user(1).ok(), Some(true));
        assert!(
            !mailbox.close_user_if_empty(),
            "a queued message refuses the close"
        );
        assert_eq!(mailbox.push_user_last(2).ok(), Some(false));
        assert_eq!(mailbox.push_user(3).err(), Some(3));
        let mut buffer = VecDeque::new();
        mailbox.take_user(&mut buffer, 10);
        assert_eq!(buffer, [1, 2]);
    }

    #[test]
    fn take_user_respects_the_throughput_bound() {
        let mailbox: Mailbox<u32, ()> = Mailbox::new();
        for i in 0..10 {
            let _ = mailbox.push_user(i);
        }
        let mut buffer = VecDeque::new();
        mailbox.take_user(&mut buffer, 4);
        assert_eq!(buffer, [0, 1, 2, 3]);
        assert_eq!(mailbox.user_len(), 6);
        assert!(mailbox.has_user_hint());
        assert!(
            !mailbox.try_idle(),
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
        assert!(mailbox.take_user(&mut buffer, 8), "system messages wait");
        assert!(!mailbox.try_idle());
        mailbox.take_system(&mut system);
        assert_eq!(system, [1, 2]);
        assert!(mailbox.try_idle());
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
        assert!(mailbox.try_idle(), "a closed actor is let go");
        assert!(mailbox.is_closed());
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! Run with `RUSTFLAGS="--cfg loom" cargo test -p reactant --lib --release loom_models`.
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize;
    use loom::thread;

    /// What a worker does with a scheduled actor: turns until it goes idle. Returns the number
    /// of user messages it handled.
    fn run_until_idle(mailbox: &Mailbox<u32, u8>, state: &UnsafeCell<usize>) -> usize {
        let mut handled = 0;
        loop {
            let mut system = Vec::new();
            mailbox.take_system(&mut system);
            let mut buffer = VecDeque::new();
            if mailbox.has_user_hint() {
                mailbox.take_user(&mut buffer, 1);
            }
            let n = buffer.len() + system.len();
            if n > 0 {
                handled += n;
                // SAFETY: `s` points into the live cell; exclusivity is what the models check,
                // and loom fails them on any racing access.
                state.with_mut(|s| unsafe { *s += n });
                continue;
            }
            if mailbox.try_idle() {
                return handled;
            }
        }
    }

    /// A sender races a worker closing the user side of an empty mailbox (passivation): either
    /// the message is accepted and the close refused (the worker must handle it first), or the
    /// close wins and the message comes back to its sender. Never both, never neither.
    #[test]
    fn closing_the_user_side_never_strands_an_accepted_message() {
        loom::model(|| {
            let mailbox: Arc<Mailbox<u32, u8>> = Arc::new(Mailbox::new());
            assert_eq!(mailbox.push_user(0).ok(), Some(true));
            let mut held = VecDeque::new();
            mailbox.take_user(&mut held, usize::MAX);
            let sender = {
                let mailbox = mailbox.clone();
                thread::spawn(move || mailbox.push_user(1).is_ok())
            };
            let closed = mailbox.close_user_if_empty();
            let accepted = sender.join().expect("sender");
            if closed {
                // Whatever the sender got in before the close, the worker still finds.
                let mut rest = VecDeque::new();
                mailbox.take_user(&mut rest, usize::MAX);
                assert_eq!(rest.len(), usize::from(accepted));
                assert!(!accepted, "the queue was empty when it closed");
            } else {
                assert!(accepted, "only a queued message can refuse the close");
            }
            assert!(mailbox.push_user(2).is_err() || !closed);
        });
    }

    /// Two senders (one of them of a system message) race a worker ending its turn: every
    /// message is handled exactly once, by whichever thread won the schedule, and no two
    /// threads ever touch the actor's state at once.
    #[test]
    fn racing_senders_never_strand_a_message_nor_share_the_state() {
        loom::model(|| {
            let mailbox: Arc<Mailbox<u32, u8>> = Arc::new(Mailbox::new());
            let state = Arc::new(UnsafeCell::new(0usize));
            assert_eq!(mailbox.push_user(0).ok(), Some(true));

            let user_sender = {
                let mailbox = mailbox.clone();
                let state = state.clone();
                thread::spawn(move || {
                    if mailbox.push_user(1).ok() == Some(true) {
                        // This thread won the schedule: it plays the next worker.
                        run_until_idle(&mailbox, &state)
                    } else {
                        0
                    }
                })
            };
            let system_sender = {
                let mailbox = mailbox.clone();
                let state = state.clone();
                thread::spawn(move || {
                    if mailbox.push_system(2).ok() == Some(true) {
                        run_until_idle(&mailbox, &state)
                    } else {
                        0
                    }
                })
            };
            let mut handled = run_until_idle(&mailbox, &state);
            handled += user_sender.join().unwrap();
            handled += system_sender.join().unwrap();
            assert_eq!(handled, 3, "a message was stranded or handled twice");
            // SAFETY: every worker has finished (joined above).
            assert_eq!(state.with(|s| unsafe { *s }), 3);
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
                thread::spawn(move || mailbox.push_user(1))
            };
            let left = mailbox.close();
            let outcome = sender.join().unwrap();
            assert!(outcome.is_err() ^ (left.user.len() == 1));
            assert_eq!(mailbox.push_user(2).err(), Some(2));
        });
    }
}
