//! Loom models of the hand-off documented in `table.rs`: a sender that reaches an entity
//! without the table's lock (through its handle, or through the shard's index of active
//! entities) racing the shard that passivates it, and the entity's own turns. Whatever the
//! interleaving, each message is handled once, by the old incarnation or held in the table
//! for the next one, and in the order it was sent: everything the old incarnation handles
//! comes before everything held.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p reactant --lib --release loom_models`.
//!
//! The mailbox and the index's spin lock are the real ones (`crate::sync` swaps their atomics
//! for loom's); the three sides are restated in a few lines each, as the code they mirror
//! does them:
//! - the sender: `EntityRef::tell` (the handle while its `active` flag says so), then
//!   `RegionCore::deliver` (`ShardRoutes::send_to_active` under the index's lock, else
//!   `ShardTable::route` under the table's);
//! - the shard: `ShardTable::passivate_slot` and `deactivate` under the table's lock (the
//!   flag cleared, then the index entry removed), then, with the lock released, the stop
//!   (`Shard::stop_all`): the stop message as the last one the mailbox accepts, or
//!   `AnyActorRef::stop_when_idle`, a system message;
//! - the entity: its turns (`run_turn`), run by whichever thread's push found it idle (as a
//!   dispatcher worker would), until it stops at the stop message, or closes the mailbox's
//!   user side once it is empty after a stop-when-idle; its leftovers then go back to the table
//!   ahead of what is held there (`ShardTable::hold_leftovers`).

use std::collections::VecDeque;

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicBool;
use loom::sync::{Arc, Mutex};
use loom::thread;

use crate::dispatch::mailbox::Mailbox;
use crate::sync::{Ordering, SpinLock};

/// The stop message of an entity type that has one.
const STOP: u32 = u32::MAX;

/// The entity's slot in the table.
enum Slot {
    Active,
    Passivating(VecDeque<u32>),
}

/// What only the thread running the entity's turn touches.
#[derive(Default)]
struct Turns {
    handled: Vec<u32>,
    stop_when_idle: bool,
    stopped: bool,
}

/// One entity and what its shard keeps of it.
struct Entity {
    /// Its mailbox; the one system message here is the stop-when-idle.
    mailbox: Mailbox<u32, ()>,
    /// The entity's own state: loom fails the model if two threads ever run it at once.
    turns: UnsafeCell<Turns>,
    /// Its handle's `active` flag.
    active: AtomicBool,
    /// Whether it is in the shard's index of active entities.
    index: SpinLock<bool>,
    /// Its slot, under the table's lock.
    table: Mutex<Slot>,
}

impl Entity {
    fn active() -> Self {
        Self {
            mailbox: Mailbox::new(),
            turns: UnsafeCell::new(Turns::default()),
            active: AtomicBool::new(true),
            index: SpinLock::new(true),
            table: Mutex::new(Slot::Active),
        }
    }

    /// The sender's side: `through_handle` says whether it holds the entity's handle (an
    /// `EntityRef` that found it running), and is updated as `EntityRef::tell` updates it.
    fn send(&self, msg: u32, through_handle: &mut bool) {
        let mut msg = msg;
        if *through_handle {
            if self.active.load(Ordering::Acquire) {
                match self.mailbox.push_user(msg) {
                    Ok(schedule) => return self.run_if(schedule),
                    Err(refused) => msg = refused,
                }
            }
            *through_handle = false;
        }
        let pushed = {
            // Held across the push, as in `send_to_active`.
            let index = self.index.lock();
            if *index {
                self.mailbox.push_user(msg)
            } else {
                Err(msg)
            }
        };
        match pushed {
            Ok(schedule) => {
                *through_handle = true;
                return self.run_if(schedule);
            }
            Err(refused) => msg = refused,
        }
        let pushed = {
            let mut slot = self.table.lock().unwrap();
            match &mut *slot {
                Slot::Active => match self.mailbox.push_user(msg) {
                    Ok(schedule) => {
                        *through_handle = true;
                        schedule
                    }
                    // It stopped by itself: deactivated here, the message held.
                    Err(refused) => {
                        self.active.store(false, Ordering::Release);
                        *self.index.lock() = false;
                        *slot = Slot::Passivating(VecDeque::from([refused]));
                        false
                    }
                },
                Slot::Passivating(held) => {
                    held.push_back(msg);
                    false
                }
            }
        };
        self.run_if(pushed);
    }

