//! The journal writer: one thread that batches the appends of every entity into one
//! [`Journal::write`] (group commit).
//!
//! An entity hands its events over with [`JournalWriter::append`] and goes on (stashing its
//! commands); the writer takes everything pending — one request, then whatever else arrived
//! meanwhile, up to a bound — writes it as one durable unit, then completes each request. Under
//! load the batches grow by themselves: the longer a write takes (an fsync), the more requests
//! wait for the next one, so one fsync serves many entities.
//!
//! Over 600 lines only because of its unit tests (the writer itself is about 350).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use parking_lot::Mutex;

use super::error::{JournalError, Rejection};
use super::journal::{AtomicWrite, Journal};

/// At most this many events go into one batch, so one batch's memory and latency stay bounded.
const MAX_BATCH_EVENTS: usize = 10_000;
/// After a batch, the writer polls this long for the next request before it parks: at low
/// load the next request often follows the last completion closely (the entity replies, its
/// caller sends the next command), and a park and wake-up cost a large share of a fast fsync.
const SPIN_AFTER_BATCH: Duration = Duration::from_micros(50);
/// A batch of at most this many writes is completed on the writer thread itself.
const INLINE_COMPLETIONS: usize = 64;

/// Why an append was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AppendError {
    /// The journal refused this write alone; the others of its batch were stored.
    #[error("the journal rejected the write: {0}")]
    Rejected(Rejection),
    /// The batch failed: nothing of it was stored.
    #[error("the journal failed to write: {0}")]
    Failed(JournalError),
    /// The journal's `write` panicked: nothing of the batch is known to be stored (a backend
    /// that panics midway may have stored part of it; recovery reads what is there). The
    /// writer thread survives and goes on with the next batch.
    #[error("the journal panicked while writing: {0}")]
    Panicked(String),
}

/// Called once with the outcome of an append, on the writer's completion thread: keep it
/// short (send a message).
pub(crate) type Completion = Box<dyn FnOnce(Result<(), AppendError>) + Send>;

struct Request {
    write: AtomicWrite,
    done: Completion,
    /// Another journal call, made in queue order between batches (`write` is empty then).
    job: Option<Job>,
}

/// A journal call that must be durable in order with the appends around it.
pub(crate) type Job = Box<dyn FnOnce(&dyn Journal) -> Result<(), JournalError> + Send>;

/// How the writer has batched so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Calls to [`Journal::write`].
    pub batches: u64,
    /// Atomic writes completed.
    pub writes: u64,
    /// Events stored.
    pub events: u64,
}

/// The group-commit writer of one journal, owned by [`Persistence`](super::Persistence)
/// (crate-private: a backend implements [`Journal`] and never sees it; its unit tests are below).
pub(crate) struct JournalWriter {
    requests: Sender<Request>,
    /// The writer thread, then the completion thread.
    threads: Mutex<Vec<JoinHandle<()>>>,
    stats: Arc<Stats>,
    /// `Some`: inline (the testkit's simulation): each request runs on the caller's thread,
    /// at once, alone in its batch; its completion is called before `append` returns.
    #[cfg(feature = "testkit")]
    inline: Option<Arc<dyn Journal>>,
}

/// The outcomes of one batch, for the completion thread.
type Completed = Vec<(Completion, Result<(), AppendError>)>;

/// A batch for the completion thread: its outcomes to deliver, and its writes to drop there
/// (freeing thousands of events' memory is work the writer need not do).
struct Handover {
    outcomes: Completed,
    writes: Vec<AtomicWrite>,
}

#[derive(Default)]
struct Stats {
    batches: AtomicU64,
    writes: AtomicU64,
    events: AtomicU64,
}

impl JournalWriter {
    /// Starts the writer thread (named `{name}-writer`) for `journal`, and the thread
    /// that runs the completions (`{name}-completer`): the writer hands each batch's
    /// outcomes over and goes on with the next batch while they are delivered.
    pub fn start(journal: Arc<dyn Journal>, name: &str) -> std::io::Result<Self> {
        let (requests, incoming) = crossbeam_channel::unbounded();
        let (batches, to_complete) = crossbeam_channel::unbounded::<Handover>();
        let pending = Arc::new(AtomicUsize::new(0));
        let completed = Completer {
            batches,
            pending: pending.clone(),
        };
        let stats = Arc::new(Stats::default());
        let thread_stats = stats.clone();
        let completer = thread::Builder::new()
            .name(format!("{name}-completer"))
            .spawn(move || {
                for Handover { outcomes, writes } in to_complete {
                    for (done, outcome) in outcomes {
                        done(outcome);
                    }
                    pending.fetch_sub(1, Ordering::AcqRel);
                    drop(writes);
                }
            })?;
        let writer = thread::Builder::new()
            .name(format!("{name}-writer"))
            .spawn(move || run(&*journal, &incoming, &completed, &thread_stats))?;
        Ok(Self {
            requests,
            threads: Mutex::new(vec![writer, completer]),
            stats,
            #[cfg(feature = "testkit")]
            inline: None,
        })
    }

