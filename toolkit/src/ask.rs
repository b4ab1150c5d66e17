//! Request/reply on top of tell: a one-shot reply address, a blocking wait for callers outside
//! the system, and the machinery of `ctx.ask`, whose outcome comes back as a message.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::actor::{ActorPath, ActorRef, AnyActorRef, Recipient};
use crate::dead_letters::{DeadLetterReason, dropping_dead_letter};
use crate::dispatch::on_dispatcher_thread;
use crate::error::AskError;

/// Rounds of polling before a waiter sleeps: replies within a few microseconds are common.
const SPIN_ROUNDS: u32 = 200;

/// A reply that has not arrived yet. Wait for it from outside the actor system.
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
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a pending reply does nothing unless waited for"]
pub struct Pending<R> {
    slot: Arc<Slot<R>>,
}

struct Slot<R> {
    done: AtomicBool,
    state: Mutex<SlotState<R>>,
    ready: Condvar,
}

enum SlotState<R> {
    Waiting,
    Replied(R),
    Failed(AskError),
    Taken,
}

impl<R> Slot<R> {
    fn complete(&self, outcome: Result<R, AskError>) -> bool {
        let mut state = self.state.lock();
        if !matches!(*state, SlotState::Waiting) {
            return false;
        }
        *state = match outcome {
            Ok(reply) => SlotState::Replied(reply),
            Err(error) => SlotState::Failed(error),
        };
        self.done.store(true, Ordering::Release);
        drop(state);
        self.ready.notify_all();
        true
    }
}

impl<R> Pending<R> {
    /// Blocks until the reply arrives or `timeout` passes.
    ///
    /// Called on a dispatcher thread (inside an actor) it returns
    /// [`AskError::WouldBlockDispatcher`] at once instead of blocking.
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
                        return Err(AskError::Timeout(timeout));
                    }
                }
                None => self.slot.ready.wait(&mut state),
            }
        }
        match std::mem::replace(&mut *state, SlotState::Taken) {
            SlotState::Replied(reply) => Ok(reply),
            SlotState::Failed(error) => Err(error),
            SlotState::Waiting | SlotState::Taken => Err(AskError::NoReply),
        }
    }

    /// True once a reply (or a failure) has arrived, so `wait` would not block.
    pub fn is_ready(&self) -> bool {
        self.slot.done.load(Ordering::Acquire)
    }
}

impl<R> std::fmt::Debug for Pending<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("ready", &self.is_ready())
            .finish()
    }
}

/// The reply side of an ask from outside: an `ActorRef<R>` that fills the slot once.
pub(crate) struct PromiseRecipient<R> {
    slot: Arc<Slot<R>>,
    /// The asked actor, for the reply address's path (built only if someone asks for it).
    target: Option<AnyActorRef>,
}

/// `{target}/$ask`, or `/deadLetters/$ask` when the target is not an actor.
fn ask_path(target: Option<&AnyActorRef>) -> ActorPath {
    target
        .map_or_else(|| ActorPath::new("/deadLetters"), AnyActorRef::path)
        .child("$ask")
}

impl<R: Send + 'static> PromiseRecipient<R> {
    pub(crate) fn pair(target: Option<AnyActorRef>) -> (ActorRef<R>, Pending<R>) {
        let slot = Arc::new(Slot {
            done: AtomicBool::new(false),
            state: Mutex::new(SlotState::Waiting),
            ready: Condvar::new(),
        });
        let recipient = Arc::new(Self {
            slot: slot.clone(),
            target,
        });
        (ActorRef::from_recipient(recipient), Pending { slot })
    }
}

