//! A transaction: writes to a read store collected, then committed in one atomic batch.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ReadStoreError;
use super::store::{ReadStore, Table, Write};

/// Writes to a [`ReadStore`], committed at once: what an exactly-once or grouped projection
/// handler fills, committed with the projection's offset in one batch. Its reads see its own
/// writes.
pub struct Transaction {
    pub(crate) store: ReadStore,
    /// Key → new value (`None`: deleted).
    pub(crate) writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Transaction {
    /// The value of `key` in `table`, this transaction's writes included.
    pub fn get<K, V>(&self, table: &Table<K, V>, key: &K) -> Result<Option<V>, ReadStoreError>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        let row = table.row_key(key)?;
        let stored = match self.writes.get(&row) {
            Some(written) => written.clone(),
            None => self.store.get_raw(&row)?,
        };
        stored.map(|bytes| table.decode_value(&bytes)).transpose()
    }

    /// Sets `key` of `table` to `value`.
    pub fn put<K, V>(
        &mut self,
        table: &Table<K, V>,
        key: &K,
        value: &V,
    ) -> Result<(), ReadStoreError>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        let row = table.row_key(key)?;
        self.writes.insert(row, Some(table.encode_value(value)?));
        Ok(())
    }

    /// Removes `key` from `table`.
    pub fn delete<K, V>(&mut self, table: &Table<K, V>, key: &K) -> Result<(), ReadStoreError>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        self.writes.insert(table.row_key(key)?, None);
        Ok(())
    }

    /// Sets `key` of `table` to `update(its value)` (`None`: absent); returns the new value.
    pub fn update<K, V>(
        &mut self,
        table: &Table<K, V>,
        key: &K,
        update: impl FnOnce(Option<V>) -> Option<V>,
    ) -> Result<Option<V>, ReadStoreError>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        let new = update(self.get(table, key)?);
        let row = table.row_key(key)?;
        let bytes = new
            .as_ref()
            .map(|value| table.encode_value(value))
            .transpose()?;
        self.writes.insert(row, bytes);
        Ok(new)
    }

    /// How many keys the transaction writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether it writes nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    pub(crate) fn into_writes(self) -> Vec<Write> {
        self.writes
            .into_iter()
            .map(|(key, value)| match value {
                Some(value) => Write::Put(key, value),
                None => Write::Delete(key),
            })
            .collect()
    }
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("writes", &self.writes.len())
            .finish_non_exhaustive()
    }
}
