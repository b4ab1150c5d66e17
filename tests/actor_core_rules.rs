//! Actor-core rules taken from Akka Typed's specifications, one test per numbered item of issue
//! 12: no message or signal is lost around a restart, user code (ask mappings, message
//! adapters) runs in its own actor's turn, and Akka's behavior and supervision rules (nested
//! `same`, death pact, backoff reset, a setup that always fails, timers before `PreRestart`).
//!
//! Over 600 lines: one file per rule set, as the ported specs are; each test stands alone.

mod common;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{QUIET, WAIT, assert_quiet, eventually, recv, system};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use parking_lot::Mutex;
use reactant::prelude::*;
use reactant::testkit::{ManualTime, Sim, Simulation};

/// How a watched child ended, as its parent saw it.
#[derive(Debug, PartialEq)]
enum ChildEnd {
    Failed { path: String, message: String },
    Stopped { path: String },
}

/// Spawns `parent_name`, a parent that spawns `child` as `child_name`, watches it, and reports
/// how it ends. Returns the child's reference and the parent's reports.
fn spawn_watched_child<N: Send + 'static>(
    system: &ActorSystem,
    parent_name: &str,
    child_name: &'static str,
    child: impl Fn() -> Behavior<N> + Send + Sync + 'static,
) -> (ActorRef<N>, Receiver<ChildEnd>) {
    let (child_tx, child_rx) = unbounded();
    let (ends_tx, ends_rx) = unbounded();
    system
        .spawn(
            Behaviors::setup(move |ctx: &mut Context<()>| {
                let spawned = ctx.spawn(child(), child_name).expect("spawn child");
                ctx.watch(&spawned);
                let _ = child_tx.send(spawned);
                let ends = ends_tx.clone();
                Behaviors::ignore().receive_signal(move |_, signal| {
                    let _ = match signal {
                        Signal::ChildFailed(who, failure) => ends.send(ChildEnd::Failed {
                            path: who.path().to_string(),
                            message: failure.message().to_owned(),
                        }),
                        Signal::Terminated(who) => ends.send(ChildEnd::Stopped {
                            path: who.path().to_string(),
                        }),
                        _ => Ok(()),
                    };
                    Behaviors::same()
                })
            }),
            parent_name,
        )
        .expect("spawn parent");
    (recv(&child_rx), ends_rx)
}

/// An actor that stops when told `()`.
fn stops_on_request() -> Behavior<()> {
    Behaviors::receive_message(|()| Behaviors::stopped())
}

// ----- 1. messages sent during a restart -----

#[test]
fn messages_told_from_three_threads_during_a_backoff_are_all_kept_and_handled_in_sender_order() {
    enum Job {
        Fail,
        Work { sender: usize, seq: u32 },
    }
    const SENDERS: usize = 3;
    const PER_SENDER: u32 = 5_000;
    const ROUNDS: u32 = 6;
    let system = system("heldduringbackoff");
    let letters = system.dead_letters().subscribe();
    let (started_tx, started_rx) = unbounded();
    let (restarting_tx, restarting_rx) = unbounded();
    let (done_tx, done_rx) = unbounded();
    let worker = system
        .spawn(
            Behaviors::supervise(Behaviors::setup(move |_| {
                let _ = started_tx.send(());
                let done = done_tx.clone();
                let restarting = restarting_tx.clone();
                Behaviors::receive_message(move |job| match job {
                    Job::Fail => panic!("failing on purpose"),
                    Job::Work { sender, seq } => {
                        let _ = done.send((sender, seq));
                        Behaviors::same()
                    }
                })
                .receive_signal(move |_, signal| {
                    if let Signal::PreRestart = signal {
                        let _ = restarting.send(());
                    }
                    Behaviors::same()
                })
            }))
            .on_failure(
                // Far more room than the messages told during one backoff.
                SupervisorStrategy::restart_with_backoff(
                    Duration::from_millis(100),
                    Duration::from_millis(400),
                    0.0,
                )
                .with_stash_capacity(100_000),
            ),
            "worker",
        )
        .expect("spawn");
    recv(&started_rx);
    for round in 1..=ROUNDS {
        worker.tell(Job::Fail);
        recv(&restarting_rx);
        let barrier = Barrier::new(SENDERS);
        std::thread::scope(|scope| {
            for sender in 0..SENDERS {
                let worker = worker.clone();
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    for seq in 0..PER_SENDER {
                        worker.tell(Job::Work { sender, seq });
                    }
                });
            }
        });
        recv(&started_rx);
        let mut per_sender: HashMap<usize, Vec<u32>> = HashMap::new();
        let total = SENDERS * PER_SENDER as usize;
        let mut received = 0;
        // Until every message is handled, or accounted for as a dead letter.
        while received + (system.dead_letters().count() as usize) < total {
            match done_rx.recv_timeout(WAIT) {
                Ok((sender, seq)) => {
                    per_sender.entry(sender).or_default().push(seq);
                    received += 1;
                }
                Err(_) => break,
            }
        }
        let dead = system.dead_letters().count();
        assert!(
            dead == 0,
            "round {round}: {dead} of {total} messages went to dead letters although the restart \
             buffer had room; the first: {:?}",
            letters.recv_timeout(QUIET).ok()
        );
        assert_eq!(
            received, total,
            "round {round}: every message told during the backoff is handled after the restart"
        );
        for sender in 0..SENDERS {
            let expected: Vec<u32> = (0..PER_SENDER).collect();
            assert_eq!(
                per_sender.get(&sender),
                Some(&expected),
                "round {round}: sender {sender}'s messages arrive in the order it sent them"
            );
        }
    }
    system.shutdown();
}

