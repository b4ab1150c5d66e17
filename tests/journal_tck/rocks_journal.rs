//! The RocksDB journal beyond the shared kit: what survives a reopening, the global offset under
//! concurrent writers, the folder lock (in this process and another), folders that must be
//! refused without a byte written, the list of streams, and the read-only journal.
//!
//! Over 600 lines: one file per rule set, as the ported specs are; each test stands alone.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use ::rocksdb::{DB, Options};
use reactant::persistence::JournalError;
use reactant::persistence::rocksdb::{Durability, OpenError, RocksConfig, RocksJournal};
use tempfile::TempDir;

use super::*;

/// The environment variable that turns [`open_the_folder_named_by_the_environment`] into the
/// child process of [`a_folder_open_in_another_process_is_refused`].
const CHILD_FOLDER: &str = "REACTANT_TCK_OPEN_FOLDER";
/// The child's exit code when the folder is refused as in use by another process.
const CHILD_REFUSED: i32 = 17;

fn folder() -> TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

fn buffered() -> RocksConfig {
    RocksConfig {
        durability: Durability::Buffered,
    }
}

fn offsets(events: &[PersistentRepr]) -> Vec<u64> {
    events.iter().map(|event| event.offset).collect()
}

/// Every file and folder under `path` (the folder itself included) with its modification time
/// and, for files, its bytes: equal states mean nothing was written, created or removed.
fn folder_state(path: &Path) -> BTreeMap<PathBuf, (SystemTime, Option<Vec<u8>>)> {
    let mut state = BTreeMap::new();
    let mut pending = vec![path.to_owned()];
    while let Some(current) = pending.pop() {
        let metadata = std::fs::metadata(&current).unwrap();
        let modified = metadata.modified().unwrap();
        if metadata.is_dir() {
            state.insert(current.clone(), (modified, None));
            for entry in std::fs::read_dir(&current).unwrap() {
                pending.push(entry.unwrap().path());
            }
        } else {
            state.insert(
                current.clone(),
                (modified, Some(std::fs::read(&current).unwrap())),
            );
        }
    }
    state
}

/// Opens `path`, expecting a refusal, and checks the folder is exactly as it was.
fn refused_untouched(path: &Path) -> OpenError {
    let before = folder_state(path);
    let error = RocksJournal::open(path).expect_err("the folder is refused");
    assert_eq!(folder_state(path), before, "the refused folder was changed");
    error
}

/// A raw RocksDB database in `path` with these column families (and `default`).
fn raw_database(path: &Path, families: &[&str]) -> DB {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    DB::open_cf(&options, path, families).expect("a raw RocksDB database opens")
}

const OUR_FAMILIES: [&str; 6] = [
    "meta",
    "events",
    "tags",
    "snapshots",
    "offsets",
    "read_models",
];

#[test]
fn reopening_keeps_events_highest_deleted_to_snapshots_and_the_global_offset() {
    let folder = folder();
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        write_fixture(&*journal);
        journal.delete_to(&pid(), 3).unwrap();
        journal.save(snapshot(md(0), "s-1")).unwrap();
        assert_eq!(journal.last_offset(), 5);
    }
    let journal = RocksJournal::open(folder.path()).unwrap();
    assert_eq!(journal.last_offset(), 5);
    assert_eq!(journal.highest_sequence_nr(&pid()).unwrap(), 5);
    let replayed = replay_all(&*journal, &pid());
    assert_eq!(offsets(&replayed), vec![4, 5]);
    // Deleting below what is already deleted changes nothing.
    journal.delete_to(&pid(), 2).unwrap();
    assert_eq!(replay(&*journal, 1, u64::MAX, u64::MAX), (vec![4, 5], 5));
    // The offset goes on without a gap.
    let other = PersistenceId::of("tck", "other");
    write_all(&*journal, vec![atomic(vec![event(&other, 1)])]);
    write_all(&*journal, vec![atomic(vec![event(&pid(), 6)])]);
    assert_eq!(offsets(&replay_all(&*journal, &other)), vec![6]);
    assert_eq!(offsets(&replay_all(&*journal, &pid())), vec![4, 5, 7]);
    assert_eq!(
        journal
            .load(&pid(), SnapshotCriteria::LATEST)
            .unwrap()
            .unwrap()
            .metadata,
        md(0)
    );
}

