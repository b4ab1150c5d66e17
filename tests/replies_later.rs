//! Replies that come later (issue 14, item 7): a pending reply can be mapped without blocking
//! and piped to an actor as one of its own messages — exactly once, whatever thread replies,
//! and with a failure whenever no reply will come — and a reference can be adapted to another
//! protocol without a `Context`.
//!
//! The pipe behaviour follows Pekko's `ActorContextPipeToSelfSpec` and `AskSpec`: success and
//! failure both arrive as messages, the mapping runs in the actor's own turn, a panic in it is
//! the actor's failure, and a reply after the timeout is a dead letter.
//!
//! Over 600 lines: one file per rule set, as the ported specs are; each test stands alone.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{WAIT, assert_quiet, eventually, recv, recv_n, system};
use crossbeam_channel::{Sender, unbounded};
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

/// An actor that keeps every request's reply address and never answers; the test answers (or
/// drops them) through `kept`.
fn hoarder(kept: &Arc<Mutex<Vec<ActorRef<u64>>>>) -> Behavior<Double> {
    let kept = kept.clone();
    Behaviors::receive_message(move |Double { reply_to, .. }| {
        kept.lock().push(reply_to);
        Behaviors::same()
    })
}

/// An actor that forwards every outcome it is sent on `outcomes`.
fn forwarding<T: Send + 'static>(outcomes: Sender<T>) -> Behavior<T> {
    Behaviors::receive_message(move |outcome| {
        let _ = outcomes.send(outcome);
        Behaviors::same()
    })
}

// ----- Pending::map -----

#[test]
fn map_converts_the_reply_when_it_arrives() {
    let system = system("mapreply");
    let doubler = system.spawn(doubler(), "doubler").expect("spawn");
    let text = doubler
        .ask(|reply_to| Double { n: 21, reply_to })
        .map(|n| format!("{n}!"));
    assert_eq!(text.wait(WAIT), Ok("42!".to_owned()));
    system.shutdown();
}

#[test]
fn map_of_a_reply_that_already_arrived_is_ready_at_once() {
    let system = system("mapready");
    let doubler = system.spawn(doubler(), "doubler").expect("spawn");
    let pending = doubler.ask(|reply_to| Double { n: 2, reply_to });
    assert!(eventually(|| pending.is_ready()));
    let mapped = pending.map(|n| n + 1);
    assert!(
        mapped.is_ready(),
        "mapped on this thread, nothing to wait for"
    );
    assert_eq!(mapped.wait(Duration::ZERO), Ok(5));
    system.shutdown();
}

#[test]
fn maps_chain() {
    let system = system("mapchain");
    let doubler = system.spawn(doubler(), "doubler").expect("spawn");
    let chained = doubler
        .ask(|reply_to| Double { n: 5, reply_to })
        .map(|n| n + 1)
        .map(|n| n * 10)
        .map(|n| n.to_string());
    assert_eq!(chained.wait(WAIT), Ok("110".to_owned()));
    system.shutdown();
}

