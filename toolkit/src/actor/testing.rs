//! The seam the testkit (feature `testkit`) uses to watch an actor from the outside, kept here
//! so that the core never imports from the testkit: a system built for tests may carry an
//! [`EffectSink`], to which `Context` reports what a handler did besides returning its next
//! behavior (children spawned and stopped, actors watched, timers started and cancelled).
//!
//! A system built without one — every system outside the testkit — pays one `None` check on
//! these rare paths (spawning, watching, starting a timer), never on the message path; without
//! the feature the code is not compiled at all.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use super::actor_ref::AnyActorRef;

pub use crate::timers::TimerMode;
use crate::timers::TimerObserver;

/// What a handler did, as the core reports it to the sink.
pub(crate) enum RecordedEffect {
    /// A child was spawned; `typed` holds its `ActorRef<N>` (for the test to read its inbox).
    Spawned {
        name: Option<String>,
        child: AnyActorRef,
        typed: Arc<dyn Any + Send + Sync>,
    },
    /// A child was stopped with `ctx.stop`.
    StoppedChild(AnyActorRef),
    Watched(AnyActorRef),
    Unwatched(AnyActorRef),
    /// `key` is the timer key's `Debug` text.
    TimerStarted {
        key: String,
        delay: Duration,
        mode: TimerMode,
    },
    TimerCancelled {
        key: String,
    },
    /// The actor is stopping or restarting and has told its children to stop (it waits for
    /// them): a test that runs it must now run them too.
    StoppingChildren,
}

/// Receives what the actors of a test system do; `actor` is the id of the actor that did it.
pub(crate) trait EffectSink: Send + Sync + 'static {
    fn record(&self, actor: u64, effect: RecordedEffect);
}

/// Where a timer of actor `actor` reports its starts and cancellations.
#[derive(Clone)]
pub(crate) struct TimerRecording {
    pub(crate) actor: u64,
    pub(crate) sink: Arc<dyn EffectSink>,
}

impl TimerObserver for TimerRecording {
    fn started(&self, key: String, delay: Duration, mode: TimerMode) {
        self.sink.record(
            self.actor,
            RecordedEffect::TimerStarted { key, delay, mode },
        );
    }

    fn cancelled(&self, key: String) {
        self.sink
            .record(self.actor, RecordedEffect::TimerCancelled { key });
    }
}

/// The builder's note that a system is manual, with its sink if any.
#[derive(Clone)]
pub(crate) struct Manual(pub(crate) Option<Arc<dyn EffectSink>>);

impl std::fmt::Debug for Manual {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Manual")
    }
}
