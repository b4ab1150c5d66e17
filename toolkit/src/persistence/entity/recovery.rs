//! Recovery: the newest snapshot, then every later event, folded into a state on the
//! persistence id's reader thread, while the entity holds its commands.
//!
//! Everything here is user code or a backend's (the snapshot store, the journal, the codec,
//! `empty_state`, the event handler, upcasters): each call is guarded, and a panic becomes a
//! [`RecoveryError`] naming what panicked, never a dead reader thread. The stream must also
//! make sense: its first replayed event must follow the snapshot the recovery started from
//! (or be event 1), and every event the one before it. A recovery that finds events missing
//! fails loudly instead of handing the entity a state that disagrees with its journal.

use serde::de::DeserializeOwned;

use super::Config;
use crate::persistence::error::{RecoveryCause, RecoveryError};
use crate::persistence::event::Event;
use crate::persistence::journal::SequenceNr;
use crate::persistence::snapshot::{SnapshotCriteria, SnapshotMetadata};
use crate::supervision::panic;

/// What a recovery found.
pub(super) struct Recovered<S> {
    pub(super) state: S,
    /// The sequence number the entity goes on from.
    pub(super) highest: SequenceNr,
    /// The snapshot it started from, if any.
    pub(super) snapshot: Option<SnapshotMetadata>,
}

/// Rebuilds the state of `config`'s entity. Runs on a reader thread.
pub(super) fn recover<C: Send + 'static, E, S>(
    config: &Config<C, E, S>,
) -> Result<Recovered<S>, RecoveryError>
where
    E: Event,
    S: DeserializeOwned,
{
    let persistence_id = &config.persistence_id;
    let failed = |sequence_nr: SequenceNr, cause: RecoveryCause| RecoveryError {
        persistence_id: persistence_id.clone(),
        sequence_nr,
        cause,
    };
    let persistence = &config.persistence;
    let snapshot = panic::catch(|| {
        persistence
            .snapshots
            .load(persistence_id, SnapshotCriteria::LATEST)
    })
    .map_err(|panic| {
        failed(
            0,
            RecoveryCause::JournalPanicked(panic.message().to_owned()),
        )
    })?
    .map_err(|error| failed(0, RecoveryCause::Storage(error)))?;
    let (mut state, from, metadata) = match snapshot {
        Some(snapshot) => {
            let sequence_nr = snapshot.metadata.sequence_nr;
            let state = panic::catch(|| {
                config
                    .codec
                    .decode_state(&snapshot.manifest, &snapshot.payload)
            })
            .map_err(|panic| failed(sequence_nr, user_panic("the codec", panic.message())))?
            .map_err(|error| failed(sequence_nr, RecoveryCause::SnapshotDecode(error)))?;
            (state, sequence_nr, Some(snapshot.metadata))
        }
        None => {
            let state = panic::catch(|| (config.empty_state)())
                .map_err(|panic| failed(0, user_panic("empty_state", panic.message())))?;
            (state, 0, None)
        }
    };
    let mut last = from;
    let mut error = None;
    // One guard around the whole replay, not one per event (a guard per call costs a quarter
    // of the replay rate): `stage` says whose code ran when a panic came through.
    let mut stage = Stage::Journal;
    let mut at = from + 1;
    let replayed = panic::catch(|| {
        persistence
            .journal
            .replay(persistence_id, from + 1, u64::MAX, u64::MAX, &mut |repr| {
                if error.is_some() {
                    return;
                }
                if repr.sequence_nr != last + 1 {
                    error = Some(failed(
                        repr.sequence_nr,
                        RecoveryCause::Gap {
                            after: last,
                            found: repr.sequence_nr,
                        },
                    ));
                    return;
                }
                at = repr.sequence_nr;
                stage = Stage::Decode;
                let decoded = config.codec.decode_event(
                    &config.event_manifest,
                    &repr.manifest,
                    &repr.payload,
                );
                let event = match decoded {
                    Ok(event) => event,
                    Err(decode) => {
                        stage = Stage::Journal;
                        error = Some(failed(repr.sequence_nr, RecoveryCause::EventDecode(decode)));
                        return;
                    }
                };
                stage = Stage::EventHandler;
                (config.event_handler)(&mut state, &event);
                stage = Stage::Journal;
                last = repr.sequence_nr;
            })
    });
    let highest = match replayed {
        Ok(replayed) => {
            replayed.map_err(|journal| failed(last + 1, RecoveryCause::Storage(journal)))?
        }
        Err(panic) => {
            let cause = match stage {
                Stage::Journal => RecoveryCause::JournalPanicked(panic.message().to_owned()),
                Stage::Decode => user_panic("the codec (or an upcaster)", panic.message()),
                Stage::EventHandler => user_panic("the event handler", panic.message()),
            };
            let sequence_nr = if stage == Stage::Journal {
                last + 1
            } else {
                at
            };
            return Err(failed(sequence_nr, cause));
        }
    };
    if let Some(error) = error {
        return Err(error);
    }
    if last == from && highest > from {
        // Events after the snapshot (or from the start) are stored as written, yet none came
        // back: they were deleted without a snapshot covering them.
        return Err(failed(
            from + 1,
            RecoveryCause::Gap {
                after: from,
                found: highest,
            },
        ));
    }
    if highest < from {
        // The snapshot is ahead of the journal (its events were lost or removed): the stream
        // goes on after the snapshot, so the journal must accept `from + 1` next.
        panic::catch(|| persistence.journal.advance_highest(persistence_id, from))
            .map_err(|panic| {
                failed(
                    from,
                    RecoveryCause::JournalPanicked(panic.message().to_owned()),
                )
            })?
            .map_err(|error| failed(from, RecoveryCause::Storage(error)))?;
    }
    Ok(Recovered {
        state,
        // Events deleted up to a sequence number still count towards the stream's highest.
        highest: highest.max(last),
        snapshot: metadata,
    })
}

