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
    #[inline]
    pub fn tell(&self, msg: M) {
        match &self.inner {
            RefInner::Cell(cell) => ActorCell::tell(cell, msg),
            RefInner::Other(other) => other.tell(msg),
        }
    }

    /// Sends a message, or hands it back if the actor takes no more messages (it stopped, or
    /// is stopping for passivation).
    #[inline]
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
/// unique as its id while anyone holds the reference, without reading the cell: growing a set
/// of 200,000 children then never touches the 200,000 cells (asking each for its id was a
/// cache miss per actor, and a visible part of spawning them).
impl PartialEq for AnyActorRef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

impl Eq for AnyActorRef {}

/// A set of actors, hashed by address with foldhash's fast hasher: a parent (or the `/user`
/// guardian) inserts every child it spawns, so SipHash there was a visible part of a spawn.
pub(crate) type ActorSet = std::collections::HashSet<AnyActorRef, foldhash::fast::RandomState>;

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
