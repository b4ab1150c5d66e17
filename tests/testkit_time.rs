//! Manual time (issue 20, item 3), as Akka's `ManualTimeSpec` describes it: timers, ask
//! timeouts and supervision backoffs wait for the test to move time, and fire exactly when it
//! passes their deadlines.

use std::time::Duration;

use reactant::pattern::CircuitBreaker;
use reactant::prelude::*;
use reactant::testkit::{ActorTestKit, ManualTime};

/// How long a probe watches for a message that must not come: the clock is manual, so
/// nothing timed can arrive; this only lets a wrongly delivered message show.
const QUIET: Duration = Duration::from_millis(50);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tick {
    Single,
    Periodic,
    Sentinel,
}

/// An actor that starts timers with `start`, then forwards every message to `probe`.
fn timed(
    probe: ActorRef<Tick>,
    start: impl Fn(&Timers<Tick>) + Send + Sync + 'static,
) -> Behavior<Tick> {
    Behaviors::with_timers(move |timers| {
        start(&timers);
        let probe = probe.clone();
        Behaviors::receive_message(move |tick| {
            probe.tell(tick);
            Behaviors::same()
        })
    })
}

#[test]
fn a_single_timer_fires_only_when_time_passes_its_delay() {
    let kit = ActorTestKit::new();
    let time = ManualTime::new(&kit);
    let probe = kit.probe::<Tick>();
    let (started, has_started) = crossbeam_channel::bounded(1);
    let reply_to = probe.r#ref();
    kit.spawn(
        timed(reply_to, move |timers| {
            timers.start_single("once", Tick::Single, Duration::from_secs(10));
            let _ = started.send(());
        }),
        "single",
    );
    has_started
        .recv_timeout(kit.timeout())
        .expect("the actor starts");
    assert_eq!(time.advance(Duration::from_secs(9)), 0);
    probe.expect_no_message(QUIET);
    assert_eq!(time.advance(Duration::from_secs(1)), 1);
    probe.expect_message(Tick::Single);
    time.advance(Duration::from_secs(3600));
    probe.expect_no_message(QUIET);
}

#[test]
fn a_periodic_timer_fires_once_for_each_interval_that_passes() {
    let kit = ActorTestKit::new();
    let time = ManualTime::new(&kit);
    let probe = kit.probe::<Tick>();
    let (started, has_started) = crossbeam_channel::bounded(1);
    kit.spawn(
        timed(probe.r#ref(), move |timers| {
            timers.start_fixed_rate("rate", Tick::Periodic, Duration::from_secs(1));
            let _ = started.send(());
        }),
        "periodic",
    );
    has_started
        .recv_timeout(kit.timeout())
        .expect("the actor starts");
    assert_eq!(time.advance(Duration::from_millis(3500)), 3);
    assert_eq!(probe.receive_messages(3), vec![Tick::Periodic; 3]);
    probe.expect_no_message(QUIET);
    assert_eq!(time.advance(Duration::from_millis(500)), 1);
    probe.expect_message(Tick::Periodic);
}

#[test]
fn a_fixed_delay_timer_counts_its_delay_from_each_firing() {
    let kit = ActorTestKit::new();
    let time = ManualTime::new(&kit);
    let probe = kit.probe::<Tick>();
    let (started, has_started) = crossbeam_channel::bounded(1);
    kit.spawn(
        timed(probe.r#ref(), move |timers| {
            timers.start_fixed_delay("delay", Tick::Periodic, Duration::from_secs(2));
            let _ = started.send(());
        }),
        "delayed",
    );
    has_started
        .recv_timeout(kit.timeout())
        .expect("the actor starts");
    assert_eq!(time.advance(Duration::from_secs(7)), 3, "at 2, 4 and 6 s");
    assert_eq!(probe.receive_messages(3), vec![Tick::Periodic; 3]);
}

