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
//!
//! Round-robin and random pools route on the sender's thread: the reference their spawner
//! gets picks a routee and tells it directly, one hop instead of two through the router's
//! mailbox (see `pool.rs` for how, and for what goes through the router still). That
//! reference is the router in every other respect (path, watching, equality, asks). A pool
//! spawned from `Behaviors::setup` (or returned by a handler) routes through its mailbox.
//! Consistent hashing always routes in the router's turn, where the key function runs under
//! the router's supervisor; so does a pool with a broadcast predicate
//! ([`PoolRouter::with_broadcast`]: the messages it picks go to every routee).

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use super::balancing::BalancingPool;
use super::group::GroupRouter;
use super::receptionist::ServiceKey;
use crate::actor::{Behavior, Behaviors, Props};

/// Makes one routee's behavior.
#[doc(hidden)]
pub type Factory<M> = Arc<dyn Fn() -> Behavior<M> + Send + Sync>;
pub(super) type KeyOf<M> = Arc<dyn Fn(&M) -> u64 + Send + Sync>;

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
pub(super) enum Routing<M> {
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
    ///
    /// Round-robin and random pools pick the routee on the sender's thread and tell it
    /// directly (one hop, not two); what a routee that has stopped refuses, and what is sent
    /// before the router has started, goes through the router, which loses nothing that a
    /// live routee can take. Messages from one sender reach each routee in the order sent.
    /// The reference you get is the router's in every other respect: its path, watching it,
    /// equality with [`Context::self_ref`](crate::actor::Context::self_ref) inside it, asks.
    /// Spawned directly or under [`Behaviors::supervise`]; a pool that a `setup` or a handler
    /// returns routes through the router's mailbox (two hops).
    pub fn pool<M, How>(size: usize, routee: impl RouteeBehavior<M, How>) -> PoolRouter<M>
    where
        M: Send + 'static,
    {
        PoolRouter {
            size: size.max(1),
            factory: routee.into_factory(),
            routing: Routing::RoundRobin,
            broadcast: None,
            routee_props: Props::new(),
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
    pub(super) size: usize,
    pub(super) factory: Factory<M>,
    pub(super) routing: Routing<M>,
    pub(super) broadcast: Option<Broadcast<M>>,
    pub(super) routee_props: Props,
}

/// Which messages a pool sends to every routee, and how it copies them.
pub(super) struct Broadcast<M> {
    pub(super) predicate: Arc<dyn Fn(&M) -> bool + Send + Sync>,
    pub(super) copy: fn(&M) -> M,
}

impl<M> Clone for Broadcast<M> {
    fn clone(&self) -> Self {
        Self {
            predicate: self.predicate.clone(),
            copy: self.copy,
        }
    }
}

impl<M: Send + 'static> PoolRouter<M> {
    /// Each message goes to the next routee in turn (the default). The turn is exact for the
    /// messages of one sender; senders that tell at the same instant may pick the same
    /// routee (the place is read and written back without a lock), so over several senders at
    /// once the spread is even only nearly.
    pub fn with_round_robin(mut self) -> Self {
        self.routing = Routing::RoundRobin;
        self
    }

    /// Each message goes to a routee picked at random.
    pub fn with_random(mut self) -> Self {
        self.routing = Routing::Random;
        self
    }

    /// Spawns the routees with `props`, e.g. on their own dispatcher (a bulkhead), as Akka's
    /// `withRouteeProps`. A routee that cannot be spawned (a dispatcher the system does not
    /// have) is left out with an error in the log; with none spawned the router stops.
    ///
    /// ```
    /// use reactant::pattern::Routers;
    /// use reactant::prelude::*;
    /// use std::time::Duration;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::builder().name("io").dispatcher("blocking-io", 2).build()?;
    /// let reader = || {
    ///     Behaviors::receive_message(|reply_to: ActorRef<String>| {
    ///         let thread = std::thread::current();
    ///         reply_to.tell(thread.name().unwrap_or_default().to_owned());
    ///         Behaviors::same()
    ///     })
    /// };
    /// let readers = system.spawn(
    ///     Routers::pool(2, reader).with_routee_props(Props::new().with_dispatcher("blocking-io")),
    ///     "readers",
    /// )?;
    /// let thread = readers.ask(|reply_to| reply_to).wait(Duration::from_secs(3))?;
    /// assert!(thread.starts_with("io-blocking-io-"), "{thread}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_routee_props(mut self, props: Props) -> Self {
        self.routee_props = props;
        self
    }

    /// Messages with equal keys go to the same routee (rendezvous hashing: when a routee
    /// leaves, only its keys move).
    ///
    /// Routed in the router's turn (two hops, unlike round-robin and random): `key` is user
    /// code, and a panic in it fails the router under its supervisor instead of unwinding
    /// into the sender.
    pub fn with_consistent_hashing<K: Hash>(
        mut self,
        key: impl Fn(&M) -> K + Send + Sync + 'static,
    ) -> Self {
        let hasher = fixed_hasher();
        self.routing = Routing::ConsistentHashing(Arc::new(move |msg| hasher.hash_one(key(msg))));
        self
    }
}

impl<M: Clone + Send + 'static> PoolRouter<M> {
    /// Messages for which `predicate` is true go to every routee (a clone each) instead of
    /// one: to hand all workers a setting, or to tell them all to finish (Akka's
    /// `withBroadcastPredicate`). Other messages are routed as before.
    ///
    /// A pool with a broadcast predicate routes every message in the router's turn (two hops,
    /// like consistent hashing): the predicate is user code, and a panic in it fails the
    /// router under its supervisor instead of unwinding into a sender. A routee that has
    /// stopped is skipped (it leaves the pool); with no routee left the message goes to dead
    /// letters.
    ///
    /// ```
    /// use reactant::pattern::Routers;
    /// use reactant::prelude::*;
    /// use std::time::Duration;
    ///
    /// #[derive(Clone)]
    /// enum Job {
    ///     Work(u32),
    ///     Flush,
    /// }
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = ActorSystem::new("broadcast")?;
    /// let (flushed, seen) = std::sync::mpsc::channel();
    /// let flushed = std::sync::Mutex::new(flushed);
    /// let worker = move || {
    ///     let flushed = flushed.lock().map(|tx| tx.clone()).ok();
    ///     Behaviors::receive_message(move |job: Job| {
    ///         if let (Job::Flush, Some(flushed)) = (job, &flushed) {
    ///             let _ = flushed.send(());
    ///         }
    ///         Behaviors::same()
    ///     })
    /// };
    /// let pool = system.spawn(
    ///     Routers::pool(3, worker).with_broadcast(|job| matches!(job, Job::Flush)),
    ///     "workers",
    /// )?;
    /// pool.tell(Job::Work(1));
    /// pool.tell(Job::Flush);
    /// for _ in 0..3 {
    ///     seen.recv_timeout(Duration::from_secs(3))?; // one flush per worker
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_broadcast(
        mut self,
        predicate: impl Fn(&M) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.broadcast = Some(Broadcast {
            predicate: Arc::new(predicate),
            copy: M::clone,
        });
        self
    }
}

/// A hasher that gives the same hash in every run and every process (unlike `RandomState`),
/// so that a key's routee does not depend on the process.
pub(super) fn fixed_hasher()
-> std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher> {
    std::hash::BuildHasherDefault::default()
}
