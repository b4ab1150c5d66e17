use reactant::prelude::*;

#[derive(Default)]
pub struct Greeter {
    greeted: Vec<String>,
}

#[actor]
impl Greeter {
    pub fn greet(&mut self, whom: &str) {
        self.greeted.push(whom.to_owned());
    }
}

fn main() {}
