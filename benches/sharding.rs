//! The benches of issue 5 (in-process sharding), in one pass printed as two tables:
//!
//! 1. **Routing throughput**: messages per second to 10,000 sharded entities, through
//!    `EntityRef`s obtained once and reused, through `region.tell(ShardingEnvelope)` with a
//!    `String` id built per message, and through envelopes with a kept `EntityId` cloned per
//!    message, beside the same workload told straight to 10,000 `ActorRef`s of the same actor
//!    (spawned with `spawn_anonymous`), in the same run, for several sender threads. Target:
//!    the region costs at most 2× the direct path (region / direct ≥ 0.5).
//! 2. **Passivation footprint**: 1,000,000 distinct entities touched once each with an active
//!    limit of 100,000 and no idle timeout: it completes, and memory stays bounded (bytes per
//!    active entity). Twice, each in a fresh child process of this bench so that its RSS is its
//!    own: `burst` (one thread sends as fast as it can, the shards hold a backlog) and `paced`
//!    (the sender waits while the region holds more than 10,000 messages). Besides RSS, a
//!    counting global allocator reports the live heap (bytes as requested), which tells the
//!    active entities apart from memory the allocator keeps after a peak.
//!
//! `cargo bench --no-default-features --bench sharding` (the `rocksdb` feature is not needed).
//! Sizes: `REACTANT_BENCH_THREADS` (worker threads, default: the cores),
//! `REACTANT_BENCH_SENDERS` (sender thread counts, default `1,2,4`), `REACTANT_BENCH_RUNS` (runs
//! of each path per sender count, alternating, default 5; the table shows the median),
//! `REACTANT_BENCH_SHARD_ENTITIES` (default 10,000), `REACTANT_BENCH_SHARD_MESSAGES` (messages
//! per run, default 4,000,000), `REACTANT_BENCH_TOUCHED` (default 1,000,000),
//! `REACTANT_BENCH_ACTIVE_LIMIT` (default 100,000). `REACTANT_BENCH_ONLY=routing` or
//! `=footprint` runs one of the two parts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use reactant::prelude::*;

#[path = "round.rs"]
mod round;
use reactant::sharding::{
    EntityId, EntityRef, EntityTypeKey, RegionStats, ShardRegion, ShardedEntity, ShardingEnvelope,
};
use reactant_workspace::resident_bytes;
use round::{Counter, Round};

/// Longest wait for a run (or the footprint workload) to finish: a lost message must fail
/// loudly, not hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// How often the footprint workload samples RSS.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// The system allocator, counting the bytes the footprint workloads hold live: what RSS cannot
/// tell apart (memory the allocator keeps after a peak).
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Counts only while [`COUNTING`] is set (in the footprint child processes), so the throughput
/// runs pay one load per allocation and no shared write.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
/// Bytes allocated minus bytes freed (sizes as requested) since counting began.
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

fn count(bytes: i64) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed);
    }
}

// SAFETY: every call forwards to `System` with the caller's arguments; counting only reads
// the layouts.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System::alloc`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as i64);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size() as i64);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size as i64 - layout.size() as i64);
        }
        new
    }
}

fn live_bytes() -> i64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

