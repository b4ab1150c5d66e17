//! The crash test of issue 3: a child process runs event-sourced entities on a RocksDB
//! journal and prints an acknowledgement after each reply; this test kills it with SIGKILL at
//! random moments, starts it again, and checks after every round that
//!
//! - every acknowledged event is in the journal,
//! - each stream's sequence numbers are contiguous from 1,
//! - no part of an atomic write is visible without the rest,
//! - the state each entity recovers equals the fold of its events.
//!
//! 20 rounds by default; set `REACTANT_CRASH_ROUNDS` for more.
#![cfg(feature = "rocksdb")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reactant::persistence::rocksdb::RocksJournal;
use reactant::persistence::{
    Effect, EntitySignal, Event, EventSourcedBehavior, Journal, Persistence, PersistenceId,
};
use reactant::prelude::*;
use serde::{Deserialize, Serialize};

const CHILD_ENV: &str = "REACTANT_CRASH_CHILD";
const ENTITIES: u64 = 6;

#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tally {
    total: u64,
    events: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Added {
    amount: u64,
    /// Events written together carry the same batch id and their count.
    batch: u64,
    of: u64,
}

impl Event for Added {}

type TallyEffect = Effect<Added, Tally>;

enum Add {
    One(u64, u64, ActorRef<(u64, u64)>),
    Three(u64, u64, ActorRef<(u64, u64)>),
}

fn fold(tally: &mut Tally, event: &Added) {
    tally.total += event.amount;
    tally.events += 1;
}

fn tally(id: u64, persistence: &Arc<Persistence>) -> EventSourcedBehavior<Add, Added, Tally> {
    EventSourcedBehavior::new(
        PersistenceId::of("tally", &id.to_string()),
        persistence.clone(),
        Tally::default,
        |_state: &Tally, command| match command {
            Add::One(amount, batch, reply_to) => TallyEffect::persist(Added {
                amount,
                batch,
                of: 1,
            })
            .then_reply_to(reply_to, |t| (t.events, t.total)),
            Add::Three(amount, batch, reply_to) => {
                TallyEffect::persist_all((0..3).map(|_| Added {
                    amount,
                    batch,
                    of: 3,
                }))
                .then_reply_to(reply_to, |t| (t.events, t.total))
            }
        },
        fold,
    )
    .receive_signal(move |state, signal| {
        if let EntitySignal::RecoveryCompleted { .. } = signal {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "recovered {id} {} {}", state.events, state.total);
            let _ = out.flush();
        }
    })
}

/// The child's side: runs until killed.
fn run_child(folder: &Path) -> ! {
    let journal = RocksJournal::open(folder).expect("the child opens the journal");
    let persistence =
        Persistence::new(journal.clone(), journal).expect("persistence threads start");
    let system = ActorSystem::builder()
        .name("crash-child")
        .threads(2)
        .build()
        .expect("system");
    let entities: Vec<ActorRef<Add>> = (0..ENTITIES)
        .map(|id| {
            system
                .spawn(tally(id, &persistence), &format!("tally-{id}"))
                .expect("spawn")
        })
        .collect();
    let senders: Vec<_> = entities
        .into_iter()
        .enumerate()
        .map(|(index, entity)| {
            std::thread::spawn(move || {
                let mut batch = (std::process::id() as u64) << 32 | (index as u64) << 24;
                loop {
                    batch += 1;
                    let amount = batch % 97 + 1;
                    let reply = if batch.is_multiple_of(3) {
                        entity.ask(|r| Add::Three(amount, batch, r))
                    } else {
                        entity.ask(|r| Add::One(amount, batch, r))
                    };
                    if let Ok((events, total)) = reply.wait(Duration::from_secs(30)) {
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "ack {index} {events} {total}");
                        let _ = out.flush();
                    }
                }
            })
        })
        .collect();
    for sender in senders {
        let _ = sender.join();
    }
    std::process::exit(0)
}

