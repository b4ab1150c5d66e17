//! Ask from outside the system: a reply, or a typed error saying why there is none — and never
//! a blocked dispatcher thread.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{WAIT, eventually, recv, system};
use crossbeam_channel::unbounded;
use parking_lot::Mutex;
use reactant::prelude::*;

struct Double {
    n: u64,
    reply_to: ActorRef<u64>,
}

fn doubler() -> Behavior<Double> {
    Behaviors::receive_message(|Double { n, reply_to }| {
        reply_to.tell(2 * n);
        Behaviors::same()
    })
}

#[test]
fn ask_returns_the_reply() {
    let system = system("ask");
    let actor = system.spawn(doubler(), "doubler").expect("spawn");
    let pending = actor.ask(|reply_to| Double { n: 21, reply_to });
    assert_eq!(pending.wait(WAIT), Ok(42));
    system.shutdown();
}

#[test]
fn a_pending_reply_is_ready_once_the_reply_has_arrived() {
    let system = system("ready");
    let actor = system.spawn(doubler(), "doubler").expect("spawn");
    let pending = actor.ask(|reply_to| Double { n: 1, reply_to });
    assert!(eventually(|| pending.is_ready()));
    assert_eq!(
        pending.wait(Duration::ZERO),
        Ok(2),
        "a ready reply needs no waiting"
    );
    system.shutdown();
}

#[test]
fn only_the_first_reply_counts() {
    let system = system("firstreply");
    let actor = system
        .spawn(
            Behaviors::receive_message(|reply_to: ActorRef<u8>| {
                reply_to.tell(1);
                reply_to.tell(2);
                Behaviors::same()
            }),
            "chatty",
        )
        .expect("spawn");
    assert_eq!(actor.ask(|r| r).wait(WAIT), Ok(1));
    system.shutdown();
}

#[test]
fn ask_times_out_when_no_reply_comes() {
    let system = system("timeout");
    let kept = Arc::new(Mutex::new(Vec::new()));
    let silent = {
        let kept = kept.clone();
        system
            .spawn(
                Behaviors::receive_message(move |request: Double| {
                    // Keeps the reply address and never answers.
                    kept.lock().push(request.reply_to);
                    Behaviors::same()
                }),
                "silent",
            )
            .expect("spawn")
    };
    let timeout = Duration::from_millis(100);
    let asked = Instant::now();
    let outcome = silent
        .ask(|reply_to| Double { n: 1, reply_to })
        .wait(timeout);
    let Err(AskError::Timeout(timed_out)) = outcome else {
        panic!("expected a timeout, got {outcome:?}");
    };
    assert_eq!(timed_out.after(), timeout);
    assert_eq!(
        timed_out.target().actor_path(),
        Some(&silent.path()),
        "the timeout names the asked actor"
    );
    assert_eq!(timed_out.request_type(), std::any::type_name::<Double>());
    assert_eq!(timed_out.reply_type(), "u64");
    assert!(asked.elapsed() >= timeout, "not before the timeout");
    // Replying after the asker gave up is harmless.
    for reply_to in kept.lock().drain(..) {
        reply_to.tell(2);
    }
    system.shutdown();
}

#[test]
fn ask_to_a_stopped_actor_fails_with_target_stopped() {
    let system = system("stoppedtarget");
    let actor = system
        .spawn(
            Behaviors::receive_message(|_: Double| Behaviors::stopped()),
            "brief",
        )
        .expect("spawn");
    actor.tell(Double {
        n: 0,
        reply_to: system
            .spawn(Behaviors::ignore::<u64>(), "sink")
            .expect("spawn"),
    });
    assert!(eventually(|| actor.is_terminated()));
    let before = system.dead_letters().count();
    assert_eq!(
        actor.ask(|reply_to| Double { n: 1, reply_to }).wait(WAIT),
        Err(AskError::TargetStopped)
    );
    assert_eq!(
        system.dead_letters().count(),
        before + 1,
        "the request is a dead letter"
    );
    system.shutdown();
}

