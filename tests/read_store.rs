//! The read store's tables: key order, prefixes, typed errors, transactions, and (with
//! RocksDB) its place in the journal's database.

use reactant::projection::ReadStore;

#[test]
fn tables_scan_in_key_order_by_range_and_prefix() {
    let store = ReadStore::in_memory();
    let orders = store.table::<(String, i32), String>("orders");
    for (customer, n) in [
        ("bob", 2),
        ("alice", -1),
        ("bob", 10),
        ("alice", 3),
        ("al", 7),
    ] {
        orders
            .put(&(customer.to_owned(), n), &format!("{customer}{n}"))
            .unwrap();
    }
    let keys =
        |rows: Vec<((String, i32), String)>| rows.into_iter().map(|(_, v)| v).collect::<Vec<_>>();
    assert_eq!(
        keys(orders.all().unwrap()),
        ["al7", "alice-1", "alice3", "bob2", "bob10"]
    );
    assert_eq!(
        keys(orders.prefix(&"alice").unwrap()),
        ["alice-1", "alice3"]
    );
    assert_eq!(
        keys(
            orders
                .range(("alice".to_owned(), 0)..=("bob".to_owned(), 2))
                .unwrap()
        ),
        ["alice3", "bob2"]
    );
    assert_eq!(
        keys(
            orders
                .range(("alice".to_owned(), 3)..("bob".to_owned(), 2))
                .unwrap()
        ),
        ["alice3"]
    );
    orders.delete(&("al".to_owned(), 7)).unwrap();
    assert_eq!(orders.get(&("al".to_owned(), 7)).unwrap(), None);
    // Another table of the same store keeps its own rows.
    let other = store.table::<String, u8>("orders2");
    other.put(&"x".to_owned(), &1).unwrap();
    orders.clear().unwrap();
    assert!(orders.all().unwrap().is_empty());
    assert_eq!(other.all().unwrap(), [("x".to_owned(), 1)]);
}

#[test]
fn a_table_read_with_another_type_says_so() {
    let store = ReadStore::in_memory();
    store
        .table::<u8, String>("t")
        .put(&1, &"one".to_owned())
        .unwrap();
    let error = store.table::<u8, u64>("t").get(&1).unwrap_err();
    assert!(error.to_string().contains("table `t`"), "{error}");
    let error = store.table::<String, String>("t").all().unwrap_err();
    assert!(
        error.to_string().contains("keys must be plain serde data"),
        "{error}"
    );
}

#[test]
fn a_transaction_reads_its_own_writes_and_commits_at_once() {
    let store = ReadStore::in_memory();
    let counts = store.table::<String, u64>("counts");
    let mut tx = store.transaction();
    for _ in 0..3 {
        tx.update(&counts, &"a".to_owned(), |n| Some(n.unwrap_or(0) + 1))
            .unwrap();
    }
    assert_eq!(tx.get(&counts, &"a".to_owned()).unwrap(), Some(3));
    assert_eq!(counts.get(&"a".to_owned()).unwrap(), None);
    store.commit(tx).unwrap();
    assert_eq!(counts.get(&"a".to_owned()).unwrap(), Some(3));
}

#[cfg(feature = "rocksdb")]
#[test]
fn the_read_store_lives_in_the_journal_and_survives_reopening() {
    use reactant::persistence::Journal;
    use reactant::persistence::rocksdb::RocksJournal;
    use reactant::projection::ProjectionId;
    let folder = tempfile::tempdir().unwrap();
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        let store = ReadStore::open(&journal).unwrap();
        store
            .table::<String, u64>("t")
            .put(&"k".to_owned(), &7)
            .unwrap();
        journal.save_projection_offset("p", "k", Some(42)).unwrap();
    }
    let journal = RocksJournal::open(folder.path()).unwrap();
    let store = ReadStore::open(&journal).unwrap();
    assert_eq!(
        store
            .table::<String, u64>("t")
            .get(&"k".to_owned())
            .unwrap(),
        Some(7)
    );
    assert_eq!(
        store.offset(&ProjectionId::new("p", "k")).unwrap(),
        Some(42)
    );
    assert_eq!(journal.projection_offset("p", "k").unwrap(), Some(42));
    journal.close();
    let error = store
        .table::<String, u64>("t")
        .put(&"k".to_owned(), &8)
        .unwrap_err();
    assert!(error.to_string().contains("closed"), "{error}");
}
