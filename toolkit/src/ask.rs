//! Request/reply on top of tell: a one-shot reply address, and the [`Pending`] reply an ask
//! returns — waited for from outside the system, mapped, or piped to an actor as one of its own
//! messages — plus the machinery of `ctx.ask`, whose outcome also comes back as a message.
//!
//! One piece of machinery delivers outcomes as messages: an `AskCallback` turns whichever of
//! reply, timeout or abandonment comes first into exactly one message to the asking actor, made
//! in that actor's turn. `ctx.ask` hands its reply address straight to it; `Pending::pipe_to`
//! reaches it through the pending reply's slot.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::actor::{ActorPath, ActorRef, AnyActorRef, Context, Recipient};
use crate::dead_letters::{DeadLetterReason, dropping_dead_letter};
use crate::dispatch::on_dispatcher_thread;
use crate::error::{AskError, AskTarget, AskTimeout};

/// Rounds of polling before a waiter sleeps: replies within a few microseconds are common.
const SPIN_ROUNDS: u32 = 200;

/// A reply that has not arrived yet.
///
/// From outside the actor system, [`wait`](Self::wait) for it. Inside an actor, never wait:
/// [`pipe_to`](Self::pipe_to) delivers the outcome as one of the actor's own messages. Either
/// way, [`map`](Self::map) converts the reply first, without blocking.
///
/// ```
/// use reactant::prelude::*;
/// use std::time::Duration;
///
/// let system = ActorSystem::new("docs")?;
/// let echo = system.spawn(Behaviors::receive_message(|reply_to: ActorRef<&'static str>| {
///     reply_to.tell("pong");
///     Behaviors::same()
/// }), "echo")?;
/// let pending: Pending<&'static str> = echo.ask(|reply_to| reply_to);
/// assert_eq!(pending.wait(Duration::from_secs(1))?, "pong");
/// let length: Pending<usize> = echo.ask(|reply_to| reply_to).map(str::len);
/// assert_eq!(length.wait(Duration::from_secs(1))?, 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a pending reply does nothing unless waited for, mapped or piped to an actor"]
pub struct Pending<R> {
    slot: Arc<Slot<R>>,
}

/// Where the outcome of one ask lands. The reply address fills it once; the [`Pending`] side
/// either waits for it, or leaves a continuation (`Forwarding`) that takes the outcome on
/// whichever thread completes the slot.
///
/// | state        | entered when                                   | left when                     |
/// |--------------|------------------------------------------------|-------------------------------|
/// | `Waiting`    | created                                        | completed, or a continuation  |
/// | `Forwarding` | `map` / `pipe_to` on a slot still waiting      | completed: the outcome goes on |
/// | `Replied`    | completed with a reply while `Waiting`         | taken by `wait` (or forwarded) |
/// | `Failed`     | completed with an error while `Waiting`        | taken by `wait` (or forwarded) |
/// | `Taken`      | the outcome was handed on, or `wait` gave up   | never: later outcomes are late |
struct Slot<R> {
    done: AtomicBool,
    state: Mutex<SlotState<R>>,
    ready: Condvar,
    about: AskAbout,
}

enum SlotState<R> {
    Waiting,
    Forwarding(Then<R>),
    Replied(R),
    /// Boxed: an `AskError` is 96 bytes, and the slot must stay small (see [`AskAbout`]).
    Failed(Box<AskError>),
    Taken,
}

/// Takes the outcome of a slot on the thread that completes it. Returns whether someone still
/// wanted it: `false` makes a reply a late one (a dead letter).
type Then<R> = Box<dyn FnOnce(Result<R, AskError>) -> bool + Send>;

impl<R> Slot<R> {
    fn new(about: AskAbout) -> Self {
        Self {
            done: AtomicBool::new(false),
            state: Mutex::new(SlotState::Waiting),
            ready: Condvar::new(),
            about,
        }
    }

    /// Completes the slot; false if it had completed (or been given up) already.
    fn complete(&self, outcome: Result<R, AskError>) -> bool {
        let mut state = self.state.lock();
        match std::mem::replace(&mut *state, SlotState::Taken) {
            SlotState::Waiting => {
                *state = match outcome {
                    Ok(reply) => SlotState::Replied(reply),
                    Err(error) => SlotState::Failed(Box::new(error)),
                };
                self.done.store(true, Ordering::Release);
                drop(state);
                self.ready.notify_all();
                true
            }
            // The continuation is user-facing code (a mapping, a message to an actor): it runs
            // without the lock, so that it may complete other slots or take its time.
            SlotState::Forwarding(then) => {
                drop(state);
                then(outcome)
            }
            finished => {
                *state = finished;
                false
            }
        }
    }

