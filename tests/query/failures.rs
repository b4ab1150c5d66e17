//! Failure paths: events that cannot be decoded, codecs that panic, subscribers that stop,
//! the journal closing, blocking where it is forbidden.

use std::time::Duration;

use reactant::persistence::PersistenceId;
use reactant::prelude::*;
use reactant::query::{EventEnvelope, Offset, QueryError, SubscriptionEnd};

use super::{FragileNotes, Kit, Noted, Notes, WAIT};
use crate::common;

pub(crate) fn an_event_that_cannot_be_decoded_is_an_error_naming_it_and_the_query_goes_on(
    kit: Kit,
) {
    for text in ["ok", "garbage", "ok again"] {
        kit.note_in::<FragileNotes>("f", text);
    }
    let items: Vec<_> = kit
        .query()
        .current_events_by_persistence_id::<FragileNotes>("f", 1, u64::MAX)
        .collect();
    assert_eq!(items.len(), 3);
    assert_eq!(
        items[0].as_ref().expect("decodes").event,
        Noted("ok".into())
    );
    match &items[1] {
        Err(QueryError::Decode {
            persistence_id,
            sequence_nr: 2,
            offset: 2,
            error,
        }) => {
            assert_eq!(*persistence_id, PersistenceId::of("fragile", "f"));
            assert!(error.to_string().contains("garbage in"), "{error}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    let message = items[1].as_ref().expect_err("an error").to_string();
    assert!(
        message.contains("fragile|f") && message.contains("upcaster"),
        "{message}"
    );
    assert_eq!(
        items[2].as_ref().expect("decodes").event,
        Noted("ok again".into())
    );
}

pub(crate) fn a_codec_that_panics_is_an_error_never_a_panic_of_the_consumer(kit: Kit) {
    kit.note_in::<FragileNotes>("p", "a blue panic");
    kit.note_in::<FragileNotes>("p", "a blue sky");
    let query = kit.query();
    let current: Vec<_> = query
        .current_events_by_tag::<FragileNotes>("blue", Offset::Start)
        .collect();
    match &current[0] {
        Err(QueryError::Panicked {
            persistence_id,
            sequence_nr: 1,
            message,
            ..
        }) => {
            assert_eq!(*persistence_id, PersistenceId::of("fragile", "p"));
            assert!(message.contains("fragile codec broke"), "{message}");
        }
        other => panic!("expected a panic caught as an error, got {other:?}"),
    }
    assert_eq!(current[1].as_ref().expect("decodes").event.0, "a blue sky");
    let mut live = query.events_by_tag::<FragileNotes>("blue", Offset::Start);
    assert!(matches!(
        live.next_timeout(WAIT),
        Some(Err(QueryError::Panicked { .. }))
    ));
    assert_eq!(
        live.next_timeout(WAIT)
            .expect("an event")
            .expect("decodes")
            .event
            .0,
        "a blue sky"
    );
}

pub(crate) fn a_delivery_ends_when_its_actor_stops(kit: Kit) {
    delivery_to_an_actor_that_stops(&kit, Some("a green pear"));
}

/// An actor that handles one envelope and stops; its delivery must end saying so, after
/// `then_note` is committed (or, with `None`, with no commit after the stop: the pump's
/// liveness check notices).
fn delivery_to_an_actor_that_stops(kit: &Kit, then_note: Option<&str>) {
    kit.note("a", "a green apple");
    let (tx, rx) = crossbeam_channel::unbounded();
    let once = kit
        .system
        .spawn(
            Behaviors::receive_message(move |envelope: EventEnvelope<Noted>| {
                let _ = tx.send(envelope.event.0);
                Behaviors::stopped()
            }),
            "once",
        )
        .expect("spawns");
    let subscription = kit
        .query()
        .events_by_tag_to::<Notes>("green", Offset::Start, &once)
        .expect("starts");
    assert_eq!(common::recv(&rx), "a green apple");
    if let Some(text) = then_note {
        kit.note("a", text);
    }
    assert_eq!(
        subscription.wait_end(WAIT),
        Some(SubscriptionEnd::SubscriberStopped)
    );
}

pub(crate) fn a_delivery_fails_on_an_event_that_cannot_be_decoded(kit: Kit) {
    kit.note_in::<FragileNotes>("g", "green one");
    kit.note_in::<FragileNotes>("g", "green garbage");
    let (listener, rx) = kit.forwarder("listener", |envelope: EventEnvelope<Noted>| {
        envelope.event.0
    });
    let subscription = kit
        .query()
        .events_by_tag_to::<FragileNotes>("green", Offset::Start, &listener)
        .expect("starts");
    assert_eq!(common::recv(&rx), "green one");
    match subscription.wait_end(WAIT) {
        Some(SubscriptionEnd::Failed(QueryError::Decode { sequence_nr: 2, .. })) => {}
        other => panic!("expected a decode failure, got {other:?}"),
    }
    common::assert_quiet(&rx);
}

pub(crate) fn closing_the_journal_ends_live_queries_with_an_error(kit: Kit) {
    kit.note("a", "a green apple");
    let query = kit.query();
    let mut live = query.events_by_tag::<Notes>("green", Offset::Start);
    assert_eq!(
        live.next_timeout(WAIT)
            .expect("one")
            .expect("decodes")
            .offset,
        1
    );
    let waiting = std::thread::spawn(move || {
        let item = live.next();
        (item, live.next())
    });
    let listener = kit
        .system
        .spawn(
            Behaviors::receive_message(|_: EventEnvelope<Noted>| Behaviors::same()),
            "l",
        )
        .expect("spawns");
    let subscription = query
        .events_by_tag_to::<Notes>("green", Offset::Start, &listener)
        .expect("starts");
    std::thread::sleep(Duration::from_millis(50));
    (kit.store.close)();
    let (item, after) = waiting.join().expect("the consumer thread does not panic");
    assert!(matches!(item, Some(Err(QueryError::Closed))), "{item:?}");
    assert!(after.is_none(), "the query is over: {after:?}");
    assert_eq!(
        subscription.wait_end(WAIT),
        Some(SubscriptionEnd::Failed(QueryError::Closed))
    );
    let mut later = query.events_by_tag::<Notes>("green", Offset::Start);
    assert!(matches!(
        later.next_timeout(WAIT),
        Some(Err(QueryError::Closed))
    ));
    let error = QueryError::Closed.to_string();
    assert!(error.contains("open it again"), "{error}");
}

pub(crate) fn a_cancelled_delivery_stops(kit: Kit) {
    kit.note("a", "a green apple");
    let (listener, rx) =
        kit.forwarder("listener", |envelope: EventEnvelope<Noted>| envelope.offset);
    let subscription = kit
        .query()
        .events_by_tag_to::<Notes>("green", Offset::Start, &listener)
        .expect("starts");
    assert_eq!(common::recv(&rx), 1);
    subscription.cancel();
    assert_eq!(
        subscription.wait_end(WAIT),
        Some(SubscriptionEnd::Cancelled)
    );
    kit.note("a", "a green pear");
    common::assert_quiet(&rx);
}

pub(crate) fn blocking_on_a_dispatcher_thread_is_refused(kit: Kit) {
    kit.note("a", "a green apple");
    let query = kit.query();
    let (tx, rx) = crossbeam_channel::unbounded();
    let actor = kit
        .system
        .spawn(
            Behaviors::receive_message(move |(): ()| {
                let mut live = query.events_by_tag::<Notes>("green", Offset::Start);
                let _ = tx.send(live.next().map(|item| item.map(|e| e.offset)));
                Behaviors::same()
            }),
            "blocker",
        )
        .expect("spawns");
    actor.tell(());
    assert_eq!(
        common::recv(&rx),
        Some(Err(QueryError::WouldBlockDispatcher))
    );
}

/// An actor that stops while its delivery waits for commits ends the delivery even when no
/// event is committed afterwards.
pub(crate) fn a_delivery_ends_when_its_actor_stops_without_a_later_commit(kit: Kit) {
    delivery_to_an_actor_that_stops(&kit, None);
}
