//! Procedural macros of Reactant: `#[actor]`, `#[derive(Entity)]`, `#[derive(Event)]` and
//! `#[entity]`.
//!
//! The macros arrive with their own issue (#4); this crate exists now so the workspace has the
//! shape the design lays out and `reactant` can re-export the macros without a breaking change.
#![deny(missing_docs)]
