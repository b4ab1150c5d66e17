//! Discovery and pub/sub (issue 19, items 2–4), ported in behaviour from Pekko's
//! `LocalReceptionistSpec`, `TopicSpec`, `EventStreamSpec` and the group router cases of
//! `RoutersSpec`: registration, listing updates, deregistration when an actor stops, typed
//! keys and topics, the system event stream with dead letters and lifecycle events, and a
//! group router that follows the receptionist.

mod common;

use common::{assert_quiet, recv, recv_n};
use crossbeam_channel::{Receiver, Sender};
use reactant::event_stream::LifecycleEvent;
use reactant::pattern::{Listing, Routers, ServiceKey, Topic, TopicError};
use reactant::prelude::*;

/// An actor that forwards what it receives to a channel, and stops on a `None`.
fn probe<T: Send + 'static>(
    system: &ActorSystem,
    name: &str,
) -> (ActorRef<Option<T>>, Receiver<T>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let actor = system
        .spawn(
            Behaviors::receive_message(move |msg: Option<T>| match msg {
                Some(msg) => {
                    let _ = tx.send(msg);
                    Behaviors::same()
                }
                None => Behaviors::stopped(),
            }),
            name,
        )
        .expect("spawned");
    (actor, rx)
}

/// A forwarding actor for `T` directly (no stop message), and a way to stop it.
fn sink<T: Send + 'static>(system: &ActorSystem, name: &str) -> (ActorRef<T>, Receiver<T>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let actor = system.spawn(forwarding(tx), name).expect("spawned");
    (actor, rx)
}

fn forwarding<T: Send + 'static>(tx: Sender<T>) -> Behavior<T> {
    Behaviors::receive_message(move |msg: T| {
        let _ = tx.send(msg);
        Behaviors::same()
    })
}

fn stop<T: Send + 'static>(actor: &ActorRef<Option<T>>) {
    actor.tell(None);
    assert!(common::eventually(|| actor.is_terminated()));
}

fn paths<M: Send + 'static>(listing: &Listing<M>) -> Vec<String> {
    let mut names: Vec<String> = listing
        .services()
        .iter()
        .map(|r| r.path().name().to_owned())
        .collect();
    names.sort();
    names
}

// ---- receptionist ----

#[test]
fn a_registered_actor_is_found_once_however_often_it_registers() {
    let system = common::system("reception-find");
    let key = ServiceKey::<Option<u32>>::new("counter");
    assert!(system.receptionist().find(&key).is_empty(), "nothing yet");
    let (a, _rx) = probe::<u32>(&system, "a");
    system.receptionist().register(&key, &a);
    system.receptionist().register(&key, &a);
    let listing = system.receptionist().find(&key);
    assert_eq!(listing.services(), std::slice::from_ref(&a));
    assert_eq!(listing.key().id(), "counter");
}

#[test]
fn keys_with_one_name_and_different_types_are_different_keys() {
    let system = common::system("reception-types");
    let numbers = ServiceKey::<Option<u32>>::new("same-name");
    let words = ServiceKey::<Option<String>>::new("same-name");
    let (a, _ra) = probe::<u32>(&system, "a");
    let (b, _rb) = probe::<String>(&system, "b");
    system.receptionist().register(&numbers, &a);
    system.receptionist().register(&words, &b);
    assert_eq!(system.receptionist().find(&numbers).services(), [a]);
    assert_eq!(system.receptionist().find(&words).services(), [b]);
}

#[test]
fn a_subscriber_gets_the_listing_at_once_and_after_every_change() {
    let system = common::system("reception-subscribe");
    let key = ServiceKey::<Option<u32>>::new("workers");
    let (watcher, listings) = sink::<Listing<Option<u32>>>(&system, "watcher");
    system.receptionist().subscribe(&key, &watcher);
    assert!(
        recv(&listings).is_empty(),
        "the first listing is the current one"
    );
    let (a, _ra) = probe::<u32>(&system, "a");
    let (b, _rb) = probe::<u32>(&system, "b");
    system.receptionist().register(&key, &a);
    assert_eq!(paths(&recv(&listings)), ["a"]);
    system.receptionist().register(&key, &b);
    assert_eq!(paths(&recv(&listings)), ["a", "b"]);
    system.receptionist().register(&key, &b);
    assert_quiet(&listings);
    system.receptionist().deregister(&key, &a);
    assert_eq!(paths(&recv(&listings)), ["b"]);
    system.receptionist().unsubscribe(&key, &watcher);
    system.receptionist().register(&key, &a);
    assert_quiet(&listings);
}

