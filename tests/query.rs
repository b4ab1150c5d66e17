//! The persistence query suite: a port of the behaviours of Apache Pekko's persistence-query
//! specs (`EventsByPersistenceIdSpec`, `EventsByTagSpec`, `AllPersistenceIdsSpec`, current and
//! live), written once and run against every backend — in memory always, RocksDB with the
//! `rocksdb` feature — plus the global order, the delivery to actors, failures, the state at
//! a past point, and a hammer with concurrent writers.
//!
//! This file holds the fixture (an entity that notes strings and tags them by the colours
//! they name, as Pekko's `ColorTagger` does) and the macro that instantiates every case per
//! backend; the cases live in `query/*.rs`.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reactant::persistence::{
    Codec, CodecError, Effect, Entity, Event, EventSourcedBehavior, Journal, Manifest, MessagePack,
    Persistence, PersistenceId, SnapshotStore,
};
use reactant::prelude::*;
use reactant::query::{EventEnvelope, PersistenceQuery};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use common::WAIT;

// ---------------------------------------------------------------------------------------------
// Backends

/// A backend under test, with a system and a persistence over it.
struct Store {
    journal: Arc<dyn Journal>,
    snapshots: Arc<dyn SnapshotStore>,
    /// Closes the journal (what `InMemoryJournal::close` / `RocksJournal::close` do).
    close: Box<dyn Fn() + Send + Sync>,
    #[cfg(feature = "rocksdb")]
    _folder: Option<tempfile::TempDir>,
}

fn in_memory() -> Store {
    use reactant::persistence::memory::{InMemoryJournal, InMemorySnapshotStore};
    let journal = Arc::new(InMemoryJournal::new());
    let closing = journal.clone();
    Store {
        journal,
        snapshots: Arc::new(InMemorySnapshotStore::new()),
        close: Box::new(move || closing.close()),
        #[cfg(feature = "rocksdb")]
        _folder: None,
    }
}

#[cfg(feature = "rocksdb")]
fn rocks() -> Store {
    use reactant::persistence::rocksdb::{Durability, RocksConfig, RocksJournal};
    let folder = tempfile::tempdir().expect("a temporary folder");
    let journal = RocksJournal::open_with(
        folder.path(),
        RocksConfig {
            durability: Durability::Buffered,
        },
    )
    .expect("a new journal opens");
    let closing = journal.clone();
    Store {
        journal: journal.clone(),
        snapshots: journal,
        close: Box::new(move || closing.close()),
        _folder: Some(folder),
    }
}

// ---------------------------------------------------------------------------------------------
// The fixture: Pekko's TestActor, as an entity

const COLORS: [&str; 5] = ["green", "black", "blue", "pink", "yellow"];

/// A noted string, tagged with each colour it names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Noted(String);

impl Event for Noted {
    fn tags(&self) -> Vec<String> {
        COLORS
            .iter()
            .filter(|color| self.0.contains(*color))
            .map(|color| (*color).to_owned())
            .collect()
    }
}

enum NoteCommand {
    Note(String, ActorRef<String>),
}

#[derive(Default, Serialize, Deserialize)]
struct Notes {
    count: u64,
    last: String,
}

impl Entity for Notes {
    const TYPE_KEY: &'static str = "note";
    type Event = Noted;
    type Command = NoteCommand;

    fn apply(&mut self, event: &Noted) {
        self.count += 1;
        self.last = event.0.clone();
    }

    fn handle_command(&self, command: NoteCommand) -> Effect<Noted, Self> {
        match command {
            NoteCommand::Note(text, reply_to) => {
                let done = format!("{text}-done");
                Effect::persist(Noted(text)).then_reply_to(reply_to, move |_: &Notes| done)
            }
        }
    }

    fn configure(
        behavior: EventSourcedBehavior<NoteCommand, Noted, Self>,
    ) -> EventSourcedBehavior<NoteCommand, Noted, Self> {
        behavior.with_snapshot_every(4, 10)
    }
}

/// A codec that refuses to decode a payload naming "garbage" and panics on one naming
/// "panic": the failures a query must report without failing its consumer.
#[derive(Clone, Copy)]
struct Fragile;

