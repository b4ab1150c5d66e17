//! The region: the handle applications send through. It places an entity id in its shard (by
//! the id's precomputed hash) and sends straight into an active entity's mailbox through the
//! shard's index of active entities, or routes under the shard's lock (see `table`); the shard
//! actors are only involved when an entity starts, passivates or stops.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, Weak};

use crossbeam_utils::CachePadded;

use super::Registry;
use super::entity::{Factory, ShardingSettings as Settings, StopMessage};
use super::key::{EntityId, ShardingEnvelope, shard_of};
use super::shard::{Shard, ShardMsg};
use super::table::{EntityHandle, Routed, ShardRoutes};
use crate::actor::{
    Actor, ActorPath, ActorRef, ActorSystem, AnyActorRef, Context, Recipient, SystemCore,
};
use crate::ask::{Pending, PromiseRecipient};
use crate::dead_letters::DeadLetterReason;
use crate::error::SpawnError;
use crate::persistence::Persistence;
use crate::sync::SpinLock;

pub(crate) struct RegionCore<M: Send + 'static> {
    pub(crate) type_key: Arc<str>,
    pub(crate) settings: Settings,
    pub(crate) factory: Arc<Factory<M>>,
    pub(crate) stop_message: Option<Arc<StopMessage<M>>>,
    /// Where remembered entities are stored, if they can be.
    pub(crate) remember: Option<Arc<Persistence>>,
    /// Per shard, each on its own cache lines: senders to neighbouring shards share nothing.
    tables: Box<[CachePadded<ShardRoutes<M>>]>,
    /// The region's actor: parent of the shards, which it starts on demand.
    actor: OnceLock<ActorRef<RegionMsg>>,
    system: Arc<SystemCore>,
    /// The regions of the same system, for [`EntityContext::entity_ref_for`]
    /// (weak: the registry holds this region).
    ///
    /// [`EntityContext::entity_ref_for`]: super::EntityContext::entity_ref_for
    pub(crate) registry: Weak<Registry>,
    started: AtomicU64,
    passivations: AtomicU64,
    dropped: AtomicU64,
    /// Messages refused for an empty entity id.
    empty_ids: AtomicU64,
}

impl<M: Send + 'static> RegionCore<M> {
    pub(crate) fn table(&self, shard: u32) -> &ShardRoutes<M> {
        &self.tables[shard as usize]
    }

    /// The name of the region's actor: `sharding-{type_key}`.
    fn actor_name(&self) -> String {
        format!("sharding-{}", self.type_key)
    }

    /// The region's actor's path: `/user/sharding-{type_key}`.
    fn path(&self) -> ActorPath {
        ActorPath::new("/user").child(&self.actor_name())
    }

    pub(crate) fn per_shard_limit(&self) -> Option<usize> {
        let shards = self.settings.number_of_shards as usize;
        self.settings
            .active_limit
            .map(|limit| limit.div_ceil(shards).max(1))
    }

    pub(crate) fn count_start(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_passivation(&self) {
        self.passivations.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dead_letter(&self, msg: M, reason: DeadLetterReason) {
        self.system
            .dead_letters()
            .publish(|| self.path(), msg, reason);
    }

    /// Sends to the entity if it is active, else routes through the shard's table; with
    /// `want_handle`, returns the handle of the active entity the message went to.
    #[inline]
    fn deliver(
        &self,
        entity_id: &EntityId,
        shard: u32,
        msg: M,
        want_handle: bool,
    ) -> Option<Arc<EntityHandle<M>>> {
        let routes = &self.tables[shard as usize];
        match routes.send_to_active(entity_id, msg, want_handle) {
            Ok(handle) => handle,
            Err(msg) => self.route(routes, entity_id, shard, msg, want_handle),
        }
    }

    /// Routes through the shard's table, under its lock.
    #[cold]
    fn route(
        &self,
        routes: &ShardRoutes<M>,
        entity_id: &EntityId,
        shard: u32,
        msg: M,
        want_handle: bool,
    ) -> Option<Arc<EntityHandle<M>>> {
        // Never active, so only ever routed here: refused before it gets a slot.
        if entity_id.is_empty() {
            let refused = self.empty_ids.fetch_add(1, Ordering::Relaxed) + 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    type_key = %self.type_key,
                    refused,
                    "a message was sent to a sharded entity with an empty id; it goes to dead \
                     letters (give every entity a non-empty id)"
                );
            }
            self.dead_letter(msg, DeadLetterReason::EmptyEntityId);
            return None;
        }
        let routed = routes
            .lock()
            .route(entity_id, msg, self.settings.buffer_size, want_handle);
        match routed {
            Routed::Done(handle) => return handle,
            Routed::Start(id) => {
                if let Some(actor) = self.actor.get() {
                    actor.tell(RegionMsg::Start { shard, id });
                }
            }
            Routed::Full(msg) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // One line per doubling, not one per message: a burst can drop millions.
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        type_key = %self.type_key,
                        entity_id = entity_id.as_str(),
                        shard,
                        capacity = self.settings.buffer_size,
                        dropped,
                        "shard buffer full; messages dropped to dead letters (raise \
                         with_buffer_size, or send more slowly while entities start)"
                    );
                }
                self.dead_letter(msg, DeadLetterReason::ShardBufferFull);
            }
        }
        None
    }
}