#[test]
fn the_global_offset_is_gap_free_and_in_commit_order_across_concurrent_writers() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 40;
    let folder = folder();
    let journal = RocksJournal::open_with(folder.path(), buffered()).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let journal = &journal;
            scope.spawn(move || {
                let streams = [
                    PersistenceId::of("writer", &format!("{thread}-a")),
                    PersistenceId::of("writer", &format!("{thread}-b")),
                ];
                let mut next = [1, 1];
                for call in 0..CALLS {
                    // Two writes of one to three events, all tagged with their call.
                    let writes = (0..2)
                        .map(|s| {
                            let count = 1 + (call + s as u64) % 3;
                            let events = (0..count)
                                .map(|i| {
                                    let mut e = tagged(event(&streams[s], next[s] + i), &["all"]);
                                    e.payload = format!("{thread}/{call}").into_bytes();
                                    e
                                })
                                .collect();
                            next[s] += count;
                            atomic(events)
                        })
                        .collect();
                    write_all(&**journal, writes);
                }
            });
        }
    });
    drop(journal);
    let journal = RocksJournal::open(folder.path()).unwrap();
    let (all, last) = by_tag(&*journal, "all", 0, u64::MAX);
    let total = all.len() as u64;
    assert_eq!(
        offsets(&all),
        (1..=total).collect::<Vec<_>>(),
        "gap-free, in order"
    );
    assert_eq!((last, journal.last_offset()), (total, total));
    // One call is one batch: its events hold a contiguous run of offsets.
    let mut by_call: HashMap<Vec<u8>, Vec<u64>> = HashMap::new();
    for event in &all {
        by_call
            .entry(event.payload.clone())
            .or_default()
            .push(event.offset);
    }
    assert_eq!(by_call.len() as u64, THREADS * CALLS);
    for (call, offsets) in by_call {
        let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
        assert_eq!(
            last - first + 1,
            offsets.len() as u64,
            "call {call:?} is not contiguous"
        );
    }
    // Within a stream, offsets follow sequence numbers.
    for event in &all {
        let stream = replay_all(&*journal, &event.persistence_id);
        assert!(stream.windows(2).all(|w| w[0].offset < w[1].offset));
    }
}

#[test]
fn a_folder_already_open_in_this_process_is_refused() {
    let folder = folder();
    let journal = RocksJournal::open(folder.path()).unwrap();
    let error = RocksJournal::open(folder.path()).unwrap_err();
    assert!(
        matches!(&error, OpenError::AlreadyOpenInThisProcess { path } if path == folder.path())
    );
    let message = error.to_string();
    assert!(
        message.contains(&folder.path().display().to_string()),
        "{message}"
    );
    println!("{message}");
    drop(journal);
    RocksJournal::open(folder.path()).expect("the folder opens once the journal is dropped");
}

/// Not a test of its own: the child process of [`a_folder_open_in_another_process_is_refused`]
/// runs it with [`CHILD_FOLDER`] set; it opens that folder and exits with what happened.
#[test]
fn open_the_folder_named_by_the_environment() {
    let Some(path) = std::env::var_os(CHILD_FOLDER) else {
        return;
    };
    match RocksJournal::open(&path) {
        // Closed before `exit`: exiting with the database open runs RocksDB's static
        // destructors while its background threads still run, which can kill the process
        // with a signal (seen once under a loaded full run: exit status None).
        Ok(journal) => {
            drop(journal);
            std::process::exit(0)
        }
        Err(error) => {
            println!("{error}");
            let refused = matches!(error, OpenError::InUseByAnotherProcess { .. });
            std::process::exit(if refused { CHILD_REFUSED } else { 1 });
        }
    }
}

