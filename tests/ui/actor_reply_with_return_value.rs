use reactant::prelude::*;

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[actor]
impl Counter {
    pub fn get(&self, #[reply] reply_to: ActorRef<u64>) -> u64 {
        reply_to.tell(self.value);
        self.value
    }
}

fn main() {}