// ----- 2. a Terminated that arrives while the watcher restarts -----

#[test]
fn a_watcher_restarting_when_the_watched_actor_stops_gets_terminated_after_its_restart() {
    enum Watcher {
        Watch(ActorRef<()>, Sender<()>),
        Fail,
    }
    let system = system("terminatedinbackoff");
    let target = system.spawn(stops_on_request(), "target").expect("spawn");
    let incarnations = Arc::new(AtomicU32::new(0));
    let (started_tx, started_rx) = unbounded();
    let (restarting_tx, restarting_rx) = unbounded();
    let (seen_tx, seen_rx) = unbounded();
    let backoff = Duration::from_millis(500);
    let watcher = {
        let incarnations = incarnations.clone();
        system
            .spawn(
                Behaviors::supervise(Behaviors::setup(move |_| {
                    let me = incarnations.fetch_add(1, Ordering::SeqCst) + 1;
                    let _ = started_tx.send(me);
                    let seen = seen_tx.clone();
                    let restarting = restarting_tx.clone();
                    // Only the first incarnation watches: the watch must survive the restart.
                    Behaviors::receive(|ctx, msg| match msg {
                        Watcher::Watch(target, done) => {
                            ctx.watch(&target);
                            let _ = done.send(());
                            Behaviors::same()
                        }
                        Watcher::Fail => panic!("failing on purpose"),
                    })
                    .receive_signal(move |_, signal| {
                        match signal {
                            Signal::Terminated(who) => {
                                let _ = seen.send((me, who.path().to_string()));
                            }
                            Signal::PreRestart => {
                                let _ = restarting.send(me);
                            }
                            _ => {}
                        }
                        Behaviors::same()
                    })
                }))
                .on_failure(SupervisorStrategy::restart_with_backoff(
                    backoff,
                    Duration::from_secs(5),
                    0.0,
                )),
                "watcher",
            )
            .expect("spawn")
    };
    assert_eq!(recv(&started_rx), 1);
    let (watching_tx, watching_rx) = unbounded();
    watcher.tell(Watcher::Watch(target.clone(), watching_tx));
    recv(&watching_rx);
    watcher.tell(Watcher::Fail);
    assert_eq!(recv(&restarting_rx), 1);
    // The watched actor stops while the watcher waits out its backoff.
    target.tell(());
    assert!(eventually(|| target.is_terminated()));
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        started_rx.try_recv().is_err(),
        "the scenario needs the watcher still in its backoff when the target stops"
    );
    assert_eq!(
        recv(&started_rx),
        2,
        "the watcher restarts after its backoff"
    );
    match seen_rx.recv_timeout(WAIT) {
        Ok(seen) => assert_eq!(
            seen,
            (2, "/user/target".to_owned()),
            "the new incarnation gets the Terminated"
        ),
        Err(_) => panic!(
            "the Terminated for /user/target, which stopped during the watcher's backoff, was \
             never delivered"
        ),
    }
    assert_quiet(&seen_rx);
    system.shutdown();
}

