//! The `Persistence` handle: a journal and a snapshot store, the group-commit writer that
//! appends for every entity, and the reader threads that run recoveries, snapshot saves and
//! deletions off the dispatchers.
//!
//! Two rules keep the reader threads safe to share:
//!
//! - **Every job runs guarded.** A job holds user code (an event handler replaying, a codec,
//!   a backend's `replay` or `save`); a panic in it is caught and becomes that job's failure,
//!   reported to the entity that asked. The thread goes on with the next job.
//! - **One persistence id, one reader, in order.** Jobs are routed by their persistence id, so
//!   the jobs of one stream run in the order they were asked for: a retention job (delete old
//!   snapshots and events) asked for by an incarnation that then failed always completes before
//!   the next incarnation's recovery reads the stream. Recovery never meets a half-applied
//!   deletion.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use crate::persistence::journal::{Journal, PersistenceId};
use crate::persistence::memory::{InMemoryJournal, InMemorySnapshotStore};
use crate::persistence::snapshot::SnapshotStore;
use crate::persistence::writer::{JournalWriter, WriterStats};
use crate::supervision::panic;

/// Threads that run recoveries and snapshot saves: blocking reads never run on a dispatcher.
const READER_THREADS: usize = 2;

pub(super) type Job = Box<dyn FnOnce() + Send>;

/// A journal and a snapshot store, with the group-commit writer and the reader threads that
/// serve every entity persisting to them.
///
/// ```
/// use reactant::persistence::Persistence;
///
/// let persistence = Persistence::in_memory()?;
/// assert_eq!(persistence.writer_stats().batches, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Persistence {
    pub(super) journal: Arc<dyn Journal>,
    pub(super) snapshots: Arc<dyn SnapshotStore>,
    pub(super) writer: JournalWriter,
    /// One queue per reader thread; `None` once the handle is dropped.
    readers: Mutex<Option<Vec<Sender<Job>>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// No reader threads: jobs run on the caller's thread at once (the testkit's simulation).
    #[cfg(feature = "testkit")]
    inline: bool,
    /// Routes a persistence id to its reader: seeded per process, like every map key here.
    route: std::collections::hash_map::RandomState,
    /// Stamped on every event written through this instance (`PersistentRepr::writer_id`).
    pub(super) writer_id: Arc<str>,
}

