//! Storage that fails on demand: the testkit's journal and snapshot store
//! (`reactant::testkit::{TestJournal, TestSnapshotStore}`) under the names these tests have
//! always used. The project keeps one fault-injecting journal, the one its users get.

// Each test binary declares this module and uses only some of it.
#![allow(unused_imports)]

pub use reactant::testkit::{
    Fault, HOLD_LIMIT, INJECTED, INJECTED_PANIC, TestJournal as FaultyJournal,
    TestSnapshotStore as FaultySnapshotStore, WriteFault,
};
