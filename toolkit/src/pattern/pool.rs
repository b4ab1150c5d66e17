//! A pool router's actor, and the front that routes round-robin and random pools on the
//! sender's thread.
//!
//! Through the actor alone, each message costs two hops (the sender to the router's mailbox,
//! the router's turn to the routee's mailbox). The front (the reference a pool's spawner gets;
//! see the actor core's `front.rs`) makes it one: the router publishes its routees in a table
//! it shares with the front, and the front's `tell` picks one there and tells it directly.
//! Consistent hashing and pools with a broadcast predicate stay in the router's turn, where the
//! user's key function or predicate runs under the router's supervisor (a panic in it fails
//! the router instead of unwinding into a sender).
//!
//! Where a message sent through the front goes:
//!
//! | when                                                        | the message goes to                |
//! |-------------------------------------------------------------|------------------------------------|
//! | the table has routees, the router holds none of the front's  | the picked routee, directly       |
//! | the picked routee refuses it (it stopped; the router has not yet heard) | the next live routee; the router's mailbox if none takes it |
//! | the table is empty (the router has not started, or has stopped) | the router's mailbox           |
//! | the router holds messages the front gave it (`queued` > 0)    | the router's mailbox              |
//! | adapted in the receiver's turn, or the last one of a stop    | the router's mailbox               |
//!
//! The router routes what reaches its mailbox with the same pick (one round-robin counter for
//! both paths, so a pool stays even), tells the routee with `try_tell`, drops a routee that
//! refuses and tries the next, and dead-letters a message (reason: the recipient stopped) only
//! when no routee is left. So nothing is lost that the actor alone would have delivered.
//!
//! Order: messages from one sender reach each routee in the order they were sent, as through
//! the actor alone. While the router holds messages the front gave it, the front gives it the
//! next ones too (the `queued` count), so a direct tell never overtakes one still waiting in
//! the router's mailbox; the router counts a message down only after it has told the routee.
//! (Messages sent to the router's own reference, which only the router holds, are not
//! counted; the count then stops at zero.)
//!
//! The table ([`RouteeTable`]) costs a tell two loads: each incarnation of the router publishes
//! one list that stays put while senders read it (see `routees.rs`). The round-robin place is
//! read and written back without a read-modify-write (see [`Shared::pick`]): exact from one
//! sender, nearly even from several at once. A tell through the front adds no atomic
//! read-modify-write to the push.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use super::routees::RouteeTable;
use super::router::{Broadcast, Factory, PoolRouter, Routing, fixed_hasher};
use crate::actor::{
    Actor, ActorPath, ActorRef, AdaptFn, AnyActorRef, Behavior, Behaviors, Context, MakeFront,
    Props, Recipient, Signal,
};
use crate::dead_letters::DeadLetterReason;

impl<M: Send + 'static> From<PoolRouter<M>> for Behavior<M> {
    fn from(pool: PoolRouter<M>) -> Self {
        let PoolRouter {
            size,
            factory,
            routing,
            broadcast,
            routee_props,
        } = pool;
        // User code that looks at each message (a key, a broadcast predicate) runs in the
        // router's turn: such pools have no front.
        let fronted = !matches!(routing, Routing::ConsistentHashing(_)) && broadcast.is_none();
        let random = matches!(routing, Routing::Random);
        let make = move || {
            // One table per spawn, shared by the router (at each restart too) and its front.
            let shared = Arc::new(Shared::new(random));
            let behavior = Behaviors::actor({
                let (factory, routing, broadcast, routee_props, shared) = (
                    factory.clone(),
                    routing.clone(),
                    broadcast.clone(),
                    routee_props.clone(),
                    shared.clone(),
                );
                move || Pool {
                    size,
                    factory: factory.clone(),
                    routing: routing.clone(),
                    broadcast: broadcast.clone(),
                    routee_props: routee_props.clone(),
                    routees: Vec::with_capacity(size),
                    shared: shared.clone(),
                    fronted,
                }
            });
            (behavior, shared)
        };
        if !fronted {
            return Behaviors::setup(move |_| make().0);
        }
        Behavior::with_front(move || {
            let (behavior, shared) = make();
            let front: MakeFront<M> = Box::new(move |router| {
                Arc::new(PoolFront { router, shared }) as Arc<dyn Recipient<M>>
            });
            (behavior, front)
        })
    }
}

/// What a pool's router and its front share.
struct Shared<M: Send + 'static> {
    /// The routees the front may tell, in the router's order; empty before the router starts
    /// and after it stops.
    routees: RouteeTable<M>,
    /// The next round-robin place, for both paths (alone on its cache line: every
    /// round-robin tell writes it).
    next: CachePadded<AtomicUsize>,
    /// Messages the front gave the router that it has not yet routed (see the module docs).
    queued: AtomicUsize,
    random: bool,
}

