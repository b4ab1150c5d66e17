//! Sharding for long-running work (issue 14): a passivation that cannot hang, the idle rule
//! (only messages through sharding count), remembered entities that come back after a
//! restart of the process, and invalid entity ids.
//!
//! Ported in behaviour from Akka's sharding specs (passivation with a stop message that is
//! ignored, remember-entities across a restart of the region).
//!
//! Over 600 lines: one file per rule set, as the ported specs are; each test stands alone.

mod common;
#[path = "common/faults.rs"]
mod faults;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{WAIT, eventually};
use reactant::dead_letters::DeadLetterReason;
use reactant::persistence::Journal;
use reactant::prelude::*;
use reactant::sharding::{EntityTypeKey, ShardRegion, ShardedEntity};

/// What the stubborn entities are told.
enum Job {
    /// Record `n` under this incarnation.
    Work(usize),
    /// Set this aside until the entity is no longer busy.
    Later(usize),
    /// Ask for passivation.
    Passivate,
    /// The stop message.
    Stop,
}

/// (incarnation, n) for every `Work(n)` handled.
type Seen = Arc<parking_lot::Mutex<Vec<(usize, usize)>>>;

/// Entities that never stop on their stop message: they ignore it, or with `stash_stop` set
/// it aside with everything marked `Later`.
fn stubborn_region(
    system: &ActorSystem,
    name: &str,
    seen: &Seen,
    stash_stop: bool,
    stop_timeout: Duration,
) -> ShardRegion<Job> {
    let seen = seen.clone();
    let incarnations = Arc::new(AtomicUsize::new(0));
    let entity = ShardedEntity::new(EntityTypeKey::<Job>::new(name), move |entity| {
        let incarnation = incarnations.fetch_add(1, Ordering::SeqCst);
        let entity = entity.clone();
        let seen = seen.clone();
        Behaviors::receive(move |ctx, msg: Job| {
            let stash = ctx.stash_buffer(100);
            match msg {
                Job::Work(n) => seen.lock().push((incarnation, n)),
                Job::Later(n) => {
                    let _ = stash.stash(Job::Later(n));
                }
                Job::Passivate => entity.passivate(),
                Job::Stop if stash_stop => {
                    let _ = stash.stash(Job::Stop);
                }
                Job::Stop => {}
            }
            Behaviors::same()
        })
    })
    .with_stop_message(|| Job::Stop)
    .with_passivation_stop_timeout(stop_timeout);
    system.sharding().init(entity).expect("the region starts")
}

#[test]
fn an_entity_that_ignores_its_stop_message_is_stopped_after_the_stop_timeout() {
    let system = common::system("sharding-stop-timeout-ignored");
    let seen = Seen::default();
    let region = stubborn_region(
        &system,
        "ignores-stop",
        &seen,
        false,
        Duration::from_millis(200),
    );
    let entity = region.entity("a");
    entity.tell(Job::Work(1));
    entity.tell(Job::Passivate);
    assert!(eventually(|| region.stats().passivating_entities == 1));
    // Held by the shard while the first incarnation ignores its stop message.
    entity.tell(Job::Work(2));
    assert!(
        eventually(|| seen.lock().len() == 2),
        "the message sent during the passivation reached a next incarnation: {:?}",
        seen.lock()
    );
    assert_eq!(*seen.lock(), vec![(0, 1), (1, 2)]);
    let stats = region.stats();
    assert_eq!(stats.passivating_entities, 0);
    assert_eq!(stats.active_entities, 1);
    assert_eq!(stats.entities_started, 2);
}

