//! Procedural macros of Reactant: `#[actor]`, `#[derive(Event)]`, `#[derive(Entity)]` and
//! `#[entity]`. Use them through `reactant`, which re-exports them (`use reactant::prelude::*`).
//!
//! They turn plain Rust into the runtime's types, and nothing more: what they generate is what
//! one would write by hand (an enum, a `match`, a trait impl), so it costs nothing at run time.
//!
//! - [`macro@actor`] on an impl block: its public methods become the messages of an `Actor`,
//!   and the actor's `ActorRef` gets one typed method per message.
//! - [`derive@Event`]: an event type's manifest (stable name, schema version), tags and
//!   upcaster.
//! - [`derive@Entity`] on a struct and [`macro@entity`] on its impl block: an event-sourced
//!   entity, with `apply` as its event handler and its public methods as its commands.
//!
//! # Errors
//!
//! Every misuse the macros can see is a compile error at the user's own code, saying what is
//! wrong and how to fix it, and all of them come at once:
//!
//! ```text
//! error: a handler argument cannot borrow (`&str`): it travels in a message to the actor's thread, so it must own its data
//!        help: use `String` instead
//!   --> src/greeter.rs:10:35
//!    |
//! 10 |     pub fn greet(&mut self, whom: &str) {
//!    |                                   ^^^^
//! ```
//!
//! The compile-fail suite in the workspace's `tests/ui/` holds one case per misuse.
//!
//! # Hygiene
//!
//! Generated code names everything by absolute path (`::reactant::..`), so it needs no `use`
//! in the user's module; its locals start with `__reactant_`; it passes `clippy -D warnings`.
//! The generated enums and traits are `pub`; they allow `dead_code` (a protocol need not be
//! used whole) and `private_interfaces` (a handler may take a type private to its module).
#![deny(missing_docs)]

