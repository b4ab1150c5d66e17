//! Sharding: routing and per-entity order, buffering across starts and passivations,
//! passivation (idle, active limit, on request, with a stop message), failure isolation,
//! event-sourced entities rebuilt after passivation, and the region's introspection.
//!
//! Over 600 lines in one file on purpose: every test builds on the same recording region and entity
//! fixtures, grouped by the area listed above.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::{WAIT, eventually};
use parking_lot::Mutex;
use reactant::persistence::{Effect, Entity, Event, Persistence};
use reactant::prelude::*;
use reactant::sharding::{
    EntityId, EntityTypeKey, ShardRegion, ShardedEntity, ShardingEnvelope, ShardingError,
};
use reactant::testkit::Simulation;
use serde::{Deserialize, Serialize};

/// What a recording entity is told.
enum Rec {
    /// A message from `sender`, its `seq`-th to this entity.
    Msg { sender: usize, seq: usize },
    /// Ask for passivation.
    Passivate,
    /// The stop message: stop (after an optional pause, to hold the shard in `Passivating`).
    Stop,
    /// Fail.
    Boom,
    /// Reply with this incarnation's count of messages.
    Count(ActorRef<usize>),
}

/// Everything the recording entities saw: per entity id, (incarnation, sender, seq) in order.
type Log = Arc<Mutex<HashMap<String, Vec<(usize, usize, usize)>>>>;

/// A region of recording entities. Each incarnation gets a fresh number from `incarnations`.
fn recording_region(
    system: &ActorSystem,
    name: &str,
    log: &Log,
    stop_pause: Option<Duration>,
    configure: impl FnOnce(ShardedEntity<Rec>) -> ShardedEntity<Rec>,
) -> ShardRegion<Rec> {
    let log = log.clone();
    let incarnations = Arc::new(AtomicUsize::new(0));
    let entity = ShardedEntity::new(EntityTypeKey::<Rec>::new(name), move |entity| {
        let incarnation = incarnations.fetch_add(1, Ordering::SeqCst);
        let id = entity.entity_id().to_owned();
        let entity = entity.clone();
        let log = log.clone();
        let count = AtomicUsize::new(0);
        Behaviors::receive_message(move |msg: Rec| {
            match msg {
                Rec::Msg { sender, seq } => {
                    count.fetch_add(1, Ordering::SeqCst);
                    log.lock()
                        .entry(id.clone())
                        .or_default()
                        .push((incarnation, sender, seq));
                }
                Rec::Passivate => entity.passivate(),
                Rec::Stop => {
                    if let Some(pause) = stop_pause {
                        thread::sleep(pause);
                    }
                    return Behaviors::stopped();
                }
                Rec::Boom => panic!("boom"),
                Rec::Count(reply_to) => reply_to.tell(count.load(Ordering::SeqCst)),
            }
            Behaviors::same()
        })
    });
    system
        .sharding()
        .init(configure(entity))
        .expect("the region starts")
}

/// Every entity in `log` saw each sender's messages `0..per_entity` once each, in order.
#[track_caller]
fn assert_each_sender_in_order(log: &Log, senders: usize, per_entity: usize) {
    for (id, seen) in log.lock().iter() {
        for sender in 0..senders {
            let seqs: Vec<usize> = seen
                .iter()
                .filter(|(_, s, _)| *s == sender)
                .map(|(_, _, seq)| *seq)
                .collect();
            assert_eq!(
                seqs,
                (0..per_entity).collect::<Vec<_>>(),
                "{id} sees sender {sender}'s messages once each, in order"
            );
        }
    }
}

/// Waits until every one of the `senders × entities × per_entity` messages is in `log` (a
/// failure says how many arrived, the first dead letters and the region's state), then checks
/// that each entity saw each sender's messages once each, in order.
#[track_caller]
fn assert_every_message_arrives_in_order(
    log: &Log,
    region: &ShardRegion<Rec>,
    dead: &crossbeam_channel::Receiver<DeadLetter>,
    (senders, entities, per_entity): (usize, usize, usize),
) {
    let total = senders * entities * per_entity;
    let arrived = || log.lock().values().map(Vec::len).sum::<usize>();
    let ok = eventually(|| arrived() == total);
    let dead: Vec<_> = dead.try_iter().take(5).collect();
    assert!(
        ok,
        "every message arrives: {} of {total}; {dead:?} {:?}",
        arrived(),
        region.stats()
    );
    assert_each_sender_in_order(log, senders, per_entity);
}

