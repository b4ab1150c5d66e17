use reactant::prelude::*;

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[actor(mgs = CounterCommand)]
impl Counter {
    pub fn increment(&mut self, by: u64) {
        self.value += by;
    }
}

fn main() {}
