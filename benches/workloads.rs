//! The workloads of the runtime's benches (issue 2), each beside its raw physical limit: plain
//! `std` threads doing the same work over `crossbeam-channel`.
//!
//! Both bench targets include this file, so criterion (`actors.rs`) and the one-shot table
//! (`footprint.rs`) time exactly the same code. A run returns the time from its first send to
//! the moment the last message has been seen by its receiver; setup (building the system,
//! spawning the long-lived actors, starting threads) happens before the clock starts.

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use reactant::prelude::*;

#[path = "round.rs"]
pub mod round;
use round::{Counter, Round};

/// Messages one outside thread sends in `tell` and `fan_out`.
pub const MESSAGES: u64 = 5_000_000;
/// Round trips in `ping_pong`.
pub const ROUND_TRIPS: u64 = 1_000_000;
/// Actors receiving the messages of `fan_out`, round-robin.
pub const FAN_OUT_ACTORS: usize = 10_000;
/// Actors spawned by `spawn`.
pub const SPAWNED: usize = 200_000;

/// Worker threads of every system: `REACTANT_BENCH_THREADS`, else 2 (the cores of the machine
/// the targets were set on), so the same bench can be rerun with more threads for a scaling
/// table.
pub fn worker_threads() -> usize {
    match std::env::var("REACTANT_BENCH_THREADS") {
        Ok(value) => value
            .trim()
            .parse()
            .ok()
            .filter(|&n: &usize| n > 0)
            .unwrap_or_else(|| {
                panic!("REACTANT_BENCH_THREADS must be a positive integer, got {value:?}")
            }),
        Err(_) => 2,
    }
}

/// A fresh system with [`worker_threads`] workers and the default throughput.
pub fn system(name: &str) -> ActorSystem {
    ActorSystem::builder()
        .name(name)
        .threads(worker_threads())
        .build()
        .expect("a valid bench system configuration")
}

/// Longest wait for a run to finish before the bench gives up: a lost message must fail
/// loudly, not hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// `tell`: one outside thread sends [`MESSAGES`] `u64` to one actor.
pub struct Tell {
    counter: ActorRef<u64>,
    round: Arc<Round>,
    // Last: the system shuts down after the references into it are gone.
    _system: ActorSystem,
}

impl Tell {
    /// A system with one counting actor.
    pub fn new() -> Self {
        let system = system("tell");
        let round = Round::new(RUN_TIMEOUT);
        let counter = system
            .spawn(Counter::new(MESSAGES, round.clone()), "counter")
            .expect("spawn the counter");
        Self {
            counter,
            round,
            _system: system,
        }
    }

    /// Sends [`MESSAGES`] and returns once the actor has seen them all.
    pub fn run(&self) -> Duration {
        self.round.arm(1);
        let start = Instant::now();
        for i in 1..=MESSAGES {
            self.counter.tell(i);
        }
        self.round.wait("tell");
        start.elapsed()
    }
}

/// The raw limit of `tell` and `fan_out`: one thread sends [`MESSAGES`] `u64` through an
/// unbounded channel to one consumer thread.
///
/// `fan_out` is compared with the same single consumer: its work is bounded by what one
/// sending thread can push, and on two cores a second consumer would only compete with the
/// sender for a core.
pub fn raw_tell() -> Duration {
    let (tx, rx) = crossbeam_channel::unbounded::<u64>();
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let consumer = thread::spawn(move || {
        let mut seen = 0u64;
        for msg in rx.iter() {
            std::hint::black_box(msg);
            seen += 1;
            if seen == MESSAGES {
                let _ = done_tx.send(());
            }
        }
    });
    let start = Instant::now();
    for i in 1..=MESSAGES {
        tx.send(i).expect("the consumer is alive");
    }
    done_rx
        .recv_timeout(RUN_TIMEOUT)
        .expect("raw tell: the consumer saw every message");
    let elapsed = start.elapsed();
    drop(tx);
    consumer.join().expect("raw tell consumer");
    elapsed
}

/// The message two players bounce: a partner to bounce to, or the ball with the round trips
/// still to play (also the `scaling` bench's pairs).
pub enum Rally {
    Partner(ActorRef<Rally>),
    Ball(u64),
}

/// One side of `ping_pong`. The server (`round` set) counts the round trips down and ends the
/// round at zero; the other side just returns the ball.
pub struct Player {
    pub partner: Option<ActorRef<Rally>>,
    pub round: Option<Arc<Round>>,
}

impl Actor for Player {
    type Msg = Rally;

