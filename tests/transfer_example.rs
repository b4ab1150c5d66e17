//! The saga example (`examples/transfer.rs`, issue 14) under `kill -9`: its binary runs as a
//! child process, is killed with SIGKILL at random moments while transfers are under way and
//! started again, several times, then left to finish; a fresh run with `--check` audits again.
//! Then this test reads the journal itself, as JSON, trusting nothing the example says: every
//! transfer started is completed, compensated or rejected (nothing is left withdrawn and not
//! deposited), the money in the accounts is what they were opened with, no balance ever went
//! below zero, no step was applied twice, and each transfer's outcome matches the steps the
//! accounts applied for it.
//!
//! The accounts passivate after 20 ms idle, so passivations (and messages that arrive while an
//! account stops or starts again) happen mid-transfer; kills land mid-transfer too, and the
//! restarted run resumes the remembered transfers while it sends every `start` again.
//!
//! `REACTANT_TEST_SEED=N` replays the kill times (and the transfers) of a failed run.
#![cfg(feature = "rocksdb")]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reactant::persistence::rocksdb::RocksJournal;
use reactant::persistence::{Codec, Journal, MessagePack};
use serde_json::Value;

const TRANSFERS: usize = 300;
const KILLS: usize = 6;
/// How many transfers the example starts at once (`WAVE` there).
const WAVE: usize = 50;
/// What the example opens its six accounts with, in all.
const OPENED_WITH: i64 = 6_000;

fn transfer_binary() -> PathBuf {
    let test = std::env::current_exe().expect("the test binary");
    let binary = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug/deps")
        .join("examples")
        .join("transfer");
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds the examples",
        binary.display()
    );
    binary
}