fn open_in_a_child_process(path: &Path) -> (Option<i32>, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "rocks_journal::open_the_folder_named_by_the_environment",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_FOLDER, path)
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code(), stdout)
}

#[test]
fn a_folder_open_in_another_process_is_refused() {
    let folder = folder();
    let journal = RocksJournal::open(folder.path()).unwrap();
    let (code, stdout) = open_in_a_child_process(folder.path());
    assert_eq!(code, Some(CHILD_REFUSED), "{stdout}");
    assert!(
        stdout.contains(&folder.path().display().to_string()),
        "{stdout}"
    );
    assert!(stdout.contains("another process"), "{stdout}");
    println!(
        "{}",
        stdout
            .lines()
            .find(|l| l.contains("another process"))
            .unwrap_or("")
    );
    drop(journal);
    let (code, stdout) = open_in_a_child_process(folder.path());
    assert_eq!(
        code,
        Some(0),
        "the lock is released with the journal: {stdout}"
    );
}

#[test]
fn a_folder_with_unrelated_files_is_refused_untouched() {
    let folder = folder();
    std::fs::write(folder.path().join("notes.txt"), "not a journal").unwrap();
    let error = refused_untouched(folder.path());
    assert!(matches!(error, OpenError::NotAJournal { .. }), "{error}");
    println!("{error}");
}

#[test]
fn a_folder_with_a_fake_database_layout_is_refused_untouched() {
    let folder = folder();
    std::fs::write(folder.path().join("CURRENT"), "MANIFEST-000001\n").unwrap();
    std::fs::write(folder.path().join("LOCK"), "").unwrap();
    let error = refused_untouched(folder.path());
    assert!(matches!(error, OpenError::NotAJournal { .. }), "{error}");
    println!("{error}");
}

#[test]
fn a_foreign_rocksdb_database_is_refused_untouched() {
    let folder = folder();
    {
        let db = DB::open_default(folder.path()).unwrap();
        db.put(b"someone", b"else").unwrap();
    }
    let error = refused_untouched(folder.path());
    assert!(matches!(error, OpenError::NotAJournal { .. }), "{error}");
    println!("{error}");
}

#[test]
fn a_foreign_database_with_our_column_family_names_is_refused_untouched() {
    let folder = folder();
    {
        let db = raw_database(folder.path(), &OUR_FAMILIES);
        db.put_cf(db.cf_handle("meta").unwrap(), b"owner", b"someone else")
            .unwrap();
    }
    let error = refused_untouched(folder.path());
    assert!(matches!(error, OpenError::NotAJournal { .. }), "{error}");
    println!("{error}");
}

#[test]
fn a_journal_of_a_newer_format_version_is_refused_untouched() {
    let folder = folder();
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        write_fixture(&*journal);
    }
    {
        let db = raw_database(folder.path(), &OUR_FAMILIES);
        db.put_cf(
            db.cf_handle("meta").unwrap(),
            b"format_version",
            5u32.to_be_bytes(),
        )
        .unwrap();
    }
    let error = refused_untouched(folder.path());
    assert!(
        matches!(
            error,
            OpenError::NewerFormat {
                found: 5,
                supported: 4,
                ..
            }
        ),
        "{error}"
    );
    println!("{error}");
}

#[test]
fn a_fully_deleted_stream_keeps_its_highest_after_reopening() {
    let folder = folder();
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        write_fixture(&*journal);
        journal.delete_to(&pid(), u64::MAX).unwrap();
    }
    let journal = RocksJournal::open(folder.path()).unwrap();
    assert_eq!(journal.highest_sequence_nr(&pid()).unwrap(), 5);
    assert_eq!(replay(&*journal, 1, u64::MAX, u64::MAX), (vec![], 5));
    // The stream goes on after its highest, never below it.
    let rejected = journal
        .write(&[atomic(vec![event(&pid(), 1)])])
        .unwrap()
        .remove(0);
    assert!(rejected.is_err(), "{rejected:?}");
    write_all(&*journal, vec![atomic(vec![event(&pid(), 6)])]);
    assert_eq!(journal.highest_sequence_nr(&pid()).unwrap(), 6);
}

