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
//! | `LOCKED`    | a thread holds the queues (the lock lives in the status word)             |
//!
//! The lock of the queues is a bit of the same word, so that a send costs one atomic
//! read-modify-write, not three (take a separate lock, mark the status, release): a thread
//! takes the lock with a compare-and-swap that sets `LOCKED`, and releases it with a plain
//! store of the whole word, its queue bits and `SCHEDULED` updated at once. That store may
//! overwrite the word because, while `LOCKED` is set, nobody else changes it: every other
//! writer takes the lock first, and the one write made without the lock — the worker's
//! compare-and-swap from exactly `SCHEDULED` to idle — fails while `LOCKED` (or any queue bit)
//! is set. The queue bits therefore always agree with the queues; reads outside the lock are
//! hints for the worker. A worker whose swap to idle failed only because a thread held the
//! lock runs one more (empty) turn, which is harmless.
//!
//! Transitions, all of them here:
//!
//! - `(new) → idle` ([`Mailbox::new`]): an actor that can take messages at once.
//! - `(new) → SCHEDULED` ([`Mailbox::new_scheduled`]): an actor whose first turn must start
//!   it (setup, `pre_start`). Its creator holds the schedule and hands the actor to a
//!   dispatcher itself, with no message queued: senders that come meanwhile only set their
//!   queue bits, as for any scheduled actor.
//! - `idle → SCHEDULED` ([`Mailbox::push_user`], [`Mailbox::push_system`]): by the sender whose
//!   lock finds the actor idle (it sets `SCHEDULED` when it releases the lock). Only that
//!   sender hands the actor to a dispatcher, so an actor is never queued twice and never runs
//!   on two threads at once.
//! - `SCHEDULED → idle` ([`Mailbox::try_idle`]): by the worker, a compare-and-swap that only
//!   succeeds while no queue bit is set. A sender whose bit got in first keeps the actor
//!   scheduled (the worker runs on); a sender that comes after finds it idle and schedules it:
//!   a message can never be stranded in an idle mailbox. The swap releases everything the
//!   worker did and the sender's lock acquires it, so the next worker's turn happens-after:
//!   this is what makes the actor's state exclusive.
//! - `* → LOCKED → *` (every method but `try_idle` and the hints): a compare-and-swap that
//!   sets the bit when it is clear (spinning briefly, then yielding, while another thread
//!   holds it), and a release store.
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
//!
//! Over 600 lines because of its tests: the mailbox itself is under 400; the unit tests and the
//! loom models of every transition in the table stay beside the code they model.

use std::collections::VecDeque;

#[cfg(loom)]
use loom::cell::UnsafeCell;
#[cfg(not(loom))]
use std::cell::UnsafeCell;

use crate::sync::{AtomicU32, Ordering, spin_hint, yield_now};

const SCHEDULED: u32 = 0b0001;
const CLOSED: u32 = 0b0010;
const USER: u32 = 0b0100;
const SYSTEM: u32 = 0b1000;
const USER_CLOSED: u32 = 0b1_0000;
const LOCKED: u32 = 0b10_0000;
/// A thread waiting for the lock spins this many times, then yields its core between looks.
const SPINS_BEFORE_YIELD: u32 = 64;

/// An actor's queues and status word. `U` is the user message type, `S` the system one.
pub(crate) struct Mailbox<U, S> {
    status: AtomicU32,
    /// A word for the mailbox's owner, not part of the mailbox's protocol: the actor cell
    /// keeps its place in its parent's list of children here ([`Mailbox::owner_word`]), in
    /// the four bytes that the alignment of `queues` leaves free after `status`.
    owner_word: std::sync::atomic::AtomicU32,
    /// Touched only while `LOCKED` is held (see [`Locked`]).
    queues: UnsafeCell<Queues<U, S>>,
}

