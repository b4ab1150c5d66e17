//! One pass over every workload of issue 2, printed as one table beside its raw limit and its
//! target: what criterion cannot report (bytes per idle actor, ask latency percentiles) and the
//! median of a few runs of each throughput workload.
//!
//! `cargo bench -p reactant-benches --bench footprint`; `REACTANT_BENCH_THREADS=16 cargo bench -p reactant-benches --bench footprint`
//! for another worker count. The spawn footprint runs first, in a fresh process, so the RSS it
//! measures is not memory that earlier workloads freed and the allocator reuses.

mod workloads;

#[path = "figures.rs"]
#[allow(dead_code, reason = "each bench uses some of the shared helpers")]
mod figures;
use figures::{median, millions, per_second};

use std::time::{Duration, Instant};

use reactant_workspace::resident_bytes;
use workloads::{Ask, FanOut, MESSAGES, PingPong, ROUND_TRIPS, RawRoundTrip, SPAWNED, Tell};

/// Sequential asks whose latencies give the percentiles.
const ASKS: usize = 200_000;
/// Asks measured in a row before the raw round trips take their turn.
const ASK_BLOCK: usize = 10_000;
/// Calls before each measured block: threads awake, caches warm.
const WARM_UP_CALLS: usize = 1_000;
/// Runs of each throughput workload (and of its raw limit); the table shows the median.
const RUNS: usize = 5;

