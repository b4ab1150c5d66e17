use reactant::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub enum NoteEvent<'a> {
    Written { text: &'a str },
}

#[derive(Serialize, Deserialize, Event)]
pub enum LabelEvent {
    Labelled { label: &'static str },
}

fn main() {}