fn main() {
    // `cargo bench` passes `--bench`; there are no options to read.
    let config = Config::from_env();
    if let Ok(pace) = std::env::var(CHILD_VAR) {
        footprint_child(&config, &pace);
        return;
    }
    println!(
        "reactant sharding, {} worker threads, {} cores visible",
        config.worker_threads,
        cores()
    );
    let footprints = config.footprint.then(passivation_footprints);
    let throughput = config.routing.then(|| routing_throughput(&config));
    if let Some(throughput) = &throughput {
        print_throughput(&config, throughput);
    }
    if let Some(footprints) = &footprints {
        print_footprint(&config, footprints);
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration

struct Config {
    worker_threads: usize,
    senders: Vec<usize>,
    runs: usize,
    entities: usize,
    messages: u64,
    touched: usize,
    active_limit: usize,
    /// Whether to run the routing throughput part and the passivation footprint part.
    routing: bool,
    footprint: bool,
}

impl Config {
    fn from_env() -> Self {
        let only = std::env::var("REACTANT_BENCH_ONLY").ok();
        let (routing, footprint) = match only.as_deref().map(str::trim) {
            None | Some("") => (true, true),
            Some("routing") => (true, false),
            Some("footprint") => (false, true),
            Some(other) => {
                panic!("REACTANT_BENCH_ONLY must be routing or footprint, got {other:?}")
            }
        };
        let config = Self {
            routing,
            footprint,
            worker_threads: env_number("REACTANT_BENCH_THREADS", cores()),
            senders: env_list("REACTANT_BENCH_SENDERS", &[1, 2, 4]),
            runs: env_number("REACTANT_BENCH_RUNS", 5),
            entities: env_number("REACTANT_BENCH_SHARD_ENTITIES", 10_000),
            messages: env_number("REACTANT_BENCH_SHARD_MESSAGES", 4_000_000) as u64,
            touched: env_number("REACTANT_BENCH_TOUCHED", 1_000_000),
            active_limit: env_number("REACTANT_BENCH_ACTIVE_LIMIT", 100_000),
        };
        assert!(
            config.messages >= config.entities as u64,
            "REACTANT_BENCH_SHARD_MESSAGES must give every entity at least one message"
        );
        config
    }

    /// Messages each entity receives in one run (the run sends `quota × entities`).
    fn quota(&self) -> u64 {
        self.messages / self.entities as u64
    }
}

fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .replace(['_', ','], "")
            .parse()
            .ok()
            .filter(|&n: &usize| n > 0)
            .unwrap_or_else(|| panic!("{name} must be a positive integer, got {value:?}")),
        Err(_) => default,
    }
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(value) => value
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .unwrap_or_else(|| {
                        panic!(
                            "{name} must be positive integers separated by commas, got {value:?}"
                        )
                    })
            })
            .collect(),
        Err(_) => default.to_vec(),
    }
}

fn system(name: &str, config: &Config) -> ActorSystem {
    ActorSystem::builder()
        .name(name)
        .threads(config.worker_threads)
        .build()
        .expect("a valid bench system configuration")
}

// ---------------------------------------------------------------------------------------------
// 1. Routing throughput

/// The three paths to the same 10,000 counters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    /// `ActorRef::tell` to actors spawned with `spawn_anonymous`.
    Direct,
    /// `EntityRef::tell`, the refs obtained once.
    EntityRef,
    /// `ShardRegion::tell(ShardingEnvelope::new(id.clone(), msg))`, a `String` id per message.
    Envelope,
    /// `ShardRegion::tell(ShardingEnvelope::new(id.clone(), msg))` with a kept `EntityId`
    /// (the clone is a reference-count increment, as the direct path clones no `ActorRef`).
    EnvelopeKeptId,
}

const PATHS: [Path; 4] = [
    Path::Direct,
    Path::EntityRef,
    Path::Envelope,
    Path::EnvelopeKeptId,
];

struct Throughput {
    config_entities: usize,
    quota: u64,
    direct: Vec<ActorRef<u64>>,
    direct_round: Arc<Round>,
    region: ShardRegion<u64>,
    entity_refs: Vec<EntityRef<u64>>,
    ids: Vec<String>,
    entity_ids: Vec<EntityId>,
    region_round: Arc<Round>,
    // Last: the system shuts down after the references into it are gone.
    _system: ActorSystem,
}

impl Throughput {
    fn new(config: &Config) -> Self {
        let system = system("sharding-throughput", config);
        let quota = config.quota();
        let direct_round = Round::new(RUN_TIMEOUT);
        let direct = (0..config.entities)
            .map(|_| {
                system
                    .spawn_anonymous(Counter::new(quota, direct_round.clone()))
                    .expect("spawn a counter")
            })
            .collect();
        let region_round = Round::new(RUN_TIMEOUT);
        let factory_round = region_round.clone();
        let region = system
            .sharding()
            .init(
                ShardedEntity::new(EntityTypeKey::<u64>::new("counter"), move |_entity| {
                    Counter::new(quota, factory_round.clone())
                })
                .without_idle_timeout(),
            )
            .expect("start the counter region");
        let ids: Vec<String> = (0..config.entities)
            .map(|i| format!("counter-{i}"))
            .collect();
        // The application keeps its ids: the `EntityRef`s share them, and so the entities'
        // slots (made by the warm-up's first message to each) key on the same text.
        let entity_ids: Vec<EntityId> = ids.iter().map(EntityId::from).collect();
        let entity_refs = entity_ids.iter().map(|id| region.entity(id)).collect();
        Self {
            config_entities: config.entities,
            quota,
            direct,
            direct_round,
            region,
            entity_refs,
            ids,
            entity_ids,
            region_round,
            _system: system,
        }
    }

