//! The snapshot cases of the kit: Akka's `SnapshotStoreSpec`, each on a fresh store holding
//! snapshots "s-1" … "s-5" at sequence numbers 11–15 of [`pid`].

use super::*;

const SNAPSHOT_TIME: u64 = 1_700_000_000_000;

/// `md(k)`: the metadata of the k-th fixture snapshot (0-based).
pub(crate) fn md(k: u64) -> SnapshotMetadata {
    SnapshotMetadata {
        persistence_id: pid(),
        sequence_nr: 11 + k,
        timestamp_ms: SNAPSHOT_TIME + k * 1_000,
    }
}

pub(crate) fn snapshot(metadata: SnapshotMetadata, payload: &str) -> StoredSnapshot {
    StoredSnapshot {
        metadata,
        manifest: Manifest::new("String", 1),
        payload: payload.as_bytes().to_vec(),
    }
}

pub(crate) fn save_fixture(snapshots: &dyn SnapshotStore) {
    for k in 0..5 {
        snapshots
            .save(snapshot(md(k), &format!("s-{}", k + 1)))
            .unwrap();
    }
}

pub(crate) fn criteria(max_sequence_nr: SequenceNr, max_timestamp_ms: u64) -> SnapshotCriteria {
    SnapshotCriteria {
        max_sequence_nr,
        max_timestamp_ms,
        ..SnapshotCriteria::LATEST
    }
}

pub(crate) fn load(
    snapshots: &dyn SnapshotStore,
    criteria: SnapshotCriteria,
) -> Option<(String, SnapshotMetadata)> {
    snapshots
        .load(&pid(), criteria)
        .unwrap()
        .map(|s| (String::from_utf8(s.payload).unwrap(), s.metadata))
}

pub(crate) fn loading_a_snapshot_of_an_unknown_stream_finds_none(store: &Store) {
    save_fixture(&*store.snapshots);
    let unknown = PersistenceId::of("tck", "unknown");
    assert!(
        store
            .snapshots
            .load(&unknown, SnapshotCriteria::LATEST)
            .unwrap()
            .is_none()
    );
}

pub(crate) fn loading_with_a_timestamp_bound_before_every_snapshot_finds_none(store: &Store) {
    save_fixture(&*store.snapshots);
    assert_eq!(load(&*store.snapshots, criteria(u64::MAX, 100)), None);
}

pub(crate) fn loading_with_a_sequence_bound_before_every_snapshot_finds_none(store: &Store) {
    save_fixture(&*store.snapshots);
    assert_eq!(load(&*store.snapshots, SnapshotCriteria::up_to(7)), None);
    assert_eq!(load(&*store.snapshots, criteria(7, u64::MAX)), None);
}

pub(crate) fn loading_the_latest_finds_the_newest_snapshot(store: &Store) {
    save_fixture(&*store.snapshots);
    assert_eq!(
        load(&*store.snapshots, SnapshotCriteria::LATEST),
        Some(("s-5".into(), md(4)))
    );
}

pub(crate) fn loading_with_a_sequence_bound_finds_the_newest_at_or_below_it(store: &Store) {
    save_fixture(&*store.snapshots);
    assert_eq!(
        load(&*store.snapshots, SnapshotCriteria::up_to(13)),
        Some(("s-3".into(), md(2)))
    );
    assert_eq!(
        load(&*store.snapshots, criteria(13, u64::MAX)),
        Some(("s-3".into(), md(2)))
    );
}

pub(crate) fn loading_with_sequence_and_timestamp_bounds_finds_the_newest_within_both(
    store: &Store,
) {
    save_fixture(&*store.snapshots);
    assert_eq!(
        load(&*store.snapshots, criteria(13, md(2).timestamp_ms)),
        Some(("s-3".into(), md(2)))
    );
}

pub(crate) fn deleting_one_snapshot_ignores_its_timestamp_and_leaves_the_older_ones(store: &Store) {
    save_fixture(&*store.snapshots);
    let without_timestamp = SnapshotMetadata {
        timestamp_ms: 0,
        ..md(2)
    };
    store.snapshots.delete(&without_timestamp).unwrap();
    assert_eq!(
        load(&*store.snapshots, SnapshotCriteria::up_to(13)),
        Some(("s-2".into(), md(1)))
    );
}

pub(crate) fn deleting_matching_snapshots_removes_all_within_the_criteria(store: &Store) {
    save_fixture(&*store.snapshots);
    store
        .snapshots
        .delete_matching(&pid(), criteria(13, md(2).timestamp_ms))
        .unwrap();
    assert_eq!(
        load(&*store.snapshots, criteria(13, md(2).timestamp_ms)),
        None
    );
    assert_eq!(
        load(&*store.snapshots, criteria(14, md(3).timestamp_ms)),
        Some(("s-4".into(), md(3)))
    );
}

pub(crate) fn deleting_matching_snapshots_keeps_those_outside_the_timestamp_bound(store: &Store) {
    save_fixture(&*store.snapshots);
    store
        .snapshots
        .delete_matching(&pid(), criteria(14, md(3).timestamp_ms - 1))
        .unwrap();
    assert_eq!(
        load(&*store.snapshots, criteria(14, md(3).timestamp_ms)),
        Some(("s-4".into(), md(3)))
    );
    assert_eq!(load(&*store.snapshots, SnapshotCriteria::up_to(13)), None);
}

pub(crate) fn saving_at_an_existing_sequence_number_replaces_the_snapshot(store: &Store) {
    save_fixture(&*store.snapshots);
    let modified = SnapshotMetadata {
        timestamp_ms: md(4).timestamp_ms + 1,
        ..md(4)
    };
    store
        .snapshots
        .save(snapshot(modified.clone(), "s-5-modified"))
        .unwrap();
    assert_eq!(
        load(&*store.snapshots, SnapshotCriteria::up_to(15)),
        Some(("s-5-modified".into(), modified))
    );
}

pub(crate) fn a_large_snapshot_is_saved_and_loaded(store: &Store) {
    save_fixture(&*store.snapshots);
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let metadata = SnapshotMetadata {
        persistence_id: pid(),
        sequence_nr: 100,
        timestamp_ms: SNAPSHOT_TIME + 10_000,
    };
    let large = StoredSnapshot {
        metadata: metadata.clone(),
        manifest: Manifest::new("Bytes", 1),
        payload: payload.clone(),
    };
    store.snapshots.save(large.clone()).unwrap();
    let loaded = store
        .snapshots
        .load(&pid(), SnapshotCriteria::up_to(100))
        .unwrap();
    assert_eq!(loaded, Some(large));
}

pub(crate) fn a_snapshot_of_a_user_type_round_trips(store: &Store) {
    save_fixture(&*store.snapshots);
    let metadata = SnapshotMetadata {
        persistence_id: pid(),
        sequence_nr: 20,
        timestamp_ms: SNAPSHOT_TIME + 20_000,
    };
    let state = StoredSnapshot {
        metadata,
        manifest: Manifest::new("AccountOpened", 2),
        payload: rmp_serde::to_vec_named(&account_opened()).unwrap(),
    };
    store.snapshots.save(state).unwrap();
    let loaded = store
        .snapshots
        .load(&pid(), SnapshotCriteria::LATEST)
        .unwrap()
        .unwrap();
    assert_eq!(loaded.manifest, Manifest::new("AccountOpened", 2));
    let decoded: AccountOpened = rmp_serde::from_slice(&loaded.payload).unwrap();
    assert_eq!(decoded, account_opened());
}
