//! The shard actor: parent and supervisor of its entities. It starts an entity when the table
//! holds messages for one that is not running, passivates entities (idle, over the active
//! limit, or at their own request), and when an entity stops, either forgets it or, if
//! messages arrived meanwhile, starts its next incarnation with them.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::entity::EntityContext;
use super::key::EntityId;
use super::region::{RegionCore, ShardRegion};
use super::table::{AfterStop, EntityHandle};
use crate::actor::{
    Actor, ActorRef, AnyActorRef, Context, LeftoversFn, Props, Signal, validate_name,
};
use crate::dead_letters::DeadLetterReason;

/// What a shard is told.
pub(crate) enum ShardMsg {
    /// The table holds messages for this entity, which is not running: start it.
    Start(EntityId),
    /// The entity asked to be passivated.
    Passivate {
        entity_id: EntityId,
        incarnation: u64,
    },
    /// The idle clock.
    Tick,
    /// The oldest passivation may have run past its stop timeout.
    StopTimeout,
}

impl Clone for ShardMsg {
    fn clone(&self) -> Self {
        match self {
            Self::Start(id) => Self::Start(id.clone()),
            Self::Passivate {
                entity_id,
                incarnation,
            } => Self::Passivate {
                entity_id: entity_id.clone(),
                incarnation: *incarnation,
            },
            Self::Tick => Self::Tick,
            Self::StopTimeout => Self::StopTimeout,
        }
    }
}

/// Idle checks per idle timeout: an entity is passivated between 1 and 1.25 timeouts after its
/// last message.
const IDLE_CHECKS_PER_TIMEOUT: u32 = 4;

pub(crate) struct Shard<M: Send + 'static> {
    region: ShardRegion<M>,
    shard_id: u32,
    /// The running entities by actor id: which entity id and incarnation each is.
    children: HashMap<u64, (EntityId, u64)>,
    /// The entities told to stop for passivation, oldest first, with their deadlines (one
    /// timeout for all, so this is deadline order too). Entries of entities that stopped are
    /// dropped from the front as they stop, and skipped when the timer fires.
    stopping: VecDeque<Stopping<M>>,
}

struct Stopping<M: Send + 'static> {
    deadline: Instant,
    entity: ActorRef<M>,
    actor_id: u64,
}

/// The timer that starts a remembered entity again after its backoff.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RememberedRestart(EntityId);

/// The timer of the oldest passivation's stop timeout.
const STOP_TIMEOUT_TIMER: &str = "passivation-stop-timeout";

