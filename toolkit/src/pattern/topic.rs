//! Topics: typed publish / subscribe by name within one actor system (Akka Typed's `Topic`,
//! without a cluster).
//!
//! `Topic::<Price>::new(&system, "prices")` gives a handle to the system's topic of that name
//! (made on first use); every handle with that name shares the subscribers. A published
//! message is told to every subscriber; with none, it goes to dead letters
//! ([`DeadLetterReason::NoSubscribers`]). A subscriber that stops is removed by itself. One
//! name carries one message type: asking for it with another type is an error.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::actor::{ActorPath, ActorRef, ActorSystem, Extension, SystemCore, when_terminated};
use crate::dead_letters::DeadLetterReason;

/// Why a topic could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The name is taken by a topic of another message type.
    #[error(
        "the topic \"{name}\" carries {existing}, not {requested}; give topics of different \
         message types different names"
    )]
    TypeMismatch {
        /// The topic's name.
        name: String,
        /// The type it carries.
        existing: &'static str,
        /// The type asked for.
        requested: &'static str,
    },
}

struct Shared<T: Send + 'static> {
    name: Arc<str>,
    subscribers: Mutex<Vec<ActorRef<T>>>,
}

/// One named topic of one actor system. Cheap to clone; clones share the subscribers.
///
/// ```
/// use reactant::pattern::Topic;
/// use reactant::prelude::*;
/// use std::time::Duration;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Price(u64);
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::new("docs")?;
/// let (tx, rx) = std::sync::mpsc::channel();
/// let tx = std::sync::Mutex::new(tx);
/// let ticker = system.spawn(
///     Behaviors::receive_message(move |price: Price| {
///         let _ = tx.lock().map(|tx| tx.send(price));
///         Behaviors::same()
///     }),
///     "ticker",
/// )?;
/// let prices = Topic::<Price>::new(&system, "prices")?;
/// prices.subscribe(&ticker);
/// prices.publish(Price(7));
/// assert_eq!(rx.recv_timeout(Duration::from_secs(3))?, Price(7));
/// # Ok(())
/// # }
/// ```
pub struct Topic<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    core: Arc<SystemCore>,
}

impl<T: Send + 'static> Clone for Topic<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            core: self.core.clone(),
        }
    }
}

/// A topic as the registry keeps it: its message type (id and name) and its `Shared<T>`.
type Registered = (TypeId, &'static str, Arc<dyn Any + Send + Sync>);

/// The topics of one system, by name.
#[derive(Default)]
struct Topics {
    by_name: Mutex<HashMap<Arc<str>, Registered>>,
}

impl Extension for Topics {
    fn create(_system: &ActorSystem) -> Self {
        Self::default()
    }
}

impl<T: Clone + Send + 'static> Topic<T> {
    /// The system's topic `name` for messages of type `T`, made on first use.
    pub fn new(system: &ActorSystem, name: &str) -> Result<Self, TopicError> {
        let topics = system.extension::<Topics>();
        let mut by_name = topics.by_name.lock();
        let requested = std::any::type_name::<T>();
        let (type_id, existing, shared) = by_name
            .entry(Arc::from(name))
            .or_insert_with(|| {
                let shared: Arc<dyn Any + Send + Sync> = Arc::new(Shared::<T> {
                    name: Arc::from(name),
                    subscribers: Mutex::new(Vec::new()),
                });
                (TypeId::of::<T>(), requested, shared)
            })
            .clone();
        let mismatch = || TopicError::TypeMismatch {
            name: name.to_owned(),
            existing,
            requested,
        };
        if type_id != TypeId::of::<T>() {
            return Err(mismatch());
        }
        let shared = shared.downcast::<Shared<T>>().map_err(|_| mismatch())?;
        Ok(Self {
            shared,
            core: system.core().clone(),
        })
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Tells `message` to every subscriber; returns how many there were. With none, the
    /// message goes to dead letters.
    pub fn publish(&self, message: T) -> usize {
        let subscribers = {
            let mut subscribers = self.shared.subscribers.lock();
            subscribers.retain(|s| !s.is_terminated());
            subscribers.clone()
        };
        if subscribers.is_empty() {
            self.core.dead_letters().publish(
                || ActorPath::new(format!("/topic/{}", self.shared.name)),
                message,
                DeadLetterReason::NoSubscribers,
            );
            return 0;
        }
        let (last, others) = subscribers.split_last().unwrap_or_else(|| unreachable!());
        for subscriber in others {
            subscriber.tell(message.clone());
        }
        last.tell(message);
        subscribers.len()
    }

    /// `subscriber` receives every message published from now on (once, however often it
    /// subscribes), until it unsubscribes or stops.
    pub fn subscribe(&self, subscriber: &ActorRef<T>) {
        {
            let mut subscribers = self.shared.subscribers.lock();
            if subscribers.contains(subscriber) {
                return;
            }
            subscribers.push(subscriber.clone());
        }
        let shared = Arc::downgrade(&self.shared);
        let gone = subscriber.clone();
        when_terminated(subscriber, move || {
            if let Some(shared) = shared.upgrade() {
                shared.subscribers.lock().retain(|s| *s != gone);
            }
        });
    }

    /// `subscriber` receives no more messages from this topic.
    pub fn unsubscribe(&self, subscriber: &ActorRef<T>) {
        self.shared.subscribers.lock().retain(|s| s != subscriber);
    }

    /// How many live subscribers the topic has.
    pub fn subscriber_count(&self) -> usize {
        let mut subscribers = self.shared.subscribers.lock();
        subscribers.retain(|s| !s.is_terminated());
        subscribers.len()
    }
}

impl<T: Send + 'static> fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.shared.name)
            .field("subscribers", &self.shared.subscribers.lock().len())
            .finish()
    }
}
