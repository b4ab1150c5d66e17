use reactant::prelude::*;

pub enum OtherMsg {
    Ping,
}

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[actor]
impl Counter {
    pub fn increment(&mut self, ctx: &mut Context<OtherMsg>, by: u64) {
        let _ = ctx;
        self.value += by;
    }

    fn pre_start(&mut self, ctx: &mut Context<OtherMsg>) {
        let _ = ctx;
    }
}

fn main() {}
