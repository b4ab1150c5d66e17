//! What a region runs: [`ShardedEntity`] (the entity type's key, how to build one entity's
//! behavior, and the settings of its region) and the [`EntityContext`] each entity is built
//! with.

use std::sync::Arc;
use std::time::Duration;

use super::error::ShardingError;
use super::key::{EntityId, EntityTypeKey};
use super::region::{EntityRef, ShardRegion};
use super::shard::ShardMsg;
use crate::actor::{ActorRef, Behavior};
use crate::persistence::{Entity, Persistence};

/// Shards per region unless configured: enough to spread entity starts and routing locks over
/// many threads, few enough that an idle region costs nothing worth counting.
pub const DEFAULT_NUMBER_OF_SHARDS: u32 = 100;
/// Passivation after this long without a message, unless configured (Akka's default).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Messages a shard holds for entities that are starting or passivating, unless configured.
pub const DEFAULT_BUFFER_SIZE: usize = 10_000;
/// How long a passivating entity may take to stop before its shard stops it, unless configured
/// (Akka's default).
pub const DEFAULT_PASSIVATION_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a remembered entity that stopped without forgetting itself (it failed, or stopped
/// itself) waits before its shard starts it again, unless configured (Akka's
/// `entity-restart-backoff`).
pub const DEFAULT_REMEMBERED_RESTART_BACKOFF: Duration = Duration::from_secs(10);

pub(crate) type Factory<M> = dyn Fn(&EntityContext<M>) -> Behavior<M> + Send + Sync;
pub(crate) type StopMessage<M> = dyn Fn() -> M + Send + Sync;

/// An entity type for [`Sharding::init`](super::Sharding::init): its key, the behavior of one
/// entity, and how its region shards, buffers and passivates.
///
/// ```
/// use reactant::prelude::*;
/// use reactant::sharding::{EntityTypeKey, ShardedEntity};
/// use std::time::Duration;
///
/// enum Counter { Add(u64), Get(ActorRef<u64>) }
///
/// fn counter(total: u64) -> Behavior<Counter> {
///     Behaviors::receive_message(move |msg| match msg {
///         Counter::Add(n) => counter(total + n),
///         Counter::Get(reply_to) => {
///             reply_to.tell(total);
///             Behaviors::same()
///         }
///     })
/// }
///
/// let system = ActorSystem::new("docs")?;
/// let counters = system.sharding().init(
///     ShardedEntity::new(EntityTypeKey::<Counter>::new("counter"), |_entity| counter(0))
///     .with_idle_timeout(Duration::from_secs(30)),
/// )?;
/// counters.entity("c-1").tell(Counter::Add(2));
/// assert_eq!(counters.entity("c-1").ask(Counter::Get).wait(Duration::from_secs(3))?, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ShardedEntity<M: Send + 'static> {
    pub(crate) key: EntityTypeKey<M>,
    pub(crate) factory: Arc<Factory<M>>,
    pub(crate) settings: ShardingSettings,
    pub(crate) stop_message: Option<Arc<StopMessage<M>>>,
    pub(crate) remember: Option<Arc<Persistence>>,
}

/// How a region shards, buffers and passivates: for
/// [`Sharding::init_with`](super::Sharding::init_with), or [`ShardedEntity::with_settings`].
/// Each setting has the same-named method on [`ShardedEntity`].
///
/// ```
/// use reactant::sharding::ShardingSettings;
/// use std::time::Duration;
///
/// let settings = ShardingSettings::default()
///     .with_number_of_shards(10)
///     .with_idle_timeout(Duration::from_secs(30))
///     .with_active_entity_limit(10_000);
/// assert_eq!(settings.number_of_shards(), 10);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardingSettings {
    pub(crate) number_of_shards: u32,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) active_limit: Option<usize>,
    pub(crate) buffer_size: usize,
    pub(crate) stop_timeout: Duration,
    pub(crate) remembered_restart_backoff: Duration,
}