    /// A writer without threads: every request runs on the thread that makes it (a
    /// simulation's only thread), so that the order of writes and completions is the order
    /// of the calls.
    #[cfg(feature = "testkit")]
    pub(crate) fn inline(journal: Arc<dyn Journal>) -> Self {
        let (requests, _) = crossbeam_channel::unbounded();
        Self {
            requests,
            threads: Mutex::new(Vec::new()),
            stats: Arc::new(Stats::default()),
            inline: Some(journal),
        }
    }

    /// Queues an atomic write; `done` is called once it is durable, rejected or failed.
    pub fn append(&self, write: AtomicWrite, done: Completion) {
        self.send(Request {
            write,
            done,
            job: None,
        });
    }

    /// Queues another journal call (e.g. [`Journal::set_remembered`]): it runs on the writer
    /// thread after every append queued before it is durable, and before any queued after it;
    /// `done` is called once with its outcome.
    pub(crate) fn run_in_order(&self, job: Job, done: Completion) {
        self.send(Request {
            write: AtomicWrite { events: Vec::new() },
            done,
            job: Some(job),
        });
    }

    fn send(&self, request: Request) {
        #[cfg(feature = "testkit")]
        if let Some(journal) = &self.inline {
            return run_inline(&**journal, request, &self.stats);
        }
        if let Err(crossbeam_channel::SendError(request)) = self.requests.send(request) {
            (request.done)(Err(AppendError::Failed(JournalError::Closed)));
        }
    }

    /// How the writer has batched so far.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.stats.batches.load(Ordering::Relaxed),
            writes: self.stats.writes.load(Ordering::Relaxed),
            events: self.stats.events.load(Ordering::Relaxed),
        }
    }
}

impl Drop for JournalWriter {
    /// Writes what is still queued, then stops the thread.
    fn drop(&mut self) {
        let (closed, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.requests, closed));
        // The writer ends once the channel is closed and drained, which closes the
        // completer's channel. Dropped by a completion (it held the last owner), the completer
        // thread cannot join itself: it ends on its own.
        for thread in self.threads.lock().drain(..) {
            if thread.thread().id() != thread::current().id() && thread.join().is_err() {
                tracing::error!("a journal writer thread panicked");
            }
        }
    }
}

/// An inline writer's request: the journal call, then the completion, here and now.
#[cfg(feature = "testkit")]
fn run_inline(journal: &dyn Journal, request: Request, stats: &Stats) {
    let Request { write, done, job } = request;
    let outcome = match job {
        Some(job) => match crate::supervision::panic::catch(|| job(journal)) {
            Ok(outcome) => outcome.map_err(AppendError::Failed),
            Err(panic) => Err(AppendError::Panicked(panic.message().to_owned())),
        },
        None => {
            let events = write.events.len() as u64;
            let writes = [write];
            stats.batches.fetch_add(1, Ordering::Relaxed);
            stats.writes.fetch_add(1, Ordering::Relaxed);
            match crate::supervision::panic::catch(|| journal.write(&writes)) {
                Ok(Ok(results)) => {
                    let result = results.into_iter().next().unwrap_or_else(|| {
                        Err(Rejection::Serialization(
                            "the journal returned fewer results than writes".into(),
                        ))
                    });
                    if result.is_ok() {
                        stats.events.fetch_add(events, Ordering::Relaxed);
                    }
                    result.map_err(AppendError::Rejected)
                }
                Ok(Err(error)) => Err(AppendError::Failed(error)),
                Err(panic) => Err(AppendError::Panicked(panic.message().to_owned())),
            }
        }
    };
    done(outcome);
}

