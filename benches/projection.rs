//! The projection benches of issue 18, each beside raw RocksDB in the same run:
//!
//! - **catch-up**: a grouped exactly-once projection (groups of 1,000) reads `N` stored events
//!   by tag into a read table, beside raw RocksDB iterating the same journal keys (the tag
//!   index, a point read of each event) and writing the same read-model bytes and offset in
//!   `WriteBatch`es of the same size;
//! - **live**: the same projection following 10,000 entities that write under `Buffered` for
//!   a while; its lag (events, ms) sampled at steady state.
//!
//! `cargo bench -p reactant-benches --bench projection` (needs the default `rocksdb` feature). Environment:
//! `REACTANT_BENCH_EVENTS` (events of the catch-up, default 1,000,000),
//! `REACTANT_BENCH_LIVE_SECS` (how long the entities write, default 10),
//! `REACTANT_BENCH_LIVE_RATES` (the write rates of the live part, events/s, comma-separated,
//! `max` for as fast as the entities go; default `max,50000,25000`),
//! `REACTANT_BENCH_ONLY` (`catch-up` or `live`), `REACTANT_BENCH_THREADS` (workers, default 2).

#[path = "figures.rs"]
#[allow(dead_code, reason = "each bench uses some of the shared helpers")]
mod figures;
use figures::median;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reactant::persistence::rocksdb::{Durability, RocksConfig, RocksJournal};
use reactant::persistence::{
    AtomicWrite, Codec, Effect, Entity, Event, Journal, Manifest, MessagePack, Persistence,
    PersistenceId, PersistentRepr,
};
use reactant::prelude::*;
use reactant::projection::{Projection, ProjectionId, ProjectionRef, ReadStore, Source, Table};
use rocksdb::{DB, Options, ReadOptions, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

const RUNS: usize = 3;
const GROUP: usize = 1_000;
const STREAMS: u64 = 1_000;
const TABLE: &str = "last_deposit";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
    note: String,
}

impl Event for Deposited {
    fn tags(&self) -> Vec<String> {
        vec!["t".into()]
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

impl Entity for Account {
    const TYPE_KEY: &'static str = "acc";
    type Event = Deposited;
    type Command = u64;

    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }

    fn handle_command(&self, amount: u64) -> Effect<Deposited, Self> {
        Effect::persist(Deposited {
            amount,
            note: "a deposit of some size".into(),
        })
    }
}

/// The read model: each account's last deposit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct LastDeposit {
    sequence_nr: u64,
    amount: u64,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn only(part: &str) -> bool {
    std::env::var("REACTANT_BENCH_ONLY").map_or(true, |only| only == part)
}

fn buffered() -> RocksConfig {
    RocksConfig {
        durability: Durability::Buffered,
    }
}

/// The grouped exactly-once projection of both parts: each account's last deposit.
fn last_deposit(
    id: ProjectionId,
    persistence: &Arc<Persistence>,
    store: &ReadStore,
) -> Projection<Deposited> {
    let table: Table<String, LastDeposit> = store.table(TABLE);
    Projection::grouped(
        id,
        Source::events_by_tag::<Account>(persistence, "t"),
        store,
        move |tx, group| {
            for envelope in group {
                let row = LastDeposit {
                    sequence_nr: envelope.sequence_nr,
                    amount: envelope.event.amount,
                };
                tx.put(&table, &envelope.persistence_id.to_string(), &row)?;
            }
            Ok(())
        },
    )
    .group_within(GROUP, Duration::from_millis(50))
}

// ---------------------------------------------------------------------------------------------
// Catch-up beside raw RocksDB

/// `events` events over 1,000 streams, all tagged `t`, each of amount 5, written straight to
/// the journal.
fn fill(folder: &Path, events: u64) {
    let journal = RocksJournal::open_with(folder, buffered()).expect("opens");
    let payload = MessagePack
        .encode(&Deposited {
            amount: 5,
            note: "a deposit of some size".into(),
        })
        .expect("encodes");
    let ids: Vec<PersistenceId> = (0..STREAMS)
        .map(|n| PersistenceId::of("acc", &n.to_string()))
        .collect();
    for sequence_nr in 1..=events / STREAMS {
        let writes: Vec<AtomicWrite> = ids
            .iter()
            .map(|id| AtomicWrite {
                events: vec![PersistentRepr {
                    persistence_id: id.clone(),
                    sequence_nr,
                    manifest: Manifest::new("Deposited", 1),
                    payload: payload.clone(),
                    tags: vec!["t".into()],
                    writer_id: "bench".into(),
                    timestamp_ms: 1,
                    offset: 0,
                }],
            })
            .collect();
        journal.write(&writes).expect("written");
    }
}

/// Events/s of the projection `id` catching up from nothing to the journal's head; the
/// journal is closed when it returns.
fn reactant_catch_up(folder: &Path, id: ProjectionId) -> f64 {
    let journal = RocksJournal::open_with(folder, buffered()).expect("opens");
    let persistence = Persistence::new(journal.clone(), journal.clone()).expect("persistence");
    let store = ReadStore::open(&journal).expect("a read store");
    let head = journal.highest_offset().expect("a head");
    let system = figures::system("projection-bench");
    let start = Instant::now();
    let projection: ProjectionRef = last_deposit(id, &persistence, &store)
        .run(&system)
        .expect("runs");
    while projection.status().expect("a status").offset != Some(head) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = start.elapsed();
    system.shutdown();
    head as f64 / elapsed.as_secs_f64()
}

/// The read-model keys the projection wrote (persistence id → row key), and its offset's key,
/// read back raw: the raw run writes the same bytes.
struct Layout {
    rows: HashMap<Vec<u8>, Vec<u8>>,
    offset_key: Vec<u8>,
}

fn open_raw(path: &Path) -> DB {
    let families = DB::list_cf(&Options::default(), path).expect("lists");
    // The journal's lock goes once its last handle is dropped (the system's threads drop
    // theirs as they stop).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match DB::open_cf(&Options::default(), path, &families) {
            Ok(db) => return db,
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(error) => panic!("the journal folder stays locked: {error}"),
        }
    }
}

