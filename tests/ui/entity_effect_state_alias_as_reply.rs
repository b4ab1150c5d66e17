use reactant::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
pub enum AccountEvent {
    Deposited { amount: u64 },
}

#[derive(Clone, Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "account", event = AccountEvent)]
pub struct Account {
    balance: u64,
}

type State = Account;

#[entity]
impl Account {
    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited { amount } => self.balance += amount,
        }
    }

    // The state through an alias, as a hand-written entity's `Effect<Event, State>`: the
    // generated code tells it by its type.
    pub fn deposit(&self, amount: u64) -> Effect<AccountEvent, State> {
        Effect::persist(AccountEvent::Deposited { amount })
    }

    // The full form names the state, and may reply it.
    pub fn snapshot(&self) -> Effect<AccountEvent, State, State> {
        Effect::none().then_reply(Account::clone)
    }

    // The full form's state must be the entity.
    pub fn credit(&self, amount: u64) -> Effect<AccountEvent, u64, u64> {
        Effect::persist(AccountEvent::Deposited { amount })
    }
}

fn main() {}