/// Whose code runs during a replay.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The journal's `replay` (between events, or before the first).
    Journal,
    /// The codec decoding an event, or an upcaster.
    Decode,
    /// The entity's event handler.
    EventHandler,
}

fn user_panic(what: &'static str, message: &str) -> RecoveryCause {
    RecoveryCause::Panicked {
        what,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::persistence::entity::{EventSourcedBehavior, Persistence};
    use crate::persistence::journal::{AtomicWrite, Manifest, PersistenceId, PersistentRepr};
    use crate::persistence::snapshot::StoredSnapshot;
    use crate::persistence::{Codec, Effect, MessagePack};

    #[derive(Serialize, Deserialize)]
    struct Added(u64);
    impl Event for Added {}

    #[derive(Default, Serialize, Deserialize)]
    struct Total(u64);

    fn pid() -> PersistenceId {
        PersistenceId::of("total", "1")
    }

    fn entity(
        persistence: &Arc<Persistence>,
        apply: impl Fn(&mut Total, &Added) + Send + Sync + 'static,
    ) -> EventSourcedBehavior<(), Added, Total> {
        EventSourcedBehavior::new(
            pid(),
            persistence.clone(),
            Total::default,
            |_: &Total, ()| Effect::none(),
            apply,
        )
    }

    fn add(total: &mut Total, Added(n): &Added) {
        total.0 += n;
    }

    fn store(persistence: &Persistence, sequence_nrs: impl IntoIterator<Item = u64>) {
        let events = sequence_nrs
            .into_iter()
            .map(|sequence_nr| PersistentRepr {
                persistence_id: pid(),
                sequence_nr,
                manifest: Added::manifest(),
                payload: MessagePack.encode(&Added(sequence_nr)).expect("encodes"),
                tags: Vec::new(),
                writer_id: "test".into(),
                timestamp_ms: 0,
                offset: 0,
            })
            .collect();
        let results = persistence
            .journal
            .write(&[AtomicWrite { events }])
            .expect("stored");
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    }

    fn snapshot_at(persistence: &Persistence, sequence_nr: u64, total: u64) {
        persistence
            .snapshots
            .save(StoredSnapshot {
                metadata: SnapshotMetadata {
                    persistence_id: pid(),
                    sequence_nr,
                    timestamp_ms: 0,
                },
                manifest: Manifest::new(crate::persistence::event::short_type_name::<Total>(), 1),
                payload: MessagePack.encode(&Total(total)).expect("encodes"),
            })
            .expect("saved");
    }

    #[test]
    fn the_events_after_the_snapshot_are_folded_into_it() {
        let persistence = Persistence::in_memory().expect("threads");
        store(&persistence, 1..=5);
        snapshot_at(&persistence, 3, 100);
        let recovered = recover(&entity(&persistence, add).config).expect("recovers");
        assert_eq!(recovered.state.0, 100 + 4 + 5);
        assert_eq!(recovered.highest, 5);
        assert_eq!(recovered.snapshot.map(|s| s.sequence_nr), Some(3));
    }

    #[test]
    fn an_event_handler_panic_is_a_recovery_error_naming_the_event() {
        let persistence = Persistence::in_memory().expect("threads");
        store(&persistence, 1..=3);
        let error =
            recover(&entity(&persistence, |_, Added(n)| assert!(*n != 2, "no twos")).config)
                .err()
                .expect("fails");
        assert_eq!(error.sequence_nr, 2);
        assert!(
            matches!(&error.cause, RecoveryCause::Panicked { what: "the event handler", message } if message.contains("no twos")),
            "{error}"
        );
    }

    #[test]
    fn an_empty_state_panic_is_a_recovery_error() {
        let persistence = Persistence::in_memory().expect("threads");
        let behavior = EventSourcedBehavior::new(
            pid(),
            persistence.clone(),
            || -> Total { panic!("no default") },
            |_: &Total, ()| Effect::none(),
            add,
        );
        let error = recover(&behavior.config).err().expect("fails");
        assert!(
            matches!(
                &error.cause,
                RecoveryCause::Panicked {
                    what: "empty_state",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn events_deleted_without_a_covering_snapshot_fail_recovery() {
        let persistence = Persistence::in_memory().expect("threads");
        store(&persistence, 1..=4);
        persistence.journal.delete_to(&pid(), 2).expect("deleted");
        let error = recover(&entity(&persistence, add).config)
            .err()
            .expect("fails");
        assert_eq!(error.cause, RecoveryCause::Gap { after: 0, found: 3 });
        persistence.journal.delete_to(&pid(), 4).expect("deleted");
        let error = recover(&entity(&persistence, add).config)
            .err()
            .expect("fails");
        assert_eq!(error.cause, RecoveryCause::Gap { after: 0, found: 4 });
    }

    #[test]
    fn a_snapshot_ahead_of_the_journal_advances_the_stream() {
        let persistence = Persistence::in_memory().expect("threads");
        snapshot_at(&persistence, 7, 70);
        let recovered = recover(&entity(&persistence, add).config).expect("recovers");
        assert_eq!((recovered.state.0, recovered.highest), (70, 7));
        assert_eq!(persistence.journal.highest_sequence_nr(&pid()), Ok(7));
        store(&persistence, [8]);
    }
}
