//! The read store: typed tables of serde keys and values, in the journal's RocksDB (its
//! `read_models` column family) or in memory, read at one point in time from any thread,
//! written one atomic batch at a time.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ProjectionId;
use super::error::ReadStoreError;
use super::key;
use super::transaction::Transaction;
use crate::persistence::read_model_keys;
#[cfg(feature = "rocksdb")]
use crate::persistence::rocksdb::{ReadModelView, RocksJournal, RowWrite};

/// Typed tables for read models, beside the journal (or in memory, for tests).
///
/// Cheap to clone: clones share the store. Every read sees one consistent state, whatever a
/// projection commits meanwhile: a [`Table`]'s calls each read one point in time, and
/// [`read`](Self::read) runs several reads at one point. Writes go in atomic batches: a
/// [`Transaction`] (what projection handlers fill) or one [`Table`] call.
///
/// ```
/// use reactant::projection::ReadStore;
///
/// let store = ReadStore::in_memory();
/// let orders = store.table::<(String, u32), u64>("orders");
/// orders.put(&("alice".into(), 2), &30)?;
/// orders.put(&("alice".into(), 1), &10)?;
/// orders.put(&("bob".into(), 1), &5)?;
/// orders.update(&("bob".into(), 1), |total| total.map(|t| t + 1))?;
///
/// // In key order; a prefix of the key's leading fields.
/// let alice: Vec<u64> = orders.prefix(&"alice")?.into_iter().map(|(_, v)| v).collect();
/// assert_eq!(alice, [10, 30]);
/// assert_eq!(orders.get(&("bob".into(), 1))?, Some(6));
/// let (a, b) = store.read(|view| {
///     Ok::<_, reactant::projection::ReadStoreError>((view.range(&orders, ..)?.len(), view.get(&orders, &("carol".into(), 1))?))
/// })??;
/// assert_eq!((a, b), (3, None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ReadStore {
    inner: Arc<Inner>,
}

struct Inner {
    flavor: Flavor,
    /// Serialises the writes made through this store, so that an update's read and its write
    /// see no other write of this store in between.
    writes: Mutex<()>,
}

enum Flavor {
    Memory(RwLock<BTreeMap<Vec<u8>, Vec<u8>>>),
    #[cfg(feature = "rocksdb")]
    Rocks(Arc<RocksJournal>),
}

/// One write of a batch, owned.
#[derive(Clone, Debug)]
pub(crate) enum Write {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// Every key in `from..to`.
    DeleteRange(Vec<u8>, Vec<u8>),
}

/// The store at one point in time.
enum Snapshot<'a> {
    Memory(&'a BTreeMap<Vec<u8>, Vec<u8>>),
    #[cfg(feature = "rocksdb")]
    Rocks(&'a ReadModelView<'a>),
}

impl Snapshot<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ReadStoreError> {
        match self {
            Snapshot::Memory(rows) => Ok(rows.get(key).cloned()),
            #[cfg(feature = "rocksdb")]
            Snapshot::Rocks(view) => Ok(view.get(key)?),
        }
    }

    /// The rows of `lower..upper` (`None`: to the end), in key order.
    fn scan(
        &self,
        lower: &[u8],
        upper: Option<&[u8]>,
        on_row: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), ReadStoreError> {
        match self {
            Snapshot::Memory(rows) => {
                let upper = upper.map_or(Bound::Unbounded, Bound::Excluded);
                for (key, value) in rows.range::<[u8], _>((Bound::Included(lower), upper)) {
                    if !on_row(key, value) {
                        break;
                    }
                }
                Ok(())
            }
            #[cfg(feature = "rocksdb")]
            Snapshot::Rocks(view) => Ok(view.scan(lower, upper, on_row)?),
        }
    }
}

impl ReadStore {
    /// A store in memory: nothing durable. For tests, and for read models rebuilt at each
    /// start.
    pub fn in_memory() -> Self {
        Self::with(Flavor::Memory(RwLock::new(BTreeMap::new())))
    }

