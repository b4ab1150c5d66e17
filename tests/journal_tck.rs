//! The journal and snapshot store test kit: a port of Akka's persistence plugin TCK
//! (`JournalSpec`, `SnapshotStoreSpec`), written once and run against every backend — the
//! in-memory one always, the RocksDB one with the `rocksdb` feature (each test in its own
//! temporary folder) — plus what only a durable backend can show: reopening, locking, and
//! refusing folders that are not ours.
//!
//! This file holds the stores, the fixtures and the macro that instantiates every case per
//! backend; the cases live in `journal_tck/journal_spec.rs` and
//! `journal_tck/snapshot_store_spec.rs`, the RocksDB-only tests in `journal_tck/rocks_journal.rs`.

use std::sync::Arc;

use reactant::persistence::{
    AtomicWrite, Journal, Manifest, PersistenceId, PersistentRepr, Rejection, SequenceNr,
    SnapshotCriteria, SnapshotMetadata, SnapshotStore, StoredSnapshot,
};
use serde::{Deserialize, Serialize};

/// A backend under test: a journal, a snapshot store, and whatever must live as long as they do.
struct Store {
    journal: Arc<dyn Journal>,
    snapshots: Arc<dyn SnapshotStore>,
    /// The RocksDB folder, deleted when the test ends.
    #[cfg(feature = "rocksdb")]
    _folder: Option<tempfile::TempDir>,
}

fn in_memory() -> Store {
    use reactant::persistence::memory::{InMemoryJournal, InMemorySnapshotStore};
    Store {
        journal: Arc::new(InMemoryJournal::new()),
        snapshots: Arc::new(InMemorySnapshotStore::new()),
        #[cfg(feature = "rocksdb")]
        _folder: None,
    }
}

#[cfg(feature = "rocksdb")]
fn rocks() -> Store {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let journal = reactant::persistence::rocksdb::RocksJournal::open(folder.path())
        .expect("a new journal opens");
    Store {
        journal: journal.clone(),
        snapshots: journal,
        _folder: Some(folder),
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures and helpers

const WRITER: &str = "writer-1";

fn pid() -> PersistenceId {
    PersistenceId::of("tck", "p-1")
}

fn event(persistence_id: &PersistenceId, sequence_nr: SequenceNr) -> PersistentRepr {
    PersistentRepr {
        persistence_id: persistence_id.clone(),
        sequence_nr,
        manifest: Manifest::new("String", 1),
        payload: format!("a-{sequence_nr}").into_bytes(),
        tags: Vec::new(),
        writer_id: WRITER.into(),
        timestamp_ms: 1_700_000_000_000 + sequence_nr,
        offset: 0,
    }
}

fn tagged(mut event: PersistentRepr, tags: &[&str]) -> PersistentRepr {
    event.tags = tags.iter().map(|tag| (*tag).to_owned()).collect();
    event
}

fn atomic(events: Vec<PersistentRepr>) -> AtomicWrite {
    AtomicWrite { events }
}

/// Writes `writes` in one call and expects every one of them stored.
fn write_all(journal: &dyn Journal, writes: Vec<AtomicWrite>) {
    let results = journal.write(&writes).expect("the write succeeds");
    assert!(results.iter().all(Result::is_ok), "rejections: {results:?}");
}

/// The journal fixture of the TCK: events 1–5 of [`pid`], 4 and 5 in one atomic write.
fn write_fixture(journal: &dyn Journal) {
    let id = pid();
    for sequence_nr in 1..=3 {
        write_all(journal, vec![atomic(vec![event(&id, sequence_nr)])]);
    }
    write_all(journal, vec![atomic(vec![event(&id, 4), event(&id, 5)])]);
}

/// Replays [`pid`] and returns the sequence numbers seen and the reported highest.
fn replay(journal: &dyn Journal, from: u64, to: u64, max: u64) -> (Vec<SequenceNr>, SequenceNr) {
    let mut seen = Vec::new();
    let highest = journal
        .replay(&pid(), from, to, max, &mut |event| {
            assert_eq!(
                event.payload,
                format!("a-{}", event.sequence_nr).into_bytes()
            );
            seen.push(event.sequence_nr);
        })
        .expect("the replay succeeds");
    (seen, highest)
}

fn replay_all(journal: &dyn Journal, persistence_id: &PersistenceId) -> Vec<PersistentRepr> {
    let mut seen = Vec::new();
    journal
        .replay(persistence_id, 1, u64::MAX, u64::MAX, &mut |event| {
            seen.push(event)
        })
        .expect("the replay succeeds");
    seen
}

fn by_tag(journal: &dyn Journal, tag: &str, after: u64, max: u64) -> (Vec<PersistentRepr>, u64) {
    let mut seen = Vec::new();
    let last = journal
        .events_by_tag(tag, after, max, &mut |event| seen.push(event))
        .expect("the tag query succeeds");
    (seen, last)
}

/// A user type, as an entity would persist it (named fields, like the default codec).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct AccountOpened {
    owner: String,
    balance: u64,
    limits: Vec<(String, i32)>,
    closed: Option<bool>,
}

fn account_opened() -> AccountOpened {
    AccountOpened {
        owner: "Alice".into(),
        balance: 42,
        limits: vec![("daily".into(), -300), ("monthly".into(), 5_000)],
        closed: None,
    }
}

/// A field whose `Serialize` always fails, as a type with an unsupported value would.
#[derive(Debug)]
struct Unserializable;

impl Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value cannot be serialized"))
    }
}

