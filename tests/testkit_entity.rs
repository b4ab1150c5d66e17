//! The event-sourced entity test kit and its test journal (issue 20, item 4), as Akka's
//! `EventSourcedBehaviorTestKitSpec` and `PersistenceTestKit` specs describe them: each command's
//! events, state and reply; recovery checked by a restart; the codec round trip; and the
//! journal's faults — with an entity written with `#[entity]` and one written by hand.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

use reactant::persistence::{Effect, Entity, EventSourcedBehavior, PersistenceId};
use reactant::prelude::*;
use reactant::testkit::{CommandFailure, EventSourcedBehaviorTestKit, PersistenceTestKit};
use serde::{Deserialize, Serialize};

/// The text of the panic `f` raises; fails the test if it does not panic.
#[track_caller]
fn failure_of(f: impl FnOnce()) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => panic!("expected a failure, but it passed"),
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default(),
    }
}

// ----- an entity written with the macros -----

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Event)]
enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(type_key = "account", event = AccountEvent)]
struct Account {
    owner: Option<String>,
    balance: u64,
}

#[entity]
impl Account {
    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { owner } => self.owner = Some(owner.clone()),
            AccountEvent::Deposited { amount } => self.balance += amount,
            AccountEvent::Withdrawn { amount } => self.balance -= amount,
        }
    }

    pub fn open(&self, owner: String) -> Effect<AccountEvent, ()> {
        Effect::persist(AccountEvent::Opened { owner }).then_reply(|_| ())
    }

    pub fn deposit(&self, amount: u64) -> Effect<AccountEvent, u64> {
        Effect::persist(AccountEvent::Deposited { amount }).then_reply(|s| s.balance)
    }

    pub fn withdraw(&self, amount: u64) -> Effect<AccountEvent, Result<u64, String>> {
        if amount > self.balance {
            return Effect::reply(Err(format!("only {} left", self.balance)));
        }
        Effect::persist(AccountEvent::Withdrawn { amount }).then_reply(|s| Ok(s.balance))
    }

    pub fn balance(&self) -> u64 {
        self.balance
    }
}

#[test]
fn run_command_returns_the_events_the_state_and_the_reply() {
    let mut es = EventSourcedBehaviorTestKit::<Account>::new();
    let opened = es.run_command(|reply_to| AccountCommand::Open {
        owner: "ann".into(),
        reply_to,
    });
    assert_eq!(
        opened.events,
        vec![AccountEvent::Opened {
            owner: "ann".into()
        }]
    );
    assert_eq!(opened.state.owner.as_deref(), Some("ann"));
    let deposited = es.run_command(|reply_to| AccountCommand::Deposit {
        amount: 100,
        reply_to,
    });
    assert_eq!(
        deposited.events,
        vec![AccountEvent::Deposited { amount: 100 }]
    );
    assert_eq!(deposited.state.balance, 100);
    assert_eq!(deposited.reply, 100);
}

#[test]
fn a_command_that_persists_nothing_has_no_events_and_leaves_the_state() {
    let mut es = EventSourcedBehaviorTestKit::<Account>::new();
    es.run_command(|reply_to| AccountCommand::Deposit {
        amount: 10,
        reply_to,
    });
    let refused = es.run_command(|reply_to| AccountCommand::Withdraw {
        amount: 50,
        reply_to,
    });
    assert!(refused.events.is_empty());
    assert_eq!(refused.state.balance, 10);
    assert_eq!(refused.reply, Err("only 10 left".to_owned()));
    let read = es.run_command(|reply_to| AccountCommand::Balance { reply_to });
    assert!(read.events.is_empty());
    assert_eq!(read.reply, 10);
}

#[test]
fn restart_recovers_the_same_state() {
    let mut es = EventSourcedBehaviorTestKit::<Account>::new();
    for amount in [1, 2, 3] {
        es.run_command(|reply_to| AccountCommand::Deposit { amount, reply_to });
    }
    assert_eq!(es.restart().state.balance, 6);
    let after = es.run_command(|reply_to| AccountCommand::Deposit {
        amount: 4,
        reply_to,
    });
    assert_eq!(after.state.balance, 10);
    assert_eq!(es.state().balance, 10);
}

