//! Live queries as blocking iterators: read the journal until caught up, then wait on its
//! commit notification for the next commit.

use std::collections::HashSet;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cursor::{Cursor, PAGE, Selector, guarded};
use super::error::QueryError;
use super::{Decode, EventEnvelope};
use crate::persistence::{CommitNotifier, CommitWait, Journal, PersistenceId};

/// One step of a live query, without waiting.
pub(crate) enum Polled<T> {
    /// The next item (or the error in its place).
    Item(Result<T, QueryError>),
    /// Nothing more is stored: every commit up to this offset has been read. Wait for a
    /// commit past it.
    CaughtUp(u64),
    /// The query is over (a query by id past its last sequence number, or after an error
    /// that ends it).
    End,
}

/// What the blocking iterators and the delivery to actors share.
pub(crate) trait Live: Send + 'static {
    type Item: Send + 'static;

    /// The next item if one is stored now.
    fn poll(&mut self) -> Polled<Self::Item>;

    /// The commit notification waited on; `None` after a setup error (then `poll` gives it).
    fn notifier(&self) -> Option<&Arc<CommitNotifier>>;

    /// Blocks for the next item, until `deadline` (none: no deadline).
    fn next_until(&mut self, deadline: Option<Instant>) -> Option<Result<Self::Item, QueryError>> {
        if crate::dispatch::on_dispatcher_thread() {
            return Some(Err(QueryError::WouldBlockDispatcher));
        }
        loop {
            let caught_up_at = match self.poll() {
                Polled::Item(item) => return Some(item),
                Polled::End => return None,
                Polled::CaughtUp(offset) => offset,
            };
            let notifier = self.notifier()?.clone();
            match notifier.wait_past(caught_up_at, deadline) {
                CommitWait::Advanced(_) => {}
                CommitWait::TimedOut => return None,
                CommitWait::Closed => {
                    self.close();
                    return Some(Err(QueryError::Closed));
                }
            }
        }
    }

    /// Ends the query: later polls give [`Polled::End`].
    fn close(&mut self);
}

/// A live query's events: what is stored, then each new event as it is committed.
///
/// [`next`](Iterator::next) blocks until the next event (`None` only once a query by id has
/// passed its last sequence number, or after the journal closed);
/// [`next_timeout`](Self::next_timeout) waits at most a while. Blocking is refused on a
/// dispatcher thread ([`QueryError::WouldBlockDispatcher`]): inside an actor, have the query
/// delivered to it instead.
///
/// It holds one page of events at most: a consumer that falls behind catches up from the
/// journal.
pub struct LiveEvents<E> {
    state: Result<LiveState<E>, Option<QueryError>>,
}

struct LiveState<E> {
    cursor: Cursor,
    decode: Arc<dyn Decode<Event = E>>,
    notifier: Arc<CommitNotifier>,
}

impl<E: Send + 'static> LiveEvents<E> {
    pub(crate) fn new<D: Decode<Event = E>>(
        journal: Arc<dyn Journal>,
        parts: Result<(Arc<D>, Selector), QueryError>,
    ) -> Self {
        let state = parts.and_then(|(decode, selector)| {
            let notifier = journal.commit_notifier().ok_or(QueryError::NotLive)?;
            let decode: Arc<dyn Decode<Event = E>> = decode;
            Ok(LiveState {
                cursor: Cursor::new(journal, selector, true),
                decode,
                notifier,
            })
        });
        Self {
            state: state.map_err(Some),
        }
    }

    /// The next event, waiting at most `timeout` for it: `None` if none came (or the query
    /// is over).
    pub fn next_timeout(
        &mut self,
        timeout: Duration,
    ) -> Option<Result<EventEnvelope<E>, QueryError>> {
        self.next_until(Some(Instant::now() + timeout))
    }

    /// Whether the query is over: it gives nothing more.
    pub fn is_finished(&self) -> bool {
        match &self.state {
            Ok(state) => state.cursor.ended(),
            Err(error) => error.is_none(),
        }
    }
}