#[test]
fn a_journal_of_format_1_is_marked_the_current_format_when_opened_and_keeps_its_streams() {
    let folder = folder();
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        write_fixture(&*journal);
        journal.delete_to(&pid(), 2).unwrap();
    }
    {
        // Format 1 kept a `highest/{id}` row per stream; format 2 neither reads nor needs it.
        let db = raw_database(folder.path(), &OUR_FAMILIES);
        let meta = db.cf_handle("meta").unwrap();
        db.put_cf(meta, b"format_version", 1u32.to_be_bytes())
            .unwrap();
        db.put_cf(meta, b"highest/tck|p-1", 5u64.to_be_bytes())
            .unwrap();
    }
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        assert_eq!(journal.highest_sequence_nr(&pid()).unwrap(), 5);
        assert_eq!(replay(&*journal, 1, u64::MAX, u64::MAX), (vec![3, 4, 5], 5));
    }
    let db = raw_database(folder.path(), &OUR_FAMILIES);
    let version = db
        .get_cf(db.cf_handle("meta").unwrap(), b"format_version")
        .unwrap()
        .unwrap();
    assert_eq!(version, 4u32.to_be_bytes());
}

/// Format 2 had no index in global order: opened for writing, the journal builds it from its
/// events (format 3); read-only, it reads as before and refuses only the global order.
#[test]
fn a_journal_of_format_2_gets_its_offset_index_when_opened_for_writing() {
    let folder = folder();
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        write_fixture(&*journal);
        let other = PersistenceId::of("tck", "p-2");
        write_all(&*journal, vec![atomic(vec![event(&other, 1)])]);
        write_all(&*journal, vec![atomic(vec![event(&pid(), 6)])]);
        journal.delete_to(&pid(), 1).unwrap();
    }
    {
        // What a format 2 journal looks like: no `offsets` family (nor `read_models`).
        let mut db = raw_database(folder.path(), &OUR_FAMILIES);
        db.drop_cf("offsets").unwrap();
        db.drop_cf("read_models").unwrap();
        db.put_cf(
            db.cf_handle("meta").unwrap(),
            b"format_version",
            2u32.to_be_bytes(),
        )
        .unwrap();
    }
    {
        let reader = RocksJournal::open_read_only(folder.path()).unwrap();
        assert_eq!(
            replay(&*reader, 1, u64::MAX, u64::MAX),
            (vec![2, 3, 4, 5, 6], 6)
        );
        let error = reader
            .events_by_offset(0, u64::MAX, &mut |_| {})
            .expect_err("no index yet");
        assert!(
            error.to_string().contains("open it for writing once"),
            "{error}"
        );
    }
    let journal = RocksJournal::open(folder.path()).unwrap();
    let mut all = Vec::new();
    let last = journal
        .events_by_offset(0, u64::MAX, &mut |event| {
            all.push((
                event.offset,
                event.persistence_id.to_string(),
                event.sequence_nr,
            ))
        })
        .unwrap();
    assert_eq!(
        all,
        [
            (2, "tck|p-1".to_owned(), 2),
            (3, "tck|p-1".to_owned(), 3),
            (4, "tck|p-1".to_owned(), 4),
            (5, "tck|p-1".to_owned(), 5),
            (6, "tck|p-2".to_owned(), 1),
            (7, "tck|p-1".to_owned(), 6),
        ]
    );
    assert_eq!(last, 7);
    write_all(&*journal, vec![atomic(vec![event(&pid(), 7)])]);
    let mut after = Vec::new();
    journal
        .events_by_offset(7, u64::MAX, &mut |event| after.push(event.offset))
        .unwrap();
    assert_eq!(after, [8]);
    drop(journal);
    let db = raw_database(folder.path(), &OUR_FAMILIES);
    let version = db
        .get_cf(db.cf_handle("meta").unwrap(), b"format_version")
        .unwrap()
        .unwrap();
    assert_eq!(version, 4u32.to_be_bytes());
}

