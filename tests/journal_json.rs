//! Issue 3's self-describing default format: events persisted by entities into a RocksDB
//! journal can be listed and printed as JSON by a reader that has none of their Rust types —
//! what `examples/journal_dump.rs` does — even while the writing program holds the folder.
#![cfg(feature = "rocksdb")]

mod common;

use std::sync::Arc;

use reactant::persistence::rocksdb::RocksJournal;
use reactant::persistence::{
    Codec, Effect, Event, EventSourcedBehavior, Journal, MessagePack, Persistence, PersistenceId,
    PersistentRepr,
};
use reactant::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
enum AccountEvent {
    Opened {
        owner: String,
        overdraft: Option<u64>,
    },
    Deposited {
        amount: u64,
    },
}

impl Event for AccountEvent {
    fn tags(&self) -> Vec<String> {
        vec!["account".into()]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Line {
    sku: String,
    quantity: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum CartEvent {
    ItemAdded { line: Line, notes: Vec<String> },
    CheckedOut,
}

impl Event for CartEvent {}

/// Persists the events it is given and replies with how many its entity holds.
fn recorder<E: Event + Clone>(
    persistence_id: PersistenceId,
    persistence: &Arc<Persistence>,
) -> EventSourcedBehavior<(Vec<E>, ActorRef<usize>), E, usize> {
    EventSourcedBehavior::new(
        persistence_id,
        persistence.clone(),
        || 0,
        |_count: &usize, (events, reply_to): (Vec<E>, ActorRef<usize>)| {
            Effect::persist_all(events).then_reply_to(reply_to, |count: &usize| *count)
        },
        |count: &mut usize, _event: &E| *count += 1,
    )
}

fn persist<E: Send + 'static>(entity: &ActorRef<(Vec<E>, ActorRef<usize>)>, events: Vec<E>) {
    entity
        .ask(|reply_to| (events, reply_to))
        .wait(common::WAIT)
        .expect("the entity persists and replies");
}

/// Every event of the journal, stream after stream, as a reader without the Rust types sees it.
fn read_back(journal: &RocksJournal) -> Vec<PersistentRepr> {
    let mut events = Vec::new();
    for id in journal.persistence_ids().expect("the streams are listed") {
        journal
            .replay(&id, 1, u64::MAX, u64::MAX, &mut |event| events.push(event))
            .expect("the stream replays");
    }
    events
}

#[test]
fn events_of_two_entity_types_print_as_json_without_their_types() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let journal = RocksJournal::open(folder.path()).expect("a new journal opens");
    let persistence = Persistence::new(journal.clone(), journal).expect("persistence starts");
    let system = common::system("journal-json");
    let ann = system
        .spawn(
            recorder(PersistenceId::of("account", "ann"), &persistence),
            "ann",
        )
        .expect("spawn");
    let cart = system
        .spawn(
            recorder(PersistenceId::of("cart", "c-1"), &persistence),
            "cart",
        )
        .expect("spawn");
    persist(
        &ann,
        vec![
            AccountEvent::Opened {
                owner: "Ann \"the\" Ødegård".into(),
                overdraft: None,
            },
            AccountEvent::Deposited { amount: u64::MAX },
        ],
    );
    persist(
        &cart,
        vec![CartEvent::ItemAdded {
            line: Line {
                sku: "tea".into(),
                quantity: 2,
            },
            notes: vec!["gift".into()],
        }],
    );
    persist(&cart, vec![CartEvent::CheckedOut]);

    // While the program holds the folder: a read-only journal sees what it stored.
    let reader = RocksJournal::open_read_only(folder.path()).expect("opens beside the writer");
    assert_eq!(
        reader.persistence_ids().expect("the streams are listed"),
        // Key order: the shorter id first.
        [
            PersistenceId::of("cart", "c-1"),
            PersistenceId::of("account", "ann")
        ]
    );
    let printed: Vec<(String, u64, u64, String, Vec<String>, String)> = read_back(&reader)
        .into_iter()
        .map(|event| {
            let json = MessagePack
                .to_json(&event.manifest, &event.payload)
                .expect("the payload prints as JSON");
            (
                event.persistence_id.to_string(),
                event.sequence_nr,
                event.offset,
                event.manifest.type_name.to_string(),
                event.tags,
                json,
            )
        })
        .collect();
    let row = |id: &str, sequence_nr, offset, manifest: &str, tags: &[&str], json: &str| {
        (
            id.to_owned(),
            sequence_nr,
            offset,
            manifest.to_owned(),
            tags.iter().map(|tag| (*tag).to_owned()).collect::<Vec<_>>(),
            json.to_owned(),
        )
    };
    assert_eq!(
        printed,
        [
            row(
                "cart|c-1",
                1,
                3,
                "CartEvent",
                &[],
                r#"{"ItemAdded":{"line":{"sku":"tea","quantity":2},"notes":["gift"]}}"#
            ),
            row("cart|c-1", 2, 4, "CartEvent", &[], r#""CheckedOut""#),
            row(
                "account|ann",
                1,
                1,
                "AccountEvent",
                &["account"],
                r#"{"Opened":{"owner":"Ann \"the\" Ødegård","overdraft":null}}"#
            ),
            row(
                "account|ann",
                2,
                2,
                "AccountEvent",
                &["account"],
                r#"{"Deposited":{"amount":18446744073709551615}}"#
            ),
        ]
    );
    // Each payload is valid JSON on its own.
    for (.., json) in &printed {
        serde_json::from_str::<serde_json::Value>(json).expect("valid JSON");
    }
    system.shutdown();
}

#[test]
fn a_read_only_journal_reads_a_snapshot_of_the_folder_and_refuses_writes() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let journal = RocksJournal::open(folder.path()).expect("a new journal opens");
    let persistence = Persistence::new(journal.clone(), journal.clone()).expect("starts");
    let system = common::system("journal-json-ro");
    let ann = system
        .spawn(
            recorder(PersistenceId::of("account", "ann"), &persistence),
            "ann",
        )
        .expect("spawn");
    persist(&ann, vec![AccountEvent::Deposited { amount: 1 }]);
    let reader = RocksJournal::open_read_only(folder.path()).expect("opens beside the writer");
    persist(&ann, vec![AccountEvent::Deposited { amount: 2 }]);

    assert_eq!(read_back(&reader).len(), 1, "what came later is not seen");
    assert_eq!(reader.last_offset(), 1);
    let later = RocksJournal::open_read_only(folder.path()).expect("opens again");
    assert_eq!(read_back(&later).len(), 2);

    let refused = reader
        .write(&[])
        .expect_err("a read-only journal refuses writes");
    let message = refused.to_string();
    assert!(
        message.contains("read-only") && message.contains("RocksJournal::open"),
        "{message}"
    );
    system.shutdown();
}
