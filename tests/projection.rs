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

use reactant::persistence::{
    AtomicWrite, Codec, Effect, Entity, Event, Journal, Manifest, MessagePack, Persistence,
    PersistenceId, PersistentRepr,
};
use reactant::projection::{
    HandlerError, Projection, ProjectionId, ProjectionRef, ReadStore, Source, Table, Transaction,
};
use reactant::query::EventEnvelope;
use serde::{Deserialize, Serialize};

use common::eventually;

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
        let first = self.journal().highest_sequence_nr(&id).unwrap() + 1;
        for (next, text) in (first..).zip(texts) {
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
                super::exactly_once::exactly_once_stores_the_read_model_and_the_offset_in_one_write(super::$backend())
            }
            #[test]
            fn exactly_once_restarts_from_the_previous_offset_after_a_handler_failure() {
                super::exactly_once::exactly_once_restarts_from_the_previous_offset_after_a_handler_failure(super::$backend())
            }
            #[test]
            fn a_panicking_handler_is_a_failure_like_any_other() {
                super::exactly_once::a_panicking_handler_is_a_failure_like_any_other(super::$backend())
            }
            #[test]
            fn skip_stores_the_offset_without_the_failed_envelopes_writes() {
                super::exactly_once::skip_stores_the_offset_without_the_failed_envelopes_writes(super::$backend())
            }
            #[test]
            fn retry_and_skip_tries_again_then_skips() {
                super::exactly_once::retry_and_skip_tries_again_then_skips(super::$backend())
            }
            #[test]
            fn retry_and_fail_tries_again_then_fails_keeping_the_offset() {
                super::exactly_once::retry_and_fail_tries_again_then_fails_keeping_the_offset(super::$backend())
            }
            #[test]
            fn a_retry_that_succeeds_goes_on() {
                super::exactly_once::a_retry_that_succeeds_goes_on(super::$backend())
            }
            #[test]
            fn a_cleared_offset_rebuilds_the_read_model_from_the_beginning() {
                super::exactly_once::a_cleared_offset_rebuilds_the_read_model_from_the_beginning(super::$backend())
            }
            #[test]
            fn a_projection_started_again_goes_on_from_its_stored_offset() {
                super::exactly_once::a_projection_started_again_goes_on_from_its_stored_offset(super::$backend())
            }
            #[test]
            fn at_least_once_stores_the_offset_after_n_envelopes() {
                super::at_least_once_and_grouped::at_least_once_stores_the_offset_after_n_envelopes(super::$backend())
            }
            #[test]
            fn at_least_once_stores_the_offset_after_the_time_bound() {
                super::at_least_once_and_grouped::at_least_once_stores_the_offset_after_the_time_bound(super::$backend())
            }
            #[test]
            fn at_least_once_handles_again_what_it_had_not_stored_after_a_failure() {
                super::at_least_once_and_grouped::at_least_once_handles_again_what_it_had_not_stored_after_a_failure(super::$backend())
            }
            #[test]
            fn grouped_hands_full_groups_then_the_rest_after_the_time_bound() {
                super::at_least_once_and_grouped::grouped_hands_full_groups_then_the_rest_after_the_time_bound(super::$backend())
            }
            #[test]
            fn grouped_failure_restarts_the_whole_group() {
                super::at_least_once_and_grouped::grouped_failure_restarts_the_whole_group(super::$backend())
            }
            #[test]
            fn pause_stops_handling_and_resume_goes_on() {
                super::management::pause_stops_handling_and_resume_goes_on(super::$backend())
            }
            #[test]
            fn set_offset_moves_the_projection() {
                super::management::set_offset_moves_the_projection(super::$backend())
            }
            #[test]
            fn an_event_that_cannot_be_decoded_fails_the_projection_until_set_offset_skips_it() {
                super::management::an_event_that_cannot_be_decoded_fails_the_projection_until_set_offset_skips_it(super::$backend())
            }
            #[test]
            fn status_reports_head_lag_and_state() {
                super::management::status_reports_head_lag_and_state(super::$backend())
            }
            #[test]
            fn one_projection_per_id_runs_at_a_time() {
                super::management::one_projection_per_id_runs_at_a_time(super::$backend())
            }
            #[test]
            fn live_events_are_handled_as_they_are_committed() {
                super::management::live_events_are_handled_as_they_are_committed(super::$backend())
            }
            #[test]
            fn reads_from_other_threads_see_whole_transactions() {
                super::management::reads_from_other_threads_see_whole_transactions(super::$backend())
            }
        }
    };
}

#[path = "projection/at_least_once_and_grouped.rs"]
mod at_least_once_and_grouped;
#[path = "projection/exactly_once.rs"]
mod exactly_once;
#[path = "projection/management.rs"]
mod management;

cases!(in_memory);
#[cfg(feature = "rocksdb")]
cases!(rocks);
