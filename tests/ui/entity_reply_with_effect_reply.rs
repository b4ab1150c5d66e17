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

    pub fn deposit(&self, amount: u64, #[reply] reply_to: ActorRef<u64>) -> Effect<AccountEvent, u64> {
        let _ = reply_to;
        Effect::persist(AccountEvent::Deposited { amount }).then_reply(|s| s.balance)
    }
}

fn main() {}