/// The event key's persistence id: `u32 BE length` ‖ id ‖ `u64 BE sequence nr`.
fn split_event_key(key: &[u8]) -> (&[u8], u64) {
    let length = u32::from_be_bytes(key[..4].try_into().expect("a length")) as usize;
    let id = &key[4..4 + length];
    let sequence_nr = u64::from_be_bytes(key[4 + length..].try_into().expect("a number"));
    (id, sequence_nr)
}

fn layout(path: &Path, id: &ProjectionId) -> Layout {
    let db = open_raw(path);
    let read_models = db.cf_handle("read_models").expect("a read_models family");
    let table: Vec<(Vec<u8>, Vec<u8>)> = db
        .iterator_cf(read_models, rocksdb::IteratorMode::Start)
        .map(|row| {
            let (key, value) = row.expect("reads");
            (key.to_vec(), value.to_vec())
        })
        .collect();
    let mut rows = HashMap::new();
    let mut offset_key = None;
    for (key, value) in table {
        if key[0] == 2 && key.ends_with(id.key.as_bytes()) {
            offset_key = Some(key);
        } else if key[0] == 1 {
            // `0x01` ‖ `u32 BE` name length ‖ the table's name ‖ the id's bytes ‖ `0x00 0x00`
            // (the documented layout, checked here).
            let prefix = 5 + TABLE.len();
            assert_eq!(
                &key[1..prefix],
                [&(TABLE.len() as u32).to_be_bytes()[..], TABLE.as_bytes()].concat()
            );
            assert!(key.ends_with(&[0, 0]));
            let row: LastDeposit = rmp_serde::from_slice(&value).expect("a row");
            assert_eq!(row.amount, 5);
            let id = key[prefix..key.len() - 2].to_vec();
            rows.insert(id, key);
        }
    }
    Layout {
        rows,
        offset_key: offset_key.expect("the projection's offset"),
    }
}

