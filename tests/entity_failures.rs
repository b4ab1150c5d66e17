//! Event-sourced entities on storage that fails on demand: every failure path of issue 11 ends
//! in a defined state. One test per numbered item of the issue, then one per row of the
//! failure table in the module docs of `persistence::entity` that the items leave uncovered.
//!
//! Each test asserts the outcome the table defines: the signal the entity sees, whether it
//! stops, restarts or goes on, what its asker and the commands it held get, and what the
//! journal holds. Every wait is bounded; nothing here measures time.
//!
//! Over 600 lines in one file on purpose: one test per numbered item and per table row, all on the
//! same failing journal and entity fixtures, read side by side with the table they check.

mod common;
#[path = "common/faults.rs"]
mod faults;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};
use faults::{Fault, FaultyJournal, FaultySnapshotStore, INJECTED, INJECTED_PANIC, WriteFault};
use reactant::persistence::{
    AtomicWrite, Codec, CodecError, DeleteError, EntitySignal, Event, EventSourcedBehavior,
    InvalidPersistenceId, Journal, JournalError, Manifest, MessagePack, PersistError, Persistence,
    PersistenceId, PersistentRepr, RecoveryCause, Rejection, SequenceNr, SnapshotCriteria,
    SnapshotError, SnapshotMetadata, SnapshotStore, StoredSnapshot,
};
use reactant::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};

use common::{QUIET, WAIT};

/// The amount the event handler refuses (it panics on it), live or in recovery.
const POISON: u64 = 13;

/// What the command handler panics with on `Crash`.
const CRASH: &str = "the command handler crashed";

// ----- the entity under test -----

#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Account {
    balance: u64,
    locked: bool,
}

/// Serializing it fails: an event carrying it cannot be encoded.
#[derive(Debug, Clone, Deserialize)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be serialized",
        ))
    }
}

/// Serializing it panics: the codec panics on an event carrying it.
#[derive(Debug, Clone, Deserialize)]
struct Exploding;

impl Serialize for Exploding {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("this value explodes when serialized")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum AccountEvent {
    Deposited { amount: u64 },
    Locked,
    Unlocked,
    Unencodable(Unencodable),
    Exploding(Exploding),
}

impl Event for AccountEvent {}

type AccountEffect = Effect<AccountEvent, Account>;

enum Command {
    /// Persists a deposit and replies with the balance; stashed while the account is locked.
    Deposit(u64, ActorRef<u64>),
    Balance(ActorRef<u64>),
    Lock,
    /// Persists the unlock, then unstashes the deposits that waited.
    Unlock,
    /// The command handler panics.
    Crash,
    /// Persists a deposit, then a side effect panics.
    DepositThenCrash(u64),
    /// Persists an event the codec cannot encode.
    Unencodable(ActorRef<u64>),
    /// Persists an event the codec panics on.
    Exploding(ActorRef<u64>),
    /// `Effect::unhandled()`.
    Ignore,
    /// `Effect::stop()`.
    Stop,
}

fn handle(account: &Account, command: Command) -> AccountEffect {
    match command {
        deposit @ Command::Deposit(..) if account.locked => AccountEffect::stash(deposit),
        Command::Deposit(amount, reply_to) => {
            AccountEffect::persist(AccountEvent::Deposited { amount })
                .then_reply_to(reply_to, |account| account.balance)
        }
        Command::Balance(reply_to) => {
            AccountEffect::none().then_reply_to(reply_to, |account| account.balance)
        }
        Command::Lock => AccountEffect::persist(AccountEvent::Locked),
        Command::Unlock => AccountEffect::persist(AccountEvent::Unlocked).then_unstash_all(),
        Command::Crash => panic!("{CRASH}"),
        Command::DepositThenCrash(amount) => {
            AccountEffect::persist(AccountEvent::Deposited { amount })
                .then_run(|_| panic!("{CRASH} in a side effect"))
        }
        Command::Unencodable(reply_to) => {
            AccountEffect::persist(AccountEvent::Unencodable(Unencodable))
                .then_reply_to(reply_to, |account| account.balance)
        }
        Command::Exploding(reply_to) => AccountEffect::persist(AccountEvent::Exploding(Exploding))
            .then_reply_to(reply_to, |account| account.balance),
        Command::Ignore => AccountEffect::unhandled(),
        Command::Stop => AccountEffect::stop(),
    }
}

fn apply(account: &mut Account, event: &AccountEvent) {
    match event {
        AccountEvent::Deposited { amount } => {
            assert_ne!(*amount, POISON, "the event handler refuses {POISON}");
            account.balance += amount;
        }
        AccountEvent::Locked => account.locked = true,
        AccountEvent::Unlocked => account.locked = false,
        AccountEvent::Unencodable(_) | AccountEvent::Exploding(_) => {}
    }
}

/// The account entity `id`, reporting every signal on the returned receiver.
fn account(
    id: &str,
    persistence: &Arc<Persistence>,
) -> (
    EventSourcedBehavior<Command, AccountEvent, Account>,
    Receiver<EntitySignal>,
) {
    let (signals, received) = unbounded();
    let behavior = EventSourcedBehavior::new(
        pid(id),
        persistence.clone(),
        Account::default,
        handle,
        apply,
    );
    (reporting(behavior, signals), received)
}

fn reporting<C: Send + 'static, E: Event, S>(
    behavior: EventSourcedBehavior<C, E, S>,
    signals: Sender<EntitySignal>,
) -> EventSourcedBehavior<C, E, S>
where
    S: Serialize + DeserializeOwned + Send + 'static,
{
    behavior.receive_signal(move |_, signal| {
        let _ = signals.send(signal.clone());
    })
}

fn pid(id: &str) -> PersistenceId {
    PersistenceId::of("account", id)
}

fn supervised(
    behavior: EventSourcedBehavior<Command, AccountEvent, Account>,
    strategy: SupervisorStrategy,
) -> Behavior<Command> {
    Behaviors::supervise(behavior.into_behavior()).on_failure(strategy)
}

// ----- storage -----

/// A persistence over a faulty journal and a faulty snapshot store.
struct Storage {
    journal: Arc<FaultyJournal>,
    snapshots: Arc<FaultySnapshotStore>,
    persistence: Arc<Persistence>,
}

impl Storage {
    fn new() -> Self {
        let journal = Arc::new(FaultyJournal::new());
        let snapshots = Arc::new(FaultySnapshotStore::new());
        let persistence = Persistence::new(journal.clone(), snapshots.clone())
            .expect("the persistence threads start");
        Self {
            journal,
            snapshots,
            persistence,
        }
    }

