// An entity's handler takes the entity's context (`EntityContext`), not an actor's `Context`;
// and the context comes first.
use reactant::persistence::EntityContext;
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

    pub fn deposit(&self, ctx: &mut Context<AccountCommand>, amount: u64) -> Effect<AccountEvent> {
        Effect::persist(AccountEvent::Deposited { amount })
    }

    pub fn withdraw(&self, amount: u64, ctx: &mut EntityContext<'_, AccountCommand>) -> Effect<AccountEvent> {
        Effect::none()
    }
}

fn main() {}
