//! An ask whose argument is called `reply_to` without `#[reply]`: it would clash with the
//! generated field; the help says how to answer later instead.

use reactant::prelude::*;

#[derive(Default)]
pub struct Relay {
    value: u64,
}

#[actor]
impl Relay {
    pub fn forward(&self, reply_to: ActorRef<u64>) -> bool {
        reply_to.tell(self.value);
        true
    }
}

fn main() {}
