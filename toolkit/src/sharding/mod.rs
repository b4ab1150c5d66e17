//! Sharding in one process, as in Akka Cluster Sharding: `ShardRegion` → shard → entity.
//!
//! An application addresses entities by id — hundreds of thousands of them — and only the
//! active ones use memory. [`Sharding::init`] starts a [`ShardRegion`] for an entity type; the
//! region hashes each entity id to one of `number_of_shards` shards (the 64-bit FNV-1a hash of
//! the id's UTF-8 bytes, modulo the number of shards: stable across restarts and versions).
//! Each shard is an actor, the parent and supervisor of its entities: it starts an entity on
//! its first message, holds the messages of an entity that is starting or passivating and
//! hands them, in order, to the next incarnation, and passivates entities that are idle, over
//! the active-entity limit (least recently used first), or that ask for it.
//!
//! Messages to a running entity go from the sender's thread straight into its mailbox: no hop
//! through the shard actor (see `benches/README.md` for what the region costs beside a direct
//! `tell`). To send to one entity often, keep its [`EntityRef`] ([`ShardRegion::entity`]): once
//! it has found the entity running it sends at about the cost of a plain `ActorRef::tell`. An
//! envelope ([`ShardRegion::tell`]) also looks its id up in the shard's index of active
//! entities. Entity ids are [`EntityId`]s, which carry their hash: an application that keeps
//! them and clones them into its envelopes pays no allocation and no hashing per message.
//! Messages for one entity keep their send order.
//!
//! # Passivation, and work that must finish
//!
//! An entity is passivated (stopped, to start again on its next message) when it asks
//! ([`EntityContext::passivate`]), when it is over the active entity limit (least recently
//! used first), or when it is idle: no message **through sharding** — the region, an
//! [`EntityRef`] — for the idle timeout. As in Akka, an entity's own traffic does not count:
//! its timers, message-adapter replies and `ctx.ask` outcomes go straight to its mailbox, so an
//! entity that only waits for them is idle, and its timers stop with it. A passivating entity
//! that does not stop within the passivation stop timeout (10 s) is stopped by its shard.
//!
//! An entity with unfinished work that no message through sharding will wake — a saga waiting
//! for a reply or a retry — calls [`EntityContext::remember`] (Akka's remember-entities, per
//! entity): it is never passivated automatically, starts again after a backoff if it fails or
//! stops itself, and starts by itself when its region is initialised after a crash or a
//! restart of the process. It calls [`EntityContext::forget`] (or passivates) when it is done.
//! Remembered entities are stored in the journal of the entity type's persistence
//! ([`ShardedEntity::with_remember_entities`]; event-sourced types use theirs).
//!
//! # Names
//!
//! An *entity type* is what [`Sharding::init`] starts a region for (a [`ShardedEntity`], or an
//! event-sourced [`Entity`] type); an *entity* is one instance of it, addressed by its
//! [`EntityId`]; [`EntityRef`] is a reference to one entity that stays valid across its
//! passivations and restarts. There is one way to get an `EntityRef` per thing you hold: the
//! region ([`ShardRegion::entity`]), the entity type's key from anywhere in the system
//! ([`Sharding::entity_ref_for`]), or the key from inside an entity
//! ([`EntityContext::entity_ref_for`], and [`EntityContext::entity_ref`] for itself).
//!
//! Actor paths: `/user/sharding-{type_key}/{shard}/{entity_id}` (an id that is not a valid
//! actor name runs under an anonymous name).
//!
//! ```
//! use reactant::prelude::*;
//! use reactant::sharding::{EntityTypeKey, ShardedEntity, ShardingEnvelope};
//! use std::time::Duration;
//!
//! enum Greeter { Greet { whom: String, reply_to: ActorRef<String> } }
//!
//! let system = ActorSystem::new("docs")?;
//! let greeters = system.sharding().init(ShardedEntity::new(
//!     EntityTypeKey::<Greeter>::new("greeter"),
//!     |entity| {
//!         let me = entity.entity_id().to_owned();
//!         Behaviors::receive_message(move |Greeter::Greet { whom, reply_to }| {
//!             reply_to.tell(format!("{me} greets {whom}"));
//!             Behaviors::same()
//!         })
//!     },
//! ))?;
//! let reply = greeters
//!     .entity("g-1")
//!     .ask(|reply_to| Greeter::Greet { whom: "Ada".into(), reply_to })
//!     .wait(Duration::from_secs(3))?;
//! assert_eq!(reply, "g-1 greets Ada");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod entity;
mod error;
mod key;
mod region;
mod shard;
mod table;

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

