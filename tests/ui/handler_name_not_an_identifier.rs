use reactant::prelude::*;

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[actor]
impl Counter {
    pub fn __(&mut self) {}

    pub fn _1x(&mut self, by: u64) {
        self.value += by;
    }

    pub fn self_(&self) -> u64 {
        self.value
    }

}

fn main() {}
