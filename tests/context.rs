//! The context a handler sees: its own reference, children, stopping them, watching other
//! actors, message adapters, and non-blocking asks whose outcome comes back as a message.
//!
//! Over 600 lines: one file per rule set, as the ported specs are; each test stands alone.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{WAIT, assert_quiet, eventually, recv, reporting_post_stop, system};
use crossbeam_channel::{Sender, unbounded};
use parking_lot::Mutex;
use reactant::prelude::*;

/// A signal as the tests compare it.
#[derive(Debug, PartialEq)]
enum Seen {
    Terminated(String),
    ChildFailed(String, String),
}

/// `behavior`, reporting `Terminated` and `ChildFailed` signals on `seen`.
fn reporting_signals<M: Send + 'static>(behavior: Behavior<M>, seen: &Sender<Seen>) -> Behavior<M> {
    let seen = seen.clone();
    behavior.receive_signal(move |_, signal| {
        let _ = match signal {
            Signal::Terminated(who) => seen.send(Seen::Terminated(who.path().to_string())),
            Signal::ChildFailed(who, failure) => seen.send(Seen::ChildFailed(
                who.path().to_string(),
                failure.message().to_owned(),
            )),
            _ => Ok(()),
        };
        Behaviors::same()
    })
}

/// An actor that stops when told `()`.
fn stops_on_request() -> Behavior<()> {
    Behaviors::receive_message(|()| Behaviors::stopped())
}

#[test]
fn self_ref_is_the_ref_returned_by_spawn() {
    struct IsItMe {
        candidate: ActorRef<IsItMe>,
        reply_to: ActorRef<bool>,
    }
    let system = system("selfref");
    let spawn = || {
        system.spawn_anonymous(Behaviors::receive(
            |ctx: &mut Context<IsItMe>, msg: IsItMe| {
                msg.reply_to.tell(ctx.self_ref() == msg.candidate);
                Behaviors::same()
            },
        ))
    };
    let actor = spawn().expect("spawn");
    let other = spawn().expect("spawn");
    let me = |candidate: &ActorRef<IsItMe>| {
        actor
            .ask(|reply_to| IsItMe {
                candidate: candidate.clone(),
                reply_to,
            })
            .wait(WAIT)
    };
    assert_eq!(me(&actor), Ok(true));
    assert_eq!(me(&other), Ok(false));
    system.shutdown();
}

