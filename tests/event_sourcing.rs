//! Event-sourced entities: the invariants of issue 3's points 4 and 5, one test each, on the
//! in-memory journal (the testkit's, to hold or fail writes on demand, or wrapped to corrupt
//! them).
//!
//! Slightly over 600 lines: one test per invariant of issue 3 over shared entity fixtures; split
//! them when a new group of invariants comes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, unbounded};
use reactant::persistence::memory::InMemorySnapshotStore;
use reactant::persistence::{
    AtomicWrite, Codec, CodecError, Effect, EntitySignal, Event, EventSourcedBehavior, Manifest,
    MessagePack, Persistence, PersistenceId, PersistentRepr, SnapshotCriteria,
};
use reactant::prelude::*;
use reactant::testkit::{TestJournal, WriteFault};
use serde::{Deserialize, Serialize, Serializer};

const WAIT: Duration = Duration::from_secs(5);

#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

/// Serializing it always fails: an event carrying it is rejected.
#[derive(Debug, Clone, Deserialize)]
struct Unserializable;

impl Serialize for Unserializable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be serialized",
        ))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum AccountEvent {
    Deposited { amount: u64 },
    Poisoned(Unserializable),
}

impl Event for AccountEvent {
    fn tags(&self) -> Vec<String> {
        vec!["account".into()]
    }
}

/// Names the effect type once, so closures in the handlers know the state.
type AccountEffect = Effect<AccountEvent, Account>;

enum Command {
    Deposit(u64, ActorRef<u64>),
    DepositBoth(u64, u64, ActorRef<u64>),
    Balance(ActorRef<u64>),
    Poison(ActorRef<u64>),
}

fn account(
    id: &str,
    persistence: &Arc<Persistence>,
    signals: Sender<EntitySignal>,
) -> EventSourcedBehavior<Command, AccountEvent, Account> {
    EventSourcedBehavior::new(
        PersistenceId::of("account", id),
        persistence.clone(),
        Account::default,
        |_state: &Account, command| match command {
            Command::Deposit(amount, reply_to) => {
                AccountEffect::persist(AccountEvent::Deposited { amount })
                    .then_reply_to(reply_to, |account| account.balance)
            }
            Command::DepositBoth(a, b, reply_to) => AccountEffect::persist_all([
                AccountEvent::Deposited { amount: a },
                AccountEvent::Deposited { amount: b },
            ])
            .then_reply_to(reply_to, |account| account.balance),
            Command::Balance(reply_to) => {
                AccountEffect::none().then_reply_to(reply_to, |account| account.balance)
            }
            Command::Poison(reply_to) => {
                AccountEffect::persist(AccountEvent::Poisoned(Unserializable))
                    .then_reply_to(reply_to, |account| account.balance)
            }
        },
        |state: &mut Account, event: &AccountEvent| {
            if let AccountEvent::Deposited { amount } = event {
                state.balance += amount;
            }
        },
    )
    .receive_signal(move |_state, signal| {
        let _ = signals.send(signal.clone());
    })
}

fn deposit(entity: &ActorRef<Command>, amount: u64) -> Result<u64, AskError> {
    entity
        .ask(|reply_to| Command::Deposit(amount, reply_to))
        .wait(WAIT)
}

fn balance(entity: &ActorRef<Command>) -> Result<u64, AskError> {
    entity.ask(Command::Balance).wait(WAIT)
}

fn next_signal(signals: &Receiver<EntitySignal>) -> EntitySignal {
    signals
        .recv_timeout(WAIT)
        .expect("the entity signals within the timeout")
}

/// The testkit's journal, whose writes the tests hold back or fail.
fn controlled() -> (Arc<TestJournal>, Arc<Persistence>) {
    let journal = Arc::new(TestJournal::new());
    let persistence = Persistence::new(journal.clone(), Arc::new(InMemorySnapshotStore::new()))
        .expect("persistence threads start");
    (journal, persistence)
}