/// Completes a batch: a small one here (a hand-over would cost a thread wake-up, more than the
/// completions themselves), a large one on the completion thread, so that the writer can go on
/// with the next batch meanwhile (or here too, if that thread is gone).
/// Completions keep batch order: while the completion thread still has a batch, later ones go
/// there too.
fn complete(completer: &Completer, outcomes: Completed, writes: &mut Vec<AtomicWrite>) {
    let handed_over = completer.pending.load(Ordering::Acquire) > 0;
    let outcomes = if outcomes.len() <= INLINE_COMPLETIONS && !handed_over {
        writes.clear();
        outcomes
    } else {
        completer.pending.fetch_add(1, Ordering::AcqRel);
        let handover = Handover {
            outcomes,
            writes: std::mem::take(writes),
        };
        match completer.batches.send(handover) {
            Ok(()) => return,
            Err(crossbeam_channel::SendError(Handover { outcomes, .. })) => {
                completer.pending.fetch_sub(1, Ordering::AcqRel);
                outcomes
            }
        }
    };
    for (done, outcome) in outcomes {
        done(outcome);
    }
}

/// The writer's side of the completion thread.
struct Completer {
    batches: Sender<Handover>,
    /// Batches handed over and not yet completed.
    pending: Arc<AtomicUsize>,
}

/// The next request: polled for a moment (when `poll`), then waited for. `None` once every
/// sender is gone.
fn next_request(incoming: &Receiver<Request>, poll: bool) -> Option<Request> {
    if !poll {
        return incoming.recv().ok();
    }
    let spin_until = Instant::now() + SPIN_AFTER_BATCH;
    for polls in 0u32.. {
        match incoming.try_recv() {
            Ok(request) => return Some(request),
            Err(TryRecvError::Disconnected) => return None,
            // The clock is read every 64 polls, not on each: it costs more than a poll.
            Err(TryRecvError::Empty) if polls % 64 != 0 || Instant::now() < spin_until => {
                std::hint::spin_loop()
            }
            Err(TryRecvError::Empty) => break,
        }
    }
    incoming.recv().ok()
}

