//! The errors of the actor runtime. Each says what happened and what to do about it.

use std::time::Duration;

use thiserror::Error;

use crate::actor::ActorPath;

/// Why an actor could not be spawned.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SpawnError {
    /// The name cannot be used as an actor path element.
    #[error("invalid actor name {name:?}: {reason}")]
    InvalidName {
        /// The refused name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A live child of the same parent already has this name.
    #[error(
        "an actor named {name:?} already runs under {parent}; pick another name or stop it first"
    )]
    NameTaken {
        /// The taken name.
        name: String,
        /// The parent's path.
        parent: ActorPath,
    },
    /// The parent is stopping (or the system is shutting down) and takes no new children.
    #[error(
        "{parent} is stopping and cannot spawn children; the actor system may be shutting down"
    )]
    ParentStopping {
        /// The parent's path.
        parent: ActorPath,
    },
    /// The system has shut down.
    #[error("the actor system has shut down; create a new ActorSystem to spawn actors")]
    SystemTerminated,
    /// No dispatcher of that name was configured.
    #[error(
        "no dispatcher named {0:?}; add it with ActorSystem::builder().dispatcher(name, threads)"
    )]
    UnknownDispatcher(String),
}

/// Why an actor system could not be built.
#[derive(Debug, Error)]
pub enum BuildError {
    /// A dispatcher was given zero threads.
    #[error("dispatcher {dispatcher:?} needs at least one thread")]
    ZeroThreads {
        /// The dispatcher's name.
        dispatcher: String,
    },
    /// Throughput must be at least one message per turn.
    #[error("throughput must be at least 1 message per turn")]
    ZeroThroughput,
    /// Two dispatchers share a name.
    #[error("dispatcher {0:?} is configured twice; dispatcher names must be unique")]
    DuplicateDispatcher(String),
    /// The system name is not usable in thread names and paths.
    #[error("invalid system name {name:?}: {reason}")]
    InvalidName {
        /// The refused name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The operating system refused to start a thread.
    #[error("could not start a thread for the actor system: {0}")]
    Thread(#[from] std::io::Error),
}

/// Why an ask produced no reply.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AskError {
    /// No reply within the timeout.
    #[error("no reply within {0:?}: the target is slow or overloaded, or the timeout is too short")]
    Timeout(Duration),
    /// The target had stopped; the request went to dead letters.
    #[error("the target has stopped; the request went to dead letters")]
    TargetStopped,
    /// The target received the request and dropped its reply address without replying.
    #[error("the target dropped the request without replying")]
    NoReply,
    /// The target failed (panicked) while handling the request; its supervisor decides what
    /// happens to it next.
    #[error("the target failed while handling the request")]
    TargetFailed,
    /// Waiting here would block a dispatcher thread (and could deadlock the system).
    #[error(
        "Pending::wait was called on a dispatcher thread, where blocking could deadlock the system; \
         inside an actor use ctx.ask, whose reply arrives as a message"
    )]
    WouldBlockDispatcher,
}

/// A stash is full; the message is handed back so that nothing is lost.
#[derive(Error)]
#[error(
    "the stash is full ({capacity} messages); unstash before stashing more, or raise its capacity"
)]
pub struct StashOverflow<M> {
    /// The message that did not fit.
    pub message: M,
    /// The stash's capacity.
    pub capacity: usize,
}

impl<M> std::fmt::Debug for StashOverflow<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StashOverflow")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// Why `ctx.stop` refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StopError {
    /// Only an actor's own children can be stopped through its context.
    #[error(
        "{0} is not a child of this actor; an actor may stop only its own children (or itself by returning Behaviors::stopped())"
    )]
    NotAChild(ActorPath),
}
