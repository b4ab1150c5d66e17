use reactant::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
pub enum AccountEvent {
    Deposited { amount: u64 },
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
pub enum InvoiceEvent {
    Paid { amount: u64 },
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

    pub fn pay(&self, amount: u64) -> Effect<InvoiceEvent, u64> {
        Effect::persist(InvoiceEvent::Paid { amount }).then_reply(|s| s.balance)
    }
}

fn main() {}
