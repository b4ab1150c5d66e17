//! The `Entity` trait: an event-sourced entity *type* — its state, commands, events and
//! handlers in one place — which `#[derive(Entity)]` and `#[entity]` implement, and from which
//! sharding builds one [`EventSourcedBehavior`] per entity id.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::effect::Effect;
use super::entity::{EntityContext, EntitySignal, EventSourcedBehavior, Persistence};
use super::event::Event;
use super::journal::PersistenceId;
use super::slice::{slice_of, slice_tag};

/// An event-sourced entity type. The state is `Self`; a new entity starts from
/// `Self::default()`, its persistence id is `"{TYPE_KEY}|{entity id}"`.
///
/// The macros write this impl (see the README); by hand:
///
/// ```
/// use reactant::prelude::*;
/// use reactant::persistence::{Effect, Entity, Event, Persistence};
/// use serde::{Deserialize, Serialize};
/// use std::time::Duration;
///
/// #[derive(Serialize, Deserialize)]
/// struct Deposited { amount: u64 }
/// impl Event for Deposited {}
///
/// enum AccountCommand { Deposit { amount: u64, reply_to: ActorRef<u64> } }
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Account { balance: u64 }
///
/// impl Entity for Account {
///     const TYPE_KEY: &'static str = "account";
///     type Event = Deposited;
///     type Command = AccountCommand;
///     fn apply(&mut self, event: &Deposited) { self.balance += event.amount; }
///     fn handle_command(&self, command: AccountCommand) -> Effect<Deposited, Self> {
///         match command {
///             AccountCommand::Deposit { amount, reply_to } => Effect::persist(Deposited { amount })
///                 .then_reply_to(reply_to, |account: &Account| account.balance),
///         }
///     }
/// }
///
/// let system = ActorSystem::new("docs")?;
/// let persistence = Persistence::in_memory()?;
/// let account = system.spawn(Account::behavior("acc-1", persistence), "acc-1")?;
/// let balance = account
///     .ask(|reply_to| AccountCommand::Deposit { amount: 100, reply_to })
///     .wait(Duration::from_secs(3))?;
/// assert_eq!(balance, 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Entity: Default + Serialize + DeserializeOwned + Send + 'static {
    /// The entity type's name: the first part of each persistence id, and the sharding key.
    const TYPE_KEY: &'static str;

    /// The number of slices of this type's events (`#[entity(.., slices = N)]`), 0 for none
    /// (the default). With `N` > 0 each event is also tagged
    /// [`slice_tag`]`(TYPE_KEY, `[`slice_of`]`(entity_id, N))`, so that `N` projections
    /// read the type's events in parallel, each one slice, one entity's events in order
    /// ([`Projection::run_slices`](crate::projection::Projection::run_slices)).
    /// `#[entity(slices = ..)]` takes 1 to [`MAX_SLICES`](super::MAX_SLICES). Changing `N`
    /// moves entities to other slices while their stored events keep their old tags: each
    /// event is still read by one slice, but an entity's events from before and after the
    /// change may then be in two slices, handled out of order with each other.
    const SLICES: u32 = 0;

    /// What the entity persists.
    type Event: Event;

    /// What the entity handles.
    type Command: Send + 'static;

    /// The event handler: folds one durable event into the state.
    fn apply(&mut self, event: &Self::Event);

    /// The command handler: reads the state and decides.
    fn handle_command(&self, command: Self::Command) -> Effect<Self::Event, Self>;

    /// The command handler with the entity's context: its actor context (timers, asks,
    /// message adapters, its own reference), its id, and for a sharded entity its sharding
    /// side ([`EntityContext::sharding`]: passivate, remember). The runtime calls this one;
    /// the default calls [`handle_command`](Self::handle_command). `#[entity]` writes it when
    /// a handler takes a context argument.
    fn handle_command_in(
        &self,
        ctx: &mut EntityContext<'_, Self::Command>,
        command: Self::Command,
    ) -> Effect<Self::Event, Self> {
        let _ = ctx;
        self.handle_command(command)
    }

    /// Called on each of the entity's signals with its context (see
    /// [`EventSourcedBehavior::receive_signal_in`]): e.g. on `RecoveryCompleted`, resume
    /// unfinished work by sending itself a command. The default does nothing.
    fn on_signal(&self, ctx: &mut EntityContext<'_, Self::Command>, signal: &EntitySignal) {
        let _ = (ctx, signal);
    }

    /// Adjusts the behavior built for each entity (snapshots, retention, signals). The
    /// default keeps the builder's defaults.
    fn configure(
        behavior: EventSourcedBehavior<Self::Command, Self::Event, Self>,
    ) -> EventSourcedBehavior<Self::Command, Self::Event, Self> {
        behavior
    }

    /// The behavior of the entity `entity_id`, persisting to `persistence` under
    /// `"{TYPE_KEY}|{entity_id}"`, configured by [`configure`](Self::configure). Sharding calls
    /// this for each entity it starts; spawn it yourself to run an entity without sharding.
    fn behavior(
        entity_id: &str,
        persistence: Arc<Persistence>,
    ) -> EventSourcedBehavior<Self::Command, Self::Event, Self> {
        let mut behavior = EventSourcedBehavior::with_context(
            PersistenceId::of(Self::TYPE_KEY, entity_id),
            persistence,
            Self::default,
            |ctx: &mut EntityContext<'_, Self::Command>, state: &Self, command| {
                state.handle_command_in(ctx, command)
            },
            |state: &mut Self, event| state.apply(event),
        )
        .receive_signal_in(|ctx, state: &Self, signal| state.on_signal(ctx, signal));
        if Self::SLICES > 0 {
            let slice = slice_of(entity_id, Self::SLICES);
            behavior = behavior.with_tag(slice_tag(Self::TYPE_KEY, slice));
        }
        Self::configure(behavior)
    }
}