    /// Writes deposits of `amounts` for `id` behind the entity's back, after what is stored.
    fn seed(&self, id: &str, amounts: &[u64]) {
        let id = pid(id);
        let highest = self
            .journal
            .inner()
            .highest_sequence_nr(&id)
            .expect("readable");
        let events = amounts
            .iter()
            .zip(highest + 1..)
            .map(|(&amount, sequence_nr)| PersistentRepr {
                persistence_id: id.clone(),
                sequence_nr,
                manifest: AccountEvent::manifest(),
                payload: MessagePack
                    .encode(&AccountEvent::Deposited { amount })
                    .expect("encodes"),
                tags: Vec::new(),
                writer_id: "seed".into(),
                timestamp_ms: 0,
                offset: 0,
            })
            .collect();
        let results = self
            .journal
            .inner()
            .write(&[AtomicWrite { events }])
            .expect("stored");
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    }

    /// The amounts of the deposits stored for `id`, in order.
    fn deposits(&self, id: &str) -> Vec<u64> {
        self.journal
            .stored(&pid(id))
            .iter()
            .filter_map(|event| {
                match MessagePack.decode::<AccountEvent>(&event.manifest, &event.payload) {
                    Ok(AccountEvent::Deposited { amount }) => Some(amount),
                    Ok(_) => None,
                    Err(error) => panic!("a stored event does not decode: {error}"),
                }
            })
            .collect()
    }

    fn sequence_nrs(&self, id: &str) -> Vec<SequenceNr> {
        self.journal.stored_sequence_nrs(&pid(id))
    }
}

// ----- waiting for outcomes -----

fn deposit(entity: &ActorRef<Command>, amount: u64) -> Result<u64, AskError> {
    entity
        .ask(|reply_to| Command::Deposit(amount, reply_to))
        .wait(WAIT)
}

fn balance(entity: &ActorRef<Command>) -> Result<u64, AskError> {
    entity.ask(Command::Balance).wait(WAIT)
}

/// The next signal that `wanted` accepts, skipping others; fails the test if none comes within
/// [`WAIT`].
#[track_caller]
fn wait_for_signal(
    signals: &Receiver<EntitySignal>,
    what: &str,
    wanted: impl Fn(&EntitySignal) -> bool,
) -> EntitySignal {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        match signals.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(signal) if wanted(&signal) => return signal,
            Ok(other) => seen.push(other),
            Err(_) => panic!("no {what} within {WAIT:?}; the entity signalled {seen:?}"),
        }
    }
}

/// [`wait_for_signal`] for the signal matching a pattern.
macro_rules! expect_signal {
    ($signals:expr, $pattern:pat $(if $guard:expr)?) => {
        wait_for_signal(&$signals, stringify!($pattern), |signal| {
            matches!(signal, $pattern $(if $guard)?)
        })
    };
}

/// Fails the test if a signal that `unwanted` accepts arrives within [`QUIET`].
#[track_caller]
fn assert_no_signal(signals: &Receiver<EntitySignal>, unwanted: impl Fn(&EntitySignal) -> bool) {
    let deadline = Instant::now() + QUIET;
    while let Ok(signal) = signals.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        assert!(!unwanted(&signal), "unexpected {signal:?}");
    }
}

/// The next dead letter that `wanted` accepts; fails the test if none comes within [`WAIT`].
#[track_caller]
fn wait_for_dead_letter(
    dead_letters: &Receiver<DeadLetter>,
    wanted: impl Fn(&DeadLetter) -> bool,
) -> DeadLetter {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        match dead_letters.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(letter) if wanted(&letter) => return letter,
            Ok(other) => seen.push(other),
            Err(_) => panic!("no such dead letter within {WAIT:?}; saw {seen:?}"),
        }
    }
}

#[track_caller]
fn assert_stops(entity: &ActorRef<Command>) {
    assert!(
        common::eventually(|| entity.is_terminated()),
        "{} did not stop",
        entity.path()
    );
}

/// A pending reply that must be an error: the command's reply address was dropped (or its
/// ask timed out, as the failure table allows), never answered.
#[track_caller]
fn assert_unanswered(pending: Pending<u64>) {
    let outcome = pending.wait(WAIT);
    assert!(
        outcome.is_err(),
        "a failed command was answered: {outcome:?}"
    );
}

/// Holds writes and starts a deposit of `amount` whose write waits in the journal; the
/// entity is then persisting and holds every later command.
#[track_caller]
fn deposit_held_in_the_journal(
    storage: &Storage,
    entity: &ActorRef<Command>,
    amount: u64,
) -> Pending<u64> {
    storage.journal.hold_writes();
    let pending = entity.ask(|reply_to| Command::Deposit(amount, reply_to));
    assert!(
        storage.journal.wait_until_write_held(),
        "the deposit never reached the journal"
    );
    pending
}

// ===== issue 11, item by item =====

#[test]
fn an_event_handler_panic_during_recovery_fails_the_entity_and_leaves_the_readers_serving() {
    let system = common::system("ef-1");
    let storage = Storage::new();
    // More poisoned recoveries than there are reader threads, twice over.
    let poisoned: Vec<_> = (0..6)
        .map(|i| {
            let id = format!("poisoned-{i}");
            storage.seed(&id, &[1, POISON, 2]);
            let (behavior, signals) = account(&id, &storage.persistence);
            let entity = system.spawn(behavior, &id).expect("spawn");
            (id, entity, signals)
        })
        .collect();
    for (id, entity, signals) in &poisoned {
        let EntitySignal::RecoveryFailed(error) =
            expect_signal!(signals, EntitySignal::RecoveryFailed(_))
        else {
            unreachable!()
        };
        assert_eq!(error.persistence_id, pid(id));
        assert_eq!(error.sequence_nr, 2, "the event the handler refused");
        assert!(
            matches!(&error.cause, RecoveryCause::Panicked { what, message }
                if what.contains("event handler") && message.contains("refuses")),
            "{error}"
        );
        assert_stops(entity);
        assert_eq!(balance(entity), Err(AskError::TargetStopped));
    }
    // Every reader still serves: fresh entities recover and save snapshots.
    for i in 0..6 {
        let id = format!("healthy-{i}");
        storage.seed(&id, &[5]);
        let (behavior, signals) = account(&id, &storage.persistence);
        let entity = system
            .spawn(behavior.with_snapshot_every(2, 1), &id)
            .expect("spawn");
        expect_signal!(
            signals,
            EntitySignal::RecoveryCompleted {
                highest_sequence_nr: 1
            }
        );
        assert_eq!(deposit(&entity, 1), Ok(6));
        expect_signal!(signals, EntitySignal::SnapshotCompleted(2));
        let snapshot = storage.snapshots.latest(&pid(&id)).expect("a snapshot");
        assert_eq!(snapshot.metadata.sequence_nr, 2);
    }
    system.shutdown();
}

