//! Supervision: a panic is caught at the actor boundary and handed to the actor's strategy
//! (stop, resume, restart with a limit, restart with backoff); nothing else is harmed.
//!
//! Over 600 lines: one file per rule set, as the ported specs are; each test stands alone.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{WAIT, assert_quiet, eventually, recv, recv_n, reporting_post_stop, system};
use crossbeam_channel::{Sender, unbounded};
use reactant::prelude::*;

enum Counter {
    Add,
    Fail,
    Get(ActorRef<u32>),
}

/// A counter whose state lives in its behavior, reporting on `pre_restart` the count it had
/// when a restart ended it.
fn counter(count: u32, pre_restart: Sender<u32>) -> Behavior<Counter> {
    let on_signal = pre_restart.clone();
    Behaviors::receive_message(move |msg| match msg {
        Counter::Add => counter(count + 1, pre_restart.clone()),
        Counter::Fail => panic!("failing at {count}"),
        Counter::Get(reply_to) => {
            reply_to.tell(count);
            Behaviors::same()
        }
    })
    .receive_signal(move |_, signal| {
        if let Signal::PreRestart = signal {
            let _ = on_signal.send(count);
        }
        Behaviors::same()
    })
}

/// `counter(0)` built by a setup that counts its runs in `starts`.
fn counted_counter(starts: &Arc<AtomicU32>, pre_restart: Sender<u32>) -> Behavior<Counter> {
    let starts = starts.clone();
    Behaviors::setup(move |_| {
        starts.fetch_add(1, Ordering::SeqCst);
        counter(0, pre_restart.clone())
    })
}

#[test]
fn an_unsupervised_actor_that_panics_is_stopped_with_post_stop() {
    let system = system("defaultstop");
    let letters = system.dead_letters().subscribe();
    let (stopped_tx, stopped_rx) = unbounded();
    let (pre_restart_tx, _pre_restart_rx) = unbounded();
    let actor = system
        .spawn(
            reporting_post_stop(counter(0, pre_restart_tx), &stopped_tx),
            "fragile",
        )
        .expect("spawn");
    actor.tell(Counter::Fail);
    assert_eq!(recv(&stopped_rx).as_str(), "/user/fragile");
    assert!(eventually(|| actor.is_terminated()));
    actor.tell(Counter::Add);
    assert_eq!(recv(&letters).reason, DeadLetterReason::RecipientStopped);
    system.shutdown();
}

#[test]
fn stop_stops_the_actor_that_panics() {
    let system = system("explicitstop");
    let (pre_restart_tx, pre_restart_rx) = unbounded();
    let actor = system
        .spawn(
            Behaviors::supervise(counter(0, pre_restart_tx)).on_failure(SupervisorStrategy::stop()),
            "fragile",
        )
        .expect("spawn");
    actor.tell(Counter::Fail);
    assert!(eventually(|| actor.is_terminated()));
    assert_quiet(&pre_restart_rx);
    system.shutdown();
}

#[test]
fn resume_keeps_the_state_and_drops_only_the_failing_message() {
    let system = system("resume");
    let starts = Arc::new(AtomicU32::new(0));
    let (pre_restart_tx, pre_restart_rx) = unbounded();
    let actor = system
        .spawn(
            Behaviors::supervise(counted_counter(&starts, pre_restart_tx))
                .on_failure(SupervisorStrategy::resume()),
            "resilient",
        )
        .expect("spawn");
    for _ in 0..3 {
        actor.tell(Counter::Add);
    }
    actor.tell(Counter::Fail);
    actor.tell(Counter::Add);
    actor.tell(Counter::Fail);
    actor.tell(Counter::Add);
    assert_eq!(actor.ask(Counter::Get).wait(WAIT), Ok(5));
    assert_eq!(
        starts.load(Ordering::SeqCst),
        1,
        "resume never runs setup again"
    );
    assert_quiet(&pre_restart_rx);
    system.shutdown();
}

