//! Bad input gets a typed error that says what happened, never a panic: taken or invalid
//! names, unknown dispatchers, invalid settings, spawning where it cannot be done. Errors print
//! as sentences that say what to do, and an ask's timeout says what the ask was for.

mod common;

use std::time::Duration;

use common::{eventually, recv, system};
use crossbeam_channel::unbounded;
use reactant::error::AskTimeout;
use reactant::persistence::{InvalidPersistenceId, PersistenceId};
use reactant::prelude::*;

const INVALID_NAMES: [&str; 6] = ["", "$reserved", "a/b", "with space", "é", "tab\t"];

fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn every_runtime_error_is_a_std_error() {
    assert_error::<SpawnError>();
    assert_error::<BuildError>();
    assert_error::<AskError>();
    assert_error::<StopError>();
    assert_error::<StashOverflow<u32>>();
    assert_error::<InvalidPersistenceId>();
}

#[test]
fn a_second_top_level_actor_with_a_taken_name_is_refused() {
    let system = system("duplicate");
    system
        .spawn(Behaviors::ignore::<u8>(), "twin")
        .expect("the first is fine");
    let second = system.spawn(Behaviors::ignore::<u8>(), "twin");
    match second {
        Err(SpawnError::NameTaken { name, parent }) => {
            assert_eq!(name, "twin");
            assert_eq!(parent.as_str(), "/user");
        }
        other => panic!("expected NameTaken, got {other:?}"),
    }
    system.shutdown();
}

#[test]
fn a_second_child_with_a_taken_name_is_refused() {
    let system = system("duplicatechild");
    let (result_tx, result_rx) = unbounded();
    system
        .spawn(
            Behaviors::setup(move |ctx| {
                ctx.spawn(Behaviors::ignore::<u8>(), "twin")
                    .expect("the first is fine");
                let _ = result_tx.send(ctx.spawn(Behaviors::ignore::<u8>(), "twin").map(|_| ()));
                Behaviors::ignore::<()>()
            }),
            "parent",
        )
        .expect("spawn");
    let error = recv(&result_rx).expect_err("the name is taken");
    assert!(
        error.to_string().contains("twin"),
        "the message names it: {error}"
    );
    match error {
        SpawnError::NameTaken { name, parent } => {
            assert_eq!(name, "twin");
            assert_eq!(parent.as_str(), "/user/parent");
        }
        other => panic!("expected NameTaken, got {other:?}"),
    }
    system.shutdown();
}

#[test]
fn the_same_name_under_different_parents_is_fine() {
    let system = system("cousins");
    let (result_tx, result_rx) = unbounded();
    for parent in ["left", "right"] {
        let result = result_tx.clone();
        system
            .spawn(
                Behaviors::setup(move |ctx| {
                    let _ = result.send(
                        ctx.spawn(Behaviors::ignore::<u8>(), "same")
                            .map(|c| c.path()),
                    );
                    Behaviors::ignore::<()>()
                }),
                parent,
            )
            .expect("spawn");
    }
    let mut paths: Vec<String> = (0..2)
        .map(|_| recv(&result_rx).expect("spawned").to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, ["/user/left/same", "/user/right/same"]);
    system.shutdown();
}

#[test]
fn a_name_is_free_again_once_its_actor_has_stopped() {
    let system = system("reuse");
    let first = system
        .spawn(
            Behaviors::receive_message(|()| Behaviors::stopped()),
            "reused",
        )
        .expect("spawn");
    first.tell(());
    assert!(eventually(|| {
        system.spawn(Behaviors::ignore::<()>(), "reused").is_ok()
    }));
    system.shutdown();
}

#[test]
fn invalid_top_level_names_are_refused_with_a_reason() {
    let system = system("badnames");
    let too_long = "x".repeat(256);
    for bad in INVALID_NAMES.iter().copied().chain([too_long.as_str()]) {
        match system.spawn(Behaviors::ignore::<u8>(), bad) {
            Err(SpawnError::InvalidName { name, reason }) => {
                assert_eq!(name, bad);
                assert!(!reason.is_empty());
            }
            other => panic!("{bad:?}: expected InvalidName, got {other:?}"),
        }
    }
    system.shutdown();
}

#[test]
fn invalid_child_names_are_refused_with_a_reason() {
    let system = system("badchildnames");
    let (results_tx, results_rx) = unbounded();
    system
        .spawn(
            Behaviors::setup(move |ctx| {
                for bad in INVALID_NAMES {
                    let _ = results_tx
                        .send((bad, ctx.spawn(Behaviors::ignore::<u8>(), bad).map(|_| ())));
                }
                Behaviors::ignore::<()>()
            }),
            "parent",
        )
        .expect("spawn");
    for _ in INVALID_NAMES {
        let (bad, result) = recv(&results_rx);
        assert!(
            matches!(&result, Err(SpawnError::InvalidName { name, .. }) if name == bad),
            "{bad:?}: {result:?}"
        );
    }
    system.shutdown();
}