#[test]
fn an_event_the_handler_refuses_is_never_stored_and_later_recoveries_succeed() {
    let system = common::system("ef-2");
    let storage = Storage::new();
    let (behavior, signals) = account("refused", &storage.persistence);
    let entity = system.spawn(behavior, "refused").expect("spawn");
    assert_eq!(deposit(&entity, 1), Ok(1));
    let writes_before = storage.journal.write_calls();
    assert_unanswered(entity.ask(|reply_to| Command::Deposit(POISON, reply_to)));
    assert_stops(&entity);
    assert_eq!(
        storage.journal.write_calls(),
        writes_before,
        "the refused event never reached the journal"
    );
    assert_eq!(storage.sequence_nrs("refused"), [1]);
    assert_no_signal(&signals, |signal| {
        matches!(
            signal,
            EntitySignal::PersistFailed(_) | EntitySignal::PersistRejected(_)
        )
    });

    let (behavior, signals) = account("refused", &storage.persistence);
    let entity = system.spawn(behavior, "refused-again").expect("spawn");
    expect_signal!(
        signals,
        EntitySignal::RecoveryCompleted {
            highest_sequence_nr: 1
        }
    );
    assert_eq!(balance(&entity), Ok(1));
    assert_eq!(deposit(&entity, 2), Ok(3));
    assert_eq!(storage.deposits("refused"), [1, 2]);
    system.shutdown();
}

#[test]
fn a_journal_that_panics_in_write_fails_every_entity_of_the_batch_and_later_writes_succeed() {
    let system = common::system("ef-3");
    let storage = Storage::new();
    let ids = ["panic-a", "panic-b", "panic-c"];
    let entities: Vec<_> = ids
        .iter()
        .map(|id| {
            let (behavior, signals) = account(id, &storage.persistence);
            let entity = system.spawn(behavior, id).expect("spawn");
            assert_eq!(deposit(&entity, 1), Ok(1));
            (entity, signals)
        })
        .collect();
    storage.journal.fail_writes(WriteFault::Panic);
    let pending: Vec<_> = entities
        .iter()
        .map(|(entity, _)| entity.ask(|reply_to| Command::Deposit(10, reply_to)))
        .collect();
    for (entity, signals) in &entities {
        let EntitySignal::PersistFailed(error) =
            expect_signal!(signals, EntitySignal::PersistFailed(_))
        else {
            unreachable!()
        };
        assert!(
            matches!(&error, PersistError::JournalPanicked(message) if message.contains(INJECTED_PANIC)),
            "{error}"
        );
        assert_stops(entity);
    }
    for pending in pending {
        assert_unanswered(pending);
    }
    storage.journal.heal_writes();
    for id in ids {
        let (behavior, signals) = account(id, &storage.persistence);
        let entity = system
            .spawn(behavior, &format!("{id}-again"))
            .expect("spawn");
        expect_signal!(
            signals,
            EntitySignal::RecoveryCompleted {
                highest_sequence_nr: 1
            }
        );
        assert_eq!(deposit(&entity, 2), Ok(3), "the writer thread survived");
        assert_eq!(storage.deposits(id), [1, 2]);
    }
    system.shutdown();
}

#[test]
fn under_resume_a_failed_write_stops_the_entity_and_later_commands_become_dead_letters() {
    let system = common::system("ef-4");
    let storage = Storage::new();
    let dead_letters = system.dead_letters().subscribe();
    let (behavior, signals) = account("resumed", &storage.persistence);
    let entity = system
        .spawn(
            supervised(behavior, SupervisorStrategy::resume()),
            "resumed",
        )
        .expect("spawn");
    assert_eq!(deposit(&entity, 1), Ok(1));
    let failing = deposit_held_in_the_journal(&storage, &entity, 10);
    let held = [
        entity.ask(|reply_to| Command::Deposit(2, reply_to)),
        entity.ask(Command::Balance),
    ];
    storage.journal.fail_next_writes(1, WriteFault::Fail);
    storage.journal.release_writes();
    let EntitySignal::PersistFailed(error) =
        expect_signal!(signals, EntitySignal::PersistFailed(_))
    else {
        unreachable!()
    };
    assert!(
        matches!(&error, PersistError::Journal(JournalError::Storage(message)) if message.contains(INJECTED)),
        "{error}"
    );
    assert_unanswered(failing);
    assert_stops(&entity);
    for pending in held {
        assert_eq!(
            pending.wait(WAIT),
            Err(AskError::TargetStopped),
            "a held command became a dead letter"
        );
    }
    assert_eq!(
        balance(&entity),
        Err(AskError::TargetStopped),
        "a later command does not wait forever"
    );
    for _ in 0..3 {
        let letter = wait_for_dead_letter(&dead_letters, |letter| {
            letter.reason == DeadLetterReason::RecipientStopped
        });
        assert_eq!(letter.recipient, entity.path());
    }
    assert_eq!(storage.deposits("resumed"), [1]);
    system.shutdown();
}

#[test]
fn a_recovery_that_always_fails_stops_the_entity_after_one_attempt_whatever_its_supervisor() {
    let system = common::system("ef-5");
    let strategies = [
        ("stop", SupervisorStrategy::stop()),
        ("resume", SupervisorStrategy::resume()),
        ("restart", SupervisorStrategy::restart()),
        (
            "backoff",
            SupervisorStrategy::restart_with_backoff(
                Duration::from_millis(1),
                Duration::from_millis(10),
                0.0,
            ),
        ),
    ];
    for (name, strategy) in strategies {
        let storage = Storage::new();
        storage.seed(name, &[1, 2]);
        storage.journal.fail_replays(Fault::Fail);
        let (behavior, signals) = account(name, &storage.persistence);
        let entity = system
            .spawn(supervised(behavior, strategy), name)
            .expect("spawn");
        let EntitySignal::RecoveryFailed(error) =
            expect_signal!(signals, EntitySignal::RecoveryFailed(_))
        else {
            unreachable!()
        };
        assert!(
            matches!(&error.cause, RecoveryCause::Storage(JournalError::Storage(message)) if message.contains(INJECTED)),
            "{name}: {error}"
        );
        assert_stops(&entity);
        assert_no_signal(&signals, |signal| {
            matches!(
                signal,
                EntitySignal::RecoveryFailed(_) | EntitySignal::RecoveryCompleted { .. }
            )
        });
        assert_eq!(
            storage.journal.replay_calls(),
            1,
            "{name}: the recovery was retried"
        );
        assert_eq!(storage.snapshots.load_calls(), 1, "{name}");
    }
    system.shutdown();
}