pub use entity::{
    DEFAULT_BUFFER_SIZE, DEFAULT_IDLE_TIMEOUT, DEFAULT_NUMBER_OF_SHARDS,
    DEFAULT_PASSIVATION_STOP_TIMEOUT, DEFAULT_REMEMBERED_RESTART_BACKOFF, EntityContext,
    ShardedEntity, ShardingSettings,
};
pub use error::ShardingError;
pub use key::{EntityId, EntityTypeKey, ShardingEnvelope};
pub use region::{EntityRef, RegionStats, ShardRegion, ShardStats};

use crate::actor::{ActorSystem, Extension};
use crate::persistence::{Entity, Persistence};

/// The regions of one actor system, by type key: the system's sharding extension. Each region
/// keeps a weak reference to it, so that its entities can reach the other regions
/// ([`EntityContext::entity_ref_for`]).
#[derive(Default)]
pub(crate) struct Registry {
    regions: Mutex<HashMap<String, Registered>>,
}

impl Extension for Registry {
    fn create(_system: &ActorSystem) -> Self {
        Self::default()
    }
}

impl Registry {
    /// The running region of `key`, if it was initialised with this message type.
    pub(crate) fn region<M: Send + 'static>(
        &self,
        key: &EntityTypeKey<M>,
    ) -> Option<ShardRegion<M>> {
        self.regions
            .lock()
            .get(key.name())?
            .region
            .downcast_ref::<ShardRegion<M>>()
            .cloned()
    }
}

struct Registered {
    message_type: &'static str,
    region: Box<dyn Any + Send + Sync>,
}

/// Sharding of an actor system: [`ActorSystem::sharding`].
pub struct Sharding<'a> {
    system: &'a ActorSystem,
}

impl ActorSystem {
    /// Sharding for this system: start regions with [`Sharding::init`].
    pub fn sharding(&self) -> Sharding<'_> {
        Sharding { system: self }
    }
}

