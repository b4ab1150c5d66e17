//! `Projection`: what a projection reads, how it handles what it reads, and how it recovers;
//! `run` spawns it as a supervised actor.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ProjectionId;
use super::error::{HandlerError, ProjectionError};
use super::management::{ProjectionRef, StatusCell};
use super::runner::{self, Effectful, Group, Shared, Single};
use super::source::Source;
use super::store::{ReadStore, Table};
use super::transaction::Transaction;
use crate::actor::{ActorSystem, Behaviors, Props};
use crate::query::EventEnvelope;
use crate::supervision::SupervisorStrategy;

/// How a projection handles its envelopes, and where its offset lives.
pub(crate) enum Handling<E> {
    /// One envelope per transaction, committed with its offset (in the read store).
    ExactlyOnce {
        store: ReadStore,
        handler: Single<E>,
    },
    /// Up to `size` envelopes per transaction, committed with the last one's offset.
    Grouped {
        store: ReadStore,
        handler: Group<E>,
        size: usize,
        within: Duration,
    },
    /// Effects outside the store; the offset (in the journal) stored after `envelopes`
    /// envelopes or `within`.
    AtLeastOnce {
        handler: Effectful<E>,
        envelopes: usize,
        within: Duration,
    },
}

/// What a projection does when its handler fails (returns an error or panics) on an
/// envelope (a group, for a grouped projection). Akka Projection's `HandlerRecoveryStrategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandlerRecovery {
    pub(crate) retries: u32,
    pub(crate) delay: Duration,
    pub(crate) then_skip: bool,
}

impl HandlerRecovery {
    /// The projection fails and restarts after a backoff from its stored offset (the
    /// default): nothing is skipped, the failed envelope is tried again after the restart.
    pub fn fail() -> Self {
        Self::retry_and_fail(0, Duration::ZERO)
    }

    /// The envelope is skipped: its offset is stored as handled, without its writes.
    pub fn skip() -> Self {
        Self::retry_and_skip(0, Duration::ZERO)
    }

    /// Tries the envelope `retries` more times, `delay` apart, then fails (see
    /// [`fail`](Self::fail)).
    pub fn retry_and_fail(retries: u32, delay: Duration) -> Self {
        Self {
            retries,
            delay,
            then_skip: false,
        }
    }

    /// Tries the envelope `retries` more times, `delay` apart, then skips it (see
    /// [`skip`](Self::skip)).
    pub fn retry_and_skip(retries: u32, delay: Duration) -> Self {
        Self {
            retries,
            delay,
            then_skip: true,
        }
    }
}

impl Default for HandlerRecovery {
    fn default() -> Self {
        Self::fail()
    }
}

/// A projection: a named consumer of a [`Source`] whose handler builds a read model (see the
/// [module docs](super) for the delivery semantics and an example). Configure it, then
/// [`run`](Self::run) it.
pub struct Projection<E> {
    pub(crate) id: ProjectionId,
    pub(crate) source: Source<E>,
    pub(crate) handling: Handling<E>,
    pub(crate) recovery: HandlerRecovery,
    pub(crate) backoff: (Duration, Duration, f64),
    pub(crate) tables: Vec<String>,
    pub(crate) dispatcher: Option<String>,
}

