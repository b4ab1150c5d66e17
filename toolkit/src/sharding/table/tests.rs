//! The routing table's transitions (the diagram in `table.rs`), one test each, against real
//! entities: small actors that report what they handle, in order.

use std::time::Duration;

use crossbeam_channel::{Receiver, unbounded};

use super::*;
use crate::actor::{ActorSystem, Behaviors};

const BUFFER: usize = 100;

fn system() -> ActorSystem {
    ActorSystem::builder()
        .name("table-tests")
        .threads(1)
        .build()
        .expect("a system starts")
}

/// An entity that reports every message it handles.
fn recorder(system: &ActorSystem) -> (ActorRef<u32>, Receiver<u32>) {
    let (handled, reports) = unbounded();
    let entity = system
        .spawn_anonymous(Behaviors::receive_message(move |msg: u32| {
            let _ = handled.send(msg);
            Behaviors::same()
        }))
        .expect("an entity spawns");
    (entity, reports)
}

fn handled(reports: &Receiver<u32>, count: usize) -> Vec<u32> {
    (0..count)
        .map(|_| {
            reports
                .recv_timeout(Duration::from_secs(5))
                .expect("the entity handles the message")
        })
        .collect()
}

fn id(text: &str) -> EntityId {
    EntityId::from(text)
}

/// What a sender that finds no active entity does: routes through the table.
fn route(routes: &ShardRoutes<u32>, id: &EntityId, msg: u32) -> Routed<u32> {
    routes.lock().route(id, msg, BUFFER, false)
}

/// What the shard does when told to start an entity: a fresh incarnation, made active with
/// the messages held for it.
fn start(routes: &ShardRoutes<u32>, id: &EntityId, entity: ActorRef<u32>) -> u64 {
    let mut table = routes.lock();
    let incarnation = table.begin_start(id).expect("the slot is starting");
    table.activate(id, entity);
    incarnation
}

/// An entity made active through its first message.
fn running(system: &ActorSystem, routes: &ShardRoutes<u32>, id: &EntityId) -> (u64, Receiver<u32>) {
    assert!(matches!(route(routes, id, 0), Routed::Start(_)));
    let (entity, reports) = recorder(system);
    let incarnation = start(routes, id, entity);
    assert_eq!(handled(&reports, 1), [0]);
    (incarnation, reports)
}

#[test]
fn the_first_message_for_an_entity_is_held_and_asks_for_its_start() {
    let routes = ShardRoutes::<u32>::new();
    let a = id("a");
    assert!(matches!(route(&routes, &a, 1), Routed::Start(started) if started == a));
    assert!(
        matches!(route(&routes, &a, 2), Routed::Done(None)),
        "one start is asked for, the next message is only held"
    );
    let table = routes.lock();
    assert_eq!((table.buffered(), table.active()), (2, 0));
}

#[test]
fn held_messages_reach_the_entity_in_order_before_those_sent_through_the_index() {
    let system = system();
    let routes = ShardRoutes::<u32>::new();
    let a = id("a");
    route(&routes, &a, 1);
    route(&routes, &a, 2);
    let (entity, reports) = recorder(&system);
    start(&routes, &a, entity);
    assert!(routes.send_to_active(&a, 3, false).is_ok());
    assert_eq!(handled(&reports, 3), [1, 2, 3]);
    let table = routes.lock();
    assert_eq!((table.buffered(), table.active()), (0, 1));
}

#[test]
fn a_passivated_entity_leaves_the_index_its_handle_goes_inactive_and_messages_are_held() {
    let system = system();
    let routes = ShardRoutes::<u32>::new();
    let a = id("a");
    running(&system, &routes, &a);
    let handle = routes
        .send_to_active(&a, 1, true)
        .expect("active")
        .expect("a handle was asked for");
    assert!(handle.is_active());
    let passivated = routes.lock().passivate(&a, None).expect("it was active");
    assert!(Arc::ptr_eq(&handle, &passivated));
    assert!(
        !handle.is_active(),
        "senders holding the handle stop using it"
    );
    assert_eq!(routes.send_to_active(&a, 2, false).err(), Some(2));
    assert!(matches!(route(&routes, &a, 2), Routed::Done(None)));
    let table = routes.lock();
    assert_eq!(
        (table.active(), table.passivating(), table.buffered()),
        (0, 1, 1)
    );
}