/// The child's entry point: a test that does nothing unless the crash test started it.
#[test]
fn crash_child_entry() {
    if let Ok(folder) = std::env::var(CHILD_ENV) {
        run_child(Path::new(&folder));
    }
}

/// A pseudo-random number for kill delays (no dependency needed for this).
fn jitter(round: u64, modulo: u64) -> u64 {
    let nanos = Instant::now().elapsed().as_nanos() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
    (nanos ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15)) % modulo
}

#[test]
fn acknowledged_events_survive_sigkill_and_recovery_matches_the_journal() {
    let rounds: u64 = std::env::var("REACTANT_CRASH_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20);
    let folder = tempfile::tempdir().expect("a temporary folder");
    let mut acked: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut expected_recovery: Option<HashMap<u64, (u64, u64)>> = None;
    let mut total_acks = 0u64;
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "--exact",
                "crash_child_entry",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, folder.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the child starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        // Let it recover and write for a while, then kill it mid-flight.
        std::thread::sleep(Duration::from_millis(150 + jitter(round, 250)));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let lines = reader.join().expect("reader");

        let mut recovered = HashMap::new();
        for line in &lines {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                ["recovered", id, events, total] => {
                    recovered.insert(
                        id.parse::<u64>().expect("id"),
                        (
                            events.parse().expect("events"),
                            total.parse().expect("total"),
                        ),
                    );
                }
                ["ack", id, events, total] => {
                    let ack = (
                        events.parse::<u64>().expect("events"),
                        total.parse::<u64>().expect("total"),
                    );
                    let entry = acked.entry(id.parse().expect("id")).or_default();
                    if ack.0 > entry.0 {
                        *entry = ack;
                    }
                    total_acks += 1;
                }
                _ => {}
            }
        }
        if let Some(expected) = &expected_recovery {
            for (id, state) in &recovered {
                assert_eq!(
                    expected.get(id).copied().unwrap_or((0, 0)),
                    *state,
                    "round {round}: entity {id} recovered a state that is not the fold of its journal"
                );
            }
        }

        // Read the journal as the next incarnation will.
        let journal = RocksJournal::open(folder.path()).expect("the journal reopens after SIGKILL");
        let mut folded = HashMap::new();
        for id in 0..ENTITIES {
            let pid = PersistenceId::of("tally", &id.to_string());
            let mut events = Vec::new();
            let highest = journal
                .replay(&pid, 1, u64::MAX, u64::MAX, &mut |e| events.push(e))
                .expect("replay");
            let sequence: Vec<u64> = events.iter().map(|e| e.sequence_nr).collect();
            assert_eq!(
                sequence,
                (1..=highest).collect::<Vec<_>>(),
                "round {round}: stream {pid} is not contiguous from 1"
            );
            let mut state = Tally::default();
            let mut batches: HashMap<u64, (u64, u64)> = HashMap::new();
            for repr in &events {
                let event: Added = rmp_serde::from_slice(&repr.payload).expect("decodes");
                let seen = batches.entry(event.batch).or_insert((0, event.of));
                seen.0 += 1;
                fold(&mut state, &event);
            }
            for (batch, (seen, of)) in batches {
                assert_eq!(
                    seen, of,
                    "round {round}: atomic write {batch} of {pid} is partly visible"
                );
            }
            if let Some((events, total)) = acked.get(&id) {
                assert!(
                    state.events >= *events,
                    "round {round}: {pid} lost acknowledged events ({} stored, {events} acknowledged)",
                    state.events
                );
                assert!(state.total >= *total);
            }
            folded.insert(id, (state.events, state.total));
        }
        drop(journal);
        expected_recovery = Some(folded);
    }
    assert!(total_acks > 0, "the child never acknowledged anything");
    eprintln!("{rounds} rounds killed with SIGKILL, {total_acks} acknowledged writes checked");
}
