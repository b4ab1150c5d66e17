//! The circuit breaker (issue 19, item 1), ported in behaviour from Pekko's circuit breaker
//! spec: the closed, open and half-open states, their transitions on a controllable clock (no
//! sleeps), listeners, the failure predicate, exponential backoff, calls from a plain thread
//! and asks from inside an actor, and a hammer from several threads.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::recv;
use reactant::pattern::{BreakerError, BreakerState, CircuitBreaker};
use reactant::prelude::*;
use reactant::time::ManualClock;

const CALL_TIMEOUT: Duration = Duration::from_millis(500);
const RESET: Duration = Duration::from_secs(1);

fn breaker(max_failures: u32) -> (CircuitBreaker, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let breaker = CircuitBreaker::new(max_failures, CALL_TIMEOUT, RESET).with_clock(clock.clone());
    (breaker, clock)
}

fn fail(breaker: &CircuitBreaker) {
    let outcome = breaker.call(|| Err::<(), _>("down"));
    assert!(
        matches!(outcome, Err(BreakerError::Failed("down"))),
        "{outcome:?}"
    );
}

fn succeed(breaker: &CircuitBreaker) -> Result<u32, BreakerError<&'static str>> {
    breaker.call(|| Ok(7))
}

/// Counts each listener's calls.
#[derive(Default)]
struct Heard {
    open: AtomicUsize,
    half_open: AtomicUsize,
    close: AtomicUsize,
    success: AtomicUsize,
    failure: AtomicUsize,
    timeout: AtomicUsize,
    refused: AtomicUsize,
}

fn listened(breaker: CircuitBreaker, heard: &Arc<Heard>) -> CircuitBreaker {
    let h = heard.clone();
    let breaker = breaker.on_open(move || {
        h.open.fetch_add(1, Ordering::SeqCst);
    });
    let h = heard.clone();
    let breaker = breaker.on_half_open(move || {
        h.half_open.fetch_add(1, Ordering::SeqCst);
    });
    let h = heard.clone();
    let breaker = breaker.on_close(move || {
        h.close.fetch_add(1, Ordering::SeqCst);
    });
    let h = heard.clone();
    let breaker = breaker.on_call_success(move |_| {
        h.success.fetch_add(1, Ordering::SeqCst);
    });
    let h = heard.clone();
    let breaker = breaker.on_call_failure(move |_| {
        h.failure.fetch_add(1, Ordering::SeqCst);
    });
    let h = heard.clone();
    let breaker = breaker.on_call_timeout(move |_| {
        h.timeout.fetch_add(1, Ordering::SeqCst);
    });
    let h = heard.clone();
    breaker.on_call_breaker_open(move || {
        h.refused.fetch_add(1, Ordering::SeqCst);
    })
}

mod closed {
    use super::*;

