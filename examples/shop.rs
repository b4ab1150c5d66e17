//! An order desk: Reactant's main ideas in one small program that exits on its own.
//!
//! Run it with `./dev example` (or `cargo run --release --example shop`). The runtime logs
//! through `tracing`; set `RUST_LOG=debug` to see more than warnings and errors.
//!
//! ```text
//! /user/orders            the desk, an `Actor` object: opens orders and watches each one
//! /user/orders/order-N    one actor per order, built from behaviors: expires unless paid,
//!                         stashes what arrives while its card is being charged
//! /user/payments          the card gateway: supervised (restarted when it panics) and
//!                         running on its own dispatcher, a bulkhead
//! /user/ledger            the shop's ledger: an event-sourced entity whose sales are
//!                         journaled to RocksDB, so it remembers every run before this one
//! /user/sharding-customer one region of sharded customers: each customer is an event-sourced
//!                         entity written with the macros, started on its first message and
//!                         passivated when idle, rebuilt from its events when needed again
//! ```
//!
//! The ledger's journal lives in `./data/shop` unless `REACTANT_SHOP_DATA` names another
//! folder; run the example twice and the ledger recovers the first run's sales.

use std::collections::HashMap;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use reactant::persistence::rocksdb::RocksJournal;
use reactant::persistence::{EventSourcedBehavior, PersistenceId};
use reactant::prelude::*;
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

/// An order nobody pays for is cancelled this long after it was opened.
const UNPAID_EXPIRY: Duration = Duration::from_millis(300);
/// A paid order goes to shipping (and its actor stops) this long after payment.
const SHIPPING_DELAY: Duration = Duration::from_millis(50);
/// How long anyone waits for a reply.
const TIMEOUT: Duration = Duration::from_secs(2);

const GOOD_CARD: &str = "4242 4242 4242 4242";
/// The gateway chokes on this one: a card number with letters in it.
const MANGLED_CARD: &str = "4242 4242 4242 42O2";

/// Prints a line to standard output and returns the `io::Result`: `println!` panics when
/// standard output is closed or full, and a program should report that as any other failure.
/// In `run` the error ends the program; in an actor it is ignored (`run` meets it next).
///
/// The line is formatted before standard output is locked: an argument may wait for a reply
/// (`say!("{}", pending.wait(TIMEOUT)?)`), and the actors that reply print too.
macro_rules! say {
    ($($arg:tt)*) => {{
        let line = format!($($arg)*);
        writeln!(std::io::stdout().lock(), "{line}")
    }};
}

// ----- The payment gateway: a functional behavior, restarted by its supervisor -----

/// A request to charge a card; the gateway replies with a receipt.
struct Charge {
    order: String,
    cents: u64,
    card: String,
    reply_to: ActorRef<Receipt>,
}

/// Proof of payment.
#[derive(Debug)]
struct Receipt {
    order: String,
    cents: u64,
}

fn payment_gateway() -> Behavior<Charge> {
    Behaviors::receive_message(|charge: Charge| {
        // A bug on input nobody expected: this panics on a card number that is not all
        // digits. The panic stops at the actor boundary and goes to the supervisor (see
        // `main`); the `Charge` is dropped with its reply address, so the asker learns at
        // once that no reply will come.
        let number: u64 = charge
            .card
            .replace(' ', "")
            .parse()
            .expect("a card number is digits");
        let _ = say!(
            "[payments] charged {} for {} to the card ending in {}",
            money(charge.cents),
            charge.order,
            number % 10_000
        );
        charge.reply_to.tell(Receipt {
            order: charge.order,
            cents: charge.cents,
        });
        Behaviors::same()
    })
    .receive_signal(|_ctx, signal| {
        if let Signal::PreRestart = signal {
            let _ = say!("[payments] crashed; the supervisor restarts the gateway");
        }
        Behaviors::same()
    })
}

// ----- One actor per order: behaviors that change as the order moves on -----

