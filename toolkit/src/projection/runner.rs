//! The projection's actor: reads its source from the stored offset, hands envelopes to the
//! handler, commits, and fails (to be restarted with backoff by its supervisor) on what it
//! cannot handle.
//!
//! It never blocks: it reads what is stored (one page of the journal at a time), and once
//! caught up it waits for a `Pump` that the journal's commit notification sends it (one at a
//! time: a flag says one is on its way). A turn handles at most [`BUDGET`] envelopes, then
//! sends itself the next `Pump`, so management messages are taken between turns.
//!
//! | state | on | to | what happens |
//! |---|---|---|---|
//! | starting | `pre_start` | running (or paused) | a `Pump` is sent; the first one reads the stored offset and opens the source after it |
//! | running | `Pump` | running | envelopes handled and committed until caught up or the budget is spent |
//! | running | handler fails, retries left | retrying | the envelope is kept; `Retry` after the delay |
//! | retrying | `Retry` | running or retrying | the envelope is handled again |
//! | running, retrying | handler fails, no retries left, skip | running | the offset is stored without the envelope's writes |
//! | running, retrying | handler fails, no retries left, fail | failed | the actor fails; its supervisor restarts it after a backoff, from the stored offset |
//! | running | the source, the store or the offset fails | failed | as above |
//! | running, retrying | `Pause` | paused | the group being collected and the envelope being retried are dropped (not handled, not acknowledged) |
//! | paused | `Resume` | running | the source is opened again after the stored offset |
//! | any | `SetOffset` | same | the offset is stored (clearing: removed with the declared tables, in one write); the source is opened again after it |
//! | any | `Stop` | stopped | the actor stops; the stored offset stays |

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::ProjectionId;
use super::builder::{HandlerRecovery, Handling, Projection};
use super::error::{HandlerError, ProjectionError};
use super::management::{ProjectionState, StatusCell};
use super::source::Source;
use super::store::{ReadStore, Write};
use super::transaction::Transaction;
use crate::actor::{Actor, ActorRef, Context};
use crate::persistence::WakerRegistration;
use crate::query::{EventEnvelope, Live, LiveEvents, Offset, Polled};
use crate::supervision::{ActorFailure, panic};

/// Envelopes handled per turn, at most (a group is never cut by it).
const BUDGET: usize = 1_000;

/// The projection actor's messages.
pub(crate) enum Msg {
    /// Read and handle what is stored.
    Pump,
    /// A grouped projection's group is due, or an at-least-once projection's offset.
    Flush,
    /// Try the failed envelope again.
    Retry,
    /// A management call, answered when done.
    Manage(Command, ActorRef<Result<(), ProjectionError>>),
    /// Stop the projection.
    Stop,
}