    /// One run of `path` from `senders` threads: every entity gets `quota` messages, each
    /// sender a share of them, round-robin over all entities from its own starting point.
    /// Returns the time from the senders' start to the last entity seeing its last message,
    /// and the CPU time the sender threads used, together.
    fn run(&self, path: Path, senders: usize) -> (Duration, Duration) {
        let round = match path {
            Path::Direct => &self.direct_round,
            Path::EntityRef | Path::Envelope | Path::EnvelopeKeptId => &self.region_round,
        };
        round.arm(self.config_entities);
        let start_line = Barrier::new(senders + 1);
        let entities = self.config_entities;
        let sender_cpu_ns = AtomicU64::new(0);
        let elapsed = thread::scope(|scope| {
            for sender in 0..senders {
                let sender_cpu_ns = &sender_cpu_ns;
                let start_line = &start_line;
                // This sender's share of each entity's quota.
                let passes = self.quota / senders as u64
                    + u64::from((sender as u64) < self.quota % senders as u64);
                let offset = sender * entities / senders;
                scope.spawn(move || {
                    start_line.wait();
                    let cpu_before = thread_cpu();
                    match path {
                        Path::Direct => {
                            send(passes, offset, entities, |i, msg| self.direct[i].tell(msg))
                        }
                        Path::EntityRef => send(passes, offset, entities, |i, msg| {
                            self.entity_refs[i].tell(msg)
                        }),
                        Path::Envelope => send(passes, offset, entities, |i, msg| {
                            self.region
                                .tell(ShardingEnvelope::new(self.ids[i].clone(), msg))
                        }),
                        Path::EnvelopeKeptId => send(passes, offset, entities, |i, msg| {
                            self.region
                                .tell(ShardingEnvelope::new(self.entity_ids[i].clone(), msg))
                        }),
                    }
                    let used = thread_cpu().saturating_sub(cpu_before);
                    sender_cpu_ns.fetch_add(used.as_nanos() as u64, Ordering::Relaxed);
                });
            }
            start_line.wait();
            let start = Instant::now();
            round.wait(&format!("{path:?} with {senders} senders"));
            start.elapsed()
        });
        (
            elapsed,
            Duration::from_nanos(sender_cpu_ns.load(Ordering::Relaxed)),
        )
    }
}

/// `passes` rounds over all `entities`, starting at `offset`.
#[inline]
fn send(passes: u64, offset: usize, entities: usize, tell: impl Fn(usize, u64)) {
    let mut msg = 0u64;
    for _ in 0..passes {
        for i in (offset..entities).chain(0..offset) {
            msg += 1;
            tell(i, msg);
        }
    }
}

/// Rates of one sender count, each path's runs in order, and the senders' CPU time per
/// message (ns) in those runs.
struct SenderRates {
    senders: usize,
    rates: [Vec<f64>; 4],
    cpu_ns: [Vec<f64>; 4],
}

/// CPU time this thread has used so far (`/proc/thread-self/schedstat`, Linux, nanoseconds;
/// zero elsewhere): what the sending costs the sender, whatever else shares the cores.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

struct ThroughputResults {
    rows: Vec<SenderRates>,
    messages_per_run: u64,
    warm_up: Duration,
    stats: RegionStats,
}

fn routing_throughput(config: &Config) -> ThroughputResults {
    let bench = Throughput::new(config);
    let messages_per_run = bench.quota * config.entities as u64;
    println!(
        "\nrouting: {} entities, {} messages per run ({} each), paths alternate, {} runs each",
        config.entities, messages_per_run, bench.quota, config.runs
    );
    // Warm-up: one unmeasured run of each path with one sender starts all the entities, so
    // the measured runs are steady state.
    let warm_up = Instant::now();
    for path in PATHS {
        bench.run(path, 1);
    }
    let warm_up = warm_up.elapsed();
    let stats = bench.region.stats();
    assert_eq!(
        stats.active_entities, config.entities,
        "every entity runs after the warm-up: {stats:?}"
    );
    println!(
        "warm-up (one run of each path, starts the {} entities): {warm_up:.2?}",
        config.entities
    );
    let mut rows = Vec::new();
    for &senders in &config.senders {
        let mut rates: [Vec<f64>; 4] = Default::default();
        let mut cpu_ns: [Vec<f64>; 4] = Default::default();
        for _ in 0..config.runs {
            for (p, path) in PATHS.into_iter().enumerate() {
                let (elapsed, sender_cpu) = bench.run(path, senders);
                rates[p].push(per_second(messages_per_run, elapsed));
                cpu_ns[p].push(sender_cpu.as_nanos() as f64 / messages_per_run as f64);
            }
        }
        println!(
            "{senders} senders (msgs/s per run): direct {}; EntityRef {}; envelope (String id) \
             {}; envelope (kept EntityId) {}",
            list_millions(&rates[0]),
            list_millions(&rates[1]),
            list_millions(&rates[2]),
            list_millions(&rates[3])
        );
        println!(
            "{senders} senders (sender CPU ns per message): direct {}; EntityRef {}; envelope \
             (String id) {}; envelope (kept EntityId) {}",
            list_ns(&cpu_ns[0]),
            list_ns(&cpu_ns[1]),
            list_ns(&cpu_ns[2]),
            list_ns(&cpu_ns[3])
        );
        rows.push(SenderRates {
            senders,
            rates,
            cpu_ns,
        });
    }
    let stats = bench.region.stats();
    assert_eq!(
        stats.entities_started, config.entities as u64,
        "no entity restarted: {stats:?}"
    );
    assert_eq!(stats.dropped_messages, 0, "no message dropped: {stats:?}");
    ThroughputResults {
        rows,
        messages_per_run,
        warm_up,
        stats,
    }
}