/// Where an application sends messages for the entities of one type: by envelope
/// ([`tell`](Self::tell)) or through a typed [`EntityRef`] ([`entity`](Self::entity)).
/// Cheap to clone; every clone is the same region.
///
/// Entity ids are hashed to one of `number_of_shards` shards (see
/// [`Sharding`](super::Sharding) for the hash). Messages for one entity keep their send order.
pub struct ShardRegion<M: Send + 'static> {
    core: Arc<RegionCore<M>>,
}

impl<M: Send + 'static> Clone for ShardRegion<M> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
        }
    }
}

impl<M: Send + 'static> fmt::Debug for ShardRegion<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardRegion")
            .field("type_key", &self.core.type_key)
            .field("number_of_shards", &self.core.settings.number_of_shards)
            .finish_non_exhaustive()
    }
}

/// Messages of the region's actor.
pub(crate) enum RegionMsg {
    Start { shard: u32, id: EntityId },
}

/// The region's actor: starts each shard on its first entity.
struct RegionActor<M: Send + 'static> {
    region: ShardRegion<M>,
    shards: Vec<Option<ActorRef<ShardMsg>>>,
}

impl<M: Send + 'static> Actor for RegionActor<M> {
    type Msg = RegionMsg;

    fn handle(&mut self, ctx: &mut Context<RegionMsg>, msg: RegionMsg) {
        let RegionMsg::Start { shard, id } = msg;
        let slot = &mut self.shards[shard as usize];
        if slot.as_ref().is_none_or(|s| s.is_terminated()) {
            match ctx.spawn(Shard::new(self.region.clone(), shard), &shard.to_string()) {
                Ok(actor) => *slot = Some(actor),
                Err(error) => {
                    tracing::error!(type_key = %self.region.core.type_key, shard, %error, "could not start a shard");
                    return;
                }
            }
        }
        if let Some(actor) = slot {
            actor.tell(ShardMsg::Start(id));
        }
    }
}

