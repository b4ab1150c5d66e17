//! The journal cases of the kit: Akka's `JournalSpec`, each on a fresh store holding events 1–5
//! of [`pid`] (4 and 5 written as one atomic write), then the global offset and tags, which
//! every backend provides too.

use super::*;

pub(crate) fn replay_from_the_first_returns_every_event_and_the_highest(store: &Store) {
    write_fixture(&*store.journal);
    assert_eq!(
        replay(&*store.journal, 1, u64::MAX, u64::MAX),
        (vec![1, 2, 3, 4, 5], 5)
    );
}

pub(crate) fn replay_from_a_middle_sequence_number_returns_the_rest(store: &Store) {
    write_fixture(&*store.journal);
    assert_eq!(
        replay(&*store.journal, 3, u64::MAX, u64::MAX),
        (vec![3, 4, 5], 5)
    );
}

pub(crate) fn replay_up_to_a_sequence_number_stops_there_and_reports_the_true_highest(
    store: &Store,
) {
    write_fixture(&*store.journal);
    assert_eq!(replay(&*store.journal, 1, 3, u64::MAX), (vec![1, 2, 3], 5));
}

pub(crate) fn replay_with_a_count_limit_returns_at_most_that_many(store: &Store) {
    write_fixture(&*store.journal);
    assert_eq!(replay(&*store.journal, 1, u64::MAX, 3), (vec![1, 2, 3], 5));
}

pub(crate) fn replay_of_a_middle_range_returns_that_range(store: &Store) {
    write_fixture(&*store.journal);
    assert_eq!(replay(&*store.journal, 2, 3, u64::MAX), (vec![2, 3], 5));
}

pub(crate) fn replay_of_a_range_with_a_smaller_count_limit_stops_at_the_limit(store: &Store) {
    write_fixture(&*store.journal);
    assert_eq!(replay(&*store.journal, 2, 5, 2), (vec![2, 3], 5));
}

pub(crate) fn replay_of_a_single_sequence_number_returns_that_event(store: &Store) {
    write_fixture(&*store.journal);
    assert_eq!(replay(&*store.journal, 2, 2, u64::MAX), (vec![2], 5));
}

pub(crate) fn replay_with_a_count_limit_of_one_returns_one_event(store: &Store) {
    write_fixture(&*store.journal);
    assert_eq!(replay(&*store.journal, 2, 4, 1), (vec![2], 5));
}

pub(crate) fn replay_with_a_count_limit_of_zero_returns_nothing_but_the_highest(store: &Store) {
    write_fixture(&*store.journal);
    assert_eq!(replay(&*store.journal, 2, 4, 0), (vec![], 5));
}

pub(crate) fn replay_with_from_above_to_returns_nothing_but_the_highest(store: &Store) {
    write_fixture(&*store.journal);
    assert_eq!(replay(&*store.journal, 3, 2, u64::MAX), (vec![], 5));
}

pub(crate) fn replay_of_an_unknown_stream_returns_nothing_and_highest_zero(store: &Store) {
    write_fixture(&*store.journal);
    let unknown = PersistenceId::of("tck", "unknown");
    let mut seen = 0;
    let highest = store
        .journal
        .replay(&unknown, 1, u64::MAX, u64::MAX, &mut |_| seen += 1)
        .unwrap();
    assert_eq!((seen, highest), (0, 0));
    assert_eq!(store.journal.highest_sequence_nr(&unknown).unwrap(), 0);
}

pub(crate) fn the_highest_sequence_number_is_reported_without_a_replay(store: &Store) {
    write_fixture(&*store.journal);
    assert_eq!(store.journal.highest_sequence_nr(&pid()).unwrap(), 5);
}

pub(crate) fn deleted_events_are_not_replayed(store: &Store) {
    write_fixture(&*store.journal);
    store.journal.delete_to(&pid(), 3).unwrap();
    assert_eq!(
        replay(&*store.journal, 1, u64::MAX, u64::MAX),
        (vec![4, 5], 5)
    );
}

pub(crate) fn deleting_does_not_reset_the_highest_sequence_number(store: &Store) {
    write_fixture(&*store.journal);
    store.journal.delete_to(&pid(), 3).unwrap();
    assert_eq!(store.journal.highest_sequence_nr(&pid()).unwrap(), 5);
    assert_eq!(
        replay(&*store.journal, 1, u64::MAX, u64::MAX),
        (vec![4, 5], 5)
    );
}