impl Default for ShardingSettings {
    /// [`DEFAULT_NUMBER_OF_SHARDS`] shards, passivation after [`DEFAULT_IDLE_TIMEOUT`] idle, no
    /// active entity limit, [`DEFAULT_BUFFER_SIZE`] held messages per shard, and
    /// [`DEFAULT_PASSIVATION_STOP_TIMEOUT`] for a passivating entity to stop, and
    /// [`DEFAULT_REMEMBERED_RESTART_BACKOFF`] before a remembered entity starts again.
    fn default() -> Self {
        Self {
            number_of_shards: DEFAULT_NUMBER_OF_SHARDS,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            active_limit: None,
            buffer_size: DEFAULT_BUFFER_SIZE,
            stop_timeout: DEFAULT_PASSIVATION_STOP_TIMEOUT,
            remembered_restart_backoff: DEFAULT_REMEMBERED_RESTART_BACKOFF,
        }
    }
}

impl ShardingSettings {
    /// How many shards the entity ids are hashed over (default 100). Keep it fixed for a data
    /// folder's life: with persistence the entity id, not the shard, names the journal stream,
    /// so changing it is safe, but it moves entities between shards.
    pub fn with_number_of_shards(mut self, shards: u32) -> Self {
        self.number_of_shards = shards;
        self
    }

    /// Passivates an entity that received no message through sharding for `timeout` (checked
    /// every quarter of it, so it happens between `timeout` and 1.25 × `timeout`). Default: two
    /// minutes.
    ///
    /// Only messages sent through sharding count — through the region, an [`EntityRef`], or
    /// [`EntityContext::entity_ref`] — as in Akka. What an entity sends itself does not: its
    /// timers, message-adapter replies and `ctx.ask` outcomes arrive straight in its mailbox,
    /// so an entity that only waits for those is idle, and its timers stop with it. An entity
    /// with unfinished work that no message through sharding will wake (a saga waiting for a
    /// reply or a retry timer) calls [`EntityContext::remember`]: it is then never passivated
    /// for idleness, and it starts again after a crash.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Never passivates for idleness.
    pub fn without_idle_timeout(mut self) -> Self {
        self.idle_timeout = None;
        self
    }

    /// Keeps at most `limit` entities active: starting one more passivates the least recently
    /// used. The limit is split evenly over the shards (each keeps `ceil(limit / shards)`).
    /// Remembered entities ([`EntityContext::remember`]) are never passivated for it and do
    /// not count toward it. Default: no limit.
    pub fn with_active_entity_limit(mut self, limit: usize) -> Self {
        self.active_limit = Some(limit);
        self
    }

    /// How many messages one shard holds for its entities that are starting or passivating
    /// (default 10,000); beyond that they go to dead letters and are counted in
    /// [`RegionStats::dropped_messages`](super::RegionStats::dropped_messages).
    pub fn with_buffer_size(mut self, messages: usize) -> Self {
        self.buffer_size = messages;
        self
    }

    /// How long a passivating entity may take to stop (default 10 s, as in Akka). An entity
    /// that ignores or stashes its stop message, or is still busy when the time is up, is
    /// stopped by its shard: what it had stashed or not yet handled then goes to dead letters
    /// (reason [`RecipientStopped`](crate::dead_letters::DeadLetterReason::RecipientStopped),
    /// with a warning in the log), while the messages sent to its id since the passivation
    /// began go to its next incarnation as usual.
    pub fn with_passivation_stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// How long a remembered entity (see [`EntityContext::remember`]) that stopped without
    /// forgetting itself — it failed for good, or stopped itself — waits before its shard
    /// starts it again (default 10 s, Akka's `entity-restart-backoff`). Messages sent to it
    /// meanwhile are held for it.
    pub fn with_remembered_restart_backoff(mut self, backoff: Duration) -> Self {
        self.remembered_restart_backoff = backoff;
        self
    }

    /// The number of shards.
    pub fn number_of_shards(&self) -> u32 {
        self.number_of_shards
    }

    /// The idle timeout, if entities passivate for idleness.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// The active entity limit, if any.
    pub fn active_entity_limit(&self) -> Option<usize> {
        self.active_limit
    }

    /// How many messages one shard holds for entities that cannot take them yet.
    pub fn buffer_size(&self) -> usize {
        self.buffer_size
    }

    /// How long a passivating entity may take to stop before its shard stops it.
    pub fn passivation_stop_timeout(&self) -> Duration {
        self.stop_timeout
    }

    /// How long a remembered entity that stopped waits before it starts again.
    pub fn remembered_restart_backoff(&self) -> Duration {
        self.remembered_restart_backoff
    }
}

