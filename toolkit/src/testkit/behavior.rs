//! [`BehaviorTestKit`]: a behavior run on the test's thread, one message at a time, its effects
//! recorded (Akka's `BehaviorTestKit`).
//!
//! The behavior runs as a real actor, through the same turn code as any other, in a *manual*
//! actor system: one whose dispatchers have no threads and whose clock stands still. The kit
//! runs the actor's turns itself, on the test's thread, and nothing else ever runs: children
//! stay unstarted, their messages wait in their mailboxes (read with
//! [`child_inbox`](BehaviorTestKit::child_inbox)), and timers fire only when the test moves time
//! ([`advance_time`](BehaviorTestKit::advance_time)). The actors report what they do (spawn,
//! watch, start a timer) through the core's effect sink; the kit keeps what its own actor did.
//!
//! Over 600 lines in one file: the kit, its effects and its inboxes are one API that a test reads
//! top to bottom, and the runner they share is private to it.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::fmt::{self, Debug};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::inbox::TestInbox;
use crate::actor::{
    ActorCell, ActorPath, ActorRef, ActorSystem, AnyActorRef, Behavior, Behaviors, Context,
    Control, EffectSink, Kind, Receive, Recipient, RecordedEffect, Signal, SystemMessage,
    TimerMode,
};
use crate::dispatch::pool::Task;
use crate::event_stream::LifecycleEvent;

/// Turns run in one step at most: a bound against a behavior that sends itself messages
/// through an adapter forever (each step otherwise runs until the actor is idle).
const MAX_TURNS_PER_STEP: usize = 10_000;

/// What a behavior did while it handled one message or signal, besides returning its next
/// behavior. Compare with `==` ([`BehaviorTestKit::expect_effect`]); timer keys are compared
/// by their `Debug` text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Effect {
    /// `ctx.spawn(behavior, name)`.
    Spawned {
        /// The child's name.
        name: String,
    },
    /// `ctx.spawn_anonymous(behavior)`.
    SpawnedAnonymous {
        /// The generated (`$`-prefixed) name.
        name: String,
    },
    /// `ctx.stop(&child)`.
    Stopped {
        /// The child's name.
        name: String,
    },
    /// `ctx.watch(&target)`.
    Watched {
        /// The watched actor.
        path: ActorPath,
    },
    /// `ctx.unwatch(&target)`.
    Unwatched {
        /// The actor no longer watched.
        path: ActorPath,
    },
    /// A timer started: `start_single`, `start_fixed_delay` or `start_fixed_rate`.
    TimerStarted {
        /// The key's `Debug` text (see [`Effect::timer_started`]).
        key: String,
        /// The delay, or the interval of a repeating timer.
        delay: Duration,
        /// How it repeats.
        mode: TimerMode,
    },
    /// `timers.cancel(&key)`.
    TimerCancelled {
        /// The key's `Debug` text.
        key: String,
    },
    /// Nothing (more) happened: what [`BehaviorTestKit::retrieve_effect`] returns when no
    /// effect is left.
    NoEffects,
}

impl Effect {
    /// [`Effect::Spawned`] of a child named `name`.
    pub fn spawned(name: impl Into<String>) -> Self {
        Self::Spawned { name: name.into() }
    }

    /// [`Effect::TimerStarted`] with this key (any `Debug` value, as given to the timer).
    pub fn timer_started(key: impl Debug, delay: Duration, mode: TimerMode) -> Self {
        Self::TimerStarted {
            key: format!("{key:?}"),
            delay,
            mode,
        }
    }

    /// [`Effect::TimerCancelled`] with this key.
    pub fn timer_cancelled(key: impl Debug) -> Self {
        Self::TimerCancelled {
            key: format!("{key:?}"),
        }
    }
}

/// What the last handler returned (see [`BehaviorTestKit::returned`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// `Behaviors::same()` (also an object-style actor, or `ignore()`).
    Same,
    /// A new behavior.
    Changed,
    /// `Behaviors::unhandled()` (also `empty()`).
    Unhandled,
    /// `Behaviors::stopped()`, or the actor stopped itself.
    Stopped,
}

