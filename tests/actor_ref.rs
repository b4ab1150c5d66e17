//! Actor references: cheap shareable addresses with identity, a readable path, and dead letters
//! for what they cannot deliver.

mod common;

use std::cell::Cell;
use std::collections::HashSet;
use std::time::Duration;

use common::{eventually, recv, recv_n, system};
use crossbeam_channel::{TryRecvError, unbounded};
use reactant::prelude::*;

fn assert_clone_send_sync<T: Clone + Send + Sync + 'static>() {}

#[test]
fn actor_refs_are_clone_send_and_sync_even_for_messages_that_are_not_sync() {
    assert_clone_send_sync::<ActorRef<u32>>();
    assert_clone_send_sync::<ActorRef<Cell<u32>>>();
    assert_clone_send_sync::<AnyActorRef>();
    assert_clone_send_sync::<ActorPath>();
}

#[test]
fn actor_refs_can_be_shared_across_threads() {
    let system = system("shared");
    let (seen_tx, seen_rx) = unbounded();
    let actor = system
        .spawn(
            Behaviors::receive_message(move |n: u32| {
                let _ = seen_tx.send(n);
                Behaviors::same()
            }),
            "sink",
        )
        .expect("spawn");
    std::thread::scope(|scope| {
        for n in 0..4 {
            let actor = actor.clone();
            scope.spawn(move || actor.tell(n));
        }
    });
    let mut seen = recv_n(&seen_rx, 4);
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3]);
    system.shutdown();
}

// A ref points at a cell with interior mutability, but Eq and Hash use only its identity.
#[expect(
    clippy::mutable_key_type,
    reason = "refs hash by identity, which never changes"
)]
#[test]
fn two_actors_with_the_same_behavior_are_different_and_clones_of_one_are_equal() {
    let system = system("identity");
    let first = system
        .spawn_anonymous(Behaviors::ignore::<u8>())
        .expect("spawn");
    let second = system
        .spawn_anonymous(Behaviors::ignore::<u8>())
        .expect("spawn");
    assert_ne!(first, second);
    assert_eq!(first, first.clone());

    let set: HashSet<ActorRef<u8>> = [first.clone(), second.clone(), first.clone()]
        .into_iter()
        .collect();
    assert_eq!(set.len(), 2);
    assert!(set.contains(&first) && set.contains(&second));
    system.shutdown();
}

#[test]
fn an_untyped_ref_equals_the_typed_ref_of_the_same_actor() {
    let system = system("untyped");
    let first = system
        .spawn_anonymous(Behaviors::ignore::<u8>())
        .expect("spawn");
    let second = system
        .spawn_anonymous(Behaviors::ignore::<u8>())
        .expect("spawn");
    let any = first
        .to_any()
        .expect("an actor's own ref has an untyped form");
    assert_eq!(first, any);
    assert_eq!(any, first);
    assert!(second != any);
    assert_eq!(any.path(), first.path());
    let set: HashSet<AnyActorRef> = [any.clone(), first.to_any().expect("untyped")]
        .into_iter()
        .collect();
    assert_eq!(set.len(), 1);
    system.shutdown();
}

#[test]
fn a_new_actor_under_a_reused_name_is_a_different_actor() {
    let system = system("reborn");
    let first = system
        .spawn(
            Behaviors::receive_message(|()| Behaviors::stopped()),
            "phoenix",
        )
        .expect("spawn");
    first.tell(());
    assert!(eventually(|| first.is_terminated()));
    let mut second = None;
    // The name is free once the guardian has seen the first actor stop.
    assert!(eventually(|| {
        match system.spawn(
            Behaviors::receive_message(|()| Behaviors::same()),
            "phoenix",
        ) {
            Ok(actor) => {
                second = Some(actor);
                true
            }
            Err(SpawnError::NameTaken { .. }) => false,
            Err(other) => panic!("unexpected {other}"),
        }
    }));
    let second = second.expect("spawned");
    assert_eq!(first.path(), second.path());
    assert_ne!(first, second);
    assert!(first.is_terminated() && !second.is_terminated());
    system.shutdown();
}

