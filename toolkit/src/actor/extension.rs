//! System extensions: one value per type per actor system, created on first use (Akka's
//! `Extension`).
//!
//! This is how features above the actor core plug into a system without the core knowing them:
//! sharding keeps its regions here, and the read side, projections and a receptionist will keep
//! theirs. The core stores the values by type and drops them with the system.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::system::ActorSystem;

/// A service with one instance per [`ActorSystem`], created the first time
/// [`ActorSystem::extension`] asks for it.
///
/// ```
/// use reactant::actor::Extension;
/// use reactant::prelude::*;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// /// Numbers orders across the whole system.
/// struct OrderNumbers(AtomicU64);
///
/// impl Extension for OrderNumbers {
///     fn create(_system: &ActorSystem) -> Self {
///         OrderNumbers(AtomicU64::new(1))
///     }
/// }
///
/// let system = ActorSystem::new("docs")?;
/// let first = system.extension::<OrderNumbers>().0.fetch_add(1, Ordering::Relaxed);
/// let second = system.extension::<OrderNumbers>().0.fetch_add(1, Ordering::Relaxed);
/// assert_eq!((first, second), (1, 2), "one instance per system");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Extension: Send + Sync + 'static {
    /// Makes the system's instance. Runs once per system, on the thread that first asks; it
    /// may ask for other extensions, but not for its own type (that would wait for itself).
    fn create(system: &ActorSystem) -> Self
    where
        Self: Sized;
}

type Slot = Arc<OnceLock<Arc<dyn Any + Send + Sync>>>;

/// The extensions of one system, by type.
#[derive(Default)]
pub(crate) struct Extensions {
    /// One slot per type, made under the lock; the value is created outside it, in the slot,
    /// so that creating one extension may ask for another.
    slots: Mutex<HashMap<TypeId, Slot>>,
}

impl Extensions {
    pub(crate) fn get_or_create<T: Extension>(&self, system: &ActorSystem) -> Arc<T> {
        self.get_or_make(|| T::create(system))
    }

    pub(crate) fn get_or_make<T: Extension>(&self, make: impl FnOnce() -> T) -> Arc<T> {
        let slot = self
            .slots
            .lock()
            .entry(TypeId::of::<T>())
            .or_default()
            .clone();
        let value = slot.get_or_init(|| Arc::new(make())).clone();
        value
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("the slot of a type holds a value of that type"))
    }

    /// Drops every extension (the system is gone).
    pub(crate) fn clear(&self) {
        let slots = std::mem::take(&mut *self.slots.lock());
        drop(slots);
    }

    pub(crate) fn contains<T: Extension>(&self) -> bool {
        self.slots
            .lock()
            .get(&TypeId::of::<T>())
            .is_some_and(|slot| slot.get().is_some())
    }
}
