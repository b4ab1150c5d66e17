//! Events by persistence id, current and live (Pekko's `EventsByPersistenceIdSpec`).

use reactant::persistence::PersistenceId;

use super::{Kit, Notes, assert_nothing_more, next_live, texts};

pub(crate) fn current_finds_existing_events(kit: Kit) {
    kit.setup("a");
    let mut events = kit
        .query()
        .current_events_by_persistence_id::<Notes>("a", 0, u64::MAX);
    assert_eq!(texts(events.by_ref().take(2)), ["a-1", "a-2"]);
    assert_eq!(texts(events), ["a-3"]);
}

pub(crate) fn current_finds_existing_events_up_to_a_sequence_number(kit: Kit) {
    kit.setup("b");
    let events = kit
        .query()
        .current_events_by_persistence_id::<Notes>("b", 0, 2);
    assert_eq!(texts(events), ["b-1", "b-2"]);
}

pub(crate) fn current_does_not_see_events_written_after_it_started(kit: Kit) {
    kit.setup("f");
    let mut events = kit
        .query()
        .current_events_by_persistence_id::<Notes>("f", 0, u64::MAX);
    assert_eq!(texts(events.by_ref().take(2)), ["f-1", "f-2"]);
    kit.note("f", "f-4");
    assert_eq!(texts(events), ["f-3"], "f-4 came after the query started");
}

pub(crate) fn current_of_a_fully_deleted_stream_is_empty(kit: Kit) {
    kit.setup("g");
    kit.delete_to("g", 3);
    let query = kit.query();
    assert!(texts(query.current_events_by_persistence_id::<Notes>("g", 0, u64::MAX)).is_empty());
    assert!(texts(query.current_events_by_persistence_id::<Notes>("g", 0, 0)).is_empty());
}

pub(crate) fn current_after_a_partial_deletion_returns_the_rest(kit: Kit) {
    kit.setup("h");
    kit.delete_to("h", 2);
    let events = kit
        .query()
        .current_events_by_persistence_id::<Notes>("h", 0, u64::MAX);
    assert_eq!(texts(events), ["h-3"]);
}

pub(crate) fn current_of_an_unknown_stream_is_empty(kit: Kit) {
    let query = kit.query();
    assert!(texts(query.current_events_by_persistence_id::<Notes>("i", 0, u64::MAX)).is_empty());
    assert!(texts(query.current_events_by_persistence_id::<Notes>("k", 0, 0)).is_empty());
    kit.setup("k1");
    assert!(texts(query.current_events_by_persistence_id::<Notes>("k1", 0, 0)).is_empty());
}

pub(crate) fn current_from_above_the_highest_is_empty(kit: Kit) {
    kit.setup("l");
    let events = kit
        .query()
        .current_events_by_persistence_id::<Notes>("l", 4, 3);
    assert!(texts(events).is_empty());
}

pub(crate) fn current_envelopes_carry_timestamp_offset_and_tags(kit: Kit) {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    kit.note("m", "a green m");
    kit.note("m", "plain m");
    let envelopes: Vec<_> = kit
        .query()
        .current_events_by_persistence_id::<Notes>("m", 0, u64::MAX)
        .collect::<Result<_, _>>()
        .expect("the events decode");
    assert_eq!(envelopes.len(), 2);
    for (index, envelope) in envelopes.iter().enumerate() {
        assert!(envelope.timestamp_ms >= before, "{envelope:?}");
        assert_eq!(envelope.persistence_id, PersistenceId::of("note", "m"));
        assert_eq!(envelope.sequence_nr, index as u64 + 1);
        assert_eq!(envelope.offset, index as u64 + 1);
    }
    assert_eq!(envelopes[0].tags, ["green"]);
    assert!(envelopes[1].tags.is_empty());
}

pub(crate) fn current_takes_an_entity_id_or_a_persistence_id(kit: Kit) {
    kit.setup("n");
    let query = kit.query();
    let by_pid = query.current_events_by_persistence_id::<Notes>(
        PersistenceId::of("note", "n"),
        0,
        u64::MAX,
    );
    assert_eq!(texts(by_pid), ["n-1", "n-2", "n-3"]);
    let mut empty = query.current_events_by_persistence_id::<Notes>("", 0, u64::MAX);
    let error = empty
        .next()
        .expect("an error item")
        .expect_err("an empty id is refused");
    assert!(error.to_string().contains("cannot be empty"), "{error}");
    assert!(empty.next().is_none());
}

pub(crate) fn live_finds_new_events(kit: Kit) {
    kit.setup("c");
    let mut live = kit
        .query()
        .events_by_persistence_id::<Notes>("c", 0, u64::MAX);
    for expected in ["c-1", "c-2", "c-3"] {
        assert_eq!(next_live(&mut live).event.0, expected);
    }
    kit.note("c", "c-4");
    assert_eq!(next_live(&mut live).event.0, "c-4");
}

pub(crate) fn live_up_to_a_sequence_number_ends_there(kit: Kit) {
    kit.setup("d");
    let mut live = kit.query().events_by_persistence_id::<Notes>("d", 0, 4);
    for expected in ["d-1", "d-2", "d-3"] {
        assert_eq!(next_live(&mut live).event.0, expected);
    }
    assert!(!live.is_finished());
    kit.note("d", "d-4");
    assert_eq!(next_live(&mut live).event.0, "d-4");
    assert!(live.next().is_none(), "ends after sequence number 4");
    assert!(live.is_finished());
}

pub(crate) fn live_finds_new_events_after_a_pause(kit: Kit) {
    kit.setup("e");
    let mut live = kit
        .query()
        .events_by_persistence_id::<Notes>("e", 0, u64::MAX);
    assert_eq!(next_live(&mut live).event.0, "e-1");
    assert_eq!(next_live(&mut live).event.0, "e-2");
    kit.note("e", "e-4");
    assert_eq!(next_live(&mut live).event.0, "e-3");
    assert_eq!(next_live(&mut live).event.0, "e-4");
    assert_nothing_more(&mut live);
}

pub(crate) fn live_of_an_empty_stream_waits_for_its_first_event(kit: Kit) {
    let mut live = kit
        .query()
        .events_by_persistence_id::<Notes>("o", 0, u64::MAX);
    assert_nothing_more(&mut live);
    assert!(
        !live.is_finished(),
        "an empty stream does not end a live query"
    );
    kit.note("other", "not for o");
    kit.note("o", "o-1");
    let envelope = next_live(&mut live);
    assert_eq!(
        (envelope.event.0.as_str(), envelope.sequence_nr),
        ("o-1", 1)
    );
}
