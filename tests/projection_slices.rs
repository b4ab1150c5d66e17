//! Sliced projections: an entity type with `#[entity(slices = N)]` tags each event with its
//! entity's slice, and `Projection::run_slices` runs one projection per slice, each with its
//! own offset. Run against both backends — in memory always, RocksDB with the `rocksdb`
//! feature — as `tests/projection.rs` is.
//!
//! Entities write through their actors (so the slice tags are the runtime's, not the test's),
//! round after round, so that the slices' events interleave in the journal. Each read-model
//! row concatenates its entity's rounds: a loss, a duplicate or a reordering shows.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use reactant::persistence::{Entity, Persistence, slice_of, slice_tag};
use reactant::prelude::*;
use reactant::projection::{
    Projection, ProjectionError, ProjectionId, ProjectionRef, ProjectionState, ReadStore, Source,
    Table, Transaction,
};
use reactant::query::{EventEnvelope, Offset};
use serde::{Deserialize, Serialize};

use common::{WAIT, eventually};

// ---------------------------------------------------------------------------------------------
// Fixture

const SLICES: u32 = 4;

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
enum OrderEvent {
    Placed { round: u32 },
}

#[derive(Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "order", event = OrderEvent, slices = 4)]
struct Order {
    rounds: u32,
}

#[entity]
impl Order {
    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::Placed { round } => self.rounds = *round,
        }
    }

    /// Persists round `round`; answers once it is stored.
    pub fn place(&self, round: u32) -> Effect<OrderEvent, ()> {
        Effect::persist(OrderEvent::Placed { round }).then_reply(|_| ())
    }
}

/// A journal, a persistence over it and a read store beside it.
struct Backend {
    persistence: Arc<Persistence>,
    store: ReadStore,
    #[cfg(feature = "rocksdb")]
    _folder: Option<tempfile::TempDir>,
}

fn in_memory() -> Backend {
    Backend {
        persistence: Persistence::in_memory().unwrap(),
        store: ReadStore::in_memory(),
        #[cfg(feature = "rocksdb")]
        _folder: None,
    }
}

#[cfg(feature = "rocksdb")]
fn rocks() -> Backend {
    use reactant::persistence::rocksdb::{Durability, RocksConfig, RocksJournal};
    let folder = tempfile::tempdir().unwrap();
    let journal = RocksJournal::open_with(
        folder.path(),
        RocksConfig {
            durability: Durability::Buffered,
        },
    )
    .unwrap();
    Backend {
        persistence: Persistence::new(journal.clone(), journal.clone()).unwrap(),
        store: ReadStore::open(&journal).unwrap(),
        _folder: Some(folder),
    }
}

/// The entity id of a persistence id `order|{id}`.
fn entity_id(persistence_id: &str) -> &str {
    persistence_id
        .split_once('|')
        .map_or(persistence_id, |(_, id)| id)
}

fn entity_ids(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("o-{n}")).collect()
}

/// Each entity of `ids` persists the rounds `rounds`, round after round (interleaved).
fn place_rounds(
    system: &ActorSystem,
    backend: &Backend,
    ids: &[String],
    rounds: std::ops::RangeInclusive<u32>,
) {
    let orders: Vec<_> = ids
        .iter()
        .map(|id| {
            system
                .spawn(Order::behavior(id, backend.persistence.clone()), id)
                .unwrap()
        })
        .collect();
    for round in rounds {
        for order in &orders {
            order.place(round).wait(WAIT).unwrap();
        }
    }
}

/// Rows: `order|{id}` → "1|2|3..", and `order|{id}` → the slice that handled it.
struct Tables {
    rounds: Table<String, String>,
    slice_of: Table<String, u32>,
}

fn tables(store: &ReadStore) -> Tables {
    Tables {
        rounds: store.table("rounds"),
        slice_of: store.table("slice_of"),
    }
}

/// Appends the envelope's round to its entity's row and notes the slice that handled it.
fn append(
    tx: &mut Transaction,
    tables: &Tables,
    slice: u32,
    envelope: &EventEnvelope<OrderEvent>,
) -> Result<(), reactant::projection::HandlerError> {
    let OrderEvent::Placed { round } = envelope.event;
    let entity = envelope.persistence_id.to_string();
    tx.update(&tables.rounds, &entity, |row| {
        Some(match row {
            Some(row) => format!("{row}|{round}"),
            None => round.to_string(),
        })
    })?;
    tx.put(&tables.slice_of, &entity, &slice)?;
    Ok(())
}

