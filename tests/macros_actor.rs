//! `#[actor]` end to end: an impl block's public methods become messages, and the actor's
//! reference gets one typed method per handler (issue 4).

mod common;

use std::time::Duration;

use crossbeam_channel::{Sender, unbounded};
use reactant::prelude::*;

use common::{WAIT, recv};

#[derive(Default)]
struct Counter {
    value: u64,
}

#[actor]
impl Counter {
    /// Adds `by` to the count.
    pub fn increment(&mut self, by: u64) {
        self.value += by;
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.value
    }

    /// Adds the current count again, through the actor's own reference: a message to itself.
    pub fn double_later(&mut self, ctx: &mut Context<CounterMsg>) {
        ctx.self_ref().increment(self.value);
    }

    /// Panics: a supervisor decides what happens next.
    pub fn fail(&mut self) {
        panic!("the counter was asked to fail");
    }

    /// A copy of the whole state: `Self` in a handler means the actor's type.
    pub fn snapshot(&self) -> Self {
        Counter { value: self.value }
    }

    /// A plain method: not a message.
    fn doubled(&self) -> u64 {
        self.value * 2
    }

    /// An associated function without `self` stays a constructor.
    pub fn starting_at(value: u64) -> Self {
        Counter { value }
    }
}

#[test]
fn a_handler_without_a_return_value_is_a_tell_and_one_with_a_value_is_an_ask() {
    let system = common::system("macro-tell-ask");
    let counter: ActorRef<CounterMsg> = system.spawn(Counter::default(), "counter").unwrap();
    counter.increment(5);
    counter.increment(37);
    assert_eq!(counter.get().wait(WAIT).unwrap(), 42);
}

#[test]
fn the_message_enum_can_be_sent_by_hand() {
    let system = common::system("macro-enum");
    let counter = system.spawn(Counter::starting_at(1), "counter").unwrap();
    counter.tell(CounterMsg::Increment { by: 2 });
    let value = counter
        .ask(|reply_to| CounterMsg::Get { reply_to })
        .wait(WAIT)
        .unwrap();
    assert_eq!(value, 3);
}

#[test]
fn a_handler_can_use_its_context() {
    let system = common::system("macro-context");
    let counter = system.spawn(Counter::starting_at(4), "counter").unwrap();
    counter.double_later();
    // The self-addressed increment is queued behind `double_later`, before this ask.
    assert!(common::eventually(|| counter.get().wait(WAIT).unwrap() == 8));
}

#[test]
fn self_in_a_handler_signature_is_the_actor_type() {
    let system = common::system("macro-self");
    let counter = system.spawn(Counter::starting_at(9), "counter").unwrap();
    let copy: Counter = counter.snapshot().wait(WAIT).unwrap();
    assert_eq!(copy.value, 9);
    assert_eq!(copy.doubled(), 18);
}

#[test]
fn a_macro_actor_spawned_from_a_factory_restarts_from_scratch() {
    let system = common::system("macro-restart");
    let counter = system
        .spawn(
            Behaviors::supervise(Behaviors::actor(Counter::default))
                .on_failure(SupervisorStrategy::restart()),
            "counter",
        )
        .unwrap();
    counter.increment(3);
    assert_eq!(counter.get().wait(WAIT).unwrap(), 3);
    counter.fail();
    counter.increment(1);
    assert_eq!(counter.get().wait(WAIT).unwrap(), 1);
}

/// A parent that spawns children from a handler and watches them.
struct Parent {
    events: Sender<String>,
}

#[actor(msg = ParentCommand, ref_trait = ParentApi)]
impl Parent {
    /// Spawns a counter under `name` and returns its reference.
    pub fn spawn_counter(
        &mut self,
        ctx: &mut Context<ParentCommand>,
        name: String,
    ) -> ActorRef<CounterMsg> {
        let child = ctx.spawn(Counter::default(), &name).unwrap();
        ctx.watch(&child);
        child
    }

    /// Stops `child`.
    pub fn stop_child(&mut self, ctx: &mut Context<ParentCommand>, child: ActorRef<CounterMsg>) {
        ctx.stop(&child).unwrap();
    }

    /// Stops the parent (and so its children).
    pub fn shut_down(&mut self, ctx: &mut Context<ParentCommand>) {
        ctx.stop_self();
    }

    fn pre_start(&mut self, ctx: &mut Context<ParentCommand>) {
        self.report(format!("started {}", ctx.path()));
    }

    fn on_signal(&mut self, signal: &Signal) {
        if let Signal::Terminated(child) = signal {
            self.report(format!("terminated {}", child.path()));
        }
    }

    fn post_stop(&mut self) {
        self.report("stopped".to_owned());
    }

    fn report(&self, event: String) {
        let _ = self.events.send(event);
    }
}