/// Raw RocksDB: the tag index scanned with a point read of each event (each value copied,
/// as a query does), and per 1,000 events one `WriteBatch` of their rows and the offset.
fn raw_catch_up(path: &Path, layout: &Layout) -> f64 {
    let db = open_raw(path);
    let (tags, events, read_models) = (
        db.cf_handle("tags").expect("tags"),
        db.cf_handle("events").expect("events"),
        db.cf_handle("read_models").expect("read_models"),
    );
    let prefixed = |name: &str, number: u64| {
        let mut key = (name.len() as u32).to_be_bytes().to_vec();
        key.extend_from_slice(name.as_bytes());
        key.extend_from_slice(&number.to_be_bytes());
        key
    };
    let write_options = WriteOptions::default(); // as `Buffered`: no fsync per batch
    let start = Instant::now();
    let snapshot = db.snapshot();
    let mut options = ReadOptions::default();
    options.set_iterate_lower_bound(prefixed("t", 1));
    options.set_iterate_upper_bound(prefixed("u", 0));
    let mut entries = snapshot.raw_iterator_cf_opt(tags, options);
    entries.seek_to_first();
    let mut count = 0u64;
    let mut bytes = 0usize;
    let mut batch = WriteBatch::default();
    let mut in_batch = 0;
    while let (Some(tag_key), Some(event_key)) = (entries.key(), entries.value()) {
        let offset = u64::from_be_bytes(tag_key[tag_key.len() - 8..].try_into().expect("8"));
        let value = snapshot
            .get_pinned_cf(events, event_key)
            .expect("reads")
            .expect("the event");
        bytes += value.to_vec().len();
        let (id, sequence_nr) = split_event_key(event_key);
        let row = rmp_serde::to_vec_named(&LastDeposit {
            sequence_nr,
            amount: 5,
        })
        .expect("encodes");
        batch.put_cf(read_models, &layout.rows[id], row);
        count += 1;
        in_batch += 1;
        if in_batch == GROUP {
            batch.put_cf(read_models, &layout.offset_key, offset.to_be_bytes());
            db.write_opt(std::mem::take(&mut batch), &write_options)
                .expect("written");
            in_batch = 0;
        }
        entries.next();
    }
    if in_batch > 0 {
        db.write_opt(batch, &write_options).expect("written");
    }
    std::hint::black_box(bytes);
    count as f64 / start.elapsed().as_secs_f64()
}

fn catch_up(events: u64) {
    let folder = tempfile::tempdir().expect("a folder");
    let start = Instant::now();
    fill(folder.path(), events);
    println!(
        "catch-up: {events} events over {STREAMS} streams, tagged `t` (written in {:.1} s); \
         grouped exactly-once by {GROUP}, {} workers",
        start.elapsed().as_secs_f64(),
        std::env::var("REACTANT_BENCH_THREADS").unwrap_or_else(|_| "2".into()),
    );
    // A first run learns the bytes the projection writes, for the raw run to write the same.
    let warm_up = ProjectionId::new("catch-up", "warm-up");
    let warm_rate = reactant_catch_up(folder.path(), warm_up.clone());
    let layout = layout(folder.path(), &warm_up);
    println!(
        "  warm-up: Reactant {:.2} M/s ({} rows)",
        warm_rate / 1e6,
        layout.rows.len()
    );
    let (mut raw, mut ours) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        raw.push(raw_catch_up(folder.path(), &layout));
        ours.push(reactant_catch_up(
            folder.path(),
            ProjectionId::new("catch-up", run.to_string()),
        ));
    }
    let ratios: Vec<String> = raw
        .iter()
        .zip(&ours)
        .map(|(raw, ours)| format!("{:.0}%", 100.0 * ours / raw))
        .collect();
    println!(
        "  raw RocksDB {:.2} M/s | Reactant projection {:.2} M/s ({:.0}%)   (medians of {RUNS}; \
         Reactant/raw per run: {})",
        median(&raw) / 1e6,
        median(&ours) / 1e6,
        100.0 * median(&ours) / median(&raw),
        ratios.join(", "),
    );
}

// ---------------------------------------------------------------------------------------------
// Live: lag while 10,000 entities write

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The live part at each rate of `REACTANT_BENCH_LIVE_RATES`.
fn live_rates(seconds: u64) {
    let rates =
        std::env::var("REACTANT_BENCH_LIVE_RATES").unwrap_or_else(|_| "max,50000,25000".into());
    for rate in rates.split(',').map(str::trim) {
        match rate {
            "max" => live(seconds, None),
            rate => live(
                seconds,
                Some(rate.parse().expect("a rate in events/s, or max")),
            ),
        }
    }
}