fn main() {
    // `cargo bench` passes `--bench`; there are no options to read.
    println!(
        "reactant runtime, {} worker threads, {} cores visible",
        workloads::worker_threads(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut table = Table::default();
    spawn_footprint(&mut table);
    ask_latency(&mut table);
    throughput(&mut table);
    table.print();
}

/// `spawn`: actors/s and the RSS per idle actor.
fn spawn_footprint(table: &mut Table) {
    let system = workloads::system("footprint");
    let before = resident_bytes().expect("RSS is readable from /proc/self/statm");
    let elapsed = workloads::spawn_idle(&system);
    let after = resident_bytes().expect("RSS is readable from /proc/self/statm");
    let per_actor = after.saturating_sub(before) as f64 / SPAWNED as f64;
    let shutdown = Instant::now();
    drop(system);
    println!(
        "spawned {SPAWNED} idle actors in {elapsed:.2?}; RSS {:.1} MiB -> {:.1} MiB; shutdown took \
         {:.2?}",
        mib(before),
        mib(after),
        shutdown.elapsed()
    );
    let rate = per_second(SPAWNED as u64, elapsed);
    table.row(
        "spawn (actors/s)",
        millions(rate),
        "-".into(),
        "-".into(),
        "≥ 2M/s",
        rate >= 2e6,
    );
    table.row(
        "idle actor (bytes)",
        format!("{per_actor:.0}"),
        "-".into(),
        "-".into(),
        "≤ 256 B",
        per_actor <= 256.0,
    );
    // After the idle spawn, so that its RSS figure comes from a fresh process. Actors with a
    // start hook each need a turn: timed until every hook ran, beside a raw hand-off of boxed
    // states to another thread.
    let system = workloads::system("footprint-started");
    let started = workloads::spawn_started(&system);
    drop(system);
    let raw = workloads::raw_spawn_started();
    let rate = per_second(SPAWNED as u64, started);
    let raw_rate = per_second(SPAWNED as u64, raw);
    // Its target (twice the fastest peer crate) is measured by `../shared/bench-peers/`.
    table.row_without_target(
        "spawn with pre_start (actors/s)",
        millions(rate),
        millions(raw_rate),
        format!("{:.0}%", 100.0 * rate / raw_rate),
    );
}

/// `ask`: sequential asks from this thread beside raw two-thread round trips, in alternating
/// blocks so that a noisy neighbour weighs on both alike.
fn ask_latency(table: &mut Table) {
    let ask = Ask::new();
    let raw_trip = RawRoundTrip::new();
    let mut reactant = Vec::with_capacity(ASKS);
    let mut raw = Vec::with_capacity(ASKS);
    for _ in 0..ASKS / ASK_BLOCK {
        time_calls(&mut reactant, || ask.ask());
        time_calls(&mut raw, || raw_trip.round_trip());
    }
    drop((ask, raw_trip));
    reactant.sort_unstable();
    raw.sort_unstable();
    let p50 = (percentile(&reactant, 50), percentile(&raw, 50));
    let p99 = (percentile(&reactant, 99), percentile(&raw, 99));
    let p50_ratio = ratio(p50.0, p50.1);
    table.row(
        "ask p50 (latency)",
        micros(p50.0),
        micros(p50.1),
        format!("{p50_ratio:.2}×"),
        "≤ 2× raw",
        p50_ratio <= 2.0,
    );
    table.row_without_target(
        "ask p99 (latency)",
        micros(p99.0),
        micros(p99.1),
        format!("{:.2}×", ratio(p99.0, p99.1)),
    );
}

/// `tell`, `ping_pong` and `fan_out`: the median of [`RUNS`] runs each, alternating with the
/// raw figure's runs.
fn throughput(table: &mut Table) {
    let tell = Tell::new();
    let (tell, raw_tell) = median_rates(MESSAGES, || tell.run(), workloads::raw_tell);
    let tell_share = tell / raw_tell;
    table.row(
        "tell (msgs/s)",
        millions(tell),
        millions(raw_tell),
        percent(tell_share),
        "≥ 11M/s, ≥ 50% raw",
        tell >= 11e6 && tell_share >= 0.5,
    );

    let ping_pong = PingPong::new();
    let (ping_pong, raw_ping_pong) =
        median_rates(ROUND_TRIPS, || ping_pong.run(), workloads::raw_ping_pong);
    table.row(
        "ping_pong (round trips/s)",
        millions(ping_pong),
        millions(raw_ping_pong),
        percent(ping_pong / raw_ping_pong),
        "≥ 8M/s",
        ping_pong >= 8e6,
    );

    let fan_out = FanOut::new();
    // The raw limit of one sending thread: the same messages to a single consumer.
    let (fan_out, raw_fan_out) = median_rates(MESSAGES, || fan_out.run(), workloads::raw_tell);
    table.row(
        "fan_out (msgs/s)",
        millions(fan_out),
        millions(raw_fan_out),
        percent(fan_out / raw_fan_out),
        "≥ 8M/s",
        fan_out >= 8e6,
    );
}

/// The median rates of a workload and of its raw limit over [`RUNS`] alternating runs each.
fn median_rates(
    elements: u64,
    mut reactant: impl FnMut() -> Duration,
    mut raw: impl FnMut() -> Duration,
) -> (f64, f64) {
    let mut rates = (Vec::with_capacity(RUNS), Vec::with_capacity(RUNS));
    for _ in 0..RUNS {
        rates.0.push(per_second(elements, reactant()));
        rates.1.push(per_second(elements, raw()));
    }
    (median(&rates.0), median(&rates.1))
}

/// Appends the latency of each of [`ASK_BLOCK`] sequential calls, after [`WARM_UP_CALLS`]
/// unmeasured ones.
fn time_calls(latencies: &mut Vec<Duration>, mut call: impl FnMut() -> u64) {
    for _ in 0..WARM_UP_CALLS {
        std::hint::black_box(call());
    }
    latencies.extend((0..ASK_BLOCK).map(|_| {
        let start = Instant::now();
        std::hint::black_box(call());
        start.elapsed()
    }));
}

/// The `p`th percentile of sorted latencies (nearest rank).
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn micros(latency: Duration) -> String {
    format!("{:.2} µs", latency.as_secs_f64() * 1e6)
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The figures, printed once all are measured so the table is not interleaved with progress.
#[derive(Default)]
struct Table {
    rows: Vec<[String; 6]>,
}

impl Table {
    fn row(
        &mut self,
        workload: &str,
        reactant: String,
        raw: String,
        ratio: String,
        target: &str,
        met: bool,
    ) {
        let met = if met { "yes" } else { "MISSED" };
        self.rows.push([
            workload.into(),
            reactant,
            raw,
            ratio,
            target.into(),
            met.into(),
        ]);
    }

    fn row_without_target(&mut self, workload: &str, reactant: String, raw: String, ratio: String) {
        self.rows.push([
            workload.into(),
            reactant,
            raw,
            ratio,
            "-".into(),
            "-".into(),
        ]);
    }

    fn print(&self) {
        let header = [
            "workload",
            "reactant",
            "raw",
            "reactant/raw",
            "target",
            "met?",
        ];
        let mut widths = header.map(|h| h.chars().count());
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            println!("| {} |", padded.join(" | "));
        };
        println!();
        line(&header.map(String::from));
        line(&widths.map(|width| "-".repeat(width)));
        for row in &self.rows {
            line(row);
        }
    }
}
