//! The hammer: four writer threads over thousands of entities while two live subscribers
//! follow every event in global order, one of them a slow actor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reactant::prelude::*;
use reactant::query::{EventEnvelope, Offset, UntypedEvent};

use super::{Kit, NoteCommand};
use crate::common;

const WRITERS: usize = 4;
const ENTITIES_PER_WRITER: usize = 500;
const EVENTS_PER_ENTITY: usize = 3;

pub(crate) fn four_writers_and_two_live_subscribers_see_every_offset_once_in_order(kit: Kit) {
    let total = (WRITERS * ENTITIES_PER_WRITER * EVENTS_PER_ENTITY) as u64;
    let query = kit.query();

    // The fast one: a blocking iterator on a plain thread.
    let mut live = query.events(Offset::Start);
    let fast = std::thread::spawn(move || {
        let mut offsets = Vec::with_capacity(total as usize);
        while (offsets.len() as u64) < total {
            match live.next_timeout(common::WAIT) {
                Some(Ok(envelope)) => offsets.push(envelope.offset),
                other => panic!("the fast subscriber got {other:?} after {}", offsets.len()),
            }
        }
        offsets
    });

    // The slow one: an actor that takes a while now and then.
    let (seen_tx, seen_rx) = crossbeam_channel::unbounded();
    let handled = Arc::new(AtomicU64::new(0));
    let counter = handled.clone();
    let slow = kit
        .system
        .spawn(
            Behaviors::receive_message(move |envelope: EventEnvelope<UntypedEvent>| {
                counter.fetch_add(1, Ordering::SeqCst);
                if envelope.offset.is_multiple_of(64) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let _ = seen_tx.send(envelope.offset);
                Behaviors::same()
            }),
            "slow",
        )
        .expect("spawns");
    let subscription = Arc::new(query.events_to(Offset::Start, &slow).expect("starts"));

    let kit = Arc::new(kit);
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let kit = kit.clone();
            std::thread::spawn(move || {
                let entities: Vec<ActorRef<NoteCommand>> = (0..ENTITIES_PER_WRITER)
                    .map(|n| kit.entity::<super::Notes>(&format!("w{writer}-{n}")))
                    .collect();
                for round in 0..EVENTS_PER_ENTITY {
                    let pending: Vec<_> = entities
                        .iter()
                        .map(|entity| {
                            entity.ask(|reply_to| NoteCommand::Note(format!("r{round}"), reply_to))
                        })
                        .collect();
                    for reply in pending {
                        reply.wait(common::WAIT).expect("stored");
                    }
                }
            })
        })
        .collect();
    let mut max_in_flight = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        let in_flight = subscription
            .delivered()
            .saturating_sub(handled.load(Ordering::SeqCst));
        max_in_flight = max_in_flight.max(in_flight);
        std::thread::sleep(Duration::from_millis(1));
    }
    for writer in writers {
        writer.join().expect("the writer finishes");
    }

    let expected: Vec<u64> = (1..=total).collect();
    assert_eq!(fast.join().expect("the fast subscriber finishes"), expected);
    let slow_seen = common::recv_n(&seen_rx, total as usize);
    assert_eq!(
        slow_seen, expected,
        "the slow subscriber sees every offset once, in order"
    );
    common::assert_quiet(&seen_rx);
    assert!(
        max_in_flight <= 257,
        "the slow subscriber's mailbox stays within the window: {max_in_flight}"
    );
    assert_eq!(subscription.end(), None);
}
