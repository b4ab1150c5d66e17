use reactant::prelude::*;
use std::time::Duration;

/// What a counter understands: one enum per actor protocol.
enum Counter {
    Add(u64),
    Get { reply_to: ActorRef<u64> },
}

/// A behavior handles one message and returns the behavior for the next one.
fn counter(total: u64) -> Behavior<Counter> {
    Behaviors::receive_message(move |msg| match msg {
        Counter::Add(n) => counter(total + n),
        Counter::Get { reply_to } => {
            reply_to.tell(total);
            Behaviors::same()
        }
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let system = ActorSystem::new("quickstart")?;
    let counter = system.spawn(counter(0), "counter")?;
    counter.tell(Counter::Add(2));
    counter.tell(Counter::Add(40));
    let total = counter
        .ask(|reply_to| Counter::Get { reply_to })
        .wait(Duration::from_secs(1))?;
    println!("{} counted {total}", counter.path());
    Ok(()) // dropping the system stops every actor and joins its threads
}