#[test]
fn ask_to_an_actor_that_stops_before_reading_the_request_fails_with_target_stopped() {
    let system = system("stopsfirst");
    enum Msg {
        Stop,
        Request(ActorRef<u8>),
    }
    let actor = system
        .spawn(
            Behaviors::receive_message(|msg| match msg {
                Msg::Stop => Behaviors::stopped(),
                Msg::Request(reply_to) => {
                    reply_to.tell(1);
                    Behaviors::same()
                }
            }),
            "leaving",
        )
        .expect("spawn");
    actor.tell(Msg::Stop);
    assert_eq!(
        actor.ask(Msg::Request).wait(WAIT),
        Err(AskError::TargetStopped)
    );
    system.shutdown();
}

#[test]
fn ask_after_shutdown_fails_with_target_stopped() {
    let system = system("aftershutdown");
    let actor = system.spawn(doubler(), "doubler").expect("spawn");
    system.shutdown();
    assert_eq!(
        actor.ask(|reply_to| Double { n: 1, reply_to }).wait(WAIT),
        Err(AskError::TargetStopped)
    );
}

#[test]
fn ask_fails_with_no_reply_when_the_actor_drops_the_reply_address() {
    let system = system("noreply");
    let rude = system
        .spawn(
            Behaviors::receive_message(|_: Double| Behaviors::same()),
            "rude",
        )
        .expect("spawn");
    // Known as soon as the address is dropped, long before the timeout.
    assert_eq!(
        rude.ask(|reply_to| Double { n: 1, reply_to }).wait(WAIT),
        Err(AskError::NoReply)
    );
    system.shutdown();
}

#[test]
fn ask_fails_with_target_failed_when_the_actor_panics_on_the_request() {
    let system = system("failedrequest");
    let fragile = system
        .spawn(
            Behaviors::supervise(Behaviors::receive_message(
                |_: Double| -> Behavior<Double> { panic!("cannot answer") },
            ))
            .on_failure(SupervisorStrategy::restart()),
            "fragile",
        )
        .expect("spawn");
    assert_eq!(
        fragile.ask(|reply_to| Double { n: 1, reply_to }).wait(WAIT),
        Err(AskError::TargetFailed)
    );
    system.shutdown();
}

#[test]
fn pending_wait_inside_an_actor_fails_with_would_block_dispatcher_instead_of_blocking() {
    let system = system("noblocking");
    let doubler = system.spawn(doubler(), "doubler").expect("spawn");
    let (outcome_tx, outcome_rx) = unbounded();
    let impatient = system
        .spawn(
            Behaviors::receive_message(move |n: u64| {
                let outcome = doubler
                    .ask(|reply_to| Double { n, reply_to })
                    .wait(Duration::from_secs(3600));
                let _ = outcome_tx.send(outcome);
                Behaviors::same()
            }),
            "impatient",
        )
        .expect("spawn");
    impatient.tell(1);
    assert_eq!(recv(&outcome_rx), Err(AskError::WouldBlockDispatcher));
    // The dispatcher still serves everyone.
    impatient.tell(2);
    assert_eq!(recv(&outcome_rx), Err(AskError::WouldBlockDispatcher));
    system.shutdown();
}

#[test]
fn pending_wait_on_another_systems_dispatcher_also_refuses_to_block() {
    let first = system("firstsys");
    let second = system("secondsys");
    let doubler = second.spawn(doubler(), "doubler").expect("spawn");
    let (outcome_tx, outcome_rx) = unbounded();
    let impatient = first
        .spawn(
            Behaviors::receive_message(move |n: u64| {
                let _ = outcome_tx.send(doubler.ask(|reply_to| Double { n, reply_to }).wait(WAIT));
                Behaviors::same()
            }),
            "impatient",
        )
        .expect("spawn");
    impatient.tell(1);
    assert_eq!(recv(&outcome_rx), Err(AskError::WouldBlockDispatcher));
    first.shutdown();
    second.shutdown();
}

#[test]
fn concurrent_asks_from_many_threads_each_get_their_own_reply() {
    let system = system("concurrent");
    let actor = system.spawn(doubler(), "doubler").expect("spawn");
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let actor = actor.clone();
            scope.spawn(move || {
                for i in 0..200 {
                    let n = thread * 1_000 + i;
                    assert_eq!(
                        actor.ask(|reply_to| Double { n, reply_to }).wait(WAIT),
                        Ok(2 * n)
                    );
                }
            });
        }
    });
    system.shutdown();
}

