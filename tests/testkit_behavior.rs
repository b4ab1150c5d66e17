//! `BehaviorTestKit` (issue 20, item 2), porting the behaviours of Akka/Pekko's
//! `BehaviorTestKitSpec`: a behavior runs on the test's thread, a message at a time, and the
//! test inspects its effects — children, watches, timers, messages to inboxes, the next
//! behavior — with no threads and no time. Failures of the behavior come back as values.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use reactant::prelude::*;
use reactant::testkit::{BehaviorFailure, BehaviorTestKit, Effect, Returned, TimerMode};

/// A parent whose commands each do one thing a test wants to see as an effect.
#[derive(Clone)]
enum Cmd {
    SpawnChildren(usize),
    SpawnAnonymous(usize),
    SpawnAndWatchUnwatch(String),
    SpawnChild,
    StopChild(ActorRef<u32>),
    SpawnAndTell(String, u32),
    Schedule(Duration, TimerMode),
    Cancel,
    IsTimerActive(ActorRef<bool>),
    MakeAdapter(ActorRef<ActorRef<usize>>),
    ToSelf(u32),
    Echo(u32, ActorRef<u32>),
    Become,
    Unhandled,
    Stop,
    Panic,
}

fn child() -> Behavior<u32> {
    Behaviors::receive_message(|_: u32| Behaviors::same())
}

fn parent() -> Behavior<Cmd> {
    Behaviors::receive(|ctx, cmd| match cmd {
        Cmd::SpawnChildren(n) => {
            for i in 0..n {
                ctx.spawn(child(), &format!("child{i}"))
                    .expect("a fresh name");
            }
            Behaviors::same()
        }
        Cmd::SpawnAnonymous(n) => {
            for _ in 0..n {
                ctx.spawn_anonymous(child()).expect("anonymous");
            }
            Behaviors::same()
        }
        Cmd::SpawnAndWatchUnwatch(name) => {
            let c = ctx.spawn(child(), &name).expect("a fresh name");
            ctx.watch(&c);
            ctx.unwatch(&c);
            Behaviors::same()
        }
        Cmd::SpawnChild => {
            ctx.spawn(child(), "child").expect("the name is free");
            Behaviors::same()
        }
        Cmd::StopChild(c) => {
            ctx.stop(&c).expect("a child of this actor");
            Behaviors::same()
        }
        Cmd::SpawnAndTell(name, what) => {
            ctx.spawn(child(), &name).expect("a fresh name").tell(what);
            Behaviors::same()
        }
        Cmd::Schedule(delay, mode) => {
            let timers = ctx.timers();
            match mode {
                TimerMode::Single => timers.start_single("abc", Cmd::SpawnChild, delay),
                TimerMode::FixedDelay => timers.start_fixed_delay("abc", Cmd::Become, delay),
                _ => timers.start_fixed_rate("abc", Cmd::Become, delay),
            }
            Behaviors::same()
        }
        Cmd::Cancel => {
            ctx.timers().cancel(&"abc");
            Behaviors::same()
        }
        Cmd::IsTimerActive(reply_to) => {
            reply_to.tell(ctx.timers().is_active(&"abc"));
            Behaviors::same()
        }
        Cmd::MakeAdapter(reply_to) => {
            reply_to.tell(ctx.message_adapter(Cmd::SpawnChildren));
            Behaviors::same()
        }
        Cmd::ToSelf(n) => {
            ctx.self_ref().tell(Cmd::ToSelf(n + 1));
            Behaviors::same()
        }
        Cmd::Echo(n, reply_to) => {
            reply_to.tell(n);
            Behaviors::same()
        }
        Cmd::Become => parent(),
        Cmd::Unhandled => Behaviors::unhandled(),
        Cmd::Stop => Behaviors::stopped(),
        Cmd::Panic => panic!("the handler broke"),
    })
}