    /// The store in `journal`'s database (its `read_models` column family): what a
    /// projection writes there commits together with its offset.
    ///
    /// Refused for a journal written by an older version and opened read-only (it has no
    /// read models until opened for writing once).
    #[cfg(feature = "rocksdb")]
    pub fn open(journal: &Arc<RocksJournal>) -> Result<Self, ReadStoreError> {
        journal.read_models(|_| ())?;
        Ok(Self::with(Flavor::Rocks(journal.clone())))
    }

    fn with(flavor: Flavor) -> Self {
        Self {
            inner: Arc::new(Inner {
                flavor,
                writes: Mutex::new(()),
            }),
        }
    }

    /// The table `name` of keys `K` and values `V`. Tables are made by writing to them; a
    /// name must always be used with the same types.
    pub fn table<K, V>(&self, name: &str) -> Table<K, V>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        Table {
            store: self.clone(),
            name: name.into(),
            prefix: read_model_keys::table_prefix(name).into(),
            types: PhantomData,
        }
    }

    /// Runs `read` on the store as it is now: every read through the view sees the same
    /// point in time, whatever is committed meanwhile.
    pub fn read<R>(&self, read: impl FnOnce(&ReadView<'_>) -> R) -> Result<R, ReadStoreError> {
        match &self.inner.flavor {
            Flavor::Memory(rows) => {
                let rows = rows.read();
                Ok(read(&ReadView {
                    snapshot: Snapshot::Memory(&rows),
                }))
            }
            #[cfg(feature = "rocksdb")]
            Flavor::Rocks(journal) => Ok(journal.read_models(|view| {
                read(&ReadView {
                    snapshot: Snapshot::Rocks(view),
                })
            })?),
        }
    }

    /// A new transaction: writes collected, then committed at once with
    /// [`commit`](Self::commit). Projections hand their handlers one.
    pub fn transaction(&self) -> Transaction {
        Transaction {
            store: self.clone(),
            writes: BTreeMap::new(),
        }
    }

    /// Commits `transaction`'s writes as one atomic batch.
    pub fn commit(&self, transaction: Transaction) -> Result<(), ReadStoreError> {
        self.write(transaction.into_writes())
    }

    /// The stored offset of projection `id`.
    pub fn offset(&self, id: &ProjectionId) -> Result<Option<u64>, ReadStoreError> {
        self.read(|view| view.offset(id))?
    }

    pub(crate) fn offset_write(id: &ProjectionId, offset: Option<u64>) -> Write {
        let key = read_model_keys::offset_key(&id.name, &id.key);
        match offset {
            Some(offset) => Write::Put(key, offset.to_be_bytes().to_vec()),
            None => Write::Delete(key),
        }
    }

    pub(crate) fn clear_write(table: &str) -> Write {
        let prefix = read_model_keys::table_prefix(table);
        let end = read_model_keys::prefix_end(&prefix).unwrap_or_else(|| vec![u8::MAX; 8]);
        Write::DeleteRange(prefix, end)
    }

    /// Commits `writes` as one atomic batch.
    pub(crate) fn write(&self, writes: Vec<Write>) -> Result<(), ReadStoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let _serialised = self.inner.writes.lock();
        self.write_locked(writes)
    }

    fn write_locked(&self, writes: Vec<Write>) -> Result<(), ReadStoreError> {
        match &self.inner.flavor {
            Flavor::Memory(rows) => {
                let mut rows = rows.write();
                for write in writes {
                    match write {
                        Write::Put(key, value) => {
                            rows.insert(key, value);
                        }
                        Write::Delete(key) => {
                            rows.remove(&key);
                        }
                        Write::DeleteRange(from, to) => {
                            let doomed: Vec<Vec<u8>> = rows
                                .range::<[u8], _>((
                                    Bound::Included(from.as_slice()),
                                    Bound::Excluded(to.as_slice()),
                                ))
                                .map(|(key, _)| key.clone())
                                .collect();
                            for key in doomed {
                                rows.remove(&key);
                            }
                        }
                    }
                }
                Ok(())
            }
            #[cfg(feature = "rocksdb")]
            Flavor::Rocks(journal) => Ok(journal.write_read_models(writes.iter().map(
                |write| match write {
                    Write::Put(key, value) => RowWrite::Put(key, value),
                    Write::Delete(key) => RowWrite::Delete(key),
                    Write::DeleteRange(from, to) => RowWrite::DeleteRange(from, to),
                },
            ))?),
        }
    }

    pub(crate) fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ReadStoreError> {
        self.read(|view| view.snapshot.get(key))?
    }
}