#[test]
fn each_entity_sees_every_message_once_in_per_sender_order() {
    let system = common::system("sharding-order");
    let log = Log::default();
    let region = recording_region(&system, "order", &log, None, |e| {
        e.with_number_of_shards(10)
    });
    const SENDERS: usize = 4;
    const ENTITIES: usize = 200;
    const PER_ENTITY: usize = 50;
    thread::scope(|scope| {
        for sender in 0..SENDERS {
            let region = region.clone();
            scope.spawn(move || {
                let refs: Vec<_> = (0..ENTITIES)
                    .map(|e| region.entity(format!("e-{e}")))
                    .collect();
                for seq in 0..PER_ENTITY {
                    for (e, entity) in refs.iter().enumerate() {
                        if (e + sender) % 2 == 0 {
                            entity.tell(Rec::Msg { sender, seq });
                        } else {
                            region.tell(ShardingEnvelope::new(
                                format!("e-{e}"),
                                Rec::Msg { sender, seq },
                            ));
                        }
                    }
                }
            });
        }
    });
    let total = SENDERS * ENTITIES * PER_ENTITY;
    assert!(
        eventually(|| log.lock().values().map(Vec::len).sum::<usize>() == total),
        "every message arrives"
    );
    assert_eq!(log.lock().len(), ENTITIES);
    assert_each_sender_in_order(&log, SENDERS, PER_ENTITY);
    let stats = region.stats();
    assert_eq!(stats.active_entities, ENTITIES);
    assert_eq!(stats.entities_started, ENTITIES as u64);
    assert_eq!(stats.number_of_shards, 10);
    assert_eq!(stats.shards.len(), 10);
    assert_eq!(
        stats
            .shards
            .iter()
            .map(|s| s.active_entities)
            .sum::<usize>(),
        ENTITIES
    );
}

/// Sends `PER_ENTITY` messages to each of `ids` from `SENDERS` threads, every one through an
/// envelope holding a clone of a kept id (shared by all the threads), round-robin over the
/// entities from each sender's own offset; with `churn`, every 89th message to an entity also
/// asks it to passivate, and each sender pauses after each round (so that entities start and
/// stop while messages flow, rather than all starting once with everything held).
fn send_through_kept_ids(
    region: &ShardRegion<Rec>,
    ids: &[EntityId],
    senders: usize,
    per_entity: usize,
    churn: bool,
) {
    thread::scope(|scope| {
        for sender in 0..senders {
            scope.spawn(move || {
                let offset = sender * ids.len() / senders;
                for seq in 0..per_entity {
                    for e in (offset..ids.len()).chain(0..offset) {
                        let id = ids[e].clone();
                        region.tell(ShardingEnvelope::new(id, Rec::Msg { sender, seq }));
                        if churn && (seq + e) % 89 == 0 {
                            region.tell(ShardingEnvelope::new(&ids[e], Rec::Passivate));
                        }
                    }
                    if churn {
                        thread::sleep(Duration::from_micros(200));
                    }
                }
            });
        }
    });
}

#[test]
fn envelopes_with_kept_entity_ids_arrive_once_each_in_per_sender_order() {
    let system = common::system("sharding-kept-ids");
    let log = Log::default();
    let region = recording_region(&system, "kept", &log, None, |e| {
        e.with_number_of_shards(10)
            .without_idle_timeout()
            // Room for everything held while the entities start: this test is about order
            // and loss, not overflow.
            .with_buffer_size(usize::MAX)
    });
    const SENDERS: usize = 4;
    const ENTITIES: usize = 300;
    const PER_ENTITY: usize = 100;
    let ids: Vec<EntityId> = (0..ENTITIES)
        .map(|e| EntityId::from(format!("e-{e}")))
        .collect();
    send_through_kept_ids(&region, &ids, SENDERS, PER_ENTITY, false);
    let total = SENDERS * ENTITIES * PER_ENTITY;
    assert!(
        eventually(|| log.lock().values().map(Vec::len).sum::<usize>() == total),
        "every message arrives: {} of {total}; {:?}",
        log.lock().values().map(Vec::len).sum::<usize>(),
        region.stats()
    );
    assert_eq!(log.lock().len(), ENTITIES);
    assert_each_sender_in_order(&log, SENDERS, PER_ENTITY);
    let stats = region.stats();
    assert_eq!(stats.active_entities, ENTITIES);
    assert_eq!(stats.entities_started, ENTITIES as u64, "each started once");
    assert_eq!(stats.passivations, 0);
    assert_eq!(stats.dropped_messages, 0);
    // Ids built apart from the kept ones, and `EntityRef`s, reach the same entities.
    for (e, id) in ids.iter().enumerate().step_by(37) {
        let by_text = region.entity(format!("e-{e}"));
        assert_eq!(by_text, region.entity(id));
        assert_eq!(by_text.ask(Rec::Count).wait(WAIT), Ok(SENDERS * PER_ENTITY));
    }
    assert_eq!(region.stats().entities_started, ENTITIES as u64);
}

