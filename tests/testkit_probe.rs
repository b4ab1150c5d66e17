//! The testkit's probes and actor test kit (issue 20, item 1), as Akka's `TestProbeSpec` and
//! `ActorTestKitSpec` describe them: what each expectation accepts, and that each failure names
//! what was expected and what arrived.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use reactant::prelude::*;
use reactant::testkit::{ActorTestKit, FishingOutcome, TestProbe};

/// A short wait for expectations that must fail: how long nothing arrives is what they check.
const SHORT: Duration = Duration::from_millis(50);

/// The text of the panic `f` raises; fails the test if it does not panic.
#[track_caller]
fn failure_of(f: impl FnOnce()) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => panic!("expected the expectation to fail, but it passed"),
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default(),
    }
}

fn short_probe<M: Send + 'static>(kit: &ActorTestKit) -> TestProbe<M> {
    TestProbe::with_timeout(kit.system(), SHORT)
}

#[derive(Debug, PartialEq, Eq)]
enum Event {
    Started(u32),
    Progress(u32),
    Done,
}

#[test]
fn expect_message_takes_the_next_message_when_it_is_the_expected_one() {
    let kit = ActorTestKit::new();
    let probe = kit.probe::<u64>();
    probe.r#ref().tell(5);
    probe.r#ref().tell(6);
    assert_eq!(probe.expect_message(5), 5);
    assert_eq!(probe.expect_message(6), 6);
}

#[test]
fn expect_message_names_what_was_expected_and_what_arrived() {
    let kit = ActorTestKit::new();
    let probe = kit.probe::<u64>();
    probe.r#ref().tell(6);
    let failure = failure_of(|| {
        probe.expect_message(5);
    });
    assert!(failure.contains("expected 5"), "{failure}");
    assert!(failure.contains("got 6"), "{failure}");
    assert!(failure.contains("test probe /user/$"), "{failure}");
}

#[test]
fn expect_message_says_that_nothing_arrived_in_time() {
    let kit = ActorTestKit::new();
    let probe = short_probe::<u64>(&kit);
    let failure = failure_of(|| {
        probe.expect_message(5);
    });
    assert!(failure.contains("expected 5 within"), "{failure}");
    assert!(failure.contains("no message arrived"), "{failure}");
}