#[test]
fn an_entity_that_stopped_with_messages_held_starts_again_with_them_in_order() {
    let system = system();
    let routes = ShardRoutes::<u32>::new();
    let a = id("a");
    let (first, _) = running(&system, &routes, &a);
    routes.lock().passivate(&a, Some(first)).expect("active");
    route(&routes, &a, 5);
    route(&routes, &a, 6);
    assert_eq!(routes.lock().stopped(&a, first), AfterStop::StartNow);
    let (entity, reports) = recorder(&system);
    let second = start(&routes, &a, entity);
    assert!(second > first, "a new incarnation");
    assert_eq!(handled(&reports, 2), [5, 6]);
}

#[test]
fn an_entity_that_stopped_with_nothing_held_is_forgotten() {
    let system = system();
    let routes = ShardRoutes::<u32>::new();
    let a = id("a");
    let (incarnation, _) = running(&system, &routes, &a);
    routes.lock().passivate(&a, None).expect("active");
    assert_eq!(routes.lock().stopped(&a, incarnation), AfterStop::Forget);
    assert_eq!(routes.lock().passivating(), 0);
    assert!(
        matches!(route(&routes, &a, 7), Routed::Start(_)),
        "its next message starts it afresh"
    );
}

#[test]
fn leftovers_of_the_stopping_incarnation_go_ahead_of_messages_held_since() {
    let system = system();
    let routes = ShardRoutes::<u32>::new();
    let a = id("a");
    let (first, _) = running(&system, &routes, &a);
    routes.lock().passivate(&a, None).expect("active");
    route(&routes, &a, 10);
    assert!(
        routes
            .lock()
            .hold_leftovers(&a, first, vec![8, 9])
            .is_empty()
    );
    assert_eq!(routes.lock().buffered(), 3);
    assert_eq!(routes.lock().stopped(&a, first), AfterStop::StartNow);
    let (entity, reports) = recorder(&system);
    start(&routes, &a, entity);
    assert_eq!(handled(&reports, 3), [8, 9, 10]);
}

#[test]
fn leftovers_of_another_incarnation_or_of_a_forced_stop_are_handed_back() {
    let system = system();
    let routes = ShardRoutes::<u32>::new();
    let a = id("a");
    let (incarnation, _) = running(&system, &routes, &a);
    routes.lock().passivate(&a, None).expect("active");
    assert_eq!(
        routes.lock().hold_leftovers(&a, incarnation + 1, vec![1]),
        [1]
    );
    assert!(routes.lock().force_stop(&a, incarnation));
    assert_eq!(
        routes.lock().hold_leftovers(&a, incarnation, vec![2]),
        [2],
        "a forced stop's leftovers may hold its stop message: dead letters, not the next one"
    );
    assert_eq!(routes.lock().stopped(&a, incarnation), AfterStop::Forget);
}

#[test]
fn a_message_an_active_entity_refuses_is_held_and_the_entity_deactivated() {
    let system = system();
    let routes = ShardRoutes::<u32>::new();
    let a = id("a");
    let (incarnation, reports) = running(&system, &routes, &a);
    let entity = routes
        .send_to_active(&a, 1, true)
        .expect("active")
        .expect("a handle")
        .actor
        .clone();
    // The entity stops taking messages on its own (its last one accepted), before the shard
    // hears of it.
    assert!(entity.tell_last(2).is_ok());
    assert_eq!(handled(&reports, 2), [1, 2]);
    assert!(matches!(route(&routes, &a, 3), Routed::Done(None)));
    assert_eq!(routes.send_to_active(&a, 4, false).err(), Some(4));
    {
        let table = routes.lock();
        assert_eq!(
            (table.active(), table.passivating(), table.buffered()),
            (0, 1, 1)
        );
    }
    assert_eq!(routes.lock().stopped(&a, incarnation), AfterStop::StartNow);
    let (next, reports) = recorder(&system);
    start(&routes, &a, next);
    assert_eq!(handled(&reports, 1), [3]);
}

