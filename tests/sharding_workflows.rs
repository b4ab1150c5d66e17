//! Sharding for long-running work (issue 14): a passivation that cannot hang, the idle rule
//! (only messages through sharding count), remembered entities that come back after a
//! restart of the process, and invalid entity ids.
//!
//! Ported in behaviour from Akka's sharding specs (passivation with a stop message that is
//! ignored, remember-entities across a restart of the region).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{WAIT, eventually};
use reactant::dead_letters::DeadLetterReason;
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