#[test]
fn names_with_allowed_punctuation_are_accepted() {
    let system = system("goodnames");
    for good in [
        "order-17",
        "a.b_c",
        "user@host:8080",
        "x+y=z",
        "MiXeD~case!",
    ] {
        let actor = system.spawn(Behaviors::ignore::<u8>(), good);
        assert!(actor.is_ok(), "{good:?}: {actor:?}");
    }
    system.shutdown();
}

#[test]
fn spawning_on_an_unknown_dispatcher_is_refused() {
    let system = system("nodispatcher");
    let top = system.spawn_with(
        Behaviors::ignore::<u8>(),
        Some("lost"),
        &Props::new().with_dispatcher("nope"),
    );
    assert_eq!(
        top.err(),
        Some(SpawnError::UnknownDispatcher("nope".into()))
    );

    let (result_tx, result_rx) = unbounded();
    system
        .spawn(
            Behaviors::setup(move |ctx| {
                let child = ctx.spawn_with(
                    Behaviors::ignore::<u8>(),
                    None,
                    &Props::new().with_dispatcher("nope"),
                );
                let _ = result_tx.send(child.map(|_| ()));
                Behaviors::ignore::<()>()
            }),
            "parent",
        )
        .expect("spawn");
    assert_eq!(
        recv(&result_rx),
        Err(SpawnError::UnknownDispatcher("nope".into()))
    );
    system.shutdown();
}

#[test]
fn a_dispatcher_configured_twice_is_refused() {
    let twice = ActorSystem::builder()
        .name("twice")
        .dispatcher("io", 1)
        .dispatcher("io", 2)
        .build();
    assert!(
        matches!(twice, Err(BuildError::DuplicateDispatcher(ref name)) if name == "io"),
        "{twice:?}"
    );
    let shadowing = ActorSystem::builder()
        .name("shadow")
        .dispatcher("default", 1)
        .build();
    assert!(
        matches!(shadowing, Err(BuildError::DuplicateDispatcher(ref name)) if name == "default"),
        "{shadowing:?}"
    );
}

#[test]
fn an_invalid_system_name_is_refused() {
    for bad in ["", "my system", "a/b"] {
        let built = ActorSystem::builder().name(bad).threads(1).build();
        assert!(
            matches!(built, Err(BuildError::InvalidName { ref name, .. }) if name == bad),
            "{bad:?}: {built:?}"
        );
    }
}

#[test]
fn an_actor_cannot_spawn_children_while_it_stops() {
    let system = system("stopping");
    let (result_tx, result_rx) = unbounded();
    let actor = system
        .spawn(
            Behaviors::receive_message(|()| Behaviors::stopped()).receive_signal(
                move |ctx, signal| {
                    if let Signal::PostStop = signal {
                        let _ = result_tx
                            .send(ctx.spawn(Behaviors::ignore::<u8>(), "late").map(|_| ()));
                    }
                    Behaviors::same()
                },
            ),
            "stopping",
        )
        .expect("spawn");
    actor.tell(());
    match recv(&result_rx) {
        Err(SpawnError::ParentStopping { parent }) => assert_eq!(parent.as_str(), "/user/stopping"),
        other => panic!("expected ParentStopping, got {other:?}"),
    }
    system.shutdown();
}

/// A parent that spawns `child` under the name "confused", watches it, and reports the
/// signals it gets, formatted.
fn watching_parent(
    child: fn() -> Behavior<u8>,
    seen: crossbeam_channel::Sender<String>,
) -> Behavior<()> {
    Behaviors::setup(move |ctx: &mut Context<()>| {
        let child = ctx.spawn(child(), "confused").expect("spawn child");
        ctx.watch(&child);
        let seen = seen.clone();
        Behaviors::ignore().receive_signal(move |_, signal| {
            let _ = seen.send(format!("{signal:?}"));
            Behaviors::same()
        })
    })
}

#[test]
fn spawning_with_same_stops_the_actor_with_a_failure_instead_of_panicking() {
    let system = system("badstart");
    let (seen_tx, seen_rx) = unbounded();
    system
        .spawn(watching_parent(Behaviors::same::<u8>, seen_tx), "parent")
        .expect("spawn");
    let signal = recv(&seen_rx);
    assert!(signal.starts_with("ChildFailed"), "{signal}");
    assert_eq!(system.live_worker_threads(), 2);
    system.shutdown();
}