pub(crate) fn deleting_every_event_never_lowers_the_highest_sequence_number(store: &Store) {
    write_fixture(&*store.journal);
    store.journal.delete_to(&pid(), u64::MAX).unwrap();
    assert_eq!(replay(&*store.journal, 1, u64::MAX, u64::MAX), (vec![], 5));
    assert_eq!(store.journal.highest_sequence_nr(&pid()).unwrap(), 5);
    // The stream goes on after its highest, not after what is left.
    write_all(&*store.journal, vec![atomic(vec![event(&pid(), 6)])]);
    assert_eq!(replay(&*store.journal, 1, u64::MAX, u64::MAX), (vec![6], 6));
}

pub(crate) fn replay_from_a_deleted_sequence_number_starts_after_the_deleted_ones(store: &Store) {
    write_fixture(&*store.journal);
    store.journal.delete_to(&pid(), 3).unwrap();
    assert_eq!(
        replay(&*store.journal, 3, u64::MAX, u64::MAX),
        (vec![4, 5], 5)
    );
}

pub(crate) fn replay_of_a_deleted_range_returns_nothing(store: &Store) {
    write_fixture(&*store.journal);
    store.journal.delete_to(&pid(), 3).unwrap();
    assert_eq!(replay(&*store.journal, 1, 2, u64::MAX), (vec![], 5));
}

pub(crate) fn replay_up_to_the_deleted_sequence_number_returns_nothing(store: &Store) {
    write_fixture(&*store.journal);
    store.journal.delete_to(&pid(), 3).unwrap();
    assert_eq!(replay(&*store.journal, 1, 3, u64::MAX), (vec![], 5));
}

pub(crate) fn replay_after_the_deleted_events_returns_the_rest(store: &Store) {
    write_fixture(&*store.journal);
    store.journal.delete_to(&pid(), 3).unwrap();
    assert_eq!(
        replay(&*store.journal, 4, u64::MAX, u64::MAX),
        (vec![4, 5], 5)
    );
}

pub(crate) fn replay_across_the_deletion_boundary_returns_only_live_events(store: &Store) {
    write_fixture(&*store.journal);
    store.journal.delete_to(&pid(), 3).unwrap();
    assert_eq!(replay(&*store.journal, 1, 4, u64::MAX), (vec![4], 5));
}

/// TCK 21. Our journal stores serialized payloads, so serialization happens before it: the
/// unserializable event is rejected by the layer and its write never formed; the batch holding
/// the others succeeds. A rejected event does not use up a sequence number (the journal keeps
/// streams contiguous), so the two stored events are 6 and 7 where Akka, which allows gaps,
/// stores 6 and 8.
pub(crate) fn an_unserializable_event_is_rejected_alone_and_the_others_are_stored(store: &Store) {
    write_fixture(&*store.journal);
    let id = pid();
    let events = [
        Ledger::Deposited { amount: 6 },
        Ledger::Broken {
            value: Unserializable,
        },
        Ledger::Deposited { amount: 8 },
    ];
    let (writes, rejected) = serialize_writes(&id, 6, &events);
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        rejected[0].0, 1,
        "only the unserializable event is rejected"
    );
    assert!(
        matches!(&rejected[0].1, Rejection::Serialization(why) if why.contains("cannot be serialized"))
    );

    let results = store
        .journal
        .write(&writes)
        .expect("the batch does not fail");
    assert_eq!(results, vec![Ok(()), Ok(())]);
    let stored = replay_all(&*store.journal, &id);
    let amounts: Vec<(SequenceNr, Vec<u8>)> = stored[5..]
        .iter()
        .map(|event| (event.sequence_nr, event.payload.clone()))
        .collect();
    assert_eq!(
        amounts,
        vec![
            (6, rmp_serde::to_vec_named(&events[0]).unwrap()),
            (7, rmp_serde::to_vec_named(&events[2]).unwrap()),
        ]
    );
    assert_eq!(store.journal.highest_sequence_nr(&id).unwrap(), 7);
}

