//! A shard's routing table: where each of its entities is in its life, the messages held for
//! the ones that cannot take them yet, and the recency order that picks whom to passivate.
//!
//! A message to an active entity goes through the shard's index of active entities
//! ([`ShardRoutes::send_to_active`]): under the index's spin lock, one lookup keyed by the
//! id's precomputed hash (a pointer comparison when the sender's id shares the key's text) and
//! one push into the mailbox, without the table's lock. Everything else routes through the
//! table, under the shard's lock. A slot's state changes only under that lock, and the index
//! follows it there (an entity is in the index exactly while its slot is `Active`):
//!
//! ```text
//!   (absent) --first message--> Starting --shard spawned it--> Active
//!   Active --passivate / entity gone--> Passivating --Terminated, nothing held--> (absent)
//!                                        Passivating --Terminated, messages held--> Starting
//!   Passivating --stop timeout--> Passivating, stop forced (its leftovers go to dead letters)
//!   Active --Terminated, remembered, nothing held--> BackingOff (it failed or stopped itself)
//!   Passivating --Terminated, remembered since, nothing held--> Starting (at once: it
//!                                                remembered itself while being passivated)
//!   BackingOff --restart backoff ends--> Starting
//!   BackingOff --a message--> Starting (at once, as in Akka: the message does not wait)
//!   (absent) --remembered by an earlier run, region starts--> Starting
//! ```
//!
//! A remembered slot (the entity called `EntityContext::remember`) is skipped by idle and
//! over-limit passivation (moved to the head of the recency list instead).
//!
//! An [`EntityRef`](super::EntityRef) that found its entity active keeps its
//! [`EntityHandle`] and sends straight to the mailbox while the handle says `active`, without
//! the lock. Passivation clears that flag under the lock and then closes the entity's mailbox
//! to user messages (once drained, or with the stop message), so a sender that read the flag
//! just before either gets its message in ahead of the stop — the old incarnation handles it —
//! or has it refused and routes it through the table like any other: order is kept either way.
//! Sends through the index work the same way: passivation takes the entity out of the index
//! before closing its mailbox, and a sender holds the index's lock across its push. Such sends
//! (through a handle or the index) mark the entity `touched` — on the handle, or on its entry
//! in the index — instead of moving the slot in the recency list; the shard gives a touched
//! entity a second chance (moves it to the head) before passivating it.
//!
//! Messages for a `Starting`, `BackingOff` or `Passivating` entity are held in the slot, in arrival order,
//! and handed to the next incarnation before anything newer: per-entity order is kept across
//! every transition. Active slots form a doubly linked list in recency order (most recent at
//! the head), so touching an entity and finding the least recently used are O(1).
//!
//! One file, over 600 lines: the slot states, the hand-off to the index and the passivation
//! order change together under the shard's lock, and this file is where that lock's invariants
//! can be read in one place (its tests are in `table/tests.rs`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::key::{EntityId, IdHasherBuilder};
use crate::actor::ActorRef;
use crate::sync::SpinLock;

const NIL: u32 = u32::MAX;

/// A running entity as senders see it.
pub(crate) struct EntityHandle<M: Send + 'static> {
    pub(crate) actor: ActorRef<M>,
    /// Its id: its key in the shard's index of active entities.
    id: EntityId,
    /// Cleared (under the table lock) when passivation begins: senders stop using the handle.
    active: AtomicBool,
    /// Set by senders that bypass the table; cleared by the shard when it looks.
    touched: AtomicBool,
}

impl<M: Send + 'static> EntityHandle<M> {
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Records a use (one read, and a write only the first time since the shard looked).
    #[inline]
    pub(crate) fn touch(&self) {
        if !self.touched.load(Ordering::Relaxed) {
            self.touched.store(true, Ordering::Relaxed);
        }
    }
}

/// The active entities of a shard by id, for senders: looked up without the table's lock.
/// A spin lock (its release is a plain store): a sender holds it for one lookup and one push.
pub(crate) type ActiveIndex<M> = SpinLock<ActiveMap<M>>;

