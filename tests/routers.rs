//! Pool routers (issue 19, item 4), ported in behaviour from Pekko's typed routers spec: the
//! pool spawns its routees, routes round-robin, at random or by consistent hashing, drops a
//! routee that stops, keeps a restarted one, stops when the last one has left, and sends what
//! comes after to dead letters; and Akka's broadcast predicate (a message it picks reaches
//! every routee).

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::recv_n;
use crossbeam_channel::Sender;
use reactant::pattern::Routers;
use reactant::prelude::*;

/// What a routee is told.
#[derive(Clone, Debug)]
enum Job {
    /// Report (routee name, n).
    Work(u32),
    /// Stop.
    Quit,
    /// Fail.
    Boom,
}

fn routee(report: &Sender<(String, u32)>) -> impl Fn() -> Behavior<Job> + Send + Sync + 'static {
    let report = parking_lot::Mutex::new(report.clone());
    move || {
        let report = report.lock().clone();
        Behaviors::receive(move |ctx, job| match job {
            Job::Work(n) => {
                let _ = report.send((ctx.path().name().to_owned(), n));
                Behaviors::same()
            }
            Job::Quit => Behaviors::stopped(),
            Job::Boom => panic!("the routee broke"),
        })
    }
}

/// The routees that answer `sent` messages within a short while (a message sent to a routee
/// that is stopping goes to dead letters, so fewer may answer).
fn answering_routees(
    rx: &crossbeam_channel::Receiver<(String, u32)>,
    sent: usize,
) -> HashSet<String> {
    let mut names = HashSet::new();
    for _ in 0..sent {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok((name, _)) => {
                names.insert(name);
            }
            Err(_) => break,
        }
    }
    names
}

#[test]
fn a_round_robin_pool_spreads_messages_evenly_over_its_routees() {
    let system = common::system("router-round-robin");
    let (tx, rx) = crossbeam_channel::unbounded();
    let pool = system
        .spawn(Routers::pool(4, routee(&tx)), "pool")
        .expect("spawned");
    for n in 0..100 {
        pool.tell(Job::Work(n));
    }
    let mut per_routee: HashMap<String, usize> = HashMap::new();
    for (name, _) in recv_n(&rx, 100) {
        *per_routee.entry(name).or_default() += 1;
    }
    assert_eq!(per_routee.len(), 4, "{per_routee:?}");
    assert!(per_routee.values().all(|&n| n == 25), "{per_routee:?}");
}

#[test]
fn a_random_pool_delivers_every_message_once() {
    let system = common::system("router-random");
    let (tx, rx) = crossbeam_channel::unbounded();
    let pool = system
        .spawn(Routers::pool(3, routee(&tx)).with_random(), "pool")
        .expect("spawned");
    for n in 0..300 {
        pool.tell(Job::Work(n));
    }
    let mut seen: Vec<u32> = recv_n(&rx, 300).into_iter().map(|(_, n)| n).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..300).collect::<Vec<_>>());
    common::assert_quiet(&rx);
}

#[test]
fn consistent_hashing_keeps_a_key_on_one_routee_and_moves_only_the_leavers_keys() {
    let system = common::system("router-hashing");
    let (tx, rx) = crossbeam_channel::unbounded();
    let pool = system
        .spawn(
            Routers::pool(4, routee(&tx)).with_consistent_hashing(|job: &Job| match job {
                Job::Work(n) => n % 40,
                _ => 0,
            }),
            "pool",
        )
        .expect("spawned");
    let owners = |rx: &crossbeam_channel::Receiver<(String, u32)>| {
        for n in 0..400 {
            pool.tell(Job::Work(n));
        }
        let mut owner: HashMap<u32, HashSet<String>> = HashMap::new();
        for (name, n) in recv_n(rx, 400) {
            owner.entry(n % 40).or_default().insert(name);
        }
        owner
    };
    let before = owners(&rx);
    assert!(
        before.values().all(|names| names.len() == 1),
        "a key reached two routees: {before:?}"
    );
    let used: HashSet<&String> = before.values().flatten().collect();
    assert!(used.len() > 1, "every key went to one routee");
    // Key 0's routee leaves (a Quit hashes to key 0).
    let leaver = before[&0].iter().next().cloned().expect("an owner");
    pool.tell(Job::Quit);
    // The router hears of it before routing more: wait until key 0 lands elsewhere.
    assert!(common::eventually(|| {
        pool.tell(Job::Work(0));
        matches!(rx.recv_timeout(Duration::from_millis(50)), Ok((name, 0)) if name != leaver)
    }));
    while rx.try_recv().is_ok() {}
    let after = owners(&rx);
    for (key, names) in &before {
        if !names.contains(&leaver) {
            assert_eq!(
                &after[key], names,
                "key {key} moved though its routee stayed"
            );
        }
    }
}

