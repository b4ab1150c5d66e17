//! The patterns' costs, each beside the direct path in the same run (issue 19):
//!
//! - `breaker`: a call through a closed [`CircuitBreaker`] (target: ≤ 50 ns over the direct
//!   call), beside the direct call and a call refused by an open breaker;
//! - `router`: messages through a round-robin pool router to 4 counting routees, beside the
//!   same messages told directly to 4 counting actors in turn (target: ≥ 80% of direct).
//!
//! `cargo bench --bench pattern` (no RocksDB needed: `--no-default-features` builds faster).
//! Worker threads: `REACTANT_BENCH_THREADS`, else 2, as in the other benches.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use reactant::pattern::{CircuitBreaker, Routers};
use reactant::prelude::*;

#[path = "round.rs"]
mod round;
use round::{Counter, Round};

/// Messages per router run.
const MESSAGES: u64 = 1_000_000;
/// Routees (and direct actors).
const ROUTEES: u64 = 4;
/// Longest wait for a run: a lost message fails loudly instead of hanging.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn system(name: &str) -> ActorSystem {
    let threads = std::env::var("REACTANT_BENCH_THREADS")
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(2);
    ActorSystem::builder()
        .name(name)
        .threads(threads)
        .build()
        .expect("a valid bench system configuration")
}

/// What the breaker guards: a call that does a little work.
#[inline(never)]
fn dependency(x: u64) -> Result<u64, ()> {
    Ok(black_box(x).wrapping_mul(31))
}

fn breaker(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker");
    group.throughput(Throughput::Elements(1));
    group.bench_function("direct_call", |b| {
        let mut x = 0u64;
        b.iter(|| {
            x += 1;
            black_box(dependency(x))
        })
    });
    let closed = CircuitBreaker::new(5, Duration::from_secs(1), Duration::from_secs(10));
    group.bench_function("closed_breaker_call", |b| {
        let mut x = 0u64;
        b.iter(|| {
            x += 1;
            black_box(closed.call(|| dependency(x)))
        })
    });
    let open = CircuitBreaker::new(1, Duration::from_secs(1), Duration::from_secs(3600));
    let _ = open.call(|| Err::<u64, ()>(()));
    group.bench_function("open_breaker_refusal", |b| {
        let mut x = 0u64;
        b.iter(|| {
            x += 1;
            black_box(open.call(|| dependency(x)).is_err())
        })
    });
    group.finish();
}

/// One run: `MESSAGES` numbers from this thread, through `send`, counted by `ROUTEES`
/// receivers; returns the time until the last one counted its share.
fn run(round: &Round, send: impl Fn(u64)) -> Duration {
    round.arm(ROUTEES as usize);
    let start = Instant::now();
    for n in 0..MESSAGES {
        send(n);
    }
    round.wait("router bench");
    start.elapsed()
}

fn router(c: &mut Criterion) {
    let mut group = c.benchmark_group("router");
    group.throughput(Throughput::Elements(MESSAGES));
    group.sample_size(10);
    let quota = MESSAGES / ROUTEES;

    let system_direct = system("bench-direct");
    let round = Round::new(RUN_TIMEOUT);
    let actors: Vec<ActorRef<u64>> = (0..ROUTEES)
        .map(|i| {
            let round = round.clone();
            system_direct
                .spawn(
                    Behaviors::actor(move || Counter::new(quota, round.clone())),
                    &format!("direct-{i}"),
                )
                .expect("spawned")
        })
        .collect();
    group.bench_function("direct_round_robin_tells", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| run(&round, |n| actors[(n % ROUTEES) as usize].tell(n)))
                .sum()
        })
    });
    system_direct.shutdown();

    let system_pool = system("bench-pool");
    let round = Round::new(RUN_TIMEOUT);
    let pool = {
        let round = round.clone();
        system_pool
            .spawn(
                Routers::pool(ROUTEES as usize, move || {
                    Behaviors::actor({
                        let round = round.clone();
                        move || Counter::new(quota, round.clone())
                    })
                }),
                "pool",
            )
            .expect("spawned")
    };
    group.bench_function("pool_router", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run(&round, |n| pool.tell(n))).sum())
    });
    system_pool.shutdown();
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = breaker, router
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
