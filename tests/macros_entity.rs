//! `#[derive(Event)]`, `#[derive(Entity)]` and `#[entity]` end to end: an event-sourced entity
//! written as a struct and one impl block, run directly, under a supervisor, and sharded
//! (issue 4).

mod common;

use std::sync::Arc;

use reactant::persistence::{
    Codec, CodecError, Manifest, MessagePack, Persistence, PersistenceId, SnapshotCriteria,
};
use reactant::prelude::*;
use serde::{Deserialize, Serialize};

use common::WAIT;

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(tag = "account", tag = "ledger")]
enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum AccountError {
    NotOpen,
    Insufficient { balance: u64 },
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "account", event = AccountEvent, snapshot_every = 100)]
struct Account {
    owner: Option<String>,
    balance: u64,
}

#[entity]
impl Account {
    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { owner } => self.owner = Some(owner.clone()),
            AccountEvent::Deposited { amount } => self.balance += amount,
            AccountEvent::Withdrawn { amount } => self.balance -= amount,
        }
    }

    /// Opens the account for `owner`; answers once the event is persisted.
    pub fn open(&self, owner: String) -> Effect<AccountEvent, ()> {
        Effect::persist(AccountEvent::Opened { owner }).then_reply(|_| ())
    }

    /// The contract's example, as written in DESIGN.md.
    pub fn deposit(&self, amount: u64) -> Effect<AccountEvent, Result<u64, AccountError>> {
        Effect::persist(AccountEvent::Deposited { amount }).then_reply(|s| Ok(s.balance))
    }

    /// Refused without persisting anything when the balance is short.
    pub fn withdraw(&self, amount: u64) -> Effect<AccountEvent, Result<u64, AccountError>> {
        if self.owner.is_none() {
            return Effect::reply(Err(AccountError::NotOpen));
        }
        if amount > self.balance {
            return Effect::reply(Err(AccountError::Insufficient {
                balance: self.balance,
            }));
        }
        Effect::persist(AccountEvent::Withdrawn { amount }).then_reply(|s| Ok(s.balance))
    }

    /// Read-only: answered from memory.
    pub fn balance(&self) -> u64 {
        self.balance
    }

    /// Read-only, a whole copy of the state: `Self` is the entity type.
    pub fn state(&self) -> Self {
        self.clone()
    }

    /// Persists two deposits atomically and replies nothing: a tell.
    pub fn deposit_twice(&self, amount: u64) -> Effect<AccountEvent> {
        Effect::persist_all([
            AccountEvent::Deposited { amount },
            AccountEvent::Deposited { amount },
        ])
    }

    /// Stops the entity (its events stay in the journal).
    pub fn passivate(&self) -> Effect<AccountEvent> {
        Effect::stop()
    }

    /// Panics: the supervisor restarts the entity, which recovers from its journal.
    pub fn crash(&self) {
        panic!("the account was asked to crash");
    }
}

fn account(
    system: &ActorSystem,
    id: &str,
    persistence: &Arc<Persistence>,
) -> ActorRef<AccountCommand> {
    system
        .spawn(Account::behavior(id, persistence.clone()), id)
        .expect("spawn the account")
}

#[test]
fn persisting_commands_reply_from_the_new_state_and_queries_from_memory() {
    let system = common::system("macro-entity");
    let persistence = Persistence::in_memory().unwrap();
    let acc = account(&system, "acc-1", &persistence);
    assert_eq!(
        acc.withdraw(1).wait(WAIT).unwrap(),
        Err(AccountError::NotOpen)
    );
    acc.open("ada".to_owned()).wait(WAIT).unwrap();
    assert_eq!(acc.deposit(100).wait(WAIT).unwrap(), Ok(100));
    assert_eq!(
        acc.withdraw(130).wait(WAIT).unwrap(),
        Err(AccountError::Insufficient { balance: 100 })
    );
    assert_eq!(acc.withdraw(30).wait(WAIT).unwrap(), Ok(70));
    acc.deposit_twice(5);
    assert_eq!(acc.balance().wait(WAIT).unwrap(), 80);
    let state = acc.state().wait(WAIT).unwrap();
    assert_eq!(state.owner.as_deref(), Some("ada"));
    let pid = PersistenceId::of("account", "acc-1");
    assert_eq!(persistence.journal().highest_sequence_nr(&pid).unwrap(), 5);
}