#[test]
fn a_watcher_waiting_for_its_children_to_stop_when_the_watched_actor_stops_gets_terminated_after_its_restart()
 {
    enum Watcher {
        Watch(ActorRef<()>, Sender<()>),
        Fail,
    }
    let system = system("terminatedawaitingchildren");
    let target = system.spawn(stops_on_request(), "target").expect("spawn");
    // The first incarnation's child blocks in a handler until the test lets go, so the watcher
    // waits for it to stop before restarting.
    let (gate, mut keeper) = common::gate();
    let gate = Arc::new(Mutex::new(Some(gate)));
    let incarnations = Arc::new(AtomicU32::new(0));
    let (started_tx, started_rx) = unbounded();
    let (children_tx, children_rx) = unbounded();
    let (restarting_tx, restarting_rx) = unbounded();
    let (seen_tx, seen_rx) = unbounded();
    let watcher = {
        let incarnations = incarnations.clone();
        system
            .spawn(
                Behaviors::supervise(Behaviors::setup(move |ctx| {
                    let me = incarnations.fetch_add(1, Ordering::SeqCst) + 1;
                    let gate = gate.clone();
                    let child = ctx
                        .spawn(
                            Behaviors::receive_message(move |()| {
                                if let Some(gate) = gate.lock().take() {
                                    gate.hold();
                                }
                                Behaviors::same()
                            }),
                            "slow",
                        )
                        .expect("spawn child");
                    let _ = children_tx.send(child);
                    let _ = started_tx.send(me);
                    let seen = seen_tx.clone();
                    let restarting = restarting_tx.clone();
                    // Only the first incarnation watches: the watch must survive the restart.
                    Behaviors::receive(|ctx, msg| match msg {
                        Watcher::Watch(target, done) => {
                            ctx.watch(&target);
                            let _ = done.send(());
                            Behaviors::same()
                        }
                        Watcher::Fail => panic!("failing on purpose"),
                    })
                    .receive_signal(move |_, signal| {
                        match signal {
                            Signal::Terminated(who) => {
                                let _ = seen.send((me, who.path().to_string()));
                            }
                            Signal::PreRestart => {
                                let _ = restarting.send(me);
                            }
                            _ => {}
                        }
                        Behaviors::same()
                    })
                }))
                .on_failure(SupervisorStrategy::restart()),
                "watcher",
            )
            .expect("spawn")
    };
    assert_eq!(recv(&started_rx), 1);
    let child = recv(&children_rx);
    child.tell(());
    keeper.wait_entered();
    let (watching_tx, watching_rx) = unbounded();
    watcher.tell(Watcher::Watch(target.clone(), watching_tx));
    recv(&watching_rx);
    watcher.tell(Watcher::Fail);
    assert_eq!(recv(&restarting_rx), 1);
    // The watched actor stops while the watcher waits for its child to stop.
    target.tell(());
    assert!(eventually(|| target.is_terminated()));
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        started_rx.try_recv().is_err(),
        "the scenario needs the watcher still waiting for its child when the target stops"
    );
    keeper.open();
    assert_eq!(
        recv(&started_rx),
        2,
        "the watcher restarts once its child has stopped"
    );
    match seen_rx.recv_timeout(WAIT) {
        Ok(seen) => assert_eq!(
            seen,
            (2, "/user/target".to_owned()),
            "the new incarnation gets the Terminated"
        ),
        Err(_) => panic!(
            "the Terminated for /user/target, which stopped while the watcher waited for its \
             children, was never delivered"
        ),
    }
    assert_quiet(&seen_rx);
    system.shutdown();
}

// ----- 3. a reply after the ask timed out -----