#[test]
fn an_entity_that_stashes_its_stop_message_is_stopped_and_its_stash_is_dead_lettered() {
    let system = common::system("sharding-stop-timeout-stashed");
    let dead_letters = system.dead_letters().subscribe();
    let seen = Seen::default();
    let region = stubborn_region(
        &system,
        "stashes-stop",
        &seen,
        true,
        Duration::from_millis(200),
    );
    let entity = region.entity("a");
    entity.tell(Job::Later(1));
    entity.tell(Job::Later(2));
    entity.tell(Job::Passivate);
    assert!(eventually(|| region.stats().passivating_entities == 1));
    entity.tell(Job::Work(3));
    assert!(eventually(|| seen.lock().len() == 1));
    assert_eq!(*seen.lock(), vec![(1, 3)], "the next incarnation got it");
    // What the stopped incarnation had set aside: two jobs and its own stop message.
    let mut stashed = Vec::new();
    while stashed.len() < 3 {
        let letter = dead_letters
            .recv_timeout(WAIT)
            .expect("the stash of the stopped incarnation goes to dead letters");
        assert_eq!(letter.reason, DeadLetterReason::RecipientStopped);
        stashed.push(letter);
    }
    // The stop message was not replayed into the next incarnation: it stays active.
    std::thread::sleep(Duration::from_millis(400));
    let stats = region.stats();
    assert_eq!(stats.active_entities, 1, "{stats:?}");
    assert_eq!(stats.passivations, 1, "{stats:?}");
    assert_eq!(stats.entities_started, 2, "{stats:?}");
}

#[test]
fn an_entity_that_stops_in_time_is_not_stopped_twice() {
    let system = common::system("sharding-stop-timeout-in-time");
    let stops = Arc::new(AtomicUsize::new(0));
    let starts = Arc::new(AtomicUsize::new(0));
    let entity = {
        let (stops, starts) = (stops.clone(), starts.clone());
        ShardedEntity::new(EntityTypeKey::<Job>::new("stops-in-time"), move |entity| {
            starts.fetch_add(1, Ordering::SeqCst);
            let entity = entity.clone();
            let stops = stops.clone();
            Behaviors::receive_message(move |msg: Job| match msg {
                Job::Passivate => {
                    entity.passivate();
                    Behaviors::same()
                }
                Job::Stop => {
                    stops.fetch_add(1, Ordering::SeqCst);
                    Behaviors::stopped()
                }
                Job::Work(_) | Job::Later(_) => Behaviors::same(),
            })
        })
        .with_stop_message(|| Job::Stop)
        .with_passivation_stop_timeout(Duration::from_millis(50))
    };
    let region = system.sharding().init(entity).expect("the region starts");
    for round in 0..20 {
        let entity = region.entity(format!("e-{round}"));
        entity.tell(Job::Work(round));
        entity.tell(Job::Passivate);
    }
    assert!(eventually(|| stops.load(Ordering::SeqCst) == 20));
    std::thread::sleep(Duration::from_millis(200));
    let stats = region.stats();
    assert_eq!(stats.active_entities + stats.passivating_entities, 0);
    assert_eq!(starts.load(Ordering::SeqCst), 20);
}

/// What the long-running entities are told.
#[derive(Clone)]
enum Task {
    /// Begin: start a timer to self every 20 ms; with `remember`, ask to be kept running.
    Begin { remember: bool },
    /// The entity's own timer.
    Tick,
    /// Done: forget (if remembered).
    Finish,
    /// Passivate.
    Passivate,
    /// Fail.
    Boom,
}