#[test]
fn with_on_persist_failure_a_failed_write_restarts_the_entity_after_a_backoff_keeping_its_commands_in_order()
 {
    let system = common::system("ef-5-backoff");
    let storage = Storage::new();
    let (behavior, signals) = account("backoff", &storage.persistence);
    let entity = system
        .spawn(
            behavior.with_persist_failure(SupervisorStrategy::restart_with_backoff(
                Duration::from_millis(10),
                Duration::from_millis(100),
                0.0,
            )),
            "backoff",
        )
        .expect("spawn");
    assert_eq!(deposit(&entity, 1), Ok(1));
    expect_signal!(
        signals,
        EntitySignal::RecoveryCompleted {
            highest_sequence_nr: 0
        }
    );
    let failing = deposit_held_in_the_journal(&storage, &entity, 10);
    let held = [
        entity.ask(|reply_to| Command::Deposit(2, reply_to)),
        entity.ask(|reply_to| Command::Deposit(3, reply_to)),
        entity.ask(Command::Balance),
    ];
    storage.journal.fail_next_writes(1, WriteFault::Fail);
    storage.journal.release_writes();
    expect_signal!(
        signals,
        EntitySignal::PersistFailed(PersistError::Journal(_))
    );
    expect_signal!(
        signals,
        EntitySignal::RecoveryCompleted {
            highest_sequence_nr: 1
        }
    );
    assert_unanswered(failing);
    let replies: Vec<_> = held.into_iter().map(|pending| pending.wait(WAIT)).collect();
    assert_eq!(
        replies,
        [Ok(3), Ok(6), Ok(6)],
        "handled in order, after recovery"
    );
    assert!(!entity.is_terminated());
    assert_eq!(storage.deposits("backoff"), [1, 2, 3]);
    assert_eq!(storage.journal.replay_calls(), 2, "one recovery per start");
    system.shutdown();
}

#[test]
fn commands_held_while_a_write_fails_are_handled_by_the_next_incarnation_in_order() {
    let system = common::system("ef-6");
    let storage = Storage::new();
    let (behavior, signals) = account("held", &storage.persistence);
    let entity = system
        .spawn(supervised(behavior, SupervisorStrategy::restart()), "held")
        .expect("spawn");
    assert_eq!(deposit(&entity, 1), Ok(1));
    let failing = deposit_held_in_the_journal(&storage, &entity, 10);
    let held: Vec<_> = (2..=5)
        .map(|amount| entity.ask(move |reply_to| Command::Deposit(amount, reply_to)))
        .collect();
    let balance_after = entity.ask(Command::Balance);
    storage.journal.fail_next_writes(1, WriteFault::Fail);
    storage.journal.release_writes();
    expect_signal!(
        signals,
        EntitySignal::PersistFailed(PersistError::Journal(_))
    );
    expect_signal!(signals, EntitySignal::PreRestart);
    assert_unanswered(failing);
    let replies: Vec<_> = held.into_iter().map(|pending| pending.wait(WAIT)).collect();
    assert_eq!(replies, [Ok(3), Ok(6), Ok(10), Ok(15)]);
    assert_eq!(balance_after.wait(WAIT), Ok(15));
    assert_eq!(storage.deposits("held"), [1, 2, 3, 4, 5]);
    system.shutdown();
}

#[test]
fn stashed_commands_survive_a_restart_after_a_failed_write() {
    let system = common::system("ef-6-stash");
    let storage = Storage::new();
    let (behavior, signals) = account("stash", &storage.persistence);
    let entity = system
        .spawn(supervised(behavior, SupervisorStrategy::restart()), "stash")
        .expect("spawn");
    assert_eq!(deposit(&entity, 1), Ok(1));
    entity.tell(Command::Lock);
    let stashed = [
        entity.ask(|reply_to| Command::Deposit(5, reply_to)),
        entity.ask(|reply_to| Command::Deposit(6, reply_to)),
    ];
    // Answered after the deposits were handled (and stashed, the account being locked).
    assert_eq!(balance(&entity), Ok(1));
    storage.journal.fail_next_writes(1, WriteFault::Fail);
    entity.tell(Command::Unlock);
    expect_signal!(
        signals,
        EntitySignal::PersistFailed(PersistError::Journal(_))
    );
    expect_signal!(
        signals,
        EntitySignal::RecoveryCompleted {
            highest_sequence_nr: 2
        }
    );
    // Still locked: the deposits the next incarnation got back wait in its stash again.
    assert_eq!(balance(&entity), Ok(1));
    assert!(stashed.iter().all(|pending| !pending.is_ready()));
    entity.tell(Command::Unlock);
    let replies: Vec<_> = stashed
        .into_iter()
        .map(|pending| pending.wait(WAIT))
        .collect();
    assert_eq!(replies, [Ok(6), Ok(12)]);
    assert_eq!(storage.deposits("stash"), [1, 5, 6]);
    system.shutdown();
}

#[test]
fn retention_racing_a_restart_never_loses_the_state() {
    const ROUNDS: u64 = 50;
    let system = common::system("ef-7");
    let storage = Storage::new();
    let (behavior, signals) = account("retained", &storage.persistence);
    let entity = system
        .spawn(
            supervised(
                behavior
                    .with_snapshot_every(2, 1)
                    .with_delete_events_on_snapshot(true),
                SupervisorStrategy::restart(),
            ),
            "retained",
        )
        .expect("spawn");
    let mut expected = 0;
    for round in 0..ROUNDS {
        // One to three events a round: the restart lands on either side of a snapshot.
        let amounts = 1..=(round % 3 + 1);
        let deposits: Vec<_> = amounts
            .clone()
            .map(|amount| entity.ask(move |reply_to| Command::Deposit(amount, reply_to)))
            .collect();
        // The restart comes right behind the writes and the retention they start.
        entity.tell(Command::Crash);
        for (amount, pending) in amounts.zip(deposits) {
            expected += amount;
            assert_eq!(pending.wait(WAIT), Ok(expected), "round {round}");
        }
        assert_eq!(
            balance(&entity),
            Ok(expected),
            "round {round}: the next incarnation recovered another state"
        );
    }
    let failures: Vec<_> = signals
        .try_iter()
        .filter(|signal| matches!(signal, EntitySignal::RecoveryFailed(_)))
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    entity.tell(Command::Stop);
    assert_stops(&entity);
    let (behavior, _) = account("retained", &storage.persistence);
    let entity = system.spawn(behavior, "retained-again").expect("spawn");
    assert_eq!(balance(&entity), Ok(expected));
    assert_eq!(deposit(&entity, 1), Ok(expected + 1));
    system.shutdown();
}