impl<R: Send + 'static> Recipient<R> for PromiseRecipient<R> {
    fn tell(&self, reply: R) {
        // The asker takes only the first reply, and none after it stopped waiting: a reply
        // that comes later is a dead letter (as in Akka), not silently dropped.
        if !self.slot.complete(Ok(reply))
            && let Some(target) = &self.target
        {
            target.0.dead_letter(
                ask_path(Some(target)),
                std::any::type_name::<R>(),
                DeadLetterReason::LateReply,
            );
        }
    }

    fn path(&self) -> ActorPath {
        ask_path(self.target.as_ref())
    }

    fn actor(&self) -> Option<AnyActorRef> {
        None
    }
}

impl<R> Drop for PromiseRecipient<R> {
    fn drop(&mut self) {
        // The last reply address is gone: if nobody replied, say why.
        self.slot.complete(Err(abandoned()));
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

/// The shared state of one `ctx.ask`: whichever of reply, timeout or abandonment comes first
/// turns into exactly one message to the asking actor.
pub(crate) struct AskCallback<Res, M: Send + 'static> {
    map_result: Mutex<Option<MapResult<Res, M>>>,
    asker: ActorRef<M>,
    timeout: Duration,
    timer: Mutex<Option<crate::timers::TaskId>>,
    scheduler: crate::timers::SchedulerHandle,
}

impl<Res: Send + 'static, M: Send + 'static> AskCallback<Res, M> {
    pub(crate) fn start(
        asker: ActorRef<M>,
        target: Option<AnyActorRef>,
        timeout: Duration,
        scheduler: crate::timers::SchedulerHandle,
        map_result: MapResult<Res, M>,
    ) -> ActorRef<Res> {
        let callback = Arc::new(Self {
            map_result: Mutex::new(Some(map_result)),
            asker,
            timeout,
            timer: Mutex::new(None),
            scheduler: scheduler.clone(),
        });
        let on_timeout = callback.clone();
        let id = scheduler.schedule_once(timeout, move || {
            on_timeout.complete(Err(AskError::Timeout(on_timeout.timeout)));
        });
        *callback.timer.lock() = id;
        ActorRef::from_recipient(Arc::new(AskReplyTo {
            callback,
            target,
            _reply: PhantomData,
        }))
    }

    fn complete(&self, outcome: Result<Res, AskError>) {
        let Some(map_result) = self.map_result.lock().take() else {
            if outcome.is_ok()
                && let Some(asker) = self.asker.to_any()
            {
                // A reply after the timeout (or a second one): a dead letter, as in Akka.
                asker.0.dead_letter(
                    asker.path().child("$ask"),
                    std::any::type_name::<Res>(),
                    DeadLetterReason::LateReply,
                );
            }
            return;
        };
        self.cancel_timer();
        // The mapping is the asker's code: it runs in the asker's turn, so that its panic is
        // the asker's failure, never the replier's or the scheduler thread's.
        self.asker
            .tell_adapted(Box::new(move || map_result(outcome)));
    }
}

impl<Res, M: Send + 'static> AskCallback<Res, M> {
    fn cancel_timer(&self) {
        if let Some(id) = self.timer.lock().take() {
            self.scheduler.cancel(id);
        }
    }
}

struct AskReplyTo<Res, M: Send + 'static> {
    callback: Arc<AskCallback<Res, M>>,
    target: Option<AnyActorRef>,
    _reply: PhantomData<fn(Res)>,
}

impl<Res: Send + 'static, M: Send + 'static> Recipient<Res> for AskReplyTo<Res, M> {
    fn tell(&self, reply: Res) {
        self.callback.complete(Ok(reply));
    }

    fn path(&self) -> ActorPath {
        ask_path(self.target.as_ref())
    }

    fn actor(&self) -> Option<AnyActorRef> {
        None
    }
}

impl<Res, M: Send + 'static> Drop for AskReplyTo<Res, M> {
    fn drop(&mut self) {
        // Complete without the generic bound on Res: only the error path is needed here.
        let Some(map_result) = self.callback.map_result.lock().take() else {
            return;
        };
        self.callback.cancel_timer();
        self.callback.asker.tell(map_result(Err(abandoned())));
    }
}