#[test]
fn renamed_items_and_lifecycle_hooks_of_the_impl_block() {
    let system = common::system("macro-hooks");
    let (events, seen) = unbounded();
    let parent: ActorRef<ParentCommand> = system.spawn(Parent { events }, "parent").unwrap();
    assert_eq!(recv(&seen), "started /user/parent");
    let child = parent.spawn_counter("kid".to_owned()).wait(WAIT).unwrap();
    assert_eq!(child.path().as_str(), "/user/parent/kid");
    child.increment(2);
    assert_eq!(child.get().wait(WAIT).unwrap(), 2);
    parent.stop_child(child);
    assert_eq!(recv(&seen), "terminated /user/parent/kid");
    parent.shut_down();
    assert_eq!(recv(&seen), "stopped");
}

/// A generic actor: the message enum and the extension trait take its type parameters.
struct Store<T> {
    items: Vec<T>,
}

#[actor]
impl<T: Clone + Send + 'static> Store<T> {
    /// Keeps `item`.
    pub fn put(&mut self, item: T) {
        self.items.push(item);
    }

    /// The item at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<T> {
        self.items.get(index).cloned()
    }

    /// How many items are kept: a reply that does not mention `T`.
    pub fn len(&self) -> usize {
        self.items.len()
    }
}

#[test]
fn a_generic_actor_has_a_generic_protocol() {
    let system = common::system("macro-generic");
    let names: ActorRef<StoreMsg<String>> =
        system.spawn(Store { items: Vec::new() }, "names").unwrap();
    names.put("ada".to_owned());
    names.put("grace".to_owned());
    assert_eq!(names.get(1).wait(WAIT).unwrap().as_deref(), Some("grace"));
    assert_eq!(names.len().wait(WAIT).unwrap(), 2);
    let numbers = system
        .spawn(Store::<u8> { items: vec![7] }, "numbers")
        .unwrap();
    assert_eq!(numbers.get(0).wait(WAIT).unwrap(), Some(7));
    assert_eq!(numbers.get(1).wait(WAIT).unwrap(), None);
}

/// No `use` at all: the generated code names everything by absolute path.
mod bare {
    #[derive(Default)]
    pub struct Tally {
        total: u32,
    }

    #[::reactant::actor]
    impl Tally {
        /// Counts `n` more.
        pub fn add(&mut self, n: u32) {
            self.total += n;
        }

        /// The total so far.
        pub fn total(&self) -> u32 {
            self.total
        }
    }
}

#[test]
fn the_generated_code_needs_no_imports() {
    use bare::TallyRef;
    let system = common::system("macro-bare");
    let tally = system.spawn(bare::Tally::default(), "tally").unwrap();
    tally.add(2);
    tally.add(3);
    assert_eq!(tally.total().wait(Duration::from_secs(5)).unwrap(), 5);
}

/// Handlers of issue 15's "refused, though reasonable": arguments of function types borrow only
/// when called, `&'static str` is `'static`, and a handler under a `#[cfg]` that is off leaves
/// nothing behind.
type Rule = Box<dyn Fn(&str) -> bool + Send>;

#[derive(Default)]
struct Filter {
    rules: Vec<Rule>,
    labels: Vec<&'static str>,
}

#[actor]
impl Filter {
    pub fn add_rule(&mut self, rule: Box<dyn Fn(&str) -> bool + Send>) {
        self.rules.push(rule);
    }

    pub fn add_fn(&mut self, rule: fn(&str) -> bool) {
        self.rules.push(Box::new(rule));
    }

    pub fn label(&mut self, label: &'static str) {
        self.labels.push(label);
    }

    pub fn labels(&self) -> Vec<&'static str> {
        self.labels.clone()
    }

    pub fn accepts(&self, text: String) -> bool {
        self.rules.iter().all(|rule| rule(&text))
    }

    #[cfg(any())]
    pub fn never_compiled(&self, missing: NoSuchType) -> NoSuchType {
        missing
    }

    #[cfg(not(any()))]
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }
}

#[test]
fn function_arguments_static_strs_and_cfg_handlers() {
    let system = ActorSystem::new("macros-actor-args").expect("system");
    let filter = system.spawn(Filter::default(), "filter").expect("spawn");
    filter.add_fn(|text| !text.is_empty());
    filter.add_rule(Box::new(|text| text.len() < 8));
    filter.label("short");
    assert!(
        filter
            .accepts("hello".to_owned())
            .wait(WAIT)
            .expect("reply")
    );
    assert!(
        !filter
            .accepts("far too long".to_owned())
            .wait(WAIT)
            .expect("reply")
    );
    assert_eq!(filter.labels().wait(WAIT).expect("reply"), ["short"]);
    assert_eq!(filter.rule_count().wait(WAIT).expect("reply"), 2);
    system.shutdown();
}
