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
//! Messages for a `Starting` or `Passivating` entity are held in the slot, in arrival order,
//! and handed to the next incarnation before anything newer: per-entity order is kept across
//! every transition. Active slots form a doubly linked list in recency order (most recent at
//! the head), so touching an entity and finding the least recently used are O(1).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::actor::ActorRef;

const NIL: u32 = u32::MAX;

pub(crate) enum SlotState<M: Send + 'static> {
    Free,
    Starting(VecDeque<M>),
    Active(ActorRef<M>),
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
pub(crate) enum Routed<M> {
    /// In the entity's mailbox, or held for it.
    Done,
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

    /// Routes `msg` to entity `id`; `shared_id` makes the key of a new slot.
    pub(crate) fn route(
        &mut self,
        id: &str,
        shared_id: impl FnOnce() -> Arc<str>,
        msg: M,
        buffer_size: usize,
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
        match &mut slot.state {
            SlotState::Active(entity) if !entity.is_terminated() => {
                entity.tell(msg);
                slot.last_epoch = self.epoch;
                self.touch(index);
                Routed::Done
            }
            SlotState::Active(_) => {
                // It stopped by itself (or failed) and the shard has not heard yet: hold the
                // message for the incarnation the shard will start when it does.
                self.deactivate(index);
                self.slots[index as usize].state = SlotState::Passivating(VecDeque::from([msg]));
                self.passivating += 1;
                self.buffered += 1;
                Routed::Done
            }
            SlotState::Starting(held) | SlotState::Passivating(held) => {
                if self.buffered >= buffer_size {
                    return Routed::Full(msg);
                }
                held.push_back(msg);
                self.buffered += 1;
                Routed::Done
            }
            SlotState::Free => unreachable!("free slots are not indexed"),
        }
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
        slot.state = SlotState::Active(entity);
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
    pub(crate) fn passivate(&mut self, id: &str, incarnation: Option<u64>) -> Option<ActorRef<M>> {
        let &index = self.index.get(id)?;
        self.passivate_slot(index, incarnation)
    }

    fn passivate_slot(&mut self, index: u32, incarnation: Option<u64>) -> Option<ActorRef<M>> {
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

    /// Passivates least recently used entities until at most `limit` are active.
    pub(crate) fn passivate_over_limit(&mut self, limit: usize) -> Vec<ActorRef<M>> {
        let mut stopping = Vec::new();
        while self.active > limit && self.tail != NIL {
            let tail = self.tail;
            stopping.extend(self.passivate_slot(tail, None));
        }
        stopping
    }

    /// Advances the idle clock and passivates the entities idle for `idle_epochs` epochs.
    pub(crate) fn passivate_idle(&mut self, idle_epochs: u64) -> Vec<ActorRef<M>> {
        self.epoch += 1;
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

    /// Takes an active slot out of the recency list.
    fn deactivate(&mut self, index: u32) {
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