#[test]
fn a_routee_that_stops_leaves_the_pool_and_the_last_one_stops_the_router() {
    let system = common::system("router-shrinks");
    let (tx, rx) = crossbeam_channel::unbounded();
    let pool = system
        .spawn(Routers::pool(2, routee(&tx)), "pool")
        .expect("spawned");
    pool.tell(Job::Quit);
    // The remaining routee takes everything.
    assert!(common::eventually(|| {
        for _ in 0..4 {
            pool.tell(Job::Work(1));
        }
        answering_routees(&rx, 4).len() == 1
    }));
    for _ in 0..4 {
        pool.tell(Job::Work(2));
    }
    assert_eq!(
        recv_n(&rx, 4).len(),
        4,
        "a message to the pool of one was lost"
    );
    the_last_routee_quits_and_what_follows_is_a_dead_letter(&system, &pool, Job::Work(9));
}

/// Tells a pool's last routee to quit: the router stops, and `after`, sent to it then, is a
/// dead letter addressed to it.
fn the_last_routee_quits_and_what_follows_is_a_dead_letter(
    system: &ActorSystem,
    pool: &ActorRef<Job>,
    after: Job,
) {
    let dead = system.dead_letters().subscribe();
    pool.tell(Job::Quit);
    assert!(
        common::eventually(|| pool.is_terminated()),
        "the router did not stop when its last routee left"
    );
    assert!(
        common::eventually(|| {
            pool.tell(after.clone());
            dead.try_iter()
                .any(|letter| letter.recipient.name() == "pool")
        }),
        "a message after the end went nowhere"
    );
}

#[test]
fn a_routee_supervised_with_restart_stays_in_the_pool_after_a_panic() {
    let system = common::system("router-restart");
    let (tx, rx) = crossbeam_channel::unbounded();
    let make = routee(&tx);
    let pool = system
        .spawn(
            Routers::pool(2, move || {
                Behaviors::supervise(make()).on_failure(SupervisorStrategy::restart())
            }),
            "pool",
        )
        .expect("spawned");
    pool.tell(Job::Boom);
    pool.tell(Job::Boom);
    for n in 0..10 {
        pool.tell(Job::Work(n));
    }
    let names: HashSet<String> = recv_n(&rx, 10).into_iter().map(|(name, _)| name).collect();
    assert_eq!(
        names.len(),
        2,
        "a restarted routee left the pool: {names:?}"
    );
}

#[test]
fn a_routee_that_fails_without_supervision_leaves_and_the_others_keep_working() {
    let system = common::system("router-failure");
    let (tx, rx) = crossbeam_channel::unbounded();
    let pool = system
        .spawn(Routers::pool(3, routee(&tx)), "pool")
        .expect("spawned");
    pool.tell(Job::Boom);
    assert!(common::eventually(|| {
        for n in 0..6 {
            pool.tell(Job::Work(n));
        }
        answering_routees(&rx, 6).len() == 2
    }));
    // Once it has left, nothing is lost: every message is answered.
    for n in 0..6 {
        pool.tell(Job::Work(n));
    }
    assert_eq!(recv_n(&rx, 6).len(), 6);
}

/// A pool whose broadcast predicate picks `Work(n)` for `n >= 100`.
fn broadcasting_pool(
    system: &ActorSystem,
    size: usize,
    tx: &Sender<(String, u32)>,
) -> ActorRef<Job> {
    system
        .spawn(
            Routers::pool(size, routee(tx))
                .with_broadcast(|job| matches!(job, Job::Work(n) if *n >= 100)),
            "pool",
        )
        .expect("spawned")
}