#[test]
fn map_passes_a_stopped_target_through_without_running_the_function() {
    let system = system("mapstopped");
    let doubler = system.spawn(doubler(), "doubler").expect("spawn");
    system.shutdown();
    let ran = Arc::new(AtomicBool::new(false));
    let mapped = {
        let ran = ran.clone();
        doubler
            .ask(|reply_to| Double { n: 1, reply_to })
            .map(move |n| {
                ran.store(true, Ordering::SeqCst);
                n
            })
    };
    assert_eq!(mapped.wait(WAIT), Err(AskError::TargetStopped));
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn map_passes_a_dropped_reply_address_through_as_no_reply() {
    let system = system("mapnoreply");
    let rude = system
        .spawn(
            Behaviors::receive_message(|_: Double| Behaviors::same()),
            "rude",
        )
        .expect("spawn");
    let mapped = rude
        .ask(|reply_to| Double { n: 1, reply_to })
        .map(|n| n + 1);
    assert_eq!(mapped.wait(WAIT), Err(AskError::NoReply));
    system.shutdown();
}

#[test]
fn a_panicking_map_function_is_a_failure_of_the_ask_and_spares_the_replying_actor() {
    enum Gate {
        Hold(Double),
        Release,
    }
    // One worker: had the panic killed it, or failed the replier, nothing below would answer.
    let system = ActorSystem::builder()
        .name("mappanic")
        .threads(1)
        .build()
        .expect("a system");
    let (signals_tx, signals_rx) = unbounded();
    let held = Arc::new(Mutex::new(Vec::new()));
    // Replies only when released, so that the mapping is in place first and runs on this
    // actor's dispatcher thread, inside its turn.
    let gate = {
        let held = held.clone();
        system
            .spawn(
                Behaviors::receive_message(move |msg| {
                    match msg {
                        Gate::Hold(request) => held.lock().push(request),
                        Gate::Release => {
                            for Double { n, reply_to } in held.lock().drain(..) {
                                reply_to.tell(2 * n);
                            }
                        }
                    }
                    Behaviors::same()
                })
                .receive_signal(move |_, signal| {
                    let _ = signals_tx.send(format!("{signal:?}"));
                    Behaviors::same()
                }),
                "gate",
            )
            .expect("spawn")
    };
    for round in 0..20u64 {
        let threads = Arc::new(Mutex::new(String::new()));
        let pending = {
            let threads = threads.clone();
            gate.ask(|reply_to| Gate::Hold(Double { n: round, reply_to }))
                .map(move |n| -> u64 {
                    *threads.lock() = std::thread::current().name().unwrap_or("").to_owned();
                    panic!("cannot map {n}")
                })
        };
        gate.tell(Gate::Release);
        match pending.wait(WAIT) {
            Err(AskError::MapFailed(why)) => {
                assert!(why.contains(&format!("cannot map {}", 2 * round)), "{why}");
            }
            other => panic!("expected MapFailed, got {other:?}"),
        }
        let thread = threads.lock().clone();
        assert!(thread.starts_with("mappanic-default-"), "{thread}");
    }
    assert!(held.lock().is_empty());
    let last = gate.ask(|reply_to| Gate::Hold(Double { n: 4, reply_to }));
    gate.tell(Gate::Release);
    assert_eq!(
        last.wait(WAIT),
        Ok(8),
        "the replier and its dispatcher thread still serve"
    );
    assert_quiet(&signals_rx);
    system.shutdown();
}

#[test]
fn a_mapped_ask_that_times_out_names_the_original_ask() {
    let system = system("maptimeout");
    let kept = Arc::new(Mutex::new(Vec::new()));
    let silent = system.spawn(hoarder(&kept), "silent").expect("spawn");
    let timeout = Duration::from_millis(50);
    let outcome = silent
        .ask(|reply_to| Double { n: 1, reply_to })
        .map(|n| n.to_string())
        .wait(timeout);
    let Err(AskError::Timeout(timed_out)) = outcome else {
        panic!("expected a timeout, got {outcome:?}");
    };
    assert_eq!(timed_out.after(), timeout);
    assert_eq!(timed_out.target().actor_path(), Some(&silent.path()));
    assert_eq!(timed_out.reply_type(), "u64");
    assert_eq!(timed_out.request_type(), std::any::type_name::<Double>());
    system.shutdown();
}

#[test]
fn a_reply_after_a_mapped_wait_gave_up_is_a_dead_letter_and_is_not_mapped() {
    let system = system("maplate");
    let letters = system.dead_letters().subscribe();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let silent = system.spawn(hoarder(&kept), "silent").expect("spawn");
    let ran = Arc::new(AtomicBool::new(false));
    let outcome = {
        let ran = ran.clone();
        silent
            .ask(|reply_to| Double { n: 1, reply_to })
            .map(move |n| {
                ran.store(true, Ordering::SeqCst);
                n
            })
            .wait(Duration::from_millis(20))
    };
    assert!(matches!(outcome, Err(AskError::Timeout(_))), "{outcome:?}");
    assert!(eventually(|| kept.lock().len() == 1));
    let late = kept.lock().pop().expect("the request was kept");
    late.tell(7);
    let letter = recv(&letters);
    assert_eq!(letter.reason, DeadLetterReason::LateReply, "{letter}");
    assert_eq!(letter.message_type, "u64");
    assert_eq!(letter.recipient.as_str(), "/user/silent/$ask");
    assert!(
        !ran.load(Ordering::SeqCst),
        "nobody wanted the mapped reply"
    );
    system.shutdown();
}

// ----- Pending::pipe_to -----

enum Piper {
    /// Ask `target` for `2 * n`, through `Pending::pipe_to`.
    Ask(ActorRef<Double>, u64, Duration),
    Outcome(Result<u64, AskError>, String),
}

/// An actor that asks through `pipe_to` and reports each outcome, with the name of the thread
/// its mapping ran on.
fn piper(outcomes: Sender<(Result<u64, AskError>, String)>) -> Behavior<Piper> {
    Behaviors::receive(move |ctx, msg| {
        match msg {
            Piper::Ask(target, n, timeout) => target
                .ask(|reply_to| Double { n, reply_to })
                .pipe_to(ctx, timeout, |outcome| {
                    let thread = std::thread::current().name().unwrap_or("").to_owned();
                    Piper::Outcome(outcome, thread)
                }),
            Piper::Outcome(outcome, thread) => {
                let _ = outcomes.send((outcome, thread));
            }
        }
        Behaviors::same()
    })
}

#[test]
fn pipe_to_delivers_the_reply_as_the_actors_own_message_mapped_in_its_turn() {
    let system = ActorSystem::builder()
        .name("pipereply")
        .threads(1)
        .dispatcher("replier", 1)
        .build()
        .expect("a system");
    let doubler = system
        .spawn_with(
            doubler(),
            Some("doubler"),
            &Props::new().with_dispatcher("replier"),
        )
        .expect("spawn");
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system.spawn(piper(outcomes_tx), "asker").expect("spawn");
    asker.tell(Piper::Ask(doubler, 21, WAIT));
    let (outcome, thread) = recv(&outcomes_rx);
    assert_eq!(outcome, Ok(42));
    assert!(
        thread.starts_with("pipereply-default-"),
        "the mapping runs on the asker's dispatcher, not the replier's: {thread}"
    );
    assert_quiet(&outcomes_rx);
    system.shutdown();
}

#[test]
fn pipe_to_delivers_target_stopped_when_the_asked_actor_had_stopped() {
    let system = system("pipestopped");
    let doubler = system.spawn(doubler(), "doubler").expect("spawn");
    system.shutdown();
    let system = common::system("pipestopped2");
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system.spawn(piper(outcomes_tx), "asker").expect("spawn");
    asker.tell(Piper::Ask(doubler, 1, WAIT));
    assert_eq!(recv(&outcomes_rx).0, Err(AskError::TargetStopped));
    assert_quiet(&outcomes_rx);
    system.shutdown();
}

#[test]
fn pipe_to_delivers_a_failure_when_the_asked_actor_stops_without_replying() {
    let system = system("pipestops");
    // Stops on the request itself, dropping its reply address unanswered.
    let leaving = system
        .spawn(
            Behaviors::receive_message(|_: Double| Behaviors::stopped()),
            "leaving",
        )
        .expect("spawn");
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system.spawn(piper(outcomes_tx), "asker").expect("spawn");
    asker.tell(Piper::Ask(leaving.clone(), 1, WAIT));
    assert_eq!(recv(&outcomes_rx).0, Err(AskError::NoReply));
    // And once it has stopped, the request itself is a dead letter.
    assert!(eventually(|| leaving.is_terminated()));
    asker.tell(Piper::Ask(leaving, 2, WAIT));
    assert_eq!(recv(&outcomes_rx).0, Err(AskError::TargetStopped));
    assert_quiet(&outcomes_rx);
    system.shutdown();
}

#[test]
fn pipe_to_delivers_target_stopped_for_a_request_queued_behind_the_targets_stop() {
    enum Leaving {
        Stop,
        Request(ActorRef<u64>),
    }
    let system = system("pipequeued");
    let leaving = system
        .spawn(
            Behaviors::receive_message(|msg| match msg {
                Leaving::Stop => Behaviors::stopped(),
                Leaving::Request(reply_to) => {
                    reply_to.tell(1);
                    Behaviors::same()
                }
            }),
            "leaving",
        )
        .expect("spawn");
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system
        .spawn(
            Behaviors::receive(
                move |ctx, msg: Result<ActorRef<Leaving>, Result<u64, AskError>>| {
                    match msg {
                        Ok(target) => {
                            // Both from this actor, so the stop is read first.
                            target.tell(Leaving::Stop);
                            target.ask(Leaving::Request).pipe_to(ctx, WAIT, Err);
                        }
                        Err(outcome) => {
                            let _ = outcomes_tx.send(outcome);
                        }
                    }
                    Behaviors::same()
                },
            ),
            "asker",
        )
        .expect("spawn");
    asker.tell(Ok(leaving));
    assert_eq!(recv(&outcomes_rx), Err(AskError::TargetStopped));
    assert_quiet(&outcomes_rx);
    system.shutdown();
}

#[test]
fn pipe_to_delivers_target_failed_when_the_asked_actor_panics_on_the_request() {
    let system = system("pipefailed");
    let fragile = system
        .spawn(
            Behaviors::supervise(Behaviors::receive_message(
                |_: Double| -> Behavior<Double> { panic!("cannot answer") },
            ))
            .on_failure(SupervisorStrategy::restart()),
            "fragile",
        )
        .expect("spawn");
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system.spawn(piper(outcomes_tx), "asker").expect("spawn");
    asker.tell(Piper::Ask(fragile, 1, WAIT));
    assert_eq!(recv(&outcomes_rx).0, Err(AskError::TargetFailed));
    assert_quiet(&outcomes_rx);
    system.shutdown();
}

#[test]
fn pipe_to_delivers_no_reply_when_the_reply_address_is_dropped_later() {
    let system = system("pipedropped");
    let kept = Arc::new(Mutex::new(Vec::new()));
    let silent = system.spawn(hoarder(&kept), "silent").expect("spawn");
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system.spawn(piper(outcomes_tx), "asker").expect("spawn");
    asker.tell(Piper::Ask(silent, 1, WAIT));
    assert!(eventually(|| kept.lock().len() == 1));
    // Dropped from this (non-actor) thread, long after the ask.
    kept.lock().clear();
    assert_eq!(recv(&outcomes_rx).0, Err(AskError::NoReply));
    assert_quiet(&outcomes_rx);
    system.shutdown();
}

#[test]
fn pipe_to_delivers_one_timeout_naming_the_target_and_a_late_reply_is_a_dead_letter() {
    let system = system("pipetimeout");
    let letters = system.dead_letters().subscribe();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let silent = system.spawn(hoarder(&kept), "silent").expect("spawn");
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system.spawn(piper(outcomes_tx), "asker").expect("spawn");
    let timeout = Duration::from_millis(30);
    asker.tell(Piper::Ask(silent.clone(), 1, timeout));
    let (outcome, _) = recv(&outcomes_rx);
    let Err(AskError::Timeout(timed_out)) = outcome else {
        panic!("expected a timeout, got {outcome:?}");
    };
    assert_eq!(timed_out.after(), timeout);
    assert_eq!(timed_out.target().actor_path(), Some(&silent.path()));
    let message = timed_out.to_string();
    assert!(
        message.contains("/user/silent") && message.contains("u64"),
        "{message}"
    );
    let late = kept.lock().pop().expect("the request was kept");
    late.tell(99);
    let letter = recv(&letters);
    assert_eq!(letter.reason, DeadLetterReason::LateReply, "{letter}");
    assert_ne!(
        letter.recipient.as_str(),
        "/deadLetters",
        "a late reply names its ask"
    );
    assert_quiet(&outcomes_rx);
    system.shutdown();
}

#[test]
fn a_reply_after_the_asker_stopped_is_a_dead_letter_and_its_mapping_never_runs() {
    let system = system("pipeaskergone");
    let kept = Arc::new(Mutex::new(Vec::new()));
    let silent = system.spawn(hoarder(&kept), "silent").expect("spawn");
    let mapped = Arc::new(AtomicBool::new(false));
    let asker = {
        let mapped = mapped.clone();
        system
            .spawn(
                Behaviors::receive(move |ctx, target: ActorRef<Double>| {
                    let mapped = mapped.clone();
                    target.ask(|reply_to| Double { n: 1, reply_to }).pipe_to(
                        ctx,
                        WAIT,
                        move |_| {
                            mapped.store(true, Ordering::SeqCst);
                            target
                        },
                    );
                    Behaviors::stopped()
                }),
                "asker",
            )
            .expect("spawn")
    };
    asker.tell(silent);
    assert!(eventually(|| asker.is_terminated()));
    assert!(eventually(|| kept.lock().len() == 1));
    let before = system.dead_letters().count();
    let late = kept.lock().pop().expect("the request was kept");
    late.tell(2);
    assert!(
        eventually(|| system.dead_letters().count() > before),
        "the outcome for a stopped asker is a dead letter"
    );
    std::thread::sleep(common::QUIET);
    assert!(!mapped.load(Ordering::SeqCst), "no turn of a stopped actor");
    system.shutdown();
}

#[test]
fn a_panicking_pipe_to_mapping_is_the_askers_failure_not_the_repliers() {
    let system = system("pipemappanic");
    let doubler = system.spawn(doubler(), "doubler").expect("spawn");
    let (signals_tx, signals_rx) = unbounded();
    let asker = system
        .spawn(
            Behaviors::supervise(Behaviors::receive(
                move |ctx, (target, n): (ActorRef<Double>, u64)| {
                    target.ask(|reply_to| Double { n, reply_to }).pipe_to(
                        ctx,
                        WAIT,
                        move |outcome| {
                            if outcome == Ok(84) {
                                panic!("unsupported number");
                            }
                            (target, u64::MAX)
                        },
                    );
                    Behaviors::same()
                },
            ))
            .on_failure(SupervisorStrategy::restart())
            .receive_signal(move |_, signal| {
                let _ = signals_tx.send(format!("{signal:?}"));
                Behaviors::same()
            }),
            "asker",
        )
        .expect("spawn");
    asker.tell((doubler.clone(), 42));
    let signal = recv(&signals_rx);
    assert!(signal.contains("PreRestart"), "{signal}");
    assert_eq!(
        doubler.ask(|reply_to| Double { n: 1, reply_to }).wait(WAIT),
        Ok(2),
        "the replier is unharmed"
    );
    system.shutdown();
}

#[test]
fn pipe_to_of_a_reply_that_already_arrived_delivers_it() {
    let system = system("pipeready");
    let doubler = system.spawn(doubler(), "doubler").expect("spawn");
    let pending = doubler.ask(|reply_to| Double { n: 8, reply_to });
    assert!(eventually(|| pending.is_ready()));
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system
        .spawn(
            Behaviors::receive(
                move |ctx, msg: Result<Pending<u64>, Result<u64, AskError>>| {
                    match msg {
                        Ok(pending) => pending.pipe_to(ctx, WAIT, Err),
                        Err(outcome) => {
                            let _ = outcomes_tx.send(outcome);
                        }
                    }
                    Behaviors::same()
                },
            ),
            "asker",
        )
        .expect("spawn");
    asker.tell(Ok(pending));
    assert_eq!(recv(&outcomes_rx), Ok(16));
    assert_quiet(&outcomes_rx);
    system.shutdown();
}

#[test]
fn pipe_to_works_with_a_mapped_reply() {
    let system = system("pipemapped");
    let doubler = system.spawn(doubler(), "doubler").expect("spawn");
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system
        .spawn(
            Behaviors::receive(move |ctx, msg: Result<ActorRef<Double>, String>| {
                match msg {
                    Ok(target) => target
                        .ask(|reply_to| Double { n: 3, reply_to })
                        .map(|n| format!("six? {}", n == 6))
                        .pipe_to(ctx, WAIT, |outcome| {
                            Err(outcome.unwrap_or_else(|e| e.to_string()))
                        }),
                    Err(text) => {
                        let _ = outcomes_tx.send(text);
                    }
                }
                Behaviors::same()
            }),
            "asker",
        )
        .expect("spawn");
    asker.tell(Ok(doubler));
    assert_eq!(recv(&outcomes_rx), "six? true");
    system.shutdown();
}

/// The replier is a plain thread that answers the moment the request is sent — racing the
/// asker, which registers its pipe right after sending — so the reply lands before, during and
/// after the registration (some requests are even answered inside the send). Every third
/// request is dropped instead of answered. Each ask must
/// produce exactly one message, with the right outcome, and no reply may be lost or doubled.
#[test]
fn pipe_to_delivers_exactly_once_while_another_thread_replies() {
    const ROUNDS: u64 = 3_000;
    let system = ActorSystem::builder()
        .name("pipehammer")
        .threads(4)
        .build()
        .expect("a system");
    let letters = system.dead_letters().subscribe();
    let (requests_tx, requests_rx) = unbounded::<Double>();
    let replier = std::thread::spawn(move || {
        for Double { n, reply_to } in requests_rx {
            if !n.is_multiple_of(3) {
                reply_to.tell(2 * n);
            }
        }
    });
    // A reference whose `tell` hands the request to the replier thread at once.
    let sink = system
        .spawn(Behaviors::ignore::<()>(), "sink")
        .expect("spawn");
    let remote: ActorRef<Double> = sink.contramap(move |request: Double| {
        if !request.n.is_multiple_of(3) && request.n % 5 == 1 {
            // Answered before the asker even gets its pending reply back.
            request.reply_to.tell(2 * request.n);
        } else {
            let _ = requests_tx.send(request);
        }
    });
    let (outcomes_tx, outcomes_rx) = unbounded();
    let askers: Vec<ActorRef<u64>> = (0..4)
        .map(|i| {
            let remote = remote.clone();
            let outcomes = outcomes_tx.clone();
            let behavior = Behaviors::receive(move |ctx, n: u64| {
                if n < ROUNDS {
                    let outcomes = outcomes.clone();
                    remote
                        .ask(|reply_to| Double { n, reply_to })
                        .map(move |doubled| doubled + 1)
                        .pipe_to(ctx, WAIT, move |outcome| {
                            let _ = outcomes.send((n, outcome));
                            u64::MAX
                        });
                }
                Behaviors::same()
            });
            system
                .spawn(behavior, &format!("asker-{i}"))
                .expect("spawn")
        })
        .collect();
    for n in 0..ROUNDS {
        askers[(n % 4) as usize].tell(n);
    }
    let mut seen = vec![false; ROUNDS as usize];
    for (n, outcome) in recv_n(&outcomes_rx, ROUNDS as usize) {
        assert!(!seen[n as usize], "ask {n} delivered twice");
        seen[n as usize] = true;
        if n.is_multiple_of(3) {
            assert_eq!(outcome, Err(AskError::NoReply), "ask {n}");
        } else {
            assert_eq!(outcome, Ok(2 * n + 1), "ask {n}");
        }
    }
    assert_quiet(&outcomes_rx);
    assert!(
        letters
            .try_iter()
            .all(|l| l.reason != DeadLetterReason::LateReply),
        "no reply was late"
    );
    drop(remote);
    drop(askers);
    system.shutdown();
    replier.join().expect("the replier thread ends");
}

#[test]
fn an_entity_ask_that_times_out_names_the_type_key_and_the_entity_id() {
    let system = system("entitytimeout");
    let kept = Arc::new(Mutex::new(Vec::new()));
    let region = {
        let kept = kept.clone();
        system
            .sharding()
            .init(ShardedEntity::new(
                EntityTypeKey::<Double>::new("ledger"),
                move |_| hoarder(&kept),
            ))
            .expect("the region starts")
    };
    let timeout = Duration::from_millis(30);
    let outcome = region
        .entity("acc-1")
        .ask(|reply_to| Double { n: 1, reply_to })
        .wait(timeout);
    let Err(AskError::Timeout(timed_out)) = outcome else {
        panic!("expected a timeout, got {outcome:?}");
    };
    assert_eq!(timed_out.target().type_key(), Some("ledger"));
    assert_eq!(timed_out.target().entity_id(), Some("acc-1"));
    assert_eq!(timed_out.target().actor_path(), None);
    assert_eq!(timed_out.request_type(), std::any::type_name::<Double>());
    let message = timed_out.to_string();
    assert!(
        message.contains(r#"the entity "acc-1" of type "ledger""#),
        "{message}"
    );
    system.shutdown();
}

// ----- ActorRef::contramap -----

#[derive(Debug, PartialEq)]
enum Log {
    Direct(u32),
    Converted(u32),
}

#[test]
fn contramap_converts_and_keeps_the_order_of_one_senders_messages() {
    let system = system("contraorder");
    let (log_tx, log_rx) = unbounded();
    let logger = system.spawn(forwarding(log_tx), "logger").expect("spawn");
    let converted: ActorRef<u32> = logger.contramap(Log::Converted);
    for i in 0..100 {
        if i % 2 == 0 {
            logger.tell(Log::Direct(i));
        } else {
            converted.tell(i);
        }
    }
    let expected: Vec<Log> = (0..100)
        .map(|i| {
            if i % 2 == 0 {
                Log::Direct(i)
            } else {
                Log::Converted(i)
            }
        })
        .collect();
    assert_eq!(recv_n(&log_rx, 100), expected);
    system.shutdown();
}

#[test]
fn contramap_keeps_the_path_and_the_actor_and_can_be_watched() {
    enum Stoppable {
        Log(u32),
        Stop,
    }
    let system = system("contrawatch");
    let stoppable = system
        .spawn(
            Behaviors::receive_message(|msg| match msg {
                Stoppable::Log(n) => {
                    assert!(n < u32::MAX);
                    Behaviors::same()
                }
                Stoppable::Stop => Behaviors::stopped(),
            }),
            "stoppable",
        )
        .expect("spawn");
    let narrowed: ActorRef<u32> = stoppable.contramap(Stoppable::Log);
    let twice: ActorRef<u8> = narrowed.contramap(u32::from);
    assert_eq!(narrowed.path(), stoppable.path());
    assert_eq!(twice.path(), stoppable.path());
    let actor = stoppable.to_any().expect("an actor");
    assert_eq!(narrowed.to_any(), Some(actor.clone()));
    assert!(twice == actor);

    let (terminated_tx, terminated_rx) = unbounded();
    let (watching_tx, watching_rx) = unbounded();
    let _watcher = system
        .spawn(
            Behaviors::setup(move |ctx| {
                ctx.watch(&twice);
                let _ = watching_tx.send(());
                let terminated_tx = terminated_tx.clone();
                Behaviors::ignore::<()>().receive_signal(move |_, signal| {
                    if let Signal::Terminated(who) = signal {
                        let _ = terminated_tx.send(who.path());
                    }
                    Behaviors::same()
                })
            }),
            "watcher",
        )
        .expect("spawn");
    recv(&watching_rx);
    assert!(!narrowed.is_terminated());
    stoppable.tell(Stoppable::Stop);
    assert_eq!(recv(&terminated_rx), stoppable.path());
    assert!(narrowed.is_terminated());
    system.shutdown();
}

#[test]
fn a_contramapped_reply_address_adapts_a_reply_without_a_context() {
    let system = system("contrareply");
    let doubler = system.spawn(doubler(), "doubler").expect("spawn");
    let (log_tx, log_rx) = unbounded();
    let logger = system.spawn(forwarding(log_tx), "logger").expect("spawn");
    doubler.tell(Double {
        n: 4,
        reply_to: logger.contramap(|n: u64| Log::Converted(n as u32)),
    });
    assert_eq!(recv(&log_rx), Log::Converted(8));
    system.shutdown();
}

#[test]
fn a_contramapped_ref_to_a_stopped_actor_sends_dead_letters() {
    let system = system("contradead");
    let brief = system
        .spawn(
            Behaviors::receive_message(|_: u64| Behaviors::stopped()),
            "brief",
        )
        .expect("spawn");
    let converted: ActorRef<u32> = brief.contramap(u64::from);
    converted.tell(1);
    assert!(eventually(|| converted.is_terminated()));
    let before = system.dead_letters().count();
    converted.tell(2);
    assert_eq!(system.dead_letters().count(), before + 1);
    system.shutdown();
}

#[test]
fn contramap_counts_each_conversion_once() {
    let system = system("contraonce");
    let calls = Arc::new(AtomicUsize::new(0));
    let (log_tx, log_rx) = unbounded();
    let logger = system.spawn(forwarding(log_tx), "logger").expect("spawn");
    let converted: ActorRef<u32> = {
        let calls = calls.clone();
        logger.contramap(move |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            Log::Converted(n)
        })
    };
    let clone = converted.clone();
    converted.tell(1);
    clone.tell(2);
    assert_eq!(
        recv_n(&log_rx, 2),
        vec![Log::Converted(1), Log::Converted(2)]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(clone == converted, "clones are the same reference");
    system.shutdown();
}
