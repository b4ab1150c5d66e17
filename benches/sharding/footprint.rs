//! Part 2: the passivation footprint, each workload in a child process of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::alloc::*;
use crate::config::system;
use crate::config::*;
use crate::figures::*;
use reactant::prelude::*;
use reactant::sharding::{EntityTypeKey, RegionStats, ShardedEntity, ShardingEnvelope};

/// Set in the child processes that run one footprint workload each: `burst` or `paced`.
pub(crate) const CHILD_VAR: &str = "REACTANT_BENCH_SHARDING_FOOTPRINT";
/// The line a child prints its figures on, for the parent to read.
pub(crate) const RESULT_PREFIX: &str = "FOOTPRINT-RESULT";
/// The paced sender waits while the region holds more messages than this.
pub(crate) const PACED_HELD: usize = 10_000;
/// How many sends the paced sender makes between two looks at the region's stats.
pub(crate) const PACED_CHECK_EVERY: usize = 1_000;

/// How the footprint workload sends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Pace {
    /// One thread sends the touches as fast as it can: the shards fall behind and hold most
    /// of them as messages for entities not started yet.
    Burst,
    /// One thread sends, waiting while the region holds more than [`PACED_HELD`] messages:
    /// the peak is the active entities, not a backlog.
    Paced,
}

impl Pace {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Pace::Burst => "burst",
            Pace::Paced => "paced",
        }
    }
}

/// The entity of the footprint workload: a counter, like an application's smallest aggregate.
pub(crate) struct Touched {
    pub(crate) seen: u64,
    pub(crate) delivered: Arc<AtomicU64>,
}

impl Actor for Touched {
    type Msg = u64;

