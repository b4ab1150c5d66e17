//! The query benches of issue 17, each beside raw RocksDB in the same run: current queries by
//! tag and by persistence id beside a raw iteration over the same keys and bytes, and the
//! latency from the writer's commit to a caught-up live subscriber, at low load and while
//! 10,000 entities write, under `Buffered` and `Sync`.
//!
//! `cargo bench -p reactant-benches --bench query` (needs the default `rocksdb` feature). Environment:
//! `REACTANT_BENCH_EVENTS` (events of each current-query data set, default 1,000,000),
//! `REACTANT_BENCH_ONLY` (`current` or `live`).

#[path = "figures.rs"]
#[allow(dead_code, reason = "each bench uses some of the shared helpers")]
mod figures;
use figures::median;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use reactant::persistence::rocksdb::{Durability, RocksConfig, RocksJournal};
use reactant::persistence::{
    AtomicWrite, Codec, CommitNotifier, Effect, Entity, Event, Journal, JournalError, Manifest,
    MessagePack, Persistence, PersistenceId, PersistentRepr, Rejection, SequenceNr,
};
use reactant::prelude::*;
use reactant::query::{EventEnvelope, Offset};
use rocksdb::{DB, Options, ReadOptions};
use serde::{Deserialize, Serialize};

const TIMEOUT: Duration = Duration::from_secs(600);
const RUNS: usize = 3;

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

enum Command {
    Deposit(u64),
    DepositAndReply(u64, ActorRef<u64>),
}

#[derive(Default, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

impl Entity for Account {
    const TYPE_KEY: &'static str = "acc";
    type Event = Deposited;
    type Command = Command;

    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }

    fn handle_command(&self, command: Command) -> Effect<Deposited, Self> {
        let deposited = |amount| Deposited {
            amount,
            note: "a deposit of some size".into(),
        };
        match command {
            Command::Deposit(amount) => Effect::persist(deposited(amount)),
            Command::DepositAndReply(amount, reply_to) => Effect::persist(deposited(amount))
                .then_reply_to(reply_to, |account: &Account| account.balance),
        }
    }
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn buffered() -> RocksConfig {
    RocksConfig {
        durability: Durability::Buffered,
    }
}

// ---------------------------------------------------------------------------------------------
// Current queries beside raw iteration

/// `events` events over 1,000 streams, all tagged `t`, plus one stream `acc|big` of `events`
/// events, written straight to the journal.
fn fill(folder: &std::path::Path, events: u64) {
    let journal = RocksJournal::open_with(folder, buffered()).expect("opens");
    let payload = MessagePack
        .encode(&Deposited {
            amount: 5,
            note: "a deposit of some size".into(),
        })
        .expect("encodes");
    let repr = |id: &PersistenceId, sequence_nr| PersistentRepr {
        persistence_id: id.clone(),
        sequence_nr,
        manifest: Manifest::new("Deposited", 1),
        payload: payload.clone(),
        tags: vec!["t".into()],
        writer_id: "bench".into(),
        timestamp_ms: 1,
        offset: 0,
    };
    let ids: Vec<PersistenceId> = (0..1_000)
        .map(|n| PersistenceId::of("acc", &n.to_string()))
        .collect();
    let per_stream = events / 1_000;
    for sequence_nr in 1..=per_stream {
        let writes: Vec<AtomicWrite> = ids
            .iter()
            .map(|id| AtomicWrite {
                events: vec![repr(id, sequence_nr)],
            })
            .collect();
        journal.write(&writes).expect("written");
    }
    let big = PersistenceId::of("acc", "big");
    let mut untagged = repr(&big, 0);
    untagged.tags.clear();
    for first in (1..=events).step_by(1_000) {
        let batch: Vec<PersistentRepr> = (first..(first + 1_000).min(events + 1))
            .map(|sequence_nr| PersistentRepr {
                sequence_nr,
                ..untagged.clone()
            })
            .collect();
        journal
            .write(&[AtomicWrite { events: batch }])
            .expect("written");
    }
}

/// Events/s of `read`, which returns how many it read.
fn rate(read: impl FnOnce() -> u64) -> f64 {
    let start = Instant::now();
    let count = read();
    count as f64 / start.elapsed().as_secs_f64()
}

