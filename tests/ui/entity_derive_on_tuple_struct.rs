use reactant::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
pub struct Counted;

#[derive(Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "counter", event = Counted)]
pub struct Counter(u64);

fn main() {}
