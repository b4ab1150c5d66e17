//! At-least-once projections (the offset stored after N envelopes or T) and grouped ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use reactant::projection::Projection;
use reactant::query::EventEnvelope;

use super::common::{self, eventually};
use super::*;

/// An at-least-once projection that sends what it handles to a channel.
pub(crate) fn recording(
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

pub(crate) fn at_least_once_stores_the_offset_after_n_envelopes(backend: Backend) {
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

pub(crate) fn at_least_once_stores_the_offset_after_the_time_bound(backend: Backend) {
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

pub(crate) fn at_least_once_handles_again_what_it_had_not_stored_after_a_failure(backend: Backend) {
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

pub(crate) fn grouped_hands_full_groups_then_the_rest_after_the_time_bound(backend: Backend) {
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

pub(crate) fn grouped_failure_restarts_the_whole_group(backend: Backend) {
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