#[test]
fn an_entity_recovers_what_was_persisted_for_recovery_before_it_started() {
    let storage = PersistenceTestKit::new();
    storage.persist_for_recovery(
        &PersistenceId::of("account", "7"),
        [
            AccountEvent::Opened { owner: "bo".into() },
            AccountEvent::Deposited { amount: 30 },
        ],
    );
    let mut es = EventSourcedBehaviorTestKit::<Account>::builder()
        .entity_id("7")
        .persistence(storage)
        .build();
    assert_eq!(
        es.state(),
        Account {
            owner: Some("bo".into()),
            balance: 30
        }
    );
    let r = es.run_command(|reply_to| AccountCommand::Deposit {
        amount: 5,
        reply_to,
    });
    assert_eq!(r.reply, 35);
    assert_eq!(
        es.persistence()
            .persisted::<AccountEvent>(es.persistence_id())
            .len(),
        3
    );
}

#[test]
fn a_failed_write_is_reported_and_stores_nothing() {
    let mut es = EventSourcedBehaviorTestKit::<Account>::new();
    es.run_command(|reply_to| AccountCommand::Deposit {
        amount: 10,
        reply_to,
    });
    es.persistence().fail_next_persisted();
    let failure = es
        .try_run_command(|reply_to| AccountCommand::Deposit {
            amount: 5,
            reply_to,
        })
        .expect_err("the journal fails the write");
    assert!(
        matches!(failure, CommandFailure::PersistFailed(_)),
        "{failure}"
    );
    // The entity stopped (the default); its next incarnation recovers only what was stored.
    assert!(matches!(
        es.try_run_command(|reply_to| AccountCommand::Balance { reply_to }),
        Err(CommandFailure::Stopped)
    ));
    assert_eq!(es.restart().state.balance, 10);
}

#[test]
fn a_rejected_write_is_reported_as_a_rejection() {
    let mut es = EventSourcedBehaviorTestKit::<Account>::new();
    es.persistence().reject_next_persisted();
    let failure = es
        .try_run_command(|reply_to| AccountCommand::Deposit {
            amount: 5,
            reply_to,
        })
        .expect_err("the journal rejects the write");
    assert!(
        matches!(failure, CommandFailure::PersistRejected(_)),
        "{failure}"
    );
    assert_eq!(es.restart().state.balance, 0);
}

#[test]
fn run_command_fails_the_test_with_a_sentence_naming_the_failure() {
    let mut es = EventSourcedBehaviorTestKit::<Account>::new();
    es.persistence().fail_next_persisted();
    let failure = failure_of(|| {
        es.run_command(|reply_to| AccountCommand::Deposit {
            amount: 5,
            reply_to,
        });
    });
    assert!(
        failure.contains("the journal failed to store the command's events"),
        "{failure}"
    );
}

#[test]
fn a_failed_read_fails_the_recovery_of_the_next_incarnation() {
    let mut es = EventSourcedBehaviorTestKit::<Account>::new();
    es.run_command(|reply_to| AccountCommand::Deposit {
        amount: 5,
        reply_to,
    });
    es.persistence().fail_next_read();
    let failure = failure_of(|| {
        es.restart();
    });
    assert!(failure.contains("could not recover"), "{failure}");
    // The read fault was used up: the next start recovers.
    assert_eq!(es.restart().state.balance, 5);
}

#[test]
fn a_delayed_write_still_completes_the_command() {
    let mut es = EventSourcedBehaviorTestKit::<Account>::new();
    es.persistence()
        .delay_next_persisted(std::time::Duration::from_millis(20));
    let r = es.run_command(|reply_to| AccountCommand::Deposit {
        amount: 5,
        reply_to,
    });
    assert_eq!(r.events, vec![AccountEvent::Deposited { amount: 5 }]);
    assert_eq!(es.persistence().write_calls(), 1);
}

// ----- entities written by hand -----

/// An event whose payload encodes but never decodes: a codec bug the test kit must catch.
#[derive(Debug)]
struct OneWay;

impl Serialize for OneWay {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(1)
    }
}

impl<'de> Deserialize<'de> for OneWay {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("OneWay never decodes"))
    }
}

