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

/// Readers of the journal itself, one page at a time, while two threads write 60,000 events
/// straight to it: one reader stays at the head, one falls 20,000 events behind and catches
/// up, one reads a tag. A journal that keeps its last commits in memory (RocksDB's) serves the
/// near one from there and the far one from storage, switching as they move: each still sees
/// every offset once, in order, and the tag reader exactly the tagged ones.
pub(crate) fn readers_near_and_far_from_the_head_see_every_offset_once_in_order(kit: Kit) {
    use reactant::persistence::{AtomicWrite, Manifest, PersistenceId, PersistentRepr};

    const THREADS: u64 = 2;
    const BATCHES: u64 = 600;
    const PER_BATCH: u64 = 50;
    let total = THREADS * BATCHES * PER_BATCH;
    let journal = kit.store.journal.clone();
    // Tags before anything is written: every reader starts at the head.
    let read = |after: u64, tag: Option<&str>| read_page(&*journal, after, tag);
    // `fall_behind`: once it has read something, the reader waits until the head is that far
    // ahead (more than the 16,384 events RocksDB's journal keeps in memory), then catches up
    // while the writers go on.
    let reader = |fall_behind: Option<u64>, tag: Option<&'static str>| {
        let journal = journal.clone();
        std::thread::spawn(move || {
            let mut offsets = Vec::new();
            let mut after = 0;
            let mut behind = fall_behind;
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            loop {
                // Read before the page: an empty page after the last write means the end.
                let head = journal.highest_offset().expect("a head");
                let page = read_page(&*journal, after, tag);
                for event in &page {
                    assert!(
                        event.offset > after,
                        "in order: {} after {after}",
                        event.offset
                    );
                    if let Some(tag) = tag {
                        assert!(event.tags.iter().any(|t| t == tag), "only {tag}");
                    }
                    after = event.offset;
                    offsets.push(event.offset);
                }
                if let Some(distance) = behind.filter(|_| after > 0) {
                    while journal.highest_offset().expect("a head") < (after + distance).min(total)
                    {
                        assert!(std::time::Instant::now() < deadline, "the writers go on");
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    behind = None;
                }
                if head == total && page.is_empty() {
                    return offsets;
                }
                assert!(std::time::Instant::now() < deadline, "the reader finishes");
            }
        })
    };
    assert!(read(0, None).is_empty() && read(0, Some("even")).is_empty());
    let near = reader(None, None);
    let far = reader(Some(20_000), None);
    let tagged = reader(None, Some("even"));
    let writers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let journal = journal.clone();
            std::thread::spawn(move || {
                let id = PersistenceId::of("hammer", &thread.to_string());
                for batch in 0..BATCHES {
                    let events = (1..=PER_BATCH)
                        .map(|n| {
                            let sequence_nr = batch * PER_BATCH + n;
                            PersistentRepr {
                                persistence_id: id.clone(),
                                sequence_nr,
                                manifest: Manifest::new("Noted", 1),
                                payload: vec![0xc0],
                                tags: if sequence_nr.is_multiple_of(2) {
                                    vec!["even".into()]
                                } else {
                                    Vec::new()
                                },
                                writer_id: "hammer".into(),
                                timestamp_ms: 0,
                                offset: 0,
                            }
                        })
                        .collect();
                    let results = journal.write(&[AtomicWrite { events }]).expect("writes");
                    assert!(results.iter().all(Result::is_ok));
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("the writer finishes");
    }
    let every: Vec<u64> = (1..=total).collect();
    same_offsets(
        "near",
        &near.join().expect("the near reader finishes"),
        &every,
    );
    same_offsets("far", &far.join().expect("the far reader finishes"), &every);
    // Even sequence numbers are tagged; which offsets they got depends on the interleaving:
    // the reader must see exactly those, in order.
    let mut even = Vec::new();
    let mut after = 0;
    loop {
        let page = read(after, None);
        let Some(last) = page.last().map(|e| e.offset) else {
            break;
        };
        even.extend(
            page.iter()
                .filter(|e| e.sequence_nr.is_multiple_of(2))
                .map(|e| e.offset),
        );
        after = last;
    }
    assert_eq!(even.len() as u64, total / 2);
    same_offsets(
        "tag",
        &tagged.join().expect("the tag reader finishes"),
        &even,
    );
}

/// One page (up to 1,024 events) after `after`: tagged `tag`, or all of them.
fn read_page(
    journal: &dyn reactant::persistence::Journal,
    after: u64,
    tag: Option<&str>,
) -> Vec<reactant::persistence::PersistentRepr> {
    let mut page = Vec::new();
    match tag {
        Some(tag) => journal.events_by_tag(tag, after, 1024, &mut |e| page.push(e)),
        None => journal.events_by_offset(after, 1024, &mut |e| page.push(e)),
    }
    .expect("reads");
    page
}

/// Asserts that a reader saw `expected`, naming the first difference (not printing 60,000
/// offsets).
fn same_offsets(reader: &str, seen: &[u64], expected: &[u64]) {
    let first_difference = seen.iter().zip(expected).position(|(a, b)| a != b);
    assert!(
        first_difference.is_none() && seen.len() == expected.len(),
        "the {reader} reader saw {} offsets, {} expected; first difference at index {:?}: {:?}",
        seen.len(),
        expected.len(),
        first_difference,
        first_difference.map(|i| (seen[i], expected[i])),
    );
}