/// Why a [`BehaviorTestKit`] step did not complete: the behavior failed, as a supervisor sees
/// it (a panic, or a failure raised as a value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BehaviorFailure {
    /// The handler (or the setup it returned) failed.
    #[error(
        "the behavior failed: {reason}; its supervisor {}",
        if *.restarted { "restarted it" } else { "stopped it" }
    )]
    Failed {
        /// The failure, as the supervisor logs it.
        reason: String,
        /// Whether the supervisor restarted the actor (else it stopped).
        restarted: bool,
    },
    /// The actor has stopped: it handles nothing more. Check `is_alive()` before running it.
    #[error(
        "the behavior under test has stopped and handles nothing more; check is_alive() before \
         running it"
    )]
    NotAlive,
}

/// Collects what a manual system's actors report.
#[derive(Default)]
struct Sink {
    recorded: Mutex<Vec<(u64, RecordedEffect)>>,
}

impl EffectSink for Sink {
    fn record(&self, actor: u64, effect: RecordedEffect) {
        self.recorded.lock().push((actor, effect));
    }
}

/// Keeps the lifecycle events of the system (the failures of the actor under test).
struct EventKeeper(Arc<Mutex<Vec<LifecycleEvent>>>);

impl Recipient<LifecycleEvent> for EventKeeper {
    fn tell(&self, event: LifecycleEvent) {
        self.0.lock().push(event);
    }

    fn path(&self) -> ActorPath {
        ActorPath::new("/system/behavior-testkit-events")
    }

    fn actor(&self) -> Option<AnyActorRef> {
        None
    }
}

/// A child the behavior spawned: its typed reference, and the messages taken from it.
struct Child {
    typed: Arc<dyn Any + Send + Sync>,
    taken: Option<Box<dyn Any + Send>>,
}

/// Runs a behavior on the test's thread, one message or signal at a time, and records its
/// effects: children spawned and stopped, actors watched, timers started and cancelled,
/// messages sent (to [`TestInbox`]es), and what the handler returned — with no threads and no
/// time. Akka's `BehaviorTestKit`.
///
/// - [`run`](Self::run) hands the behavior one message; messages it sends to itself wait in
///   its [`self_inbox`](Self::self_inbox) until [`run_one`](Self::run_one) runs them.
/// - Children are created but never run: what is sent to them waits in
///   [`child_inbox`](Self::child_inbox). A child the behavior stops, and every child when the
///   behavior stops or restarts, runs to stop (what waited in its inbox becomes dead letters).
/// - A handler that panics (or raises a failure) is reported by `run` as a
///   [`BehaviorFailure`], as its supervisor sees it, not as a panic through the test.
/// - Timers do not fire by themselves; [`advance_time`](Self::advance_time) moves the kit's
///   clock and runs those that fall due.
///
/// ```
/// use reactant::prelude::*;
/// use reactant::testkit::{BehaviorTestKit, Effect, Returned};
///
/// enum Cmd { SpawnWorker(String), Stop }
///
/// let behavior: Behavior<Cmd> = Behaviors::receive(|ctx, cmd| match cmd {
///     Cmd::SpawnWorker(name) => {
///         let worker = ctx
///             .spawn(Behaviors::receive_message(|_: u32| Behaviors::same()), &name)
///             .expect("a fresh name");
///         worker.tell(7);
///         Behaviors::same()
///     }
///     Cmd::Stop => Behaviors::stopped(),
/// });
/// let mut kit = BehaviorTestKit::new(behavior);
/// kit.run(Cmd::SpawnWorker("w1".into())).expect("the handler does not fail");
/// kit.expect_effect(Effect::spawned("w1"));
/// kit.child_inbox::<u32>("w1").expect_message(7);
/// kit.run(Cmd::Stop).expect("the handler does not fail");
/// assert_eq!(kit.returned(), Some(Returned::Stopped));
/// assert!(!kit.is_alive());
/// ```
pub struct BehaviorTestKit<M: Send + 'static> {
    system: ActorSystem,
    actor: ActorRef<M>,
    cell: Arc<ActorCell<M>>,
    id: u64,
    sink: Arc<Sink>,
    events: Arc<Mutex<Vec<LifecycleEvent>>>,
    returned: Arc<Mutex<Option<Returned>>>,
    effects: VecDeque<Effect>,
    children: HashMap<String, Child>,
    self_taken: Arc<Mutex<VecDeque<M>>>,
    /// The system's other actors, taken from its queue and never run (until the kit drops).
    parked: Vec<Task>,
    /// Children the behavior stopped: the kit runs them until they have stopped, so that the
    /// behavior gets their termination and their names are free again.
    stopping: Vec<AnyActorRef>,
    /// The behavior stops or restarts and waits for its children: every actor but the test's
    /// inboxes runs until the step ends.
    run_all: bool,
    /// The test's inboxes: never run.
    inboxes: Vec<AnyActorRef>,
    failure_at_start: Option<BehaviorFailure>,
}

