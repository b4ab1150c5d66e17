//! Persistence: the storage side of event sourcing.
//!
//! - [`Journal`]: an append-only log of serialized events per persistence id, with atomic
//!   multi-event writes, bounded replay, the highest sequence number, deletion up to a sequence
//!   number (which never lowers the highest), and a gap-free global offset per event for the
//!   read side (tags, projections).
//! - [`SnapshotStore`]: the newest state of an entity at some sequence number, so recovery can
//!   skip the events before it.
//! - Backends are flavors behind these two traits: [`memory`] for tests, and (feature `rocksdb`,
//!   on by default) `rocksdb::RocksJournal`, the journal and snapshot store in one database.
//!
//! - The read side's hooks (`crate::query`): every event in global order
//!   ([`Journal::events_by_offset`]), the persistence ids in pages, and a [`CommitNotifier`]
//!   that the journal tells after each commit, which wakes the live queries.
//!
//! Backends are synchronous: a call blocks until the data is durable (or read). The runtime
//! never calls them on a dispatcher thread: the journal writer thread batches the appends of
//! many entities into one [`Journal::write`] (group commit), and recovery reads run off the
//! dispatchers.
//!
//! # The life of an event-sourced entity
//!
//! Recovering → running ⇄ persisting, with every failure ending in a named state. The
//! transitions, each one method of the running entity:
//!
//! | from | on | to | what happens |
//! |---|---|---|---|
//! | (start) | `pre_start` | recovering | the recovery job goes to the persistence id's reader thread; commands are held, in order |
//! | recovering | `recovered` | running | `SnapshotRecovered` (if a snapshot was used), `RecoveryCompleted`; the held commands run |
//! | recovering | `recovery_failed` | failed | `RecoveryFailed`; the entity stops, whatever its supervisor |
//! | running | command → `Effect::persist` | persisting | the events are encoded, **applied to the state**, then sent to the writer; commands are held |
//! | running | command → other effects | running | `none`, `unhandled` (a dead letter), `stash`, side effects |
//! | running | encoding fails | running | `PersistRejected`; nothing was applied or sent; the entity goes on |
//! | running | event handler panics | failed | nothing was sent; the entity fails and cannot resume |
//! | persisting | `persisted` | running | side effects and replies run, a snapshot is saved if due, the held commands run |
//! | persisting | `rejected` | failed | `PersistRejected`; the entity fails and cannot resume |
//! | persisting | `persist_failed` | backing off | `PersistFailed`, with [`with_persist_failure`](EventSourcedBehavior::with_persist_failure) set |
//! | persisting | `persist_failed` | failed | `PersistFailed`, without it; the entity fails and cannot resume |
//! | backing off | `backoff_elapsed` | recovering | the state is rebuilt from the journal; the held commands wait |
//! | any | `pre_restart` / `post_stop` | — | the held and stashed commands go to the next incarnation (restart) or to dead letters (stop) |
//!
//! The event handler runs **before** the write, as in Akka Persistence Typed: an event it
//! refuses (by panicking) is never stored, so it can never poison a later recovery. No command,
//! reply or side effect sees the state it changes until the write is durable: the entity holds
//! every command meanwhile, side effects and replies run after, and a failed write discards the
//! state (the entity stops, or rebuilds it from the journal). Only the signal handler sees that
//! state, in the `PersistFailed` or `PersistRejected` of the failed write and the `PreRestart`
//! or `PostStop` that follow: the state being discarded, refused events included (as in Akka).
//!
//! # What each failure does
//!
//! | failure | signal | the entity | held and stashed commands | the asker of the failed command |
//! |---|---|---|---|---|
//! | recovery fails (storage, decoding, a panic in the event handler, `empty_state`, the codec or the journal, a gap in the stream) | `RecoveryFailed(RecoveryError)` | stops, whatever the supervisor (a retry would fail again) | dead letters | (no command ran) |
//! | the journal fails a write | `PersistFailed(PersistError::Journal)` | restarts after a backoff with `with_persist_failure`; otherwise fails: `stop` (default) or `restart` as supervised, `resume` acts as `stop` | kept for the next incarnation (restart, backoff) or dead letters (stop) | its ask fails at once with `NoReply` (the reply address is dropped with the effect) |
//! | the journal panics in `write` | `PersistFailed(PersistError::JournalPanicked)` | as a failed write; the writer thread survives | as a failed write | `NoReply` |
//! | the journal rejects the write | `PersistRejected(PersistError::Rejected)` | fails: `stop` or `restart` as supervised, `resume` acts as `stop` | as a failed write | `NoReply` |
//! | an event cannot be encoded (the codec errs or panics) | `PersistRejected(PersistError::Encode…)` | keeps running: nothing was applied or stored | keep their turn | `NoReply` |
//! | the event handler panics on a new event | — (an actor failure) | fails: `stop` or `restart`, `resume` acts as `stop`; nothing was stored | as a failed write | `NoReply` |
//! | the command handler (or a side effect) panics | — (an actor failure) | as supervised: `resume` keeps the state (a handler only reads it), `restart` recovers, `stop` | kept in order (resume, restart) or dead letters (stop) | `NoReply` |
//! | a snapshot cannot be saved | `SnapshotFailed(SnapshotError)` | keeps running; recovery replays more events | unaffected | unaffected |
//! | old snapshots or events cannot be deleted | `DeleteSnapshotsFailed` / `DeleteEventsFailed` | keeps running; the next snapshot retries | unaffected | unaffected |
//!
//! A command held beyond [`with_command_buffer`](EventSourcedBehavior::with_command_buffer) goes to dead
//! letters as [`DeadLetterReason::CommandBufferFull`](crate::dead_letters::DeadLetterReason),
//! and `Effect::unhandled()` makes a dead letter of its command, as `Behaviors::unhandled()` does.

mod codec;
mod commit;
mod effect;
mod entity;
mod entity_type;
mod error;
mod event;
mod journal;
pub mod memory;
pub(crate) mod read_model_keys;
#[cfg(feature = "rocksdb")]
pub mod rocksdb;
mod slice;
mod snapshot;
mod writer;

pub use codec::{Codec, CodecError, MessagePack};
pub use commit::{CommitNotifier, CommitWait, CommitWaker, WakerRegistration};
pub use effect::Effect;
#[cfg(feature = "testkit")]
pub(crate) use entity::EntityCodec;
pub(crate) use entity::EntityReader;
pub use entity::{EntityContext, EntitySignal, EventSourcedBehavior, Persistence};
pub use entity_type::Entity;
pub use error::{
    BackendError, DeleteError, InvalidPersistenceId, JournalError, PersistError, RecoveryCause,
    RecoveryError, Rejection, SnapshotError,
};
pub use event::Event;
pub use journal::{AtomicWrite, Journal, Manifest, PersistenceId, PersistentRepr, SequenceNr};
pub use slice::{MAX_SLICES, slice_of, slice_tag};
pub use snapshot::{SnapshotCriteria, SnapshotMetadata, SnapshotStore, StoredSnapshot};
pub use writer::WriterStats;