impl fmt::Debug for ReadStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flavor = match &self.inner.flavor {
            Flavor::Memory(_) => "in memory",
            #[cfg(feature = "rocksdb")]
            Flavor::Rocks(_) => "RocksDB",
        };
        f.debug_struct("ReadStore")
            .field("flavor", &flavor)
            .finish()
    }
}

/// A named table of a [`ReadStore`]: keys `K` in their order, values `V`.
///
/// Keys are encoded so that their bytes sort as the keys do (see the table in the
/// [module docs](super#keys)): [`range`](Self::range) and [`prefix`](Self::prefix) return
/// rows in key order. Values are MessagePack with field names. Each call reads one point in
/// time or writes one atomic batch; use [`ReadStore::read`] for several reads at one point
/// and a [`Transaction`] for several writes at once.
pub struct Table<K, V> {
    store: ReadStore,
    name: Arc<str>,
    prefix: Arc<[u8]>,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            types: PhantomData,
        }
    }
}

impl<K, V> fmt::Debug for Table<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<K, V> Table<K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn key_error(&self, error: key::KeyError) -> ReadStoreError {
        ReadStoreError::Key {
            table: self.name.to_string(),
            detail: error.to_string(),
        }
    }

    fn value_error(&self, detail: String) -> ReadStoreError {
        ReadStoreError::Value {
            table: self.name.to_string(),
            detail,
        }
    }

    /// The stored key of `key`.
    pub(crate) fn row_key<Q: Serialize + ?Sized>(
        &self,
        key: &Q,
    ) -> Result<Vec<u8>, ReadStoreError> {
        let mut bytes = self.prefix.to_vec();
        key::encode_into(&mut bytes, key).map_err(|error| self.key_error(error))?;
        Ok(bytes)
    }

    pub(crate) fn encode_value(&self, value: &V) -> Result<Vec<u8>, ReadStoreError> {
        rmp_serde::to_vec_named(value).map_err(|error| self.value_error(error.to_string()))
    }

    pub(crate) fn decode_value(&self, bytes: &[u8]) -> Result<V, ReadStoreError> {
        rmp_serde::from_slice(bytes).map_err(|error| self.value_error(error.to_string()))
    }

    fn decode_row(&self, key: &[u8], value: &[u8]) -> Result<(K, V), ReadStoreError> {
        let key = key
            .strip_prefix(&*self.prefix)
            .ok_or_else(|| self.key_error(key::KeyError("a row of another table".to_owned())))?;
        Ok((
            key::decode(key).map_err(|error| self.key_error(error))?,
            self.decode_value(value)?,
        ))
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>, ReadStoreError> {
        let stored = self.store.get_raw(&self.row_key(key)?)?;
        stored.map(|bytes| self.decode_value(&bytes)).transpose()
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: &K, value: &V) -> Result<(), ReadStoreError> {
        let write = Write::Put(self.row_key(key)?, self.encode_value(value)?);
        self.store.write(vec![write])
    }

    /// Removes `key`.
    pub fn delete(&self, key: &K) -> Result<(), ReadStoreError> {
        self.store.write(vec![Write::Delete(self.row_key(key)?)])
    }

    /// Sets `key` to `update(its value)` (`None` in or out: absent), with no other write of
    /// this store in between; returns the new value.
    pub fn update(
        &self,
        key: &K,
        update: impl FnOnce(Option<V>) -> Option<V>,
    ) -> Result<Option<V>, ReadStoreError> {
        let row = self.row_key(key)?;
        let _serialised = self.store.inner.writes.lock();
        let old = self
            .store
            .get_raw(&row)?
            .map(|bytes| self.decode_value(&bytes))
            .transpose()?;
        let new = update(old);
        let write = match &new {
            Some(value) => Write::Put(row, self.encode_value(value)?),
            None => Write::Delete(row),
        };
        self.store.write_locked(vec![write])?;
        Ok(new)
    }

    /// The rows whose keys lie in `range`, in key order.
    pub fn range(&self, range: impl RangeBounds<K>) -> Result<Vec<(K, V)>, ReadStoreError> {
        self.store.read(|view| view.range(self, range))?
    }

    /// The rows whose keys start with the fields `prefix` (the leading fields of a tuple or
    /// struct key: `&"alice"` for a `(String, u32)` key), in key order.
    pub fn prefix<P: Serialize + ?Sized>(&self, prefix: &P) -> Result<Vec<(K, V)>, ReadStoreError> {
        self.store.read(|view| view.prefix(self, prefix))?
    }

    /// Every row, in key order.
    pub fn all(&self) -> Result<Vec<(K, V)>, ReadStoreError> {
        self.range(..)
    }

    /// Removes every row of the table.
    pub fn clear(&self) -> Result<(), ReadStoreError> {
        self.store.write(vec![ReadStore::clear_write(&self.name)])
    }

    fn bounds(
        &self,
        range: &impl RangeBounds<K>,
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), ReadStoreError> {
        let after = |key: &K| {
            let mut bytes = self.row_key(key)?;
            // Keys of one type are prefix-free: this is the next possible key.
            bytes.push(0);
            Ok::<_, ReadStoreError>(bytes)
        };
        let lower = match range.start_bound() {
            Bound::Included(key) => self.row_key(key)?,
            Bound::Excluded(key) => after(key)?,
            Bound::Unbounded => self.prefix.to_vec(),
        };
        let upper = match range.end_bound() {
            Bound::Included(key) => Some(after(key)?),
            Bound::Excluded(key) => Some(self.row_key(key)?),
            Bound::Unbounded => read_model_keys::prefix_end(&self.prefix),
        };
        Ok((lower, upper))
    }
}

