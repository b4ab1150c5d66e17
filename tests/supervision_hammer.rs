//! The supervision hammer of issue 12: eight threads tell one actor that panics on 1% of its
//! messages, under each supervisor strategy. Every message told is accounted for exactly once:
//! handled, panicked on (the poison that reached the handler), or a dead letter with the reason
//! the strategy allows. None vanishes and none is counted twice.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{QUIET, WAIT, system};
use reactant::prelude::*;

const SENDERS: u64 = 8;
const PER_SENDER: u64 = 2_500;
const SENT: u64 = SENDERS * PER_SENDER;
/// One message in a hundred is poison.
const POISON: u64 = SENT / 100;
/// Each sender pauses a millisecond after this many messages, so that the telling spans many
/// restarts: messages keep arriving while the actor is between incarnations.
const PACE: u64 = 10;

fn is_poison(seq: u64) -> bool {
    seq % 100 == 99
}

struct Msg {
    poison: bool,
}

#[derive(Default)]
struct Tally {
    handled: AtomicU64,
    panicked: AtomicU64,
}

/// Where every message told went.
#[derive(Debug)]
struct Outcome {
    handled: u64,
    panicked: u64,
    dead_letters: HashMap<DeadLetterReason, u64>,
}

impl Outcome {
    fn dead(&self, reason: DeadLetterReason) -> u64 {
        self.dead_letters.get(&reason).copied().unwrap_or(0)
    }

    fn dead_total(&self) -> u64 {
        self.dead_letters.values().sum()
    }

    /// Fails unless the only dead letters are for one of `allowed`.
    #[track_caller]
    fn assert_reasons(&self, allowed: &[DeadLetterReason]) {
        let unexpected: Vec<_> = self
            .dead_letters
            .iter()
            .filter(|(reason, _)| !allowed.contains(reason))
            .collect();
        assert!(
            unexpected.is_empty(),
            "dead letters for reasons this strategy does not allow: {unexpected:?} ({self:?})"
        );
    }
}

/// Hammers one actor supervised with `strategy`, then accounts for every message.
fn hammer(name: &str, strategy: SupervisorStrategy) -> Outcome {
    let system = system(name);
    let letters = system.dead_letters().subscribe();
    let tally = Arc::new(Tally::default());
    let actor = {
        let tally = tally.clone();
        system
            .spawn(
                Behaviors::supervise(Behaviors::setup(move |_| {
                    let tally = tally.clone();
                    Behaviors::receive_message(move |msg: Msg| {
                        if msg.poison {
                            tally.panicked.fetch_add(1, Ordering::SeqCst);
                            panic!("poison");
                        }
                        tally.handled.fetch_add(1, Ordering::SeqCst);
                        Behaviors::same()
                    })
                }))
                .on_failure(strategy),
                "target",
            )
            .expect("spawn")
    };
    let barrier = Barrier::new(SENDERS as usize);
    std::thread::scope(|scope| {
        for _ in 0..SENDERS {
            let actor = actor.clone();
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                for seq in 0..PER_SENDER {
                    actor.tell(Msg {
                        poison: is_poison(seq),
                    });
                    if seq % PACE == PACE - 1 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            });
        }
    });
    let accounted = || {
        tally.handled.load(Ordering::SeqCst)
            + tally.panicked.load(Ordering::SeqCst)
            + system.dead_letters().count()
    };
    // Generous: the actor has 20 000 messages and up to 200 restarts to get through.
    let deadline = std::time::Instant::now() + 3 * WAIT;
    while accounted() < SENT && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let counts = || {
        (
            tally.handled.load(Ordering::SeqCst),
            tally.panicked.load(Ordering::SeqCst),
            system.dead_letters().count(),
        )
    };
    assert_eq!(
        accounted(),
        SENT,
        "(handled, panicked, dead letters) = {:?} for {SENT} sent: {} vanished",
        counts(),
        SENT.saturating_sub(accounted())
    );
    // Nothing is counted twice, later.
    std::thread::sleep(QUIET);
    assert_eq!(accounted(), SENT, "counted twice: {:?}", counts());
    let dead = system.dead_letters().count();
    let mut dead_letters = HashMap::new();
    for _ in 0..dead {
        let letter = letters
            .recv_timeout(WAIT)
            .expect("every counted dead letter is published");
        assert_eq!(letter.recipient.as_str(), "/user/target");
        *dead_letters.entry(letter.reason).or_insert(0) += 1;
    }
    assert!(letters.try_recv().is_err(), "more published than counted");
    let outcome = Outcome {
        handled: tally.handled.load(Ordering::SeqCst),
        panicked: tally.panicked.load(Ordering::SeqCst),
        dead_letters,
    };
    system.shutdown();
    outcome
}