#[test]
fn an_entity_recovered_from_a_snapshot_over_an_empty_journal_goes_on_after_the_snapshot() {
    let system = common::system("ef-8");
    // A real snapshot at 5, taken elsewhere...
    let elsewhere = Storage::new();
    let (behavior, signals) = account("ahead", &elsewhere.persistence);
    let entity = system
        .spawn(behavior.with_snapshot_every(5, 1), "ahead-elsewhere")
        .expect("spawn");
    for amount in 1..=5 {
        deposit(&entity, amount).expect("deposit");
    }
    expect_signal!(signals, EntitySignal::SnapshotCompleted(5));
    let snapshot = elsewhere.snapshots.latest(&pid("ahead")).expect("saved");
    // ...is all the new storage has: its journal is empty.
    let storage = Storage::new();
    storage
        .snapshots
        .inner()
        .save(snapshot.clone())
        .expect("saved");

    let (behavior, signals) = account("ahead", &storage.persistence);
    let entity = system.spawn(behavior, "ahead").expect("spawn");
    expect_signal!(
        signals,
        EntitySignal::SnapshotRecovered(metadata) if *metadata == snapshot.metadata
    );
    expect_signal!(
        signals,
        EntitySignal::RecoveryCompleted {
            highest_sequence_nr: 5
        }
    );
    assert_eq!(balance(&entity), Ok(15));
    assert_eq!(deposit(&entity, 6), Ok(21), "the write is accepted");
    assert_eq!(storage.sequence_nrs("ahead"), [6]);
    entity.tell(Command::Stop);
    assert_stops(&entity);

    let (behavior, signals) = account("ahead", &storage.persistence);
    let entity = system.spawn(behavior, "ahead-again").expect("spawn");
    expect_signal!(
        signals,
        EntitySignal::RecoveryCompleted {
            highest_sequence_nr: 6
        }
    );
    assert_eq!(balance(&entity), Ok(21));
    assert_eq!(deposit(&entity, 7), Ok(28));
    assert_eq!(storage.sequence_nrs("ahead"), [6, 7]);
    system.shutdown();
}

#[test]
fn an_unhandled_command_becomes_a_dead_letter_and_the_entity_goes_on() {
    let system = common::system("ef-9");
    let storage = Storage::new();
    let dead_letters = system.dead_letters().subscribe();
    let (behavior, _) = account("ignoring", &storage.persistence);
    let entity = system.spawn(behavior, "ignoring").expect("spawn");
    entity.tell(Command::Ignore);
    let letter = wait_for_dead_letter(&dead_letters, |letter| {
        letter.reason == DeadLetterReason::Unhandled
    });
    assert_eq!(letter.recipient, entity.path());
    assert!(letter.message_type.ends_with("Command"), "{letter}");
    assert_eq!(deposit(&entity, 1), Ok(1));
    system.shutdown();
}

#[test]
fn lifecycle_signals_reach_the_entity_and_a_behavior_signal_handler_around_it() {
    let system = common::system("ef-10");
    let storage = Storage::new();
    let (behavior, entity_signals) = account("signalled", &storage.persistence);
    let (actor_signals, actor_signal_rx) = unbounded();
    let behavior = Behavior::from(behavior).receive_signal(move |_, signal| {
        let _ = actor_signals.send(format!("{signal:?}"));
        Behaviors::same()
    });
    let entity = system
        .spawn(
            Behaviors::supervise(behavior).on_failure(SupervisorStrategy::restart()),
            "signalled",
        )
        .expect("spawn");
    assert_eq!(deposit(&entity, 1), Ok(1));
    entity.tell(Command::Crash);
    expect_signal!(entity_signals, EntitySignal::PreRestart);
    assert_eq!(common::recv(&actor_signal_rx), "PreRestart");
    assert_eq!(balance(&entity), Ok(1));
    entity.tell(Command::Stop);
    expect_signal!(entity_signals, EntitySignal::PostStop);
    assert_eq!(common::recv(&actor_signal_rx), "PostStop");
    assert_stops(&entity);
    system.shutdown();
}

#[test]
fn an_empty_persistence_id_is_refused() {
    assert_eq!(PersistenceId::try_new(""), Err(InvalidPersistenceId::Empty));
    assert!(std::panic::catch_unwind(|| PersistenceId::new("")).is_err());
    assert_eq!(
        PersistenceId::try_new("account|1").map(|id| id.as_str().to_owned()),
        Ok("account|1".to_owned())
    );
}

// ===== the failure table, row by row (where the items above leave a row uncovered) =====

#[test]
fn commands_sent_during_a_failed_recovery_become_dead_letters() {
    let system = common::system("ef-row-recovery");
    let storage = Storage::new();
    let dead_letters = system.dead_letters().subscribe();
    storage.seed("slow", &[1]);
    storage.journal.hold_replays();
    let (behavior, signals) = account("slow", &storage.persistence);
    let entity = system.spawn(behavior, "slow").expect("spawn");
    assert!(storage.journal.wait_until_replay_held());
    let held = [
        entity.ask(|reply_to| Command::Deposit(2, reply_to)),
        entity.ask(Command::Balance),
    ];
    storage.journal.fail_next_replays(1, Fault::Fail);
    storage.journal.release_replays();
    expect_signal!(signals, EntitySignal::RecoveryFailed(_));
    assert_stops(&entity);
    for pending in held {
        assert_eq!(pending.wait(WAIT), Err(AskError::TargetStopped));
    }
    for _ in 0..2 {
        let letter = wait_for_dead_letter(&dead_letters, |letter| {
            letter.reason == DeadLetterReason::RecipientStopped
        });
        assert_eq!(letter.recipient, entity.path());
    }
    assert_eq!(storage.deposits("slow"), [1], "nothing was written");
    system.shutdown();
}

#[test]
fn a_journal_panic_during_replay_fails_recovery_and_the_next_recovery_succeeds() {
    let system = common::system("ef-row-replay-panic");
    let storage = Storage::new();
    storage.seed("replayed", &[4]);
    // More panics than reader threads: none of them may take a reader down.
    for attempt in 0..5 {
        storage.journal.fail_next_replays(1, Fault::Panic);
        let (behavior, signals) = account("replayed", &storage.persistence);
        let entity = system
            .spawn(behavior, &format!("replayed-{attempt}"))
            .expect("spawn");
        let EntitySignal::RecoveryFailed(error) =
            expect_signal!(signals, EntitySignal::RecoveryFailed(_))
        else {
            unreachable!()
        };
        assert!(
            matches!(&error.cause, RecoveryCause::JournalPanicked(message) if message.contains(INJECTED_PANIC)),
            "{error}"
        );
        assert_stops(&entity);
    }
    let (behavior, _) = account("replayed", &storage.persistence);
    let entity = system.spawn(behavior, "replayed").expect("spawn");
    assert_eq!(balance(&entity), Ok(4));
    assert_eq!(deposit(&entity, 1), Ok(5));
    system.shutdown();
}

#[test]
fn an_empty_state_that_panics_fails_recovery_and_the_entity_stops() {
    let system = common::system("ef-row-empty-state");
    let storage = Storage::new();
    // Panics on its first call only (the recovery's), so that the signal handler, which gets
    // `empty_state()` where the entity has no state, can report the failure.
    let first = Arc::new(AtomicBool::new(true));
    let (signal_tx, signals) = unbounded();
    let behavior = EventSourcedBehavior::new(
        pid("no-state"),
        storage.persistence.clone(),
        move || {
            assert!(!first.swap(false, Ordering::SeqCst), "no empty state today");
            Account::default()
        },
        handle,
        apply,
    );
    let entity = system
        .spawn(reporting(behavior, signal_tx), "no-state")
        .expect("spawn");
    let EntitySignal::RecoveryFailed(error) =
        expect_signal!(signals, EntitySignal::RecoveryFailed(_))
    else {
        unreachable!()
    };
    assert!(
        matches!(&error.cause, RecoveryCause::Panicked { what: "empty_state", message } if message.contains("no empty state")),
        "{error}"
    );
    assert_stops(&entity);

    // One that always panics stops all the same, and its askers are not left waiting.
    let behavior = EventSourcedBehavior::new(
        pid("never-a-state"),
        storage.persistence.clone(),
        || -> Account { panic!("never an empty state") },
        handle,
        apply,
    );
    let entity = system.spawn(behavior, "never-a-state").expect("spawn");
    let pending = entity.ask(Command::Balance);
    assert_stops(&entity);
    assert_eq!(pending.wait(WAIT), Err(AskError::TargetStopped));
    system.shutdown();
}

