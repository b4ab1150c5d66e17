//! [`TestInbox`]: the messages sent to an actor of a [`BehaviorTestKit`](super::BehaviorTestKit),
//! which never runs, kept for the test to read.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::actor::{ActorCell, ActorPath, ActorRef};

/// The messages sent to a reference that no thread runs: the behavior under test's own
/// reference (its [`self_inbox`](super::BehaviorTestKit::self_inbox)), a child it spawned
/// ([`child_inbox`](super::BehaviorTestKit::child_inbox)), or an inbox made for the test
/// ([`inbox`](super::BehaviorTestKit::inbox)) to pass to the behavior as a reply-to. Akka's
/// `TestInbox`.
///
/// Reading takes the messages: each is returned once. The `expect_*` and `receive_message`
/// checks fail the test (panic) with what was expected and what was there.
///
/// ```
/// use reactant::prelude::*;
/// use reactant::testkit::BehaviorTestKit;
///
/// let mut kit = BehaviorTestKit::new(Behaviors::receive_message(|reply_to: ActorRef<u32>| {
///     reply_to.tell(42);
///     Behaviors::same()
/// }));
/// let inbox = kit.inbox::<u32>("reply");
/// kit.run(inbox.r#ref()).expect("the handler does not fail");
/// inbox.expect_message(42);
/// assert!(!inbox.has_messages());
/// ```
pub struct TestInbox<M: Send + 'static> {
    reference: ActorRef<M>,
    cell: Arc<ActorCell<M>>,
    taken: Arc<Mutex<VecDeque<M>>>,
}

impl<M: Send + 'static> TestInbox<M> {
    /// An inbox over a cell of a manual system, sharing `taken` with the other handles.
    pub(super) fn over(reference: ActorRef<M>, taken: Arc<Mutex<VecDeque<M>>>) -> Option<Self> {
        let cell = reference.cell()?.clone();
        Some(Self {
            reference,
            cell,
            taken,
        })
    }

    /// Moves what waits in the mailbox behind what was taken already.
    fn collect(&self) -> parking_lot::MutexGuard<'_, VecDeque<M>> {
        let mut taken = self.taken.lock();
        taken.extend(self.cell.take_waiting_messages());
        taken
    }

    /// The reference whose messages this inbox keeps.
    pub fn r#ref(&self) -> ActorRef<M> {
        self.reference.clone()
    }

    /// The path of that reference.
    pub fn path(&self) -> ActorPath {
        self.reference.path()
    }

    /// Whether a message waits.
    pub fn has_messages(&self) -> bool {
        !self.collect().is_empty()
    }

    /// The oldest message, if any.
    pub fn try_receive_message(&self) -> Option<M> {
        self.collect().pop_front()
    }

    /// The oldest message.
    ///
    /// # Panics
    ///
    /// If none waits.
    #[track_caller]
    pub fn receive_message(&self) -> M {
        match self.try_receive_message() {
            Some(msg) => msg,
            None => panic!(
                "expected a message in the inbox of {}, but it is empty",
                self.path()
            ),
        }
    }

    /// Every message waiting, oldest first.
    pub fn receive_all(&self) -> Vec<M> {
        self.collect().drain(..).collect()
    }

    /// Takes the oldest message and checks that it is `expected`.
    ///
    /// # Panics
    ///
    /// If none waits, or it is another.
    #[track_caller]
    pub fn expect_message(&self, expected: M)
    where
        M: PartialEq + Debug,
    {
        match self.try_receive_message() {
            Some(msg) if msg == expected => {}
            Some(msg) => panic!(
                "expected {expected:?} in the inbox of {}, but the next message is {msg:?}",
                self.path()
            ),
            None => panic!(
                "expected {expected:?} in the inbox of {}, but it is empty",
                self.path()
            ),
        }
    }

    /// Checks that no message waits.
    ///
    /// # Panics
    ///
    /// If one does (it names it).
    #[track_caller]
    pub fn expect_no_message(&self)
    where
        M: Debug,
    {
        let taken = self.collect();
        if let Some(msg) = taken.front() {
            panic!(
                "expected no message in the inbox of {}, but {msg:?} is there ({} in all)",
                self.path(),
                taken.len()
            );
        }
    }
}

impl<M: Send + 'static> Debug for TestInbox<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestInbox")
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}
