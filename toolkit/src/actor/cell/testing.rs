//! What the testkit may do with a cell of a manual system (one whose dispatchers have no
//! threads, so the test's thread is the only one that runs its actors): read the messages
//! waiting in its mailbox, and recognise its task among those queued.

use std::collections::VecDeque;
use std::sync::Arc;

use super::ActorCell;
use crate::dispatch::pool::Task;

impl<M: Send + 'static> ActorCell<M> {
    /// Takes the user messages waiting in the mailbox, oldest first. Only for a cell nobody
    /// else runs (a manual system's): the caller is then the mailbox's only consumer.
    pub(crate) fn take_waiting_messages(&self) -> VecDeque<M> {
        let mut taken = VecDeque::new();
        self.mailbox.take_user(&mut taken, usize::MAX);
        taken
    }

    /// Whether `task` is this cell.
    pub(crate) fn is_task(&self, task: &Task) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(task), self as *const Self)
    }

    /// The cell's id (the one its context reports effects under).
    pub(crate) fn actor_id(&self) -> u64 {
        self.id
    }
}
