use reactant::prelude::*;
use serde::{Deserialize, Serialize};

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

    // Reads like a hand-written entity's `Effect<Event, State>`; here it would reply an `Account`.
    pub fn deposit(&self, amount: u64) -> Effect<AccountEvent, Account> {
        Effect::persist(AccountEvent::Deposited { amount })
    }

    pub fn top_up(&self, amount: u64) -> Effect<AccountEvent, Self> {
        Effect::persist(AccountEvent::Deposited { amount })
    }
}

fn main() {}