#[test]
fn a_stopped_entity_spawned_again_recovers_its_state() {
    let system = common::system("macro-entity-recovery");
    let persistence = Persistence::in_memory().unwrap();
    let first = account(&system, "acc-2", &persistence);
    first.open("grace".to_owned()).wait(WAIT).unwrap();
    assert_eq!(first.deposit(40).wait(WAIT).unwrap(), Ok(40));
    first.passivate();
    assert!(common::eventually(|| first.is_terminated()));

    let again = system
        .spawn(
            Account::behavior("acc-2", persistence.clone()),
            "acc-2-again",
        )
        .unwrap();
    assert_eq!(again.balance().wait(WAIT).unwrap(), 40);
    assert_eq!(
        again.state().wait(WAIT).unwrap().owner.as_deref(),
        Some("grace")
    );
}

#[test]
fn a_supervised_entity_restarts_and_recovers_from_its_journal() {
    let system = common::system("macro-entity-restart");
    let persistence = Persistence::in_memory().unwrap();
    let acc = system
        .spawn(
            Behaviors::supervise(Account::behavior("acc-3", persistence.clone()).into_behavior())
                .on_failure(SupervisorStrategy::restart()),
            "acc-3",
        )
        .unwrap();
    assert_eq!(acc.deposit(25).wait(WAIT).unwrap(), Ok(25));
    acc.crash();
    assert_eq!(acc.deposit(5).wait(WAIT).unwrap(), Ok(30));
    assert_eq!(acc.balance().wait(WAIT).unwrap(), 30);
}

#[test]
fn a_sharded_entity_gets_the_typed_methods_too() {
    let system = common::system("macro-entity-sharding");
    let persistence = Persistence::in_memory().unwrap();
    let accounts = system.sharding().init::<Account>(persistence).unwrap();
    assert_eq!(
        accounts.entity("acc-1").deposit(100).wait(WAIT).unwrap(),
        Ok(100)
    );
    accounts.entity("acc-1").deposit_twice(1);
    assert_eq!(accounts.entity("acc-1").balance().wait(WAIT).unwrap(), 102);
    assert_eq!(accounts.entity("acc-2").balance().wait(WAIT).unwrap(), 0);
}

