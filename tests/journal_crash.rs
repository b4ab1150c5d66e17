//! The RocksDB journal as an operator meets it (issue 13): processes killed while they create a
//! journal, damage in its files, two processes racing for one folder. Each crash happens in a
//! child process — this test binary started again with [`CHILD_ROLE`] set — and the damage is
//! done to the files of a journal that a killed child left behind.
//!
//! - A kill at any moment of a first start leaves a folder that the next start opens.
//! - A torn tail of the write-ahead log (what a crash produces) is tolerated; damage before
//!   the tail refuses to open, names the damage, and `RocksJournal::repair` accepts the loss
//!   and lists every event it dropped.
//! - A damaged database (`CURRENT`, a table file) is reported as damaged, not as a foreign
//!   folder.
//! - Of two processes creating one folder at once, one opens it and the other is told that
//!   it is in use.
#![cfg(feature = "rocksdb")]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reactant::persistence::rocksdb::{OpenError, RocksJournal};
use reactant::persistence::{AtomicWrite, Journal, Manifest, PersistenceId, PersistentRepr};

/// What a child process does (see [`child_entry`]).
const CHILD_ROLE: &str = "REACTANT_JOURNAL_CHILD";
/// The journal folder of a child process.
const CHILD_FOLDER: &str = "REACTANT_JOURNAL_FOLDER";
/// Events the `write` child stores, one synced write each.
const WRITTEN: u64 = 20;

fn stream() -> PersistenceId {
    PersistenceId::of("crash", "1")
}

/// 4 KB: events 10 to 20 span more than one 32 KB block of the write-ahead log.
fn payload(sequence_nr: u64) -> Vec<u8> {
    let mut payload = format!("event number {sequence_nr} of the stream").into_bytes();
    payload.resize(4096, b'.');
    payload
}

fn event(sequence_nr: u64) -> PersistentRepr {
    PersistentRepr {
        persistence_id: stream(),
        sequence_nr,
        manifest: Manifest::new("Noted", 1),
        payload: payload(sequence_nr),
        tags: vec!["crash".into()],
        writer_id: "writer-1".into(),
        timestamp_ms: 1_700_000_000_000 + sequence_nr,
        offset: 0,
    }
}

fn write_one(journal: &RocksJournal, sequence_nr: u64) {
    let results = journal
        .write(&[AtomicWrite {
            events: vec![event(sequence_nr)],
        }])
        .expect("the write succeeds");
    assert!(results[0].is_ok(), "{results:?}");
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The child's side. Roles:
/// - `create`: says `opening`, opens the folder (a new journal), writes event 1, says
///   `written` and exits;
/// - `write`: opens the folder, writes events 1 to [`WRITTEN`] one synced write each, says
///   `written` and waits to be killed;
/// - `hold`: opens the folder and says `opened`, or `refused` and the error's variant and
///   message; then holds it until its standard input closes.
#[test]
fn child_entry() {
    let (Ok(role), Some(folder)) = (std::env::var(CHILD_ROLE), std::env::var_os(CHILD_FOLDER))
    else {
        return;
    };
    let folder = PathBuf::from(folder);
    match role.as_str() {
        "create" => {
            say("opening");
            let journal = RocksJournal::open(&folder).expect("the child opens the journal");
            write_one(&journal, 1);
            say("written");
            std::process::exit(0);
        }
        "write" => {
            let journal = RocksJournal::open(&folder).expect("the child opens the journal");
            for sequence_nr in 1..=WRITTEN {
                write_one(&journal, sequence_nr);
            }
            say("written");
            loop {
                std::thread::park();
            }
        }
        "hold" => {
            let opened = RocksJournal::open(&folder);
            match &opened {
                Ok(_) => say("opened"),
                Err(error) => {
                    let variant = format!("{error:?}");
                    let variant = variant.split([' ', '{', '(']).next().unwrap_or_default();
                    say(&format!("refused {variant}: {error}"));
                }
            }
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            drop(opened);
            std::process::exit(0);
        }
        other => panic!("unknown child role {other}"),
    }
}

fn child(role: &str, folder: &Path) -> Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "child_entry",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(CHILD_ROLE, role)
        .env(CHILD_FOLDER, folder)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child starts")
}

