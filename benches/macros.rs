//! `#[actor]` costs nothing at run time: the `tell` and `ping_pong` workloads of
//! `benches/actors.rs`, each with an actor written with `#[actor]` beside the same actor written
//! by hand (`impl Actor` and a message enum), in the same run (issue 4; target: within 5%).
//!
//! It first prints the medians of alternating runs of the two versions (a fair comparison on
//! a noisy two-core machine), then runs criterion on each.
//!
//! `cargo bench -p reactant-benches --bench macros` (no RocksDB needed: `--no-default-features` builds faster).
//! Worker threads: `REACTANT_BENCH_THREADS`, else 2, as in the other benches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group};
use reactant::prelude::*;

#[path = "figures.rs"]
#[allow(dead_code, reason = "each bench uses some of the shared helpers")]
mod figures;
#[path = "round.rs"]
mod round;
use figures::system;
use round::Round;

/// Messages one outside thread sends in `tell`.
const MESSAGES: u64 = 5_000_000;
/// Round trips in `ping_pong`.
const ROUND_TRIPS: u64 = 1_000_000;
/// Longest wait for a run: a lost message fails loudly instead of hanging.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

// ---- tell: one actor counts MESSAGES numbers --------------------------------------------------

/// The counter with `#[actor]`.
struct MacroCounter {
    seen: u64,
    round: Arc<Round>,
}

#[actor]
impl MacroCounter {
    /// Counts one number.
    pub fn count(&mut self, n: u64) {
        std::hint::black_box(n);
        self.seen += 1;
        if self.seen == MESSAGES {
            self.seen = 0;
            self.round.count_down();
        }
    }
}

/// The same counter by hand.
struct HandCounter {
    seen: u64,
    round: Arc<Round>,
}

enum HandCounterMsg {
    Count { n: u64 },
}

impl Actor for HandCounter {
    type Msg = HandCounterMsg;

    fn handle(&mut self, _ctx: &mut Context<HandCounterMsg>, msg: HandCounterMsg) {
        match msg {
            HandCounterMsg::Count { n } => {
                std::hint::black_box(n);
                self.seen += 1;
                if self.seen == MESSAGES {
                    self.seen = 0;
                    self.round.count_down();
                }
            }
        }
    }
}

fn tell_run(round: &Round, mut send: impl FnMut(u64)) -> Duration {
    round.arm(1);
    let start = Instant::now();
    for i in 1..=MESSAGES {
        send(i);
    }
    round.wait("tell");
    start.elapsed()
}

/// `tell` to the counter written with `#[actor]`.
struct MacroTell {
    counter: ActorRef<MacroCounterMsg>,
    round: Arc<Round>,
    // Last: the system shuts down after the references into it are gone.
    _system: ActorSystem,
}

impl MacroTell {
    fn new() -> Self {
        let system = system("tell-macro");
        let round = Round::new(RUN_TIMEOUT);
        let counter = system
            .spawn(
                MacroCounter {
                    seen: 0,
                    round: round.clone(),
                },
                "counter",
            )
            .expect("spawn the counter");
        Self {
            counter,
            round,
            _system: system,
        }
    }

    fn run(&self) -> Duration {
        tell_run(&self.round, |n| self.counter.count(n))
    }
}

/// `tell` to the counter written by hand.
struct HandTell {
    counter: ActorRef<HandCounterMsg>,
    round: Arc<Round>,
    _system: ActorSystem,
}

impl HandTell {
    fn new() -> Self {
        let system = system("tell-hand");
        let round = Round::new(RUN_TIMEOUT);
        let counter = system
            .spawn(
                HandCounter {
                    seen: 0,
                    round: round.clone(),
                },
                "counter",
            )
            .expect("spawn the counter");
        Self {
            counter,
            round,
            _system: system,
        }
    }

    fn run(&self) -> Duration {
        tell_run(&self.round, |n| {
            self.counter.tell(HandCounterMsg::Count { n })
        })
    }
}

// ---- ping_pong: two actors bounce a ball ROUND_TRIPS times ------------------------------------

/// A player with `#[actor]`.
struct MacroPlayer {
    partner: Option<ActorRef<MacroPlayerMsg>>,
    round: Option<Arc<Round>>,
}

#[actor]
impl MacroPlayer {
    /// Who to bounce the ball to.
    pub fn partner(&mut self, partner: ActorRef<MacroPlayerMsg>) {
        self.partner = Some(partner);
    }

    /// The ball, with the round trips still to play.
    pub fn ball(&mut self, left: u64) {
        match (&self.round, &self.partner) {
            (Some(round), _) if left == 0 => round.count_down(),
            (Some(_), Some(partner)) => partner.ball(left - 1),
            (None, Some(partner)) => partner.ball(left),
            (_, None) => unreachable!("the partner is introduced before the first ball"),
        }
    }
}

/// The same player by hand.
struct HandPlayer {
    partner: Option<ActorRef<HandPlayerMsg>>,
    round: Option<Arc<Round>>,
}

enum HandPlayerMsg {
    Partner { partner: ActorRef<HandPlayerMsg> },
    Ball { left: u64 },
}

impl Actor for HandPlayer {
    type Msg = HandPlayerMsg;

    fn handle(&mut self, _ctx: &mut Context<HandPlayerMsg>, msg: HandPlayerMsg) {
        match msg {
            HandPlayerMsg::Partner { partner } => self.partner = Some(partner),
            HandPlayerMsg::Ball { left } => match (&self.round, &self.partner) {
                (Some(round), _) if left == 0 => round.count_down(),
                (Some(_), Some(partner)) => partner.tell(HandPlayerMsg::Ball { left: left - 1 }),
                (None, Some(partner)) => partner.tell(HandPlayerMsg::Ball { left }),
                (_, None) => unreachable!("the partner is introduced before the first ball"),
            },
        }
    }
}