#[test]
fn envelopes_with_kept_entity_ids_survive_passivation_churn() {
    let system = common::system("sharding-kept-ids-churn");
    let log = Log::default();
    // Five active entities for forty, a 4 ms idle timeout and passivation requests: entities
    // stop and start again all the time while the senders go through the index of active
    // entities.
    let region = recording_region(&system, "kept-churn", &log, None, |e| {
        e.with_number_of_shards(3)
            .with_active_entity_limit(5)
            .with_idle_timeout(Duration::from_millis(4))
            .with_buffer_size(usize::MAX)
    });
    const SENDERS: usize = 4;
    const ENTITIES: usize = 40;
    const PER_ENTITY: usize = 200;
    let ids: Vec<EntityId> = (0..ENTITIES)
        .map(|e| EntityId::from(format!("e-{e}")))
        .collect();
    let dead = system.dead_letters().subscribe();
    send_through_kept_ids(&region, &ids, SENDERS, PER_ENTITY, true);
    assert_every_message_arrives_in_order(&log, &region, &dead, (SENDERS, ENTITIES, PER_ENTITY));
    let stats = region.stats();
    assert!(stats.passivations > 0, "{stats:?}");
    assert!(
        stats.entities_started > 2 * ENTITIES as u64,
        "entities restarted while the messages flowed: {stats:?}"
    );
    assert_eq!(stats.dropped_messages, 0);
}

#[test]
fn messages_sent_while_an_entity_passivates_go_in_order_to_its_next_incarnation() {
    let system = common::system("sharding-passivate-buffer");
    let log = Log::default();
    // The stop message takes a while: the shard holds everything sent meanwhile.
    let region = recording_region(
        &system,
        "buffering",
        &log,
        Some(Duration::from_millis(100)),
        |e| e.with_stop_message(|| Rec::Stop),
    );
    let entity = region.entity("a");
    for seq in 0..10 {
        entity.tell(Rec::Msg { sender: 0, seq });
    }
    entity.tell(Rec::Passivate);
    assert!(eventually(|| region.stats().passivating_entities == 1));
    for seq in 10..1_000 {
        entity.tell(Rec::Msg { sender: 0, seq });
    }
    assert!(eventually(
        || log.lock().get("a").map_or(0, Vec::len) == 1_000
    ));
    let seen = log.lock()["a"].clone();
    assert_eq!(
        seen.iter().map(|(_, _, seq)| *seq).collect::<Vec<_>>(),
        (0..1_000).collect::<Vec<_>>(),
        "nothing lost, nothing reordered"
    );
    let incarnations: std::collections::BTreeSet<usize> = seen.iter().map(|(i, ..)| *i).collect();
    assert_eq!(
        incarnations.len(),
        2,
        "the passivation started a second incarnation"
    );
    let stats = region.stats();
    assert_eq!(stats.passivations, 1);
    assert_eq!(stats.entities_started, 2);
    assert_eq!(stats.dropped_messages, 0);
}

#[test]
fn passivation_without_a_stop_message_handles_what_was_delivered_first() {
    let system = common::system("sharding-passivate-drain");
    let log = Log::default();
    let region = recording_region(&system, "drain", &log, None, |e| e);
    let entity = region.entity("b");
    for round in 0..20 {
        for seq in 0..100 {
            entity.tell(Rec::Msg {
                sender: 0,
                seq: round * 100 + seq,
            });
        }
        entity.tell(Rec::Passivate);
    }
    assert!(eventually(
        || log.lock().get("b").map_or(0, Vec::len) == 2_000
    ));
    let seen = log.lock()["b"].clone();
    assert_eq!(
        seen.iter().map(|(_, _, seq)| *seq).collect::<Vec<_>>(),
        (0..2_000).collect::<Vec<_>>()
    );
    assert!(region.stats().passivations >= 1);
}

/// On virtual time (a simulation): the idle timeout passes exactly when the test moves time,
/// however loaded the machine is.
#[test]
fn an_idle_entity_is_passivated_and_starts_again_on_its_next_message() {
    Simulation::new(11).run(|sim| {
        let log = Log::default();
        let region = recording_region(sim.system(), "idle", &log, None, |e| {
            e.with_idle_timeout(Duration::from_millis(100))
        });
        let entity = region.entity("sleepy");
        entity.tell(Rec::Msg { sender: 0, seq: 0 });
        assert_eq!(sim.wait_for(entity.ask(Rec::Count), WAIT), Ok(1));
        // Between one and 1.25 timeouts after its last message.
        sim.run_for(Duration::from_millis(99));
        assert_eq!(
            region.stats().active_entities,
            1,
            "not idle long enough yet"
        );
        sim.run_for(Duration::from_millis(30));
        assert_eq!(
            region.stats().active_entities,
            0,
            "passivated after the idle timeout"
        );
        assert_eq!(region.stats().passivations, 1);
        // A fresh incarnation: its own count starts from zero.
        assert_eq!(sim.wait_for(entity.ask(Rec::Count), WAIT), Ok(0));
        assert_eq!(region.stats().entities_started, 2);
    });
}

/// Counts the entity incarnations alive: one per behavior built, until it is dropped (when
/// the entity has stopped).
struct Alive(Arc<AtomicUsize>);