#[test]
fn restart_resets_the_state_and_signals_pre_restart_to_the_old_behavior() {
    let system = system("restart");
    let starts = Arc::new(AtomicU32::new(0));
    let (pre_restart_tx, pre_restart_rx) = unbounded();
    let actor = system
        .spawn(
            Behaviors::supervise(counted_counter(&starts, pre_restart_tx))
                .on_failure(SupervisorStrategy::restart()),
            "phoenix",
        )
        .expect("spawn");
    for _ in 0..3 {
        actor.tell(Counter::Add);
    }
    actor.tell(Counter::Fail);
    assert_eq!(
        recv(&pre_restart_rx),
        3,
        "the old behavior, with its state, sees PreRestart"
    );
    assert_eq!(actor.ask(Counter::Get).wait(WAIT), Ok(0));
    assert_eq!(starts.load(Ordering::SeqCst), 2, "setup ran again");
    actor.tell(Counter::Add);
    assert_eq!(actor.ask(Counter::Get).wait(WAIT), Ok(1));
    system.shutdown();
}

#[test]
fn the_actor_ref_stays_valid_across_restarts() {
    let system = system("sameref");
    let (self_tx, self_rx) = unbounded();
    let actor = system
        .spawn(
            Behaviors::supervise(Behaviors::setup(move |ctx: &mut Context<bool>| {
                let _ = self_tx.send(ctx.self_ref());
                Behaviors::receive_message(|fail: bool| {
                    assert!(!fail, "asked to fail");
                    Behaviors::same()
                })
            }))
            .on_failure(SupervisorStrategy::restart()),
            "steady",
        )
        .expect("spawn");
    assert_eq!(recv(&self_rx), actor);
    for _ in 0..3 {
        actor.tell(true);
        assert_eq!(recv(&self_rx), actor, "each incarnation is the same actor");
    }
    assert!(!actor.is_terminated());
    system.shutdown();
}

#[test]
fn messages_queued_behind_a_failure_are_delivered_after_the_restart() {
    enum Msg {
        Fail,
        Work(u32),
    }
    let system = system("queued");
    let deliveries = Arc::new(AtomicU32::new(0));
    let (work_tx, work_rx) = unbounded();
    let actor = {
        let deliveries = deliveries.clone();
        system
            .spawn(
                Behaviors::supervise(Behaviors::receive_message(move |msg| match msg {
                    Msg::Fail => {
                        deliveries.fetch_add(1, Ordering::SeqCst);
                        panic!("failing on purpose")
                    }
                    Msg::Work(n) => {
                        let _ = work_tx.send(n);
                        Behaviors::same()
                    }
                }))
                .on_failure(SupervisorStrategy::restart()),
                "busy",
            )
            .expect("spawn")
    };
    actor.tell(Msg::Fail);
    for n in 1..=5 {
        actor.tell(Msg::Work(n));
    }
    assert_eq!(recv_n(&work_rx, 5), [1, 2, 3, 4, 5]);
    assert_eq!(
        deliveries.load(Ordering::SeqCst),
        1,
        "the failing message is not redelivered"
    );
    system.shutdown();
}

#[test]
fn restart_with_limit_stops_the_actor_after_the_allowed_restarts() {
    let system = system("limited");
    let starts = Arc::new(AtomicU32::new(0));
    let (pre_restart_tx, _pre_restart_rx) = unbounded();
    let (stopped_tx, stopped_rx) = unbounded();
    let actor = system
        .spawn(
            reporting_post_stop(
                Behaviors::supervise(counted_counter(&starts, pre_restart_tx)).on_failure(
                    SupervisorStrategy::restart().with_limit(2, Duration::from_secs(60)),
                ),
                &stopped_tx,
            ),
            "limited",
        )
        .expect("spawn");
    for restarts in 1..=2 {
        actor.tell(Counter::Fail);
        assert_eq!(
            actor.ask(Counter::Get).wait(WAIT),
            Ok(0),
            "restart {restarts} is allowed"
        );
    }
    actor.tell(Counter::Fail);
    assert!(
        eventually(|| actor.is_terminated()),
        "the third failure stops it"
    );
    assert_eq!(starts.load(Ordering::SeqCst), 3);
    assert_eq!(
        actor.ask(Counter::Get).wait(WAIT),
        Err(AskError::TargetStopped)
    );
    assert_eq!(recv(&stopped_rx).as_str(), "/user/limited");
    system.shutdown();
}