impl<M: Send + 'static> ShardRegion<M> {
    pub(crate) fn start(
        type_key: Arc<str>,
        settings: Settings,
        factory: Arc<Factory<M>>,
        stop_message: Option<Arc<StopMessage<M>>>,
        remember: Option<Arc<Persistence>>,
        system: &ActorSystem,
    ) -> Result<Self, SpawnError> {
        let shards = settings.number_of_shards as usize;
        let region = Self {
            core: Arc::new(RegionCore {
                type_key,
                tables: (0..shards)
                    .map(|_| CachePadded::new(ShardRoutes::new()))
                    .collect(),
                settings,
                factory,
                stop_message,
                remember,
                actor: OnceLock::new(),
                system: system.core().clone(),
                registry: Arc::downgrade(&system.extension::<Registry>()),
                started: AtomicU64::new(0),
                passivations: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                empty_ids: AtomicU64::new(0),
            }),
        };
        let actor = system.spawn(
            RegionActor {
                region: region.clone(),
                shards: vec![None; shards],
            },
            &region.core.actor_name(),
        )?;
        let _ = region.core.actor.set(actor);
        Ok(region)
    }

    pub(crate) fn core(&self) -> &RegionCore<M> {
        &self.core
    }

    /// Starts the entities remembered when the region was last running.
    pub(crate) fn start_remembered(&self, ids: Vec<String>) {
        let shards = self.core.settings.number_of_shards;
        for id in ids.into_iter().filter(|id| !id.is_empty()) {
            let id = EntityId::from(id);
            let shard = id.shard(shards);
            if self.core.tables[shard as usize]
                .lock()
                .start_remembered(&id)
                && let Some(actor) = self.core.actor.get()
            {
                actor.tell(RegionMsg::Start { shard, id });
            }
        }
    }

    pub(crate) fn weak_core(&self) -> std::sync::Weak<RegionCore<M>> {
        Arc::downgrade(&self.core)
    }

    /// Sends `envelope.message` to the entity `envelope.entity_id`, starting it if needed.
    pub fn tell(&self, envelope: ShardingEnvelope<M>) {
        let ShardingEnvelope { entity_id, message } = envelope;
        let shard = entity_id.shard(self.core.settings.number_of_shards);
        self.core.deliver(&entity_id, shard, message, false);
    }

    /// A typed reference to the entity `entity_id` (it need not be running): a `&str`, a
    /// `String` or an [`EntityId`].
    pub fn entity(&self, entity_id: impl Into<EntityId>) -> EntityRef<M> {
        self.entity_ref(entity_id.into())
    }

    pub(crate) fn entity_ref(&self, entity_id: EntityId) -> EntityRef<M> {
        EntityRef {
            shard: entity_id.shard(self.core.settings.number_of_shards),
            entity_id,
            region: self.clone(),
            running: SpinLock::new(None),
        }
    }

    /// The entity type's name.
    pub fn type_key(&self) -> &str {
        &self.core.type_key
    }

    /// How many shards the ids are hashed over.
    pub fn number_of_shards(&self) -> u32 {
        self.core.settings.number_of_shards
    }

    /// The shard the entity `entity_id` lives in.
    pub fn shard_of(&self, entity_id: &str) -> u32 {
        shard_of(entity_id, self.core.settings.number_of_shards)
    }

    /// A snapshot of the region's state: entities per shard, held messages, passivations.
    pub fn stats(&self) -> RegionStats {
        let mut stats = RegionStats {
            number_of_shards: self.core.settings.number_of_shards,
            shards: Vec::new(),
            active_entities: 0,
            passivating_entities: 0,
            buffered_messages: 0,
            entities_started: self.core.started.load(Ordering::Relaxed),
            passivations: self.core.passivations.load(Ordering::Relaxed),
            dropped_messages: self.core.dropped.load(Ordering::Relaxed),
        };
        for (shard_id, routes) in self.core.tables.iter().enumerate() {
            let table = routes.lock();
            let shard = ShardStats {
                shard_id: shard_id as u32,
                active_entities: table.active(),
                passivating_entities: table.passivating(),
                buffered_messages: table.buffered(),
            };
            stats.active_entities += shard.active_entities;
            stats.passivating_entities += shard.passivating_entities;
            stats.buffered_messages += shard.buffered_messages;
            stats.shards.push(shard);
        }
        stats
    }

    /// This region as an actor reference that accepts envelopes (to hand to code that takes an
    /// `ActorRef`, e.g. as a reply address or through a message adapter).
    pub fn to_actor_ref(&self) -> ActorRef<ShardingEnvelope<M>> {
        ActorRef::from_recipient(Arc::new(self.clone()))
    }
}

impl<M: Send + 'static> Recipient<ShardingEnvelope<M>> for ShardRegion<M> {
    fn tell(&self, msg: ShardingEnvelope<M>) {
        ShardRegion::tell(self, msg);
    }

    fn path(&self) -> ActorPath {
        self.core.path()
    }

    fn actor(&self) -> Option<AnyActorRef> {
        self.core.actor.get().and_then(ActorRef::to_any)
    }
}

