//! Managing a projection: pause, resume, set offset, status; one instance per id; live
//! events; consistent reads from other threads.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use reactant::projection::{Projection, ProjectionState};

use super::common::{self, QUIET, eventually};
use super::*;

pub(crate) fn pause_stops_handling_and_resume_goes_on(backend: Backend) {
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

pub(crate) fn set_offset_moves_the_projection(backend: Backend) {
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

pub(crate) fn an_event_that_cannot_be_decoded_fails_the_projection_until_set_offset_skips_it(
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

pub(crate) fn status_reports_head_lag_and_state(backend: Backend) {
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

pub(crate) fn one_projection_per_id_runs_at_a_time(backend: Backend) {
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

pub(crate) fn live_events_are_handled_as_they_are_committed(backend: Backend) {
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

pub(crate) fn reads_from_other_threads_see_whole_transactions(backend: Backend) {
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