struct CurrentRates {
    journal: f64,
    typed: f64,
    raw: f64,
}

fn current(events: u64) {
    let folder = tempfile::tempdir().expect("a folder");
    let start = Instant::now();
    fill(folder.path(), events);
    println!(
        "current queries: {events} tagged events over 1,000 streams and one stream of {events} \
         (written in {:.1} s)",
        start.elapsed().as_secs_f64()
    );
    let (mut by_tag, mut by_id) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let (tag_journal, tag_typed, id_journal, id_typed) = {
            let journal = RocksJournal::open_with(folder.path(), buffered()).expect("opens");
            let persistence =
                Persistence::new(journal.clone(), journal.clone()).expect("persistence");
            let query = persistence.query();
            let tag_journal = rate(|| {
                let mut count = 0;
                let mut after = 0;
                loop {
                    let before = count;
                    after = journal
                        .events_by_tag("t", after, 1024, &mut |_| count += 1)
                        .expect("reads");
                    if count == before {
                        break count;
                    }
                }
            });
            let tag_typed = rate(|| {
                query
                    .current_events_by_tag::<Account>("t", Offset::Start)
                    .fold(0, |count, envelope| {
                        std::hint::black_box(envelope.expect("decodes").event.amount);
                        count + 1
                    })
            });
            let big = PersistenceId::of("acc", "big");
            let id_journal = rate(|| {
                let mut count = 0;
                journal
                    .replay(&big, 1, u64::MAX, u64::MAX, &mut |_| count += 1)
                    .expect("reads");
                count
            });
            let id_typed = rate(|| {
                query
                    .current_events_by_persistence_id::<Account>("big", 1, u64::MAX)
                    .fold(0, |count, envelope| {
                        std::hint::black_box(envelope.expect("decodes").event.amount);
                        count + 1
                    })
            });
            (tag_journal, tag_typed, id_journal, id_typed)
        };
        // The journal is closed: its folder lock kept raw RocksDB out while it was open.
        let (tag_raw, id_raw) = raw_reads(folder.path());
        by_tag.push(CurrentRates {
            journal: tag_journal,
            typed: tag_typed,
            raw: tag_raw,
        });
        by_id.push(CurrentRates {
            journal: id_journal,
            typed: id_typed,
            raw: id_raw,
        });
    }
    report("by tag", &by_tag);
    report("by persistence id", &by_id);
}

fn report(what: &str, runs: &[CurrentRates]) {
    let raw = median(&runs.iter().map(|r| r.raw).collect::<Vec<_>>());
    let journal = median(&runs.iter().map(|r| r.journal).collect::<Vec<_>>());
    let typed = median(&runs.iter().map(|r| r.typed).collect::<Vec<_>>());
    let ratios: Vec<String> = runs
        .iter()
        .map(|r| format!("{:.0}%", 100.0 * r.typed / r.raw))
        .collect();
    println!(
        "  {what:<18} raw RocksDB {:>6.2} M/s | Journal API {:>6.2} M/s ({:>3.0}%) | typed query {:>6.2} M/s ({:>3.0}%)   (medians of {RUNS}; typed/raw per run: {})",
        raw / 1e6,
        journal / 1e6,
        100.0 * journal / raw,
        typed / 1e6,
        100.0 * typed / raw,
        ratios.join(", "),
    );
}