/// MessagePack to write; panics on every read.
struct PanickingDecoder;

impl Codec for PanickingDecoder {
    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        MessagePack.encode(value)
    }

    fn decode<T: DeserializeOwned>(&self, _: &Manifest, _: &[u8]) -> Result<T, CodecError> {
        panic!("{INJECTED_PANIC} in decode")
    }
}

#[test]
fn a_codec_that_panics_while_decoding_fails_recovery() {
    let system = common::system("ef-row-codec-panic");
    let storage = Storage::new();
    storage.seed("decoded", &[1, 2]);
    let (behavior, signals) = account("decoded", &storage.persistence);
    let entity = system
        .spawn(behavior.with_codec(PanickingDecoder), "decoded")
        .expect("spawn");
    let EntitySignal::RecoveryFailed(error) =
        expect_signal!(signals, EntitySignal::RecoveryFailed(_))
    else {
        unreachable!()
    };
    assert_eq!(error.sequence_nr, 1);
    assert!(
        matches!(&error.cause, RecoveryCause::Panicked { what, message }
            if what.contains("codec") && message.contains(INJECTED_PANIC)),
        "{error}"
    );
    assert_stops(&entity);
    system.shutdown();
}

#[test]
fn events_missing_after_the_start_fail_recovery_loudly() {
    let system = common::system("ef-row-gap");
    let storage = Storage::new();
    storage.seed("gap", &[1, 2, 3, 4]);
    storage
        .journal
        .inner()
        .delete_to(&pid("gap"), 2)
        .expect("deleted");
    let (behavior, signals) = account("gap", &storage.persistence);
    let entity = system.spawn(behavior, "gap").expect("spawn");
    let EntitySignal::RecoveryFailed(error) =
        expect_signal!(signals, EntitySignal::RecoveryFailed(_))
    else {
        unreachable!()
    };
    assert_eq!(error.cause, RecoveryCause::Gap { after: 0, found: 3 });
    assert_stops(&entity);
    system.shutdown();
}

#[test]
fn a_snapshot_that_cannot_be_loaded_or_decoded_fails_recovery() {
    let system = common::system("ef-row-snapshot-load");
    let storage = Storage::new();
    storage.seed("loaded", &[1]);
    let outcomes = [(Fault::Fail, "loaded-fail"), (Fault::Panic, "loaded-panic")];
    for (fault, name) in outcomes {
        storage.snapshots.fail_loads(fault);
        let (behavior, signals) = account("loaded", &storage.persistence);
        let entity = system.spawn(behavior, name).expect("spawn");
        let EntitySignal::RecoveryFailed(error) =
            expect_signal!(signals, EntitySignal::RecoveryFailed(_))
        else {
            unreachable!()
        };
        assert_eq!(error.sequence_nr, 0, "before any event");
        match fault {
            Fault::Fail => assert!(
                matches!(&error.cause, RecoveryCause::Storage(JournalError::Storage(message)) if message.contains(INJECTED)),
                "{error}"
            ),
            Fault::Panic => assert!(
                matches!(&error.cause, RecoveryCause::JournalPanicked(message) if message.contains(INJECTED_PANIC)),
                "{error}"
            ),
            other => unreachable!("only Fail and Panic are tried, not {other:?}"),
        }
        assert_stops(&entity);
    }
    storage.snapshots.heal_loads();
    storage
        .snapshots
        .inner()
        .save(StoredSnapshot {
            metadata: SnapshotMetadata {
                persistence_id: pid("loaded"),
                sequence_nr: 1,
                timestamp_ms: 0,
            },
            manifest: Manifest::new("Account", 1),
            payload: vec![0xc1, 0xff],
        })
        .expect("saved");
    let (behavior, signals) = account("loaded", &storage.persistence);
    let entity = system.spawn(behavior, "loaded-garbage").expect("spawn");
    let EntitySignal::RecoveryFailed(error) =
        expect_signal!(signals, EntitySignal::RecoveryFailed(_))
    else {
        unreachable!()
    };
    assert_eq!(error.sequence_nr, 1, "the snapshot's sequence number");
    assert!(
        matches!(error.cause, RecoveryCause::SnapshotDecode(_)),
        "{error}"
    );
    assert_stops(&entity);
    system.shutdown();
}

#[test]
fn a_failed_write_stops_an_unsupervised_entity_and_dead_letters_its_held_commands() {
    let system = common::system("ef-row-write-fails");
    let storage = Storage::new();
    let (behavior, signals) = account("failed", &storage.persistence);
    let entity = system.spawn(behavior, "failed").expect("spawn");
    assert_eq!(deposit(&entity, 7), Ok(7));
    let failing = deposit_held_in_the_journal(&storage, &entity, 1);
    let held = entity.ask(Command::Balance);
    storage.journal.fail_next_writes(1, WriteFault::Fail);
    storage.journal.release_writes();
    expect_signal!(
        signals,
        EntitySignal::PersistFailed(PersistError::Journal(JournalError::Storage(_)))
    );
    assert_unanswered(failing);
    assert_stops(&entity);
    assert_eq!(held.wait(WAIT), Err(AskError::TargetStopped));
    assert_eq!(storage.deposits("failed"), [7]);
    system.shutdown();
}

#[test]
fn stashed_commands_become_dead_letters_when_a_failed_write_stops_the_entity() {
    let system = common::system("ef-row-stash-stop");
    let storage = Storage::new();
    let (behavior, signals) = account("stash-stop", &storage.persistence);
    let entity = system.spawn(behavior, "stash-stop").expect("spawn");
    assert_eq!(deposit(&entity, 1), Ok(1));
    entity.tell(Command::Lock);
    let stashed = entity.ask(|reply_to| Command::Deposit(5, reply_to));
    assert_eq!(balance(&entity), Ok(1), "the deposit waits in the stash");
    storage.journal.fail_next_writes(1, WriteFault::Fail);
    entity.tell(Command::Unlock);
    expect_signal!(
        signals,
        EntitySignal::PersistFailed(PersistError::Journal(_))
    );
    assert_stops(&entity);
    assert_eq!(stashed.wait(WAIT), Err(AskError::TargetStopped));
    assert_eq!(storage.deposits("stash-stop"), [1]);
    system.shutdown();
}