impl<M: Send + 'static> BehaviorTestKit<M> {
    /// Starts `behavior` (its setup runs now, on this thread). If the start failed,
    /// [`start_failure`](Self::start_failure) says why and the actor is not alive.
    pub fn new(behavior: impl Into<Behavior<M>>) -> Self {
        let sink = Arc::new(Sink::default());
        let system = match ActorSystem::builder()
            .name("testkit")
            .throughput(1)
            .manual(Some(sink.clone() as Arc<dyn EffectSink>))
            .build()
        {
            Ok(system) => system,
            Err(error) => panic!("the behavior test kit could not build its system: {error}"),
        };
        let events = Arc::new(Mutex::new(Vec::new()));
        let keeper: ActorRef<LifecycleEvent> =
            ActorRef::from_recipient(Arc::new(EventKeeper(events.clone())));
        system.event_stream().subscribe(&keeper);
        let returned = Arc::new(Mutex::new(None));
        let observed = observe(behavior.into(), &returned);
        let actor = match system.spawn(observed, "testkit") {
            Ok(actor) => actor,
            Err(error) => panic!("the behavior test kit could not spawn the behavior: {error}"),
        };
        let Some(cell) = actor.cell().cloned() else {
            unreachable!("a spawned actor's reference is its cell")
        };
        let mut kit = Self {
            system,
            id: cell.actor_id(),
            actor,
            cell,
            sink,
            events,
            returned,
            effects: VecDeque::new(),
            children: HashMap::new(),
            self_taken: Arc::new(Mutex::new(VecDeque::new())),
            parked: Vec::new(),
            stopping: Vec::new(),
            run_all: false,
            inboxes: Vec::new(),
            failure_at_start: None,
        };
        kit.failure_at_start = kit.step().err();
        kit
    }

    /// Why the behavior's start (its setup) failed, if it did.
    pub fn start_failure(&self) -> Option<&BehaviorFailure> {
        self.failure_at_start.as_ref()
    }

    /// Hands the behavior `msg` and runs its handler (and any setup it returns) now.
    ///
    /// # Errors
    ///
    /// [`BehaviorFailure::Failed`] if the handler failed; [`BehaviorFailure::NotAlive`] if
    /// the actor had stopped before (the message is then dropped).
    pub fn run(&mut self, msg: M) -> Result<(), BehaviorFailure> {
        if !self.is_alive() {
            return Err(BehaviorFailure::NotAlive);
        }
        self.take_self_messages();
        self.actor.tell(msg);
        self.step()
    }

    /// Runs the oldest message the behavior sent itself (from its
    /// [`self_inbox`](Self::self_inbox)).
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    ///
    /// # Panics
    ///
    /// If the self inbox is empty.
    #[track_caller]
    pub fn run_one(&mut self) -> Result<(), BehaviorFailure> {
        self.take_self_messages();
        let next = self.self_taken.lock().pop_front();
        match next {
            Some(msg) => self.run(msg),
            None => panic!(
                "run_one: the behavior under test has sent itself no message to run (its self \
                 inbox is empty)"
            ),
        }
    }

    /// Delivers `signal` to the behavior's signal handler now. An unhandled `Terminated` or
    /// `ChildFailed` fails the actor (the death pact), as it would in a running system.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub fn signal(&mut self, signal: Signal) -> Result<(), BehaviorFailure> {
        if !self.is_alive() {
            return Err(BehaviorFailure::NotAlive);
        }
        self.take_self_messages();
        let message = SystemMessage::Control(Control::Signal(signal));
        if ActorCell::send_system(&self.cell, message).is_err() {
            return Err(BehaviorFailure::NotAlive);
        }
        self.step()
    }

    /// Runs what reached the actor other than through its self inbox since the last step:
    /// messages sent to its message adapters, replies to its `ctx.ask`s, signals.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub fn run_pending(&mut self) -> Result<(), BehaviorFailure> {
        if !self.is_alive() {
            return Err(BehaviorFailure::NotAlive);
        }
        self.take_self_messages();
        self.step()
    }

    /// Moves the kit's clock by `by` and runs the timers that fall due (each delivers its
    /// message to the behavior, which handles it now).
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run), for the first timer message whose handling failed.
    pub fn advance_time(&mut self, by: Duration) -> Result<(), BehaviorFailure> {
        self.take_self_messages();
        self.system.core().scheduler().advance(by);
        self.step()
    }

    /// Runs the actor's queued turns (its start, a message, a signal, timer messages) until it
    /// is idle, then collects what it did. Messages it sends itself stay in its self inbox.
    fn step(&mut self) -> Result<(), BehaviorFailure> {
        self.events.lock().clear();
        *self.returned.lock() = None;
        // The first turn handles what the step is for (the message `run` just sent); before
        // any later turn, what the actor sent itself meanwhile goes to its self inbox.
        let mut first = true;
        for _ in 0..MAX_TURNS_PER_STEP {
            let mut ran = false;
            let mut tasks = std::mem::take(&mut self.parked);
            tasks.extend(self.system.core().take_runnable());
            for task in tasks {
                let is = |actor: &AnyActorRef| {
                    std::ptr::addr_eq(Arc::as_ptr(&task), Arc::as_ptr(&actor.0))
                };
                let stopping =
                    self.stopping.iter().any(is) || (self.run_all && !self.inboxes.iter().any(is));
                if self.cell.is_task(&task) {
                    if !first {
                        self.take_self_messages();
                    }
                    first = false;
                    task.run();
                    ran = true;
                } else if stopping {
                    task.run();
                    ran = true;
                } else {
                    self.parked.push(task);
                }
            }
            let run_all_before = self.run_all;
            self.collect_effects();
            if !ran && self.run_all == run_all_before {
                break;
            }
        }
        self.stopping.retain(|child| !child.is_terminated());
        self.run_all = false;
        self.take_self_messages();
        let path = self.actor.path();
        let failure = self.events.lock().iter().find_map(|event| match event {
            LifecycleEvent::Restarted { actor, failure } if *actor == path => {
                Some(BehaviorFailure::Failed {
                    reason: failure.clone(),
                    restarted: true,
                })
            }
            LifecycleEvent::Stopped {
                actor,
                failure: Some(failure),
            } if *actor == path => Some(BehaviorFailure::Failed {
                reason: failure.clone(),
                restarted: false,
            }),
            _ => None,
        });
        if failure.is_some() {
            *self.returned.lock() = None;
        } else if self.cell.is_closed() {
            // Stopped, also by `ctx.stop_self()` in a handler that returned `same()`.
            *self.returned.lock() = Some(Returned::Stopped);
        }
        failure.map_or(Ok(()), Err)
    }

    fn take_self_messages(&self) {
        let waiting = self.cell.take_waiting_messages();
        self.self_taken.lock().extend(waiting);
    }

    fn collect_effects(&mut self) {
        let recorded = std::mem::take(&mut *self.sink.recorded.lock());
        for (actor, effect) in recorded {
            if actor != self.id {
                continue;
            }
            let effect = match effect {
                RecordedEffect::Spawned { name, child, typed } => {
                    let generated = child.path().name().to_owned();
                    self.children
                        .insert(generated.clone(), Child { typed, taken: None });
                    match name {
                        Some(name) => Effect::Spawned { name },
                        None => Effect::SpawnedAnonymous { name: generated },
                    }
                }
                RecordedEffect::StoppedChild(child) => {
                    let name = child.path().name().to_owned();
                    self.stopping.push(child);
                    Effect::Stopped { name }
                }
                RecordedEffect::Watched(target) => Effect::Watched {
                    path: target.path(),
                },
                RecordedEffect::Unwatched(target) => Effect::Unwatched {
                    path: target.path(),
                },
                RecordedEffect::TimerStarted { key, delay, mode } => {
                    Effect::TimerStarted { key, delay, mode }
                }
                RecordedEffect::TimerCancelled { key } => Effect::TimerCancelled { key },
                RecordedEffect::StoppingChildren => {
                    self.run_all = true;
                    continue;
                }
            };
            self.effects.push_back(effect);
        }
    }

    /// Whether the actor still runs (it has not stopped, nor failed and been stopped).
    pub fn is_alive(&self) -> bool {
        !self.cell.is_closed()
    }

    /// What the last handler run returned; `None` if it failed (or nothing ran yet).
    pub fn returned(&self) -> Option<Returned> {
        *self.returned.lock()
    }

    /// The behavior's own reference: what it is sent waits in its self inbox.
    pub fn self_ref(&self) -> ActorRef<M> {
        self.actor.clone()
    }

    /// The messages the behavior was sent and has not handled: those it sent itself, and any
    /// sent to [`self_ref`](Self::self_ref).
    pub fn self_inbox(&self) -> TestInbox<M> {
        match TestInbox::over(self.actor.clone(), self.self_taken.clone()) {
            Some(inbox) => inbox,
            None => unreachable!("the actor's reference is its cell"),
        }
    }

    /// The messages sent to the child named `name` (spawned by the behavior; an anonymous
    /// child by its generated name, from [`Effect::SpawnedAnonymous`]).
    ///
    /// # Panics
    ///
    /// If the behavior spawned no such child, or it takes messages of another type.
    #[track_caller]
    pub fn child_inbox<N: Send + 'static>(&mut self, name: &str) -> TestInbox<N> {
        self.collect_effects();
        let Some(child) = self.children.get_mut(name) else {
            let known: Vec<&String> = self.children.keys().collect();
            panic!(
                "the behavior under test spawned no child named {name:?} (it spawned {known:?})"
            );
        };
        let Some(reference) = child.typed.downcast_ref::<ActorRef<N>>().cloned() else {
            panic!(
                "the child {name:?} does not take messages of type {}",
                std::any::type_name::<N>()
            );
        };
        let taken = child
            .taken
            .get_or_insert_with(|| Box::new(Arc::new(Mutex::new(VecDeque::<N>::new()))));
        let Some(taken) = taken.downcast_ref::<Arc<Mutex<VecDeque<N>>>>().cloned() else {
            unreachable!("the child's messages are kept with its own type")
        };
        match TestInbox::over(reference, taken) {
            Some(inbox) => inbox,
            None => unreachable!("a child's reference is its cell"),
        }
    }

    /// A new inbox for the test, named `name`: pass its [`r#ref`](TestInbox::r#ref) to the
    /// behavior as a reply-to or a collaborator, and read what the behavior sent it.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid actor name or another inbox has it.
    #[track_caller]
    pub fn inbox<N: Send + 'static>(&mut self, name: &str) -> TestInbox<N> {
        let reference = match self.system.spawn(Behaviors::ignore::<N>(), name) {
            Ok(reference) => reference,
            Err(error) => panic!("the test inbox {name:?} could not be made: {error}"),
        };
        if let Some(actor) = reference.to_any() {
            self.inboxes.push(actor);
        }
        match TestInbox::over(reference, Arc::new(Mutex::new(VecDeque::new()))) {
            Some(inbox) => inbox,
            None => unreachable!("a spawned actor's reference is its cell"),
        }
    }

    /// Takes the oldest effect not yet taken; [`Effect::NoEffects`] if none is left.
    pub fn retrieve_effect(&mut self) -> Effect {
        self.collect_effects();
        self.effects.pop_front().unwrap_or(Effect::NoEffects)
    }

    /// Takes every effect not yet taken, oldest first.
    pub fn retrieve_all_effects(&mut self) -> Vec<Effect> {
        self.collect_effects();
        self.effects.drain(..).collect()
    }

    /// Same as [`retrieve_all_effects`](Self::retrieve_all_effects).
    pub fn effects(&mut self) -> Vec<Effect> {
        self.retrieve_all_effects()
    }

    /// Whether an effect waits to be taken.
    pub fn has_effects(&mut self) -> bool {
        self.collect_effects();
        !self.effects.is_empty()
    }

    /// Takes the oldest effect and checks that it is `expected` (`Effect::NoEffects`: that
    /// none is left).
    ///
    /// # Panics
    ///
    /// If it is another (the message names both, and what else waits).
    #[track_caller]
    pub fn expect_effect(&mut self, expected: Effect) {
        let actual = self.retrieve_effect();
        if actual != expected {
            let rest: Vec<Effect> = self.effects.iter().cloned().collect();
            panic!(
                "expected the effect {expected:?}, but the next one is {actual:?} (then {rest:?})"
            );
        }
    }

    /// Takes the oldest effect and checks it with `check` (for effects whose details do not
    /// matter: `|e| matches!(e, Effect::TimerStarted { .. })`). Returns it.
    ///
    /// # Panics
    ///
    /// If `check` says false (the message names `what` and the effect).
    #[track_caller]
    pub fn expect_effect_matching(
        &mut self,
        what: &str,
        check: impl FnOnce(&Effect) -> bool,
    ) -> Effect {
        let actual = self.retrieve_effect();
        if !check(&actual) {
            panic!("expected an effect that is {what}, but the next one is {actual:?}");
        }
        actual
    }
}