    fn handle(&mut self, _ctx: &mut Context<u64>, msg: u64) {
        self.seen += std::hint::black_box(msg);
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one footprint workload measured (in its own process).
pub(crate) struct FootprintResults {
    pub(crate) send_time: Duration,
    pub(crate) elapsed: Duration,
    pub(crate) shards: u64,
    pub(crate) started: u64,
    pub(crate) passivations: u64,
    pub(crate) dropped: u64,
    pub(crate) active_end: u64,
    pub(crate) max_active: u64,
    pub(crate) max_passivating: u64,
    pub(crate) max_buffered: u64,
    pub(crate) rss_before: u64,
    pub(crate) rss_peak: u64,
    pub(crate) rss_end: u64,
    /// Live heap bytes (as requested) over the baseline: the sampled peak, once done, and after
    /// the system's shutdown.
    pub(crate) heap_peak: u64,
    pub(crate) heap_end: u64,
    pub(crate) heap_after_shutdown: i64,
}

impl FootprintResults {
    pub(crate) fn to_line(&self) -> String {
        let fields = [
            self.send_time.as_nanos() as u64,
            self.elapsed.as_nanos() as u64,
            self.shards,
            self.started,
            self.passivations,
            self.dropped,
            self.active_end,
            self.max_active,
            self.max_passivating,
            self.max_buffered,
            self.rss_before,
            self.rss_peak,
            self.rss_end,
            self.heap_peak,
            self.heap_end,
        ];
        let fields: Vec<String> = fields.iter().map(u64::to_string).collect();
        format!(
            "{RESULT_PREFIX} {} {}",
            fields.join(" "),
            self.heap_after_shutdown
        )
    }

    pub(crate) fn from_line(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line
            .strip_prefix(RESULT_PREFIX)?
            .split_whitespace()
            .collect();
        let &[
            send_ns,
            elapsed_ns,
            shards,
            started,
            passivations,
            dropped,
            active_end,
            max_active,
            max_passivating,
            max_buffered,
            rss_before,
            rss_peak,
            rss_end,
            heap_peak,
            heap_end,
            heap_after_shutdown,
        ] = fields.as_slice()
        else {
            return None;
        };
        let n = |field: &str| field.parse::<u64>().ok();
        Some(Self {
            send_time: Duration::from_nanos(n(send_ns)?),
            elapsed: Duration::from_nanos(n(elapsed_ns)?),
            shards: n(shards)?,
            started: n(started)?,
            passivations: n(passivations)?,
            dropped: n(dropped)?,
            active_end: n(active_end)?,
            max_active: n(max_active)?,
            max_passivating: n(max_passivating)?,
            max_buffered: n(max_buffered)?,
            rss_before: n(rss_before)?,
            rss_peak: n(rss_peak)?,
            rss_end: n(rss_end)?,
            heap_peak: n(heap_peak)?,
            heap_end: n(heap_end)?,
            heap_after_shutdown: heap_after_shutdown.parse().ok()?,
        })
    }
}

/// Peaks seen by the sampling thread.
#[derive(Default)]
pub(crate) struct Peaks {
    pub(crate) rss: AtomicU64,
    pub(crate) heap: AtomicU64,
    pub(crate) active: AtomicUsize,
    pub(crate) passivating: AtomicUsize,
    pub(crate) buffered: AtomicUsize,
}

/// The footprint figures: each workload in a fresh child process.
pub(crate) struct Footprints {
    pub(crate) runs: Vec<(Pace, FootprintResults)>,
    pub(crate) plain: PlainActors,
}

/// Runs each footprint workload in a fresh child process of this bench, so that its RSS is
/// its own: neither memory that an earlier workload freed and the allocator reuses, nor the
/// other workload's.
pub(crate) fn passivation_footprints() -> Footprints {
    let runs = [Pace::Burst, Pace::Paced]
        .into_iter()
        .map(|pace| {
            let stdout = run_child(pace.name());
            let results = stdout
                .lines()
                .find_map(FootprintResults::from_line)
                .expect("the child prints its figures");
            (pace, results)
        })
        .collect();
    let stdout = run_child(PLAIN);
    let plain = stdout
        .lines()
        .find_map(PlainActors::from_line)
        .expect("the child prints its figures");
    Footprints { runs, plain }
}

/// Runs this bench again with [`CHILD_VAR`] set to `mode`; prints its progress lines and
/// returns its output.
pub(crate) fn run_child(mode: &str) -> String {
    let exe = std::env::current_exe().expect("the bench's own executable");
    let output = std::process::Command::new(exe)
        .env(CHILD_VAR, mode)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run a footprint workload in a child process");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    for line in stdout.lines().filter(|l| !l.contains(RESULT_PREFIX)) {
        println!("{line}");
    }
    assert!(
        output.status.success(),
        "the {mode} footprint workload failed: {}",
        output.status
    );
    stdout
}

/// The child process's side: runs one footprint workload and prints its figures.
pub(crate) fn footprint_child(config: &Config, mode: &str) {
    match mode {
        "burst" => println!("{}", passivation_footprint(config, Pace::Burst).to_line()),
        "paced" => println!("{}", passivation_footprint(config, Pace::Paced).to_line()),
        PLAIN => println!("{}", plain_actors(config).to_line()),
        other => panic!("{CHILD_VAR} must be burst, paced or {PLAIN}, got {other:?}"),
    }
}

/// The child mode that measures plain actors, for comparison.
pub(crate) const PLAIN: &str = "plain";
pub(crate) const PLAIN_PREFIX: &str = "PLAIN-FOOTPRINT-RESULT";

/// What `active_limit` plain actors cost: the same [`Touched`] actor, spawned with
/// `spawn_anonymous` and sent one message each, no sharding.
pub(crate) struct PlainActors {
    pub(crate) actors: u64,
    pub(crate) heap: u64,
    pub(crate) rss: u64,
}

impl PlainActors {
    pub(crate) fn to_line(&self) -> String {
        format!("{PLAIN_PREFIX} {} {} {}", self.actors, self.heap, self.rss)
    }