fn print_throughput(config: &Config, results: &ThroughputResults) {
    println!(
        "\nRouting to {} entities, {} messages per run; msgs/s, median of {} runs (min–max); \
         ratio = region / direct (target ≥ 0.50: the region costs at most 2× the direct path)",
        config.entities, results.messages_per_run, config.runs
    );
    let mut table = Table::new(
        [
            "senders",
            "direct ActorRef",
            "EntityRef",
            "EntityRef/direct",
            "envelope (String id)",
            "String/direct",
            "envelope (kept EntityId)",
            "kept/direct",
            "≥ 0.50",
        ]
        .map(String::from)
        .to_vec(),
    );
    for row in &results.rows {
        let [direct, entity_ref, envelope, kept] = row.rates.each_ref().map(|r| median(r));
        let ratios = [entity_ref, envelope, kept].map(|rate| rate / direct);
        let met: Vec<&str> = ["EntityRef", "String", "kept"]
            .into_iter()
            .zip(ratios)
            .filter(|&(_, ratio)| ratio >= 0.5)
            .map(|(path, _)| path)
            .collect();
        table.row(vec![
            row.senders.to_string(),
            spread(&row.rates[0]),
            spread(&row.rates[1]),
            format!("{:.2}", ratios[0]),
            spread(&row.rates[2]),
            format!("{:.2}", ratios[1]),
            spread(&row.rates[3]),
            format!("{:.2}", ratios[2]),
            if met.is_empty() {
                "none".into()
            } else {
                met.join(", ")
            },
        ]);
    }
    table.print();
    println!(
        "\nSender CPU time per message (ns; all sender threads together / messages), median of \
         {} runs (min–max): what a send costs the sending thread, whatever else shares the cores",
        config.runs
    );
    let mut table = Table::new(
        [
            "senders",
            "direct ActorRef",
            "EntityRef",
            "envelope (String id)",
            "envelope (kept EntityId)",
        ]
        .map(String::from)
        .to_vec(),
    );
    for row in &results.rows {
        let mut cells = vec![row.senders.to_string()];
        cells.extend(row.cpu_ns.iter().map(|ns| spread_ns(ns)));
        table.row(cells);
    }
    table.print();
    println!(
        "region after the runs: {} active entities over {} shards, {} started, {} dropped; warm-up \
         {:.2?}",
        results.stats.active_entities,
        results.stats.number_of_shards,
        results.stats.entities_started,
        results.stats.dropped_messages,
        results.warm_up
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Passivation footprint

/// Set in the child processes that run one footprint workload each: `burst` or `paced`.
const CHILD_VAR: &str = "REACTANT_BENCH_SHARDING_FOOTPRINT";
/// The line a child prints its figures on, for the parent to read.
const RESULT_PREFIX: &str = "FOOTPRINT-RESULT";
/// The paced sender waits while the region holds more messages than this.
const PACED_HELD: usize = 10_000;
/// How many sends the paced sender makes between two looks at the region's stats.
const PACED_CHECK_EVERY: usize = 1_000;

/// How the footprint workload sends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pace {
    /// One thread sends the touches as fast as it can: the shards fall behind and hold most
    /// of them as messages for entities not started yet.
    Burst,
    /// One thread sends, waiting while the region holds more than [`PACED_HELD`] messages:
    /// the peak is the active entities, not a backlog.
    Paced,
}

impl Pace {
    fn name(self) -> &'static str {
        match self {
            Pace::Burst => "burst",
            Pace::Paced => "paced",
        }
    }
}

/// The entity of the footprint workload: a counter, like an application's smallest aggregate.
struct Touched {
    seen: u64,
    delivered: Arc<AtomicU64>,
}