/// What an order actor understands.
enum OrderMsg {
    /// The customer pays by card.
    Pay {
        card: String,
        reply_to: ActorRef<PaymentOutcome>,
    },
    /// The outcome of our charge: the gateway's receipt, or why the ask failed. `ctx.ask`
    /// delivers it as one of our own messages.
    Charged {
        outcome: Result<Receipt, AskError>,
        reply_to: ActorRef<PaymentOutcome>,
    },
    /// Timer: nobody paid in time.
    Expire,
    /// Timer: hand the paid order over to shipping.
    Ship,
}

/// The answer to [`OrderMsg::Pay`].
enum PaymentOutcome {
    Paid(Receipt),
    Failed(AskError),
    AlreadyPaid,
}

/// Timer keys: any `Hash + Eq + Debug` value. Starting a timer under a key in use replaces it.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum OrderTimer {
    Expiry,
    Shipping,
}

/// What an order knows about itself.
#[derive(Clone)]
struct Order {
    name: String,
    item: String,
    cents: u64,
    payments: ActorRef<Charge>,
}

fn order(item: String, cents: u64, payments: ActorRef<Charge>) -> Behavior<OrderMsg> {
    Behaviors::setup(move |ctx| {
        ctx.timers()
            .start_single(OrderTimer::Expiry, OrderMsg::Expire, UNPAID_EXPIRY);
        awaiting_payment(Order {
            name: ctx.path().name().to_owned(),
            item: item.clone(),
            cents,
            payments: payments.clone(),
        })
    })
}

fn awaiting_payment(order: Order) -> Behavior<OrderMsg> {
    Behaviors::receive(move |ctx, msg| match msg {
        OrderMsg::Pay { card, reply_to } => {
            // Never block inside an actor: `ctx.ask` sends the request and hands us the reply,
            // or the timeout, later as an `OrderMsg::Charged`.
            ctx.ask(
                &order.payments,
                |receipt_to| Charge {
                    order: order.name.clone(),
                    cents: order.cents,
                    card,
                    reply_to: receipt_to,
                },
                TIMEOUT,
                |outcome| OrderMsg::Charged { outcome, reply_to },
            );
            charging(order.clone())
        }
        OrderMsg::Expire => {
            let _ = say!(
                "[{}] unpaid after {UNPAID_EXPIRY:?}: cancelled, the {} goes back on the shelf",
                order.name,
                order.item
            );
            Behaviors::stopped()
        }
        OrderMsg::Charged { .. } | OrderMsg::Ship => Behaviors::unhandled(),
    })
}

/// Waiting for the gateway. Whatever else arrives meanwhile (a second click on "pay", the
/// expiry timer) is stashed and handled once the outcome is known, by the next behavior.
fn charging(order: Order) -> Behavior<OrderMsg> {
    Behaviors::with_stash(16, move |stash| {
        let order = order.clone();
        Behaviors::receive(move |ctx, msg| match msg {
            OrderMsg::Charged {
                outcome: Ok(receipt),
                reply_to,
            } => {
                ctx.timers().cancel(&OrderTimer::Expiry);
                ctx.timers()
                    .start_single(OrderTimer::Shipping, OrderMsg::Ship, SHIPPING_DELAY);
                reply_to.tell(PaymentOutcome::Paid(receipt));
                stash.unstash_all();
                paid(order.clone())
            }
            OrderMsg::Charged {
                outcome: Err(error),
                reply_to,
            } => {
                reply_to.tell(PaymentOutcome::Failed(error));
                stash.unstash_all();
                awaiting_payment(order.clone())
            }
            other => match stash.stash(other) {
                Ok(()) => Behaviors::same(),
                // A full stash hands the message back; let it go to dead letters.
                Err(_full) => Behaviors::unhandled(),
            },
        })
    })
}