impl Alive {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// In a simulation: the entities run on the test's thread, interleaved with the sends in an
/// order drawn from the seed, so the checks need no waiting (under load, waiting for 100,000
/// entities to start timed out).
#[test]
fn an_active_entity_limit_keeps_at_most_that_many_alive() {
    Simulation::new(5).run(|sim| {
        let alive = Arc::new(AtomicUsize::new(0));
        let counter = alive.clone();
        let region = sim
            .system()
            .sharding()
            .init(
                ShardedEntity::new(EntityTypeKey::<u32>::new("limited"), move |_| {
                    let guard = Alive::new(&counter);
                    Behaviors::receive_message(move |_: u32| {
                        let _ = &guard;
                        Behaviors::same()
                    })
                })
                .with_active_entity_limit(1_000)
                .with_number_of_shards(10)
                .without_idle_timeout(),
            )
            .expect("the region starts");
        let mut peak_active = 0;
        for i in 0..100_000u32 {
            region.entity(format!("e-{i}")).tell(i);
            // The actors run between the sends, as many turns as the seed says.
            for _ in 0..sim.below(3) {
                sim.step();
            }
            if i % 1_000 == 0 {
                peak_active = peak_active.max(region.stats().active_entities);
            }
        }
        sim.run_until_quiet();
        let stats = region.stats();
        assert_eq!(stats.entities_started, 100_000, "every entity started once");
        assert_eq!(stats.passivating_entities, 0);
        peak_active = peak_active.max(stats.active_entities);
        assert!(peak_active <= 1_000, "{peak_active} active");
        assert_eq!(stats.active_entities, 1_000);
        assert_eq!(stats.passivations, 99_000);
        assert_eq!(stats.buffered_messages, 0);
        // What holds memory: the entities that have not been dropped. Exactly the active ones.
        assert_eq!(alive.load(Ordering::SeqCst), 1_000, "incarnations alive");
    });
}

#[test]
fn a_panicking_entity_does_not_disturb_its_shard_and_starts_again_on_its_next_message() {
    let system = common::system("sharding-panic");
    let log = Log::default();
    let region = recording_region(&system, "panics", &log, None, |e| {
        e.with_number_of_shards(1)
    });
    let (calm, reckless) = (region.entity("calm"), region.entity("reckless"));
    calm.tell(Rec::Msg { sender: 0, seq: 0 });
    reckless.tell(Rec::Msg { sender: 0, seq: 0 });
    assert_eq!(reckless.ask(Rec::Count).wait(WAIT), Ok(1));
    reckless.tell(Rec::Boom);
    calm.tell(Rec::Msg { sender: 0, seq: 1 });
    assert_eq!(
        calm.ask(Rec::Count).wait(WAIT),
        Ok(2),
        "its neighbour is untouched"
    );
    assert!(eventually(|| region.stats().active_entities == 1));
    // Stopped by its (default) supervision; the next message starts a new incarnation.
    assert_eq!(reckless.ask(Rec::Count).wait(WAIT), Ok(0));
    assert_eq!(region.stats().active_entities, 2);
}

#[test]
fn a_supervised_entity_restarts_in_place() {
    let system = common::system("sharding-supervised");
    let restarts = Arc::new(AtomicUsize::new(0));
    let counter = restarts.clone();
    let region = system
        .sharding()
        .init(ShardedEntity::new(
            EntityTypeKey::<Rec>::new("supervised"),
            move |_| {
                let counter = counter.clone();
                Behaviors::supervise(Behaviors::setup(move |_| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    Behaviors::receive_message(|msg| match msg {
                        Rec::Boom => panic!("boom"),
                        Rec::Count(reply_to) => {
                            reply_to.tell(0);
                            Behaviors::same()
                        }
                        _ => Behaviors::same(),
                    })
                }))
                .on_failure(SupervisorStrategy::restart())
            },
        ))
        .expect("the region starts");
    let entity = region.entity("phoenix");
    entity.tell(Rec::Boom);
    assert_eq!(entity.ask(Rec::Count).wait(WAIT), Ok(0));
    assert_eq!(
        restarts.load(Ordering::SeqCst),
        2,
        "restarted once, by its supervisor"
    );
    let stats = region.stats();
    assert_eq!((stats.entities_started, stats.active_entities), (1, 1));
}

#[test]
fn the_entity_context_names_the_entity_and_routes_to_it() {
    let system = common::system("sharding-context");
    let region = system
        .sharding()
        .init(ShardedEntity::new(
            EntityTypeKey::<(String, ActorRef<String>)>::new("ctx"),
            |entity| {
                let entity = entity.clone();
                Behaviors::receive_message(move |(text, reply_to): (String, ActorRef<String>)| {
                    if text == "forward" {
                        // Through the entity's own EntityRef: back into this mailbox.
                        entity.entity_ref().tell(("echo".into(), reply_to));
                    } else {
                        reply_to.tell(format!(
                            "{} in shard {}: {text}",
                            entity.entity_id(),
                            entity.shard_id()
                        ));
                    }
                    Behaviors::same()
                })
            },
        ))
        .expect("the region starts");
    let reply = region
        .entity("user@example.com")
        .ask(|reply_to| ("forward".to_owned(), reply_to))
        .wait(WAIT);
    let shard = region.shard_of("user@example.com");
    assert_eq!(
        reply,
        Ok(format!("user@example.com in shard {shard}: echo"))
    );
}