    /// True while an outcome would still be taken.
    fn is_open(&self) -> bool {
        matches!(
            *self.state.lock(),
            SlotState::Waiting | SlotState::Forwarding(_)
        )
    }
}

impl<R> Pending<R> {
    /// Blocks until the reply arrives or `timeout` passes.
    ///
    /// Called on a dispatcher thread (inside an actor) it returns
    /// [`AskError::WouldBlockDispatcher`] at once instead of blocking; use
    /// [`pipe_to`](Self::pipe_to) there. A reply that comes after the timeout is a dead letter.
    pub fn wait(self, timeout: Duration) -> Result<R, AskError> {
        if on_dispatcher_thread() {
            return Err(AskError::WouldBlockDispatcher);
        }
        let deadline = Instant::now().checked_add(timeout);
        for _ in 0..SPIN_ROUNDS {
            if self.slot.done.load(Ordering::Acquire) {
                break;
            }
            std::hint::spin_loop();
        }
        let mut state = self.slot.state.lock();
        while matches!(*state, SlotState::Waiting) {
            match deadline {
                Some(deadline) => {
                    if self.slot.ready.wait_until(&mut state, deadline).timed_out()
                        && matches!(*state, SlotState::Waiting)
                    {
                        *state = SlotState::Taken;
                        return Err(self.slot.about.timeout(timeout));
                    }
                }
                None => self.slot.ready.wait(&mut state),
            }
        }
        match std::mem::replace(&mut *state, SlotState::Taken) {
            SlotState::Replied(reply) => Ok(reply),
            SlotState::Failed(error) => Err(*error),
            // A `Pending` that waits has left no continuation, and only `wait` takes.
            SlotState::Waiting | SlotState::Forwarding(_) | SlotState::Taken => {
                Err(AskError::NoReply)
            }
        }
    }

    /// True once a reply (or a failure) has arrived, so `wait` would not block.
    pub fn is_ready(&self) -> bool {
        self.slot.done.load(Ordering::Acquire)
    }
}

