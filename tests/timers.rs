//! Timers: keyed single and periodic messages an actor sends itself; a cancelled or replaced
//! timer's message is never delivered, and timers end with their actor. Where the order of
//! deadlines matters, the tests move manual time rather than sleep.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{assert_quiet, eventually, recv, recv_n, system};
use crossbeam_channel::{Receiver, Sender, unbounded};
use reactant::prelude::*;
use reactant::testkit::ManualTime;

/// What the timer tests' actors report.
#[derive(Clone, Debug, PartialEq)]
enum Msg {
    Tick(&'static str),
    /// Handled after everything the scheduler delivered before it.
    Sentinel,
    Go,
}

/// An actor that runs `start` with its timers once, then reports every message on `seen`.
fn reporting_timers(
    seen: Sender<Msg>,
    start: impl Fn(&Timers<Msg>) + Send + Sync + 'static,
) -> Behavior<Msg> {
    Behaviors::with_timers(move |timers| {
        start(&timers);
        let seen = seen.clone();
        Behaviors::receive_message(move |msg| {
            let _ = seen.send(msg);
            Behaviors::same()
        })
    })
}

#[test]
fn a_single_timer_delivers_its_message_once_after_the_delay() {
    let system = system("single");
    let delay = Duration::from_millis(50);
    let (seen_tx, seen_rx) = unbounded();
    let started = Instant::now();
    system
        .spawn(
            reporting_timers(seen_tx, move |timers| {
                timers.start_single("once", Msg::Tick("once"), delay);
            }),
            "single",
        )
        .expect("spawn");
    assert_eq!(recv(&seen_rx), Msg::Tick("once"));
    assert!(started.elapsed() >= delay, "not before its delay");
    assert_quiet(&seen_rx);
    system.shutdown();
}

#[test]
fn a_fixed_delay_timer_delivers_repeatedly() {
    let system = system("fixeddelay");
    let (seen_tx, seen_rx) = unbounded();
    system
        .spawn(
            reporting_timers(seen_tx, |timers| {
                timers.start_fixed_delay("delay", Msg::Tick("delay"), Duration::from_millis(5));
            }),
            "repeating",
        )
        .expect("spawn");
    assert_eq!(recv_n(&seen_rx, 5), vec![Msg::Tick("delay"); 5]);
    system.shutdown();
}

#[test]
fn a_fixed_rate_timer_delivers_repeatedly() {
    let system = system("fixedrate");
    let (seen_tx, seen_rx) = unbounded();
    system
        .spawn(
            reporting_timers(seen_tx, |timers| {
                timers.start_fixed_rate("rate", Msg::Tick("rate"), Duration::from_millis(5));
            }),
            "repeating",
        )
        .expect("spawn");
    assert_eq!(recv_n(&seen_rx, 5), vec![Msg::Tick("rate"); 5]);
    system.shutdown();
}

#[test]
fn a_cancelled_timer_never_delivers() {
    let system = system("cancel");
    // Manual time: the sentinel is due after the cancelled timer however loaded the machine.
    let time = ManualTime::for_system(&system);
    let (seen_tx, seen_rx) = unbounded();
    let (active_tx, active_rx) = unbounded();
    system
        .spawn(
            reporting_timers(seen_tx, move |timers| {
                timers.start_single("doomed", Msg::Tick("doomed"), Duration::from_millis(20));
                let before = timers.is_active(&"doomed");
                timers.cancel(&"doomed");
                // Due well after the cancelled one would have been.
                timers.start_single("sentinel", Msg::Sentinel, Duration::from_millis(150));
                // Last: once the test hears this, every timer is in place and time may move.
                let _ = active_tx.send((before, timers.is_active(&"doomed")));
            }),
            "canceller",
        )
        .expect("spawn");
    assert_eq!(recv(&active_rx), (true, false));
    assert_eq!(
        time.advance(Duration::from_millis(200)),
        1,
        "only the sentinel is due"
    );
    assert_eq!(recv(&seen_rx), Msg::Sentinel);
    assert_quiet(&seen_rx);
    system.shutdown();
}

#[test]
fn cancel_all_cancels_every_timer_of_the_actor() {
    let system = system("cancelall");
    let time = ManualTime::for_system(&system);
    let (seen_tx, seen_rx) = unbounded();
    let (active_tx, active_rx) = unbounded();
    system
        .spawn(
            reporting_timers(seen_tx, move |timers| {
                timers.start_single("a", Msg::Tick("a"), Duration::from_millis(10));
                timers.start_fixed_delay("b", Msg::Tick("b"), Duration::from_millis(10));
                timers.start_fixed_rate("c", Msg::Tick("c"), Duration::from_millis(10));
                timers.cancel_all();
                let any_active =
                    timers.is_active(&"a") || timers.is_active(&"b") || timers.is_active(&"c");
                timers.start_single("sentinel", Msg::Sentinel, Duration::from_millis(150));
                // Last: once the test hears this, every timer is in place and time may move.
                let _ = active_tx.send(any_active);
            }),
            "canceller",
        )
        .expect("spawn");
    assert!(!recv(&active_rx));
    assert_eq!(
        time.advance(Duration::from_millis(200)),
        1,
        "only the sentinel is due"
    );
    assert_eq!(recv(&seen_rx), Msg::Sentinel);
    assert_quiet(&seen_rx);
    system.shutdown();
}

#[test]
fn a_single_timer_is_active_until_its_message_is_handled_and_a_periodic_one_stays_active() {
    let system = system("active");
    let (active_tx, active_rx) = unbounded();
    system
        .spawn(
            Behaviors::with_timers(move |timers| {
                timers.start_single("once", Msg::Tick("once"), Duration::from_millis(10));
                timers.start_fixed_rate("often", Msg::Tick("often"), Duration::from_millis(10));
                let _ = active_tx.send((
                    "setup",
                    timers.is_active(&"once"),
                    timers.is_active(&"often"),
                ));
                let active = active_tx.clone();
                Behaviors::receive_message(move |msg| {
                    if let Msg::Tick(which) = msg {
                        let _ = active.send((
                            which,
                            timers.is_active(&"once"),
                            timers.is_active(&"often"),
                        ));
                        if which == "often" {
                            timers.cancel(&"often");
                        }
                    }
                    Behaviors::same()
                })
            }),
            "active",
        )
        .expect("spawn");
    assert_eq!(recv(&active_rx), ("setup", true, true));
    let seen = recv_n(&active_rx, 2);
    let in_handler = |which| {
        seen.iter()
            .find(|s| s.0 == which)
            .expect("both timers fired")
    };
    // Inside its own handler a single timer is already done; a periodic one is still on.
    assert!(!in_handler("once").1, "{seen:?}");
    assert!(in_handler("often").2, "{seen:?}");
    system.shutdown();
}

#[test]
fn a_timer_can_be_started_from_a_handler_through_the_context() {
    let system = system("fromhandler");
    let (seen_tx, seen_rx) = unbounded();
    let actor = system
        .spawn(
            Behaviors::receive(move |ctx: &mut Context<Msg>, msg| {
                if msg == Msg::Go {
                    ctx.timers().start_single(
                        "later",
                        Msg::Tick("later"),
                        Duration::from_millis(5),
                    );
                } else {
                    let _ = seen_tx.send(msg);
                }
                Behaviors::same()
            }),
            "handler",
        )
        .expect("spawn");
    actor.tell(Msg::Go);
    assert_eq!(recv(&seen_rx), Msg::Tick("later"));
    system.shutdown();
}

#[derive(Clone, Debug, PartialEq)]
enum Fire {
    Replace,
    Cancel,
    Fired(u32),
    Done,
}

/// An actor whose `Replace` / `Cancel` handler starts a timer, says so on `started` and waits
/// on `go_on` while the test moves manual time past the timer's delay (so the timer's message
/// is queued behind the handler), then replaces or cancels it.
fn busy_replacer(seen: Sender<Fire>, started: Sender<()>, go_on: Receiver<()>) -> Behavior<Fire> {
    Behaviors::receive(move |ctx: &mut Context<Fire>, msg| {
        let wait = || {
            let _ = started.send(());
            let _ = go_on.recv_timeout(common::WAIT);
        };
        match msg {
            Fire::Replace => {
                ctx.timers()
                    .start_single("key", Fire::Fired(1), Duration::from_millis(1));
                wait();
                ctx.timers()
                    .start_single("key", Fire::Fired(2), Duration::from_millis(1));
                let _ = started.send(());
            }
            Fire::Cancel => {
                ctx.timers()
                    .start_single("key", Fire::Fired(1), Duration::from_millis(1));
                wait();
                ctx.timers().cancel(&"key");
                ctx.self_ref().tell(Fire::Done);
            }
            other => {
                let _ = seen.send(other);
            }
        }
        Behaviors::same()
    })
}

#[test]
fn a_replaced_timer_never_delivers_even_if_its_message_is_already_queued() {
    let system = system("replace");
    let time = ManualTime::for_system(&system);
    let (seen_tx, seen_rx) = unbounded();
    let (started_tx, started) = unbounded();
    let (go_on, go_on_rx) = unbounded();
    let actor = system
        .spawn(busy_replacer(seen_tx, started_tx, go_on_rx), "replacer")
        .expect("spawn");
    actor.tell(Fire::Replace);
    recv(&started);
    assert_eq!(
        time.advance(Duration::from_millis(1)),
        1,
        "Fired(1) is queued"
    );
    go_on.send(()).expect("the handler waits");
    recv(&started);
    assert_eq!(
        time.advance(Duration::from_millis(1)),
        1,
        "Fired(2) is queued"
    );
    // The first timer's message, had it been delivered, would have come first.
    assert_eq!(recv(&seen_rx), Fire::Fired(2));
    assert_quiet(&seen_rx);
    system.shutdown();
}

#[test]
fn a_cancelled_timer_never_delivers_even_if_its_message_is_already_queued() {
    let system = system("cancelqueued");
    let time = ManualTime::for_system(&system);
    let (seen_tx, seen_rx) = unbounded();
    let (started_tx, started) = unbounded();
    let (go_on, go_on_rx) = unbounded();
    let actor = system
        .spawn(busy_replacer(seen_tx, started_tx, go_on_rx), "canceller")
        .expect("spawn");
    actor.tell(Fire::Cancel);
    recv(&started);
    assert_eq!(
        time.advance(Duration::from_millis(1)),
        1,
        "Fired(1) is queued"
    );
    go_on.send(()).expect("the handler waits");
    // Timer messages come before user messages: a delivered Fired(1) would precede Done.
    assert_eq!(recv(&seen_rx), Fire::Done);
    assert_quiet(&seen_rx);
    system.shutdown();
}

#[test]
fn timers_end_with_their_actor() {
    #[derive(Clone)]
    enum Msg {
        Tick(Arc<()>),
        Stop,
    }
    let system = system("ending");
    // Every timer holds a clone of the witness; once all timers are gone, only ours is left.
    let witness = Arc::new(());
    let (ticked_tx, ticked_rx) = unbounded();
    let actor = {
        let witness = witness.clone();
        system
            .spawn(
                Behaviors::with_timers(move |timers| {
                    timers.start_fixed_rate(
                        "often",
                        Msg::Tick(witness.clone()),
                        Duration::from_millis(2),
                    );
                    timers.start_single(
                        "much-later",
                        Msg::Tick(witness.clone()),
                        Duration::from_secs(3600),
                    );
                    let ticked = ticked_tx.clone();
                    Behaviors::receive_message(move |msg| match msg {
                        Msg::Tick(held) => {
                            drop(held);
                            let _ = ticked.send(());
                            Behaviors::same()
                        }
                        Msg::Stop => Behaviors::stopped(),
                    })
                }),
                "ticking",
            )
            .expect("spawn")
    };
    recv(&ticked_rx);
    actor.tell(Msg::Stop);
    assert!(eventually(|| actor.is_terminated()));
    drop(actor);
    assert!(
        eventually(|| Arc::strong_count(&witness) == 1),
        "a timer outlived its actor ({} holders)",
        Arc::strong_count(&witness)
    );
    system.shutdown();
}