// SAFETY: the queues are reached only through `Locked`, which exists only while its thread
// holds the `LOCKED` bit (taken with acquire ordering, released with release ordering), so
// they are never touched by two threads at once and each holder sees the previous holder's
// writes. The messages themselves move between threads: `U: Send` and `S: Send`.
unsafe impl<U: Send, S: Send> Sync for Mailbox<U, S> {}

/// The queues, held: the `LOCKED` bit is set and this thread set it. Dropping it stores
/// `status` (queue bits and `SCHEDULED` updated by the holder) and releases the lock.
struct Locked<'a, U, S> {
    mailbox: &'a Mailbox<U, S>,
    /// The word to store at release, without `LOCKED`.
    status: u32,
    #[cfg(loom)]
    access: loom::cell::MutPtr<Queues<U, S>>,
}

impl<U, S> std::ops::Deref for Locked<'_, U, S> {
    type Target = Queues<U, S>;

    #[inline]
    fn deref(&self) -> &Queues<U, S> {
        #[cfg(not(loom))]
        // SAFETY: this thread holds the lock (see the `Sync` impl above).
        unsafe {
            &*self.mailbox.queues.get()
        }
        #[cfg(loom)]
        // SAFETY: as above; loom tracks the access through `access`.
        unsafe {
            self.access.deref()
        }
    }
}

impl<U, S> std::ops::DerefMut for Locked<'_, U, S> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Queues<U, S> {
        #[cfg(not(loom))]
        // SAFETY: this thread holds the lock, and `&mut self` makes this the only reference
        // through the guard.
        unsafe {
            &mut *self.mailbox.queues.get()
        }
        #[cfg(loom)]
        // SAFETY: as above; loom tracks the access through `access`.
        unsafe {
            self.access.deref()
        }
    }
}