/// A reply of a type no other message in these tests has, to find it among dead letters.
struct LateReply(#[allow(dead_code)] u32);

struct Request {
    reply_to: ActorRef<LateReply>,
}

/// An actor that keeps every reply address it is sent and never answers.
fn hoarder(kept: &Arc<Mutex<Vec<ActorRef<LateReply>>>>) -> Behavior<Request> {
    let kept = kept.clone();
    Behaviors::receive_message(move |request: Request| {
        kept.lock().push(request.reply_to);
        Behaviors::same()
    })
}

#[test]
fn a_reply_that_arrives_after_its_ask_timed_out_goes_to_dead_letters() {
    enum Asker {
        Ask(ActorRef<Request>),
        Outcome(Result<LateReply, AskError>),
        Count(ActorRef<u32>),
    }
    let system = system("latereply");
    let letters = system.dead_letters().subscribe();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let silent = system.spawn(hoarder(&kept), "silent").expect("spawn");
    let timeout = Duration::from_millis(50);

    // From outside, with `Pending::wait`.
    let outcome = silent
        .ask(|reply_to| Request { reply_to })
        .wait(timeout)
        .map(|_| ());
    assert!(
        matches!(&outcome, Err(AskError::Timeout(t)) if t.after() == timeout),
        "{outcome:?}"
    );
    assert!(eventually(|| kept.lock().len() == 1));
    let before = system.dead_letters().count();
    let late = kept.lock().pop().expect("the request was kept");
    late.tell(LateReply(1));
    drop(late);
    match letters.recv_timeout(WAIT) {
        Ok(letter) => assert_eq!(
            letter.message_type,
            std::any::type_name::<LateReply>(),
            "the late reply itself is the dead letter: {letter}"
        ),
        Err(_) => panic!("a reply after Pending::wait timed out vanished: no dead letter"),
    }
    assert_eq!(system.dead_letters().count(), before + 1);
    assert_quiet(&letters);

    // From inside an actor, with `ctx.ask`.
    let (outcomes_tx, outcomes_rx) = unbounded();
    let asker = system
        .spawn(
            Behaviors::setup(move |_| {
                let outcomes = outcomes_tx.clone();
                let answers = Arc::new(AtomicU32::new(0));
                Behaviors::receive(move |ctx, msg| {
                    match msg {
                        Asker::Ask(target) => ctx.ask(
                            &target,
                            |reply_to| Request { reply_to },
                            timeout,
                            Asker::Outcome,
                        ),
                        Asker::Outcome(outcome) => {
                            answers.fetch_add(1, Ordering::SeqCst);
                            let _ = outcomes.send(outcome.map(|_| ()));
                        }
                        Asker::Count(reply_to) => reply_to.tell(answers.load(Ordering::SeqCst)),
                    }
                    Behaviors::same()
                })
            }),
            "asker",
        )
        .expect("spawn");
    asker.tell(Asker::Ask(silent));
    let outcome = recv(&outcomes_rx);
    assert!(
        matches!(&outcome, Err(AskError::Timeout(t)) if t.after() == timeout),
        "{outcome:?}"
    );
    let before = system.dead_letters().count();
    let late = kept.lock().pop().expect("the request was kept");
    late.tell(LateReply(2));
    drop(late);
    match letters.recv_timeout(WAIT) {
        Ok(letter) => assert_eq!(
            letter.message_type,
            std::any::type_name::<LateReply>(),
            "the late reply itself is the dead letter: {letter}"
        ),
        Err(_) => panic!("a reply after a ctx.ask timed out vanished: no dead letter"),
    }
    assert_eq!(system.dead_letters().count(), before + 1);
    assert_eq!(
        asker.ask(Asker::Count).wait(WAIT),
        Ok(1),
        "the asker still gets exactly one outcome"
    );
    assert_quiet(&outcomes_rx);
    system.shutdown();
}

// ----- 4. ask mappings and message adapters run in the asker's turn -----

/// The next report on `rx` within [`WAIT`], or a description of what is missing.
fn next<T>(rx: &Receiver<T>, what: &str) -> Result<T, String> {
    match rx.recv_timeout(WAIT) {
        Ok(value) => Ok(value),
        Err(RecvTimeoutError::Timeout) => Err(format!("{what}: nothing within {WAIT:?}")),
        Err(RecvTimeoutError::Disconnected) => Err(format!("{what}: the channel closed")),
    }
}

/// True if `thread` is one of `system`'s dispatcher workers (not the test's thread, not the
/// scheduler).
fn is_worker_of(system: &str, thread: Option<&str>) -> bool {
    thread.is_some_and(|name| name.starts_with(&format!("{system}-default-")))
}

#[test]
fn a_ctx_ask_mapping_runs_in_the_askers_turn_and_its_panic_fails_the_asker_not_the_replier() {
    struct Echo {
        n: u32,
        reply_to: ActorRef<u32>,
    }
    enum Asker {
        Ask {
            target: ActorRef<Echo>,
            n: u32,
            timeout: Duration,
        },
        Mapped(u32, Option<String>),
    }
    const SYSTEM: &str = "askmapping";
    let system = system(SYSTEM);
    // Answers with the number it is sent.
    let replier = system
        .spawn(
            Behaviors::receive_message(|Echo { n, reply_to }| {
                reply_to.tell(n);
                Behaviors::same()
            }),
            "replier",
        )
        .expect("spawn");
    // Hands the reply address to the test, which answers from its own thread (or never).
    let (addresses_tx, addresses_rx) = unbounded();
    let relay = system
        .spawn(
            Behaviors::receive_message(move |Echo { reply_to, .. }| {
                let _ = addresses_tx.send(reply_to);
                Behaviors::same()
            }),
            "relay",
        )
        .expect("spawn");
    let (mapped_tx, mapped_rx) = unbounded();
    let asker = move || {
        let mapped = mapped_tx.clone();
        Behaviors::receive(move |ctx: &mut Context<Asker>, msg| {
            match msg {
                Asker::Ask { target, n, timeout } => ctx.ask(
                    &target,
                    |reply_to| Echo { n, reply_to },
                    timeout,
                    |outcome: Result<u32, AskError>| {
                        let thread = std::thread::current().name().map(str::to_owned);
                        match outcome {
                            Ok(13) => panic!("the ask mapping fails on 13"),
                            Ok(n) => Asker::Mapped(n, thread),
                            Err(AskError::Timeout(_)) => {
                                panic!("the ask mapping fails on a timeout")
                            }
                            Err(other) => panic!("unexpected ask outcome {other:?}"),
                        }
                    },
                ),
                Asker::Mapped(n, thread) => {
                    let _ = mapped.send((n, thread));
                }
            }
            Behaviors::same()
        })
    };
    let mut problems = Vec::new();

    // The mapping of a reply told from the test's thread runs on a worker, in the asker's turn.
    let (first, _first_ends) = spawn_watched_child(&system, "first-parent", "asker", asker.clone());
    first.tell(Asker::Ask {
        target: relay.clone(),
        n: 0,
        timeout: WAIT,
    });
    match next(&addresses_rx, "the relayed reply address") {
        Ok(reply_to) => reply_to.tell(7),
        Err(problem) => problems.push(problem),
    }
    match next(&mapped_rx, "the mapped reply") {
        Ok((n, thread)) => {
            assert_eq!(n, 7);
            if !is_worker_of(SYSTEM, thread.as_deref()) {
                problems.push(format!(
                    "the mapping ran on thread {thread:?} (the replier's), not on a worker in \
                     the asker's turn"
                ));
            }
        }
        Err(problem) => problems.push(problem),
    }

    // A mapping that panics on a reply from an actor fails the asker; the replier keeps going.
    let (second, second_ends) =
        spawn_watched_child(&system, "second-parent", "asker", asker.clone());
    second.tell(Asker::Ask {
        target: replier.clone(),
        n: 13,
        timeout: WAIT,
    });
    match next(
        &second_ends,
        "the asker's failure after its mapping panicked",
    ) {
        Ok(ChildEnd::Failed { path, message }) => {
            assert_eq!(path, "/user/second-parent/asker");
            assert!(message.contains("the ask mapping fails on 13"), "{message}");
        }
        Ok(other) => problems.push(format!("the asker ended without failing: {other:?}")),
        Err(problem) => problems.push(problem),
    }
    if replier.is_terminated() {
        problems.push("the replier stopped: the asker's mapping failed inside its tell".into());
    } else if replier.ask(|reply_to| Echo { n: 5, reply_to }).wait(WAIT) != Ok(5) {
        problems.push("the replier no longer answers".into());
    }

    // A mapping that panics on a reply told from outside does not unwind into that tell.
    let (third, third_ends) = spawn_watched_child(&system, "third-parent", "asker", asker.clone());
    third.tell(Asker::Ask {
        target: relay.clone(),
        n: 0,
        timeout: WAIT,
    });
    match next(&addresses_rx, "the relayed reply address") {
        Ok(reply_to) => {
            if catch_unwind(AssertUnwindSafe(|| reply_to.tell(13))).is_err() {
                problems.push("the asker's mapping panicked inside the replier's tell".into());
            }
        }
        Err(problem) => problems.push(problem),
    }
    match next(
        &third_ends,
        "the asker's failure after its mapping panicked",
    ) {
        Ok(ChildEnd::Failed { message, .. }) => {
            assert!(message.contains("the ask mapping fails on 13"), "{message}");
        }
        Ok(other) => problems.push(format!("the asker ended without failing: {other:?}")),
        Err(problem) => problems.push(problem),
    }

    // A mapping that panics on a timeout fails the asker too (not the scheduler thread).
    let (fourth, fourth_ends) = spawn_watched_child(&system, "fourth-parent", "asker", asker);
    fourth.tell(Asker::Ask {
        target: relay,
        n: 0,
        timeout: Duration::from_millis(50),
    });
    let _kept = next(&addresses_rx, "the relayed reply address");
    match next(
        &fourth_ends,
        "the asker's failure after its mapping panicked on a timeout",
    ) {
        Ok(ChildEnd::Failed { message, .. }) => {
            assert!(
                message.contains("the ask mapping fails on a timeout"),
                "{message}"
            );
        }
        Ok(other) => problems.push(format!("the asker ended without failing: {other:?}")),
        Err(problem) => problems.push(problem),
    }
    assert!(problems.is_empty(), "{problems:#?}");
    system.shutdown();
}

#[test]
fn a_message_adapter_runs_in_its_actors_turn_and_its_panic_fails_that_actor_not_the_sender() {
    enum Adapting {
        Adapted(u32, Option<String>),
    }
    enum Sending {
        Forward(ActorRef<u32>, u32),
        Ping(ActorRef<()>),
    }
    const SYSTEM: &str = "adapterturn";
    let system = system(SYSTEM);
    let sender = system
        .spawn(
            Behaviors::receive_message(|msg| {
                match msg {
                    Sending::Forward(to, n) => to.tell(n),
                    Sending::Ping(reply_to) => reply_to.tell(()),
                }
                Behaviors::same()
            }),
            "sender",
        )
        .expect("spawn");
    let (adapters_tx, adapters_rx) = unbounded();
    let (adapted_tx, adapted_rx) = unbounded();
    let adapting = move || {
        let adapters = adapters_tx.clone();
        let adapted = adapted_tx.clone();
        Behaviors::setup(move |ctx: &mut Context<Adapting>| {
            let _ = adapters.send(ctx.message_adapter(|n: u32| {
                let thread = std::thread::current().name().map(str::to_owned);
                assert!(n != 13, "the message adapter fails on 13");
                Adapting::Adapted(n, thread)
            }));
            let adapted = adapted.clone();
            Behaviors::receive_message(move |Adapting::Adapted(n, thread)| {
                let _ = adapted.send((n, thread));
                Behaviors::same()
            })
        })
    };
    let mut problems = Vec::new();

    // Told from the test's thread, the adapter's function runs on a worker, in the actor's turn.
    let (_first, _first_ends) =
        spawn_watched_child(&system, "first-parent", "adapting", adapting.clone());
    let adapter = recv(&adapters_rx);
    adapter.tell(7);
    match next(&adapted_rx, "the adapted message") {
        Ok((n, thread)) => {
            assert_eq!(n, 7);
            if !is_worker_of(SYSTEM, thread.as_deref()) {
                problems.push(format!(
                    "the adapter ran on thread {thread:?} (the sender's), not on a worker in \
                     its actor's turn"
                ));
            }
        }
        Err(problem) => problems.push(problem),
    }

    // An adapter that panics on a message from an actor fails its own actor; the sender goes on.
    let (_second, second_ends) =
        spawn_watched_child(&system, "second-parent", "adapting", adapting.clone());
    let adapter = recv(&adapters_rx);
    sender.tell(Sending::Forward(adapter, 13));
    match next(&second_ends, "the adapting actor's failure") {
        Ok(ChildEnd::Failed { path, message }) => {
            assert_eq!(path, "/user/second-parent/adapting");
            assert!(
                message.contains("the message adapter fails on 13"),
                "{message}"
            );
        }
        Ok(other) => problems.push(format!(
            "the adapting actor ended without failing: {other:?}"
        )),
        Err(problem) => problems.push(problem),
    }
    if sender.is_terminated() {
        problems.push("the sender stopped: the adapter failed inside its tell".into());
    } else if sender.ask(Sending::Ping).wait(WAIT) != Ok(()) {
        problems.push("the sender no longer answers".into());
    }

    // Told from outside, a panicking adapter does not unwind into that tell.
    let (_third, third_ends) = spawn_watched_child(&system, "third-parent", "adapting", adapting);
    let adapter = recv(&adapters_rx);
    if catch_unwind(AssertUnwindSafe(|| adapter.tell(13))).is_err() {
        problems.push("the message adapter panicked inside the sender's tell".into());
    }
    match next(&third_ends, "the adapting actor's failure") {
        Ok(ChildEnd::Failed { message, .. }) => {
            assert!(
                message.contains("the message adapter fails on 13"),
                "{message}"
            );
        }
        Ok(other) => problems.push(format!(
            "the adapting actor ended without failing: {other:?}"
        )),
        Err(problem) => problems.push(problem),
    }
    assert!(problems.is_empty(), "{problems:#?}");
    system.shutdown();
}

// ----- 5. a nested behavior that yields `same` -----

#[test]
fn a_setup_with_timers_or_with_stash_returned_by_a_handler_that_yields_same_keeps_the_behavior() {
    enum Nest {
        Setup,
        Timers,
        Stash,
    }
    enum Msg {
        Add,
        Nest(Nest),
        Get(ActorRef<u32>),
    }
    fn counter(count: u32) -> Behavior<Msg> {
        Behaviors::receive_message(move |msg| match msg {
            Msg::Add => counter(count + 1),
            Msg::Nest(Nest::Setup) => Behaviors::setup(|_| Behaviors::same()),
            Msg::Nest(Nest::Timers) => Behaviors::with_timers(|_| Behaviors::same()),
            Msg::Nest(Nest::Stash) => Behaviors::with_stash(8, |_| Behaviors::same()),
            Msg::Get(reply_to) => {
                reply_to.tell(count);
                Behaviors::same()
            }
        })
    }
    let system = system("nestedsame");
    // Supervised with restart: a restart would reset the count, so it shows too.
    let actor = system
        .spawn(
            Behaviors::supervise(counter(0)).on_failure(SupervisorStrategy::restart()),
            "counter",
        )
        .expect("spawn");
    actor.tell(Msg::Add);
    for (expected, nest) in [(1, Nest::Setup), (2, Nest::Timers), (3, Nest::Stash)] {
        actor.tell(Msg::Nest(nest));
        assert_eq!(
            actor.ask(Msg::Get).wait(WAIT),
            Ok(expected),
            "the actor keeps its current behavior and state"
        );
        actor.tell(Msg::Add);
    }
    assert_eq!(actor.ask(Msg::Get).wait(WAIT), Ok(4));
    assert!(!actor.is_terminated());
    system.shutdown();
}

// ----- 6. death pact -----

#[test]
fn an_actor_that_does_not_handle_the_terminated_of_an_actor_it_watches_fails() {
    let system = system("deathpact");
    let target = system.spawn(stops_on_request(), "target").expect("spawn");
    // No signal handler at all. (Not `Behaviors::ignore()`: as in Akka, it handles every
    // message and signal, `Terminated` included, by ignoring it.)
    let (silent, silent_ends) = {
        let target = target.clone();
        spawn_watched_child(&system, "first-parent", "no-handler", move || {
            let target = target.clone();
            Behaviors::setup(move |ctx: &mut Context<()>| {
                ctx.watch(&target);
                Behaviors::receive_message(|()| Behaviors::same())
            })
        })
    };
    // A signal handler that returns `unhandled` for `Terminated`.
    let (refusing, refusing_ends) = {
        let target = target.clone();
        spawn_watched_child(&system, "second-parent", "unhandled", move || {
            let target = target.clone();
            Behaviors::setup(move |ctx: &mut Context<()>| {
                ctx.watch(&target);
                Behaviors::ignore().receive_signal(|_, signal| match signal {
                    Signal::Terminated(_) => Behaviors::unhandled(),
                    _ => Behaviors::same(),
                })
            })
        })
    };
    target.tell(());
    assert!(eventually(|| target.is_terminated()));
    for (ends, path) in [
        (&silent_ends, "/user/first-parent/no-handler"),
        (&refusing_ends, "/user/second-parent/unhandled"),
    ] {
        match ends.recv_timeout(WAIT) {
            Ok(ChildEnd::Failed { path: failed, .. }) => assert_eq!(failed, path),
            Ok(other) => panic!("{path} ended without failing: {other:?}"),
            Err(_) => panic!(
                "{path} watched an actor that stopped, did not handle its Terminated, and kept \
                 running (no death pact)"
            ),
        }
    }
    assert!(silent.is_terminated() && refusing.is_terminated());
    system.shutdown();
}

// ----- 7. backoff reset -----

/// A supervised actor whose every message is poison, run in a simulation: each start is
/// stamped with the simulation's (virtual) time.
fn poisoned(
    sim: &Sim,
    min: Duration,
    reset_after: Duration,
) -> (ActorRef<()>, Arc<Mutex<Vec<Instant>>>) {
    let time = ManualTime::for_system(sim.system());
    let starts: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let stamps = starts.clone();
    let actor = sim.spawn(
        Behaviors::supervise(Behaviors::setup(move |_| {
            stamps.lock().push(time.now());
            Behaviors::receive_message(|()| -> Behavior<()> { panic!("poison") })
        }))
        .on_failure(
            SupervisorStrategy::restart_with_backoff(min, Duration::from_secs(10), 0.0)
                .with_reset_after(reset_after),
        ),
        "poisoned",
    );
    (actor, starts)
}

/// On virtual time: the delays are exact, whatever the machine's load.
#[test]
fn the_backoff_quiet_period_is_measured_from_the_restart_not_from_the_failure() {
    Simulation::new(1).run(|sim| {
        let min = Duration::from_millis(300);
        let reset_after = Duration::from_millis(200);
        let (actor, starts) = poisoned(sim, min, reset_after);
        sim.run_until_quiet();
        // The second poison waits in the restart buffer and fails the actor right after its
        // restart: 300 ms after the first failure, but at once after the restart. Not a quiet
        // period.
        actor.tell(());
        actor.tell(());
        sim.run_for(Duration::from_secs(2));
        let stamps = starts.lock().clone();
        assert_eq!(stamps.len(), 3, "started, restarted twice");
        assert_eq!(
            stamps[1] - stamps[0],
            min,
            "the first restart waits the minimum"
        );
        assert_eq!(
            stamps[2] - stamps[1],
            2 * min,
            "a failure at once after a restart doubles the delay: the backoff wait does not \
             count as quiet"
        );
        // Quiet for longer than `reset_after` since the restart: back to the minimum delay.
        sim.run_for(2 * reset_after);
        let told = ManualTime::for_system(sim.system()).now();
        actor.tell(());
        sim.run_for(Duration::from_secs(2));
        let stamps = starts.lock().clone();
        assert_eq!(stamps.len(), 4);
        assert_eq!(
            stamps[3] - told,
            min,
            "after a quiet period of reset_after from the restart, the delay is back to the \
             minimum"
        );
    });
}

/// On virtual time: each cycle's restart waits exactly the minimum, so no liveness bound on
/// the wall clock is needed.
#[test]
fn a_poison_message_every_few_hundred_ms_restarts_after_the_minimum_backoff() {
    const CYCLES: usize = 8;
    Simulation::new(2).run(|sim| {
        let min = Duration::from_millis(10);
        let (actor, starts) = poisoned(sim, min, Duration::from_millis(100));
        let time = ManualTime::for_system(sim.system());
        sim.run_until_quiet();
        for cycle in 1..=CYCLES {
            sim.run_for(Duration::from_millis(300));
            let told = time.now();
            actor.tell(());
            sim.run_for(Duration::from_millis(50));
            let stamps = starts.lock().clone();
            assert_eq!(stamps.len(), cycle + 1, "cycle {cycle}: restarted once");
            assert_eq!(
                stamps[cycle] - told,
                min,
                "cycle {cycle}: a poison after a quiet period restarts after the minimum"
            );
        }
    });
}

// ----- 8. a setup that always panics -----

#[test]
fn an_actor_whose_setup_always_panics_under_restart_without_limit_stops_instead_of_looping() {
    let system = system("hotloop");
    let attempts = Arc::new(AtomicU32::new(0));
    let actor = {
        let attempts = attempts.clone();
        system
            .spawn(
                Behaviors::supervise(Behaviors::setup(move |_| -> Behavior<()> {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    panic!("cannot start")
                }))
                .on_failure(SupervisorStrategy::restart()),
                "hopeless",
            )
            .expect("spawn")
    };
    assert!(
        eventually(|| actor.is_terminated()),
        "still restarting after {WAIT:?}: {} attempts",
        attempts.load(Ordering::SeqCst)
    );
    let made = attempts.load(Ordering::SeqCst);
    assert!((1..1000).contains(&made), "{made} setup attempts");
    std::thread::sleep(QUIET);
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        made,
        "no attempt after it stopped"
    );
    system.shutdown();
}

