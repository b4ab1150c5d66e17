//! Death watch without an actor: run a callback when an actor stops. How services that are
//! not actors themselves (the receptionist, topics) forget an actor that has stopped.
//!
//! The callback is registered as a watcher of the target, like an actor's `watch`; when the
//! target terminates it sends `Terminated` to its watchers, and this watcher runs the callback
//! instead of queueing a signal. It runs once, on the thread that finished the stop (or at once
//! when the target had already stopped); keep it short. A panic in it is caught and logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::ActorRef;
use super::cell::{CellControl, Control};
use super::path::ActorPath;
use crate::dead_letters::DeadLetterReason;
use crate::supervision::panic;

type Callback = Box<dyn FnOnce() + Send>;

/// Ids for callback watchers, counted down from the top so they never meet an actor's id.
static NEXT_ID: AtomicU64 = AtomicU64::new(u64::MAX);

struct CallbackWatcher {
    id: u64,
    callback: Mutex<Option<Callback>>,
}

impl CallbackWatcher {
    fn fire(&self) {
        let callback = self.callback.lock().take();
        if let Some(callback) = callback
            && let Err(failure) = panic::catch(callback)
        {
            tracing::error!(%failure, "a callback run when a watched actor stopped panicked");
        }
    }
}

impl CellControl for CallbackWatcher {
    fn id(&self) -> u64 {
        self.id
    }

    fn name(&self) -> Option<&str> {
        None
    }

    fn path(&self) -> ActorPath {
        ActorPath::new("/deathwatch")
    }

    fn is_terminated(&self) -> bool {
        self.callback.lock().is_none()
    }

    fn send_control(self: Arc<Self>, control: Control) -> Result<(), Control> {
        if let Control::Terminated(_) = control {
            self.fire();
        }
        Ok(())
    }

    fn dead_letter(&self, _: ActorPath, _: &'static str, _: DeadLetterReason) {}
}

/// Runs `callback` once `target` has stopped (at once if it already has). Returns `false`,
/// running nothing, where `target` is not an actor that can be watched (a reference made by
/// `contramap` to something else): the caller then checks `is_terminated` itself.
pub(crate) fn when_terminated<M: Send + 'static>(
    target: &ActorRef<M>,
    callback: impl FnOnce() + Send + 'static,
) -> bool {
    let Some(target) = target.to_any() else {
        return false;
    };
    let watcher = Arc::new(CallbackWatcher {
        id: NEXT_ID.fetch_sub(1, Ordering::Relaxed),
        callback: Mutex::new(Some(Box::new(callback))),
    });
    let as_control: Arc<dyn CellControl> = watcher.clone();
    if target
        .0
        .send_control(Control::Watch(super::AnyActorRef(as_control)))
        .is_err()
    {
        watcher.fire();
    }
    true
}
