//! The receptionist: actors register under a typed [`ServiceKey`], and others find them or
//! subscribe to the listing (Akka Typed's local `Receptionist`).
//!
//! One receptionist per actor system ([`ActorSystem::receptionist`]). Registering the same
//! actor twice under a key lists it once; an actor that stops is deregistered by itself (death
//! watch), and every subscriber of its keys gets the new listing. Subscribers get the listing at
//! once when they subscribe, then after every change, in order; a subscriber that stops is
//! dropped. Keys with the same id but different message types are different keys.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::actor::{ActorRef, ActorSystem, Extension, when_terminated};

/// The name and message type of a service: `ServiceKey::<Job>::new("workers")`.
pub struct ServiceKey<M> {
    id: Arc<str>,
    _message: PhantomData<fn(M) -> M>,
}

impl<M: Send + 'static> ServiceKey<M> {
    /// A key named `id` for actors that take `M`.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self {
            id: id.into(),
            _message: PhantomData,
        }
    }

    /// The key's name.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn slot(&self) -> (TypeId, Arc<str>) {
        (TypeId::of::<M>(), self.id.clone())
    }
}

impl<M> Clone for ServiceKey<M> {
    fn clone(&self) -> Self {
        Self {
            id: self.id.clone(),
            _message: PhantomData,
        }
    }
}

impl<M> PartialEq for ServiceKey<M> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<M> Eq for ServiceKey<M> {}

impl<M> Hash for ServiceKey<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl<M> fmt::Debug for ServiceKey<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ServiceKey<{}>({:?})",
            std::any::type_name::<M>(),
            self.id
        )
    }
}

impl<M> fmt::Display for ServiceKey<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// The actors registered under a key at one moment, in the order they registered.
pub struct Listing<M: Send + 'static> {
    key: ServiceKey<M>,
    services: Vec<ActorRef<M>>,
}

impl<M: Send + 'static> Listing<M> {
    /// The key this listing is for.
    pub fn key(&self) -> &ServiceKey<M> {
        &self.key
    }

    /// The registered actors.
    pub fn services(&self) -> &[ActorRef<M>] {
        &self.services
    }

    /// The registered actors, owned.
    pub fn into_services(self) -> Vec<ActorRef<M>> {
        self.services
    }

    /// How many are registered.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

impl<M: Send + 'static> Clone for Listing<M> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            services: self.services.clone(),
        }
    }
}

impl<M: Send + 'static> fmt::Debug for Listing<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listing")
            .field("key", &self.key)
            .field(
                "services",
                &self.services.iter().map(ActorRef::path).collect::<Vec<_>>(),
            )
            .finish()
    }
}

struct Entry<M: Send + 'static> {
    services: Vec<ActorRef<M>>,
    subscribers: Vec<ActorRef<Listing<M>>>,
}

impl<M: Send + 'static> Default for Entry<M> {
    fn default() -> Self {
        Self {
            services: Vec::new(),
            subscribers: Vec::new(),
        }
    }
}

impl<M: Send + 'static> Entry<M> {
    fn listing(&self, key: &ServiceKey<M>) -> Listing<M> {
        Listing {
            key: key.clone(),
            services: self
                .services
                .iter()
                .filter(|s| !s.is_terminated())
                .cloned()
                .collect(),
        }
    }

    /// Tells every live subscriber the listing (under the receptionist's lock, so that
    /// subscribers see the changes in order).
    fn publish(&mut self, key: &ServiceKey<M>) {
        self.subscribers.retain(|s| !s.is_terminated());
        if self.subscribers.is_empty() {
            return;
        }
        let listing = self.listing(key);
        for subscriber in &self.subscribers {
            subscriber.tell(listing.clone());
        }
    }
}

type Entries = HashMap<(TypeId, Arc<str>), Box<dyn Any + Send>>;

/// The receptionist of one actor system: [`ActorSystem::receptionist`].
///
/// ```
/// use reactant::pattern::ServiceKey;
/// use reactant::prelude::*;
///
/// let system = ActorSystem::new("docs")?;
/// let key = ServiceKey::<u32>::new("workers");
/// let worker = system.spawn(Behaviors::receive_message(|_: u32| Behaviors::same()), "worker")?;
/// system.receptionist().register(&key, &worker);
/// let listing = system.receptionist().find(&key);
/// assert_eq!(listing.services(), [worker.clone()]);
/// system.receptionist().deregister(&key, &worker);
/// assert!(system.receptionist().find(&key).is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct Receptionist {
    entries: Arc<Mutex<Entries>>,
    /// Counts changes to any listing: how a group router knows its copy is current with one
    /// load per message.
    version: Arc<AtomicU64>,
}

