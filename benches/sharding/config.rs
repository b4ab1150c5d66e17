//! The bench's sizes, from the environment.

use std::thread;
use std::time::Duration;

use reactant::prelude::*;

/// Longest wait for a run (or the footprint workload) to finish: a lost message must fail
/// loudly, not hang.
pub(crate) const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// How often the footprint workload samples RSS.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_millis(10);

pub(crate) struct Config {
    pub(crate) worker_threads: usize,
    pub(crate) senders: Vec<usize>,
    pub(crate) runs: usize,
    pub(crate) entities: usize,
    pub(crate) messages: u64,
    pub(crate) touched: usize,
    pub(crate) active_limit: usize,
    /// Whether to run the routing throughput part and the passivation footprint part.
    pub(crate) routing: bool,
    pub(crate) footprint: bool,
}

impl Config {
    pub(crate) fn from_env() -> Self {
        let only = std::env::var("REACTANT_BENCH_ONLY").ok();
        let (routing, footprint) = match only.as_deref().map(str::trim) {
            None | Some("") => (true, true),
            Some("routing") => (true, false),
            Some("footprint") => (false, true),
            Some(other) => {
                panic!("REACTANT_BENCH_ONLY must be routing or footprint, got {other:?}")
            }
        };
        let config = Self {
            routing,
            footprint,
            worker_threads: env_number("REACTANT_BENCH_THREADS", cores()),
            senders: env_list("REACTANT_BENCH_SENDERS", &[1, 2, 4]),
            runs: env_number("REACTANT_BENCH_RUNS", 5),
            entities: env_number("REACTANT_BENCH_SHARD_ENTITIES", 10_000),
            messages: env_number("REACTANT_BENCH_SHARD_MESSAGES", 4_000_000) as u64,
            touched: env_number("REACTANT_BENCH_TOUCHED", 1_000_000),
            active_limit: env_number("REACTANT_BENCH_ACTIVE_LIMIT", 100_000),
        };
        assert!(
            config.messages >= config.entities as u64,
            "REACTANT_BENCH_SHARD_MESSAGES must give every entity at least one message"
        );
        config
    }

    /// Messages each entity receives in one run (the run sends `quota × entities`).
    pub(crate) fn quota(&self) -> u64 {
        self.messages / self.entities as u64
    }
}

pub(crate) fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

pub(crate) fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .replace(['_', ','], "")
            .parse()
            .ok()
            .filter(|&n: &usize| n > 0)
            .unwrap_or_else(|| panic!("{name} must be a positive integer, got {value:?}")),
        Err(_) => default,
    }
}

pub(crate) fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(value) => value
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .unwrap_or_else(|| {
                        panic!(
                            "{name} must be positive integers separated by commas, got {value:?}"
                        )
                    })
            })
            .collect(),
        Err(_) => default.to_vec(),
    }
}

pub(crate) fn system(name: &str, config: &Config) -> ActorSystem {
    ActorSystem::builder()
        .name(name)
        .threads(config.worker_threads)
        .build()
        .expect("a valid bench system configuration")
}