#[derive(Debug, Serialize)]
enum Ledger {
    Deposited { amount: u64 },
    Broken { value: Unserializable },
}

/// What the persistence layer does with a command's events: each is serialized; one that fails
/// is reported as rejected and never reaches the journal, and does not use up a sequence
/// number; the others become one atomic write each, numbered from `next`.
fn serialize_writes(
    persistence_id: &PersistenceId,
    mut next: SequenceNr,
    events: &[Ledger],
) -> (Vec<AtomicWrite>, Vec<(usize, Rejection)>) {
    let mut writes = Vec::new();
    let mut rejected = Vec::new();
    for (index, ledger) in events.iter().enumerate() {
        match rmp_serde::to_vec_named(ledger) {
            Ok(payload) => {
                let mut stored = event(persistence_id, next);
                stored.manifest = Manifest::new("Ledger", 1);
                stored.payload = payload;
                writes.push(atomic(vec![stored]));
                next += 1;
            }
            Err(error) => rejected.push((index, Rejection::Serialization(error.to_string()))),
        }
    }
    (writes, rejected)
}

#[path = "journal_tck/journal_spec.rs"]
mod journal_spec;
#[path = "journal_tck/snapshot_store_spec.rs"]
mod snapshot_store_spec;

use journal_spec::*;
use snapshot_store_spec::*;

// ---------------------------------------------------------------------------------------------
// The suite, instantiated once per backend

/// Declares one `#[test]` per case, each on a fresh store from `$store`.
macro_rules! cases {
    ($store:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                super::$case(&$store());
            }
        )*
    };
}

/// The whole kit for the backend made by `$store`.
macro_rules! journal_tck {
    ($store:path) => {
        cases!($store;
            // JournalSpec
            replay_from_the_first_returns_every_event_and_the_highest,
            replay_from_a_middle_sequence_number_returns_the_rest,
            replay_up_to_a_sequence_number_stops_there_and_reports_the_true_highest,
            replay_with_a_count_limit_returns_at_most_that_many,
            replay_of_a_middle_range_returns_that_range,
            replay_of_a_range_with_a_smaller_count_limit_stops_at_the_limit,
            replay_of_a_single_sequence_number_returns_that_event,
            replay_with_a_count_limit_of_one_returns_one_event,
            replay_with_a_count_limit_of_zero_returns_nothing_but_the_highest,
            replay_with_from_above_to_returns_nothing_but_the_highest,
            replay_of_an_unknown_stream_returns_nothing_and_highest_zero,
            the_highest_sequence_number_is_reported_without_a_replay,
            deleted_events_are_not_replayed,
            deleting_does_not_reset_the_highest_sequence_number,
            deleting_every_event_never_lowers_the_highest_sequence_number,
            replay_from_a_deleted_sequence_number_starts_after_the_deleted_ones,
            replay_of_a_deleted_range_returns_nothing,
            replay_up_to_the_deleted_sequence_number_returns_nothing,
            replay_after_the_deleted_events_returns_the_rest,
            replay_across_the_deletion_boundary_returns_only_live_events,
            an_unserializable_event_is_rejected_alone_and_the_others_are_stored,
            an_out_of_order_write_is_rejected_alone_and_the_others_are_stored,
            an_event_of_a_user_type_round_trips,
            a_replayed_event_carries_its_stream_sequence_number_manifest_and_writer,
            every_event_gets_the_next_global_offset_across_streams,
            a_rejected_write_uses_no_global_offset,
            events_by_tag_returns_tagged_events_in_offset_order,
            deleted_events_leave_their_tags,
            advancing_the_highest_makes_the_stream_continue_after_it,
            advancing_the_highest_below_it_changes_nothing,
            remembered_entities_are_listed_per_type_until_forgotten,
            events_by_offset_reads_every_stream_in_offset_order_in_pages,
            persistence_ids_are_listed_in_pages_in_a_stable_order,
            a_commit_advances_the_commit_notification,
            // SnapshotStoreSpec
            loading_a_snapshot_of_an_unknown_stream_finds_none,
            loading_with_a_timestamp_bound_before_every_snapshot_finds_none,
            loading_with_a_sequence_bound_before_every_snapshot_finds_none,
            loading_the_latest_finds_the_newest_snapshot,
            loading_with_a_sequence_bound_finds_the_newest_at_or_below_it,
            loading_with_sequence_and_timestamp_bounds_finds_the_newest_within_both,
            deleting_one_snapshot_ignores_its_timestamp_and_leaves_the_older_ones,
            deleting_matching_snapshots_removes_all_within_the_criteria,
            deleting_matching_snapshots_keeps_those_outside_the_timestamp_bound,
            saving_at_an_existing_sequence_number_replaces_the_snapshot,
            a_large_snapshot_is_saved_and_loaded,
            a_snapshot_of_a_user_type_round_trips,
        );
    };
}

mod in_memory {
    journal_tck!(super::in_memory);
}

#[cfg(feature = "rocksdb")]
mod rocksdb {
    journal_tck!(super::rocks);
}

/// What only a durable backend shows: reopening, the folder lock, refusing what is not ours.
#[cfg(feature = "rocksdb")]
#[path = "journal_tck/rocks_journal.rs"]
mod rocks_journal;