impl<U, S> Drop for Locked<'_, U, S> {
    #[inline]
    fn drop(&mut self) {
        debug_assert_eq!(self.status & LOCKED, 0);
        self.mailbox.status.store(self.status, Ordering::Release);
    }
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
    /// An idle mailbox: the first message schedules the actor.
    pub(crate) fn new() -> Self {
        Self::with_status(0)
    }

    /// A mailbox already scheduled: its creator must hand the actor to a dispatcher, which
    /// then runs a first turn with nothing queued (the actor's start).
    pub(crate) fn new_scheduled() -> Self {
        Self::with_status(SCHEDULED)
    }

    fn with_status(status: u32) -> Self {
        Self {
            status: AtomicU32::new(status),
            owner_word: std::sync::atomic::AtomicU32::new(u32::MAX),
            queues: UnsafeCell::new(Queues {
                user: VecDeque::new(),
                system: None,
            }),
        }
    }

    /// The owner's word (see the field); `u32::MAX` until the owner sets it.
    #[inline]
    pub(crate) fn owner_word(&self) -> &std::sync::atomic::AtomicU32 {
        &self.owner_word
    }

    /// Takes the lock: sets `LOCKED` once it is clear. The guard's `status` is the word as
    /// it was (without `LOCKED`); the holder edits it, and the guard stores it at release.
    #[inline]
    fn lock(&self) -> Locked<'_, U, S> {
        let status = self.status.load(Ordering::Relaxed);
        if status & LOCKED == 0
            && self
                .status
                .compare_exchange_weak(
                    status,
                    status | LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return self.locked(status);
        }
        self.lock_contended()
    }

    #[cold]
    fn lock_contended(&self) -> Locked<'_, U, S> {
        let mut spins = 0;
        loop {
            let status = self.status.load(Ordering::Relaxed);
            if status & LOCKED == 0
                && self
                    .status
                    .compare_exchange_weak(
                        status,
                        status | LOCKED,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                return self.locked(status);
            }
            if spins < SPINS_BEFORE_YIELD {
                spins += 1;
                spin_hint();
            } else {
                yield_now();
            }
        }
    }

    #[inline]
    fn locked(&self, status: u32) -> Locked<'_, U, S> {
        Locked {
            mailbox: self,
            status,
            #[cfg(loom)]
            access: self.queues.get_mut(),
        }
    }

    /// Enqueues a user message. `Ok(true)`: the message found the actor idle, so the caller
    /// must hand it to its dispatcher. `Err(msg)`: the mailbox is closed.
    #[inline]
    pub(crate) fn push_user(&self, msg: U) -> Result<bool, U> {
        let mut queues = self.lock();
        if queues.status & (CLOSED | USER_CLOSED) != 0 {
            return Err(msg);
        }
        queues.user.push_back(msg);
        Ok(queues.mark(USER))
    }

    /// Enqueues a user message as the last one the mailbox accepts (a stop message): same
    /// contract as [`Mailbox::push_user`], and later user messages are refused.
    pub(crate) fn push_user_last(&self, msg: U) -> Result<bool, U> {
        let mut queues = self.lock();
        if queues.status & (CLOSED | USER_CLOSED) != 0 {
            return Err(msg);
        }
        queues.user.push_back(msg);
        queues.status |= USER_CLOSED;
        Ok(queues.mark(USER))
    }

    /// Refuses user messages from now on, if none is queued; false (and nothing changes) if
    /// some are.
    pub(crate) fn close_user_if_empty(&self) -> bool {
        let mut queues = self.lock();
        if !queues.user.is_empty() {
            return false;
        }
        queues.status |= USER_CLOSED;
        true
    }

    /// Enqueues a system message; same contract as [`Mailbox::push_user`].
    pub(crate) fn push_system(&self, msg: S) -> Result<bool, S> {
        let mut queues = self.lock();
        if queues.status & CLOSED != 0 {
            return Err(msg);
        }
        queues.system.get_or_insert_with(Box::default).push(msg);
        Ok(queues.mark(SYSTEM))
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
        let mut queues = self.lock();
        if let Some(system) = queues.system.as_deref_mut() {
            if into.is_empty() {
                std::mem::swap(into, system);
            } else {
                into.append(system);
            }
        }
        queues.status &= !SYSTEM;
    }

    /// Moves up to `max` user messages, oldest first, to the end of `into`. Returns true if
    /// system messages are waiting too (the caller should see to them first).
    #[inline]
    pub(crate) fn take_user(&self, into: &mut VecDeque<U>, max: usize) -> bool {
        let mut queues = self.lock();
        let user = &mut queues.user;
        if into.is_empty() && user.len() <= max {
            // The common case: take everything by swapping buffers, keeping both allocations.
            std::mem::swap(into, user);
        } else {
            let n = max.min(user.len());
            into.extend(user.drain(..n));
        }
        if queues.user.is_empty() {
            queues.status &= !USER;
        }
        queues.status & SYSTEM != 0
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
        let mut queues = self.lock();
        queues.status = (queues.status | CLOSED) & !(USER | SYSTEM);
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
        self.lock().user.len()
    }
}

