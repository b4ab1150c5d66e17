//! The actor's view of itself and the system while it handles a message: its own reference,
//! children, watches, timers, stash, adapters and non-blocking asks.
//!
//! Slightly over 600 lines: `Context` is one type whose methods are the actor's whole API (each
//! short, most documented with an example), and the testkit's recording of effects sits beside the
//! calls it records.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::actor_ref::{ActorRef, AnyActorRef, Children, MessageAdapter};
use super::behavior::Behavior;
use super::cell::{
    ActorCell, CellControl, Control, InternalFn, LeftoversFn, Supervised, SystemMessage, new_child,
};
use super::front::spawned_ref;
use super::lifecycle::Lifecycle;
use super::path::ActorPath;
use super::signal::Signal;
use super::stash::StashBuffer;
use super::system::Props;
use crate::ask::{AskAbout, AskCallback};
use crate::error::{AskError, SpawnError, StopError};
use crate::supervision::{ActorFailure, Escalation};
use crate::timers::{TimerTarget, Timers};

/// Everything an actor can do besides handling its message. Handlers get `&mut Context<M>`.
///
/// ```
/// use reactant::prelude::*;
///
/// enum Parent { Spawned(ActorRef<String>) }
///
/// let behavior: Behavior<Parent> = Behaviors::setup(|ctx| {
///     let child = ctx
///         .spawn(Behaviors::receive_message(|_: String| Behaviors::same()), "child")
///         .expect("a fresh actor has no child of that name");
///     ctx.watch(&child);
///     Behaviors::receive(|_ctx, Parent::Spawned(_)| Behaviors::same())
/// });
/// # drop(behavior);
/// ```
pub struct Context<M: Send + 'static> {
    cell: Weak<ActorCell<M>>,
    extras: Option<Box<Extras<M>>>,
    /// Where the actor is in its life: kept here, packed beside the words above, so that an
    /// idle actor stays one small allocation; only the cell moves it on.
    pub(super) lifecycle: Lifecycle,
    /// A failure was raised as a value ([`Context::raise`]) by the code that just ran; the cell
    /// hands it to the supervisor once that code returns.
    pub(crate) raised: bool,
}

/// What most actors never use, kept out of line so an idle actor stays small.
struct Extras<M: Send + 'static> {
    children: Children,
    child_names: HashMap<String, AnyActorRef>,
    supervision: Option<Supervised<M>>,
    watching: HashMap<u64, AnyActorRef>,
    watchers: Vec<AnyActorRef>,
    timers: Option<Timers<M>>,
    stash: Option<StashBuffer<M>>,
    /// Why the actor is stopping, for its parent.
    failure: Option<ActorFailure>,
    /// The failure raised as a value, until the cell takes it.
    raised: Option<ActorFailure>,
    /// Signals that arrived while the actor was restarting, for the next incarnation.
    deferred_signals: Vec<Signal>,
    /// Messages the actor handed back to the runtime (an entity's held commands when it
    /// restarts or stops): the next incarnation gets them first, or they become dead letters.
    handed_back: VecDeque<M>,
    /// Where the messages it never handled go when it stops (see [`LeftoversFn`]), instead of
    /// dead letters.
    leftovers: Option<LeftoversFn<M>>,
}