#[test]
fn a_cancelled_timer_never_fires_however_far_time_moves() {
    let kit = ActorTestKit::new();
    let time = ManualTime::new(&kit);
    let probe = kit.probe::<Tick>();
    let (started, has_started) = crossbeam_channel::bounded(1);
    kit.spawn(
        timed(probe.r#ref(), move |timers| {
            timers.start_single("doomed", Tick::Single, Duration::from_secs(1));
            timers.cancel(&"doomed");
            timers.start_single("sentinel", Tick::Sentinel, Duration::from_secs(2));
            let _ = started.send(());
        }),
        "cancelling",
    );
    has_started
        .recv_timeout(kit.timeout())
        .expect("the actor starts");
    assert_eq!(time.advance(Duration::from_secs(5)), 1, "only the sentinel");
    probe.expect_message(Tick::Sentinel);
    probe.expect_no_message(QUIET);
}

#[derive(Debug)]
enum Asking {
    Go,
    Outcome(Result<u64, AskError>),
}

#[test]
fn an_ask_from_an_actor_times_out_when_time_passes_its_timeout() {
    let kit = ActorTestKit::new();
    let time = ManualTime::new(&kit);
    let asked = kit.probe::<()>();
    let asked_ref = asked.r#ref();
    // Keeps every reply address and never answers: a dropped address would end the ask.
    let kept = std::sync::Mutex::new(Vec::new());
    let silent = kit.spawn(
        Behaviors::receive_message(move |reply_to: ActorRef<u64>| {
            kept.lock().expect("not poisoned").push(reply_to);
            asked_ref.tell(());
            Behaviors::same()
        }),
        "silent",
    );
    let outcomes = kit.probe::<String>();
    let report = outcomes.r#ref();
    let asker = kit.spawn(
        Behaviors::receive(move |ctx, msg: Asking| {
            match msg {
                Asking::Go => ctx.ask(
                    &silent,
                    |reply_to| reply_to,
                    Duration::from_secs(5),
                    Asking::Outcome,
                ),
                Asking::Outcome(outcome) => report.tell(match outcome {
                    Ok(n) => format!("got {n}"),
                    Err(AskError::Timeout(_)) => "timed out".to_owned(),
                    Err(other) => format!("failed: {other}"),
                }),
            }
            Behaviors::same()
        }),
        "asker",
    );
    asker.tell(Asking::Go);
    // The timeout is scheduled before the request is sent: once it arrives, time may move.
    asked.expect_message(());
    assert_eq!(time.advance(Duration::from_secs(4)), 0);
    outcomes.expect_no_message(QUIET);
    time.advance(Duration::from_secs(1));
    outcomes.expect_message("timed out".to_owned());
}

#[test]
fn a_backoff_restart_waits_for_time_to_pass_its_delay() {
    let kit = ActorTestKit::builder().allow_dead_letters().build();
    let time = ManualTime::new(&kit);
    let starts = kit.probe::<u32>();
    let report = starts.r#ref();
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let flaky = kit.spawn(
        Behaviors::supervise(Behaviors::setup(move |_ctx| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            report.tell(n);
            Behaviors::receive_message(|_: ()| -> Behavior<()> { panic!("injected failure") })
        }))
        .on_failure(SupervisorStrategy::restart_with_backoff(
            Duration::from_secs(3),
            Duration::from_secs(30),
            0.0,
        )),
        "flaky",
    );
    starts.expect_message(1);
    flaky.tell(());
    starts.expect_no_message(QUIET);
    // The backoff is scheduled once the failure is handled; time moves only when told.
    let deadline = std::time::Instant::now() + kit.timeout();
    while time.advance(Duration::from_secs(3)) == 0 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    starts.expect_message(2);
}

#[test]
fn the_circuit_breaker_reads_manual_time_through_its_clock() {
    let kit = ActorTestKit::new();
    let time = ManualTime::new(&kit);
    let breaker = CircuitBreaker::new(1, Duration::from_secs(1), Duration::from_secs(10))
        .with_clock(time.clock());
    let _ = breaker.call(|| Err::<(), &str>("down"));
    assert!(breaker.call(|| Ok::<(), &str>(())).is_err(), "open");
    time.advance(Duration::from_secs(10));
    assert!(
        breaker.call(|| Ok::<(), &str>(())).is_ok(),
        "half-open lets one call try"
    );
}