#[test]
fn ids_that_are_not_actor_names_still_work() {
    let system = common::system("sharding-odd-ids");
    let log = Log::default();
    let region = recording_region(&system, "odd", &log, None, |e| e);
    // The empty id is no entity's (issue 14, item 9): see `sharding_workflows.rs`.
    for id in ["a/b", "$x", "ünïcødé", &"x".repeat(300)] {
        region.entity(id).tell(Rec::Msg { sender: 0, seq: 0 });
        assert_eq!(
            region.entity(id).ask(Rec::Count).wait(WAIT),
            Ok(1),
            "{id:?}"
        );
    }
}

#[test]
fn initialising_a_type_key_twice_returns_the_region_or_a_typed_error() {
    let system = common::system("sharding-init");
    let first = system
        .sharding()
        .init(ShardedEntity::new(
            EntityTypeKey::<u32>::new("twice"),
            |_| Behaviors::ignore(),
        ))
        .expect("the region starts");
    let again = system
        .sharding()
        .init(ShardedEntity::new(
            EntityTypeKey::<u32>::new("twice"),
            |_| Behaviors::ignore(),
        ))
        .expect("the same key and type give the running region");
    again.entity("x").tell(1);
    assert!(
        eventually(|| first.stats().active_entities == 1),
        "one region"
    );
    let mismatch = system.sharding().init(ShardedEntity::new(
        EntityTypeKey::<String>::new("twice"),
        |_| Behaviors::ignore(),
    ));
    match mismatch {
        Err(ShardingError::TypeMismatch {
            type_key,
            registered,
            requested,
        }) => {
            assert_eq!(type_key, "twice");
            assert_eq!(registered, "u32");
            assert!(requested.contains("String"), "{requested}");
        }
        other => panic!("expected a type mismatch, got {other:?}"),
    }
    let key = EntityTypeKey::<u32>::new("twice");
    assert!(system.sharding().region(&key).is_some());
    assert!(
        system
            .sharding()
            .region(&EntityTypeKey::<String>::new("twice"))
            .is_none()
    );
    let bad = system.sharding().init(
        ShardedEntity::new(EntityTypeKey::<u8>::new("zero"), |_| Behaviors::ignore())
            .with_number_of_shards(0),
    );
    assert!(
        matches!(bad, Err(ShardingError::InvalidSettings { .. })),
        "{bad:?}"
    );
    assert!(
        bad.unwrap_err().to_string().contains("at least 1"),
        "the error names the fix"
    );
}

#[test]
fn a_full_shard_buffer_sends_the_overflow_to_dead_letters() {
    let system = common::system("sharding-overflow");
    let log = Log::default();
    let region = recording_region(
        &system,
        "overflow",
        &log,
        Some(Duration::from_millis(300)),
        |e| e.with_stop_message(|| Rec::Stop).with_buffer_size(10),
    );
    let entity = region.entity("full");
    entity.tell(Rec::Msg { sender: 0, seq: 0 });
    entity.tell(Rec::Passivate);
    assert!(eventually(|| region.stats().passivating_entities == 1));
    for seq in 1..=15 {
        entity.tell(Rec::Msg { sender: 0, seq });
    }
    let stats = region.stats();
    assert_eq!(stats.buffered_messages, 10);
    assert_eq!(stats.dropped_messages, 5);
    assert!(system.dead_letters().count() >= 5);
    assert!(eventually(
        || log.lock().get("full").map_or(0, Vec::len) == 11
    ));
    let seqs: Vec<usize> = log.lock()["full"].iter().map(|(_, _, s)| *s).collect();
    assert_eq!(
        seqs,
        (0..=10).collect::<Vec<_>>(),
        "the first ten held, in order"
    );
}

// ----- event-sourced entities -----

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Added {
    amount: u64,
}
impl Event for Added {}

enum TallyCommand {
    Add(u64, ActorRef<u64>),
    Get(ActorRef<u64>),
    Passivate,
}

#[derive(Default, Serialize, Deserialize)]
struct Tally {
    total: u64,
}

impl Entity for Tally {
    const TYPE_KEY: &'static str = "tally";
    type Event = Added;
    type Command = TallyCommand;

    fn apply(&mut self, event: &Added) {
        self.total += event.amount;
    }

