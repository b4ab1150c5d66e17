//! A type of the user's that is called `Effect` is not taken for Reactant's: an entity's query
//! may return it by its path, an actor by any name.

use reactant::prelude::*;
use serde::{Deserialize, Serialize};

mod sim {
    /// A simulation's effect, nothing to do with Reactant's.
    #[derive(Debug, PartialEq)]
    pub struct Effect<T>(pub T);
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
pub enum AccountEvent {
    Deposited { amount: u64 },
}

#[derive(Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "account", event = AccountEvent)]
pub struct Account {
    balance: u64,
}

type Preview = sim::Effect<u64>;

#[entity]
impl Account {
    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited { amount } => self.balance += amount,
        }
    }

    pub fn simulate(&self, amount: u64) -> sim::Effect<u64> {
        sim::Effect(self.balance + amount)
    }

    pub fn preview(&self, amount: u64) -> Preview {
        sim::Effect(self.balance + amount)
    }

    pub fn deposit(&self, amount: u64) -> reactant::persistence::Effect<AccountEvent, u64> {
        Effect::persist(AccountEvent::Deposited { amount }).then_reply(|s| s.balance)
    }

    // The full form, with the state spelt out.
    pub fn snapshot(&self) -> Effect<AccountEvent, Self, u64> {
        Effect::none().then_reply(|s| s.balance)
    }
}

/// An alias of the user's called `Effect`, standing for Reactant's with the state filled in.
mod aliased {
    use reactant::prelude::*;
    use serde::{Deserialize, Serialize};

    use super::AccountEvent;

    pub type Effect<E, R = ()> = reactant::persistence::Effect<E, Ledger, R>;

    #[derive(Default, Serialize, Deserialize, Entity)]
    #[entity(type_key = "ledger", event = AccountEvent)]
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
}

mod plain {
    use reactant::prelude::{ActorRef, actor};

    pub struct Effect(pub u8);

    #[derive(Default)]
    pub struct Light;

    #[actor]
    impl Light {
        pub fn flash(&self) -> Effect {
            Effect(1)
        }
    }

    pub fn use_it(light: &ActorRef<LightMsg>) {
        let _ = LightRef::flash(light);
    }
}

fn main() {
    let _ = plain::use_it;
    assert_eq!(
        <Account as Default>::default().simulate(1),
        sim::Effect(1)
    );
}