mod ast;
mod attr;
mod errors;
mod expand;
mod names;
#[cfg(test)]
mod no_panic;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Makes an `Actor` of a type from an impl block whose public methods are its messages.
///
/// ```
/// use reactant::prelude::*;
/// use std::time::Duration;
///
/// #[derive(Default)]
/// struct Counter { value: u64 }
///
/// #[actor]
/// impl Counter {
///     /// Adds `by` to the count.
///     pub fn increment(&mut self, by: u64) { self.value += by; }
///
///     /// The current count.
///     pub fn get(&self) -> u64 { self.value }
/// }
///
/// let system = ActorSystem::new("docs")?;
/// let counter: ActorRef<CounterMsg> = system.spawn(Counter::default(), "counter")?;
/// counter.increment(5);                                    // a tell
/// assert_eq!(counter.get().wait(Duration::from_secs(3))?, 5); // an ask
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// What it generates, beside the impl block itself (paths shortened):
///
/// ```text
/// /// The messages of `Counter`: one variant per handler ...
/// pub enum CounterMsg {
///     /// Adds `by` to the count.
///     Increment { by: u64 },
///     /// The current count.
///     Get { reply_to: ActorRef<u64> },
/// }
///
/// impl Actor for Counter {
///     type Msg = CounterMsg;
///     fn handle(&mut self, ctx: &mut Context<CounterMsg>, msg: CounterMsg) {
///         match msg {
///             CounterMsg::Increment { by } => { Self::increment(self, by); }
///             CounterMsg::Get { reply_to } => reply_to.tell(Self::get(self)),
///         }
///     }
/// }
///
/// /// Typed methods on a reference to `Counter` ...
/// pub trait CounterRef {
///     /// Adds `by` to the count.
///     fn increment(&self, by: u64);
///     /// The current count.
///     fn get(&self) -> Pending<u64>;
/// }
///
/// impl CounterRef for ActorRef<CounterMsg> {
///     fn increment(&self, by: u64) { ActorRef::tell(self, CounterMsg::Increment { by }) }
///     fn get(&self) -> Pending<u64> { ActorRef::ask(self, |reply_to| CounterMsg::Get { reply_to }) }
/// }
/// ```
///
/// # Handlers
///
/// - A **handler** is a method with a `pub` visibility (`pub`, `pub(crate)`, ..) that takes
///   `&mut self` or `&self`. Its variant is its name in UpperCamelCase; its arguments are the
///   variant's fields (owned types: a message travels to another thread). Methods without
///   `pub`, and associated functions without `self` (constructors), stay plain methods.
/// - A handler returning nothing is a **tell**: the ref method sends the message and returns.
///   A handler returning `R` is an **ask**: the variant gets a `reply_to: ActorRef<R>` field,
///   the actor tells it the return value, and the ref method returns `Pending<R>`.
/// - A handler may take the actor's context first, right after `self`:
///   `ctx: &mut Context<CounterMsg>` (any path ending in `Context`; the generated code checks it
///   is this actor's).
/// - A handler may answer **later**: it takes the asker's reply address as an argument marked
///   `#[reply]`, `#[reply] reply_to: ActorRef<R>`, and returns nothing (see
///   [Answering later](#answering-later)).
/// - `#[cfg(..)]` on a handler (and the `cfg(..)` parts of a `#[cfg_attr(..)]`) go onto its
///   variant, its match arm and its ref methods: a handler compiled out leaves nothing behind.
/// - A handler cannot return an `Effect` (under any name): effects belong to the command
///   handlers of an [`macro@entity`], which persist them.
/// - `Self` in a handler's argument or return type means the actor's type.
/// - Doc comments of a handler are carried to its variant and to its ref method.
/// - The ref trait must be in scope to call its methods (`use crate::counter::CounterRef`).
///
/// # Answering later
///
/// A handler's return value is its reply, sent as it returns. To answer later (once another
/// actor has replied, a timer has fired, or more work has come in), a handler takes the reply
/// address itself: an argument marked `#[reply]`, of type `ActorRef<R>`, at any place among
/// its arguments and under any name (`reply_to` included). It returns nothing, keeps the
/// address (in the actor's state, or in a closure) and tells it the reply when it has one, as
/// Akka's `replyTo ! reply`. For callers nothing changes: the ref method leaves the argument
/// out and returns `Pending<R>`; the variant carries it as its field of that name.
///
/// ```
/// use reactant::prelude::*;
/// use std::collections::HashMap;
/// use std::time::Duration;
///
/// #[derive(Default)]
/// struct Prices;
///
/// #[actor]
/// impl Prices {
///     pub fn price(&self, item: String) -> u64 { item.len() as u64 * 100 }
/// }
///
/// struct Quotes {
///     prices: ActorRef<PricesMsg>,
///     next: u64,
///     waiting: HashMap<u64, ActorRef<u64>>,
/// }
///
/// #[actor]
/// impl Quotes {
///     /// Asks `Prices`, and answers when its reply comes back as the message `priced`.
///     pub fn quote(
///         &mut self,
///         ctx: &mut Context<QuotesMsg>,
///         item: String,
///         count: u64,
///         #[reply] reply_to: ActorRef<u64>,
///     ) {
///         let id = self.next;
///         self.next += 1;
///         self.waiting.insert(id, reply_to);
///         let timeout = Duration::from_secs(3);
///         self.prices
///             .price(item)
///             .pipe_to(ctx, timeout, move |price| QuotesMsg::Priced { id, count, price });
///     }
///
///     /// `Prices`' reply to the quote `id`.
///     pub fn priced(&mut self, id: u64, count: u64, price: Result<u64, AskError>) {
///         if let Some(reply_to) = self.waiting.remove(&id) {
///             reply_to.tell(price.map_or(0, |price| price * count));
///         }
///     }
/// }
///
/// let system = ActorSystem::new("docs")?;
/// let prices = system.spawn(Prices, "prices")?;
/// let quotes = Quotes { prices, next: 0, waiting: HashMap::new() };
/// let quotes: ActorRef<QuotesMsg> = system.spawn(quotes, "quotes")?;
/// let quote: Pending<u64> = quotes.quote("tea".to_owned(), 2); // an ask, as ever
/// assert_eq!(quote.wait(Duration::from_secs(3))?, 600);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The variant is `QuotesMsg::Quote { item, count, reply_to }`, and the ref method
/// `fn quote(&self, item: String, count: u64) -> Pending<u64>`. A handler has one `#[reply]`
/// argument at most; with one, it cannot return a reply too.
///
/// # Lifecycle hooks
///
/// Methods without `pub` named `pre_start`, `post_stop`, `pre_restart` (taking
/// `&mut self, ctx: &mut Context<Msg>`, or only `&mut self`) and `on_signal` (taking
/// `&mut self, ctx: &mut Context<Msg>, signal: &Signal`, or leaving out the context) are
/// called by the generated `Actor` impl's hooks of the same names.
///
/// # Generic actors
///
/// `#[actor] impl<T: Clone + Send + 'static> Store<T> { .. }` gives `StoreMsg<T>` and
/// `StoreRef<T>`, with the impl block's bounds. Each type parameter must be bounded by `Send`
/// and `'static`, written out (in its bounds or the where clause; the macro reads spellings, so
/// a trait of yours that implies them does not count).
/// The enum then has a hidden variant that cannot be built, so that every type parameter is
/// used. An actor cannot have lifetime parameters.
///
/// # Arguments
///
/// `#[actor(msg = CounterCmd, ref_trait = CounterApi)]` renames the generated enum (default
/// `{Type}Msg`) and trait (default `{Type}Ref`).
///
/// # Errors
///
/// An `async`, `unsafe` or generic handler, a lifetime parameter, `self` by value, a borrowed
/// argument or reply (`&str`, `Cow<'a, str>`, `impl Trait`), an argument that is a pattern, a
/// context that is not the first argument or of another actor, two handlers whose variants
/// collide (`do_it` and `doIt`), a handler whose name gives no variant (`__`, `_1x`, `self_`), a
/// handler named like a method `ActorRef` has already (`tell`, `ask`, `path`, `clone`, ..), an
/// argument called `reply_to` in an ask that returns its reply (mark it `#[reply]` and return
/// nothing instead), two `#[reply]` arguments, a `#[reply]` argument that is not an
/// `ActorRef<R>` or in a handler that also returns a reply, `#[reply]` with arguments or on a
/// method that is not a handler, an argument or reply that is not `Send`, a reply that
/// is an `Effect`, a type parameter without `Send + 'static`, a public or misshapen lifecycle
/// hook, an unknown argument, and the attribute on a trait impl or on anything but an impl
/// block.
///
/// Owned means: no reference or lifetime but `'static` (a `&'static str` is accepted), no
/// `impl Trait`. A function type owns its data whatever it borrows when called:
/// `fn(&str) -> bool` and `Box<dyn Fn(&str) -> bool + Send>` are accepted.
#[proc_macro_attribute]
pub fn actor(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::actor::attribute(args.into(), input.into()).into()
}