#[test]
fn persisted_events_change_the_state_before_the_reply_is_computed() {
    let system = common::system("es-persist");
    let persistence = Persistence::in_memory().expect("persistence");
    let (signals, _) = unbounded();
    let entity = system
        .spawn(account("a", &persistence, signals), "a")
        .expect("spawn");
    assert_eq!(deposit(&entity, 10), Ok(10));
    assert_eq!(deposit(&entity, 5), Ok(15));
    assert_eq!(balance(&entity), Ok(15));
    let mut stored = Vec::new();
    persistence
        .journal()
        .replay(
            &PersistenceId::of("account", "a"),
            1,
            u64::MAX,
            u64::MAX,
            &mut |e| stored.push(e.sequence_nr),
        )
        .expect("replay");
    assert_eq!(stored, [1, 2], "sequence numbers are contiguous from 1");
    system.shutdown();
}

#[test]
fn commands_arriving_during_a_persist_are_handled_afterwards_in_order() {
    let system = common::system("es-stash");
    let (journal, persistence) = controlled();
    let (signals, signal_rx) = unbounded();
    let entity = system
        .spawn(account("b", &persistence, signals), "b")
        .expect("spawn");
    assert!(matches!(
        next_signal(&signal_rx),
        EntitySignal::RecoveryCompleted { .. }
    ));
    journal.hold_writes();
    let first = entity.ask(|reply_to| Command::Deposit(1, reply_to));
    let balance_meanwhile = entity.ask(Command::Balance);
    let second = entity.ask(|reply_to| Command::Deposit(2, reply_to));
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !balance_meanwhile.is_ready(),
        "a query waits while a persist is in flight"
    );
    journal.release_writes();
    assert_eq!(first.wait(WAIT), Ok(1));
    assert_eq!(
        balance_meanwhile.wait(WAIT),
        Ok(1),
        "handled after the persist, in order"
    );
    assert_eq!(second.wait(WAIT), Ok(3));
    system.shutdown();
}

#[test]
fn an_entity_recovers_its_state_from_the_journal() {
    let persistence = Persistence::in_memory().expect("persistence");
    {
        let system = common::system("es-first-life");
        let (signals, _) = unbounded();
        let entity = system
            .spawn(account("c", &persistence, signals), "c")
            .expect("spawn");
        assert_eq!(deposit(&entity, 1), Ok(1));
        assert_eq!(
            entity
                .ask(|reply_to| Command::DepositBoth(2, 3, reply_to))
                .wait(WAIT),
            Ok(6)
        );
        system.shutdown();
    }
    let system = common::system("es-second-life");
    let (signals, signal_rx) = unbounded();
    let entity = system
        .spawn(account("c", &persistence, signals), "c")
        .expect("spawn");
    assert_eq!(
        next_signal(&signal_rx),
        EntitySignal::RecoveryCompleted {
            highest_sequence_nr: 3
        }
    );
    assert_eq!(balance(&entity), Ok(6));
    assert_eq!(deposit(&entity, 4), Ok(10), "sequence numbers go on from 4");
    system.shutdown();
}

#[test]
fn recovery_completed_fires_for_a_new_entity_too() {
    let system = common::system("es-new");
    let persistence = Persistence::in_memory().expect("persistence");
    let (signals, signal_rx) = unbounded();
    let _entity = system
        .spawn(account("fresh", &persistence, signals), "fresh")
        .expect("spawn");
    assert_eq!(
        next_signal(&signal_rx),
        EntitySignal::RecoveryCompleted {
            highest_sequence_nr: 0
        }
    );
    system.shutdown();
}

#[test]
fn a_failed_write_leaves_the_state_unchanged_and_stops_the_entity() {
    let system = common::system("es-fail");
    let (journal, persistence) = controlled();
    let (signals, signal_rx) = unbounded();
    let entity = system
        .spawn(account("d", &persistence, signals), "d")
        .expect("spawn");
    assert_eq!(deposit(&entity, 7), Ok(7));
    journal.fail_writes(WriteFault::Fail);
    assert!(
        deposit(&entity, 1).is_err(),
        "no reply for events that were not stored"
    );
    let failed = signal_rx
        .iter()
        .find(|signal| matches!(signal, EntitySignal::PersistFailed(_)));
    assert!(failed.is_some());
    assert!(common::eventually(|| entity.is_terminated()));
    assert_eq!(
        persistence
            .journal()
            .highest_sequence_nr(&PersistenceId::of("account", "d"))
            .expect("readable"),
        1
    );
    system.shutdown();
}

