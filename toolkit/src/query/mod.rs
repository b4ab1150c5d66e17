//! The read side: persistence queries over the journal — current (what is stored now, then
//! end) and live (continuing with each commit) — by persistence id, by tag, in global order,
//! and the persistence ids themselves; plus the state of an entity at a past point
//! ([`Persistence::state_at`](crate::persistence::Persistence::state_at)).
//!
//! ```
//! use reactant::prelude::*;
//! use reactant::query::Offset;
//! use serde::{Deserialize, Serialize};
//! use std::time::Duration;
//!
//! #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
//! struct Deposited { amount: u64 }
//! impl reactant::persistence::Event for Deposited {
//!     fn tags(&self) -> Vec<String> { vec!["money".into()] }
//! }
//! enum Deposit { Amount(u64, ActorRef<u64>) }
//! #[derive(Default, Serialize, Deserialize)]
//! struct Account { balance: u64 }
//! impl reactant::persistence::Entity for Account {
//!     const TYPE_KEY: &'static str = "account";
//!     type Event = Deposited;
//!     type Command = Deposit;
//!     fn apply(&mut self, event: &Deposited) { self.balance += event.amount; }
//!     fn handle_command(&self, Deposit::Amount(amount, reply_to): Deposit) -> Effect<Deposited, Self> {
//!         Effect::persist(Deposited { amount }).then_reply_to(reply_to, |a: &Account| a.balance)
//!     }
//! }
//!
//! let system = ActorSystem::new("docs")?;
//! let persistence = Persistence::in_memory()?;
//! let account = system.spawn(Account::behavior("acc-1", persistence.clone()), "acc-1")?;
//! for amount in [5, 7] {
//!     account.ask(|reply_to| Deposit::Amount(amount, reply_to)).wait(Duration::from_secs(3))?;
//! }
//!
//! let query = persistence.query();
//! let amounts: Vec<u64> = query
//!     .current_events_by_persistence_id::<Account>("acc-1", 1, u64::MAX)
//!     .map(|envelope| envelope.map(|e| e.event.amount))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(amounts, [5, 7]);
//!
//! // Live: the two stored events, then the next one as soon as it is committed.
//! let mut live = query.events_by_tag::<Account>("money", Offset::Start);
//! assert_eq!(live.next().transpose()?.map(|e| e.offset), Some(1));
//! assert_eq!(live.next().transpose()?.map(|e| e.offset), Some(2));
//! account.ask(|reply_to| Deposit::Amount(1, reply_to)).wait(Duration::from_secs(3))?;
//! let third = live.next_timeout(Duration::from_secs(3)).transpose()?;
//! assert_eq!(third.map(|e| (e.sequence_nr, e.event)), Some((3, Deposited { amount: 1 })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Offsets and the visibility rule
//!
//! Every event has a global offset, given by the journal at commit: gap-free (until events are
//! deleted), in commit order, across all streams. An offset is delivered only once every
//! lower offset is committed — both journals give offsets and commit under one lock, so a
//! committed offset never has an uncommitted one below it — hence a query that goes on from
//! the last offset it delivered ([`Offset::After`]) misses none and repeats none.
//!
//! # Current and live
//!
//! A current query fixes its end at its first read (the highest offset, or the stream's
//! highest sequence number, stored then) and pages through the journal [`PAGE`] events at a
//! time, so its memory stays bounded whatever the journal's size. A live query reads the same
//! way, and once it has caught up waits on the journal's commit notification
//! ([`Journal::commit_notifier`]): the writer
//! thread wakes it at commit, without polling. Consume it with a blocking iterator on a plain
//! thread ([`LiveEvents::next`], [`LiveEvents::next_timeout`]), or have it delivered to an
//! actor (`*_to` methods) with flow control: at most a window of envelopes waits in the
//! actor's mailbox; a slow actor falls behind and the query catches up from the journal.
//!
//! # Deleted events
//!
//! [`Journal::delete_to`] removes events from every
//! query: by id, by tag and in global order (their offsets are skipped). Akka keeps deleted
//! events in its tag streams because its journals only mark them; ours remove the bytes (the
//! point of deleting is to not keep them), and a read model that must keep them builds it
//! before the deletion, which a live query or projection does.
//!
//! # Typed and untyped
//!
//! A typed query is opened for an entity type (`::<Account>`): its events are decoded with the
//! codec and upcasters that [`Entity::configure`]
//! gives the entity, into [`EventEnvelope<A::Event>`]. Every event the query meets must be
//! one of that type's: a tag shared by several entity types is read untyped. An event that
//! cannot be decoded is an `Err` item ([`QueryError::Decode`], naming its stream and sequence
//! number) and the iterator goes on after it; a panic in the codec is caught as
//! [`QueryError::Panicked`]. The untyped queries ([`PersistenceQuery::current_events`],
//! [`PersistenceQuery::events`]) print each payload as JSON ([`UntypedEvent`]).
//!
//! Over 600 lines because the module docs (visibility rule, ordering, flow control, deletion)
//! and the typed envelopes live here; the queries themselves are in the submodules.