impl<M: Send + 'static> Shard<M> {
    pub(crate) fn new(region: ShardRegion<M>, shard_id: u32) -> Self {
        Self {
            region,
            shard_id,
            children: HashMap::new(),
            stopping: VecDeque::new(),
        }
    }

    fn core(&self) -> &RegionCore<M> {
        self.region.core()
    }

    fn start(&mut self, ctx: &mut Context<ShardMsg>, id: EntityId) {
        let core = self.region.core();
        let table = core.table(self.shard_id);
        let Some(incarnation) = table.lock().begin_start(&id) else {
            return;
        };
        let entity_ctx = EntityContext {
            entity_id: id.clone(),
            shard_id: self.shard_id,
            incarnation,
            shard: ctx.self_ref(),
            region: self.region.clone(),
        };
        let behavior = (core.factory)(&entity_ctx);
        // Named after the entity when its id is a valid, free actor name (the path then says
        // which entity it is); a previous incarnation still stopping keeps the name busy.
        // What this incarnation accepted and never handled goes to the next one, not to dead
        // letters (a weak reference: the table holds the entity, which holds this).
        let leftovers: LeftoversFn<M> = {
            let (core, shard, id) = (self.region.weak_core(), self.shard_id, id.clone());
            Box::new(move |msgs| match core.upgrade() {
                Some(core) => core
                    .table(shard)
                    .lock()
                    .hold_leftovers(&id, incarnation, msgs),
                None => msgs,
            })
        };
        let name = (validate_name(&id).is_ok() && ctx.child(&id).is_none()).then_some(id.as_str());
        let spawned = ctx.spawn_child(behavior, name, &Props::default(), Some(leftovers));
        let entity: ActorRef<M> = match spawned {
            Ok(entity) => entity,
            Err(error) => {
                tracing::error!(type_key = %core.type_key, entity_id = id.as_str(), %error, "could not start an entity");
                let held = table.lock().abandon(&id);
                for msg in held {
                    core.dead_letter(msg, DeadLetterReason::RecipientStopped);
                }
                return;
            }
        };
        ctx.watch(&entity);
        if let Some(actor) = entity.to_any() {
            self.children.insert(actor.id(), (id.clone(), incarnation));
        }
        core.count_start();
        let over_limit = {
            let mut table = table.lock();
            table.activate(&id, entity);
            match core.per_shard_limit() {
                Some(limit) => table.passivate_over_limit(limit),
                None => Vec::new(),
            }
        };
        self.stop_all(ctx, over_limit);
    }

    /// Tells entities that are now passivating to stop: the stop message as the last message
    /// they accept, or else to stop once they have handled what they have. Either way their
    /// mailbox refuses later messages, which senders then route through the table.
    fn stop_all(&mut self, ctx: &mut Context<ShardMsg>, entities: Vec<Arc<EntityHandle<M>>>) {
        if entities.is_empty() {
            return;
        }
        let core = self.region.core();
        let deadline = Instant::now() + core.settings.stop_timeout;
        for entity in entities {
            core.count_passivation();
            if let Some(actor) = entity.actor.to_any() {
                self.stopping.push_back(Stopping {
                    deadline,
                    entity: entity.actor.clone(),
                    actor_id: actor.id(),
                });
            }
            match &core.stop_message {
                // Refused only if the entity already stopped: nothing to do then.
                Some(stop_message) => drop(entity.actor.tell_last(stop_message())),
                None => {
                    if let Some(actor) = entity.actor.to_any() {
                        actor.stop_when_idle();
                    }
                }
            }
        }
        self.arm_stop_timeout(ctx);
    }

    /// Starts the stop-timeout timer for the oldest passivation still running, if any.
    fn arm_stop_timeout(&mut self, ctx: &mut Context<ShardMsg>) {
        self.drop_stopped();
        if let Some(oldest) = self.stopping.front()
            && !ctx.timers().is_active(&STOP_TIMEOUT_TIMER)
        {
            let delay = oldest.deadline.saturating_duration_since(Instant::now());
            ctx.timers()
                .start_single(STOP_TIMEOUT_TIMER, ShardMsg::StopTimeout, delay);
        }
    }

    /// Forgets the passivations at the front that have ended.
    fn drop_stopped(&mut self) {
        while self
            .stopping
            .front()
            .is_some_and(|s| !self.children.contains_key(&s.actor_id))
        {
            self.stopping.pop_front();
        }
    }

    /// Stops the passivating entities whose stop timeout has passed (Akka's
    /// `handOffStopTimeout` for passivation).
    fn stop_timed_out(&mut self, ctx: &mut Context<ShardMsg>) {
        let now = Instant::now();
        while let Some(oldest) = self.stopping.front()
            && oldest.deadline <= now
        {
            let Some(Stopping {
                entity, actor_id, ..
            }) = self.stopping.pop_front()
            else {
                break;
            };
            let Some((id, incarnation)) = self.children.get(&actor_id) else {
                continue;
            };
            let core = self.region.core();
            if !core
                .table(self.shard_id)
                .lock()
                .force_stop(id, *incarnation)
            {
                continue;
            }
            tracing::warn!(
                type_key = %core.type_key,
                entity_id = id.as_str(),
                timeout = ?core.settings.stop_timeout,
                "a passivating entity did not stop within its passivation stop timeout, so its \
                 shard stops it; what it stashed or left unhandled goes to dead letters (stop \
                 on the stop message, or raise with_passivation_stop_timeout)"
            );
            let _ = ctx.stop(&entity);
        }
        self.arm_stop_timeout(ctx);
    }

    fn entity_stopped(&mut self, ctx: &mut Context<ShardMsg>, entity: &AnyActorRef) {
        let Some((id, incarnation)) = self.children.remove(&entity.id()) else {
            return;
        };
        self.drop_stopped();
        let after = self
            .core()
            .table(self.shard_id)
            .lock()
            .stopped(&id, incarnation);
        match after {
            AfterStop::Forget => {}
            AfterStop::StartNow => self.start(ctx, id),
            AfterStop::StartLater => {
                let backoff = self.core().settings.remembered_restart_backoff;
                tracing::info!(
                    type_key = %self.core().type_key,
                    entity_id = id.as_str(),
                    ?backoff,
                    "a remembered entity stopped without forgetting itself; it starts again \
                     after its backoff"
                );
                ctx.timers().start_single(
                    RememberedRestart(id.clone()),
                    ShardMsg::Start(id),
                    backoff,
                );
            }
        }
    }
}

impl<M: Send + 'static> Actor for Shard<M> {
    type Msg = ShardMsg;

    fn pre_start(&mut self, ctx: &mut Context<ShardMsg>) {
        if let Some(timeout) = self.core().settings.idle_timeout {
            let every = (timeout / IDLE_CHECKS_PER_TIMEOUT).max(Duration::from_millis(1));
            ctx.timers().start_fixed_rate("idle", ShardMsg::Tick, every);
        }
    }

    fn handle(&mut self, ctx: &mut Context<ShardMsg>, msg: ShardMsg) {
        match msg {
            ShardMsg::Start(id) => self.start(ctx, id),
            ShardMsg::Passivate {
                entity_id,
                incarnation,
            } => {
                let entity = self
                    .core()
                    .table(self.shard_id)
                    .lock()
                    .passivate(&entity_id, Some(incarnation));
                self.stop_all(ctx, entity.into_iter().collect());
            }
            ShardMsg::Tick => {
                let idle = self
                    .core()
                    .table(self.shard_id)
                    .lock()
                    .passivate_idle(u64::from(IDLE_CHECKS_PER_TIMEOUT) + 1);
                self.stop_all(ctx, idle);
            }
            ShardMsg::StopTimeout => self.stop_timed_out(ctx),
        }
    }

    fn on_signal(&mut self, ctx: &mut Context<ShardMsg>, signal: &Signal) {
        match signal {
            Signal::Terminated(entity) | Signal::ChildFailed(entity, _) => {
                self.entity_stopped(ctx, entity)
            }
            _ => {}
        }
    }

    fn post_stop(&mut self, _ctx: &mut Context<ShardMsg>) {
        let core = self.core();
        let held = core.table(self.shard_id).lock().drain_held();
        for msg in held {
            core.dead_letter(msg, DeadLetterReason::RecipientStopped);
        }
    }
}