impl<R: Send + 'static> Pending<R> {
    /// The same pending reply, converted by `f` when it arrives. Nothing blocks and no thread
    /// is started: `f` runs once, on the thread that delivers the reply (the replier's, or this
    /// one if the reply is already here), so keep it a cheap conversion.
    ///
    /// A failure (timeout, stopped target, …) passes through unchanged and `f` does not run. If
    /// `f` panics, the panic stays here — the delivering thread, which may be another actor's
    /// dispatcher thread, is unharmed — and the outcome is [`AskError::MapFailed`]. If nobody
    /// waits for the mapped reply any more (its `wait` timed out), `f` does not run and the
    /// reply is a dead letter.
    ///
    /// ```
    /// use reactant::prelude::*;
    /// use std::time::Duration;
    ///
    /// struct GetBalance { reply_to: ActorRef<u64> }
    ///
    /// let system = ActorSystem::new("docs")?;
    /// let account = system.spawn(
    ///     Behaviors::receive_message(|GetBalance { reply_to }| {
    ///         reply_to.tell(250);
    ///         Behaviors::same()
    ///     }),
    ///     "account",
    /// )?;
    /// let text = account
    ///     .ask(|reply_to| GetBalance { reply_to })
    ///     .map(|cents| format!("{}.{:02}", cents / 100, cents % 100));
    /// assert_eq!(text.wait(Duration::from_secs(3))?, "2.50");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map<S, F>(self, f: F) -> Pending<S>
    where
        S: Send + 'static,
        F: FnOnce(R) -> S + Send + 'static,
    {
        let mapped = Arc::new(Slot::new(self.slot.about.clone()));
        let into = mapped.clone();
        self.then(Box::new(move |outcome| {
            let outcome = match outcome {
                Ok(reply) => {
                    if !into.is_open() {
                        return false;
                    }
                    crate::supervision::panic::catch(move || f(reply))
                        .map_err(|failure| AskError::MapFailed(failure.message().to_owned()))
                }
                Err(error) => Err(error),
            };
            into.complete(outcome)
        }));
        Pending { slot: mapped }
    }

    /// Delivers the outcome to the actor of `ctx` as its own message `map_result(outcome)`,
    /// without blocking: Akka's `pipeToSelf`, for a reply asked with [`ActorRef::ask`] (or
    /// an `#[actor]` ref's method, or an entity's) from inside an actor.
    ///
    /// Exactly one message arrives, whichever comes first: the reply, the failure (the asked
    /// actor stopped or failed, or dropped the reply address without answering), or
    /// [`AskError::Timeout`] after `timeout`. The reply may come on any thread; `map_result`
    /// runs in this actor's turn, as `ctx.ask`'s mapping does, so a panic in it is this
    /// actor's failure. A reply after the timeout is a dead letter; if this actor has stopped
    /// meanwhile, the message is a dead letter too.
    ///
    /// ```
    /// use reactant::prelude::*;
    /// use std::time::Duration;
    ///
    /// struct Quote { reply_to: ActorRef<u64> }
    /// enum Shop { Buy(ActorRef<Quote>), Priced(Result<u64, AskError>) }
    ///
    /// let system = ActorSystem::new("docs")?;
    /// let pricing = system.spawn(Behaviors::receive_message(|Quote { reply_to }| {
    ///     reply_to.tell(42);
    ///     Behaviors::same()
    /// }), "pricing")?;
    /// let (prices_tx, prices_rx) = std::sync::mpsc::channel();
    /// let shop = system.spawn(Behaviors::receive(move |ctx, msg| {
    ///     match msg {
    ///         Shop::Buy(pricing) => pricing
    ///             .ask(|reply_to| Quote { reply_to })
    ///             .map(|cents| cents * 2)
    ///             .pipe_to(ctx, Duration::from_secs(3), Shop::Priced),
    ///         Shop::Priced(price) => prices_tx.send(price).unwrap_or(()),
    ///     }
    ///     Behaviors::same()
    /// }), "shop")?;
    /// shop.tell(Shop::Buy(pricing));
    /// assert_eq!(prices_rx.recv_timeout(Duration::from_secs(3))?, Ok(84));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "pipe_to_self")]
    #[doc(alias = "pipeToSelf")]
    pub fn pipe_to<M, F>(self, ctx: &Context<M>, timeout: Duration, map_result: F)
    where
        M: Send + 'static,
        F: FnOnce(Result<R, AskError>) -> M + Send + 'static,
    {
        let callback = AskCallback::new(
            ctx.self_ref(),
            self.slot.about.clone(),
            timeout,
            ctx.scheduler(),
            Box::new(map_result),
        );
        self.then(Box::new(move |outcome| callback.complete(outcome)));
    }

    /// Hands the outcome to `then`, now if it is here, otherwise on the thread that completes
    /// the slot. Runs `then` exactly once.
    fn then(self, then: Then<R>) {
        let mut state = self.slot.state.lock();
        let outcome = match std::mem::replace(&mut *state, SlotState::Taken) {
            SlotState::Waiting => {
                *state = SlotState::Forwarding(then);
                return;
            }
            SlotState::Replied(reply) => Ok(reply),
            SlotState::Failed(error) => Err(*error),
            // `then` and `wait` take the `Pending` by value: only one of them ever runs.
            finished @ (SlotState::Forwarding(_) | SlotState::Taken) => {
                *state = finished;
                Err(AskError::NoReply)
            }
        };
        drop(state);
        then(outcome);
    }
}

impl<R> std::fmt::Debug for Pending<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("ready", &self.is_ready())
            .finish()
    }
}

/// What an ask is for, kept until a timeout needs to say it: the target, and the types of the
/// request and of the reply. Cheap to keep: the path of an actor is built only on a timeout.
///
/// Small on purpose (32 bytes): it lives in every ask's [`Slot`], which is allocated on the
/// asking thread and often freed on the replying one. Kept under the allocator's small-chunk
/// size, that free takes no lock; a 200-byte slot made glibc lock its arena on every ask and
/// doubled the p50 latency of an ask from outside.
#[derive(Clone)]
pub(crate) struct AskAbout {
    target: Target,
    /// The type names of the request and of the reply, built only for a timeout's message.
    types: fn() -> (&'static str, &'static str),
}

#[derive(Clone)]
enum Target {
    /// An actor (also the actor behind an adapter): its path, and where late replies go.
    Actor(AnyActorRef),
    /// A reference that is not backed by an actor, by path.
    Path(ActorPath),
    /// A sharded entity, by type key and id (boxed: rarer, and twice the size of the others).
    Entity(Box<(Arc<str>, Arc<str>)>),
}