/// TCK 21 as the journal itself sees it: a write that does not continue its stream is
/// rejected alone; the writes before and after it in the same call are stored.
pub(crate) fn an_out_of_order_write_is_rejected_alone_and_the_others_are_stored(store: &Store) {
    write_fixture(&*store.journal);
    let id = pid();
    let writes = vec![
        atomic(vec![event(&id, 6)]),
        atomic(vec![event(&id, 8)]),
        atomic(vec![event(&id, 7)]),
    ];
    let results = store
        .journal
        .write(&writes)
        .expect("the batch does not fail");
    assert_eq!(
        results,
        vec![
            Ok(()),
            Err(Rejection::OutOfOrder { highest: 6, got: 8 }),
            Ok(())
        ]
    );
    assert_eq!(
        replay(&*store.journal, 6, u64::MAX, u64::MAX),
        (vec![6, 7], 7)
    );
}

pub(crate) fn an_event_of_a_user_type_round_trips(store: &Store) {
    write_fixture(&*store.journal);
    let id = pid();
    let mut stored = event(&id, 6);
    stored.manifest = Manifest::new("AccountOpened", 1);
    stored.payload = rmp_serde::to_vec_named(&account_opened()).unwrap();
    write_all(&*store.journal, vec![atomic(vec![stored])]);

    let replayed = replay_all(&*store.journal, &id);
    let last = replayed.last().unwrap();
    assert_eq!(last.manifest, Manifest::new("AccountOpened", 1));
    let decoded: AccountOpened = rmp_serde::from_slice(&last.payload).unwrap();
    assert_eq!(decoded, account_opened());
    assert!(store.journal.highest_sequence_nr(&id).unwrap() >= 6);
}

pub(crate) fn a_replayed_event_carries_its_stream_sequence_number_manifest_and_writer(
    store: &Store,
) {
    write_fixture(&*store.journal);
    let replayed = replay_all(&*store.journal, &pid());
    assert_eq!(replayed.len(), 5);
    for (index, event) in replayed.iter().enumerate() {
        let expected_sequence_nr = index as u64 + 1;
        assert_eq!(event.persistence_id, pid());
        assert_eq!(event.sequence_nr, expected_sequence_nr);
        assert_eq!(event.manifest, Manifest::new("String", 1));
        assert_eq!(&*event.writer_id, WRITER);
        assert_eq!(event.timestamp_ms, 1_700_000_000_000 + expected_sequence_nr);
        assert!(event.tags.is_empty());
        // The journal numbered it; deleted events are never delivered (there is no
        // "deleted" mark to carry).
        assert_eq!(event.offset, expected_sequence_nr);
    }
}

// Beyond the TCK: the global offset and tags, which every backend also provides.

pub(crate) fn every_event_gets_the_next_global_offset_across_streams(store: &Store) {
    let (a, b) = (PersistenceId::of("tck", "a"), PersistenceId::of("tck", "b"));
    write_all(
        &*store.journal,
        vec![
            atomic(vec![event(&a, 1), event(&a, 2)]),
            atomic(vec![event(&b, 1)]),
        ],
    );
    write_all(&*store.journal, vec![atomic(vec![event(&a, 3)])]);
    write_all(
        &*store.journal,
        vec![atomic(vec![event(&b, 2), event(&b, 3)])],
    );
    let offsets = |id| -> Vec<u64> {
        replay_all(&*store.journal, id)
            .iter()
            .map(|event| event.offset)
            .collect()
    };
    assert_eq!(offsets(&a), vec![1, 2, 4]);
    assert_eq!(offsets(&b), vec![3, 5, 6]);
}

pub(crate) fn a_rejected_write_uses_no_global_offset(store: &Store) {
    let id = pid();
    let results = store
        .journal
        .write(&[atomic(vec![event(&id, 2)]), atomic(vec![event(&id, 1)])])
        .unwrap();
    assert_eq!(
        results[0],
        Err(Rejection::OutOfOrder { highest: 0, got: 2 })
    );
    write_all(&*store.journal, vec![atomic(vec![event(&id, 2)])]);
    let offsets: Vec<u64> = replay_all(&*store.journal, &id)
        .iter()
        .map(|event| event.offset)
        .collect();
    assert_eq!(offsets, vec![1, 2]);
}

