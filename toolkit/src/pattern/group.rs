//! Group routers: one address in front of whatever actors are registered under a receptionist
//! [`ServiceKey`] (Akka Typed's `Routers.group`).
//!
//! The router does not own its routees: they are spawned anywhere and register themselves (or
//! are registered) with the [`Receptionist`]. Each message goes to one of the actors listed
//! under the key when it is routed, round-robin (the default) or at random; an actor that
//! stops leaves the listing (and the rotation) by itself; one that has stopped before the
//! receptionist heard refuses, and the message goes to the next. A message that arrives while
//! nothing is registered (or every listed actor refuses) goes to dead letters with
//! [`DeadLetterReason::NoRoutees`].

use std::sync::Arc;

use super::receptionist::{Receptionist, ServiceKey};
use crate::actor::{Actor, ActorRef, Behavior, Behaviors, Context};
use crate::dead_letters::DeadLetterReason;

/// A group router's configuration; becomes a [`Behavior`] to spawn (see
/// [`Routers::group`](super::Routers::group)).
pub struct GroupRouter<M: Send + 'static> {
    pub(super) key: ServiceKey<M>,
    pub(super) random: bool,
}

impl<M: Send + 'static> GroupRouter<M> {
    /// Each message goes to the next registered actor in turn (the default).
    pub fn with_round_robin(mut self) -> Self {
        self.random = false;
        self
    }

    /// Each message goes to a registered actor picked at random.
    pub fn with_random(mut self) -> Self {
        self.random = true;
        self
    }
}

impl<M: Send + 'static> From<GroupRouter<M>> for Behavior<M> {
    fn from(group: GroupRouter<M>) -> Self {
        let GroupRouter { key, random } = group;
        Behaviors::actor(move || Group {
            key: key.clone(),
            random,
            receptionist: None,
            routees: Vec::new(),
            seen: u64::MAX,
            next: 0,
        })
    }
}

struct Group<M: Send + 'static> {
    key: ServiceKey<M>,
    random: bool,
    receptionist: Option<Arc<Receptionist>>,
    routees: Vec<ActorRef<M>>,
    /// The receptionist's version `routees` was read at.
    seen: u64,
    next: usize,
}

impl<M: Send + 'static> Actor for Group<M> {
    type Msg = M;

    fn pre_start(&mut self, ctx: &mut Context<M>) {
        self.receptionist = Some(ctx.extension_or_make(Receptionist::default));
    }

    fn handle(&mut self, ctx: &mut Context<M>, msg: M) {
        let Some(receptionist) = &self.receptionist else {
            return ctx.dead_letter(msg, DeadLetterReason::NoRoutees);
        };
        let version = receptionist.version();
        if version != self.seen {
            self.routees = receptionist.find(&self.key).into_services();
            self.seen = version;
        }
        // A routee that stopped since the listing was read is skipped; one that stops between
        // that check and the tell refuses, and leaves too: the message goes to the next.
        self.routees.retain(|r| !r.is_terminated());
        let mut msg = msg;
        while !self.routees.is_empty() {
            let n = self.routees.len();
            let at = if self.random {
                fastrand::usize(..n)
            } else {
                let at = self.next % n;
                self.next = self.next.wrapping_add(1);
                at
            };
            match self.routees[at].try_tell(msg) {
                Ok(()) => return,
                Err(refused) => {
                    msg = refused;
                    self.routees.remove(at);
                }
            }
        }
        ctx.dead_letter(msg, DeadLetterReason::NoRoutees);
    }
}
