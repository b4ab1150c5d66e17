//! Events by tag, current and live (Pekko's `EventsByTagSpec`), and delivered to an actor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reactant::persistence::PersistenceId;
use reactant::prelude::*;
use reactant::query::{EventEnvelope, Offset, PAGE};

use super::{Kit, Noted, Notes, assert_nothing_more, next_live, texts};
use crate::common;

/// (offset, entity, sequence number, text) of each envelope.
fn described(
    envelopes: impl IntoIterator<Item = Result<EventEnvelope<Noted>, reactant::query::QueryError>>,
) -> Vec<(u64, String, u64, String)> {
    envelopes
        .into_iter()
        .map(|envelope| {
            let envelope = envelope.expect("the event decodes");
            let entity = envelope
                .persistence_id
                .as_str()
                .trim_start_matches("note|")
                .to_owned();
            (
                envelope.offset,
                entity,
                envelope.sequence_nr,
                envelope.event.0,
            )
        })
        .collect()
}

fn row(offset: u64, entity: &str, sequence_nr: u64, text: &str) -> (u64, String, u64, String) {
    (offset, entity.to_owned(), sequence_nr, text.to_owned())
}

/// Pekko's fixture: a and b note five strings, three of them green, one black.
fn colours(kit: &Kit) {
    kit.note("a", "hello");
    kit.note("a", "a green apple");
    kit.note("b", "a black car");
    kit.note("a", "a green banana");
    kit.note("b", "a green leaf");
}

pub(crate) fn current_finds_existing_events(kit: Kit) {
    colours(&kit);
    let query = kit.query();
    let mut green = query.current_events_by_tag::<Notes>("green", Offset::Start);
    assert_eq!(
        described(green.by_ref().take(2)),
        [
            row(2, "a", 2, "a green apple"),
            row(4, "a", 3, "a green banana")
        ]
    );
    assert_eq!(described(green), [row(5, "b", 2, "a green leaf")]);
    let black = query.current_events_by_tag::<Notes>("black", Offset::After(0));
    assert_eq!(described(black), [row(3, "b", 1, "a black car")]);
}

pub(crate) fn current_does_not_see_events_written_after_it_started(kit: Kit) {
    colours(&kit);
    let mut green = kit
        .query()
        .current_events_by_tag::<Notes>("green", Offset::Start);
    assert_eq!(
        texts(green.by_ref().take(2)),
        ["a green apple", "a green banana"]
    );
    kit.note("c", "a green cucumber");
    assert_eq!(
        texts(green),
        ["a green leaf"],
        "the cucumber came after the query started"
    );
}

pub(crate) fn current_from_an_offset_is_exclusive(kit: Kit) {
    colours(&kit);
    kit.note("c", "a green cucumber");
    let green = kit
        .query()
        .current_events_by_tag::<Notes>("green", Offset::After(4));
    assert_eq!(
        described(green),
        [
            row(5, "b", 2, "a green leaf"),
            row(6, "c", 1, "a green cucumber")
        ]
    );
}

pub(crate) fn current_pages_through_more_than_a_page(kit: Kit) {
    let count = 2 * PAGE + 3;
    let entity = kit.entity::<Notes>("many");
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let replies = kit.system.spawn(
        Behaviors::receive_message(move |_: String| {
            let _ = done_tx.send(());
            Behaviors::same()
        }),
        "replies",
    );
    let replies = replies.expect("spawns");
    for n in 0..count {
        entity.tell(super::NoteCommand::Note(
            format!("pink {n}"),
            replies.clone(),
        ));
    }
    common::recv_n(&done_rx, count as usize);
    let pink: Vec<u64> = kit
        .query()
        .current_events_by_tag::<Notes>("pink", Offset::Start)
        .map(|envelope| envelope.expect("decodes").sequence_nr)
        .collect();
    assert_eq!(pink, (1..=count).collect::<Vec<_>>());
}

pub(crate) fn live_finds_new_events(kit: Kit) {
    colours(&kit);
    let mut black = kit.query().events_by_tag::<Notes>("black", Offset::Start);
    assert_eq!(next_live(&mut black).event.0, "a black car");
    assert_nothing_more(&mut black);
    kit.note("d", "a black dog");
    kit.note("d", "a black night");
    let dog = next_live(&mut black);
    assert_eq!((dog.offset, dog.event.0.as_str()), (6, "a black dog"));
    let night = next_live(&mut black);
    assert_eq!((night.offset, night.event.0.as_str()), (7, "a black night"));
    assert_nothing_more(&mut black);
}

pub(crate) fn live_from_an_offset_is_exclusive(kit: Kit) {
    colours(&kit);
    kit.note("c", "a green cucumber");
    let mut green = kit
        .query()
        .events_by_tag::<Notes>("green", Offset::After(4));
    assert_eq!(next_live(&mut green).event.0, "a green leaf");
    assert_eq!(next_live(&mut green).event.0, "a green cucumber");
    assert_nothing_more(&mut green);
}

pub(crate) fn live_of_an_unused_tag_waits(kit: Kit) {
    colours(&kit);
    let mut red = kit.query().events_by_tag::<Notes>("red", Offset::Start);
    assert_nothing_more(&mut red);
    assert!(!red.is_finished());
}

