use reactant::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
pub enum DoorEvent {
    Opened,
    Closed,
}

#[derive(Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "door", event = DoorEvent)]
pub enum Door {
    #[default]
    Closed,
    Open,
}

fn main() {}