// ----- 9. timers inside PreRestart -----

#[test]
fn timers_are_already_cancelled_when_the_pre_restart_handler_runs() {
    #[derive(Clone)]
    enum Msg {
        Tick,
        Fail,
        Check(Sender<(bool, bool)>),
    }
    let system = system("timersprerestart");
    let (active_tx, active_rx) = unbounded();
    let actor = system
        .spawn(
            Behaviors::supervise(Behaviors::with_timers(move |timers: Timers<Msg>| {
                let hour = Duration::from_secs(3600);
                timers.start_single("once", Msg::Tick, hour);
                timers.start_fixed_rate("rate", Msg::Tick, hour);
                let in_handler = timers.clone();
                let active = active_tx.clone();
                Behaviors::receive_message(move |msg| match msg {
                    Msg::Tick => Behaviors::same(),
                    Msg::Fail => panic!("failing on purpose"),
                    Msg::Check(reply_to) => {
                        let _ = reply_to
                            .send((in_handler.is_active(&"once"), in_handler.is_active(&"rate")));
                        Behaviors::same()
                    }
                })
                .receive_signal(move |_, signal| {
                    if let Signal::PreRestart = signal {
                        let _ = active.send((timers.is_active(&"once"), timers.is_active(&"rate")));
                    }
                    Behaviors::same()
                })
            }))
            .on_failure(SupervisorStrategy::restart()),
            "timed",
        )
        .expect("spawn");
    let (check_tx, check_rx) = unbounded();
    actor.tell(Msg::Check(check_tx));
    assert_eq!(recv(&check_rx), (true, true), "both timers run before");
    actor.tell(Msg::Fail);
    assert_eq!(
        recv(&active_rx),
        (false, false),
        "inside PreRestart no timer of the ending incarnation is active"
    );
    system.shutdown();
}