/// Implements `reactant::persistence::Event`: an event type's manifest, tags and upcaster.
///
/// ```
/// use reactant::persistence::{Event, Manifest};
/// use reactant::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Event)]
/// #[event(name = "account-event", version = 2, tag = "account")]
/// enum AccountEvent { Deposited { cents: u64 } }
///
/// assert_eq!(AccountEvent::manifest(), Manifest::new("account-event", 2));
/// assert_eq!(AccountEvent::Deposited { cents: 1 }.tags(), ["account"]);
/// ```
///
/// What it generates (paths shortened):
///
/// ```text
/// impl Event for AccountEvent {
///     fn manifest() -> Manifest { Manifest::new("account-event", 2) }
///     fn tags(&self) -> Vec<String> { vec![String::from("account")] }
/// }
/// ```
///
/// # Arguments of `#[event(..)]`
///
/// - `name = ".."`: the manifest's name (default: the type's name, `AccountEvent`). Events are
///   stored under it: set it before renaming or moving the type.
/// - `version = N`: the current schema version (default 1; 0 is an error).
/// - `tag = ".."`: a tag for the read side (`events_by_tag`); repeat it for several.
/// - `upcast = path::to::function`: reads payloads stored under an older manifest (another
///   version, or another name). The function has the signature of `Event::upcast`:
///
///   ```
///   # use reactant::persistence::{Codec, CodecError, Manifest};
///   # #[derive(serde::Deserialize)] enum AccountEvent { Deposited { cents: u64 } }
///   fn upcast_account_event<C: Codec>(
///       codec: &C,
///       manifest: &Manifest,
///       payload: &[u8],
///   ) -> Result<AccountEvent, CodecError> {
///       #[derive(serde::Deserialize)]
///       enum V1 { Deposited { euros: u64 } }
///       match codec.decode::<V1>(manifest, payload)? {
///           V1::Deposited { euros } => Ok(AccountEvent::Deposited { cents: euros * 100 }),
///       }
///   }
///   ```
///
///   The generated `upcast` decodes a payload of the current manifest itself and hands every
///   other one to the function.
///
/// A generic event type is an event wherever its parameters make it storable (serializable,
/// `Send + Sync + 'static`). An event owns its data: a lifetime parameter or a reference field
/// (even `&'static str`, which cannot be read back from storage) is an error, as are a blank
/// `name` or `tag`. After an error in `#[event(..)]` the type still implements `Event` (with
/// the default manifest), so that one mistake gives one error.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::event::derive(&input).into()
}

