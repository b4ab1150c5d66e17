use reactant::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
pub enum OrderEvent {
    Placed { amount: u64 },
}

#[derive(Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "order", event = OrderEvent, slices = "8")]
pub struct Order {
    total: u64,
}

fn main() {}