impl Actor for Touched {
    type Msg = u64;

    fn handle(&mut self, _ctx: &mut Context<u64>, msg: u64) {
        self.seen += std::hint::black_box(msg);
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one footprint workload measured (in its own process).
struct FootprintResults {
    send_time: Duration,
    elapsed: Duration,
    shards: u64,
    started: u64,
    passivations: u64,
    dropped: u64,
    active_end: u64,
    max_active: u64,
    max_passivating: u64,
    max_buffered: u64,
    rss_before: u64,
    rss_peak: u64,
    rss_end: u64,
    /// Live heap bytes (as requested) over the baseline: the sampled peak, once done, and after
    /// the system's shutdown.
    heap_peak: u64,
    heap_end: u64,
    heap_after_shutdown: i64,
}

impl FootprintResults {
    fn to_line(&self) -> String {
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

    fn from_line(line: &str) -> Option<Self> {
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
struct Peaks {
    rss: AtomicU64,
    heap: AtomicU64,
    active: AtomicUsize,
    passivating: AtomicUsize,
    buffered: AtomicUsize,
}

/// The footprint figures: each workload in a fresh child process.
struct Footprints {
    runs: Vec<(Pace, FootprintResults)>,
    plain: PlainActors,
}

/// Runs each footprint workload in a fresh child process of this bench, so that its RSS is
/// its own: neither memory that an earlier workload freed and the allocator reuses, nor the
/// other workload's.
fn passivation_footprints() -> Footprints {
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
fn run_child(mode: &str) -> String {
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
fn footprint_child(config: &Config, mode: &str) {
    match mode {
        "burst" => println!("{}", passivation_footprint(config, Pace::Burst).to_line()),
        "paced" => println!("{}", passivation_footprint(config, Pace::Paced).to_line()),
        PLAIN => println!("{}", plain_actors(config).to_line()),
        other => panic!("{CHILD_VAR} must be burst, paced or {PLAIN}, got {other:?}"),
    }
}

/// The child mode that measures plain actors, for comparison.
const PLAIN: &str = "plain";
const PLAIN_PREFIX: &str = "PLAIN-FOOTPRINT-RESULT";

/// What `active_limit` plain actors cost: the same [`Touched`] actor, spawned with
/// `spawn_anonymous` and sent one message each, no sharding.
struct PlainActors {
    actors: u64,
    heap: u64,
    rss: u64,
}

impl PlainActors {
    fn to_line(&self) -> String {
        format!("{PLAIN_PREFIX} {} {} {}", self.actors, self.heap, self.rss)
    }

    fn from_line(line: &str) -> Option<Self> {
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

fn plain_actors(config: &Config) -> PlainActors {
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

fn passivation_footprint(config: &Config, pace: Pace) -> FootprintResults {
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

fn print_footprint(config: &Config, footprints: &Footprints) {
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

fn summary(stats: &RegionStats) -> String {
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

// ---------------------------------------------------------------------------------------------
// Figures and the table

fn rss() -> u64 {
    resident_bytes().expect("RSS is readable from /proc/self/statm")
}

fn per_second(elements: u64, elapsed: Duration) -> f64 {
    elements as f64 / elapsed.as_secs_f64()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn millions(rate: f64) -> String {
    format!("{:.2}M", rate / 1e6)
}

fn list_millions(rates: &[f64]) -> String {
    rates
        .iter()
        .map(|&r| millions(r))
        .collect::<Vec<_>>()
        .join(" ")
}

fn list_ns(values: &[f64]) -> String {
    values
        .iter()
        .map(|&ns| format!("{ns:.0}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The median of nanosecond figures, and their range.
fn spread_ns(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    format!("{:.0} ({min:.0}–{max:.0})", median(values))
}

/// The median, and the range of the runs.
fn spread(rates: &[f64]) -> String {
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    format!(
        "{} ({:.2}–{:.2})",
        millions(median(rates)),
        min / 1e6,
        max / 1e6
    )
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A table printed once its rows are in, columns padded to their widest cell.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: Vec<String>) -> Self {
        Self {
            header,
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.header.len(), "a cell per column");
        self.rows.push(cells);
    }

    fn print(&self) {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, &width)| format!("{cell:<width$}"))
                .collect();
            println!("| {} |", padded.join(" | "));
        };
        line(&self.header);
        line(
            &widths
                .iter()
                .map(|&width| "-".repeat(width))
                .collect::<Vec<_>>(),
        );
        for row in &self.rows {
            line(row);
        }
    }
}