    #[test]
    fn lets_calls_through_and_counts_failures_in_a_row() {
        let (breaker, _) = breaker(3);
        assert_eq!(succeed(&breaker).unwrap(), 7);
        fail(&breaker);
        fail(&breaker);
        assert_eq!(breaker.failure_count(), 2);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let (breaker, _) = breaker(3);
        fail(&breaker);
        fail(&breaker);
        succeed(&breaker).unwrap();
        assert_eq!(breaker.failure_count(), 0);
        fail(&breaker);
        fail(&breaker);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_call_slower_than_the_call_timeout_is_a_timeout_and_counts_as_a_failure() {
        let (breaker, clock) = breaker(2);
        let heard = Arc::new(Heard::default());
        let breaker = listened(breaker.with_clock(clock.clone()), &heard);
        let outcome = breaker.call(|| {
            clock.advance(CALL_TIMEOUT + Duration::from_millis(1));
            Ok::<_, String>(1)
        });
        assert!(
            matches!(outcome, Err(BreakerError::Timeout { limit }) if limit == CALL_TIMEOUT),
            "{outcome:?}"
        );
        assert_eq!(breaker.failure_count(), 1);
        assert_eq!(heard.timeout.load(Ordering::SeqCst), 1);
        assert_eq!(heard.success.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_max_failures_th_failure_opens_it_and_the_listeners_hear_each_outcome() {
        let (breaker, clock) = breaker(2);
        let heard = Arc::new(Heard::default());
        let breaker = listened(breaker.with_clock(clock), &heard);
        succeed(&breaker).unwrap();
        fail(&breaker);
        assert_eq!(heard.open.load(Ordering::SeqCst), 0);
        fail(&breaker);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(heard.open.load(Ordering::SeqCst), 1);
        assert_eq!(heard.success.load(Ordering::SeqCst), 1);
        assert_eq!(heard.failure.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_result_the_predicate_accepts_is_not_a_failure_and_an_ok_it_rejects_is() {
        let (breaker, _) = breaker(1);
        // An error that says nothing about the dependency's health (a bad request).
        let outcome = breaker.call_with(|| Err::<u32, _>("bad request"), |_| false);
        assert!(matches!(outcome, Err(BreakerError::Failed("bad request"))));
        assert_eq!(breaker.state(), BreakerState::Closed);
        // An Ok that carries an error code.
        let outcome = breaker.call_with(|| Ok::<u32, &str>(503), |r| matches!(r, Ok(503)));
        assert!(matches!(outcome, Ok(503)));
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn a_call_that_panics_counts_as_a_failure_and_the_panic_reaches_the_caller() {
        let (breaker, _) = breaker(1);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = breaker.call(|| -> Result<(), String> { panic!("the client library broke") });
        }));
        assert!(caught.is_err());
        assert_eq!(breaker.state(), BreakerState::Open);
    }
}

mod open {
    use super::*;

    fn opened() -> (CircuitBreaker, Arc<ManualClock>, Arc<Heard>) {
        let (breaker, clock) = breaker(1);
        let heard = Arc::new(Heard::default());
        let breaker = listened(breaker.with_clock(clock.clone()), &heard);
        fail(&breaker);
        assert_eq!(breaker.state(), BreakerState::Open);
        (breaker, clock, heard)
    }

    #[test]
    fn fails_fast_before_the_reset_timeout_without_making_the_call() {
        let (breaker, clock, heard) = opened();
        clock.advance(Duration::from_millis(400));
        let made = AtomicBool::new(false);
        let outcome = breaker.call(|| {
            made.store(true, Ordering::SeqCst);
            Ok::<_, String>(1)
        });
        match outcome {
            Err(BreakerError::Open { state, remaining }) => {
                assert_eq!(state, BreakerState::Open);
                assert_eq!(remaining, Duration::from_millis(600));
            }
            other => panic!("expected a fast failure, got {other:?}"),
        }
        assert!(!made.load(Ordering::SeqCst));
        assert_eq!(heard.refused.load(Ordering::SeqCst), 1);
        let text = breaker
            .call(|| Ok::<u32, String>(1))
            .expect_err("open")
            .to_string();
        assert!(
            text.contains("open") && text.contains("try again"),
            "{text}"
        );
    }

    #[test]
    fn half_opens_after_the_reset_timeout_and_the_first_call_is_the_trial() {
        let (breaker, clock, heard) = opened();
        clock.advance(RESET);
        // Still open until a call comes (half-opening is lazy).
        assert_eq!(breaker.state(), BreakerState::Open);
        let trial_sees = breaker.call(|| {
            // While the trial runs, the others fail fast.
            let other = breaker.call(|| Ok::<u32, String>(0));
            assert!(matches!(
                other,
                Err(BreakerError::Open {
                    state: BreakerState::HalfOpen,
                    ..
                })
            ));
            Ok::<_, String>(breaker.state())
        });
        assert_eq!(trial_sees.unwrap(), BreakerState::HalfOpen);
        assert_eq!(heard.half_open.load(Ordering::SeqCst), 1);
        assert_eq!(heard.close.load(Ordering::SeqCst), 1);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}

mod half_open {
    use super::*;

    #[test]
    fn a_failed_trial_opens_it_again() {
        let (breaker, clock) = breaker(1);
        fail(&breaker);
        clock.advance(RESET);
        fail(&breaker);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(matches!(succeed(&breaker), Err(BreakerError::Open { .. })));
    }

    #[test]
    fn a_trial_that_the_predicate_calls_healthy_closes_it() {
        let (breaker, clock) = breaker(1);
        fail(&breaker);
        clock.advance(RESET);
        let outcome = breaker.call_with(|| Err::<u32, _>("not found"), |_| false);
        assert!(matches!(outcome, Err(BreakerError::Failed("not found"))));
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_trial_that_never_ends_gives_way_to_a_new_trial_after_its_time() {
        let (breaker, clock) = breaker(1);
        fail(&breaker);
        clock.advance(RESET);
        // A trial whose outcome never comes (an ask whose asker stopped): simulated by
        // failing fast inside it and leaking nothing else.
        let inner = breaker.call(|| {
            clock.advance(CALL_TIMEOUT);
            // The trial's time is up: this call takes its place.
            let second = breaker.call(|| Ok::<u32, String>(2));
            Ok::<_, String>(second)
        });
        // The outer one took exactly its timeout (not over it): its success comes after the
        // second trial closed the breaker, and is stale.
        assert!(matches!(inner, Ok(Ok(2))), "{inner:?}");
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn each_failed_trial_doubles_the_reset_timeout_up_to_the_maximum_and_closing_resets_it() {
        let clock = Arc::new(ManualClock::new());
        let breaker = CircuitBreaker::new(1, CALL_TIMEOUT, RESET)
            .with_exponential_backoff(Duration::from_secs(3))
            .with_clock(clock.clone());
        fail(&breaker);
        let mut waits = Vec::new();
        for _ in 0..4 {
            let Err(BreakerError::Open { remaining, .. }) = succeed(&breaker) else {
                panic!("open");
            };
            waits.push(remaining);
            clock.advance(remaining);
            fail(&breaker); // the trial fails
        }
        assert_eq!(
            waits,
            [1, 2, 3, 3].map(Duration::from_secs),
            "reset timeouts of the successive open periods"
        );
        let Err(BreakerError::Open { remaining, .. }) = succeed(&breaker) else {
            panic!("open");
        };
        clock.advance(remaining);
        succeed(&breaker).expect("the trial succeeds");
        assert_eq!(breaker.current_reset_timeout(), RESET);
        fail(&breaker);
        let Err(BreakerError::Open { remaining, .. }) = succeed(&breaker) else {
            panic!("open");
        };
        assert_eq!(remaining, RESET);
    }

    #[test]
    fn the_random_factor_stretches_each_open_period_within_its_bound() {
        for _ in 0..50 {
            let clock = Arc::new(ManualClock::new());
            let breaker = CircuitBreaker::new(1, CALL_TIMEOUT, RESET)
                .with_random_factor(0.5)
                .with_clock(clock.clone());
            fail(&breaker);
            let Err(BreakerError::Open { remaining, .. }) = succeed(&breaker) else {
                panic!("open");
            };
            assert!(
                remaining >= RESET && remaining < RESET.mul_f64(1.5),
                "{remaining:?}"
            );
        }
    }
}

/// From inside an actor: the outcome comes back as a message; a timeout is a failure; an open
/// breaker answers at once and sends nothing to the target.
mod from_an_actor {
    use super::*;

    #[derive(Debug)]
    pub(super) enum Outcome {
        Replied(u32),
        TimedOut,
        Refused,
        Failed,
    }

    pub(super) enum Caller {
        Go,
        Done(Result<u32, BreakerError<AskError>>),
    }

    pub(super) fn caller(
        breaker: CircuitBreaker,
        target: ActorRef<ActorRef<u32>>,
        report: crossbeam_channel::Sender<Outcome>,
    ) -> Behavior<Caller> {
        Behaviors::receive(move |ctx, msg| {
            match msg {
                Caller::Go => breaker.ask(
                    ctx,
                    &target,
                    |reply_to| reply_to,
                    Duration::from_millis(100),
                    Caller::Done,
                ),
                Caller::Done(outcome) => {
                    let _ = report.send(match outcome {
                        Ok(n) => Outcome::Replied(n),
                        Err(BreakerError::Timeout { .. }) => Outcome::TimedOut,
                        Err(BreakerError::Open { .. }) => Outcome::Refused,
                        Err(_) => Outcome::Failed,
                    });
                }
            }
            Behaviors::same()
        })
    }

    #[test]
    fn replies_timeouts_and_fast_failures_arrive_as_messages() {
        let system = common::system("breaker-ask");
        let answering = Arc::new(AtomicBool::new(true));
        let asked = Arc::new(AtomicUsize::new(0));
        let target = {
            let (answering, asked) = (answering.clone(), asked.clone());
            // A hanging dependency keeps the reply addresses (one that drops them answers
            // "no reply will come" at once, which is a failure, not a timeout).
            let kept = parking_lot::Mutex::new(Vec::new());
            system
                .spawn(
                    Behaviors::receive_message(move |reply_to: ActorRef<u32>| {
                        asked.fetch_add(1, Ordering::SeqCst);
                        if answering.load(Ordering::SeqCst) {
                            reply_to.tell(42);
                        } else {
                            kept.lock().push(reply_to);
                        }
                        Behaviors::same()
                    }),
                    "dependency",
                )
                .expect("spawned")
        };
        let clock = Arc::new(ManualClock::new());
        let breaker = CircuitBreaker::new(2, CALL_TIMEOUT, RESET).with_clock(clock.clone());
        let (tx, rx) = crossbeam_channel::unbounded();
        let me = system
            .spawn(caller(breaker.clone(), target, tx), "caller")
            .expect("spawned");
        me.tell(Caller::Go);
        assert!(matches!(recv(&rx), Outcome::Replied(42)));
        answering.store(false, Ordering::SeqCst);
        for _ in 0..2 {
            me.tell(Caller::Go);
            let outcome = recv(&rx);
            assert!(matches!(outcome, Outcome::TimedOut), "{outcome:?}");
        }
        assert_eq!(breaker.state(), BreakerState::Open);
        let asked_before = asked.load(Ordering::SeqCst);
        me.tell(Caller::Go);
        assert!(matches!(recv(&rx), Outcome::Refused));
        assert_eq!(
            asked.load(Ordering::SeqCst),
            asked_before,
            "the target was asked"
        );
        // The dependency recovers; after the reset timeout the trial goes through and closes.
        answering.store(true, Ordering::SeqCst);
        clock.advance(RESET);
        me.tell(Caller::Go);
        assert!(matches!(recv(&rx), Outcome::Replied(42)));
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(
            rx.recv_timeout(common::QUIET).is_err(),
            "one outcome per ask"
        );
    }
}

/// The bulkhead + breaker scenario: a dependency on its own dispatcher hangs (it holds that
/// dispatcher's only thread); callers on the default dispatcher keep being served, the breaker
/// opens after the timeouts and fails fast without asking the dependency, then half-opens and
/// closes once the dependency has recovered.
#[test]
fn a_hanging_dependency_behind_a_bulkhead_and_a_breaker_leaves_the_other_actors_working() {
    use from_an_actor::{Caller, Outcome, caller};

    let system = ActorSystem::builder()
        .name("bulkhead")
        .threads(2)
        .dispatcher("dependency", 1)
        .build()
        .expect("a system");
    let (release, hang) = crossbeam_channel::unbounded::<()>();
    let hanging = Arc::new(AtomicBool::new(true));
    let asked = Arc::new(AtomicUsize::new(0));
    let dependency = {
        let (hanging, asked) = (hanging.clone(), asked.clone());
        system
            .spawn_with(
                Behaviors::receive_message(move |reply_to: ActorRef<u32>| {
                    asked.fetch_add(1, Ordering::SeqCst);
                    if hanging.load(Ordering::SeqCst) {
                        // Blocks its dispatcher's thread until released.
                        let _ = hang.recv();
                    } else {
                        reply_to.tell(7);
                    }
                    Behaviors::same()
                }),
                Some("dependency"),
                &Props::new().with_dispatcher("dependency"),
            )
            .expect("spawned")
    };
    let echo = system
        .spawn(
            Behaviors::receive_message(|(n, reply_to): (u32, ActorRef<u32>)| {
                reply_to.tell(n);
                Behaviors::same()
            }),
            "echo",
        )
        .expect("spawned");
    let clock = Arc::new(ManualClock::new());
    let breaker = CircuitBreaker::new(2, CALL_TIMEOUT, RESET).with_clock(clock.clone());
    let (tx, rx) = crossbeam_channel::unbounded();
    let me = system
        .spawn(caller(breaker.clone(), dependency, tx), "caller")
        .expect("spawned");

    for _ in 0..2 {
        me.tell(Caller::Go);
        // While the dependency hangs, the default dispatcher still serves everyone else.
        for n in 0..50 {
            let echoed = echo
                .ask(|reply_to| (n, reply_to))
                .wait(common::WAIT)
                .expect("the echo actor answered while the dependency hung");
            assert_eq!(echoed, n);
        }
        let outcome = recv(&rx);
        assert!(matches!(outcome, Outcome::TimedOut), "{outcome:?}");
    }
    assert_eq!(breaker.state(), BreakerState::Open);

    // Open: callers fail fast, and the dependency is not asked again.
    let asked_before = asked.load(Ordering::SeqCst);
    for _ in 0..10 {
        me.tell(Caller::Go);
        assert!(matches!(recv(&rx), Outcome::Refused));
    }
    assert_eq!(asked.load(Ordering::SeqCst), asked_before);

    // The dependency recovers; after the reset timeout one trial goes through and closes it.
    hanging.store(false, Ordering::SeqCst);
    drop(release);
    clock.advance(RESET);
    me.tell(Caller::Go);
    assert!(matches!(recv(&rx), Outcome::Replied(7)));
    assert_eq!(breaker.state(), BreakerState::Closed);
}

/// Many threads call at once while the dependency flips between healthy and failing, and the
/// clock moves. Every transition is one compare-and-swap, so the listeners see a consistent
/// history: each open is followed by one half-open (whose trial closes the breaker or opens
/// it again), so once the breaker ends closed, opens and half-opens are equal in number.
#[test]
fn hammer_from_several_threads_keeps_the_transition_history_consistent() {
    let clock = Arc::new(ManualClock::new());
    let heard = Arc::new(Heard::default());
    let breaker = listened(
        CircuitBreaker::new(5, Duration::from_secs(3600), Duration::from_millis(10))
            .with_clock(clock.clone()),
        &heard,
    );
    let failing = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (breaker, clock, failing) = (breaker.clone(), clock.clone(), failing.clone());
            let calls = calls.clone();
            std::thread::spawn(move || {
                for i in 0..20_000u32 {
                    if t == 0 && i % 500 == 0 {
                        failing.store(i % 1_000 == 0, Ordering::SeqCst);
                    }
                    if t == 1 && i % 50 == 0 {
                        clock.advance(Duration::from_millis(5));
                    }
                    let _ = breaker.call(|| {
                        calls.fetch_add(1, Ordering::Relaxed);
                        if failing.load(Ordering::SeqCst) {
                            Err(())
                        } else {
                            Ok(())
                        }
                    });
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no caller panicked");
    }
    failing.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(1));
    let _ = breaker.call(|| Ok::<(), ()>(()));
    assert_eq!(breaker.state(), BreakerState::Closed);
    let (opens, half_opens, closes) = (
        heard.open.load(Ordering::SeqCst),
        heard.half_open.load(Ordering::SeqCst),
        heard.close.load(Ordering::SeqCst),
    );
    assert!(
        opens > 0 && closes > 0,
        "the hammer never tripped the breaker"
    );
    assert_eq!(
        opens, half_opens,
        "opens {opens}, half-opens {half_opens}, closes {closes}"
    );
    assert!(closes <= half_opens);
    let outcomes = heard.success.load(Ordering::SeqCst)
        + heard.failure.load(Ordering::SeqCst)
        + heard.timeout.load(Ordering::SeqCst);
    // The calls the threads made, and the last one.
    assert_eq!(
        outcomes,
        calls.load(Ordering::SeqCst) + 1,
        "every call made had one outcome"
    );
    assert_eq!(
        outcomes + heard.refused.load(Ordering::SeqCst),
        80_001,
        "every call was made or refused"
    );
}
