//! Fronts: a behavior that hands its spawner another reference than the actor's own mailbox.
//!
//! A [`Behavior`] made with [`Behavior::with_front`] carries a factory that, once per spawn,
//! makes the behavior the actor runs and a [`MakeFront`]. Every spawn path (`ActorSystem::spawn`,
//! `spawn_anonymous`, `spawn_with`, and the same three on [`Context`](super::Context)) resolves
//! the behavior with [`Behavior::take_front`] before it creates the actor, then gives the front
//! the new actor's own reference; what the front returns is the [`ActorRef`] the spawner gets.
//! This is how a pool router routes on the sender's thread instead of through its own mailbox
//! (`pattern::router`): its front picks a routee and tells it directly.
//!
//! What a front stands for, and what it keeps:
//!
//! - Inside the actor, [`Context::self_ref`](super::Context::self_ref) stays the actor's own
//!   reference (its mailbox). The front receives what is sent through the returned reference:
//!   `tell`, `try_tell`, messages adapted in the receiver's turn (`tell_adapted`: a message
//!   adapter's or an ask's mapping, which must run in the actor's turn) and the last message
//!   of a stop (`tell_last`). It decides where each goes; the pool's front sends the last two
//!   to the actor's mailbox.
//! - The front names the actor it stands for ([`Recipient::front_of`]) and reports it from
//!   [`Recipient::actor`] and [`Recipient::path`], so the returned reference is that actor in
//!   every other respect: its path, [`to_any`](ActorRef::to_any) (so watching it watches the
//!   actor, `Terminated` names it, and it is equal to the actor's
//!   [`AnyActorRef`](super::AnyActorRef)), [`is_terminated`](ActorRef::is_terminated),
//!   equality and hashing (it is equal to the actor's own `ActorRef`, and hashes the same),
//!   and the asks made through it (a timeout names the actor).
//! - A message the front cannot place should go to the actor's own mailbox, so that it is
//!   handled, or dead-lettered with the mailbox's reason, exactly as without the front.
//!
//! Where a front survives:
//!
//! | behavior spawned                       | the spawner gets                      |
//! |----------------------------------------|---------------------------------------|
//! | `with_front(..)`                       | the front                             |
//! | `Behaviors::supervise(fronted)`        | the front (the supervisor restarts the actor behind it) |
//! | `fronted.receive_signal(..)`           | the front                             |
//! | `Behaviors::setup(\|_\| fronted)`, a handler returning `fronted` | the actor's own reference: the front is made only at spawn |
//!
//! A front runs on the sender's thread: it must not run user code (a panic there would unwind
//! into the sender, not reach the actor's supervisor).

use std::sync::Arc;

use super::actor_ref::{ActorRef, Recipient};
use super::behavior::{Behavior, Kind};

/// Given the new actor's own reference, makes the recipient its spawner gets instead.
pub(crate) type MakeFront<M> = Box<dyn FnOnce(ActorRef<M>) -> Arc<dyn Recipient<M>> + Send>;

/// Makes, once per spawn, the behavior to run and its front (which share state made here).
pub(crate) type FrontedFn<M> = dyn Fn() -> (Behavior<M>, MakeFront<M>) + Send + Sync;

impl<M: Send + 'static> Behavior<M> {
    /// A behavior whose spawner gets a front instead of the actor's own reference (see the
    /// module docs). `make` runs once at each spawn, on the spawner's thread.
    pub(crate) fn with_front(
        make: impl Fn() -> (Behavior<M>, MakeFront<M>) + Send + Sync + 'static,
    ) -> Self {
        Behavior::from_kind(Kind::Fronted(Arc::new(make)))
    }

    /// The behavior to spawn, and the front its spawner gets, if it has one (looking through
    /// supervision).
    pub(crate) fn take_front(self) -> (Behavior<M>, Option<MakeFront<M>>) {
        match self.kind {
            Kind::Fronted(make) => {
                let (inner, front) = make();
                // A front inside a front: the outer one is what the spawner asked for.
                (inner.take_front().0, Some(front))
            }
            Kind::Supervise(supervised) => {
                let (inner, strategy) = *supervised;
                let (inner, front) = inner.take_front();
                let kind = Kind::Supervise(Box::new((inner, strategy)));
                (Behavior::from_kind(kind), front)
            }
            kind => (Behavior::from_kind(kind), None),
        }
    }
}

/// A fronted behavior whose factory's behavior goes through `f` (a wrapper such as a signal
/// handler): the front is kept.
pub(crate) fn map_fronted<M: Send + 'static>(
    make: Arc<FrontedFn<M>>,
    f: impl Fn(Behavior<M>) -> Behavior<M> + Send + Sync + 'static,
) -> Kind<M> {
    Kind::Fronted(Arc::new(move || {
        let (inner, front) = make();
        (f(inner), front)
    }))
}

