use reactant::prelude::*;

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[actor]
impl Actor for Counter {
    type Msg = u64;

    fn handle(&mut self, _ctx: &mut Context<u64>, by: u64) {
        self.value += by;
    }
}

fn main() {}