fn paid(order: Order) -> Behavior<OrderMsg> {
    Behaviors::receive_message(move |msg| match msg {
        OrderMsg::Pay { reply_to, .. } => {
            reply_to.tell(PaymentOutcome::AlreadyPaid);
            Behaviors::same()
        }
        OrderMsg::Ship => {
            let _ = say!("[{}] the {} is handed to shipping", order.name, order.item);
            Behaviors::stopped()
        }
        // The expiry timer was cancelled; an expiry stashed during the charge is moot now.
        OrderMsg::Expire => Behaviors::same(),
        OrderMsg::Charged { .. } => Behaviors::unhandled(),
    })
}

// ----- The desk: an object-style actor with mutable state -----

/// What the desk understands.
enum DeskMsg {
    /// Open an order; the reply is the new order's reference.
    Open {
        item: String,
        cents: u64,
        reply_to: ActorRef<Result<ActorRef<OrderMsg>, SpawnError>>,
    },
    /// Close the desk once every open order has been shipped or cancelled; the reply is the
    /// number of orders served. Kept until then: a reply address is just a value.
    CloseWhenIdle { reply_to: ActorRef<u32> },
}

struct OrderDesk {
    payments: ActorRef<Charge>,
    opened: u32,
    /// Open orders (their actors) and what each one sells.
    open: HashMap<ActorPath, String>,
    closing: Option<ActorRef<u32>>,
}

impl OrderDesk {
    fn new(payments: ActorRef<Charge>) -> Self {
        Self {
            payments,
            opened: 0,
            open: HashMap::new(),
            closing: None,
        }
    }

    fn close_if_idle(&mut self, ctx: &mut Context<DeskMsg>) {
        if self.open.is_empty()
            && let Some(reply_to) = self.closing.take()
        {
            reply_to.tell(self.opened);
            ctx.stop_self();
        }
    }
}

impl Actor for OrderDesk {
    type Msg = DeskMsg;

    fn handle(&mut self, ctx: &mut Context<DeskMsg>, msg: DeskMsg) {
        match msg {
            DeskMsg::Open {
                item,
                cents,
                reply_to,
            } => {
                self.opened += 1;
                let name = format!("order-{}", self.opened);
                let spawned = ctx.spawn(order(item.clone(), cents, self.payments.clone()), &name);
                if let Ok(order) = &spawned {
                    // When the order's actor stops, we get `Signal::Terminated`.
                    ctx.watch(order);
                    let _ = say!("[orders] opened {}: {item}, {}", order.path(), money(cents));
                    self.open.insert(order.path(), item);
                }
                reply_to.tell(spawned);
            }
            DeskMsg::CloseWhenIdle { reply_to } => {
                self.closing = Some(reply_to);
                self.close_if_idle(ctx);
            }
        }
    }

    fn on_signal(&mut self, ctx: &mut Context<DeskMsg>, signal: &Signal) {
        if let Signal::Terminated(order) = signal {
            let item = self.open.remove(&order.path()).unwrap_or_default();
            let _ = say!(
                "[orders] {} ({item}) closed; {} still open",
                order.path().name(),
                self.open.len()
            );
            self.close_if_idle(ctx);
        }
    }
}

// ----- Customers: sharded event-sourced entities, written with the macros -----

/// What the journal keeps about a customer.
#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(tag = "customer")]
enum CustomerEvent {
    Purchased { order: String, cents: u64 },
}

/// A customer's history: the fold of their `Purchased` events. `#[derive(Entity)]` and
/// `#[entity]` turn it into an entity type: `CustomerCommand`, one method per handler on its
/// `EntityRef` (`CustomerRef`), and the `Entity` impl that sharding runs.
#[derive(Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "customer", event = CustomerEvent, snapshot_every = 50)]
struct Customer {
    orders: u64,
    spent_cents: u64,
}

#[entity]
impl Customer {
    fn apply(&mut self, event: &CustomerEvent) {
        match event {
            CustomerEvent::Purchased { cents, .. } => {
                self.orders += 1;
                self.spent_cents += cents;
            }
        }
    }

