//! Supervisor strategies and the per-actor bookkeeping that applies them.

use std::time::{Duration, Instant};

/// What a supervisor does when its actor fails.
///
/// ```
/// use reactant::prelude::*;
/// use std::time::Duration;
///
/// let strategy = SupervisorStrategy::restart().with_limit(3, Duration::from_secs(10));
/// let behavior: Behavior<u32> = Behaviors::supervise(Behaviors::receive_message(|n: u32| {
///     assert!(n != 13, "unlucky");
///     Behaviors::same()
/// }))
/// .on_failure(strategy);
/// # drop(behavior);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub enum SupervisorStrategy {
    /// Stop the actor (the default, as in Akka Typed). Its parent sees `ChildFailed` if it
    /// watches it.
    #[default]
    Stop,
    /// Drop the failing message and keep the current behavior and state.
    Resume,
    /// Start again from the initial behavior, at most `limit` times within its window.
    Restart {
        /// `None`: restart without limit.
        limit: Option<RestartLimit>,
        /// Messages kept while waiting for children to stop before the restart.
        stash_capacity: usize,
    },
    /// Restart after a delay that doubles with each failure, with random jitter.
    RestartWithBackoff(Backoff),
}

/// At most `max_restarts` restarts within `within`; one more failure stops the actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartLimit {
    /// Restarts allowed in one window.
    pub max_restarts: u32,
    /// The window.
    pub within: Duration,
}

/// Parameters of [`SupervisorStrategy::RestartWithBackoff`].
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    /// The first delay.
    pub min: Duration,
    /// The largest delay.
    pub max: Duration,
    /// Up to this fraction of the delay is added at random, so that many actors failing
    /// together do not restart together.
    pub random_factor: f64,
    /// After this long without a failure the delay starts again from `min`.
    pub reset_after: Duration,
    /// Messages kept while waiting to restart; more go to dead letters.
    pub stash_capacity: usize,
}

/// Messages an actor keeps while a restart is pending, unless configured otherwise.
pub(crate) const DEFAULT_RESTART_STASH: usize = 1000;

impl SupervisorStrategy {
    /// Stop the failed actor.
    pub fn stop() -> Self {
        Self::Stop
    }

    /// Keep going with the same state, dropping the failing message.
    pub fn resume() -> Self {
        Self::Resume
    }

    /// Restart from the initial behavior, without limit unless [`with_limit`](Self::with_limit)
    /// is used: the strategy for a poison message. Without a limit, a start that fails (a
    /// `setup` or `pre_start` that panics) is retried at most 10 times in a row; then the actor
    /// stops, rather than restarting in a hot loop.
    pub fn restart() -> Self {
        Self::Restart {
            limit: None,
            stash_capacity: DEFAULT_RESTART_STASH,
        }
    }

    /// Restart after `min`, doubling the delay at each consecutive failure up to `max`, plus up
    /// to `random_factor` of it at random: the strategy for "a dependency is down". The delay
    /// goes back to `min` once the actor has run for `max` since its last restart without
    /// failing (change it with [`with_reset_after`](Self::with_reset_after)).
    pub fn restart_with_backoff(min: Duration, max: Duration, random_factor: f64) -> Self {
        Self::RestartWithBackoff(Backoff {
            min,
            max: max.max(min),
            random_factor: random_factor.clamp(0.0, 1.0),
            reset_after: max.max(min),
            stash_capacity: DEFAULT_RESTART_STASH,
        })
    }

    /// Limits restarts to `max_restarts` within `within`; the next failure stops the actor.
    /// Only meaningful on [`restart`](Self::restart).
    pub fn with_limit(self, max_restarts: u32, within: Duration) -> Self {
        match self {
            Self::Restart { stash_capacity, .. } => Self::Restart {
                limit: Some(RestartLimit {
                    max_restarts,
                    within,
                }),
                stash_capacity,
            },
            other => other,
        }
    }

    /// How long running without failure, counted from the last restart (the backoff wait
    /// does not count), resets the backoff to its minimum.
    pub fn with_reset_after(self, quiet: Duration) -> Self {
        match self {
            Self::RestartWithBackoff(backoff) => Self::RestartWithBackoff(Backoff {
                reset_after: quiet,
                ..backoff
            }),
            other => other,
        }
    }

    /// How many messages are kept while a restart is pending (default 1000); beyond that they go
    /// to dead letters.
    pub fn with_stash_capacity(self, capacity: usize) -> Self {
        match self {
            Self::Restart { limit, .. } => Self::Restart {
                limit,
                stash_capacity: capacity,
            },
            Self::RestartWithBackoff(backoff) => Self::RestartWithBackoff(Backoff {
                stash_capacity: capacity,
                ..backoff
            }),
            other => other,
        }
    }

    pub(crate) fn stash_capacity(&self) -> usize {
        match self {
            Self::Restart { stash_capacity, .. } => *stash_capacity,
            Self::RestartWithBackoff(backoff) => backoff.stash_capacity,
            Self::Stop | Self::Resume => DEFAULT_RESTART_STASH,
        }
    }
}

/// What the runtime does about one failure.
#[derive(Debug, PartialEq)]
pub(crate) enum Decision {
    Stop,
    Resume,
    Restart,
    RestartAfter(Duration),
}

/// The supervision bookkeeping of one actor: its strategy and the failures counted against it.
#[derive(Debug)]
pub(crate) struct SupervisionState {
    strategy: SupervisorStrategy,
    window_start: Option<Instant>,
    restarts_in_window: u32,
    consecutive_failures: u32,
    /// When the last backoff restart happened (or will): the start of the quiet period.
    restarted_at: Option<Instant>,
}

