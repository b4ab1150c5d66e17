//! The test snapshot store: the in-memory snapshot store with failures and panics on demand,
//! and counts of every call.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::journal::{Fault, INJECTED_PANIC, Switch, storage_failure};
use crate::persistence::memory::InMemorySnapshotStore;
use crate::persistence::{
    JournalError, PersistenceId, SnapshotCriteria, SnapshotMetadata, SnapshotStore, StoredSnapshot,
};

/// An in-memory snapshot store whose saves, loads and deletions fail or panic, as the test
/// says.
pub struct TestSnapshotStore {
    inner: InMemorySnapshotStore,
    saves: Mutex<Switch<Fault>>,
    loads: Mutex<Switch<Fault>>,
    deletes: Mutex<Switch<Fault>>,
    save_calls: AtomicU64,
    load_calls: AtomicU64,
    delete_calls: AtomicU64,
}

impl Default for TestSnapshotStore {
    fn default() -> Self {
        Self::new()
    }
}

impl TestSnapshotStore {
    /// A store that works until told otherwise.
    pub fn new() -> Self {
        Self {
            inner: InMemorySnapshotStore::new(),
            saves: Mutex::new(Switch::off()),
            loads: Mutex::new(Switch::off()),
            deletes: Mutex::new(Switch::off()),
            save_calls: AtomicU64::new(0),
            load_calls: AtomicU64::new(0),
            delete_calls: AtomicU64::new(0),
        }
    }

    /// Every later `save` meets `fault`, until [`heal_saves`](Self::heal_saves).
    pub fn fail_saves(&self, fault: Fault) {
        self.saves.lock().set(fault, None);
    }

    /// Saves work again.
    pub fn heal_saves(&self) {
        self.saves.lock().heal();
    }

    /// Every later `load` meets `fault`, until [`heal_loads`](Self::heal_loads).
    pub fn fail_loads(&self, fault: Fault) {
        self.loads.lock().set(fault, None);
    }

    /// Loads work again.
    pub fn heal_loads(&self) {
        self.loads.lock().heal();
    }

    /// Every later `delete` and `delete_matching` meets `fault`, until
    /// [`heal_deletes`](Self::heal_deletes).
    pub fn fail_deletes(&self, fault: Fault) {
        self.deletes.lock().set(fault, None);
    }

    /// Deletions work again.
    pub fn heal_deletes(&self) {
        self.deletes.lock().heal();
    }

    /// Calls of `save` so far (failed ones included).
    pub fn save_calls(&self) -> u64 {
        self.save_calls.load(Ordering::SeqCst)
    }

    /// Calls of `load` so far (failed ones included).
    pub fn load_calls(&self) -> u64 {
        self.load_calls.load(Ordering::SeqCst)
    }

    /// Calls of `delete` and `delete_matching` so far (failed ones included).
    pub fn delete_calls(&self) -> u64 {
        self.delete_calls.load(Ordering::SeqCst)
    }

    /// The newest snapshot of `persistence_id`, read past every fault.
    pub fn latest(&self, persistence_id: &PersistenceId) -> Option<StoredSnapshot> {
        self.inner
            .load(persistence_id, SnapshotCriteria::LATEST)
            .expect("the in-memory snapshot store reads")
    }

    /// The store under the faults, to save or read behind the entity's back.
    pub fn inner(&self) -> &InMemorySnapshotStore {
        &self.inner
    }

    fn delete_fault(&self, operation: &str) -> Result<(), JournalError> {
        self.delete_calls.fetch_add(1, Ordering::SeqCst);
        let fault = self.deletes.lock().take();
        match fault {
            None => Ok(()),
            Some(Fault::Delay(delay)) => {
                std::thread::sleep(delay);
                Ok(())
            }
            Some(Fault::Fail) => Err(storage_failure(operation)),
            Some(Fault::Panic) => panic!("{INJECTED_PANIC} in {operation}"),
        }
    }
}

impl SnapshotStore for TestSnapshotStore {
    fn save(&self, snapshot: StoredSnapshot) -> Result<(), JournalError> {
        self.save_calls.fetch_add(1, Ordering::SeqCst);
        let fault = self.saves.lock().take();
        match fault {
            None => self.inner.save(snapshot),
            Some(Fault::Delay(delay)) => {
                std::thread::sleep(delay);
                self.inner.save(snapshot)
            }
            Some(Fault::Fail) => Err(storage_failure("save")),
            Some(Fault::Panic) => panic!("{INJECTED_PANIC} in save"),
        }
    }

    fn load(
        &self,
        persistence_id: &PersistenceId,
        criteria: SnapshotCriteria,
    ) -> Result<Option<StoredSnapshot>, JournalError> {
        self.load_calls.fetch_add(1, Ordering::SeqCst);
        let fault = self.loads.lock().take();
        match fault {
            None => self.inner.load(persistence_id, criteria),
            Some(Fault::Delay(delay)) => {
                std::thread::sleep(delay);
                self.inner.load(persistence_id, criteria)
            }
            Some(Fault::Fail) => Err(storage_failure("load")),
            Some(Fault::Panic) => panic!("{INJECTED_PANIC} in load"),
        }
    }

    fn delete(&self, metadata: &SnapshotMetadata) -> Result<(), JournalError> {
        self.delete_fault("delete")?;
        self.inner.delete(metadata)
    }

    fn delete_matching(
        &self,
        persistence_id: &PersistenceId,
        criteria: SnapshotCriteria,
    ) -> Result<(), JournalError> {
        self.delete_fault("delete_matching")?;
        self.inner.delete_matching(persistence_id, criteria)
    }
}
