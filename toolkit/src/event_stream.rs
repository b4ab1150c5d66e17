//! The system event stream: publish / subscribe by message type, within one actor system
//! (Akka's `EventStream`).
//!
//! An actor subscribes with its own reference for one type of event, and receives every value
//! of that type published afterwards, in publication order per publisher. The system itself
//! publishes [`DeadLetter`](crate::dead_letters::DeadLetter)s and [`LifecycleEvent`]s there;
//! applications publish their own types. A subscriber that has stopped is removed at the next
//! publication of its type (nothing is told to it). With no subscriber at all, publishing
//! costs one atomic load.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;

use crate::actor::{ActorPath, ActorRef};

/// What happened to an actor, published on the [event stream](EventStream) of its system for
/// whoever subscribed to this type (nothing is built when nobody has).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleEvent {
    /// The actor was spawned.
    Spawned(ActorPath),
    /// The actor failed and its supervisor restarts it.
    Restarted {
        /// The actor.
        actor: ActorPath,
        /// Why it failed.
        failure: String,
    },
    /// The actor stopped; `failure` says why if it stopped because it failed.
    Stopped {
        /// The actor.
        actor: ActorPath,
        /// The failure that stopped it, if any.
        failure: Option<String>,
    },
}

impl fmt::Display for LifecycleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spawned(actor) => write!(f, "{actor} was spawned"),
            Self::Restarted { actor, failure } => {
                write!(f, "{actor} failed ({failure}) and restarts")
            }
            Self::Stopped {
                actor,
                failure: None,
            } => write!(f, "{actor} stopped"),
            Self::Stopped {
                actor,
                failure: Some(failure),
            } => write!(f, "{actor} failed ({failure}) and stopped"),
        }
    }
}

/// One subscription: an `ActorRef<E>` for the `E` it is filed under.
struct Subscriber {
    actor: Box<dyn Any + Send + Sync>,
    is_terminated: fn(&(dyn Any + Send + Sync)) -> bool,
}

fn is_terminated<E: Send + 'static>(actor: &(dyn Any + Send + Sync)) -> bool {
    actor
        .downcast_ref::<ActorRef<E>>()
        .is_none_or(ActorRef::is_terminated)
}

#[derive(Default)]
struct Inner {
    /// Subscriptions of every type: the "nobody listens" fast path.
    count: AtomicUsize,
    subscribers: RwLock<HashMap<TypeId, Vec<Subscriber>>>,
}

/// The event stream of one actor system: [`ActorSystem::event_stream`](crate::actor::ActorSystem::event_stream).
/// Cheap to clone (one shared stream).
///
/// ```
/// use reactant::event_stream::LifecycleEvent;
/// use reactant::prelude::*;
/// use std::time::Duration;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct PriceChanged(u64);
///
/// let system = ActorSystem::new("docs")?;
/// let (tx, rx) = std::sync::mpsc::channel();
/// let tx = std::sync::Mutex::new(tx);
/// let listener = system.spawn(
///     Behaviors::receive_message(move |event: PriceChanged| {
///         let _ = tx.lock().map(|tx| tx.send(event));
///         Behaviors::same()
///     }),
///     "listener",
/// )?;
/// system.event_stream().subscribe(&listener);
/// system.event_stream().publish(PriceChanged(42));
/// assert_eq!(rx.recv_timeout(Duration::from_secs(3))?, PriceChanged(42));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct EventStream {
    inner: Arc<Inner>,
}

impl EventStream {
    /// `subscriber` receives every `E` published from now on (once, however often it
    /// subscribes), until it unsubscribes or stops.
    pub fn subscribe<E: Clone + Send + 'static>(&self, subscriber: &ActorRef<E>) {
        let mut subscribers = self.inner.subscribers.write();
        let list = subscribers.entry(TypeId::of::<E>()).or_default();
        let known = list.iter().any(|s| {
            s.actor
                .downcast_ref::<ActorRef<E>>()
                .is_some_and(|known| known == subscriber)
        });
        if !known {
            list.push(Subscriber {
                actor: Box::new(subscriber.clone()),
                is_terminated: is_terminated::<E>,
            });
            self.inner.count.fetch_add(1, Ordering::Release);
        }
    }

    /// `subscriber` receives no more `E`s (those already sent still arrive).
    pub fn unsubscribe<E: Clone + Send + 'static>(&self, subscriber: &ActorRef<E>) {
        let mut subscribers = self.inner.subscribers.write();
        if let Some(list) = subscribers.get_mut(&TypeId::of::<E>()) {
            let before = list.len();
            list.retain(|s| {
                s.actor
                    .downcast_ref::<ActorRef<E>>()
                    .is_none_or(|known| known != subscriber)
            });
            self.inner
                .count
                .fetch_sub(before - list.len(), Ordering::Release);
        }
    }

    /// Tells `event` to every subscriber of its type. Returns how many were told.
    pub fn publish<E: Clone + Send + 'static>(&self, event: E) -> usize {
        if !self.has_subscribers() {
            return 0;
        }
        let mut stopped = false;
        // The subscribers are told after the lock is released: a tell to an actor that has
        // just stopped publishes a dead letter here, on this thread, and that publish may have
        // to take the lock for writing (to remove the stopped subscriber). Telling under the
        // read lock deadlocked that thread against itself.
        let live: Vec<ActorRef<E>> = {
            let subscribers = self.inner.subscribers.read();
            let Some(list) = subscribers.get(&TypeId::of::<E>()) else {
                return 0;
            };
            list.iter()
                .filter_map(
                    |subscriber| match subscriber.actor.downcast_ref::<ActorRef<E>>() {
                        Some(actor) if !actor.is_terminated() => Some(actor.clone()),
                        _ => {
                            stopped = true;
                            None
                        }
                    },
                )
                .collect()
        };
        if stopped {
            self.remove_stopped(TypeId::of::<E>());
        }
        for actor in &live {
            actor.tell(event.clone());
        }
        live.len()
    }

    /// How many live subscribers `E` has.
    pub fn subscriber_count<E: Clone + Send + 'static>(&self) -> usize {
        self.remove_stopped(TypeId::of::<E>());
        self.inner
            .subscribers
            .read()
            .get(&TypeId::of::<E>())
            .map_or(0, Vec::len)
    }

    /// Whether anything subscribed to `E` (a stopped subscriber may still count).
    pub(crate) fn wants<E: 'static>(&self) -> bool {
        self.has_subscribers()
            && self
                .inner
                .subscribers
                .read()
                .get(&TypeId::of::<E>())
                .is_some_and(|list| !list.is_empty())
    }

    #[inline]
    fn has_subscribers(&self) -> bool {
        self.inner.count.load(Ordering::Acquire) != 0
    }

    fn remove_stopped(&self, key: TypeId) {
        let mut subscribers = self.inner.subscribers.write();
        if let Some(list) = subscribers.get_mut(&key) {
            let before = list.len();
            list.retain(|s| !(s.is_terminated)(s.actor.as_ref()));
            self.inner
                .count
                .fetch_sub(before - list.len(), Ordering::Release);
        }
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("subscriptions", &self.inner.count.load(Ordering::Relaxed))
            .finish()
    }
}
