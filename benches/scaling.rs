//! How Reactant's throughput grows with worker threads (issue 21, the elastic side), fitted to
//! Gunther's universal scalability law:
//!
//! ```text
//! C(N) = X(N) / X(1) = N / (1 + σ (N − 1) + κ N (N − 1))
//! ```
//!
//! σ is the contention (the serial fraction), κ the coherency cost (the crosstalk that makes
//! throughput fall past a peak). The workload must be able to use every worker: [`PAIRS`]
//! independent ping-pong pairs, each bouncing a ball [`ROUND_TRIPS`] times, served at once
//! from the bench thread, which then only waits (the single-sender workloads of `footprint`
//! are bound by their sender, not by the workers).
//!
//! For each thread count (`REACTANT_BENCH_SCALING_THREADS`, a comma-separated list, else 1 up
//! to the cores this machine has), a fresh system runs [`RUNS`] rounds; the passes visit the
//! thread counts in turn, so a noisy neighbour weighs on all of them. The fit is a least-squares
//! fit of `N / C(N) − 1 = σ (N − 1) + κ N (N − 1)` over the counts above 1: with one such count
//! (a 2-core machine) it gives only `σ + 2κ`, printed with σ for κ = 0.
//!
//! `cargo bench -p reactant-benches --no-default-features --bench scaling`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reactant::prelude::*;

#[path = "workloads.rs"]
#[allow(dead_code, reason = "this bench uses the ping-pong players only")]
mod workloads;
use workloads::round::Round;
use workloads::{Player, Rally};

/// Independent ping-pong pairs.
const PAIRS: usize = 64;
/// Round trips each pair plays per round.
const ROUND_TRIPS: u64 = 20_000;
/// Rounds per thread count (the median is kept).
const RUNS: usize = 5;
/// Longest wait for a round: a lost message must fail loudly, not hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// A system of `threads` workers with [`PAIRS`] pairs that know each other.
struct Court {
    servers: Vec<ActorRef<Rally>>,
    round: Arc<Round>,
    system: ActorSystem,
}

impl Court {
    fn new(threads: usize) -> Self {
        let system = ActorSystem::builder()
            .name("scaling")
            .threads(threads)
            .build()
            .expect("a valid bench system configuration");
        let round = Round::new(RUN_TIMEOUT);
        let servers = (0..PAIRS)
            .map(|pair| {
                let server = system
                    .spawn(
                        Player {
                            partner: None,
                            round: Some(round.clone()),
                        },
                        &format!("server-{pair}"),
                    )
                    .expect("spawn a server");
                let returner = system
                    .spawn(
                        Player {
                            partner: None,
                            round: None,
                        },
                        &format!("returner-{pair}"),
                    )
                    .expect("spawn a returner");
                server.tell(Rally::Partner(returner.clone()));
                returner.tell(Rally::Partner(server.clone()));
                server
            })
            .collect();
        Self {
            servers,
            round,
            system,
        }
    }

    /// Round trips per second of one round (every pair plays [`ROUND_TRIPS`]).
    fn run(&self) -> f64 {
        self.round.arm(PAIRS);
        let start = Instant::now();
        for server in &self.servers {
            server.tell(Rally::Ball(ROUND_TRIPS));
        }
        self.round.wait("scaling");
        (PAIRS as u64 * ROUND_TRIPS) as f64 / start.elapsed().as_secs_f64()
    }
}

fn thread_counts() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let listed = std::env::var("REACTANT_BENCH_SCALING_THREADS").ok();
    let mut counts: Vec<usize> = match listed {
        Some(list) => {
            list.split(',')
                .map(|n| {
                    n.trim().parse().ok().filter(|&n: &usize| n > 0).unwrap_or_else(|| {
                    panic!("REACTANT_BENCH_SCALING_THREADS lists positive integers, got {list:?}")
                })
                })
                .collect()
        }
        None => (1..=cores).collect(),
    };
    if !counts.contains(&1) {
        // The fit is relative to one thread.
        counts.insert(0, 1);
    }
    counts.sort_unstable();
    counts.dedup();
    counts
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// Least-squares σ and κ from `(N, C(N))` for N > 1; `None` for κ when only one N.
fn fit(points: &[(usize, f64)]) -> (f64, Option<f64>) {
    // y = σ a + κ b, with y = N / C − 1, a = N − 1, b = N (N − 1).
    let rows: Vec<(f64, f64, f64)> = points
        .iter()
        .filter(|(n, _)| *n > 1)
        .map(|&(n, c)| {
            let n = n as f64;
            (n / c - 1.0, n - 1.0, n * (n - 1.0))
        })
        .collect();
    match rows.as_slice() {
        [] => (0.0, None),
        [(y, a, _)] => (y / a, None),
        _ => {
            let (mut aa, mut ab, mut bb, mut ay, mut by) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for (y, a, b) in &rows {
                aa += a * a;
                ab += a * b;
                bb += b * b;
                ay += a * y;
                by += b * y;
            }
            let det = aa * bb - ab * ab;
            ((ay * bb - by * ab) / det, Some((aa * by - ab * ay) / det))
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with no flag: a smoke
    // pass of one round per count is enough there.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let runs = if measuring { RUNS } else { 1 };
    let counts = thread_counts();
    let courts: Vec<(usize, Court)> = counts.iter().map(|&n| (n, Court::new(n))).collect();
    // Warm-up, then the passes, each visiting every count.
    for (_, court) in &courts {
        court.run();
    }
    let mut rates: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); courts.len()];
    for _ in 0..runs {
        for (at, (_, court)) in courts.iter().enumerate() {
            rates[at].push(court.run());
        }
    }
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "scaling: {PAIRS} ping-pong pairs x {ROUND_TRIPS} round trips, median of {runs} rounds, \
         {cores} cores visible"
    );
    let medians: Vec<(usize, f64)> = counts
        .iter()
        .zip(rates)
        .map(|(&n, rates)| (n, median(rates)))
        .collect();
    let one = medians[0].1;
    let points: Vec<(usize, f64)> = medians.iter().map(|&(n, x)| (n, x / one)).collect();
    for ((n, x), (_, c)) in medians.iter().zip(&points) {
        let over = if *n > cores {
            " (more threads than cores)"
        } else {
            ""
        };
        println!(
            "scaling: {n} threads: {:.2}M round trips/s, C(N) = {c:.3}{over}",
            x / 1e6
        );
    }
    match fit(&points) {
        (_, None) if points.len() < 2 => println!("scaling: one thread count: nothing to fit"),
        (sigma, None) => {
            let (n, _) = points[1];
            println!(
                "scaling: USL from 1 and {n} threads: σ + {n}κ = {sigma:.4} (one equation: \
                 σ = {sigma:.4} if κ = 0; κ needs a third thread count)"
            );
        }
        (sigma, Some(kappa)) => {
            println!("scaling: USL fit: σ = {sigma:.4}, κ = {kappa:.5}");
            for &(n, c) in &points {
                let n_f = n as f64;
                let model = n_f / (1.0 + sigma * (n_f - 1.0) + kappa * n_f * (n_f - 1.0));
                println!("scaling:   N = {n}: measured C = {c:.3}, model {model:.3}");
            }
            if kappa > 0.0 {
                let peak = ((1.0 - sigma) / kappa).sqrt();
                println!("scaling:   the model's peak: N ≈ {peak:.1} threads");
            }
        }
    }
    for (_, court) in courts {
        court.system.shutdown();
    }
}