pub(crate) fn events_by_tag_returns_tagged_events_in_offset_order(store: &Store) {
    let (a, b) = (PersistenceId::of("tck", "a"), PersistenceId::of("tck", "b"));
    write_all(
        &*store.journal,
        vec![
            atomic(vec![
                tagged(event(&a, 1), &["blue"]),
                tagged(event(&a, 2), &["red"]),
            ]),
            atomic(vec![tagged(event(&b, 1), &["blue", "red"])]),
        ],
    );
    write_all(
        &*store.journal,
        vec![atomic(vec![tagged(event(&a, 3), &["blue"]), event(&a, 4)])],
    );
    let ids = |events: &[PersistentRepr]| -> Vec<(String, SequenceNr, u64)> {
        events
            .iter()
            .map(|e| (e.persistence_id.to_string(), e.sequence_nr, e.offset))
            .collect()
    };
    let (blue, last) = by_tag(&*store.journal, "blue", 0, u64::MAX);
    assert_eq!(
        ids(&blue),
        vec![
            ("tck|a".into(), 1, 1),
            ("tck|b".into(), 1, 3),
            ("tck|a".into(), 3, 4)
        ]
    );
    assert_eq!(last, 4);
    assert_eq!(blue[1].tags, vec!["blue".to_owned(), "red".to_owned()]);
    // Resuming after an offset, and a count limit.
    let (after_first, last) = by_tag(&*store.journal, "blue", 1, 1);
    assert_eq!((ids(&after_first), last), (vec![("tck|b".into(), 1, 3)], 3));
    let (red, _) = by_tag(&*store.journal, "red", 0, u64::MAX);
    assert_eq!(
        ids(&red),
        vec![("tck|a".into(), 2, 2), ("tck|b".into(), 1, 3)]
    );
    assert_eq!(by_tag(&*store.journal, "green", 0, u64::MAX), (vec![], 0));
    assert_eq!(by_tag(&*store.journal, "blue", 4, u64::MAX).1, 4);
}

pub(crate) fn deleted_events_leave_their_tags(store: &Store) {
    let id = pid();
    write_all(
        &*store.journal,
        vec![atomic(vec![
            tagged(event(&id, 1), &["t"]),
            tagged(event(&id, 2), &["t"]),
            tagged(event(&id, 3), &["t"]),
        ])],
    );
    store.journal.delete_to(&id, 2).unwrap();
    let (events, last) = by_tag(&*store.journal, "t", 0, u64::MAX);
    let sequence_nrs: Vec<SequenceNr> = events.iter().map(|e| e.sequence_nr).collect();
    assert_eq!((sequence_nrs, last), (vec![3], 3));
}

/// Not in Akka (its journals allow gaps): a snapshot ahead of the journal makes the stream go
/// on after the snapshot, so the journal must accept the write that follows it.
pub(crate) fn advancing_the_highest_makes_the_stream_continue_after_it(store: &Store) {
    let id = pid();
    store.journal.advance_highest(&id, 7).unwrap();
    assert_eq!(store.journal.highest_sequence_nr(&id).unwrap(), 7);
    assert_eq!(replay(&*store.journal, 1, u64::MAX, u64::MAX), (vec![], 7));
    let results = store.journal.write(&[atomic(vec![event(&id, 1)])]).unwrap();
    assert_eq!(
        results[0],
        Err(Rejection::OutOfOrder { highest: 7, got: 1 })
    );
    write_all(&*store.journal, vec![atomic(vec![event(&id, 8)])]);
    assert_eq!(replay(&*store.journal, 1, u64::MAX, u64::MAX), (vec![8], 8));
}

pub(crate) fn advancing_the_highest_below_it_changes_nothing(store: &Store) {
    write_fixture(&*store.journal);
    store.journal.advance_highest(&pid(), 3).unwrap();
    assert_eq!(
        replay(&*store.journal, 1, u64::MAX, u64::MAX),
        (vec![1, 2, 3, 4, 5], 5)
    );
    write_all(&*store.journal, vec![atomic(vec![event(&pid(), 6)])]);
}

