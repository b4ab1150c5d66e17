//! The actor system: building it, spawning top-level actors, and shutting down (explicitly or
//! on drop) so that every actor stops, children before parents, and every thread is joined.

mod common;

use std::collections::HashMap;

use common::{WAIT, eventually, recv, recv_n, reporting_post_stop, system};
use crossbeam_channel::{Sender, unbounded};
use reactant::prelude::*;

/// A tree of actor names to spawn.
#[derive(Clone)]
struct Tree(&'static str, Vec<Tree>);

/// An actor that spawns `children` (recursively), reports its path on `started` once its
/// children exist, and on `stopped` when it receives `PostStop`.
fn node(
    children: Vec<Tree>,
    started: Sender<ActorPath>,
    stopped: Sender<ActorPath>,
) -> Behavior<()> {
    let on_stop = stopped.clone();
    reporting_post_stop(
        Behaviors::setup(move |ctx| {
            for Tree(name, grandchildren) in &children {
                ctx.spawn(
                    node(grandchildren.clone(), started.clone(), stopped.clone()),
                    name,
                )
                .expect("a fresh actor has no child of that name");
            }
            let _ = started.send(ctx.path());
            Behaviors::ignore()
        }),
        &on_stop,
    )
}

/// Spawns two trees (`/user/a/b/c` and `/user/d/{e,f}`) and waits until all six actors run.
fn spawn_forest(system: &ActorSystem, stopped: &Sender<ActorPath>) {
    let (started_tx, started_rx) = unbounded();
    let a = Tree("a", vec![Tree("b", vec![Tree("c", vec![])])]);
    let d = Tree("d", vec![Tree("e", vec![]), Tree("f", vec![])]);
    for Tree(name, children) in [a, d] {
        system
            .spawn(node(children, started_tx.clone(), stopped.clone()), name)
            .expect("spawn a top-level actor");
    }
    recv_n(&started_rx, 6);
}

/// Asserts that `order` holds each of the six actors once, every descendant before its ancestors.
#[track_caller]
fn assert_children_stopped_before_parents(order: &[ActorPath]) {
    let mut names: Vec<&str> = order.iter().map(ActorPath::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "/user/a",
            "/user/a/b",
            "/user/a/b/c",
            "/user/d",
            "/user/d/e",
            "/user/d/f"
        ],
        "every actor gets PostStop exactly once"
    );
    let position: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i))
        .collect();
    for (ancestor, at) in &position {
        for (descendant, descendant_at) in &position {
            if descendant.starts_with(&format!("{ancestor}/")) {
                assert!(
                    descendant_at < at,
                    "{descendant} must stop before {ancestor}; order was {order:?}"
                );
            }
        }
    }
}

/// The names of this process's threads that start with `prefix` (Linux: `/proc/self/task`).
///
/// A joined thread's entry can outlive the join by a moment (the kernel wakes the joiner
/// before it removes the task), so checks that threads are gone poll with `eventually`.
fn threads_named(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task lists this process's threads")
        .filter_map(|task| {
            let comm = std::fs::read_to_string(task.ok()?.path().join("comm")).ok()?;
            let name = comm.trim_end().to_owned();
            name.starts_with(prefix).then_some(name)
        })
        .collect()
}

#[test]
fn new_starts_a_system_with_the_given_name() {
    let system = ActorSystem::new("plain").expect("default settings are valid");
    assert_eq!(system.name(), "plain");
    assert!(system.live_worker_threads() >= 1);
    let echo = system.spawn(common::answering(5u8), "echo").expect("spawn");
    assert_eq!(echo.ask(|r| r).wait(WAIT), Ok(5));
    system.shutdown();
}

#[test]
fn the_builder_starts_the_threads_it_is_given() {
    let system = ActorSystem::builder()
        .name("sized")
        .threads(3)
        .dispatcher("io", 2)
        .throughput(8)
        .build()
        .expect("valid settings");
    assert_eq!(system.live_worker_threads(), 5);
    system.shutdown();
}

#[test]
fn shutdown_stops_children_before_parents_each_with_post_stop() {
    let system = system("orderly");
    let (stopped_tx, stopped_rx) = unbounded();
    spawn_forest(&system, &stopped_tx);
    system.shutdown();
    assert!(system.is_terminated());
    let order: Vec<ActorPath> = stopped_rx.try_iter().collect();
    assert_children_stopped_before_parents(&order);
}

#[test]
fn dropping_the_system_stops_children_before_parents_each_with_post_stop() {
    let system = system("dropped");
    let (stopped_tx, stopped_rx) = unbounded();
    spawn_forest(&system, &stopped_tx);
    drop(system);
    let order: Vec<ActorPath> = stopped_rx.try_iter().collect();
    assert_children_stopped_before_parents(&order);
}

#[test]
fn shutdown_joins_every_worker_thread() {
    let system = ActorSystem::builder()
        .name("joining")
        .threads(2)
        .dispatcher("io", 1)
        .build()
        .expect("valid settings");
    assert_eq!(system.live_worker_threads(), 3);
    let echo = system.spawn(common::answering(()), "echo").expect("spawn");
    echo.ask(|r| r).wait(WAIT).expect("the system runs");
    system.shutdown();
    assert_eq!(system.live_worker_threads(), 0);
}

