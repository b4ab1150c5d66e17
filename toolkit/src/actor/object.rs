//! Object-style actors: one `&mut self` handler plus lifecycle hooks. `#[actor]` generates impls
//! of this trait; writing one by hand is just as fast.

use std::any::Any;

use super::context::Context;
use super::signal::Signal;

/// An actor as an object that owns its state and handles one message type.
///
/// Spawn a value (`system.spawn(Counter::default(), "counter")`) or, to let a supervisor
/// restart it from scratch, a factory (`Behaviors::actor(Counter::default)`).
///
/// ```
/// use reactant::prelude::*;
/// use std::time::Duration;
///
/// enum CounterMsg { Add(u64), Get(ActorRef<u64>) }
///
/// #[derive(Default)]
/// struct Counter { total: u64 }
///
/// impl Actor for Counter {
///     type Msg = CounterMsg;
///     fn handle(&mut self, _ctx: &mut Context<CounterMsg>, msg: CounterMsg) {
///         match msg {
///             CounterMsg::Add(n) => self.total += n,
///             CounterMsg::Get(reply_to) => reply_to.tell(self.total),
///         }
///     }
/// }
///
/// let system = ActorSystem::new("docs")?;
/// let counter = system.spawn(Counter::default(), "counter")?;
/// counter.tell(CounterMsg::Add(5));
/// assert_eq!(counter.ask(CounterMsg::Get).wait(Duration::from_secs(3))?, 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Actor: Any + Send {
    /// The messages this actor handles.
    type Msg: Send + 'static;

    /// Handles one message. To stop, call [`Context::stop_self`].
    fn handle(&mut self, ctx: &mut Context<Self::Msg>, msg: Self::Msg);

    /// Runs when the actor starts, before its first message.
    fn pre_start(&mut self, ctx: &mut Context<Self::Msg>) {
        let _ = ctx;
    }

    /// Runs once the actor has stopped (its children already have).
    fn post_stop(&mut self, ctx: &mut Context<Self::Msg>) {
        let _ = ctx;
    }

    /// Runs on the failed instance before a supervisor restarts the actor.
    fn pre_restart(&mut self, ctx: &mut Context<Self::Msg>) {
        let _ = ctx;
    }

    /// Other signals: `Terminated` and `ChildFailed` of watched actors.
    fn on_signal(&mut self, ctx: &mut Context<Self::Msg>, signal: &Signal) {
        let _ = (ctx, signal);
    }
}
