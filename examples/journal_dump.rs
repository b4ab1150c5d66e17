//! Prints the events of a RocksDB journal as JSON, one object per line, without the Rust types
//! of the events: the default codec (MessagePack with field names) describes itself.
//!
//! ```text
//! cargo run --example journal_dump -- <journal folder> [persistence id]
//! ```
//!
//! With a persistence id it prints that stream; without, every stream that has events, one
//! after the other. Each line is
//!
//! ```text
//! {"persistence_id":"account|1","sequence_nr":1,"offset":1,"manifest":"AccountEvent","version":1,
//!  "timestamp_ms":1700000000000,"writer_id":"…","tags":["account"],"payload":{"Deposited":{"amount":5}}}
//! ```
//!
//! (on one line), with `"payload_error":"…"` in place of `"payload"` for a payload that cannot
//! be printed. The journal is opened read-only, so the folder may belong to a running program;
//! the dump shows the journal as it was when the tool opened it. Wrong arguments, or a folder
//! that holds no Reactant journal, end the tool with exit code 2; a failure while reading, with 1.

use std::ffi::OsString;
use std::io::{self, BufWriter, ErrorKind, Write};
use std::process::ExitCode;

use reactant::persistence::rocksdb::RocksJournal;
use reactant::persistence::{Codec, Journal, MessagePack, PersistenceId, PersistentRepr};
use serde_json::Value;

const USAGE: &str = "usage: journal_dump <journal folder> [persistence id]\n\
    Prints every event of the journal (or of one stream) as one JSON object per line.";

/// Exit code of wrong arguments and of a folder that is not a readable journal.
const BAD_INPUT: u8 = 2;
/// Exit code of a failure while reading or printing.
const FAILED: u8 = 1;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (folder, stream) = match args.as_slice() {
        [folder] => (folder, None),
        [folder, id] => match id.to_str() {
            // Text from the command line: `try_new` returns the error (an empty id, ..)
            // instead of panicking.
            Some(id) => match PersistenceId::try_new(id) {
                Ok(id) => (folder, Some(id)),
                Err(error) => {
                    return fail(
                        BAD_INPUT,
                        &format!("the persistence id {id:?} is not valid: {error}"),
                    );
                }
            },
            None => {
                return fail(
                    BAD_INPUT,
                    &format!("the persistence id {id:?} is not UTF-8 text"),
                );
            }
        },
        _ => return fail(BAD_INPUT, USAGE),
    };
    let journal = match RocksJournal::open_read_only(folder) {
        Ok(journal) => journal,
        Err(error) => return fail(BAD_INPUT, &error.to_string()),
    };
    let streams = match stream {
        Some(id) => vec![id],
        None => match journal.persistence_ids() {
            Ok(ids) => ids,
            Err(error) => return fail(FAILED, &error.to_string()),
        },
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let mut printed = 0_u64;
    for id in &streams {
        // The replay cannot stop on a failed write: keep the first failure, skip the rest.
        let mut failure: Option<io::Error> = None;
        let replayed = journal.replay(id, 1, u64::MAX, u64::MAX, &mut |event| {
            if failure.is_none() {
                match writeln!(out, "{}", line(&event)) {
                    Ok(()) => printed += 1,
                    Err(error) => failure = Some(error),
                }
            }
        });
        if let Err(error) = replayed {
            let _ = out.flush();
            return fail(FAILED, &format!("cannot read the stream {id}: {error}"));
        }
        if let Some(error) = failure {
            return output_failed(&error);
        }
    }
    if let Err(error) = out.flush() {
        return output_failed(&error);
    }
    if printed == 0 {
        let what = match streams.as_slice() {
            [id] => format!("the stream {id} has no events"),
            _ => "the journal has no events".to_owned(),
        };
        eprintln!("journal_dump: {what}");
    }
    ExitCode::SUCCESS
}

/// One event as a JSON object, on one line.
fn line(event: &PersistentRepr) -> String {
    let payload = match MessagePack.to_json(&event.manifest, &event.payload) {
        Ok(json) => format!("\"payload\":{json}"),
        Err(error) => format!("\"payload_error\":{}", Value::from(error.to_string())),
    };
    format!(
        "{{\"persistence_id\":{},\"sequence_nr\":{},\"offset\":{},\"manifest\":{},\"version\":{},\
         \"timestamp_ms\":{},\"writer_id\":{},\"tags\":{},{payload}}}",
        Value::from(event.persistence_id.as_str()),
        event.sequence_nr,
        event.offset,
        Value::from(&*event.manifest.type_name),
        event.manifest.version,
        event.timestamp_ms,
        Value::from(&*event.writer_id),
        Value::from(event.tags.clone()),
    )
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("journal_dump: {message}");
    ExitCode::from(code)
}

/// A closed pipe (`journal_dump … | head`) is a reader that has seen enough, not a failure.
fn output_failed(error: &io::Error) -> ExitCode {
    if error.kind() == ErrorKind::BrokenPipe {
        ExitCode::SUCCESS
    } else {
        fail(FAILED, &format!("cannot write the output: {error}"))
    }
}
