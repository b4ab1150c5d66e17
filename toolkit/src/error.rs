//! The errors of the actor runtime. Each says what happened and what to do about it.

use std::time::Duration;

use thiserror::Error;

use crate::actor::ActorPath;

/// Why an actor could not be spawned.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
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
///
/// Every variant prints as a sentence that says what happened and what to do. The enum may
/// grow: match the variants you handle and add a wildcard arm.
///
/// ```
/// use reactant::prelude::*;
/// use std::time::Duration;
///
/// let system = ActorSystem::new("docs")?;
/// let silent = system.spawn(Behaviors::receive_message(|reply_to: ActorRef<u64>| {
///     std::mem::forget(reply_to); // keeps the request and never answers
///     Behaviors::same()
/// }), "silent")?;
/// match silent.ask(|reply_to| reply_to).wait(Duration::from_millis(20)) {
///     Err(AskError::Timeout(timeout)) => {
///         assert_eq!(timeout.after(), Duration::from_millis(20));
///         assert_eq!(timeout.target().to_string(), "the actor /user/silent");
///         assert!(timeout.to_string().contains("no reply of type u64"));
///     }
///     other => panic!("expected a timeout, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AskError {
    /// No reply within the timeout. The [`AskTimeout`] says what the ask was for.
    #[error("{0}")]
    Timeout(AskTimeout),
    /// The target had stopped; the request went to dead letters.
    #[error(
        "the target has stopped, so the request went to dead letters; watch it to know when it \
         stops, or ask the actor that replaced it"
    )]
    TargetStopped,
    /// The target received the request and dropped its reply address without replying.
    #[error(
        "the target dropped the request without replying; make its handler reply on every path \
         (or keep the reply address to answer later)"
    )]
    NoReply,
    /// The target failed (panicked) while handling the request; its supervisor decides what
    /// happens to it next.
    #[error(
        "the target failed while handling the request; its supervisor decides whether it \
         restarts, so ask again once it is back if the request is safe to repeat"
    )]
    TargetFailed,
    /// Waiting here would block a dispatcher thread (and could deadlock the system).
    #[error(
        "Pending::wait was called on a dispatcher thread, where blocking could deadlock the system; \
         inside an actor use ctx.ask or Pending::pipe_to, whose outcome arrives as a message"
    )]
    WouldBlockDispatcher,
    /// The reply came, but the function given to [`Pending::map`](crate::ask::Pending::map)
    /// panicked on it (the panic's message is kept). The thread that delivered the reply is
    /// unharmed.
    #[error(
        "the reply came but the function given to Pending::map panicked on it ({0}); make the \
         mapping total, e.g. map to a Result instead of panicking"
    )]
    MapFailed(String),
}

/// What an [`AskError::Timeout`] says: how long the asker waited, whom it asked, and the types
/// of its request and of the reply it expected. It prints as a sentence, for example: *the
/// actor /user/greeter sent no reply of type u64 within 100ms to a request of type
/// my_app::Greet; it may be slow or overloaded, or it kept the request without answering:
/// raise the timeout, or make sure it answers every request.*
///
/// ```
/// use reactant::prelude::*;
/// use std::time::Duration;
///
/// let system = ActorSystem::new("docs")?;
/// let silent = system.spawn(Behaviors::receive_message(|reply_to: ActorRef<String>| {
///     std::mem::forget(reply_to);
///     Behaviors::same()
/// }), "silent")?;
/// let Err(AskError::Timeout(timeout)) = silent.ask(|reply_to| reply_to).wait(Duration::ZERO)
/// else {
///     panic!("nobody answers");
/// };
/// assert_eq!(timeout.after(), Duration::ZERO);
/// assert_eq!(timeout.target().actor_path(), Some(&silent.path()));
/// assert_eq!(timeout.target().entity_id(), None);
/// assert_eq!(timeout.reply_type(), std::any::type_name::<String>());
/// assert_eq!(timeout.request_type(), std::any::type_name::<ActorRef<String>>());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskTimeout {
    after: Duration,
    target: AskTarget,
    request_type: &'static str,
    reply_type: &'static str,
}

impl AskTimeout {
    pub(crate) fn new(
        after: Duration,
        target: AskTarget,
        request_type: &'static str,
        reply_type: &'static str,
    ) -> Self {
        Self {
            after,
            target,
            request_type,
            reply_type,
        }
    }

    /// How long the asker waited.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// Whom the ask was sent to.
    pub fn target(&self) -> &AskTarget {
        &self.target
    }

    /// The Rust type of the request (the asked actor's message type), as
    /// [`std::any::type_name`] writes it.
    pub fn request_type(&self) -> &'static str {
        self.request_type
    }

    /// The Rust type of the reply that did not come, as [`std::any::type_name`] writes it.
    pub fn reply_type(&self) -> &'static str {
        self.reply_type
    }
}

impl std::fmt::Display for AskTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sent no reply of type {} within {:?} to a request of type {}; it may be slow or \
             overloaded, or it kept the request without answering: raise the timeout, or make \
             sure it answers every request",
            self.target, self.reply_type, self.after, self.request_type
        )
    }
}

/// Whom an ask was sent to, as an [`AskTimeout`] names it: an actor by path, or a sharded
/// entity by type key and id. It prints as `the actor /user/greeter` or
/// `the entity "acc-1" of type "account"`.
///
/// (A struct with accessors rather than a public enum: variants named `Actor` or `Entity`
/// would clash with the traits of those names in the compiler's messages.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskTarget(TargetKind);

#[derive(Debug, Clone, PartialEq, Eq)]
enum TargetKind {
    Actor(ActorPath),
    Entity { type_key: String, entity_id: String },
}

impl AskTarget {
    pub(crate) fn actor(path: ActorPath) -> Self {
        Self(TargetKind::Actor(path))
    }

    pub(crate) fn entity(type_key: String, entity_id: String) -> Self {
        Self(TargetKind::Entity {
            type_key,
            entity_id,
        })
    }

    /// The path of the asked actor (or other reference, such as a message adapter); `None`
    /// for a sharded entity.
    pub fn actor_path(&self) -> Option<&ActorPath> {
        match &self.0 {
            TargetKind::Actor(path) => Some(path),
            TargetKind::Entity { .. } => None,
        }
    }

    /// The type key of the asked sharded entity, e.g. `account`; `None` for an actor.
    pub fn type_key(&self) -> Option<&str> {
        match &self.0 {
            TargetKind::Entity { type_key, .. } => Some(type_key),
            TargetKind::Actor(_) => None,
        }
    }

    /// The id of the asked sharded entity, e.g. `acc-1`; `None` for an actor.
    pub fn entity_id(&self) -> Option<&str> {
        match &self.0 {
            TargetKind::Entity { entity_id, .. } => Some(entity_id),
            TargetKind::Actor(_) => None,
        }
    }
}

impl std::fmt::Display for AskTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            TargetKind::Actor(path) => write!(f, "the actor {path}"),
            TargetKind::Entity {
                type_key,
                entity_id,
            } => write!(f, "the entity {entity_id:?} of type {type_key:?}"),
        }
    }
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
#[non_exhaustive]
pub enum StopError {
    /// Only an actor's own children can be stopped through its context.
    #[error(
        "{0} is not a child of this actor; an actor may stop only its own children (or itself by returning Behaviors::stopped())"
    )]
    NotAChild(ActorPath),
}
