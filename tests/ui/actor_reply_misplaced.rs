//! `#[reply]` where it means nothing: on the context, with arguments, on a method that is not a
//! handler. One error each.

use reactant::prelude::*;

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[actor]
impl Counter {
    pub fn get(&self, #[reply] ctx: &mut Context<CounterMsg>, #[reply] reply_to: ActorRef<u64>) {
        let _ = ctx;
        reply_to.tell(self.value);
    }

    pub fn peek(&self, #[reply(later)] reply_to: ActorRef<u64>) {
        reply_to.tell(self.value);
    }

    fn helper(&self, #[reply] reply_to: ActorRef<u64>) {
        reply_to.tell(self.value);
    }
}

fn main() {}