/// The sliced projection "rounds": exactly-once, appending; `hook(slice, envelope)` runs
/// first and fails the envelope if it says so.
fn run_rounds(
    system: &ActorSystem,
    backend: &Backend,
    hook: impl Fn(u32, &EventEnvelope<OrderEvent>) -> Result<(), String> + Clone + Send + 'static,
) -> Vec<ProjectionRef> {
    Projection::run_slices(system, Order::SLICES, |slice| {
        let declared = tables(&backend.store);
        let tables = tables(&backend.store);
        let hook = hook.clone();
        Projection::exactly_once(
            ProjectionId::for_slice("rounds", slice),
            Source::events_by_slice::<Order>(&backend.persistence, slice),
            &backend.store,
            move |tx, envelope| {
                hook(slice, envelope)?;
                append(tx, &tables, slice, envelope)
            },
        )
        .with_restart_backoff(Duration::from_millis(10), Duration::from_millis(50), 0.0)
        .with_table(&declared.rounds)
        .with_table(&declared.slice_of)
    })
    .unwrap()
}

fn expected_row(rounds: std::ops::RangeInclusive<u32>) -> String {
    rounds.map(|r| r.to_string()).collect::<Vec<_>>().join("|")
}

/// Waits until every entity's row reads `expected`.
#[track_caller]
fn await_rows(backend: &Backend, ids: &[String], expected: &str) {
    let rounds = tables(&backend.store).rounds;
    let all_there = || {
        ids.iter()
            .all(|id| rounds.get(&format!("order|{id}")).unwrap().as_deref() == Some(expected))
    };
    assert!(eventually(all_there), "not every row reached {expected:?}");
}

