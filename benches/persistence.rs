//! The persistence benches of issue 3, each beside raw RocksDB doing the same writes in the same
//! run: events persisted per second by 1, 100 and 10,000 entities writing concurrently under
//! `Sync` and `Buffered` durability; persist-to-reply latency at low load beside one synced
//! single-event write; and recovery speed beside a raw prefix scan.
//!
//! `cargo bench --bench persistence` (needs the default `rocksdb` feature). Set
//! `REACTANT_BENCH_EVENTS` to change the events per throughput run (default 200,000).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reactant::persistence::rocksdb::{Durability, RocksConfig, RocksJournal};
use reactant::persistence::{Effect, Event, EventSourcedBehavior, Persistence, PersistenceId};
use reactant::prelude::*;
use rocksdb::{DB, Options, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

const TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    value: u64,
}

#[derive(Serialize, Deserialize)]
struct Incremented {
    by: u64,
}

impl Event for Incremented {}

enum Command {
    /// Persist one event; count it once durable.
    Increment,
    /// Persist one event and reply once durable.
    IncrementAndReply(ActorRef<u64>),
    /// Reply with the value (after recovery).
    Get(ActorRef<u64>),
}

type CounterEffect = Effect<Incremented, Counter>;

fn counter(
    id: u64,
    persistence: &Arc<Persistence>,
    done: Arc<AtomicU64>,
) -> EventSourcedBehavior<Command, Incremented, Counter> {
    EventSourcedBehavior::new(
        PersistenceId::of("counter", &id.to_string()),
        persistence.clone(),
        Counter::default,
        move |_state: &Counter, command| match command {
            Command::Increment => {
                let done = done.clone();
                CounterEffect::persist(Incremented { by: 1 }).then_run(move |_| {
                    done.fetch_add(1, Ordering::Relaxed);
                })
            }
            Command::IncrementAndReply(reply_to) => CounterEffect::persist(Incremented { by: 1 })
                .then_reply_to(reply_to, |state| state.value),
            Command::Get(reply_to) => {
                CounterEffect::none().then_reply_to(reply_to, |state| state.value)
            }
        },
        |state: &mut Counter, event: &Incremented| state.value += event.by,
    )
}

fn events_per_run() -> u64 {
    std::env::var("REACTANT_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

/// Events/s with `entities` entities each persisting its share, all at once; and the average
/// batch the writer formed.
fn reactant_throughput(entities: u64, durability: Durability, total: u64) -> (f64, f64) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let journal =
        RocksJournal::open_with(folder.path(), RocksConfig { durability }).expect("journal");
    let persistence = Persistence::new(journal.clone(), journal).expect("persistence");
    let system = ActorSystem::builder()
        .name("bench")
        .threads(2)
        .build()
        .expect("system");
    let done = Arc::new(AtomicU64::new(0));
    let refs: Vec<ActorRef<Command>> = (0..entities)
        .map(|id| {
            system
                .spawn_anonymous(counter(id, &persistence, done.clone()))
                .expect("spawn")
        })
        .collect();
    // Every entity recovered (empty) before the clock starts.
    for entity in &refs {
        entity.ask(Command::Get).wait(TIMEOUT).expect("recovered");
    }
    let per_entity = (total / entities).max(1);
    let total = per_entity * entities;
    let start = Instant::now();
    for _ in 0..per_entity {
        for entity in &refs {
            entity.tell(Command::Increment);
        }
    }
    while done.load(Ordering::Relaxed) < total {
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = start.elapsed();
    let stats = persistence.writer_stats();
    let batch = stats.events as f64 / stats.batches.max(1) as f64;
    system.shutdown();
    (total as f64 / elapsed.as_secs_f64(), batch)
}

/// Raw RocksDB: the same number of events of about the same size, in WriteBatches of `batch`
/// events, with the same sync setting.
fn raw_throughput(batch: usize, sync: bool, total: u64) -> f64 {
    let folder = tempfile::tempdir().expect("temporary folder");
    let mut options = Options::default();
    options.create_if_missing(true);
    let db = DB::open(&options, folder.path()).expect("raw db");
    let mut write_options = WriteOptions::default();
    write_options.set_sync(sync);
    // Key: persistence id + sequence number; value: a record of the size ours take.
    let value = vec![0xa5u8; 64];
    let start = Instant::now();
    let mut written = 0u64;
    while written < total {
        let mut write = WriteBatch::default();
        for _ in 0..batch.max(1) {
            let mut key = b"counter|1234\0".to_vec();
            key.extend_from_slice(&written.to_be_bytes());
            write.put(&key, &value);
            written += 1;
        }
        db.write_opt(write, &write_options).expect("raw write");
    }
    written as f64 / start.elapsed().as_secs_f64()
}

/// Persist-to-reply latency of one entity asked sequentially (p50, p99), and raw single-event
/// synced writes (p50).
fn latency(samples: usize) -> (Duration, Duration, Duration) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let journal = RocksJournal::open(folder.path()).expect("journal");
    let persistence = Persistence::new(journal.clone(), journal).expect("persistence");
    let system = ActorSystem::builder()
        .name("latency")
        .threads(2)
        .build()
        .expect("system");
    let entity = system
        .spawn_anonymous(counter(0, &persistence, Arc::new(AtomicU64::new(0))))
        .expect("spawn");
    entity.ask(Command::Get).wait(TIMEOUT).expect("recovered");
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            entity
                .ask(Command::IncrementAndReply)
                .wait(TIMEOUT)
                .expect("persisted");
            start.elapsed()
        })
        .collect();
    system.shutdown();
    times.sort_unstable();

    let raw_folder = tempfile::tempdir().expect("temporary folder");
    let mut options = Options::default();
    options.create_if_missing(true);
    let db = DB::open(&options, raw_folder.path()).expect("raw db");
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    let mut raw: Vec<Duration> = (0..samples as u64)
        .map(|i| {
            let start = Instant::now();
            db.put_opt(i.to_be_bytes(), [0u8; 64], &sync)
                .expect("raw put");
            start.elapsed()
        })
        .collect();
    raw.sort_unstable();
    (
        times[samples / 2],
        times[samples * 99 / 100],
        raw[samples / 2],
    )
}