#[test]
fn under_resume_every_message_is_handled_or_panicked_on() {
    let outcome = hammer("hammerresume", SupervisorStrategy::resume());
    outcome.assert_reasons(&[]);
    assert_eq!(outcome.panicked, POISON, "{outcome:?}");
    assert_eq!(outcome.handled, SENT - POISON, "{outcome:?}");
}

#[test]
fn under_restart_with_a_large_enough_buffer_every_message_is_handled_or_panicked_on() {
    let outcome = hammer(
        "hammerrestart",
        SupervisorStrategy::restart().with_stash_capacity(SENT as usize),
    );
    outcome.assert_reasons(&[]);
    assert_eq!(outcome.panicked, POISON, "{outcome:?}");
    assert_eq!(outcome.handled, SENT - POISON, "{outcome:?}");
}

#[test]
fn under_restart_with_the_default_buffer_what_does_not_fit_is_dead_lettered_as_buffer_full() {
    let outcome = hammer("hammerrestartbuf", SupervisorStrategy::restart());
    outcome.assert_reasons(&[DeadLetterReason::RestartBufferFull]);
    assert!(outcome.panicked <= POISON, "{outcome:?}");
    assert_eq!(
        outcome.handled + outcome.panicked + outcome.dead(DeadLetterReason::RestartBufferFull),
        SENT,
        "{outcome:?}"
    );
}

#[test]
fn under_restart_with_backoff_and_a_large_enough_buffer_every_message_is_handled_or_panicked_on() {
    let outcome = hammer(
        "hammerbackoff",
        SupervisorStrategy::restart_with_backoff(
            Duration::from_millis(10),
            Duration::from_millis(20),
            0.0,
        )
        .with_stash_capacity(SENT as usize),
    );
    outcome.assert_reasons(&[]);
    assert_eq!(outcome.panicked, POISON, "{outcome:?}");
    assert_eq!(outcome.handled, SENT - POISON, "{outcome:?}");
}

#[test]
fn under_restart_with_backoff_and_a_small_buffer_the_overflow_is_dead_lettered_as_buffer_full() {
    let outcome = hammer(
        "hammerbackoffbuf",
        SupervisorStrategy::restart_with_backoff(
            Duration::from_millis(1),
            Duration::from_millis(5),
            0.0,
        )
        .with_stash_capacity(64),
    );
    outcome.assert_reasons(&[DeadLetterReason::RestartBufferFull]);
    assert!(outcome.panicked <= POISON, "{outcome:?}");
    assert!(outcome.panicked >= 1, "{outcome:?}");
    assert_eq!(
        outcome.handled + outcome.panicked + outcome.dead(DeadLetterReason::RestartBufferFull),
        SENT,
        "{outcome:?}"
    );
}

#[test]
fn under_stop_the_first_poison_stops_the_actor_and_the_rest_are_dead_letters() {
    let outcome = hammer("hammerstop", SupervisorStrategy::stop());
    outcome.assert_reasons(&[DeadLetterReason::RecipientStopped]);
    assert_eq!(outcome.panicked, 1, "only one poison reaches the handler");
    assert_eq!(
        outcome.handled + 1 + outcome.dead(DeadLetterReason::RecipientStopped),
        SENT,
        "{outcome:?}"
    );
    assert_eq!(outcome.dead_total(), SENT - 1 - outcome.handled);
}