/// The next line the child says, or `None` once its output ends.
fn next_line(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> Option<String> {
    lines
        .map_while(Result::ok)
        .find(|line| !line.starts_with("running ") && !line.is_empty())
}

/// A journal of [`WRITTEN`] events left by a child killed with SIGKILL after its last
/// acknowledged write: its events are in the write-ahead log only.
fn killed_writer(folder: &Path) {
    let mut writer = child("write", folder);
    let mut lines = BufReader::new(writer.stdout.take().expect("piped")).lines();
    assert_eq!(next_line(&mut lines).as_deref(), Some("written"));
    writer.kill().expect("SIGKILL");
    let _ = writer.wait();
}

/// The newest write-ahead log file of the folder.
fn newest_log(folder: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(folder)
        .expect("the folder lists")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .filter(|path| std::fs::metadata(path).is_ok_and(|m| m.len() > 0))
        .collect();
    logs.sort();
    logs.pop().expect("a write-ahead log with records")
}

fn highest(journal: &RocksJournal) -> u64 {
    journal
        .highest_sequence_nr(&stream())
        .expect("the highest sequence number reads")
}

#[test]
fn a_first_start_killed_at_any_moment_leaves_a_folder_that_the_next_start_opens() {
    let rounds: u32 = std::env::var("REACTANT_FIRST_OPEN_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(100);
    let parent = tempfile::tempdir().expect("a temporary folder");
    let (mut interrupted, mut finished) = (0, 0);
    for round in 0..rounds {
        let folder = parent.path().join(format!("journal-{round}"));
        let mut creator = child("create", &folder);
        let mut lines = BufReader::new(creator.stdout.take().expect("piped")).lines();
        assert_eq!(next_line(&mut lines).as_deref(), Some("opening"));
        // A kill somewhere in the creation: a random delay of up to 25 ms after the child
        // starts opening (a creation takes about that long here).
        std::thread::sleep(Duration::from_micros(fastrand::u64(0..25_000)));
        creator.kill().expect("SIGKILL");
        let _ = creator.wait();
        let acknowledged = next_line(&mut lines).as_deref() == Some("written");
        if acknowledged {
            finished += 1;
        } else {
            interrupted += 1;
        }
        let journal = RocksJournal::open(&folder).unwrap_or_else(|error| {
            panic!("round {round}: the folder a killed first start left does not open: {error}")
        });
        let highest = highest(&journal);
        if acknowledged {
            assert_eq!(highest, 1, "round {round}: the acknowledged event is lost");
        } else {
            assert!(highest <= 1, "round {round}: {highest}");
        }
        write_one(&journal, highest + 1);
        drop(journal);
        std::fs::remove_dir_all(&folder).expect("the folder is removed");
    }
    eprintln!(
        "{rounds} first starts killed: {interrupted} before their first write was acknowledged, \
         {finished} after; every folder opened again"
    );
    assert!(interrupted > 0, "no kill landed during a creation");
}

#[test]
fn a_torn_tail_of_the_log_is_tolerated_and_every_earlier_event_is_kept() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    killed_writer(folder.path());
    // The last record cut short, as a crash in the middle of writing it leaves it.
    let log = newest_log(folder.path());
    let length = std::fs::metadata(&log).expect("the log").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("the log opens");
    file.set_len(length - 3).expect("the log is cut");
    drop(file);
    let journal = RocksJournal::open(folder.path()).expect("a torn tail is tolerated");
    assert_eq!(
        highest(&journal),
        WRITTEN - 1,
        "only the torn record is gone"
    );
    write_one(&journal, WRITTEN);
    let mut offsets = Vec::new();
    journal
        .replay(&stream(), 1, u64::MAX, u64::MAX, &mut |event| {
            offsets.push(event.offset)
        })
        .expect("the replay succeeds");
    assert_eq!(offsets, (1..=WRITTEN).collect::<Vec<_>>());
}

/// Flips four bytes in the middle of the newest write-ahead log of `folder`.
fn damage_the_middle_of_the_log(folder: &Path) {
    let log = newest_log(folder);
    let mut bytes = std::fs::read(&log).expect("the log reads");
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 4] {
        *byte ^= 0xff;
    }
    std::fs::write(&log, bytes).expect("the log is damaged");
}

#[test]
fn damage_in_the_middle_of_the_log_refuses_to_open_and_names_the_damage() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    killed_writer(folder.path());
    damage_the_middle_of_the_log(folder.path());
    let error = RocksJournal::open(folder.path())
        .expect_err("a journal whose log is damaged before its tail is refused");
    let message = error.to_string();
    assert!(matches!(error, OpenError::Damaged { .. }), "{message}");
    assert!(message.contains("damaged"), "{message}");
    assert!(message.contains("RocksJournal::repair"), "{message}");
    assert!(message.contains("backup"), "{message}");
    println!("{message}");
    // Refused again: the refusal changed nothing.
    let again = RocksJournal::open(folder.path()).expect_err("still refused");
    assert!(matches!(again, OpenError::Damaged { .. }), "{again}");
    let read_only = RocksJournal::open_read_only(folder.path()).expect_err("refused to readers");
    assert!(
        matches!(read_only, OpenError::Damaged { .. }),
        "{read_only}"
    );
}