fn command(data: &Path, seed: u64, extra: &[&str]) -> Command {
    let mut command = Command::new(transfer_binary());
    command
        .arg("--data")
        .arg(data)
        .args(["--transfers", &TRANSFERS.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--idle-ms", "20"])
        .args(extra)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

/// Starts a run whose standard output comes line by line through the receiver.
fn spawn(data: &Path, seed: u64) -> (Child, mpsc::Receiver<String>) {
    let mut child = command(data, seed, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the example starts");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// The `summary key=value ...` line of a finished run, as numbers.
fn summary(output: &Output) -> HashMap<String, u64> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the run failed: {}\n{stdout}\n{stderr}",
        output.status
    );
    let line = stdout
        .lines()
        .find(|line| line.starts_with("summary "))
        .unwrap_or_else(|| panic!("no summary line:\n{stdout}\n{stderr}"));
    line.split_whitespace()
        .skip(1)
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.parse().expect("a number")))
        .collect()
}

/// How the journal's transfers ended, and what its accounts hold: read as JSON.
#[derive(Debug, Default)]
struct Journaled {
    outcomes: BTreeMap<String, usize>,
    unfinished: Vec<String>,
    total: i64,
    below_zero: Vec<String>,
    applied_twice: Vec<String>,
    mismatched: Vec<String>,
}

/// The variant name and fields of an event printed as JSON (`{"Debited":{..}}` or `"Withdrawn"`).
fn variant(json: &Value) -> (&str, &Value) {
    static NO_FIELDS: Value = Value::Null;
    match json {
        Value::String(name) => (name, &NO_FIELDS),
        Value::Object(map) => {
            let (name, fields) = map.iter().next().expect("one variant");
            (name, fields)
        }
        other => panic!("not an enum: {other}"),
    }
}

fn read_journal(data: &Path) -> Journaled {
    let journal = RocksJournal::open_read_only(data).expect("the journal opens read-only");
    let mut found = Journaled::default();
    // Step id -> (account, signed amount); transfer id -> (from, to, amount, last event).
    let mut applied: HashMap<String, (String, i64)> = HashMap::new();
    let mut transfers: HashMap<String, (String, String, i64, String)> = HashMap::new();
    for id in journal.persistence_ids().expect("the streams") {
        let mut events = Vec::new();
        journal
            .replay(&id, 1, u64::MAX, u64::MAX, &mut |event| {
                let json = MessagePack
                    .to_json(&event.manifest, &event.payload)
                    .expect("a payload prints as JSON");
                events.push(serde_json::from_str::<Value>(&json).expect("JSON"));
            })
            .expect("the stream replays");
        let (type_key, entity) = id.as_str().split_once('|').expect("type|entity");
        match type_key {
            "account" => {
                let mut balance = 0i64;
                for event in &events {
                    let (name, fields) = variant(event);
                    let amount = |key: &str| fields[key].as_i64().expect("an amount");
                    let signed = match name {
                        "Opened" => {
                            balance += amount("balance");
                            continue;
                        }
                        "Refused" => continue,
                        "Debited" => -amount("amount"),
                        "Credited" => amount("amount"),
                        other => panic!("unknown account event {other}"),
                    };
                    balance += signed;
                    if balance < 0 {
                        found.below_zero.push(entity.to_owned());
                    }
                    let step = fields["step"].as_str().expect("a step id").to_owned();
                    if applied
                        .insert(step.clone(), (entity.to_owned(), signed))
                        .is_some()
                    {
                        found.applied_twice.push(step);
                    }
                }
                found.total += balance;
            }
            "transfer" => {
                let (name, fields) = variant(&events[0]);
                assert_eq!(name, "Started", "{id}");
                let last = variant(events.last().expect("events")).0.to_owned();
                let started = (
                    fields["from"].as_str().expect("from").to_owned(),
                    fields["to"].as_str().expect("to").to_owned(),
                    fields["amount"].as_i64().expect("amount"),
                    last,
                );
                transfers.insert(entity.to_owned(), started);
            }
            other => panic!("a stream of an unknown type: {other}"),
        }
    }
    for (id, (from, to, amount, last)) in &transfers {
        let step = |name: &str| applied.get(&format!("{id}/{name}")).cloned();
        let (outcome, consistent) = match last.as_str() {
            "Deposited" => (
                "completed",
                step("withdraw") == Some((from.clone(), -amount))
                    && step("deposit") == Some((to.clone(), *amount))
                    && step("refund").is_none(),
            ),
            "Refunded" => (
                "compensated",
                step("withdraw") == Some((from.clone(), -amount))
                    && step("refund") == Some((from.clone(), *amount))
                    && step("deposit").is_none(),
            ),
            "Rejected" => (
                "rejected",
                step("withdraw").is_none() && step("deposit").is_none(),
            ),
            _ => {
                found.unfinished.push(format!("{id} ({last})"));
                continue;
            }
        };
        *found.outcomes.entry(outcome.to_owned()).or_default() += 1;
        if !consistent {
            found.mismatched.push(id.clone());
        }
    }
    found
}

/// How many transfers the journal of a killed run remembers: those it left under way.
fn under_way(data: &Path) -> usize {
    RocksJournal::open_read_only(data)
        .expect("the journal opens read-only")
        .remembered("transfer")
        .expect("the remembered transfers")
        .len()
}

#[test]
fn every_transfer_finishes_and_money_is_conserved_through_random_kills() {
    let began = Instant::now();
    let seed = std::env::var("REACTANT_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| fastrand::u64(1..1_000_000));
    println!("seed {seed} (REACTANT_TEST_SEED={seed} replays it)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let data = tempfile::tempdir().expect("a temporary folder");
    let data = data.path().join("transfer");

    let mut killed_under_way = Vec::new();
    for round in 0..KILLS {
        let (mut child, lines) = spawn(&data, seed);
        // Killed just after a random wave of starts is acknowledged (the example prints a line
        // after each): those transfers are under way, whatever the machine's speed. After the
        // first run, wave 0: killed at once, while it opens the journal or resumes transfers.
        let first = if round == 0 { 1 } else { 0 };
        let waves = rng.usize(first..=TRANSFERS / WAVE);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = 0;
        while seen < waves {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.ends_with(&format!(" of {TRANSFERS} started")) => seen += 1,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    panic!("run {round} did not start {waves} waves of transfers");
                }
            }
        }
        let delay = Duration::from_millis(rng.u64(0..50));
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("the killed run is reaped");
        let left = under_way(&data);
        println!(
            "run {round}: killed {delay:?} after wave {waves} of starts ({status}); {left} under way"
        );
        killed_under_way.push(left);
    }

    // The last run and the check passivate an account after 1 ms without a message: the
    // killed runs may have finished every transfer, and a run with little left to do ends
    // before an account is idle for the default 100 ms. Passivations in the middle of its
    // work (and a message arriving during one) then happen whatever the machine's speed.
    let last = summary(
        &command(&data, seed, &["--idle-ms", "1"])
            .output()
            .expect("the last run runs"),
    );
    println!("last run: {last:?}");
    let check = summary(
        &command(&data, seed, &["--check", "--idle-ms", "1"])
            .output()
            .expect("the check runs"),
    );
    println!("check: {check:?}");
    for figures in [&last, &check] {
        assert_eq!(figures["not_started"], 0, "{figures:?}");
        assert_eq!(figures["total"], figures["opened_with"], "{figures:?}");
        assert_eq!(
            figures["journal_total"], figures["opened_with"],
            "{figures:?}"
        );
        assert_eq!(figures["steps_applied_twice"], 0, "{figures:?}");
        assert_eq!(figures["below_zero"], 0, "{figures:?}");
        assert_eq!(figures["mismatched"], 0, "{figures:?}");
        assert_eq!(
            figures["completed"] + figures["compensated"] + figures["rejected"],
            TRANSFERS as u64
        );
    }
    assert!(last["compensated"] > 0, "no deposit was refused: {last:?}");
    assert!(
        last["account_passivations"] + check["account_passivations"] > 0,
        "no account was passivated: {last:?} {check:?}"
    );

    let journal = read_journal(&data);
    println!("journal: {journal:?}");
    assert!(journal.unfinished.is_empty(), "{:?}", journal.unfinished);
    assert_eq!(journal.outcomes.values().sum::<usize>(), TRANSFERS);
    assert_eq!(journal.total, OPENED_WITH);
    assert!(journal.below_zero.is_empty(), "{:?}", journal.below_zero);
    assert!(
        journal.applied_twice.is_empty(),
        "{:?}",
        journal.applied_twice
    );
    assert!(journal.mismatched.is_empty(), "{:?}", journal.mismatched);
    assert!(
        killed_under_way.iter().any(|&left| left > 0),
        "no kill landed while transfers were under way: {killed_under_way:?}"
    );
    println!(
        "{KILLS} kills, transfers under way at each: {killed_under_way:?}; {:?} in all",
        began.elapsed()
    );
}
