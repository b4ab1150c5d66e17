//! The persistence benches of issue 3, each beside raw RocksDB doing the same writes in the same
//! run: events persisted per second by 1, 100 and 10,000 entities writing concurrently under
//! `Sync` and `Buffered` durability; persist-to-reply latency at low load beside one synced
//! single-event write; and recovery speed beside a raw prefix scan.
//!
//! `cargo bench -p reactant-benches --bench persistence` (needs the default `rocksdb` feature). Environment:
//! `REACTANT_BENCH_EVENTS` (events per throughput run, default 1,000,000),
//! `REACTANT_BENCH_ONLY` (`throughput`, `latency` or `recovery`), `REACTANT_BENCH_ENTITIES`
//! and `REACTANT_BENCH_DURABILITY` (comma-separated rows to run, e.g. `10000` and `buffered`),
//! `REACTANT_BENCH_THREAD_CPU` (set: print the CPU time of each thread over each run).

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
        .unwrap_or(1_000_000)
}

/// Events/s with `entities` entities each persisting its share, all at once; and the average
/// batch the writer formed.
fn reactant_throughput(entities: u64, durability: Durability, total: u64) -> (f64, f64) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let journal =
        RocksJournal::open_with(folder.path(), RocksConfig { durability }).expect("journal");
    let persistence = Persistence::from_backend(journal).expect("persistence");
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
    let cpu_before = thread_cpu();
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
    if std::env::var_os("REACTANT_BENCH_THREAD_CPU").is_some() {
        let after = thread_cpu();
        let mut used: Vec<(String, f64)> = after
            .into_iter()
            .map(|(name, ticks)| {
                let before = cpu_before
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(0, |(_, t)| *t);
                (name, (ticks - before) as f64 / 100.0)
            })
            .filter(|(_, seconds)| *seconds > 0.0)
            .collect();
        used.sort_by(|a, b| b.1.total_cmp(&a.1));
        println!(
            "  CPU seconds by thread over {:.2} s: {used:?}",
            elapsed.as_secs_f64()
        );
    }
    let stats = persistence.writer_stats();
    let batch = stats.events as f64 / stats.batches.max(1) as f64;
    system.shutdown();
    (total as f64 / elapsed.as_secs_f64(), batch)
}

/// CPU time (user + system, in clock ticks) of each thread of this process, by name (threads
/// of the same name summed), from `/proc/self/task` (Linux only; empty elsewhere).
fn thread_cpu() -> Vec<(String, u64)> {
    let mut by_name: Vec<(String, u64)> = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the name.
        let ticks = fields
            .get(11)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
        match by_name.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += ticks,
            None => by_name.push((name, ticks)),
        }
    }
    by_name
}

/// The order in which raw RocksDB writes its keys.
#[derive(Clone, Copy)]
enum RawKeys {
    /// The journal's keys and batches: `entities` streams, each key the stream key of a
    /// persistence id and a sequence number, every stream once per round in a fresh random
    /// order (entities complete in no particular order), each batch put in key order (as the
    /// journal writer puts it).
    Journal,
    /// One stream's keys in sequence order: every insert lands next to the last one (the
    /// memtable's best case; the baseline of the first runs).
    Sequential,
}

/// Raw RocksDB: `total` events of the size of ours (64 bytes) in WriteBatches of `batch` events,
/// with the same sync setting.
fn raw_throughput(batch: usize, sync: bool, total: u64, entities: u64, keys: RawKeys) -> f64 {
    let folder = tempfile::tempdir().expect("temporary folder");
    let mut options = Options::default();
    options.create_if_missing(true);
    let db = DB::open(&options, folder.path()).expect("raw db");
    let mut write_options = WriteOptions::default();
    write_options.set_sync(sync);
    let entities = match keys {
        RawKeys::Journal => entities.max(1),
        RawKeys::Sequential => 1,
    };
    // The journal's stream key prefix: u32 BE length of the persistence id, then the id.
    let prefixes: Vec<Vec<u8>> = (0..entities)
        .map(|id| {
            let pid = format!("counter|{id}");
            let mut key = (pid.len() as u32).to_be_bytes().to_vec();
            key.extend_from_slice(pid.as_bytes());
            key
        })
        .collect();
    let value = vec![0xa5u8; 64];
    let mut order: Vec<usize> = (0..prefixes.len()).collect();
    let mut batch_keys = Vec::with_capacity(batch.max(1));
    let start = Instant::now();
    let mut written = 0u64;
    while written < total {
        batch_keys.clear();
        for _ in 0..batch.max(1) {
            let round = written / entities;
            if written.is_multiple_of(entities) {
                fastrand::shuffle(&mut order);
            }
            let mut key = prefixes[order[(written % entities) as usize]].clone();
            key.extend_from_slice(&(round + 1).to_be_bytes());
            batch_keys.push(key);
            written += 1;
        }
        batch_keys.sort_unstable();
        let mut write = WriteBatch::default();
        for key in &batch_keys {
            write.put(key, &value);
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
    let persistence = Persistence::from_backend(journal).expect("persistence");
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
        let persistence = Persistence::from_backend(journal).expect("persistence");
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

/// Whether `value` is among the comma-separated values of the environment variable `name`
/// (every value is, when it is not set).
fn selected(name: &str, value: &str) -> bool {
    std::env::var(name).map_or(true, |list| {
        list.split(',')
            .any(|item| item.trim().eq_ignore_ascii_case(value))
    })
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
        "| workload | reactant (events/s) | writer batch (events) | raw WriteBatch, same keys and size (events/s) | reactant/raw | raw, sequential keys (events/s) |"
    );
    println!("|---|---|---|---|---|---|");
    for durability in [Durability::Sync, Durability::Buffered] {
        if !selected("REACTANT_BENCH_DURABILITY", &format!("{durability:?}")) {
            continue;
        }
        for entities in [1u64, 100, 10_000] {
            if !selected("REACTANT_BENCH_ENTITIES", &entities.to_string()) {
                continue;
            }
            // Sync runs are slow: fewer events keep them short.
            let events = if durability == Durability::Sync && entities == 1 {
                (total / 50).max(1_000)
            } else {
                total
            };
            let (rate, batch) = reactant_throughput(entities, durability, events);
            let sync = durability == Durability::Sync;
            let batch = batch.round() as usize;
            let raw = raw_throughput(batch, sync, events, entities, RawKeys::Journal);
            let sequential = raw_throughput(batch, sync, events, entities, RawKeys::Sequential);
            println!(
                "| {entities} entities, {durability:?} | {rate:.0} | {batch} | {raw:.0} | {:.0}% | {sequential:.0} |",
                100.0 * rate / raw
            );
        }
    }
}
