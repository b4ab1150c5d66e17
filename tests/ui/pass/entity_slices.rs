//! `slices = N` sets the entity type's `SLICES`; the impl block's `#[entity]` carries it into
//! the `Entity` impl. Without it an entity has none.

use reactant::persistence::Entity;
use reactant::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
pub enum OrderEvent {
    Placed { amount: u64 },
}

#[derive(Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "order", event = OrderEvent, slices = 8)]
pub struct Order {
    total: u64,
}

#[entity]
impl Order {
    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::Placed { amount } => self.total += amount,
        }
    }

    pub fn place(&self, amount: u64) -> Effect<OrderEvent> {
        Effect::persist(OrderEvent::Placed { amount })
    }
}

#[derive(Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "cart", event = OrderEvent)]
pub struct Cart {
    total: u64,
}

#[entity]
impl Cart {
    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::Placed { amount } => self.total += amount,
        }
    }

    pub fn add(&self, amount: u64) -> Effect<OrderEvent> {
        Effect::persist(OrderEvent::Placed { amount })
    }
}

const _: () = assert!(<Order as Entity>::SLICES == 8);
const _: () = assert!(<Cart as Entity>::SLICES == 0);

fn main() {}
