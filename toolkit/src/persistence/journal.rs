//! The journal: the log of events, and the types of what it stores.

use std::fmt;
use std::sync::Arc;

use super::commit::CommitNotifier;
use super::error::{InvalidPersistenceId, JournalError, Rejection};

/// The position of an event in its entity's stream: 1 for the first, contiguous from there.
///
/// A plain `u64` by decision, not a newtype, like the global offset (`Offset::After(u64)`):
/// the public surface other code is written against spells both as integers
/// (`At::Sequence(42)`, `Offset::After(1_000)`, `EventEnvelope::sequence_nr`), and a newtype
/// would break every such call for no check the compiler could add there. The names say which
/// number is which; the global offset lives only inside `Offset` and `EventEnvelope::offset`.
pub type SequenceNr = u64;

/// The stream an event belongs to: by convention `"{type_key}|{entity_id}"`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersistenceId(Arc<str>);

impl PersistenceId {
    /// A persistence id from its full text, for text the program itself spells (a literal, a
    /// constant, a format of non-empty parts).
    ///
    /// # Panics
    ///
    /// If `id` is empty: an empty id names no stream (Akka's `PersistenceId` refuses it at
    /// construction too). As with an out-of-bounds `Vec` index, that is a bug in the calling
    /// code, not a condition to handle. Text that comes from outside the program (an argument,
    /// a file, a request) goes through [`try_new`](Self::try_new), [`str::parse`] or
    /// `TryFrom`, which return [`InvalidPersistenceId`] instead; [`of`](Self::of) never
    /// makes an empty id.
    ///
    /// ```
    /// use reactant::persistence::{InvalidPersistenceId, PersistenceId};
    ///
    /// assert_eq!(PersistenceId::new("account|1").as_str(), "account|1");
    /// assert_eq!(PersistenceId::try_new(""), Err(InvalidPersistenceId::Empty));
    /// assert_eq!("".parse::<PersistenceId>(), Err(InvalidPersistenceId::Empty));
    /// let typed: Result<PersistenceId, _> = "account|1".try_into();
    /// assert_eq!(typed, Ok(PersistenceId::of("account", "1")));
    /// assert!(std::panic::catch_unwind(|| PersistenceId::new("")).is_err());
    /// ```
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        match Self::try_new(id) {
            Ok(id) => id,
            Err(error) => panic!(
                "PersistenceId::new: {error}; for text from outside the program use \
                 PersistenceId::try_new (or str::parse), which returns the error instead"
            ),
        }
    }

    /// A persistence id from its full text, refused if it is empty.
    pub fn try_new(id: impl Into<Arc<str>>) -> Result<Self, InvalidPersistenceId> {
        let id = id.into();
        if id.is_empty() {
            return Err(InvalidPersistenceId::Empty);
        }
        Ok(Self(id))
    }

    /// The id of the entity `entity_id` of type `type_key`: `"{type_key}|{entity_id}"`.
    pub fn of(type_key: &str, entity_id: &str) -> Self {
        Self(format!("{type_key}|{entity_id}").into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for PersistenceId {
    type Err = InvalidPersistenceId;

    /// The same as [`PersistenceId::try_new`].
    fn from_str(id: &str) -> Result<Self, Self::Err> {
        Self::try_new(id)
    }
}

impl TryFrom<&str> for PersistenceId {
    type Error = InvalidPersistenceId;

    /// The same as [`PersistenceId::try_new`].
    fn try_from(id: &str) -> Result<Self, Self::Error> {
        Self::try_new(id)
    }
}

impl TryFrom<String> for PersistenceId {
    type Error = InvalidPersistenceId;

    /// The same as [`PersistenceId::try_new`].
    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::try_new(id)
    }
}

impl fmt::Display for PersistenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PersistenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersistenceId({})", self.0)
    }
}

/// What a payload is: its type's name and schema version, so that a reader can decode it (and
/// upcast an old version) without knowing the writer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Manifest {
    /// The stable name of the event or snapshot type.
    pub type_name: Arc<str>,
    /// The schema version the payload was written with (1 for the first).
    pub version: u32,
}

impl Manifest {
    /// A manifest for `type_name` at `version`.
    pub fn new(type_name: impl Into<Arc<str>>, version: u32) -> Self {
        Self {
            type_name: type_name.into(),
            version,
        }
    }
}

