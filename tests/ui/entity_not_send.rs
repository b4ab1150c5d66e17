use std::rc::Rc;
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

    pub fn deposit(&self, amount: Rc<u64>) -> Effect<AccountEvent> {
        Effect::persist(AccountEvent::Deposited { amount: *amount })
    }

    pub fn shared(&self) -> Rc<u64> {
        Rc::new(self.balance)
    }
}

fn main() {}
