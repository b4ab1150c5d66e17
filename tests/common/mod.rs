//! What the integration tests share: a small actor system, generous waits for outcomes, and
//! probes that report an actor's lifecycle on a channel.
//!
//! Waits here only bound how long a test waits for something that must happen; they never
//! measure speed. A hang fails the test after [`WAIT`] instead of blocking the suite.

// Each test binary compiles this module and uses only some of it.
#![allow(dead_code)]

use std::fmt::Debug;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use reactant::prelude::*;

/// How long a test waits for an outcome that should come promptly.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long a test watches for something that must *not* happen.
pub const QUIET: Duration = Duration::from_millis(200);

/// A system with two workers on the default dispatcher, as every test uses unless it needs
/// another shape.
pub fn system(name: &str) -> ActorSystem {
    ActorSystem::builder()
        .name(name)
        .threads(2)
        .build()
        .expect("a two-thread system starts")
}

/// The next message on `rx`; fails the test if none comes within [`WAIT`].
#[track_caller]
pub fn recv<T>(rx: &Receiver<T>) -> T {
    match rx.recv_timeout(WAIT) {
        Ok(value) => value,
        Err(RecvTimeoutError::Timeout) => panic!("nothing arrived within {WAIT:?}"),
        Err(RecvTimeoutError::Disconnected) => panic!("the channel closed before a message came"),
    }
}

/// The next `n` messages on `rx`, in arrival order.
#[track_caller]
pub fn recv_n<T>(rx: &Receiver<T>, n: usize) -> Vec<T> {
    (0..n).map(|_| recv(rx)).collect()
}

/// Fails the test if anything arrives on `rx` within [`QUIET`].
#[track_caller]
pub fn assert_quiet<T: Debug>(rx: &Receiver<T>) {
    if let Ok(unexpected) = rx.recv_timeout(QUIET) {
        panic!("expected nothing, got {unexpected:?}");
    }
}

/// Polls `condition` until it holds; false if it still does not after [`WAIT`].
pub fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `behavior`, also sending the actor's path on `stopped` when it receives `PostStop`.
pub fn reporting_post_stop<M: Send + 'static>(
    behavior: Behavior<M>,
    stopped: &Sender<ActorPath>,
) -> Behavior<M> {
    let stopped = stopped.clone();
    behavior.receive_signal(move |ctx, signal| {
        if let Signal::PostStop = signal {
            let _ = stopped.send(ctx.path());
        }
        Behaviors::same()
    })
}

/// An actor that replies to each `reply_to` it receives with `value`.
pub fn answering<R: Clone + Send + Sync + 'static>(value: R) -> Behavior<ActorRef<R>> {
    Behaviors::receive_message(move |reply_to: ActorRef<R>| {
        reply_to.tell(value.clone());
        Behaviors::same()
    })
}

/// A message that parks its actor's worker until the test lets go: the actor sends on
/// `entered` once it is inside the handler, then waits until `release`'s sender is dropped (or
/// sends).
pub struct Gate {
    /// Signalled when the handler has started.
    pub entered: Sender<()>,
    /// Closed by the test to let the handler return.
    pub release: Receiver<()>,
}

impl Gate {
    /// Waits inside a handler until released.
    pub fn hold(self) {
        let _ = self.entered.send(());
        let _ = self.release.recv();
    }
}

/// The test's side of a [`Gate`]: dropping it (or calling `open`) lets the handler return.
pub struct GateKeeper {
    entered: Receiver<()>,
    release: Option<Sender<()>>,
}

impl GateKeeper {
    /// Blocks until the actor is inside the gated handler.
    #[track_caller]
    pub fn wait_entered(&self) {
        recv(&self.entered);
    }

    /// Lets the gated handler return.
    pub fn open(&mut self) {
        self.release.take();
    }
}

/// A gate and its keeper.
pub fn gate() -> (Gate, GateKeeper) {
    let (entered_tx, entered_rx) = crossbeam_channel::unbounded();
    let (release_tx, release_rx) = crossbeam_channel::bounded(1);
    (
        Gate {
            entered: entered_tx,
            release: release_rx,
        },
        GateKeeper {
            entered: entered_rx,
            release: Some(release_tx),
        },
    )
}