mod cursor;
mod delivery;
mod error;
mod live;
mod state_at;

use std::sync::Arc;

use crate::actor::ActorRef;
use crate::persistence::{
    Codec, CodecError, Entity, EntityReader, Journal, Manifest, MessagePack, Persistence,
    PersistenceId, PersistentRepr, SequenceNr,
};
use crate::supervision::panic;

pub use cursor::PAGE;
use cursor::{Cursor, Selector, guarded};
pub use delivery::{Subscription, SubscriptionEnd};
pub use error::QueryError;
pub(crate) use live::{Live, Polled};
pub use live::{LiveEvents, LivePersistenceIds};
pub use state_at::At;

/// Where a query by offset starts: from the first event, or after an offset (exclusive).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Offset {
    /// From the first event.
    #[default]
    Start,
    /// After this global offset: the last one a consumer handled.
    After(u64),
}

impl Offset {
    /// The offset to read after (0 for [`Offset::Start`]).
    pub fn value(self) -> u64 {
        match self {
            Offset::Start => 0,
            Offset::After(offset) => offset,
        }
    }
}

/// One event as a query delivers it.
///
/// ```
/// use reactant::persistence::PersistenceId;
/// use reactant::query::EventEnvelope;
///
/// let envelope = EventEnvelope {
///     persistence_id: PersistenceId::of("account", "1"),
///     sequence_nr: 1,
///     offset: 17,
///     timestamp_ms: 1_700_000_000_000,
///     tags: vec!["money".into()],
///     event: "Opened",
/// };
/// assert_eq!(envelope.map(str::len).event, 6);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventEnvelope<E> {
    /// The event's stream.
    pub persistence_id: PersistenceId,
    /// Its position in the stream.
    pub sequence_nr: SequenceNr,
    /// Its global offset: resume a query with `Offset::After(offset)`.
    pub offset: u64,
    /// When it was written, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Its tags.
    pub tags: Vec<String>,
    /// The event.
    pub event: E,
}

impl<E> EventEnvelope<E> {
    /// The same envelope around `f(event)`.
    pub fn map<F>(self, f: impl FnOnce(E) -> F) -> EventEnvelope<F> {
        EventEnvelope {
            persistence_id: self.persistence_id,
            sequence_nr: self.sequence_nr,
            offset: self.offset,
            timestamp_ms: self.timestamp_ms,
            tags: self.tags,
            event: f(self.event),
        }
    }
}

/// An event read without its Rust type: its manifest and its payload printed as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UntypedEvent {
    /// What the payload is (type name and schema version).
    pub manifest: Manifest,
    /// The payload as JSON text.
    pub json: String,
}

/// Which stream a typed query reads: an entity id of the entity type (`"acc-1"` is
/// `"account|acc-1"` for `::<Account>`), or a whole [`PersistenceId`], taken as it is.
pub trait StreamId {
    /// The persistence id, for an entity type whose type key is `type_key`.
    fn persistence_id(self, type_key: &str) -> Result<PersistenceId, QueryError>;
}

impl StreamId for &str {
    fn persistence_id(self, type_key: &str) -> Result<PersistenceId, QueryError> {
        if self.is_empty() {
            return Err(crate::persistence::InvalidPersistenceId::Empty.into());
        }
        Ok(PersistenceId::of(type_key, self))
    }
}

impl StreamId for &String {
    fn persistence_id(self, type_key: &str) -> Result<PersistenceId, QueryError> {
        self.as_str().persistence_id(type_key)
    }
}

impl StreamId for String {
    fn persistence_id(self, type_key: &str) -> Result<PersistenceId, QueryError> {
        self.as_str().persistence_id(type_key)
    }
}

impl StreamId for PersistenceId {
    fn persistence_id(self, _: &str) -> Result<PersistenceId, QueryError> {
        Ok(self)
    }
}

