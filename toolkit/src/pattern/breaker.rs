//! The circuit breaker: stop calling a dependency that keeps failing, fail fast meanwhile, and
//! try it again after a while (Akka's `CircuitBreaker`).
//!
//! # States
//!
//! The whole state is one atomic word (the state's tag in its low two bits, a number in the
//! rest), so every transition is one compare-and-swap and the closed state's success path is
//! one load:
//!
//! | state | number | a call | its outcome |
//! |---|---|---|---|
//! | `Closed` | failures in a row | runs | a success sets failures to 0; a failure adds 1, and the `max_failures`-th **trips** the breaker: `Open` |
//! | `Open` | when it may half-open (µs since the breaker was made) | before then: fails fast (`BreakerError::Open`); after: **half-opens**, and the call is the trial | — |
//! | `HalfOpen` | until when the trial may run | fails fast while the trial runs; after that, the call becomes the new trial | trial success **closes** the breaker (`Closed`, 0 failures); trial failure trips it again (`Open`) |
//!
//! Calls are timed, and the open period measured, with the clock's
//! [`coarse_now`](crate::time::Clock::coarse_now) (about 1 ms; one atomic load instead of a
//! clock read that can cost 100 ns or more on a VM), unless the call timeout (or the reset
//! timeout) is under 20 ms or a listener wants each call's duration.
//!
//! Half-opening happens at the first call after the reset timeout, not on a timer: a breaker
//! that nobody calls stays open (its [`state`](CircuitBreaker::state) says `Open`).
//!
//! Each trip uses the current reset timeout and multiplies it by the backoff factor for the
//! next trip, up to the maximum (the factor is 1 unless
//! [`with_exponential_backoff`](CircuitBreaker::with_exponential_backoff) is set); closing
//! brings it back to the configured reset timeout. With a random factor `r`, each open period
//! is stretched by a random fraction in `[0, r)`, so breakers that tripped together do not
//! retry together.
//!
//! One file, over 600 lines: the state word, its transitions and the two ways of calling (a
//! thread, an actor) share the same private helpers; a third of it is documentation.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::actor::{ActorRef, Context};
use crate::error::AskError;
use crate::time::{Clock, SystemClock};

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const TAG_BITS: u32 = 2;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;

fn pack(tag: u64, number: u64) -> u64 {
    (number.min(u64::MAX >> TAG_BITS) << TAG_BITS) | tag
}

fn tag(word: u64) -> u64 {
    word & TAG_MASK
}

fn number(word: u64) -> u64 {
    word >> TAG_BITS
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX >> TAG_BITS)
}

/// A circuit breaker's state, as [`CircuitBreaker::state`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls run; failures in a row are counted.
    Closed,
    /// Calls fail fast until the reset timeout has passed.
    Open,
    /// One trial call runs; the others fail fast.
    HalfOpen,
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
        })
    }
}

/// Why a call through a [`CircuitBreaker`] did not give a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BreakerError<E> {
    /// The breaker is open (or half-open with its trial call running): the call was not made.
    #[error(
        "the circuit breaker is {state}, so the call was not made; try again in {remaining:?}, \
         when it lets a trial call through"
    )]
    Open {
        /// Open or half-open.
        state: BreakerState,
        /// How long until the breaker lets a call through (zero: it may already).
        remaining: Duration,
    },
    /// The call took longer than the breaker's call timeout (or, for
    /// [`ask`](CircuitBreaker::ask), no reply came in time). It counts as a failure.
    #[error(
        "the call took longer than the circuit breaker's call timeout of {limit:?}, which \
         counts as a failure; raise the timeout if the dependency is slow but healthy"
    )]
    Timeout {
        /// The timeout.
        limit: Duration,
    },
    /// The call ran and failed.
    #[error("the call through the circuit breaker failed: {0}")]
    Failed(#[source] E),
}

type Listener = Arc<dyn Fn() + Send + Sync>;
type TimedListener = Arc<dyn Fn(Duration) + Send + Sync>;

#[derive(Clone, Default)]
struct Listeners {
    open: Vec<Listener>,
    half_open: Vec<Listener>,
    close: Vec<Listener>,
    call_success: Vec<TimedListener>,
    call_failure: Vec<TimedListener>,
    call_timeout: Vec<TimedListener>,
    call_breaker_open: Vec<Listener>,
}

