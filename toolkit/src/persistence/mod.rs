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
//! Backends are synchronous: a call blocks until the data is durable (or read). The runtime
//! never calls them on a dispatcher thread: the journal writer thread batches the appends of
//! many entities into one [`Journal::write`] (group commit), and recovery reads run off the
//! dispatchers.

mod codec;
mod effect;
mod entity;
mod entity_type;
mod error;
mod event;
mod journal;
pub mod memory;
#[cfg(feature = "rocksdb")]
pub mod rocksdb;
mod snapshot;
mod writer;

pub use codec::{Codec, CodecError, MessagePack};
pub use effect::Effect;
pub use entity::{EntityContext, EntitySignal, EventSourcedBehavior, Persistence};
pub use entity_type::Entity;
pub use error::{
    DeleteError, InvalidPersistenceId, JournalError, PersistError, RecoveryCause, RecoveryError,
    Rejection, SnapshotError,
};
pub use event::Event;
pub use journal::{AtomicWrite, Journal, Manifest, PersistenceId, PersistentRepr, SequenceNr};
pub use snapshot::{SnapshotCriteria, SnapshotMetadata, SnapshotStore, StoredSnapshot};
pub use writer::{AppendError, Completion, JournalWriter, WriterStats};