/// One stored event: the serialized payload and everything known about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistentRepr {
    /// Its stream.
    pub persistence_id: PersistenceId,
    /// Its position in the stream.
    pub sequence_nr: SequenceNr,
    /// What the payload is.
    pub manifest: Manifest,
    /// The serialized event.
    pub payload: Vec<u8>,
    /// Tags for the read side (`events_by_tag`).
    pub tags: Vec<String>,
    /// Which writer stored it: the `Persistence` instance the entity wrote through, one id per
    /// instance (its process id and creation time), shared by all of that instance's entities.
    pub writer_id: Arc<str>,
    /// When it was written, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The global offset the journal gave it when it was stored (0 before): gap-free, in commit
    /// order, across all streams.
    pub offset: u64,
}

/// Events of one stream that are stored all together or not at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtomicWrite {
    /// Contiguous events of one persistence id, in sequence order.
    pub events: Vec<PersistentRepr>,
}

impl AtomicWrite {
    /// The stream of this write (of its first event).
    pub fn persistence_id(&self) -> Option<&PersistenceId> {
        self.events.first().map(|e| &e.persistence_id)
    }

    /// The highest sequence number in this write.
    pub fn highest_sequence_nr(&self) -> SequenceNr {
        self.events.last().map_or(0, |e| e.sequence_nr)
    }
}

