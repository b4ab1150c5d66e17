//! What can go wrong in a query, each variant saying what to do about it.

use thiserror::Error;

use crate::persistence::{
    CodecError, InvalidPersistenceId, JournalError, PersistenceId, SequenceNr,
};

/// Why a query (or one item of it) failed.
///
/// A failed *item* (an event that cannot be decoded) names the event; the iterator goes on
/// past it. A failed *read* (the journal) ends the iterator: run the query again from the
/// last offset you handled.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryError {
    /// The journal failed (or refused) a read.
    #[error(
        "the journal failed while reading: {0}; check the storage, then run the query again \
         from the last offset you handled"
    )]
    Journal(#[source] JournalError),
    /// The journal's backend panicked while reading.
    #[error(
        "the journal panicked while reading: {0}; run the query again from the last offset \
         you handled, and report the panic to the journal's authors"
    )]
    JournalPanicked(String),
    /// An event could not be decoded into the entity type's event (unknown manifest, damaged
    /// payload, no upcaster for its version).
    #[error(
        "event {sequence_nr} of {persistence_id} (offset {offset}) cannot be decoded: {error}; \
         add an upcaster for its version (Event::upcast), or query it untyped \
         (current_events) to see its JSON"
    )]
    Decode {
        /// The event's stream.
        persistence_id: PersistenceId,
        /// The event's sequence number.
        sequence_nr: SequenceNr,
        /// The event's global offset.
        offset: u64,
        /// What the codec said.
        error: CodecError,
    },
    /// User code panicked on an event: the codec, an upcaster, or (for
    /// [`state_at`](crate::persistence::Persistence::state_at)) the event handler or
    /// `empty_state`.
    #[error(
        "{what} panicked on event {sequence_nr} of {persistence_id}: {message}; fix it so \
         that it accepts every event ever stored"
    )]
    Panicked {
        /// Which code panicked.
        what: &'static str,
        /// The event's stream.
        persistence_id: PersistenceId,
        /// The event's sequence number (0: before any event, e.g. the snapshot).
        sequence_nr: SequenceNr,
        /// The panic message.
        message: String,
    },
    /// A snapshot could not be decoded into the state type.
    #[error(
        "the snapshot of {persistence_id} at sequence number {sequence_nr} cannot be decoded: \
         {error}; keep the state type readable, or delete the snapshot"
    )]
    SnapshotDecode {
        /// Whose snapshot.
        persistence_id: PersistenceId,
        /// Its sequence number.
        sequence_nr: SequenceNr,
        /// What the codec said.
        error: CodecError,
    },
    /// The events needed to rebuild a past state were deleted, and no snapshot covers them.
    #[error(
        "events {from} to {to} of {persistence_id} are deleted and no snapshot covers them, so \
         the state asked for cannot be rebuilt; ask for a point after {to}, or keep the \
         snapshots of the points you investigate"
    )]
    Deleted {
        /// Whose state.
        persistence_id: PersistenceId,
        /// The first event missing.
        from: SequenceNr,
        /// The last event missing.
        to: SequenceNr,
    },
    /// The id given is not a persistence id.
    #[error("{0}")]
    InvalidPersistenceId(#[from] InvalidPersistenceId),
    /// The journal was closed: a live query ends with this.
    #[error(
        "the journal was closed; open it again and start the query from the last offset you \
         handled"
    )]
    Closed,
    /// A live query was asked of a journal without a commit notification
    /// ([`Journal::commit_notifier`](crate::persistence::Journal::commit_notifier)).
    #[error(
        "this journal has no commit notification, so live queries cannot follow it: \
         implement `Journal::commit_notifier`, or use the current queries"
    )]
    NotLive,
    /// A blocking live query was read on a dispatcher thread, where blocking is forbidden.
    #[error(
        "a live query's blocking next() was called on a dispatcher thread, where it would \
         stall other actors; deliver it to the actor instead (events_by_tag_to and friends)"
    )]
    WouldBlockDispatcher,
    /// The thread that delivers a live query to an actor could not be started.
    #[error("cannot start the thread that delivers the query: {0}; the process is out of threads")]
    Spawn(String),
}

impl From<JournalError> for QueryError {
    fn from(error: JournalError) -> Self {
        match error {
            JournalError::Closed => QueryError::Closed,
            other => QueryError::Journal(other),
        }
    }
}
