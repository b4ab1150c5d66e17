//! The state of an entity at a past point, rebuilt from the journal without touching the
//! running entity: the newest snapshot at or before the point, then the events up to it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::cursor::guarded;
use super::error::QueryError;
use super::{StreamId, Typed};
use crate::persistence::{Entity, Persistence, SequenceNr, SnapshotCriteria};
use crate::supervision::panic;

/// A point in an entity's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// Right after the event with this sequence number (0: before any event). A number past
    /// the stream's last event means the last one.
    Sequence(SequenceNr),
    /// After every event written at or before this time (by the writer's clock).
    Time(SystemTime),
}

impl Persistence {
    /// The state of the entity `id` of type `A` as it was at `at`, rebuilt from the newest
    /// snapshot at or before that point and the events after it, on the calling thread. The
    /// running entity (if any) is not involved. `id` is an entity id of `A` (`"acc-1"`) or a
    /// whole [`PersistenceId`](crate::persistence::PersistenceId).
    ///
    /// Fails with [`QueryError::Deleted`] where the events needed were deleted and no snapshot
    /// covers them, and with [`QueryError::Panicked`] where the event handler, `empty_state`
    /// or the codec panics.
    ///
    /// ```
    /// use reactant::persistence::{Effect, Entity, Event, Persistence};
    /// use reactant::prelude::*;
    /// use reactant::query::At;
    /// use serde::{Deserialize, Serialize};
    /// use std::time::Duration;
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Added(u64);
    /// impl Event for Added {}
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct Total(u64);
    /// impl Entity for Total {
    ///     const TYPE_KEY: &'static str = "total";
    ///     type Event = Added;
    ///     type Command = (u64, ActorRef<u64>);
    ///     fn apply(&mut self, Added(n): &Added) { self.0 += n; }
    ///     fn handle_command(&self, (n, reply_to): (u64, ActorRef<u64>)) -> Effect<Added, Self> {
    ///         Effect::persist(Added(n)).then_reply_to(reply_to, |t: &Total| t.0)
    ///     }
    /// }
    ///
    /// let system = ActorSystem::new("docs")?;
    /// let persistence = Persistence::in_memory()?;
    /// let total = system.spawn(Total::behavior("t-1", persistence.clone()), "t-1")?;
    /// for n in [10, 20, 30] {
    ///     total.ask(|reply_to| (n, reply_to)).wait(Duration::from_secs(3))?;
    /// }
    /// assert_eq!(persistence.state_at::<Total>("t-1", At::Sequence(2))?.0, 30);
    /// assert_eq!(persistence.state_at::<Total>("t-1", At::Sequence(0))?.0, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state_at<A: Entity>(
        self: &Arc<Self>,
        id: impl StreamId,
        at: At,
    ) -> Result<A, QueryError> {
        let persistence_id = id.persistence_id(A::TYPE_KEY)?;
        let typed = Typed::<A>::of(self)?;
        let reader = typed.reader();
        let (max_sequence_nr, max_timestamp_ms) = match at {
            At::Sequence(sequence_nr) => (sequence_nr, u64::MAX),
            At::Time(time) => (
                u64::MAX,
                time.duration_since(UNIX_EPOCH).map_or(0, |since| {
                    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
                }),
            ),
        };
        let criteria = SnapshotCriteria {
            max_sequence_nr,
            max_timestamp_ms,
            ..SnapshotCriteria::LATEST
        };
        let panicked =
            |what: &'static str, sequence_nr: SequenceNr, message: &str| QueryError::Panicked {
                what,
                persistence_id: persistence_id.clone(),
                sequence_nr,
                message: message.to_owned(),
            };
        let snapshot = guarded(|| self.snapshot_store().load(&persistence_id, criteria))?;
        let (mut state, from) = match snapshot {
            Some(snapshot) => {
                let sequence_nr = snapshot.metadata.sequence_nr;
                let state =
                    panic::catch(|| reader.decode_state(&snapshot.manifest, &snapshot.payload))
                        .map_err(|panic| panicked("the codec", sequence_nr, panic.message()))?
                        .map_err(|error| QueryError::SnapshotDecode {
                            persistence_id: persistence_id.clone(),
                            sequence_nr,
                            error,
                        })?;
                (state, sequence_nr)
            }
            None => (
                panic::catch(|| reader.empty_state())
                    .map_err(|panic| panicked("empty_state", 0, panic.message()))?,
                0,
            ),
        };
        if max_sequence_nr <= from {
            return Ok(state);
        }
        let mut last = from;
        let mut failure: Option<QueryError> = None;
        let mut past = false;
        let highest = guarded(|| {
            self.journal().replay(
                &persistence_id,
                from + 1,
                max_sequence_nr,
                u64::MAX,
                &mut |repr| {
                    if failure.is_some() || past {
                        return;
                    }
                    if repr.timestamp_ms > max_timestamp_ms {
                        past = true;
                        return;
                    }
                    if repr.sequence_nr != last + 1 {
                        failure = Some(QueryError::Deleted {
                            persistence_id: persistence_id.clone(),
                            from: last + 1,
                            to: repr.sequence_nr - 1,
                        });
                        return;
                    }
                    let sequence_nr = repr.sequence_nr;
                    let event =
                        match panic::catch(|| reader.decode_event(&repr.manifest, &repr.payload)) {
                            Ok(Ok(event)) => event,
                            Ok(Err(error)) => {
                                failure = Some(QueryError::Decode {
                                    persistence_id: repr.persistence_id,
                                    sequence_nr,
                                    offset: repr.offset,
                                    error,
                                });
                                return;
                            }
                            Err(panic) => {
                                failure = Some(panicked(
                                    "the codec (or an upcaster)",
                                    sequence_nr,
                                    panic.message(),
                                ));
                                return;
                            }
                        };
                    if let Err(panic) = panic::catch(|| reader.apply(&mut state, &event)) {
                        failure = Some(panicked("the event handler", sequence_nr, panic.message()));
                        return;
                    }
                    last = sequence_nr;
                },
            )
        })?;
        if let Some(failure) = failure {
            return Err(failure);
        }
        // Events the point needs that did not come back were deleted.
        let needed = max_sequence_nr.min(highest);
        if !past && last < needed {
            return Err(QueryError::Deleted {
                persistence_id,
                from: last + 1,
                to: needed,
            });
        }
        Ok(state)
    }
}
