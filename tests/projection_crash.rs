//! Exactly-once projections under SIGKILL (issue 18): a child process — this test binary
//! started again with [`CHILD_FOLDER`] set — writes events to a RocksDB journal without pause
//! while an exactly-once projection and a grouped one fold them into read-model tables of
//! the same database; the parent kills it at a random moment, round after round. After each
//! kill the read model must equal the fold of the events up to the projection's stored
//! offset (the writes and the offset committed together, or neither); at the end, a
//! projection run to the journal's head must equal the fold of the whole journal, so no event
//! was counted twice or lost across all the crashes.
#![cfg(feature = "rocksdb")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reactant::persistence::rocksdb::{Durability, RocksConfig, RocksJournal};
use reactant::persistence::{
    AtomicWrite, Codec, Effect, Entity, Event, Journal, MessagePack, Persistence, PersistenceId,
    PersistentRepr,
};
use reactant::prelude::*;
use reactant::projection::{Projection, ProjectionId, ProjectionRef, ReadStore, Source, Table};
use reactant::query::Offset;
use serde::{Deserialize, Serialize};

/// The journal folder of a child process; set only in the child.
const CHILD_FOLDER: &str = "REACTANT_PROJECTION_CRASH_FOLDER";
/// Rounds of start, write and kill (`REACTANT_PROJECTION_CRASH_ROUNDS` overrides).
const ROUNDS: u32 = 50;
const ENTITIES: u64 = 16;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

