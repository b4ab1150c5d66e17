//! Handlers that answer an ask later (issue 14, item 7, macro side): a handler argument marked
//! `#[reply]` is the asker's reply address, `ActorRef<R>`; the handler returns nothing, keeps
//! the address, and tells it the reply when it has one (after another actor's reply, here).
//! The caller's ref method is the same as for a handler returning `R`: `Pending<R>`.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use reactant::persistence::{EntityContext, Persistence};
use reactant::prelude::*;
use serde::{Deserialize, Serialize};

use common::{WAIT, system};

// ----- #[actor] -----

/// Answers asks at once (the plain form: the return value is the reply).
#[derive(Default)]
struct Prices;

#[actor]
impl Prices {
    /// The price of `item`, in cents.
    pub fn price(&self, item: String) -> u64 {
        item.len() as u64 * 100
    }
}

/// Answers its own callers only once `Prices` has answered it.
struct Quotes {
    prices: ActorRef<PricesMsg>,
    next: u64,
    waiting: HashMap<u64, ActorRef<Result<u64, String>>>,
}

#[actor]
impl Quotes {
    /// A quote for `count` of `item`: asks `Prices`, and answers when its reply comes back as
    /// the message `priced`. The argument is literally named `reply_to`.
    pub fn quote(
        &mut self,
        ctx: &mut Context<QuotesMsg>,
        item: String,
        count: u64,
        #[reply] reply_to: ActorRef<Result<u64, String>>,
    ) {
        let id = self.next;
        self.next += 1;
        self.waiting.insert(id, reply_to);
        self.prices
            .price(item)
            .pipe_to(ctx, WAIT, move |price| QuotesMsg::Priced {
                id,
                count,
                price,
            });
    }

    /// `Prices`' reply to the quote `id`.
    pub fn priced(&mut self, id: u64, count: u64, price: Result<u64, AskError>) {
        if let Some(reply_to) = self.waiting.remove(&id) {
            reply_to.tell(price.map(|price| price * count).map_err(|e| e.to_string()));
        }
    }

    /// How many callers wait for an answer.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Drops the address without answering: the caller's ask fails, it does not hang.
    pub fn never(&mut self, #[reply] reply_to: ActorRef<u64>) {
        drop(reply_to);
    }

    /// Answers at once through the kept address; `#[reply]` may come first and go by another
    /// name.
    pub fn echo(&mut self, #[reply] respond: ActorRef<String>, text: String) {
        respond.tell(text);
    }
}

#[test]
fn an_actor_answers_its_caller_after_another_actors_reply() {
    let system = system("replylater");
    let prices = system.spawn(Prices, "prices").unwrap();
    let quotes = system
        .spawn(
            Quotes {
                prices,
                next: 0,
                waiting: HashMap::new(),
            },
            "quotes",
        )
        .unwrap();
    // The ref method is an ask, as for a handler returning the reply.
    let first: Pending<Result<u64, String>> = quotes.quote("tea".to_owned(), 2);
    let second = quotes.quote("coffee".to_owned(), 1);
    assert_eq!(first.wait(WAIT), Ok(Ok(600)));
    assert_eq!(second.wait(WAIT), Ok(Ok(600)));
    assert_eq!(quotes.waiting().wait(WAIT), Ok(0));
    assert_eq!(quotes.echo("hi".to_owned()).wait(WAIT), Ok("hi".to_owned()));
    let started = std::time::Instant::now();
    assert!(quotes.never().wait(WAIT).is_err());
    assert!(
        started.elapsed() < WAIT,
        "a dropped address fails the ask at once"
    );
    system.shutdown();
}

#[test]
fn the_message_carries_the_reply_address_in_the_users_field() {
    let system = system("replyfield");
    let prices = system.spawn(Prices, "prices").unwrap();
    let quotes = system
        .spawn(
            Quotes {
                prices,
                next: 0,
                waiting: HashMap::new(),
            },
            "quotes",
        )
        .unwrap();
    // Built by hand: the variant's field is the handler's own argument, `reply_to`.
    let pending = quotes.ask(|reply_to| QuotesMsg::Quote {
        item: "milk".to_owned(),
        count: 3,
        reply_to,
    });
    assert_eq!(pending.wait(WAIT), Ok(Ok(1200)));
    let echoed = quotes.ask(|respond| QuotesMsg::Echo {
        respond,
        text: "x".to_owned(),
    });
    assert_eq!(echoed.wait(WAIT), Ok("x".to_owned()));
    system.shutdown();
}

// ----- #[entity] -----

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
enum WalletEvent {
    Credited { cents: u64 },
}

#[derive(Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "wallet", event = WalletEvent)]
struct Wallet {
    cents: u64,
}

#[entity]
impl Wallet {
    fn apply(&mut self, event: &WalletEvent) {
        match event {
            WalletEvent::Credited { cents } => self.cents += cents,
        }
    }

    /// Buys `count` of `item` on credit: asks `prices` (another actor) first, and answers
    /// the new balance only once the price is known and the credit persisted.
    pub fn credit_for(
        &self,
        ctx: &mut EntityContext<'_, WalletCommand>,
        prices: ActorRef<PricesMsg>,
        item: String,
        count: u64,
        #[reply] reply_to: ActorRef<u64>,
    ) -> Effect<WalletEvent> {
        prices
            .price(item)
            .pipe_to(ctx, WAIT, move |price| WalletCommand::Credit {
                cents: price.unwrap_or(0) * count,
                reply_to,
            });
        Effect::none()
    }

    /// Persists a credit, then answers the new balance: the address came with the command.
    pub fn credit(&self, cents: u64, #[reply] reply_to: ActorRef<u64>) -> Effect<WalletEvent> {
        Effect::persist(WalletEvent::Credited { cents }).then_reply_to(reply_to, |s| s.cents)
    }

    /// A tell that answers anyway, from memory.
    pub fn balance_to(&self, #[reply] reply_to: ActorRef<u64>) {
        reply_to.tell(self.cents);
    }
}

#[test]
fn an_entity_answers_after_another_actor_and_a_persisted_event() {
    let system = system("replylaterentity");
    let persistence = Persistence::in_memory().unwrap();
    let wallets = system.sharding().init::<Wallet>(persistence).unwrap();
    let t = Duration::from_secs(5);
    assert_eq!(wallets.entity("w-1").credit(250).wait(t), Ok(250));
    assert_eq!(wallets.entity("w-1").balance_to().wait(t), Ok(250));
    let prices = system.spawn(Prices, "prices").unwrap();
    let pending: Pending<u64> = wallets
        .entity("w-1")
        .credit_for(prices, "tea".to_owned(), 2);
    assert_eq!(pending.wait(t), Ok(850));
    assert_eq!(wallets.entity("w-1").balance_to().wait(t), Ok(850));
    system.shutdown();
}
