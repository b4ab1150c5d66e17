//! Effects: what a command handler decides. Persist events (then the state changes, then the
//! side effects run), or do nothing, or stop; and what to run or reply once that is done.

use std::any::Any;

use crate::actor::ActorRef;

/// What an event-sourced entity does about one command: an action, then side effects that run
/// in order **after** the action is done — after the events are durable and applied, for a
/// persist — and see the state as it is then.
///
/// Its parameters are `Effect<Event, State, Reply>`: `E` is the event type, `S` the state, `R`
/// the type of the reply (`()`, the default, when there is none or the command carries its own
/// reply address; use [`then_reply_to`](Self::then_reply_to) then). That full form is the one
/// spelling that names the state. In an `#[entity]` impl block a command handler writes
/// `Effect<Event, Reply>`, or `Effect<Event>` without a reply, and the macro fills the state in:
/// there a second parameter is always the reply (`Effect<AccountEvent, Account>` in `Account`'s
/// block is a compile error), and the return type must be spelt `Effect<..>`, not an alias,
/// which the macro cannot see through (a command returning an alias is refused).
///
/// For an entity written by hand, an alias names the effect once, so that the closures of the
/// side effects know the state's type:
///
/// ```
/// use reactant::prelude::*;
/// use reactant::persistence::Effect;
///
/// #[derive(Default)]
/// struct Account { balance: u64 }
/// enum AccountEvent { Deposited { amount: u64 } }
/// type AccountEffect = Effect<AccountEvent, Account, ()>;
///
/// fn deposit(amount: u64, reply_to: ActorRef<u64>) -> AccountEffect {
///     AccountEffect::persist(AccountEvent::Deposited { amount })
///         .then_reply_to(reply_to, |account| account.balance)
/// }
/// # drop(deposit);
/// ```
#[must_use = "an effect does nothing unless the command handler returns it"]
pub struct Effect<E, S, R = ()> {
    pub(crate) action: Action<E>,
    pub(crate) then: Vec<SideEffect<S>>,
    pub(crate) reply: Option<Reply<S, R>>,
}

/// Computes a reply from the state after the action.
pub(crate) type Reply<S, R> = Box<dyn FnOnce(&S) -> R + Send>;

/// The action of an effect.
pub(crate) enum Action<E> {
    /// Nothing to persist.
    None,
    /// Persist these events atomically (all or none).
    Persist(Vec<E>),
    /// The command was not handled (it is logged as unhandled).
    Unhandled,
    /// Set the command aside until an `unstash_all` (it must be the entity's command type).
    Stash(Box<dyn Any + Send>),
}

/// What runs after the action, in order.
pub(crate) enum SideEffect<S> {
    Run(Box<dyn FnOnce(&S) + Send>),
    Stop,
    UnstashAll,
}

impl<E, S, R> Effect<E, S, R> {
    fn with_action(action: Action<E>) -> Self {
        Self {
            action,
            then: Vec::new(),
            reply: None,
        }
    }

    /// Persists one event; the state changes only once it is durable.
    pub fn persist(event: E) -> Self {
        Self::with_action(Action::Persist(vec![event]))
    }

    /// Persists several events atomically: all of them, or (on failure) none.
    pub fn persist_all(events: impl IntoIterator<Item = E>) -> Self {
        Self::with_action(Action::Persist(events.into_iter().collect()))
    }

    /// Persists nothing; the side effects run at once.
    pub fn none() -> Self {
        Self::with_action(Action::None)
    }

    /// Reports the command as unhandled; the side effects run at once.
    pub fn unhandled() -> Self {
        Self::with_action(Action::Unhandled)
    }

    /// Stops the entity (after the side effects).
    pub fn stop() -> Self {
        Self::none().then_stop()
    }

    /// Sets `command` aside, to be handled after a later `unstash_all`, in order, before
    /// newer commands. The handler consumed the command, so it hands it back here; it must be
    /// the entity's command type. The stash holds as many commands as the entity's command
    /// buffer; beyond that a command is dropped with an error in the log.
    pub fn stash<C: Send + 'static>(command: C) -> Self {
        Self::with_action(Action::Stash(Box::new(command)))
    }

    /// Handles the stashed commands next, oldest first.
    pub fn unstash_all() -> Self {
        Self::none().then_unstash_all()
    }

    /// After the other side effects, handles the stashed commands next, oldest first.
    pub fn then_unstash_all(mut self) -> Self {
        self.then.push(SideEffect::UnstashAll);
        self
    }

    /// Persists nothing and replies `reply`.
    pub fn reply(reply: R) -> Self
    where
        R: Send + 'static,
    {
        Self::none().then_reply(move |_| reply)
    }

    /// Runs `f` with the state after the action.
    pub fn then_run(mut self, f: impl FnOnce(&S) + Send + 'static) -> Self {
        self.then.push(SideEffect::Run(Box::new(f)));
        self
    }

    /// Replies with what `f` computes from the state after the action.
    pub fn then_reply(mut self, f: impl FnOnce(&S) -> R + Send + 'static) -> Self {
        self.reply = Some(Box::new(f));
        self
    }

    /// Explicitly sends no reply.
    pub fn no_reply(mut self) -> Self {
        self.reply = None;
        self
    }

    /// Stops the entity after the other side effects.
    pub fn then_stop(mut self) -> Self {
        self.then.push(SideEffect::Stop);
        self
    }

    /// Sends the reply (if any) to `reply_to`: the effect becomes one without a reply type, as
    /// the entity's command handler returns.
    pub fn with_reply_to(self, reply_to: ActorRef<R>) -> Effect<E, S>
    where
        R: Send + 'static,
        S: 'static,
    {
        let Effect {
            action,
            mut then,
            reply,
        } = self;
        if let Some(reply) = reply {
            then.push(SideEffect::Run(Box::new(move |state: &S| {
                reply_to.tell(reply(state))
            })));
        }
        Effect {
            action,
            then,
            reply: None,
        }
    }
}

impl<E, S> Effect<E, S> {
    /// Replies to `reply_to` with what `f` computes from the state after the action.
    pub fn then_reply_to<T: Send + 'static>(
        self,
        reply_to: ActorRef<T>,
        f: impl FnOnce(&S) -> T + Send + 'static,
    ) -> Self {
        self.then_run(move |state| reply_to.tell(f(state)))
    }
}