impl<U, S> Locked<'_, U, S> {
    /// Records a non-empty queue and schedules an idle actor, both stored at release. True if
    /// this call made the actor go from idle to scheduled.
    #[inline]
    fn mark(&mut self, queue_bit: u32) -> bool {
        let was_idle = self.status & SCHEDULED == 0;
        self.status |= queue_bit | SCHEDULED;
        was_idle
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_mailbox_created_scheduled_is_not_scheduled_again_by_a_sender() {
        let mailbox: Mailbox<u32, ()> = Mailbox::new_scheduled();
        assert_eq!(mailbox.push_user(1).ok(), Some(false));
        assert!(!mailbox.try_idle(), "a message is waiting");
        let mut buffer = VecDeque::new();
        mailbox.take_user(&mut buffer, 10);
        assert!(mailbox.try_idle());
        assert_eq!(mailbox.push_user(2).ok(), Some(true));
    }

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
            // Still scheduled (a message arrived, or a sender holds the lock): a real worker
            // requeues the actor and comes back to it later.
            thread::yield_now();
        }
    }

    /// A sender thread: sends with `push`; if that found the actor idle, it plays the next
    /// worker and returns the messages it handled.
    fn sender(
        mailbox: &Arc<Mailbox<u32, u8>>,
        state: &Arc<UnsafeCell<usize>>,
        push: impl FnOnce(&Mailbox<u32, u8>) -> bool + Send + 'static,
    ) -> thread::JoinHandle<usize> {
        let mailbox = mailbox.clone();
        let state = state.clone();
        thread::spawn(move || {
            if push(&mailbox) {
                run_until_idle(&mailbox, &state)
            } else {
                0
            }
        })
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
        // Three threads each taking the status word's lock a few times: longer paths than
        // loom's default bound of 1,000 branches allows, though each is finite, and too many
        // interleavings under more than one preemption for a test run (over ten minutes).
        // `a_sender_racing_the_end_of_a_turn_never_strands_its_message` explores two of these
        // threads under the full bound.
        let mut model = loom::model::Builder::new();
        model.max_branches = 20_000;
        model.preemption_bound = Some(1);
        model.check(|| {
            let mailbox: Arc<Mailbox<u32, u8>> = Arc::new(Mailbox::new());
            let state = Arc::new(UnsafeCell::new(0usize));
            assert_eq!(mailbox.push_user(0).ok(), Some(true));

            let user_sender = sender(&mailbox, &state, |m| m.push_user(1).ok() == Some(true));
            let system_sender = sender(&mailbox, &state, |m| m.push_system(2).ok() == Some(true));
            let mut handled = run_until_idle(&mailbox, &state);
            handled += user_sender.join().unwrap();
            handled += system_sender.join().unwrap();
            assert_eq!(handled, 3, "a message was stranded or handled twice");
            // SAFETY: every worker has finished (joined above).
            assert_eq!(state.with(|s| unsafe { *s }), 3);
        });
    }

    /// A mailbox created scheduled (an actor that must start) races a sender: the creator's
    /// worker runs the first turn with nothing queued, and the message sent meanwhile is
    /// handled exactly once, by that worker or by the sender that finds the actor idle after.
    #[test]
    fn a_mailbox_created_scheduled_never_strands_a_message_sent_during_the_start() {
        loom::model(|| {
            let mailbox: Arc<Mailbox<u32, u8>> = Arc::new(Mailbox::new_scheduled());
            let state = Arc::new(UnsafeCell::new(0usize));
            let sender = sender(&mailbox, &state, |m| m.push_user(1).ok() == Some(true));
            // The creator's worker: the start turn (the actor's state is touched), then on.
            // SAFETY: as in `run_until_idle`; loom fails the model on any racing access.
            state.with_mut(|s| unsafe { *s += 1 });
            let mut handled = run_until_idle(&mailbox, &state);
            handled += sender.join().unwrap();
            assert_eq!(handled, 1, "the message was stranded or handled twice");
            // SAFETY: every worker has finished (joined above).
            assert_eq!(state.with(|s| unsafe { *s }), 2);
        });
    }

    /// A sender races the worker ending its turn, under loom's full preemption bound: the
    /// message is handled exactly once, by the worker (its swap to idle fails) or by the
    /// sender (which then finds the actor idle and runs it), never by both at once.
    #[test]
    fn a_sender_racing_the_end_of_a_turn_never_strands_its_message() {
        loom::model(|| {
            let mailbox: Arc<Mailbox<u32, u8>> = Arc::new(Mailbox::new());
            let state = Arc::new(UnsafeCell::new(0usize));
            assert_eq!(mailbox.push_user(0).ok(), Some(true));
            let sender = sender(&mailbox, &state, |m| m.push_user(1).ok() == Some(true));
            let mut handled = run_until_idle(&mailbox, &state);
            handled += sender.join().unwrap();
            assert_eq!(handled, 2, "a message was stranded or handled twice");
            // SAFETY: every worker has finished (joined above).
            assert_eq!(state.with(|s| unsafe { *s }), 2);
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