/// An object-style actor that spawns and watches children written as functional behaviors
/// (the flagship example's desk and orders): each child that stops itself reaches the
/// watcher's `on_signal` as `Terminated`.
#[test]
fn an_object_actor_watching_functional_children_gets_a_terminated_for_each() {
    struct Desk {
        events: crossbeam_channel::Sender<String>,
    }
    enum DeskMsg {
        Open(&'static str),
    }
    impl Actor for Desk {
        type Msg = DeskMsg;
        fn handle(&mut self, ctx: &mut Context<DeskMsg>, msg: DeskMsg) {
            let DeskMsg::Open(name) = msg;
            let child: Behavior<()> = Behaviors::setup(|ctx| {
                ctx.timers()
                    .start_single("expiry", (), Duration::from_millis(20));
                Behaviors::receive_message(|()| Behaviors::stopped())
            });
            let child = ctx.spawn(child, name).expect("spawn a child");
            ctx.watch(&child);
        }
        fn on_signal(&mut self, _ctx: &mut Context<DeskMsg>, signal: &Signal) {
            if let Signal::Terminated(child) = signal {
                let _ = self.events.send(child.path().name().to_owned());
            }
        }
    }
    let system = ActorSystem::builder()
        .name("desk")
        .threads(2)
        .build()
        .expect("a system");
    let (events, terminated) = crossbeam_channel::unbounded();
    let desk = system
        .spawn(Desk { events }, "desk")
        .expect("spawn the desk");
    desk.tell(DeskMsg::Open("a"));
    desk.tell(DeskMsg::Open("b"));
    let mut names = vec![
        terminated
            .recv_timeout(Duration::from_secs(5))
            .expect("a Terminated"),
        terminated
            .recv_timeout(Duration::from_secs(5))
            .expect("a second Terminated"),
    ];
    names.sort();
    assert_eq!(names, ["a", "b"]);
    system.shutdown();
}
