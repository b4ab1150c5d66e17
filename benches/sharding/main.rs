//! The benches of issue 5 (in-process sharding), in one pass printed as two tables:
//!
//! 1. **Routing throughput**: messages per second to 10,000 sharded entities, through
//!    `EntityRef`s obtained once and reused, through `region.tell(ShardingEnvelope)` with a
//!    `String` id built per message, and through envelopes with a kept `EntityId` cloned per
//!    message, beside the same workload told straight to 10,000 `ActorRef`s of the same actor
//!    (spawned with `spawn_anonymous`), in the same run, for several sender threads. Target:
//!    the region costs at most 2× the direct path (region / direct ≥ 0.5).
//! 2. **Passivation footprint**: 1,000,000 distinct entities touched once each with an active
//!    limit of 100,000 and no idle timeout: it completes, and memory stays bounded (bytes per
//!    active entity). Twice, each in a fresh child process of this bench so that its RSS is its
//!    own: `burst` (one thread sends as fast as it can, the shards hold a backlog) and `paced`
//!    (the sender waits while the region holds more than 10,000 messages). Besides RSS, a
//!    counting global allocator reports the live heap (bytes as requested), which tells the
//!    active entities apart from memory the allocator keeps after a peak.
//!
//! `cargo bench -p reactant-benches --no-default-features --bench sharding` (the `rocksdb` feature is not needed).
//! Sizes: `REACTANT_BENCH_THREADS` (worker threads, default: the cores),
//! `REACTANT_BENCH_SENDERS` (sender thread counts, default `1,2,4`), `REACTANT_BENCH_RUNS` (runs
//! of each path per sender count, alternating, default 5; the table shows the median),
//! `REACTANT_BENCH_SHARD_ENTITIES` (default 10,000), `REACTANT_BENCH_SHARD_MESSAGES` (messages
//! per run, default 4,000,000), `REACTANT_BENCH_TOUCHED` (default 1,000,000),
//! `REACTANT_BENCH_ACTIVE_LIMIT` (default 100,000). `REACTANT_BENCH_ONLY=routing` or
//! `=footprint` runs one of the two parts.
//!
//! The bench is split by part: `config.rs` (sizes from the environment), `routing.rs` (part 1),
//! `footprint.rs` (part 2, with the child-process driver), `alloc.rs` (the counting allocator);
//! the figures' helpers are shared with the other benches (`benches/figures.rs`).

mod alloc;
mod config;
mod footprint;
mod routing;

#[path = "../figures.rs"]
#[allow(dead_code, reason = "each bench uses some of the shared helpers")]
mod figures;
#[path = "../round.rs"]
mod round;

use config::{Config, cores};
use footprint::{CHILD_VAR, footprint_child, passivation_footprints, print_footprint};
use routing::{print_throughput, routing_throughput};

fn main() {
    // `cargo bench` passes `--bench`; there are no options to read.
    let config = Config::from_env();
    if let Ok(pace) = std::env::var(CHILD_VAR) {
        footprint_child(&config, &pace);
        return;
    }
    println!(
        "reactant sharding, {} worker threads, {} cores visible",
        config.worker_threads,
        cores()
    );
    let footprints = config.footprint.then(passivation_footprints);
    let throughput = config.routing.then(|| routing_throughput(&config));
    if let Some(throughput) = &throughput {
        print_throughput(&config, throughput);
    }
    if let Some(footprints) = &footprints {
        print_footprint(&config, footprints);
    }
}
