//! Arguments of function and trait-object types own their data whatever they borrow when
//! called; `&'static str` is `'static` and `Send`, so it is accepted too.

use reactant::prelude::*;

#[derive(Default)]
pub struct Filter {
    rules: Vec<Box<dyn Fn(&str) -> bool + Send>>,
    names: Vec<&'static str>,
}

#[actor]
impl Filter {
    pub fn add_rule(&mut self, rule: Box<dyn Fn(&str) -> bool + Send>) {
        self.rules.push(rule);
    }

    pub fn add_fn(&mut self, rule: fn(&str) -> bool) {
        self.rules.push(Box::new(rule));
    }

    pub fn add_named(&mut self, rule: Box<dyn for<'a> Fn(&'a str) -> &'a str + Send>) {
        let _ = rule("x");
    }

    pub fn name(&mut self, name: &'static str) {
        self.names.push(name);
    }

    pub fn first_name(&self) -> Option<&'static str> {
        self.names.first().copied()
    }

    pub fn accepts(&self, text: String) -> bool {
        self.rules.iter().all(|rule| rule(&text))
    }
}

fn main() {
    let system = ActorSystem::new("pass").expect("a system");
    let filter = system.spawn(Filter::default(), "filter").expect("an actor");
    filter.add_fn(|text| !text.is_empty());
    filter.add_rule(Box::new(|text| text.len() < 10));
    filter.name("short");
    let wait = std::time::Duration::from_secs(3);
    assert!(filter.accepts("hello".to_owned()).wait(wait).expect("a reply"));
    assert_eq!(filter.first_name().wait(wait).expect("a reply"), Some("short"));
}