    pub(crate) fn from_line(line: &str) -> Option<Self> {
        let fields: Vec<u64> = line
            .strip_prefix(PLAIN_PREFIX)?
            .split_whitespace()
            .map(|field| field.parse().ok())
            .collect::<Option<_>>()?;
        let &[actors, heap, rss] = fields.as_slice() else {
            return None;
        };
        Some(Self { actors, heap, rss })
    }
}

pub(crate) fn plain_actors(config: &Config) -> PlainActors {
    let count = config.active_limit;
    let system = system("plain-footprint", config);
    let delivered = Arc::new(AtomicU64::new(0));
    LIVE_BYTES.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let rss_before = rss();
    let actors: Vec<ActorRef<u64>> = (0..count)
        .map(|i| {
            let actor = system
                .spawn_anonymous(Touched {
                    seen: 0,
                    delivered: delivered.clone(),
                })
                .expect("spawn a plain actor");
            actor.tell(i as u64);
            actor
        })
        .collect();
    let deadline = Instant::now() + RUN_TIMEOUT;
    while delivered.load(Ordering::Acquire) < count as u64 {
        assert!(Instant::now() < deadline, "plain actors: messages lost");
        thread::sleep(Duration::from_millis(1));
    }
    // The references are the application's, not the actors' cost: dropping them takes them
    // out of the live heap, and their bytes out of the RSS figure.
    let refs = (actors.capacity() * std::mem::size_of::<ActorRef<u64>>()) as u64;
    let rss = rss().saturating_sub(rss_before).saturating_sub(refs);
    drop(actors);
    let heap = live_bytes().max(0) as u64;
    println!(
        "\nplain actors: {count} spawned with spawn_anonymous, one message each: live heap {:.1} \
         MiB, RSS +{:.1} MiB",
        mib(heap),
        mib(rss)
    );
    PlainActors {
        actors: count as u64,
        heap,
        rss,
    }
}

pub(crate) fn passivation_footprint(config: &Config, pace: Pace) -> FootprintResults {
    let touched = config.touched;
    let limit = config.active_limit;
    println!(
        "\npassivation ({}): {touched} distinct entities touched once each, active limit {limit}, \
         no idle timeout",
        pace.name()
    );
    let system = system("sharding-footprint", config);
    let delivered = Arc::new(AtomicU64::new(0));
    let factory_delivered = delivered.clone();
    let region = system
        .sharding()
        .init(
            ShardedEntity::new(EntityTypeKey::<u64>::new("touched"), move |_entity| {
                Touched {
                    seen: 0,
                    delivered: factory_delivered.clone(),
                }
            })
            .with_active_entity_limit(limit)
            .without_idle_timeout(),
        )
        .expect("start the touched region");
    LIVE_BYTES.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let rss_before = rss();
    let peaks = Arc::new(Peaks::default());
    peaks.rss.store(rss_before, Ordering::Relaxed);
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peaks, stop, region) = (peaks.clone(), stop_sampling.clone(), region.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peaks.rss.fetch_max(rss(), Ordering::Relaxed);
                peaks
                    .heap
                    .fetch_max(live_bytes().max(0) as u64, Ordering::Relaxed);
                let stats = region.stats();
                peaks
                    .active
                    .fetch_max(stats.active_entities, Ordering::Relaxed);
                peaks
                    .passivating
                    .fetch_max(stats.passivating_entities, Ordering::Relaxed);
                peaks
                    .buffered
                    .fetch_max(stats.buffered_messages, Ordering::Relaxed);
                thread::sleep(SAMPLE_EVERY);
            }
        })
    };

    let start = Instant::now();
    let deadline = start + RUN_TIMEOUT;
    for i in 0..touched {
        // The id is built here, not before the baseline: its memory is freed after the send
        // (the table keeps its own copy), as an application's would be.
        region.tell(ShardingEnvelope::new(format!("entity-{i}"), i as u64));
        if pace == Pace::Paced && i % PACED_CHECK_EVERY == PACED_CHECK_EVERY - 1 {
            while region.stats().buffered_messages > PACED_HELD {
                assert!(
                    Instant::now() < deadline,
                    "paced footprint: the region never caught up"
                );
                thread::sleep(Duration::from_micros(100));
            }
        }
    }
    let send_time = start.elapsed();
    // Done when every message was handled (or dropped: a message for a new entity that finds
    // its shard's buffer full is a dead letter, and that entity never starts), every other
    // entity started, and all but the last `limit` passivated and stopped.
    let final_stats = loop {
        let stats = region.stats();
        let (handled, dropped) = (delivered.load(Ordering::Acquire), stats.dropped_messages);
        let started = touched as u64 - dropped.min(touched as u64);
        if handled + dropped >= touched as u64
            && stats.entities_started >= started
            && stats.passivations >= started.saturating_sub(limit as u64)
            && stats.passivating_entities == 0
        {
            break stats;
        }
        assert!(
            Instant::now() < deadline,
            "passivation: not done within {RUN_TIMEOUT:?}: {} of {touched} delivered, stats {}",
            delivered.load(Ordering::Acquire),
            summary(&stats)
        );
        thread::sleep(Duration::from_millis(1));
    };
    let elapsed = start.elapsed();
    stop_sampling.store(true, Ordering::Relaxed);
    sampler.join().expect("the sampling thread");
    let rss_end = rss();
    let rss_peak = peaks.rss.load(Ordering::Relaxed).max(rss_end);
    let heap_end = live_bytes().max(0) as u64;
    let heap_peak = peaks.heap.load(Ordering::Relaxed).max(heap_end);
    println!(
        "touched {touched} in {elapsed:.2?} (sends took {send_time:.2?}); RSS {:.1} MiB -> peak \
         {:.1} MiB, {:.1} MiB at the end",
        mib(rss_before),
        mib(rss_peak),
        mib(rss_end)
    );
    let shutdown = Instant::now();
    drop(region);
    drop(system);
    let heap_after_shutdown = live_bytes();
    println!(
        "shutdown took {:.2?}; live heap {:.1} MiB at the peak, {:.1} MiB when done, {:.1} KiB \
         after the shutdown",
        shutdown.elapsed(),
        mib(heap_peak),
        mib(heap_end),
        heap_after_shutdown as f64 / 1024.0
    );
    FootprintResults {
        send_time,
        elapsed,
        shards: u64::from(final_stats.number_of_shards),
        started: final_stats.entities_started,
        passivations: final_stats.passivations,
        dropped: final_stats.dropped_messages,
        active_end: final_stats.active_entities as u64,
        max_active: peaks.active.load(Ordering::Relaxed) as u64,
        max_passivating: peaks.passivating.load(Ordering::Relaxed) as u64,
        max_buffered: peaks.buffered.load(Ordering::Relaxed) as u64,
        rss_before,
        rss_peak,
        rss_end,
        heap_peak,
        heap_end,
        heap_after_shutdown,
    }
}

