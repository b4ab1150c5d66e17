//! The flagship example as a user meets its failures (issue 13): a failure is reported with its
//! message on standard error and a non-zero exit code, never in `Debug` form nor as a panic.
//!
//! It runs the example's binary, which `cargo test --workspace` (so `./dev test`) builds with
//! the tests.
#![cfg(feature = "rocksdb")]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use reactant::persistence::rocksdb::RocksJournal;

fn shop_binary() -> PathBuf {
    let test = std::env::current_exe().expect("the test binary");
    let binary = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug/deps")
        .join("examples")
        .join("shop");
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds the examples",
        binary.display()
    );
    binary
}

/// Runs the shop with its journal in `data`, without `RUST_LOG`.
fn run_shop(data: &std::path::Path, stdout: Stdio) -> Output {
    Command::new(shop_binary())
        .env("REACTANT_SHOP_DATA", data)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("the shop runs")
}

#[test]
fn the_shop_reports_a_journal_in_use_with_its_message_and_a_failure_exit_code() {
    let data = tempfile::tempdir().expect("a temporary folder");
    let _held = RocksJournal::open(data.path()).expect("this test holds the journal");
    let output = run_shop(data.path(), Stdio::null());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("is in use by another process"), "{stderr}");
    assert!(
        !stderr.contains("InUseByAnotherProcess"),
        "Debug form: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_shop_with_a_full_standard_output_fails_with_a_message_instead_of_a_panic() {
    let data = tempfile::tempdir().expect("a temporary folder");
    let full = std::fs::File::create("/dev/full").expect("/dev/full");
    let output = run_shop(&data.path().join("shop"), Stdio::from(full));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("shop: "), "{stderr}");
}

/// A normal run (issue 13, item 9): the gateway's planned crash is handled by its supervisor,
/// so it shows as a warning and the example's own line, never as an error or a panic message
/// a newcomer would read as the example being broken.
#[test]
fn a_normal_run_of_the_shop_logs_its_supervised_restart_as_a_warning_not_an_error() {
    let data = tempfile::tempdir().expect("a temporary folder");
    let output = run_shop(data.path(), Stdio::piped());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("the supervisor restarts the gateway"),
        "{stdout}"
    );
    assert!(
        stderr.contains("WARN"),
        "the restart is not logged: {stderr}"
    );
    assert!(stderr.contains("it restarts"), "{stderr}");
    assert!(!stderr.contains("ERROR"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
