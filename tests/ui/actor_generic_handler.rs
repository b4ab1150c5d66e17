use reactant::prelude::*;

#[derive(Default)]
pub struct Log {
    lines: Vec<String>,
}

#[actor]
impl Log {
    pub fn write<T: ToString + Send + 'static>(&mut self, line: T) {
        self.lines.push(line.to_string());
    }
}

fn main() {}