impl StreamId for &PersistenceId {
    fn persistence_id(self, _: &str) -> Result<PersistenceId, QueryError> {
        Ok(self.clone())
    }
}

/// Turns stored events into envelopes of one type.
pub(crate) trait Decode: Send + Sync + 'static {
    type Event: Send + 'static;
    fn decode(&self, repr: PersistentRepr) -> Result<EventEnvelope<Self::Event>, QueryError>;
}

/// Decodes with an entity type's codec and upcasters.
pub(crate) struct Typed<A: Entity> {
    reader: EntityReader<A::Event, A>,
}

impl<A: Entity> Typed<A> {
    /// The reader of `A`, as `A::configure` sets up its entities.
    pub(crate) fn of(persistence: &Arc<Persistence>) -> Result<Self, QueryError> {
        let persistence = persistence.clone();
        panic::catch(move || A::behavior("query", persistence).into_reader())
            .map(|reader| Self { reader })
            .map_err(|panic| QueryError::Panicked {
                what: "Entity::configure",
                persistence_id: PersistenceId::of(A::TYPE_KEY, "query"),
                sequence_nr: 0,
                message: panic.message().to_owned(),
            })
    }

    pub(crate) fn reader(&self) -> &EntityReader<A::Event, A> {
        &self.reader
    }
}

impl<A: Entity> Decode for Typed<A> {
    type Event = A::Event;

    fn decode(&self, repr: PersistentRepr) -> Result<EventEnvelope<A::Event>, QueryError> {
        match panic::catch(|| self.reader.decode_event(&repr.manifest, &repr.payload)) {
            Ok(Ok(event)) => Ok(envelope(repr, event)),
            Ok(Err(error)) => Err(QueryError::Decode {
                persistence_id: repr.persistence_id,
                sequence_nr: repr.sequence_nr,
                offset: repr.offset,
                error,
            }),
            Err(panic) => Err(QueryError::Panicked {
                what: "the codec (or an upcaster)",
                persistence_id: repr.persistence_id,
                sequence_nr: repr.sequence_nr,
                message: panic.message().to_owned(),
            }),
        }
    }
}

type JsonFn = Arc<dyn Fn(&Manifest, &[u8]) -> Result<String, CodecError> + Send + Sync>;

/// Prints payloads as JSON with a codec.
pub(crate) struct Untyped {
    json: JsonFn,
}

impl Decode for Untyped {
    type Event = UntypedEvent;

    fn decode(&self, repr: PersistentRepr) -> Result<EventEnvelope<UntypedEvent>, QueryError> {
        match panic::catch(|| (self.json)(&repr.manifest, &repr.payload)) {
            Ok(Ok(json)) => {
                let manifest = repr.manifest.clone();
                Ok(envelope(repr, UntypedEvent { manifest, json }))
            }
            Ok(Err(error)) => Err(QueryError::Decode {
                persistence_id: repr.persistence_id,
                sequence_nr: repr.sequence_nr,
                offset: repr.offset,
                error,
            }),
            Err(panic) => Err(QueryError::Panicked {
                what: "the codec's to_json",
                persistence_id: repr.persistence_id,
                sequence_nr: repr.sequence_nr,
                message: panic.message().to_owned(),
            }),
        }
    }
}

fn envelope<E>(repr: PersistentRepr, event: E) -> EventEnvelope<E> {
    EventEnvelope {
        persistence_id: repr.persistence_id,
        sequence_nr: repr.sequence_nr,
        offset: repr.offset,
        timestamp_ms: repr.timestamp_ms,
        tags: repr.tags,
        event,
    }
}

/// The queries over one [`Persistence`]'s journal: `persistence.query()`.
///
/// Cheap to clone. See the [module docs](self) for an example and the rules.
#[derive(Clone)]
pub struct PersistenceQuery {
    persistence: Arc<Persistence>,
    json: JsonFn,
}

impl Persistence {
    /// The queries over this persistence's journal (see [`crate::query`]).
    pub fn query(self: &Arc<Self>) -> PersistenceQuery {
        PersistenceQuery {
            persistence: self.clone(),
            json: Arc::new(|manifest: &Manifest, payload: &[u8]| {
                MessagePack.to_json(manifest, payload)
            }),
        }
    }
}

impl PersistenceQuery {
    /// The same queries, printing untyped payloads with `codec` instead of [`MessagePack`].
    pub fn with_json_codec(mut self, codec: impl Codec) -> Self {
        self.json =
            Arc::new(move |manifest: &Manifest, payload: &[u8]| codec.to_json(manifest, payload));
        self
    }

