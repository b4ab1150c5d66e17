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

    /// The time now to within about a millisecond, for measuring how long something took on
    /// a hot path where reading the clock costs more than the work (a circuit breaker's call).
    /// Never goes backwards. Defaults to [`now`](Self::now).
    fn coarse_now(&self) -> Instant {
        self.now()
    }
}

/// The process's monotonic clock ([`Instant::now`]).
///
/// Its [`coarse_now`](Clock::coarse_now) is one atomic load: a ticker thread stores the time
/// every millisecond while anyone reads it, and exits after a second without readers. On a
/// machine where reading the clock traps to the hypervisor (about 80–200 ns a read on the
/// project's 2-core VM, see `benches/README.md`), this is what keeps a closed circuit breaker's
/// overhead to a few nanoseconds. While the machine is so overloaded that the ticker does not
/// run for a while, coarse readings lag behind by that long.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    #[inline]
    fn coarse_now(&self) -> Instant {
        ticker::coarse_now()
    }
}

/// The ticker behind [`SystemClock::coarse_now`].
mod ticker {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    /// How often the ticker stores the time.
    const TICK: Duration = Duration::from_millis(1);
    /// Ticks without a reader before the ticker exits.
    const IDLE_TICKS: u32 = 1_000;

    struct Ticker {
        origin: Instant,
        /// Microseconds since `origin` at the last tick (only grows).
        micros: AtomicU64,
        /// Someone read since the last tick.
        touched: AtomicBool,
        running: AtomicBool,
    }

    static TICKER: OnceLock<Ticker> = OnceLock::new();

    fn micros_since(origin: Instant) -> u64 {
        u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    pub(super) fn coarse_now() -> Instant {
        let ticker = TICKER.get_or_init(|| Ticker {
            origin: Instant::now(),
            micros: AtomicU64::new(0),
            touched: AtomicBool::new(false),
            running: AtomicBool::new(false),
        });
        if !ticker.touched.load(Ordering::Relaxed) {
            ticker.touched.store(true, Ordering::Relaxed);
        }
        if !ticker.running.load(Ordering::Acquire) {
            return ticker.start();
        }
        ticker.origin + Duration::from_micros(ticker.micros.load(Ordering::Acquire))
    }

    impl Ticker {
        /// Starts the ticker thread (if no other reader just did) and reads the clock itself.
        #[cold]
        fn start(&'static self) -> Instant {
            let now = micros_since(self.origin);
            self.micros.fetch_max(now, Ordering::AcqRel);
            if self
                .running
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let spawned = std::thread::Builder::new()
                    .name("reactant-clock".into())
                    .spawn(move || self.run());
                if spawned.is_err() {
                    // No thread: the next reader tries again, and reads the clock meanwhile.
                    self.running.store(false, Ordering::Release);
                }
            }
            self.origin + Duration::from_micros(self.micros.load(Ordering::Acquire))
        }

        fn run(&self) {
            let mut idle = 0;
            loop {
                std::thread::sleep(TICK);
                self.micros
                    .fetch_max(micros_since(self.origin), Ordering::AcqRel);
                if self.touched.swap(false, Ordering::AcqRel) {
                    idle = 0;
                    continue;
                }
                idle += 1;
                if idle < IDLE_TICKS {
                    continue;
                }
                self.running.store(false, Ordering::Release);
                // A reader that came meanwhile may have seen `running` still set: keep going
                // for it unless it started a ticker of its own.
                if self.touched.load(Ordering::Acquire)
                    && self
                        .running
                        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                {
                    idle = 0;
                    continue;
                }
                return;
            }
        }
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

#[cfg(test)]
mod coarse_tests {
    use super::{Clock, SystemClock};
    use std::time::{Duration, Instant};

    #[test]
    fn the_coarse_reading_never_goes_backwards_and_follows_the_clock() {
        let clock = SystemClock;
        let first = clock.coarse_now();
        assert!(first <= Instant::now());
        let mut last = first;
        let deadline = Instant::now() + Duration::from_secs(10);
        // It catches up with a clock that moved 5 ms on (the ticker runs while it is read).
        while last < first + Duration::from_millis(5) {
            assert!(Instant::now() < deadline, "the coarse clock stood still");
            std::thread::sleep(Duration::from_millis(1));
            let next = clock.coarse_now();
            assert!(next >= last, "the coarse clock went backwards");
            assert!(next <= Instant::now(), "the coarse clock ran ahead");
            last = next;
        }
    }

    #[test]
    fn readers_on_several_threads_see_it_move_forward_only() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    let mut last = SystemClock.coarse_now();
                    for _ in 0..20_000 {
                        let next = SystemClock.coarse_now();
                        assert!(next >= last);
                        last = next;
                    }
                })
            })
            .collect();
        for thread in threads {
            assert!(thread.join().is_ok(), "a reader saw the clock go backwards");
        }
    }
}