/// What a management call asks.
pub(crate) enum Command {
    Pause,
    Resume,
    /// Store this offset (`None`: clear it and the declared tables).
    SetOffset(Option<u64>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum TimerKey {
    Flush,
    Retry,
}

pub(crate) type Single<E> =
    Box<dyn FnMut(&mut Transaction, &EventEnvelope<E>) -> Result<(), HandlerError> + Send>;
pub(crate) type Group<E> =
    Box<dyn FnMut(&mut Transaction, &[EventEnvelope<E>]) -> Result<(), HandlerError> + Send>;
pub(crate) type Effectful<E> = Box<dyn FnMut(&EventEnvelope<E>) -> Result<(), HandlerError> + Send>;

enum Handler<E> {
    Single(Single<E>),
    Group(Group<E>),
    Effectful(Effectful<E>),
}

/// What every incarnation of a projection's actor shares (a restart makes a new [`Runner`]).
pub(crate) struct Shared<E> {
    id: ProjectionId,
    source: Source<E>,
    handler: Mutex<Handler<E>>,
    /// Exactly-once and grouped: where the read model and the offset live.
    store: Option<ReadStore>,
    /// Grouped: the group's size and time.
    group: Option<(usize, Duration)>,
    /// At-least-once: when to store the offset.
    save_after: Option<(usize, Duration)>,
    recovery: HandlerRecovery,
    tables: Vec<String>,
    status: Arc<Mutex<StatusCell>>,
    /// Paused by management: kept across restarts.
    paused: AtomicBool,
}

impl<E: Send + 'static> Shared<E> {
    pub(crate) fn new(projection: Projection<E>, status: Arc<Mutex<StatusCell>>) -> Self {
        let (handler, store, group, save_after) = match projection.handling {
            Handling::ExactlyOnce { store, handler } => {
                (Handler::Single(handler), Some(store), None, None)
            }
            Handling::Grouped {
                store,
                handler,
                size,
                within,
            } => (
                Handler::Group(handler),
                Some(store),
                Some((size, within)),
                None,
            ),
            Handling::AtLeastOnce {
                handler,
                envelopes,
                within,
            } => (
                Handler::Effectful(handler),
                None,
                None,
                Some((envelopes, within)),
            ),
        };
        Self {
            id: projection.id,
            source: projection.source,
            handler: Mutex::new(handler),
            store,
            group,
            save_after,
            recovery: projection.recovery,
            tables: projection.tables,
            status,
            paused: AtomicBool::new(false),
        }
    }

    fn set_state(&self, state: ProjectionState) {
        self.status.lock().state = state;
    }

    fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// The stored offset.
    fn stored_offset(&self) -> Result<Option<u64>, String> {
        match &self.store {
            Some(store) => store.offset(&self.id).map_err(|error| error.to_string()),
            None => self
                .source
                .journal()
                .projection_offset(&self.id.name, &self.id.key)
                .map_err(|error| error.to_string()),
        }
    }

    /// Stores `offset` (`None`: removes it and, with a store, clears the declared tables).
    fn store_offset(&self, offset: Option<u64>) -> Result<(), String> {
        match &self.store {
            Some(store) => {
                let mut writes = vec![ReadStore::offset_write(&self.id, offset)];
                if offset.is_none() {
                    writes.extend(
                        self.tables
                            .iter()
                            .map(|table| ReadStore::clear_write(table)),
                    );
                }
                store.write(writes).map_err(|error| error.to_string())
            }
            None => self
                .source
                .journal()
                .save_projection_offset(&self.id.name, &self.id.key, offset)
                .map_err(|error| error.to_string()),
        }
    }
}

/// One incarnation of a projection's actor.
pub(crate) struct Runner<E: Send + 'static> {
    shared: Arc<Shared<E>>,
    live: Option<LiveEvents<E>>,
    wake: Option<WakerRegistration>,
    /// A `Pump` is on its way: the commit notification sends no other.
    scheduled: Arc<AtomicBool>,
    /// The offset of the last envelope handled.
    handled: Option<u64>,
    /// At-least-once: envelopes handled since the offset was stored, and since when.
    unsaved: usize,
    unsaved_since: Option<Instant>,
    /// Grouped: the group being collected, and when its first envelope came.
    group: Vec<EventEnvelope<E>>,
    group_since: Option<Instant>,
    /// The envelopes whose handling failed and is tried again, and the next attempt's number.
    retry: Option<(Vec<EventEnvelope<E>>, u32)>,
}