fn notify(listeners: &[Listener]) {
    for listener in listeners {
        listener();
    }
}

fn notify_timed(listeners: &[TimedListener], elapsed: Duration) {
    for listener in listeners {
        listener(elapsed);
    }
}

#[derive(Clone)]
struct Config {
    max_failures: u64,
    call_timeout: Duration,
    reset_timeout: Duration,
    max_reset_timeout: Duration,
    backoff_factor: f64,
    random_factor: f64,
    clock: Arc<dyn Clock>,
    listeners: Listeners,
}

struct Inner {
    config: Config,
    /// The state word (see the module docs).
    word: AtomicU64,
    /// The reset timeout the next trip uses, in µs.
    next_reset: AtomicU64,
    /// Where the state word's times count from.
    origin: Instant,
    /// Time calls with the clock's precise reading: for call timeouts under
    /// [`COARSE_ENOUGH`], or when a listener wants each call's duration. Otherwise the
    /// clock's coarse reading (about 1 ms), which costs an atomic load instead of a clock read.
    precise: bool,
}

/// The shortest call timeout measured with the coarse clock (its error is then under 5%).
const COARSE_ENOUGH: Duration = Duration::from_millis(20);

/// How a call was let through: as an ordinary call of the closed state, or as the trial call
/// of the half-open state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admitted {
    Closed,
    Trial,
}

