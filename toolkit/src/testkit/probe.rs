//! [`TestProbe`]: an actor whose messages the test reads and asserts on.

use std::cell::Cell;
use std::fmt::{self, Debug};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::actor::{ActorRef, ActorSystem, AnyActorRef, Behaviors, Context, Signal};

/// How long an expectation waits unless told otherwise: generous, because a loaded CI machine
/// is slow; only a failing test ever waits this long.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the probe's actor is sent: a message for the test, or work for the actor itself
/// (watching another actor for [`TestProbe::expect_terminated`]).
enum ProbeMsg<M: Send + 'static> {
    Message(M),
    Run(ProbeWork<M>),
}

/// Work the probe's actor does in its own turn.
type ProbeWork<M> = Box<dyn FnOnce(&mut Context<ProbeMsg<M>>) + Send>;

/// What [`TestProbe::fish_for_message`]'s function says of each message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FishingOutcome {
    /// The message is one of those looked for: keep it, and the fishing is done.
    Complete,
    /// The message is expected on the way: keep it and fish on.
    Continue,
    /// The message does not matter: drop it and fish on.
    ContinueAndIgnore,
    /// The message must not come: the expectation fails with this text.
    Fail(String),
}

/// An actor for tests: everything sent to its reference (`probe.r#ref()`) waits in the probe until the
/// test takes it with one of the `expect_*` or `receive_*` methods. Each of them fails the test
/// (panics, naming the probe, what was expected and what arrived) when what arrives is not what
/// was expected or nothing arrives in time.
///
/// Expectations wait at most the probe's timeout ([`DEFAULT_TIMEOUT`] unless the
/// [`ActorTestKit`](super::ActorTestKit) says otherwise), or what is left of the enclosing
/// [`within`](Self::within).
///
/// ```
/// use reactant::prelude::*;
/// use reactant::testkit::ActorTestKit;
///
/// struct Ping { reply_to: ActorRef<u64> }
///
/// let kit = ActorTestKit::new();
/// let echo = kit.spawn(Behaviors::receive_message(|Ping { reply_to }| {
///     reply_to.tell(5);
///     Behaviors::same()
/// }), "echo");
/// let probe = kit.probe::<u64>();
/// echo.tell(Ping { reply_to: probe.r#ref() });
/// probe.expect_message(5);
/// probe.expect_no_message(std::time::Duration::from_millis(10));
/// ```
pub struct TestProbe<M: Send + 'static> {
    actor: ActorRef<ProbeMsg<M>>,
    reference: ActorRef<M>,
    messages: Receiver<M>,
    terminated: Receiver<AnyActorRef>,
    timeout: Duration,
    /// The end of the innermost [`within`](Self::within) block, if any.
    deadline: Cell<Option<Instant>>,
}

