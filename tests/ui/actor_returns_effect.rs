use reactant::persistence::Effect;
use reactant::prelude::*;

type CounterEffect = Effect<u64, Counter>;

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[actor]
impl Counter {
    pub fn increment(&mut self, by: u64) -> Effect<u64, Counter> {
        Effect::persist(by)
    }

    pub fn decrement(&mut self, by: u64) -> CounterEffect {
        self.value -= by;
        Effect::none()
    }
}

fn main() {}