pub(crate) fn print_footprint(config: &Config, footprints: &Footprints) {
    let results = &footprints.runs;
    let limit = config.active_limit;
    let shards = results.first().map_or(0, |(_, r)| r.shards);
    println!(
        "\n{} distinct entities touched once each from one thread, active limit {limit} ({shards} \
         shards, {} per shard), no idle timeout; each workload in a fresh process, RSS sampled \
         every {SAMPLE_EVERY:?}. burst: sends as fast as it can; paced: waits while the region \
         holds more than {PACED_HELD} messages",
        config.touched,
        limit.div_ceil(shards.max(1) as usize)
    );
    let mut header = vec!["figure".to_owned()];
    header.extend(results.iter().map(|(pace, _)| pace.name().to_owned()));
    let column = |figure: &str, value: &dyn Fn(&FootprintResults) -> String| {
        let mut row = vec![figure.to_owned()];
        row.extend(results.iter().map(|(_, r)| value(r)));
        row
    };
    let touched = config.touched as u64;
    let rows = vec![
        column("elapsed (first send to last passivation)", &|r| {
            format!("{:.2?}", r.elapsed)
        }),
        column("of which sending", &|r| format!("{:.2?}", r.send_time)),
        column("entities/s", &|r| millions(per_second(touched, r.elapsed))),
        column("entities started", &|r| r.started.to_string()),
        column("passivations", &|r| r.passivations.to_string()),
        column("dropped messages", &|r| r.dropped.to_string()),
        column("active at the end", &|r| r.active_end.to_string()),
        column("max active / passivating / held msgs (sampled)", &|r| {
            format!(
                "{} / {} / {}",
                r.max_active, r.max_passivating, r.max_buffered
            )
        }),
        column("RSS before", &|r| format!("{:.1} MiB", mib(r.rss_before))),
        column("RSS peak", &|r| format!("{:.1} MiB", mib(r.rss_peak))),
        column("RSS at the end", &|r| format!("{:.1} MiB", mib(r.rss_end))),
        column(
            &format!("bytes per active entity ((RSS peak - before) / {limit})"),
            &|r| {
                format!(
                    "{:.0}",
                    r.rss_peak.saturating_sub(r.rss_before) as f64 / limit as f64
                )
            },
        ),
        column("live heap: peak / when done", &|r| {
            format!("{:.1} MiB / {:.1} MiB", mib(r.heap_peak), mib(r.heap_end))
        }),
        column(
            &format!("live heap bytes per active entity (when done / {limit})"),
            &|r| format!("{:.0}", r.heap_end as f64 / limit as f64),
        ),
        column("live heap left after shutdown", &|r| {
            format!("{:.1} KiB", r.heap_after_shutdown as f64 / 1024.0)
        }),
        column(
            "completed: all started once, none dropped, ≤ limit active",
            &|r| {
                let completed =
                    r.started == touched && r.dropped == 0 && r.max_active <= limit as u64;
                (if completed { "yes" } else { "NO" }).into()
            },
        ),
    ];
    let mut table = Table::new(header);
    for row in rows {
        table.row(row);
    }
    table.print();
    let plain = &footprints.plain;
    let per_plain = plain.heap as f64 / plain.actors as f64;
    let paced = results
        .iter()
        .find(|(pace, _)| *pace == Pace::Paced)
        .map_or(0.0, |(_, r)| r.heap_end as f64 / limit as f64);
    println!(
        "for comparison, {} plain actors (the same actor, spawn_anonymous, one message each): \
         live heap {per_plain:.0} B and RSS {:.0} B per actor; a sharded active entity (paced, \
         when done) holds {:.1}× the live heap of a plain actor",
        plain.actors,
        plain.rss as f64 / plain.actors as f64,
        paced / per_plain
    );
}

pub(crate) fn summary(stats: &RegionStats) -> String {
    format!(
        "active {}, passivating {}, buffered {}, started {}, passivations {}, dropped {}",
        stats.active_entities,
        stats.passivating_entities,
        stats.buffered_messages,
        stats.entities_started,
        stats.passivations,
        stats.dropped_messages
    )
}
