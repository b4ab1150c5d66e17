use reactant::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(version = 0)]
pub enum AccountEvent {
    Deposited { amount: u64 },
}

fn main() {}