    fn handle(&mut self, _ctx: &mut Context<Rally>, msg: Rally) {
        match msg {
            Rally::Partner(partner) => self.partner = Some(partner),
            Rally::Ball(left) => match (&self.round, &self.partner) {
                (Some(round), _) if left == 0 => round.count_down(),
                (Some(_), Some(partner)) => partner.tell(Rally::Ball(left - 1)),
                (None, Some(partner)) => partner.tell(Rally::Ball(left)),
                (_, None) => unreachable!("the partner is introduced before the first ball"),
            },
        }
    }
}

/// `ping_pong`: two actors bounce a message for [`ROUND_TRIPS`] round trips.
pub struct PingPong {
    server: ActorRef<Rally>,
    round: Arc<Round>,
    _system: ActorSystem,
}

impl PingPong {
    /// A system with two players that know each other.
    pub fn new() -> Self {
        let system = system("ping-pong");
        let round = Round::new(RUN_TIMEOUT);
        let server = system
            .spawn(
                Player {
                    partner: None,
                    round: Some(round.clone()),
                },
                "server",
            )
            .expect("spawn the server");
        let returner = system
            .spawn(
                Player {
                    partner: None,
                    round: None,
                },
                "returner",
            )
            .expect("spawn the returner");
        server.tell(Rally::Partner(returner.clone()));
        returner.tell(Rally::Partner(server.clone()));
        Self {
            server,
            round,
            _system: system,
        }
    }

    /// Serves one ball and returns once it has crossed [`ROUND_TRIPS`] times each way.
    pub fn run(&self) -> Duration {
        self.round.arm(1);
        let start = Instant::now();
        self.server.tell(Rally::Ball(ROUND_TRIPS));
        self.round.wait("ping_pong");
        start.elapsed()
    }
}

