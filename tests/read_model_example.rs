//! `examples/read_model.rs` as a user runs it (issue 18): killed (SIGKILL) at random points
//! and started again on the same folder, it goes on from where it was. After each kill the
//! read model in the folder equals the fold of the journal's events up to the projection's
//! stored offset — revenue per day is a running sum, so an event counted twice or lost would
//! show — and a last run to its end exits cleanly, having found every order placed before.
//!
//! It runs the example's binary, which `cargo test --workspace` (so `./dev test`) builds with
//! the tests.
#![cfg(feature = "rocksdb")]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reactant::persistence::rocksdb::{Durability, RocksConfig, RocksJournal};
use reactant::persistence::{Effect, Entity, Event, Journal, Persistence};
use reactant::projection::{ProjectionId, ReadStore, Table};
use reactant::query::Offset;
use serde::{Deserialize, Serialize};

/// The example's event, read back (same name, same shape).
#[derive(Clone, Debug, Serialize, Deserialize)]
enum OrderEvent {
    Placed {
        customer: String,
        day: u32,
        cents: u64,
    },
}

impl Event for OrderEvent {}

#[derive(Default, Serialize, Deserialize)]
struct Order;

impl Entity for Order {
    const TYPE_KEY: &'static str = "order";
    type Event = OrderEvent;
    type Command = ();
    fn apply(&mut self, _: &OrderEvent) {}
    fn handle_command(&self, (): ()) -> Effect<OrderEvent, Self> {
        Effect::none()
    }
}

fn example_binary() -> PathBuf {
    let test = std::env::current_exe().expect("the test binary");
    let binary = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug/deps")
        .join("examples")
        .join("read_model");
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds the examples",
        binary.display()
    );
    binary
}

fn start(folder: &Path) -> std::process::Child {
    Command::new(example_binary())
        .arg(folder)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts")
}

/// Kills before the last run.
const ROUNDS: u32 = 6;

type Revenue = BTreeMap<u32, u64>;
type Orders = BTreeMap<(String, String), u64>;

/// The journal's head, and whether the read model equals the fold of the events up to the
/// stored offset.
fn check(folder: &Path, round: u32) -> u64 {
    let journal = RocksJournal::open_with(
        folder,
        RocksConfig {
            durability: Durability::Buffered,
        },
    )
    .expect("the journal opens after a kill");
    let persistence = Persistence::new(journal.clone(), journal.clone()).expect("persistence");
    let store = ReadStore::open(&journal).expect("the read store opens");
    let revenue: Table<u32, u64> = store.table("revenue_per_day");
    let orders: Table<(String, String), u64> = store.table("orders_per_customer");
    let (offset, stored_revenue, stored_orders) = store
        .read(|view| {
            (
                view.offset(&ProjectionId::new("sales", "all")).unwrap(),
                view.range(&revenue, ..).unwrap(),
                view.range(&orders, ..).unwrap(),
            )
        })
        .unwrap();
    let offset = offset.unwrap_or(0);
    let (mut want_revenue, mut want_orders) = (Revenue::new(), Orders::new());
    for envelope in persistence
        .query()
        .current_events_by_tag::<Order>("order", Offset::Start)
    {
        let envelope = envelope.expect("every event decodes");
        if envelope.offset > offset {
            break;
        }
        let OrderEvent::Placed {
            customer,
            day,
            cents,
        } = envelope.event;
        *want_revenue.entry(day).or_default() += cents;
        want_orders.insert((customer, envelope.persistence_id.to_string()), cents);
    }
    assert_eq!(
        stored_revenue.into_iter().collect::<Revenue>(),
        want_revenue,
        "round {round}: revenue per day is not the fold of the events up to offset {offset}"
    );
    assert_eq!(
        stored_orders.into_iter().collect::<Orders>(),
        want_orders,
        "round {round}: orders per customer are not the fold up to offset {offset}"
    );
    journal.highest_offset().expect("a head")
}

#[test]
fn the_example_killed_and_started_again_goes_on_from_where_it_was() {
    let folder = tempfile::tempdir().expect("a folder");
    let mut head = 0;
    for round in 0..ROUNDS {
        // Killed after a random number of bytes of its output (about 600 in a whole run, the
        // progress lines many of them): at a random point of its run, whatever the machine's
        // speed.
        let mut child = start(folder.path());
        let mut stdout = child.stdout.take().expect("its stdout");
        let mut byte = [0u8; 1];
        for _ in 0..fastrand::usize(1..500) {
            if !matches!(stdout.read(&mut byte), Ok(1)) {
                break;
            }
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let after = check(folder.path(), round);
        assert!(after >= head, "round {round}: the journal lost events");
        head = after;
    }
    let run = start(folder.path()).wait_with_output().expect("a last run");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the last run failed: {}\n{stdout}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains(&format!("({head} orders already)")),
        "the last run did not find the {head} orders placed before:\n{stdout}"
    );
    let end = check(folder.path(), ROUNDS);
    assert_eq!(end, head + 300, "the last run places 300 orders");
}
