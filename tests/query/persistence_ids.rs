//! Persistence ids, current and live (Pekko's `AllPersistenceIdsSpec`).

use std::collections::BTreeSet;

use reactant::persistence::PersistenceId;

use super::{Kit, WAIT};
use crate::common;

fn ids(names: &[&str]) -> BTreeSet<PersistenceId> {
    names
        .iter()
        .map(|name| PersistenceId::of("note", name))
        .collect()
}

pub(crate) fn current_lists_each_stream_once(kit: Kit) {
    for name in ["a", "b", "c"] {
        kit.note(name, &format!("{name}1"));
        kit.note(name, &format!("{name}2"));
    }
    let listed: Vec<PersistenceId> = kit
        .query()
        .current_persistence_ids()
        .collect::<Result<_, _>>()
        .expect("lists");
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(
        listed.into_iter().collect::<BTreeSet<_>>(),
        ids(&["a", "b", "c"])
    );
}

pub(crate) fn live_finds_new_persistence_ids(kit: Kit) {
    for name in ["a", "b", "c", "d"] {
        kit.note(name, &format!("{name}1"));
    }
    let mut live = kit.query().persistence_ids();
    let first: BTreeSet<PersistenceId> = (0..4)
        .map(|_| live.next_timeout(WAIT).expect("an id").expect("no error"))
        .collect();
    assert_eq!(first, ids(&["a", "b", "c", "d"]));
    kit.note("a", "a2");
    kit.note("e", "e1");
    assert_eq!(
        live.next_timeout(WAIT).expect("an id").expect("no error"),
        PersistenceId::of("note", "e")
    );
    let more: Vec<String> = (1..=100).map(|n| format!("f{n}")).collect();
    for name in &more {
        kit.note(name, name);
    }
    let seen: BTreeSet<PersistenceId> = (0..100)
        .map(|_| live.next_timeout(WAIT).expect("an id").expect("no error"))
        .collect();
    let names: Vec<&str> = more.iter().map(String::as_str).collect();
    assert_eq!(seen, ids(&names));
    assert!(
        live.next_timeout(std::time::Duration::from_millis(150))
            .is_none()
    );
}

pub(crate) fn live_to_an_actor_delivers_each_id_once(kit: Kit) {
    kit.note("a", "a1");
    let (listener, rx) = kit.forwarder("ids", |id: PersistenceId| id);
    let _subscription = kit.query().persistence_ids_to(&listener).expect("starts");
    assert_eq!(common::recv(&rx), PersistenceId::of("note", "a"));
    kit.note("b", "b1");
    kit.note("a", "a2");
    kit.note("b", "b2");
    assert_eq!(common::recv(&rx), PersistenceId::of("note", "b"));
    common::assert_quiet(&rx);
}