    /// The shard's side: passivation under the table's lock, then the stop.
    fn passivate(&self, stop_message: bool) {
        {
            let mut slot = self.table.lock().unwrap();
            self.active.store(false, Ordering::Release);
            *self.index.lock() = false;
            *slot = Slot::Passivating(VecDeque::new());
        }
        let schedule = if stop_message {
            self.mailbox.push_user_last(STOP).unwrap_or(false)
        } else {
            self.mailbox.push_system(()).unwrap_or(false)
        };
        self.run_if(schedule);
    }

    /// A push that found the entity idle: this thread runs it, as a worker would.
    fn run_if(&self, schedule: bool) {
        if !schedule {
            return;
        }
        loop {
            // SAFETY: this thread holds the entity's schedule (its push found it idle, and
            // the schedule is let go only below); loom fails the model on any racing access.
            self.turns
                .with_mut(|turns| self.turn(unsafe { &mut *turns }));
            if self.mailbox.try_idle() {
                return;
            }
        }
    }

    /// One turn (`run_turn`): the system messages, then what is queued; at the stop message,
    /// or idle after a stop-when-idle, the entity stops.
    fn turn(&self, turns: &mut Turns) {
        loop {
            if turns.stopped {
                return;
            }
            let mut system = Vec::new();
            self.mailbox.take_system(&mut system);
            turns.stop_when_idle |= !system.is_empty();
            let mut batch = VecDeque::new();
            self.mailbox.take_user(&mut batch, usize::MAX);
            if batch.is_empty() {
                if turns.stop_when_idle && self.mailbox.close_user_if_empty() {
                    return self.stop(turns, VecDeque::new());
                }
                if !turns.stop_when_idle || !self.mailbox.has_user_hint() {
                    return;
                }
                continue;
            }
            while let Some(msg) = batch.pop_front() {
                if msg == STOP {
                    return self.stop(turns, batch);
                }
                turns.handled.push(msg);
            }
        }
    }

    /// `finish_stop`: the mailbox closes, and what the entity never handled (what it took,
    /// then what was queued) goes back to the table ahead of what is held there.
    fn stop(&self, turns: &mut Turns, mut unhandled: VecDeque<u32>) {
        turns.stopped = true;
        unhandled.extend(self.mailbox.close().user);
        if let Slot::Passivating(held) = &mut *self.table.lock().unwrap() {
            for msg in unhandled.into_iter().rev() {
                held.push_front(msg);
            }
        }
    }

    /// What the table holds for the next incarnation.
    fn held(&self) -> Vec<u32> {
        match &*self.table.lock().unwrap() {
            Slot::Passivating(held) => held.iter().copied().collect(),
            Slot::Active => panic!("the entity was passivated"),
        }
    }
}

/// One sender sends 1 then 2 while the shard passivates the entity.
fn sender_racing_passivation(through_handle: bool, stop_message: bool) {
    loom::model(move || {
        let entity = Arc::new(Entity::active());
        let sender = {
            let entity = entity.clone();
            thread::spawn(move || {
                let mut through_handle = through_handle;
                entity.send(1, &mut through_handle);
                entity.send(2, &mut through_handle);
            })
        };
        entity.passivate(stop_message);
        sender.join().unwrap();
        // SAFETY: every thread that could run the entity has finished (joined above).
        let (handled, stopped) = entity
            .turns
            .with(|turns| unsafe { ((*turns).handled.clone(), (*turns).stopped) });
        assert!(stopped, "the entity stopped");
        let held = entity.held();
        let mut every = handled.clone();
        every.extend(&held);
        assert_eq!(
            every,
            [1, 2],
            "handled {handled:?} by the old incarnation, held {held:?} for the next"
        );
    });
}

#[test]
fn a_sender_through_the_handle_racing_a_stop_message_loses_nothing_and_keeps_its_order() {
    sender_racing_passivation(true, true);
}

#[test]
fn a_sender_through_the_handle_racing_a_stop_when_idle_loses_nothing_and_keeps_its_order() {
    sender_racing_passivation(true, false);
}

#[test]
fn a_sender_through_the_index_racing_a_stop_message_loses_nothing_and_keeps_its_order() {
    sender_racing_passivation(false, true);
}

#[test]
fn a_sender_through_the_index_racing_a_stop_when_idle_loses_nothing_and_keeps_its_order() {
    sender_racing_passivation(false, false);
}