/// The store at one point in time, inside [`ReadStore::read`].
pub struct ReadView<'a> {
    snapshot: Snapshot<'a>,
}

impl ReadView<'_> {
    /// The stored offset of projection `id` at this point in time: the read model seen
    /// through this view holds the events up to it (for a projection with a store).
    pub fn offset(&self, id: &ProjectionId) -> Result<Option<u64>, ReadStoreError> {
        let key = read_model_keys::offset_key(&id.name, &id.key);
        self.snapshot
            .get(&key)?
            .map(|bytes| {
                read_model_keys::decode_offset(&bytes).map_err(|detail| {
                    ReadStoreError::Storage(crate::persistence::JournalError::Storage(detail))
                })
            })
            .transpose()
    }

    /// The value of `key` in `table`.
    pub fn get<K, V>(&self, table: &Table<K, V>, key: &K) -> Result<Option<V>, ReadStoreError>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        let stored = self.snapshot.get(&table.row_key(key)?)?;
        stored.map(|bytes| table.decode_value(&bytes)).transpose()
    }

    /// The rows of `table` whose keys lie in `range`, in key order.
    pub fn range<K, V>(
        &self,
        table: &Table<K, V>,
        range: impl RangeBounds<K>,
    ) -> Result<Vec<(K, V)>, ReadStoreError>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        let (lower, upper) = table.bounds(&range)?;
        self.rows(table, &lower, upper.as_deref())
    }

    /// The rows of `table` whose keys start with the fields `prefix`, in key order.
    pub fn prefix<K, V, P>(
        &self,
        table: &Table<K, V>,
        prefix: &P,
    ) -> Result<Vec<(K, V)>, ReadStoreError>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
        P: Serialize + ?Sized,
    {
        let lower = table.row_key(prefix)?;
        let upper = read_model_keys::prefix_end(&lower);
        self.rows(table, &lower, upper.as_deref())
    }

    fn rows<K, V>(
        &self,
        table: &Table<K, V>,
        lower: &[u8],
        upper: Option<&[u8]>,
    ) -> Result<Vec<(K, V)>, ReadStoreError>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        let mut rows = Vec::new();
        let mut failed = None;
        self.snapshot.scan(
            lower,
            upper,
            &mut |key, value| match table.decode_row(key, value) {
                Ok(row) => {
                    rows.push(row);
                    true
                }
                Err(error) => {
                    failed = Some(error);
                    false
                }
            },
        )?;
        match failed {
            Some(error) => Err(error),
            None => Ok(rows),
        }
    }
}

impl fmt::Debug for ReadView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadView").finish_non_exhaustive()
    }
}