/// The journal's global offset of the last event of each slice.
fn last_offset_per_slice(backend: &Backend) -> BTreeMap<u32, u64> {
    let query = backend.persistence.query();
    (0..SLICES)
        .filter_map(|slice| {
            query
                .current_events_by_tag::<Order>(&slice_tag("order", slice), Offset::Start)
                .map(|envelope| envelope.unwrap().offset)
                .last()
                .map(|offset| (slice, offset))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The cases

fn every_event_is_handled_exactly_once_across_slices_in_each_entitys_order(backend: Backend) {
    let system = common::system("slices");
    let ids = entity_ids(40);
    let slices = run_rounds(&system, &backend, |_, _| Ok(()));
    assert_eq!(slices.len(), SLICES as usize);
    place_rounds(&system, &backend, &ids, 1..=5);
    await_rows(&backend, &ids, &expected_row(1..=5));

    // Each event carries its entity's slice tag, and each slice projection handled exactly
    // its entities.
    let query = backend.persistence.query();
    let mut tagged = 0;
    for slice in 0..SLICES {
        for envelope in
            query.current_events_by_tag::<Order>(&slice_tag("order", slice), Offset::Start)
        {
            let envelope = envelope.unwrap();
            assert_eq!(
                slice_of(entity_id(envelope.persistence_id.as_str()), SLICES),
                slice
            );
            tagged += 1;
        }
    }
    assert_eq!(tagged, ids.len() * 5);
    let slice_table = tables(&backend.store).slice_of;
    let mut used = BTreeSet::new();
    for id in &ids {
        let handled_by = slice_table.get(&format!("order|{id}")).unwrap().unwrap();
        assert_eq!(handled_by, slice_of(id, SLICES), "{id}");
        used.insert(handled_by);
    }
    assert_eq!(used.len(), SLICES as usize, "40 ids fall in every slice");

    // Each slice's offset is the global offset of its own last event.
    let last = last_offset_per_slice(&backend);
    for (slice, projection) in slices.iter().enumerate() {
        let slice = slice as u32;
        assert_eq!(projection.id(), &ProjectionId::for_slice("rounds", slice));
        assert!(eventually(
            || projection.status().unwrap().offset == last.get(&slice).copied()
        ));
        assert_eq!(
            backend.store.offset(projection.id()).unwrap(),
            last.get(&slice).copied()
        );
    }
    system.shutdown();
}

fn each_slice_resumes_from_its_own_offset_after_a_restart(backend: Backend) {
    let ids = entity_ids(20);
    let before = {
        let system = common::system("slices-1");
        let _slices = run_rounds(&system, &backend, |_, _| Ok(()));
        place_rounds(&system, &backend, &ids, 1..=3);
        await_rows(&backend, &ids, &expected_row(1..=3));
        let last = last_offset_per_slice(&backend);
        assert!(eventually(|| (0..SLICES).all(|slice| {
            backend
                .store
                .offset(&ProjectionId::for_slice("rounds", slice))
                .unwrap()
                == last.get(&slice).copied()
        })));
        system.shutdown();
        last
    };
    let offsets: BTreeSet<u64> = before.values().copied().collect();
    assert_eq!(offsets.len(), before.len(), "the slices' offsets differ");

    // Written while no projection runs.
    {
        let system = common::system("slices-2");
        place_rounds(&system, &backend, &ids, 4..=6);
        system.shutdown();
    }

    // Started again: each slice's first envelope comes after its own stored offset.
    let system = common::system("slices-3");
    let first_seen: Arc<Mutex<BTreeMap<u32, u64>>> = Arc::default();
    let seen = first_seen.clone();
    let _slices = run_rounds(&system, &backend, move |slice, envelope| {
        seen.lock().entry(slice).or_insert(envelope.offset);
        Ok(())
    });
    await_rows(&backend, &ids, &expected_row(1..=6));
    let first_seen = first_seen.lock().clone();
    for (slice, stored) in &before {
        let first = first_seen[slice];
        assert!(
            first > *stored,
            "slice {slice} started again at offset {first}, at or before its stored {stored}"
        );
    }
    system.shutdown();
}

fn a_failing_slice_does_not_stop_the_others(backend: Backend) {
    let system = common::system("slices");
    let ids = entity_ids(20);
    let broken = slice_of(&ids[0], SLICES);
    let failing = Arc::new(AtomicBool::new(true));
    let slices = run_rounds(&system, &backend, {
        let failing = failing.clone();
        move |slice, _| {
            if slice == broken && failing.load(Ordering::SeqCst) {
                return Err(format!("slice {slice} is broken"));
            }
            Ok(())
        }
    });
    // The broken slice fails (`HandlerRecovery::fail`, the default) and backs off again and
    // again, handling nothing.
    place_rounds(&system, &backend, &ids, 1..=3);
    let (theirs, others): (Vec<&String>, Vec<&String>) =
        ids.iter().partition(|id| slice_of(id, SLICES) == broken);
    let others: Vec<String> = others.into_iter().cloned().collect();
    await_rows(&backend, &others, &expected_row(1..=3));
    let rounds = tables(&backend.store).rounds;
    for id in &theirs {
        assert_eq!(rounds.get(&format!("order|{id}")).unwrap(), None, "{id}");
    }
    let broken_ref = &slices[broken as usize];
    assert!(eventually(|| matches!(
        broken_ref.status().unwrap().state,
        ProjectionState::Failed { .. }
    )));
    assert_eq!(broken_ref.status().unwrap().offset, None);

    // Mended, it catches up from its stored offset (none: the beginning).
    failing.store(false, Ordering::SeqCst);
    let theirs: Vec<String> = theirs.into_iter().cloned().collect();
    await_rows(&backend, &theirs, &expected_row(1..=3));
    await_rows(&backend, &others, &expected_row(1..=3));
    system.shutdown();
}

fn run_slices_refuses_no_slices_and_stops_what_it_started_when_one_cannot_start(backend: Backend) {
    let system = common::system("slices");
    let make = |slice: u32, name: &str| {
        Projection::at_least_once(
            ProjectionId::new(name, "same-for-all"),
            Source::events_by_slice::<Order>(&backend.persistence, slice),
            |_| Ok(()),
        )
    };
    assert_eq!(
        Projection::run_slices(&system, 0, |slice| make(slice, "none")).unwrap_err(),
        ProjectionError::NoSlices
    );
    // Every slice under one id: the second cannot start, and the first is stopped (its id
    // is free again once it has stopped; left running, it would stay taken).
    let error = Projection::run_slices(&system, 2, |slice| make(slice, "twice")).unwrap_err();
    assert!(matches!(error, ProjectionError::Spawn { .. }), "{error}");
    assert!(
        eventually(|| Projection::run_slices(&system, 1, |slice| make(slice, "twice")).is_ok()),
        "the projection started first was not stopped"
    );
    system.shutdown();
}

// ---------------------------------------------------------------------------------------------
// Per backend

macro_rules! cases {
    ($backend:ident) => {
        mod $backend {
            #[test]
            fn every_event_is_handled_exactly_once_across_slices_in_each_entitys_order() {
                super::every_event_is_handled_exactly_once_across_slices_in_each_entitys_order(
                    super::$backend(),
                )
            }
            #[test]
            fn each_slice_resumes_from_its_own_offset_after_a_restart() {
                super::each_slice_resumes_from_its_own_offset_after_a_restart(super::$backend())
            }
            #[test]
            fn a_failing_slice_does_not_stop_the_others() {
                super::a_failing_slice_does_not_stop_the_others(super::$backend())
            }
            #[test]
            fn run_slices_refuses_no_slices_and_stops_what_it_started_when_one_cannot_start() {
                super::run_slices_refuses_no_slices_and_stops_what_it_started_when_one_cannot_start(
                    super::$backend(),
                )
            }
        }
    };
}

cases!(in_memory);
#[cfg(feature = "rocksdb")]
cases!(rocks);