impl<M: Send + 'static> ShardedEntity<M> {
    /// Entities of type `key`, each started on its first message with the behavior `factory`
    /// returns for it.
    pub fn new<B>(
        key: EntityTypeKey<M>,
        factory: impl Fn(&EntityContext<M>) -> B + Send + Sync + 'static,
    ) -> Self
    where
        B: Into<Behavior<M>>,
    {
        Self {
            key,
            factory: Arc::new(move |ctx: &EntityContext<M>| factory(ctx).into()),
            settings: ShardingSettings::default(),
            stop_message: None,
            remember: None,
        }
    }

    /// The event-sourced [`Entity`] type `E`, persisting to `persistence`: what
    /// `init::<E>(persistence)` starts, here to configure first (a stop message, settings).
    pub fn for_entity<E>(persistence: Arc<Persistence>) -> ShardedEntity<E::Command>
    where
        E: Entity<Command = M>,
    {
        let store = persistence.clone();
        ShardedEntity::new(EntityTypeKey::new(E::TYPE_KEY), move |entity| {
            E::behavior(entity.entity_id(), persistence.clone()).with_shard(entity)
        })
        .with_remember_entities(store)
    }

    /// Lets this type's entities ask to be remembered ([`EntityContext::remember`]): stored in
    /// `persistence`'s journal, they start again by themselves when the region starts after a
    /// crash or a restart of the process. Event-sourced entity types
    /// ([`for_entity`](Self::for_entity), `init::<E>(persistence)`) use their persistence.
    pub fn with_remember_entities(mut self, persistence: Arc<Persistence>) -> Self {
        self.remember = Some(persistence);
        self
    }

    /// All the region's settings at once (replacing any set before).
    pub fn with_settings(mut self, settings: ShardingSettings) -> Self {
        self.settings = settings;
        self
    }

    /// See [`ShardingSettings::with_number_of_shards`] (default 100).
    pub fn with_number_of_shards(mut self, shards: u32) -> Self {
        self.settings = self.settings.with_number_of_shards(shards);
        self
    }

    /// See [`ShardingSettings::with_idle_timeout`] (default: two minutes).
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.with_idle_timeout(timeout);
        self
    }

    /// Never passivates for idleness.
    pub fn without_idle_timeout(mut self) -> Self {
        self.settings = self.settings.without_idle_timeout();
        self
    }

    /// See [`ShardingSettings::with_active_entity_limit`] (default: no limit).
    pub fn with_active_entity_limit(mut self, limit: usize) -> Self {
        self.settings = self.settings.with_active_entity_limit(limit);
        self
    }

    /// See [`ShardingSettings::with_buffer_size`] (default 10,000).
    pub fn with_buffer_size(mut self, messages: usize) -> Self {
        self.settings = self.settings.with_buffer_size(messages);
        self
    }

    /// See [`ShardingSettings::with_passivation_stop_timeout`] (default 10 s).
    pub fn with_passivation_stop_timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.with_passivation_stop_timeout(timeout);
        self
    }

    /// See [`ShardingSettings::with_remembered_restart_backoff`] (default 10 s).
    pub fn with_remembered_restart_backoff(mut self, backoff: Duration) -> Self {
        self.settings = self.settings.with_remembered_restart_backoff(backoff);
        self
    }

    /// Passivates an entity by sending it this message (Akka's `withStopMessage`): the entity
    /// finishes what it is doing and then stops itself. Without one, the shard stops the entity
    /// once it has handled every message already delivered.
    pub fn with_stop_message(mut self, message: impl Fn() -> M + Send + Sync + 'static) -> Self {
        self.stop_message = Some(Arc::new(message));
        self
    }
}

/// What an entity is built with: its id, its shard, a reference to itself that survives
/// passivation, and the way to ask for passivation.
pub struct EntityContext<M: Send + 'static> {
    pub(crate) entity_id: EntityId,
    pub(crate) shard_id: u32,
    pub(crate) incarnation: u64,
    pub(crate) shard: ActorRef<ShardMsg>,
    pub(crate) region: ShardRegion<M>,
}

impl<M: Send + 'static> Clone for EntityContext<M> {
    fn clone(&self) -> Self {
        Self {
            entity_id: self.entity_id.clone(),
            shard_id: self.shard_id,
            incarnation: self.incarnation,
            shard: self.shard.clone(),
            region: self.region.clone(),
        }
    }
}