#[test]
fn a_setup_returning_same_stops_the_actor_with_a_failure_instead_of_panicking() {
    let system = system("badsetup");
    let (seen_tx, seen_rx) = unbounded();
    system
        .spawn(
            watching_parent(|| Behaviors::setup(|_| Behaviors::same()), seen_tx),
            "parent",
        )
        .expect("spawn");
    let signal = recv(&seen_rx);
    assert!(signal.starts_with("ChildFailed"), "{signal}");
    assert_eq!(system.live_worker_threads(), 2);
    system.shutdown();
}

#[test]
fn a_stash_overflow_is_an_error_value_not_a_panic() {
    let system = system("stashfull");
    let (result_tx, result_rx) = unbounded();
    system
        .spawn(
            Behaviors::with_stash(0, move |stash: StashBuffer<&'static str>| {
                let _ = result_tx.send(
                    stash
                        .stash("no room")
                        .map_err(|full| (full.message, full.capacity)),
                );
                Behaviors::ignore()
            }),
            "full",
        )
        .expect("spawn");
    assert_eq!(recv(&result_rx), Err(("no room", 0)));
    system.shutdown();
}

/// A sentence: not a `Debug` dump, and with a second clause that says what to do.
#[track_caller]
fn assert_sentence(message: &str) {
    assert!(
        !message.contains("AskError") && !message.contains('{') && !message.starts_with(' '),
        "reads like a Debug dump: {message}"
    );
    assert!(
        message.contains("; "),
        "says only what happened, not what to do: {message}"
    );
}

/// The timeout of an ask of `target`, which never answers.
fn timeout_of(target: &ActorRef<ActorRef<String>>, after: Duration) -> AskTimeout {
    match target.ask(|reply_to| reply_to).wait(after) {
        Err(AskError::Timeout(timeout)) => timeout,
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn every_ask_error_prints_a_sentence_that_says_what_to_do() {
    let system = system("asksentences");
    let kept = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let silent = {
        let kept = kept.clone();
        system
            .spawn(
                Behaviors::receive_message(move |reply_to: ActorRef<String>| {
                    kept.lock().push(reply_to);
                    Behaviors::same()
                }),
                "silent",
            )
            .expect("spawn")
    };
    let timeout = timeout_of(&silent, Duration::from_millis(20));
    for error in [
        AskError::Timeout(timeout),
        AskError::TargetStopped,
        AskError::NoReply,
        AskError::TargetFailed,
        AskError::WouldBlockDispatcher,
        AskError::MapFailed("boom".into()),
    ] {
        assert_sentence(&error.to_string());
    }
    system.shutdown();
}

#[test]
fn an_ask_timeout_names_the_actor_the_request_and_the_reply_it_waited_for() {
    let system = system("asktimeoutnames");
    let kept = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let silent = {
        let kept = kept.clone();
        system
            .spawn(
                Behaviors::receive_message(move |reply_to: ActorRef<String>| {
                    kept.lock().push(reply_to);
                    Behaviors::same()
                }),
                "silent",
            )
            .expect("spawn")
    };
    let timeout = timeout_of(&silent, Duration::from_millis(25));
    assert_eq!(timeout.after(), Duration::from_millis(25));
    assert_eq!(timeout.target().actor_path(), Some(&silent.path()));
    assert_eq!(timeout.reply_type(), std::any::type_name::<String>());
    assert_eq!(
        timeout.request_type(),
        std::any::type_name::<ActorRef<String>>()
    );
    let message = AskError::Timeout(timeout).to_string();
    for part in [
        "the actor /user/silent",
        "no reply of type alloc::string::String",
        "within 25ms",
        "raise the timeout",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    system.shutdown();
}

#[test]
fn an_empty_persistence_id_is_refused_as_a_value_from_outside_text() {
    assert_eq!(PersistenceId::try_new(""), Err(InvalidPersistenceId::Empty));
    assert_eq!(
        "".parse::<PersistenceId>(),
        Err(InvalidPersistenceId::Empty)
    );
    assert_eq!(
        PersistenceId::try_from(String::new()),
        Err(InvalidPersistenceId::Empty)
    );
    assert_eq!(
        PersistenceId::try_from(""),
        Err(InvalidPersistenceId::Empty)
    );
    assert_eq!(
        "account|1".parse::<PersistenceId>(),
        Ok(PersistenceId::of("account", "1"))
    );
    let why = InvalidPersistenceId::Empty.to_string();
    assert!(why.contains("PersistenceId::of"), "says what to do: {why}");
    assert!(!PersistenceId::of("", "").as_str().is_empty());
}

#[test]
fn an_empty_persistence_id_spelled_in_code_is_a_bug_that_panics_with_the_way_out() {
    let panic = std::panic::catch_unwind(|| PersistenceId::new("")).expect_err("refused");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("cannot be empty"), "{message}");
    assert!(message.contains("PersistenceId::try_new"), "{message}");
}