impl<M: Send + 'static> Shared<M> {
    fn new(random: bool) -> Self {
        Self {
            routees: RouteeTable::new(),
            next: CachePadded::new(AtomicUsize::new(0)),
            queued: AtomicUsize::new(0),
            random,
        }
    }

    /// A routee's place among `n` (round-robin or random).
    ///
    /// Round-robin reads the counter and writes the next place back: a load and a store, not
    /// a read-modify-write. The `lock xadd` of a `fetch_add` waited for the sender's earlier
    /// stores (its last message's push) and was 41% of the front's samples in the router
    /// bench, more than the push itself. The price: two senders that pick at the same instant
    /// may pick the same routee (each still delivers its message once). From one sender, and
    /// for the router, which picks only while the front sends nothing directly, the turn is
    /// exact.
    #[inline]
    fn pick(&self, n: usize) -> usize {
        if self.random {
            return pick_random(n);
        }
        // Kept below `n` (no division); a place past a pool that shrank starts over.
        let at = self.next.load(Ordering::Relaxed);
        let at = if at < n { at } else { 0 };
        self.next
            .store(if at + 1 < n { at + 1 } else { 0 }, Ordering::Relaxed);
        at
    }

    /// The router has routed one message: the front may go direct once none is left.
    fn routed_one(&self) {
        // Release: a sender that then sees zero sees the routee's mailbox hold the message.
        let _ = self
            .queued
            .fetch_update(Ordering::Release, Ordering::Relaxed, |q| q.checked_sub(1));
    }
}

/// A random place among `n`, out of line: the thread-local generator's code would otherwise
/// weigh on every round-robin tell too (registers saved at the front's entry).
#[inline(never)]
fn pick_random(n: usize) -> usize {
    fastrand::usize(..n)
}

/// The reference a round-robin or random pool's spawner gets. Alone on its cache line (it is
/// read at every tell; see `Slot` in `routees.rs`).
#[repr(align(64))]
struct PoolFront<M: Send + 'static> {
    /// The router's own reference (its mailbox).
    router: ActorRef<M>,
    shared: Arc<Shared<M>>,
}

impl<M: Send + 'static> PoolFront<M> {
    /// Tells a routee directly, or hands the message back for the router.
    #[inline(always)]
    fn direct(&self, msg: M) -> Result<(), M> {
        if self.shared.queued.load(Ordering::Acquire) != 0 {
            return Err(msg);
        }
        self.shared.routees.tell(msg, |n| self.shared.pick(n))
    }

    /// Sends what [`direct`](Self::direct) handed back through the router's mailbox, or hands
    /// it back if the router has stopped.
    #[cold]
    #[inline(never)]
    fn via_router(&self, msg: M) -> Result<(), M> {
        self.count_for_router();
        self.router
            .try_tell(msg)
            .inspect_err(|_| self.shared.routed_one())
    }

    /// Counts a message the router will route, before it is sent.
    fn count_for_router(&self) {
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
    }
}

impl<M: Send + 'static> Recipient<M> for PoolFront<M> {
    fn tell(&self, msg: M) {
        if let Err(msg) = self.direct(msg)
            && let Err(msg) = self.via_router(msg)
        {
            // The router has stopped: its mailbox makes the dead letter.
            self.router.tell(msg);
        }
    }

    fn try_tell(&self, msg: M) -> Result<(), M> {
        match self.direct(msg) {
            Ok(()) => Ok(()),
            Err(msg) => self.via_router(msg),
        }
    }

    fn tell_adapted(&self, adapt: AdaptFn<M>) {
        // The adapter runs in the router's turn: through its mailbox.
        self.count_for_router();
        self.router.tell_adapted(adapt);
    }

    fn tell_last(&self, msg: M) -> Result<(), M> {
        self.count_for_router();
        self.router
            .tell_last(msg)
            .inspect_err(|_| self.shared.routed_one())
    }

    fn path(&self) -> ActorPath {
        self.router.path()
    }

    fn actor(&self) -> Option<AnyActorRef> {
        self.router.to_any()
    }

    fn front_of(&self) -> Option<&ActorRef<M>> {
        Some(&self.router)
    }
}

struct Routee<M: Send + 'static> {
    actor: ActorRef<M>,
    /// A stable number for rendezvous hashing.
    id: u64,
}

/// The router actor.
struct Pool<M: Send + 'static> {
    size: usize,
    factory: Factory<M>,
    routing: Routing<M>,
    broadcast: Option<Broadcast<M>>,
    routee_props: Props,
    routees: Vec<Routee<M>>,
    shared: Arc<Shared<M>>,
    /// Whether a front reads `shared.routees` (round-robin and random pools).
    fronted: bool,
}