impl<E: Send + 'static> Runner<E> {
    pub(crate) fn new(shared: Arc<Shared<E>>) -> Self {
        Self {
            shared,
            live: None,
            wake: None,
            scheduled: Arc::new(AtomicBool::new(false)),
            handled: None,
            unsaved: 0,
            unsaved_since: None,
            group: Vec::new(),
            group_since: None,
            retry: None,
        }
    }

    fn schedule(&self, ctx: &Context<Msg>) {
        if !self.scheduled.swap(true, Ordering::SeqCst) {
            ctx.self_ref().tell(Msg::Pump);
        }
    }

    /// Reads the stored offset and opens the source after it; false if the projection failed.
    fn open(&mut self, ctx: &mut Context<Msg>) -> bool {
        let offset = match self.shared.stored_offset() {
            Ok(offset) => offset,
            Err(error) => {
                self.fail(ctx, format!("its offset cannot be read: {error}"));
                return false;
            }
        };
        self.handled = offset;
        self.shared.status.lock().offset = offset;
        self.live = Some(
            self.shared
                .source
                .open(offset.map_or(Offset::Start, Offset::After)),
        );
        if self.wake.is_none()
            && let Some(notifier) = self.shared.source.journal().commit_notifier()
        {
            let (flag, me) = (self.scheduled.clone(), ctx.self_ref());
            self.wake = Some(notifier.register(Arc::new(move || {
                if !flag.swap(true, Ordering::SeqCst) {
                    me.tell(Msg::Pump);
                }
            })));
        }
        true
    }

    fn pump(&mut self, ctx: &mut Context<Msg>) {
        self.scheduled.store(false, Ordering::SeqCst);
        if self.shared.is_paused() || self.retry.is_some() {
            return;
        }
        if self.live.is_none() && !self.open(ctx) {
            return;
        }
        let budget = BUDGET.max(self.shared.group.map_or(0, |(size, _)| size));
        for _ in 0..budget {
            let Some(live) = self.live.as_mut() else {
                return;
            };
            match live.poll() {
                Polled::Item(Ok(envelope)) => {
                    if !self.accept(ctx, envelope) {
                        return;
                    }
                }
                Polled::Item(Err(error)) => {
                    self.fail(ctx, format!("its source failed: {error}"));
                    return;
                }
                Polled::CaughtUp(_) => {
                    self.caught_up(ctx);
                    return;
                }
                Polled::End => {
                    self.fail(ctx, "its source ended (the journal closed)".to_owned());
                    return;
                }
            }
        }
        self.schedule(ctx);
    }

    /// Takes one envelope from the source; false if the projection stopped going on.
    fn accept(&mut self, ctx: &mut Context<Msg>, envelope: EventEnvelope<E>) -> bool {
        match self.shared.group {
            Some((size, _)) => {
                if self.group.is_empty() {
                    self.group_since = Some(Instant::now());
                }
                self.group.push(envelope);
                if self.group.len() >= size {
                    return self.run_group(ctx);
                }
                true
            }
            None => self.run(ctx, vec![envelope], 1),
        }
    }

    fn run_group(&mut self, ctx: &mut Context<Msg>) -> bool {
        self.group_since = None;
        ctx.timers().cancel(&TimerKey::Flush);
        let group = std::mem::take(&mut self.group);
        self.run(ctx, group, 1)
    }

    /// Nothing more is stored: a group or an at-least-once offset waits at most its time.
    fn caught_up(&mut self, ctx: &mut Context<Msg>) {
        let (since, within) = match (self.shared.group, self.shared.save_after) {
            (Some((_, within)), _) if !self.group.is_empty() => (self.group_since, within),
            (_, Some((_, within))) if self.unsaved > 0 => (self.unsaved_since, within),
            _ => return,
        };
        let waited = since.map_or(Duration::ZERO, |since| since.elapsed());
        if waited >= within {
            self.flush(ctx);
        } else if !ctx.timers().is_active(&TimerKey::Flush) {
            ctx.timers()
                .start_single(TimerKey::Flush, Msg::Flush, within - waited);
        }
    }

    /// The group is due (grouped), or the offset (at-least-once).
    fn flush(&mut self, ctx: &mut Context<Msg>) {
        if self.shared.is_paused() || self.retry.is_some() {
            return;
        }
        if !self.group.is_empty() {
            if self.run_group(ctx) {
                self.schedule(ctx);
            }
        } else if self.unsaved > 0 {
            self.save(ctx);
        }
    }

    /// Hands `unit` (one envelope, or a group) to the handler, attempt number `attempt`;
    /// false if the projection stopped going on (it waits for a retry, or failed).
    fn run(&mut self, ctx: &mut Context<Msg>, unit: Vec<EventEnvelope<E>>, attempt: u32) -> bool {
        match self.call(&unit) {
            Ok(writes) => self.commit(ctx, &unit, writes),
            Err(error) => {
                let recovery = self.shared.recovery;
                let (first, last) = (unit[0].offset, unit[unit.len() - 1].offset);
                let what = if first == last {
                    format!("the envelope at offset {first}")
                } else {
                    format!("the envelopes at offsets {first} to {last}")
                };
                if attempt <= recovery.retries {
                    tracing::warn!(projection = %self.shared.id, attempt, "the handler failed on {what}: {error}; trying again");
                    self.shared.set_state(ProjectionState::Retrying {
                        attempt: attempt + 1,
                        error: error.clone(),
                    });
                    self.retry = Some((unit, attempt + 1));
                    ctx.timers()
                        .start_single(TimerKey::Retry, Msg::Retry, recovery.delay);
                    false
                } else if recovery.then_skip {
                    tracing::warn!(projection = %self.shared.id, "the handler failed on {what}: {error}; skipped");
                    let skipped = self.shared.store.as_ref().map(|_| Vec::new());
                    self.commit(ctx, &unit, skipped)
                } else {
                    self.fail(ctx, format!("the handler failed on {what}: {error}"));
                    false
                }
            }
        }
    }

    /// Runs the handler; its writes (`None` for at-least-once) or what it failed with.
    fn call(&self, unit: &[EventEnvelope<E>]) -> Result<Option<Vec<Write>>, String> {
        let mut handler = self.shared.handler.lock();
        let mut transaction = self.shared.store.as_ref().map(ReadStore::transaction);
        let outcome = panic::catch(|| match (&mut *handler, transaction.as_mut()) {
            (Handler::Single(handler), Some(transaction)) => handler(transaction, &unit[0]),
            (Handler::Group(handler), Some(transaction)) => handler(transaction, unit),
            (Handler::Effectful(handler), _) => handler(&unit[0]),
            (_, None) => Ok(()),
        });
        match outcome {
            Ok(Ok(())) => Ok(transaction.map(Transaction::into_writes)),
            Ok(Err(error)) => Err(error.to_string()),
            Err(panic) => Err(format!("it panicked: {}", panic.message())),
        }
    }

    /// Acknowledges `unit`: with a store, its writes and offset in one batch; at-least-once,
    /// counts it towards the next stored offset. False if the projection failed.
    fn commit(
        &mut self,
        ctx: &mut Context<Msg>,
        unit: &[EventEnvelope<E>],
        writes: Option<Vec<Write>>,
    ) -> bool {
        let last = unit[unit.len() - 1].offset;
        if let (Some(store), Some(mut writes)) = (&self.shared.store, writes) {
            writes.push(ReadStore::offset_write(&self.shared.id, Some(last)));
            if let Err(error) = store.write(writes) {
                self.fail(
                    ctx,
                    format!("its writes and offset {last} cannot be stored: {error}"),
                );
                return false;
            }
        }
        self.handled = Some(last);
        {
            let mut status = self.shared.status.lock();
            status.handled(last, unit.len() as u64);
            status.state = ProjectionState::Running;
        }
        if let Some((envelopes, within)) = self.shared.save_after {
            self.unsaved += unit.len();
            let since = *self.unsaved_since.get_or_insert_with(Instant::now);
            if self.unsaved >= envelopes || since.elapsed() >= within {
                return self.save(ctx);
            }
        }
        true
    }

    /// At-least-once: stores the offset of the last envelope handled.
    fn save(&mut self, ctx: &mut Context<Msg>) -> bool {
        ctx.timers().cancel(&TimerKey::Flush);
        if let Err(error) = self.shared.store_offset(self.handled) {
            self.fail(ctx, format!("its offset cannot be stored: {error}"));
            return false;
        }
        self.unsaved = 0;
        self.unsaved_since = None;
        true
    }

    /// Fails the actor: its supervisor restarts it after a backoff, from the stored offset.
    fn fail(&mut self, ctx: &mut Context<Msg>, error: String) {
        // What an at-least-once projection handled is acknowledged before it goes.
        if self.unsaved > 0 && self.shared.store_offset(self.handled).is_ok() {
            self.unsaved = 0;
        }
        tracing::warn!(projection = %self.shared.id, "the projection fails and restarts after a backoff: {error}");
        self.shared.set_state(ProjectionState::Failed {
            error: error.clone(),
        });
        self.live = None;
        ctx.raise(ActorFailure::new(format!(
            "projection {} failed: {error}",
            self.shared.id
        )));
    }

    /// Drops what is in hand (a group, a retry) and the source, to be opened again.
    fn reset(&mut self, ctx: &mut Context<Msg>) {
        ctx.timers().cancel_all();
        self.group.clear();
        self.group_since = None;
        self.retry = None;
        self.live = None;
    }

    fn manage(&mut self, ctx: &mut Context<Msg>, command: Command) -> Result<(), ProjectionError> {
        let id = self.shared.id.to_string();
        let offset_error = |detail: String| ProjectionError::Offset { id, detail };
        match command {
            Command::Pause => {
                if self.unsaved > 0 {
                    self.shared
                        .store_offset(self.handled)
                        .map_err(offset_error)?;
                    self.unsaved = 0;
                    self.unsaved_since = None;
                }
                self.shared.paused.store(true, Ordering::SeqCst);
                self.reset(ctx);
                self.shared.set_state(ProjectionState::Paused);
            }
            Command::Resume => {
                self.shared.paused.store(false, Ordering::SeqCst);
                self.shared.set_state(ProjectionState::Running);
                self.schedule(ctx);
            }
            Command::SetOffset(offset) => {
                self.reset(ctx);
                self.shared.store_offset(offset).map_err(offset_error)?;
                self.handled = offset;
                self.unsaved = 0;
                self.unsaved_since = None;
                {
                    let mut status = self.shared.status.lock();
                    status.offset = offset;
                    if !self.shared.is_paused() {
                        status.state = ProjectionState::Running;
                    }
                }
                self.schedule(ctx);
            }
        }
        Ok(())
    }
}