impl<M: Send + 'static> Context<M> {
    pub(crate) fn new(cell: Weak<ActorCell<M>>, lifecycle: Lifecycle) -> Self {
        Self {
            cell,
            extras: None,
            lifecycle,
            raised: false,
        }
    }

    fn cell(&self) -> Arc<ActorCell<M>> {
        // A context is only reachable from inside its actor's turn, while the worker running
        // that turn holds the cell: the upgrade cannot fail.
        self.cell
            .upgrade()
            .expect("a context is used only while its actor runs")
    }

    fn extras(&mut self) -> &mut Extras<M> {
        self.extras.get_or_insert_with(|| {
            Box::new(Extras {
                children: Children::default(),
                child_names: HashMap::new(),
                supervision: None,
                watching: HashMap::new(),
                watchers: Vec::new(),
                timers: None,
                stash: None,
                failure: None,
                raised: None,
                deferred_signals: Vec::new(),
                handed_back: VecDeque::new(),
                leftovers: None,
            })
        })
    }

    /// This actor's own reference.
    pub fn self_ref(&self) -> ActorRef<M> {
        ActorRef::from_cell(self.cell())
    }

    /// This actor's path.
    pub fn path(&self) -> ActorPath {
        self.cell().path()
    }

    /// Spawns a named child. Children stop before their parent.
    pub fn spawn<N: Send + 'static>(
        &mut self,
        behavior: impl Into<Behavior<N>>,
        name: &str,
    ) -> Result<ActorRef<N>, SpawnError> {
        self.spawn_child(behavior.into(), Some(name), &Props::default(), None)
    }

    /// Spawns a child with a generated `$`-name.
    pub fn spawn_anonymous<N: Send + 'static>(
        &mut self,
        behavior: impl Into<Behavior<N>>,
    ) -> Result<ActorRef<N>, SpawnError> {
        self.spawn_child(behavior.into(), None, &Props::default(), None)
    }

    /// Spawns a child with [`Props`] (e.g. on another dispatcher); `name: None` for an anonymous
    /// child.
    pub fn spawn_with<N: Send + 'static>(
        &mut self,
        behavior: impl Into<Behavior<N>>,
        name: Option<&str>,
        props: &Props,
    ) -> Result<ActorRef<N>, SpawnError> {
        self.spawn_child(behavior.into(), name, props, None)
    }

    /// Spawns a child; `leftovers` takes the messages it never handled when it stops (see
    /// [`LeftoversFn`]).
    pub(crate) fn spawn_child<N: Send + 'static>(
        &mut self,
        behavior: Behavior<N>,
        name: Option<&str>,
        props: &Props,
        leftovers: Option<LeftoversFn<N>>,
    ) -> Result<ActorRef<N>, SpawnError> {
        let me = self.cell();
        if self.lifecycle.is_ending() {
            return Err(SpawnError::ParentStopping { parent: me.path() });
        }
        let core = me.system().clone();
        #[cfg(feature = "testkit")]
        let my_id = me.id();
        let taken = |name: &str| {
            self.extras
                .as_ref()
                .is_some_and(|e| e.child_names.contains_key(name))
        };
        let (behavior, front) = behavior.take_front();
        let cell = new_child(&core, me, name, taken, behavior, props, leftovers)?;
        let extras = self.extras();
        let child = AnyActorRef(cell.clone());
        if let Some(name) = CellControl::name(&*cell) {
            extras.child_names.insert(name.to_owned(), child.clone());
        }
        extras.children.insert(child);
        let spawned = spawned_ref(ActorRef::from_cell(cell.clone()), front);
        #[cfg(feature = "testkit")]
        if let Some(sink) = core.effect_sink() {
            sink.record(
                my_id,
                super::RecordedEffect::Spawned {
                    name: name.map(str::to_owned),
                    child: AnyActorRef(cell),
                    typed: Arc::new(spawned.clone()),
                },
            );
        }
        Ok(spawned)
    }

    /// Reports what this actor did to its system's effect sink, if it has one (a test system):
    /// one `None` check otherwise.
    #[cfg(feature = "testkit")]
    #[inline]
    fn record(me: &ActorCell<M>, effect: impl FnOnce() -> super::RecordedEffect) {
        if let Some(sink) = me.system().effect_sink() {
            sink.record(me.id(), effect());
        }
    }

    /// The live children of this actor.
    pub fn children(&self) -> Vec<AnyActorRef> {
        self.extras
            .as_ref()
            .map(|e| e.children.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The live child with this name, if any.
    pub fn child(&self, name: &str) -> Option<AnyActorRef> {
        self.extras.as_ref()?.child_names.get(name).cloned()
    }

    /// Stops a child (its own children first). Only children can be stopped this way; an actor
    /// stops itself by returning `Behaviors::stopped()` or calling [`stop_self`](Self::stop_self).
    pub fn stop<N: Send + 'static>(&mut self, child: &ActorRef<N>) -> Result<(), StopError> {
        let target = child.to_any();
        let is_child = target.as_ref().is_some_and(|target| {
            self.extras
                .as_ref()
                .is_some_and(|e| e.children.contains(target))
        });
        match target {
            Some(target) if is_child => {
                #[cfg(feature = "testkit")]
                Self::record(&self.cell(), || {
                    super::RecordedEffect::StoppedChild(target.clone())
                });
                let _ = target.0.send_control(Control::Stop);
                Ok(())
            }
            _ => Err(StopError::NotAChild(child.path())),
        }
    }

    /// Stops this actor once the current handler returns (for object-style actors; functional
    /// behaviors return `Behaviors::stopped()`).
    pub fn stop_self(&mut self) {
        self.lifecycle.request_stop();
    }

    /// Watches another actor: when it stops, this actor receives `Signal::Terminated` (or
    /// `Signal::ChildFailed` for a child that failed). Watching a stopped actor signals at once.
    pub fn watch<N: Send + 'static>(&mut self, target: &ActorRef<N>) {
        let Some(target) = target.to_any() else {
            return;
        };
        let me = self.cell();
        if target.id() == me.id() {
            return;
        }
        #[cfg(feature = "testkit")]
        Self::record(&me, || super::RecordedEffect::Watched(target.clone()));
        self.extras().watching.insert(target.id(), target.clone());
        let watcher = AnyActorRef(me.clone());
        if target
            .0
            .clone()
            .send_control(Control::Watch(watcher))
            .is_err()
        {
            // Already stopped: the signal comes as if it had just happened.
            let _ = (me as Arc<dyn CellControl>).send_control(Control::Terminated(target));
        }
    }

    /// Stops watching; no `Terminated` for that actor will be delivered after this.
    pub fn unwatch<N: Send + 'static>(&mut self, target: &ActorRef<N>) {
        let Some(target) = target.to_any() else {
            return;
        };
        let me = self.cell();
        #[cfg(feature = "testkit")]
        Self::record(&me, || super::RecordedEffect::Unwatched(target.clone()));
        if let Some(extras) = self.extras.as_mut()
            && extras.watching.remove(&target.id()).is_some()
        {
            let _ = target.0.send_control(Control::Unwatch(me.id()));
        }
    }

    /// A reference that accepts `N` and delivers `adapt(n)` to this actor: how an actor takes
    /// replies or events of another protocol. `adapt` runs in this actor's turn (a panic in it
    /// is this actor's failure), ahead of the user messages waiting in its mailbox.
    pub fn message_adapter<N, F>(&self, adapt: F) -> ActorRef<N>
    where
        N: Send + 'static,
        F: Fn(N) -> M + Send + Sync + 'static,
    {
        ActorRef::from_recipient(Arc::new(MessageAdapter {
            target: self.self_ref(),
            adapt: Arc::new(adapt),
        }))
    }

    /// Asks `target` without blocking: the reply, or the timeout, arrives as this actor's own
    /// message `map_result(outcome)`. Exactly one such message arrives per ask. For a reply
    /// asked another way (an `#[actor]` ref's method, an entity's `ask`), use
    /// [`Pending::pipe_to`](crate::ask::Pending::pipe_to), which delivers it the same way.
    pub fn ask<Req, Res, F, G>(
        &mut self,
        target: &ActorRef<Req>,
        make_request: F,
        timeout: Duration,
        map_result: G,
    ) where
        Req: Send + 'static,
        Res: Send + 'static,
        F: FnOnce(ActorRef<Res>) -> Req,
        G: FnOnce(Result<Res, AskError>) -> M + Send + 'static,
    {
        let me = self.cell();
        let reply_to = AskCallback::start(
            ActorRef::from_cell(me.clone()),
            AskAbout::of::<Req, Res>(target),
            timeout,
            me.system().scheduler(),
            Box::new(map_result),
        );
        target.tell(make_request(reply_to));
    }

    /// This actor's timers.
    pub fn timers(&mut self) -> &Timers<M> {
        let target: Weak<dyn TimerTarget<M>> = self.cell.clone();
        let me = self.cell();
        let scheduler = me.system().scheduler();
        #[cfg(feature = "testkit")]
        let recording = me.system().effect_sink().map(|sink| super::TimerRecording {
            actor: me.id(),
            sink: sink.clone(),
        });
        self.extras().timers.get_or_insert_with(|| {
            #[cfg(feature = "testkit")]
            if let Some(recording) = recording {
                return Timers::recorded(target, scheduler, Arc::new(recording));
            }
            Timers::new(target, scheduler)
        })
    }

    /// This actor's stash, created with `capacity` on first use (later calls return the same
    /// stash, whatever capacity they name).
    pub fn stash_buffer(&mut self, capacity: usize) -> StashBuffer<M> {
        self.extras()
            .stash
            .get_or_insert_with(|| StashBuffer::new(capacity))
            .clone()
    }

    // ----- used by the cell and runtime extensions -----

    /// The system's extension `T`, made with `make` where it does not exist yet (an actor
    /// has no `ActorSystem` at hand to create it the usual way).
    pub(crate) fn extension_or_make<T: super::Extension>(
        &self,
        make: impl FnOnce() -> T,
    ) -> Arc<T> {
        self.cell().system().extension_or_make(make)
    }

    /// The system's scheduler (for the timeout of a `Pending::pipe_to`).
    pub(crate) fn scheduler(&self) -> crate::timers::SchedulerHandle {
        self.cell().system().scheduler()
    }

    /// A handle that runs closures inside this actor's turns, from any thread (see
    /// [`InternalFn`]).
    pub(crate) fn internal_sender(&self) -> InternalSender<M> {
        InternalSender { cell: self.cell() }
    }

    pub(crate) fn live_timers(&self) -> Option<&Timers<M>> {
        self.extras.as_ref()?.timers.as_ref()
    }

    pub(crate) fn cancel_timers(&self) {
        if let Some(timers) = self.live_timers() {
            timers.cancel_all();
        }
    }

    /// Messages released by `unstash_all` in the handler that just returned.
    #[inline]
    pub(crate) fn take_unstashed(&self) -> Option<VecDeque<M>> {
        self.extras.as_ref()?.stash.as_ref()?.take_unstashed()
    }

    /// What the actor set aside and did not handle: messages it handed back, oldest first,
    /// then its stash. For the next incarnation after a restart, or for dead letters.
    pub(crate) fn drain_stash(&mut self) -> VecDeque<M> {
        let Some(extras) = self.extras.as_mut() else {
            return VecDeque::new();
        };
        let mut drained = std::mem::take(&mut extras.handed_back);
        if let Some(stash) = extras.stash.as_ref() {
            drained.append(&mut stash.drain());
        }
        drained
    }

    /// Keeps a signal that arrived while the actor restarts, for the next incarnation.
    pub(crate) fn defer_signal(&mut self, signal: Signal) {
        self.extras().deferred_signals.push(signal);
    }

    /// The signals kept while the actor restarted, oldest first.
    pub(crate) fn take_deferred_signals(&mut self) -> Vec<Signal> {
        self.extras
            .as_mut()
            .map(|e| std::mem::take(&mut e.deferred_signals))
            .unwrap_or_default()
    }

    /// Sends the messages this actor never handled, when it stops, to `keep` (see
    /// [`LeftoversFn`]).
    pub(crate) fn keep_leftovers_with(&mut self, keep: LeftoversFn<M>) {
        self.extras().leftovers = Some(keep);
    }

    pub(crate) fn take_leftovers_keeper(&mut self) -> Option<LeftoversFn<M>> {
        self.extras.as_mut()?.leftovers.take()
    }

    /// Fails the actor with `failure` once the code running now returns: a failure as a
    /// value rather than an unwind. The first failure raised in a turn counts.
    pub(crate) fn raise(&mut self, failure: ActorFailure) {
        self.raised = true;
        let slot = &mut self.extras().raised;
        if slot.is_none() {
            *slot = Some(failure);
        }
    }

    /// The failure raised by the code that just ran, if any.
    #[inline]
    pub(crate) fn take_raised(&mut self) -> Option<ActorFailure> {
        if !self.raised {
            return None;
        }
        self.raised = false;
        self.extras.as_mut()?.raised.take()
    }

    /// Hands messages the actor took but did not handle back to the runtime, before anything
    /// handed back earlier is taken: called from `pre_restart` they go to the next incarnation
    /// first (in order), from `post_stop` to dead letters.
    pub(crate) fn hand_back(&mut self, messages: impl IntoIterator<Item = M>) {
        self.extras().handed_back.extend(messages);
    }

    /// Whether [`stop_self`](Self::stop_self) was called by the code running now.
    #[inline]
    pub(crate) fn stop_requested(&self) -> bool {
        self.lifecycle.stop_requested()
    }

    /// Whether the actor holds work of its own that a passivation must wait for (an
    /// event-sourced entity recovering, persisting, or holding commands): a
    /// [`stop_when_idle`](AnyActorRef::stop_when_idle) waits while it is set.
    #[inline]
    pub(crate) fn set_busy(&mut self, busy: bool) {
        self.lifecycle.set_busy(busy);
    }

    /// Records a message this actor could not keep as a dead letter.
    pub(crate) fn dead_letter<T>(&self, message: T, reason: crate::dead_letters::DeadLetterReason) {
        let cell = self.cell();
        cell.system()
            .dead_letters()
            .publish(|| cell.path(), message, reason);
    }

    /// Records that this actor did not handle a message it consumed.
    pub(crate) fn publish_unhandled(&self) {
        let cell = self.cell();
        cell.system()
            .dead_letters()
            .publish_unhandled::<M>(|| cell.path());
    }

    /// Runs `f` inside this actor's turn after `delay` (dropped if the actor has terminated).
    pub(crate) fn schedule_internal(&self, delay: Duration, f: InternalFn<M>) {
        let cell = Arc::downgrade(&self.cell());
        self.cell()
            .system()
            .scheduler()
            .schedule_once(delay, move || {
                if let Some(cell) = cell.upgrade() {
                    let _ = ActorCell::send_system(&cell, SystemMessage::Internal(f));
                }
            });
    }

    pub(crate) fn has_children(&self) -> bool {
        self.extras.as_ref().is_some_and(|e| !e.children.is_empty())
    }

    pub(crate) fn stop_all_children(&self) {
        #[cfg(feature = "testkit")]
        if self.has_children() {
            Self::record(&self.cell(), || super::RecordedEffect::StoppingChildren);
        }
        if let Some(extras) = self.extras.as_ref() {
            for child in extras.children.iter() {
                let _ = child.0.clone().send_control(Control::Stop);
            }
        }
    }

    /// Forgets a terminated child; true if this actor was watching it.
    pub(crate) fn remove_child(&mut self, child: &AnyActorRef) -> bool {
        let Some(extras) = self.extras.as_mut() else {
            return false;
        };
        extras.children.remove(child);
        if let Some(name) = child.0.name()
            && extras.child_names.get(name) == Some(child)
        {
            // Names stay reserved until the child has terminated: the entry is this child's.
            extras.child_names.remove(name);
        }
        extras.watching.remove(&child.id()).is_some()
    }

    /// Forgets a watched actor that terminated; true if it was still watched.
    pub(crate) fn stop_watching(&mut self, id: u64) -> bool {
        self.extras
            .as_mut()
            .is_some_and(|e| e.watching.remove(&id).is_some())
    }

    pub(crate) fn add_watcher(&mut self, watcher: AnyActorRef) {
        let watchers = &mut self.extras().watchers;
        if !watchers.contains(&watcher) {
            watchers.push(watcher);
        }
    }

    pub(crate) fn remove_watcher(&mut self, id: u64) {
        if let Some(extras) = self.extras.as_mut() {
            extras.watchers.retain(|w| w.id() != id);
        }
    }

    /// Tells every actor this one watches that it no longer does (it is terminating), so they
    /// do not keep a reference to it.
    pub(crate) fn unwatch_all(&mut self, my_id: u64) {
        if let Some(extras) = self.extras.as_mut() {
            for (_, watched) in extras.watching.drain() {
                let _ = watched.0.send_control(Control::Unwatch(my_id));
            }
        }
    }

    pub(crate) fn take_watchers(&mut self) -> Vec<AnyActorRef> {
        self.extras
            .as_mut()
            .map(|e| std::mem::take(&mut e.watchers))
            .unwrap_or_default()
    }

    pub(crate) fn supervision(&self) -> Option<&Supervised<M>> {
        self.extras.as_ref()?.supervision.as_ref()
    }

    pub(crate) fn supervision_mut(&mut self) -> Option<&mut Supervised<M>> {
        self.extras.as_mut()?.supervision.as_mut()
    }

    pub(crate) fn set_supervision(&mut self, supervision: Supervised<M>) {
        self.extras().supervision = Some(supervision);
    }

    pub(crate) fn set_failure(&mut self, failure: ActorFailure) {
        let extras = self.extras();
        if extras.failure.is_none() {
            extras.failure = Some(failure);
        }
    }

    /// The actor stops of a failure that must not be retried with the same messages: its start
    /// failed, or the failure stops it whatever the strategy (an entity's failed recovery).
    pub(crate) fn stops_for_good(&self) -> bool {
        !self.lifecycle.has_started()
            || self
                .extras
                .as_ref()
                .and_then(|e| e.failure.as_ref())
                .is_some_and(|failure| failure.escalation() == Escalation::Stop)
    }

    pub(crate) fn take_failure(&mut self) -> Option<ActorFailure> {
        self.extras.as_mut()?.failure.take()
    }

    /// Drops everything the actor held (timers, stash, children's refs): it has terminated.
    pub(crate) fn clear(&mut self) {
        self.extras = None;
    }
}

/// Runs closures inside an actor's turns; see [`Context::internal_sender`].
pub(crate) struct InternalSender<M: Send + 'static> {
    cell: Arc<ActorCell<M>>,
}

impl<M: Send + 'static> Clone for InternalSender<M> {
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
        }
    }
}

impl<M: Send + 'static> InternalSender<M> {
    /// Queues `f` as a system message; dropped if the actor has terminated.
    pub(crate) fn send(&self, f: InternalFn<M>) {
        let _ = ActorCell::send_system(&self.cell, SystemMessage::Internal(f));
    }
}