/// The reference a spawner gets for `actor`: its front's, if the behavior had one.
pub(crate) fn spawned_ref<M: Send + 'static>(
    actor: ActorRef<M>,
    front: Option<MakeFront<M>>,
) -> ActorRef<M> {
    match front {
        Some(front) => ActorRef::from_recipient(front(actor)),
        None => actor,
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::time::Duration;

    use super::*;
    use crate::actor::{ActorPath, ActorSystem, AnyActorRef, Behaviors, Props};
    use crate::supervision::SupervisorStrategy;

    const WAIT: Duration = Duration::from_secs(10);

    /// A front that counts what it is told and passes it on.
    struct Counting {
        actor: ActorRef<u32>,
        told: Arc<AtomicUsize>,
    }

    impl Recipient<u32> for Counting {
        fn tell(&self, msg: u32) {
            self.told.fetch_add(1, Ordering::SeqCst);
            self.actor.tell(msg);
        }

        fn path(&self) -> ActorPath {
            self.actor.path()
        }

        fn actor(&self) -> Option<AnyActorRef> {
            self.actor.to_any()
        }

        fn front_of(&self) -> Option<&ActorRef<u32>> {
            Some(&self.actor)
        }
    }

    /// What a fronted actor reports: its own reference when it starts, then each message.
    enum Seen {
        Me(ActorRef<u32>),
        Got(u32),
    }

    fn fronted(out: &Sender<Seen>, told: &Arc<AtomicUsize>) -> Behavior<u32> {
        let (out, told) = (out.clone(), told.clone());
        Behavior::with_front(move || {
            let out = out.clone();
            let behavior = Behaviors::setup(move |ctx| {
                let _ = out.send(Seen::Me(ctx.self_ref()));
                let out = out.clone();
                Behaviors::receive_message(move |n| {
                    let _ = out.send(Seen::Got(n));
                    Behaviors::same()
                })
            });
            let told = told.clone();
            let front: MakeFront<u32> = Box::new(move |actor| {
                Arc::new(Counting { actor, told }) as Arc<dyn Recipient<u32>>
            });
            (behavior, front)
        })
    }

    /// The reference the next actor to start reports as its own.
    #[track_caller]
    fn started(seen: &Receiver<Seen>) -> ActorRef<u32> {
        match seen.recv_timeout(WAIT) {
            Ok(Seen::Me(me)) => me,
            _ => panic!("the actor did not report its own reference"),
        }
    }

    /// `spawned` went through its front, and is `me` (its actor's own reference) in every
    /// other respect.
    #[track_caller]
    fn check_front(
        spawned: &ActorRef<u32>,
        me: &ActorRef<u32>,
        seen: &Receiver<Seen>,
        told: &AtomicUsize,
    ) {
        assert_eq!(
            spawned, me,
            "the front is not equal to the actor's own reference"
        );
        let hasher = std::hash::RandomState::new();
        assert_eq!(hasher.hash_one(spawned), hasher.hash_one(me));
        assert_eq!(spawned.path(), me.path());
        assert_eq!(spawned.to_any(), me.to_any());
        let before = told.load(Ordering::SeqCst);
        spawned.tell(7);
        assert!(matches!(seen.recv_timeout(WAIT), Ok(Seen::Got(7))));
        assert_eq!(
            told.load(Ordering::SeqCst),
            before + 1,
            "the tell missed the front"
        );
    }

    fn system() -> ActorSystem {
        ActorSystem::builder()
            .name("front")
            .threads(1)
            .build()
            .expect("a system starts")
    }

    #[test]
    fn every_system_spawn_hands_out_the_front_which_is_the_actor_but_for_tell() {
        let system = system();
        let (out, seen) = channel();
        let told = Arc::new(AtomicUsize::new(0));
        let named = system
            .spawn(fronted(&out, &told), "named")
            .expect("spawned");
        check_front(&named, &started(&seen), &seen, &told);
        let anonymous = system
            .spawn_anonymous(fronted(&out, &told))
            .expect("spawned");
        check_front(&anonymous, &started(&seen), &seen, &told);
        let with = system
            .spawn_with(fronted(&out, &told), None, &Props::new())
            .expect("spawned");
        check_front(&with, &started(&seen), &seen, &told);
        let supervised = Behaviors::supervise(fronted(&out, &told))
            .on_failure(SupervisorStrategy::restart())
            .receive_signal(|_, _| Behaviors::same());
        let supervised = system.spawn(supervised, "supervised").expect("spawned");
        check_front(&supervised, &started(&seen), &seen, &told);
        system.shutdown();
    }

    #[test]
    fn every_context_spawn_hands_out_the_front() {
        let system = system();
        let (out, seen) = channel();
        let (children_tx, children) = channel();
        let told = Arc::new(AtomicUsize::new(0));
        let (child_out, child_told) = (out.clone(), told.clone());
        system
            .spawn(
                Behaviors::setup(move |ctx| {
                    let spawned = [
                        ctx.spawn(fronted(&child_out, &child_told), "named"),
                        ctx.spawn_anonymous(fronted(&child_out, &child_told)),
                        ctx.spawn_with(fronted(&child_out, &child_told), None, &Props::new()),
                    ];
                    for child in spawned {
                        let _ = children_tx.send(child.expect("spawned"));
                    }
                    Behaviors::receive_message(|(): ()| Behaviors::same())
                }),
                "parent",
            )
            .expect("spawned");
        // The three start in any order.
        let mut selves: Vec<ActorRef<u32>> = (0..3).map(|_| started(&seen)).collect();
        for _ in 0..3 {
            let child = children.recv_timeout(WAIT).expect("a child");
            let at = selves.iter().position(|me| me.path() == child.path());
            let me = selves.swap_remove(at.expect("the child started"));
            check_front(&child, &me, &seen, &told);
        }
        system.shutdown();
    }

    #[test]
    fn a_fronted_behavior_met_after_spawning_runs_without_its_front() {
        let system = system();
        let (out, seen) = channel();
        let told = Arc::new(AtomicUsize::new(0));
        let inner = parking_lot::Mutex::new(Some(fronted(&out, &told)));
        let late = system
            .spawn(
                Behaviors::setup(move |_| inner.lock().take().unwrap_or_else(Behaviors::empty)),
                "late",
            )
            .expect("spawned");
        assert_eq!(late, started(&seen));
        late.tell(3);
        assert!(matches!(seen.recv_timeout(WAIT), Ok(Seen::Got(3))));
        assert_eq!(
            told.load(Ordering::SeqCst),
            0,
            "a front was made after spawning"
        );
        system.shutdown();
    }
}