/// The raw limit of `ping_pong`: two threads bounce a `u64` [`ROUND_TRIPS`] times over two
/// unbounded channels (the mailbox's kind of queue).
pub fn raw_ping_pong() -> Duration {
    let (to_returner, returner_rx) = crossbeam_channel::unbounded::<u64>();
    let (to_server, server_rx) = crossbeam_channel::unbounded::<u64>();
    let returner = thread::spawn(move || {
        for ball in returner_rx.iter() {
            if to_server.send(ball).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut left = ROUND_TRIPS;
    while left > 0 {
        to_returner.send(left).expect("the returner is alive");
        left = server_rx.recv().expect("the returner is alive") - 1;
    }
    let elapsed = start.elapsed();
    drop(to_returner);
    returner.join().expect("raw ping-pong returner");
    elapsed
}

/// `fan_out`: [`FAN_OUT_ACTORS`] actors, [`MESSAGES`] messages sent round-robin from one
/// outside thread.
pub struct FanOut {
    actors: Vec<ActorRef<u64>>,
    round: Arc<Round>,
    _system: ActorSystem,
}

impl FanOut {
    /// A system with [`FAN_OUT_ACTORS`] counting actors.
    pub fn new() -> Self {
        let system = system("fan-out");
        let round = Round::new(RUN_TIMEOUT);
        let quota = MESSAGES / FAN_OUT_ACTORS as u64;
        assert_eq!(
            quota * FAN_OUT_ACTORS as u64,
            MESSAGES,
            "an even share per actor"
        );
        let actors = (0..FAN_OUT_ACTORS)
            .map(|_| {
                system
                    .spawn_anonymous(Counter::new(quota, round.clone()))
                    .expect("spawn a counter")
            })
            .collect();
        Self {
            actors,
            round,
            _system: system,
        }
    }

    /// Sends [`MESSAGES`] round-robin and returns once every actor has seen its share.
    pub fn run(&self) -> Duration {
        self.round.arm(self.actors.len());
        let start = Instant::now();
        let mut next = self.actors.iter().cycle();
        for i in 1..=MESSAGES {
            next.next().expect("a non-empty cycle").tell(i);
        }
        self.round.wait("fan_out");
        start.elapsed()
    }
}

/// The behavior of an idle spawned actor: no state, nothing to start.
fn idle_behavior() -> Behavior<u64> {
    Behaviors::receive_message(|_: u64| Behaviors::same())
}

/// `spawn`: [`SPAWNED`] actors spawned with `spawn_anonymous` into `system`; returns the time
/// the spawns took. The actors stay alive (the `/user` guardian holds them); the references
/// are dropped at once, so what they cost is the runtime's alone.
pub fn spawn_idle(system: &ActorSystem) -> Duration {
    let start = Instant::now();
    for _ in 0..SPAWNED {
        drop(
            system
                .spawn_anonymous(idle_behavior())
                .expect("spawn an idle actor"),
        );
    }
    start.elapsed()
}

/// An actor with a start hook: what every entity and every child with state is. Its
/// `pre_start` runs in a turn of its own before any message.
struct Starting {
    state: u64,
    round: Arc<Round>,
}

impl Actor for Starting {
    type Msg = ();

    fn pre_start(&mut self, _ctx: &mut Context<()>) {
        std::hint::black_box(self.state);
        self.round.count_down();
    }

    fn handle(&mut self, _ctx: &mut Context<()>, _msg: ()) {}
}

/// `spawn_started`: [`SPAWNED`] actors with a `pre_start` hook spawned from an outside thread
/// with `spawn_anonymous`, timed until every hook has run (the peers harness's `spawn`
/// workload). The references are dropped at once, as in [`spawn_idle`].
pub fn spawn_started(system: &ActorSystem) -> Duration {
    let round = Round::new(RUN_TIMEOUT);
    round.arm(SPAWNED);
    let start = Instant::now();
    for state in 0..SPAWNED as u64 {
        drop(
            system
                .spawn_anonymous(Starting {
                    state,
                    round: round.clone(),
                })
                .expect("spawn an actor with a start hook"),
        );
    }
    round.wait("spawn_started");
    start.elapsed()
}

/// The raw limit of `spawn_started`: [`SPAWNED`] boxed states allocated on this thread and
/// handed over a channel to another, which runs a start hook on each and keeps it.
pub fn raw_spawn_started() -> Duration {
    let round = Round::new(RUN_TIMEOUT);
    round.arm(SPAWNED);
    let (tx, rx) = crossbeam_channel::unbounded::<Box<(u64, Arc<Round>)>>();
    let starter = thread::spawn(move || {
        let mut kept = Vec::with_capacity(SPAWNED);
        for started in rx.iter() {
            std::hint::black_box(started.0);
            started.1.count_down();
            kept.push(started);
        }
        kept
    });
    let start = Instant::now();
    for state in 0..SPAWNED as u64 {
        tx.send(Box::new((state, round.clone())))
            .expect("the starter thread is running");
    }
    round.wait("raw_spawn_started");
    let elapsed = start.elapsed();
    drop(tx);
    drop(starter.join().expect("raw spawn starter"));
    elapsed
}

/// Replies to the reference it receives.
struct Echo;

impl Actor for Echo {
    type Msg = ActorRef<u64>;

    fn handle(&mut self, _ctx: &mut Context<ActorRef<u64>>, reply_to: ActorRef<u64>) {
        reply_to.tell(1);
    }
}

/// `ask`: sequential asks from an outside thread to one echoing actor.
pub struct Ask {
    echo: ActorRef<ActorRef<u64>>,
    _system: ActorSystem,
}

impl Ask {
    /// A system with one echoing actor.
    pub fn new() -> Self {
        let system = system("ask");
        let echo = system.spawn(Echo, "echo").expect("spawn the echo");
        Self {
            echo,
            _system: system,
        }
    }

    /// One ask, waited for.
    #[inline]
    pub fn ask(&self) -> u64 {
        self.echo
            .ask(|reply_to| reply_to)
            .wait(RUN_TIMEOUT)
            .expect("the echo replies")
    }
}

/// The raw limit of `ask`: a request/response round trip between two threads over two
/// unbounded channels.
pub struct RawRoundTrip {
    requests: Option<Sender<u64>>,
    responses: Receiver<u64>,
    responder: Option<JoinHandle<()>>,
}

impl RawRoundTrip {
    /// Starts the responding thread.
    pub fn new() -> Self {
        let (requests, request_rx) = crossbeam_channel::unbounded::<u64>();
        let (response_tx, responses) = crossbeam_channel::unbounded::<u64>();
        let responder = thread::spawn(move || {
            for request in request_rx.iter() {
                if response_tx.send(request).is_err() {
                    break;
                }
            }
        });
        Self {
            requests: Some(requests),
            responses,
            responder: Some(responder),
        }
    }

    /// One request and its response.
    #[inline]
    pub fn round_trip(&self) -> u64 {
        self.requests
            .as_ref()
            .expect("open until drop")
            .send(1)
            .expect("the responder is alive");
        self.responses.recv().expect("the responder is alive")
    }
}

impl Drop for RawRoundTrip {
    fn drop(&mut self) {
        // Closing the request channel ends the responder's loop.
        self.requests.take();
        if let Some(responder) = self.responder.take() {
            let _ = responder.join();
        }
    }
}