#[test]
fn a_setup_that_always_fails_is_stopped_once_the_restart_limit_is_reached() {
    let system = system("hopeless");
    let starts = Arc::new(AtomicU32::new(0));
    let actor = {
        let starts = starts.clone();
        system
            .spawn(
                Behaviors::supervise(Behaviors::setup(move |_| -> Behavior<u8> {
                    starts.fetch_add(1, Ordering::SeqCst);
                    panic!("cannot start")
                }))
                .on_failure(SupervisorStrategy::restart().with_limit(3, Duration::from_secs(60))),
                "hopeless",
            )
            .expect("spawn")
    };
    assert!(eventually(|| actor.is_terminated()));
    assert_eq!(
        starts.load(Ordering::SeqCst),
        4,
        "the first start and three restarts"
    );
    system.shutdown();
}

#[test]
fn restart_stops_the_children_of_the_old_incarnation_first() {
    let system = system("orphans");
    let (stopped_tx, stopped_rx) = unbounded();
    let (spawned_tx, spawned_rx) = unbounded();
    let parent = system
        .spawn(
            Behaviors::supervise(Behaviors::setup(move |ctx: &mut Context<()>| {
                // Same name in every incarnation: only free if the old child is gone.
                let spawned = ctx
                    .spawn(
                        reporting_post_stop(Behaviors::ignore::<()>(), &stopped_tx),
                        "worker",
                    )
                    .map(|_| ());
                let _ = spawned_tx.send(spawned);
                Behaviors::receive_message(|()| -> Behavior<()> { panic!("parent fails") })
            }))
            .on_failure(SupervisorStrategy::restart()),
            "parent",
        )
        .expect("spawn");
    assert_eq!(recv(&spawned_rx), Ok(()));
    parent.tell(());
    assert_eq!(recv(&stopped_rx).as_str(), "/user/parent/worker");
    assert_eq!(
        recv(&spawned_rx),
        Ok(()),
        "the new incarnation spawns its child again"
    );
    system.shutdown();
}

// ----- object style -----

enum TallyMsg {
    Add,
    Fail,
    Get(ActorRef<u32>),
}

struct Tally {
    count: u32,
    events: Sender<String>,
}

impl Actor for Tally {
    type Msg = TallyMsg;

    fn pre_start(&mut self, _ctx: &mut Context<TallyMsg>) {
        let _ = self.events.send(format!("pre_start at {}", self.count));
    }

    fn handle(&mut self, _ctx: &mut Context<TallyMsg>, msg: TallyMsg) {
        match msg {
            TallyMsg::Add => self.count += 1,
            TallyMsg::Fail => panic!("tally fails"),
            TallyMsg::Get(reply_to) => reply_to.tell(self.count),
        }
    }

    fn pre_restart(&mut self, _ctx: &mut Context<TallyMsg>) {
        let _ = self.events.send(format!("pre_restart at {}", self.count));
    }

    fn post_stop(&mut self, _ctx: &mut Context<TallyMsg>) {
        let _ = self.events.send(format!("post_stop at {}", self.count));
    }
}

#[test]
fn an_object_style_actor_from_a_factory_restarts_as_a_fresh_instance() {
    let system = system("objrestart");
    let (events_tx, events_rx) = unbounded();
    let tally = system
        .spawn(
            Behaviors::supervise(Behaviors::actor(move || Tally {
                count: 0,
                events: events_tx.clone(),
            }))
            .on_failure(SupervisorStrategy::restart()),
            "tally",
        )
        .expect("spawn");
    tally.tell(TallyMsg::Add);
    tally.tell(TallyMsg::Add);
    tally.tell(TallyMsg::Fail);
    assert_eq!(tally.ask(TallyMsg::Get).wait(WAIT), Ok(0));
    assert_eq!(
        recv_n(&events_rx, 3),
        ["pre_start at 0", "pre_restart at 2", "pre_start at 0"]
    );
    system.shutdown();
    assert_eq!(recv(&events_rx), "post_stop at 0");
}