/// An append-only store of events. See the [module docs](super) for the contract; every
/// implementation passes the same test suite (`tests/journal_tck.rs`, a port of Akka's
/// persistence plugin TCK).
pub trait Journal: Send + Sync + 'static {
    /// Stores the writes, in order, each one atomically, as one durable unit for the backend
    /// (RocksDB: one `WriteBatch`). Every stored event gets the next global offset.
    ///
    /// `Ok(results)`: one result per write; a rejected write stored nothing and did not stop
    /// the others. `Err`: nothing of the call was stored.
    fn write(&self, writes: &[AtomicWrite]) -> Result<Vec<Result<(), Rejection>>, JournalError>;

    /// Calls `on_event` with the events of `persistence_id` whose sequence numbers lie in
    /// `from..=to`, at most `max` of them, in order, skipping deleted ones. Returns the highest
    /// sequence number ever stored for the stream — not bounded by `to`, and never lowered by
    /// deletion; 0 for an unknown stream.
    fn replay(
        &self,
        persistence_id: &PersistenceId,
        from: SequenceNr,
        to: SequenceNr,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<SequenceNr, JournalError>;

    /// The highest sequence number ever stored for the stream (0 if none).
    fn highest_sequence_nr(
        &self,
        persistence_id: &PersistenceId,
    ) -> Result<SequenceNr, JournalError>;

    /// Deletes the events of the stream up to and including `to` (clamped to the highest).
    /// The highest sequence number stays what it was.
    fn delete_to(&self, persistence_id: &PersistenceId, to: SequenceNr)
    -> Result<(), JournalError>;

    /// Raises the stream's highest sequence number to `to` if it is lower, as though events up
    /// to `to` had been written and deleted: the stream's next write starts at `to + 1`.
    /// Recovery calls it when the newest snapshot is ahead of the journal (the journal's
    /// events were lost or removed while the snapshots were kept), so that the entity goes on
    /// from its snapshot instead of having every write refused as out of order.
    ///
    /// The default refuses, naming this method: a journal that wraps another forwards it.
    fn advance_highest(
        &self,
        persistence_id: &PersistenceId,
        to: SequenceNr,
    ) -> Result<(), JournalError> {
        Err(JournalError::Storage(format!(
            "{persistence_id} has a snapshot at sequence number {to}, ahead of its journal, and \
             this journal cannot continue the stream after it: implement \
             `Journal::advance_highest` (a wrapper forwards it to the journal it wraps)"
        )))
    }

    /// Records durably that the sharded entity `entity_id` of the entity type `type_key` is
    /// remembered (`remembered: true`: sharding starts it again when its region starts, after
    /// a crash or a restart of the process) or forgets it (`false`). Idempotent.
    ///
    /// The default refuses, naming this method: a journal that wraps another forwards it.
    fn set_remembered(
        &self,
        type_key: &str,
        entity_id: &str,
        remembered: bool,
    ) -> Result<(), JournalError> {
        let _ = remembered;
        Err(JournalError::Storage(format!(
            "the sharded entity {type_key}|{entity_id} asked to be remembered, and this journal \
             cannot store remembered entities: implement `Journal::set_remembered` and \
             `Journal::remembered` (a wrapper forwards them to the journal it wraps)"
        )))
    }

    /// The ids of the remembered entities of `type_key` (see
    /// [`set_remembered`](Self::set_remembered)), in no particular order.
    ///
    /// The default has none: a journal that cannot remember has nothing remembered.
    fn remembered(&self, type_key: &str) -> Result<Vec<String>, JournalError> {
        let _ = type_key;
        Ok(Vec::new())
    }

    /// Calls `on_event` with the events carrying `tag` whose global offset is greater than
    /// `after_offset`, in offset order, at most `max` of them. Returns the highest offset seen
    /// (or `after_offset` if none).
    ///
    /// Events deleted with [`delete_to`](Self::delete_to) are not returned.
    fn events_by_tag(
        &self,
        tag: &str,
        after_offset: u64,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<u64, JournalError>;

    /// Calls `on_event` with the events of every stream whose global offset is greater than
    /// `after_offset`, in offset order, at most `max` of them: the read behind
    /// `current_events` and the live queries. Returns the highest offset seen (or
    /// `after_offset` if none). Deleted events are not returned.
    ///
    /// **Visibility rule**: an event is returned only once every lower offset is committed
    /// (a journal that commits offsets out of order must hold the later ones back), so a
    /// reader that goes on from the last offset it saw never misses one.
    ///
    /// The default refuses, naming this method: a journal that wraps another forwards it.
    fn events_by_offset(
        &self,
        after_offset: u64,
        max: u64,
        on_event: &mut dyn FnMut(PersistentRepr),
    ) -> Result<u64, JournalError> {
        let _ = (after_offset, max, on_event);
        Err(unsupported(
            "events_by_offset",
            "read events in global order",
        ))
    }

    /// The global offset of the last committed event (0 for an empty journal).
    ///
    /// The default refuses, naming this method: a journal that wraps another forwards it.
    fn highest_offset(&self) -> Result<u64, JournalError> {
        Err(unsupported("highest_offset", "tell its last global offset"))
    }

    /// Calls `on_id` with the persistence ids of the streams that have events, in the
    /// journal's own stable order, starting after `after` (exclusive; `None`: from the first),
    /// at most `max` of them: one page of `current_persistence_ids`.
    ///
    /// The default refuses, naming this method: a journal that wraps another forwards it.
    fn persistence_ids_after(
        &self,
        after: Option<&PersistenceId>,
        max: u64,
        on_id: &mut dyn FnMut(PersistenceId),
    ) -> Result<(), JournalError> {
        let _ = (after, max, on_id);
        Err(unsupported(
            "persistence_ids_after",
            "list its persistence ids",
        ))
    }

    /// The journal's commit notification, which live queries wait on: the journal calls
    /// [`CommitNotifier::committed`] after each commit (on the writer thread) and
    /// [`CommitNotifier::close`] when it closes. `None` (the default): live queries refuse
    /// to start on this journal, naming this method.
    fn commit_notifier(&self) -> Option<Arc<CommitNotifier>> {
        None
    }

    /// The offset stored for the projection `name`/`key` (see `crate::projection`), `None`
    /// if none is: the global offset of the last event it handled. At-least-once projections
    /// keep their offsets here.
    ///
    /// The default refuses, naming this method: a journal that wraps another forwards it.
    fn projection_offset(&self, name: &str, key: &str) -> Result<Option<u64>, JournalError> {
        let _ = (name, key);
        Err(unsupported(
            "projection_offset",
            "store the offsets of projections",
        ))
    }

    /// Stores (`Some`) or clears (`None`) the offset of the projection `name`/`key`, durably.
    ///
    /// The default refuses, naming this method: a journal that wraps another forwards it.
    fn save_projection_offset(
        &self,
        name: &str,
        key: &str,
        offset: Option<u64>,
    ) -> Result<(), JournalError> {
        let _ = (name, key, offset);
        Err(unsupported(
            "save_projection_offset",
            "store the offsets of projections",
        ))
    }
}

/// The error of a [`Journal`] method a backend left unimplemented.
fn unsupported(method: &str, what: &str) -> JournalError {
    JournalError::Storage(format!(
        "this journal cannot {what}: implement `Journal::{method}` (a wrapper forwards it to \
         the journal it wraps)"
    ))
}