impl SupervisionState {
    pub(crate) fn new(strategy: SupervisorStrategy) -> Self {
        Self {
            strategy,
            window_start: None,
            restarts_in_window: 0,
            consecutive_failures: 0,
            restarted_at: None,
        }
    }

    pub(crate) fn strategy(&self) -> &SupervisorStrategy {
        &self.strategy
    }

    /// Counts a failure at `now` and decides.
    pub(crate) fn decide(&mut self, now: Instant) -> Decision {
        match &self.strategy {
            SupervisorStrategy::Stop => Decision::Stop,
            SupervisorStrategy::Resume => Decision::Resume,
            SupervisorStrategy::Restart { limit: None, .. } => Decision::Restart,
            SupervisorStrategy::Restart {
                limit: Some(limit), ..
            } => {
                let window_open = self
                    .window_start
                    .is_some_and(|start| now.duration_since(start) <= limit.within);
                if !window_open {
                    self.window_start = Some(now);
                    self.restarts_in_window = 0;
                }
                if self.restarts_in_window >= limit.max_restarts {
                    Decision::Stop
                } else {
                    self.restarts_in_window += 1;
                    Decision::Restart
                }
            }
            SupervisorStrategy::RestartWithBackoff(backoff) => {
                // Quiet is measured from the last restart, as Akka's `resetBackoffAfter`: the
                // backoff wait itself is not a quiet period.
                let quiet = self.restarted_at.is_none_or(|restarted| {
                    now.saturating_duration_since(restarted) >= backoff.reset_after
                });
                if quiet {
                    self.consecutive_failures = 0;
                }
                let delay = backoff_delay(backoff, self.consecutive_failures, fastrand::f64());
                self.restarted_at = Some(now + delay);
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                Decision::RestartAfter(delay)
            }
        }
    }
}

/// `min · 2^attempt`, capped at `max`, plus `jitter · random_factor` of it.
pub(crate) fn backoff_delay(backoff: &Backoff, attempt: u32, jitter: f64) -> Duration {
    let factor = 2f64.powi(attempt.min(62) as i32);
    let base = backoff.min.as_secs_f64() * factor;
    let capped = base.min(backoff.max.as_secs_f64());
    let with_jitter = capped * (1.0 + backoff.random_factor * jitter.clamp(0.0, 1.0));
    Duration::try_from_secs_f64(with_jitter).unwrap_or(backoff.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_limit_stops_after_the_allowed_restarts_in_a_window() {
        let mut state = SupervisionState::new(
            SupervisorStrategy::restart().with_limit(2, Duration::from_secs(10)),
        );
        let t0 = Instant::now();
        assert_eq!(state.decide(t0), Decision::Restart);
        assert_eq!(state.decide(t0 + Duration::from_secs(1)), Decision::Restart);
        assert_eq!(state.decide(t0 + Duration::from_secs(2)), Decision::Stop);
    }

    #[test]
    fn restart_limit_window_reopens_after_it_elapses() {
        let mut state = SupervisionState::new(
            SupervisorStrategy::restart().with_limit(1, Duration::from_secs(1)),
        );
        let t0 = Instant::now();
        assert_eq!(state.decide(t0), Decision::Restart);
        assert_eq!(state.decide(t0 + Duration::from_secs(5)), Decision::Restart);
    }

    #[test]
    fn backoff_doubles_up_to_its_maximum() {
        let backoff = match SupervisorStrategy::restart_with_backoff(
            Duration::from_millis(10),
            Duration::from_millis(50),
            0.0,
        ) {
            SupervisorStrategy::RestartWithBackoff(b) => b,
            _ => unreachable!(),
        };
        let delays: Vec<_> = (0..5).map(|a| backoff_delay(&backoff, a, 0.5)).collect();
        assert_eq!(
            delays,
            [10, 20, 40, 50, 50].map(Duration::from_millis).to_vec()
        );
    }

    #[test]
    fn backoff_resets_after_a_quiet_period() {
        let mut state = SupervisionState::new(
            SupervisorStrategy::restart_with_backoff(
                Duration::from_millis(10),
                Duration::from_secs(1),
                0.0,
            )
            .with_reset_after(Duration::from_secs(5)),
        );
        let t0 = Instant::now();
        let first = state.decide(t0);
        let second = state.decide(t0 + Duration::from_millis(100));
        let after_quiet = state.decide(t0 + Duration::from_secs(10));
        assert_eq!(first, Decision::RestartAfter(Duration::from_millis(10)));
        assert_eq!(second, Decision::RestartAfter(Duration::from_millis(20)));
        assert_eq!(
            after_quiet,
            Decision::RestartAfter(Duration::from_millis(10))
        );
    }

    #[test]
    fn the_quiet_period_of_a_backoff_is_measured_from_the_restart_not_the_failure() {
        let ms = Duration::from_millis;
        let mut state = SupervisionState::new(
            SupervisorStrategy::restart_with_backoff(ms(100), Duration::from_secs(10), 0.0)
                .with_reset_after(ms(150)),
        );
        let t0 = Instant::now();
        assert_eq!(state.decide(t0), Decision::RestartAfter(ms(100)));
        // 200 ms after the failure, but only 100 ms after the restart: not quiet yet.
        assert_eq!(state.decide(t0 + ms(200)), Decision::RestartAfter(ms(200)));
        // Restarted at 400 ms; 200 ms of running since then is quiet enough.
        assert_eq!(state.decide(t0 + ms(600)), Decision::RestartAfter(ms(100)));
    }
}