fn run(journal: &dyn Journal, incoming: &Receiver<Request>, completed: &Completer, stats: &Stats) {
    let mut batch: Vec<Request> = Vec::new();
    let mut writes: Vec<AtomicWrite> = Vec::new();
    // Waits for the first request of each batch; ends when every sender is gone.
    // Polling pays at low load, where one entity's next request follows its completion
    // closely; after a large batch, the next requests come from many entities that the
    // dispatcher threads are still running, and a polling writer would take their CPU.
    let mut poll = true;
    // A job that ended the last batch: it runs next, alone.
    let mut carried: Option<Request> = None;
    while let Some(first) = carried.take().or_else(|| next_request(incoming, poll)) {
        if let Request {
            done,
            job: Some(job),
            ..
        } = first
        {
            let outcome = match crate::supervision::panic::catch(|| job(journal)) {
                Ok(outcome) => outcome.map_err(AppendError::Failed),
                Err(panic) => Err(AppendError::Panicked(panic.message().to_owned())),
            };
            complete(completed, vec![(done, outcome)], &mut writes);
            poll = true;
            continue;
        }
        let mut events = first.write.events.len();
        batch.push(first);
        while events < MAX_BATCH_EVENTS {
            match incoming.try_recv() {
                Ok(request) if request.job.is_some() => {
                    carried = Some(request);
                    break;
                }
                Ok(request) => {
                    events += request.write.events.len();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        poll = batch.len() <= INLINE_COMPLETIONS;
        writes.extend(
            batch
                .iter_mut()
                .map(|r| std::mem::replace(&mut r.write, AtomicWrite { events: Vec::new() })),
        );
        // A backend is user code: its panic fails this batch, never the writer thread (every
        // entity of the `Persistence` depends on it).
        let outcome = match crate::supervision::panic::catch(|| journal.write(&writes)) {
            Ok(outcome) => outcome.map_err(AppendError::Failed),
            Err(panic) => Err(AppendError::Panicked(panic.message().to_owned())),
        };
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        match outcome {
            Ok(results) => {
                let stored: usize = writes
                    .iter()
                    .zip(&results)
                    .filter(|(_, result)| result.is_ok())
                    .map(|(write, _)| write.events.len())
                    .sum();
                stats.events.fetch_add(stored as u64, Ordering::Relaxed);
                let mut results = results.into_iter();
                let outcomes = batch
                    .drain(..)
                    .map(|request| {
                        let result = results.next().unwrap_or_else(|| {
                            Err(Rejection::Serialization(
                                "the journal returned fewer results than writes".into(),
                            ))
                        });
                        (request.done, result.map_err(AppendError::Rejected))
                    })
                    .collect();
                complete(completed, outcomes, &mut writes);
            }
            Err(error) => {
                tracing::error!(%error, writes = batch.len(), "journal write failed");
                let outcomes = batch
                    .drain(..)
                    .map(|request| (request.done, Err(error.clone())))
                    .collect();
                complete(completed, outcomes, &mut writes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::memory::InMemoryJournal;
    use crate::persistence::{Manifest, PersistenceId, PersistentRepr, SequenceNr};

    fn event(pid: &str, sequence_nr: SequenceNr) -> PersistentRepr {
        PersistentRepr {
            persistence_id: PersistenceId::new(pid),
            sequence_nr,
            manifest: Manifest::new("Test", 1),
            payload: sequence_nr.to_be_bytes().to_vec(),
            tags: Vec::new(),
            writer_id: "test".into(),
            timestamp_ms: 0,
            offset: 0,
        }
    }

    /// Fails every write while `failing` is set; panics in every write while `panicking` is.
    struct FlakyJournal {
        inner: InMemoryJournal,
        failing: std::sync::atomic::AtomicBool,
        panicking: std::sync::atomic::AtomicBool,
    }

    impl FlakyJournal {
        fn new(failing: bool, panicking: bool) -> Self {
            Self {
                inner: InMemoryJournal::new(),
                failing: failing.into(),
                panicking: panicking.into(),
            }
        }
    }

    impl Journal for FlakyJournal {
        fn write(
            &self,
            writes: &[AtomicWrite],
        ) -> Result<Vec<Result<(), Rejection>>, JournalError> {
            if self.panicking.load(Ordering::SeqCst) {
                panic!("the backend broke");
            }
            if self.failing.load(Ordering::SeqCst) {
                return Err(JournalError::Storage("disk on fire".into()));
            }
            self.inner.write(writes)
        }
        fn replay(
            &self,
            pid: &PersistenceId,
            from: SequenceNr,
            to: SequenceNr,
            max: u64,
            on_event: &mut dyn FnMut(PersistentRepr),
        ) -> Result<SequenceNr, JournalError> {
            self.inner.replay(pid, from, to, max, on_event)
        }
        fn highest_sequence_nr(&self, pid: &PersistenceId) -> Result<SequenceNr, JournalError> {
            self.inner.highest_sequence_nr(pid)
        }
        fn delete_to(&self, pid: &PersistenceId, to: SequenceNr) -> Result<(), JournalError> {
            self.inner.delete_to(pid, to)
        }
        fn events_by_tag(
            &self,
            tag: &str,
            after: u64,
            max: u64,
            on_event: &mut dyn FnMut(PersistentRepr),
        ) -> Result<u64, JournalError> {
            self.inner.events_by_tag(tag, after, max, on_event)
        }
    }

    #[test]
    fn concurrent_appends_are_all_stored_contiguously_and_share_batches() {
        let journal = Arc::new(InMemoryJournal::new());
        let writer = Arc::new(JournalWriter::start(journal.clone(), "test").expect("writer"));
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let writer = writer.clone();
                let done_tx = done_tx.clone();
                thread::spawn(move || {
                    let pid = format!("stream|{t}");
                    for seq in 1..=200 {
                        // One in flight per stream, as an entity does.
                        let (one_tx, one_rx) = crossbeam_channel::bounded(1);
                        writer.append(
                            AtomicWrite {
                                events: vec![event(&pid, seq)],
                            },
                            Box::new(move |outcome| {
                                let _ = one_tx.send(outcome);
                            }),
                        );
                        let outcome = one_rx.recv().expect("completed");
                        done_tx.send(outcome).expect("test listening");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("appender");
        }
        drop(done_tx);
        assert!(done_rx.iter().all(|outcome| outcome.is_ok()));
        for t in 0..8 {
            let pid = PersistenceId::new(format!("stream|{t}"));
            let mut seqs = Vec::new();
            journal
                .replay(&pid, 1, u64::MAX, u64::MAX, &mut |e| {
                    seqs.push(e.sequence_nr)
                })
                .expect("replay");
            assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
        }
        let stats = writer.stats();
        assert_eq!(stats.writes, 1600);
        assert_eq!(stats.events, 1600);
        assert!(stats.batches <= stats.writes);
    }

    #[test]
    fn a_failed_batch_fails_every_append_in_it_and_stores_nothing() {
        let journal = Arc::new(FlakyJournal::new(true, false));
        let writer = JournalWriter::start(journal.clone(), "test").expect("writer");
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let tx = done_tx.clone();
        writer.append(
            AtomicWrite {
                events: vec![event("a|1", 1), event("a|1", 2)],
            },
            Box::new(move |outcome| tx.send(outcome).expect("listening")),
        );
        assert!(matches!(done_rx.recv(), Ok(Err(AppendError::Failed(_)))));
        assert_eq!(
            journal
                .highest_sequence_nr(&PersistenceId::new("a|1"))
                .expect("readable"),
            0
        );
        journal.failing.store(false, Ordering::SeqCst);
        writer.append(
            AtomicWrite {
                events: vec![event("a|1", 1)],
            },
            Box::new(move |outcome| done_tx.send(outcome).expect("listening")),
        );
        assert_eq!(done_rx.recv().expect("completed"), Ok(()));
    }

    #[test]
    fn a_panicking_journal_fails_its_batch_and_the_writer_goes_on() {
        let journal = Arc::new(FlakyJournal::new(false, true));
        let writer = JournalWriter::start(journal.clone(), "test").expect("writer");
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let tx = done_tx.clone();
        writer.append(
            AtomicWrite {
                events: vec![event("a|1", 1)],
            },
            Box::new(move |outcome| tx.send(outcome).expect("listening")),
        );
        match done_rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Err(AppendError::Panicked(message))) => {
                assert!(message.contains("the backend broke"), "{message}")
            }
            other => panic!("expected a panicked append, got {other:?}"),
        }
        journal.panicking.store(false, Ordering::SeqCst);
        writer.append(
            AtomicWrite {
                events: vec![event("a|1", 1)],
            },
            Box::new(move |outcome| done_tx.send(outcome).expect("listening")),
        );
        assert_eq!(
            done_rx.recv_timeout(Duration::from_secs(5)),
            Ok(Ok(())),
            "the writer thread survived the panic"
        );
    }

    #[test]
    fn an_out_of_order_write_is_rejected_alone() {
        let journal = Arc::new(InMemoryJournal::new());
        let writer = JournalWriter::start(journal, "test").expect("writer");
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        for (pid, seq) in [("a|1", 1), ("b|1", 5), ("c|1", 1)] {
            let tx = done_tx.clone();
            writer.append(
                AtomicWrite {
                    events: vec![event(pid, seq)],
                },
                Box::new(move |outcome| tx.send((pid, outcome)).expect("listening")),
            );
        }
        drop(done_tx);
        let mut outcomes: Vec<_> = done_rx.iter().collect();
        outcomes.sort_by_key(|(pid, _)| *pid);
        assert_eq!(outcomes[0], ("a|1", Ok(())));
        assert!(matches!(
            outcomes[1],
            (
                "b|1",
                Err(AppendError::Rejected(Rejection::OutOfOrder {
                    highest: 0,
                    got: 5
                }))
            )
        ));
        assert_eq!(outcomes[2], ("c|1", Ok(())));
    }

    #[test]
    fn a_job_runs_after_the_appends_queued_before_it_and_before_those_after_it() {
        let journal = Arc::new(InMemoryJournal::new());
        let writer = JournalWriter::start(journal.clone(), "test").expect("writer");
        let (tx, rx) = crossbeam_channel::unbounded();
        for round in 0..200u64 {
            let pid = format!("ordered|{round}");
            let append = |seq: SequenceNr, tx: crossbeam_channel::Sender<String>| {
                writer.append(
                    AtomicWrite {
                        events: vec![event(&pid, seq)],
                    },
                    Box::new(move |outcome| {
                        let _ = tx.send(format!("append {seq}: {}", outcome.is_ok()));
                    }),
                );
            };
            append(1, tx.clone());
            let seen_by_job = {
                let (pid, tx) = (PersistenceId::new(pid.clone()), tx.clone());
                Box::new(move |journal: &dyn Journal| {
                    let highest = journal.highest_sequence_nr(&pid)?;
                    let _ = tx.send(format!("job saw {highest}"));
                    // A failing and a panicking job are that job's outcome only.
                    match round % 3 {
                        0 => Ok(()),
                        1 => Err(JournalError::Storage("no".into())),
                        _ => panic!("the job broke"),
                    }
                })
            };
            let done_tx = tx.clone();
            writer.run_in_order(
                seen_by_job,
                Box::new(move |outcome| {
                    let _ = done_tx.send(format!("job done: {}", outcome.is_ok()));
                }),
            );
            append(2, tx.clone());
            let got: Vec<String> = (0..4)
                .map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("progress"))
                .collect();
            assert_eq!(
                got,
                [
                    "append 1: true".to_owned(),
                    "job saw 1".to_owned(),
                    format!("job done: {}", round % 3 == 0),
                    "append 2: true".to_owned(),
                ],
                "round {round}"
            );
        }
    }
}