    fn handle_command(&self, command: TallyCommand) -> Effect<Added, Self> {
        match command {
            TallyCommand::Add(amount, reply_to) => Effect::persist(Added { amount })
                .then_reply_to(reply_to, |tally: &Tally| tally.total),
            TallyCommand::Get(reply_to) => {
                Effect::none().then_reply_to(reply_to, |tally: &Tally| tally.total)
            }
            TallyCommand::Passivate => Effect::stop(),
        }
    }
}

#[test]
fn an_event_sourced_entity_type_shards_with_init_and_its_persistence() {
    let system = common::system("sharding-es-init");
    let persistence = Persistence::in_memory().expect("in-memory persistence");
    let tallies = system
        .sharding()
        .init::<Tally>(persistence.clone())
        .expect("the region starts");
    assert_eq!(tallies.type_key(), "tally");
    assert_eq!(
        tallies
            .entity("t-1")
            .ask(|r| TallyCommand::Add(5, r))
            .wait(WAIT),
        Ok(5)
    );
    assert_eq!(
        tallies
            .entity("t-2")
            .ask(|r| TallyCommand::Add(7, r))
            .wait(WAIT),
        Ok(7)
    );
    assert_eq!(
        tallies.entity("t-1").ask(TallyCommand::Get).wait(WAIT),
        Ok(5)
    );
    let stored = persistence
        .journal()
        .highest_sequence_nr(&reactant::persistence::PersistenceId::of("tally", "t-2"))
        .expect("the journal answers");
    assert_eq!(stored, 1, "persisted under \"{{type_key}}|{{entity_id}}\"");
}

#[test]
fn an_event_sourced_entity_comes_back_with_its_state_after_passivation() {
    let system = common::system("sharding-es");
    let persistence = Persistence::in_memory().expect("in-memory persistence");
    let tallies = system
        .sharding()
        .init(
            ShardedEntity::new(EntityTypeKey::<TallyCommand>::new("tally-idle"), {
                let persistence = persistence.clone();
                move |entity| Tally::behavior(entity.entity_id(), persistence.clone())
            })
            .with_idle_timeout(Duration::from_millis(100))
            .with_stop_message(|| TallyCommand::Passivate),
        )
        .expect("the region starts");
    let tally = tallies.entity("t-1");
    for _ in 0..10 {
        tally.tell(TallyCommand::Add(1, system_sink(&system)));
    }
    assert_eq!(tally.ask(|r| TallyCommand::Add(5, r)).wait(WAIT), Ok(15));
    assert!(
        eventually(|| {
            let stats = tallies.stats();
            stats.passivations == 1 && stats.active_entities == 0 && stats.passivating_entities == 0
        }),
        "passivated when idle"
    );
    // The next commands rebuild it from the journal; they wait for the recovery, in order.
    let pending: Vec<_> = (0..20)
        .map(|_| tally.ask(|r| TallyCommand::Add(1, r)))
        .collect();
    let replies: Vec<u64> = pending
        .into_iter()
        .map(|p| p.wait(WAIT).expect("a reply"))
        .collect();
    assert_eq!(
        replies,
        (16..=35).collect::<Vec<_>>(),
        "in order, on top of the recovered state"
    );
    assert_eq!(tally.ask(TallyCommand::Get).wait(WAIT), Ok(35));
    // Started again after the passivation, and only ever after one: a machine slow enough to
    // leave the entity idle for 100 ms between two of the steps above passivates it once more,
    // so the count of starts is checked against the count of passivations, not against 2.
    assert!(
        eventually(|| {
            let stats = tallies.stats();
            stats.passivating_entities == 0
                && stats.entities_started >= 2
                && stats.entities_started == stats.passivations + stats.active_entities as u64
        }),
        "every start but the first follows a passivation: {:?}",
        tallies.stats()
    );
}

#[test]
fn passivating_event_sourced_entities_over_a_limit_loses_nothing() {
    let system = common::system("sharding-es-limit");
    let persistence = Persistence::in_memory().expect("in-memory persistence");
    let tallies = system
        .sharding()
        .init(
            ShardedEntity::new(EntityTypeKey::<TallyCommand>::new("tally"), {
                let persistence = persistence.clone();
                move |entity| Tally::behavior(entity.entity_id(), persistence.clone())
            })
            .with_active_entity_limit(10)
            .with_number_of_shards(2),
        )
        .expect("the region starts");
    // Each round touches all 100 entities; only 10 stay alive, so almost every command finds
    // its entity passivated (or passivating) and rebuilt from the journal.
    for _ in 0..5 {
        for e in 0..100 {
            tallies
                .entity(format!("t-{e}"))
                .tell(TallyCommand::Add(1, system_sink(&system)));
        }
    }
    for e in 0..100 {
        assert_eq!(
            tallies
                .entity(format!("t-{e}"))
                .ask(TallyCommand::Get)
                .wait(WAIT),
            Ok(5),
            "t-{e}"
        );
    }
    let stats = tallies.stats();
    assert!(stats.active_entities <= 10);
    assert!(stats.passivations >= 90, "{}", stats.passivations);
}

