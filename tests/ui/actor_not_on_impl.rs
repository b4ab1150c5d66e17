use reactant::prelude::*;

#[actor]
pub struct Counter {
    pub value: u64,
}

fn main() {}
