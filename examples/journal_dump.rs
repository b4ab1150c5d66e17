//! Prints the events of a RocksDB journal as JSON, one object per line, without the Rust types
//! of the events: the default codec (MessagePack with field names) describes itself.
//!
//! ```text
//! cargo run --example journal_dump -- <journal folder> [persistence id] [filters]
//! ```
//!
//! With a persistence id it prints that stream; without, every stream that has events, one
//! after the other. Filters:
//!
//! | filter | keeps |
//! |---|---|
//! | `--from N`, `--to N` | sequence numbers `N..` / `..=N` of each stream printed |
//! | `--after-offset N`, `--to-offset N` | global offsets above `N` / up to `N`; the events print in global order |
//! | `--tag T` | events tagged `T`; they print in global order |
//!
//! Each line is
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
//! Reading in global order needs a journal of format 3: one written by an older version gets
//! its index the first time a program opens it for writing.

use std::ffi::OsString;
use std::io::{self, BufWriter, ErrorKind, Write};
use std::process::ExitCode;

use reactant::persistence::rocksdb::RocksJournal;
use reactant::persistence::{Codec, Journal, MessagePack, PersistenceId, PersistentRepr};
use serde_json::Value;

const USAGE: &str = "usage: journal_dump <journal folder> [persistence id] [--from N] [--to N] \
    [--after-offset N] [--to-offset N] [--tag TAG]\n\
    Prints every event of the journal (or of one stream) as one JSON object per line; \
    --from/--to bound sequence numbers, --after-offset/--to-offset global offsets, --tag \
    keeps one tag's events (offset and tag filters print in global order).";

/// Exit code of wrong arguments and of a folder that is not a readable journal.
const BAD_INPUT: u8 = 2;
/// Exit code of a failure while reading or printing.
const FAILED: u8 = 1;
/// Events read per call in global order.
const PAGE: u64 = 1024;

/// What to print.
#[derive(Default)]
struct Filters {
    stream: Option<PersistenceId>,
    from: u64,
    to: Option<u64>,
    after_offset: u64,
    to_offset: Option<u64>,
    tag: Option<String>,
}

impl Filters {
    /// Whether the events print in global order (an offset or tag filter).
    fn by_offset(&self) -> bool {
        self.after_offset > 0 || self.to_offset.is_some() || self.tag.is_some()
    }

    /// Whether `event`, read in global order, is to be printed.
    fn keeps(&self, event: &PersistentRepr) -> bool {
        self.stream
            .as_ref()
            .is_none_or(|id| *id == event.persistence_id)
            && event.sequence_nr >= self.from
            && self.to.is_none_or(|to| event.sequence_nr <= to)
    }
}

fn parse(args: &[OsString]) -> Result<(OsString, Filters), String> {
    let mut folder = None;
    let mut filters = Filters::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let text = arg
            .to_str()
            .ok_or_else(|| format!("the argument {arg:?} is not UTF-8 text"))?;
        let mut value = |name: &str| {
            args.next()
                .and_then(|value| value.to_str())
                .map(str::to_owned)
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match text {
            "--from" => filters.from = number("--from", &value("--from")?)?,
            "--to" => filters.to = Some(number("--to", &value("--to")?)?),
            "--after-offset" => {
                filters.after_offset = number("--after-offset", &value("--after-offset")?)?
            }
            "--to-offset" => {
                filters.to_offset = Some(number("--to-offset", &value("--to-offset")?)?)
            }
            "--tag" => filters.tag = Some(value("--tag")?),
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag}\n{USAGE}"));
            }
            _ if folder.is_none() => folder = Some(arg.clone()),
            id if filters.stream.is_none() => {
                filters.stream =
                    Some(PersistenceId::try_new(id).map_err(|error| {
                        format!("the persistence id {id:?} is not valid: {error}")
                    })?)
            }
            _ => return Err(USAGE.to_owned()),
        }
    }
    let folder = folder.ok_or_else(|| USAGE.to_owned())?;
    Ok((folder, filters))
}

fn number(name: &str, text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .map_err(|_| format!("{name} takes a number, not {text:?}"))
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (folder, filters) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => return fail(BAD_INPUT, &message),
    };
    let journal = match RocksJournal::open_read_only(&folder) {
        Ok(journal) => journal,
        Err(error) => return fail(BAD_INPUT, &error.to_string()),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let mut printed = 0_u64;
    // A read cannot stop on a failed write: keep the first failure, skip the rest.
    let mut failure: Option<io::Error> = None;
    let mut print = |event: &PersistentRepr| {
        if failure.is_none() {
            match writeln!(out, "{}", line(event)) {
                Ok(()) => printed += 1,
                Err(error) => failure = Some(error),
            }
        }
    };
    let read = if filters.by_offset() {
        dump_in_offset_order(&journal, &filters, &mut print)
    } else {
        dump_streams(&journal, &filters, &mut print)
    };
    if let Err(message) = read {
        let _ = out.flush();
        return fail(FAILED, &message);
    }
    if let Some(error) = failure {
        return output_failed(&error);
    }
    if let Err(error) = out.flush() {
        return output_failed(&error);
    }
    if printed == 0 {
        let what = match &filters.stream {
            Some(id) => format!("the stream {id} has no events that pass the filters"),
            None => "the journal has no events that pass the filters".to_owned(),
        };
        eprintln!("journal_dump: {what}");
    }
    ExitCode::SUCCESS
}

/// Each stream (or the one named) in turn, each in sequence order.
fn dump_streams(
    journal: &RocksJournal,
    filters: &Filters,
    print: &mut dyn FnMut(&PersistentRepr),
) -> Result<(), String> {
    let streams = match &filters.stream {
        Some(id) => vec![id.clone()],
        None => journal
            .persistence_ids()
            .map_err(|error| error.to_string())?,
    };
    for id in &streams {
        journal
            .replay(
                id,
                filters.from,
                filters.to.unwrap_or(u64::MAX),
                u64::MAX,
                &mut |event| print(&event),
            )
            .map_err(|error| format!("cannot read the stream {id}: {error}"))?;
    }
    Ok(())
}

/// The events in global order (of one tag, if filtered so), a page at a time.
fn dump_in_offset_order(
    journal: &RocksJournal,
    filters: &Filters,
    print: &mut dyn FnMut(&PersistentRepr),
) -> Result<(), String> {
    let last = filters.to_offset.unwrap_or(u64::MAX);
    let mut after = filters.after_offset;
    while after < last {
        let mut page = Vec::new();
        let read = match &filters.tag {
            Some(tag) => journal.events_by_tag(tag, after, PAGE, &mut |event| page.push(event)),
            None => journal.events_by_offset(after, PAGE, &mut |event| page.push(event)),
        };
        read.map_err(|error| format!("cannot read the journal after offset {after}: {error}"))?;
        let Some(end) = page.last().map(|event| event.offset) else {
            break;
        };
        for event in page.iter().filter(|event| event.offset <= last) {
            if filters.keeps(event) {
                print(event);
            }
        }
        after = end;
    }
    Ok(())
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
