use std::sync::mpsc::Sender;

use reactant::prelude::*;

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[actor]
impl Counter {
    pub fn get(&self, #[reply] reply_to: Sender<u64>) {
        let _ = reply_to.send(self.value);
    }
}

fn main() {}