/// Runs `f`, expecting it to fail the test; returns the failure's text.
fn failure_text(f: impl FnOnce()) -> String {
    let panic = catch_unwind(AssertUnwindSafe(f)).expect_err("the check must fail");
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn a_fresh_kit_has_no_effects_and_a_spawn_is_one() {
    let mut kit = BehaviorTestKit::new(parent());
    assert!(!kit.has_effects());
    kit.expect_effect(Effect::NoEffects);
    kit.run(Cmd::SpawnAnonymous(1)).expect("handled");
    assert!(kit.has_effects());
}

#[test]
fn named_children_are_recorded_in_order() {
    let mut kit = BehaviorTestKit::new(parent());
    kit.run(Cmd::SpawnChildren(2)).expect("handled");
    assert_eq!(
        kit.retrieve_all_effects(),
        vec![Effect::spawned("child0"), Effect::spawned("child1")]
    );
    assert_eq!(kit.retrieve_effect(), Effect::NoEffects);
}

#[test]
fn anonymous_children_are_recorded_with_their_generated_names() {
    let mut kit = BehaviorTestKit::new(parent());
    kit.run(Cmd::SpawnAnonymous(2)).expect("handled");
    let effects = kit.effects();
    assert_eq!(effects.len(), 2);
    for effect in &effects {
        match effect {
            Effect::SpawnedAnonymous { name } => assert!(name.starts_with('$'), "{name}"),
            other => panic!("expected an anonymous spawn, got {other:?}"),
        }
    }
    assert_ne!(effects[0], effects[1]);
}

#[test]
fn expect_effect_matching_names_what_it_got_when_nothing_matches() {
    let mut kit = BehaviorTestKit::new(parent());
    kit.run(Cmd::SpawnChildren(1)).expect("handled");
    let text = failure_text(|| {
        kit.expect_effect_matching("an anonymous spawn", |e| {
            matches!(e, Effect::SpawnedAnonymous { .. })
        });
    });
    assert!(text.contains("an anonymous spawn"), "{text}");
    assert!(text.contains("child0"), "{text}");
}

#[test]
fn expect_effect_matching_returns_the_effect_and_matches_no_effects() {
    let mut kit = BehaviorTestKit::new(parent());
    let none = kit.expect_effect_matching("nothing", |e| *e == Effect::NoEffects);
    assert_eq!(none, Effect::NoEffects);
    kit.run(Cmd::SpawnChildren(1)).expect("handled");
    let spawned = kit.expect_effect_matching("a spawn", |e| matches!(e, Effect::Spawned { .. }));
    assert_eq!(spawned, Effect::spawned("child0"));
}

#[test]
fn expect_effect_names_both_effects_when_they_differ() {
    let mut kit = BehaviorTestKit::new(parent());
    kit.run(Cmd::SpawnChildren(1)).expect("handled");
    let text = failure_text(|| kit.expect_effect(Effect::spawned("other")));
    assert!(text.contains("\"other\""), "{text}");
    assert!(text.contains("\"child0\""), "{text}");
}

#[test]
fn watching_and_unwatching_are_recorded_with_the_child() {
    let mut kit = BehaviorTestKit::new(parent());
    kit.run(Cmd::SpawnAndWatchUnwatch("hello".into()))
        .expect("handled");
    let child = kit.child_inbox::<u32>("hello").path();
    assert_eq!(
        kit.retrieve_all_effects(),
        vec![
            Effect::spawned("hello"),
            Effect::Watched {
                path: child.clone()
            },
            Effect::Unwatched { path: child },
        ]
    );
}

#[test]
fn messages_to_children_wait_in_their_inboxes() {
    let mut kit = BehaviorTestKit::new(parent());
    kit.run(Cmd::SpawnAndTell("worker".into(), 7))
        .expect("handled");
    let inbox = kit.child_inbox::<u32>("worker");
    assert!(inbox.has_messages());
    inbox.expect_message(7);
    assert!(!inbox.has_messages());
    let text = failure_text(|| {
        kit.child_inbox::<String>("worker");
    });
    assert!(text.contains("does not take messages of type"), "{text}");
    let text = failure_text(|| {
        kit.child_inbox::<u32>("nobody");
    });
    assert!(text.contains("no child named \"nobody\""), "{text}");
}

#[test]
fn a_stopped_child_is_recorded_and_its_name_can_be_used_again() {
    let mut kit = BehaviorTestKit::new(parent());
    kit.run(Cmd::SpawnChild).expect("handled");
    kit.expect_effect(Effect::spawned("child"));
    let child = kit.child_inbox::<u32>("child").r#ref();
    kit.run(Cmd::StopChild(child.clone())).expect("handled");
    kit.expect_effect(Effect::Stopped {
        name: "child".into(),
    });
    assert!(child.is_terminated());
    kit.run(Cmd::SpawnChild).expect("the name is free again");
    kit.expect_effect(Effect::spawned("child"));
}

#[test]
fn timers_started_and_cancelled_are_recorded_and_do_not_fire_by_themselves() {
    let mut kit = BehaviorTestKit::new(parent());
    let active = kit.inbox::<bool>("active");
    kit.run(Cmd::IsTimerActive(active.r#ref()))
        .expect("handled");
    active.expect_message(false);

    kit.run(Cmd::Schedule(Duration::from_secs(42), TimerMode::Single))
        .expect("handled");
    kit.expect_effect(Effect::timer_started(
        "abc",
        Duration::from_secs(42),
        TimerMode::Single,
    ));
    kit.run(Cmd::IsTimerActive(active.r#ref()))
        .expect("handled");
    active.expect_message(true);

    kit.run(Cmd::Cancel).expect("handled");
    kit.expect_effect(Effect::timer_cancelled("abc"));
    kit.run(Cmd::IsTimerActive(active.r#ref()))
        .expect("handled");
    active.expect_message(false);
    kit.expect_effect(Effect::NoEffects);
}

#[test]
fn a_single_timer_fires_once_when_time_moves_past_it() {
    let mut kit = BehaviorTestKit::new(parent());
    kit.run(Cmd::Schedule(Duration::from_secs(42), TimerMode::Single))
        .expect("handled");
    kit.expect_effect_matching("a timer", |e| matches!(e, Effect::TimerStarted { .. }));
    kit.advance_time(Duration::from_secs(41))
        .expect("nothing due");
    kit.expect_effect(Effect::NoEffects);
    kit.advance_time(Duration::from_secs(1)).expect("handled");
    kit.expect_effect(Effect::spawned("child"));
    kit.advance_time(Duration::from_secs(100))
        .expect("nothing due");
    kit.expect_effect(Effect::NoEffects);
}

#[test]
fn a_fixed_rate_timer_fires_each_interval_until_cancelled() {
    let mut kit = BehaviorTestKit::new(parent());
    kit.run(Cmd::Schedule(Duration::from_secs(42), TimerMode::FixedRate))
        .expect("handled");
    kit.expect_effect(Effect::timer_started(
        "abc",
        Duration::from_secs(42),
        TimerMode::FixedRate,
    ));
    kit.advance_time(Duration::from_secs(42 * 3))
        .expect("handled");
    // Each tick made the behavior return a new behavior.
    assert_eq!(kit.returned(), Some(Returned::Changed));
    kit.run(Cmd::Cancel).expect("handled");
    kit.expect_effect(Effect::timer_cancelled("abc"));
    kit.advance_time(Duration::from_secs(1000))
        .expect("nothing due");
    assert_eq!(kit.returned(), None, "no handler ran");
}

#[test]
fn a_message_adapter_delivers_to_the_behavior_when_the_test_runs_what_is_pending() {
    let mut kit = BehaviorTestKit::new(parent());
    let reply_to = kit.inbox::<ActorRef<usize>>("reply-to");
    kit.run(Cmd::MakeAdapter(reply_to.r#ref()))
        .expect("handled");
    let adapter = reply_to.receive_message();
    adapter.tell(2);
    kit.expect_effect(Effect::NoEffects);
    kit.run_pending().expect("handled");
    assert_eq!(
        kit.retrieve_all_effects(),
        vec![Effect::spawned("child0"), Effect::spawned("child1")]
    );
}

#[test]
fn messages_to_self_wait_in_the_self_inbox_until_run_one() {
    let mut kit = BehaviorTestKit::new(parent());
    kit.run(Cmd::ToSelf(1)).expect("handled");
    assert!(kit.self_inbox().has_messages());
    kit.run_one().expect("handled");
    // The second message to itself waits in turn.
    let waiting = kit.self_inbox().receive_all();
    assert!(matches!(waiting.as_slice(), [Cmd::ToSelf(3)]));
    let text = failure_text(|| {
        let _ = kit.run_one();
    });
    assert!(text.contains("self inbox is empty"), "{text}");
}

#[test]
fn replies_go_to_a_test_inbox() {
    let mut kit = BehaviorTestKit::new(parent());
    let inbox = kit.inbox::<u32>("replies");
    kit.run(Cmd::Echo(5, inbox.r#ref())).expect("handled");
    kit.run(Cmd::Echo(6, inbox.r#ref())).expect("handled");
    assert_eq!(inbox.receive_all(), vec![5, 6]);
    let text = failure_text(|| inbox.expect_message(7));
    assert!(
        text.contains("expected 7") && text.contains("empty"),
        "{text}"
    );
}

#[test]
fn the_returned_behavior_is_reported() {
    let mut kit = BehaviorTestKit::new(parent());
    kit.run(Cmd::SpawnChildren(0)).expect("handled");
    assert_eq!(kit.returned(), Some(Returned::Same));
    kit.run(Cmd::Become).expect("handled");
    assert_eq!(kit.returned(), Some(Returned::Changed));
    kit.run(Cmd::Unhandled).expect("handled");
    assert_eq!(kit.returned(), Some(Returned::Unhandled));
    assert!(kit.is_alive());
    kit.run(Cmd::Stop).expect("handled");
    assert_eq!(kit.returned(), Some(Returned::Stopped));
    assert!(!kit.is_alive());
    assert_eq!(kit.run(Cmd::Become), Err(BehaviorFailure::NotAlive));
}

#[test]
fn a_panicking_handler_is_a_failure_not_a_panic_through_the_test() {
    let mut kit = BehaviorTestKit::new(parent());
    match kit.run(Cmd::Panic) {
        Err(BehaviorFailure::Failed { reason, restarted }) => {
            assert!(reason.contains("the handler broke"), "{reason}");
            assert!(!restarted);
        }
        other => panic!("expected the handler's failure, got {other:?}"),
    }
    assert!(!kit.is_alive(), "unsupervised: the actor stopped");
    assert_eq!(kit.returned(), None);
    assert_eq!(kit.run(Cmd::Become), Err(BehaviorFailure::NotAlive));
}

#[test]
fn a_supervised_behavior_that_fails_is_restarted_and_runs_on() {
    let behavior = Behaviors::supervise(parent()).on_failure(SupervisorStrategy::restart());
    let mut kit = BehaviorTestKit::new(behavior);
    match kit.run(Cmd::Panic) {
        Err(BehaviorFailure::Failed { restarted, .. }) => assert!(restarted),
        other => panic!("expected the handler's failure, got {other:?}"),
    }
    assert!(kit.is_alive());
    kit.run(Cmd::SpawnChild)
        .expect("the restarted behavior handles messages");
    kit.expect_effect(Effect::spawned("child"));
}

#[test]
fn a_failing_setup_is_reported_by_new() {
    let kit = BehaviorTestKit::new(Behaviors::setup(|_ctx| -> Behavior<Cmd> {
        panic!("setup broke")
    }));
    match kit.start_failure() {
        Some(BehaviorFailure::Failed { reason, .. }) => {
            assert!(reason.contains("setup broke"), "{reason}")
        }
        other => panic!("expected the setup's failure, got {other:?}"),
    }
    assert!(!kit.is_alive());
}

#[test]
fn effects_of_the_setup_are_recorded() {
    let mut kit = BehaviorTestKit::new(Behaviors::setup(|ctx| {
        ctx.spawn(child(), "from-setup").expect("a fresh name");
        ctx.timers()
            .start_single("t", Cmd::Stop, Duration::from_secs(1));
        parent()
    }));
    assert!(kit.start_failure().is_none());
    assert_eq!(
        kit.effects(),
        vec![
            Effect::spawned("from-setup"),
            Effect::timer_started("t", Duration::from_secs(1), TimerMode::Single),
        ]
    );
}

#[test]
fn signals_reach_the_signal_handler_and_an_unhandled_terminated_fails_the_actor() {
    let mut kit = BehaviorTestKit::new(parent().receive_signal(|_ctx, signal| match signal {
        Signal::Terminated(_) => Behaviors::stopped(),
        _ => Behaviors::same(),
    }));
    let other = kit
        .inbox::<u32>("other")
        .r#ref()
        .to_any()
        .expect("an actor");
    kit.signal(Signal::Terminated(other.clone()))
        .expect("handled");
    assert_eq!(kit.returned(), Some(Returned::Stopped));
    assert!(!kit.is_alive());

    // Without a handler, a Terminated fails the actor (the death pact).
    let mut kit = BehaviorTestKit::new(parent());
    let other = kit
        .inbox::<u32>("other")
        .r#ref()
        .to_any()
        .expect("an actor");
    assert!(matches!(
        kit.signal(Signal::Terminated(other)),
        Err(BehaviorFailure::Failed { .. })
    ));
}

#[test]
fn the_behavior_runs_on_the_test_thread() {
    let test_thread = std::thread::current().id();
    let mut kit = BehaviorTestKit::new(Behaviors::receive_message(
        move |reply_to: ActorRef<bool>| {
            reply_to.tell(std::thread::current().id() == test_thread);
            Behaviors::same()
        },
    ));
    let inbox = kit.inbox::<bool>("where");
    kit.run(inbox.r#ref()).expect("handled");
    inbox.expect_message(true);
}

#[test]
fn a_behavior_with_children_stops_and_restarts_after_them() {
    let mut kit = BehaviorTestKit::new(parent());
    kit.run(Cmd::SpawnChildren(2)).expect("handled");
    kit.run(Cmd::Stop).expect("handled");
    assert!(!kit.is_alive(), "its children stopped, then it did");
    assert_eq!(kit.returned(), Some(Returned::Stopped));

    let supervised = Behaviors::supervise(parent()).on_failure(SupervisorStrategy::restart());
    let mut kit = BehaviorTestKit::new(supervised);
    kit.run(Cmd::SpawnChild).expect("handled");
    kit.expect_effect(Effect::spawned("child"));
    assert!(matches!(
        kit.run(Cmd::Panic),
        Err(BehaviorFailure::Failed {
            restarted: true,
            ..
        })
    ));
    kit.run(Cmd::SpawnChild)
        .expect("the restarted behavior may use the name again");
    kit.expect_effect(Effect::spawned("child"));
}