#[test]
fn an_actor_that_stops_is_deregistered_and_subscribers_hear_of_it() {
    let system = common::system("reception-stop");
    let key = ServiceKey::<Option<u32>>::new("workers");
    let (a, _ra) = probe::<u32>(&system, "a");
    let (b, _rb) = probe::<u32>(&system, "b");
    system.receptionist().register(&key, &a);
    system.receptionist().register(&key, &b);
    let (watcher, listings) = sink::<Listing<Option<u32>>>(&system, "watcher");
    system.receptionist().subscribe(&key, &watcher);
    assert_eq!(paths(&recv(&listings)), ["a", "b"]);
    stop(&a);
    assert_eq!(paths(&recv(&listings)), ["b"], "the stopped actor left");
    assert_eq!(paths(&system.receptionist().find(&key)), ["b"]);
}

#[test]
fn an_actor_already_stopped_when_it_registers_is_never_listed() {
    let system = common::system("reception-dead");
    let key = ServiceKey::<Option<u32>>::new("workers");
    let (a, _ra) = probe::<u32>(&system, "a");
    stop(&a);
    system.receptionist().register(&key, &a);
    assert!(system.receptionist().find(&key).is_empty());
}

#[test]
fn a_subscriber_that_stops_is_dropped_without_dead_letters() {
    let system = common::system("reception-sub-stop");
    let key = ServiceKey::<Option<u32>>::new("workers");
    let (tx, listings) = crossbeam_channel::unbounded();
    let watcher = system
        .spawn(
            Behaviors::receive_message(move |listing: Listing<Option<u32>>| {
                let _ = tx.send(listing.len());
                Behaviors::stopped()
            }),
            "watcher",
        )
        .expect("spawned");
    system.receptionist().subscribe(&key, &watcher);
    assert_eq!(recv(&listings), 0);
    assert!(common::eventually(|| watcher.is_terminated()));
    let dead = system.dead_letters().count();
    let (a, _ra) = probe::<u32>(&system, "a");
    system.receptionist().register(&key, &a);
    std::thread::sleep(common::QUIET);
    assert_eq!(
        system.dead_letters().count(),
        dead,
        "a stopped subscriber was still told the listing"
    );
}

// ---- group router ----

#[test]
fn a_group_router_routes_over_the_registered_actors_and_follows_changes() {
    let system = common::system("group-router");
    let key = ServiceKey::<u32>::new("group");
    let (tx, rx) = crossbeam_channel::unbounded();
    let spawn_worker = |name: &str| {
        let tx = tx.clone();
        let worker = system
            .spawn(
                Behaviors::receive(move |ctx, n: u32| {
                    let _ = tx.send((ctx.path().name().to_owned(), n));
                    if n == u32::MAX {
                        Behaviors::stopped()
                    } else {
                        Behaviors::same()
                    }
                }),
                name,
            )
            .expect("spawned");
        system.receptionist().register(&key, &worker);
        worker
    };
    let dead = system.dead_letters().subscribe();
    let router = system
        .spawn(Routers::group(key.clone()), "router")
        .expect("spawned");
    // Nothing registered yet: a dead letter that says why.
    router.tell(1);
    let letter = dead.recv_timeout(common::WAIT).expect("a dead letter");
    assert_eq!(letter.reason, DeadLetterReason::NoRoutees);

    let a = spawn_worker("a");
    let _b = spawn_worker("b");
    for n in 0..10 {
        router.tell(n);
    }
    let mut names: Vec<String> = recv_n(&rx, 10).into_iter().map(|(name, _)| name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names, ["a", "b"], "round-robin over both");

    a.tell(u32::MAX);
    assert!(common::eventually(|| a.is_terminated()));
    let _ = recv(&rx);
    for n in 0..10 {
        router.tell(n);
    }
    assert!(
        recv_n(&rx, 10).iter().all(|(name, _)| name == "b"),
        "a stopped routee is no longer routed to, and nothing is lost"
    );
}

// ---- topics ----

#[derive(Clone, Debug, PartialEq)]
struct Price(u64);