#[test]
fn a_full_buffer_hands_the_message_back() {
    let routes = ShardRoutes::<u32>::new();
    let a = id("a");
    assert!(matches!(
        routes.lock().route(&a, 1, 1, false),
        Routed::Start(_)
    ));
    assert!(matches!(
        routes.lock().route(&a, 2, 1, false),
        Routed::Full(2)
    ));
    assert!(matches!(
        routes.lock().route(&id("b"), 3, 1, false),
        Routed::Full(3)
    ));
}

#[test]
fn over_the_limit_the_least_recently_used_entity_goes_first_and_a_touched_one_gets_a_second_chance()
{
    let system = system();
    let routes = ShardRoutes::<u32>::new();
    let (a, b, c) = (id("a"), id("b"), id("c"));
    for entity in [&a, &b, &c] {
        running(&system, &routes, entity);
    }
    let passivated = routes.lock().passivate_over_limit(2);
    let ids: Vec<&str> = passivated.iter().map(|handle| handle.id.as_str()).collect();
    assert_eq!(ids, ["a"], "the least recently started");
    // `b` is now the least recently used, but a sender reached it through the index.
    assert!(routes.send_to_active(&b, 1, false).is_ok());
    let passivated = routes.lock().passivate_over_limit(1);
    let ids: Vec<&str> = passivated.iter().map(|handle| handle.id.as_str()).collect();
    assert_eq!(ids, ["c"]);
}

#[test]
fn idle_entities_are_passivated_but_never_a_remembered_one() {
    let system = system();
    let routes = ShardRoutes::<u32>::new();
    let (a, b) = (id("a"), id("b"));
    let (remembered, _) = running(&system, &routes, &a);
    running(&system, &routes, &b);
    assert!(routes.lock().set_remembered(&a, remembered, true));
    let passivated = routes.lock().passivate_idle(1);
    let ids: Vec<&str> = passivated.iter().map(|handle| handle.id.as_str()).collect();
    assert_eq!(ids, ["b"]);
    assert!(routes.lock().passivate_idle(1).is_empty());
    assert_eq!(routes.lock().active(), 1);
}

#[test]
fn a_remembered_entity_that_stopped_backs_off_and_a_message_starts_it_at_once() {
    let system = system();
    let routes = ShardRoutes::<u32>::new();
    let a = id("a");
    let (first, _) = running(&system, &routes, &a);
    assert!(routes.lock().set_remembered(&a, first, true));
    assert_eq!(routes.lock().stopped(&a, first), AfterStop::StartLater);
    assert!(
        matches!(route(&routes, &a, 1), Routed::Start(_)),
        "the message does not wait for the backoff"
    );
    let (entity, reports) = recorder(&system);
    let second = start(&routes, &a, entity);
    assert!(
        routes.lock().is_remembered(&a, second),
        "kept across incarnations"
    );
    assert_eq!(handled(&reports, 1), [1]);
    assert_eq!(
        routes.lock().begin_start(&a),
        None,
        "the backoff's end then finds it running"
    );
}

#[test]
fn requests_of_another_incarnation_change_nothing() {
    let system = system();
    let routes = ShardRoutes::<u32>::new();
    let a = id("a");
    let (incarnation, _) = running(&system, &routes, &a);
    assert!(routes.lock().passivate(&a, Some(incarnation + 1)).is_none());
    assert_eq!(
        routes.lock().stopped(&a, incarnation + 1),
        AfterStop::Forget
    );
    assert!(!routes.lock().set_remembered(&a, incarnation + 1, true));
    assert!(!routes.lock().force_stop(&a, incarnation));
    assert_eq!(routes.lock().active(), 1);
    assert!(routes.send_to_active(&a, 1, false).is_ok());
}