impl<M: Send + 'static> TestProbe<M> {
    /// A probe in `system`, with the default timeout.
    ///
    /// # Panics
    ///
    /// If the system has shut down (it can spawn no actor).
    #[track_caller]
    pub fn new(system: &ActorSystem) -> Self {
        Self::with_timeout(system, DEFAULT_TIMEOUT)
    }

    /// A probe in `system` whose expectations wait at most `timeout` each.
    ///
    /// # Panics
    ///
    /// If the system has shut down (it can spawn no actor).
    #[track_caller]
    pub fn with_timeout(system: &ActorSystem, timeout: Duration) -> Self {
        let (to_test, messages): (Sender<M>, Receiver<M>) = crossbeam_channel::unbounded();
        let (to_terminated, terminated) = crossbeam_channel::unbounded();
        let behavior = Behaviors::receive(move |ctx, msg: ProbeMsg<M>| {
            match msg {
                // The test may have dropped its probe: the message is then simply dropped.
                ProbeMsg::Message(msg) => drop(to_test.send(msg)),
                ProbeMsg::Run(work) => work(ctx),
            }
            Behaviors::same()
        })
        .receive_signal(move |_ctx, signal| {
            if let Signal::Terminated(who) | Signal::ChildFailed(who, _) = signal {
                let _ = to_terminated.send(who.clone());
            }
            Behaviors::same()
        });
        let actor = match system.spawn_anonymous(behavior) {
            Ok(actor) => actor,
            Err(error) => panic!("a test probe could not start: {error}"),
        };
        let reference = actor.contramap(ProbeMsg::Message);
        Self {
            actor,
            reference,
            messages,
            terminated,
            timeout,
            deadline: Cell::new(None),
        }
    }

    /// The probe's reference: give it to the actor under test (Akka's `probe.ref`). Every
    /// call returns the same actor; references compare equal.
    pub fn r#ref(&self) -> ActorRef<M> {
        self.reference.clone()
    }

    /// How long the next expectation waits: the probe's timeout, or what is left of the
    /// enclosing [`within`](Self::within) block.
    pub fn remaining(&self) -> Duration {
        match self.deadline.get() {
            Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            None => self.timeout,
        }
    }

    fn remaining_or(&self, max: Duration) -> Duration {
        max.min(self.remaining())
    }

    /// The next message, waiting at most `max`; `None` if none came.
    pub(crate) fn next(&self, max: Duration) -> Option<M> {
        // An error is a timeout, or the probe's actor gone with its system: nothing more can
        // come either way.
        self.messages.recv_timeout(max).ok()
    }

    /// Takes the next message and checks that it equals `expected`; returns it.
    #[track_caller]
    pub fn expect_message(&self, expected: M) -> M
    where
        M: PartialEq + Debug,
    {
        self.expect_message_within(self.remaining(), expected)
    }

    /// [`expect_message`](Self::expect_message), waiting at most `max`.
    #[track_caller]
    pub fn expect_message_within(&self, max: Duration, expected: M) -> M
    where
        M: PartialEq + Debug,
    {
        let max = self.remaining_or(max);
        match self.next(max) {
            Some(got) if got == expected => got,
            Some(got) => self.fail(format_args!("expected {expected:?}, but got {got:?}")),
            None => self.fail(format_args!(
                "expected {expected:?} within {max:?}, but no message arrived"
            )),
        }
    }

    /// Takes the next message and checks it with `predicate` (`matches!(msg, ..)`, typically);
    /// returns it.
    #[track_caller]
    pub fn expect_message_matching(&self, predicate: impl FnOnce(&M) -> bool) -> M
    where
        M: Debug,
    {
        let max = self.remaining();
        match self.next(max) {
            Some(got) if predicate(&got) => got,
            Some(got) => self.fail(format_args!(
                "expected a message the predicate accepts, but got {got:?}, which it refused"
            )),
            None => self.fail(format_args!(
                "expected a message the predicate accepts within {max:?}, but no message arrived"
            )),
        }
    }

    /// Takes the next message, whatever it is.
    #[track_caller]
    pub fn receive_message(&self) -> M {
        self.receive_message_within(self.remaining())
    }

    /// [`receive_message`](Self::receive_message), waiting at most `max`.
    #[track_caller]
    pub fn receive_message_within(&self, max: Duration) -> M {
        let max = self.remaining_or(max);
        match self.next(max) {
            Some(got) => got,
            None => self.fail(format_args!(
                "expected a message within {max:?}, but no message arrived"
            )),
        }
    }

    /// Takes the next `n` messages, in the order they arrived, all within the probe's timeout.
    #[track_caller]
    pub fn receive_messages(&self, n: usize) -> Vec<M>
    where
        M: Debug,
    {
        let max = self.remaining();
        let deadline = Instant::now() + max;
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            match self.next(deadline.saturating_duration_since(Instant::now())) {
                Some(msg) => got.push(msg),
                None => self.fail(format_args!(
                    "expected {n} messages within {max:?}, but only {} arrived: {got:?}",
                    got.len()
                )),
            }
        }
        got
    }

    /// Checks that no message arrives for `duration` (this waits that long).
    #[track_caller]
    pub fn expect_no_message(&self, duration: Duration)
    where
        M: Debug,
    {
        let duration = self.remaining_or(duration);
        if let Some(got) = self.next(duration) {
            self.fail(format_args!(
                "expected no message for {duration:?}, but got {got:?}"
            ));
        }
    }

    /// Takes messages until `fish` says [`Complete`](FishingOutcome::Complete), all within
    /// `max`; returns those it kept ([`Continue`](FishingOutcome::Continue) and the completing
    /// one), in order. Fails if `fish` says [`Fail`](FishingOutcome::Fail) or time runs out.
    #[track_caller]
    pub fn fish_for_message(
        &self,
        max: Duration,
        mut fish: impl FnMut(&M) -> FishingOutcome,
    ) -> Vec<M>
    where
        M: Debug,
    {
        let max = self.remaining_or(max);
        let deadline = Instant::now() + max;
        let mut kept = Vec::new();
        let mut ignored = 0_usize;
        loop {
            let Some(msg) = self.next(deadline.saturating_duration_since(Instant::now())) else {
                self.fail(format_args!(
                    "fished for {max:?} without completing; kept {kept:?} and ignored {ignored} \
                     other messages"
                ));
            };
            match fish(&msg) {
                FishingOutcome::Complete => {
                    kept.push(msg);
                    return kept;
                }
                FishingOutcome::Continue => kept.push(msg),
                FishingOutcome::ContinueAndIgnore => ignored += 1,
                FishingOutcome::Fail(why) => self.fail(format_args!(
                    "fishing failed on {msg:?}: {why} (kept before it: {kept:?})"
                )),
            }
        }
    }

    /// Watches `target` and checks that it stops within the probe's timeout. Watching an actor
    /// that has already stopped passes at once.
    #[track_caller]
    pub fn expect_terminated<N: Send + 'static>(&self, target: &ActorRef<N>) {
        let max = self.remaining();
        let deadline = Instant::now() + max;
        let watched = target.clone();
        self.actor
            .tell(ProbeMsg::Run(Box::new(move |ctx| ctx.watch(&watched))));
        loop {
            match self
                .terminated
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(who) if who == *target => return,
                // Another actor this probe watched earlier.
                Ok(_) => {}
                Err(_) if target.is_terminated() && self.actor.is_terminated() => return,
                Err(_) => self.fail(format_args!(
                    "expected {target} to stop within {max:?}, but it is still running"
                )),
            }
        }
    }

    /// Runs `block` with every expectation in it bounded by what is left of `max`, and checks
    /// that the block as a whole took at most `max` (Akka's `within`). Blocks nest: an inner
    /// block never extends an outer one's end.
    #[track_caller]
    pub fn within<T>(&self, max: Duration, block: impl FnOnce(&Self) -> T) -> T {
        let start = Instant::now();
        let outer = self.deadline.get();
        let mut deadline = start + max;
        if let Some(outer) = outer {
            deadline = deadline.min(outer);
        }
        self.deadline.set(Some(deadline));
        // Restores the outer block's end even if an expectation inside fails.
        let _restore = RestoreDeadline {
            cell: &self.deadline,
            outer,
        };
        let value = block(self);
        let took = start.elapsed();
        if took > max {
            self.fail(format_args!(
                "the block took {took:?}, longer than the {max:?} `within` allows"
            ));
        }
        value
    }

    /// Drops every message waiting in the probe; returns how many there were.
    pub fn clear(&self) -> usize {
        self.messages.try_iter().count()
    }

    #[track_caller]
    fn fail(&self, what: fmt::Arguments<'_>) -> ! {
        panic!("test probe {}: {what}", self.actor.path())
    }
}

struct RestoreDeadline<'a> {
    cell: &'a Cell<Option<Instant>>,
    outer: Option<Instant>,
}

impl Drop for RestoreDeadline<'_> {
    fn drop(&mut self) {
        self.cell.set(self.outer);
    }
}

impl<M: Send + 'static> Debug for TestProbe<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestProbe")
            .field("path", &self.actor.path())
            .field("waiting", &self.messages.len())
            .finish()
    }
}