#[test]
fn the_entity_trait_carries_the_derive_settings() {
    assert_eq!(Account::TYPE_KEY, "account");
    assert_eq!(AccountEvent::manifest(), Manifest::new("AccountEvent", 1));
    let event = AccountEvent::Deposited { amount: 1 };
    assert_eq!(event.tags(), ["account", "ledger"]);
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
struct Counted;

/// Snapshots every 3 events, keeping one; its command enum and ref trait are renamed.
#[derive(Debug, Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "tally", event = Counted, snapshot_every = 3, keep_snapshots = 1)]
struct Tally {
    count: u64,
}

#[entity(command = TallyCmd, ref_trait = TallyApi)]
impl Tally {
    fn apply(&mut self, _event: &Counted) {
        self.count += 1;
    }

    /// Counts one more.
    pub fn count(&self) -> Effect<Counted, u64> {
        Effect::persist(Counted).then_reply(|tally| tally.count)
    }
}

#[test]
fn snapshot_every_from_the_attribute_takes_snapshots() {
    let system = common::system("macro-entity-snapshots");
    let persistence = Persistence::in_memory().unwrap();
    let tally: ActorRef<TallyCmd> = system
        .spawn(Tally::behavior("t-1", persistence.clone()), "t-1")
        .unwrap();
    for expected in 1..=7 {
        assert_eq!(tally.count().wait(WAIT).unwrap(), expected);
    }
    let pid = PersistenceId::of("tally", "t-1");
    let newest = || {
        persistence
            .snapshot_store()
            .load(&pid, SnapshotCriteria::LATEST)
            .unwrap()
            .map(|snapshot| snapshot.metadata.sequence_nr)
    };
    assert!(common::eventually(|| newest() == Some(6)));
    // keep_snapshots = 1: the one at 3 goes, once the entity has seen the one at 6 saved
    // (retention follows `SnapshotCompleted`, as in Akka).
    let older = || {
        persistence
            .snapshot_store()
            .load(&pid, SnapshotCriteria::up_to(5))
            .unwrap()
    };
    assert!(
        common::eventually(|| older().is_none()),
        "only the newest snapshot is kept"
    );
}

/// A renamed, versioned event with an upcaster for version 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "price-changed", version = 2, upcast = upcast_price)]
struct PriceChanged {
    cents: u64,
}

fn upcast_price<C: Codec>(
    codec: &C,
    manifest: &Manifest,
    payload: &[u8],
) -> Result<PriceChanged, CodecError> {
    #[derive(Deserialize)]
    struct V1 {
        euros: u64,
    }
    match manifest.version {
        1 => codec
            .decode::<V1>(manifest, payload)
            .map(|old| PriceChanged {
                cents: old.euros * 100,
            }),
        version => Err(CodecError::UnknownManifest {
            manifest_type: manifest.type_name.to_string(),
            version,
        }),
    }
}

#[test]
fn an_event_with_an_upcaster_reads_old_versions() {
    #[derive(Serialize)]
    struct V1 {
        euros: u64,
    }
    assert_eq!(PriceChanged::manifest(), Manifest::new("price-changed", 2));
    let old = MessagePack.encode(&V1 { euros: 3 }).unwrap();
    let upcast =
        PriceChanged::upcast(&MessagePack, &Manifest::new("price-changed", 1), &old).unwrap();
    assert_eq!(upcast, PriceChanged { cents: 300 });
    let current = MessagePack.encode(&PriceChanged { cents: 7 }).unwrap();
    let decoded = PriceChanged::upcast(&MessagePack, &PriceChanged::manifest(), &current).unwrap();
    assert_eq!(decoded, PriceChanged { cents: 7 });
    assert!(
        PriceChanged::upcast(&MessagePack, &Manifest::new("price-changed", 3), &current).is_err()
    );
}

/// JSON instead of MessagePack: the payloads read as text.
struct Json;

impl Codec for Json {
    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        serde_json::to_vec(value).map_err(|error| CodecError::Encode {
            type_name: std::any::type_name::<T>(),
            detail: error.to_string(),
        })
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        manifest: &Manifest,
        bytes: &[u8],
    ) -> Result<T, CodecError> {
        serde_json::from_slice(bytes).map_err(|error| CodecError::Decode {
            manifest_type: manifest.type_name.to_string(),
            version: manifest.version,
            detail: error.to_string(),
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
enum JsonTallyEvent {
    Counted { by: u32 },
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "json-tally", event = JsonTallyEvent, codec = Json, snapshot_every = 2)]
struct JsonTally {
    total: u32,
}

#[entity]
impl JsonTally {
    fn apply(&mut self, event: &JsonTallyEvent) {
        match event {
            JsonTallyEvent::Counted { by } => self.total += by,
        }
    }

    pub fn count(&self, by: u32) -> Effect<JsonTallyEvent, u32> {
        Effect::persist(JsonTallyEvent::Counted { by }).then_reply(|s| s.total)
    }

    pub fn total(&self) -> u32 {
        self.total
    }
}

#[test]
fn the_codec_from_the_attribute_stores_events_and_snapshots() {
    let persistence = Persistence::in_memory().unwrap();
    let pid = PersistenceId::of("json-tally", "t-1");
    {
        let system = common::system("macro-codec-1");
        let tally = system
            .spawn(JsonTally::behavior("t-1", persistence.clone()), "t-1")
            .unwrap();
        for by in 1..=3 {
            tally.count(by).wait(WAIT).unwrap();
        }
        system.shutdown();
    }
    let mut payloads = Vec::new();
    persistence
        .journal()
        .replay(&pid, 1, u64::MAX, u64::MAX, &mut |e| {
            payloads.push(String::from_utf8(e.payload).unwrap())
        })
        .unwrap();
    assert_eq!(payloads[0], r#"{"Counted":{"by":1}}"#);
    assert_eq!(payloads.len(), 3);
    let system = common::system("macro-codec-2");
    let tally = system
        .spawn(JsonTally::behavior("t-1", persistence.clone()), "t-1")
        .unwrap();
    assert_eq!(tally.total().wait(WAIT).unwrap(), 6);
    // Saved after event 2 (on a reader thread, so possibly after the replies).
    let snapshot = || {
        persistence
            .snapshot_store()
            .load(&pid, SnapshotCriteria::LATEST)
            .unwrap()
            .map(|snapshot| (snapshot.metadata.sequence_nr, snapshot.payload))
    };
    assert!(common::eventually(|| snapshot().is_some()));
    assert_eq!(snapshot(), Some((2, br#"{"total":3}"#.to_vec())));
}

/// A type of the user's called `Effect`, which `#[entity]` does not take for Reactant's.
mod sim {
    #[derive(Debug, PartialEq, Eq)]
    pub struct Effect<T>(pub T);
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
enum WalletEvent {
    Credited { amount: u64 },
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "wallet", event = WalletEvent)]
struct Wallet {
    balance: u64,
}

/// Every spelling of a command's effect that means one thing (issue 15).
#[entity]
impl Wallet {
    fn apply(&mut self, event: &WalletEvent) {
        match event {
            WalletEvent::Credited { amount } => self.balance += amount,
        }
    }

    /// `Effect<Event, Reply>`: the reply is the new balance.
    pub fn credit(&self, amount: u64) -> Effect<WalletEvent, u64> {
        Effect::persist(WalletEvent::Credited { amount }).then_reply(|s| s.balance)
    }

    /// The full form, `Effect<Event, State, Reply>`, replying the whole state.
    pub fn credit_and_show(&self, amount: u64) -> Effect<WalletEvent, Self, Wallet> {
        Effect::persist(WalletEvent::Credited { amount }).then_reply(Wallet::clone)
    }

    /// Reactant's `Effect` by its path through the crate.
    pub fn credit_by_path(&self, amount: u64) -> reactant::persistence::Effect<WalletEvent> {
        Effect::persist(WalletEvent::Credited { amount })
    }

    /// A query returning the user's own `Effect`: answered from memory, persists nothing.
    pub fn simulate(&self, amount: u64) -> sim::Effect<u64> {
        sim::Effect(self.balance + amount)
    }

    /// Compiled out: no variant, no arm, no ref method.
    #[cfg(any())]
    pub fn never_compiled(&self, missing: NoSuchType) -> Effect<WalletEvent, NoSuchType> {
        Effect::reply(missing)
    }

    pub fn balance(&self) -> u64 {
        self.balance
    }
}

#[test]
fn every_spelling_of_a_commands_effect_persists_and_a_users_effect_is_a_query() {
    let system = common::system("macro-entity-spellings");
    let persistence = Persistence::in_memory().unwrap();
    let wallet = system
        .spawn(Wallet::behavior("w-1", persistence.clone()), "w-1")
        .expect("spawn the wallet");
    assert_eq!(wallet.credit(10).wait(WAIT).unwrap(), 10);
    assert_eq!(wallet.credit_and_show(5).wait(WAIT).unwrap().balance, 15);
    wallet.credit_by_path(1);
    assert_eq!(wallet.simulate(100).wait(WAIT).unwrap(), sim::Effect(116));
    assert_eq!(wallet.balance().wait(WAIT).unwrap(), 16);
    let pid = PersistenceId::of("wallet", "w-1");
    assert_eq!(persistence.journal().highest_sequence_nr(&pid).unwrap(), 3);
}