impl<E: Send + 'static> Projection<E> {
    fn new(id: ProjectionId, source: Source<E>, handling: Handling<E>) -> Self {
        Self {
            id,
            source,
            handling,
            recovery: HandlerRecovery::default(),
            backoff: (Duration::from_secs(3), Duration::from_secs(30), 0.2),
            tables: Vec::new(),
            dispatcher: None,
        }
    }

    /// Exactly-once: each envelope's writes to `store` (through the [`Transaction`] the
    /// handler fills) and its offset commit in one atomic batch. After any crash the read
    /// model holds each event's writes exactly once.
    pub fn exactly_once<F>(
        id: ProjectionId,
        source: Source<E>,
        store: &ReadStore,
        handler: F,
    ) -> Self
    where
        F: FnMut(&mut Transaction, &EventEnvelope<E>) -> Result<(), HandlerError> + Send + 'static,
    {
        let handling = Handling::ExactlyOnce {
            store: store.clone(),
            handler: Box::new(handler),
        };
        Self::new(id, source, handling)
    }

    /// Grouped exactly-once: the handler gets up to 1,000 envelopes at once, or what arrived
    /// within 50 ms (change it with [`group_within`](Self::group_within)); its writes and the
    /// last envelope's offset commit in one batch. For throughput.
    pub fn grouped<F>(id: ProjectionId, source: Source<E>, store: &ReadStore, handler: F) -> Self
    where
        F: FnMut(&mut Transaction, &[EventEnvelope<E>]) -> Result<(), HandlerError>
            + Send
            + 'static,
    {
        let handling = Handling::Grouped {
            store: store.clone(),
            handler: Box::new(handler),
            size: 1_000,
            within: Duration::from_millis(50),
        };
        Self::new(id, source, handling)
    }

    /// At-least-once, for handlers with effects outside the read store: the offset (kept by
    /// the source's journal) is stored after 100 envelopes or 500 ms, whichever comes first
    /// (change it with [`save_offset_after`](Self::save_offset_after)). After a crash or a
    /// restart the envelopes since the stored offset are handled again: **the handler must be
    /// idempotent**.
    pub fn at_least_once<F>(id: ProjectionId, source: Source<E>, handler: F) -> Self
    where
        F: FnMut(&EventEnvelope<E>) -> Result<(), HandlerError> + Send + 'static,
    {
        let handling = Handling::AtLeastOnce {
            handler: Box::new(handler),
            envelopes: 100,
            within: Duration::from_millis(500),
        };
        Self::new(id, source, handling)
    }

    /// An at-least-once projection stores its offset after `envelopes` envelopes or once
    /// `within` has passed since the first unsaved one (at least 1 envelope). No effect on
    /// the other kinds, which store it with each commit.
    pub fn save_offset_after(mut self, envelopes: usize, within: Duration) -> Self {
        if let Handling::AtLeastOnce {
            envelopes: n,
            within: t,
            ..
        } = &mut self.handling
        {
            (*n, *t) = (envelopes.max(1), within);
        }
        self
    }

    /// A grouped projection hands its handler up to `envelopes` envelopes at once, or what
    /// arrived within `within` of the group's first (at least 1 envelope). No effect on the
    /// other kinds.
    pub fn group_within(mut self, envelopes: usize, within: Duration) -> Self {
        if let Handling::Grouped {
            size, within: t, ..
        } = &mut self.handling
        {
            (*size, *t) = (envelopes.max(1), within);
        }
        self
    }

    /// What to do when the handler fails (default: [`HandlerRecovery::fail`]).
    pub fn with_recovery(mut self, recovery: HandlerRecovery) -> Self {
        self.recovery = recovery;
        self
    }

    /// The backoff of the restarts after a failure: from `min`, doubling up to `max`, plus up
    /// to `random_factor` of it at random (default 3 s, 30 s, 0.2, as Akka Projection).
    pub fn with_restart_backoff(
        mut self,
        min: Duration,
        max: Duration,
        random_factor: f64,
    ) -> Self {
        self.backoff = (min, max, random_factor);
        self
    }

    /// Declares `table` as written by this projection: [`ProjectionRef::clear_offset`]
    /// clears it, in the same write that removes the offset.
    pub fn with_table<K, V>(mut self, table: &Table<K, V>) -> Self
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        self.tables.push(table.name().to_owned());
        self
    }

    /// Runs the projection's actor on the dispatcher `name` (one made with
    /// `ActorSystemBuilder::dispatcher`), apart from the other actors: its handler and store
    /// writes then never hold up theirs.
    pub fn with_dispatcher(mut self, name: impl Into<String>) -> Self {
        self.dispatcher = Some(name.into());
        self
    }

    /// Spawns the projection as an actor of `system`, supervised to restart with the backoff
    /// after a failure. It reads its stored offset and goes on after it. One projection per
    /// id may run in a system at a time.
    pub fn run(self, system: &ActorSystem) -> Result<ProjectionRef, ProjectionError> {
        let status = Arc::new(Mutex::new(StatusCell::new()));
        let journal = self.source.journal().clone();
        let (min, max, random_factor) = self.backoff;
        let props = match &self.dispatcher {
            Some(name) => Props::new().with_dispatcher(name.clone()),
            None => Props::new(),
        };
        let id = self.id.clone();
        let shared = Arc::new(Shared::new(self, status.clone()));
        let behavior = Behaviors::supervise(Behaviors::actor({
            let shared = shared.clone();
            move || runner::Runner::new(shared.clone())
        }))
        .on_failure(SupervisorStrategy::restart_with_backoff(
            min,
            max,
            random_factor,
        ));
        let actor = system
            .spawn_with(behavior, Some(&actor_name(&id)), &props)
            .map_err(|error| ProjectionError::Spawn {
                id: id.to_string(),
                reason: error.to_string(),
            })?;
        Ok(ProjectionRef {
            id,
            actor,
            status,
            journal,
        })
    }
}

