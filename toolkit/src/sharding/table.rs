//! A shard's routing table: where each of its entities is in its life, the messages held for
//! the ones that cannot take them yet, and the recency order that picks whom to passivate.
//!
//! Senders route through the table under the shard's lock, straight into the mailbox of an
//! active entity, so a message to a running entity costs one lock and one map lookup more than
//! a direct `tell`. A slot's state changes only under that lock:
//!
//! ```text
//!   (absent) --first message--> Starting --shard spawned it--> Active
//!   Active --passivate / entity gone--> Passivating --Terminated, nothing held--> (absent)
//!                                        Passivating --Terminated, messages held--> Starting
//! ```
//!
//! An [`EntityRef`](super::EntityRef) that found its entity active keeps its
//! [`EntityHandle`] and sends straight to the mailbox while the handle says `active`, without
//! the lock. Passivation clears that flag under the lock and then closes the entity's mailbox
//! to user messages (once drained, or with the stop message), so a sender that read the flag
//! just before either gets its message in ahead of the stop — the old incarnation handles it —
//! or has it refused and routes it through the table like any other: order is kept either way.
//! Such sends mark the handle `touched` instead of moving the slot in the recency list; the
//! shard gives a touched entity a second chance (moves it to the head) before passivating it.
//!
//! Messages for a `Starting` or `Passivating` entity are held in the slot, in arrival order,
//! and handed to the next incarnation before anything newer: per-entity order is kept across
//! every transition. Active slots form a doubly linked list in recency order (most recent at
//! the head), so touching an entity and finding the least recently used are O(1).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::actor::ActorRef;

const NIL: u32 = u32::MAX;

/// A running entity as senders see it.
pub(crate) struct EntityHandle<M: Send + 'static> {
    pub(crate) actor: ActorRef<M>,
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

pub(crate) enum SlotState<M: Send + 'static> {
    Free,
    Starting(VecDeque<M>),
    Active(Arc<EntityHandle<M>>),
    Passivating(VecDeque<M>),
}

pub(crate) struct Slot<M: Send + 'static> {
    pub(crate) state: SlotState<M>,
    /// Which incarnation runs (or ran) in this slot: requests from an older one are ignored.
    pub(crate) incarnation: u64,
    /// The idle-check epoch of the last message delivered.
    last_epoch: u64,
    prev: u32,
    next: u32,
}

/// What happened to a routed message.
pub(crate) enum Routed<M: Send + 'static> {
    /// In the entity's mailbox (with its handle, if asked for), or held for it.
    Done(Option<Arc<EntityHandle<M>>>),
    /// Held for a new entity: the shard must be asked to start it.
    Start(Arc<str>),
    /// The shard's buffer is full: the message comes back.
    Full(M),
}

pub(crate) struct ShardTable<M: Send + 'static> {
    index: HashMap<Arc<str>, u32>,
    slots: Vec<Slot<M>>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
    active: usize,
    passivating: usize,
    buffered: usize,
    epoch: u64,
    next_incarnation: u64,
}