/// The state of an event-sourced entity, with its settings; its handlers go in an impl block
/// under [`macro@entity`].
///
/// ```
/// # use reactant::prelude::*;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Event)]
/// # enum AccountEvent { Deposited { amount: u64 } }
/// #[derive(Default, Serialize, Deserialize, Entity)]
/// #[entity(type_key = "account", event = AccountEvent, snapshot_every = 100, keep_snapshots = 2)]
/// struct Account { balance: u64 }
/// # #[entity]
/// # impl Account {
/// #     fn apply(&mut self, event: &AccountEvent) {
/// #         match event { AccountEvent::Deposited { amount } => self.balance += amount }
/// #     }
/// # }
/// ```
///
/// It goes on a struct with named fields (the state; `Default` is a new entity's state, serde
/// stores snapshots) and records the settings for `#[entity]`, which writes the `Entity` impl.
///
/// # Arguments of `#[entity(..)]` (after the derive)
///
/// - `type_key = ".."` (required): the entity type's name, the first part of each persistence
///   id (`"account|acc-1"`) and the sharding key. It cannot be blank or contain `|`.
/// - `event = Type` (required): the type the command handlers persist.
/// - `snapshot_every = N`: a snapshot every N events (default: none).
/// - `keep_snapshots = K`: how many snapshots to keep (default 2; needs `snapshot_every`).
/// - `delete_events_on_snapshot = true`: delete the events the oldest kept snapshot covers
///   (default `false`; needs `snapshot_every`).
/// - `codec = expr`: the `reactant::persistence::Codec` that stores the
///   entity's events and snapshots (default: MessagePack), e.g. `codec = MyCodec` for a unit
///   struct implementing it.
/// - `slices = N` (1 to 1,024): the type's events are split into N slices by entity id, each
///   event also tagged with its slice's tag, for N projections in parallel
///   (`Entity::SLICES`; see `reactant::persistence::slice_of` and
///   `reactant::projection::Projection::run_slices`). Default: no slices.
///
/// After an error in these arguments the derive still writes the settings (with defaults for
/// what is wrong), so that the impl block's `#[entity]` adds no errors of its own.
#[proc_macro_derive(Entity, attributes(entity))]
pub fn derive_entity(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::entity::derive(&input).into()
}

