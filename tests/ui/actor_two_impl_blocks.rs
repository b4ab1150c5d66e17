use reactant::prelude::*;

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

#[actor]
impl Counter {
    pub fn get(&self) -> u64 {
        self.value
    }
}

fn main() {}