impl Codec for Fragile {
    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        MessagePack.encode(value)
    }

    fn decode<T: DeserializeOwned>(
        &self,
        manifest: &Manifest,
        bytes: &[u8],
    ) -> Result<T, CodecError> {
        let text = String::from_utf8_lossy(bytes);
        if text.contains("panic") {
            panic!("the fragile codec broke on {text:?}");
        }
        if text.contains("garbage") {
            return Err(CodecError::Decode {
                manifest_type: manifest.type_name.to_string(),
                version: manifest.version,
                detail: "garbage in".into(),
            });
        }
        MessagePack.decode(manifest, bytes)
    }
}

/// The same notes, stored with the [`Fragile`] codec.
#[derive(Default, Serialize, Deserialize)]
struct FragileNotes;

impl Entity for FragileNotes {
    const TYPE_KEY: &'static str = "fragile";
    type Event = Noted;
    type Command = NoteCommand;

    fn apply(&mut self, _: &Noted) {}

    fn handle_command(
        &self,
        NoteCommand::Note(text, reply_to): NoteCommand,
    ) -> Effect<Noted, Self> {
        let done = format!("{text}-done");
        Effect::persist(Noted(text)).then_reply_to(reply_to, move |_: &FragileNotes| done)
    }

    fn configure(
        behavior: EventSourcedBehavior<NoteCommand, Noted, Self>,
    ) -> EventSourcedBehavior<NoteCommand, Noted, Self> {
        behavior.with_codec(Fragile)
    }
}

/// A system and a persistence over a store, with the note entities spawned so far.
struct Kit {
    system: ActorSystem,
    persistence: Arc<Persistence>,
    store: Store,
    notes: parking_lot::Mutex<HashMap<String, ActorRef<NoteCommand>>>,
}

impl Kit {
    fn new(store: Store) -> Self {
        let persistence = Persistence::new(store.journal.clone(), store.snapshots.clone())
            .expect("the persistence threads start");
        Self {
            system: common::system("query"),
            persistence,
            store,
            notes: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    fn query(&self) -> PersistenceQuery {
        self.persistence.query()
    }

    /// An actor named `name` that passes `map` of each message it gets to the receiver.
    fn forwarder<T: Send + 'static, U: Send + 'static>(
        &self,
        name: &str,
        map: impl Fn(T) -> U + Send + Sync + 'static,
    ) -> (ActorRef<T>, crossbeam_channel::Receiver<U>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let actor = self
            .system
            .spawn(
                Behaviors::receive_message(move |msg: T| {
                    let _ = tx.send(map(msg));
                    Behaviors::same()
                }),
                name,
            )
            .expect("spawns");
        (actor, rx)
    }

    fn entity<A: Entity<Command = NoteCommand>>(&self, id: &str) -> ActorRef<NoteCommand> {
        let key = format!("{}|{id}", A::TYPE_KEY);
        self.notes
            .lock()
            .entry(key.clone())
            .or_insert_with(|| {
                self.system
                    .spawn(
                        A::behavior(id, self.persistence.clone()),
                        &key.replace('|', "-"),
                    )
                    .expect("the entity spawns")
            })
            .clone()
    }

    /// Notes `text` in the note entity `id` and waits until it is stored.
    fn note(&self, id: &str, text: &str) {
        self.note_in::<Notes>(id, text);
    }

    fn note_in<A: Entity<Command = NoteCommand>>(&self, id: &str, text: &str) {
        let done = self
            .entity::<A>(id)
            .ask(|reply_to| NoteCommand::Note(text.to_owned(), reply_to))
            .wait(WAIT)
            .expect("the note is stored");
        assert_eq!(done, format!("{text}-done"));
    }

    /// Pekko's `setup`: `{id}-1`, `{id}-2`, `{id}-3` noted in `id`.
    fn setup(&self, id: &str) {
        for n in 1..=3 {
            self.note(id, &format!("{id}-{n}"));
        }
    }

    fn delete_to(&self, id: &str, to: u64) {
        self.store
            .journal
            .delete_to(&PersistenceId::of("note", id), to)
            .expect("the deletion succeeds");
    }
}

fn texts(
    envelopes: impl IntoIterator<Item = Result<EventEnvelope<Noted>, reactant::query::QueryError>>,
) -> Vec<String> {
    envelopes
        .into_iter()
        .map(|envelope| envelope.expect("the event decodes").event.0)
        .collect()
}

/// The next envelope of a live query, within [`WAIT`].
#[track_caller]
fn next_live<E: Send + 'static>(live: &mut reactant::query::LiveEvents<E>) -> EventEnvelope<E> {
    match live.next_timeout(WAIT) {
        Some(Ok(envelope)) => envelope,
        Some(Err(error)) => panic!("the live query failed: {error}"),
        None => panic!("no event within {WAIT:?}"),
    }
}

/// Fails if a live query gives anything within a short while.
#[track_caller]
fn assert_nothing_more<E: Send + std::fmt::Debug + 'static>(
    live: &mut reactant::query::LiveEvents<E>,
) {
    if let Some(unexpected) = live.next_timeout(Duration::from_millis(150)) {
        panic!("expected nothing, got {unexpected:?}");
    }
}