    fn journal(&self) -> Arc<dyn Journal> {
        self.persistence.journal().clone()
    }

    fn untyped(&self) -> Arc<Untyped> {
        Arc::new(Untyped {
            json: self.json.clone(),
        })
    }

    fn typed<A: Entity>(&self) -> Result<Arc<Typed<A>>, QueryError> {
        Typed::of(&self.persistence).map(Arc::new)
    }

    fn by_id<A: Entity>(
        &self,
        id: impl StreamId,
        from: SequenceNr,
        to: SequenceNr,
    ) -> Result<(Arc<Typed<A>>, Selector), QueryError> {
        let persistence_id = id.persistence_id(A::TYPE_KEY)?;
        Ok((
            self.typed::<A>()?,
            Selector::Id {
                persistence_id,
                next: from,
                to,
            },
        ))
    }

    fn by_tag<A: Entity>(
        &self,
        tag: &str,
        offset: Offset,
    ) -> Result<(Arc<Typed<A>>, Selector), QueryError> {
        Ok((
            self.typed::<A>()?,
            Selector::Tag {
                tag: tag.to_owned(),
                after: offset.value(),
            },
        ))
    }

    /// The events of one stream with sequence numbers in `from..=to` stored now, in order,
    /// decoded as `A`'s events. `id` is an entity id of `A` or a [`PersistenceId`].
    pub fn current_events_by_persistence_id<A: Entity>(
        &self,
        id: impl StreamId,
        from: SequenceNr,
        to: SequenceNr,
    ) -> CurrentEvents<A::Event> {
        CurrentEvents::new(self.journal(), self.by_id::<A>(id, from, to))
    }

    /// The events tagged `tag` after `offset` stored now, in offset order, decoded as `A`'s
    /// events.
    pub fn current_events_by_tag<A: Entity>(
        &self,
        tag: &str,
        offset: Offset,
    ) -> CurrentEvents<A::Event> {
        CurrentEvents::new(self.journal(), self.by_tag::<A>(tag, offset))
    }

    /// Every event after `offset` stored now, of every stream, in global order, untyped.
    pub fn current_events(&self, offset: Offset) -> CurrentEvents<UntypedEvent> {
        let selector = Selector::All {
            after: offset.value(),
        };
        CurrentEvents::new(self.journal(), Ok((self.untyped(), selector)))
    }

    /// The persistence ids of the streams that have events now, each once, in the journal's
    /// order (RocksDB and in memory: shorter ids first, then byte order).
    pub fn current_persistence_ids(&self) -> CurrentPersistenceIds {
        CurrentPersistenceIds {
            journal: self.journal(),
            page: std::collections::VecDeque::new(),
            last: None,
            done: false,
        }
    }

    /// Like [`current_events_by_persistence_id`](Self::current_events_by_persistence_id), then
    /// each new event of the stream as it is committed, until sequence number `to`.
    pub fn events_by_persistence_id<A: Entity>(
        &self,
        id: impl StreamId,
        from: SequenceNr,
        to: SequenceNr,
    ) -> LiveEvents<A::Event> {
        LiveEvents::new(self.journal(), self.by_id::<A>(id, from, to))
    }

    /// Like [`current_events_by_tag`](Self::current_events_by_tag), then each new event
    /// tagged `tag` as it is committed. Never ends by itself.
    pub fn events_by_tag<A: Entity>(&self, tag: &str, offset: Offset) -> LiveEvents<A::Event> {
        LiveEvents::new(self.journal(), self.by_tag::<A>(tag, offset))
    }

    /// Like [`current_events`](Self::current_events), then each new event as it is
    /// committed. Never ends by itself.
    pub fn events(&self, offset: Offset) -> LiveEvents<UntypedEvent> {
        let selector = Selector::All {
            after: offset.value(),
        };
        LiveEvents::new(self.journal(), Ok((self.untyped(), selector)))
    }

    /// Like [`current_persistence_ids`](Self::current_persistence_ids), then each new
    /// persistence id as its first event is committed. It remembers the ids it gave (one
    /// entry per stream), so that none comes twice.
    pub fn persistence_ids(&self) -> LivePersistenceIds {
        LivePersistenceIds::new(self.journal())
    }

