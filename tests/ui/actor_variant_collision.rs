use reactant::prelude::*;

#[derive(Default)]
pub struct Machine {
    runs: u64,
}

#[actor]
impl Machine {
    pub fn do_it(&mut self) {
        self.runs += 1;
    }

    #[allow(non_snake_case)]
    pub fn doIt(&mut self) {
        self.runs += 2;
    }
}

fn main() {}