/// Format 3 had no read models: opened for writing, the journal gets the (empty) family and
/// is marked format 4; read-only, it reads its events as before and has no read store.
#[test]
fn a_journal_of_format_3_gets_its_read_models_family_when_opened_for_writing() {
    use reactant::projection::{ProjectionId, ReadStore};
    let folder = folder();
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        write_fixture(&*journal);
    }
    {
        let mut db = raw_database(folder.path(), &OUR_FAMILIES);
        db.drop_cf("read_models").unwrap();
        db.put_cf(
            db.cf_handle("meta").unwrap(),
            b"format_version",
            3u32.to_be_bytes(),
        )
        .unwrap();
    }
    {
        let reader = RocksJournal::open_read_only(folder.path()).unwrap();
        assert_eq!(
            replay(&*reader, 1, u64::MAX, u64::MAX),
            (vec![1, 2, 3, 4, 5], 5)
        );
        let error = ReadStore::open(&reader).expect_err("no read models yet");
        assert!(
            error.to_string().contains("open it for writing once"),
            "{error}"
        );
    }
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        assert_eq!(
            replay(&*journal, 1, u64::MAX, u64::MAX),
            (vec![1, 2, 3, 4, 5], 5)
        );
        let store = ReadStore::open(&journal).unwrap();
        store.table::<u8, u8>("t").put(&1, &2).unwrap();
        assert_eq!(store.offset(&ProjectionId::new("p", "k")).unwrap(), None);
    }
    let db = raw_database(folder.path(), &OUR_FAMILIES);
    let version = db
        .get_cf(db.cf_handle("meta").unwrap(), b"format_version")
        .unwrap()
        .unwrap();
    assert_eq!(version, 4u32.to_be_bytes());
}

#[test]
fn a_path_that_is_a_file_is_refused() {
    let folder = folder();
    let file = folder.path().join("journal");
    std::fs::write(&file, "").unwrap();
    let error = RocksJournal::open(&file).unwrap_err();
    assert!(matches!(error, OpenError::NotAFolder { .. }), "{error}");
    println!("{error}");
    assert_eq!(std::fs::read(&file).unwrap(), b"");
}

#[test]
fn a_missing_folder_becomes_a_new_journal() {
    let folder = folder();
    let path = folder.path().join("a").join("journal");
    let journal = RocksJournal::open(&path).unwrap();
    assert_eq!(journal.path(), path);
    assert_eq!(journal.durability(), Durability::Sync);
    write_fixture(&*journal);
    assert_eq!(journal.highest_sequence_nr(&pid()).unwrap(), 5);
}

#[test]
fn a_journal_whose_creation_was_cut_short_is_completed() {
    let folder = folder();
    drop(raw_database(folder.path(), &OUR_FAMILIES));
    let journal = RocksJournal::open(folder.path()).expect("an empty journal without a version");
    write_fixture(&*journal);
    drop(journal);
    let journal = RocksJournal::open(folder.path()).unwrap();
    assert_eq!(journal.highest_sequence_nr(&pid()).unwrap(), 5);
}

#[test]
fn buffered_writes_are_there_after_reopening() {
    let folder = folder();
    {
        let journal = RocksJournal::open_with(folder.path(), buffered()).unwrap();
        assert_eq!(journal.durability(), Durability::Buffered);
        write_fixture(&*journal);
    }
    let journal = RocksJournal::open(folder.path()).unwrap();
    assert_eq!(
        replay(&*journal, 1, u64::MAX, u64::MAX),
        (vec![1, 2, 3, 4, 5], 5)
    );
}

