//! The reading side of every query: one page of the journal at a time, so a query over
//! millions of events holds at most [`PAGE`] of them.

use std::collections::VecDeque;
use std::sync::Arc;

use super::error::QueryError;
use crate::persistence::{Journal, PersistenceId, PersistentRepr, SequenceNr};
use crate::supervision::panic;

/// Events a query reads from the journal per call, and so holds at most.
pub const PAGE: u64 = 1024;

/// Which events a query reads.
pub(crate) enum Selector {
    /// One stream, `next..=to`.
    Id {
        persistence_id: PersistenceId,
        next: SequenceNr,
        to: SequenceNr,
    },
    /// One tag, after an offset.
    Tag { tag: String, after: u64 },
    /// Every stream, after an offset.
    All { after: u64 },
}

/// A position in the journal and the page read from it.
pub(crate) struct Cursor {
    journal: Arc<dyn Journal>,
    selector: Selector,
    buffer: VecDeque<PersistentRepr>,
    /// A current query's end, fixed at its first read: the highest offset (tag, all) or
    /// sequence number (id) stored then. `None` for a live query.
    bound: Option<u64>,
    live: bool,
    /// A current query that reached its end.
    exhausted: bool,
}

impl Cursor {
    pub(crate) fn new(journal: Arc<dyn Journal>, selector: Selector, live: bool) -> Self {
        Self {
            journal,
            selector,
            buffer: VecDeque::new(),
            bound: None,
            live,
            exhausted: false,
        }
    }

    /// The next stored event (reading a page when none is in hand); `None` when nothing more
    /// is stored now (a current query: ever).
    pub(crate) fn next_stored(&mut self) -> Result<Option<PersistentRepr>, QueryError> {
        if let Some(event) = self.buffer.pop_front() {
            return Ok(Some(event));
        }
        if self.exhausted || self.ended() {
            return Ok(None);
        }
        self.read_page()?;
        Ok(self.buffer.pop_front())
    }

    /// A query by id that passed its upper sequence number: it ends, live or not.
    pub(crate) fn ended(&self) -> bool {
        matches!(self.selector, Selector::Id { next, to, .. } if next > to)
    }

    fn read_page(&mut self) -> Result<(), QueryError> {
        if !self.live && self.bound.is_none() {
            let bound = match &self.selector {
                Selector::Id { persistence_id, .. } => {
                    guarded(|| self.journal.highest_sequence_nr(persistence_id))?
                }
                _ => guarded(|| self.journal.highest_offset())?,
            };
            self.bound = Some(bound);
        }
        let bound = self.bound.unwrap_or(u64::MAX);
        let Self {
            journal,
            selector,
            buffer,
            live,
            exhausted,
            ..
        } = self;
        match selector {
            Selector::Id {
                persistence_id,
                next,
                to,
            } => {
                let last = (*to).min(bound);
                if *next <= last {
                    guarded(|| {
                        journal.replay(persistence_id, *next, last, PAGE, &mut |event| {
                            buffer.push_back(event)
                        })
                    })?;
                }
                match buffer.back() {
                    Some(event) => *next = event.sequence_nr.saturating_add(1),
                    // Nothing stored in `next..=last`: a current query is done.
                    None => *exhausted = !*live,
                }
            }
            Selector::Tag { tag, after } => {
                guarded(|| {
                    journal.events_by_tag(tag, *after, PAGE, &mut |event| buffer.push_back(event))
                })?;
                Self::after_offset_page(buffer, after, bound, *live, exhausted);
            }
            Selector::All { after } => {
                guarded(|| {
                    journal.events_by_offset(*after, PAGE, &mut |event| buffer.push_back(event))
                })?;
                Self::after_offset_page(buffer, after, bound, *live, exhausted);
            }
        }
        Ok(())
    }

    /// Moves `after` past a page read by offset; a current query drops what lies beyond its
    /// bound and ends there.
    fn after_offset_page(
        buffer: &mut VecDeque<PersistentRepr>,
        after: &mut u64,
        bound: u64,
        live: bool,
        exhausted: &mut bool,
    ) {
        if !live {
            while buffer.back().is_some_and(|event| event.offset > bound) {
                buffer.pop_back();
                *exhausted = true;
            }
        }
        match buffer.back() {
            Some(event) => {
                *after = event.offset;
                if event.offset >= bound && !live {
                    *exhausted = true;
                }
            }
            None => *exhausted |= !live,
        }
    }
}

/// Runs a journal read, turning its panic into an error.
pub(crate) fn guarded<T>(
    read: impl FnOnce() -> Result<T, crate::persistence::JournalError>,
) -> Result<T, QueryError> {
    match panic::catch(read) {
        Ok(result) => result.map_err(QueryError::from),
        Err(panic) => Err(QueryError::JournalPanicked(panic.message().to_owned())),
    }
}