/// An active entity in its shard's index. Its reference and a `touched` mark of its own are
/// kept here, beside the key, so that a sender through the index reaches the mailbox in one
/// step and reads or writes nothing else (the shard reads both marks, the handle's and this).
pub(crate) struct ActiveEntity<M: Send + 'static> {
    actor: ActorRef<M>,
    handle: Arc<EntityHandle<M>>,
    /// Set by senders through the index (under its lock); cleared by the shard when it looks.
    touched: bool,
}

type ActiveMap<M> = HashMap<EntityId, ActiveEntity<M>, IdHasherBuilder>;

/// One shard's routing state: its table, and the index of its active entities that senders
/// read without the table's lock. An entity is in the index exactly while its slot is
/// `Active` and its handle says `active`: the table adds it (under its lock, after handing it
/// the held messages) and takes it out (under its lock, before its mailbox is closed).
pub(crate) struct ShardRoutes<M: Send + 'static> {
    active: ActiveIndex<M>,
    table: Mutex<ShardTable<M>>,
}

impl<M: Send + 'static> ShardRoutes<M> {
    pub(crate) fn new() -> Self {
        Self {
            active: SpinLock::new(HashMap::default()),
            table: Mutex::new(ShardTable::new()),
        }
    }

    /// Sends `msg` to the entity `id` if it is active, without the table's lock; hands it
    /// back otherwise (then route it through the table). With `want_handle`, a delivered
    /// message comes back with the entity's handle.
    #[inline]
    pub(crate) fn send_to_active(
        &self,
        id: &EntityId,
        msg: M,
        want_handle: bool,
    ) -> Result<Option<Arc<EntityHandle<M>>>, M> {
        // Held across the push: passivation takes the entity out of the index (under this
        // lock) before it closes the mailbox, so a push made under it is in ahead of the stop,
        // or refused.
        let mut active = self.active.lock();
        let Some(entity) = active.get_mut(id) else {
            return Err(msg);
        };
        entity.actor.try_tell(msg)?;
        if !entity.touched {
            entity.touched = true;
        }
        Ok(want_handle.then(|| entity.handle.clone()))
    }

    /// The table, locked.
    pub(crate) fn lock(&self) -> Table<'_, M> {
        Table {
            table: self.table.lock(),
            active: &self.active,
        }
    }
}

/// A shard's table under its lock, with the shard's active index to keep in step.
pub(crate) struct Table<'a, M: Send + 'static> {
    table: parking_lot::MutexGuard<'a, ShardTable<M>>,
    active: &'a ActiveIndex<M>,
}

impl<M: Send + 'static> std::ops::Deref for Table<'_, M> {
    type Target = ShardTable<M>;

    fn deref(&self) -> &ShardTable<M> {
        &self.table
    }
}

impl<M: Send + 'static> std::ops::DerefMut for Table<'_, M> {
    fn deref_mut(&mut self) -> &mut ShardTable<M> {
        &mut self.table
    }
}

// The table's changes that make entities active or not, with the index kept in step.
impl<M: Send + 'static> Table<'_, M> {
    pub(crate) fn route(
        &mut self,
        id: &EntityId,
        msg: M,
        buffer_size: usize,
        want_handle: bool,
    ) -> Routed<M> {
        self.table
            .route(self.active, id, msg, buffer_size, want_handle)
    }

    pub(crate) fn activate(&mut self, id: &EntityId, entity: ActorRef<M>) {
        self.table.activate(self.active, id, entity)
    }

    pub(crate) fn passivate(
        &mut self,
        id: &EntityId,
        incarnation: Option<u64>,
    ) -> Option<Arc<EntityHandle<M>>> {
        self.table.passivate(self.active, id, incarnation)
    }

    pub(crate) fn passivate_over_limit(&mut self, limit: usize) -> Vec<Arc<EntityHandle<M>>> {
        self.table.passivate_over_limit(self.active, limit)
    }