    /// [`events_by_persistence_id`](Self::events_by_persistence_id), delivered to `to_actor`
    /// by a pump on the actor's dispatcher, with flow control (see [`Subscription`]).
    pub fn events_by_persistence_id_to<A: Entity>(
        &self,
        id: impl StreamId,
        from: SequenceNr,
        to: SequenceNr,
        to_actor: &ActorRef<EventEnvelope<A::Event>>,
    ) -> Result<Subscription, QueryError> {
        delivery::deliver(self.events_by_persistence_id::<A>(id, from, to), to_actor)
    }

    /// [`events_by_tag`](Self::events_by_tag), delivered to `to_actor` by a pump on the
    /// actor's dispatcher, with flow control (see [`Subscription`]).
    pub fn events_by_tag_to<A: Entity>(
        &self,
        tag: &str,
        offset: Offset,
        to_actor: &ActorRef<EventEnvelope<A::Event>>,
    ) -> Result<Subscription, QueryError> {
        delivery::deliver(self.events_by_tag::<A>(tag, offset), to_actor)
    }

    /// [`events`](Self::events), delivered to `to_actor` by a pump on the actor's dispatcher,
    /// with flow control (see [`Subscription`]).
    pub fn events_to(
        &self,
        offset: Offset,
        to_actor: &ActorRef<EventEnvelope<UntypedEvent>>,
    ) -> Result<Subscription, QueryError> {
        delivery::deliver(self.events(offset), to_actor)
    }

    /// [`persistence_ids`](Self::persistence_ids), delivered to `to_actor` by a pump on the
    /// actor's dispatcher, with flow control (see [`Subscription`]).
    pub fn persistence_ids_to(
        &self,
        to_actor: &ActorRef<PersistenceId>,
    ) -> Result<Subscription, QueryError> {
        delivery::deliver(self.persistence_ids(), to_actor)
    }
}

impl std::fmt::Debug for PersistenceQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistenceQuery").finish_non_exhaustive()
    }
}

/// A current query's events: what was stored when it started, then `None`. An `Err` item for
/// an event that cannot be decoded is followed by the next event; after a failed read of the
/// journal, the iterator ends.
pub struct CurrentEvents<E> {
    cursor: Option<Cursor>,
    decode: Option<Arc<dyn Decode<Event = E>>>,
    /// An error to give before anything (the query could not be set up).
    failed: Option<QueryError>,
}

impl<E: Send + 'static> CurrentEvents<E> {
    fn new<D: Decode<Event = E>>(
        journal: Arc<dyn Journal>,
        parts: Result<(Arc<D>, Selector), QueryError>,
    ) -> Self {
        match parts {
            Ok((decode, selector)) => Self {
                cursor: Some(Cursor::new(journal, selector, false)),
                decode: Some(decode),
                failed: None,
            },
            Err(error) => Self {
                cursor: None,
                decode: None,
                failed: Some(error),
            },
        }
    }
}

impl<E: Send + 'static> Iterator for CurrentEvents<E> {
    type Item = Result<EventEnvelope<E>, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.failed.take() {
            return Some(Err(error));
        }
        let (cursor, decode) = (self.cursor.as_mut()?, self.decode.as_ref()?);
        match cursor.next_stored() {
            Ok(Some(repr)) => Some(decode.decode(repr)),
            Ok(None) => None,
            Err(error) => {
                self.cursor = None;
                Some(Err(error))
            }
        }
    }
}

impl<E> std::fmt::Debug for CurrentEvents<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentEvents").finish_non_exhaustive()
    }
}

/// The persistence ids stored now, a page at a time.
pub struct CurrentPersistenceIds {
    journal: Arc<dyn Journal>,
    page: std::collections::VecDeque<PersistenceId>,
    last: Option<PersistenceId>,
    done: bool,
}

impl Iterator for CurrentPersistenceIds {
    type Item = Result<PersistenceId, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(id) = self.page.pop_front() {
            return Some(Ok(id));
        }
        if self.done {
            return None;
        }
        let Self {
            journal,
            page,
            last,
            ..
        } = self;
        if let Err(error) = guarded(|| {
            journal.persistence_ids_after(last.as_ref(), PAGE, &mut |id| page.push_back(id))
        }) {
            self.done = true;
            return Some(Err(error));
        }
        if (page.len() as u64) < PAGE {
            self.done = true;
        }
        self.last = page.back().cloned();
        page.pop_front().map(Ok)
    }
}

impl std::fmt::Debug for CurrentPersistenceIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentPersistenceIds")
            .finish_non_exhaustive()
    }
}
