//! [`SnapshotStore`] for [`RocksJournal`]: snapshots live in the `snapshots` column family of
//! the journal's database, keyed like events.

use ::rocksdb::{DBRawIterator, ReadOptions, WriteBatch};

use super::open::SNAPSHOTS;
use super::{RocksJournal, keys, record, storage};
use crate::persistence::error::JournalError;
use crate::persistence::journal::{Manifest, PersistenceId, SequenceNr};
use crate::persistence::snapshot::{
    SnapshotCriteria, SnapshotMetadata, SnapshotStore, StoredSnapshot,
};

impl RocksJournal {
    /// A scan over the snapshots of a stream whose sequence numbers `criteria` considers;
    /// `None` when there are none.
    fn snapshots_within(
        &self,
        persistence_id: &PersistenceId,
        criteria: &SnapshotCriteria,
    ) -> Option<DBRawIterator<'_>> {
        if criteria.min_sequence_nr > criteria.max_sequence_nr {
            return None;
        }
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(keys::stream_key(persistence_id, criteria.min_sequence_nr));
        options.set_iterate_upper_bound(keys::inclusive_end(keys::stream_key(
            persistence_id,
            criteria.max_sequence_nr,
        )));
        Some(self.db.raw_iterator_cf_opt(self.family(SNAPSHOTS), options))
    }
}

/// The snapshot stored at `key` with record `value`, read as far as its metadata.
fn read<'a>(
    persistence_id: &PersistenceId,
    key: &[u8],
    value: &'a [u8],
) -> Result<(SnapshotMetadata, record::SnapshotRecord<'a>), JournalError> {
    let sequence_nr: SequenceNr = keys::sequence_nr_of(key);
    let snapshot = record::decode_snapshot(value).map_err(|detail| JournalError::Corrupt {
        persistence_id: persistence_id.clone(),
        sequence_nr,
        detail: format!("snapshot: {detail}"),
    })?;
    let metadata = SnapshotMetadata {
        persistence_id: persistence_id.clone(),
        sequence_nr,
        timestamp_ms: snapshot.timestamp_ms,
    };
    Ok((metadata, snapshot))
}

impl SnapshotStore for RocksJournal {
    fn save(&self, snapshot: StoredSnapshot) -> Result<(), JournalError> {
        self.check_writable()?;
        let metadata = &snapshot.metadata;
        self.db
            .put_cf_opt(
                self.family(SNAPSHOTS),
                keys::stream_key(&metadata.persistence_id, metadata.sequence_nr),
                record::encode_snapshot(
                    &snapshot.manifest,
                    metadata.timestamp_ms,
                    &snapshot.payload,
                ),
                &self.write_options(),
            )
            .map_err(storage)
    }

    fn load(
        &self,
        persistence_id: &PersistenceId,
        criteria: SnapshotCriteria,
    ) -> Result<Option<StoredSnapshot>, JournalError> {
        let Some(mut snapshots) = self.snapshots_within(persistence_id, &criteria) else {
            return Ok(None);
        };
        // Newest first; only the timestamp decides among those in the sequence range.
        snapshots.seek_to_last();
        while let (Some(key), Some(value)) = (snapshots.key(), snapshots.value()) {
            let (metadata, snapshot) = read(persistence_id, key, value)?;
            if criteria.matches(&metadata) {
                return Ok(Some(StoredSnapshot {
                    metadata,
                    manifest: Manifest::new(snapshot.manifest_name, snapshot.manifest_version),
                    payload: snapshot.payload.to_vec(),
                }));
            }
            snapshots.prev();
        }
        snapshots.status().map_err(storage)?;
        Ok(None)
    }

    fn delete(&self, metadata: &SnapshotMetadata) -> Result<(), JournalError> {
        self.check_writable()?;
        self.db
            .delete_cf_opt(
                self.family(SNAPSHOTS),
                keys::stream_key(&metadata.persistence_id, metadata.sequence_nr),
                &self.write_options(),
            )
            .map_err(storage)
    }

    fn delete_matching(
        &self,
        persistence_id: &PersistenceId,
        criteria: SnapshotCriteria,
    ) -> Result<(), JournalError> {
        self.check_writable()?;
        let Some(mut snapshots) = self.snapshots_within(persistence_id, &criteria) else {
            return Ok(());
        };
        let mut batch = WriteBatch::default();
        snapshots.seek_to_first();
        while let (Some(key), Some(value)) = (snapshots.key(), snapshots.value()) {
            if criteria.matches(&read(persistence_id, key, value)?.0) {
                batch.delete_cf(self.family(SNAPSHOTS), key);
            }
            snapshots.next();
        }
        snapshots.status().map_err(storage)?;
        drop(snapshots);
        if batch.is_empty() {
            return Ok(());
        }
        self.db
            .write_opt(batch, &self.write_options())
            .map_err(storage)
    }
}