/// An address that drops what it gets (for replies nobody waits for).
fn system_sink<T: Send + 'static>(system: &ActorSystem) -> ActorRef<T> {
    system
        .spawn_anonymous(Behaviors::ignore())
        .expect("a sink starts")
}

#[test]
fn regions_stop_with_the_system() {
    let system = common::system("sharding-shutdown");
    let log = Log::default();
    let region = recording_region(&system, "shutdown", &log, None, |e| e);
    for e in 0..100 {
        region
            .entity(format!("e-{e}"))
            .tell(Rec::Msg { sender: 0, seq: 0 });
    }
    assert!(eventually(|| log.lock().len() == 100));
    system.shutdown();
    assert!(system.is_terminated());
}

#[test]
fn passivation_racing_many_senders_loses_and_reorders_nothing() {
    let system = common::system("sharding-hammer");
    let log = Log::default();
    // Five active entities for fifty, and a 4 ms idle timeout: entities are passivated and
    // started again all the time while four threads send to them.
    let region = recording_region(&system, "hammer", &log, None, |e| {
        e.with_number_of_shards(2)
            .with_active_entity_limit(5)
            .with_idle_timeout(Duration::from_millis(4))
            // Room for everything: this test is about order and loss, not overflow.
            .with_buffer_size(usize::MAX)
    });
    const SENDERS: usize = 4;
    const ENTITIES: usize = 50;
    const PER_ENTITY: usize = 200;
    let dead = system.dead_letters().subscribe();
    thread::scope(|scope| {
        for sender in 0..SENDERS {
            let region = region.clone();
            scope.spawn(move || {
                // Kept references send straight to running entities; fresh ones and
                // envelopes go through the table: mixed, they must still keep the order.
                let kept: Vec<_> = (0..ENTITIES)
                    .map(|e| region.entity(format!("e-{e}")))
                    .collect();
                for seq in 0..PER_ENTITY {
                    for (e, kept) in kept.iter().enumerate() {
                        let msg = Rec::Msg { sender, seq };
                        match (seq + e + sender) % 3 {
                            0 => kept.tell(msg),
                            1 => region.entity(format!("e-{e}")).tell(msg),
                            _ => region.tell(ShardingEnvelope::new(format!("e-{e}"), msg)),
                        }
                        if (seq + e) % 97 == 0 {
                            region.entity(format!("e-{e}")).tell(Rec::Passivate);
                        }
                    }
                }
            });
        }
    });
    assert_every_message_arrives_in_order(&log, &region, &dead, (SENDERS, ENTITIES, PER_ENTITY));
    let stats = region.stats();
    assert!(
        stats.passivations > 0,
        "the entities were passivated while messages flowed"
    );
    assert_eq!(stats.dropped_messages, 0);
}

#[test]
fn entity_refs_shared_by_many_threads_lose_and_reorder_nothing_through_passivation() {
    let system = common::system("sharding-shared-refs");
    let log = Log::default();
    // Few entities, so that the threads meet on the same `EntityRef`s (one holds its handle,
    // the others take the region's path), while the entities are passivated and started
    // again under them.
    let region = recording_region(&system, "shared-refs", &log, None, |e| {
        e.with_number_of_shards(2)
            .with_active_entity_limit(3)
            .with_idle_timeout(Duration::from_millis(3))
            .with_buffer_size(usize::MAX)
    });
    const SENDERS: usize = 4;
    const ENTITIES: usize = 8;
    const PER_ENTITY: usize = 2_000;
    let refs: Vec<_> = (0..ENTITIES)
        .map(|e| region.entity(format!("e-{e}")))
        .collect();
    let dead = system.dead_letters().subscribe();
    thread::scope(|scope| {
        for sender in 0..SENDERS {
            let refs = &refs;
            scope.spawn(move || {
                for seq in 0..PER_ENTITY {
                    for (e, entity) in refs.iter().enumerate() {
                        entity.tell(Rec::Msg { sender, seq });
                        if (seq + e + sender) % 251 == 0 {
                            entity.tell(Rec::Passivate);
                        }
                    }
                }
            });
        }
    });
    assert_every_message_arrives_in_order(&log, &region, &dead, (SENDERS, ENTITIES, PER_ENTITY));
    let stats = region.stats();
    assert!(
        stats.passivations > 0,
        "entities passivated under the senders"
    );
    // The limit is split over the shards: 2 per shard.
    assert!(stats.active_entities <= 4, "{stats:?}");
    assert_eq!(stats.dropped_messages, 0);
}