#[path = "query/by_persistence_id.rs"]
mod by_persistence_id;
#[path = "query/by_tag.rs"]
mod by_tag;
#[path = "query/failures.rs"]
mod failures;
#[path = "query/global.rs"]
mod global;
#[path = "query/hammer.rs"]
mod hammer;
#[path = "query/persistence_ids.rs"]
mod persistence_ids;
#[path = "query/state_at.rs"]
mod state_at;

// ---------------------------------------------------------------------------------------------
// The suite, instantiated once per backend

macro_rules! cases {
    ($store:path, $module:ident; $($case:ident),* $(,)?) => {
        mod $module {
            $(
                #[test]
                fn $case() {
                    crate::$module::$case(crate::Kit::new($store()));
                }
            )*
        }
    };
}

macro_rules! query_suite {
    ($store:path) => {
        cases!($store, by_persistence_id;
            current_finds_existing_events,
            current_finds_existing_events_up_to_a_sequence_number,
            current_does_not_see_events_written_after_it_started,
            current_of_a_fully_deleted_stream_is_empty,
            current_after_a_partial_deletion_returns_the_rest,
            current_of_an_unknown_stream_is_empty,
            current_from_above_the_highest_is_empty,
            current_envelopes_carry_timestamp_offset_and_tags,
            current_takes_an_entity_id_or_a_persistence_id,
            live_finds_new_events,
            live_up_to_a_sequence_number_ends_there,
            live_finds_new_events_after_a_pause,
            live_of_an_empty_stream_waits_for_its_first_event,
        );
        cases!($store, by_tag;
            current_finds_existing_events,
            current_does_not_see_events_written_after_it_started,
            current_from_an_offset_is_exclusive,
            current_pages_through_more_than_a_page,
            live_finds_new_events,
            live_from_an_offset_is_exclusive,
            live_of_an_unused_tag_waits,
            live_to_an_actor_delivers_in_order_with_a_bounded_window,
            live_to_a_converting_reference_delivers_in_order,
            live_to_an_actor_goes_on_when_the_subscription_is_dropped,
            deleted_events_leave_tag_queries,
            deleted_events_leave_tag_queries_read_right_after_the_writes,
        );
        cases!($store, persistence_ids;
            current_lists_each_stream_once,
            live_finds_new_persistence_ids,
            live_to_an_actor_delivers_each_id_once,
        );
        cases!($store, global;
            current_events_are_in_global_order_and_untyped,
            live_events_follow_commits_in_global_order,
            deleted_events_leave_the_global_order,
            deleted_events_leave_the_global_order_read_right_after_the_writes,
        );
        cases!($store, failures;
            an_event_that_cannot_be_decoded_is_an_error_naming_it_and_the_query_goes_on,
            a_codec_that_panics_is_an_error_never_a_panic_of_the_consumer,
            a_delivery_ends_when_its_actor_stops,
            a_delivery_ends_when_its_actor_stops_without_a_later_commit,
            a_delivery_fails_on_an_event_that_cannot_be_decoded,
            closing_the_journal_ends_live_queries_with_an_error,
            a_cancelled_delivery_stops,
            blocking_on_a_dispatcher_thread_is_refused,
        );
        cases!($store, state_at;
            the_state_at_a_sequence_number,
            the_state_at_a_time,
            the_state_before_deleted_events_without_a_snapshot_is_refused,
        );
        cases!($store, hammer;
            four_writers_and_two_live_subscribers_see_every_offset_once_in_order,
            readers_near_and_far_from_the_head_see_every_offset_once_in_order,
        );
    };
}

mod in_memory {
    query_suite!(crate::in_memory);
}

#[cfg(feature = "rocksdb")]
mod rocksdb {
    query_suite!(crate::rocks);
}