/// The type names of an ask's request and reply.
fn type_names<Req, Res>() -> (&'static str, &'static str) {
    (std::any::type_name::<Req>(), std::any::type_name::<Res>())
}

impl AskAbout {
    /// An ask of `target`, whose messages are `Req`, for a reply of type `Res`.
    pub(crate) fn of<Req: Send + 'static, Res>(target: &ActorRef<Req>) -> Self {
        Self {
            target: target
                .to_any()
                .map_or_else(|| Target::Path(target.path()), Target::Actor),
            types: type_names::<Req, Res>,
        }
    }

    /// An ask of the entity `entity_id` of type `type_key`, whose messages are `Req`, for a
    /// reply of type `Res`.
    pub(crate) fn entity<Req, Res>(type_key: &Arc<str>, entity_id: Arc<str>) -> Self {
        Self {
            target: Target::Entity(Box::new((type_key.clone(), entity_id))),
            types: type_names::<Req, Res>,
        }
    }

    fn timeout(&self, after: Duration) -> AskError {
        let target = match &self.target {
            Target::Actor(actor) => AskTarget::actor(actor.path()),
            Target::Path(path) => AskTarget::actor(path.clone()),
            Target::Entity(entity) => AskTarget::entity(entity.0.to_string(), entity.1.to_string()),
        };
        let (request_type, reply_type) = (self.types)();
        AskError::Timeout(AskTimeout::new(after, target, request_type, reply_type))
    }

    /// `{target}/$ask`: the path of the reply address (`/deadLetters/$ask` for an entity,
    /// which has no path of its own while it is not running).
    fn reply_path(&self) -> ActorPath {
        match &self.target {
            Target::Actor(actor) => actor.path(),
            Target::Path(path) => path.clone(),
            Target::Entity(_) => ActorPath::new("/deadLetters"),
        }
        .child("$ask")
    }

    /// Records a reply that nobody takes any more as a dead letter of the target's system.
    fn late_reply<R>(&self) {
        if let Target::Actor(target) = &self.target {
            target.0.dead_letter(
                self.reply_path(),
                std::any::type_name::<R>(),
                DeadLetterReason::LateReply,
            );
        }
    }
}

/// The reply side of an ask from outside: an `ActorRef<R>` that fills the slot once.
pub(crate) struct PromiseRecipient<R> {
    slot: Arc<Slot<R>>,
}

impl<R: Send + 'static> PromiseRecipient<R> {
    /// A reply address and the pending reply it fills, for the ask `about` describes.
    pub(crate) fn pair(about: AskAbout) -> (ActorRef<R>, Pending<R>) {
        let slot = Arc::new(Slot::new(about));
        let recipient = Arc::new(Self { slot: slot.clone() });
        (ActorRef::from_recipient(recipient), Pending { slot })
    }

    /// A reply address and pending reply for an ask of the entity `entity_id` of type
    /// `type_key`, whose messages are `M`: its timeout names the entity. The id is shared,
    /// not copied: an ask costs no allocation for it.
    pub(crate) fn for_entity<M>(
        type_key: &Arc<str>,
        entity_id: Arc<str>,
    ) -> (ActorRef<R>, Pending<R>) {
        Self::pair(AskAbout::entity::<M, R>(type_key, entity_id))
    }
}

impl<R: Send + 'static> Recipient<R> for PromiseRecipient<R> {
    fn tell(&self, reply: R) {
        // The asker takes only the first reply, and none after it stopped waiting: a reply
        // that comes later is a dead letter (as in Akka), not silently dropped.
        if !self.slot.complete(Ok(reply)) {
            self.slot.about.late_reply::<R>();
        }
    }

    fn path(&self) -> ActorPath {
        self.slot.about.reply_path()
    }

    fn actor(&self) -> Option<AnyActorRef> {
        None
    }
}

impl<R> Drop for PromiseRecipient<R> {
    fn drop(&mut self) {
        // The last reply address is gone: if nobody replied, say why. After a reply (the
        // common case) there is nothing to say, and no need to take the slot's lock again.
        if !self.slot.done.load(Ordering::Acquire) {
            self.slot.complete(Err(abandoned()));
        }
    }
}

/// Why a reply address was dropped without a reply: with a dead letter (the target had
/// stopped), while unwinding from a panic in the target's handler, or just dropped.
fn abandoned() -> AskError {
    if dropping_dead_letter() {
        AskError::TargetStopped
    } else if std::thread::panicking() {
        AskError::TargetFailed
    } else {
        AskError::NoReply
    }
}

