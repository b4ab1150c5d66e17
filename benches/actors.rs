//! Criterion benches of the actor runtime: each workload of issue 2 beside its raw limit (plain
//! threads over `crossbeam-channel`) in the same run, reported as elements per second.
//!
//! `cargo bench -p reactant-benches --bench actors`; `REACTANT_BENCH_THREADS=16 cargo bench -p reactant-benches --bench actors` for
//! another worker count. The figures and the machine they were measured on are in
//! `benches/README.md`; `cargo bench -p reactant-benches --bench footprint` prints what criterion cannot (bytes per
//! idle actor, ask percentiles) and every target in one table.

mod workloads;

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

use workloads::{Ask, FanOut, MESSAGES, PingPong, ROUND_TRIPS, RawRoundTrip, SPAWNED, Tell};

/// A group for a workload that takes a good fraction of a second per run: a few flat samples.
fn long_runs<'a>(c: &'a mut Criterion, name: &str, elements: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Elements(elements))
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(4));
    group
}

/// Times `iters` runs of a workload whose runs time themselves.
fn runs(iters: u64, mut run: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| run()).sum()
}

fn tell(c: &mut Criterion) {
    let mut group = long_runs(c, "tell", MESSAGES);
    let tell = Tell::new();
    group.bench_function("reactant", |b| {
        b.iter_custom(|iters| runs(iters, || tell.run()))
    });
    drop(tell);
    group.bench_function("raw_crossbeam", |b| {
        b.iter_custom(|iters| runs(iters, workloads::raw_tell))
    });
    group.finish();
}

fn ping_pong(c: &mut Criterion) {
    let mut group = long_runs(c, "ping_pong", ROUND_TRIPS);
    let ping_pong = PingPong::new();
    group.bench_function("reactant", |b| {
        b.iter_custom(|iters| runs(iters, || ping_pong.run()))
    });
    drop(ping_pong);
    group.bench_function("raw_crossbeam", |b| {
        b.iter_custom(|iters| runs(iters, workloads::raw_ping_pong))
    });
    group.finish();
}

fn fan_out(c: &mut Criterion) {
    let mut group = long_runs(c, "fan_out", MESSAGES);
    let fan_out = FanOut::new();
    group.bench_function("reactant", |b| {
        b.iter_custom(|iters| runs(iters, || fan_out.run()))
    });
    drop(fan_out);
    // The raw limit of one sending thread: the same messages to a single consumer.
    group.bench_function("raw_crossbeam", |b| {
        b.iter_custom(|iters| runs(iters, workloads::raw_tell))
    });
    group.finish();
}

fn spawn(c: &mut Criterion) {
    let mut group = long_runs(c, "spawn", SPAWNED as u64);
    group.bench_function("reactant", |b| {
        b.iter_custom(|iters| {
            runs(iters, || {
                // A fresh system each run; its shutdown is not timed.
                let system = workloads::system("spawn");
                workloads::spawn_idle(&system)
            })
        })
    });
    group.finish();
    let mut group = long_runs(c, "spawn_started", SPAWNED as u64);
    group.bench_function("reactant", |b| {
        b.iter_custom(|iters| {
            runs(iters, || {
                let system = workloads::system("spawn");
                workloads::spawn_started(&system)
            })
        })
    });
    group.bench_function("raw_crossbeam", |b| {
        b.iter_custom(|iters| runs(iters, workloads::raw_spawn_started))
    });
    group.finish();
}

fn ask(c: &mut Criterion) {
    let mut group = c.benchmark_group("ask");
    group
        .throughput(Throughput::Elements(1))
        .measurement_time(Duration::from_secs(3));
    let ask = Ask::new();
    group.bench_function("reactant", |b| b.iter(|| ask.ask()));
    drop(ask);
    let raw = RawRoundTrip::new();
    group.bench_function("raw_crossbeam", |b| b.iter(|| raw.round_trip()));
    drop(raw);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1));
    targets = tell, ping_pong, fan_out, spawn, ask
}
criterion_main!(benches);