/// Events/s replayed into a recovering entity, and a raw prefix scan of the same stream.
fn recovery(events: u64) -> (f64, f64) {
    let folder = tempfile::tempdir().expect("temporary folder");
    {
        let journal = RocksJournal::open_with(
            folder.path(),
            RocksConfig {
                durability: Durability::Buffered,
            },
        )
        .expect("journal");
        let persistence = Persistence::new(journal.clone(), journal).expect("persistence");
        let system = ActorSystem::builder()
            .name("fill")
            .threads(2)
            .build()
            .expect("system");
        let done = Arc::new(AtomicU64::new(0));
        let entity = system
            .spawn_anonymous(counter(7, &persistence, done.clone()))
            .expect("spawn");
        for _ in 0..events {
            entity.tell(Command::Increment);
        }
        while done.load(Ordering::Relaxed) < events {
            std::thread::sleep(Duration::from_millis(1));
        }
        system.shutdown();
    }
    let journal = RocksJournal::open(folder.path()).expect("journal");
    let persistence = Persistence::new(journal.clone(), journal.clone()).expect("persistence");
    let system = ActorSystem::builder()
        .name("recover")
        .threads(2)
        .build()
        .expect("system");
    let start = Instant::now();
    let entity = system
        .spawn_anonymous(counter(7, &persistence, Arc::new(AtomicU64::new(0))))
        .expect("spawn");
    let value = entity.ask(Command::Get).wait(TIMEOUT).expect("recovered");
    let recovered = start.elapsed();
    assert_eq!(value, events, "every event recovered");
    system.shutdown();
    drop(persistence);
    drop(journal);

    let options = Options::default();
    let cfs = DB::list_cf(&options, folder.path()).expect("column families");
    let db = DB::open_cf_for_read_only(&options, folder.path(), cfs, false).expect("raw open");
    let events_cf = db.cf_handle("events").expect("events column family");
    let start = Instant::now();
    let mut scanned = 0u64;
    for item in db.iterator_cf(events_cf, rocksdb::IteratorMode::Start) {
        let (_key, value) = item.expect("raw scan");
        std::hint::black_box(value);
        scanned += 1;
    }
    let scan = start.elapsed();
    (
        events as f64 / recovered.as_secs_f64(),
        scanned as f64 / scan.as_secs_f64(),
    )
}

/// Whether to run `part` (`throughput`, `latency` or `recovery`): all of them unless
/// `REACTANT_BENCH_ONLY` names one.
fn runs(part: &str) -> bool {
    std::env::var("REACTANT_BENCH_ONLY").map_or(true, |only| only == part)
}

fn main() {
    let total = events_per_run();
    println!("persistence benches, {total} events per throughput run, 2 worker threads");
    if runs("throughput") {
        throughput_table(total);
    }
    if runs("latency") {
        let (p50, p99, fsync) = latency(2_000);
        println!(
            "\npersist-to-reply latency at low load (Sync): p50 {p50:?}, p99 {p99:?}; one synced single-event write: p50 {fsync:?} ({:.2}x)",
            p50.as_secs_f64() / fsync.as_secs_f64()
        );
    }
    if runs("recovery") {
        let (recovered, scanned) = recovery(total);
        println!(
            "recovery: {recovered:.0} events/s replayed into an entity; raw prefix scan {scanned:.0} events/s ({:.0}%)",
            100.0 * recovered / scanned
        );
    }
}

fn throughput_table(total: u64) {
    println!(
        "| workload | reactant (events/s) | writer batch (events) | raw WriteBatch, same size (events/s) | reactant/raw |"
    );
    println!("|---|---|---|---|---|");
    for durability in [Durability::Sync, Durability::Buffered] {
        for entities in [1u64, 100, 10_000] {
            // Sync runs are slow: fewer events keep them short.
            let events = if durability == Durability::Sync && entities == 1 {
                (total / 50).max(1_000)
            } else {
                total
            };
            let (rate, batch) = reactant_throughput(entities, durability, events);
            let raw = raw_throughput(
                batch.round() as usize,
                durability == Durability::Sync,
                events,
            );
            println!(
                "| {entities} entities, {durability:?} | {:.0} | {batch:.1} | {raw:.0} | {:.0}% |",
                rate,
                100.0 * rate / raw
            );
        }
    }
}