/// One entity of a region, by id: `tell` and `ask` like an [`ActorRef`], whether or not the
/// entity is running (it starts on its first message, and again after passivation).
///
/// Keep an `EntityRef` to send to one entity often: once it has found the entity running it
/// sends straight to its mailbox, without the shard's routing table, until the entity is
/// passivated or stops (then it routes through the table again; order is kept throughout).
pub struct EntityRef<M: Send + 'static> {
    entity_id: EntityId,
    shard: u32,
    region: ShardRegion<M>,
    /// The running entity this reference last delivered to. A spin lock, taken with
    /// `try_lock` only (a sender never waits on it): its release is a plain store.
    running: SpinLock<Option<Arc<EntityHandle<M>>>>,
}

impl<M: Send + 'static> Clone for EntityRef<M> {
    fn clone(&self) -> Self {
        Self {
            entity_id: self.entity_id.clone(),
            shard: self.shard,
            region: self.region.clone(),
            running: SpinLock::new(self.running.lock().clone()),
        }
    }
}

impl<M: Send + 'static> fmt::Debug for EntityRef<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EntityRef({}|{})",
            self.region.core.type_key, self.entity_id
        )
    }
}

impl<M: Send + 'static> PartialEq for EntityRef<M> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.region.core, &other.region.core) && self.entity_id == other.entity_id
    }
}

impl<M: Send + 'static> Eq for EntityRef<M> {}

impl<M: Send + 'static> EntityRef<M> {
    /// Sends a message without waiting; messages from one sender keep their order.
    #[inline]
    pub fn tell(&self, msg: M) {
        let id = &self.entity_id;
        // Another thread sending through this same reference holds the handle: take the
        // region's path rather than wait.
        let Some(mut running) = self.running.try_lock() else {
            self.region.core.deliver(id, self.shard, msg, false);
            return;
        };
        let mut msg = msg;
        if let Some(handle) = running.as_ref() {
            if handle.is_active() {
                match handle.actor.try_tell(msg) {
                    Ok(()) => {
                        handle.touch();
                        return;
                    }
                    // Passivating or stopped: the table knows what to do with it.
                    Err(refused) => msg = refused,
                }
            }
            *running = None;
        }
        *running = self.region.core.deliver(id, self.shard, msg, true);
    }

    /// Sends a request built around a one-shot reply address and returns the pending reply
    /// (see [`ActorRef::ask`]).
    pub fn ask<R, F>(&self, make_request: F) -> Pending<R>
    where
        R: Send + 'static,
        F: FnOnce(ActorRef<R>) -> M,
    {
        let (reply_to, pending) = PromiseRecipient::for_entity::<M>(
            &self.region.core.type_key,
            self.entity_id.shared_text(),
        );
        self.tell(make_request(reply_to));
        pending
    }

    /// The entity's id.
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    /// The region it belongs to.
    pub fn region(&self) -> &ShardRegion<M> {
        &self.region
    }

    /// This entity as an actor reference (to hand to code that takes an `ActorRef`).
    pub fn to_actor_ref(&self) -> ActorRef<M> {
        ActorRef::from_recipient(Arc::new(self.clone()))
    }
}

impl<M: Send + 'static> Recipient<M> for EntityRef<M> {
    fn tell(&self, msg: M) {
        EntityRef::tell(self, msg);
    }

    fn path(&self) -> ActorPath {
        self.region
            .core
            .path()
            .child(&self.shard.to_string())
            .child(&self.entity_id)
    }

    fn actor(&self) -> Option<AnyActorRef> {
        None
    }
}

/// A region's state at one moment ([`ShardRegion::stats`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionStats {
    /// Shards the ids are hashed over.
    pub number_of_shards: u32,
    /// Per shard.
    pub shards: Vec<ShardStats>,
    /// Entities running now.
    pub active_entities: usize,
    /// Entities stopping for passivation now.
    pub passivating_entities: usize,
    /// Messages held for entities that are starting or passivating.
    pub buffered_messages: usize,
    /// Entity incarnations started so far.
    pub entities_started: u64,
    /// Passivations so far (idle, over the limit, or asked for).
    pub passivations: u64,
    /// Messages dropped because a shard's buffer was full.
    pub dropped_messages: u64,
}

/// One shard's state at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardStats {
    /// The shard.
    pub shard_id: u32,
    /// Entities running now.
    pub active_entities: usize,
    /// Entities stopping for passivation now.
    pub passivating_entities: usize,
    /// Messages held for entities that are starting or passivating.
    pub buffered_messages: usize,
}
