//! Dispatchers: fixed pools of OS threads that run actors, and the mailbox whose status word
//! decides when an actor is handed to one.
//!
//! An actor is *scheduled* when a message makes its mailbox go from idle to busy; a worker then
//! runs it for at most `throughput` user messages and hands it back to the end of the queue if
//! more are waiting. See [`mailbox`] for the state machine and [`pool`] for the workers.

pub(crate) mod mailbox;
pub(crate) mod pool;

pub(crate) use pool::{Dispatcher, Runnable, Task, on_dispatcher_thread};