#[test]
fn messages_sent_by_an_actor_arrive_at_the_probe_in_order() {
    let kit = ActorTestKit::new();
    let counter = kit.spawn(
        Behaviors::receive_message(|reply_to: ActorRef<Event>| {
            reply_to.tell(Event::Started(1));
            reply_to.tell(Event::Progress(50));
            reply_to.tell(Event::Done);
            Behaviors::same()
        }),
        "counter",
    );
    let probe = kit.probe::<Event>();
    counter.tell(probe.r#ref());
    assert_eq!(
        probe.receive_messages(3),
        vec![Event::Started(1), Event::Progress(50), Event::Done]
    );
    probe.expect_no_message(SHORT);
}

#[test]
fn expect_message_matching_accepts_what_the_predicate_accepts() {
    let kit = ActorTestKit::new();
    let probe = kit.probe::<Event>();
    probe.r#ref().tell(Event::Progress(7));
    let got = probe.expect_message_matching(|e| matches!(e, Event::Progress(_)));
    assert_eq!(got, Event::Progress(7));
}

#[test]
fn expect_message_matching_names_the_refused_message() {
    let kit = ActorTestKit::new();
    let probe = kit.probe::<Event>();
    probe.r#ref().tell(Event::Done);
    let failure = failure_of(|| {
        probe.expect_message_matching(|e| matches!(e, Event::Progress(_)));
    });
    assert!(failure.contains("got Done"), "{failure}");
}

#[test]
fn expect_no_message_fails_naming_the_message_that_came() {
    let kit = ActorTestKit::new();
    let probe = kit.probe::<u64>();
    probe.r#ref().tell(9);
    let failure = failure_of(|| probe.expect_no_message(SHORT));
    assert!(failure.contains("expected no message"), "{failure}");
    assert!(failure.contains("got 9"), "{failure}");
}

#[test]
fn receive_messages_names_those_that_did_arrive_when_too_few_come() {
    let kit = ActorTestKit::new();
    let probe = short_probe::<u64>(&kit);
    probe.r#ref().tell(1);
    probe.r#ref().tell(2);
    let failure = failure_of(|| {
        probe.receive_messages(3);
    });
    assert!(failure.contains("expected 3 messages"), "{failure}");
    assert!(failure.contains("only 2 arrived: [1, 2]"), "{failure}");
}

#[test]
fn fish_for_message_keeps_continued_messages_drops_ignored_ones_and_stops_at_complete() {
    let kit = ActorTestKit::new();
    let probe = kit.probe::<Event>();
    for event in [
        Event::Started(1),
        Event::Progress(10),
        Event::Progress(20),
        Event::Done,
        Event::Started(2),
    ] {
        probe.r#ref().tell(event);
    }
    let kept = probe.fish_for_message(kit.timeout(), |event| match event {
        Event::Started(_) => FishingOutcome::Continue,
        Event::Progress(_) => FishingOutcome::ContinueAndIgnore,
        Event::Done => FishingOutcome::Complete,
    });
    assert_eq!(kept, vec![Event::Started(1), Event::Done]);
    // What came after the completing message stays for the next expectation.
    probe.expect_message(Event::Started(2));
}

#[test]
fn fish_for_message_fails_with_the_reason_the_function_gives() {
    let kit = ActorTestKit::new();
    let probe = kit.probe::<Event>();
    probe.r#ref().tell(Event::Started(1));
    probe.r#ref().tell(Event::Progress(99));
    let failure = failure_of(|| {
        probe.fish_for_message(kit.timeout(), |event| match event {
            Event::Progress(99) => FishingOutcome::Fail("progress cannot reach 99".into()),
            _ => FishingOutcome::Continue,
        });
    });
    assert!(failure.contains("progress cannot reach 99"), "{failure}");
    assert!(failure.contains("Progress(99)"), "{failure}");
    assert!(failure.contains("[Started(1)]"), "{failure}");
}

#[test]
fn fish_for_message_fails_when_time_runs_out_before_completion() {
    let kit = ActorTestKit::new();
    let probe = kit.probe::<Event>();
    probe.r#ref().tell(Event::Started(1));
    let failure = failure_of(|| {
        probe.fish_for_message(SHORT, |_| FishingOutcome::Continue);
    });
    assert!(failure.contains("without completing"), "{failure}");
    assert!(failure.contains("[Started(1)]"), "{failure}");
}

#[test]
fn expect_terminated_sees_an_actor_stop() {
    let kit = ActorTestKit::new();
    let once = kit.spawn(
        Behaviors::receive_message(|_: ()| Behaviors::stopped()),
        "once",
    );
    let probe = kit.probe::<u64>();
    once.tell(());
    probe.expect_terminated(&once);
}

#[test]
fn expect_terminated_passes_for_an_actor_that_had_already_stopped() {
    let kit = ActorTestKit::new();
    let once = kit.spawn(
        Behaviors::receive_message(|_: ()| Behaviors::stopped()),
        "once",
    );
    let probe = kit.probe::<u64>();
    once.tell(());
    probe.expect_terminated(&once);
    // Watching it again: the signal comes at once.
    probe.expect_terminated(&once);
}

#[test]
fn expect_terminated_names_the_actor_that_kept_running() {
    let kit = ActorTestKit::new();
    let alive = kit.spawn(
        Behaviors::receive_message(|_: ()| Behaviors::same()),
        "alive",
    );
    let probe = short_probe::<u64>(&kit);
    let failure = failure_of(|| probe.expect_terminated(&alive));
    assert!(
        failure.contains("expected /user/alive to stop"),
        "{failure}"
    );
}

#[test]
fn within_bounds_every_expectation_inside_it() {
    let kit = ActorTestKit::new();
    let probe = kit.probe::<u64>();
    let failure = failure_of(|| {
        probe.within(SHORT, |probe| {
            // The probe's own timeout is 10 s; the block leaves at most SHORT.
            probe.expect_message(1);
        });
    });
    assert!(failure.contains("no message arrived"), "{failure}");
    assert!(
        probe.remaining() == kit.timeout(),
        "the block's end is forgotten after it"
    );
}

#[test]
fn an_inner_within_never_extends_the_outer_one() {
    let kit = ActorTestKit::new();
    let probe = kit.probe::<u64>();
    probe.within(SHORT, |probe| {
        probe.within(Duration::from_secs(60), |probe| {
            assert!(probe.remaining() <= SHORT);
        });
    });
}

#[test]
fn within_returns_what_its_block_returns() {
    let kit = ActorTestKit::new();
    let probe = kit.probe::<u64>();
    probe.r#ref().tell(3);
    let got = probe.within(kit.timeout(), |probe| probe.receive_message());
    assert_eq!(got, 3);
}

#[test]
fn probe_references_compare_equal_and_can_be_watched() {
    let kit = ActorTestKit::new();
    let probe = kit.probe::<u64>();
    assert_eq!(probe.r#ref(), probe.r#ref());
    assert!(probe.r#ref().to_any().is_some(), "a probe is an actor");
}

#[test]
fn the_kit_fails_the_test_on_a_dead_letter_nobody_expected() {
    let kit = ActorTestKit::new();
    let once = kit.spawn(
        Behaviors::receive_message(|_: u32| Behaviors::stopped()),
        "once",
    );
    once.tell(1);
    kit.probe::<u64>().expect_terminated(&once);
    once.tell(2);
    let failure = failure_of(|| kit.shutdown());
    assert!(failure.contains("1 unexpected dead letters"), "{failure}");
    assert!(failure.contains("/user/once"), "{failure}");
    assert!(failure.contains("the recipient had stopped"), "{failure}");
}

#[test]
fn dead_letters_the_test_took_do_not_fail_it() {
    let kit = ActorTestKit::new();
    let once = kit.spawn(
        Behaviors::receive_message(|_: u32| Behaviors::stopped()),
        "once",
    );
    once.tell(1);
    kit.probe::<u64>().expect_terminated(&once);
    once.tell(2);
    let letters = kit.expect_dead_letters(1);
    assert_eq!(letters[0].recipient.as_str(), "/user/once");
    assert_eq!(letters[0].reason, DeadLetterReason::RecipientStopped);
    kit.shutdown();
}

#[test]
fn a_kit_built_to_allow_dead_letters_does_not_fail_on_them() {
    let kit = ActorTestKit::builder().allow_dead_letters().build();
    let unhandled = kit.spawn(
        Behaviors::receive_message(|_: u32| Behaviors::unhandled()),
        "u",
    );
    unhandled.tell(1);
    kit.expect_dead_letters(1);
    unhandled.tell(2);
    kit.shutdown();
}

#[test]
fn the_kit_fails_the_test_when_an_actor_is_still_running_at_the_end_of_the_shutdown() {
    let kit = ActorTestKit::builder()
        .shutdown_timeout(Duration::from_millis(100))
        .build();
    // A plain channel, not a probe: a message told by a handler that then blocks may wait
    // for that handler's worker.
    let (entered, has_entered) = crossbeam_channel::bounded::<()>(1);
    let (release, released) = crossbeam_channel::bounded::<()>(1);
    let blocked = kit.spawn(
        Behaviors::receive_message(move |()| {
            let _ = entered.send(());
            // Blocks past the shutdown timeout until released (never forever).
            let _ = released.recv_timeout(Duration::from_secs(10));
            Behaviors::same()
        }),
        "blocked",
    );
    blocked.tell(());
    has_entered
        .recv_timeout(kit.timeout())
        .expect("the handler starts");
    // Lets the handler return long after the shutdown timeout, so the suite goes on.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        drop(release);
    });
    let failure = failure_of(|| kit.shutdown());
    releaser.join().expect("the releasing thread ends");
    assert!(failure.contains("still running"), "{failure}");
    assert!(failure.contains("blocked or looping"), "{failure}");
}

#[test]
fn the_kits_system_is_named_after_the_test() {
    let kit = ActorTestKit::new();
    assert_eq!(
        kit.system().name(),
        "the_kits_system_is_named_after_the_test"
    );
}