impl Extension for Receptionist {
    fn create(_system: &ActorSystem) -> Self {
        Self::default()
    }
}

impl ActorSystem {
    /// This system's [`Receptionist`].
    pub fn receptionist(&self) -> Arc<Receptionist> {
        self.extension::<Receptionist>()
    }
}

fn with_entry<M: Send + 'static, R>(
    entries: &Mutex<Entries>,
    key: &ServiceKey<M>,
    f: impl FnOnce(&mut Entry<M>) -> R,
) -> R {
    let mut entries = entries.lock();
    let entry = entries
        .entry(key.slot())
        .or_insert_with(|| Box::new(Entry::<M>::default()));
    match entry.downcast_mut::<Entry<M>>() {
        Some(entry) => f(entry),
        None => unreachable!("a key's slot holds the entry of the key's message type"),
    }
}

impl Receptionist {
    /// Lists `service` under `key` until it is deregistered or stops. Registering it again
    /// changes nothing.
    pub fn register<M: Send + 'static>(&self, key: &ServiceKey<M>, service: &ActorRef<M>) {
        let added = with_entry(&self.entries, key, |entry| {
            entry.services.retain(|s| !s.is_terminated());
            if entry.services.contains(service) {
                return false;
            }
            entry.services.push(service.clone());
            self.version.fetch_add(1, Ordering::Release);
            entry.publish(key);
            true
        });
        if added {
            let entries = Arc::downgrade(&self.entries);
            let version = Arc::downgrade(&self.version);
            let (key, gone) = (key.clone(), service.clone());
            when_terminated(service, move || {
                if let (Some(entries), Some(version)) = (entries.upgrade(), version.upgrade()) {
                    remove_service(&entries, &version, &key, &gone);
                }
            });
        }
    }

    /// Takes `service` off `key`'s listing (nothing happens if it was not on it).
    pub fn deregister<M: Send + 'static>(&self, key: &ServiceKey<M>, service: &ActorRef<M>) {
        remove_service(&self.entries, &self.version, key, service);
    }

    /// Changes so far to any listing (a group router compares it with its copy's).
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The actors registered under `key` now.
    pub fn find<M: Send + 'static>(&self, key: &ServiceKey<M>) -> Listing<M> {
        with_entry(&self.entries, key, |entry| entry.listing(key))
    }

    /// Tells `subscriber` the listing of `key` now, and again after every change, until it
    /// unsubscribes or stops.
    pub fn subscribe<M: Send + 'static>(
        &self,
        key: &ServiceKey<M>,
        subscriber: &ActorRef<Listing<M>>,
    ) {
        let added = with_entry(&self.entries, key, |entry| {
            subscriber.tell(entry.listing(key));
            if entry.subscribers.contains(subscriber) {
                return false;
            }
            entry.subscribers.push(subscriber.clone());
            true
        });
        if added {
            let entries = Arc::downgrade(&self.entries);
            let (key, gone) = (key.clone(), subscriber.clone());
            when_terminated(subscriber, move || {
                if let Some(entries) = entries.upgrade() {
                    with_entry(&entries, &key, |entry| {
                        entry.subscribers.retain(|s| *s != gone);
                    });
                }
            });
        }
    }

    /// `subscriber` gets no more listings of `key`.
    pub fn unsubscribe<M: Send + 'static>(
        &self,
        key: &ServiceKey<M>,
        subscriber: &ActorRef<Listing<M>>,
    ) {
        with_entry(&self.entries, key, |entry| {
            entry.subscribers.retain(|s| s != subscriber);
        });
    }
}

fn remove_service<M: Send + 'static>(
    entries: &Mutex<Entries>,
    version: &AtomicU64,
    key: &ServiceKey<M>,
    service: &ActorRef<M>,
) {
    with_entry(entries, key, |entry| {
        let before = entry.services.len();
        entry.services.retain(|s| s != service);
        if entry.services.len() != before {
            version.fetch_add(1, Ordering::Release);
            entry.publish(key);
        }
    });
}

impl fmt::Debug for Receptionist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receptionist")
            .field("keys", &self.entries.lock().len())
            .finish()
    }
}