    /// Records a purchase; the reply (orders and cents so far) comes once it is durable.
    pub fn purchase(&self, order: String, cents: u64) -> Effect<CustomerEvent, (u64, u64)> {
        Effect::persist(CustomerEvent::Purchased { order, cents })
            .then_reply(|customer| (customer.orders, customer.spent_cents))
    }

    /// Orders and cents so far, answered from memory.
    pub fn totals(&self) -> (u64, u64) {
        (self.orders, self.spent_cents)
    }
}

// ----- main: a customer's afternoon, from outside the actors -----

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // As a real program reports a failure: its message (each error's `Display` is a sentence
    // that says what to do) and a non-zero exit code, not `main`'s `Debug` form.
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "shop: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // Two worker threads for the shop, and one more for the gateway: a bulkhead, so that a
    // slow gateway never holds up the desk or the orders.
    let system = ActorSystem::builder()
        .name("shop")
        .threads(2)
        .dispatcher("payments", 1)
        .build()?;
    let dead_letters = system.dead_letters().subscribe();

    // Restart the gateway when it panics, at most 3 times in 10 seconds; a fourth failure
    // stops it. Without `supervise`, a failed actor stops (the default, as in Akka Typed).
    let payments = system.spawn_with(
        Behaviors::supervise(payment_gateway())
            .on_failure(SupervisorStrategy::restart().with_limit(3, Duration::from_secs(10))),
        Some("payments"),
        &Props::new().with_dispatcher("payments"),
    )?;
    let desk = system.spawn(OrderDesk::new(payments), "orders")?;

    // The ledger recovers every earlier run's sales from its journal before its first command.
    let data = std::env::var("REACTANT_SHOP_DATA").unwrap_or_else(|_| "data/shop".to_owned());
    let journal = RocksJournal::open(&data)?;
    let persistence = Persistence::from_backend(journal)?;
    let ledger = system.spawn(ledger(persistence.clone()), "ledger")?;
    let (sales, cents) = ledger
        .ask(|reply_to| LedgerMsg::Totals { reply_to })
        .wait(TIMEOUT)?;
    say!(
        "main: the ledger in {data} recovered {sales} sales worth {} from earlier runs",
        money(cents)
    )?;

    // From outside the actor system, `ask` and `wait` for the reply.
    let open = |item: &str, cents: u64| {
        desk.ask(|reply_to| DeskMsg::Open {
            item: item.to_owned(),
            cents,
            reply_to,
        })
        .wait(TIMEOUT)
    };
    let teapot = open("teapot", 2_500)??;
    let kettle = open("kettle", 4_000)??;
    let mug = open("mug", 900)??;

    // A double click on "pay": the second request arrives while the first is being charged,
    // waits in the stash, and is answered once the first has gone through.
    let first = pay(&teapot, GOOD_CARD);
    let second = pay(&teapot, GOOD_CARD);
    say!("main: teapot, first click: {}", first.wait(TIMEOUT)?)?;
    say!("main: teapot, second click: {}", second.wait(TIMEOUT)?)?;

    // A card the gateway chokes on: the gateway panics and is restarted, and the order's ask
    // fails at once instead of hanging. The order is still open, so the customer tries again.
    let mangled = pay(&kettle, MANGLED_CARD).wait(TIMEOUT)?;
    let retried = pay(&kettle, GOOD_CARD).wait(TIMEOUT)?;
    say!("main: kettle, mangled card: {mangled}")?;
    say!("main: kettle, good card: {retried}")?;

    // Nobody pays for the mug: its timer cancels it. The desk watches every order, and replies
    // once none is left open.
    let served = desk
        .ask(|reply_to| DeskMsg::CloseWhenIdle { reply_to })
        .wait(TIMEOUT)?;
    say!("main: the desk served {served} orders and closed")?;

    // Journal this run's sales: each reply comes once its event is durable (fsynced).
    for (order, cents) in [("teapot", 2_500), ("kettle", 4_000)] {
        let (sales, total) = ledger
            .ask(|reply_to| LedgerMsg::Record {
                order: order.to_owned(),
                cents,
                reply_to,
            })
            .wait(TIMEOUT)?;
        say!(
            "main: ledger: {order} recorded; {sales} sales worth {} in all runs",
            money(total)
        )?;
    }

    // Customers live in a sharded region: `entity(id)` reaches one whether or not it is
    // running; the first message starts it, rebuilt from its events of earlier runs.
    let customers = system.sharding().init::<Customer>(persistence.clone())?;
    for (customer, order, cents) in [("ada", "teapot", 2_500), ("grace", "kettle", 4_000)] {
        let (orders, spent) = customers
            .entity(customer)
            .purchase(order.to_owned(), cents)
            .wait(TIMEOUT)?;
        say!(
            "main: {customer} bought a {order}: {orders} orders worth {} in all runs",
            money(spent)
        )?;
    }
    let (orders, _) = customers.entity("ada").totals().wait(TIMEOUT)?;
    let stats = customers.stats();
    say!(
        "main: ada has {orders} orders; the customer region runs {} entities over {} shards",
        stats.active_entities,
        stats.number_of_shards
    )?;

    // Messages to actors that have stopped become dead letters; an ask to one fails at once.
    if let Err(error) = pay(&mug, GOOD_CARD).wait(TIMEOUT) {
        say!("main: paying for the cancelled mug: {error}")?;
    }
    if let Err(error) = open("spoon", 300) {
        say!("main: opening an order at the closed desk: {error}")?;
    }

    // Stops every actor, children before parents, and joins the system's threads. Dropping the
    // system does the same.
    system.shutdown();
    say!("main: {} dead letters:", system.dead_letters().count())?;
    for letter in dead_letters.try_iter() {
        say!("  {letter}")?;
    }
    Ok(())
}