#[cfg(target_os = "linux")]
#[test]
fn shutdown_leaves_no_thread_of_the_system_running() {
    // Thread names are `{system}-{dispatcher}-{i}` and `{system}-scheduler`.
    let system = ActorSystem::builder()
        .name("leftover")
        .threads(2)
        .dispatcher("io", 1)
        .build()
        .expect("valid settings");
    let ticker = system
        .spawn(
            Behaviors::with_timers(|timers| {
                timers.start_fixed_rate("tick", (), std::time::Duration::from_millis(1));
                Behaviors::ignore()
            }),
            "ticker",
        )
        .expect("spawn");
    // A thread names itself once it starts running.
    assert!(
        eventually(|| threads_named("leftover-").len() == 4),
        "the three workers and the scheduler run: {:?}",
        threads_named("leftover-")
    );
    system.shutdown();
    assert!(ticker.is_terminated());
    assert!(
        eventually(|| threads_named("leftover-").is_empty()),
        "{:?}",
        threads_named("leftover-")
    );
}

#[cfg(target_os = "linux")]
#[test]
fn dropping_the_system_leaves_no_thread_of_it_running() {
    let system = system("dropthreads");
    system.spawn(common::answering(()), "echo").expect("spawn");
    assert!(eventually(|| threads_named("dropthreads-").len() == 3));
    drop(system);
    assert!(
        eventually(|| threads_named("dropthreads-").is_empty()),
        "{:?}",
        threads_named("dropthreads-")
    );
}

#[test]
fn shutdown_is_idempotent() {
    let system = system("twice");
    let (stopped_tx, stopped_rx) = unbounded();
    system
        .spawn(
            reporting_post_stop(Behaviors::ignore::<u8>(), &stopped_tx),
            "once",
        )
        .expect("spawn");
    system.shutdown();
    system.shutdown();
    drop(system);
    assert_eq!(
        stopped_rx.try_iter().count(),
        1,
        "PostStop is delivered once"
    );
}

#[test]
fn spawning_after_shutdown_is_a_typed_error() {
    let system = system("closed");
    system.shutdown();
    let named = system.spawn(Behaviors::ignore::<u8>(), "late");
    assert_eq!(named.err(), Some(SpawnError::SystemTerminated));
    let anonymous = system.spawn_anonymous(Behaviors::ignore::<u8>());
    assert_eq!(anonymous.err(), Some(SpawnError::SystemTerminated));
}

#[test]
fn a_zero_thread_count_is_a_typed_error() {
    match ActorSystem::builder().name("none").threads(0).build() {
        Err(BuildError::ZeroThreads { dispatcher }) => assert_eq!(dispatcher, "default"),
        other => panic!("expected ZeroThreads, got {other:?}"),
    }
    match ActorSystem::builder()
        .name("none")
        .dispatcher("io", 0)
        .build()
    {
        Err(BuildError::ZeroThreads { dispatcher }) => assert_eq!(dispatcher, "io"),
        other => panic!("expected ZeroThreads, got {other:?}"),
    }
}

#[test]
fn a_zero_throughput_is_a_typed_error() {
    let built = ActorSystem::builder().name("stuck").throughput(0).build();
    assert!(
        matches!(built, Err(BuildError::ZeroThroughput)),
        "{built:?}"
    );
}

#[test]
fn messages_sent_after_shutdown_go_to_dead_letters() {
    let system = system("afterwards");
    let letters = system.dead_letters().subscribe();
    let actor = system
        .spawn(
            Behaviors::receive_message(|_: u32| Behaviors::same()),
            "late",
        )
        .expect("spawn");
    system.shutdown();
    assert!(actor.is_terminated());
    let before = system.dead_letters().count();
    actor.tell(1);
    actor.tell(2);
    assert_eq!(system.dead_letters().count(), before + 2);
    for _ in 0..2 {
        let letter = recv(&letters);
        assert_eq!(letter.recipient.as_str(), "/user/late");
        assert_eq!(letter.reason, DeadLetterReason::RecipientStopped);
    }
}

#[test]
fn every_actor_reports_terminated_after_shutdown() {
    let system = system("finished");
    let refs: Vec<ActorRef<u8>> = (0..20)
        .map(|_| system.spawn_anonymous(Behaviors::ignore()).expect("spawn"))
        .collect();
    assert!(!system.is_terminated());
    assert!(refs.iter().all(|r| !r.is_terminated()));
    system.shutdown();
    assert!(system.is_terminated());
    assert!(refs.iter().all(ActorRef::is_terminated));
}

#[test]
fn dropping_the_last_owner_inside_an_actor_still_joins_every_thread() {
    let system = std::sync::Arc::new(system("selfdrop"));
    let (dropped_tx, dropped_rx) = unbounded();
    let holder = system
        .spawn(
            Behaviors::receive_message(
                move |owner: parking_lot::Mutex<Option<std::sync::Arc<ActorSystem>>>| {
                    // The last owner goes away on a worker of the very system it owns.
                    drop(owner.lock().take());
                    dropped_tx.send(()).expect("the test is listening");
                    Behaviors::same()
                },
            ),
            "holder",
        )
        .expect("spawn");
    holder.tell(parking_lot::Mutex::new(Some(system)));
    common::recv(&dropped_rx);
    assert!(
        common::eventually(|| threads_named("selfdrop").is_empty()),
        "threads left: {:?}",
        threads_named("selfdrop")
    );
}