fn ping_pong_run(round: &Round, serve: impl FnOnce()) -> Duration {
    round.arm(1);
    let start = Instant::now();
    serve();
    round.wait("ping_pong");
    start.elapsed()
}

/// `ping_pong` between two players written with `#[actor]`.
struct MacroPingPong {
    server: ActorRef<MacroPlayerMsg>,
    round: Arc<Round>,
    _system: ActorSystem,
}

impl MacroPingPong {
    fn new() -> Self {
        let system = system("ping-pong-macro");
        let round = Round::new(RUN_TIMEOUT);
        let server = system
            .spawn(
                MacroPlayer {
                    partner: None,
                    round: Some(round.clone()),
                },
                "server",
            )
            .expect("spawn the server");
        let returner = system
            .spawn(
                MacroPlayer {
                    partner: None,
                    round: None,
                },
                "returner",
            )
            .expect("spawn the returner");
        server.partner(returner.clone());
        returner.partner(server.clone());
        Self {
            server,
            round,
            _system: system,
        }
    }

    fn run(&self) -> Duration {
        ping_pong_run(&self.round, || self.server.ball(ROUND_TRIPS))
    }
}

/// `ping_pong` between two players written by hand.
struct HandPingPong {
    server: ActorRef<HandPlayerMsg>,
    round: Arc<Round>,
    _system: ActorSystem,
}

impl HandPingPong {
    fn new() -> Self {
        let system = system("ping-pong-hand");
        let round = Round::new(RUN_TIMEOUT);
        let server = system
            .spawn(
                HandPlayer {
                    partner: None,
                    round: Some(round.clone()),
                },
                "server",
            )
            .expect("spawn the server");
        let returner = system
            .spawn(
                HandPlayer {
                    partner: None,
                    round: None,
                },
                "returner",
            )
            .expect("spawn the returner");
        server.tell(HandPlayerMsg::Partner {
            partner: returner.clone(),
        });
        returner.tell(HandPlayerMsg::Partner {
            partner: server.clone(),
        });
        Self {
            server,
            round,
            _system: system,
        }
    }

    fn run(&self) -> Duration {
        ping_pong_run(&self.round, || {
            self.server.tell(HandPlayerMsg::Ball { left: ROUND_TRIPS })
        })
    }
}

// ---- alternating runs -------------------------------------------------------------------------

/// Runs of each workload in the alternating pass; it prints the medians.
const ALTERNATING_RUNS: usize = 21;

/// The two versions of a workload, one run each in turn, so that a noisy neighbour or the
/// two-core machine's bimodal hand-offs (see the README) weigh on both alike: criterion times
/// one version after the other, and a phase change between them shows as a difference.
/// Prints each version's median rate and the median of the pairs' ratios.
fn alternating(
    name: &str,
    elements: u64,
    macros: impl Fn() -> Duration,
    hand: impl Fn() -> Duration,
) {
    let rate = |elapsed: Duration| elements as f64 / elapsed.as_secs_f64() / 1e6;
    // One warm-up run each, not counted.
    macros();
    hand();
    let mut macro_rates = Vec::with_capacity(ALTERNATING_RUNS);
    let mut hand_rates = Vec::with_capacity(ALTERNATING_RUNS);
    let mut ratios = Vec::with_capacity(ALTERNATING_RUNS);
    for run in 0..ALTERNATING_RUNS {
        // Each version goes first in half of the pairs.
        let (with_macro, by_hand) = if run % 2 == 0 {
            let with_macro = rate(macros());
            (with_macro, rate(hand()))
        } else {
            let by_hand = rate(hand());
            (rate(macros()), by_hand)
        };
        macro_rates.push(with_macro);
        hand_rates.push(by_hand);
        ratios.push(with_macro / by_hand);
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    println!(
        "{name:<10} actor_macro {:>7.2}M/s   hand_written {:>7.2}M/s   macro/hand {:>5.1}%   \
         (medians of {ALTERNATING_RUNS} alternating runs, and of their pairs' ratios)",
        median(&mut macro_rates),
        median(&mut hand_rates),
        100.0 * median(&mut ratios),
    );
}

fn alternating_runs() {
    let hand = HandTell::new();
    let macros = MacroTell::new();
    alternating("tell", MESSAGES, || macros.run(), || hand.run());
    drop((macros, hand));
    let (macros, hand) = (MacroPingPong::new(), HandPingPong::new());
    alternating("ping_pong", ROUND_TRIPS, || macros.run(), || hand.run());
}

// ---- criterion --------------------------------------------------------------------------------

fn runs(iters: u64, mut run: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| run()).sum()
}

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
    elements: u64,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Elements(elements))
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(4));
    group
}

fn tell(c: &mut Criterion) {
    let mut group = group(c, "tell", MESSAGES);
    let macros = MacroTell::new();
    group.bench_function("actor_macro", |b| {
        b.iter_custom(|iters| runs(iters, || macros.run()))
    });
    drop(macros);
    let hand = HandTell::new();
    group.bench_function("hand_written", |b| {
        b.iter_custom(|iters| runs(iters, || hand.run()))
    });
    drop(hand);
    group.finish();
}

fn ping_pong(c: &mut Criterion) {
    let mut group = group(c, "ping_pong", ROUND_TRIPS);
    let macros = MacroPingPong::new();
    group.bench_function("actor_macro", |b| {
        b.iter_custom(|iters| runs(iters, || macros.run()))
    });
    drop(macros);
    let hand = HandPingPong::new();
    group.bench_function("hand_written", |b| {
        b.iter_custom(|iters| runs(iters, || hand.run()))
    });
    drop(hand);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1));
    targets = tell, ping_pong
}

fn main() {
    alternating_runs();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
