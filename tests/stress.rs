//! Stress: the mailbox state machine under many senders and a racing stop, panic isolation
//! across ten thousand actors, and per-sender ordering under load.
//!
//! Counts are smaller in debug builds so that the suite stays quick; the properties checked
//! are the same.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{WAIT, recv, recv_n, system};
use crossbeam_channel::{Sender, unbounded};
use reactant::prelude::*;

/// A small xorshift generator: the stop lands at a different point in every round, and the
/// seed is printed with any failure so that a round can be replayed.
struct Rng(u64);

impl Rng {
    fn seeded() -> (Self, u64) {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
            | 1;
        (Self(seed), seed)
    }

    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

// ----- (a) the mailbox state machine under a racing stop -----

const SENDERS: usize = 8;
const PER_SENDER: usize = if cfg!(debug_assertions) {
    2_000
} else {
    20_000
};
const ROUNDS: usize = if cfg!(debug_assertions) { 25 } else { 100 };

enum Hammer {
    Work { sender: usize, seq: usize },
    Stop,
}

/// What one round observed.
struct Observed {
    /// Deliveries per message, indexed `sender * PER_SENDER + seq`.
    deliveries: Vec<AtomicU8>,
    handled_after_post_stop: AtomicUsize,
    post_stopped: AtomicBool,
}

impl Observed {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            deliveries: (0..SENDERS * PER_SENDER)
                .map(|_| AtomicU8::new(0))
                .collect(),
            handled_after_post_stop: AtomicUsize::new(0),
            post_stopped: AtomicBool::new(false),
        })
    }

    fn record(&self, sender: usize, seq: usize) {
        if self.post_stopped.load(Ordering::SeqCst) {
            self.handled_after_post_stop.fetch_add(1, Ordering::SeqCst);
        }
        self.deliveries[sender * PER_SENDER + seq].fetch_add(1, Ordering::SeqCst);
    }
}

/// Spawns an observer that watches `target`, says when it watches, then reports its end.
fn spawn_observer(system: &ActorSystem, target: &ActorRef<Hammer>, terminated: Sender<()>) {
    let (ready_tx, ready_rx) = unbounded();
    let target = target.clone();
    system
        .spawn_anonymous(
            Behaviors::setup(move |ctx: &mut Context<()>| {
                ctx.watch(&target);
                let _ = ready_tx.send(());
                Behaviors::ignore()
            })
            .receive_signal(move |_, signal| {
                if let Signal::Terminated(_) = signal {
                    let _ = terminated.send(());
                }
                Behaviors::same()
            }),
        )
        .expect("spawn observer");
    recv(&ready_rx);
}

/// How a round stops the hammered actor.
#[derive(Clone, Copy, Debug)]
enum StopBy {
    /// A user message from another thread; the actor returns `Behaviors::stopped()`.
    Message,
    /// Its parent's `ctx.stop`, a system message that overtakes queued user messages.
    Parent,
}

/// The hammered actor: records each message, stops on `Stop`, and notes its `PostStop`.
fn hammered(observed: &Arc<Observed>) -> Behavior<Hammer> {
    let on_message = observed.clone();
    let on_signal = observed.clone();
    Behaviors::receive_message(move |msg| match msg {
        Hammer::Work { sender, seq } => {
            on_message.record(sender, seq);
            Behaviors::same()
        }
        Hammer::Stop => Behaviors::stopped(),
    })
    .receive_signal(move |_, signal| {
        if let Signal::PostStop = signal {
            on_signal.post_stopped.store(true, Ordering::SeqCst);
        }
        Behaviors::same()
    })
}

/// Spawns the hammered actor and returns it with a way to stop it.
fn spawn_target(
    system: &ActorSystem,
    observed: &Arc<Observed>,
    stop_by: StopBy,
) -> (ActorRef<Hammer>, Box<dyn Fn() + Send + Sync>) {
    match stop_by {
        StopBy::Message => {
            let target = system.spawn(hammered(observed), "target").expect("spawn");
            let stop = target.clone();
            (target, Box::new(move || stop.tell(Hammer::Stop)))
        }
        StopBy::Parent => {
            let (child_tx, child_rx) = unbounded();
            let observed = observed.clone();
            let parent = system
                .spawn(
                    Behaviors::setup(move |ctx| {
                        let child = ctx.spawn(hammered(&observed), "target").expect("spawn");
                        let _ = child_tx.send(child.clone());
                        Behaviors::receive(move |ctx, ()| {
                            let _ = ctx.stop(&child);
                            Behaviors::same()
                        })
                    }),
                    "parent",
                )
                .expect("spawn");
            (recv(&child_rx), Box::new(move || parent.tell(())))
        }
    }
}