impl<E: Send + 'static> Projection<E> {
    /// Runs a sliced projection: `projection(slice)` for each slice in `0..slices`, each its
    /// own actor with its own offset (give it the id [`ProjectionId::for_slice`] and the
    /// source [`Source::events_by_slice`]). An entity's events are all in one slice, so each
    /// entity's events are handled in order; the slices go on independently (one failing and
    /// backing off holds up no other). The refs are in slice order. If one cannot start, the
    /// ones started are stopped and its error returned.
    ///
    /// ```
    /// use reactant::prelude::*;
    /// use reactant::persistence::slice_of;
    /// use reactant::projection::{Projection, ProjectionId, ReadStore, Source, Transaction};
    /// use reactant::query::EventEnvelope;
    /// use serde::{Deserialize, Serialize};
    /// use std::time::{Duration, Instant};
    ///
    /// #[derive(Clone, Serialize, Deserialize)]
    /// struct Placed { amount: u64 }
    /// impl reactant::persistence::Event for Placed {}
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct Order;
    /// impl reactant::persistence::Entity for Order {
    ///     const TYPE_KEY: &'static str = "order";
    ///     const SLICES: u32 = 4; // `#[entity(.., slices = 4)]` with the macros
    ///     type Event = Placed;
    ///     type Command = (u64, ActorRef<()>);
    ///     fn apply(&mut self, _: &Placed) {}
    ///     fn handle_command(&self, (amount, reply_to): (u64, ActorRef<()>)) -> Effect<Placed, Self> {
    ///         Effect::persist(Placed { amount }).then_reply_to(reply_to, |_: &Order| ())
    ///     }
    /// }
    ///
    /// let system = ActorSystem::new("docs")?;
    /// let persistence = Persistence::in_memory()?;
    /// let store = ReadStore::in_memory();
    /// let totals = store.table::<String, u64>("totals");
    /// let slices = Projection::run_slices(&system, Order::SLICES, |slice| {
    ///     let table = totals.clone();
    ///     Projection::exactly_once(
    ///         ProjectionId::for_slice("totals", slice),
    ///         Source::events_by_slice::<Order>(&persistence, slice),
    ///         &store,
    ///         move |tx: &mut Transaction, env: &EventEnvelope<Placed>| {
    ///             let id = env.persistence_id.to_string();
    ///             tx.update(&table, &id, |total| Some(total.unwrap_or(0) + env.event.amount))?;
    ///             Ok(())
    ///         },
    ///     )
    ///     .with_table(&totals)
    /// })?;
    /// assert_eq!(slices.len(), 4);
    ///
    /// let order = system.spawn(Order::behavior("o-1", persistence.clone()), "o-1")?;
    /// order.ask(|reply_to| (30, reply_to)).wait(Duration::from_secs(3))?;
    /// let mine = &slices[slice_of("o-1", 4) as usize]; // the slice that handles o-1
    /// let deadline = Instant::now() + Duration::from_secs(5);
    /// while mine.status()?.offset != Some(1) && Instant::now() < deadline {
    ///     std::thread::sleep(Duration::from_millis(5));
    /// }
    /// assert_eq!(totals.get(&"order|o-1".to_owned())?, Some(30));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_slices(
        system: &ActorSystem,
        slices: u32,
        mut projection: impl FnMut(u32) -> Projection<E>,
    ) -> Result<Vec<ProjectionRef>, ProjectionError> {
        if slices == 0 {
            return Err(ProjectionError::NoSlices);
        }
        let mut started: Vec<ProjectionRef> = Vec::with_capacity(slices as usize);
        for slice in 0..slices {
            match projection(slice).run(system) {
                Ok(running) => started.push(running),
                Err(error) => {
                    for running in &started {
                        running.stop();
                    }
                    return Err(error);
                }
            }
        }
        Ok(started)
    }
}

impl<E> fmt::Debug for Projection<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Projection")
            .field("id", &self.id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The actor's name: `projection-{name}-{key}`, with every character an actor name does not
/// allow written `~xx` (its bytes in hex).
fn actor_name(id: &ProjectionId) -> String {
    let mut name = String::from("projection-");
    let escape = |text: &str, name: &mut String| {
        for byte in text.bytes() {
            if byte.is_ascii_alphanumeric() || b"_.".contains(&byte) {
                name.push(char::from(byte));
            } else {
                name.push_str(&format!("~{byte:02x}"));
            }
        }
    };
    escape(&id.name, &mut name);
    name.push('-');
    escape(&id.key, &mut name);
    name.truncate(255);
    name
}
