//! Managing a running projection: its status (offset, head, lag, rate, state) read from any
//! thread without asking the actor, and pause, resume, set offset, clear offset as messages.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::ProjectionId;
use super::error::ProjectionError;
use super::runner::{Command, Msg};
use crate::actor::ActorRef;
use crate::ask::Pending;
use crate::persistence::Journal;

/// Where a projection is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProjectionState {
    /// Spawned; it has not read its offset yet.
    Starting,
    /// Handling events, or waiting for the next commit.
    Running,
    /// Paused by [`ProjectionRef::pause`]: it handles nothing until resumed.
    Paused,
    /// Its handler failed on an envelope, which it tries again after a delay
    /// ([`HandlerRecovery::retry_and_fail`](super::HandlerRecovery::retry_and_fail) and
    /// `retry_and_skip`).
    Retrying {
        /// The attempt coming next (2: the first retry).
        attempt: u32,
        /// What the last attempt said.
        error: String,
    },
    /// It failed and restarts after a backoff from its stored offset.
    Failed {
        /// Why.
        error: String,
    },
    /// It stopped (the system shut down, or [`ProjectionRef::stop`]).
    Stopped,
}

/// A projection's progress, as [`ProjectionRef::status`] reads it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ProjectionStatus {
    /// The projection.
    pub id: ProjectionId,
    /// The global offset of the last event it handled (`None`: none yet). An exactly-once
    /// projection has stored it; an at-least-once one stores it within its
    /// `save_offset_after` bounds.
    pub offset: Option<u64>,
    /// The journal's last global offset.
    pub head: u64,
    /// `head - offset`: the events committed and not yet handled. For a source by tag it
    /// counts the other tags' events too (an upper bound); it is 0 exactly when caught up.
    pub lag_events: u64,
    /// How old the oldest event not yet handled is (zero when caught up).
    pub lag: Duration,
    /// Events handled per second, over the last second or so.
    pub events_per_second: f64,
    /// Where it is in its life.
    pub state: ProjectionState,
}

/// What the actor publishes for [`ProjectionRef::status`].
pub(crate) struct StatusCell {
    pub(crate) offset: Option<u64>,
    pub(crate) state: ProjectionState,
    rate_window: Instant,
    rate_count: u64,
    rate: f64,
}

/// The window over which the rate is counted.
const RATE_WINDOW: Duration = Duration::from_secs(1);

impl StatusCell {
    pub(crate) fn new() -> Self {
        Self {
            offset: None,
            state: ProjectionState::Starting,
            rate_window: Instant::now(),
            rate_count: 0,
            rate: 0.0,
        }
    }

    /// Counts `events` handled now.
    pub(crate) fn handled(&mut self, offset: u64, events: u64) {
        self.offset = Some(offset);
        self.rate_count += events;
        self.roll();
    }

    fn roll(&mut self) {
        let elapsed = self.rate_window.elapsed();
        if elapsed >= RATE_WINDOW {
            self.rate = self.rate_count as f64 / elapsed.as_secs_f64();
            self.rate_count = 0;
            self.rate_window = Instant::now();
        }
    }

    fn rate(&mut self) -> f64 {
        self.roll();
        // A window with nothing handled for two of its lengths means nothing is flowing.
        if self.rate_window.elapsed() >= RATE_WINDOW * 2 {
            0.0
        } else {
            self.rate
        }
    }
}

/// A running projection: read its status, pause, resume, move its offset.
///
/// Cheap to clone. The management calls are messages to the projection's actor, handled in
/// turn with its events; each answers once done (`.wait(timeout)` on the [`Pending`], or
/// drop it). A projection failing and backing off takes them after its restart.
///
/// | call | what the projection does |
/// |---|---|
/// | [`pause`](Self::pause) | stops handling; a group being collected or an envelope being retried is dropped (not handled, not acknowledged); an at-least-once projection stores its offset |
/// | [`resume`](Self::resume) | goes on from its stored offset |
/// | [`set_offset`](Self::set_offset) | stores the offset and goes on after it (paused: stays paused) |
/// | [`clear_offset`](Self::clear_offset) | removes the offset and clears the tables it declared, in one write; starts again from the first event |
#[derive(Clone)]
pub struct ProjectionRef {
    pub(crate) id: ProjectionId,
    pub(crate) actor: ActorRef<Msg>,
    pub(crate) status: Arc<Mutex<StatusCell>>,
    pub(crate) journal: Arc<dyn Journal>,
}

impl ProjectionRef {
    /// The projection's id.
    pub fn id(&self) -> &ProjectionId {
        &self.id
    }

    /// Its progress now: offset, the journal's head, lag, rate and state. Read without
    /// asking the actor, so it answers while the projection is busy or backing off.
    pub fn status(&self) -> Result<ProjectionStatus, ProjectionError> {
        let (offset, state, rate) = {
            let mut cell = self.status.lock();
            let rate = cell.rate();
            (cell.offset, cell.state.clone(), rate)
        };
        let head = self
            .journal
            .highest_offset()
            .map_err(|error| ProjectionError::Offset {
                id: self.id.to_string(),
                detail: error.to_string(),
            })?;
        let handled = offset.unwrap_or(0);
        let lag_events = head.saturating_sub(handled);
        let mut lag = Duration::ZERO;
        if lag_events > 0 {
            let mut oldest = None;
            // A journal without reads in global order leaves the lag in time unknown (zero).
            let _ = self
                .journal
                .events_by_offset(handled, 1, &mut |event| oldest = Some(event.timestamp_ms));
            if let Some(timestamp_ms) = oldest {
                lag = Duration::from_millis(super::source::age_ms(timestamp_ms));
            }
        }
        Ok(ProjectionStatus {
            id: self.id.clone(),
            offset,
            head,
            lag_events,
            lag,
            events_per_second: rate,
            state,
        })
    }

    fn command(&self, command: Command) -> Pending<Result<(), ProjectionError>> {
        self.actor.ask(|reply_to| Msg::Manage(command, reply_to))
    }

    /// Pauses the projection (see the table above).
    #[must_use = "sent either way; `.wait(timeout)` to know it was done, or `let _ =`"]
    pub fn pause(&self) -> Pending<Result<(), ProjectionError>> {
        self.command(Command::Pause)
    }

    /// Resumes a paused projection from its stored offset.
    #[must_use = "sent either way; `.wait(timeout)` to know it was done, or `let _ =`"]
    pub fn resume(&self) -> Pending<Result<(), ProjectionError>> {
        self.command(Command::Resume)
    }

    /// Stores `offset` as the last handled one: the projection goes on after it.
    #[must_use = "sent either way; `.wait(timeout)` to know it was done, or `let _ =`"]
    pub fn set_offset(&self, offset: u64) -> Pending<Result<(), ProjectionError>> {
        self.command(Command::SetOffset(Some(offset)))
    }

    /// Removes the stored offset and clears the tables the projection declared
    /// ([`Projection::with_table`](super::Projection::with_table)), in one write: the
    /// projection rebuilds its read model from the first event.
    #[must_use = "sent either way; `.wait(timeout)` to know it was done, or `let _ =`"]
    pub fn clear_offset(&self) -> Pending<Result<(), ProjectionError>> {
        self.command(Command::SetOffset(None))
    }

    /// Stops the projection's actor. Its stored offset stays.
    pub fn stop(&self) {
        self.actor.tell(Msg::Stop);
    }
}

impl fmt::Debug for ProjectionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectionRef")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
