//! Behaviors as values: what an actor does with its next message, the signals it sees, and the
//! object-style `Actor` trait.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{WAIT, assert_quiet, eventually, recv, recv_n, reporting_post_stop, system};
use crossbeam_channel::{Sender, unbounded};
use reactant::prelude::*;

enum Counter {
    Add(u64),
    Get(ActorRef<u64>),
}

/// A counter whose state is the behavior itself: each message returns the next behavior.
fn counter(total: u64) -> Behavior<Counter> {
    Behaviors::receive_message(move |msg| match msg {
        Counter::Add(n) => counter(total + n),
        Counter::Get(reply_to) => {
            reply_to.tell(total);
            Behaviors::same()
        }
    })
}

#[test]
fn receive_gives_the_handler_the_actors_context() {
    let system = system("receive");
    let actor = system
        .spawn(
            Behaviors::receive(|ctx: &mut Context<ActorRef<String>>, reply_to| {
                reply_to.tell(ctx.self_ref().path().to_string());
                Behaviors::same()
            }),
            "me",
        )
        .expect("spawn");
    assert_eq!(actor.ask(|r| r).wait(WAIT).as_deref(), Ok("/user/me"));
    system.shutdown();
}

#[test]
fn a_behavior_returned_by_the_handler_handles_the_next_message() {
    let system = system("become");
    let actor = system.spawn(counter(0), "counter").expect("spawn");
    for n in 1..=4 {
        actor.tell(Counter::Add(n));
    }
    assert_eq!(actor.ask(Counter::Get).wait(WAIT), Ok(10));
    actor.tell(Counter::Add(5));
    assert_eq!(actor.ask(Counter::Get).wait(WAIT), Ok(15));
    system.shutdown();
}

#[test]
fn same_keeps_the_current_behavior() {
    enum Door {
        Lock,
        Knock(ActorRef<&'static str>),
    }
    fn open() -> Behavior<Door> {
        Behaviors::receive_message(|msg| match msg {
            Door::Lock => locked(),
            Door::Knock(reply_to) => {
                reply_to.tell("come in");
                Behaviors::same()
            }
        })
    }
    fn locked() -> Behavior<Door> {
        Behaviors::receive_message(|msg| match msg {
            Door::Lock => Behaviors::same(),
            Door::Knock(reply_to) => {
                reply_to.tell("go away");
                Behaviors::same()
            }
        })
    }
    let system = system("same");
    let door = system.spawn(open(), "door").expect("spawn");
    assert_eq!(door.ask(Door::Knock).wait(WAIT), Ok("come in"));
    assert_eq!(door.ask(Door::Knock).wait(WAIT), Ok("come in"));
    door.tell(Door::Lock);
    assert_eq!(door.ask(Door::Knock).wait(WAIT), Ok("go away"));
    assert_eq!(door.ask(Door::Knock).wait(WAIT), Ok("go away"));
    system.shutdown();
}

#[test]
fn setup_runs_once_when_the_actor_starts_even_before_any_message() {
    let system = system("setup");
    let runs = Arc::new(AtomicU32::new(0));
    let (started_tx, started_rx) = unbounded();
    let actor = {
        let runs = runs.clone();
        system
            .spawn(
                Behaviors::setup(move |ctx| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let _ = started_tx.send(ctx.path());
                    counter(100)
                }),
                "prepared",
            )
            .expect("spawn")
    };
    assert_eq!(recv(&started_rx).as_str(), "/user/prepared");
    actor.tell(Counter::Add(1));
    assert_eq!(actor.ask(Counter::Get).wait(WAIT), Ok(101));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    system.shutdown();
}

#[test]
fn setup_may_return_another_setup() {
    let system = system("nested");
    let actor = system
        .spawn(
            Behaviors::setup(|_| Behaviors::setup(|_| counter(7))),
            "nested",
        )
        .expect("spawn");
    assert_eq!(actor.ask(Counter::Get).wait(WAIT), Ok(7));
    system.shutdown();
}

