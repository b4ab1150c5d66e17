//! The stash: messages an actor sets aside and takes back later, oldest first and before
//! anything newer; bounded, with overflow as a typed error that hands the message back.

mod common;

use common::{Gate, assert_quiet, eventually, gate, recv, recv_n, system};
use crossbeam_channel::{Sender, unbounded};
use reactant::prelude::*;

enum Msg {
    Hold(Gate),
    Work(u32),
    Open,
    Fail,
    Stop,
}

/// Stashes `Work` until `Open`, then unstashes everything and reports work on `done`.
fn closed(
    stash: StashBuffer<Msg>,
    done: Sender<u32>,
    overflow: Sender<(u32, usize)>,
) -> Behavior<Msg> {
    Behaviors::receive_message(move |msg| match msg {
        Msg::Hold(gate) => {
            gate.hold();
            Behaviors::same()
        }
        Msg::Work(n) => {
            if let Err(full) = stash.stash(Msg::Work(n)) {
                let Msg::Work(returned) = full.message else {
                    unreachable!("the stash hands back what it was given")
                };
                let _ = overflow.send((returned, full.capacity));
            }
            Behaviors::same()
        }
        Msg::Open => {
            stash.unstash_all();
            open(done.clone())
        }
        Msg::Fail => panic!("failing with a full stash"),
        Msg::Stop => Behaviors::stopped(),
    })
}

fn open(done: Sender<u32>) -> Behavior<Msg> {
    Behaviors::receive_message(move |msg| {
        if let Msg::Work(n) = msg {
            let _ = done.send(n);
        }
        Behaviors::same()
    })
}

fn stashing(capacity: usize, done: Sender<u32>, overflow: Sender<(u32, usize)>) -> Behavior<Msg> {
    Behaviors::with_stash(capacity, move |stash| {
        closed(stash, done.clone(), overflow.clone())
    })
}

#[test]
fn unstash_all_delivers_stashed_messages_in_order_before_newer_ones() {
    let system = system("unstash");
    let (done_tx, done_rx) = unbounded();
    let (overflow_tx, overflow_rx) = unbounded();
    let actor = system
        .spawn(stashing(100, done_tx, overflow_tx), "stasher")
        .expect("spawn");
    // Hold the actor so that everything below, newer work included, is queued at once.
    let (held, mut keeper) = gate();
    actor.tell(Msg::Hold(held));
    keeper.wait_entered();
    for n in 1..=5 {
        actor.tell(Msg::Work(n));
    }
    actor.tell(Msg::Open);
    for n in 6..=8 {
        actor.tell(Msg::Work(n));
    }
    keeper.open();
    assert_eq!(recv_n(&done_rx, 8), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_quiet(&overflow_rx);
    system.shutdown();
}

#[test]
fn unstash_all_delivers_stashed_messages_before_messages_sent_later() {
    let system = system("unstashlater");
    let (done_tx, done_rx) = unbounded();
    let (overflow_tx, _overflow_rx) = unbounded();
    let actor = system
        .spawn(stashing(100, done_tx, overflow_tx), "stasher")
        .expect("spawn");
    for n in 1..=3 {
        actor.tell(Msg::Work(n));
    }
    actor.tell(Msg::Open);
    actor.tell(Msg::Work(4));
    assert_eq!(recv_n(&done_rx, 4), [1, 2, 3, 4]);
    system.shutdown();
}

#[test]
fn a_full_stash_returns_the_message_in_a_typed_error() {
    let system = system("overflow");
    let (done_tx, done_rx) = unbounded();
    let (overflow_tx, overflow_rx) = unbounded();
    let actor = system
        .spawn(stashing(3, done_tx, overflow_tx), "stasher")
        .expect("spawn");
    for n in 1..=5 {
        actor.tell(Msg::Work(n));
    }
    assert_eq!(recv_n(&overflow_rx, 2), [(4, 3), (5, 3)]);
    actor.tell(Msg::Open);
    assert_eq!(recv_n(&done_rx, 3), [1, 2, 3]);
    assert!(!actor.is_terminated(), "overflow is not a failure");
    system.shutdown();
}

#[test]
fn the_stash_reports_its_size_and_capacity() {
    let system = system("stashsize");
    let (report_tx, report_rx) = unbounded();
    system
        .spawn(
            Behaviors::with_stash(2, move |stash: StashBuffer<u32>| {
                let mut report = vec![(stash.len(), stash.is_empty(), stash.is_full())];
                for n in 0..2 {
                    stash.stash(n).expect("room for two");
                    report.push((stash.len(), stash.is_empty(), stash.is_full()));
                }
                let overflow = stash.stash(2).expect_err("the stash is full");
                let _ = report_tx.send((
                    report,
                    stash.capacity(),
                    overflow.message,
                    overflow.to_string(),
                ));
                Behaviors::ignore()
            }),
            "sizes",
        )
        .expect("spawn");
    let (report, capacity, returned, message) = recv(&report_rx);
    assert_eq!(
        report,
        [(0, true, false), (1, false, false), (2, false, true)]
    );
    assert_eq!(capacity, 2);
    assert_eq!(returned, 2);
    assert!(
        message.contains('2'),
        "the error names the capacity: {message}"
    );
    system.shutdown();
}

#[test]
fn stashed_messages_become_dead_letters_when_the_actor_stops() {
    let system = system("stashstop");
    let letters = system.dead_letters().subscribe();
    let (done_tx, _done_rx) = unbounded();
    let (overflow_tx, _overflow_rx) = unbounded();
    let actor = system
        .spawn(stashing(100, done_tx, overflow_tx), "stasher")
        .expect("spawn");
    for n in 1..=3 {
        actor.tell(Msg::Work(n));
    }
    actor.tell(Msg::Stop);
    for letter in recv_n(&letters, 3) {
        assert_eq!(letter.recipient.as_str(), "/user/stasher");
        assert_eq!(letter.reason, DeadLetterReason::RecipientStopped);
    }
    assert!(eventually(|| actor.is_terminated()));
    system.shutdown();
}

#[test]
fn stashed_messages_survive_a_restart() {
    let system = system("stashrestart");
    let (done_tx, done_rx) = unbounded();
    let (overflow_tx, _overflow_rx) = unbounded();
    let actor = system
        .spawn(
            Behaviors::supervise(stashing(100, done_tx, overflow_tx))
                .on_failure(SupervisorStrategy::restart()),
            "stasher",
        )
        .expect("spawn");
    actor.tell(Msg::Work(1));
    actor.tell(Msg::Work(2));
    actor.tell(Msg::Fail);
    actor.tell(Msg::Open);
    assert_eq!(recv_n(&done_rx, 2), [1, 2]);
    system.shutdown();
}
