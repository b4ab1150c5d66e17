use reactant::prelude::*;

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[actor]
impl Counter {
    pub async fn increment(&mut self, by: u64) {
        self.value += by;
    }
}

fn main() {}