/// Raw RocksDB over the same keys and bytes: the tag index scanned with a point read of each
/// event (what a tag query reads), and one stream's keys scanned (what a replay reads). Each
/// value's bytes are copied, as a query's are.
fn raw_reads(path: &std::path::Path) -> (f64, f64) {
    let families = DB::list_cf(&Options::default(), path).expect("lists");
    let db = DB::open_cf(&Options::default(), path, &families).expect("opens");
    let (tags, events) = (
        db.cf_handle("tags").unwrap(),
        db.cf_handle("events").unwrap(),
    );
    let prefixed = |name: &str, number: u64| {
        let mut key = (name.len() as u32).to_be_bytes().to_vec();
        key.extend_from_slice(name.as_bytes());
        key.extend_from_slice(&number.to_be_bytes());
        key
    };
    let tag_rate = rate(|| {
        let snapshot = db.snapshot();
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(prefixed("t", 1));
        options.set_iterate_upper_bound(prefixed("u", 0));
        let mut entries = snapshot.raw_iterator_cf_opt(tags, options);
        entries.seek_to_first();
        let mut count = 0u64;
        let mut bytes = 0usize;
        while let Some(event_key) = entries.value() {
            let value = snapshot.get_pinned_cf(events, event_key).unwrap().unwrap();
            bytes += value.to_vec().len();
            count += 1;
            entries.next();
        }
        std::hint::black_box(bytes);
        count
    });
    let id_rate = rate(|| {
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(prefixed("acc|big", 1));
        options.set_iterate_upper_bound(prefixed("acc|big", u64::MAX));
        let mut rows = db.raw_iterator_cf_opt(events, options);
        rows.seek_to_first();
        let mut count = 0u64;
        let mut bytes = 0usize;
        while let (Some(key), Some(value)) = (rows.key(), rows.value()) {
            bytes += key.len() + value.to_vec().len();
            count += 1;
            rows.next();
        }
        std::hint::black_box(bytes);
        count
    });
    (tag_rate, id_rate)
}

// ---------------------------------------------------------------------------------------------
// Live latency: commit → caught-up subscriber

/// A RocksDB journal that records when each commit returned, and only then tells its own
/// commit notification: the clock of the latency starts at the commit.
struct Timed {
    inner: Arc<RocksJournal>,
    notifier: Arc<CommitNotifier>,
    commits: Mutex<Vec<(u64, Instant)>>,
}

impl Journal for Timed {
    fn write(&self, writes: &[AtomicWrite]) -> Result<Vec<Result<(), Rejection>>, JournalError> {
        let results = self.inner.write(writes)?;
        let committed = Instant::now();
        let offset = self.inner.last_offset();
        self.commits.lock().push((offset, committed));
        self.notifier.committed(offset);
        Ok(results)
    }

