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

// The pattern of hand-written entities: an alias names the effect once.
type AccountEffect = Effect<AccountEvent, Account>;

use reactant::persistence;

#[entity]
impl Account {
    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited { amount } => self.balance += amount,
        }
    }

    pub fn deposit(&self, amount: u64) -> AccountEffect {
        AccountEffect::persist(AccountEvent::Deposited { amount })
    }

    pub fn withdraw(&self, amount: u64) -> persistence::Effect<AccountEvent, Account> {
        persistence::Effect::persist(AccountEvent::Deposited { amount })
    }
}

fn main() {}
