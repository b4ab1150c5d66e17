//! A read model kept by a projection (issue 18): orders are event-sourced entities in a
//! RocksDB journal; a grouped exactly-once projection folds their events into two tables of
//! the same database — revenue per day and the orders of each customer — that a query
//! function serves. Stopped and started again, the projection goes on from its offset; a
//! rebuild clears its tables and shows its progress over the journal.
//!
//! `cargo run --example read_model [FOLDER]` (a temporary folder by default; run it twice on
//! one folder to see the read model survive the process).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reactant::persistence::rocksdb::{Durability, RocksConfig, RocksJournal};
use reactant::persistence::{Effect, Entity, Event, Persistence};
use reactant::prelude::*;
use reactant::projection::{
    Projection, ProjectionId, ProjectionRef, ProjectionState, ReadStore, Source, Table,
};
use serde::{Deserialize, Serialize};

const WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Serialize, Deserialize)]
enum OrderEvent {
    Placed {
        customer: String,
        day: u32,
        cents: u64,
    },
}

impl Event for OrderEvent {
    fn tags(&self) -> Vec<String> {
        vec!["order".into()]
    }
}

struct Place {
    customer: String,
    day: u32,
    cents: u64,
    reply_to: ActorRef<bool>,
}

/// An order: placed once.
#[derive(Default, Serialize, Deserialize)]
struct Order {
    placed: bool,
}

impl Entity for Order {
    const TYPE_KEY: &'static str = "order";
    type Event = OrderEvent;
    type Command = Place;

    fn apply(&mut self, _: &OrderEvent) {
        self.placed = true;
    }

    fn handle_command(&self, place: Place) -> Effect<OrderEvent, Self> {
        if self.placed {
            return Effect::none().then_reply_to(place.reply_to, |_: &Order| false);
        }
        let event = OrderEvent::Placed {
            customer: place.customer,
            day: place.day,
            cents: place.cents,
        };
        Effect::persist(event).then_reply_to(place.reply_to, |_: &Order| true)
    }
}

/// The read model: revenue per day, and each customer's orders (customer, order) → cents.
#[derive(Clone)]
struct Sales {
    revenue: Table<u32, u64>,
    orders: Table<(String, String), u64>,
}

impl Sales {
    fn new(store: &ReadStore) -> Self {
        Self {
            revenue: store.table("revenue_per_day"),
            orders: store.table("orders_per_customer"),
        }
    }

    /// What a query endpoint would answer: a customer's orders and total.
    fn customer(&self, customer: &str) -> Result<(usize, u64), Box<dyn std::error::Error>> {
        let orders = self.orders.prefix(&customer)?;
        Ok((orders.len(), orders.iter().map(|(_, cents)| cents).sum()))
    }

    fn projection(
        &self,
        persistence: &Arc<Persistence>,
        store: &ReadStore,
    ) -> Projection<OrderEvent> {
        let sales = self.clone();
        Projection::grouped(
            ProjectionId::new("sales", "all"),
            Source::events_by_tag::<Order>(persistence, "order"),
            store,
            move |tx, envelopes| {
                for envelope in envelopes {
                    let OrderEvent::Placed {
                        customer,
                        day,
                        cents,
                    } = &envelope.event;
                    tx.update(&sales.revenue, day, |total| {
                        Some(total.unwrap_or(0) + cents)
                    })?;
                    let order = envelope.persistence_id.to_string();
                    tx.put(&sales.orders, &(customer.clone(), order), cents)?;
                }
                Ok(())
            },
        )
        .group_within(100, Duration::from_millis(20))
        .with_table(&self.revenue)
        .with_table(&self.orders)
    }
}

fn place_orders(
    system: &ActorSystem,
    persistence: &Arc<Persistence>,
    from: u32,
    count: u32,
) -> Result<(), Box<dyn std::error::Error>> {
    for n in from..from + count {
        let id = format!("order-{n}");
        let order = system.spawn_anonymous(Order::behavior(id.as_str(), persistence.clone()))?;
        order
            .ask(|reply_to| Place {
                customer: format!("customer-{}", n % 7),
                day: 20_261_201 + n % 5,
                cents: 1_000 + u64::from(n % 13) * 250,
                reply_to,
            })
            .wait(WAIT)?;
    }
    Ok(())
}

/// Waits until the projection has handled every event of the journal, printing its progress.
fn caught_up(projection: &ProjectionRef, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + WAIT * 6;
    loop {
        let status = projection.status()?;
        let done = status.offset.unwrap_or(0);
        let percent = (done * 100).checked_div(status.head).unwrap_or(100);
        print!("\r{what}: {percent:3}% ({done} of {} events)", status.head);
        let _ = std::io::Write::flush(&mut std::io::stdout());
        if done == status.head {
            println!();
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the projection did not catch up: {status:?}").into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let first = std::env::args_os().nth(1);
    if first
        .as_ref()
        .is_some_and(|arg| arg == "--help" || arg == "-h")
    {
        println!(
            "usage: read_model [FOLDER]\n\nOrders written to a RocksDB journal in FOLDER (a new \
             temporary folder by default) and a projection keeping revenue per day and orders \
             per customer; run it twice on one folder to see the read model survive the \
             process."
        );
        return Ok(());
    }
    let folder = first.map_or_else(
        || std::env::temp_dir().join(format!("reactant-read-model-{}", std::process::id())),
        PathBuf::from,
    );
    let journal = RocksJournal::open_with(
        &folder,
        RocksConfig {
            durability: Durability::Buffered,
        },
    )?;
    let persistence = Persistence::from_backend(journal.clone())?;
    let store = ReadStore::open(&journal)?;
    let sales = Sales::new(&store);
    let system = ActorSystem::new("read-model")?;
    let already = journal.last_offset() as u32;
    println!("journal in {} ({already} orders already)", folder.display());

    let projection = sales.projection(&persistence, &store).run(&system)?;
    place_orders(&system, &persistence, already, 200)?;
    caught_up(&projection, "projecting")?;
    let (count, cents) = sales.customer("customer-3")?;
    println!(
        "customer-3: {count} orders, {} in total",
        cents as f64 / 100.0
    );

    // Stopped (as by a crash or a deployment) while orders keep coming; started again, it
    // goes on from its stored offset.
    projection.stop();
    while projection.status()?.state != ProjectionState::Stopped {
        std::thread::sleep(Duration::from_millis(5));
    }
    place_orders(&system, &persistence, already + 200, 100)?;
    println!(
        "stopped at offset {:?}; 100 more orders placed",
        projection.status()?.offset
    );
    let projection = loop {
        // The stopped actor's name is free again once it has fully stopped.
        match sales.projection(&persistence, &store).run(&system) {
            Ok(projection) => break projection,
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    caught_up(&projection, "catching up")?;

    // A rebuild: the tables and the offset cleared in one write, then the whole journal again.
    projection.clear_offset().wait(WAIT)??;
    caught_up(&projection, "rebuilding")?;
    for (day, cents) in sales.revenue.all()? {
        println!("revenue on {day}: {:.2}", cents as f64 / 100.0);
    }
    let (count, cents) = sales.customer("customer-3")?;
    println!(
        "customer-3: {count} orders, {} in total",
        cents as f64 / 100.0
    );
    system.shutdown();
    Ok(())
}