impl<E: Send + 'static> Actor for Runner<E> {
    type Msg = Msg;

    fn pre_start(&mut self, ctx: &mut Context<Msg>) {
        let state = if self.shared.is_paused() {
            ProjectionState::Paused
        } else {
            ProjectionState::Running
        };
        let mut status = self.shared.status.lock();
        // A failed projection shows its error until it handles an envelope again.
        if state == ProjectionState::Paused
            || !matches!(status.state, ProjectionState::Failed { .. })
        {
            status.state = state;
        }
        drop(status);
        self.schedule(ctx);
    }

    fn handle(&mut self, ctx: &mut Context<Msg>, msg: Msg) {
        match msg {
            Msg::Pump => self.pump(ctx),
            Msg::Flush => self.flush(ctx),
            Msg::Retry => {
                if let Some((unit, attempt)) = self.retry.take()
                    && self.run(ctx, unit, attempt)
                {
                    self.schedule(ctx);
                }
            }
            Msg::Manage(command, reply_to) => {
                let answer = self.manage(ctx, command);
                reply_to.tell(answer);
            }
            Msg::Stop => ctx.stop_self(),
        }
    }

    fn post_stop(&mut self, _: &mut Context<Msg>) {
        if self.unsaved > 0 {
            let _ = self.shared.store_offset(self.handled);
        }
        self.shared.set_state(ProjectionState::Stopped);
    }
}
