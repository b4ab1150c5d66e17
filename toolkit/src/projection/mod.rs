//! Projections: read models kept from the journal's events, each a named consumer that
//! resumes from its stored offset after a restart or a crash (Akka Projection's model).
//!
//! - A [`ReadStore`] holds typed [`Table`]s of serde keys and values, in the journal's
//!   RocksDB database (`ReadStore::open`, feature `rocksdb`; its own column family) or in memory
//!   ([`ReadStore::in_memory`]). Reads from any thread each see one consistent state.
//! - A [`Projection`] reads a [`Source`] (events by tag, or every event) after its offset and
//!   hands each envelope to its handler. It runs as an actor of an
//!   [`ActorSystem`](crate::actor::ActorSystem), restarted with backoff by its supervisor
//!   when it fails; [`run`](Projection::run) gives a [`ProjectionRef`] to watch and manage it.
//!
//! # Delivery semantics
//!
//! | kind | the handler gets | the offset is stored | after a crash |
//! |---|---|---|---|
//! | [`exactly_once`](Projection::exactly_once) | one envelope and a [`Transaction`] | with the transaction's writes, in one atomic batch | the read model holds each event's writes exactly once |
//! | [`grouped`](Projection::grouped) | up to N envelopes (or what came within T) and a transaction | with the group's writes, in one batch | the same, a group at a time |
//! | [`at_least_once`](Projection::at_least_once) | one envelope; its effects are its own | in the source's journal after N envelopes or T (100, 500 ms) | the envelopes since the stored offset come again: the handler must be idempotent |
//!
//! Nothing is acknowledged that was not handled: an offset is stored only once its envelope
//! was handled (or skipped by the [`HandlerRecovery`]).
//!
//! # Failures
//!
//! A handler that returns an error or panics has failed on its envelope (its group). Its
//! [`HandlerRecovery`] decides: fail (the default: the actor fails, its supervisor restarts it
//! after a backoff, and it goes on from its stored offset, so the envelope comes again), skip
//! (its offset is stored without its writes), or retry a number of times, a delay apart,
//! then fail or skip. A failing source (an event that cannot be decoded), store or offset
//! fails the projection the same way; [`ProjectionRef::set_offset`] moves it past an event
//! it can never handle. [`ProjectionRef::status`] shows the last error meanwhile.
//!
//! # Keys
//!
//! Table keys are encoded so that their bytes sort as the keys do — integers as numbers,
//! strings as strings, tuples and structs field by field, enums by variant — so
//! [`Table::range`] and [`Table::prefix`] are range scans in key order. A `(String, u32)`
//! key's rows of one string are one [`Table::prefix`] scan.
//!
//! # Example
//!
//! ```
//! use reactant::prelude::*;
//! use reactant::projection::{Projection, ProjectionId, ReadStore, Source, Transaction};
//! use reactant::query::EventEnvelope;
//! use serde::{Deserialize, Serialize};
//! use std::time::{Duration, Instant};
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! struct Deposited { amount: u64 }
//! impl reactant::persistence::Event for Deposited {
//!     fn tags(&self) -> Vec<String> { vec!["account".into()] }
//! }
//! #[derive(Default, Serialize, Deserialize)]
//! struct Account;
//! impl reactant::persistence::Entity for Account {
//!     const TYPE_KEY: &'static str = "account";
//!     type Event = Deposited;
//!     type Command = (u64, ActorRef<()>);
//!     fn apply(&mut self, _: &Deposited) {}
//!     fn handle_command(&self, (amount, reply_to): (u64, ActorRef<()>)) -> Effect<Deposited, Self> {
//!         Effect::persist(Deposited { amount }).then_reply_to(reply_to, |_: &Account| ())
//!     }
//! }
//!
//! let system = ActorSystem::new("docs")?;
//! let persistence = Persistence::in_memory()?;
//! let store = ReadStore::in_memory();
//! let balances = store.table::<String, u64>("balances");
//! let table = balances.clone();
//! let projection = Projection::exactly_once(
//!     ProjectionId::new("balances", "all"),
//!     Source::events_by_tag::<Account>(&persistence, "account"),
//!     &store,
//!     move |tx: &mut Transaction, env: &EventEnvelope<Deposited>| {
//!         let id = env.persistence_id.to_string();
//!         tx.update(&table, &id, |balance| Some(balance.unwrap_or(0) + env.event.amount))?;
//!         Ok(())
//!     },
//! )
//! .with_table(&balances)
//! .run(&system)?;
//!
//! let account = system.spawn(Account::behavior("a-1", persistence.clone()), "a-1")?;
//! for amount in [5, 7] {
//!     account.ask(|reply_to| (amount, reply_to)).wait(Duration::from_secs(3))?;
//! }
//! let deadline = Instant::now() + Duration::from_secs(5);
//! while projection.status()?.offset != Some(2) && Instant::now() < deadline {
//!     std::thread::sleep(Duration::from_millis(5));
//! }
//! assert_eq!(balances.get(&"account|a-1".to_owned())?, Some(12));
//! assert_eq!(store.offset(projection.id())?, Some(2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod builder;
mod error;
mod key;
mod management;
mod runner;
mod source;
mod store;
mod transaction;

use std::fmt;

pub use crate::persistence::{MAX_SLICES, slice_of, slice_tag};
pub use builder::{HandlerRecovery, Projection};
pub use error::{HandlerError, ProjectionError, ReadStoreError};
pub use management::{ProjectionRef, ProjectionState, ProjectionStatus};
pub use source::Source;
pub use store::{ReadStore, ReadView, Table};
pub use transaction::Transaction;

/// A projection's identity: its `name` (what it computes) and `key` (which part of the
/// events it reads, e.g. a slice): Akka Projection's `ProjectionId`. Its offset is stored
/// under it.
///
/// ```
/// use reactant::projection::ProjectionId;
///
/// let id = ProjectionId::new("revenue", "slice-3");
/// assert_eq!(id.to_string(), "revenue/slice-3");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectionId {
    /// What the projection computes.
    pub name: String,
    /// Which part of the events it reads.
    pub key: String,
}

impl ProjectionId {
    /// The id `name`/`key`.
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            key: key.into(),
        }
    }

    /// The id of slice `slice` of the sliced projection `name`: key `"slice-{slice}"`
    /// (what [`Projection::run_slices`] expects; its offset is stored under it).
    ///
    /// ```
    /// use reactant::projection::ProjectionId;
    ///
    /// assert_eq!(ProjectionId::for_slice("revenue", 3), ProjectionId::new("revenue", "slice-3"));
    /// ```
    pub fn for_slice(name: impl Into<String>, slice: u32) -> Self {
        Self::new(name, format!("slice-{slice}"))
    }
}

impl fmt::Display for ProjectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.key)
    }
}