#[test]
fn a_restarted_entity_recovers_after_a_failed_write() {
    let system = common::system("es-restart");
    let (journal, persistence) = controlled();
    let (signals, _) = unbounded();
    let entity = system
        .spawn(
            Behaviors::supervise(account("e", &persistence, signals).into_behavior())
                .on_failure(SupervisorStrategy::restart()),
            "e",
        )
        .expect("spawn");
    assert_eq!(deposit(&entity, 7), Ok(7));
    journal.fail_writes(WriteFault::Fail);
    assert!(deposit(&entity, 100).is_err());
    journal.heal_writes();
    assert_eq!(
        balance(&entity),
        Ok(7),
        "the failed deposit never reached the state"
    );
    assert_eq!(deposit(&entity, 1), Ok(8));
    system.shutdown();
}

#[test]
fn a_rejected_event_is_reported_and_the_entity_keeps_its_state() {
    let system = common::system("es-reject");
    let persistence = Persistence::in_memory().expect("persistence");
    let (signals, signal_rx) = unbounded();
    let entity = system
        .spawn(account("f", &persistence, signals), "f")
        .expect("spawn");
    assert_eq!(deposit(&entity, 3), Ok(3));
    assert!(entity.ask(Command::Poison).wait(WAIT).is_err());
    let rejected = signal_rx
        .iter()
        .find(|signal| matches!(signal, EntitySignal::PersistRejected(_)));
    assert!(
        matches!(rejected, Some(EntitySignal::PersistRejected(reason)) if reason.to_string().contains("refuses"))
    );
    assert_eq!(balance(&entity), Ok(3));
    assert_eq!(deposit(&entity, 1), Ok(4), "the entity keeps running");
    system.shutdown();
}

#[test]
fn a_corrupt_record_fails_recovery_naming_the_persistence_id_and_sequence_number() {
    let system = common::system("es-corrupt");
    let persistence = Persistence::in_memory().expect("persistence");
    let id = PersistenceId::of("account", "g");
    let record = |sequence_nr, payload: Vec<u8>| PersistentRepr {
        persistence_id: id.clone(),
        sequence_nr,
        manifest: AccountEvent::manifest(),
        payload,
        tags: Vec::new(),
        writer_id: "test".into(),
        timestamp_ms: 0,
        offset: 0,
    };
    let good = rmp_serde::to_vec_named(&AccountEvent::Deposited { amount: 1 }).expect("encodes");
    // Written behind the entity's back: one good record, then garbage.
    let results = persistence
        .journal()
        .write(&[
            AtomicWrite {
                events: vec![record(1, good)],
            },
            AtomicWrite {
                events: vec![record(2, vec![0xc1, 0xff, 0x00])],
            },
        ])
        .expect("written");
    assert!(results.iter().all(Result::is_ok));
    let (signals, signal_rx) = unbounded();
    let entity = system
        .spawn(account("g", &persistence, signals), "g")
        .expect("spawn");
    match next_signal(&signal_rx) {
        EntitySignal::RecoveryFailed(error) => {
            assert_eq!(error.persistence_id, id);
            assert_eq!(error.sequence_nr, 2);
            assert!(error.to_string().contains("account|g"), "{error}");
        }
        other => panic!("expected RecoveryFailed, got {other:?}"),
    }
    assert!(
        common::eventually(|| entity.is_terminated()),
        "it never runs partly recovered"
    );
    system.shutdown();
}

#[test]
fn an_unknown_manifest_fails_recovery() {
    let system = common::system("es-manifest");
    let persistence = Persistence::in_memory().expect("persistence");
    let payload = rmp_serde::to_vec_named(&AccountEvent::Deposited { amount: 1 }).expect("encodes");
    persistence
        .journal()
        .write(&[AtomicWrite {
            events: vec![PersistentRepr {
                persistence_id: PersistenceId::of("account", "h"),
                sequence_nr: 1,
                manifest: Manifest::new("AccountEvent", 9),
                payload,
                tags: Vec::new(),
                writer_id: "newer-program".into(),
                timestamp_ms: 0,
                offset: 0,
            }],
        }])
        .expect("written");
    let (signals, signal_rx) = unbounded();
    let _entity = system
        .spawn(account("h", &persistence, signals), "h")
        .expect("spawn");
    match next_signal(&signal_rx) {
        EntitySignal::RecoveryFailed(error) => {
            assert_eq!(error.sequence_nr, 1);
            assert!(
                error.cause.to_string().contains("unknown manifest"),
                "{error}"
            );
        }
        other => panic!("expected RecoveryFailed, got {other:?}"),
    }
    system.shutdown();
}