pub(crate) fn live_to_an_actor_delivers_in_order_with_a_bounded_window(kit: Kit) {
    let total = 2_000u64;
    let (seen_tx, seen_rx) = crossbeam_channel::unbounded();
    let handled = Arc::new(AtomicU64::new(0));
    let counter = handled.clone();
    let slow = kit
        .system
        .spawn(
            Behaviors::receive_message(move |envelope: EventEnvelope<Noted>| {
                counter.fetch_add(1, Ordering::SeqCst);
                if envelope.sequence_nr.is_multiple_of(100) {
                    std::thread::sleep(Duration::from_millis(2));
                }
                let _ = seen_tx.send(envelope.sequence_nr);
                Behaviors::same()
            }),
            "slow",
        )
        .expect("spawns");
    let subscription = kit
        .query()
        .events_by_tag_to::<Notes>("blue", Offset::Start, &slow)
        .expect("the delivery starts");
    let entity = kit.entity::<Notes>("blue");
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let replies = kit
        .system
        .spawn(
            Behaviors::receive_message(move |_: String| {
                let _ = done_tx.send(());
                Behaviors::same()
            }),
            "replies",
        )
        .expect("spawns");
    let mut max_in_flight = 0;
    for n in 0..total {
        entity.tell(super::NoteCommand::Note(
            format!("blue {n}"),
            replies.clone(),
        ));
        let in_flight = subscription
            .delivered()
            .saturating_sub(handled.load(Ordering::SeqCst));
        max_in_flight = max_in_flight.max(in_flight);
    }
    common::recv_n(&done_rx, total as usize);
    let seen = common::recv_n(&seen_rx, total as usize);
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
    assert!(
        max_in_flight <= 257,
        "at most a window of envelopes waits in the mailbox, saw {max_in_flight}"
    );
    common::assert_quiet(&seen_rx);
    assert_eq!(subscription.end(), None, "still running");
    assert_eq!(
        kit.query()
            .current_persistence_ids()
            .collect::<Result<Vec<_>, _>>()
            .expect("lists"),
        [PersistenceId::of("note", "blue")]
    );
}

pub(crate) fn deleted_events_leave_tag_queries(kit: Kit) {
    colours(&kit);
    kit.delete_to("a", 2);
    let green = kit
        .query()
        .current_events_by_tag::<Notes>("green", Offset::Start);
    assert_eq!(
        described(green),
        [
            row(4, "a", 3, "a green banana"),
            row(5, "b", 2, "a green leaf")
        ]
    );
}

/// The same once a query has read before the writes: a journal that keeps its last commits
/// in memory for readers near the head (RocksDB's) serves the reads after them from there,
/// and must not serve the deleted ones either.
pub(crate) fn deleted_events_leave_tag_queries_read_right_after_the_writes(kit: Kit) {
    let query = kit.query();
    let read = |tag: &str| described(query.current_events_by_tag::<Notes>(tag, Offset::Start));
    assert_eq!(read("green"), []);
    colours(&kit);
    assert_eq!(
        read("green"),
        [
            row(2, "a", 2, "a green apple"),
            row(4, "a", 3, "a green banana"),
            row(5, "b", 2, "a green leaf")
        ]
    );
    let after_two = query.current_events_by_tag::<Notes>("green", Offset::After(2));
    assert_eq!(described(after_two).len(), 2);
    kit.delete_to("a", 2);
    assert_eq!(
        read("green"),
        [
            row(4, "a", 3, "a green banana"),
            row(5, "b", 2, "a green leaf")
        ]
    );
    kit.note("a", "a green pear");
    assert_eq!(
        read("green"),
        [
            row(4, "a", 3, "a green banana"),
            row(5, "b", 2, "a green leaf"),
            row(6, "a", 4, "a green pear")
        ]
    );
}

/// A reference that is not an actor's own (here one that converts what it is sent) is
/// delivered to as well, in order, and the delivery can be cancelled.
pub(crate) fn live_to_a_converting_reference_delivers_in_order(kit: Kit) {
    let (texts_actor, rx) = kit.forwarder("texts", |text: String| text);
    let converting: ActorRef<EventEnvelope<Noted>> =
        texts_actor.contramap(|envelope: EventEnvelope<Noted>| envelope.event.0);
    kit.note("a", "a blue sky");
    let subscription = kit
        .query()
        .events_by_tag_to::<Notes>("blue", Offset::Start, &converting)
        .expect("the delivery starts");
    assert_eq!(common::recv(&rx), "a blue sky");
    kit.note("b", "a blue sea");
    kit.note("a", "a blue bird");
    assert_eq!(common::recv_n(&rx, 2), ["a blue sea", "a blue bird"]);
    subscription.cancel();
    assert_eq!(
        subscription.wait_end(super::WAIT),
        Some(reactant::query::SubscriptionEnd::Cancelled)
    );
    kit.note("b", "a blue whale");
    common::assert_quiet(&rx);
}

/// Dropping the subscription does not stop the delivery: events committed afterwards still
/// reach the actor.
pub(crate) fn live_to_an_actor_goes_on_when_the_subscription_is_dropped(kit: Kit) {
    let (reader, rx) = kit.forwarder("reader", |envelope: EventEnvelope<Noted>| envelope.event.0);
    drop(
        kit.query()
            .events_by_tag_to::<Notes>("blue", Offset::Start, &reader)
            .expect("the delivery starts"),
    );
    kit.note("a", "a blue sky");
    kit.note("b", "a blue sea");
    assert_eq!(common::recv_n(&rx, 2), ["a blue sky", "a blue sea"]);
}