impl<M: Send + 'static> ShardTable<M> {
    pub(crate) fn new() -> Self {
        Self {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            active: 0,
            passivating: 0,
            buffered: 0,
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

    /// Routes `msg` to entity `id`; `shared_id` makes the key of a new slot. With
    /// `want_handle`, a message delivered to an active entity comes back with its handle.
    pub(crate) fn route(
        &mut self,
        id: &str,
        shared_id: impl FnOnce() -> Arc<str>,
        msg: M,
        buffer_size: usize,
        want_handle: bool,
    ) -> Routed<M> {
        let Some(&index) = self.index.get(id) else {
            if self.buffered >= buffer_size {
                return Routed::Full(msg);
            }
            let id = shared_id();
            self.insert(id.clone(), SlotState::Starting(VecDeque::from([msg])));
            self.buffered += 1;
            return Routed::Start(id);
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
            SlotState::Free => unreachable!("free slots are not indexed"),
        };
        // The entity takes no more messages: it stopped by itself (or failed) and the shard
        // has not heard yet. Hold the message for the incarnation the shard starts when it does.
        self.deactivate(index);
        self.slots[index as usize].state = SlotState::Passivating(VecDeque::from([refused]));
        self.passivating += 1;
        self.buffered += 1;
        Routed::Done(None)
    }

    /// The slot of a `Starting` entity, with a fresh incarnation number.
    pub(crate) fn begin_start(&mut self, id: &str) -> Option<u64> {
        let &index = self.index.get(id)?;
        let slot = &mut self.slots[index as usize];
        if !matches!(slot.state, SlotState::Starting(_)) {
            return None;
        }
        slot.incarnation = self.next_incarnation;
        self.next_incarnation += 1;
        Some(slot.incarnation)
    }

    /// The entity is running: hands it the held messages (in order) and makes it active.
    pub(crate) fn activate(&mut self, id: &str, entity: ActorRef<M>) {
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
        slot.state = SlotState::Active(Arc::new(EntityHandle {
            actor: entity,
            active: AtomicBool::new(true),
            touched: AtomicBool::new(false),
        }));
        slot.last_epoch = self.epoch;
        self.active += 1;
        self.push_front(index);
    }

    /// The entity could not be started: its slot goes, and its held messages come back.
    pub(crate) fn abandon(&mut self, id: &str) -> VecDeque<M> {
        let Some(index) = self.index.remove(id) else {
            return VecDeque::new();
        };
        let held = match std::mem::replace(&mut self.slots[index as usize].state, SlotState::Free) {
            SlotState::Starting(held) => held,
            _ => VecDeque::new(),
        };
        self.buffered -= held.len();
        self.free.push(index);
        held
    }

    /// Starts passivating the active entity `id` if it is still `incarnation` (any, if `None`);
    /// returns its reference, to be told to stop.
    pub(crate) fn passivate(
        &mut self,
        id: &str,
        incarnation: Option<u64>,
    ) -> Option<Arc<EntityHandle<M>>> {
        let &index = self.index.get(id)?;
        self.passivate_slot(index, incarnation)
    }

    fn passivate_slot(
        &mut self,
        index: u32,
        incarnation: Option<u64>,
    ) -> Option<Arc<EntityHandle<M>>> {
        let slot = &self.slots[index as usize];
        if !matches!(slot.state, SlotState::Active(_))
            || incarnation.is_some_and(|i| i != slot.incarnation)
        {
            return None;
        }
        self.deactivate(index);
        let slot = &mut self.slots[index as usize];
        let SlotState::Active(entity) = std::mem::replace(&mut slot.state, SlotState::Free) else {
            unreachable!("checked above")
        };
        slot.state = SlotState::Passivating(VecDeque::new());
        self.passivating += 1;
        Some(entity)
    }

    /// Passivates least recently used entities until at most `limit` are active. One used
    /// through its handle since the shard last looked gets a second chance at the head.
    pub(crate) fn passivate_over_limit(&mut self, limit: usize) -> Vec<Arc<EntityHandle<M>>> {
        let mut stopping = Vec::new();
        let mut chances = self.active;
        while self.active > limit && self.tail != NIL {
            let tail = self.tail;
            if chances > 0 && self.take_touched(tail) {
                chances -= 1;
                self.slots[tail as usize].last_epoch = self.epoch;
                self.touch(tail);
                continue;
            }
            stopping.extend(self.passivate_slot(tail, None));
        }
        stopping
    }

    /// Whether the active entity in `index` was used through its handle since the last look.
    fn take_touched(&self, index: u32) -> bool {
        match &self.slots[index as usize].state {
            SlotState::Active(handle) => handle.touched.swap(false, Ordering::Relaxed),
            _ => false,
        }
    }

    /// Advances the idle clock and passivates the entities idle for `idle_epochs` epochs.
    pub(crate) fn passivate_idle(&mut self, idle_epochs: u64) -> Vec<Arc<EntityHandle<M>>> {
        self.epoch += 1;
        // Entities used through their handles since the last tick are recent: to the head.
        let mut at = self.head;
        let mut recent = Vec::new();
        while at != NIL {
            if self.take_touched(at) {
                recent.push(at);
            }
            at = self.slots[at as usize].next;
        }
        for index in recent.into_iter().rev() {
            self.slots[index as usize].last_epoch = self.epoch;
            self.touch(index);
        }
        let mut stopping = Vec::new();
        // Recency order is idle order: stop at the first entity that is not idle.
        while self.tail != NIL
            && self.epoch - self.slots[self.tail as usize].last_epoch >= idle_epochs
        {
            let tail = self.tail;
            stopping.extend(self.passivate_slot(tail, None));
        }
        stopping
    }

    /// The incarnation `incarnation` of entity `id` has stopped. Returns true if messages are
    /// held for it: the slot is `Starting` again and the shard must start a new incarnation.
    pub(crate) fn stopped(&mut self, id: &str, incarnation: u64) -> bool {
        let Some(&index) = self.index.get(id) else {
            return false;
        };
        if self.slots[index as usize].incarnation != incarnation {
            return false;
        }
        match std::mem::replace(&mut self.slots[index as usize].state, SlotState::Free) {
            SlotState::Passivating(held) if !held.is_empty() => {
                self.passivating -= 1;
                self.slots[index as usize].state = SlotState::Starting(held);
                return true;
            }
            SlotState::Passivating(_) => self.passivating -= 1,
            SlotState::Active(_) => self.deactivate(index),
            other => {
                // Starting again already (a newer request): leave it.
                self.slots[index as usize].state = other;
                return false;
            }
        }
        self.index.remove(id);
        self.free.push(index);
        false
    }

    fn insert(&mut self, id: Arc<str>, state: SlotState<M>) -> u32 {
        let slot = Slot {
            state,
            incarnation: 0,
            last_epoch: self.epoch,
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

    /// Takes an active slot out of the recency list; its handle stops taking messages.
    fn deactivate(&mut self, index: u32) {
        if let SlotState::Active(handle) = &self.slots[index as usize].state {
            handle.active.store(false, Ordering::Release);
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
            if let SlotState::Starting(queue) | SlotState::Passivating(queue) = &mut slot.state {
                held.extend(queue.drain(..));
            }
        }
        self.buffered = 0;
        held
    }
}
