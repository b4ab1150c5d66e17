//! Typed actor references: the only way to reach an actor.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::cell::{ActorCell, AdaptFn, CellControl, Control};
use super::path::ActorPath;
use crate::ask::{AskAbout, Pending, PromiseRecipient};
use crate::dispatch::Dispatcher;
use crate::timers::SchedulerHandle;

/// A typed, cheap-to-clone address of an actor that accepts messages of type `M`.
///
/// Sending never blocks and never fails: a message to an actor that has stopped goes to the
/// system's dead letters. Equality and hashing follow the actor's identity, not its path: a new
/// actor spawned under the same name is a different actor.
///
/// ```
/// use reactant::prelude::*;
/// use std::time::Duration;
///
/// struct Greet { whom: String, reply_to: ActorRef<String> }
///
/// let system = ActorSystem::new("docs")?;
/// let greeter = system.spawn(
///     Behaviors::receive_message(|Greet { whom, reply_to }| {
///         reply_to.tell(format!("hello, {whom}"));
///         Behaviors::same()
///     }),
///     "greeter",
/// )?;
/// assert_eq!(greeter.path().as_str(), "/user/greeter");
/// let reply = greeter
///     .ask(|reply_to| Greet { whom: "ann".into(), reply_to })
///     .wait(Duration::from_secs(3))?;
/// assert_eq!(reply, "hello, ann");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ActorRef<M: Send + 'static> {
    inner: RefInner<M>,
}

pub(crate) enum RefInner<M: Send + 'static> {
    /// An actor's own mailbox: the fast path.
    Cell(Arc<ActorCell<M>>),
    /// Anything else that accepts `M`: an adapter, a reply promise.
    Other(Arc<dyn Recipient<M>>),
}

/// A receiver of messages that is not an actor's own mailbox: a message adapter, the reply
/// side of an ask, an actor's front (see `front.rs`).
pub(crate) trait Recipient<M: Send + 'static>: Send + Sync + 'static {
    fn tell(&self, msg: M);
    fn path(&self) -> ActorPath;
    /// The actor behind this recipient, if any (watching an adapter watches its actor).
    fn actor(&self) -> Option<AnyActorRef>;

    /// Sends, or hands the message back if it cannot be taken. Most recipients always take it.
    fn try_tell(&self, msg: M) -> Result<(), M> {
        self.tell(msg);
        Ok(())
    }

    /// Sends a message made by `adapt` in the receiving actor's turn, if there is one; most
    /// recipients have none and make it at once.
    fn tell_adapted(&self, adapt: AdaptFn<M>) {
        self.tell(adapt());
    }

    /// Sends the last message an actor accepts (see [`ActorCell::tell_last`]); most recipients
    /// just take it.
    fn tell_last(&self, msg: M) -> Result<(), M> {
        self.tell(msg);
        Ok(())
    }

    /// For an actor's front: the actor's own reference, which this recipient stands for in
    /// every respect but how messages travel (equality, hashing, the testkit's mailbox view).
    fn front_of(&self) -> Option<&ActorRef<M>> {
        None
    }
}

