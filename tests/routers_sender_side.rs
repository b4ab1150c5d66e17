//! Round-robin and random pools route on the sender's thread (issue 19's throughput target):
//! the reference a pool's spawner gets tells a routee directly, and falls back to the router
//! actor when it cannot. Ported in behaviour from Pekko's typed routers spec and its death
//! watch rules: every message reaches one routee exactly once, from any number of sender
//! threads, in each sender's order; a routee that stopped before the router heard of it
//! refuses, and what it refused reaches the others; a stopped router dead-letters what it is
//! sent, with a reason; the pool's reference is the router (path, watching, equality, asks).
//!
//! To show that a message went around the router, the router runs alone on a one-thread
//! dispatcher that a gated actor holds: what arrives meanwhile cannot have passed through it.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use common::{WAIT, recv, recv_n};
use crossbeam_channel::{Receiver, Sender};
use reactant::dead_letters::DeadLetterReason;
use reactant::pattern::Routers;
use reactant::prelude::*;

/// What a routee is told.
#[derive(Debug)]
enum Job {
    /// Report (routee path, sender, seq).
    Work { sender: usize, seq: u32 },
    /// Send your own reference on the quit channel, then stop.
    Quit,
    /// Answer with your name.
    Name(ActorRef<String>),
}

/// A report: (routee path, sender, seq).
type Report = (String, usize, u32);

fn routee(
    report: &Sender<Report>,
    quit: &Sender<ActorRef<Job>>,
) -> impl Fn() -> Behavior<Job> + Send + Sync + 'static {
    let channels = parking_lot::Mutex::new((report.clone(), quit.clone()));
    move || {
        let (report, quit) = channels.lock().clone();
        Behaviors::receive(move |ctx, job| match job {
            Job::Work { sender, seq } => {
                let _ = report.send((ctx.path().to_string(), sender, seq));
                Behaviors::same()
            }
            Job::Quit => {
                let _ = quit.send(ctx.self_ref());
                Behaviors::stopped()
            }
            Job::Name(reply_to) => {
                reply_to.tell(ctx.path().name().to_owned());
                Behaviors::same()
            }
        })
    }
}

/// Where routees report, and where one that quits sends its reference.
type Channels = (
    (Sender<Report>, Receiver<Report>),
    (Sender<ActorRef<Job>>, Receiver<ActorRef<Job>>),
);

fn channels() -> Channels {
    (
        crossbeam_channel::unbounded(),
        crossbeam_channel::unbounded(),
    )
}

