//! Pool routers: one address in front of N identical child actors (Akka Typed's
//! `Routers.pool`).
//!
//! The router spawns its routees when it starts, watches them, and forwards each message to
//! one of them, chosen round-robin (the default), at random, or by consistent hashing of a key
//! taken from the message (messages with one key always reach the same routee while the pool
//! does not change; when it does, only the keys of the routee that left move).
//!
//! A routee that stops or fails leaves the pool (its failure is logged); when the last one
//! has left, the router stops, and messages sent to it afterwards go to dead letters. To keep
//! the pool's size through failures, supervise the routee's behavior with a restart strategy:
//! a restarted routee stays in the pool. Messages already in a routee's mailbox when it stops
//! go to dead letters, as for any actor.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use super::balancing::BalancingPool;
use super::group::GroupRouter;
use super::receptionist::ServiceKey;
use crate::actor::{Actor, ActorRef, AnyActorRef, Behavior, Behaviors, Context, Signal};
use crate::dead_letters::DeadLetterReason;

/// Makes one routee's behavior.
#[doc(hidden)]
pub type Factory<M> = Arc<dyn Fn() -> Behavior<M> + Send + Sync>;
type KeyOf<M> = Arc<dyn Fn(&M) -> u64 + Send + Sync>;

/// What a pool makes its routees from: a factory (`|| behavior`, called once per routee and
/// again at each restart) or a [`Behavior`] that can be started more than once (`receive`,
/// `setup`, `supervise` of those, `Behaviors::actor(factory)`).
///
/// A behavior made from an actor *value* (`Behavior::from(MyActor { .. })`) cannot be copied:
/// its first routee gets it and the others stop at once (with an error in the log); give a
/// factory instead.
pub trait RouteeBehavior<M: Send + 'static, How>: Send + 'static {
    /// The factory the pool calls once per routee.
    #[doc(hidden)]
    fn into_factory(self) -> Factory<M>;
}

/// [`RouteeBehavior`] from a factory.
#[doc(hidden)]
pub enum FromFactory {}

/// [`RouteeBehavior`] from a behavior.
#[doc(hidden)]
pub enum FromBehavior {}

impl<M, F, B> RouteeBehavior<M, FromFactory> for F
where
    M: Send + 'static,
    F: Fn() -> B + Send + Sync + 'static,
    B: Into<Behavior<M>>,
{
    fn into_factory(self) -> Factory<M> {
        Arc::new(move || self().into())
    }
}

impl<M: Send + 'static> RouteeBehavior<M, FromBehavior> for Behavior<M> {
    fn into_factory(self) -> Factory<M> {
        let template = parking_lot::Mutex::new(Some(self));
        Arc::new(move || {
            let mut template = template.lock();
            let copy = template.as_ref().and_then(Behavior::try_clone);
            match copy {
                Some(copy) => copy,
                None => template.take().unwrap_or_else(|| {
                    tracing::error!(
                        "a pool was given a behavior made from an actor value, which only one \
                         routee can run; give Routers a factory (|| MyActor::new()) instead"
                    );
                    Behaviors::stopped()
                }),
            }
        })
    }
}

/// How a pool picks the routee of a message.
enum Routing<M> {
    RoundRobin,
    Random,
    ConsistentHashing(KeyOf<M>),
}

impl<M> Clone for Routing<M> {
    fn clone(&self) -> Self {
        match self {
            Self::RoundRobin => Self::RoundRobin,
            Self::Random => Self::Random,
            Self::ConsistentHashing(key) => Self::ConsistentHashing(key.clone()),
        }
    }
}

/// Where routers are made: [`Routers::pool`].
///
/// ```
/// use reactant::pattern::Routers;
/// use reactant::prelude::*;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder().threads(2).build()?;
/// let (tx, rx) = std::sync::mpsc::channel();
/// let tx = std::sync::Mutex::new(tx);
/// let workers = system.spawn(
///     Routers::pool(4, move || {
///         let tx = tx.lock().map(|tx| tx.clone()).ok();
///         Behaviors::receive_message(move |job: u32| {
///             if let Some(tx) = &tx {
///                 let _ = tx.send(job * 2);
///             }
///             Behaviors::same()
///         })
///     }),
///     "workers",
/// )?;
/// for job in 0..8 {
///     workers.tell(job);
/// }
/// let mut done: Vec<u32> = (0..8).map(|_| rx.recv()).collect::<Result<_, _>>()?;
/// done.sort();
/// assert_eq!(done, [0, 2, 4, 6, 8, 10, 12, 14]);
/// # system.shutdown();
/// # Ok(())
/// # }
/// ```
pub struct Routers;

impl Routers {
    /// A pool of `size` routees (at least 1), each started with the behavior `routee` returns.
    /// Spawn the result like any behavior; messages are routed round-robin unless
    /// [`with_random`](PoolRouter::with_random) or
    /// [`with_consistent_hashing`](PoolRouter::with_consistent_hashing) says otherwise.
    pub fn pool<M, How>(size: usize, routee: impl RouteeBehavior<M, How>) -> PoolRouter<M>
    where
        M: Send + 'static,
    {
        PoolRouter {
            size: size.max(1),
            factory: routee.into_factory(),
            routing: Routing::RoundRobin,
        }
    }
}

