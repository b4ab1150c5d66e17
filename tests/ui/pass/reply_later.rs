//! A handler that answers later takes its reply address as a `#[reply]` argument, in both
//! macros: an argument literally named `reply_to`, at any place, of a generic actor too; the ref
//! method is an ask all the same.

use std::collections::VecDeque;

use reactant::persistence::EntityContext;
use reactant::prelude::*;
use serde::{Deserialize, Serialize};

pub struct Queue<T: Send + 'static> {
    items: VecDeque<T>,
    takers: VecDeque<ActorRef<T>>,
}

#[actor]
impl<T: Send + 'static> Queue<T> {
    /// Answers when an item is there.
    pub fn take(&mut self, #[reply] reply_to: ActorRef<T>) {
        match self.items.pop_front() {
            Some(item) => reply_to.tell(item),
            None => self.takers.push_back(reply_to),
        }
    }

    pub fn put(&mut self, item: T) {
        match self.takers.pop_front() {
            Some(taker) => taker.tell(item),
            None => self.items.push_back(item),
        }
    }

    /// A plain argument named `reply_to` in a tell stays allowed.
    pub fn size_to(&self, reply_to: ActorRef<usize>) {
        reply_to.tell(self.items.len());
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
pub enum AccountEvent {
    Deposited { amount: u64 },
}

#[derive(Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "account", event = AccountEvent)]
pub struct Account {
    balance: u64,
}

#[entity]
impl Account {
    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited { amount } => self.balance += amount,
        }
    }

    pub fn deposit(
        &self,
        ctx: &mut EntityContext<'_, AccountCommand>,
        #[reply] reply_to: ActorRef<u64>,
        amount: u64,
    ) -> Effect<AccountEvent> {
        let _ = ctx;
        Effect::persist(AccountEvent::Deposited { amount }).then_reply_to(reply_to, |s| s.balance)
    }

    pub fn balance(&self, #[reply] reply_to: ActorRef<u64>) {
        reply_to.tell(self.balance);
    }
}

fn asks(queue: &ActorRef<QueueMsg<String>>, account: &EntityRef<AccountCommand>) {
    let _: Pending<String> = queue.take();
    queue.put("x".to_owned());
    let _: Pending<u64> = account.deposit(5);
    let _: Pending<u64> = account.balance();
}

fn main() {
    let _ = asks;
}