#[test]
fn an_actor_can_message_itself_through_self_ref() {
    enum Countdown {
        Start(u32, ActorRef<&'static str>),
        Tick(u32, ActorRef<&'static str>),
    }
    let system = system("countdown");
    let actor = system
        .spawn(
            Behaviors::receive(|ctx: &mut Context<Countdown>, msg| {
                match msg {
                    Countdown::Start(n, reply_to) | Countdown::Tick(n, reply_to) if n > 0 => {
                        ctx.self_ref().tell(Countdown::Tick(n - 1, reply_to));
                    }
                    Countdown::Start(_, reply_to) | Countdown::Tick(_, reply_to) => {
                        reply_to.tell("lift-off");
                    }
                }
                Behaviors::same()
            }),
            "countdown",
        )
        .expect("spawn");
    assert_eq!(
        actor.ask(|r| Countdown::Start(100, r)).wait(WAIT),
        Ok("lift-off")
    );
    system.shutdown();
}

#[test]
fn children_live_under_their_parent_and_can_be_looked_up() {
    struct Family {
        children: Vec<String>,
        named: bool,
        missing: bool,
        self_equal: bool,
    }
    let system = system("family");
    let (report_tx, report_rx) = unbounded();
    system
        .spawn(
            Behaviors::setup(move |ctx| {
                let named = ctx
                    .spawn(Behaviors::ignore::<u8>(), "kid")
                    .expect("spawn child");
                let anonymous = ctx
                    .spawn_anonymous(Behaviors::ignore::<u8>())
                    .expect("spawn");
                let mut children: Vec<String> = ctx
                    .children()
                    .iter()
                    .map(|c| c.path().to_string())
                    .collect();
                children.sort();
                let _ = report_tx.send(Family {
                    children,
                    named: ctx.child("kid").is_some_and(|kid| named == kid),
                    missing: ctx.child("nobody").is_none(),
                    self_equal: ctx.self_ref() == ctx.self_ref() && anonymous != named,
                });
                Behaviors::ignore::<()>()
            }),
            "parent",
        )
        .expect("spawn");
    let family = recv(&report_rx);
    assert_eq!(family.children.len(), 2);
    assert!(family.children.iter().any(|c| c == "/user/parent/kid"));
    assert!(
        family
            .children
            .iter()
            .any(|c| c.starts_with("/user/parent/$"))
    );
    assert!(family.named && family.missing && family.self_equal);
    system.shutdown();
}

#[test]
fn the_ref_a_child_sees_as_self_ref_is_the_one_its_parent_got() {
    let system = system("sameref");
    let (own_tx, own_rx) = unbounded();
    let (spawned_tx, spawned_rx) = unbounded();
    system
        .spawn(
            Behaviors::setup(move |ctx| {
                let own = own_tx.clone();
                let child = ctx
                    .spawn(
                        Behaviors::setup(move |ctx: &mut Context<u8>| {
                            let _ = own.send(ctx.self_ref());
                            Behaviors::ignore()
                        }),
                        "child",
                    )
                    .expect("spawn child");
                let _ = spawned_tx.send(child);
                Behaviors::ignore::<()>()
            }),
            "parent",
        )
        .expect("spawn");
    assert_eq!(recv(&own_rx), recv(&spawned_rx));
    system.shutdown();
}

#[test]
fn stopping_a_child_stops_its_own_children_first() {
    enum Parent {
        StopChild(Sender<Result<(), StopError>>),
    }
    let system = system("stopchild");
    let (stopped_tx, stopped_rx) = unbounded();
    let (ready_tx, ready_rx) = unbounded();
    let parent = system
        .spawn(
            Behaviors::setup(move |ctx| {
                let on_stop = stopped_tx.clone();
                let ready = ready_tx.clone();
                let child = ctx
                    .spawn(
                        reporting_post_stop(
                            Behaviors::setup(move |ctx| {
                                ctx.spawn(
                                    reporting_post_stop(Behaviors::ignore::<()>(), &on_stop),
                                    "grandchild",
                                )
                                .expect("spawn grandchild");
                                let _ = ready.send(());
                                Behaviors::ignore::<()>()
                            }),
                            &stopped_tx,
                        ),
                        "child",
                    )
                    .expect("spawn child");
                Behaviors::receive(move |ctx, Parent::StopChild(done)| {
                    let _ = done.send(ctx.stop(&child));
                    Behaviors::same()
                })
            }),
            "parent",
        )
        .expect("spawn");
    recv(&ready_rx);
    let (done_tx, done_rx) = unbounded();
    parent.tell(Parent::StopChild(done_tx));
    assert_eq!(recv(&done_rx), Ok(()));
    assert_eq!(recv(&stopped_rx).as_str(), "/user/parent/child/grandchild");
    assert_eq!(recv(&stopped_rx).as_str(), "/user/parent/child");
    assert_quiet(&stopped_rx);
    assert!(!parent.is_terminated());
    system.shutdown();
}

#[test]
fn stopping_an_actor_that_is_not_a_child_is_refused() {
    struct Refuse {
        sibling: ActorRef<u8>,
        grandchild: ActorRef<u8>,
        report: Sender<[Result<(), StopError>; 3]>,
    }
    let system = system("notachild");
    let sibling = system
        .spawn(Behaviors::ignore::<u8>(), "sibling")
        .expect("spawn");
    let (grandchild_tx, grandchild_rx) = unbounded();
    let parent = system
        .spawn(
            Behaviors::setup(move |ctx: &mut Context<Refuse>| {
                let grandchild_tx = grandchild_tx.clone();
                ctx.spawn(
                    Behaviors::setup(move |ctx| {
                        let grandchild = ctx
                            .spawn(Behaviors::ignore::<u8>(), "grandchild")
                            .expect("spawn grandchild");
                        let _ = grandchild_tx.send(grandchild);
                        Behaviors::ignore::<()>()
                    }),
                    "child",
                )
                .expect("spawn child");
                Behaviors::receive(|ctx, msg: Refuse| {
                    let me = ctx.self_ref();
                    let _ = msg.report.send([
                        ctx.stop(&msg.sibling),
                        ctx.stop(&me),
                        ctx.stop(&msg.grandchild),
                    ]);
                    Behaviors::same()
                })
            }),
            "parent",
        )
        .expect("spawn");
    let grandchild = recv(&grandchild_rx);
    let (report_tx, report_rx) = unbounded();
    parent.tell(Refuse {
        sibling: sibling.clone(),
        grandchild: grandchild.clone(),
        report: report_tx,
    });
    assert_eq!(
        recv(&report_rx),
        [
            Err(StopError::NotAChild(sibling.path())),
            Err(StopError::NotAChild(parent.path())),
            Err(StopError::NotAChild(grandchild.path())),
        ]
    );
    assert!(!sibling.is_terminated() && !grandchild.is_terminated() && !parent.is_terminated());
    system.shutdown();
}

/// An actor that watches `target` as soon as it starts, says so on `ready`, and reports its
/// signals on `seen`.
fn watching(target: ActorRef<()>, ready: Sender<()>, seen: &Sender<Seen>) -> Behavior<()> {
    reporting_signals(
        Behaviors::setup(move |ctx| {
            ctx.watch(&target);
            let _ = ready.send(());
            Behaviors::ignore()
        }),
        seen,
    )
}

#[test]
fn watching_an_actor_signals_terminated_when_it_stops() {
    let system = system("watch");
    let target = system.spawn(stops_on_request(), "target").expect("spawn");
    let (ready_tx, ready_rx) = unbounded();
    let (seen_tx, seen_rx) = unbounded();
    system
        .spawn(watching(target.clone(), ready_tx, &seen_tx), "watcher")
        .expect("spawn");
    recv(&ready_rx);
    target.tell(());
    assert_eq!(recv(&seen_rx), Seen::Terminated("/user/target".into()));
    assert_quiet(&seen_rx);
    system.shutdown();
}

#[test]
fn the_terminated_signal_carries_the_ref_of_the_stopped_actor() {
    let system = system("whostopped");
    let target = system.spawn(stops_on_request(), "target").expect("spawn");
    let (same_tx, same_rx) = unbounded();
    let watched = target.clone();
    system
        .spawn(
            Behaviors::setup(move |ctx: &mut Context<()>| {
                ctx.watch(&watched);
                let watched = watched.clone();
                let same = same_tx.clone();
                Behaviors::ignore().receive_signal(move |_, signal| {
                    if let Signal::Terminated(who) = signal {
                        let _ = same.send(*who == watched);
                    }
                    Behaviors::same()
                })
            }),
            "watcher",
        )
        .expect("spawn");
    // Watching an actor that has already stopped also signals, so the order does not matter.
    target.tell(());
    assert!(recv(&same_rx));
    system.shutdown();
}

#[test]
fn watching_an_already_stopped_actor_signals_terminated_at_once() {
    let system = system("latewatch");
    let target = system.spawn(stops_on_request(), "target").expect("spawn");
    target.tell(());
    assert!(eventually(|| target.is_terminated()));
    let (ready_tx, ready_rx) = unbounded();
    let (seen_tx, seen_rx) = unbounded();
    system
        .spawn(watching(target, ready_tx, &seen_tx), "watcher")
        .expect("spawn");
    recv(&ready_rx);
    assert_eq!(recv(&seen_rx), Seen::Terminated("/user/target".into()));
    system.shutdown();
}

#[test]
fn watching_a_child_signals_terminated_when_it_stops_and_forgets_it() {
    enum Parent {
        Child(ActorRef<()>),
    }
    let system = system("watchchild");
    let (child_tx, child_rx) = unbounded();
    let (after_tx, after_rx) = unbounded();
    system
        .spawn(
            Behaviors::setup(move |ctx: &mut Context<Parent>| {
                let child = ctx.spawn(stops_on_request(), "child").expect("spawn child");
                ctx.watch(&child);
                let _ = child_tx.send(Parent::Child(child));
                let after = after_tx.clone();
                Behaviors::ignore().receive_signal(move |ctx, signal| {
                    if let Signal::Terminated(who) = signal {
                        let _ = after.send((
                            who.path().to_string(),
                            ctx.children().len(),
                            ctx.child("child").is_none(),
                        ));
                    }
                    Behaviors::same()
                })
            }),
            "parent",
        )
        .expect("spawn");
    let Parent::Child(child) = recv(&child_rx);
    child.tell(());
    assert_eq!(recv(&after_rx), ("/user/parent/child".to_owned(), 0, true));
    system.shutdown();
}

#[test]
fn unwatch_suppresses_the_terminated_signal() {
    enum Msg {
        Unwatch(ActorRef<()>, Sender<()>),
        Report(ActorRef<usize>),
    }
    let system = system("unwatch");
    let target = system.spawn(stops_on_request(), "target").expect("spawn");
    let (seen_tx, seen_rx) = unbounded();
    let watched = target.clone();
    let forgetful = system
        .spawn(
            reporting_signals(
                Behaviors::setup(move |ctx: &mut Context<Msg>| {
                    ctx.watch(&watched);
                    Behaviors::receive(|ctx, msg| {
                        match msg {
                            Msg::Unwatch(target, done) => {
                                ctx.unwatch(&target);
                                let _ = done.send(());
                            }
                            Msg::Report(reply_to) => reply_to.tell(0),
                        }
                        Behaviors::same()
                    })
                }),
                &seen_tx,
            ),
            "forgetful",
        )
        .expect("spawn");
    let (done_tx, done_rx) = unbounded();
    forgetful.tell(Msg::Unwatch(target.clone(), done_tx));
    recv(&done_rx);

    // A second watcher tells the test when the target is gone; it was registered after the
    // first, so a Terminated for the first would already be on its way.
    let (ready_tx, ready_rx) = unbounded();
    let (witness_tx, witness_rx) = unbounded();
    system
        .spawn(watching(target.clone(), ready_tx, &witness_tx), "witness")
        .expect("spawn");
    recv(&ready_rx);
    target.tell(());
    assert_eq!(recv(&witness_rx), Seen::Terminated("/user/target".into()));
    // Signals are handled before user messages: once this reply comes, a Terminated would have.
    assert_eq!(forgetful.ask(Msg::Report).wait(WAIT), Ok(0));
    assert_quiet(&seen_rx);
    system.shutdown();
}

#[test]
fn a_watched_child_that_fails_signals_child_failed_with_the_panic_message() {
    let system = system("childfailed");
    let (seen_tx, seen_rx) = unbounded();
    let (child_tx, child_rx) = unbounded();
    system
        .spawn(
            reporting_signals(
                Behaviors::setup(move |ctx: &mut Context<()>| {
                    let child = ctx
                        .spawn(
                            Behaviors::receive_message(|n: u32| {
                                assert!(n != 13, "unlucky number {n}");
                                Behaviors::same()
                            }),
                            "fragile",
                        )
                        .expect("spawn child");
                    ctx.watch(&child);
                    let _ = child_tx.send(child);
                    Behaviors::ignore()
                }),
                &seen_tx,
            ),
            "parent",
        )
        .expect("spawn");
    let child = recv(&child_rx);
    child.tell(1);
    child.tell(13);
    match recv(&seen_rx) {
        Seen::ChildFailed(path, message) => {
            assert_eq!(path, "/user/parent/fragile");
            assert!(message.contains("unlucky number 13"), "{message}");
        }
        other => panic!("expected ChildFailed, got {other:?}"),
    }
    assert!(eventually(|| child.is_terminated()));
    assert_quiet(&seen_rx);
    system.shutdown();
}

#[test]
fn a_watched_actor_that_fails_but_is_not_a_child_signals_terminated() {
    let system = system("otherfailed");
    let fragile = system
        .spawn(
            Behaviors::receive_message(|()| -> Behavior<()> { panic!("broken") }),
            "fragile",
        )
        .expect("spawn");
    let (ready_tx, ready_rx) = unbounded();
    let (seen_tx, seen_rx) = unbounded();
    system
        .spawn(watching(fragile.clone(), ready_tx, &seen_tx), "watcher")
        .expect("spawn");
    recv(&ready_rx);
    fragile.tell(());
    assert_eq!(recv(&seen_rx), Seen::Terminated("/user/fragile".into()));
    system.shutdown();
}

#[test]
fn a_message_adapter_converts_messages_and_delivers_them_to_its_actor() {
    struct Celsius(i32);
    enum Thermostat {
        Reading(i32),
    }
    let system = system("adapter");
    let (adapter_tx, adapter_rx) = unbounded();
    let (readings_tx, readings_rx) = unbounded();
    let thermostat = system
        .spawn(
            Behaviors::setup(move |ctx: &mut Context<Thermostat>| {
                let adapter = ctx.message_adapter(|Celsius(degrees)| Thermostat::Reading(degrees));
                let _ = adapter_tx.send(adapter);
                let readings = readings_tx.clone();
                Behaviors::receive_message(move |Thermostat::Reading(degrees)| {
                    let _ = readings.send(degrees);
                    Behaviors::same()
                })
            }),
            "thermostat",
        )
        .expect("spawn");
    let adapter: ActorRef<Celsius> = recv(&adapter_rx);
    adapter.tell(Celsius(21));
    adapter.tell(Celsius(-4));
    assert_eq!(recv(&readings_rx), 21);
    assert_eq!(recv(&readings_rx), -4);
    assert!(
        adapter.path().as_str().starts_with("/user/thermostat"),
        "{}",
        adapter.path()
    );
    assert_eq!(
        adapter.to_any(),
        thermostat.to_any(),
        "an adapter stands for its actor"
    );
    system.shutdown();
}

#[test]
fn a_message_adapter_of_a_stopped_actor_sends_to_dead_letters() {
    let system = system("deadadapter");
    let letters = system.dead_letters().subscribe();
    let (adapter_tx, adapter_rx) = unbounded();
    let actor = system
        .spawn(
            Behaviors::setup(move |ctx: &mut Context<u64>| {
                let _ = adapter_tx.send(ctx.message_adapter(|n: u8| u64::from(n)));
                Behaviors::receive_message(|_| Behaviors::stopped())
            }),
            "gone",
        )
        .expect("spawn");
    let adapter: ActorRef<u8> = recv(&adapter_rx);
    actor.tell(0);
    assert!(eventually(|| actor.is_terminated()));
    assert!(adapter.is_terminated());
    adapter.tell(7);
    let letter = recv(&letters);
    assert_eq!(letter.recipient.as_str(), "/user/gone");
    assert_eq!(letter.reason, DeadLetterReason::RecipientStopped);
    system.shutdown();
}

// ----- ctx.ask -----

struct Double {
    n: u32,
    reply_to: ActorRef<u32>,
}

enum Asker {
    Ask(ActorRef<Double>, Duration),
    Answer(Result<u32, AskError>),
    Count(ActorRef<usize>),
}

/// An actor that asks `Double` actors through `ctx.ask`, reports each outcome on `outcomes`
/// from its own handler, and counts them.
fn asker(outcomes: Sender<Result<u32, AskError>>) -> Behavior<Asker> {
    Behaviors::setup(move |_| {
        let outcomes = outcomes.clone();
        let answers = Arc::new(Mutex::new(0usize));
        Behaviors::receive(move |ctx, msg| {
            match msg {
                Asker::Ask(target, timeout) => {
                    ctx.ask(
                        &target,
                        |reply_to| Double { n: 21, reply_to },
                        timeout,
                        Asker::Answer,
                    );
                }
                Asker::Answer(outcome) => {
                    *answers.lock() += 1;
                    let _ = outcomes.send(outcome);
                }
                Asker::Count(reply_to) => reply_to.tell(*answers.lock()),
            }
            Behaviors::same()
        })
    })
}

#[test]
fn ctx_ask_delivers_the_reply_as_one_of_the_actors_own_messages() {
    let system = system("ctxask");
    let doubler = system
        .spawn(
            Behaviors::receive_message(|Double { n, reply_to }| {
                reply_to.tell(2 * n);
                Behaviors::same()
            }),
            "doubler",
        )
        .expect("spawn");
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system.spawn(asker(outcomes_tx), "asker").expect("spawn");
    asker.tell(Asker::Ask(doubler, WAIT));
    assert_eq!(recv(&outcomes_rx), Ok(42));
    assert_eq!(asker.ask(Asker::Count).wait(WAIT), Ok(1));
    system.shutdown();
}

#[test]
fn ctx_ask_delivers_a_timeout_as_one_of_the_actors_own_messages_exactly_once() {
    let system = system("ctxtimeout");
    let kept = Arc::new(Mutex::new(Vec::new()));
    let silent = {
        let kept = kept.clone();
        system
            .spawn(
                Behaviors::receive_message(move |request: Double| {
                    // Holds on to the reply address and never answers.
                    kept.lock().push(request.reply_to);
                    Behaviors::same()
                }),
                "silent",
            )
            .expect("spawn")
    };
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system.spawn(asker(outcomes_tx), "asker").expect("spawn");
    let timeout = Duration::from_millis(50);
    asker.tell(Asker::Ask(silent, timeout));
    let outcome = recv(&outcomes_rx);
    assert!(
        matches!(&outcome, Err(AskError::Timeout(t)) if t.after() == timeout),
        "{outcome:?}"
    );
    // A late reply after the timeout is dropped: the asker got its one answer.
    for reply_to in kept.lock().drain(..) {
        reply_to.tell(99);
    }
    assert_eq!(asker.ask(Asker::Count).wait(WAIT), Ok(1));
    assert_quiet(&outcomes_rx);
    system.shutdown();
}

#[test]
fn ctx_ask_to_a_stopped_target_delivers_target_stopped() {
    let system = system("ctxstopped");
    let gone = system
        .spawn(
            Behaviors::receive_message(|_: Double| Behaviors::stopped()),
            "gone",
        )
        .expect("spawn");
    gone.tell(Double {
        n: 0,
        reply_to: system
            .spawn(Behaviors::ignore::<u32>(), "sink")
            .expect("spawn"),
    });
    assert!(eventually(|| gone.is_terminated()));
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system.spawn(asker(outcomes_tx), "asker").expect("spawn");
    asker.tell(Asker::Ask(gone, WAIT));
    assert_eq!(recv(&outcomes_rx), Err(AskError::TargetStopped));
    system.shutdown();
}

#[test]
fn ctx_ask_to_a_target_that_drops_the_request_delivers_no_reply() {
    let system = system("ctxnoreply");
    let rude = system
        .spawn(
            Behaviors::receive_message(|_: Double| Behaviors::same()),
            "rude",
        )
        .expect("spawn");
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system.spawn(asker(outcomes_tx), "asker").expect("spawn");
    asker.tell(Asker::Ask(rude, WAIT));
    assert_eq!(recv(&outcomes_rx), Err(AskError::NoReply));
    system.shutdown();
}