#[test]
fn a_damaged_event_record_fails_the_replay_naming_its_stream_and_sequence_number() {
    let folder = folder();
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        write_fixture(&*journal);
    }
    {
        // Behind the journal's back: event 3 of the stream, overwritten with garbage.
        let db = raw_database(folder.path(), &OUR_FAMILIES);
        let id = pid();
        let mut key = (id.as_str().len() as u32).to_be_bytes().to_vec();
        key.extend_from_slice(id.as_str().as_bytes());
        key.extend_from_slice(&3u64.to_be_bytes());
        db.put_cf(db.cf_handle("events").unwrap(), key, b"\x01garbage")
            .unwrap();
    }
    let journal = RocksJournal::open(folder.path()).unwrap();
    let mut seen = Vec::new();
    let error = journal
        .replay(&pid(), 1, u64::MAX, u64::MAX, &mut |event| {
            seen.push(event.sequence_nr)
        })
        .unwrap_err();
    assert!(
        matches!(&error, JournalError::Corrupt { persistence_id, sequence_nr: 3, .. } if *persistence_id == pid()),
        "{error}"
    );
    assert!(error.to_string().contains("tck|p-1"), "{error}");
    assert_eq!(
        seen,
        vec![1, 2],
        "the events before the damage were delivered"
    );
}

#[test]
fn persistence_ids_lists_the_streams_with_events_in_key_order() {
    let folder = folder();
    let journal = RocksJournal::open(folder.path()).unwrap();
    assert_eq!(journal.persistence_ids().unwrap(), []);
    let ids = ["a|b", "a", "b", "gone", "a\u{0}"].map(PersistenceId::new);
    for id in &ids {
        write_all(
            &*journal,
            vec![atomic(vec![event(id, 1), event(id, 2), event(id, 3)])],
        );
    }
    journal.delete_to(&ids[0], 2).unwrap();
    journal.delete_to(&ids[3], u64::MAX).unwrap();
    // Shorter ids first (the length prefix), then byte order; a stream whose events are all
    // deleted has none left to list.
    let expected = ["a", "b", "a\u{0}", "a|b"].map(PersistenceId::new);
    assert_eq!(journal.persistence_ids().unwrap(), expected);
    drop(journal);
    let journal = RocksJournal::open_read_only(folder.path()).unwrap();
    assert_eq!(journal.persistence_ids().unwrap(), expected);
}

#[test]
fn a_read_only_journal_opens_beside_the_writer_and_refuses_every_write() {
    let folder = folder();
    let journal = RocksJournal::open(folder.path()).unwrap();
    write_fixture(&*journal);
    journal.save(snapshot(md(0), "s-1")).unwrap();
    let reader = RocksJournal::open_read_only(folder.path()).unwrap();
    assert_eq!(
        replay(&*reader, 1, u64::MAX, u64::MAX),
        (vec![1, 2, 3, 4, 5], 5)
    );
    assert_eq!(reader.last_offset(), 5);
    assert!(
        reader
            .load(&pid(), SnapshotCriteria::LATEST)
            .unwrap()
            .is_some()
    );
    let refusals = [
        reader.write(&[atomic(vec![event(&pid(), 6)])]).map(drop),
        reader.delete_to(&pid(), 5),
        reader.save(snapshot(md(0), "s-2")),
        reader.delete(&md(0)),
        reader.delete_matching(&pid(), SnapshotCriteria::LATEST),
    ];
    for refusal in refusals {
        assert!(
            matches!(&refusal, Err(JournalError::ReadOnly { path }) if path == folder.path()),
            "{refusal:?}"
        );
    }
    println!("{}", reader.write(&[]).unwrap_err());
    drop(reader);
    assert_eq!(
        replay(&*journal, 1, u64::MAX, u64::MAX),
        (vec![1, 2, 3, 4, 5], 5)
    );
}