#[test]
fn recovery_starts_from_the_newest_snapshot() {
    let persistence = Persistence::in_memory().expect("persistence");
    let id = PersistenceId::of("account", "i");
    {
        let system = common::system("es-snap-1");
        let (signals, signal_rx) = unbounded();
        let entity = system
            .spawn(
                account("i", &persistence, signals)
                    .with_snapshot_every(2, 1)
                    .with_delete_events_on_snapshot(true),
                "i",
            )
            .expect("spawn");
        for amount in 1..=5 {
            deposit(&entity, amount).expect("deposit");
        }
        // Snapshots at 2 and 4; the second replaces the first and covers events 1-4. The
        // deletions run after `SnapshotCompleted` (on the stream's reader), and each reports
        // its own signal: wait for those before looking at the stores.
        let mut completed = Vec::new();
        let mut snapshots_deleted_to = None;
        let mut events_deleted_to = None;
        while completed.len() < 2 || snapshots_deleted_to != Some(3) || events_deleted_to != Some(4)
        {
            match signal_rx
                .recv_timeout(common::WAIT)
                .expect("the next signal")
            {
                EntitySignal::SnapshotCompleted(seq) => completed.push(seq),
                EntitySignal::DeleteSnapshotsCompleted(to) => snapshots_deleted_to = Some(to),
                EntitySignal::DeleteEventsCompleted(to) => events_deleted_to = Some(to),
                _ => {}
            }
        }
        assert_eq!(completed, [2, 4]);
        system.shutdown();
    }
    let snapshot = persistence
        .snapshot_store()
        .load(&id, SnapshotCriteria::LATEST)
        .expect("readable")
        .expect("a snapshot");
    assert_eq!(snapshot.metadata.sequence_nr, 4);
    assert!(
        persistence
            .snapshot_store()
            .load(&id, SnapshotCriteria::up_to(3))
            .expect("readable")
            .is_none(),
        "only the newest snapshot is kept"
    );
    let mut remaining = Vec::new();
    persistence
        .journal()
        .replay(&id, 1, u64::MAX, u64::MAX, &mut |e| {
            remaining.push(e.sequence_nr)
        })
        .expect("replay");
    assert_eq!(
        remaining,
        [5],
        "events covered by the snapshot were deleted"
    );

    let system = common::system("es-snap-2");
    let (signals, _) = unbounded();
    let entity = system
        .spawn(account("i", &persistence, signals), "i")
        .expect("spawn");
    assert_eq!(balance(&entity), Ok(15), "snapshot (10) + event 5");
    assert_eq!(deposit(&entity, 1), Ok(16));
    system.shutdown();
}

/// MessagePack behind a two-byte mark: what it wrote is recognisable, and what it did not
/// write does not decode.
struct Marked;

const MARK: &[u8] = b"K1";

impl Codec for Marked {
    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        let mut bytes = MARK.to_vec();
        bytes.extend(MessagePack.encode(value)?);
        Ok(bytes)
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        manifest: &Manifest,
        bytes: &[u8],
    ) -> Result<T, CodecError> {
        match bytes.strip_prefix(MARK) {
            Some(rest) => MessagePack.decode(manifest, rest),
            None => Err(CodecError::Decode {
                manifest_type: manifest.type_name.to_string(),
                version: manifest.version,
                detail: "not written by the Marked codec".into(),
            }),
        }
    }
}