#[derive(Debug, Serialize, Deserialize)]
enum TallyEvent {
    Counted(u64),
    Broken(OneWay),
}

impl reactant::persistence::Event for TallyEvent {}

enum TallyCommand {
    Count(u64, ActorRef<u64>),
    Break(ActorRef<u64>),
    Forget,
}

/// Counts how often any tally's event handler ran: an event handler that reads it is not a
/// pure function of its events.
static APPLIED: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Default, Serialize, Deserialize)]
struct Tally {
    total: u64,
    /// Set by the impure event handler of `Forgetful` only.
    applied_at: u64,
}

impl Entity for Tally {
    const TYPE_KEY: &'static str = "tally";
    type Event = TallyEvent;
    type Command = TallyCommand;

    fn apply(&mut self, event: &TallyEvent) {
        if let TallyEvent::Counted(n) = event {
            self.total += n;
        }
    }

    fn handle_command(&self, command: TallyCommand) -> Effect<TallyEvent, Self> {
        match command {
            TallyCommand::Count(n, reply_to) => {
                Effect::persist(TallyEvent::Counted(n)).then_reply_to(reply_to, |t: &Tally| t.total)
            }
            TallyCommand::Break(reply_to) => Effect::persist(TallyEvent::Broken(OneWay))
                .then_reply_to(reply_to, |t: &Tally| t.total),
            TallyCommand::Forget => Effect::none(),
        }
    }

    fn configure(
        behavior: EventSourcedBehavior<TallyCommand, TallyEvent, Self>,
    ) -> EventSourcedBehavior<TallyCommand, TallyEvent, Self> {
        behavior
            .with_snapshot_every(2, 1)
            .with_delete_events_on_snapshot(true)
    }
}

#[test]
fn a_hand_written_entity_runs_under_the_kit_with_its_snapshots() {
    let mut es = EventSourcedBehaviorTestKit::<Tally>::new();
    for n in 1..=5 {
        let r = es.run_command(|reply_to| TallyCommand::Count(n, reply_to));
        assert_eq!(r.events.len(), 1);
    }
    assert_eq!(es.state().total, 15);
    let no_reply = es.run_command_no_reply(TallyCommand::Forget);
    assert!(no_reply.events.is_empty());
    assert_eq!(no_reply.state.total, 15);
    // Recovery from the snapshot at 4 and the event after it.
    assert_eq!(es.restart().state.total, 15);
    assert!(es.persistence().snapshots().save_calls() >= 2);
}

#[test]
fn an_event_that_does_not_decode_fails_the_command_naming_the_codec() {
    let mut es = EventSourcedBehaviorTestKit::<Tally>::new();
    let failure = es
        .try_run_command(TallyCommand::Break)
        .expect_err("the stored event does not decode");
    let CommandFailure::Codec { what, error } = &failure else {
        panic!("expected a codec failure, got {failure}");
    };
    assert!(what.starts_with("event 1 of tally|1"), "{what}");
    assert!(
        error.to_string().contains("OneWay never decodes"),
        "{error}"
    );
}

/// A tally whose event handler is impure: its state after recovery differs from before.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Forgetful(Tally);

impl Entity for Forgetful {
    const TYPE_KEY: &'static str = "forgetful";
    type Event = TallyEvent;
    type Command = TallyCommand;

    fn apply(&mut self, event: &TallyEvent) {
        self.0.apply(event);
        self.0.applied_at = APPLIED.fetch_add(1, Ordering::SeqCst);
    }

    fn handle_command(&self, command: TallyCommand) -> Effect<TallyEvent, Self> {
        match command {
            TallyCommand::Count(n, reply_to) => Effect::persist(TallyEvent::Counted(n))
                .then_reply_to(reply_to, |t: &Forgetful| t.0.total),
            _ => Effect::none(),
        }
    }
}

#[test]
fn restart_fails_when_recovery_rebuilds_a_different_state() {
    let mut es = EventSourcedBehaviorTestKit::<Forgetful>::new();
    es.run_command(|reply_to| TallyCommand::Count(1, reply_to));
    let failure = failure_of(|| {
        es.restart();
    });
    assert!(failure.contains("rebuilt a different state"), "{failure}");
    assert!(failure.contains("applied_at"), "{failure}");
}
