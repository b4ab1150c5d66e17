//! [`PersistenceTestKit`]: a [`Persistence`] over the test journal and snapshot store, for
//! entities under test (Akka's `PersistenceTestKit`).

use std::sync::Arc;

use super::journal::TestJournal;
use super::snapshots::TestSnapshotStore;
use crate::persistence::Persistence;

/// A [`Persistence`] whose journal and snapshot store are the testkit's: in memory, with
/// faults on demand. Its methods are the journal's ([`TestJournal`], through `Deref`):
/// `fail_next_persisted`, `reject_next_persisted`, `fail_next_read`, `delay_next_persisted`,
/// `persist_for_recovery`, `persisted`, holds and counts; the snapshot store's are on
/// [`snapshots`](Self::snapshots).
///
/// ```
/// use reactant::persistence::{Event, PersistenceId};
/// use reactant::testkit::PersistenceTestKit;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// struct Deposited { amount: u64 }
/// impl Event for Deposited {}
///
/// let storage = PersistenceTestKit::new();
/// let id = PersistenceId::of("account", "1");
/// storage.persist_for_recovery(&id, [Deposited { amount: 5 }]);
/// assert_eq!(storage.persisted::<Deposited>(&id), vec![Deposited { amount: 5 }]);
/// storage.fail_next_persisted(); // the next write fails
/// ```
pub struct PersistenceTestKit {
    journal: Arc<TestJournal>,
    snapshots: Arc<TestSnapshotStore>,
    persistence: Arc<Persistence>,
}

impl Default for PersistenceTestKit {
    fn default() -> Self {
        Self::new()
    }
}

impl PersistenceTestKit {
    /// An empty journal and snapshot store, and the persistence serving them.
    ///
    /// # Panics
    ///
    /// If the persistence's writer or reader threads cannot start.
    #[track_caller]
    pub fn new() -> Self {
        let journal = Arc::new(TestJournal::new());
        let snapshots = Arc::new(TestSnapshotStore::new());
        let persistence = match Persistence::new(journal.clone(), snapshots.clone()) {
            Ok(persistence) => persistence,
            Err(error) => panic!("the test persistence could not start its threads: {error}"),
        };
        Self {
            journal,
            snapshots,
            persistence,
        }
    }

    /// An empty journal and snapshot store, served without threads: for a
    /// [`Simulation`](super::Simulation), where every write and read must run on the test's
    /// thread, in the simulation's order. A fault that holds a write (`hold_writes`) would
    /// hold that thread: use failures and rejections there.
    pub fn inline() -> Self {
        let journal = Arc::new(TestJournal::new());
        let snapshots = Arc::new(TestSnapshotStore::new());
        let persistence = Persistence::inline(journal.clone(), snapshots.clone());
        Self {
            journal,
            snapshots,
            persistence,
        }
    }

    /// The persistence to give the entities under test (or `system.sharding().init`).
    pub fn persistence(&self) -> Arc<Persistence> {
        self.persistence.clone()
    }

    /// The test journal.
    pub fn journal(&self) -> &Arc<TestJournal> {
        &self.journal
    }

    /// The test snapshot store.
    pub fn snapshots(&self) -> &Arc<TestSnapshotStore> {
        &self.snapshots
    }
}

impl std::ops::Deref for PersistenceTestKit {
    type Target = TestJournal;

    fn deref(&self) -> &TestJournal {
        &self.journal
    }
}

impl std::fmt::Debug for PersistenceTestKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistenceTestKit")
            .field("write_calls", &self.journal.write_calls())
            .field("replay_calls", &self.journal.replay_calls())
            .finish_non_exhaustive()
    }
}
