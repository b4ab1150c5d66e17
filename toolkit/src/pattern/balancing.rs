//! The balancing pool: N routees that share one queue, so a slow routee never holds work that
//! another could do (Akka's `BalancingPool`).
//!
//! The router keeps the queue and the set of free routees, shared with the routees under one
//! lock. A message goes straight to a free routee if there is one, else into the queue; a
//! routee that has handled its message (or whose handler panicked) takes the next one from the
//! queue, or becomes free. Each routee therefore holds at most one message at a time.
//!
//! | event                          | queue empty                | queue not empty                    |
//! |--------------------------------|----------------------------|------------------------------------|
//! | message, a routee is free      | sent to it (`Free → Busy`) | (cannot happen: free routees drain it) |
//! | message, none free             | queued                     | queued                             |
//! | routee handled its message     | `Busy → Free`              | next message sent to it (stays `Busy`) |
//! | routee's handler panicked      | `Busy → Failed`: no work while its supervisor decides |
//! | routee restarted               | `Failed → Free`            | next message sent to it (`→ Busy`) |
//! | routee stopped or failed       | leaves (`→ Gone`)          | leaves; the others drain the queue |
//! | last routee gone               | router stops; queued messages go to dead letters |
//!
//! A routee that fails and is restarted by its supervisor stays in the pool; the message it
//! failed on is lost, as for any actor. Messages a routee had not handled when it stopped go to
//! dead letters.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::actor::{Actor, ActorRef, AnyActorRef, Behavior, Behaviors, Context, Observed, Signal};
use crate::dead_letters::DeadLetterReason;

use super::router::Factory;

/// A balancing pool's configuration; becomes a [`Behavior`] to spawn (see
/// [`Routers::balancing_pool`](super::Routers::balancing_pool)).
pub struct BalancingPool<M: Send + 'static> {
    pub(super) size: usize,
    pub(super) factory: Factory<M>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Free,
    Busy,
    /// Its handler panicked: no work until its supervisor restarts it (or it is gone).
    Failed,
    Gone,
}

struct Routee<M: Send + 'static> {
    actor: Option<ActorRef<M>>,
    slot: Slot,
}

struct Shared<M: Send + 'static> {
    queue: VecDeque<M>,
    routees: Vec<Routee<M>>,
    /// Indexes of free routees.
    free: Vec<usize>,
}

impl<M: Send + 'static> Shared<M> {
    /// What routee `at` just did.
    fn observed(&mut self, at: usize, what: Observed) {
        let Some(routee) = self.routees.get_mut(at) else {
            return;
        };
        match (what, routee.slot) {
            (Observed::Handled, Slot::Busy) | (Observed::Restarting, Slot::Busy | Slot::Failed) => {
                self.take_next(at)
            }
            (Observed::Failed, Slot::Busy) => routee.slot = Slot::Failed,
            _ => {}
        }
    }

    /// Routee `at` is ready for work: it takes the next message or becomes free.
    fn take_next(&mut self, at: usize) {
        let routee = &mut self.routees[at];
        routee.slot = Slot::Busy;
        match (self.queue.pop_front(), &routee.actor) {
            (Some(msg), Some(actor)) => actor.tell(msg),
            (None, Some(_)) => {
                routee.slot = Slot::Free;
                self.free.push(at);
            }
            (Some(msg), None) => self.queue.push_front(msg),
            (None, None) => {}
        }
    }
}

impl<M: Send + 'static> From<BalancingPool<M>> for Behavior<M> {
    fn from(pool: BalancingPool<M>) -> Self {
        let BalancingPool { size, factory } = pool;
        Behaviors::actor(move || Balancer {
            size,
            factory: factory.clone(),
            shared: Arc::new(Mutex::new(Shared {
                queue: VecDeque::new(),
                routees: Vec::with_capacity(size),
                free: Vec::with_capacity(size),
            })),
            live: 0,
        })
    }
}

struct Balancer<M: Send + 'static> {
    size: usize,
    factory: Factory<M>,
    shared: Arc<Mutex<Shared<M>>>,
    live: usize,
}

impl<M: Send + 'static> Balancer<M> {
    fn leave(&mut self, ctx: &mut Context<M>, gone: &AnyActorRef, failure: Option<&str>) {
        let mut shared = self.shared.lock();
        let Some(at) = shared
            .routees
            .iter()
            .position(|r| r.actor.as_ref().is_some_and(|a| a == gone))
        else {
            return;
        };
        shared.routees[at] = Routee {
            actor: None,
            slot: Slot::Gone,
        };
        shared.free.retain(|&free| free != at);
        self.live -= 1;
        if let Some(failure) = failure {
            tracing::warn!(
                router = %ctx.path(),
                routee = %gone.path(),
                failure,
                left = self.live,
                "a balancing pool routee failed and left the pool; supervise the routee's \
                 behavior with a restart strategy to keep the pool's size"
            );
        }
        if self.live == 0 {
            tracing::warn!(router = %ctx.path(), "the last routee of a balancing pool left: the router stops");
            let queued = std::mem::take(&mut shared.queue);
            drop(shared);
            for msg in queued {
                ctx.dead_letter(msg, DeadLetterReason::RecipientStopped);
            }
            ctx.stop_self();
        }
    }
}

impl<M: Send + 'static> Actor for Balancer<M> {
    type Msg = M;

    fn pre_start(&mut self, ctx: &mut Context<M>) {
        for at in 0..self.size {
            let shared = Arc::downgrade(&self.shared);
            let behavior = (self.factory)().after_each_message(Arc::new(move |what| {
                if let Some(shared) = shared.upgrade() {
                    shared.lock().observed(at, what);
                }
            }));
            let actor = match ctx.spawn(behavior, &format!("routee-{at}")) {
                Ok(actor) => actor,
                Err(error) => {
                    tracing::error!(router = %ctx.path(), %error, "could not spawn a balancing pool routee");
                    self.shared.lock().routees.push(Routee {
                        actor: None,
                        slot: Slot::Gone,
                    });
                    continue;
                }
            };
            ctx.watch(&actor);
            let mut shared = self.shared.lock();
            shared.routees.push(Routee {
                actor: Some(actor),
                slot: Slot::Free,
            });
            shared.free.push(at);
            self.live += 1;
        }
        // Free routees are taken from the end: the first routee gets the first message.
        self.shared.lock().free.reverse();
        if self.live == 0 {
            ctx.stop_self();
        }
    }

    fn handle(&mut self, ctx: &mut Context<M>, msg: M) {
        if self.live == 0 {
            ctx.dead_letter(msg, DeadLetterReason::RecipientStopped);
            return;
        }
        let mut shared = self.shared.lock();
        match shared.free.pop() {
            Some(at) => {
                let routee = &mut shared.routees[at];
                routee.slot = Slot::Busy;
                if let Some(actor) = &routee.actor {
                    actor.tell(msg);
                }
            }
            None => shared.queue.push_back(msg),
        }
    }

    fn on_signal(&mut self, ctx: &mut Context<M>, signal: &Signal) {
        match signal {
            Signal::Terminated(gone) => self.leave(ctx, gone, None),
            Signal::ChildFailed(gone, failure) => self.leave(ctx, gone, Some(failure.message())),
            _ => {}
        }
    }

    fn post_stop(&mut self, ctx: &mut Context<M>) {
        let mut shared = self.shared.lock();
        shared.routees.clear();
        shared.free.clear();
        let queued = std::mem::take(&mut shared.queue);
        drop(shared);
        for msg in queued {
            ctx.dead_letter(msg, DeadLetterReason::RecipientStopped);
        }
    }
}