impl Event for Deposited {
    fn tags(&self) -> Vec<String> {
        vec!["crash".to_owned()]
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Account;

impl Entity for Account {
    const TYPE_KEY: &'static str = "account";
    type Event = Deposited;
    type Command = ();
    fn apply(&mut self, _: &Deposited) {}
    fn handle_command(&self, (): ()) -> Effect<Deposited, Self> {
        Effect::none()
    }
}

/// Per entity: (events, sum of amounts).
type Totals = BTreeMap<String, (u64, u64)>;

fn open(folder: &Path) -> (Arc<RocksJournal>, Arc<Persistence>, ReadStore) {
    let journal = RocksJournal::open_with(
        folder,
        RocksConfig {
            durability: Durability::Buffered,
        },
    )
    .expect("the journal opens");
    let persistence = Persistence::new(journal.clone(), journal.clone()).expect("a persistence");
    let store = ReadStore::open(&journal).expect("the read store opens");
    (journal, persistence, store)
}

/// A projection's id and its table of totals.
type TotalsOf = (ProjectionId, Table<String, (u64, u64)>);

fn tables(store: &ReadStore) -> [TotalsOf; 2] {
    [
        (ProjectionId::new("totals", "all"), store.table("totals")),
        (
            ProjectionId::new("grouped-totals", "all"),
            store.table("grouped-totals"),
        ),
    ]
}

/// Both projections, folding deposits into their tables.
fn run_projections(
    system: &ActorSystem,
    persistence: &Arc<Persistence>,
    store: &ReadStore,
) -> Vec<ProjectionRef> {
    let [(single_id, single), (grouped_id, grouped)] = tables(store);
    let source = || Source::events_by_tag::<Account>(persistence, "crash");
    let backoff = |p: Projection<Deposited>| {
        p.with_restart_backoff(Duration::from_millis(10), Duration::from_millis(100), 0.0)
    };
    let exactly_once = backoff(Projection::exactly_once(
        single_id,
        source(),
        store,
        move |tx, env| {
            let entity = env.persistence_id.to_string();
            tx.update(&single, &entity, |t| {
                let (count, sum) = t.unwrap_or_default();
                Some((count + 1, sum + env.event.amount))
            })?;
            Ok(())
        },
    ))
    .run(system)
    .expect("the projection starts");
    let grouped = backoff(Projection::grouped(
        grouped_id,
        source(),
        store,
        move |tx, envs| {
            for env in envs {
                let entity = env.persistence_id.to_string();
                tx.update(&grouped, &entity, |t| {
                    let (count, sum) = t.unwrap_or_default();
                    Some((count + 1, sum + env.event.amount))
                })?;
            }
            Ok(())
        },
    ))
    .group_within(20, Duration::from_millis(5))
    .run(system)
    .expect("the projection starts");
    vec![exactly_once, grouped]
}

/// The child: starts the projections and a writer of deposits, says `projecting` once both
/// projections have gone past the offsets they started from, then goes on until killed.
#[test]
fn child_entry() {
    let Some(folder) = std::env::var_os(CHILD_FOLDER) else {
        return;
    };
    let (journal, persistence, store) = open(Path::new(&folder));
    let system = ActorSystem::builder()
        .name("child")
        .threads(2)
        .build()
        .unwrap();
    let started: Vec<u64> = tables(&store)
        .iter()
        .map(|(id, _)| store.offset(id).unwrap().unwrap_or(0))
        .collect();
    let projections = run_projections(&system, &persistence, &store);
    std::thread::spawn(move || write_deposits(&journal));
    while projections
        .iter()
        .zip(&started)
        .any(|(projection, &from)| projection.status().unwrap().offset.unwrap_or(0) <= from)
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "projecting");
    let _ = out.flush();
    loop {
        std::thread::park();
    }
}

/// Writes deposits of random entities, one to three per atomic write, until killed.
fn write_deposits(journal: &RocksJournal) {
    loop {
        let entity = PersistenceId::of("account", &format!("a-{}", fastrand::u64(..ENTITIES)));
        let first = journal.highest_sequence_nr(&entity).unwrap() + 1;
        let events = (0..fastrand::u64(1..=3))
            .map(|n| {
                let event = Deposited {
                    amount: fastrand::u64(1..1_000),
                };
                PersistentRepr {
                    persistence_id: entity.clone(),
                    sequence_nr: first + n,
                    manifest: <Deposited as Event>::manifest(),
                    payload: MessagePack.encode(&event).unwrap(),
                    tags: event.tags(),
                    writer_id: "child".into(),
                    timestamp_ms: 0,
                    offset: 0,
                }
            })
            .collect();
        let written = journal.write(&[AtomicWrite { events }]).unwrap();
        assert!(written[0].is_ok());
        // A pace the projections keep up with, so that the kills find them at work rather
        // than far behind, and the journal stays small enough to fold after every round.
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The fold of the journal's deposits up to `offset` (inclusive).
fn fold(persistence: &Arc<Persistence>, offset: u64) -> Totals {
    let mut totals = Totals::new();
    for envelope in persistence
        .query()
        .current_events_by_tag::<Account>("crash", Offset::Start)
    {
        let envelope = envelope.expect("every event reads");
        if envelope.offset > offset {
            break;
        }
        let entry = totals
            .entry(envelope.persistence_id.to_string())
            .or_default();
        entry.0 += 1;
        entry.1 += envelope.event.amount;
    }
    totals
}

/// Checks each table against the fold up to its projection's stored offset.
fn check_consistent(persistence: &Arc<Persistence>, store: &ReadStore, round: u32) {
    for (id, table) in tables(store) {
        // The table and the offset at one point in time.
        let (rows, offset) = store
            .read(|view| (view.range(&table, ..).unwrap(), view.offset(&id).unwrap()))
            .unwrap();
        let offset = offset.unwrap_or(0);
        let rows: Totals = rows.into_iter().collect();
        assert_eq!(
            rows,
            fold(persistence, offset),
            "round {round}: {id} at offset {offset} is not the fold of the events up to it"
        );
    }
}

#[test]
fn an_exactly_once_read_model_equals_the_fold_of_the_journal_after_many_sigkills() {
    let rounds = std::env::var("REACTANT_PROJECTION_CRASH_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(ROUNDS);
    let folder = tempfile::tempdir().unwrap();
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_entry",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env(CHILD_FOLDER, folder.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the child starts");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let projecting = lines
            .map_while(Result::ok)
            .find(|line| line.ends_with("projecting"));
        assert!(
            projecting.is_some(),
            "round {round}: the child ended before its projections moved"
        );
        // Somewhere in the next 30 ms of writing and projecting.
        std::thread::sleep(Duration::from_micros(fastrand::u64(0..30_000)));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let (_journal, persistence, store) = open(folder.path());
        check_consistent(&persistence, &store, round);
    }
    // Caught up once more, uninterrupted: the read model is the fold of the whole journal.
    let (journal, persistence, store) = open(folder.path());
    let system = ActorSystem::builder()
        .name("final")
        .threads(2)
        .build()
        .unwrap();
    let projections = run_projections(&system, &persistence, &store);
    let head = journal.last_offset();
    let deadline = Instant::now() + Duration::from_secs(60);
    for projection in &projections {
        while projection.status().unwrap().offset != Some(head) {
            assert!(Instant::now() < deadline, "{:?}", projection.status());
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    system.shutdown();
    let all = fold(&persistence, u64::MAX);
    eprintln!("{rounds} rounds, {head} events");
    assert_eq!(all.values().map(|(count, _)| count).sum::<u64>(), head);
    for (id, table) in tables(&store) {
        let rows: Totals = table.all().unwrap().into_iter().collect();
        assert_eq!(rows, all, "{id} is not the fold of the whole journal");
    }
}
