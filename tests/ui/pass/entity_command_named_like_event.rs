//! A command named like a variant of the event enum (`deposited` and `AccountEvent::Deposited`)
//! is fine: the command enum and the event enum are two types.

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

    pub fn deposited(&self, amount: u64) -> Effect<AccountEvent> {
        Effect::persist(AccountEvent::Deposited { amount })
    }
}

fn main() {}
