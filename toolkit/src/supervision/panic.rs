//! Catching panics at the actor boundary.
//!
//! A panic inside a handler unwinds to the runtime, which hands it to the supervisor. The
//! process-wide panic hook would still print every such panic to stderr; we chain a hook that
//! stays quiet while actor code runs on a worker (the runtime logs the failure through `tracing`
//! with the actor's path instead) and defers to the previous hook everywhere else.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use super::failure::ActorFailure;

thread_local! {
    static IN_ACTOR: Cell<bool> = const { Cell::new(false) };
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs the quiet-inside-actors hook once per process.
pub(crate) fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_ACTOR.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LOCATION.with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs actor code, turning a panic into an [`ActorFailure`].
#[inline]
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, ActorFailure> {
    let was_inside = IN_ACTOR.with(|flag| flag.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    IN_ACTOR.with(|flag| flag.set(was_inside));
    result.map_err(failure_from_payload)
}

fn failure_from_payload(payload: Box<dyn Any + Send>) -> ActorFailure {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    };
    let location = LOCATION.with(|slot| slot.borrow_mut().take());
    // Dropping an arbitrary payload may itself panic; keep that from escaping.
    let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
    match location {
        Some(location) => ActorFailure::new(format!("{message} (at {location})")),
        None => ActorFailure::new(message),
    }
}
