use reactant::prelude::*;

pub struct Store<T> {
    items: Vec<T>,
}

#[actor]
impl<T: Clone> Store<T> {
    pub fn put(&mut self, item: T) {
        self.items.push(item);
    }

    pub fn all(&self) -> Vec<T> {
        self.items.clone()
    }
}

fn main() {}
