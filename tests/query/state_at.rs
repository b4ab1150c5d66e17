//! The state of an entity at a past point.

use std::time::{Duration, SystemTime};

use reactant::query::{At, QueryError};

use super::{Kit, Notes};

pub(crate) fn the_state_at_a_sequence_number(kit: Kit) {
    // Notes snapshots every 4 events: the points below lie before, at and after snapshots.
    for n in 1..=10 {
        kit.note("s", &format!("s-{n}"));
    }
    for n in [0u64, 1, 3, 4, 5, 8, 9, 10] {
        let state = kit
            .persistence
            .state_at::<Notes>("s", At::Sequence(n))
            .expect("rebuilds");
        assert_eq!(state.count, n, "at {n}");
        let last = if n == 0 {
            String::new()
        } else {
            format!("s-{n}")
        };
        assert_eq!(state.last, last, "at {n}");
    }
    let beyond = kit
        .persistence
        .state_at::<Notes>("s", At::Sequence(99))
        .expect("rebuilds");
    assert_eq!(beyond.count, 10);
    let unknown = kit
        .persistence
        .state_at::<Notes>("nobody", At::Sequence(5))
        .expect("an empty state");
    assert_eq!(unknown.count, 0);
}

pub(crate) fn the_state_at_a_time(kit: Kit) {
    kit.note("t", "t-1");
    kit.note("t", "t-2");
    std::thread::sleep(Duration::from_millis(20));
    let between = SystemTime::now();
    std::thread::sleep(Duration::from_millis(20));
    kit.note("t", "t-3");
    let state = kit
        .persistence
        .state_at::<Notes>("t", At::Time(between))
        .expect("rebuilds");
    assert_eq!((state.count, state.last.as_str()), (2, "t-2"));
    let before = kit
        .persistence
        .state_at::<Notes>("t", At::Time(SystemTime::UNIX_EPOCH))
        .expect("rebuilds");
    assert_eq!(before.count, 0);
    let now = kit
        .persistence
        .state_at::<Notes>("t", At::Time(SystemTime::now()))
        .expect("rebuilds");
    assert_eq!(now.count, 3);
}

pub(crate) fn the_state_before_deleted_events_without_a_snapshot_is_refused(kit: Kit) {
    kit.setup("d");
    kit.delete_to("d", 2);
    match kit.persistence.state_at::<Notes>("d", At::Sequence(3)) {
        Err(QueryError::Deleted { from: 1, to: 2, .. }) => {}
        other => panic!(
            "expected the deleted events named, got {:?}",
            other.map(|s| s.count)
        ),
    }
    kit.delete_to("d", 3);
    match kit.persistence.state_at::<Notes>("d", At::Sequence(3)) {
        Err(QueryError::Deleted { from: 1, to: 3, .. }) => {}
        other => panic!(
            "expected the deleted events named, got {:?}",
            other.map(|s| s.count)
        ),
    }
}