#[test]
fn an_object_style_actor_value_cannot_be_restarted_and_is_stopped_instead() {
    let system = system("objvalue");
    let (events_tx, events_rx) = unbounded();
    let tally = system
        .spawn(
            Behaviors::supervise(Behavior::from(Tally {
                count: 0,
                events: events_tx,
            }))
            .on_failure(SupervisorStrategy::restart()),
            "tally",
        )
        .expect("spawn");
    tally.tell(TallyMsg::Add);
    tally.tell(TallyMsg::Fail);
    assert!(eventually(|| tally.is_terminated()));
    assert_eq!(recv_n(&events_rx, 2), ["pre_start at 0", "post_stop at 1"]);
    system.shutdown();
}

// ----- backoff -----

enum Job {
    Fail,
    Work(u32),
}

/// What a job runner reports.
#[derive(Debug, PartialEq)]
enum Report {
    Started(Instant),
    /// The failed incarnation got `PreRestart`: the backoff has begun.
    Restarting,
    Done(u32, Instant),
}

/// A job runner that reports its starts, its `PreRestart`, and each piece of work with the
/// time it was handled.
fn job_runner(reports: Sender<Report>) -> Behavior<Job> {
    Behaviors::setup(move |_| {
        let _ = reports.send(Report::Started(Instant::now()));
        let done = reports.clone();
        Behaviors::receive_message(move |job| match job {
            Job::Fail => panic!("job failed"),
            Job::Work(n) => {
                let _ = done.send(Report::Done(n, Instant::now()));
                Behaviors::same()
            }
        })
        .receive_signal({
            let reports = reports.clone();
            move |_, signal| {
                if let Signal::PreRestart = signal {
                    let _ = reports.send(Report::Restarting);
                }
                Behaviors::same()
            }
        })
    })
}

#[test]
fn commands_sent_during_backoff_are_delivered_after_restart() {
    let system = system("backoff");
    let backoff = Duration::from_millis(300);
    let (reports_tx, reports) = unbounded();
    let runner = system
        .spawn(
            Behaviors::supervise(job_runner(reports_tx)).on_failure(
                SupervisorStrategy::restart_with_backoff(backoff, Duration::from_secs(5), 0.0),
            ),
            "runner",
        )
        .expect("spawn");
    assert!(matches!(recv(&reports), Report::Started(_)));
    let failed_at = Instant::now();
    runner.tell(Job::Fail);
    assert_eq!(recv(&reports), Report::Restarting);
    for n in 1..=5 {
        runner.tell(Job::Work(n));
    }
    let Report::Started(restarted_at) = recv(&reports) else {
        panic!("expected the restart before any work");
    };
    assert!(
        restarted_at.duration_since(failed_at) >= backoff,
        "the restart waits for the backoff"
    );
    for n in 1..=5 {
        match recv(&reports) {
            Report::Done(done, at) => {
                assert_eq!(done, n);
                assert!(at >= restarted_at, "the work waits for the new incarnation");
            }
            other => panic!("expected work {n}, got {other:?}"),
        }
    }
    system.shutdown();
}

#[test]
fn commands_beyond_the_backoff_buffer_go_to_dead_letters() {
    let system = system("overflow");
    let letters = system.dead_letters().subscribe();
    let (reports_tx, reports) = unbounded();
    let runner = system
        .spawn(
            Behaviors::supervise(job_runner(reports_tx)).on_failure(
                SupervisorStrategy::restart_with_backoff(
                    Duration::from_millis(300),
                    Duration::from_secs(5),
                    0.0,
                )
                .with_stash_capacity(3),
            ),
            "runner",
        )
        .expect("spawn");
    assert!(matches!(recv(&reports), Report::Started(_)));
    runner.tell(Job::Fail);
    assert_eq!(recv(&reports), Report::Restarting);
    for n in 1..=10 {
        runner.tell(Job::Work(n));
    }
    for letter in recv_n(&letters, 7) {
        assert_eq!(letter.recipient.as_str(), "/user/runner");
        assert_eq!(letter.reason, DeadLetterReason::RestartBufferFull);
    }
    assert!(matches!(recv(&reports), Report::Started(_)));
    runner.tell(Job::Work(11));
    let done: Vec<u32> = recv_n(&reports, 4)
        .into_iter()
        .map(|report| match report {
            Report::Done(n, _) => n,
            other => panic!("expected work, got {other:?}"),
        })
        .collect();
    assert_eq!(
        done,
        [1, 2, 3, 11],
        "the first three were kept, the rest dropped"
    );
    system.shutdown();
}