    fn replay(
        &self,
        persistence_id: &PersistenceId,
        from: SequenceNr,
        to: SequenceNr,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<SequenceNr, JournalError> {
        self.inner.replay(persistence_id, from, to, max, on_event)
    }

    fn highest_sequence_nr(
        &self,
        persistence_id: &PersistenceId,
    ) -> Result<SequenceNr, JournalError> {
        self.inner.highest_sequence_nr(persistence_id)
    }

    fn delete_to(
        &self,
        persistence_id: &PersistenceId,
        to: SequenceNr,
    ) -> Result<(), JournalError> {
        self.inner.delete_to(persistence_id, to)
    }

    fn advance_highest(
        &self,
        persistence_id: &PersistenceId,
        to: SequenceNr,
    ) -> Result<(), JournalError> {
        self.inner.advance_highest(persistence_id, to)
    }

    fn events_by_tag(
        &self,
        tag: &str,
        after_offset: u64,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<u64, JournalError> {
        self.inner.events_by_tag(tag, after_offset, max, on_event)
    }

    fn events_by_offset(
        &self,
        after_offset: u64,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<u64, JournalError> {
        self.inner.events_by_offset(after_offset, max, on_event)
    }

    fn highest_offset(&self) -> Result<u64, JournalError> {
        self.inner.highest_offset()
    }

    fn commit_notifier(&self) -> Option<Arc<CommitNotifier>> {
        Some(self.notifier.clone())
    }
}

impl Timed {
    /// When the commit holding `offset` returned.
    fn committed_at(commits: &[(u64, Instant)], offset: u64) -> Instant {
        let index = commits.partition_point(|(last, _)| *last < offset);
        commits[index].1
    }
}

/// Latencies (sorted) and the largest lag in events, of a subscriber following tag `t` while
/// `write` runs: an actor (delivery with flow control), or a plain thread in a blocking
/// iterator (`blocking`).
fn follow(
    durability: Durability,
    entities: u64,
    blocking: bool,
    write: impl FnOnce(&ActorSystem, &[ActorRef<Command>]) -> u64,
) -> (Vec<Duration>, u64, f64) {
    let folder = tempfile::tempdir().expect("a folder");
    let inner = RocksJournal::open_with(folder.path(), RocksConfig { durability }).expect("opens");
    let journal = Arc::new(Timed {
        inner: inner.clone(),
        notifier: Arc::new(CommitNotifier::new(0)),
        commits: Mutex::new(Vec::new()),
    });
    let persistence = Persistence::new(journal.clone(), inner).expect("persistence");
    let system = ActorSystem::builder()
        .name("query-bench")
        .threads(2)
        .build()
        .expect("system");
    let (seen_tx, seen_rx) = crossbeam_channel::unbounded::<(u64, Instant, u64)>();
    let notifier = journal.notifier.clone();
    let record = move |envelope: &EventEnvelope<Deposited>| {
        let now = Instant::now();
        let lag = notifier.last_committed().saturating_sub(envelope.offset);
        let _ = seen_tx.send((envelope.offset, now, lag));
    };
    let subscription = if blocking {
        let mut live = persistence
            .query()
            .events_by_tag::<Account>("t", Offset::Start);
        std::thread::spawn(move || {
            while let Some(Ok(envelope)) = live.next_timeout(Duration::from_secs(5)) {
                record(&envelope);
            }
        });
        None
    } else {
        let subscriber = system
            .spawn(
                Behaviors::receive_message(move |envelope: EventEnvelope<Deposited>| {
                    record(&envelope);
                    Behaviors::same()
                }),
                "subscriber",
            )
            .expect("spawns");
        let subscription = persistence
            .query()
            .events_by_tag_to::<Account>("t", Offset::Start, &subscriber)
            .expect("subscribes");
        Some(subscription)
    };
    let accounts: Vec<ActorRef<Command>> = (0..entities)
        .map(|n| {
            system
                .spawn_anonymous(Account::behavior(&n.to_string(), persistence.clone()))
                .expect("spawns")
        })
        .collect();
    let start = Instant::now();
    let total = write(&system, &accounts);
    let mut latencies = Vec::with_capacity(total as usize);
    let mut max_lag = 0;
    let mut received = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let (offset, at, lag) = seen_rx.recv_timeout(TIMEOUT).expect("every event arrives");
        received.push((offset, at));
        max_lag = max_lag.max(lag);
    }
    let elapsed = start.elapsed();
    let commits = journal.commits.lock().clone();
    for (offset, at) in received {
        latencies.push(at.saturating_duration_since(Timed::committed_at(&commits, offset)));
    }
    latencies.sort();
    if let Some(subscription) = subscription {
        subscription.cancel();
    }
    (latencies, max_lag, total as f64 / elapsed.as_secs_f64())
}

fn live() {
    for durability in [Durability::Buffered, Durability::Sync] {
        // Low load: one entity, one deposit at a time.
        let samples = 2_000;
        for (blocking, subscriber) in [(false, "actor"), (true, "blocking iterator")] {
            let (latencies, _, _) = follow(durability, 1, blocking, |_, accounts| {
                for n in 0..samples {
                    accounts[0]
                        .ask(|reply_to| Command::DepositAndReply(n, reply_to))
                        .wait(TIMEOUT)
                        .expect("deposited");
                }
                samples
            });
            println!(
                "live, {durability:?}, low load ({samples} deposits one at a time), {subscriber}: commit → handler p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
                percentile(&latencies, 0.5).as_secs_f64() * 1e6,
                percentile(&latencies, 0.99).as_secs_f64() * 1e6,
                latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
            );
        }
        // Under load: 10,000 entities, each told 20 deposits at once.
        let entities = 10_000;
        let per_entity = 20;
        let (latencies, max_lag, rate) = follow(durability, entities, false, |_, accounts| {
            for _ in 0..per_entity {
                for account in accounts {
                    account.tell(Command::Deposit(1));
                }
            }
            entities * per_entity
        });
        println!(
            "live, {durability:?}, 10,000 entities writing ({} events, {:.0} events/s followed): commit → handler p50 {:.1} µs, p99 {:.1} µs; max lag {max_lag} events",
            entities * per_entity,
            rate,
            percentile(&latencies, 0.5).as_secs_f64() * 1e6,
            percentile(&latencies, 0.99).as_secs_f64() * 1e6,
        );
    }
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    if only("current") {
        current(env_number("REACTANT_BENCH_EVENTS", 1_000_000));
    }
    if only("live") {
        live();
    }
}