type MapResult<Res, M> = Box<dyn FnOnce(Result<Res, AskError>) -> M + Send>;

/// The shared state of one `ctx.ask` or `Pending::pipe_to`: whichever of reply, timeout or
/// abandonment comes first turns into exactly one message to the asking actor.
pub(crate) struct AskCallback<Res, M: Send + 'static> {
    map_result: Mutex<Option<MapResult<Res, M>>>,
    asker: ActorRef<M>,
    timer: Mutex<Option<crate::timers::TaskId>>,
    scheduler: crate::timers::SchedulerHandle,
}

impl<Res: Send + 'static, M: Send + 'static> AskCallback<Res, M> {
    /// The reply address of a `ctx.ask`: its first reply (or its abandonment) is the outcome.
    pub(crate) fn start(
        asker: ActorRef<M>,
        about: AskAbout,
        timeout: Duration,
        scheduler: crate::timers::SchedulerHandle,
        map_result: MapResult<Res, M>,
    ) -> ActorRef<Res> {
        let callback = Self::new(asker, about.clone(), timeout, scheduler, map_result);
        ActorRef::from_recipient(Arc::new(AskReplyTo {
            callback,
            about,
            _reply: PhantomData,
        }))
    }

    /// A callback whose timer completes it with a timeout after `timeout`.
    fn new(
        asker: ActorRef<M>,
        about: AskAbout,
        timeout: Duration,
        scheduler: crate::timers::SchedulerHandle,
        map_result: MapResult<Res, M>,
    ) -> Arc<Self> {
        let callback = Arc::new(Self {
            map_result: Mutex::new(Some(map_result)),
            asker,
            timer: Mutex::new(None),
            scheduler: scheduler.clone(),
        });
        let on_timeout = callback.clone();
        let id = scheduler.schedule_once(timeout, move || {
            on_timeout.complete(Err(about.timeout(timeout)));
        });
        *callback.timer.lock() = id;
        callback
    }

    /// Sends the outcome to the asker; false if an outcome was sent already (a reply now is a
    /// late one, for the caller to record as a dead letter).
    fn complete(&self, outcome: Result<Res, AskError>) -> bool {
        let Some(map_result) = self.map_result.lock().take() else {
            return false;
        };
        self.cancel_timer();
        // The mapping is the asker's code: it runs in the asker's turn, so that its panic is
        // the asker's failure, never the replier's or the scheduler thread's.
        self.asker
            .tell_adapted(Box::new(move || map_result(outcome)));
        true
    }

    fn cancel_timer(&self) {
        if let Some(id) = self.timer.lock().take() {
            self.scheduler.cancel(id);
        }
    }
}

struct AskReplyTo<Res: Send + 'static, M: Send + 'static> {
    callback: Arc<AskCallback<Res, M>>,
    /// The ask, for the reply address's path.
    about: AskAbout,
    _reply: PhantomData<fn(Res)>,
}

impl<Res: Send + 'static, M: Send + 'static> Recipient<Res> for AskReplyTo<Res, M> {
    fn tell(&self, reply: Res) {
        if !self.callback.complete(Ok(reply))
            && let Some(asker) = self.callback.asker.to_any()
        {
            // A reply after the timeout (or a second one): a dead letter, as in Akka.
            asker.0.dead_letter(
                asker.path().child("$ask"),
                std::any::type_name::<Res>(),
                DeadLetterReason::LateReply,
            );
        }
    }

    fn path(&self) -> ActorPath {
        self.about.reply_path()
    }

    fn actor(&self) -> Option<AnyActorRef> {
        None
    }
}

impl<Res: Send + 'static, M: Send + 'static> Drop for AskReplyTo<Res, M> {
    fn drop(&mut self) {
        // The reply address is gone: if nobody replied, say why (in the asker's turn, as any
        // other outcome).
        self.callback.complete(Err(abandoned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ask's slot is allocated on the asking thread and often freed on the replying one.
    /// glibc frees chunks of up to 128 bytes (with their 16-byte `Arc` header) without
    /// locking the arena; a 208-byte slot took that lock on every ask and doubled the p50
    /// latency of `footprint`'s ask (0.8 → 1.5 µs). Keep it small.
    #[test]
    fn an_ask_slot_stays_a_small_allocation() {
        assert!(std::mem::size_of::<Slot<u64>>() + 16 <= 112);
        assert!(std::mem::size_of::<AskAbout>() <= 32);
    }
}