/// What the long-running entities report: (entity id, what happened).
type Events = crossbeam_channel::Sender<(String, &'static str)>;

fn long_running(
    key: &str,
    events: &Events,
    configure: impl FnOnce(ShardedEntity<Task>) -> ShardedEntity<Task>,
) -> ShardedEntity<Task> {
    let events = events.clone();
    configure(ShardedEntity::new(
        EntityTypeKey::<Task>::new(key),
        move |entity| {
            let entity = entity.clone();
            let events = events.clone();
            let id = entity.entity_id().to_owned();
            let _ = events.send((id.clone(), "started"));
            let on_signal = {
                let (events, id) = (events.clone(), id.clone());
                move |_ctx: &mut Context<Task>, signal: &Signal| {
                    if matches!(signal, Signal::PostStop) {
                        let _ = events.send((id.clone(), "stopped"));
                    }
                    Behaviors::same()
                }
            };
            Behaviors::receive(move |ctx, task: Task| {
                match task {
                    Task::Begin { remember } => {
                        if remember {
                            entity.remember().expect("the type can remember");
                        }
                        ctx.timers().start_fixed_rate(
                            "tick",
                            Task::Tick,
                            Duration::from_millis(20),
                        );
                    }
                    Task::Tick => {
                        let _ = events.send((id.clone(), "tick"));
                    }
                    Task::Finish => entity.forget().expect("the type can remember"),
                    Task::Passivate => entity.passivate(),
                    Task::Boom => panic!("boom"),
                }
                Behaviors::same()
            })
            .receive_signal(on_signal)
        },
    ))
}

/// Waits for `what` from entity `id`, skipping everything else.
#[track_caller]
fn wait_for(rx: &crossbeam_channel::Receiver<(String, &'static str)>, id: &str, what: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok((from, seen)) if from == id && seen == what => return,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("{id} did not report {what:?} within {WAIT:?}");
}

/// Whether `id` reports `what` within `quiet`.
fn reports_within(
    rx: &crossbeam_channel::Receiver<(String, &'static str)>,
    id: &str,
    what: &str,
    quiet: Duration,
) -> bool {
    let deadline = std::time::Instant::now() + quiet;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok((from, seen)) if from == id && seen == what => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// The rule (Akka's): only messages through sharding count as activity. An entity busy with
/// its own timers (or adapter replies, or `ctx.ask` outcomes) is idle to its shard.
#[test]
fn idle_passivation_counts_only_messages_sent_through_sharding() {
    let system = common::system("sharding-idle-rule");
    let (tx, rx) = crossbeam_channel::unbounded();
    let region = system
        .sharding()
        .init(long_running("idle-rule", &tx, |e| {
            e.with_idle_timeout(Duration::from_millis(200))
        }))
        .expect("the region starts");
    region.entity("t").tell(Task::Begin { remember: false });
    wait_for(&rx, "t", "tick");
    wait_for(&rx, "t", "stopped");
    assert_eq!(region.stats().passivations, 1);
}

#[test]
fn a_remembered_entity_is_never_passivated_for_idleness_or_the_limit_until_it_forgets() {
    let system = common::system("sharding-remembered-idle");
    let persistence = reactant::persistence::Persistence::in_memory().expect("persistence");
    let (tx, rx) = crossbeam_channel::unbounded();
    let region = system
        .sharding()
        .init(long_running("remembered-idle", &tx, |e| {
            e.with_idle_timeout(Duration::from_millis(100))
                .with_number_of_shards(1)
                .with_active_entity_limit(1)
                .with_remember_entities(persistence.clone())
        }))
        .expect("the region starts");
    region.entity("kept").tell(Task::Begin { remember: true });
    wait_for(&rx, "kept", "tick");
    // Over the limit of one: the newcomer stays, and so does the remembered one.
    region.entity("other").tell(Task::Begin { remember: false });
    wait_for(&rx, "other", "tick");
    assert!(
        !reports_within(&rx, "kept", "stopped", Duration::from_millis(500)),
        "a remembered entity was passivated"
    );
    assert_eq!(
        persistence.journal().remembered("remembered-idle").unwrap(),
        ["kept"]
    );
    region.entity("kept").tell(Task::Finish);
    wait_for(&rx, "kept", "stopped");
    assert!(eventually(|| persistence
        .journal()
        .remembered("remembered-idle")
        .unwrap()
        .is_empty()));
}

#[test]
fn remembered_entities_start_by_themselves_when_their_region_starts_again() {
    let persistence = reactant::persistence::Persistence::in_memory().expect("persistence");
    {
        let system = common::system("sharding-remembered-run-1");
        let (tx, rx) = crossbeam_channel::unbounded();
        let region = system
            .sharding()
            .init(long_running("saga", &tx, |e| {
                e.with_remember_entities(persistence.clone())
            }))
            .expect("the region starts");
        for id in ["a", "b"] {
            region.entity(id).tell(Task::Begin { remember: true });
            wait_for(&rx, id, "tick");
        }
        region.entity("c").tell(Task::Begin { remember: false });
        region.entity("b").tell(Task::Finish);
        wait_for(&rx, "c", "tick");
        assert!(eventually(|| persistence
            .journal()
            .remembered("saga")
            .unwrap()
            == ["a"]));
        system.shutdown();
    }
    // The process again: nothing is sent, and the unfinished one runs.
    let system = common::system("sharding-remembered-run-2");
    let (tx, rx) = crossbeam_channel::unbounded();
    let region = system
        .sharding()
        .init(long_running("saga", &tx, |e| {
            e.with_remember_entities(persistence.clone())
        }))
        .expect("the region starts");
    wait_for(&rx, "a", "started");
    assert!(eventually(|| region.stats().active_entities == 1));
    assert!(!reports_within(&rx, "b", "started", common::QUIET));
    assert_eq!(region.stats().entities_started, 1);
}

#[test]
fn a_remembered_entity_that_fails_starts_again_after_its_backoff() {
    let system = common::system("sharding-remembered-fails");
    let persistence = reactant::persistence::Persistence::in_memory().expect("persistence");
    let (tx, rx) = crossbeam_channel::unbounded();
    let region = system
        .sharding()
        .init(long_running("fails", &tx, |e| {
            e.with_remember_entities(persistence.clone())
                .with_remembered_restart_backoff(Duration::from_millis(100))
        }))
        .expect("the region starts");
    let entity = region.entity("f");
    entity.tell(Task::Begin { remember: true });
    wait_for(&rx, "f", "started");
    wait_for(&rx, "f", "tick");
    entity.tell(Task::Boom);
    wait_for(&rx, "f", "stopped");
    // No message sent: the shard starts it again.
    wait_for(&rx, "f", "started");
    // Counted by the shard just after the factory ran.
    assert!(eventually(|| region.stats().entities_started == 2));
    // Passivating is how a remembered entity says it is done (as in Akka): it forgets itself.
    entity.tell(Task::Begin { remember: true });
    wait_for(&rx, "f", "tick");
    entity.tell(Task::Passivate);
    wait_for(&rx, "f", "stopped");
    assert!(!reports_within(
        &rx,
        "f",
        "started",
        Duration::from_millis(400)
    ));
    assert!(eventually(|| persistence
        .journal()
        .remembered("fails")
        .unwrap()
        .is_empty()));
}

/// The race of a saga whose first command arrives just as its shard finds it idle: it
/// remembers itself while it is being passivated. It stops, and starts again at once — the
/// remembered-restart backoff (10 s here) is for entities that fail or stop themselves.
#[test]
fn an_entity_that_remembers_itself_while_being_passivated_starts_again_at_once() {
    let system = common::system("sharding-remembered-while-passivating");
    let persistence = reactant::persistence::Persistence::in_memory().expect("persistence");
    let (tx, rx) = crossbeam_channel::unbounded();
    let entity = ShardedEntity::new(EntityTypeKey::<Job>::new("late-remember"), move |entity| {
        let _ = tx.send((entity.entity_id().to_owned(), "started"));
        let entity = entity.clone();
        Behaviors::receive_message(move |job: Job| match job {
            // Passivated for idleness, it takes on work as the stop message arrives.
            Job::Stop => {
                entity.remember().expect("the type can remember");
                Behaviors::stopped()
            }
            Job::Work(_) | Job::Later(_) | Job::Passivate => Behaviors::same(),
        })
    })
    .with_stop_message(|| Job::Stop)
    .with_idle_timeout(Duration::from_millis(100))
    .with_remember_entities(persistence.clone());
    let region = system.sharding().init(entity).expect("the region starts");
    region.entity("r").tell(Job::Work(1));
    wait_for(&rx, "r", "started");
    assert!(
        reports_within(&rx, "r", "started", Duration::from_secs(3)),
        "the remembered entity waited for the restart backoff"
    );
    assert_eq!(region.stats().passivations, 1);
    assert!(eventually(|| persistence
        .journal()
        .remembered("late-remember")
        .unwrap()
        == ["r"]));
}

/// An entity reaches the entities of another region of its system by type key (Akka's
/// `entityRefFor` from inside an entity): how a saga finds the accounts it moves money between.
#[test]
fn an_entity_reaches_another_regions_entities_through_its_context() {
    let system = common::system("sharding-entity-ref-for");
    let echoes = system
        .sharding()
        .init(ShardedEntity::new(
            EntityTypeKey::<(String, ActorRef<String>)>::new("echo"),
            |entity| {
                let me = entity.entity_id().to_owned();
                Behaviors::receive_message(move |(text, reply_to): (String, ActorRef<String>)| {
                    reply_to.tell(format!("{me}: {text}"));
                    Behaviors::same()
                })
            },
        ))
        .expect("the region starts");
    let callers = system
        .sharding()
        .init(ShardedEntity::new(
            EntityTypeKey::<ActorRef<Option<String>>>::new("caller"),
            |entity| {
                let entity = entity.clone();
                Behaviors::receive_message(move |reply_to: ActorRef<Option<String>>| {
                    let echo = entity.entity_ref_for(&EntityTypeKey::new("echo"), "e-1");
                    let missing = entity.entity_ref_for(&EntityTypeKey::<u8>::new("nobody"), "x");
                    match (echo, missing) {
                        (Some(echo), None) => {
                            echo.tell(("hello".to_owned(), reply_to.contramap(Some)))
                        }
                        _ => reply_to.tell(None),
                    }
                    Behaviors::same()
                })
            },
        ))
        .expect("the region starts");
    let reply = callers.entity("c-1").ask(|reply_to| reply_to).wait(WAIT);
    assert_eq!(reply.expect("answered"), Some("e-1: hello".to_owned()));
    assert_eq!(echoes.stats().entities_started, 1);
}

#[test]
fn remembering_without_a_store_is_a_typed_error_that_says_what_to_configure() {
    let system = common::system("sharding-remember-no-store");
    let (tx, rx) = crossbeam_channel::bounded(1);
    let region = system
        .sharding()
        .init(ShardedEntity::new(
            EntityTypeKey::<()>::new("no-store"),
            move |entity| {
                let (entity, tx) = (entity.clone(), tx.clone());
                Behaviors::receive_message(move |()| {
                    let _ = tx.send(entity.remember());
                    Behaviors::same()
                })
            },
        ))
        .expect("the region starts");
    region.entity("x").tell(());
    let refused = rx
        .recv_timeout(WAIT)
        .expect("the entity answers")
        .expect_err("there is no store");
    let text = refused.to_string();
    assert!(
        text.contains("with_remember_entities") && text.contains("\"x\""),
        "{text}"
    );
}

/// Persistence over a journal whose faults the test sets (and no snapshot faults).
fn faulty_persistence() -> (
    Arc<faults::FaultyJournal>,
    Arc<reactant::persistence::Persistence>,
) {
    let journal = Arc::new(faults::FaultyJournal::new());
    let snapshots = Arc::new(faults::FaultySnapshotStore::new());
    let persistence = reactant::persistence::Persistence::new(journal.clone(), snapshots)
        .expect("persistence threads start");
    (journal, persistence)
}

/// Failure path of item 4: the journal fails (or panics) while storing that an entity is
/// remembered. The decision: the entity runs on and stays remembered in this process (it is
/// not passivated for idleness), the failure is logged, and the journal's writer survives, so
/// the next change (the forget at the end of the work) is stored.
#[test]
fn a_journal_that_fails_to_store_a_remembered_entity_leaves_it_running_and_recovers() {
    for fault in [faults::Fault::Fail, faults::Fault::Panic] {
        let system = common::system("sharding-remember-store-fails");
        let (journal, persistence) = faulty_persistence();
        let (tx, rx) = crossbeam_channel::unbounded();
        let region = system
            .sharding()
            .init(long_running("store-fails", &tx, |e| {
                e.with_idle_timeout(Duration::from_millis(100))
                    .with_remember_entities(persistence.clone())
            }))
            .expect("the region starts");
        journal.fail_remembers(fault);
        region.entity("w").tell(Task::Begin { remember: true });
        wait_for(&rx, "w", "tick");
        assert!(
            !reports_within(&rx, "w", "stopped", Duration::from_millis(400)),
            "{fault:?}: a remembered entity was passivated for idleness"
        );
        assert!(
            journal
                .inner()
                .remembered("store-fails")
                .unwrap()
                .is_empty()
        );
        journal.heal_remembers();
        // Stored now: the next change goes through the same writer thread.
        region.entity("w").tell(Task::Finish);
        region.entity("v").tell(Task::Begin { remember: true });
        wait_for(&rx, "v", "tick");
        assert!(
            eventually(|| journal.inner().remembered("store-fails").unwrap() == ["v"]),
            "{fault:?}: the writer did not store the next change"
        );
        wait_for(&rx, "w", "stopped");
        system.shutdown();
    }
}

/// Failure path of item 4: the remembered entities cannot be listed when the region starts.
/// The region does not start (nothing would restart them), with a typed error that names the
/// entity type and what to do; a journal that panics gives the same error, not a panic.
#[test]
fn a_region_whose_remembered_entities_cannot_be_read_refuses_to_start_with_a_typed_error() {
    for fault in [faults::Fault::Fail, faults::Fault::Panic] {
        let system = common::system("sharding-remembered-unreadable");
        let (journal, persistence) = faulty_persistence();
        let (tx, _rx) = crossbeam_channel::unbounded();
        journal.fail_remembers(fault);
        let refused = system
            .sharding()
            .init(long_running("unreadable", &tx, |e| {
                e.with_remember_entities(persistence.clone())
            }))
            .expect_err("the remembered entities cannot be read");
        let text = refused.to_string();
        assert!(
            matches!(
                refused,
                reactant::sharding::ShardingError::Remembered { .. }
            ) && text.contains("\"unreadable\"")
                && text.contains("initialise again"),
            "{fault:?}: {text}"
        );
        // Once the journal works, the same entity type starts.
        journal.heal_remembers();
        system
            .sharding()
            .init(long_running("unreadable", &tx, |e| {
                e.with_remember_entities(persistence.clone())
            }))
            .expect("the region starts once the journal reads");
        system.shutdown();
    }
}

/// A message that arrives while a failed remembered entity waits for its restart backoff
/// starts it at once (it is not held until the backoff ends), and the backoff's own start
/// then finds it running: one incarnation, not two.
#[test]
fn a_message_during_the_remembered_restart_backoff_starts_the_entity_once() {
    let system = common::system("sharding-remembered-backoff-message");
    let persistence = reactant::persistence::Persistence::in_memory().expect("persistence");
    let (tx, rx) = crossbeam_channel::unbounded();
    let backoff = Duration::from_secs(2);
    let region = system
        .sharding()
        .init(long_running("backoff-message", &tx, |e| {
            e.with_remember_entities(persistence.clone())
                .with_remembered_restart_backoff(backoff)
        }))
        .expect("the region starts");
    let entity = region.entity("b");
    entity.tell(Task::Begin { remember: true });
    wait_for(&rx, "b", "tick");
    entity.tell(Task::Boom);
    wait_for(&rx, "b", "stopped");
    let sent = std::time::Instant::now();
    entity.tell(Task::Begin { remember: true });
    wait_for(&rx, "b", "started");
    wait_for(&rx, "b", "tick");
    assert!(
        sent.elapsed() < backoff,
        "the message waited for the backoff ({:?})",
        sent.elapsed()
    );
    // Past the backoff: its start found the entity running.
    assert!(!reports_within(
        &rx,
        "b",
        "started",
        backoff + Duration::from_millis(500)
    ));
    assert_eq!(region.stats().entities_started, 2);
    assert_eq!(region.stats().active_entities, 1);
}

/// Item 8: an event-sourced command handler is `FnMut`, so per-entity scratch state (an
/// attempt counter, replies to answer later) is a plain captured variable.
#[test]
fn an_event_sourced_command_handler_keeps_plain_mutable_scratch_state() {
    use reactant::persistence::{Effect, Event, EventSourcedBehavior, Persistence, PersistenceId};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    struct Released;
    impl Event for Released {}

    enum Gate {
        /// Answer once the gate is released, with the number of commands seen so far.
        Wait(ActorRef<usize>),
        Release,
    }

    let system = common::system("es-fnmut-handler");
    let persistence = Persistence::in_memory().expect("persistence");
    let mut seen = 0usize;
    let mut waiting: Vec<ActorRef<usize>> = Vec::new();
    let gate = EventSourcedBehavior::new(
        PersistenceId::of("gate", "1"),
        persistence,
        || 0u64,
        move |_released: &u64, command: Gate| {
            seen += 1;
            match command {
                Gate::Wait(reply_to) => {
                    waiting.push(reply_to);
                    Effect::none()
                }
                Gate::Release => {
                    let (answer, waiting) = (seen, std::mem::take(&mut waiting));
                    Effect::persist(Released).then_run(move |_: &u64| {
                        for reply_to in waiting {
                            reply_to.tell(answer);
                        }
                    })
                }
            }
        },
        |released: &mut u64, _: &Released| *released += 1,
    );
    let gate = system.spawn(gate, "gate").expect("spawned");
    let first = gate.ask(Gate::Wait);
    let second = gate.ask(Gate::Wait);
    gate.tell(Gate::Release);
    assert_eq!(first.wait(WAIT).expect("answered later"), 3);
    assert_eq!(second.wait(WAIT).expect("answered later"), 3);
}

/// Item 9: an empty entity id names no entity: its messages go to dead letters, with a reason
/// that says so, and nothing starts.
#[test]
fn messages_to_an_empty_entity_id_go_to_dead_letters_and_start_nothing() {
    let system = common::system("sharding-empty-id");
    let dead_letters = system.dead_letters().subscribe();
    let starts = Arc::new(AtomicUsize::new(0));
    let region = {
        let starts = starts.clone();
        system
            .sharding()
            .init(ShardedEntity::new(
                EntityTypeKey::<u32>::new("empty-ids"),
                move |_entity| {
                    starts.fetch_add(1, Ordering::SeqCst);
                    Behaviors::receive_message(|_: u32| Behaviors::same())
                },
            ))
            .expect("the region starts")
    };
    region.entity("").tell(1);
    region.tell(reactant::sharding::ShardingEnvelope::new("", 2));
    for _ in 0..2 {
        let letter = dead_letters.recv_timeout(WAIT).expect("a dead letter");
        assert_eq!(letter.reason, DeadLetterReason::EmptyEntityId);
        assert!(letter.to_string().contains("non-empty id"), "{letter}");
    }
    region.entity("x").tell(3);
    assert!(eventually(|| region.stats().entities_started == 1));
    assert_eq!(starts.load(Ordering::SeqCst), 1);
}

/// Item 6 (runtime side): an event-sourced entity type's handler gets its id, its actor
/// context and its sharding side, whether it is written by hand or by the macros.
#[test]
fn an_entity_types_command_handler_gets_its_id_and_its_sharding_side() {
    use reactant::persistence::{Effect, Entity, EntityContext, Event, Persistence};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    struct Noted;
    impl Event for Noted {}

    enum Cmd {
        WhoAmI(ActorRef<(String, bool)>),
    }

    #[derive(Default, Serialize, Deserialize)]
    struct Note;

    impl Entity for Note {
        const TYPE_KEY: &'static str = "note";
        type Event = Noted;
        type Command = Cmd;
        fn apply(&mut self, _: &Noted) {}
        fn handle_command(&self, _: Cmd) -> Effect<Noted, Self> {
            Effect::unhandled()
        }
        fn handle_command_in(
            &self,
            ctx: &mut EntityContext<'_, Cmd>,
            command: Cmd,
        ) -> Effect<Noted, Self> {
            let Cmd::WhoAmI(reply_to) = command;
            let sharding = ctx.sharding().expect("started by a region");
            sharding
                .remember()
                .expect("event-sourced types remember in their persistence");
            let remembered = sharding.is_remembered();
            reply_to.tell((ctx.entity_id().to_owned(), remembered));
            Effect::none()
        }
    }

    let system = common::system("sharding-entity-context");
    let persistence = Persistence::in_memory().expect("persistence");
    let notes = system
        .sharding()
        .init::<Note>(persistence.clone())
        .expect("the region starts");
    let (id, remembered) = notes
        .entity("n-7")
        .ask(Cmd::WhoAmI)
        .wait(WAIT)
        .expect("answered");
    assert_eq!((id.as_str(), remembered), ("n-7", true));
    assert!(eventually(|| persistence
        .journal()
        .remembered("note")
        .unwrap()
        == ["n-7"]));
}

mod macro_entity {
    //! Item 6 (macro side): an `#[entity]` handler takes `ctx: &mut EntityContext<'_, Command>`
    //! and the block may define `on_signal`, so a remembered job written with the macros
    //! resumes by itself after a restart.

    use reactant::persistence::{EntityContext, EntitySignal, Persistence};
    use reactant::prelude::*;
    use serde::{Deserialize, Serialize};

    use super::common::{self, WAIT, eventually};

    #[derive(Clone, Debug, Serialize, Deserialize, Event)]
    enum JobEvent {
        Started,
        Done,
    }

    #[derive(Default, Serialize, Deserialize, Entity)]
    #[entity(type_key = "job", event = JobEvent)]
    struct Job {
        started: bool,
        done: bool,
    }

    #[entity]
    impl Job {
        fn apply(&mut self, event: &JobEvent) {
            match event {
                JobEvent::Started => self.started = true,
                JobEvent::Done => self.done = true,
            }
        }

        /// Unfinished work resumes on its own after recovery.
        fn on_signal(&self, ctx: &mut EntityContext<'_, JobCommand>, signal: &EntitySignal) {
            if matches!(signal, EntitySignal::RecoveryCompleted { .. })
                && self.started
                && !self.done
            {
                JobRef::finish(&ctx.self_ref());
            }
        }

        /// Starts the job: remembered first, so it comes back until it finishes.
        pub fn start(&self, ctx: &mut EntityContext<'_, JobCommand>) -> Effect<JobEvent, String> {
            if let Some(sharding) = ctx.sharding() {
                sharding
                    .remember()
                    .expect("event-sourced types can remember");
            }
            let id = ctx.entity_id().to_owned();
            Effect::persist(JobEvent::Started).then_reply(move |_| id)
        }

        pub fn finish(&self, ctx: &mut EntityContext<'_, JobCommand>) -> Effect<JobEvent> {
            if let Some(sharding) = ctx.sharding() {
                sharding.forget().expect("event-sourced types can remember");
            }
            Effect::persist(JobEvent::Done)
        }

        pub fn is_done(&self) -> bool {
            self.done
        }
    }

    #[test]
    fn a_remembered_macro_entity_resumes_its_work_after_a_restart() {
        let persistence = Persistence::in_memory().expect("persistence");
        {
            let system = common::system("macro-job-run-1");
            let jobs = system
                .sharding()
                .init::<Job>(persistence.clone())
                .expect("the region starts");
            let id = jobs.entity("j-1").start().wait(WAIT).expect("started");
            assert_eq!(id, "j-1");
            assert!(eventually(|| persistence
                .journal()
                .remembered("job")
                .unwrap()
                == ["j-1"]));
            system.shutdown();
        }
        // A new run: nobody sends anything to j-1, and it finishes.
        let system = common::system("macro-job-run-2");
        let jobs = system
            .sharding()
            .init::<Job>(persistence.clone())
            .expect("the region starts");
        assert!(eventually(|| persistence
            .journal()
            .remembered("job")
            .unwrap()
            .is_empty()));
        assert!(jobs.entity("j-1").is_done().wait(WAIT).expect("answered"));
    }
}
