use reactant::prelude::*;

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[actor]
impl Counter {
    pub fn into_value(self) -> u64 {
        self.value
    }
}

fn main() {}