#[test]
fn a_topic_tells_every_subscriber_and_handles_share_them() {
    let system = common::system("topic-publish");
    let prices = Topic::<Price>::new(&system, "prices").expect("a topic");
    let same = Topic::<Price>::new(&system, "prices").expect("the same topic");
    let (a, ra) = sink::<Price>(&system, "a");
    let (b, rb) = sink::<Price>(&system, "b");
    prices.subscribe(&a);
    same.subscribe(&b);
    same.subscribe(&b);
    assert_eq!(prices.subscriber_count(), 2);
    assert_eq!(prices.publish(Price(1)), 2);
    assert_eq!(recv(&ra), Price(1));
    assert_eq!(recv(&rb), Price(1));
    assert_quiet(&rb);
    prices.unsubscribe(&a);
    prices.publish(Price(2));
    assert_eq!(recv(&rb), Price(2));
    assert_quiet(&ra);
}

#[test]
fn a_topic_subscriber_that_stops_is_removed_and_publishing_to_none_is_a_dead_letter() {
    let system = common::system("topic-stop");
    let prices = Topic::<Option<Price>>::new(&system, "prices").expect("a topic");
    let (a, _ra) = probe::<Price>(&system, "a");
    prices.subscribe(&a);
    stop(&a);
    assert!(common::eventually(|| prices.subscriber_count() == 0));
    let dead = system.dead_letters().subscribe();
    assert_eq!(prices.publish(Some(Price(3))), 0);
    let letter = dead.recv_timeout(common::WAIT).expect("a dead letter");
    assert_eq!(letter.reason, DeadLetterReason::NoSubscribers);
    assert_eq!(letter.recipient.as_str(), "/topic/prices");
}

#[test]
fn a_topic_name_carries_one_message_type() {
    let system = common::system("topic-types");
    let _prices = Topic::<Price>::new(&system, "prices").expect("a topic");
    let error = Topic::<u64>::new(&system, "prices").expect_err("another type");
    assert!(matches!(error, TopicError::TypeMismatch { .. }));
    let text = error.to_string();
    assert!(
        text.contains("prices") && text.contains("different names"),
        "{text}"
    );
}

// ---- event stream ----

#[test]
fn the_event_stream_delivers_by_type_until_unsubscribed() {
    let system = common::system("events-types");
    let (prices, rp) = sink::<Price>(&system, "prices");
    let (numbers, rn) = sink::<u64>(&system, "numbers");
    let stream = system.event_stream();
    assert_eq!(stream.publish(Price(0)), 0, "nobody listens yet");
    stream.subscribe(&prices);
    stream.subscribe(&numbers);
    stream.publish(Price(5));
    stream.publish(7u64);
    assert_eq!(recv(&rp), Price(5));
    assert_eq!(recv(&rn), 7);
    assert_quiet(&rp);
    stream.unsubscribe(&prices);
    stream.publish(Price(6));
    assert_quiet(&rp);
    assert_eq!(stream.subscriber_count::<u64>(), 1);
}

#[test]
fn dead_letters_and_lifecycle_events_appear_on_the_event_stream() {
    let system = common::system("events-system");
    let (letters, rl) = sink::<DeadLetter>(&system, "letters");
    let (lifecycle, re) = sink::<LifecycleEvent>(&system, "lifecycle");
    system.event_stream().subscribe(&letters);
    system.event_stream().subscribe(&lifecycle);

    let fragile = system
        .spawn(
            Behaviors::supervise(Behaviors::receive_message(|n: u32| {
                if n == 0 {
                    panic!("zero")
                }
                Behaviors::stopped()
            }))
            .on_failure(SupervisorStrategy::restart()),
            "fragile",
        )
        .expect("spawned");
    let next = || recv(&re);
    assert_eq!(next(), LifecycleEvent::Spawned(fragile.path()));
    fragile.tell(0);
    assert!(
        matches!(next(), LifecycleEvent::Restarted { ref failure, .. } if failure.contains("zero"))
    );
    fragile.tell(1);
    assert_eq!(
        next(),
        LifecycleEvent::Stopped {
            actor: fragile.path(),
            failure: None
        }
    );
    assert!(common::eventually(|| fragile.is_terminated()));
    fragile.tell(2);
    let letter = recv(&rl);
    assert_eq!(letter.recipient, fragile.path());
    assert_eq!(letter.reason, DeadLetterReason::RecipientStopped);
}

#[test]
fn a_stopped_event_stream_subscriber_is_removed() {
    let system = common::system("events-stop");
    let (a, _ra) = probe::<Price>(&system, "a");
    system.event_stream().subscribe(&a);
    stop(&a);
    system.event_stream().publish(Some(Price(1)));
    assert_eq!(system.event_stream().subscriber_count::<Option<Price>>(), 0);
}