#[test]
fn repair_accepts_damage_in_the_log_and_lists_every_event_it_dropped() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    killed_writer(folder.path());
    // One byte of event 10's payload: its record fails its checksum. RocksDB cannot trust
    // the rest of that 32 KB block of the log, and reads on from the next block.
    let log = newest_log(folder.path());
    let mut bytes = std::fs::read(&log).expect("the log reads");
    let needle = b"event number 10 of the stream";
    let at = bytes
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("event 10 is in the log");
    bytes[at + 3] ^= 0x01;
    std::fs::write(&log, bytes).expect("the log is damaged");

    let report = RocksJournal::repair(folder.path()).expect("the repair succeeds");
    println!("{report}");
    let dropped: Vec<(PersistenceId, u64, u64)> = report
        .dropped_events
        .iter()
        .map(|event| {
            (
                event.persistence_id.clone(),
                event.sequence_nr,
                event.offset,
            )
        })
        .collect();
    // Events 1 to 9 are kept. Of 10 to 20, those still readable (from the next block of the
    // log on, event 20 among them) are listed, and dropped so that the stream has no hole; the
    // others are counted as unreadable. Offsets are sequence numbers here (one stream).
    assert_eq!(report.kept_last_offset, 9, "{report}");
    assert!(!dropped.is_empty(), "{report}");
    assert!(
        dropped
            .iter()
            .all(|(id, sequence_nr, offset)| *id == stream() && sequence_nr == offset),
        "{report}"
    );
    let mut accounted: Vec<u64> = dropped.iter().map(|event| event.1).collect();
    assert_eq!(accounted.last(), Some(&WRITTEN), "{report}");
    accounted.sort_unstable();
    accounted.dedup();
    assert_eq!(accounted.len(), dropped.len());
    assert!(accounted.iter().all(|&n| n > 10), "{report}");
    assert_eq!(
        accounted.len() as u64 + report.unreadable_events,
        WRITTEN - 9,
        "{report}"
    );
    assert!(report.unreadable_events >= 1, "{report}");
    assert!(
        report.to_string().contains(&format!(
            "dropped event {WRITTEN} of crash|1 (offset {WRITTEN})"
        )),
        "{report}"
    );

    let journal = RocksJournal::open(folder.path()).expect("the repaired journal opens");
    assert_eq!(highest(&journal), 9);
    // The stream goes on after its last intact event, and offsets after the last kept one.
    assert_eq!(journal.last_offset(), 9);
    write_one(&journal, 10);
    assert_eq!(journal.last_offset(), 10);
    drop(journal);
    let clean = RocksJournal::repair(folder.path()).expect("a repair of an intact journal");
    assert!(
        clean.dropped_events.is_empty() && clean.unreadable_events == 0,
        "{clean}"
    );
}

/// A journal of [`WRITTEN`] events in table files (a start after the killed writer moved them
/// out of the write-ahead log).
fn journal_in_tables(folder: &Path) {
    killed_writer(folder);
    drop(RocksJournal::open(folder).expect("the journal opens"));
}

fn assert_damaged(folder: &Path) {
    let error = RocksJournal::open(folder).expect_err("a damaged journal is refused");
    let message = error.to_string();
    println!("{message}");
    assert!(matches!(error, OpenError::Damaged { .. }), "{message}");
    assert!(message.contains("backup"), "{message}");
    assert!(!message.contains("empty or missing folder"), "{message}");
}

#[test]
fn garbage_in_current_is_reported_as_damage_not_as_a_foreign_folder() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    journal_in_tables(folder.path());
    std::fs::write(folder.path().join("CURRENT"), b"\x00\x17garbage").expect("CURRENT");
    assert_damaged(folder.path());
}

#[test]
fn a_truncated_table_file_is_reported_as_damage_not_as_a_foreign_folder() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    journal_in_tables(folder.path());
    let tables: Vec<PathBuf> = std::fs::read_dir(folder.path())
        .expect("the folder lists")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sst"))
        .collect();
    assert!(!tables.is_empty(), "the start wrote table files");
    for table in tables {
        let length = std::fs::metadata(&table).expect("a table").len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&table)
            .expect("the table opens");
        file.set_len(length / 2).expect("the table is cut");
    }
    assert_damaged(folder.path());
}

#[test]
fn of_two_processes_creating_one_folder_one_opens_it_and_the_other_is_told_it_is_in_use() {
    let rounds: u32 = 20;
    let parent = tempfile::tempdir().expect("a temporary folder");
    for round in 0..rounds {
        let folder = parent.path().join(format!("journal-{round}"));
        let mut children = [child("hold", &folder), child("hold", &folder)];
        let said: Vec<String> = children
            .iter_mut()
            .map(|child| {
                let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
                next_line(&mut lines).unwrap_or_default()
            })
            .collect();
        for child in &mut children {
            drop(child.stdin.take());
            let _ = child.wait();
        }
        let opened = said.iter().filter(|line| *line == "opened").count();
        assert_eq!(opened, 1, "round {round}: {said:?}");
        let refused = said
            .iter()
            .find(|line| *line != "opened")
            .expect("the other");
        assert!(
            refused.starts_with("refused InUseByAnotherProcess:"),
            "round {round}: {refused}"
        );
        std::fs::remove_dir_all(&folder).expect("the folder is removed");
    }
}
