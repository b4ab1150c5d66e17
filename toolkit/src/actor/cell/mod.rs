//! The actor cell: an actor's mailbox, its current behavior and the lifecycle that runs it.
//!
//! A worker runs a cell for one *turn*: system messages first, then at most `throughput` user
//! messages, then the mailbox decides whether the actor goes idle or back to the end of the
//! queue. Everything the actor owns (behavior, context, held messages) is touched only by the
//! worker that holds the actor's schedule (see the `Sync` impl below for how that right passes
//! from one worker to the next), so the state needs no lock of its own.
//!
//! The actor's phase and its transitions are documented in one table, in `actor::lifecycle`;
//! the files here move the actor through them, one concern each:
//!
//! - this file: the cell, its state, creating it (`new_child`) and sending to it;
//! - [`message`]: control and system messages, and the untyped view of a cell;
//! - [`turn`]: the message path: a turn, handling a message, applying the next behavior;
//! - [`supervise`]: a failure handed to the supervisor strategy, and restarts;
//! - [`signals`]: signals to the behavior, and the death pact;
//! - [`stop`]: stopping, and what happens to what the actor never handled.

mod message;
mod signals;
mod stop;
mod supervise;
#[cfg(feature = "testkit")]
mod testing;
mod turn;

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::Arc;

pub(crate) use message::{AdaptFn, CellControl, Control, InternalFn, LeftoversFn, SystemMessage};
pub(crate) use supervise::Supervised;

use super::behavior::Behavior;
use super::context::Context;
use super::lifecycle::Lifecycle;
use super::path::{ActorPath, anonymous_name, validate_name};
use super::system::{Props, SystemCore};
use crate::dead_letters::DeadLetterReason;
use crate::dispatch::Dispatcher;
use crate::dispatch::mailbox::Mailbox;
use crate::error::SpawnError;
use crate::event_stream::LifecycleEvent;
use crate::timers::{TimerKey, TimerTarget};

/// What only the worker running the actor touches. Kept small: an idle actor's whole footprint
/// is this, its mailbox and a few words (see `benches/README.md`).
pub(crate) struct ActorState<M: Send + 'static> {
    behavior: Behavior<M>,
    /// User messages taken out of the mailbox but not handled yet.
    held: Held<M>,
    /// Also holds the [`Lifecycle`] and, out of line, the supervision state: packed there so
    /// an idle actor stays one small allocation.
    ctx: Context<M>,
}

/// A lazily allocated queue: actors that never received a message do not pay for one.
#[allow(
    clippy::box_collection,
    reason = "one word instead of four in every idle actor"
)]
struct Held<M>(Option<Box<VecDeque<M>>>);

impl<M> Held<M> {
    #[inline]
    fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|queue| queue.is_empty())
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |queue| queue.len())
    }

    #[inline]
    fn pop_front(&mut self) -> Option<M> {
        self.0.as_mut()?.pop_front()
    }

    #[inline]
    fn queue(&mut self) -> &mut VecDeque<M> {
        self.0.get_or_insert_with(Box::default)
    }

    fn take_all(&mut self) -> VecDeque<M> {
        self.0.take().map(|queue| *queue).unwrap_or_default()
    }

    /// Puts `front` before what is held, keeping both orders.
    fn prepend(&mut self, mut front: VecDeque<M>) {
        if front.is_empty() {
            return;
        }
        let queue = self.queue();
        front.append(queue);
        *queue = front;
    }
}

/// One actor.
pub(crate) struct ActorCell<M: Send + 'static> {
    mailbox: Mailbox<M, SystemMessage<M>>,
    /// Touched only by the worker holding the schedule (and by `create`, before the cell is
    /// shared).
    state: UnsafeCell<ActorState<M>>,
    id: u64,
    /// `None` for an anonymous actor. One word: the name is read only to build paths.
    name: Option<Arc<String>>,
    parent: Arc<dyn CellControl>,
    system: Arc<SystemCore>,
    dispatcher: Arc<Dispatcher>,
}

