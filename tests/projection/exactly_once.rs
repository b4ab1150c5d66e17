//! Exactly-once projections: the read model and the offset in one write, the failure
//! strategies, restarts from the stored offset.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reactant::prelude::*;
use reactant::projection::{HandlerRecovery, Projection, ProjectionState};

use super::common::{self, eventually};
use super::*;

pub(crate) fn exactly_once_stores_the_read_model_and_the_offset_in_one_write(backend: Backend) {
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
                view.offset(&id("concat")).unwrap(),
            )
        })
        .unwrap();
    assert_eq!(
        (row.as_deref(), offset),
        (Some("abc|def|ghi|jkl|mno|pqr"), Some(6))
    );
    system.shutdown();
}

pub(crate) fn exactly_once_restarts_from_the_previous_offset_after_a_handler_failure(
    backend: Backend,
) {
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

pub(crate) fn a_panicking_handler_is_a_failure_like_any_other(backend: Backend) {
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

pub(crate) fn skip_stores_the_offset_without_the_failed_envelopes_writes(backend: Backend) {
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

pub(crate) fn retry_and_skip_tries_again_then_skips(backend: Backend) {
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

pub(crate) fn retry_and_fail_tries_again_then_fails_keeping_the_offset(backend: Backend) {
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

pub(crate) fn a_retry_that_succeeds_goes_on(backend: Backend) {
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

pub(crate) fn a_cleared_offset_rebuilds_the_read_model_from_the_beginning(backend: Backend) {
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

pub(crate) fn a_projection_started_again_goes_on_from_its_stored_offset(backend: Backend) {
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