impl<M: Send + 'static> ActorRef<M> {
    pub(crate) fn from_cell(cell: Arc<ActorCell<M>>) -> Self {
        Self {
            inner: RefInner::Cell(cell),
        }
    }

    pub(crate) fn from_recipient(recipient: Arc<dyn Recipient<M>>) -> Self {
        Self {
            inner: RefInner::Other(recipient),
        }
    }

    /// Sends a message without waiting. Messages from one sender to one actor arrive in the
    /// order they were sent.
    // Always inlined, and the mailbox push it leads to never: the caller pays one call either
    // way, and a reference that is not an actor's own (a pool's front) goes straight to its
    // recipient instead of through a frame built for the push (registers saved, then
    // restored for a jump). That frame cost a pool's front about 2 ns a tell.
    #[inline(always)]
    pub fn tell(&self, msg: M) {
        match &self.inner {
            RefInner::Cell(cell) => ActorCell::tell(cell, msg),
            RefInner::Other(other) => other.tell(msg),
        }
    }

    /// Sends a message, or hands it back if the actor takes no more messages (it stopped, or
    /// is stopping for passivation).
    #[inline(always)]
    pub(crate) fn try_tell(&self, msg: M) -> Result<(), M> {
        match &self.inner {
            RefInner::Cell(cell) => ActorCell::try_tell(cell, msg),
            RefInner::Other(other) => other.try_tell(msg),
        }
    }

    /// Sends a message that `adapt` makes in the receiving actor's turn (a message adapter's
    /// or an ask's mapping: user code that belongs to the receiver, not to the sender).
    pub(crate) fn tell_adapted(&self, adapt: AdaptFn<M>) {
        match &self.inner {
            RefInner::Cell(cell) => ActorCell::tell_adapted(cell, adapt),
            RefInner::Other(other) => other.tell_adapted(adapt),
        }
    }

    /// Where the actor's turns run, and its system's timers: for work that should run beside
    /// the actor (a live query's pump). `None` for a reference that is not an actor's own
    /// (a reply address, a converting reference, a router's front).
    pub(crate) fn home(&self) -> Option<(Arc<Dispatcher>, SchedulerHandle)> {
        match &self.inner {
            RefInner::Cell(cell) => Some((cell.dispatcher().clone(), cell.system().scheduler())),
            RefInner::Other(_) => None,
        }
    }

    /// Sends the last message the actor accepts (see [`ActorCell::tell_last`]).
    pub(crate) fn tell_last(&self, msg: M) -> Result<(), M> {
        match &self.inner {
            RefInner::Cell(cell) => ActorCell::tell_last(cell, msg),
            RefInner::Other(other) => other.tell_last(msg),
        }
    }

    /// Sends a request built around a one-shot reply address and returns the pending reply.
    /// Wait for it with [`Pending::wait`] from outside the actor system; inside an actor use
    /// [`Context::ask`](crate::actor::Context::ask), which never blocks.
    pub fn ask<R, F>(&self, make_request: F) -> Pending<R>
    where
        R: Send + 'static,
        F: FnOnce(ActorRef<R>) -> M,
    {
        let (reply_to, pending) = PromiseRecipient::pair(AskAbout::of::<M, R>(self));
        self.tell(make_request(reply_to));
        pending
    }

    /// A reference that accepts `N` and sends `f(n)` to this actor: how to hand out a
    /// narrower or different protocol (a reply address, a subscriber) without a [`Context`](
    /// crate::actor::Context). Akka's `narrow` is the special case `contramap(Into::into)`.
    ///
    /// The new reference has this one's path, reports this actor from
    /// [`to_any`](Self::to_any) (so watching it watches the actor, and it compares equal to
    /// the actor's [`AnyActorRef`]), and costs one allocation that holds `f`. `f` runs on the
    /// sender's thread as part of [`tell`](Self::tell), so the converted messages keep their
    /// order with everything else that sender sends to the actor; keep it a plain conversion
    /// (a panic in it unwinds into the sender). To convert in the receiving actor's own turn
    /// instead, use [`Context::message_adapter`](crate::actor::Context::message_adapter).
    ///
    /// ```
    /// use reactant::prelude::*;
    /// use std::time::Duration;
    ///
    /// enum Ledger { Credit(u64), Debit(u64) }
    /// struct Deposited(u64);
    ///
    /// let system = ActorSystem::new("docs")?;
    /// let (entries_tx, entries) = std::sync::mpsc::channel();
    /// let ledger = system.spawn(Behaviors::receive_message(move |entry| {
    ///     let _ = entries_tx.send(match entry {
    ///         Ledger::Credit(amount) => amount as i64,
    ///         Ledger::Debit(amount) => -(amount as i64),
    ///     });
    ///     Behaviors::same()
    /// }), "ledger")?;
    /// let deposits: ActorRef<Deposited> = ledger.contramap(|Deposited(amount)| Ledger::Credit(amount));
    /// assert_eq!(deposits.path(), ledger.path());
    /// assert!(deposits.to_any().is_some_and(|actor| ledger == actor));
    /// deposits.tell(Deposited(5));
    /// ledger.tell(Ledger::Debit(2));
    /// let wait = Duration::from_secs(3);
    /// assert_eq!((entries.recv_timeout(wait)?, entries.recv_timeout(wait)?), (5, -2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "narrow")]
    #[doc(alias = "map_input")]
    #[doc(alias = "adapt")]
    pub fn contramap<N, F>(&self, f: F) -> ActorRef<N>
    where
        N: Send + 'static,
        F: Fn(N) -> M + Send + Sync + 'static,
    {
        ActorRef::from_recipient(Arc::new(Contramapped {
            target: self.clone(),
            f,
        }))
    }

    /// The actor's path, e.g. `/user/orders/order-17`.
    pub fn path(&self) -> ActorPath {
        match &self.inner {
            RefInner::Cell(cell) => cell.path(),
            RefInner::Other(other) => other.path(),
        }
    }

    /// This reference without its message type: for watching, comparing, and signals.
    /// `None` for a reference that is not backed by an actor (the reply side of an ask).
    pub fn to_any(&self) -> Option<AnyActorRef> {
        match &self.inner {
            RefInner::Cell(cell) => Some(AnyActorRef(cell.clone() as Arc<dyn CellControl>)),
            RefInner::Other(other) => other.actor(),
        }
    }

    /// True once the actor behind this reference has stopped (messages now go to dead letters).
    pub fn is_terminated(&self) -> bool {
        match &self.inner {
            RefInner::Cell(cell) => cell.is_closed(),
            RefInner::Other(other) => other.actor().is_some_and(|a| a.is_terminated()),
        }
    }

    /// The actor cell behind this reference, if it is an actor's own (for the testkit, which
    /// reads the mailboxes of a manual system's actors).
    #[cfg(feature = "testkit")]
    pub(crate) fn cell(&self) -> Option<&Arc<ActorCell<M>>> {
        match &self.inner {
            RefInner::Cell(cell) => Some(cell),
            RefInner::Other(other) => other.front_of().and_then(ActorRef::cell),
        }
    }

    /// What equality and hashing compare: the actor cell, or the recipient (a front counts
    /// as its actor).
    fn identity(&self) -> *const () {
        match &self.inner {
            RefInner::Cell(cell) => Arc::as_ptr(cell).cast(),
            RefInner::Other(other) => match other.front_of() {
                Some(actor) => actor.identity(),
                None => Arc::as_ptr(other).cast(),
            },
        }
    }
}