    pub(crate) fn passivate_idle(&mut self, idle_epochs: u64) -> Vec<Arc<EntityHandle<M>>> {
        self.table.passivate_idle(self.active, idle_epochs)
    }

    pub(crate) fn stopped(&mut self, id: &EntityId, incarnation: u64) -> AfterStop {
        self.table.stopped(self.active, id, incarnation)
    }

    pub(crate) fn hold_leftovers(
        &mut self,
        id: &EntityId,
        incarnation: u64,
        msgs: Vec<M>,
    ) -> Vec<M> {
        self.table
            .hold_leftovers(self.active, id, incarnation, msgs)
    }
}

impl<M: Send + 'static> ShardTable<M> {
    /// The passivating incarnation `incarnation` of `id` did not stop in time and the shard
    /// stops it: returns false if it is no longer passivating (it stopped meanwhile). What it
    /// leaves unhandled then goes to dead letters: it may hold its own stop message, which
    /// would passivate the next incarnation at once.
    pub(crate) fn force_stop(&mut self, id: &EntityId, incarnation: u64) -> bool {
        let Some(&index) = self.index.get(id) else {
            return false;
        };
        let slot = &mut self.slots[index as usize];
        if slot.incarnation != incarnation || !matches!(slot.state, SlotState::Passivating(_)) {
            return false;
        }
        slot.stop_forced = true;
        true
    }

    /// Marks incarnation `incarnation` of `id` remembered or not; true if that changed.
    pub(crate) fn set_remembered(
        &mut self,
        id: &EntityId,
        incarnation: u64,
        remembered: bool,
    ) -> bool {
        let Some(&index) = self.index.get(id) else {
            return false;
        };
        let slot = &mut self.slots[index as usize];
        if slot.incarnation != incarnation || slot.remembered == remembered {
            return false;
        }
        slot.remembered = remembered;
        if remembered {
            self.remembered += 1;
        } else {
            self.remembered -= 1;
        }
        true
    }

    /// Whether `id`, in incarnation `incarnation`, is remembered.
    pub(crate) fn is_remembered(&self, id: &EntityId, incarnation: u64) -> bool {
        self.index.get(id).is_some_and(|&index| {
            let slot = &self.slots[index as usize];
            slot.incarnation == incarnation && slot.remembered
        })
    }

    /// A remembered entity of an earlier run: true if it must be started (it was not
    /// running or starting already).
    pub(crate) fn start_remembered(&mut self, id: &EntityId) -> bool {
        self.remembered += 1;
        if let Some(&index) = self.index.get(id) {
            let slot = &mut self.slots[index as usize];
            if slot.remembered {
                self.remembered -= 1;
            }
            slot.remembered = true;
            return false;
        }
        let index = self.insert(id.clone(), SlotState::Starting(VecDeque::new()));
        self.slots[index as usize].remembered = true;
        true
    }
}

pub(crate) enum SlotState<M: Send + 'static> {
    Free,
    Starting(VecDeque<M>),
    Active(Arc<EntityHandle<M>>),
    Passivating(VecDeque<M>),
    /// Remembered, and stopped without forgetting itself (it failed, or stopped by itself):
    /// its next incarnation starts when the restart backoff ends, or at once when a message
    /// comes. No start request is queued for it meanwhile.
    BackingOff(VecDeque<M>),
}

pub(crate) struct Slot<M: Send + 'static> {
    pub(crate) state: SlotState<M>,
    /// Which incarnation runs (or ran) in this slot: requests from an older one are ignored.
    pub(crate) incarnation: u64,
    /// The idle-check epoch of the last message delivered.
    last_epoch: u64,
    /// Set when the shard stopped this passivating incarnation after its stop timeout: what
    /// it leaves unhandled is not held for the next one (see `hold_leftovers`).
    stop_forced: bool,
    /// The entity asked to be kept running (`EntityContext::remember`): never passivated
    /// automatically, started again when it stops. Kept across incarnations.
    remembered: bool,
    /// The shard is passivating this incarnation (idle, over the limit, or at its request),
    /// as opposed to its having stopped by itself or failed. One that is remembered when it
    /// stops — it remembered itself while it was being passivated — starts again at once,
    /// not after the remembered-restart backoff, which is for failures.
    passivated: bool,
    prev: u32,
    next: u32,
}