impl<M: Send + 'static> Drop for BehaviorTestKit<M> {
    fn drop(&mut self) {
        // Stop every actor (the children start only to stop), running them here, so that the
        // system's own shutdown finds them stopped instead of waiting for its timeout.
        self.system.begin_shutdown();
        let mut pending = std::mem::take(&mut self.parked);
        for _ in 0..MAX_TURNS_PER_STEP {
            pending.extend(self.system.core().take_runnable());
            if pending.is_empty() || self.system.is_terminated() {
                break;
            }
            for task in pending.drain(..) {
                task.run();
            }
        }
    }
}

impl<M: Send + 'static> Debug for BehaviorTestKit<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BehaviorTestKit")
            .field("alive", &self.is_alive())
            .field("effects", &self.effects)
            .finish_non_exhaustive()
    }
}

/// Wraps a behavior so that what its handlers return is noted in `slot`, at every level
/// (setup, supervision, each behavior a handler returns).
fn observe<M: Send + 'static>(
    behavior: Behavior<M>,
    slot: &Arc<Mutex<Option<Returned>>>,
) -> Behavior<M> {
    let kind = match behavior.kind {
        Kind::Receive(inner) => Kind::Receive(Arc::new(Observed {
            inner,
            slot: slot.clone(),
        })),
        Kind::Setup(setup) => {
            let slot = slot.clone();
            Kind::Setup(Arc::new(move |ctx: &mut Context<M>| {
                observe(setup(ctx), &slot)
            }))
        }
        Kind::Supervise(supervised) => {
            let (inner, strategy) = *supervised;
            Kind::Supervise(Box::new((observe(inner, slot), strategy)))
        }
        Kind::Fronted(make) => {
            let slot = slot.clone();
            crate::actor::map_fronted(make, move |inner| observe(inner, &slot))
        }
        other => other,
    };
    Behavior::from_kind(kind)
}