impl Sharding<'_> {
    /// Starts the region of an entity type, or returns the running one if this type key is
    /// already initialised with the same message type (its settings stay as first given).
    ///
    /// Two forms: `init(ShardedEntity::new(key, |entity| behavior))` for any behavior, and
    /// `init::<Account>(persistence)` for an event-sourced [`Entity`] type (what
    /// `#[derive(Entity)]` writes), whose entities persist to `persistence` and are rebuilt
    /// from their snapshot and events whenever they start again.
    pub fn init<T: Shardable>(
        &self,
        entity: impl ShardingInit<T>,
    ) -> Result<ShardRegion<T::Message>, ShardingError> {
        let entity = entity.into_sharded_entity();
        let type_key = entity.key.name().to_owned();
        let requested = std::any::type_name::<T::Message>();
        if entity.settings.number_of_shards == 0 {
            return Err(ShardingError::InvalidSettings {
                type_key,
                reason: "number_of_shards is 0; use at least 1 (the default is 100)".into(),
            });
        }
        if entity.settings.active_limit == Some(0) {
            return Err(ShardingError::InvalidSettings {
                type_key,
                reason: "an active entity limit of 0 would stop every entity at once; use at \
                         least 1, or no limit"
                    .into(),
            });
        }
        let registry = self.system.extension::<Registry>();
        let mut regions = registry.regions.lock();
        if let Some(registered) = regions.get(&type_key) {
            return registered
                .region
                .downcast_ref::<ShardRegion<T::Message>>()
                .cloned()
                .ok_or(ShardingError::TypeMismatch {
                    type_key,
                    registered: registered.message_type,
                    requested,
                });
        }
        // Read before the region starts: a region that cannot know what to restart does not.
        // The journal is user code: its panic is this call's error, not the caller's panic.
        let remembered = match &entity.remember {
            Some(persistence) => {
                crate::supervision::panic::catch(|| persistence.journal().remembered(&type_key))
                    .unwrap_or_else(|panic| {
                        Err(crate::persistence::JournalError::Storage(format!(
                            "the journal panicked while listing the remembered entities: {}",
                            panic.message()
                        )))
                    })
                    .map_err(|source| ShardingError::Remembered {
                        type_key: type_key.clone(),
                        source,
                    })?
            }
            None => Vec::new(),
        };
        let region = ShardRegion::start(
            entity.key.shared_name(),
            entity.settings,
            entity.factory,
            entity.stop_message,
            entity.remember,
            self.system,
        )
        .map_err(|source| ShardingError::Spawn {
            type_key: type_key.clone(),
            source,
        })?;
        region.start_remembered(remembered);
        regions.insert(
            type_key,
            Registered {
                message_type: requested,
                region: Box::new(region.clone()),
            },
        );
        Ok(region)
    }

    /// [`init`](Self::init) with `settings` (shards, idle timeout, active entity limit,
    /// buffer), e.g. for an event-sourced [`Entity`] type:
    ///
    /// ```
    /// # use reactant::persistence::Persistence;
    /// # use reactant::prelude::*;
    /// # use reactant::sharding::ShardingSettings;
    /// # use serde::{Deserialize, Serialize};
    /// # use std::time::Duration;
    /// #[derive(Clone, Debug, Serialize, Deserialize, Event)]
    /// enum Counted { Added(u64) }
    ///
    /// #[derive(Default, Serialize, Deserialize, Entity)]
    /// #[entity(type_key = "counter", event = Counted)]
    /// struct Counter { total: u64 }
    ///
    /// #[entity]
    /// impl Counter {
    ///     fn apply(&mut self, event: &Counted) {
    ///         let Counted::Added(n) = event;
    ///         self.total += n;
    ///     }
    ///     pub fn total(&self) -> u64 { self.total }
    /// }
    ///
    /// let system = ActorSystem::new("docs")?;
    /// let settings = ShardingSettings::default()
    ///     .with_number_of_shards(10)
    ///     .with_idle_timeout(Duration::from_secs(30));
    /// let counters = system
    ///     .sharding()
    ///     .init_with::<Counter>(Persistence::in_memory()?, settings)?;
    /// assert_eq!(counters.stats().number_of_shards, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn init_with<T: Shardable>(
        &self,
        entity: impl ShardingInit<T>,
        settings: ShardingSettings,
    ) -> Result<ShardRegion<T::Message>, ShardingError> {
        let entity = entity.into_sharded_entity().with_settings(settings);
        self.init::<ShardedEntity<T::Message>>(entity)
    }

    /// The running region of `key`, if it was initialised (with this message type).
    pub fn region<M: Send + 'static>(&self, key: &EntityTypeKey<M>) -> Option<ShardRegion<M>> {
        self.system.extension::<Registry>().region(key)
    }

    /// A reference to the entity `entity_id` of a running region (Akka's `entityRefFor`).
    pub fn entity_ref_for<M: Send + 'static>(
        &self,
        key: &EntityTypeKey<M>,
        entity_id: &str,
    ) -> Option<EntityRef<M>> {
        Some(self.region(key)?.entity(entity_id))
    }
}

/// Keeps [`Shardable`] and [`ShardingInit`] implemented only here: they name what
/// [`Sharding::init`] accepts, and are not extension points.
mod sealed {
    pub trait Shardable {}
    pub trait ShardingInit<T> {}
}

/// What [`Sharding::init`] can start a region for: names the region's message type. Implemented
/// for [`ShardedEntity`] and for every event-sourced [`Entity`] type (sealed: not for other
/// types).
pub trait Shardable: sealed::Shardable {
    /// The messages the region's entities handle.
    type Message: Send + 'static;
}

impl<M: Send + 'static> sealed::Shardable for ShardedEntity<M> {}
impl<M: Send + 'static> Shardable for ShardedEntity<M> {
    type Message = M;
}

impl<E: Entity> sealed::Shardable for E {}
impl<E: Entity> Shardable for E {
    type Message = E::Command;
}

/// The argument of [`Sharding::init`] for a [`Shardable`] type `T`: a [`ShardedEntity`]
/// itself, or, for an event-sourced [`Entity`], the [`Persistence`] its entities use (sealed).
pub trait ShardingInit<T: Shardable>: sealed::ShardingInit<T> {
    /// The region's entity type.
    fn into_sharded_entity(self) -> ShardedEntity<T::Message>;
}

impl<M: Send + 'static> sealed::ShardingInit<ShardedEntity<M>> for ShardedEntity<M> {}
impl<M: Send + 'static> ShardingInit<ShardedEntity<M>> for ShardedEntity<M> {
    fn into_sharded_entity(self) -> ShardedEntity<M> {
        self
    }
}

impl<E: Entity> sealed::ShardingInit<E> for Arc<Persistence> {}
impl<E: Entity> ShardingInit<E> for Arc<Persistence> {
    fn into_sharded_entity(self) -> ShardedEntity<E::Command> {
        ShardedEntity::for_entity::<E>(self)
    }
}