#[test]
fn an_entity_stores_its_events_and_snapshots_with_the_codec_it_is_given() {
    let persistence = Persistence::in_memory().expect("persistence");
    let id = PersistenceId::of("account", "k");
    {
        let system = common::system("es-codec-1");
        let (signals, signal_rx) = unbounded();
        let entity = system
            .spawn(
                account("k", &persistence, signals)
                    .with_codec(Marked)
                    .with_snapshot_every(2, 1),
                "k",
            )
            .expect("spawn");
        for amount in 1..=3 {
            deposit(&entity, amount).expect("deposit");
        }
        assert!(
            signal_rx
                .iter()
                .any(|signal| signal == EntitySignal::SnapshotCompleted(2))
        );
        system.shutdown();
    }
    let mut payloads = Vec::new();
    persistence
        .journal()
        .replay(&id, 1, u64::MAX, u64::MAX, &mut |e| {
            payloads.push(e.payload)
        })
        .expect("replay");
    assert_eq!(payloads.len(), 3);
    assert!(payloads.iter().all(|payload| payload.starts_with(MARK)));
    let snapshot = persistence
        .snapshot_store()
        .load(&id, SnapshotCriteria::LATEST)
        .expect("readable")
        .expect("a snapshot");
    assert!(snapshot.payload.starts_with(MARK));

    // The same codec recovers the entity (snapshot at 2, then event 3)...
    let system = common::system("es-codec-2");
    let (signals, _) = unbounded();
    let entity = system
        .spawn(account("k", &persistence, signals).with_codec(Marked), "k")
        .expect("spawn");
    assert_eq!(balance(&entity), Ok(6));
    system.shutdown();
    // ...and the default codec cannot read what it wrote: recovery fails, naming the record.
    let system = common::system("es-codec-3");
    let (signals, signal_rx) = unbounded();
    let _entity = system
        .spawn(account("k", &persistence, signals), "k")
        .expect("spawn");
    match next_signal(&signal_rx) {
        EntitySignal::RecoveryFailed(error) => {
            assert_eq!(error.persistence_id, id);
            assert_eq!(error.sequence_nr, 2, "the snapshot's sequence number");
        }
        other => panic!("expected RecoveryFailed, got {other:?}"),
    }
    system.shutdown();
}

#[derive(Default, Serialize, Deserialize)]
struct Door {
    locked: bool,
    entered: Vec<String>,
}

#[derive(Serialize, Deserialize)]
enum DoorEvent {
    Locked,
    Unlocked,
    Entered(String),
}

impl Event for DoorEvent {}

enum DoorCommand {
    Lock,
    Unlock,
    Enter(String, ActorRef<Vec<String>>),
}

type DoorEffect = Effect<DoorEvent, Door>;

#[test]
fn stashed_commands_are_handled_after_unstash_all_in_order() {
    let system = common::system("es-door");
    let persistence = Persistence::in_memory().expect("persistence");
    let door = system
        .spawn(
            EventSourcedBehavior::new(
                PersistenceId::of("door", "1"),
                persistence,
                Door::default,
                |door: &Door, command| match command {
                    DoorCommand::Lock => DoorEffect::persist(DoorEvent::Locked),
                    DoorCommand::Unlock => {
                        DoorEffect::persist(DoorEvent::Unlocked).then_unstash_all()
                    }
                    enter @ DoorCommand::Enter(..) if door.locked => DoorEffect::stash(enter),
                    DoorCommand::Enter(who, reply_to) => {
                        DoorEffect::persist(DoorEvent::Entered(who))
                            .then_reply_to(reply_to, |door| door.entered.clone())
                    }
                },
                |door: &mut Door, event: &DoorEvent| match event {
                    DoorEvent::Locked => door.locked = true,
                    DoorEvent::Unlocked => door.locked = false,
                    DoorEvent::Entered(who) => door.entered.push(who.clone()),
                },
            ),
            "door",
        )
        .expect("spawn");
    door.tell(DoorCommand::Lock);
    let ann = door.ask(|r| DoorCommand::Enter("ann".into(), r));
    let bob = door.ask(|r| DoorCommand::Enter("bob".into(), r));
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !ann.is_ready() && !bob.is_ready(),
        "nobody enters a locked door"
    );
    door.tell(DoorCommand::Unlock);
    assert_eq!(ann.wait(WAIT), Ok(vec!["ann".to_owned()]));
    assert_eq!(bob.wait(WAIT), Ok(vec!["ann".to_owned(), "bob".to_owned()]));
    system.shutdown();
}
