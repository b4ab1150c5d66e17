//! The stash: messages an actor sets aside to handle later, typically while it waits for
//! something (a reply, a recovery). Bounded; a full stash hands the message back as an error.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::error::StashOverflow;

/// A bounded buffer of the actor's own messages. Get one with
/// [`Behaviors::with_stash`](crate::actor::Behaviors::with_stash) or
/// [`Context::stash_buffer`](crate::actor::Context::stash_buffer).
///
/// After [`unstash_all`](Self::unstash_all), the stashed messages are handled, oldest first,
/// before anything newer in the mailbox, by whatever behavior the actor has then.
///
/// ```
/// use reactant::prelude::*;
///
/// enum Msg { Ready, Work(u32) }
///
/// fn waiting(stash: StashBuffer<Msg>) -> Behavior<Msg> {
///     Behaviors::receive_message(move |msg| match msg {
///         Msg::Ready => {
///             stash.unstash_all();
///             working()
///         }
///         other => {
///             if let Err(full) = stash.stash(other) {
///                 eprintln!("{full}");
///             }
///             Behaviors::same()
///         }
///     })
/// }
///
/// fn working() -> Behavior<Msg> {
///     Behaviors::receive_message(|_msg| Behaviors::same())
/// }
///
/// let behavior: Behavior<Msg> = Behaviors::with_stash(100, waiting);
/// # drop(behavior);
/// ```
pub struct StashBuffer<M> {
    inner: Arc<StashInner<M>>,
}

struct StashInner<M> {
    capacity: usize,
    messages: Mutex<VecDeque<M>>,
    unstash_requested: AtomicBool,
}

impl<M> Clone for StashBuffer<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M> StashBuffer<M> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(StashInner {
                capacity,
                messages: Mutex::new(VecDeque::new()),
                unstash_requested: AtomicBool::new(false),
            }),
        }
    }

    /// Sets a message aside. A full stash returns it in the error.
    pub fn stash(&self, msg: M) -> Result<(), StashOverflow<M>> {
        let mut messages = self.inner.messages.lock();
        if messages.len() >= self.inner.capacity {
            return Err(StashOverflow {
                message: msg,
                capacity: self.inner.capacity,
            });
        }
        messages.push_back(msg);
        Ok(())
    }

    /// Hands every stashed message back to the actor, to be handled before newer ones, as
    /// soon as the current handler returns.
    pub fn unstash_all(&self) {
        self.inner.unstash_requested.store(true, Ordering::Release);
    }

    /// Number of stashed messages.
    pub fn len(&self) -> usize {
        self.inner.messages.lock().len()
    }

    /// True if nothing is stashed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if one more message would overflow.
    pub fn is_full(&self) -> bool {
        self.len() >= self.inner.capacity
    }

    /// The most messages this stash holds.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// If `unstash_all` was called, takes the messages out (oldest first).
    #[inline]
    pub(crate) fn take_unstashed(&self) -> Option<VecDeque<M>> {
        if !self.inner.unstash_requested.load(Ordering::Acquire) {
            return None;
        }
        self.inner.unstash_requested.store(false, Ordering::Release);
        Some(std::mem::take(&mut *self.inner.messages.lock()))
    }

    /// Takes every message out, unstash requested or not.
    pub(crate) fn drain(&self) -> VecDeque<M> {
        self.inner.unstash_requested.store(false, Ordering::Release);
        std::mem::take(&mut *self.inner.messages.lock())
    }
}