/// The live part: 10,000 entities write for `seconds` (after a warm-up), at `rate` events/s
/// (`None`: as fast as they go), while the projection follows.
fn live(seconds: u64, rate: Option<u64>) {
    let entities = 10_000u64;
    let folder = tempfile::tempdir().expect("a folder");
    let journal = RocksJournal::open_with(folder.path(), buffered()).expect("opens");
    let persistence = Persistence::new(journal.clone(), journal.clone()).expect("persistence");
    let store = ReadStore::open(&journal).expect("a read store");
    let system = figures::system("projection-live");
    let projection = last_deposit(ProjectionId::new("live", "all"), &persistence, &store)
        .run(&system)
        .expect("runs");
    let accounts: Vec<ActorRef<u64>> = (0..entities)
        .map(|n| {
            system
                .spawn_anonymous(Account::behavior(&n.to_string(), persistence.clone()))
                .expect("spawns")
        })
        .collect();
    // Writers: each round tells every entity one deposit, and the next round starts once
    // the journal holds all but the last round (at most ~2 rounds in the mailboxes).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, journal) = (stop.clone(), journal.clone());
        std::thread::spawn(move || {
            let mut told = 0u64;
            let began = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(rate) = rate {
                    // Paced: round k starts k × entities / rate seconds in.
                    let due = began + Duration::from_secs_f64(told as f64 / rate as f64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                for account in &accounts {
                    account.tell(1);
                }
                told += entities;
                while journal.highest_offset().expect("a head") + entities < told {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            told
        })
    };
    let warm_up = Duration::from_secs(2).min(Duration::from_secs(seconds) / 4);
    std::thread::sleep(warm_up);
    let start = Instant::now();
    let (head_at_start, handled_at_start) = {
        let status = projection.status().expect("a status");
        (status.head, status.offset.unwrap_or(0))
    };
    let (mut lag_events, mut lag_ms) = (Vec::new(), Vec::new());
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(100));
        let status = projection.status().expect("a status");
        lag_events.push(status.lag_events);
        lag_ms.push(status.lag.as_millis() as u64);
    }
    let elapsed = start.elapsed();
    let status = projection.status().expect("a status");
    let written = status.head - head_at_start;
    let handled = status.offset.unwrap_or(0) - handled_at_start;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let told = writer.join().expect("the writer");
    // The deposits still in the entities' mailboxes are written meanwhile: caught up is the
    // head reached once the writes have stopped.
    let drain = Instant::now();
    loop {
        let status = projection.status().expect("a status");
        if status.offset == Some(status.head)
            && journal.highest_offset().expect("a head") == status.head
            && drain.elapsed() > Duration::from_millis(200)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let drained = drain.elapsed();
    // Keeping up: the lag of the last quarter of the samples is no higher than the first's
    // (it does not grow), and the projection handled what was written.
    let quarter = (lag_events.len() / 4).max(1);
    let first: u64 = lag_events.iter().take(quarter).sum();
    let last: u64 = lag_events.iter().rev().take(quarter).sum();
    let keeps_up = last <= first.max(quarter as u64 * entities) && handled * 100 >= written * 98;
    lag_events.sort_unstable();
    lag_ms.sort_unstable();
    let pace = rate.map_or("as fast as they go".to_owned(), |rate| {
        format!("paced at {rate} events/s")
    });
    println!(
        "live: {entities} entities writing under Buffered, {pace}, for {:.1} s after {:.1} s of \
         warm-up ({told} deposits told); journal {:.0} events/s, projection {:.0} events/s; \
         keeps up: {}",
        elapsed.as_secs_f64(),
        warm_up.as_secs_f64(),
        written as f64 / elapsed.as_secs_f64(),
        handled as f64 / elapsed.as_secs_f64(),
        if keeps_up { "yes" } else { "no" },
    );
    println!(
        "  lag sampled every 100 ms ({} samples): events p50 {}, p99 {}, max {}; ms p50 {}, \
         p99 {}, max {}; caught up {:.0} ms after the writers stopped",
        lag_events.len(),
        percentile(&lag_events, 0.5),
        percentile(&lag_events, 0.99),
        lag_events.last().copied().unwrap_or(0),
        percentile(&lag_ms, 0.5),
        percentile(&lag_ms, 0.99),
        lag_ms.last().copied().unwrap_or(0),
        drained.as_secs_f64() * 1e3,
    );
    system.shutdown();
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    if only("catch-up") {
        catch_up(env_number("REACTANT_BENCH_EVENTS", 1_000_000));
    }
    if only("live") {
        live_rates(env_number("REACTANT_BENCH_LIVE_SECS", 10));
    }
}
