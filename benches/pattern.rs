//! The patterns' costs, each beside the direct path in the same run (issue 19):
//!
//! - `breaker`: a call through a closed [`CircuitBreaker`] (target: ≤ 50 ns over the direct
//!   call), beside the direct call and a call refused by an open breaker;
//! - `router`: messages through a round-robin pool router to 4 counting routees, beside the
//!   same messages told directly to 4 counting actors in turn (target: ≥ 80% of direct);
//! - `slow_routee`: 400 jobs to 4 routees of which one takes 1 ms per job and the others
//!   20 µs, through a round-robin pool and through a balancing pool: the time until every job
//!   is done (the balancing pool should not wait for the slow routee's share).
//!
//! Before criterion, an alternating pass (`router pairs`) times the direct tells and the pool in
//! one system, one burst of each in turn ([`PAIRS`] pairs, each side first in half of them),
//! and prints each pair's ratio and their median: a noisy neighbour then weighs on both sides
//! alike, where criterion's groups time them seconds apart. `REACTANT_BENCH_ONLY=pairs` runs
//! only that pass.
//!
//! Before that, `front cost` (`REACTANT_BENCH_ONLY=front`) times the same two send loops with
//! every worker held by a blocking actor: the routees do not run meanwhile, so a tell is a push
//! into an already scheduled mailbox, with no consumer on another core, and the difference is
//! the front's own cost per tell, free of the run's dynamics (how often a routee drains its
//! mailbox and must be scheduled again).
//!
//! `cargo bench -p reactant-benches --bench pattern` (no RocksDB needed: `--no-default-features` builds faster).
//! Worker threads: `REACTANT_BENCH_THREADS`, else 2, as in the other benches.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use reactant::pattern::{CircuitBreaker, Routers};
use reactant::prelude::*;

#[path = "figures.rs"]
#[allow(dead_code, reason = "each bench uses some of the shared helpers")]
mod figures;
#[path = "round.rs"]
mod round;
use figures::system;
use round::{Counter, Round};

/// Messages per router run.
const MESSAGES: u64 = 1_000_000;
/// Routees (and direct actors).
const ROUTEES: u64 = 4;
/// Pairs of runs in the alternating pass.
const PAIRS: usize = 11;
/// Longest wait for a run: a lost message fails loudly instead of hanging.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

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

/// `ROUTEES` counters of `MESSAGES / ROUTEES` each, for direct tells in turn.
fn direct_counters(system: &ActorSystem, round: &Arc<Round>) -> Vec<ActorRef<u64>> {
    let quota = MESSAGES / ROUTEES;
    (0..ROUTEES)
        .map(|i| {
            let round = round.clone();
            system
                .spawn(
                    Behaviors::actor(move || Counter::new(quota, round.clone())),
                    &format!("direct-{i}"),
                )
                .expect("spawned")
        })
        .collect()
}

/// A round-robin pool of `ROUTEES` such counters.
fn counting_pool(system: &ActorSystem, round: &Arc<Round>) -> ActorRef<u64> {
    let quota = MESSAGES / ROUTEES;
    let round = round.clone();
    system
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
}

fn router(c: &mut Criterion) {
    let mut group = c.benchmark_group("router");
    group.throughput(Throughput::Elements(MESSAGES));
    group.sample_size(10);

    let system_direct = system("bench-direct");
    let round = Round::new(RUN_TIMEOUT);
    let actors = direct_counters(&system_direct, &round);
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
    let pool = counting_pool(&system_pool, &round);
    group.bench_function("pool_router", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run(&round, |n| pool.tell(n))).sum())
    });
    system_pool.shutdown();
    group.finish();
}

/// Jobs per slow-routee run.
const JOBS: usize = 400;

/// Spins for `d` (a sleep would free the worker thread, which is not what a busy routee does).
fn busy(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// A routee that works 1 ms per job if it is the first one made, 20 µs otherwise, and
/// reports each job done.
fn slow_routee_factory(
    done: crossbeam_channel::Sender<()>,
) -> impl Fn() -> Behavior<u32> + Send + Sync + 'static {
    let made = std::sync::atomic::AtomicUsize::new(0);
    let done = parking_lot::Mutex::new(done);
    move || {
        let slow = made.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0;
        let work = if slow {
            Duration::from_millis(1)
        } else {
            Duration::from_micros(20)
        };
        let done = done.lock().clone();
        Behaviors::receive_message(move |_: u32| {
            busy(work);
            let _ = done.send(());
            Behaviors::same()
        })
    }
}

fn slow_routee(c: &mut Criterion) {
    let mut group = c.benchmark_group("slow_routee");
    group.throughput(Throughput::Elements(JOBS as u64));
    group.sample_size(10);
    let run = |name: &str, balancing: bool| {
        let system = system(name);
        let (tx, rx) = crossbeam_channel::unbounded();
        let factory = slow_routee_factory(tx);
        let pool = if balancing {
            system.spawn(Routers::balancing_pool(ROUTEES as usize, factory), "pool")
        } else {
            system.spawn(Routers::pool(ROUTEES as usize, factory), "pool")
        }
        .expect("spawned");
        (system, pool, rx)
    };
    for (name, balancing) in [("round_robin_pool", false), ("balancing_pool", true)] {
        let (system, pool, rx) = run(name, balancing);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    for job in 0..JOBS as u32 {
                        pool.tell(job);
                    }
                    for _ in 0..JOBS {
                        rx.recv_timeout(RUN_TIMEOUT).expect("a job was lost");
                    }
                    total += start.elapsed();
                }
                total
            })
        });
        system.shutdown();
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = breaker, router, slow_routee
}