impl Persistence {
    /// Serves entities with `journal` and `snapshots`; starts the writer and reader threads.
    pub fn new(
        journal: Arc<dyn Journal>,
        snapshots: Arc<dyn SnapshotStore>,
    ) -> std::io::Result<Arc<Self>> {
        crate::supervision::panic::install_hook();
        let writer = JournalWriter::start(journal.clone(), "journal")?;
        let mut readers = Vec::with_capacity(READER_THREADS);
        let mut threads = Vec::with_capacity(READER_THREADS);
        for index in 0..READER_THREADS {
            let (jobs, incoming) = crossbeam_channel::unbounded::<Job>();
            readers.push(jobs);
            threads.push(
                thread::Builder::new()
                    .name(format!("journal-reader-{index}"))
                    .spawn(move || {
                        for job in incoming {
                            // Each job reports its own failures; this only keeps the thread.
                            if let Err(failure) = panic::catch(job) {
                                tracing::error!(%failure, "a journal reader job panicked");
                            }
                        }
                    })?,
            );
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(Arc::new(Self {
            journal,
            snapshots,
            writer,
            readers: Mutex::new(Some(readers)),
            threads: Mutex::new(threads),
            route: std::collections::hash_map::RandomState::new(),
            writer_id: format!("{:x}-{:x}", std::process::id(), nanos).into(),
            #[cfg(feature = "testkit")]
            inline: false,
        }))
    }

    /// Serves entities with `journal` and `snapshots` without threads: every write, read and
    /// snapshot save runs on the thread that asks for it, and completes before the call
    /// returns (its outcome reaches the entity as a message, as always). For the testkit's
    /// simulation, where the only thread is the test's.
    #[cfg(feature = "testkit")]
    pub(crate) fn inline(
        journal: Arc<dyn Journal>,
        snapshots: Arc<dyn SnapshotStore>,
    ) -> Arc<Self> {
        crate::supervision::panic::install_hook();
        Arc::new(Self {
            writer: JournalWriter::inline(journal.clone()),
            journal,
            snapshots,
            readers: Mutex::new(Some(Vec::new())),
            threads: Mutex::new(Vec::new()),
            route: std::collections::hash_map::RandomState::new(),
            writer_id: "simulation".into(),
            inline: true,
        })
    }

    /// Serves entities with one backend that is both their journal and their snapshot store
    /// (as `RocksJournal` is): `Persistence::from_backend(RocksJournal::open(dir)?)`. Use
    /// [`new`](Self::new) to mix two backends.
    pub fn from_backend<B>(backend: Arc<B>) -> std::io::Result<Arc<Self>>
    where
        B: Journal + SnapshotStore + 'static,
    {
        Self::new(backend.clone(), backend)
    }

    /// An in-memory journal and snapshot store (for tests: nothing survives the process).
    pub fn in_memory() -> std::io::Result<Arc<Self>> {
        Self::new(
            Arc::new(InMemoryJournal::new()),
            Arc::new(InMemorySnapshotStore::new()),
        )
    }

    /// The journal (for reading events back).
    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    /// The snapshot store.
    pub fn snapshot_store(&self) -> &Arc<dyn SnapshotStore> {
        &self.snapshots
    }

    /// How the writer has batched the appends so far.
    pub fn writer_stats(&self) -> WriterStats {
        self.writer.stats()
    }

    /// Runs `job` on the reader thread of `persistence_id`, after every job asked for the same
    /// id before it. Hands the job back if the readers are gone (the handle is being dropped).
    /// Remembers (or forgets) the sharded entity `entity_id` of `type_key` durably, in order
    /// with the appends queued before and after it (see [`Journal::set_remembered`]); `done`
    /// gets the outcome on the writer's completion thread.
    pub(crate) fn set_remembered(
        &self,
        type_key: Arc<str>,
        entity_id: Arc<str>,
        remembered: bool,
        done: crate::persistence::writer::Completion,
    ) {
        self.writer.run_in_order(
            Box::new(move |journal: &dyn Journal| {
                journal.set_remembered(&type_key, &entity_id, remembered)
            }),
            done,
        );
    }

    pub(super) fn run_for(&self, persistence_id: &PersistenceId, job: Job) -> Result<(), Job> {
        #[cfg(feature = "testkit")]
        if self.inline {
            if let Err(failure) = panic::catch(job) {
                tracing::error!(%failure, "a journal reader job panicked");
            }
            return Ok(());
        }
        let readers = self.readers.lock();
        let Some(readers) = readers.as_ref() else {
            return Err(job);
        };
        let mut hasher = self.route.build_hasher();
        persistence_id.hash(&mut hasher);
        let index = (std::hash::Hasher::finish(&hasher) % readers.len() as u64) as usize;
        readers[index]
            .send(job)
            .map_err(|crossbeam_channel::SendError(job)| job)
    }
}

impl Drop for Persistence {
    fn drop(&mut self) {
        self.readers.lock().take();
        for reader in self.threads.lock().drain(..) {
            if reader.thread().id() != thread::current().id() && reader.join().is_err() {
                tracing::error!("a journal reader thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_panicking_job_leaves_its_reader_serving_later_jobs() {
        let persistence = Persistence::in_memory().expect("threads");
        let id = PersistenceId::new("t|1");
        // More panics than there are readers: each reader meets at least one if routing
        // spread them, and every id here routes to the same reader anyway.
        for _ in 0..(READER_THREADS * 2) {
            persistence
                .run_for(&id, Box::new(|| panic!("user code broke")))
                .map_err(|_| "readers gone")
                .expect("readers running");
        }
        let (done, finished) = crossbeam_channel::bounded(1);
        persistence
            .run_for(
                &id,
                Box::new(move || {
                    let _ = done.send(());
                }),
            )
            .map_err(|_| "readers gone")
            .expect("readers running");
        assert_eq!(finished.recv_timeout(Duration::from_secs(5)), Ok(()));
    }

    #[test]
    fn the_jobs_of_one_persistence_id_run_in_the_order_they_were_asked_for() {
        let persistence = Persistence::in_memory().expect("threads");
        let (order, seen) = crossbeam_channel::unbounded();
        for round in 0..200 {
            for stream in 0..4 {
                let order = order.clone();
                let id = PersistenceId::new(format!("t|{stream}"));
                persistence
                    .run_for(
                        &id,
                        Box::new(move || {
                            let _ = order.send((stream, round));
                        }),
                    )
                    .map_err(|_| "readers gone")
                    .expect("readers running");
            }
        }
        drop(order);
        let mut next = [0; 4];
        for (stream, round) in seen.iter().take(800) {
            assert_eq!(round, next[stream], "stream {stream} out of order");
            next[stream] += 1;
        }
        assert_eq!(next, [200; 4]);
    }
}
