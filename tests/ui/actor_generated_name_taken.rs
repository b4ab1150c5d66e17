use reactant::prelude::*;

pub struct CounterMsg;

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[actor]
impl Counter {
    pub fn increment(&mut self, by: u64) {
        self.value += by;
    }
}

fn main() {}