#[test]
fn a_broadcast_message_reaches_every_routee_once_and_the_others_are_routed_in_turn() {
    let system = common::system("router-broadcast");
    let (tx, rx) = crossbeam_channel::unbounded();
    let pool = broadcasting_pool(&system, 3, &tx);
    for n in 0..3 {
        pool.tell(Job::Work(n));
    }
    let names: HashSet<String> = recv_n(&rx, 3).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names.len(), 3, "round-robin over three: {names:?}");
    pool.tell(Job::Work(100));
    let copies = recv_n(&rx, 3);
    assert!(copies.iter().all(|(_, n)| *n == 100), "{copies:?}");
    let names: HashSet<&String> = copies.iter().map(|(name, _)| name).collect();
    assert_eq!(names.len(), 3, "one copy per routee: {copies:?}");
    common::assert_quiet(&rx);
    // Order from one sender holds across both kinds: each routee sees 100 before 101.
    pool.tell(Job::Work(100));
    pool.tell(Job::Work(101));
    let mut seen: HashMap<String, Vec<u32>> = HashMap::new();
    for (name, n) in recv_n(&rx, 6) {
        seen.entry(name).or_default().push(n);
    }
    assert!(
        seen.values().all(|ns| ns == &[100, 101]),
        "each routee in the sender's order: {seen:?}"
    );
}

#[test]
fn a_broadcast_skips_a_routee_that_left_and_with_none_left_goes_to_dead_letters() {
    let system = common::system("router-broadcast-left");
    let (tx, rx) = crossbeam_channel::unbounded();
    let pool = broadcasting_pool(&system, 2, &tx);
    pool.tell(Job::Quit);
    // Once the router has seen it leave, a broadcast reaches the one routee left, once.
    assert!(common::eventually(|| {
        pool.tell(Job::Work(100));
        answering_routees(&rx, 2).len() == 1
    }));
    pool.tell(Job::Work(100));
    assert_eq!(recv_n(&rx, 1)[0].1, 100);
    common::assert_quiet(&rx);
    the_last_routee_quits_and_what_follows_is_a_dead_letter(&system, &pool, Job::Work(100));
}

#[test]
fn a_broadcast_predicate_that_panics_fails_the_router_not_the_sender() {
    let system = common::system("router-broadcast-panic");
    let (tx, rx) = crossbeam_channel::unbounded();
    let pool = system
        .spawn(
            Routers::pool(2, routee(&tx)).with_broadcast(|job| match job {
                Job::Work(13) => panic!("the predicate broke"),
                _ => false,
            }),
            "pool",
        )
        .expect("spawned");
    pool.tell(Job::Work(1));
    assert_eq!(recv_n(&rx, 1).len(), 1);
    // The tell returns; the router fails in its own turn and, unsupervised, stops.
    pool.tell(Job::Work(13));
    assert!(
        common::eventually(|| pool.is_terminated()),
        "the router kept running after its predicate panicked"
    );
}

#[test]
fn routee_props_put_the_routees_on_their_dispatcher_and_an_unknown_one_stops_the_router() {
    let system = ActorSystem::builder()
        .name("router-props")
        .threads(1)
        .dispatcher("workers", 2)
        .build()
        .expect("a system");
    let (tx, rx) = crossbeam_channel::unbounded();
    let thread_reporting = {
        let tx = parking_lot::Mutex::new(tx);
        move || {
            let tx = tx.lock().clone();
            Behaviors::receive_message(move |_: u32| {
                let thread = std::thread::current();
                let _ = tx.send(thread.name().unwrap_or_default().to_owned());
                Behaviors::same()
            })
        }
    };
    let pool = system
        .spawn(
            Routers::pool(3, thread_reporting)
                .with_routee_props(Props::new().with_dispatcher("workers")),
            "pool",
        )
        .expect("spawned");
    for n in 0..9 {
        pool.tell(n);
    }
    let threads = recv_n(&rx, 9);
    assert!(
        threads
            .iter()
            .all(|thread| thread.starts_with("router-props-workers-")),
        "every routee on the pool's dispatcher: {threads:?}"
    );
    // A dispatcher the system does not have: no routee can start, the router stops.
    let nowhere = system
        .spawn(
            Routers::pool(2, || Behaviors::receive_message(|_: u32| Behaviors::same()))
                .with_routee_props(Props::new().with_dispatcher("missing")),
            "nowhere",
        )
        .expect("the router itself spawns");
    assert!(
        common::eventually(|| nowhere.is_terminated()),
        "a pool with no routee kept running"
    );
}

/// A balancing pool's routee: `Hold` blocks it until the gate opens; `Work` reports./// A balancing pool's routee: `Hold` blocks it until the gate opens; `Work` reports.
#[derive(Debug)]
enum Task {
    Hold(crossbeam_channel::Receiver<()>),
    Work(u32),
    Boom,
}