#[test]
fn stopped_stops_the_actor_after_the_message_with_post_stop() {
    let system = system("stopped");
    let letters = system.dead_letters().subscribe();
    let (stopped_tx, stopped_rx) = unbounded();
    let (handled_tx, handled_rx) = unbounded();
    let actor = system
        .spawn(
            reporting_post_stop(
                Behaviors::receive_message(move |n: u32| {
                    let _ = handled_tx.send(n);
                    if n == 2 {
                        Behaviors::stopped()
                    } else {
                        Behaviors::same()
                    }
                }),
                &stopped_tx,
            ),
            "brief",
        )
        .expect("spawn");
    actor.tell(1);
    actor.tell(2);
    assert_eq!(recv(&stopped_rx).as_str(), "/user/brief");
    assert!(eventually(|| actor.is_terminated()));
    actor.tell(3);
    assert_eq!(recv(&letters).reason, DeadLetterReason::RecipientStopped);
    assert_eq!(handled_rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    assert_quiet(&stopped_rx);
    system.shutdown();
}

#[test]
fn stopped_from_setup_stops_the_actor_at_once() {
    let system = system("stillborn");
    let actor = system
        .spawn(
            Behaviors::setup(|_| Behaviors::stopped::<u8>()),
            "stillborn",
        )
        .expect("spawn");
    assert!(eventually(|| actor.is_terminated()));
    system.shutdown();
}

#[test]
fn unhandled_reports_a_dead_letter_and_keeps_the_behavior() {
    enum Request {
        Mine(ActorRef<&'static str>),
        NotMine(ActorRef<&'static str>),
    }
    let system = system("unhandled");
    let letters = system.dead_letters().subscribe();
    let actor = system
        .spawn(
            Behaviors::receive_message(|msg| match msg {
                Request::Mine(reply_to) => {
                    reply_to.tell("done");
                    Behaviors::same()
                }
                Request::NotMine(reply_to) => {
                    drop(reply_to);
                    Behaviors::unhandled()
                }
            }),
            "picky",
        )
        .expect("spawn");
    assert!(
        actor.ask(Request::NotMine).wait(WAIT).is_err(),
        "an unhandled request gets no reply"
    );
    let letter = recv(&letters);
    assert_eq!(letter.recipient.as_str(), "/user/picky");
    assert_eq!(letter.reason, DeadLetterReason::Unhandled);
    assert_eq!(
        actor.ask(Request::Mine).wait(WAIT),
        Ok("done"),
        "the behavior stays"
    );
    assert!(!actor.is_terminated());
    system.shutdown();
}

#[test]
fn empty_treats_every_message_as_unhandled_and_keeps_running() {
    let system = system("empty");
    let letters = system.dead_letters().subscribe();
    let actor = system
        .spawn(Behaviors::empty::<u32>(), "void")
        .expect("spawn");
    for n in 0..3 {
        actor.tell(n);
    }
    for letter in recv_n(&letters, 3) {
        assert_eq!(letter.recipient.as_str(), "/user/void");
        assert_eq!(letter.reason, DeadLetterReason::Unhandled);
    }
    assert!(!actor.is_terminated());
    system.shutdown();
}

#[test]
fn ignore_drops_every_message_silently_and_keeps_running() {
    let system = system("ignore");
    let actor = system
        .spawn(Behaviors::ignore::<ActorRef<u32>>(), "deaf")
        .expect("spawn");
    for _ in 0..3 {
        // The request is dropped with its reply address: the asker learns it at once.
        assert_eq!(actor.ask(|r| r).wait(WAIT), Err(AskError::NoReply));
    }
    assert_eq!(system.dead_letters().count(), 0);
    assert!(!actor.is_terminated());
    system.shutdown();
}

#[test]
fn receive_signal_sees_post_stop_once() {
    let system = system("signals");
    let (signals_tx, signals_rx) = unbounded();
    let actor = system
        .spawn(
            Behaviors::receive_message(|()| Behaviors::stopped()).receive_signal(
                move |_, signal| {
                    let _ = signals_tx.send(format!("{signal:?}"));
                    Behaviors::same()
                },
            ),
            "signalled",
        )
        .expect("spawn");
    actor.tell(());
    assert_eq!(recv(&signals_rx), "PostStop");
    system.shutdown();
    assert_eq!(signals_rx.try_iter().count(), 0);
}

#[test]
fn receive_signal_on_setup_applies_to_the_behavior_it_builds() {
    let system = system("setupsignal");
    let (stopped_tx, stopped_rx) = unbounded();
    system
        .spawn(
            reporting_post_stop(Behaviors::setup(|_| counter(0)), &stopped_tx),
            "built",
        )
        .expect("spawn");
    system.shutdown();
    assert_eq!(recv(&stopped_rx).as_str(), "/user/built");
}

#[test]
fn receive_signal_on_ignore_and_empty_sees_post_stop() {
    let system = system("quietsignal");
    let (stopped_tx, stopped_rx) = unbounded();
    system
        .spawn(
            reporting_post_stop(Behaviors::ignore::<u8>(), &stopped_tx),
            "ignoring",
        )
        .expect("spawn");
    system
        .spawn(
            reporting_post_stop(Behaviors::empty::<u8>(), &stopped_tx),
            "empty",
        )
        .expect("spawn");
    system.shutdown();
    let mut stopped: Vec<String> = stopped_rx.try_iter().map(|p| p.to_string()).collect();
    stopped.sort();
    assert_eq!(stopped, ["/user/empty", "/user/ignoring"]);
}

// ----- object style -----

enum JournalMsg {
    Write(&'static str),
    Finish,
    Count(ActorRef<usize>),
}

/// An object-style actor recording its lifecycle on a channel.
struct Journal {
    lines: Vec<&'static str>,
    events: Sender<String>,
}

impl Actor for Journal {
    type Msg = JournalMsg;

    fn pre_start(&mut self, ctx: &mut Context<JournalMsg>) {
        let _ = self.events.send(format!("pre_start {}", ctx.path()));
    }

    fn handle(&mut self, ctx: &mut Context<JournalMsg>, msg: JournalMsg) {
        match msg {
            JournalMsg::Write(line) => {
                self.lines.push(line);
                let _ = self.events.send(format!("write {line}"));
            }
            JournalMsg::Finish => ctx.stop_self(),
            JournalMsg::Count(reply_to) => reply_to.tell(self.lines.len()),
        }
    }

    fn post_stop(&mut self, _ctx: &mut Context<JournalMsg>) {
        let _ = self
            .events
            .send(format!("post_stop after {} lines", self.lines.len()));
    }
}

#[test]
fn an_object_style_actor_runs_pre_start_then_messages_then_post_stop() {
    let system = system("object");
    let (events_tx, events_rx) = unbounded();
    let journal = system
        .spawn(
            Journal {
                lines: Vec::new(),
                events: events_tx,
            },
            "journal",
        )
        .expect("spawn");
    journal.tell(JournalMsg::Write("a"));
    journal.tell(JournalMsg::Write("b"));
    assert_eq!(journal.ask(JournalMsg::Count).wait(WAIT), Ok(2));
    journal.tell(JournalMsg::Finish);
    journal.tell(JournalMsg::Write("too late"));
    assert_eq!(
        recv_n(&events_rx, 4),
        [
            "pre_start /user/journal",
            "write a",
            "write b",
            "post_stop after 2 lines"
        ]
    );
    assert!(eventually(|| journal.is_terminated()));
    assert_quiet(&events_rx);
    system.shutdown();
}

#[test]
fn an_object_style_actor_from_a_factory_starts_like_a_value() {
    let system = system("factory");
    let (events_tx, events_rx) = unbounded();
    let journal = system
        .spawn(
            Behaviors::actor(move || Journal {
                lines: Vec::new(),
                events: events_tx.clone(),
            }),
            "journal",
        )
        .expect("spawn");
    journal.tell(JournalMsg::Write("x"));
    assert_eq!(
        recv_n(&events_rx, 2),
        ["pre_start /user/journal", "write x"]
    );
    system.shutdown();
    assert_eq!(recv(&events_rx), "post_stop after 1 lines");
}

/// An object-style actor that watches another and reports the signal.
struct Watcher {
    target: ActorRef<()>,
    seen: Sender<String>,
}

impl Actor for Watcher {
    type Msg = ();

    fn pre_start(&mut self, ctx: &mut Context<()>) {
        ctx.watch(&self.target);
        let _ = self.seen.send("watching".to_owned());
    }

    fn handle(&mut self, _ctx: &mut Context<()>, (): ()) {}

    fn on_signal(&mut self, _ctx: &mut Context<()>, signal: &Signal) {
        if let Signal::Terminated(who) = signal {
            let _ = self.seen.send(format!("terminated {}", who.path()));
        }
    }
}

#[test]
fn an_object_style_actor_receives_other_signals_in_on_signal() {
    let system = system("objsignal");
    let target = system
        .spawn(
            Behaviors::receive_message(|()| Behaviors::stopped()),
            "target",
        )
        .expect("spawn");
    let (seen_tx, seen_rx) = unbounded();
    system
        .spawn(
            Watcher {
                target: target.clone(),
                seen: seen_tx,
            },
            "watcher",
        )
        .expect("spawn");
    assert_eq!(recv(&seen_rx), "watching");
    target.tell(());
    assert_eq!(recv(&seen_rx), "terminated /user/target");
    system.shutdown();
}

/// Logs `start` when its `pre_start` runs (after waiting for `gate`, if it has one, and
/// panicking if `fail_start` is set), then every message it handles.
struct GatedStart {
    gate: Option<crossbeam_channel::Receiver<()>>,
    fail_start: bool,
    log: Sender<String>,
}

impl Actor for GatedStart {
    type Msg = u32;

    fn pre_start(&mut self, _ctx: &mut Context<u32>) {
        if let Some(gate) = self.gate.take() {
            gate.recv_timeout(WAIT).expect("the test opens the gate");
        }
        if self.fail_start {
            panic!("the start fails");
        }
        let _ = self.log.send("start".into());
    }

    fn handle(&mut self, _ctx: &mut Context<u32>, n: u32) {
        let _ = self.log.send(format!("{n}"));
    }
}

#[test]
fn messages_sent_while_pre_start_runs_are_handled_after_it_in_order() {
    let system = system("start-gate");
    let (open, gate) = unbounded();
    let (log, seen) = unbounded();
    let actor = system
        .spawn(
            GatedStart {
                gate: Some(gate),
                fail_start: false,
                log,
            },
            "gated",
        )
        .expect("spawn");
    // The start is running (or about to) on a worker, held at the gate: everything sent now
    // arrives during the start.
    for n in 0..100 {
        actor.tell(n);
    }
    open.send(()).expect("the actor waits at the gate");
    assert_eq!(recv(&seen), "start");
    let handled: Vec<String> = recv_n(&seen, 100);
    assert_eq!(handled, (0..100).map(|n| n.to_string()).collect::<Vec<_>>());
    system.shutdown();
}

#[test]
fn messages_sent_while_a_failing_pre_start_runs_go_to_the_restarted_actor_in_order() {
    let system = system("start-fails");
    let (open, gate) = unbounded::<()>();
    let (log, seen) = unbounded();
    let gate = std::sync::Mutex::new(Some(gate));
    let incarnations = Arc::new(AtomicU32::new(0));
    let made = incarnations.clone();
    let actor = system
        .spawn(
            Behaviors::supervise(Behaviors::actor(move || {
                // The first incarnation waits at the gate, then fails its start.
                let first = made.fetch_add(1, Ordering::SeqCst) == 0;
                GatedStart {
                    gate: if first {
                        gate.lock().expect("gate").take()
                    } else {
                        None
                    },
                    fail_start: first,
                    log: log.clone(),
                }
            }))
            .on_failure(SupervisorStrategy::restart()),
            "fails-once",
        )
        .expect("spawn");
    for n in 0..50 {
        actor.tell(n);
    }
    open.send(())
        .expect("the first incarnation waits at the gate");
    assert_eq!(recv(&seen), "start", "the second incarnation starts");
    let handled: Vec<String> = recv_n(&seen, 50);
    assert_eq!(handled, (0..50).map(|n| n.to_string()).collect::<Vec<_>>());
    assert_eq!(incarnations.load(Ordering::SeqCst), 2);
    system.shutdown();
}
