//! A handler under a `#[cfg]` that is off takes its variant, match arm and ref methods with it;
//! one under a `#[cfg]` that is on keeps them. `cfg(any())` is always off, `cfg(all())` on.

use reactant::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[actor]
impl Counter {
    pub fn increment(&mut self, by: u64) {
        self.value += by;
    }

    #[cfg(any())]
    pub fn only_when_off(&self, missing: DoesNotExist) -> DoesNotExist {
        missing
    }

    #[cfg_attr(any(), cfg(any()))]
    #[cfg(all())]
    pub fn get(&self) -> u64 {
        self.value
    }

    #[cfg(any())]
    pub fn twice(&self) -> u64 {
        self.value * 2
    }

    #[cfg(not(any()))]
    pub fn twice(&self) -> u64 {
        self.value + self.value
    }

    #[cfg(any())]
    fn pre_start(&mut self) {}
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

#[entity]
impl Account {
    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited { amount } => self.balance += amount,
        }
    }

    #[cfg(any())]
    pub fn audit(&self) -> Effect<AccountEvent, u64> {
        Effect::reply(self.balance)
    }

    pub fn balance(&self) -> u64 {
        self.balance
    }
}

fn main() {
    let system = ActorSystem::new("pass").expect("a system");
    let counter = system.spawn(Counter::default(), "counter").expect("an actor");
    counter.increment(2);
    let wait = std::time::Duration::from_secs(3);
    assert_eq!(counter.get().wait(wait).expect("a reply"), 2);
    assert_eq!(counter.twice().wait(wait).expect("a reply"), 4);
}
