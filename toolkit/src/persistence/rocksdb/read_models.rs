//! The seam between the journal's database and the read store (`crate::projection`): the
//! `read_models` column family (format 4), read at one point in time and written one
//! `WriteBatch` at a time, so that a projection's read-model writes and its offset commit
//! together or not at all. The key layout is `persistence::read_model_keys`.

use ::rocksdb::{DB, ReadOptions, SnapshotWithThreadMode, WriteBatch};

use super::open::READ_MODELS;
use super::{RocksJournal, storage};
use crate::persistence::error::JournalError;
use crate::persistence::read_model_keys;

/// One write of a read-model batch.
pub(crate) enum RowWrite<'a> {
    /// Sets a key.
    Put(&'a [u8], &'a [u8]),
    /// Removes a key.
    Delete(&'a [u8]),
    /// Removes every key in `from..to`.
    DeleteRange(&'a [u8], &'a [u8]),
}

/// The read models as they were at one point in time.
pub(crate) struct ReadModelView<'a> {
    journal: &'a RocksJournal,
    snapshot: SnapshotWithThreadMode<'a, DB>,
}

impl ReadModelView<'_> {
    /// The value of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, JournalError> {
        let family = self.journal.read_models_family()?;
        self.snapshot.get_cf(family, key).map_err(storage)
    }

    /// Calls `on_row` with the rows of `lower..upper` (no upper: to the end) in key order,
    /// until it returns `false`.
    pub(crate) fn scan(
        &self,
        lower: &[u8],
        upper: Option<&[u8]>,
        on_row: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), JournalError> {
        let family = self.journal.read_models_family()?;
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(lower.to_vec());
        if let Some(upper) = upper {
            options.set_iterate_upper_bound(upper.to_vec());
        }
        let mut rows = self.snapshot.raw_iterator_cf_opt(family, options);
        rows.seek_to_first();
        while let (Some(key), Some(value)) = (rows.key(), rows.value()) {
            if !on_row(key, value) {
                break;
            }
            rows.next();
        }
        rows.status().map_err(storage)
    }
}

impl RocksJournal {
    fn read_models_family(&self) -> Result<&::rocksdb::ColumnFamily, JournalError> {
        self.db.cf_handle(READ_MODELS).ok_or_else(|| {
            JournalError::Storage(format!(
                "the journal in {} was written by an older version and has no read models \
                 yet: open it for writing once (RocksJournal::open) to add them",
                self.path.display()
            ))
        })
    }

    /// Runs `read` on the read models as they are now, one point in time for all its reads.
    pub(crate) fn read_models<R>(
        &self,
        read: impl FnOnce(&ReadModelView<'_>) -> R,
    ) -> Result<R, JournalError> {
        self.check_open()?;
        self.read_models_family()?;
        let view = ReadModelView {
            journal: self,
            snapshot: self.db.snapshot(),
        };
        Ok(read(&view))
    }

    /// Commits `writes` to the read models as one `WriteBatch`, with the journal's
    /// durability.
    pub(crate) fn write_read_models<'a>(
        &self,
        writes: impl IntoIterator<Item = RowWrite<'a>>,
    ) -> Result<(), JournalError> {
        self.check_writable()?;
        let family = self.read_models_family()?;
        let mut batch = WriteBatch::default();
        for write in writes {
            match write {
                RowWrite::Put(key, value) => batch.put_cf(family, key, value),
                RowWrite::Delete(key) => batch.delete_cf(family, key),
                RowWrite::DeleteRange(from, to) => batch.delete_range_cf(family, from, to),
            }
        }
        self.db
            .write_opt(batch, &self.write_options())
            .map_err(storage)
    }

    pub(super) fn stored_projection_offset(
        &self,
        name: &str,
        key: &str,
    ) -> Result<Option<u64>, JournalError> {
        let key = read_model_keys::offset_key(name, key);
        self.read_models(|view| view.get(&key))??
            .map(|bytes| read_model_keys::decode_offset(&bytes).map_err(JournalError::Storage))
            .transpose()
    }

    pub(super) fn store_projection_offset(
        &self,
        name: &str,
        key: &str,
        offset: Option<u64>,
    ) -> Result<(), JournalError> {
        let key = read_model_keys::offset_key(name, key);
        let value = offset.map(u64::to_be_bytes);
        let write = match &value {
            Some(value) => RowWrite::Put(&key, value),
            None => RowWrite::Delete(&key),
        };
        self.write_read_models([write])
    }
}