#[test]
fn paths_are_readable_from_the_user_guardian_down() {
    let system = system("paths");
    let (paths_tx, paths_rx) = unbounded();
    let parent = system
        .spawn(
            Behaviors::setup(move |ctx| {
                let report = paths_tx.clone();
                let child = ctx
                    .spawn(
                        Behaviors::setup(move |ctx| {
                            let _ = report.send(ctx.self_ref().path());
                            Behaviors::ignore::<()>()
                        }),
                        "order-17",
                    )
                    .expect("spawn child");
                let _ = paths_tx.send(child.path());
                let anonymous = ctx
                    .spawn_anonymous(Behaviors::ignore::<()>())
                    .expect("spawn");
                let _ = paths_tx.send(anonymous.path());
                Behaviors::ignore::<()>()
            }),
            "orders",
        )
        .expect("spawn");
    assert_eq!(parent.path().as_str(), "/user/orders");
    assert_eq!(parent.path().name(), "orders");
    assert_eq!(parent.to_string(), "/user/orders");

    let paths: Vec<String> = recv_n(&paths_rx, 3)
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    assert_eq!(
        paths
            .iter()
            .filter(|p| *p == "/user/orders/order-17")
            .count(),
        2,
        "the child's own path and its parent's view agree: {paths:?}"
    );
    let anonymous = paths
        .iter()
        .find(|p| *p != "/user/orders/order-17")
        .expect("anonymous");
    assert!(anonymous.starts_with("/user/orders/$"), "{anonymous}");
    system.shutdown();
}

#[test]
fn is_terminated_turns_true_once_the_actor_stops() {
    let system = system("lifecycle");
    let actor = system
        .spawn(
            Behaviors::receive_message(|()| Behaviors::stopped()),
            "brief",
        )
        .expect("spawn");
    assert!(!actor.is_terminated());
    actor.tell(());
    assert!(eventually(|| actor.is_terminated()));
    assert!(actor.to_any().is_some_and(|any| any.is_terminated()));
    system.shutdown();
}

#[test]
fn messages_to_a_stopped_actor_are_counted_and_published_as_dead_letters() {
    let system = system("undelivered");
    let letters = system.dead_letters().subscribe();
    let actor = system
        .spawn(
            Behaviors::receive_message(|_: u64| Behaviors::stopped()),
            "gone",
        )
        .expect("spawn");
    actor.tell(0);
    assert!(eventually(|| actor.is_terminated()));
    assert_eq!(system.dead_letters().count(), 0);
    for n in 1..=3 {
        actor.tell(n);
    }
    assert_eq!(system.dead_letters().count(), 3);
    for _ in 0..3 {
        let letter = recv(&letters);
        assert_eq!(letter.recipient.as_str(), "/user/gone");
        assert_eq!(letter.reason, DeadLetterReason::RecipientStopped);
        assert!(
            letter.message_type.contains("u64"),
            "{}",
            letter.message_type
        );
        assert!(letter.to_string().contains("/user/gone"));
    }
    system.shutdown();
}

#[test]
fn every_subscriber_sees_every_dead_letter_and_a_dropped_one_is_forgotten() {
    let system = system("subscribers");
    let first = system.dead_letters().subscribe();
    let second = system.dead_letters().subscribe();
    let dropped = system.dead_letters().subscribe();
    drop(dropped);
    let actor = system
        .spawn(
            Behaviors::receive_message(|()| Behaviors::stopped()),
            "gone",
        )
        .expect("spawn");
    actor.tell(());
    assert!(eventually(|| actor.is_terminated()));
    actor.tell(());
    assert_eq!(recv(&first).recipient, actor.path());
    assert_eq!(recv(&second).recipient, actor.path());
    system.shutdown();
}

#[test]
fn an_actor_lives_on_when_every_reference_to_it_is_dropped() {
    let system = system("unreferenced");
    let (ticks_tx, ticks_rx) = unbounded();
    let ticker = system
        .spawn(
            Behaviors::with_timers(move |timers| {
                timers.start_fixed_rate("tick", (), Duration::from_millis(5));
                let ticks = ticks_tx.clone();
                Behaviors::receive_message(move |()| {
                    let _ = ticks.send(());
                    Behaviors::same()
                })
            }),
            "ticker",
        )
        .expect("spawn");
    recv(&ticks_rx);
    drop(ticker);
    // Drain what was already sent, then see it keep going.
    while ticks_rx.try_recv().is_ok() {}
    recv_n(&ticks_rx, 3);
    system.shutdown();
    // Nothing the actor held outlives the system: its sender is gone.
    assert!(eventually(|| matches!(
        ticks_rx.try_recv(),
        Err(TryRecvError::Disconnected)
    )));
}