/// An [`ActorRef`] that converts what it is sent (see [`ActorRef::contramap`]).
struct Contramapped<M: Send + 'static, F> {
    target: ActorRef<M>,
    f: F,
}

impl<N, M, F> Recipient<N> for Contramapped<M, F>
where
    N: Send + 'static,
    M: Send + 'static,
    F: Fn(N) -> M + Send + Sync + 'static,
{
    fn tell(&self, msg: N) {
        self.target.tell((self.f)(msg));
    }

    fn path(&self) -> ActorPath {
        self.target.path()
    }

    fn actor(&self) -> Option<AnyActorRef> {
        self.target.to_any()
    }
}

/// Delivers another protocol's messages to an actor, converted in the actor's own turn (a
/// panicking conversion fails the actor that made the adapter, not the sender).
pub(super) struct MessageAdapter<M: Send + 'static, F> {
    pub(super) target: ActorRef<M>,
    pub(super) adapt: Arc<F>,
}

impl<N, M, F> Recipient<N> for MessageAdapter<M, F>
where
    N: Send + 'static,
    M: Send + 'static,
    F: Fn(N) -> M + Send + Sync + 'static,
{
    fn tell(&self, msg: N) {
        let adapt = self.adapt.clone();
        self.target.tell_adapted(Box::new(move || adapt(msg)));
    }

    fn path(&self) -> ActorPath {
        self.target.path().child("$adapter")
    }

    fn actor(&self) -> Option<AnyActorRef> {
        self.target.to_any()
    }
}

impl<M: Send + 'static> Clone for ActorRef<M> {
    fn clone(&self) -> Self {
        Self {
            inner: match &self.inner {
                RefInner::Cell(cell) => RefInner::Cell(cell.clone()),
                RefInner::Other(other) => RefInner::Other(other.clone()),
            },
        }
    }
}

impl<M: Send + 'static> PartialEq for ActorRef<M> {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl<M: Send + 'static> Eq for ActorRef<M> {}

impl<M: Send + 'static> Hash for ActorRef<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

impl<M: Send + 'static> PartialEq<AnyActorRef> for ActorRef<M> {
    fn eq(&self, other: &AnyActorRef) -> bool {
        self.to_any().is_some_and(|me| me == *other)
    }
}

impl<M: Send + 'static> fmt::Debug for ActorRef<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorRef({})", self.path())
    }
}

impl<M: Send + 'static> fmt::Display for ActorRef<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.path(), f)
    }
}

/// An actor reference without its message type: what signals carry and what `watch` needs.
/// Compares equal to the typed [`ActorRef`] of the same actor.
#[derive(Clone)]
pub struct AnyActorRef(pub(crate) Arc<dyn CellControl>);

impl AnyActorRef {
    /// The actor's path.
    pub fn path(&self) -> ActorPath {
        self.0.path()
    }

    /// True once the actor has stopped.
    pub fn is_terminated(&self) -> bool {
        self.0.is_terminated()
    }

    pub(crate) fn id(&self) -> u64 {
        self.0.id()
    }

    /// Stops the actor once it has handled every message already queued and has no work of
    /// its own in progress (`Context::set_busy`): sharding's passivation, which must lose
    /// nothing sent before it. From then on the actor refuses user messages, which their
    /// senders route elsewhere. Nothing happens if the actor has terminated.
    pub(crate) fn stop_when_idle(&self) {
        let _ = self.0.clone().send_control(Control::StopWhenIdle);
    }
}

/// Identity: the same actor cell. Compared (and hashed) by the cell's address, which is as
/// unique as its id while anyone holds the reference, without reading the cell (asking a
/// cell for its id is a cache miss when many are compared).
impl PartialEq for AnyActorRef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