impl<M: Send + 'static> ActorCell<M> {
    /// Creates an actor and, if its behavior runs code at start, schedules its first turn,
    /// which starts it.
    pub(crate) fn create(
        system: &Arc<SystemCore>,
        parent: Arc<dyn CellControl>,
        id: u64,
        name: Option<Arc<String>>,
        behavior: Behavior<M>,
        dispatcher: Arc<Dispatcher>,
        leftovers: Option<LeftoversFn<M>>,
    ) -> Arc<Self> {
        let needs_start = behavior.needs_start();
        let cell = Arc::new_cyclic(|weak| {
            let mut ctx = Context::new(weak.clone(), Lifecycle::new(needs_start));
            if let Some(leftovers) = leftovers {
                ctx.keep_leftovers_with(leftovers);
            }
            Self {
                // An actor that must start is created holding its schedule, and handed to the
                // dispatcher below: its first turn starts it, before any message.
                mailbox: if needs_start {
                    Mailbox::new_scheduled()
                } else {
                    Mailbox::new()
                },
                state: UnsafeCell::new(ActorState {
                    behavior,
                    held: Held(None),
                    ctx,
                }),
                id,
                name,
                parent,
                system: system.clone(),
                dispatcher,
            }
        });
        if system.event_stream().wants::<LifecycleEvent>() {
            system
                .event_stream()
                .publish(LifecycleEvent::Spawned(cell.path()));
        }
        if needs_start {
            cell.dispatcher.schedule(cell.clone());
        }
        cell
    }

    pub(crate) fn system(&self) -> &Arc<SystemCore> {
        &self.system
    }

    /// The dispatcher this actor's turns run on.
    pub(crate) fn dispatcher(&self) -> &Arc<Dispatcher> {
        &self.dispatcher
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.mailbox.is_closed()
    }

    pub(crate) fn path(&self) -> ActorPath {
        let parent = self.parent.path();
        match &self.name {
            Some(name) => parent.child(name.as_str()),
            None => parent.child(&anonymous_name(self.id)),
        }
    }

    /// Enqueues a user message; schedules the actor if it was idle.
    #[inline(never)]
    pub(crate) fn tell(this: &Arc<Self>, msg: M) {
        match this.mailbox.push_user(msg) {
            Ok(true) => this.dispatcher.schedule_cell(this),
            Ok(false) => {}
            Err(msg) => this.system.dead_letters().publish(
                || this.path(),
                msg,
                DeadLetterReason::RecipientStopped,
            ),
        }
    }

    /// Enqueues a user message, or hands it back if the actor takes no more.
    #[inline(never)]
    pub(crate) fn try_tell(this: &Arc<Self>, msg: M) -> Result<(), M> {
        let pushed = this.mailbox.push_user(msg);
        Self::schedule_if_idle(this, pushed)
    }

    /// Enqueues the last user message the actor accepts (a stop message), or hands it back.
    pub(crate) fn tell_last(this: &Arc<Self>, msg: M) -> Result<(), M> {
        let pushed = this.mailbox.push_user_last(msg);
        Self::schedule_if_idle(this, pushed)
    }

    /// After a push: hands an actor the push found idle to its dispatcher.
    #[inline]
    fn schedule_if_idle(this: &Arc<Self>, pushed: Result<bool, M>) -> Result<(), M> {
        if pushed? {
            this.dispatcher.schedule_cell(this);
        }
        Ok(())
    }

    pub(crate) fn send_system(
        this: &Arc<Self>,
        msg: SystemMessage<M>,
    ) -> Result<(), SystemMessage<M>> {
        match this.mailbox.push_system(msg) {
            Ok(true) => {
                this.dispatcher.schedule_cell(this);
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(msg) => Err(msg),
        }
    }

    /// Delivers a message to map in the actor's turn (see [`AdaptFn`]); a dead letter if the
    /// actor has terminated.
    pub(crate) fn tell_adapted(this: &Arc<Self>, adapt: AdaptFn<M>) {
        if let Err(msg) = Self::send_system(this, SystemMessage::Adapted(adapt)) {
            this.after_close(msg);
        }
    }
}

