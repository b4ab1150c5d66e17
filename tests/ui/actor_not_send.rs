use std::rc::Rc;

use reactant::prelude::*;

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[actor]
impl Counter {
    pub fn add(&mut self, by: Rc<u64>) {
        self.value += *by;
    }

    pub fn shared(&self) -> Rc<u64> {
        Rc::new(self.value)
    }
}

fn main() {}