#[test]
fn a_rejected_write_fails_the_entity_which_stops_or_restarts_but_never_resumes() {
    let system = common::system("ef-row-rejected");
    let strategies = [
        ("stop", SupervisorStrategy::stop()),
        ("resume", SupervisorStrategy::resume()),
        ("restart", SupervisorStrategy::restart()),
    ];
    for (name, strategy) in strategies {
        let storage = Storage::new();
        let (behavior, signals) = account(name, &storage.persistence);
        let entity = system
            .spawn(supervised(behavior, strategy), &format!("rejected-{name}"))
            .expect("spawn");
        assert_eq!(deposit(&entity, 1), Ok(1));
        let failing = deposit_held_in_the_journal(&storage, &entity, 10);
        let held = [
            entity.ask(|reply_to| Command::Deposit(2, reply_to)),
            entity.ask(Command::Balance),
        ];
        storage.journal.fail_next_writes(1, WriteFault::Reject);
        storage.journal.release_writes();
        let EntitySignal::PersistRejected(error) =
            expect_signal!(signals, EntitySignal::PersistRejected(_))
        else {
            unreachable!()
        };
        assert_eq!(
            error,
            PersistError::Rejected(Rejection::OutOfOrder { highest: 1, got: 2 }),
            "{name}"
        );
        assert_unanswered(failing);
        let replies: Vec<_> = held.into_iter().map(|pending| pending.wait(WAIT)).collect();
        if name == "restart" {
            assert_eq!(replies, [Ok(3), Ok(3)], "{name}: in order, after recovery");
            assert_eq!(storage.deposits(name), [1, 2]);
        } else {
            assert_stops(&entity);
            assert_eq!(
                replies,
                [Err(AskError::TargetStopped), Err(AskError::TargetStopped)],
                "{name}"
            );
            assert_eq!(storage.deposits(name), [1]);
        }
    }
    system.shutdown();
}

#[test]
fn an_event_the_codec_cannot_encode_is_rejected_and_the_entity_goes_on_in_order() {
    let system = common::system("ef-row-encode");
    let storage = Storage::new();
    let (behavior, signals) = account("encoded", &storage.persistence);
    let entity = system.spawn(behavior, "encoded").expect("spawn");
    expect_signal!(signals, EntitySignal::RecoveryCompleted { .. });
    let first = deposit_held_in_the_journal(&storage, &entity, 1);
    let unencodable = entity.ask(Command::Unencodable);
    let second = entity.ask(|reply_to| Command::Deposit(2, reply_to));
    let exploding = entity.ask(Command::Exploding);
    let after = entity.ask(Command::Balance);
    storage.journal.release_writes();
    assert_eq!(first.wait(WAIT), Ok(1));
    assert_unanswered(unencodable);
    assert_eq!(second.wait(WAIT), Ok(3), "the next command kept its turn");
    assert_unanswered(exploding);
    assert_eq!(after.wait(WAIT), Ok(3));
    expect_signal!(
        signals,
        EntitySignal::PersistRejected(PersistError::Encode(_))
    );
    expect_signal!(
        signals,
        EntitySignal::PersistRejected(PersistError::EncodePanicked(_))
    );
    assert!(!entity.is_terminated());
    assert_eq!(storage.sequence_nrs("encoded"), [1, 2]);
    system.shutdown();
}

#[test]
fn an_event_handler_panic_on_a_new_event_stops_or_restarts_the_entity_but_never_resumes() {
    let system = common::system("ef-row-event-handler");
    let strategies = [
        ("stop", SupervisorStrategy::stop()),
        ("resume", SupervisorStrategy::resume()),
        ("restart", SupervisorStrategy::restart()),
    ];
    for (name, strategy) in strategies {
        let storage = Storage::new();
        let (behavior, signals) = account(name, &storage.persistence);
        let entity = system
            .spawn(supervised(behavior, strategy), &format!("handler-{name}"))
            .expect("spawn");
        assert_eq!(deposit(&entity, 1), Ok(1));
        let first = deposit_held_in_the_journal(&storage, &entity, 2);
        let refused = entity.ask(|reply_to| Command::Deposit(POISON, reply_to));
        let after = entity.ask(|reply_to| Command::Deposit(4, reply_to));
        storage.journal.release_writes();
        assert_eq!(first.wait(WAIT), Ok(3), "{name}");
        assert_unanswered(refused);
        if name == "restart" {
            expect_signal!(signals, EntitySignal::PreRestart);
            assert_eq!(after.wait(WAIT), Ok(7), "{name}: kept, in order");
            assert_eq!(storage.deposits(name), [1, 2, 4]);
        } else {
            assert_stops(&entity);
            assert_eq!(after.wait(WAIT), Err(AskError::TargetStopped), "{name}");
            assert_eq!(storage.deposits(name), [1, 2]);
        }
    }
    system.shutdown();
}

#[test]
fn a_command_handler_panic_is_supervised_and_the_held_commands_keep_their_order() {
    let system = common::system("ef-row-command-handler");
    let strategies = [
        ("stop", SupervisorStrategy::stop()),
        ("resume", SupervisorStrategy::resume()),
        ("restart", SupervisorStrategy::restart()),
    ];
    for (name, strategy) in strategies {
        let storage = Storage::new();
        let (behavior, signals) = account(name, &storage.persistence);
        let entity = system
            .spawn(supervised(behavior, strategy), &format!("crash-{name}"))
            .expect("spawn");
        assert_eq!(deposit(&entity, 1), Ok(1));
        let first = deposit_held_in_the_journal(&storage, &entity, 2);
        entity.tell(Command::Crash);
        let held = [
            entity.ask(|reply_to| Command::Deposit(3, reply_to)),
            entity.ask(Command::Balance),
        ];
        storage.journal.release_writes();
        assert_eq!(first.wait(WAIT), Ok(3), "{name}");
        let replies: Vec<_> = held.into_iter().map(|pending| pending.wait(WAIT)).collect();
        match name {
            "stop" => {
                assert_stops(&entity);
                assert_eq!(
                    replies,
                    [Err(AskError::TargetStopped), Err(AskError::TargetStopped)]
                );
                assert_eq!(storage.deposits(name), [1, 2]);
            }
            _ => {
                assert_eq!(replies, [Ok(6), Ok(6)], "{name}: the state was kept");
                assert_eq!(storage.deposits(name), [1, 2, 3]);
            }
        }
        if name == "restart" {
            expect_signal!(signals, EntitySignal::PreRestart);
        }
    }
    system.shutdown();
}