/// One round: senders and a stopper race; returns how many messages were processed and how
/// many became dead letters.
fn hammer_round(round: usize, rng: &mut Rng, seed: u64, stop_by: StopBy) -> (usize, usize) {
    let system = system("hammer");
    let observed = Observed::new();
    let (target, stop) = spawn_target(&system, &observed, stop_by);
    let (terminated_tx, terminated_rx) = unbounded();
    spawn_observer(&system, &target, terminated_tx);

    let total = SENDERS * PER_SENDER;
    let stop_after = rng.below(total);
    let sent_by: Vec<AtomicUsize> = (0..SENDERS).map(|_| AtomicUsize::new(0)).collect();
    let sent_total = AtomicUsize::new(0);
    let mut sent_before_stop = vec![0; SENDERS];
    let start = Barrier::new(SENDERS + 1);
    std::thread::scope(|scope| {
        for sender in 0..SENDERS {
            let (target, sent_by, sent_total, start) =
                (target.clone(), &sent_by, &sent_total, &start);
            scope.spawn(move || {
                start.wait();
                for seq in 0..PER_SENDER {
                    target.tell(Hammer::Work { sender, seq });
                    sent_by[sender].store(seq + 1, Ordering::SeqCst);
                    sent_total.fetch_add(1, Ordering::SeqCst);
                    // Let the stopper and the workers in, so that the stop lands mid-stream.
                    if seq % 32 == 0 {
                        std::thread::yield_now();
                    }
                }
            });
        }
        let (sent_by, sent_total, sent_before_stop, stop, start) =
            (&sent_by, &sent_total, &mut sent_before_stop, &stop, &start);
        scope.spawn(move || {
            start.wait();
            while sent_total.load(Ordering::SeqCst) < stop_after {
                std::thread::yield_now();
            }
            // Every message counted here was in the mailbox before the stop was sent.
            for (before, sent) in sent_before_stop.iter_mut().zip(sent_by) {
                *before = sent.load(Ordering::SeqCst);
            }
            stop();
        });
    });
    // Leftover messages become dead letters before watchers hear of the end.
    recv(&terminated_rx);

    let context = format!("round {round}, seed {seed}, {stop_by:?}, stop after {stop_after}");
    let mut processed = 0;
    let per_sender = observed.deliveries.chunks(PER_SENDER);
    for (sender, (counts, &sent_before)) in per_sender.zip(&sent_before_stop).enumerate() {
        let deliveries: Vec<u8> = counts.iter().map(|d| d.load(Ordering::SeqCst)).collect();
        assert!(
            deliveries.iter().all(|&d| d <= 1),
            "a message was processed twice ({context})"
        );
        let prefix = deliveries.iter().take_while(|&&d| d == 1).count();
        assert!(
            deliveries[prefix..].iter().all(|&d| d == 0),
            "sender {sender}: the processed messages are not a prefix of what it sent ({context})"
        );
        if let StopBy::Message = stop_by {
            assert!(
                prefix >= sent_before,
                "sender {sender}: {sent_before} messages sent before the stop, only {prefix} \
                 processed ({context})"
            );
        }
        processed += prefix;
    }
    assert_eq!(
        observed.handled_after_post_stop.load(Ordering::SeqCst),
        0,
        "a message was processed after PostStop ({context})"
    );
    let dead = usize::try_from(system.dead_letters().count()).expect("fits");
    assert_eq!(
        processed + dead,
        total,
        "{processed} processed + {dead} dead letters != {total} sent ({context})"
    );
    system.shutdown();
    (processed, dead)
}

/// Runs the rounds and checks that the race really happened: in some round the stop cut the
/// stream, with messages both processed and dead.
fn hammer(stop_by: StopBy) {
    let (mut rng, seed) = Rng::seeded();
    let cut = (0..ROUNDS)
        .map(|round| hammer_round(round, &mut rng, seed, stop_by))
        .filter(|&(processed, dead)| processed > 0 && dead > 0)
        .count();
    assert!(
        cut > 0,
        "no round stopped mid-stream (seed {seed}); the test did not race"
    );
}

#[test]
fn a_stop_message_racing_many_senders_loses_and_duplicates_nothing() {
    hammer(StopBy::Message);
}

#[test]
fn a_stop_by_the_parent_racing_many_senders_loses_and_duplicates_nothing() {
    hammer(StopBy::Parent);
}

// ----- (b) panic isolation -----

const ACTORS: usize = 10_000;
const MESSAGES_EACH: u32 = if cfg!(debug_assertions) { 10 } else { 50 };