/// Makes an event-sourced `Entity` of a type (see [`derive@Entity`]) from its impl block: the
/// event handler `apply` and the command handlers.
///
/// ```
/// use reactant::persistence::Persistence;
/// use reactant::prelude::*;
/// use serde::{Deserialize, Serialize};
/// use std::time::Duration;
///
/// #[derive(Clone, Debug, Serialize, Deserialize, Event)]
/// enum AccountEvent { Deposited { amount: u64 } }
///
/// #[derive(Default, Serialize, Deserialize, Entity)]
/// #[entity(type_key = "account", event = AccountEvent)]
/// struct Account { balance: u64 }
///
/// #[entity]
/// impl Account {
///     fn apply(&mut self, event: &AccountEvent) {
///         match event { AccountEvent::Deposited { amount } => self.balance += amount }
///     }
///
///     /// Persists a deposit, then replies the new balance.
///     pub fn deposit(&self, amount: u64) -> Effect<AccountEvent, u64> {
///         Effect::persist(AccountEvent::Deposited { amount }).then_reply(|s| s.balance)
///     }
///
///     /// Answered from memory.
///     pub fn balance(&self) -> u64 { self.balance }
/// }
///
/// let system = ActorSystem::new("docs")?;
/// let persistence = Persistence::in_memory()?;
/// let accounts = system.sharding().init::<Account>(persistence)?;
/// let t = Duration::from_secs(3);
/// assert_eq!(accounts.entity("acc-1").deposit(100).wait(t)?, 100);
/// assert_eq!(accounts.entity("acc-1").balance().wait(t)?, 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// What it generates, beside the impl block (paths shortened):
///
/// ```text
/// pub enum AccountCommand {
///     /// Persists a deposit, then replies the new balance.
///     Deposit { amount: u64, reply_to: ActorRef<u64> },
///     /// Answered from memory.
///     Balance { reply_to: ActorRef<u64> },
/// }
///
/// impl Entity for Account {
///     const TYPE_KEY: &'static str = "account";          // from #[derive(Entity)]
///     type Event = AccountEvent;                          // from #[derive(Entity)]
///     type Command = AccountCommand;
///     fn apply(&mut self, event: &AccountEvent) { Self::apply(self, event) }
///     fn handle_command(&self, command: AccountCommand) -> Effect<AccountEvent, Self> {
///         match command {
///             AccountCommand::Deposit { amount, reply_to } =>
///                 Self::deposit(self, amount).with_reply_to(reply_to),
///             AccountCommand::Balance { reply_to } => {
///                 reply_to.tell(Self::balance(self));
///                 Effect::none()
///             }
///         }
///     }
///     fn configure(behavior: ..) -> .. { /* snapshot settings of #[derive(Entity)] */ }
/// }
///
/// pub trait AccountRef {
///     fn deposit(&self, amount: u64) -> Pending<u64>;
///     fn balance(&self) -> Pending<u64>;
/// }
/// impl AccountRef for ActorRef<AccountCommand> { .. }   // an entity spawned directly
/// impl AccountRef for EntityRef<AccountCommand> { .. }  // a sharded one
/// ```
///
/// # Handlers
///
/// - `fn apply(&mut self, event: &Event)` (required) is the event handler: it folds each
///   persisted event into the state.
/// - A **command handler** is a method with a `pub` visibility that takes `&self` (the state
///   changes only through events). By what it returns:
///   - `Effect<Event, Reply>`: a persisting command; the variant carries a
///     `reply_to: ActorRef<Reply>`, which gets what `then_reply` computes from the new state
///     (or `Effect::reply(..)`); the ref method returns `Pending<Reply>`.
///   - `Effect<Event>`: a persisting command without a reply (a tell).
///   - any other type `R`: a query, answered from memory; the ref method returns `Pending<R>`.
///   - nothing: a tell that persists nothing.
/// - `Effect<Event, Reply>` is the effect of this entity: the macro writes the state type in
///   (`::reactant::persistence::Effect<Event, Self, Reply>`) and starts the method's body with
///   `type Effect<E, R = ()> = ::reactant::persistence::Effect<E, Account, R>;`, so that
///   `Effect::persist(..)` there knows the state's type. This holds for every method of the
///   block returning `Effect<..>`.
/// - One spelling, one meaning: the second parameter is always the reply. The state type there
///   (`Effect<AccountEvent, Account>`, `Effect<AccountEvent, Self>` or an alias of the state,
///   the parameters of a hand-written entity's `Effect<Event, State>`) is an error, since it
///   would reply a whole `Account`; to do that, name the state in the runtime's full form,
///   `Effect<AccountEvent, Self, Account>`, whose state must be the entity (checked by type).
/// - What is Reactant's `Effect`: the macro sees spellings, not types. `Effect<..>` and
///   `reactant::persistence::Effect<..>` (or `reactant::prelude::`) are commands, and the
///   generated code checks that `Effect` names Reactant's there (a type of yours called `Effect`
///   in scope is an error, not taken for it). Any other path (`sim::Effect<u64>`) or an alias is
///   a query; the generated code checks by type that a query's reply is not an `Effect`, so
///   `type AccountEffect = Effect<..>` returned from a command is an error, never an effect sent
///   back unexecuted.
/// - A command handler may take the entity's context first, right after `self`:
///   `ctx: &mut EntityContext<'_, AccountCommand>` (`reactant::persistence::EntityContext`):
///   the actor context through `Deref` (timers, `ctx.ask`, message adapters, its own reference),
///   `ctx.entity_id()`, and for a sharded entity `ctx.sharding()` (passivate, `remember` /
///   `forget`). The generated `Entity` impl then dispatches in `handle_command_in`, which the
///   runtime calls; its `handle_command`, having no context to give, leaves every command
///   unhandled.
/// - A command handler may answer later, as an actor's handler can: it takes the reply address
///   as `#[reply] reply_to: ActorRef<R>` and returns `Effect<Event>` (no reply of the effect's
///   own) or nothing; the ref method still returns `Pending<R>`. It answers after its events
///   are persisted with `.then_reply_to(reply_to, |state| ..)`, or hands the address on: to
///   another command it sends itself once another actor or entity has answered
///   (`pending.pipe_to(ctx, timeout, move |answer| AccountCommand::Settle { answer, reply_to })`,
///   with `settle` taking `#[reply] reply_to` too). The state itself cannot keep it: it is
///   stored, and changes only through events.
///
///   ```
///   # use reactant::persistence::{EntityContext, Persistence};
///   # use reactant::prelude::*;
///   # use serde::{Deserialize, Serialize};
///   # use std::time::Duration;
///   # #[derive(Clone, Debug, Serialize, Deserialize, Event)]
///   # enum AccountEvent { Deposited { amount: u64 } }
///   # #[derive(Default, Serialize, Deserialize, Entity)]
///   # #[entity(type_key = "account", event = AccountEvent)]
///   # struct Account { balance: u64 }
///   #[derive(Default)]
///   struct Fees;
///
///   #[actor]
///   impl Fees {
///       pub fn bonus_for(&self, amount: u64) -> u64 { amount / 10 }
///   }
///
///   #[entity]
///   impl Account {
///       fn apply(&mut self, event: &AccountEvent) {
///           match event { AccountEvent::Deposited { amount } => self.balance += amount }
///       }
///
///       /// Asks `fees` for a bonus first; answers the new balance once both are persisted.
///       pub fn deposit_with_bonus(
///           &self,
///           ctx: &mut EntityContext<'_, AccountCommand>,
///           fees: ActorRef<FeesMsg>,
///           amount: u64,
///           #[reply] reply_to: ActorRef<u64>,
///       ) -> Effect<AccountEvent> {
///           fees.bonus_for(amount).pipe_to(ctx, Duration::from_secs(3), move |bonus| {
///               AccountCommand::Deposit { amount: amount + bonus.unwrap_or(0), reply_to }
///           });
///           Effect::none()
///       }
///
///       /// Persists, then answers the new balance.
///       pub fn deposit(&self, amount: u64, #[reply] reply_to: ActorRef<u64>) -> Effect<AccountEvent> {
///           Effect::persist(AccountEvent::Deposited { amount })
///               .then_reply_to(reply_to, |state| state.balance)
///       }
///   }
///
///   let system = ActorSystem::new("docs")?;
///   let fees = system.spawn(Fees, "fees")?;
///   let accounts = system.sharding().init::<Account>(Persistence::in_memory()?)?;
///   let balance = accounts.entity("acc-1").deposit_with_bonus(fees, 100);
///   assert_eq!(balance.wait(Duration::from_secs(3))?, 110);
///   # Ok::<(), Box<dyn std::error::Error>>(())
///   ```
/// - `fn on_signal(&self, ctx: &mut EntityContext<'_, AccountCommand>, signal: &EntitySignal)`
///   (optional, never a command) becomes `Entity::on_signal`: e.g. after `RecoveryCompleted`,
///   resume unfinished work by sending itself a command.
/// - `#[cfg(..)]` on a command goes onto everything generated for it, as for `#[actor]`.
/// - Arguments and replies own their data, as for `#[actor]`; doc comments are carried over.
///
/// # Arguments
///
/// `#[entity(command = AccountCmd, ref_trait = AccountApi)]` renames the generated enum
/// (default `{Type}Command`) and trait (default `{Type}Ref`).
///
/// # Errors
///
/// Those of `#[actor]`'s handlers, and: a command handler taking `&mut self`; no `apply`, or
/// one with another signature; a command handler persisting a type other than the
/// `event = ..` of `#[derive(Entity)]` (reported at that type); the state as the reply of
/// `Effect<Event, Reply>`; a query returning an `Effect`; a `#[reply]` argument in a command
/// whose effect or return value replies too; a missing `#[derive(Entity)]`, or its
/// arguments given to a struct without it (one error: the settings are still generated); a
/// generic entity.
#[proc_macro_attribute]
pub fn entity(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::entity::attribute(args.into(), input.into()).into()
}