impl<M: Send + 'static> EntityContext<M> {
    /// The entity's id.
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    /// The shard the entity lives in.
    pub fn shard_id(&self) -> u32 {
        self.shard_id
    }

    /// A reference to this entity through its region: it stays valid across passivation and
    /// restarts (a message to a passivated entity starts it again).
    pub fn entity_ref(&self) -> EntityRef<M> {
        self.region.entity_ref(self.entity_id.clone())
    }

    /// A reference to the entity `entity_id` of another region of this entity's actor system
    /// (Akka's `ClusterSharding(context.system).entityRefFor`), or `None` if no region of `key`
    /// (with this message type) has been initialised. How an entity reaches the entities it
    /// works with — a saga the accounts it moves money between — without holding their region
    /// in its state: initialise those regions first, so that a remembered entity that starts
    /// again with its own region finds them.
    pub fn entity_ref_for<N: Send + 'static>(
        &self,
        key: &EntityTypeKey<N>,
        entity_id: &str,
    ) -> Option<EntityRef<N>> {
        let registry = self.region.core().registry.upgrade()?;
        Some(registry.region(key)?.entity(entity_id))
    }

    /// Keeps this entity running until it [`forget`](Self::forget)s itself or
    /// [`passivate`](Self::passivate)s (Akka's remember-entities, for one entity): it is no
    /// longer passivated for idleness or over the active entity limit; if it fails or stops
    /// itself, its shard starts it again after
    /// [`remembered_restart_backoff`](ShardingSettings::with_remembered_restart_backoff); and
    /// after a crash or a restart of the process it starts again by itself as soon as its
    /// region is initialised. For work in progress that must finish — a saga waiting for a
    /// reply or a timer — which no message through sharding would otherwise wake. An entity
    /// that remembers itself while its shard passivates it (it was idle until this very
    /// message) starts again as soon as it has stopped.
    ///
    /// Durable in the journal of the entity type's persistence, in order with the entity's
    /// writes: remember before persisting the event that starts the work, and the record is
    /// stored no later than that event. Returns at once; a failed write is logged as an error
    /// (the entity then runs on, remembered only until the process ends).
    ///
    /// Fails only if the entity type has no store for remembered entities (see
    /// [`ShardedEntity::with_remember_entities`]).
    pub fn remember(&self) -> Result<(), ShardingError> {
        self.set_remembered(true)
    }

    /// Ends [`remember`](Self::remember): the work is done. The entity passivates for
    /// idleness again, and does not start again after a restart of the process.
    pub fn forget(&self) -> Result<(), ShardingError> {
        self.set_remembered(false)
    }

    /// Whether this entity is remembered now.
    pub fn is_remembered(&self) -> bool {
        let core = self.region.core();
        core.table(self.shard_id)
            .lock()
            .is_remembered(&self.entity_id, self.incarnation)
    }

    fn set_remembered(&self, remembered: bool) -> Result<(), ShardingError> {
        let core = self.region.core();
        let Some(store) = &core.remember else {
            return Err(ShardingError::NoRememberStore {
                type_key: core.type_key.to_string(),
                entity_id: self.entity_id.to_string(),
            });
        };
        let changed = core.table(self.shard_id).lock().set_remembered(
            &self.entity_id,
            self.incarnation,
            remembered,
        );
        if changed {
            let (type_key, entity_id) = (core.type_key.clone(), self.entity_id.shared_text());
            store.set_remembered(
                type_key.clone(),
                entity_id.clone(),
                remembered,
                Box::new(move |outcome| {
                    if let Err(error) = outcome {
                        tracing::error!(
                            type_key = %type_key,
                            entity_id = %entity_id,
                            remembered,
                            %error,
                            "could not store that a sharded entity is remembered (or forgotten); \
                             it runs on, but a restart of the process will not bring it back (or \
                             will start it once more)"
                        );
                    }
                }),
            );
        }
        Ok(())
    }

    /// Asks the shard to passivate this entity (Akka's `Passivate`): messages that arrive
    /// meanwhile are held and start a new incarnation after this one has stopped. A
    /// remembered entity is forgotten first (as in Akka: passivating is how it says it is done).
    pub fn passivate(&self) {
        if self.region.core().remember.is_some() && self.is_remembered() {
            let _ = self.forget();
        }
        self.shard.tell(ShardMsg::Passivate {
            entity_id: self.entity_id.clone(),
            incarnation: self.incarnation,
        });
    }
}
