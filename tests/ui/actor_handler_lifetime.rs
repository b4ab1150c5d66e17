use reactant::prelude::*;

#[derive(Default)]
pub struct Greeter {
    greeted: Vec<String>,
}

#[actor]
impl Greeter {
    pub fn greet<'a>(&mut self, whom: String) {
        self.greeted.push(whom);
    }
}

fn main() {}
