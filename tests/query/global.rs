//! All events in global order, untyped, current and live.

use reactant::persistence::PersistenceId;
use reactant::query::Offset;

use super::{Kit, WAIT};

pub(crate) fn current_events_are_in_global_order_and_untyped(kit: Kit) {
    kit.note("a", "a green apple");
    kit.note("b", "b1");
    kit.note("a", "a2");
    let all: Vec<_> = kit
        .query()
        .current_events(Offset::Start)
        .collect::<Result<_, _>>()
        .expect("prints");
    let rows: Vec<(u64, String, u64, String)> = all
        .iter()
        .map(|e| {
            (
                e.offset,
                e.persistence_id.to_string(),
                e.sequence_nr,
                e.event.json.clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (1, "note|a".into(), 1, "\"a green apple\"".into()),
            (2, "note|b".into(), 1, "\"b1\"".into()),
            (3, "note|a".into(), 2, "\"a2\"".into()),
        ]
    );
    assert_eq!(all[0].event.manifest.type_name.as_ref(), "Noted");
    assert_eq!(all[0].tags, ["green"]);
    let after: Vec<u64> = kit
        .query()
        .current_events(Offset::After(1))
        .map(|e| e.expect("prints").offset)
        .collect();
    assert_eq!(after, [2, 3]);
}

pub(crate) fn live_events_follow_commits_in_global_order(kit: Kit) {
    kit.note("a", "a1");
    let mut live = kit.query().events(Offset::Start);
    let first = live.next_timeout(WAIT).expect("an event").expect("prints");
    assert_eq!(
        (first.offset, first.persistence_id),
        (1, PersistenceId::of("note", "a"))
    );
    for (n, name) in ["b", "c", "a"].iter().enumerate() {
        kit.note(name, "x");
        let next = live.next_timeout(WAIT).expect("an event").expect("prints");
        assert_eq!(next.offset, n as u64 + 2);
        assert_eq!(next.persistence_id, PersistenceId::of("note", name));
    }
    assert!(
        live.next_timeout(std::time::Duration::from_millis(150))
            .is_none()
    );
}

pub(crate) fn deleted_events_leave_the_global_order(kit: Kit) {
    kit.setup("a");
    kit.note("b", "b1");
    kit.delete_to("a", 2);
    let offsets: Vec<u64> = kit
        .query()
        .current_events(Offset::Start)
        .map(|e| e.expect("prints").offset)
        .collect();
    assert_eq!(offsets, [3, 4]);
}

/// The same once a query has read before the writes (see the tag case of the same name).
pub(crate) fn deleted_events_leave_the_global_order_read_right_after_the_writes(kit: Kit) {
    let offsets = || -> Vec<u64> {
        kit.query()
            .current_events(Offset::Start)
            .map(|e| e.expect("prints").offset)
            .collect()
    };
    assert_eq!(offsets(), [] as [u64; 0]);
    kit.setup("a");
    kit.note("b", "b1");
    assert_eq!(offsets(), [1, 2, 3, 4]);
    kit.delete_to("a", 2);
    assert_eq!(offsets(), [3, 4]);
    kit.note("a", "a3");
    assert_eq!(offsets(), [3, 4, 5]);
}
