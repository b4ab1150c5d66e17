//! Dispatchers: system messages before user messages, one thread at a time per actor, fairness
//! between busy actors, bulkheads, and workers that park when there is nothing to do.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Gate, WAIT, eventually, gate, recv, recv_n, reporting_post_stop, system};
use crossbeam_channel::{Sender, unbounded};
use parking_lot::Mutex;
use reactant::prelude::*;

/// What a worker thread is called: `{system}-{dispatcher}-{index}`.
fn thread_name() -> String {
    std::thread::current().name().unwrap_or_default().to_owned()
}

#[test]
fn a_signal_queued_after_user_messages_is_handled_before_them() {
    let system = system("sysfirst");
    let gone = system
        .spawn(
            Behaviors::receive_message(|()| Behaviors::stopped()),
            "gone",
        )
        .expect("spawn");
    gone.tell(());
    assert!(eventually(|| gone.is_terminated()));

    #[derive(Debug, PartialEq)]
    enum Seen {
        User(&'static str),
        Terminated,
    }
    enum Msg {
        Go(ActorRef<()>),
        User(&'static str),
    }
    let (seen_tx, seen_rx) = unbounded();
    let on_signal = seen_tx.clone();
    let actor = system
        .spawn(
            Behaviors::receive(move |ctx: &mut Context<Msg>, msg| {
                match msg {
                    Msg::Go(gone) => {
                        // Two user messages to itself first, then (by watching an actor that has
                        // already stopped) a Terminated signal, all before this handler returns.
                        ctx.self_ref().tell(Msg::User("first"));
                        ctx.self_ref().tell(Msg::User("second"));
                        ctx.watch(&gone);
                    }
                    Msg::User(label) => {
                        let _ = seen_tx.send(Seen::User(label));
                    }
                }
                Behaviors::same()
            })
            .receive_signal(move |_, signal| {
                if let Signal::Terminated(_) = signal {
                    let _ = on_signal.send(Seen::Terminated);
                }
                Behaviors::same()
            }),
            "watcher",
        )
        .expect("spawn");
    actor.tell(Msg::Go(gone));
    assert_eq!(
        recv_n(&seen_rx, 3),
        [Seen::Terminated, Seen::User("first"), Seen::User("second")]
    );
    system.shutdown();
}

#[test]
fn a_stop_overtakes_user_messages_already_queued() {
    let system = system("overtake");
    let letters = system.dead_letters().subscribe();
    enum Child {
        Hold(Gate),
        Record(u32),
    }
    enum Parent {
        StopChild(Sender<Result<(), StopError>>),
    }
    let (child_tx, child_rx) = unbounded();
    let (records_tx, records_rx) = unbounded();
    let (stopped_tx, stopped_rx) = unbounded();
    let parent = system
        .spawn(
            Behaviors::setup(move |ctx| {
                let records = records_tx.clone();
                let child = ctx
                    .spawn(
                        reporting_post_stop(
                            Behaviors::receive_message(move |msg| {
                                match msg {
                                    Child::Hold(gate) => gate.hold(),
                                    Child::Record(n) => {
                                        let _ = records.send(n);
                                    }
                                }
                                Behaviors::same()
                            }),
                            &stopped_tx,
                        ),
                        "child",
                    )
                    .expect("spawn child");
                let _ = child_tx.send(child.clone());
                Behaviors::receive(move |ctx, Parent::StopChild(done)| {
                    let _ = done.send(ctx.stop(&child));
                    Behaviors::same()
                })
            }),
            "parent",
        )
        .expect("spawn");
    let child = recv(&child_rx);
    let (held, mut keeper) = gate();
    child.tell(Child::Hold(held));
    keeper.wait_entered();
    for n in 1..=3 {
        child.tell(Child::Record(n));
    }
    let (done_tx, done_rx) = unbounded();
    parent.tell(Parent::StopChild(done_tx));
    assert_eq!(recv(&done_rx), Ok(()));
    keeper.open();

    assert_eq!(recv(&stopped_rx).as_str(), "/user/parent/child");
    for _ in 1..=3 {
        let letter = recv(&letters);
        assert_eq!(letter.recipient.as_str(), "/user/parent/child");
        assert_eq!(letter.reason, DeadLetterReason::RecipientStopped);
    }
    assert_eq!(records_rx.try_iter().collect::<Vec<_>>(), Vec::<u32>::new());
    system.shutdown();
}

#[test]
fn an_actor_never_runs_on_two_threads_at_once() {
    const SENDERS: usize = 8;
    const PER_SENDER: usize = if cfg!(debug_assertions) {
        3_000
    } else {
        30_000
    };
    const RELAYED: usize = if cfg!(debug_assertions) {
        3_000
    } else {
        30_000
    };
    let system = ActorSystem::builder()
        .name("exclusive")
        .threads(4)
        .throughput(4)
        .build()
        .expect("valid settings");
    let inside = Arc::new(AtomicBool::new(false));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let handled = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = unbounded();
    let expected = SENDERS * PER_SENDER + 2 * RELAYED;
    let target = {
        let (inside, overlaps, handled) = (inside.clone(), overlaps.clone(), handled.clone());
        system
            .spawn(
                Behaviors::receive_message(move |_: usize| {
                    if inside.swap(true, Ordering::SeqCst) {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    // Widen the window in which a second thread could enter.
                    for _ in 0..200 {
                        std::hint::spin_loop();
                    }
                    inside.store(false, Ordering::SeqCst);
                    if handled.fetch_add(1, Ordering::SeqCst) + 1 == expected {
                        let _ = done_tx.send(());
                    }
                    Behaviors::same()
                }),
                "target",
            )
            .expect("spawn")
    };
    // Two actors also send to it, so it is scheduled from worker threads as well.
    let relays: Vec<ActorRef<usize>> = (0..2)
        .map(|_| {
            let target = target.clone();
            system
                .spawn_anonymous(Behaviors::receive_message(move |count: usize| {
                    for i in 0..count {
                        target.tell(i);
                    }
                    Behaviors::same()
                }))
                .expect("spawn")
        })
        .collect();
    std::thread::scope(|scope| {
        for relay in &relays {
            relay.tell(RELAYED);
        }
        for _ in 0..SENDERS {
            let target = target.clone();
            scope.spawn(move || {
                for i in 0..PER_SENDER {
                    target.tell(i);
                }
            });
        }
    });
    recv(&done_rx);
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "two threads ran the actor at once"
    );
    assert_eq!(handled.load(Ordering::SeqCst), expected);
    system.shutdown();
}

#[test]
fn with_one_thread_and_throughput_one_two_busy_actors_interleave() {
    const EACH: usize = 10;
    let system = ActorSystem::builder()
        .name("fair")
        .threads(1)
        .throughput(1)
        .build()
        .expect("valid settings");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (done_tx, done_rx) = unbounded();
    let busy = |label: char| {
        let log = log.clone();
        let done = done_tx.clone();
        system
            .spawn_anonymous(Behaviors::receive_message(move |n: usize| {
                log.lock().push(label);
                if n == EACH {
                    let _ = done.send(label);
                }
                Behaviors::same()
            }))
            .expect("spawn")
    };
    let (a, b) = (busy('a'), busy('b'));
    // Occupy the only worker while both mailboxes fill up.
    let blocker = system
        .spawn_anonymous(Behaviors::receive_message(|held: Gate| {
            held.hold();
            Behaviors::same()
        }))
        .expect("spawn");
    let (held, mut keeper) = gate();
    blocker.tell(held);
    keeper.wait_entered();
    for n in 1..=EACH {
        a.tell(n);
    }
    for n in 1..=EACH {
        b.tell(n);
    }
    keeper.open();
    recv_n(&done_rx, 2);
    let log: String = log.lock().iter().collect();
    assert_eq!(log.len(), 2 * EACH);
    assert!(
        log.as_bytes().windows(2).all(|pair| pair[0] != pair[1]),
        "each actor yields the worker after one message while the other waits: {log}"
    );
    system.shutdown();
}

#[test]
fn an_actor_that_keeps_sending_to_itself_does_not_starve_others() {
    let system = ActorSystem::builder()
        .name("starve")
        .threads(1)
        .build()
        .expect("valid settings");
    let halt = Arc::new(AtomicBool::new(false));
    let (looping_tx, looping_rx) = unbounded();
    let looper = {
        let halt = halt.clone();
        system
            .spawn(
                Behaviors::receive(move |ctx: &mut Context<u64>, n| {
                    if n == 0 {
                        let _ = looping_tx.send(());
                    }
                    if !halt.load(Ordering::SeqCst) {
                        ctx.self_ref().tell(n + 1);
                    }
                    Behaviors::same()
                }),
                "looper",
            )
            .expect("spawn")
    };
    looper.tell(0);
    recv(&looping_rx);
    let other = system
        .spawn(common::answering("served"), "other")
        .expect("spawn");
    let answer = other.ask(|reply_to| reply_to).wait(WAIT);
    halt.store(true, Ordering::SeqCst);
    assert_eq!(answer, Ok("served"));
    system.shutdown();
}

#[test]
fn an_actor_blocked_on_a_named_dispatcher_does_not_stop_actors_on_the_default_one() {
    let system = ActorSystem::builder()
        .name("bulkhead")
        .threads(2)
        .dispatcher("io", 2)
        .build()
        .expect("valid settings");
    // As many blocked actors as the default dispatcher has threads: without the bulkhead they
    // would take every default worker.
    let (names_tx, names_rx) = unbounded();
    let mut keepers = Vec::new();
    for i in 0..2 {
        let names = names_tx.clone();
        let blocker = system
            .spawn_with(
                Behaviors::receive_message(move |held: Gate| {
                    let _ = names.send(thread_name());
                    held.hold();
                    Behaviors::same()
                }),
                Some(&format!("blocker-{i}")),
                &Props::new().with_dispatcher("io"),
            )
            .expect("spawn on io");
        let (held, keeper) = gate();
        blocker.tell(held);
        keeper.wait_entered();
        keepers.push(keeper);
    }
    for name in recv_n(&names_rx, 2) {
        assert!(name.starts_with("bulkhead-io-"), "ran on {name}");
    }

    let echo = system
        .spawn(
            Behaviors::receive_message(|reply_to: ActorRef<String>| {
                reply_to.tell(thread_name());
                Behaviors::same()
            }),
            "echo",
        )
        .expect("spawn");
    for _ in 0..10 {
        let ran_on = echo.ask(|reply_to| reply_to).wait(WAIT);
        assert!(
            ran_on
                .as_ref()
                .is_ok_and(|name| name.starts_with("bulkhead-default-")),
            "{ran_on:?}"
        );
    }
    drop(keepers);
    system.shutdown();
}

#[test]
fn a_child_can_be_spawned_on_a_named_dispatcher() {
    let system = ActorSystem::builder()
        .name("childio")
        .threads(2)
        .dispatcher("io", 1)
        .build()
        .expect("valid settings");
    let (name_tx, name_rx) = unbounded();
    system
        .spawn(
            Behaviors::setup(move |ctx| {
                let name = name_tx.clone();
                let child = ctx
                    .spawn_with(
                        Behaviors::receive_message(move |()| {
                            let _ = name.send(thread_name());
                            Behaviors::same()
                        }),
                        Some("reader"),
                        &Props::new().with_dispatcher("io"),
                    )
                    .expect("spawn child on io");
                child.tell(());
                Behaviors::ignore::<()>()
            }),
            "parent",
        )
        .expect("spawn");
    let ran_on = recv(&name_rx);
    assert!(ran_on.starts_with("childio-io-"), "ran on {ran_on}");
    system.shutdown();
}

/// CPU time (user + system, in clock ticks) used so far by this process's threads whose name
/// starts with `prefix`, and how many there are.
#[cfg(target_os = "linux")]
fn cpu_ticks_of_threads(prefix: &str) -> (u64, usize) {
    let mut ticks = 0;
    let mut threads = 0;
    for task in std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
    {
        let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) else {
            continue;
        };
        if !comm.starts_with(prefix) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let after_name = &stat[stat.rfind(')').expect("stat has a name") + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let utime: u64 = fields[11].parse().expect("utime");
        let stime: u64 = fields[12].parse().expect("stime");
        ticks += utime + stime;
        threads += 1;
    }
    (ticks, threads)
}

#[cfg(target_os = "linux")]
#[test]
fn idle_workers_do_not_spin() {
    // Only this system's threads are measured: other tests run in this process meanwhile.
    let system = system("quiet");
    let echo = system.spawn(common::answering(1u8), "echo").expect("spawn");
    for _ in 0..100 {
        echo.ask(|reply_to| reply_to).wait(WAIT).expect("reply");
    }
    assert!(
        eventually(|| cpu_ticks_of_threads("quiet-").1 == 3),
        "two workers and the scheduler are named"
    );
    // Let any brief spinning after the last message end, then watch the idle system.
    std::thread::sleep(Duration::from_millis(200));
    let (before, _) = cpu_ticks_of_threads("quiet-");
    std::thread::sleep(Duration::from_millis(300));
    let (after, _) = cpu_ticks_of_threads("quiet-");
    // Spinning workers would use about 60 ticks (two threads for 300 ms at 100 ticks/s);
    // parked ones use next to none. The bound is generous on purpose.
    assert!(
        after - before <= 10,
        "idle workers used {} clock ticks of CPU in 300 ms",
        after - before
    );
    system.shutdown();
}

/// Issue 12, point 10: a worker's "next" slot holds the actor it just woke, out of other
/// workers' reach. During a long turn of the waker, an idle worker must be able to take that
/// actor; it must not wait for the whole turn (64 messages here) to end.
#[test]
fn an_actor_woken_during_a_long_turn_runs_on_an_idle_worker_before_the_turn_ends() {
    const STEPS: usize = 64; // the default throughput: one whole turn
    let system = system("fairness");
    let progress = Arc::new(AtomicUsize::new(0));
    let (seen_tx, seen) = unbounded();
    let woken = {
        let progress = progress.clone();
        system
            .spawn(
                Behaviors::receive_message(move |()| {
                    let _ = seen_tx.send(progress.load(Ordering::SeqCst));
                    Behaviors::same()
                }),
                "woken",
            )
            .expect("spawn")
    };
    let (go_tx, go) = unbounded::<()>();
    let busy = {
        let progress = progress.clone();
        system
            .spawn(
                Behaviors::receive_message(move |step: usize| {
                    if step == 0 {
                        // Every step is queued before the turn goes on.
                        let _ = go.recv_timeout(WAIT);
                        woken.tell(());
                    }
                    let until = std::time::Instant::now() + Duration::from_micros(300);
                    while std::time::Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    progress.store(step + 1, Ordering::SeqCst);
                    Behaviors::same()
                }),
                "busy",
            )
            .expect("spawn")
    };
    for step in 0..STEPS {
        busy.tell(step);
    }
    go_tx.send(()).expect("the busy actor waits for it");
    let ran_after = recv(&seen);
    assert!(
        ran_after < STEPS,
        "the woken actor ran only after the waker's whole turn ({ran_after} of {STEPS} steps)"
    );
    assert!(eventually(|| progress.load(Ordering::SeqCst) == STEPS));
}