/// `senders` threads each send `per_sender` numbered messages through `pool`, starting at once.
fn send_from_threads(pool: &ActorRef<Job>, senders: usize, per_sender: u32) {
    let start = Arc::new(std::sync::Barrier::new(senders));
    let threads: Vec<_> = (0..senders)
        .map(|sender| {
            let (pool, start) = (pool.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for seq in 0..per_sender {
                    pool.tell(Job::Work { sender, seq });
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a sender thread panicked");
    }
}

/// Checks that each (sender, seq) came exactly once and that each routee saw each sender's
/// messages in the order sent; returns how many each routee took.
#[track_caller]
fn exactly_once_in_order(
    reports: &[Report],
    senders: usize,
    per_sender: u32,
) -> HashMap<String, usize> {
    let mut seen = HashSet::new();
    let mut last: HashMap<(String, usize), u32> = HashMap::new();
    let mut per_routee: HashMap<String, usize> = HashMap::new();
    for (routee, sender, seq) in reports {
        assert!(seen.insert((*sender, *seq)), "({sender}, {seq}) came twice");
        if let Some(before) = last.insert((routee.clone(), *sender), *seq) {
            assert!(
                before < *seq,
                "{routee} got sender {sender}'s {seq} after its {before}"
            );
        }
        *per_routee.entry(routee.clone()).or_default() += 1;
    }
    assert_eq!(seen.len(), senders * per_sender as usize);
    per_routee
}

#[test]
fn many_sender_threads_each_message_reaches_one_routee_once_in_order_and_round_robin_is_even() {
    let system = common::system("front-round-robin");
    let ((tx, rx), (quit_tx, _quit)) = channels();
    let pool = system
        .spawn(Routers::pool(4, routee(&tx, &quit_tx)), "pool")
        .expect("spawned");
    // Sent at once: the first ones reach the router before it has started.
    send_from_threads(&pool, 8, 2_000);
    let per_routee = exactly_once_in_order(&recv_n(&rx, 16_000), 8, 2_000);
    assert_eq!(per_routee.len(), 4, "{per_routee:?}");
    // Senders telling at the same instant may pick one routee: even, but not to the message.
    assert!(
        per_routee.values().all(|&n| (2_000..=6_000).contains(&n)),
        "round-robin is far from even: {per_routee:?}"
    );
    common::assert_quiet(&rx);
}

#[test]
fn from_one_sender_round_robin_is_exact_through_the_start_and_a_routee_leaving() {
    let (system, holder) = system_with_router_dispatcher("front-exact");
    let ((tx, rx), (quit_tx, quit_rx)) = channels();
    let pool = system
        .spawn_with(
            Routers::pool(4, routee(&tx, &quit_tx)),
            Some("pool"),
            &Props::new().with_dispatcher("router"),
        )
        .expect("spawned");
    // From the start: the router takes the first ones, the front the rest, one turn.
    let count = |reports: Vec<Report>| {
        let mut per_routee: HashMap<String, usize> = HashMap::new();
        for (routee, _, _) in reports {
            *per_routee.entry(routee).or_default() += 1;
        }
        per_routee
    };
    for seq in 0..4_000 {
        pool.tell(Job::Work { sender: 0, seq });
    }
    let per_routee = count(recv_n(&rx, 4_000));
    assert!(per_routee.values().all(|&n| n == 1_000), "{per_routee:?}");
    // A routee leaves unheard (the router is held): what it refuses goes through the
    // router, which tries the next in turn; then the front goes on over the three left.
    let mut keeper = hold_router(&pool, &rx, &holder);
    pool.tell(Job::Quit);
    let quitter = recv(&quit_rx);
    assert!(common::eventually(|| quitter.is_terminated()));
    keeper.open();
    for seq in 0..3_000 {
        pool.tell(Job::Work { sender: 1, seq });
    }
    let per_routee = count(recv_n(&rx, 3_000));
    assert_eq!(per_routee.len(), 3, "{per_routee:?}");
    assert!(
        per_routee.values().all(|&n| (999..=1_001).contains(&n)),
        "{per_routee:?}"
    );
    common::assert_quiet(&rx);
}

#[test]
fn many_sender_threads_through_a_random_pool_each_message_reaches_one_routee_once_in_order() {
    let system = common::system("front-random");
    let ((tx, rx), (quit_tx, _quit)) = channels();
    let pool = system
        .spawn(
            Routers::pool(4, routee(&tx, &quit_tx)).with_random(),
            "pool",
        )
        .expect("spawned");
    send_from_threads(&pool, 8, 2_000);
    let per_routee = exactly_once_in_order(&recv_n(&rx, 16_000), 8, 2_000);
    assert_eq!(per_routee.len(), 4, "a routee got nothing: {per_routee:?}");
    common::assert_quiet(&rx);
}

#[test]
fn a_pool_of_one_keeps_a_senders_order_while_its_router_starts() {
    let system = common::system("front-order");
    let ((tx, rx), (quit_tx, _quit)) = channels();
    let pool = system
        .spawn(Routers::pool(1, routee(&tx, &quit_tx)), "pool")
        .expect("spawned");
    // The first messages queue at the router (it has not started); the later ones could go
    // straight to the routee, and must not overtake them.
    for seq in 0..20_000 {
        pool.tell(Job::Work { sender: 0, seq });
    }
    let seqs: Vec<u32> = recv_n(&rx, 20_000)
        .into_iter()
        .map(|(_, _, seq)| seq)
        .collect();
    assert_eq!(seqs, (0..20_000).collect::<Vec<_>>());
}

/// A system whose "router" dispatcher has one thread, and a gated actor on it that can hold it.
fn system_with_router_dispatcher(name: &str) -> (ActorSystem, ActorRef<common::Gate>) {
    let system = ActorSystem::builder()
        .name(name)
        .threads(2)
        .dispatcher("router", 1)
        .build()
        .expect("the system starts");
    let holder = system
        .spawn_with(
            Behaviors::receive_message(|gate: common::Gate| {
                gate.hold();
                Behaviors::same()
            }),
            Some("holder"),
            &Props::new().with_dispatcher("router"),
        )
        .expect("spawned");
    (system, holder)
}

/// Makes sure the router has started (and published its routees), then holds its thread.
/// Once the holder is inside its handler the router's turns have all finished, so the router
/// holds no message of the front's and the front tells routees directly.
fn hold_router(
    pool: &ActorRef<Job>,
    rx: &Receiver<Report>,
    holder: &ActorRef<common::Gate>,
) -> common::GateKeeper {
    for seq in 0..8 {
        pool.tell(Job::Work { sender: 99, seq });
    }
    recv_n(rx, 8);
    let (gate, keeper) = common::gate();
    holder.tell(gate);
    keeper.wait_entered();
    keeper
}

/// A factory of routees that report on `tx` (and send their reference on `quit` as they stop).
type Routee = Box<dyn Fn() -> Behavior<Job> + Send + Sync>;

fn router_routes_around_its_own_thread(name: &str, pool: impl FnOnce(Routee) -> Behavior<Job>) {
    let (system, holder) = system_with_router_dispatcher(name);
    let ((tx, rx), (quit_tx, _quit)) = channels();
    let pool = system
        .spawn_with(
            pool(Box::new(routee(&tx, &quit_tx))),
            Some("pool"),
            &Props::new().with_dispatcher("router"),
        )
        .expect("spawned");
    let mut keeper = hold_router(&pool, &rx, &holder);
    for seq in 0..30 {
        pool.tell(Job::Work { sender: 0, seq });
    }
    // All arrive while the router's thread is held: none went through it.
    exactly_once_in_order(&recv_n(&rx, 30), 1, 30);
    keeper.open();
}

#[test]
fn a_round_robin_pool_tells_its_routees_without_the_router_thread() {
    router_routes_around_its_own_thread("front-direct", |routee| Routers::pool(3, routee).into());
}

#[test]
fn a_random_pool_tells_its_routees_without_the_router_thread() {
    router_routes_around_its_own_thread("front-direct-random", |routee| {
        Routers::pool(3, routee).with_random().into()
    });
}

#[test]
fn a_supervised_pool_keeps_routing_on_the_senders_thread() {
    router_routes_around_its_own_thread("front-supervised", |routee| {
        Behaviors::supervise(Routers::pool(3, routee).into())
            .on_failure(SupervisorStrategy::restart())
    });
}

#[test]
fn what_a_routee_that_stopped_unheard_refuses_reaches_the_others_and_none_is_lost() {
    let (system, holder) = system_with_router_dispatcher("front-refusal");
    let ((tx, rx), (quit_tx, quit_rx)) = channels();
    let pool = system
        .spawn_with(
            Routers::pool(3, routee(&tx, &quit_tx)),
            Some("pool"),
            &Props::new().with_dispatcher("router"),
        )
        .expect("spawned");
    let mut keeper = hold_router(&pool, &rx, &holder);
    // A routee stops; its router, held, cannot hear of it.
    pool.tell(Job::Quit);
    let quitter = recv(&quit_rx);
    assert!(common::eventually(|| quitter.is_terminated()));
    // Round-robin reaches the stopped routee within three messages: it refuses, and the
    // front hands what it refused (and what follows) to the router.
    for seq in 0..30 {
        pool.tell(Job::Work { sender: 0, seq });
    }
    keeper.open();
    let reports = recv_n(&rx, 30);
    exactly_once_in_order(&reports, 1, 30);
    let quitter_name = quitter.path().to_string();
    assert!(
        reports.iter().all(|(routee, _, _)| *routee != quitter_name),
        "a stopped routee was reported working"
    );
    let others: HashSet<&String> = reports.iter().map(|(routee, _, _)| routee).collect();
    assert_eq!(others.len(), 2, "{others:?}");
    common::assert_quiet(&rx);
}

/// What the owner of a pool (its parent) is told.
enum Owner {
    StopPool,
}

/// What the owner reports: the pool's reference and the router as a child; then, when the
/// router has stopped, whom its `Terminated` named.
enum Owned {
    Spawned(ActorRef<Job>, AnyActorRef),
    Terminated(AnyActorRef),
}

fn owner(pool: Behavior<Job>, report: Sender<Owned>) -> Behavior<Owner> {
    let pool = parking_lot::Mutex::new(Some(pool));
    Behaviors::setup(move |ctx| {
        let behavior = pool.lock().take().unwrap_or_else(Behaviors::empty);
        let pool = ctx.spawn(behavior, "pool").expect("spawned");
        ctx.watch(&pool);
        let child = ctx.child("pool").expect("the pool is a child");
        let _ = report.send(Owned::Spawned(pool.clone(), child));
        let report = report.clone();
        Behaviors::receive(move |ctx, Owner::StopPool| {
            ctx.stop(&pool).expect("the pool is a child");
            Behaviors::same()
        })
        .receive_signal(move |_, signal| {
            if let Signal::Terminated(who) = signal {
                let _ = report.send(Owned::Terminated(who.clone()));
            }
            Behaviors::same()
        })
    })
}

#[test]
fn the_pools_reference_is_the_router_path_equality_watching_asks_and_dead_letters() {
    let system = common::system("front-identity");
    let ((tx, rx), (quit_tx, _quit)) = channels();
    let (owned_tx, owned) = crossbeam_channel::unbounded();
    let owner = system
        .spawn(
            owner(Routers::pool(2, routee(&tx, &quit_tx)).into(), owned_tx),
            "owner",
        )
        .expect("spawned");
    let Owned::Spawned(pool, router) = recv(&owned) else {
        panic!("the owner reports the pool first")
    };
    // The reference is the router: its path, its identity (equal, and hashed alike).
    assert_eq!(pool.path().as_str(), "/user/owner/pool");
    assert_eq!(pool, router);
    assert_eq!(pool.to_any(), Some(router.clone()));
    assert!(HashSet::from([router.clone()]).contains(&pool.to_any().expect("an actor")));
    assert_eq!(pool.clone(), pool);
    // Asks through it are answered by a routee.
    let name = pool
        .ask(Job::Name)
        .wait(WAIT)
        .expect("a routee answers an ask through the pool");
    assert!(name.starts_with("routee-"), "{name}");
    // Another actor watching the pool's reference sees the router stop.
    let (watched_tx, watched) = crossbeam_channel::unbounded();
    let watched_pool = pool.clone();
    system
        .spawn(
            Behaviors::setup(move |ctx| {
                ctx.watch(&watched_pool);
                let watched_tx = watched_tx.clone();
                Behaviors::receive_message(|(): ()| Behaviors::same()).receive_signal(
                    move |_, signal| {
                        if let Signal::Terminated(who) = signal {
                            let _ = watched_tx.send(who.clone());
                        }
                        Behaviors::same()
                    },
                )
            }),
            "watcher",
        )
        .expect("spawned");
    let dead = system.dead_letters().subscribe();
    owner.tell(Owner::StopPool);
    let Owned::Terminated(who) = recv(&owned) else {
        panic!("the owner reports the router's end")
    };
    assert_eq!(
        pool, who,
        "the parent's Terminated names the pool's reference"
    );
    assert_eq!(
        pool,
        recv(&watched),
        "a watcher's Terminated names the pool's reference"
    );
    assert!(pool.is_terminated());
    // What is sent afterwards is a dead letter to the router, saying why.
    pool.tell(Job::Work { sender: 0, seq: 0 });
    let letter = recv(&dead);
    assert_eq!(letter.recipient.as_str(), "/user/owner/pool");
    assert_eq!(letter.reason, DeadLetterReason::RecipientStopped);
    common::assert_quiet(&rx);
}

#[test]
fn a_pool_of_pools_delivers_every_message_once_in_order() {
    // Each outer routee is itself a pool's reference: a front that tells another front.
    let system = common::system("front-nested");
    let ((tx, rx), (quit_tx, _quit)) = channels();
    let inner = parking_lot::Mutex::new((tx, quit_tx));
    let pool = system
        .spawn(
            Routers::pool(2, move || {
                let (tx, quit_tx) = inner.lock().clone();
                Behaviors::setup(move |ctx| {
                    let inner = ctx
                        .spawn(Routers::pool(2, routee(&tx, &quit_tx)), "inner")
                        .expect("spawned");
                    Behaviors::receive_message(move |job| {
                        inner.tell(job);
                        Behaviors::same()
                    })
                })
            }),
            "pool",
        )
        .expect("spawned");
    send_from_threads(&pool, 4, 1_000);
    exactly_once_in_order(&recv_n(&rx, 4_000), 4, 1_000);
    common::assert_quiet(&rx);
}

#[test]
fn a_pool_whose_routees_are_pools_tells_through_both_fronts_on_the_senders_thread() {
    // Each outer routee is spawned from a pool's configuration, so the outer router's routee
    // references are the inner pools' fronts: the outer front's tell runs the inner front's
    // tell on the sender's thread, inside its own.
    let system = common::system("front-in-front");
    let ((tx, rx), (quit_tx, _quit)) = channels();
    let leaf = parking_lot::Mutex::new((tx, quit_tx));
    let pool = system
        .spawn(
            Routers::pool(2, move || {
                let (tx, quit_tx) = leaf.lock().clone();
                Routers::pool(3, routee(&tx, &quit_tx))
            }),
            "pool",
        )
        .expect("spawned");
    send_from_threads(&pool, 4, 1_000);
    let per_routee = exactly_once_in_order(&recv_n(&rx, 4_000), 4, 1_000);
    assert_eq!(
        per_routee.len(),
        6,
        "every leaf of both inner pools took messages"
    );
    common::assert_quiet(&rx);
}