#[test]
fn the_reply_address_of_an_ask_is_not_an_actor() {
    let system = system("replyaddress");
    let (address_tx, address_rx) = unbounded();
    let actor = system
        .spawn(
            Behaviors::receive_message(move |reply_to: ActorRef<()>| {
                let _ = address_tx.send((reply_to.to_any().is_none(), reply_to.path().to_string()));
                reply_to.tell(());
                Behaviors::same()
            }),
            "answering",
        )
        .expect("spawn");
    assert_eq!(actor.ask(|r| r).wait(WAIT), Ok(()));
    let (not_an_actor, path) = recv(&address_rx);
    assert!(not_an_actor);
    assert!(path.starts_with("/user/answering"), "{path}");
    system.shutdown();
}

/// The shape of the flagship example's order: a child actor, handed out by its parent as soon
/// as it is spawned and running a timer from its setup, that asks a gateway on another
/// dispatcher from inside its turn (`ctx.ask`), stashes what arrives meanwhile, and answers
/// each outside asker once the gateway's reply comes back as one of its own messages.
#[test]
fn an_actor_asking_a_service_on_another_dispatcher_answers_every_outside_asker() {
    enum Order {
        Pay {
            reply_to: ActorRef<&'static str>,
        },
        Charged {
            outcome: Result<u64, AskError>,
            reply_to: ActorRef<&'static str>,
        },
        Expire,
    }
    fn awaiting(gateway: ActorRef<Double>) -> Behavior<Order> {
        Behaviors::receive(move |ctx, msg| match msg {
            Order::Pay { reply_to } => {
                ctx.ask(
                    &gateway,
                    |reply_to| Double { n: 21, reply_to },
                    WAIT,
                    |outcome| Order::Charged { outcome, reply_to },
                );
                charging()
            }
            Order::Charged { .. } | Order::Expire => Behaviors::unhandled(),
        })
    }
    fn charging() -> Behavior<Order> {
        Behaviors::with_stash(16, move |stash| {
            Behaviors::receive_message(move |msg| match msg {
                Order::Charged { outcome, reply_to } => {
                    reply_to.tell(if outcome == Ok(42) { "paid" } else { "failed" });
                    stash.unstash_all();
                    paid()
                }
                other => {
                    let _ = stash.stash(other);
                    Behaviors::same()
                }
            })
        })
    }
    fn paid() -> Behavior<Order> {
        Behaviors::receive_message(|msg| match msg {
            Order::Pay { reply_to } => {
                reply_to.tell("already paid");
                Behaviors::same()
            }
            Order::Charged { .. } | Order::Expire => Behaviors::same(),
        })
    }
    let system = ActorSystem::builder()
        .name("order")
        .threads(2)
        .dispatcher("gateway", 1)
        .build()
        .expect("a system");
    let gateway = system
        .spawn_with(
            doubler(),
            Some("gateway"),
            &Props::new().with_dispatcher("gateway"),
        )
        .expect("spawn the gateway");
    let desk = system
        .spawn(
            Behaviors::receive(move |ctx, reply_to: ActorRef<ActorRef<Order>>| {
                let gateway = gateway.clone();
                let order = Behaviors::setup(move |ctx| {
                    ctx.timers()
                        .start_single("expiry", Order::Expire, Duration::from_millis(30));
                    awaiting(gateway.clone())
                });
                let order = ctx.spawn(order, "order").expect("spawn the order");
                ctx.watch(&order);
                reply_to.tell(order);
                Behaviors::same()
            }),
            "desk",
        )
        .expect("spawn the desk");
    let order = desk.ask(|reply_to| reply_to).wait(WAIT).expect("the order");
    let first = order.ask(|reply_to| Order::Pay { reply_to });
    let second = order.ask(|reply_to| Order::Pay { reply_to });
    assert_eq!(first.wait(WAIT), Ok("paid"));
    assert_eq!(second.wait(WAIT), Ok("already paid"));
    system.shutdown();
}