#[test]
fn timers_of_the_old_incarnation_never_fire_after_a_restart() {
    #[derive(Clone)]
    enum Msg {
        Tick,
        Fail,
        Incarnation(ActorRef<u32>),
    }
    let system = system("oldtimers");
    let incarnations = Arc::new(AtomicU32::new(0));
    // (incarnation that handled the tick) for every tick handled.
    let (ticks_tx, ticks_rx) = unbounded();
    let actor = {
        let incarnations = incarnations.clone();
        system
            .spawn(
                Behaviors::supervise(Behaviors::setup(move |ctx: &mut Context<Msg>| {
                    let me = incarnations.fetch_add(1, Ordering::SeqCst) + 1;
                    if me == 1 {
                        ctx.timers()
                            .start_fixed_rate("often", Msg::Tick, Duration::from_millis(2));
                        ctx.timers()
                            .start_single("later", Msg::Tick, Duration::from_millis(150));
                    }
                    let ticks = ticks_tx.clone();
                    Behaviors::receive_message(move |msg| match msg {
                        Msg::Tick => {
                            let _ = ticks.send(me);
                            Behaviors::same()
                        }
                        Msg::Fail => {
                            // Let ticks pile up in the mailbox before failing.
                            std::thread::sleep(Duration::from_millis(30));
                            panic!("failing with ticks queued")
                        }
                        Msg::Incarnation(reply_to) => {
                            reply_to.tell(me);
                            Behaviors::same()
                        }
                    })
                }))
                .on_failure(SupervisorStrategy::restart()),
                "ticking",
            )
            .expect("spawn")
    };
    assert_eq!(recv(&ticks_rx), 1, "the first incarnation's timers run");
    actor.tell(Msg::Fail);
    assert_eq!(actor.ask(Msg::Incarnation).wait(WAIT), Ok(2));
    // Ticks the first incarnation handled before failing may still be in the channel.
    let deadline = Instant::now() + Duration::from_millis(300);
    while let Ok(handled_by) = ticks_rx.recv_deadline(deadline) {
        assert_eq!(
            handled_by, 1,
            "a timer of the old incarnation reached the new one"
        );
    }
    system.shutdown();
}

#[test]
fn a_panic_never_kills_a_pool_thread() {
    let system = system("survivors");
    assert_eq!(system.live_worker_threads(), 2);
    let (pre_restart_tx, _pre_restart_rx) = unbounded();
    let restarting = system
        .spawn(
            Behaviors::supervise(counter(0, pre_restart_tx.clone()))
                .on_failure(SupervisorStrategy::restart()),
            "restarting",
        )
        .expect("spawn");
    let stopping: Vec<ActorRef<Counter>> = (0..20)
        .map(|_| {
            system
                .spawn_anonymous(counter(0, pre_restart_tx.clone()))
                .expect("spawn")
        })
        .collect();
    for _ in 0..100 {
        restarting.tell(Counter::Fail);
    }
    for actor in &stopping {
        actor.tell(Counter::Fail);
    }
    assert_eq!(restarting.ask(Counter::Get).wait(WAIT), Ok(0));
    assert!(eventually(|| stopping.iter().all(ActorRef::is_terminated)));
    assert_eq!(system.live_worker_threads(), 2);
    let healthy = system
        .spawn(common::answering("fine"), "healthy")
        .expect("spawn");
    assert_eq!(healthy.ask(|r| r).wait(WAIT), Ok("fine"));
    system.shutdown();
}

#[test]
fn a_failing_actor_does_not_disturb_its_siblings() {
    let system = system("siblings");
    let (pre_restart_tx, _pre_restart_rx) = unbounded();
    let calm = system
        .spawn(counter(0, pre_restart_tx.clone()), "calm")
        .expect("spawn");
    let fragile = system
        .spawn(counter(0, pre_restart_tx), "fragile")
        .expect("spawn");
    calm.tell(Counter::Add);
    fragile.tell(Counter::Fail);
    calm.tell(Counter::Add);
    assert!(eventually(|| fragile.is_terminated()));
    assert_eq!(calm.ask(Counter::Get).wait(WAIT), Ok(2));
    system.shutdown();
}
