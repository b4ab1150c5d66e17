use reactant::persistence::EntityContext;
use reactant::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
pub enum AccountEvent {
    Deposited { amount: u64 },
}

pub enum OtherCommand {}

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

    pub fn deposit(&self, ctx: &mut EntityContext<'_, OtherCommand>, amount: u64) -> Effect<AccountEvent> {
        let _ = ctx;
        Effect::persist(AccountEvent::Deposited { amount })
    }
}

fn main() {}