impl Eq for AnyActorRef {}

/// A parent's children, in a list: a spawn appends (sequential writes, where a hash set
/// writes a random bucket of a table that at 200,000 children no longer fits in the caches,
/// which made the `/user` guardian's insert a large part of a spawn), and each child records
/// its place ([`CellControl::child_slot`]) so that removing it is a swap with the last.
/// Every call is made under the parent's lock, the only writer of the children's slots.
#[derive(Default)]
pub(crate) struct Children {
    list: Vec<AnyActorRef>,
}

impl Children {
    /// Adds a child that is in no list yet.
    pub(crate) fn insert(&mut self, child: AnyActorRef) {
        let slot = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        child.0.set_child_slot(slot);
        self.list.push(child);
    }

    /// Removes `child` if it is in this list; says whether it was.
    pub(crate) fn remove(&mut self, child: &AnyActorRef) -> bool {
        let Some(slot) = self.position(child) else {
            return false;
        };
        self.list.swap_remove(slot);
        if let Some(moved) = self.list.get(slot) {
            moved
                .0
                .set_child_slot(u32::try_from(slot).unwrap_or(u32::MAX));
        }
        child.0.set_child_slot(u32::MAX);
        true
    }

    /// Whether `child` is in this list.
    pub(crate) fn contains(&self, child: &AnyActorRef) -> bool {
        self.position(child).is_some()
    }

    /// Where `child` is: the slot it recorded, checked; past `u32::MAX` children, where the
    /// slots no longer fit, a search.
    fn position(&self, child: &AnyActorRef) -> Option<usize> {
        let recorded = child.0.child_slot() as usize;
        if self.list.get(recorded) == Some(child) {
            Some(recorded)
        } else if self.list.len() > u32::MAX as usize {
            self.list.iter().position(|found| found == child)
        } else {
            None
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, AnyActorRef> {
        self.list.iter()
    }
}

impl Hash for AnyActorRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(Arc::as_ptr(&self.0).cast::<()>() as usize);
    }
}

impl<M: Send + 'static> PartialEq<ActorRef<M>> for AnyActorRef {
    fn eq(&self, other: &ActorRef<M>) -> bool {
        other == self
    }
}

impl fmt::Debug for AnyActorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AnyActorRef({})", self.path())
    }
}

impl fmt::Display for AnyActorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.path(), f)
    }
}

#[cfg(test)]
mod children_tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::dead_letters::DeadLetterReason;

    /// A cell that only keeps its slot.
    struct Stub {
        id: u64,
        slot: AtomicU32,
    }

    impl CellControl for Stub {
        fn id(&self) -> u64 {
            self.id
        }
        fn name(&self) -> Option<&str> {
            None
        }
        fn path(&self) -> ActorPath {
            ActorPath::new("/user/stub")
        }
        fn is_terminated(&self) -> bool {
            false
        }
        fn child_slot(&self) -> u32 {
            self.slot.load(Ordering::Relaxed)
        }
        fn set_child_slot(&self, slot: u32) {
            self.slot.store(slot, Ordering::Relaxed);
        }
        fn send_control(self: Arc<Self>, control: Control) -> Result<(), Control> {
            Err(control)
        }
        fn dead_letter(&self, _: ActorPath, _: &'static str, _: DeadLetterReason) {}
    }

    fn stub(id: u64) -> AnyActorRef {
        AnyActorRef(Arc::new(Stub {
            id,
            slot: AtomicU32::new(u32::MAX),
        }))
    }

    fn ids(children: &Children) -> Vec<u64> {
        let mut ids: Vec<u64> = children.iter().map(|c| c.0.id()).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn children_are_removed_in_any_order_and_each_slot_stays_true() {
        let refs: Vec<AnyActorRef> = (0..100).map(stub).collect();
        let mut children = Children::default();
        for child in &refs {
            children.insert(child.clone());
        }
        let mut rng = fastrand::Rng::with_seed(7);
        let mut left: Vec<u64> = (0..100).collect();
        while !left.is_empty() {
            let id = left.swap_remove(rng.usize(..left.len()));
            let child = &refs[id as usize];
            assert!(children.remove(child), "child {id} was in the list");
            assert!(!children.remove(child), "child {id} is in it no more");
            assert_eq!(child.0.child_slot(), u32::MAX);
            let mut expected = left.clone();
            expected.sort_unstable();
            assert_eq!(ids(&children), expected);
            for (slot, child) in children.iter().enumerate() {
                assert_eq!(
                    child.0.child_slot() as usize,
                    slot,
                    "slot of {}",
                    child.0.id()
                );
            }
        }
        assert!(children.is_empty());
        assert!(!children.remove(&stub(1000)), "never in it");
    }
}