#[test]
fn a_side_effect_panic_after_a_persist_keeps_the_stored_event() {
    let system = common::system("ef-row-side-effect");
    let strategies = [
        ("resume", SupervisorStrategy::resume()),
        ("restart", SupervisorStrategy::restart()),
    ];
    for (name, strategy) in strategies {
        let storage = Storage::new();
        let (behavior, _) = account(name, &storage.persistence);
        let entity = system
            .spawn(supervised(behavior, strategy), &format!("effect-{name}"))
            .expect("spawn");
        assert_eq!(deposit(&entity, 1), Ok(1));
        entity.tell(Command::DepositThenCrash(2));
        let after = entity.ask(|reply_to| Command::Deposit(3, reply_to));
        assert_eq!(after.wait(WAIT), Ok(6), "{name}");
        assert_eq!(storage.deposits(name), [1, 2, 3]);
    }
    system.shutdown();
}

#[test]
fn a_snapshot_that_cannot_be_saved_is_reported_and_recovery_replays_the_events() {
    let system = common::system("ef-row-snapshot-save");
    let storage = Storage::new();
    let (behavior, signals) = account("unsaved", &storage.persistence);
    let entity = system
        .spawn(behavior.with_snapshot_every(2, 1), "unsaved")
        .expect("spawn");
    storage.snapshots.fail_saves(Fault::Fail);
    assert_eq!(deposit(&entity, 1), Ok(1));
    assert_eq!(deposit(&entity, 2), Ok(3));
    let EntitySignal::SnapshotFailed(error) =
        expect_signal!(signals, EntitySignal::SnapshotFailed(_))
    else {
        unreachable!()
    };
    assert!(
        matches!(&error, SnapshotError::Store(JournalError::Storage(message)) if message.contains(INJECTED)),
        "{error}"
    );
    storage.snapshots.fail_saves(Fault::Panic);
    assert_eq!(deposit(&entity, 3), Ok(6));
    assert_eq!(deposit(&entity, 4), Ok(10));
    let EntitySignal::SnapshotFailed(error) =
        expect_signal!(signals, EntitySignal::SnapshotFailed(_))
    else {
        unreachable!()
    };
    assert!(
        matches!(&error, SnapshotError::StorePanicked(message) if message.contains(INJECTED_PANIC)),
        "{error}"
    );
    assert!(storage.snapshots.latest(&pid("unsaved")).is_none());
    assert_eq!(balance(&entity), Ok(10), "the entity goes on");
    entity.tell(Command::Stop);
    assert_stops(&entity);

    let (behavior, signals) = account("unsaved", &storage.persistence);
    let entity = system.spawn(behavior, "unsaved-again").expect("spawn");
    let recovered = expect_signal!(
        signals,
        EntitySignal::RecoveryCompleted { .. } | EntitySignal::SnapshotRecovered(_)
    );
    assert_eq!(
        recovered,
        EntitySignal::RecoveryCompleted {
            highest_sequence_nr: 4
        },
        "no snapshot to start from"
    );
    assert_eq!(balance(&entity), Ok(10));
    system.shutdown();
}

#[test]
fn a_failed_deletion_is_reported_and_the_next_snapshot_retries_it() {
    let system = common::system("ef-row-delete");
    let storage = Storage::new();
    let (behavior, signals) = account("pruned", &storage.persistence);
    let entity = system
        .spawn(
            behavior
                .with_snapshot_every(1, 1)
                .with_delete_events_on_snapshot(true),
            "pruned",
        )
        .expect("spawn");
    storage.journal.fail_deletes(Fault::Fail);
    storage.snapshots.fail_deletes(Fault::Panic);
    assert_eq!(deposit(&entity, 1), Ok(1));
    assert_eq!(deposit(&entity, 2), Ok(3));
    let EntitySignal::DeleteSnapshotsFailed { to, error } =
        expect_signal!(signals, EntitySignal::DeleteSnapshotsFailed { to: 1, .. })
    else {
        unreachable!()
    };
    assert_eq!(to, 1);
    assert!(
        matches!(&error, DeleteError::Panicked(message) if message.contains(INJECTED_PANIC)),
        "{error}"
    );
    let EntitySignal::DeleteEventsFailed { error, .. } =
        expect_signal!(signals, EntitySignal::DeleteEventsFailed { to: 2, .. })
    else {
        unreachable!()
    };
    assert!(
        matches!(&error, DeleteError::Store(JournalError::Storage(message)) if message.contains(INJECTED)),
        "{error}"
    );
    assert_eq!(balance(&entity), Ok(3), "the entity goes on");
    assert_eq!(storage.sequence_nrs("pruned"), [1, 2]);

    storage.journal.heal_deletes();
    storage.snapshots.heal_deletes();
    assert_eq!(deposit(&entity, 3), Ok(6));
    expect_signal!(signals, EntitySignal::DeleteSnapshotsCompleted(2));
    expect_signal!(signals, EntitySignal::DeleteEventsCompleted(3));
    assert!(
        storage.sequence_nrs("pruned").is_empty(),
        "the retry deleted what the failures left"
    );
    let kept = storage
        .snapshots
        .latest(&pid("pruned"))
        .expect("a snapshot");
    assert_eq!(kept.metadata.sequence_nr, 3);
    assert!(
        storage
            .snapshots
            .inner()
            .load(&pid("pruned"), SnapshotCriteria::up_to(2))
            .expect("readable")
            .is_none(),
        "the older snapshots are gone"
    );
    entity.tell(Command::Stop);
    assert_stops(&entity);
    let (behavior, _) = account("pruned", &storage.persistence);
    let entity = system.spawn(behavior, "pruned-again").expect("spawn");
    assert_eq!(balance(&entity), Ok(6));
    system.shutdown();
}

#[test]
fn commands_beyond_the_command_buffer_become_dead_letters() {
    let system = common::system("ef-buffer");
    let storage = Storage::new();
    let dead_letters = system.dead_letters().subscribe();
    let (behavior, _) = account("buffered", &storage.persistence);
    let entity = system
        .spawn(behavior.with_command_buffer(2), "buffered")
        .expect("spawn");
    assert_eq!(deposit(&entity, 1), Ok(1));
    let first = deposit_held_in_the_journal(&storage, &entity, 2);
    let kept = [
        entity.ask(|reply_to| Command::Deposit(3, reply_to)),
        entity.ask(|reply_to| Command::Deposit(4, reply_to)),
    ];
    let overflow = entity.ask(|reply_to| Command::Deposit(5, reply_to));
    let letter = wait_for_dead_letter(&dead_letters, |letter| {
        letter.reason == DeadLetterReason::CommandBufferFull
    });
    assert_eq!(letter.recipient, entity.path());
    storage.journal.release_writes();
    assert_eq!(first.wait(WAIT), Ok(3));
    let replies: Vec<_> = kept.into_iter().map(|pending| pending.wait(WAIT)).collect();
    assert_eq!(replies, [Ok(6), Ok(10)]);
    assert_eq!(overflow.wait(WAIT), Err(AskError::TargetStopped));
    assert_eq!(storage.deposits("buffered"), [1, 2, 3, 4]);
    system.shutdown();
}