/// Stops calls to a dependency that keeps failing, and tries it again after a while.
///
/// Cheap to clone (clones share one breaker) and safe to use from any thread. Configure it
/// with the `with_*` and `on_*` methods before sharing it: each returns a fresh breaker
/// (closed) with the setting added.
///
/// From a plain thread, [`call`](Self::call) runs the call on the caller's thread and fails fast
/// while the breaker is open. Inside an actor, [`ask`](Self::ask) asks another actor without
/// blocking and delivers the outcome as a message.
///
/// ```
/// use std::time::Duration;
/// use reactant::pattern::{BreakerError, BreakerState, CircuitBreaker};
///
/// let breaker = CircuitBreaker::new(2, Duration::from_secs(1), Duration::from_secs(30));
/// let flaky = || -> Result<u32, String> { Err("the service is down".into()) };
/// assert!(matches!(breaker.call(flaky), Err(BreakerError::Failed(_))));
/// assert!(matches!(breaker.call(flaky), Err(BreakerError::Failed(_))));
/// // Two failures in a row: open. The next call is not made.
/// assert_eq!(breaker.state(), BreakerState::Open);
/// assert!(matches!(breaker.call(|| Ok::<u32, String>(1)), Err(BreakerError::Open { .. })));
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("state", &self.state())
            .field("failures", &self.failure_count())
            .field("max_failures", &self.inner.config.max_failures)
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// A closed breaker that opens after `max_failures` failures in a row, counts a call that
    /// takes longer than `call_timeout` as a failure, and lets a trial call through
    /// `reset_timeout` after opening. A `max_failures` of 0 counts as 1.
    pub fn new(max_failures: u32, call_timeout: Duration, reset_timeout: Duration) -> Self {
        Self::from_config(Config {
            max_failures: u64::from(max_failures.max(1)),
            call_timeout,
            reset_timeout,
            max_reset_timeout: Duration::MAX,
            backoff_factor: 1.0,
            random_factor: 0.0,
            clock: Arc::new(SystemClock),
            listeners: Listeners::default(),
        })
    }

    fn from_config(config: Config) -> Self {
        let origin = config.clock.now();
        let next_reset = AtomicU64::new(micros(config.reset_timeout));
        let listeners = &config.listeners;
        let precise = config.call_timeout < COARSE_ENOUGH
            || !listeners.call_success.is_empty()
            || !listeners.call_failure.is_empty()
            || !listeners.call_timeout.is_empty();
        Self {
            inner: Arc::new(Inner {
                config,
                word: AtomicU64::new(pack(CLOSED, 0)),
                next_reset,
                origin,
                precise,
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.inner.config.clone();
        change(&mut config);
        Self::from_config(config)
    }

    /// Doubles the reset timeout at each trip after a failed trial, up to `max_reset_timeout`
    /// (Akka's `withExponentialBackoff`). Closing brings it back to the configured value.
    pub fn with_exponential_backoff(self, max_reset_timeout: Duration) -> Self {
        self.with(|c| {
            c.max_reset_timeout = max_reset_timeout;
            if c.backoff_factor <= 1.0 {
                c.backoff_factor = 2.0;
            }
        })
    }

    /// The factor the reset timeout is multiplied by at each trip (at least 1; 2 with
    /// [`with_exponential_backoff`](Self::with_exponential_backoff)).
    pub fn with_backoff_factor(self, factor: f64) -> Self {
        self.with(|c| {
            c.backoff_factor = if factor.is_finite() {
                factor.max(1.0)
            } else {
                1.0
            }
        })
    }

    /// Stretches each open period by a random fraction in `[0, factor)` (0 to 1; 0 by
    /// default), so that breakers that opened together do not all retry at once.
    pub fn with_random_factor(self, factor: f64) -> Self {
        self.with(|c| {
            c.random_factor = if factor.is_finite() {
                factor.clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
    }

    /// Reads time from `clock` instead of the system clock (a
    /// [`ManualClock`](crate::time::ManualClock) makes the reset timeout testable without
    /// sleeping).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.with(|c| c.clock = clock)
    }

    /// Runs `listener` each time the breaker opens.
    pub fn on_open(self, listener: impl Fn() + Send + Sync + 'static) -> Self {
        self.with(|c| c.listeners.open.push(Arc::new(listener)))
    }

    /// Runs `listener` each time the breaker half-opens (on the trial call's thread).
    pub fn on_half_open(self, listener: impl Fn() + Send + Sync + 'static) -> Self {
        self.with(|c| c.listeners.half_open.push(Arc::new(listener)))
    }

    /// Runs `listener` each time the breaker closes after a successful trial.
    pub fn on_close(self, listener: impl Fn() + Send + Sync + 'static) -> Self {
        self.with(|c| c.listeners.close.push(Arc::new(listener)))
    }

    /// Runs `listener` with the call's duration after each successful call.
    pub fn on_call_success(self, listener: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.with(|c| c.listeners.call_success.push(Arc::new(listener)))
    }

    /// Runs `listener` with the call's duration after each failed call.
    pub fn on_call_failure(self, listener: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.with(|c| c.listeners.call_failure.push(Arc::new(listener)))
    }

    /// Runs `listener` with the call's duration after each call that timed out.
    pub fn on_call_timeout(self, listener: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.with(|c| c.listeners.call_timeout.push(Arc::new(listener)))
    }

    /// Runs `listener` after each call refused because the breaker was open.
    pub fn on_call_breaker_open(self, listener: impl Fn() + Send + Sync + 'static) -> Self {
        self.with(|c| c.listeners.call_breaker_open.push(Arc::new(listener)))
    }

    /// The state now. An open breaker whose reset timeout has passed still says `Open` until
    /// the next call half-opens it.
    pub fn state(&self) -> BreakerState {
        match tag(self.inner.word.load(Ordering::Acquire)) {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// Failures in a row so far (0 unless closed).
    pub fn failure_count(&self) -> u32 {
        let word = self.inner.word.load(Ordering::Acquire);
        match tag(word) {
            CLOSED => u32::try_from(number(word)).unwrap_or(u32::MAX),
            _ => 0,
        }
    }

    /// The reset timeout the next trip will use.
    pub fn current_reset_timeout(&self) -> Duration {
        Duration::from_micros(self.inner.next_reset.load(Ordering::Acquire))
    }

    /// Runs `call` on this thread unless the breaker is open. An `Err` counts as a failure; so
    /// does a call that takes longer than the call timeout (its value is then dropped and the
    /// result is [`BreakerError::Timeout`], as in Akka) and a call that panics (the panic goes
    /// on to the caller).
    pub fn call<T, E>(&self, call: impl FnOnce() -> Result<T, E>) -> Result<T, BreakerError<E>> {
        self.call_with(call, Result::is_err)
    }

    /// [`call`](Self::call), with `is_failure` deciding which outcomes count as failures (an
    /// `Ok` that carries an error code, or an `Err` that says nothing about the dependency's
    /// health). An `Err` the predicate accepts is still returned as
    /// [`BreakerError::Failed`].
    pub fn call_with<T, E>(
        &self,
        call: impl FnOnce() -> Result<T, E>,
        is_failure: impl FnOnce(&Result<T, E>) -> bool,
    ) -> Result<T, BreakerError<E>> {
        let config = &self.inner.config;
        let admitted = self.admit(config.call_timeout)?;
        let started = self.call_time();
        // Records a failure if `call` panics: the panic unwinds through here.
        let guard = PanicGuard {
            breaker: self,
            admitted,
            started,
            armed: true,
        };
        let outcome = call();
        let mut guard = guard;
        guard.armed = false;
        let elapsed = self.call_time().saturating_duration_since(started);
        if elapsed > config.call_timeout {
            self.record_timeout(admitted, elapsed);
            return Err(BreakerError::Timeout {
                limit: config.call_timeout,
            });
        }
        if is_failure(&outcome) {
            self.record_failure(admitted, elapsed);
        } else {
            self.record_success(admitted, elapsed);
        }
        outcome.map_err(BreakerError::Failed)
    }

    /// Asks `target` from inside an actor without blocking: the outcome arrives as this
    /// actor's own message `map(outcome)`, exactly once. A reply is a success; no reply within
    /// `timeout` is a failure ([`BreakerError::Timeout`]); an open breaker answers at once
    /// with [`BreakerError::Open`] and sends nothing.
    ///
    /// A reply that is itself an error (the dependency answered "failed") counts as a
    /// success here: when the handler sees it, it calls
    /// [`record_failure_now`](Self::record_failure_now).
    pub fn ask<M, Req, Res, F, G>(
        &self,
        ctx: &mut Context<M>,
        target: &ActorRef<Req>,
        make_request: F,
        timeout: Duration,
        map: G,
    ) where
        M: Send + 'static,
        Req: Send + 'static,
        Res: Send + 'static,
        F: FnOnce(ActorRef<Res>) -> Req,
        G: FnOnce(Result<Res, BreakerError<AskError>>) -> M + Send + 'static,
    {
        let admitted = match self.admit(timeout) {
            Ok(admitted) => admitted,
            Err(refused) => {
                ctx.self_ref().tell(map(Err(refused)));
                return;
            }
        };
        let breaker = self.clone();
        let started = self.inner.config.clock.now();
        ctx.ask(target, make_request, timeout, move |outcome| {
            let elapsed = breaker
                .inner
                .config
                .clock
                .now()
                .saturating_duration_since(started);
            match outcome {
                Ok(reply) => {
                    breaker.record_success(admitted, elapsed);
                    map(Ok(reply))
                }
                Err(AskError::Timeout(_)) => {
                    breaker.record_timeout(admitted, elapsed);
                    map(Err(BreakerError::Timeout { limit: timeout }))
                }
                Err(error) => {
                    breaker.record_failure(admitted, elapsed);
                    map(Err(BreakerError::Failed(error)))
                }
            }
        });
    }

    /// Counts one failure now, as if a call had failed (for outcomes the breaker cannot see:
    /// an error reply to an [`ask`](Self::ask)). Closed: one more failure in a row; half-open:
    /// the trial failed.
    pub fn record_failure_now(&self) {
        let admitted = match tag(self.inner.word.load(Ordering::Acquire)) {
            HALF_OPEN => Admitted::Trial,
            _ => Admitted::Closed,
        };
        self.record_failure(admitted, Duration::ZERO);
    }

    /// The time, for measuring a call (see `Inner::precise`).
    #[inline]
    fn call_time(&self) -> Instant {
        let clock = &self.inner.config.clock;
        if self.inner.precise {
            clock.now()
        } else {
            clock.coarse_now()
        }
    }

    /// The time for the state word: coarse (about 1 ms) unless the reset timeout is short.
    fn now_us(&self) -> u64 {
        let clock = &self.inner.config.clock;
        let now = if self.inner.config.reset_timeout < COARSE_ENOUGH {
            clock.now()
        } else {
            clock.coarse_now()
        };
        micros(now.saturating_duration_since(self.inner.origin))
    }

    /// Lets a call through, or says why not. A trial may run for `trial` before another call
    /// may take its place.
    fn admit<E>(&self, trial: Duration) -> Result<Admitted, BreakerError<E>> {
        let inner = &*self.inner;
        let mut word = inner.word.load(Ordering::Acquire);
        loop {
            let state = match tag(word) {
                CLOSED => return Ok(Admitted::Closed),
                OPEN => BreakerState::Open,
                _ => BreakerState::HalfOpen,
            };
            let now = self.now_us();
            let until = number(word);
            if now < until {
                notify(&inner.config.listeners.call_breaker_open);
                return Err(BreakerError::Open {
                    state,
                    remaining: Duration::from_micros(until - now),
                });
            }
            let trial_until = pack(HALF_OPEN, now.saturating_add(micros(trial)));
            match inner.word.compare_exchange_weak(
                word,
                trial_until,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if state == BreakerState::Open {
                        tracing::info!("a circuit breaker half-opens: one trial call goes through");
                        notify(&inner.config.listeners.half_open);
                    }
                    return Ok(Admitted::Trial);
                }
                Err(seen) => word = seen,
            }
        }
    }

    fn record_success(&self, admitted: Admitted, elapsed: Duration) {
        let inner = &*self.inner;
        notify_timed(&inner.config.listeners.call_success, elapsed);
        let word = inner.word.load(Ordering::Acquire);
        match admitted {
            // The common case, one load: closed with no failures.
            Admitted::Closed if word == pack(CLOSED, 0) => {}
            Admitted::Closed => {
                if tag(word) == CLOSED {
                    let _ = inner.word.compare_exchange(
                        word,
                        pack(CLOSED, 0),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                }
            }
            Admitted::Trial => {
                if tag(word) != HALF_OPEN {
                    return;
                }
                inner
                    .next_reset
                    .store(micros(inner.config.reset_timeout), Ordering::Release);
                if inner
                    .word
                    .compare_exchange(word, pack(CLOSED, 0), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    tracing::info!("a circuit breaker closes: its trial call succeeded");
                    notify(&inner.config.listeners.close);
                }
            }
        }
    }

    fn record_timeout(&self, admitted: Admitted, elapsed: Duration) {
        notify_timed(&self.inner.config.listeners.call_timeout, elapsed);
        self.count_failure(admitted);
    }

    fn record_failure(&self, admitted: Admitted, elapsed: Duration) {
        notify_timed(&self.inner.config.listeners.call_failure, elapsed);
        self.count_failure(admitted);
    }

    fn count_failure(&self, admitted: Admitted) {
        let inner = &*self.inner;
        let mut word = inner.word.load(Ordering::Acquire);
        loop {
            let next = match (admitted, tag(word)) {
                (Admitted::Closed, CLOSED) => {
                    let failures = number(word) + 1;
                    if failures < inner.config.max_failures {
                        pack(CLOSED, failures)
                    } else {
                        self.open_word()
                    }
                }
                (Admitted::Trial, HALF_OPEN) => self.open_word(),
                // Another call changed the state meanwhile: this outcome is stale.
                _ => return,
            };
            match inner
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if tag(next) == OPEN {
                        self.opened();
                    }
                    return;
                }
                Err(seen) => word = seen,
            }
        }
    }

    /// The open state's word: open until now plus the current reset timeout, stretched by the
    /// random factor.
    fn open_word(&self) -> u64 {
        let config = &self.inner.config;
        let reset = self.inner.next_reset.load(Ordering::Acquire);
        let stretch = if config.random_factor > 0.0 {
            1.0 + fastrand::f64() * config.random_factor
        } else {
            1.0
        };
        let period = (reset as f64 * stretch) as u64;
        pack(OPEN, self.now_us().saturating_add(period))
    }

    /// After a trip: the next trip waits longer (with backoff), and the listeners hear.
    fn opened(&self) {
        let inner = &*self.inner;
        let config = &inner.config;
        let reset = inner.next_reset.load(Ordering::Acquire);
        let next =
            ((reset as f64 * config.backoff_factor) as u64).min(micros(config.max_reset_timeout));
        inner.next_reset.store(next.max(1), Ordering::Release);
        tracing::warn!(
            reset_timeout = ?Duration::from_micros(reset),
            "a circuit breaker opens: calls fail fast until its reset timeout has passed"
        );
        notify(&config.listeners.open);
    }
}

/// Counts a failure if the call it guards unwinds.
struct PanicGuard<'a> {
    breaker: &'a CircuitBreaker,
    admitted: Admitted,
    started: Instant,
    armed: bool,
}

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let elapsed = self
                .breaker
                .call_time()
                .saturating_duration_since(self.started);
            self.breaker.record_failure(self.admitted, elapsed);
        }
    }
}