struct Observed<M: Send + 'static> {
    inner: Arc<dyn Receive<M>>,
    slot: Arc<Mutex<Option<Returned>>>,
}

impl<M: Send + 'static> Observed<M> {
    fn note(&self, next: Behavior<M>, runtime_signal: bool) -> Behavior<M> {
        let returned = match &next.kind {
            Kind::Same | Kind::Ignore => Returned::Same,
            Kind::Unhandled | Kind::Empty => Returned::Unhandled,
            Kind::Stopped => Returned::Stopped,
            _ => Returned::Changed,
        };
        let mut slot = self.slot.lock();
        // `PostStop` and `PreRestart` come from the runtime after the handler that stopped or
        // failed: what that handler returned is the answer.
        if !(runtime_signal && slot.is_some()) {
            *slot = Some(returned);
        }
        drop(slot);
        observe(next, &self.slot)
    }
}

impl<M: Send + 'static> Receive<M> for Observed<M> {
    fn on_message(&self, ctx: &mut Context<M>, msg: M) -> Behavior<M> {
        let next = self.inner.on_message(ctx, msg);
        self.note(next, false)
    }

    fn on_signal(&self, ctx: &mut Context<M>, signal: &Signal) -> Option<Behavior<M>> {
        let next = self.inner.on_signal(ctx, signal)?;
        let runtime_signal = matches!(signal, Signal::PostStop | Signal::PreRestart);
        Some(self.note(next, runtime_signal))
    }
}
