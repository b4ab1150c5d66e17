//! Where time comes from, so that code with deadlines can be tested without sleeping.
//!
//! A [`Clock`] says what time it is. [`SystemClock`] reads the monotonic clock; [`ManualClock`]
//! stands still until the test advances it. Code that measures time (the circuit breaker's
//! reset timeout, for one) takes an `Arc<dyn Clock>` and defaults to the system clock.
//!
//! ```
//! use std::time::Duration;
//! use reactant::time::{Clock, ManualClock};
//!
//! let clock = ManualClock::new();
//! let start = clock.now();
//! clock.advance(Duration::from_secs(5));
//! assert_eq!(clock.now() - start, Duration::from_secs(5));
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A source of monotonic time.
pub trait Clock: Send + Sync + 'static {
    /// The time now. Never goes backwards.
    fn now(&self) -> Instant;
}

/// The process's monotonic clock ([`Instant::now`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to: for tests of deadlines and backoffs without sleeps.
/// Shared between threads (advance it from the test while the code under test reads it).
#[derive(Debug)]
pub struct ManualClock {
    origin: Instant,
    /// Nanoseconds advanced since `origin`.
    offset: AtomicU64,
}

impl ManualClock {
    /// A clock standing at the moment it was made.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            offset: AtomicU64::new(0),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // Saturating: a clock advanced past 584 years stays there.
        let _ = self
            .offset
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_add(nanos))
            });
    }

    /// How far the clock has been advanced in all.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.offset.load(Ordering::Acquire))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.origin + self.elapsed()
    }
}