#[test]
fn a_read_only_open_refuses_folders_without_a_journal_untouched() {
    let folder = folder();
    let missing = folder.path().join("missing");
    let error = RocksJournal::open_read_only(&missing).unwrap_err();
    assert!(matches!(error, OpenError::NoJournal { .. }), "{error}");
    assert!(!missing.exists(), "a read-only open creates nothing");
    println!("{error}");

    let empty = folder.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let before = folder_state(&empty);
    let error = RocksJournal::open_read_only(&empty).unwrap_err();
    assert!(matches!(error, OpenError::NoJournal { .. }), "{error}");
    assert_eq!(folder_state(&empty), before);

    let foreign = folder.path().join("foreign");
    drop(DB::open_default(&foreign).unwrap());
    let before = folder_state(&foreign);
    let error = RocksJournal::open_read_only(&foreign).unwrap_err();
    assert!(matches!(error, OpenError::NotAJournal { .. }), "{error}");
    assert_eq!(folder_state(&foreign), before);
}

#[test]
fn a_read_only_open_refuses_a_newer_format_and_leaves_an_older_one_as_it_is() {
    let folder = folder();
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        write_fixture(&*journal);
    }
    let set_version = |version: u32| {
        let db = raw_database(folder.path(), &OUR_FAMILIES);
        db.put_cf(
            db.cf_handle("meta").unwrap(),
            b"format_version",
            version.to_be_bytes(),
        )
        .unwrap();
    };
    set_version(5);
    let before = folder_state(folder.path());
    let error = RocksJournal::open_read_only(folder.path()).unwrap_err();
    assert!(
        matches!(error, OpenError::NewerFormat { found: 5, .. }),
        "{error}"
    );
    assert_eq!(folder_state(folder.path()), before);

    set_version(1);
    let before = folder_state(folder.path());
    let reader = RocksJournal::open_read_only(folder.path()).unwrap();
    assert_eq!(
        replay(&*reader, 1, u64::MAX, u64::MAX),
        (vec![1, 2, 3, 4, 5], 5)
    );
    drop(reader);
    assert_eq!(folder_state(folder.path()), before, "still format 1");
}

#[test]
fn the_same_folder_under_another_spelling_is_refused_as_already_open() {
    let folder = folder();
    let journal = RocksJournal::open(folder.path()).unwrap();
    let links = self::folder();
    let link = links.path().join("journal");
    std::os::unix::fs::symlink(folder.path(), &link).unwrap();
    for spelling in [folder.path().join("."), link] {
        let error = RocksJournal::open(&spelling).expect_err("the folder is open already");
        assert!(
            matches!(&error, OpenError::AlreadyOpenInThisProcess { path } if *path == spelling),
            "{}: {error}",
            spelling.display()
        );
    }
    drop(journal);
    let journal = RocksJournal::open(folder.path().join(".")).expect("opens once dropped");
    write_fixture(&*journal);
}

#[test]
fn a_lock_file_that_cannot_be_opened_is_an_io_error_naming_it_not_a_folder_in_use() {
    let folder = folder();
    drop(RocksJournal::open(folder.path()).unwrap());
    let lock = folder.path().join("LOCK");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    let error = RocksJournal::open(folder.path()).expect_err("the lock cannot be taken");
    let message = error.to_string();
    assert!(
        matches!(&error, OpenError::Io { path, .. } if *path == lock),
        "{message}"
    );
    assert!(!message.contains("in use"), "{message}");
    println!("{message}");
}

#[test]
fn many_starts_keep_the_number_of_table_files_bounded() {
    let folder = folder();
    let id = pid();
    // Each start moves the previous start's writes from the log to one new table file per
    // column family; the tag index's keys only grow, so its files are never merged by
    // themselves.
    for sequence_nr in 1..=60 {
        let journal = RocksJournal::open_with(folder.path(), buffered()).unwrap();
        let mut tagged = event(&id, sequence_nr);
        tagged.tags = vec!["tagged".into()];
        write_all(&*journal, vec![atomic(vec![tagged])]);
    }
    let families = DB::list_cf(&Options::default(), folder.path()).unwrap();
    let db =
        DB::open_cf_for_read_only(&Options::default(), folder.path(), &families, false).unwrap();
    let files = db.live_files().unwrap();
    for family in OUR_FAMILIES {
        let count = files
            .iter()
            .filter(|file| file.column_family_name == family)
            .count();
        assert!(
            count <= 16,
            "{count} table files in `{family}` after 60 starts"
        );
    }
    drop(db);
    let journal = RocksJournal::open(folder.path()).unwrap();
    assert_eq!(journal.highest_sequence_nr(&id).unwrap(), 60);
    let (tagged, _) = by_tag(&*journal, "tagged", 0, u64::MAX);
    assert_eq!(tagged.len(), 60);
}