/// Times `direct` and `routed` once each to warm up, then [`PAIRS`] times each in turn, each
/// side first in half of the pairs: a noisy neighbour weighs on both alike.
fn alternate(
    direct: impl Fn() -> Duration,
    routed: impl Fn() -> Duration,
) -> Vec<(Duration, Duration)> {
    direct();
    routed();
    (0..PAIRS)
        .map(|pair| {
            if pair % 2 == 0 {
                let d = direct();
                (d, routed())
            } else {
                let p = routed();
                (direct(), p)
            }
        })
        .collect()
}

/// The alternating pass: 4 counters told directly in turn and a round-robin pool of 4
/// counters, in one system, timed one burst after the other.
fn router_pairs() {
    let system = system("bench-pairs");
    let direct_round = Round::new(RUN_TIMEOUT);
    let actors = direct_counters(&system, &direct_round);
    let pool_round = Round::new(RUN_TIMEOUT);
    let pool = counting_pool(&system, &pool_round);
    let direct = || run(&direct_round, |n| actors[(n % ROUTEES) as usize].tell(n));
    let routed = || run(&pool_round, |n| pool.tell(n));
    let rate = |elapsed: Duration| MESSAGES as f64 / elapsed.as_secs_f64() / 1e6;
    let mut ratios = Vec::with_capacity(PAIRS);
    for (d, p) in alternate(direct, routed) {
        let ratio = d.as_secs_f64() / p.as_secs_f64();
        println!(
            "router pairs: direct {:.1}M msgs/s, pool {:.1}M msgs/s, pool / direct {:.0}%",
            rate(d),
            rate(p),
            100.0 * ratio
        );
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "router pairs: median pool / direct over {PAIRS} pairs {:.0}% (range {:.0}–{:.0}%; \
         target ≥ 80%)",
        100.0 * ratios[PAIRS / 2],
        100.0 * ratios[0],
        100.0 * ratios[PAIRS - 1]
    );
    system.shutdown();
}

/// A message that holds a worker: the handler reports it has started, then waits until the
/// gate's sender is dropped.
type Hold = (
    crossbeam_channel::Sender<()>,
    crossbeam_channel::Receiver<()>,
);

/// The send loop alone, with every worker held: the routees do not run while this thread
/// tells, so each tell is a push into a scheduled actor's mailbox (no schedule, no wake-up,
/// no cache line shared with a consumer) and the difference between the pool and the direct
/// tells is the front's own cost. Returns the time of the send loop; the routees then drain.
fn held_run(holders: &[ActorRef<Hold>], round: &Round, send: impl Fn(u64)) -> Duration {
    let (entered_tx, entered_rx) = crossbeam_channel::unbounded();
    let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
    for holder in holders {
        holder.tell((entered_tx.clone(), gate_rx.clone()));
    }
    for _ in holders {
        entered_rx
            .recv_timeout(RUN_TIMEOUT)
            .expect("a holder started");
    }
    round.arm(ROUTEES as usize);
    let start = Instant::now();
    for n in 0..MESSAGES {
        send(n);
    }
    let elapsed = start.elapsed();
    drop(gate_tx);
    round.wait("router bench (held)");
    elapsed
}

/// The front's own cost: [`held_run`] for the direct tells and the pool in turn.
fn front_cost() {
    let system = system("bench-front");
    let holders: Vec<ActorRef<Hold>> = (0..figures::bench_threads())
        .map(|i| {
            system
                .spawn(
                    Behaviors::receive_message(|(entered, gate): Hold| {
                        let _ = entered.send(());
                        let _ = gate.recv();
                        Behaviors::same()
                    }),
                    &format!("holder-{i}"),
                )
                .expect("spawned")
        })
        .collect();
    let direct_round = Round::new(RUN_TIMEOUT);
    let actors = direct_counters(&system, &direct_round);
    let pool_round = Round::new(RUN_TIMEOUT);
    let pool = counting_pool(&system, &pool_round);
    let direct = || {
        held_run(&holders, &direct_round, |n| {
            actors[(n % ROUTEES) as usize].tell(n)
        })
    };
    let routed = || held_run(&holders, &pool_round, |n| pool.tell(n));
    let per = |elapsed: Duration| elapsed.as_secs_f64() * 1e9 / MESSAGES as f64;
    let mut extra = Vec::with_capacity(PAIRS);
    for (d, p) in alternate(direct, routed) {
        println!(
            "front cost (workers held): direct {:.1} ns/tell, pool {:.1} ns/tell, front +{:.1} ns",
            per(d),
            per(p),
            per(p) - per(d)
        );
        extra.push(per(p) - per(d));
    }
    extra.sort_by(f64::total_cmp);
    println!(
        "front cost (workers held): median +{:.1} ns/tell over {PAIRS} pairs (range {:.1}–{:.1})",
        extra[PAIRS / 2],
        extra[0],
        extra[PAIRS - 1]
    );
    system.shutdown();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `--list` and criterion's test mode run no measurement.
    let measuring = !args.iter().any(|arg| arg == "--list" || arg == "--test");
    let only = std::env::var("REACTANT_BENCH_ONLY").ok();
    if measuring && only.as_deref().is_none_or(|only| only == "front") {
        front_cost();
    }
    if measuring && only.as_deref().is_none_or(|only| only == "pairs") {
        router_pairs();
    }
    if matches!(only.as_deref(), Some("pairs" | "front")) {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