// ----- The ledger: an event-sourced entity, journaled to RocksDB -----

/// The ledger's state: the fold of every `Sold` event ever persisted.
#[derive(Default, Serialize, Deserialize)]
struct Ledger {
    sales: u64,
    cents: u64,
}

/// The one event of the ledger: what the journal keeps.
#[derive(Serialize, Deserialize)]
struct Sold {
    order: String,
    cents: u64,
}

impl Event for Sold {}

enum LedgerMsg {
    /// Record a sale; the reply (sales and cents so far) comes once the event is durable.
    Record {
        order: String,
        cents: u64,
        reply_to: ActorRef<(u64, u64)>,
    },
    /// Sales and cents so far, answered from memory.
    Totals { reply_to: ActorRef<(u64, u64)> },
}

type LedgerEffect = Effect<Sold, Ledger>;

fn ledger(persistence: Arc<Persistence>) -> EventSourcedBehavior<LedgerMsg, Sold, Ledger> {
    EventSourcedBehavior::new(
        PersistenceId::of("ledger", "shop"),
        persistence,
        Ledger::default,
        |_ledger: &Ledger, msg| match msg {
            LedgerMsg::Record {
                order,
                cents,
                reply_to,
            } => LedgerEffect::persist(Sold { order, cents })
                .then_reply_to(reply_to, |ledger| (ledger.sales, ledger.cents)),
            LedgerMsg::Totals { reply_to } => {
                LedgerEffect::none().then_reply_to(reply_to, |ledger| (ledger.sales, ledger.cents))
            }
        },
        |ledger: &mut Ledger, sold: &Sold| {
            ledger.sales += 1;
            ledger.cents += sold.cents;
        },
    )
}

fn pay(order: &ActorRef<OrderMsg>, card: &str) -> Pending<PaymentOutcome> {
    order.ask(|reply_to| OrderMsg::Pay {
        card: card.to_owned(),
        reply_to,
    })
}

fn money(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

impl fmt::Display for PaymentOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Paid(receipt) => write!(
                f,
                "paid, receipt for {} over {}",
                receipt.order,
                money(receipt.cents)
            ),
            Self::Failed(error) => write!(f, "payment failed: {error}"),
            Self::AlreadyPaid => f.write_str("already paid, nothing charged"),
        }
    }
}
