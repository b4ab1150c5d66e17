//! A countdown the receivers of one bench run share: each calls [`Round::count_down`] once it
//! has seen its share, and the last one wakes the bench thread; and [`Counter`], the receiver
//! of the `u64` workloads. Included by the bench targets that time delivery
//! (`#[path = "round.rs"] mod round;`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use reactant::prelude::*;

pub struct Round {
    pending: AtomicUsize,
    done_tx: Sender<()>,
    done_rx: Receiver<()>,
    /// Longest wait for a run: a lost message must fail loudly, not hang.
    timeout: Duration,
}

impl Round {
    pub fn new(timeout: Duration) -> Arc<Self> {
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        Arc::new(Self {
            pending: AtomicUsize::new(0),
            done_tx,
            done_rx,
            timeout,
        })
    }

    /// Starts a round that ends after `receivers` count-downs. Called before the first send,
    /// so every receiver sees the armed count (the mailbox lock orders the two).
    pub fn arm(&self, receivers: usize) {
        self.pending.store(receivers, Ordering::Release);
    }

    pub fn count_down(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _ = self.done_tx.send(());
        }
    }

    pub fn wait(&self, what: &str) {
        self.done_rx.recv_timeout(self.timeout).unwrap_or_else(|_| {
            panic!(
                "{what}: not every message arrived within {:?} ({} receivers short)",
                self.timeout,
                self.pending.load(Ordering::Acquire)
            )
        });
    }
}

/// Counts the `u64`s it receives and counts the round down after every `quota` of them.
// Not every bench that includes this file sends `u64`s.
#[allow(dead_code)]
pub struct Counter {
    seen: u64,
    quota: u64,
    round: Arc<Round>,
}

#[allow(dead_code)]
impl Counter {
    pub fn new(quota: u64, round: Arc<Round>) -> Self {
        Self {
            seen: 0,
            quota,
            round,
        }
    }
}

impl Actor for Counter {
    type Msg = u64;

    fn handle(&mut self, _ctx: &mut Context<u64>, msg: u64) {
        std::hint::black_box(msg);
        self.seen += 1;
        if self.seen == self.quota {
            self.seen = 0;
            self.round.count_down();
        }
    }
}
