//! The snapshot store: an entity's state at a sequence number, so recovery can start there.

use super::error::JournalError;
use super::journal::{Manifest, PersistenceId, SequenceNr};

/// Which snapshot a stored state is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMetadata {
    /// Whose state.
    pub persistence_id: PersistenceId,
    /// The sequence number of the last event folded into it.
    pub sequence_nr: SequenceNr,
    /// When it was taken, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// A stored snapshot: its metadata, what the payload is, and the serialized state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// Which snapshot.
    pub metadata: SnapshotMetadata,
    /// What the payload is.
    pub manifest: Manifest,
    /// The serialized state.
    pub payload: Vec<u8>,
}

/// Which snapshots a load or a delete considers: those with a sequence number and a timestamp
/// within both bounds (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotCriteria {
    /// Highest sequence number considered.
    pub max_sequence_nr: SequenceNr,
    /// Latest timestamp considered (ms since the epoch).
    pub max_timestamp_ms: u64,
    /// Lowest sequence number considered.
    pub min_sequence_nr: SequenceNr,
    /// Earliest timestamp considered.
    pub min_timestamp_ms: u64,
}

impl SnapshotCriteria {
    /// Every snapshot.
    pub const LATEST: Self = Self {
        max_sequence_nr: u64::MAX,
        max_timestamp_ms: u64::MAX,
        min_sequence_nr: 0,
        min_timestamp_ms: 0,
    };

    /// Snapshots up to `sequence_nr`.
    pub fn up_to(sequence_nr: SequenceNr) -> Self {
        Self {
            max_sequence_nr: sequence_nr,
            ..Self::LATEST
        }
    }

    /// Whether a snapshot with this metadata is considered.
    pub fn matches(&self, metadata: &SnapshotMetadata) -> bool {
        (self.min_sequence_nr..=self.max_sequence_nr).contains(&metadata.sequence_nr)
            && (self.min_timestamp_ms..=self.max_timestamp_ms).contains(&metadata.timestamp_ms)
    }
}

/// Stores snapshots. Every implementation passes the snapshot part of `tests/journal_tck.rs`.
pub trait SnapshotStore: Send + Sync + 'static {
    /// Stores a snapshot; one at the same sequence number is replaced.
    fn save(&self, snapshot: StoredSnapshot) -> Result<(), JournalError>;

    /// The newest snapshot (highest sequence number) matching `criteria`.
    fn load(
        &self,
        persistence_id: &PersistenceId,
        criteria: SnapshotCriteria,
    ) -> Result<Option<StoredSnapshot>, JournalError>;

    /// Deletes the one snapshot with this persistence id and sequence number (its timestamp is
    /// ignored).
    fn delete(&self, metadata: &SnapshotMetadata) -> Result<(), JournalError>;

    /// Deletes every snapshot of the stream matching `criteria`.
    fn delete_matching(
        &self,
        persistence_id: &PersistenceId,
        criteria: SnapshotCriteria,
    ) -> Result<(), JournalError>;
}