impl<M: Send + 'static> Pool<M> {
    fn pick(&mut self, msg: &M) -> usize {
        match &self.routing {
            Routing::RoundRobin | Routing::Random => self.shared.pick(self.routees.len()),
            Routing::ConsistentHashing(key) => {
                let key = key(msg);
                let hasher = fixed_hasher();
                let mut best = (0, 0u64);
                for (at, routee) in self.routees.iter().enumerate() {
                    let score = hasher.hash_one((key, routee.id));
                    if at == 0 || score > best.1 {
                        best = (at, score);
                    }
                }
                best.0
            }
        }
    }

    /// Gives the front the routees this incarnation started.
    fn publish(&self, ctx: &Context<M>) {
        if self.fronted {
            let now = self.routees.iter().map(|r| r.actor.clone()).collect();
            if !self.shared.routees.start(now) {
                tracing::warn!(
                    router = %ctx.path(),
                    "a pool router restarted more than {} times: its front now sends every \
                     message through the router's mailbox (slower, nothing is lost); find why \
                     the router fails",
                    super::routees::INCARNATIONS - 1
                );
            }
        }
    }

    /// Tells a routee; one that refuses (it stopped, and its `Terminated` is on the way)
    /// leaves the pool at once and the next is tried. A message the broadcast predicate picks
    /// goes to every routee instead.
    fn route(&mut self, ctx: &mut Context<M>, mut msg: M) {
        if let Some(broadcast) = &self.broadcast
            && (broadcast.predicate)(&msg)
        {
            let copy = broadcast.copy;
            return self.broadcast(ctx, msg, copy);
        }
        while !self.routees.is_empty() {
            let at = self.pick(&msg);
            match self.routees[at].actor.try_tell(msg) {
                Ok(()) => return,
                Err(refused) => {
                    msg = refused;
                    self.remove(ctx, at, None);
                }
            }
        }
        // Stopping: no routee is left to take it.
        ctx.dead_letter(msg, DeadLetterReason::RecipientStopped);
    }

    /// Tells every routee a copy of `msg` (the last one gets `msg` itself). A routee that
    /// refuses (it stopped) leaves the pool and its copy goes to dead letters, as a tell to a
    /// stopped actor does; with no routee left, `msg` goes there.
    fn broadcast(&mut self, ctx: &mut Context<M>, msg: M, copy: fn(&M) -> M) {
        let mut refused = Vec::new();
        if let Some((last, others)) = self.routees.split_last() {
            for (at, routee) in others.iter().enumerate() {
                if let Err(copy) = routee.actor.try_tell(copy(&msg)) {
                    refused.push((at, copy));
                }
            }
            if let Err(msg) = last.actor.try_tell(msg) {
                refused.push((others.len(), msg));
            }
        } else {
            ctx.dead_letter(msg, DeadLetterReason::RecipientStopped);
        }
        // From the back, so the places still to remove stay valid.
        for (at, copy) in refused.into_iter().rev() {
            ctx.dead_letter(copy, DeadLetterReason::RecipientStopped);
            self.remove(ctx, at, None);
        }
    }

    fn leave(&mut self, ctx: &mut Context<M>, gone: &AnyActorRef, failure: Option<&str>) {
        if let Some(at) = self.routees.iter().position(|r| r.actor == *gone) {
            self.remove(ctx, at, failure);
        }
    }

    fn remove(&mut self, ctx: &mut Context<M>, at: usize, failure: Option<&str>) {
        let gone = self.routees.remove(at).actor;
        if self.fronted {
            self.shared.routees.leave(&gone);
        }
        match failure {
            Some(failure) => tracing::warn!(
                router = %ctx.path(),
                routee = %gone.path(),
                failure,
                left = self.routees.len(),
                "a pool routee failed and left the pool; supervise the routee's behavior with a \
                 restart strategy to keep the pool's size"
            ),
            None => {
                tracing::debug!(router = %ctx.path(), left = self.routees.len(), "a pool routee stopped")
            }
        }
        if self.routees.is_empty() {
            tracing::warn!(router = %ctx.path(), "the last routee of a pool left: the router stops");
            ctx.stop_self();
        }
    }

    /// The router is ending (stopping, or restarting): the front sends to its mailbox.
    fn withdraw(&mut self) {
        self.routees.clear();
        self.shared.routees.withdraw();
    }
}

impl<M: Send + 'static> Actor for Pool<M> {
    type Msg = M;

    fn pre_start(&mut self, ctx: &mut Context<M>) {
        for i in 0..self.size {
            let name = format!("routee-{i}");
            match ctx.spawn_with((self.factory)(), Some(&name), &self.routee_props) {
                Ok(actor) => {
                    ctx.watch(&actor);
                    self.routees.push(Routee {
                        actor,
                        id: i as u64,
                    });
                }
                Err(error) => {
                    tracing::error!(router = %ctx.path(), %error, "could not spawn a pool routee")
                }
            }
        }
        if self.routees.is_empty() {
            ctx.stop_self();
        } else {
            self.publish(ctx);
        }
    }

    fn handle(&mut self, ctx: &mut Context<M>, msg: M) {
        self.route(ctx, msg);
        // After the tell: the sender that sees the count reach zero goes direct behind it.
        self.shared.routed_one();
    }

    fn on_signal(&mut self, ctx: &mut Context<M>, signal: &Signal) {
        match signal {
            Signal::Terminated(gone) => self.leave(ctx, gone, None),
            Signal::ChildFailed(gone, failure) => self.leave(ctx, gone, Some(failure.message())),
            _ => {}
        }
    }

    fn pre_restart(&mut self, _: &mut Context<M>) {
        self.withdraw();
    }

    fn post_stop(&mut self, _: &mut Context<M>) {
        self.withdraw();
    }
}