impl Routers {
    /// A pool of `size` routees (at least 1) that share one queue: each message goes to a free
    /// routee, or waits until one is free, so a slow routee never holds work another could do.
    /// Each routee holds at most one message at a time. See [`BalancingPool`] for the rules.
    ///
    /// ```
    /// use reactant::pattern::Routers;
    /// use reactant::prelude::*;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::new("docs")?;
    /// let (tx, rx) = std::sync::mpsc::channel::<u32>();
    /// let tx = std::sync::Mutex::new(tx);
    /// let workers = system.spawn(
    ///     Routers::balancing_pool(3, move || {
    ///         let tx = tx.lock().map(|tx| tx.clone()).ok();
    ///         Behaviors::receive_message(move |job: u32| {
    ///             if let Some(tx) = &tx {
    ///                 let _ = tx.send(job);
    ///             }
    ///             Behaviors::same()
    ///         })
    ///     }),
    ///     "workers",
    /// )?;
    /// for job in 0..6 {
    ///     workers.tell(job);
    /// }
    /// let mut done: Vec<u32> = (0..6).map(|_| rx.recv()).collect::<Result<_, _>>()?;
    /// done.sort();
    /// assert_eq!(done, [0, 1, 2, 3, 4, 5]);
    /// # system.shutdown();
    /// # Ok(())
    /// # }
    /// ```
    pub fn balancing_pool<M, How>(
        size: usize,
        routee: impl RouteeBehavior<M, How>,
    ) -> BalancingPool<M>
    where
        M: Send + 'static,
    {
        BalancingPool {
            size: size.max(1),
            factory: routee.into_factory(),
        }
    }
}

impl Routers {
    /// A router over the actors registered under `key` with the system's
    /// [`Receptionist`](super::Receptionist), round-robin unless
    /// [`with_random`](GroupRouter::with_random) says otherwise. See [`GroupRouter`].
    pub fn group<M: Send + 'static>(key: ServiceKey<M>) -> GroupRouter<M> {
        GroupRouter { key, random: false }
    }
}

/// A pool router's configuration; becomes a [`Behavior`] to spawn (see [`Routers::pool`]).
pub struct PoolRouter<M: Send + 'static> {
    size: usize,
    factory: Factory<M>,
    routing: Routing<M>,
}

impl<M: Send + 'static> PoolRouter<M> {
    /// Each message goes to the next routee in turn (the default).
    pub fn with_round_robin(mut self) -> Self {
        self.routing = Routing::RoundRobin;
        self
    }

    /// Each message goes to a routee picked at random.
    pub fn with_random(mut self) -> Self {
        self.routing = Routing::Random;
        self
    }

    /// Messages with equal keys go to the same routee (rendezvous hashing: when a routee
    /// leaves, only its keys move).
    pub fn with_consistent_hashing<K: Hash>(
        mut self,
        key: impl Fn(&M) -> K + Send + Sync + 'static,
    ) -> Self {
        let hasher = fixed_hasher();
        self.routing = Routing::ConsistentHashing(Arc::new(move |msg| hasher.hash_one(key(msg))));
        self
    }
}

/// A hasher that gives the same hash in every run and every process (unlike `RandomState`),
/// so that a key's routee does not depend on the process.
fn fixed_hasher() -> std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher> {
    std::hash::BuildHasherDefault::default()
}

impl<M: Send + 'static> From<PoolRouter<M>> for Behavior<M> {
    fn from(pool: PoolRouter<M>) -> Self {
        let PoolRouter {
            size,
            factory,
            routing,
        } = pool;
        Behaviors::actor(move || Pool {
            size,
            factory: factory.clone(),
            routing: routing.clone(),
            routees: Vec::with_capacity(size),
            next: 0,
        })
    }
}

struct Routee<M: Send + 'static> {
    actor: ActorRef<M>,
    /// A stable number for rendezvous hashing.
    id: u64,
}

struct Pool<M: Send + 'static> {
    size: usize,
    factory: Factory<M>,
    routing: Routing<M>,
    routees: Vec<Routee<M>>,
    next: usize,
}

impl<M: Send + 'static> Pool<M> {
    fn pick(&mut self, msg: &M) -> usize {
        let n = self.routees.len();
        match &self.routing {
            Routing::RoundRobin => {
                let at = self.next % n;
                self.next = self.next.wrapping_add(1);
                at
            }
            Routing::Random => fastrand::usize(..n),
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

    fn leave(&mut self, ctx: &mut Context<M>, gone: &AnyActorRef, failure: Option<&str>) {
        let Some(at) = self.routees.iter().position(|r| r.actor == *gone) else {
            return;
        };
        self.routees.swap_remove(at);
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
}

impl<M: Send + 'static> Actor for Pool<M> {
    type Msg = M;

    fn pre_start(&mut self, ctx: &mut Context<M>) {
        for i in 0..self.size {
            match ctx.spawn((self.factory)(), &format!("routee-{i}")) {
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
        }
    }

    fn handle(&mut self, ctx: &mut Context<M>, msg: M) {
        if self.routees.is_empty() {
            // Stopping: no routee is left to take it.
            ctx.dead_letter(msg, DeadLetterReason::RecipientStopped);
            return;
        }
        let at = self.pick(&msg);
        self.routees[at].actor.tell(msg);
    }

    fn on_signal(&mut self, ctx: &mut Context<M>, signal: &Signal) {
        match signal {
            Signal::Terminated(gone) => self.leave(ctx, gone, None),
            Signal::ChildFailed(gone, failure) => self.leave(ctx, gone, Some(failure.message())),
            _ => {}
        }
    }
}