#[test]
fn ten_thousand_actors_a_tenth_panicking_under_restart_harm_no_one_else() {
    let system = system("isolation");
    let (done_tx, done_rx) = unbounded();
    let panics_per_fragile = MESSAGES_EACH / 2;
    let mut fragile_starts = Vec::new();
    let out_of_order = Arc::new(AtomicUsize::new(0));
    let actors: Vec<ActorRef<u32>> = (0..ACTORS)
        .map(|i| {
            let done = done_tx.clone();
            let seen = Arc::new(AtomicU32::new(0));
            let behavior = if i % 10 == 0 {
                // Fails on every even message; the odd ones must all get through.
                let starts = Arc::new(AtomicU32::new(0));
                fragile_starts.push(starts.clone());
                Behaviors::setup(move |_| {
                    starts.fetch_add(1, Ordering::SeqCst);
                    let (seen, done) = (seen.clone(), done.clone());
                    Behaviors::receive_message(move |n: u32| {
                        assert!(n % 2 == 1, "even message {n}");
                        if seen.fetch_add(1, Ordering::SeqCst) + 1 == MESSAGES_EACH / 2 {
                            let _ = done.send(i);
                        }
                        Behaviors::same()
                    })
                })
            } else {
                let out_of_order = out_of_order.clone();
                Behaviors::receive_message(move |n: u32| {
                    let count = seen.fetch_add(1, Ordering::SeqCst);
                    if count != n {
                        out_of_order.fetch_add(1, Ordering::SeqCst);
                    }
                    if count + 1 == MESSAGES_EACH {
                        let _ = done.send(i);
                    }
                    Behaviors::same()
                })
            };
            system
                .spawn_anonymous(
                    Behaviors::supervise(behavior).on_failure(SupervisorStrategy::restart()),
                )
                .expect("spawn")
        })
        .collect();
    for n in 0..MESSAGES_EACH {
        for actor in &actors {
            actor.tell(n);
        }
    }
    let mut finished = recv_n(&done_rx, ACTORS);
    finished.sort_unstable();
    finished.dedup();
    assert_eq!(
        finished.len(),
        ACTORS,
        "every actor saw every message it could"
    );
    assert_eq!(
        out_of_order.load(Ordering::SeqCst),
        0,
        "a healthy actor missed a message"
    );
    for starts in &fragile_starts {
        assert_eq!(starts.load(Ordering::SeqCst), panics_per_fragile + 1);
    }
    assert_eq!(system.live_worker_threads(), 2, "no pool thread died");
    system.shutdown();
}

// ----- (c) ordering under load -----

const ORDERED_SENDERS: usize = 4;
const ACTOR_SENDERS: usize = 2;
const SEQUENCE: u32 = if cfg!(debug_assertions) {
    20_000
} else {
    200_000
};

enum Checked {
    Seq { sender: usize, n: u32 },
}

/// Checks that each sender's numbers arrive strictly increasing without gaps.
struct OrderChecker {
    next: Vec<u32>,
    received: usize,
    violations: Vec<String>,
    report: Sender<Vec<String>>,
}

impl Actor for OrderChecker {
    type Msg = Checked;

    fn handle(&mut self, _ctx: &mut Context<Checked>, Checked::Seq { sender, n }: Checked) {
        if n != self.next[sender] && self.violations.len() < 10 {
            self.violations.push(format!(
                "sender {sender}: expected {}, got {n}",
                self.next[sender]
            ));
        }
        self.next[sender] = n + 1;
        self.received += 1;
        if self.received == self.next.len() * SEQUENCE as usize {
            let _ = self.report.send(std::mem::take(&mut self.violations));
        }
    }
}

#[test]
fn each_senders_messages_arrive_in_send_order_under_load() {
    let system = system("ordering");
    let (report_tx, report_rx) = unbounded();
    let checker = system
        .spawn(
            OrderChecker {
                next: vec![0; ORDERED_SENDERS + ACTOR_SENDERS],
                received: 0,
                violations: Vec::new(),
                report: report_tx,
            },
            "checker",
        )
        .expect("spawn");
    // Load: a pair of actors bouncing a message between them the whole time.
    let halt = Arc::new(AtomicBool::new(false));
    let ping = system
        .spawn(
            Behaviors::setup({
                let halt = halt.clone();
                move |ctx: &mut Context<()>| {
                    let halt = halt.clone();
                    let me = ctx.self_ref();
                    let pong = ctx
                        .spawn(
                            Behaviors::receive_message(move |()| {
                                me.tell(());
                                Behaviors::same()
                            }),
                            "pong",
                        )
                        .expect("spawn");
                    Behaviors::receive_message(move |()| {
                        if !halt.load(Ordering::Relaxed) {
                            pong.tell(());
                        }
                        Behaviors::same()
                    })
                }
            }),
            "ping",
        )
        .expect("spawn");
    ping.tell(());
    // Senders inside the system: actors that send their whole sequence from one handler.
    for sender in ORDERED_SENDERS..ORDERED_SENDERS + ACTOR_SENDERS {
        let checker = checker.clone();
        let actor = system
            .spawn_anonymous(Behaviors::receive_message(move |()| {
                for n in 0..SEQUENCE {
                    checker.tell(Checked::Seq { sender, n });
                }
                Behaviors::same()
            }))
            .expect("spawn");
        actor.tell(());
    }
    std::thread::scope(|scope| {
        for sender in 0..ORDERED_SENDERS {
            let checker = checker.clone();
            scope.spawn(move || {
                for n in 0..SEQUENCE {
                    checker.tell(Checked::Seq { sender, n });
                }
            });
        }
    });
    let violations = report_rx
        .recv_timeout(WAIT * 3)
        .expect("every message arrives");
    halt.store(true, Ordering::Relaxed);
    assert_eq!(violations, Vec::<String>::new());
    system.shutdown();
}
