//! Projections: a port of the behaviours of Apache Pekko Projection's JDBC projection spec
//! (exactly-once, at-least-once, grouped; failure strategies; offset management) and of the
//! read store's contract, run against both backends — in memory always, RocksDB (the read
//! store in the journal's database) with the `rocksdb` feature.
//!
//! Events are written straight to the journal (as an entity's writes store them), six of
//! them for one entity in most cases: "abc", "def", "ghi", "jkl", "mno", "pqr", as in Pekko's
//! spec; the read model concatenates them per entity, so a duplicate or a loss shows.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use reactant::persistence::{
    AtomicWrite, Codec, Effect, Entity, Event, Journal, Manifest, MessagePack, Persistence,
    PersistenceId, PersistentRepr,
};
use reactant::prelude::*;
use reactant::projection::{
    HandlerError, HandlerRecovery, Projection, ProjectionId, ProjectionRef, ProjectionState,
    ReadStore, Source, Table, Transaction,
};
use reactant::query::EventEnvelope;
use serde::{Deserialize, Serialize};

use common::{QUIET, eventually};

// ---------------------------------------------------------------------------------------------
// Fixture

/// A string noted by an entity, tagged "note".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Noted(String);

impl Event for Noted {
    fn tags(&self) -> Vec<String> {
        vec!["note".to_owned()]
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Notes;

impl Entity for Notes {
    const TYPE_KEY: &'static str = "note";
    type Event = Noted;
    type Command = ();
    fn apply(&mut self, _: &Noted) {}
    fn handle_command(&self, (): ()) -> Effect<Noted, Self> {
        Effect::none()
    }
}

/// A journal, a persistence over it and a read store beside it.
struct Backend {
    persistence: Arc<Persistence>,
    store: ReadStore,
    #[cfg(feature = "rocksdb")]
    _folder: Option<tempfile::TempDir>,
}

impl Backend {
    fn journal(&self) -> &Arc<dyn Journal> {
        self.persistence.journal()
    }

    /// Writes `texts` as the next events of `entity`, each its own write.
    fn note(&self, entity: &str, texts: &[&str]) {
        let id = PersistenceId::of("note", entity);
        let mut next = self.journal().highest_sequence_nr(&id).unwrap() + 1;
        for text in texts {
            let event = Noted((*text).to_owned());
            let repr = PersistentRepr {
                persistence_id: id.clone(),
                sequence_nr: next,
                manifest: <Noted as Event>::manifest(),
                payload: MessagePack.encode(&event).unwrap(),
                tags: event.tags(),
                writer_id: "test".into(),
                timestamp_ms: 0,
                offset: 0,
            };
            let results = self
                .journal()
                .write(&[AtomicWrite { events: vec![repr] }])
                .unwrap();
            assert!(results[0].is_ok());
            next += 1;
        }
    }

    /// Writes a payload that no `Noted` reads.
    fn note_garbage(&self, entity: &str) {
        let id = PersistenceId::of("note", entity);
        let next = self.journal().highest_sequence_nr(&id).unwrap() + 1;
        let repr = PersistentRepr {
            persistence_id: id,
            sequence_nr: next,
            manifest: Manifest::new("Garbage", 1),
            payload: vec![0xc1],
            tags: vec!["note".to_owned()],
            writer_id: "test".into(),
            timestamp_ms: 0,
            offset: 0,
        };
        self.journal()
            .write(&[AtomicWrite { events: vec![repr] }])
            .unwrap();
    }

    fn source(&self) -> Source<Noted> {
        Source::events_by_tag::<Notes>(&self.persistence, "note")
    }
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

const SIX: [&str; 6] = ["abc", "def", "ghi", "jkl", "mno", "pqr"];

fn id(name: &str) -> ProjectionId {
    ProjectionId::new(name, "all")
}

/// The concatenation read model: entity → "abc|def|…".
fn concat_table(store: &ReadStore) -> Table<String, String> {
    store.table("concat")
}

/// Appends the envelope's text to its entity's row.
fn append(
    tx: &mut Transaction,
    table: &Table<String, String>,
    envelope: &EventEnvelope<Noted>,
) -> Result<(), HandlerError> {
    let entity = envelope.persistence_id.to_string();
    tx.update(table, &entity, |row| {
        Some(match row {
            Some(row) => format!("{row}|{}", envelope.event.0),
            None => envelope.event.0.clone(),
        })
    })?;
    Ok(())
}

fn concat_of(backend: &Backend, entity: &str) -> Option<String> {
    concat_table(&backend.store)
        .get(&format!("note|{entity}"))
        .unwrap()
}

/// Waits until the projection's handled offset is `offset`.
#[track_caller]
fn await_offset(projection: &ProjectionRef, offset: u64) {
    assert!(
        eventually(|| projection.status().unwrap().offset == Some(offset)),
        "the projection did not reach offset {offset}: {:?}",
        projection.status()
    );
}

fn fast_backoff<E: Send + 'static>(projection: Projection<E>) -> Projection<E> {
    projection.with_restart_backoff(Duration::from_millis(10), Duration::from_millis(50), 0.0)
}

/// An exactly-once projection that appends, failing on "jkl" while `fail_while` says so.
fn failing_on_jkl(
    backend: &Backend,
    name: &str,
    attempts: Arc<AtomicU32>,
    fail_while: impl Fn(u32) -> bool + Send + 'static,
    panics: bool,
) -> Projection<Noted> {
    let table = concat_table(&backend.store);
    Projection::exactly_once(
        id(name),
        backend.source(),
        &backend.store,
        move |tx, envelope| {
            if envelope.event.0 == "jkl" {
                let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                if fail_while(attempt) {
                    if panics {
                        panic!("no jkl today (attempt {attempt})");
                    }
                    return Err(format!("no jkl today (attempt {attempt})").into());
                }
            }
            append(tx, &table, envelope)
        },
    )
}

// ---------------------------------------------------------------------------------------------
// The cases, run per backend

macro_rules! cases {
    ($backend:ident) => {
        mod $backend {

            #[test]
            fn exactly_once_stores_the_read_model_and_the_offset_in_one_write() {
                super::exactly_once_stores_the_read_model_and_the_offset_in_one_write(super::$backend())
            }
            #[test]
            fn exactly_once_restarts_from_the_previous_offset_after_a_handler_failure() {
                super::exactly_once_restarts_from_the_previous_offset_after_a_handler_failure(super::$backend())
            }
            #[test]
            fn a_panicking_handler_is_a_failure_like_any_other() {
                super::a_panicking_handler_is_a_failure_like_any_other(super::$backend())
            }
            #[test]
            fn skip_stores_the_offset_without_the_failed_envelopes_writes() {
                super::skip_stores_the_offset_without_the_failed_envelopes_writes(super::$backend())
            }
            #[test]
            fn retry_and_skip_tries_again_then_skips() {
                super::retry_and_skip_tries_again_then_skips(super::$backend())
            }
            #[test]
            fn retry_and_fail_tries_again_then_fails_keeping_the_offset() {
                super::retry_and_fail_tries_again_then_fails_keeping_the_offset(super::$backend())
            }
            #[test]
            fn a_retry_that_succeeds_goes_on() {
                super::a_retry_that_succeeds_goes_on(super::$backend())
            }
            #[test]
            fn a_cleared_offset_rebuilds_the_read_model_from_the_beginning() {
                super::a_cleared_offset_rebuilds_the_read_model_from_the_beginning(super::$backend())
            }
            #[test]
            fn a_projection_started_again_goes_on_from_its_stored_offset() {
                super::a_projection_started_again_goes_on_from_its_stored_offset(super::$backend())
            }
            #[test]
            fn at_least_once_stores_the_offset_after_n_envelopes() {
                super::at_least_once_stores_the_offset_after_n_envelopes(super::$backend())
            }
            #[test]
            fn at_least_once_stores_the_offset_after_the_time_bound() {
                super::at_least_once_stores_the_offset_after_the_time_bound(super::$backend())
            }
            #[test]
            fn at_least_once_handles_again_what_it_had_not_stored_after_a_failure() {
                super::at_least_once_handles_again_what_it_had_not_stored_after_a_failure(super::$backend())
            }
            #[test]
            fn grouped_hands_full_groups_then_the_rest_after_the_time_bound() {
                super::grouped_hands_full_groups_then_the_rest_after_the_time_bound(super::$backend())
            }
            #[test]
            fn grouped_failure_restarts_the_whole_group() {
                super::grouped_failure_restarts_the_whole_group(super::$backend())
            }
            #[test]
            fn pause_stops_handling_and_resume_goes_on() {
                super::pause_stops_handling_and_resume_goes_on(super::$backend())
            }
            #[test]
            fn set_offset_moves_the_projection() {
                super::set_offset_moves_the_projection(super::$backend())
            }
            #[test]
            fn an_event_that_cannot_be_decoded_fails_the_projection_until_set_offset_skips_it() {
                super::an_event_that_cannot_be_decoded_fails_the_projection_until_set_offset_skips_it(super::$backend())
            }
            #[test]
            fn status_reports_head_lag_and_state() {
                super::status_reports_head_lag_and_state(super::$backend())
            }
            #[test]
            fn one_projection_per_id_runs_at_a_time() {
                super::one_projection_per_id_runs_at_a_time(super::$backend())
            }
            #[test]
            fn live_events_are_handled_as_they_are_committed() {
                super::live_events_are_handled_as_they_are_committed(super::$backend())
            }
            #[test]
            fn reads_from_other_threads_see_whole_transactions() {
                super::reads_from_other_threads_see_whole_transactions(super::$backend())
            }
        }
    };
}

cases!(in_memory);
#[cfg(feature = "rocksdb")]
cases!(rocks);

fn exactly_once_stores_the_read_model_and_the_offset_in_one_write(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    let table = concat_table(&backend.store);
    let projection = Projection::exactly_once(id("concat"), backend.source(), &backend.store, {
        let table = table.clone();
        move |tx, envelope| append(tx, &table, envelope)
    })
    .run(&system)
    .unwrap();
    await_offset(&projection, 6);
    assert_eq!(
        concat_of(&backend, "e-1").as_deref(),
        Some("abc|def|ghi|jkl|mno|pqr")
    );
    // One point in time sees the row and the offset of the same commit.
    let (row, offset) = backend
        .store
        .read(|view| {
            (
                view.get(&table, &"note|e-1".to_owned()).unwrap(),
                backend.store.offset(&id("concat")).unwrap(),
            )
        })
        .unwrap();
    assert_eq!(
        (row.as_deref(), offset),
        (Some("abc|def|ghi|jkl|mno|pqr"), Some(6))
    );
    system.shutdown();
}

fn exactly_once_restarts_from_the_previous_offset_after_a_handler_failure(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    let attempts = Arc::new(AtomicU32::new(0));
    let projection = fast_backoff(failing_on_jkl(
        &backend,
        "restart",
        attempts.clone(),
        |attempt| attempt == 1,
        false,
    ))
    .run(&system)
    .unwrap();
    await_offset(&projection, 6);
    // Restarted from offset 3: nothing before "jkl" handled twice, "jkl" handled once.
    assert_eq!(
        concat_of(&backend, "e-1").as_deref(),
        Some("abc|def|ghi|jkl|mno|pqr")
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(projection.status().unwrap().state, ProjectionState::Running);
    system.shutdown();
}

fn a_panicking_handler_is_a_failure_like_any_other(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    let attempts = Arc::new(AtomicU32::new(0));
    let projection = fast_backoff(failing_on_jkl(
        &backend,
        "panics",
        attempts.clone(),
        |attempt| attempt <= 2,
        true,
    ))
    .run(&system)
    .unwrap();
    await_offset(&projection, 6);
    assert_eq!(
        concat_of(&backend, "e-1").as_deref(),
        Some("abc|def|ghi|jkl|mno|pqr")
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert!(system.live_worker_threads() >= 1);
    system.shutdown();
}

fn skip_stores_the_offset_without_the_failed_envelopes_writes(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    let attempts = Arc::new(AtomicU32::new(0));
    let projection = failing_on_jkl(&backend, "skip", attempts.clone(), |_| true, false)
        .with_recovery(HandlerRecovery::skip())
        .run(&system)
        .unwrap();
    await_offset(&projection, 6);
    assert_eq!(
        concat_of(&backend, "e-1").as_deref(),
        Some("abc|def|ghi|mno|pqr")
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert_eq!(backend.store.offset(&id("skip")).unwrap(), Some(6));
    system.shutdown();
}

fn retry_and_skip_tries_again_then_skips(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    let attempts = Arc::new(AtomicU32::new(0));
    let projection = failing_on_jkl(&backend, "retry-skip", attempts.clone(), |_| true, false)
        .with_recovery(HandlerRecovery::retry_and_skip(3, Duration::from_millis(5)))
        .run(&system)
        .unwrap();
    await_offset(&projection, 6);
    assert_eq!(
        concat_of(&backend, "e-1").as_deref(),
        Some("abc|def|ghi|mno|pqr")
    );
    // The first attempt and three retries.
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    system.shutdown();
}

fn retry_and_fail_tries_again_then_fails_keeping_the_offset(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    let attempts = Arc::new(AtomicU32::new(0));
    // A long backoff: the failed projection waits, showing its failure.
    let projection = failing_on_jkl(&backend, "retry-fail", attempts.clone(), |_| true, false)
        .with_recovery(HandlerRecovery::retry_and_fail(3, Duration::from_millis(5)))
        .with_restart_backoff(Duration::from_secs(60), Duration::from_secs(60), 0.0)
        .run(&system)
        .unwrap();
    assert!(eventually(|| matches!(
        projection.status().unwrap().state,
        ProjectionState::Failed { .. }
    )));
    let status = projection.status().unwrap();
    match &status.state {
        ProjectionState::Failed { error } => assert!(error.contains("no jkl today"), "{error}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    assert_eq!(backend.store.offset(&id("retry-fail")).unwrap(), Some(3));
    assert_eq!(status.offset, Some(3));
    assert_eq!(concat_of(&backend, "e-1").as_deref(), Some("abc|def|ghi"));
    system.shutdown();
}

fn a_retry_that_succeeds_goes_on(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    let attempts = Arc::new(AtomicU32::new(0));
    let projection = failing_on_jkl(&backend, "retry-ok", attempts.clone(), |a| a <= 2, false)
        .with_recovery(HandlerRecovery::retry_and_fail(3, Duration::from_millis(5)))
        .with_restart_backoff(Duration::from_secs(60), Duration::from_secs(60), 0.0)
        .run(&system)
        .unwrap();
    await_offset(&projection, 6);
    assert_eq!(
        concat_of(&backend, "e-1").as_deref(),
        Some("abc|def|ghi|jkl|mno|pqr")
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    system.shutdown();
}

fn a_cleared_offset_rebuilds_the_read_model_from_the_beginning(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    let table = concat_table(&backend.store);
    let other = backend.store.table::<String, u64>("not-declared");
    other.put(&"kept".to_owned(), &1).unwrap();
    let handled = Arc::new(AtomicU32::new(0));
    let projection = Projection::exactly_once(id("rebuild"), backend.source(), &backend.store, {
        let (table, handled) = (table.clone(), handled.clone());
        move |tx, envelope| {
            handled.fetch_add(1, Ordering::SeqCst);
            append(tx, &table, envelope)
        }
    })
    .with_table(&table)
    .run(&system)
    .unwrap();
    await_offset(&projection, 6);
    projection.pause().wait(common::WAIT).unwrap().unwrap();
    projection
        .clear_offset()
        .wait(common::WAIT)
        .unwrap()
        .unwrap();
    assert_eq!(backend.store.offset(&id("rebuild")).unwrap(), None);
    assert_eq!(
        concat_of(&backend, "e-1"),
        None,
        "the declared table is cleared"
    );
    assert_eq!(other.get(&"kept".to_owned()).unwrap(), Some(1));
    projection.resume().wait(common::WAIT).unwrap().unwrap();
    await_offset(&projection, 6);
    assert_eq!(
        concat_of(&backend, "e-1").as_deref(),
        Some("abc|def|ghi|jkl|mno|pqr")
    );
    assert_eq!(handled.load(Ordering::SeqCst), 12);
    system.shutdown();
}

fn a_projection_started_again_goes_on_from_its_stored_offset(backend: Backend) {
    let table = concat_table(&backend.store);
    let run = |system: &ActorSystem| {
        let table = table.clone();
        Projection::exactly_once(
            id("again"),
            backend.source(),
            &backend.store,
            move |tx, e| append(tx, &table, e),
        )
        .run(system)
        .unwrap()
    };
    backend.note("e-1", &SIX[..3]);
    let system = common::system("projection");
    let projection = run(&system);
    await_offset(&projection, 3);
    system.shutdown();
    backend.note("e-1", &SIX[3..]);
    let system = common::system("projection-again");
    let projection = run(&system);
    await_offset(&projection, 6);
    assert_eq!(
        concat_of(&backend, "e-1").as_deref(),
        Some("abc|def|ghi|jkl|mno|pqr")
    );
    system.shutdown();
}

/// An at-least-once projection that sends what it handles to a channel.
fn recording(
    backend: &Backend,
    name: &str,
    fail_on: Option<&'static str>,
) -> (Projection<Noted>, crossbeam_channel::Receiver<u64>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let failed = Arc::new(AtomicU32::new(0));
    let projection = Projection::at_least_once(id(name), backend.source(), move |envelope| {
        if Some(envelope.event.0.as_str()) == fail_on && failed.fetch_add(1, Ordering::SeqCst) == 0
        {
            return Err("failing once".into());
        }
        tx.send(envelope.offset).unwrap();
        Ok(())
    });
    (projection, rx)
}

fn at_least_once_stores_the_offset_after_n_envelopes(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    backend.note("e-1", &["stu"]);
    let (projection, handled) = recording(&backend, "every-3", None);
    let projection = projection
        .save_offset_after(3, Duration::from_secs(3600))
        .run(&system)
        .unwrap();
    assert_eq!(common::recv_n(&handled, 7), [1, 2, 3, 4, 5, 6, 7]);
    // Stored at 3 and at 6; the seventh waits for two more envelopes or an hour.
    let stored = || {
        backend
            .journal()
            .projection_offset("every-3", "all")
            .unwrap()
    };
    assert!(eventually(|| projection.status().unwrap().offset == Some(7)));
    assert_eq!(stored(), Some(6));
    projection.stop();
    // Stopping stores what was handled.
    assert!(eventually(|| stored() == Some(7)));
    system.shutdown();
}

fn at_least_once_stores_the_offset_after_the_time_bound(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX[..3]);
    let (projection, handled) = recording(&backend, "timed", None);
    let _projection = projection
        .save_offset_after(1_000, Duration::from_millis(50))
        .run(&system)
        .unwrap();
    assert_eq!(common::recv_n(&handled, 3), [1, 2, 3]);
    assert!(eventually(|| backend
        .journal()
        .projection_offset("timed", "all")
        .unwrap()
        == Some(3)));
    system.shutdown();
}

fn at_least_once_handles_again_what_it_had_not_stored_after_a_failure(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    let (projection, handled) = recording(&backend, "again", Some("jkl"));
    let projection = fast_backoff(projection)
        .save_offset_after(2, Duration::from_secs(3600))
        .run(&system)
        .unwrap();
    // 1, 2 stored; 3 handled, not stored until the failure on 4 stores it; then 4.. again.
    let seen = common::recv_n(&handled, 6);
    assert_eq!(seen, [1, 2, 3, 4, 5, 6]);
    await_offset(&projection, 6);
    common::assert_quiet(&handled);
    system.shutdown();
}

fn grouped_hands_full_groups_then_the_rest_after_the_time_bound(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    backend.note("e-1", &["stu"]);
    let groups = Arc::new(Mutex::new(Vec::new()));
    let table = concat_table(&backend.store);
    let projection = Projection::grouped(id("grouped"), backend.source(), &backend.store, {
        let (groups, table) = (groups.clone(), table.clone());
        move |tx, envelopes: &[EventEnvelope<Noted>]| {
            groups
                .lock()
                .push(envelopes.iter().map(|e| e.offset).collect::<Vec<_>>());
            for envelope in envelopes {
                append(tx, &table, envelope)?;
            }
            Ok(())
        }
    })
    .group_within(3, Duration::from_millis(100))
    .run(&system)
    .unwrap();
    await_offset(&projection, 7);
    assert_eq!(*groups.lock(), [vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    assert_eq!(
        concat_of(&backend, "e-1").as_deref(),
        Some("abc|def|ghi|jkl|mno|pqr|stu")
    );
    assert_eq!(backend.store.offset(&id("grouped")).unwrap(), Some(7));
    system.shutdown();
}

fn grouped_failure_restarts_the_whole_group(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    let table = concat_table(&backend.store);
    let attempts = Arc::new(AtomicU32::new(0));
    let projection = fast_backoff(Projection::grouped(
        id("grouped-fail"),
        backend.source(),
        &backend.store,
        {
            let (attempts, table) = (attempts.clone(), table.clone());
            move |tx, envelopes: &[EventEnvelope<Noted>]| {
                for envelope in envelopes {
                    append(tx, &table, envelope)?;
                    if envelope.event.0 == "jkl" && attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                        return Err("half a group written".into());
                    }
                }
                Ok(())
            }
        },
    ))
    .group_within(3, Duration::from_millis(100))
    .run(&system)
    .unwrap();
    await_offset(&projection, 6);
    // The failed group's writes were never committed: no "jkl" twice.
    assert_eq!(
        concat_of(&backend, "e-1").as_deref(),
        Some("abc|def|ghi|jkl|mno|pqr")
    );
    system.shutdown();
}

fn pause_stops_handling_and_resume_goes_on(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX[..3]);
    let table = concat_table(&backend.store);
    let projection = Projection::exactly_once(id("pause"), backend.source(), &backend.store, {
        let table = table.clone();
        move |tx, envelope| append(tx, &table, envelope)
    })
    .run(&system)
    .unwrap();
    await_offset(&projection, 3);
    projection.pause().wait(common::WAIT).unwrap().unwrap();
    assert_eq!(projection.status().unwrap().state, ProjectionState::Paused);
    backend.note("e-1", &SIX[3..]);
    std::thread::sleep(QUIET);
    let status = projection.status().unwrap();
    assert_eq!((status.offset, status.lag_events), (Some(3), 3));
    assert_eq!(concat_of(&backend, "e-1").as_deref(), Some("abc|def|ghi"));
    projection.resume().wait(common::WAIT).unwrap().unwrap();
    await_offset(&projection, 6);
    assert_eq!(
        concat_of(&backend, "e-1").as_deref(),
        Some("abc|def|ghi|jkl|mno|pqr")
    );
    assert_eq!(projection.status().unwrap().state, ProjectionState::Running);
    system.shutdown();
}

fn set_offset_moves_the_projection(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let projection = Projection::exactly_once(id("set"), backend.source(), &backend.store, {
        let seen = seen.clone();
        move |_, envelope| {
            seen.lock().push(envelope.offset);
            Ok(())
        }
    })
    .run(&system)
    .unwrap();
    await_offset(&projection, 6);
    projection
        .set_offset(4)
        .wait(common::WAIT)
        .unwrap()
        .unwrap();
    await_offset(&projection, 6);
    assert!(eventually(|| seen.lock().len() == 8));
    assert_eq!(*seen.lock(), [1, 2, 3, 4, 5, 6, 5, 6]);
    system.shutdown();
}

fn an_event_that_cannot_be_decoded_fails_the_projection_until_set_offset_skips_it(
    backend: Backend,
) {
    let system = common::system("projection");
    backend.note("e-1", &SIX[..2]);
    backend.note_garbage("e-1");
    backend.note("e-1", &SIX[2..3]);
    let table = concat_table(&backend.store);
    let projection = fast_backoff(Projection::exactly_once(
        id("poison"),
        backend.source(),
        &backend.store,
        {
            let table = table.clone();
            move |tx, envelope| append(tx, &table, envelope)
        },
    ))
    .run(&system)
    .unwrap();
    assert!(eventually(|| matches!(
        projection.status().unwrap().state,
        ProjectionState::Failed { ref error } if error.contains("cannot be decoded")
    )));
    assert_eq!(projection.status().unwrap().offset, Some(2));
    projection
        .set_offset(3)
        .wait(common::WAIT)
        .unwrap()
        .unwrap();
    await_offset(&projection, 4);
    assert_eq!(concat_of(&backend, "e-1").as_deref(), Some("abc|def|ghi"));
    system.shutdown();
}

fn status_reports_head_lag_and_state(backend: Backend) {
    let system = common::system("projection");
    backend.note("e-1", &SIX);
    let projection = Projection::exactly_once(
        id("status"),
        backend.source(),
        &backend.store,
        |_, _| Ok(()),
    )
    .run(&system)
    .unwrap();
    await_offset(&projection, 6);
    let status = projection.status().unwrap();
    assert_eq!(status.id, id("status"));
    assert_eq!(
        (status.head, status.lag_events, status.lag),
        (6, 0, Duration::ZERO)
    );
    assert_eq!(status.state, ProjectionState::Running);
    projection.pause().wait(common::WAIT).unwrap().unwrap();
    backend.note("e-2", &["x", "y"]);
    let status = projection.status().unwrap();
    assert_eq!((status.head, status.lag_events), (8, 2));
    // The test wrote its events with timestamp 0: they are very old.
    assert!(status.lag > Duration::from_secs(3600));
    system.shutdown();
}

fn one_projection_per_id_runs_at_a_time(backend: Backend) {
    let system = common::system("projection");
    let make = || {
        Projection::exactly_once(
            id("single"),
            backend.source(),
            &backend.store,
            |_, _| Ok(()),
        )
    };
    let _running = make().run(&system).unwrap();
    let error = make().run(&system).unwrap_err();
    assert!(
        error.to_string().contains("one instance per projection id"),
        "{error}"
    );
    system.shutdown();
}

fn live_events_are_handled_as_they_are_committed(backend: Backend) {
    let system = common::system("projection");
    let table = concat_table(&backend.store);
    let projection = Projection::exactly_once(id("live"), backend.source(), &backend.store, {
        let table = table.clone();
        move |tx, envelope| append(tx, &table, envelope)
    })
    .run(&system)
    .unwrap();
    for (n, text) in SIX.iter().enumerate() {
        backend.note("e-1", &[text]);
        await_offset(&projection, n as u64 + 1);
    }
    assert_eq!(
        concat_of(&backend, "e-1").as_deref(),
        Some("abc|def|ghi|jkl|mno|pqr")
    );
    system.shutdown();
}

fn reads_from_other_threads_see_whole_transactions(backend: Backend) {
    // Transfers between two rows: every read of both rows at one point sees the same total.
    let store = backend.store.clone();
    let accounts = store.table::<u8, i64>("accounts");
    accounts.put(&0, &1_000).unwrap();
    accounts.put(&1, &0).unwrap();
    let writer = {
        let (store, accounts) = (store.clone(), accounts.clone());
        std::thread::spawn(move || {
            for _ in 0..500 {
                let mut tx = store.transaction();
                tx.update(&accounts, &0, |v| v.map(|v| v - 1)).unwrap();
                tx.update(&accounts, &1, |v| v.map(|v| v + 1)).unwrap();
                store.commit(tx).unwrap();
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        let total: i64 = store
            .read(|view| {
                view.range(&accounts, ..)
                    .unwrap()
                    .iter()
                    .map(|(_, v)| v)
                    .sum()
            })
            .unwrap();
        assert_eq!(total, 1_000);
        let scanned: i64 = accounts.all().unwrap().iter().map(|(_, v)| v).sum();
        assert_eq!(scanned, 1_000);
        reads += 1;
    }
    writer.join().unwrap();
    assert_eq!(accounts.get(&1).unwrap(), Some(500));
}

// ---------------------------------------------------------------------------------------------
// The read store's tables

#[test]
fn tables_scan_in_key_order_by_range_and_prefix() {
    let store = ReadStore::in_memory();
    let orders = store.table::<(String, i32), String>("orders");
    for (customer, n) in [
        ("bob", 2),
        ("alice", -1),
        ("bob", 10),
        ("alice", 3),
        ("al", 7),
    ] {
        orders
            .put(&(customer.to_owned(), n), &format!("{customer}{n}"))
            .unwrap();
    }
    let keys =
        |rows: Vec<((String, i32), String)>| rows.into_iter().map(|(_, v)| v).collect::<Vec<_>>();
    assert_eq!(
        keys(orders.all().unwrap()),
        ["al7", "alice-1", "alice3", "bob2", "bob10"]
    );
    assert_eq!(
        keys(orders.prefix(&"alice").unwrap()),
        ["alice-1", "alice3"]
    );
    assert_eq!(
        keys(
            orders
                .range(("alice".to_owned(), 0)..=("bob".to_owned(), 2))
                .unwrap()
        ),
        ["alice3", "bob2"]
    );
    assert_eq!(
        keys(
            orders
                .range(("alice".to_owned(), 3)..("bob".to_owned(), 2))
                .unwrap()
        ),
        ["alice3"]
    );
    orders.delete(&("al".to_owned(), 7)).unwrap();
    assert_eq!(orders.get(&("al".to_owned(), 7)).unwrap(), None);
    // Another table of the same store keeps its own rows.
    let other = store.table::<String, u8>("orders2");
    other.put(&"x".to_owned(), &1).unwrap();
    orders.clear().unwrap();
    assert!(orders.all().unwrap().is_empty());
    assert_eq!(other.all().unwrap(), [("x".to_owned(), 1)]);
}

#[test]
fn a_table_read_with_another_type_says_so() {
    let store = ReadStore::in_memory();
    store
        .table::<u8, String>("t")
        .put(&1, &"one".to_owned())
        .unwrap();
    let error = store.table::<u8, u64>("t").get(&1).unwrap_err();
    assert!(error.to_string().contains("table `t`"), "{error}");
    let error = store.table::<String, String>("t").all().unwrap_err();
    assert!(
        error.to_string().contains("keys must be plain serde data"),
        "{error}"
    );
}

#[test]
fn a_transaction_reads_its_own_writes_and_commits_at_once() {
    let store = ReadStore::in_memory();
    let counts = store.table::<String, u64>("counts");
    let mut tx = store.transaction();
    for _ in 0..3 {
        tx.update(&counts, &"a".to_owned(), |n| Some(n.unwrap_or(0) + 1))
            .unwrap();
    }
    assert_eq!(tx.get(&counts, &"a".to_owned()).unwrap(), Some(3));
    assert_eq!(counts.get(&"a".to_owned()).unwrap(), None);
    store.commit(tx).unwrap();
    assert_eq!(counts.get(&"a".to_owned()).unwrap(), Some(3));
}

#[cfg(feature = "rocksdb")]
#[test]
fn the_read_store_lives_in_the_journal_and_survives_reopening() {
    use reactant::persistence::rocksdb::RocksJournal;
    let folder = tempfile::tempdir().unwrap();
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        let store = ReadStore::open(&journal).unwrap();
        store
            .table::<String, u64>("t")
            .put(&"k".to_owned(), &7)
            .unwrap();
        journal.save_projection_offset("p", "k", Some(42)).unwrap();
    }
    let journal = RocksJournal::open(folder.path()).unwrap();
    let store = ReadStore::open(&journal).unwrap();
    assert_eq!(
        store
            .table::<String, u64>("t")
            .get(&"k".to_owned())
            .unwrap(),
        Some(7)
    );
    assert_eq!(
        store.offset(&ProjectionId::new("p", "k")).unwrap(),
        Some(42)
    );
    assert_eq!(journal.projection_offset("p", "k").unwrap(), Some(42));
    journal.close();
    let error = store
        .table::<String, u64>("t")
        .put(&"k".to_owned(), &8)
        .unwrap_err();
    assert!(error.to_string().contains("closed"), "{error}");
}