/// What the shard does after an entity stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterStop {
    /// Nothing: its slot is gone.
    Forget,
    /// Start its next incarnation now: messages are held for it.
    StartNow,
    /// Start its next incarnation after the remembered-restart backoff (or at its next
    /// message, whichever comes first): it is remembered.
    StartLater,
}

/// What happened to a routed message.
pub(crate) enum Routed<M: Send + 'static> {
    /// In the entity's mailbox (with its handle, if asked for), or held for it.
    Done(Option<Arc<EntityHandle<M>>>),
    /// Held for a new entity: the shard must be asked to start it.
    Start(EntityId),
    /// The shard's buffer is full: the message comes back.
    Full(M),
}

pub(crate) struct ShardTable<M: Send + 'static> {
    index: HashMap<EntityId, u32, IdHasherBuilder>,
    slots: Vec<Slot<M>>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
    active: usize,
    passivating: usize,
    buffered: usize,
    /// Slots marked remembered (in any state): they do not count toward the active limit.
    remembered: usize,
    epoch: u64,
    next_incarnation: u64,
}

impl<M: Send + 'static> ShardTable<M> {
    pub(crate) fn new() -> Self {
        Self {
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            active: 0,
            passivating: 0,
            buffered: 0,
            remembered: 0,
            epoch: 0,
            next_incarnation: 1,
        }
    }

    pub(crate) fn active(&self) -> usize {
        self.active
    }

    pub(crate) fn passivating(&self) -> usize {
        self.passivating
    }

    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// Routes `msg` to entity `id` (a new slot keeps a clone of `id`). With `want_handle`, a
    /// message delivered to an active entity comes back with its handle.
    fn route(
        &mut self,
        active: &ActiveIndex<M>,
        id: &EntityId,
        msg: M,
        buffer_size: usize,
        want_handle: bool,
    ) -> Routed<M> {
        let Some(&index) = self.index.get(id) else {
            if self.buffered >= buffer_size {
                return Routed::Full(msg);
            }
            self.insert(id.clone(), SlotState::Starting(VecDeque::from([msg])));
            self.buffered += 1;
            return Routed::Start(id.clone());
        };
        let slot = &mut self.slots[index as usize];
        let refused = match &mut slot.state {
            SlotState::Active(handle) => match handle.actor.try_tell(msg) {
                Ok(()) => {
                    let handle = want_handle.then(|| handle.clone());
                    slot.last_epoch = self.epoch;
                    self.touch(index);
                    return Routed::Done(handle);
                }
                Err(msg) => msg,
            },
            SlotState::Starting(held) | SlotState::Passivating(held) => {
                if self.buffered >= buffer_size {
                    return Routed::Full(msg);
                }
                held.push_back(msg);
                self.buffered += 1;
                return Routed::Done(None);
            }
            SlotState::BackingOff(held) => {
                if self.buffered >= buffer_size {
                    return Routed::Full(msg);
                }
                held.push_back(msg);
                self.buffered += 1;
                let held = std::mem::take(held);
                slot.state = SlotState::Starting(held);
                return Routed::Start(id.clone());
            }
            SlotState::Free => unreachable!("free slots are not indexed"),
        };
        // The entity takes no more messages: it stopped by itself (or failed) and the shard
        // has not heard yet. Hold the message for the incarnation the shard starts when it does.
        self.deactivate(active, index);
        self.slots[index as usize].state = SlotState::Passivating(VecDeque::from([refused]));
        self.passivating += 1;
        self.buffered += 1;
        Routed::Done(None)
    }

    /// The slot of a `Starting` entity, with a fresh incarnation number.
    pub(crate) fn begin_start(&mut self, id: &EntityId) -> Option<u64> {
        let &index = self.index.get(id)?;
        let slot = &mut self.slots[index as usize];
        match &mut slot.state {
            SlotState::Starting(_) => {}
            // The restart backoff ended before any message came.
            SlotState::BackingOff(held) => slot.state = SlotState::Starting(std::mem::take(held)),
            _ => return None,
        }
        slot.incarnation = self.next_incarnation;
        slot.passivated = false;
        self.next_incarnation += 1;
        Some(slot.incarnation)
    }

    /// The entity is running: hands it the held messages (in order) and makes it active.
    fn activate(&mut self, active: &ActiveIndex<M>, id: &EntityId, entity: ActorRef<M>) {
        let Some(&index) = self.index.get(id) else {
            return;
        };
        let slot = &mut self.slots[index as usize];
        let SlotState::Starting(held) = std::mem::replace(&mut slot.state, SlotState::Free) else {
            unreachable!("only a starting slot is activated")
        };
        self.buffered -= held.len();
        for msg in held {
            entity.tell(msg);
        }
        let handle = Arc::new(EntityHandle {
            actor: entity,
            id: id.clone(),
            active: AtomicBool::new(true),
            touched: AtomicBool::new(false),
        });
        // After the held messages: senders that find it in the index come after them.
        let entry = ActiveEntity {
            actor: handle.actor.clone(),
            handle: handle.clone(),
            touched: false,
        };
        active.lock().insert(id.clone(), entry);
        slot.state = SlotState::Active(handle);
        slot.last_epoch = self.epoch;
        self.active += 1;
        self.push_front(index);
    }

    /// The entity could not be started: its slot goes, and its held messages come back.
    pub(crate) fn abandon(&mut self, id: &EntityId) -> VecDeque<M> {
        let Some(index) = self.index.remove(id) else {
            return VecDeque::new();
        };
        let held = match std::mem::replace(&mut self.slots[index as usize].state, SlotState::Free) {
            SlotState::Starting(held) | SlotState::BackingOff(held) => held,
            _ => VecDeque::new(),
        };
        if std::mem::take(&mut self.slots[index as usize].remembered) {
            self.remembered -= 1;
        }
        self.buffered -= held.len();
        self.free.push(index);
        held
    }

    /// Starts passivating the active entity `id` if it is still `incarnation` (any, if `None`);
    /// returns its reference, to be told to stop.
    fn passivate(
        &mut self,
        active: &ActiveIndex<M>,
        id: &EntityId,
        incarnation: Option<u64>,
    ) -> Option<Arc<EntityHandle<M>>> {
        let &index = self.index.get(id)?;
        self.passivate_slot(active, index, incarnation)
    }

    fn passivate_slot(
        &mut self,
        active: &ActiveIndex<M>,
        index: u32,
        incarnation: Option<u64>,
    ) -> Option<Arc<EntityHandle<M>>> {
        let slot = &self.slots[index as usize];
        if !matches!(slot.state, SlotState::Active(_))
            || incarnation.is_some_and(|i| i != slot.incarnation)
        {
            return None;
        }
        self.deactivate(active, index);
        let slot = &mut self.slots[index as usize];
        let SlotState::Active(entity) = std::mem::replace(&mut slot.state, SlotState::Free) else {
            unreachable!("checked above")
        };
        slot.state = SlotState::Passivating(VecDeque::new());
        slot.passivated = true;
        self.passivating += 1;
        Some(entity)
    }

    /// Passivates least recently used entities until at most `limit` are active, not counting
    /// remembered ones (never passivated automatically). One used through its handle since
    /// the shard last looked gets a second chance at the head.
    fn passivate_over_limit(
        &mut self,
        active: &ActiveIndex<M>,
        limit: usize,
    ) -> Vec<Arc<EntityHandle<M>>> {
        let mut stopping = Vec::new();
        let mut chances = self.active;
        let mut remembered = self.active;
        while self.active.saturating_sub(self.remembered) > limit && self.tail != NIL {
            let tail = self.tail;
            // Remembered entities are never passivated automatically: to the head.
            if self.slots[tail as usize].remembered {
                if remembered == 0 {
                    break;
                }
                remembered -= 1;
                self.touch(tail);
                continue;
            }
            if chances > 0 && self.take_touched(&mut active.lock(), tail) {
                chances -= 1;
                self.slots[tail as usize].last_epoch = self.epoch;
                self.touch(tail);
                continue;
            }
            stopping.extend(self.passivate_slot(active, tail, None));
        }
        stopping
    }

    /// Whether the active entity in `index` was used through its handle or through the index
    /// of active entities (`active`, locked) since the last look; clears both marks.
    fn take_touched(&self, active: &mut ActiveMap<M>, index: u32) -> bool {
        match &self.slots[index as usize].state {
            SlotState::Active(handle) => {
                let by_handle = handle.touched.swap(false, Ordering::Relaxed);
                let by_index = active
                    .get_mut(&handle.id)
                    .is_some_and(|entity| std::mem::take(&mut entity.touched));
                by_handle | by_index
            }
            _ => false,
        }
    }

    /// Advances the idle clock and passivates the entities idle for `idle_epochs` epochs.
    fn passivate_idle(
        &mut self,
        active: &ActiveIndex<M>,
        idle_epochs: u64,
    ) -> Vec<Arc<EntityHandle<M>>> {
        self.epoch += 1;
        // Entities used through their handles since the last tick are recent: to the head.
        let mut at = self.head;
        let mut recent = Vec::new();
        {
            let mut active = active.lock();
            while at != NIL {
                if self.take_touched(&mut active, at) {
                    recent.push(at);
                }
                at = self.slots[at as usize].next;
            }
        }
        for index in recent.into_iter().rev() {
            self.slots[index as usize].last_epoch = self.epoch;
            self.touch(index);
        }
        let mut stopping = Vec::new();
        let mut remembered = self.active;
        // Recency order is idle order: stop at the first entity that is not idle.
        while self.tail != NIL
            && self.epoch - self.slots[self.tail as usize].last_epoch >= idle_epochs
        {
            let tail = self.tail;
            // Remembered entities are never passivated for idleness: to the head, as recent.
            if self.slots[tail as usize].remembered {
                if remembered == 0 {
                    break;
                }
                remembered -= 1;
                self.slots[tail as usize].last_epoch = self.epoch;
                self.touch(tail);
                continue;
            }
            stopping.extend(self.passivate_slot(active, tail, None));
        }
        stopping
    }

    /// The incarnation `incarnation` of entity `id` is stopping with `msgs` accepted and never
    /// handled (oldest first): they are held, ahead of anything sent since, for the next
    /// incarnation, which the shard starts when it hears that this one stopped. An entity
    /// still active (it stopped by itself, or failed) starts passivating here, so later
    /// senders hold their messages behind these. Returns what it could not hold: the slot
    /// belongs to another incarnation already.
    fn hold_leftovers(
        &mut self,
        active: &ActiveIndex<M>,
        id: &EntityId,
        incarnation: u64,
        msgs: Vec<M>,
    ) -> Vec<M> {
        let Some(&index) = self.index.get(id) else {
            return msgs;
        };
        let slot = &self.slots[index as usize];
        if slot.incarnation != incarnation || slot.stop_forced {
            return msgs;
        }
        let count = msgs.len();
        match &mut self.slots[index as usize].state {
            SlotState::Passivating(held) => {
                for msg in msgs.into_iter().rev() {
                    held.push_front(msg);
                }
            }
            SlotState::Active(_) => {
                self.deactivate(active, index);
                self.slots[index as usize].state = SlotState::Passivating(msgs.into());
                self.passivating += 1;
            }
            SlotState::Starting(_) | SlotState::BackingOff(_) | SlotState::Free => return msgs,
        }
        // Accepted once already: held even beyond the buffer's size.
        self.buffered += count;
        Vec::new()
    }

    /// The incarnation `incarnation` of entity `id` has stopped. With messages held for it,
    /// or if it is remembered, its slot is `Starting` again and the shard must start its next
    /// incarnation (at once, or after the remembered-restart backoff); otherwise the slot goes.
    fn stopped(&mut self, active: &ActiveIndex<M>, id: &EntityId, incarnation: u64) -> AfterStop {
        let Some(&index) = self.index.get(id) else {
            return AfterStop::Forget;
        };
        let slot = &mut self.slots[index as usize];
        if slot.incarnation != incarnation {
            return AfterStop::Forget;
        }
        let held = match &mut slot.state {
            SlotState::Passivating(held) => {
                self.passivating -= 1;
                std::mem::take(held)
            }
            // It stopped by itself (or failed) and no sender has noticed yet.
            SlotState::Active(_) => {
                self.deactivate(active, index);
                VecDeque::new()
            }
            // Starting again already (a newer request): leave it.
            SlotState::Starting(_) | SlotState::BackingOff(_) | SlotState::Free => {
                return AfterStop::Forget;
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.stop_forced = false;
        let passivated = std::mem::take(&mut slot.passivated);
        if !held.is_empty() || (slot.remembered && passivated) {
            slot.state = SlotState::Starting(held);
            return AfterStop::StartNow;
        }
        if slot.remembered {
            slot.state = SlotState::BackingOff(held);
            return AfterStop::StartLater;
        }
        slot.state = SlotState::Free;
        self.index.remove(id);
        self.free.push(index);
        AfterStop::Forget
    }

    fn insert(&mut self, id: EntityId, state: SlotState<M>) -> u32 {
        let slot = Slot {
            state,
            incarnation: 0,
            last_epoch: self.epoch,
            stop_forced: false,
            remembered: false,
            passivated: false,
            prev: NIL,
            next: NIL,
        };
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize] = slot;
                index
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(id, index);
        index
    }

    /// Takes the active entity `id` in slot `index` out of the recency list and out of the
    /// index of active entities; its handle stops taking messages.
    fn deactivate(&mut self, active: &ActiveIndex<M>, index: u32) {
        if let SlotState::Active(handle) = &self.slots[index as usize].state {
            handle.active.store(false, Ordering::Release);
            // Dropped after the lock is released.
            let removed = active.lock().remove(&handle.id);
            drop(removed);
        }
        self.unlink(index);
        self.active -= 1;
    }

    fn touch(&mut self, index: u32) {
        if self.head != index {
            self.unlink(index);
            self.push_front(index);
        }
    }

    fn push_front(&mut self, index: u32) {
        let old_head = self.head;
        {
            let slot = &mut self.slots[index as usize];
            slot.prev = NIL;
            slot.next = old_head;
        }
        if old_head != NIL {
            self.slots[old_head as usize].prev = index;
        } else {
            self.tail = index;
        }
        self.head = index;
    }

    fn unlink(&mut self, index: u32) {
        let (prev, next) = {
            let slot = &self.slots[index as usize];
            (slot.prev, slot.next)
        };
        if prev != NIL {
            self.slots[prev as usize].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        } else {
            self.tail = prev;
        }
        let slot = &mut self.slots[index as usize];
        slot.prev = NIL;
        slot.next = NIL;
    }

    /// Every message held in the table (for shutdown): they become dead letters.
    pub(crate) fn drain_held(&mut self) -> Vec<M> {
        let mut held = Vec::new();
        for slot in &mut self.slots {
            if let SlotState::Starting(queue)
            | SlotState::BackingOff(queue)
            | SlotState::Passivating(queue) = &mut slot.state
            {
                held.extend(queue.drain(..));
            }
        }
        self.buffered = 0;
        held
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, loom))]
mod loom_models;