fn balancing_routee(
    report: &Sender<(String, u32)>,
) -> impl Fn() -> Behavior<Task> + Send + Sync + 'static {
    let report = parking_lot::Mutex::new(report.clone());
    move || {
        let report = report.lock().clone();
        Behaviors::receive(move |ctx, task| match task {
            Task::Hold(gate) => {
                let _ = gate.recv();
                Behaviors::same()
            }
            Task::Work(n) => {
                let _ = report.send((ctx.path().name().to_owned(), n));
                Behaviors::same()
            }
            Task::Boom => panic!("the routee broke"),
        })
    }
}

#[test]
fn a_balancing_pool_gives_no_work_to_a_routee_that_is_busy() {
    let system = common::system("balancing-busy");
    let (tx, rx) = crossbeam_channel::unbounded();
    let pool = system
        .spawn(Routers::balancing_pool(3, balancing_routee(&tx)), "pool")
        .expect("spawned");
    let (open, gate) = crossbeam_channel::unbounded::<()>();
    pool.tell(Task::Hold(gate));
    for n in 0..30 {
        pool.tell(Task::Work(n));
    }
    // All 30 are handled while one routee is still held: none waits behind it.
    let done = recv_n(&rx, 30);
    let names: HashSet<String> = done.iter().map(|(name, _)| name.clone()).collect();
    assert_eq!(
        names.len(),
        2,
        "only the two free routees worked: {names:?}"
    );
    let mut numbers: Vec<u32> = done.into_iter().map(|(_, n)| n).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (0..30).collect::<Vec<_>>(),
        "each message exactly once"
    );
    drop(open);
    // The held routee is free again and takes work.
    assert!(common::eventually(|| {
        for n in 0..30 {
            pool.tell(Task::Work(n));
        }
        recv_n(&rx, 30).iter().any(|(name, _)| name == "routee-0")
    }));
}

#[test]
fn a_balancing_pool_routee_restarted_after_a_panic_keeps_taking_work() {
    let system = common::system("balancing-restart");
    let (tx, rx) = crossbeam_channel::unbounded();
    let make = balancing_routee(&tx);
    let pool = system
        .spawn(
            Routers::balancing_pool(2, move || {
                Behaviors::supervise(make()).on_failure(SupervisorStrategy::restart())
            }),
            "pool",
        )
        .expect("spawned");
    for _ in 0..4 {
        pool.tell(Task::Boom);
    }
    for n in 0..100 {
        pool.tell(Task::Work(n));
    }
    let done = recv_n(&rx, 100);
    let mut numbers: Vec<u32> = done.iter().map(|(_, n)| *n).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (0..100).collect::<Vec<_>>(),
        "a panicking routee must not stay busy for good nor lose later work"
    );
}

#[test]
fn a_balancing_pool_whose_routees_all_fail_stops_and_dead_letters_what_it_held() {
    let system = common::system("balancing-failure");
    let dead = system.dead_letters().subscribe();
    let (tx, rx) = crossbeam_channel::unbounded();
    let pool = system
        .spawn(Routers::balancing_pool(2, balancing_routee(&tx)), "pool")
        .expect("spawned");
    // The first routee fails; the second keeps working and takes everything.
    pool.tell(Task::Boom);
    for n in 0..20 {
        pool.tell(Task::Work(n));
    }
    let mut numbers: Vec<u32> = recv_n(&rx, 20).into_iter().map(|(_, n)| n).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..20).collect::<Vec<_>>());
    // The last routee fails: the router stops, and later messages are dead letters.
    pool.tell(Task::Boom);
    assert!(common::eventually(|| pool.is_terminated()));
    pool.tell(Task::Work(99));
    assert!(common::eventually(|| {
        dead.try_iter()
            .any(|letter| letter.recipient.as_str() == "/user/pool")
    }));
}

#[test]
fn a_pool_can_be_given_a_behavior_instead_of_a_factory() {
    let system = common::system("router-behavior");
    let (tx, rx) = crossbeam_channel::unbounded();
    let behavior = Behaviors::receive(move |ctx, n: u32| {
        let _ = tx.send((ctx.path().name().to_owned(), n));
        Behaviors::same()
    });
    let pool = system
        .spawn(Routers::pool(3, behavior), "pool")
        .expect("spawned");
    for n in 0..9 {
        pool.tell(n);
    }
    let names: HashSet<String> = recv_n(&rx, 9).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names.len(), 3, "each routee runs its own copy: {names:?}");
}