/// Not in Akka's journal spec (its remember-entities store is separate): the sharded entities
/// remembered per entity type, for sharding to start again after a restart.
pub(crate) fn remembered_entities_are_listed_per_type_until_forgotten(store: &Store) {
    let journal = &*store.journal;
    assert_eq!(journal.remembered("saga").unwrap(), Vec::<String>::new());
    journal.set_remembered("saga", "t-1", true).unwrap();
    journal.set_remembered("saga", "t-2", true).unwrap();
    // Idempotent, and type keys that prefix one another stay apart.
    journal.set_remembered("saga", "t-2", true).unwrap();
    journal.set_remembered("sag", "at-9", true).unwrap();
    journal.set_remembered("saga-2", "t-3", true).unwrap();
    journal.set_remembered("saga", "", true).unwrap();
    journal.set_remembered("saga", "t-1", false).unwrap();
    journal
        .set_remembered("saga", "never-remembered", false)
        .unwrap();
    let mut saga = journal.remembered("saga").unwrap();
    saga.sort();
    assert_eq!(saga, ["", "t-2"]);
    assert_eq!(journal.remembered("sag").unwrap(), ["at-9"]);
    assert_eq!(journal.remembered("saga-2").unwrap(), ["t-3"]);
    // Not events: no global offset, nothing to replay.
    assert_eq!(by_tag(journal, "saga", 0, u64::MAX), (vec![], 0));
}

/// For the read side (issue 17): every event of every stream in offset order, in pages, the
/// deleted ones left out.
pub(crate) fn events_by_offset_reads_every_stream_in_offset_order_in_pages(store: &Store) {
    let journal = &*store.journal;
    write_fixture(journal);
    let other = PersistenceId::of("tck", "p-2");
    write_all(
        journal,
        vec![atomic(vec![event(&other, 1), event(&other, 2)])],
    );
    journal.delete_to(&pid(), 2).unwrap();
    let mut seen = Vec::new();
    let last = journal
        .events_by_offset(0, 3, &mut |e| seen.push((e.offset, e.sequence_nr)))
        .unwrap();
    assert_eq!((seen.clone(), last), (vec![(3, 3), (4, 4), (5, 5)], 5));
    seen.clear();
    let last = journal
        .events_by_offset(last, u64::MAX, &mut |e| {
            seen.push((e.offset, e.sequence_nr))
        })
        .unwrap();
    assert_eq!((seen, last), (vec![(6, 1), (7, 2)], 7));
    assert_eq!(journal.events_by_offset(7, 10, &mut |_| {}).unwrap(), 7);
    assert_eq!(journal.events_by_offset(0, 0, &mut |_| {}).unwrap(), 0);
    assert_eq!(journal.highest_offset().unwrap(), 7);
}

/// For the read side: the persistence ids with events, each once, in a stable order that a
/// listing goes on from.
pub(crate) fn persistence_ids_are_listed_in_pages_in_a_stable_order(store: &Store) {
    let journal = &*store.journal;
    let names = ["b", "a", "ab", "a|b", "c", "zz", "deleted"];
    for name in names {
        let id = PersistenceId::of("tck", name);
        write_all(journal, vec![atomic(vec![event(&id, 1), event(&id, 2)])]);
    }
    journal
        .delete_to(&PersistenceId::of("tck", "deleted"), u64::MAX)
        .unwrap();
    let mut all = Vec::new();
    journal
        .persistence_ids_after(None, u64::MAX, &mut |id| all.push(id))
        .unwrap();
    let mut expected: Vec<PersistenceId> = names[..6]
        .iter()
        .map(|name| PersistenceId::of("tck", name))
        .collect();
    expected.sort_by_key(|id| (id.as_str().len(), id.as_str().to_owned()));
    assert_eq!(all, expected);
    let mut paged = Vec::new();
    let mut after: Option<PersistenceId> = None;
    loop {
        let mut page = Vec::new();
        journal
            .persistence_ids_after(after.as_ref(), 4, &mut |id| page.push(id))
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        paged.extend(page);
    }
    assert_eq!(paged, expected);
}

/// For live queries: the journal's commit notification follows its commits.
pub(crate) fn a_commit_advances_the_commit_notification(store: &Store) {
    let journal = &*store.journal;
    let notifier = journal
        .commit_notifier()
        .expect("the journal has a commit notification");
    assert_eq!(notifier.last_committed(), 0);
    write_fixture(journal);
    assert_eq!(notifier.last_committed(), 5);
    let waited = notifier.wait_past(4, Some(std::time::Instant::now()));
    assert_eq!(waited, reactant::persistence::CommitWait::Advanced(5));
    // A rejected write commits nothing.
    let results = journal.write(&[atomic(vec![event(&pid(), 9)])]).unwrap();
    assert!(results[0].is_err());
    assert_eq!(notifier.last_committed(), 5);
}
