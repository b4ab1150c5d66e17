//! Dead letters: messages that could not be delivered (the recipient had stopped, or its
//! behavior left them unhandled). They are counted, logged through `tracing`, and published to
//! subscribers, so that a lost message is never silent.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::actor::ActorPath;
use crate::event_stream::EventStream;

/// Why a message became a dead letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// The recipient had stopped (or the system had shut down).
    RecipientStopped,
    /// The recipient's behavior did not handle it.
    Unhandled,
    /// The recipient was waiting to restart and its restart buffer was full.
    RestartBufferFull,
    /// The recipient is a sharded entity that was starting or passivating, and its shard's
    /// buffer was full.
    ShardBufferFull,
    /// A reply that came after its ask had ended (timed out, or already answered).
    LateReply,
    /// The recipient is an event-sourced entity that was recovering, persisting or backing
    /// off (or stashing), and its command buffer was full.
    CommandBufferFull,
    /// The recipient is a sharded entity whose id is empty: no entity has that id.
    EmptyEntityId,
    /// It was sent to a group router whose service key had no registered actor.
    NoRoutees,
    /// It was published to a topic that had no subscriber.
    NoSubscribers,
}

/// A message that was not delivered. The message itself is dropped; its type and recipient
/// are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Who it was for.
    pub recipient: ActorPath,
    /// The message's Rust type.
    pub message_type: &'static str,
    /// Why it was not delivered.
    pub reason: DeadLetterReason,
}

impl fmt::Display for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dead letter to {} ({}): {}",
            self.recipient, self.message_type, self.reason
        )
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RecipientStopped => "the recipient had stopped",
            Self::Unhandled => "the recipient's behavior did not handle it",
            Self::RestartBufferFull => "the recipient was restarting and its buffer was full",
            Self::ShardBufferFull => {
                "the entity was starting or passivating and its shard's buffer was full"
            }
            Self::LateReply => "a reply that came after its ask had ended",
            Self::CommandBufferFull => {
                "the entity was busy (recovering, persisting or backing off) and its command \
                 buffer was full"
            }
            Self::EmptyEntityId => {
                "it was sent to a sharded entity with an empty id; give every entity a non-empty id"
            }
            Self::NoRoutees => {
                "it was sent to a group router whose service key had no registered actor; \
                 register actors under the key with the receptionist first"
            }
            Self::NoSubscribers => "it was published to a topic that had no subscriber",
        })
    }
}

thread_local! {
    static DROPPING: Cell<bool> = const { Cell::new(false) };
}

/// True while a dead letter's message is being dropped on this thread: a reply address dropped
/// with it tells its asker that the target had stopped.
pub(crate) fn dropping_dead_letter() -> bool {
    DROPPING.with(Cell::get)
}

/// The dead-letter office of one actor system: a counter, the log, and subscribers.
///
/// ```
/// use reactant::prelude::*;
/// use std::time::Duration;
///
/// let system = ActorSystem::new("docs")?;
/// let dead_letters = system.dead_letters().subscribe();
/// let actor = system.spawn(Behaviors::receive_message(|_: u32| Behaviors::stopped()), "once")?;
/// actor.tell(1);
/// while !actor.is_terminated() { std::thread::yield_now(); }
/// actor.tell(2);
/// let letter = dead_letters.recv_timeout(Duration::from_secs(1))?;
/// assert_eq!(letter.recipient.as_str(), "/user/once");
/// assert!(system.dead_letters().count() >= 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct DeadLetters {
    count: AtomicU64,
    has_subscribers: AtomicBool,
    subscribers: Mutex<Vec<Sender<DeadLetter>>>,
    /// The system's event stream, where dead letters are published too.
    events: EventStream,
}

thread_local! {
    /// Set while a dead letter is told to the event stream's subscribers: a dead letter that
    /// telling makes (a subscriber that just stopped) is only counted and logged, not published
    /// again.
    static PUBLISHING: Cell<bool> = const { Cell::new(false) };
}

impl DeadLetters {
    /// The dead-letter office of a system whose event stream is `events`.
    pub(crate) fn with_event_stream(events: EventStream) -> Self {
        Self {
            events,
            ..Self::default()
        }
    }

    /// How many messages became dead letters since the system started.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Receives every later dead letter. Dropping the receiver unsubscribes.
    pub fn subscribe(&self) -> Receiver<DeadLetter> {
        let (sender, receiver) = crossbeam_channel::unbounded();
        self.subscribers.lock().push(sender);
        self.has_subscribers.store(true, Ordering::Release);
        receiver
    }

    /// Records an undelivered message and drops it.
    pub(crate) fn publish<M>(
        &self,
        recipient: impl FnOnce() -> ActorPath,
        message: M,
        reason: DeadLetterReason,
    ) {
        self.record(recipient, std::any::type_name::<M>(), reason);
        let was = DROPPING.with(|flag| flag.replace(true));
        drop(message);
        DROPPING.with(|flag| flag.set(was));
    }

    /// Records a dead letter whose message is already gone, by its type's name.
    pub(crate) fn publish_named(
        &self,
        recipient: ActorPath,
        message_type: &'static str,
        reason: DeadLetterReason,
    ) {
        self.record(|| recipient, message_type, reason);
    }

    /// Records an unhandled message whose value the handler already consumed.
    pub(crate) fn publish_unhandled<M>(&self, recipient: impl FnOnce() -> ActorPath) {
        self.record(
            recipient,
            std::any::type_name::<M>(),
            DeadLetterReason::Unhandled,
        );
    }

    fn record(
        &self,
        recipient: impl FnOnce() -> ActorPath,
        message_type: &'static str,
        reason: DeadLetterReason,
    ) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let subscribed = self.has_subscribers.load(Ordering::Acquire);
        let on_stream = self.events.wants::<DeadLetter>() && !PUBLISHING.with(Cell::get);
        if !subscribed
            && !on_stream
            && !tracing::enabled!(target: "reactant::dead_letters", tracing::Level::DEBUG)
        {
            return;
        }
        let letter = DeadLetter {
            recipient: recipient(),
            message_type,
            reason,
        };
        tracing::debug!(
            target: "reactant::dead_letters",
            recipient = %letter.recipient,
            message_type,
            ?reason,
            "dead letter"
        );
        if on_stream {
            PUBLISHING.with(|flag| flag.set(true));
            self.events.publish(letter.clone());
            PUBLISHING.with(|flag| flag.set(false));
        }
        if subscribed {
            let mut subscribers = self.subscribers.lock();
            subscribers.retain(|s| s.send(letter.clone()).is_ok());
            if subscribers.is_empty() {
                self.has_subscribers.store(false, Ordering::Release);
            }
        }
    }
}

impl fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetters")
            .field("count", &self.count())
            .finish()
    }
}