impl<E: Send + 'static> Live for LiveEvents<E> {
    type Item = EventEnvelope<E>;

    fn poll(&mut self) -> Polled<EventEnvelope<E>> {
        let state = match &mut self.state {
            Ok(state) => state,
            Err(error) => return error.take().map_or(Polled::End, |e| Polled::Item(Err(e))),
        };
        // Read before the journal: a commit after this read wakes the wait at once.
        let committed = state.notifier.last_committed();
        match state.cursor.next_stored() {
            Ok(Some(repr)) => Polled::Item(state.decode.decode(repr)),
            Ok(None) if state.cursor.ended() => Polled::End,
            Ok(None) => Polled::CaughtUp(committed),
            Err(error) => {
                self.state = Err(None);
                Polled::Item(Err(error))
            }
        }
    }

    fn notifier(&self) -> Option<&Arc<CommitNotifier>> {
        self.state.as_ref().ok().map(|state| &state.notifier)
    }

    fn close(&mut self) {
        self.state = Err(None);
    }
}

impl<E: Send + 'static> Iterator for LiveEvents<E> {
    type Item = Result<EventEnvelope<E>, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_until(None)
    }
}

impl<E> std::fmt::Debug for LiveEvents<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveEvents").finish_non_exhaustive()
    }
}

/// The persistence ids stored, then each new one as its first event is committed. It
/// remembers the ids it gave, one entry per stream.
pub struct LivePersistenceIds {
    state: Result<IdsState, Option<QueryError>>,
}

struct IdsState {
    journal: Arc<dyn Journal>,
    notifier: Arc<CommitNotifier>,
    seen: HashSet<PersistenceId>,
    page: VecDeque<PersistenceId>,
    /// Listing the ids stored: the last one listed, and whether the listing is over.
    listed: Option<PersistenceId>,
    listing: bool,
    /// The offset after which new ids are looked for among the events (fixed before the
    /// listing started, so that no id is missed between the two).
    events: Cursor,
}

impl LivePersistenceIds {
    pub(crate) fn new(journal: Arc<dyn Journal>) -> Self {
        let state = (|| {
            let notifier = journal.commit_notifier().ok_or(QueryError::NotLive)?;
            let after = guarded(|| journal.highest_offset())?;
            Ok(IdsState {
                events: Cursor::new(journal.clone(), Selector::All { after }, true),
                journal,
                notifier,
                seen: HashSet::new(),
                page: VecDeque::new(),
                listed: None,
                listing: true,
            })
        })();
        Self {
            state: state.map_err(Some),
        }
    }

    /// The next persistence id, waiting at most `timeout` for it.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<PersistenceId, QueryError>> {
        self.next_until(Some(Instant::now() + timeout))
    }
}

impl Live for LivePersistenceIds {
    type Item = PersistenceId;

    fn poll(&mut self) -> Polled<PersistenceId> {
        let state = match &mut self.state {
            Ok(state) => state,
            Err(error) => return error.take().map_or(Polled::End, |e| Polled::Item(Err(e))),
        };
        loop {
            if let Some(id) = state.page.pop_front() {
                if state.seen.insert(id.clone()) {
                    return Polled::Item(Ok(id));
                }
                continue;
            }
            if state.listing {
                let IdsState {
                    journal,
                    page,
                    listed,
                    ..
                } = state;
                if let Err(error) = guarded(|| {
                    journal
                        .persistence_ids_after(listed.as_ref(), PAGE, &mut |id| page.push_back(id))
                }) {
                    self.state = Err(None);
                    return Polled::Item(Err(error));
                }
                state.listing = state.page.len() as u64 == PAGE;
                state.listed = state.page.back().cloned();
                continue;
            }
            let committed = state.notifier.last_committed();
            match state.events.next_stored() {
                Ok(Some(event)) => state.page.push_back(event.persistence_id),
                Ok(None) => return Polled::CaughtUp(committed),
                Err(error) => {
                    self.state = Err(None);
                    return Polled::Item(Err(error));
                }
            }
        }
    }

    fn notifier(&self) -> Option<&Arc<CommitNotifier>> {
        self.state.as_ref().ok().map(|state| &state.notifier)
    }

    fn close(&mut self) {
        self.state = Err(None);
    }
}

impl Iterator for LivePersistenceIds {
    type Item = Result<PersistenceId, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_until(None)
    }
}

impl std::fmt::Debug for LivePersistenceIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivePersistenceIds").finish_non_exhaustive()
    }
}