/// Checks a child's name and dispatcher, then creates it under `parent`. `taken` says whether
/// a live sibling already has the name.
pub(crate) fn new_child<N: Send + 'static>(
    core: &Arc<SystemCore>,
    parent: Arc<dyn CellControl>,
    name: Option<&str>,
    taken: impl FnOnce(&str) -> bool,
    behavior: Behavior<N>,
    props: &Props,
    leftovers: Option<LeftoversFn<N>>,
) -> Result<Arc<ActorCell<N>>, SpawnError> {
    let dispatcher = core.dispatcher(props.dispatcher_name())?;
    let name = match name {
        Some(name) => {
            validate_name(name).map_err(|reason| SpawnError::InvalidName {
                name: name.to_owned(),
                reason,
            })?;
            if taken(name) {
                return Err(SpawnError::NameTaken {
                    name: name.to_owned(),
                    parent: parent.path(),
                });
            }
            Some(Arc::new(name.to_owned()))
        }
        None => None,
    };
    let id = core.next_actor_id();
    Ok(ActorCell::create(
        core, parent, id, name, behavior, dispatcher, leftovers,
    ))
}

// SAFETY: every field is `Sync` but `state`, and `state` is only ever accessed by the one
// worker that holds the actor's schedule (in `Runnable::run`, `turn.rs`), or by `create`
// before the cell is shared. The schedule has one holder at a time (the mailbox's `SCHEDULED`
// bit; `create` makes an actor that must start holding it, and hands it to a dispatcher as a
// worker hands on a requeued actor), and it passes from one holder to the next in one of two
// ways, each ordering everything the first did before anything the next does:
// - Through the status word: the worker lets go in `Mailbox::try_idle`, a compare-and-swap to
//   idle with release ordering, made *without* the queue lock; the sender whose `fetch_or` in
//   `Mailbox::push_user` / `push_system` then finds the actor idle acquires it, and hands the
//   cell to a dispatcher, whose queue orders that hand-off before the next worker's turn.
// - Through the dispatcher's queues, the actor staying scheduled: a worker that yields
//   (`Dispatcher::requeue`), or whose `try_idle` failed because a message arrived, pushes the
//   cell, and the worker that pops or steals it synchronises with that push (crossbeam-deque).
// The loom models in `dispatch::mailbox` check the first hand-off with the state as a loom
// `UnsafeCell`.
unsafe impl<M: Send + 'static> Sync for ActorCell<M> {}

/// Timer messages come from the scheduler thread as system messages; `handle_system` asks the
/// actor's [`Timers`](crate::timers::Timers) whether each is still live.
impl<M: Send + 'static> TimerTarget<M> for ActorCell<M> {
    fn deliver_timer(self: Arc<Self>, key: TimerKey, generation: u64, message: M) -> bool {
        let timer = SystemMessage::Timer {
            key,
            generation,
            message,
        };
        Self::send_system(&self, timer).is_ok()
    }
}

impl<M: Send + 'static> CellControl for ActorCell<M> {
    fn id(&self) -> u64 {
        self.id
    }

    fn child_slot(&self) -> u32 {
        self.mailbox
            .owner_word()
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set_child_slot(&self, slot: u32) {
        self.mailbox
            .owner_word()
            .store(slot, std::sync::atomic::Ordering::Relaxed);
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref().map(String::as_str)
    }

    fn path(&self) -> ActorPath {
        ActorCell::path(self)
    }

    fn is_terminated(&self) -> bool {
        self.mailbox.is_closed()
    }

    fn dead_letter(
        &self,
        recipient: ActorPath,
        message_type: &'static str,
        reason: DeadLetterReason,
    ) {
        self.system
            .dead_letters()
            .publish_named(recipient, message_type, reason);
    }

    fn send_control(self: Arc<Self>, control: Control) -> Result<(), Control> {
        match Self::send_system(&self, SystemMessage::Control(control)) {
            Ok(()) => Ok(()),
            Err(SystemMessage::Control(control)) => Err(control),
            Err(
                SystemMessage::Timer { .. }
                | SystemMessage::Internal(_)
                | SystemMessage::Adapted(_),
            ) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The footprint target of an idle actor (≤ 256 bytes beyond its state, its parent's
    /// registry entry and its behavior's allocation included) leaves room for this much: with
    /// the `Arc` header, 184 bytes is one 192-byte malloc chunk.
    #[test]
    fn an_idle_actor_cell_fits_in_one_small_allocation() {
        let with_arc_header =
            std::mem::size_of::<ActorCell<u64>>() + 2 * std::mem::size_of::<usize>();
        assert!(
            with_arc_header <= 184,
            "ActorCell grew to {with_arc_header} bytes"
        );
    }
}
