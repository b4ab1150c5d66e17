//! Where a projection reads its events: a live query over the journal's global log, started
//! again from the projection's stored offset at each start.

use std::fmt;
use std::sync::Arc;

use crate::persistence::{Entity, Journal, Persistence};
use crate::query::{LiveEvents, Offset, UntypedEvent};

type Open<E> = Arc<dyn Fn(Offset) -> LiveEvents<E> + Send + Sync>;

/// The events a projection consumes: a live query by tag, or over every event, opened
/// after the projection's offset.
///
/// ```
/// use reactant::prelude::*;
/// use reactant::projection::Source;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Deposited(u64);
/// impl reactant::persistence::Event for Deposited {
///     fn tags(&self) -> Vec<String> { vec!["money".into()] }
/// }
/// #[derive(Default, Serialize, Deserialize)]
/// struct Account;
/// impl reactant::persistence::Entity for Account {
///     const TYPE_KEY: &'static str = "account";
///     type Event = Deposited;
///     type Command = u64;
///     fn apply(&mut self, _: &Deposited) {}
///     fn handle_command(&self, amount: u64) -> Effect<Deposited, Self> { Effect::persist(Deposited(amount)) }
/// }
///
/// let persistence = Persistence::in_memory()?;
/// let deposits = Source::events_by_tag::<Account>(&persistence, "money");
/// let everything = Source::events(&persistence);
/// assert_eq!(deposits.description(), "events tagged \"money\" of account");
/// # let _ = everything;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Source<E> {
    persistence: Arc<Persistence>,
    open: Open<E>,
    description: String,
}

impl<E> Clone for Source<E> {
    fn clone(&self) -> Self {
        Self {
            persistence: self.persistence.clone(),
            open: self.open.clone(),
            description: self.description.clone(),
        }
    }
}

impl<E: Send + 'static> Source<E> {
    /// The events tagged `tag`, decoded as `A`'s events (every event with the tag must be
    /// one of `A`'s).
    pub fn events_by_tag<A: Entity<Event = E>>(persistence: &Arc<Persistence>, tag: &str) -> Self {
        let query = persistence.query();
        let owned = tag.to_owned();
        Self {
            persistence: persistence.clone(),
            open: Arc::new(move |offset| query.events_by_tag::<A>(&owned, offset)),
            description: format!("events tagged {tag:?} of {}", A::TYPE_KEY),
        }
    }

    /// The events of slice `slice` of the entity type `A` (one with
    /// [`SLICES`](Entity::SLICES) set, e.g. `#[entity(.., slices = 8)]`): those tagged
    /// [`slice_tag`](crate::persistence::slice_tag)`(A::TYPE_KEY, slice)`, in global order,
    /// so each entity's events come in order. One projection per slice reads them all
    /// ([`Projection::run_slices`](super::Projection::run_slices)).
    pub fn events_by_slice<A: Entity<Event = E>>(
        persistence: &Arc<Persistence>,
        slice: u32,
    ) -> Self {
        let tag = crate::persistence::slice_tag(A::TYPE_KEY, slice);
        let query = persistence.query();
        let owned = tag.clone();
        Self {
            persistence: persistence.clone(),
            open: Arc::new(move |offset| query.events_by_tag::<A>(&owned, offset)),
            description: format!("slice {slice} of {} (events tagged {tag:?})", A::TYPE_KEY),
        }
    }

    /// A source of your own: `open(offset)` gives the live query after `offset`. The
    /// projection's head and lag are read from `persistence`'s journal.
    pub fn from_query(
        persistence: &Arc<Persistence>,
        description: impl Into<String>,
        open: impl Fn(Offset) -> LiveEvents<E> + Send + Sync + 'static,
    ) -> Self {
        Self {
            persistence: persistence.clone(),
            open: Arc::new(open),
            description: description.into(),
        }
    }

    /// What the source reads, in words.
    pub fn description(&self) -> &str {
        &self.description
    }

    pub(crate) fn open(&self, offset: Offset) -> LiveEvents<E> {
        (self.open)(offset)
    }

    pub(crate) fn journal(&self) -> &Arc<dyn Journal> {
        self.persistence.journal()
    }
}

impl Source<UntypedEvent> {
    /// Every event of the journal, in global order, untyped (payloads as JSON).
    pub fn events(persistence: &Arc<Persistence>) -> Self {
        let query = persistence.query();
        Self {
            persistence: persistence.clone(),
            open: Arc::new(move |offset| query.events(offset)),
            description: "every event".to_owned(),
        }
    }
}

impl<E> fmt::Debug for Source<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// A handled envelope's age, for the lag in time.
pub(crate) fn age_ms(envelope_timestamp_ms: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    now.saturating_sub(envelope_timestamp_ms)
}
