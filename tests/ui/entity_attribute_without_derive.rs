use reactant::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
pub enum AccountEvent {
    Deposited { amount: u64 },
}

#[derive(Default, Serialize, Deserialize)]
#[entity(type_key = "account", event = AccountEvent)]
pub struct Account {
    balance: u64,
}

// Above the derive, the attribute macro gets the arguments (by its path: plain `entity` there
// would be ambiguous with the derive's helper, which rustc reports itself).
#[reactant::entity(type_key = "ledger", event = AccountEvent)]
#[derive(Default, Serialize, Deserialize, Entity)]
pub struct Ledger {
    total: u64,
}

#[entity]
impl Ledger {
    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited { amount } => self.total += amount,
        }
    }

    pub fn record(&self, amount: u64) -> Effect<AccountEvent, u64> {
        Effect::persist(AccountEvent::Deposited { amount }).then_reply(|s| s.total)
    }
}

#[entity]
impl Account {
    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited { amount } => self.balance += amount,
        }
    }

    pub fn deposit(&self, amount: u64) -> Effect<AccountEvent, u64> {
        Effect::persist(AccountEvent::Deposited { amount }).then_reply(|s| s.balance)
    }
}

fn main() {}