/// A reader of a live journal (issue 13, item 5): a writer that starts again and again flushes
/// its log into table files at every start and now and then compacts them, removing files
/// between a reader's look at the MANIFEST and its open. No reader may report that journal as
/// damaged, each later reader sees at least what an earlier one saw, and a reader kept open
/// keeps reading its own view while the files under it are removed.
#[test]
fn a_reader_of_a_live_journal_never_reports_damage_and_its_view_only_grows() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let folder = folder();
    let id = pid();
    drop(RocksJournal::open(folder.path()).expect("a new journal"));
    let path = folder.path().to_owned();
    let done = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let (done, id) = (done.clone(), id.clone());
        move || {
            let mut sequence_nr = 0;
            for _ in 0..40 {
                let journal = RocksJournal::open_with(&path, buffered()).expect("the writer opens");
                for _ in 0..5 {
                    sequence_nr += 1;
                    write_all(
                        &*journal,
                        vec![atomic(vec![tagged(event(&id, sequence_nr), &["live"])])],
                    );
                }
            }
            done.store(true, Ordering::SeqCst);
            sequence_nr
        }
    });
    let kept = RocksJournal::open_read_only(folder.path()).expect("a reader opens");
    let kept_saw = replay_all(&*kept, &id).len();
    let (mut latest_saw, mut reads) = (0, 0);
    while !done.load(Ordering::SeqCst) {
        let reader = RocksJournal::open_read_only(folder.path())
            .unwrap_or_else(|error| panic!("a live journal is refused to a reader: {error}"));
        let seen = replay_all(&*reader, &id);
        assert!(
            seen.len() >= latest_saw,
            "a later reader saw {} events, an earlier one {latest_saw}",
            seen.len()
        );
        let sequence_nrs: Vec<u64> = seen.iter().map(|event| event.sequence_nr).collect();
        let expected: Vec<u64> = (1..=seen.len() as u64).collect();
        assert_eq!(sequence_nrs, expected, "a reader's view has a gap");
        let (by_tag, _) = by_tag(&*reader, "live", 0, u64::MAX);
        assert_eq!(
            by_tag.len(),
            seen.len(),
            "the tag index and the events disagree"
        );
        latest_saw = seen.len();
        assert_eq!(
            replay_all(&*kept, &id).len(),
            kept_saw,
            "the kept reader's view changed"
        );
        reads += 1;
    }
    let written = writer.join().expect("the writer thread");
    let last = RocksJournal::open_read_only(folder.path()).expect("a reader after the writer");
    assert_eq!(replay_all(&*last, &id).len() as u64, written);
    assert_eq!(replay_all(&*kept, &id).len(), kept_saw);
    assert!(reads > 0, "no read happened beside the writer");
}

#[test]
fn remembered_entities_survive_reopening_and_a_read_only_open_lists_them() {
    let folder = folder();
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        journal.set_remembered("saga", "t-1", true).unwrap();
        journal.set_remembered("saga", "t-2", true).unwrap();
        journal.set_remembered("saga", "t-2", false).unwrap();
    }
    {
        let journal = RocksJournal::open(folder.path()).unwrap();
        assert_eq!(journal.remembered("saga").unwrap(), ["t-1"]);
    }
    let reader = RocksJournal::open_read_only(folder.path()).unwrap();
    assert_eq!(reader.remembered("saga").unwrap(), ["t-1"]);
    let refused = reader.set_remembered("saga", "t-3", true).unwrap_err();
    assert!(
        refused.to_string().contains("read-only"),
        "a read-only journal names why it refuses: {refused}"
    );
}