/// Issue 14, item 1: messages sent right after an entity stopped itself or failed (through
/// the region's `EntityRef`, which reaches the mailbox directly while the entity is active)
/// reach its next incarnation, in order — none is dropped with the stopping one's mailbox.
#[track_caller]
fn messages_right_after_a_stop_reach_the_next_incarnation(ending: fn() -> Rec, name: &str) {
    let system = common::system(name);
    let log = Log::default();
    let region = recording_region(&system, name, &log, None, |e| e);
    let dead = system.dead_letters().subscribe();
    let per_round = 50;
    for round in 0..20 {
        let entity = region.entity(format!("e{round}"));
        entity.tell(Rec::Msg { sender: 0, seq: 0 });
        entity.tell(ending());
        for seq in 1..per_round {
            entity.tell(Rec::Msg { sender: 0, seq });
        }
    }
    let total = 20 * per_round;
    let arrived = || log.lock().values().map(Vec::len).sum::<usize>();
    let ok = eventually(|| arrived() == total);
    let letters: Vec<String> = dead.try_iter().take(5).map(|l| l.to_string()).collect();
    assert!(
        ok,
        "every message reaches an incarnation: {} of {total}; dead letters {letters:?}",
        arrived()
    );
    assert_each_sender_in_order(&log, 1, per_round);
    system.shutdown();
}

#[test]
fn messages_sent_right_after_an_entity_stops_itself_reach_its_next_incarnation() {
    messages_right_after_a_stop_reach_the_next_incarnation(|| Rec::Stop, "sharding-self-stop");
}

#[test]
fn messages_sent_right_after_an_entity_fails_reach_its_next_incarnation() {
    messages_right_after_a_stop_reach_the_next_incarnation(|| Rec::Boom, "sharding-fail-stop");
}

/// The other side of item 1: an entity that cannot start (its setup panics every time) does
/// not get its messages again in a loop of new incarnations; they go to dead letters, and
/// the next message tries once more.
#[test]
fn messages_for_an_entity_whose_start_fails_go_to_dead_letters_without_a_restart_loop() {
    let system = common::system("sharding-failed-start");
    let starts = Arc::new(AtomicUsize::new(0));
    let entity = ShardedEntity::new(EntityTypeKey::<u32>::new("broken"), {
        let starts = starts.clone();
        move |_entity| {
            let starts = starts.clone();
            Behaviors::setup(move |_ctx| -> Behavior<u32> {
                starts.fetch_add(1, Ordering::SeqCst);
                panic!("this entity cannot start")
            })
        }
    });
    let region = system.sharding().init(entity).expect("the region starts");
    let dead = system.dead_letters().subscribe();
    for n in 0..5 {
        region.entity("a").tell(n);
    }
    assert!(
        eventually(|| dead.len() >= 5),
        "dead letters: {}",
        dead.len()
    );
    thread::sleep(Duration::from_millis(100));
    let started = starts.load(Ordering::SeqCst);
    assert!(
        started <= 5,
        "{started} starts for 5 messages: a restart loop"
    );
    assert!(eventually(|| region.stats().active_entities == 0));
    system.shutdown();
}

/// Issue 14, item 5: an event-sourced entity type shards with settings (`init_with`) and, to
/// add a stop message, through `ShardedEntity::for_entity`.
#[test]
fn an_event_sourced_entity_type_takes_settings_and_a_stop_message() {
    use reactant::sharding::ShardingSettings;

    let system = common::system("sharding-es-settings");
    let persistence = Persistence::in_memory().expect("in-memory persistence");
    let settings = ShardingSettings::default()
        .with_number_of_shards(3)
        .with_active_entity_limit(3)
        .without_idle_timeout();
    let tallies = system
        .sharding()
        .init_with::<Tally>(persistence.clone(), settings.clone())
        .expect("the region starts");
    assert_eq!(tallies.stats().number_of_shards, 3);
    for n in 0..9 {
        let entity = tallies.entity(format!("t-{n}"));
        assert_eq!(entity.ask(|r| TallyCommand::Add(n, r)).wait(WAIT), Ok(n));
    }
    assert!(eventually(|| tallies.stats().active_entities <= 3));
    // Passivated over the limit, and rebuilt from the journal.
    assert_eq!(
        tallies.entity("t-4").ask(TallyCommand::Get).wait(WAIT),
        Ok(4)
    );

    // With a stop message (Effect::stop), through `ShardedEntity::for_entity`, in a second
    // system over the same journal.
    let other = common::system("sharding-es-stop-message");
    let stopping = other
        .sharding()
        .init(
            ShardedEntity::for_entity::<Tally>(persistence)
                .with_settings(settings.with_active_entity_limit(1))
                .with_stop_message(|| TallyCommand::Passivate),
        )
        .expect("the region starts");
    let first = stopping.entity("t-1");
    assert_eq!(first.ask(|r| TallyCommand::Add(10, r)).wait(WAIT), Ok(11));
    let second = stopping.entity("t-2");
    assert_eq!(second.ask(|r| TallyCommand::Add(10, r)).wait(WAIT), Ok(12));
    assert!(eventually(|| stopping.stats().passivations >= 1));
    assert_eq!(first.ask(TallyCommand::Get).wait(WAIT), Ok(11));
    other.shutdown();
}
