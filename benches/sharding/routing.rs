//! Part 1: routing throughput through the region beside direct tells.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::{Config, RUN_TIMEOUT, system};
use crate::figures::*;
use crate::round::{Counter, Round};
use reactant::prelude::*;
use reactant::sharding::{
    EntityId, EntityRef, EntityTypeKey, RegionStats, ShardRegion, ShardedEntity, ShardingEnvelope,
};

/// The paths to the same 10,000 counters: direct, through the region, and the floor of any
/// routing by id (a map from id to `ActorRef`, read without a lock, then a direct tell).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Path {
    /// `ActorRef::tell` to actors spawned with `spawn_anonymous`.
    Direct,
    /// `EntityRef::tell`, the refs obtained once.
    EntityRef,
    /// `ShardRegion::tell(ShardingEnvelope::new(id.clone(), msg))`, a `String` id per message.
    Envelope,
    /// `ShardRegion::tell(ShardingEnvelope::new(id.clone(), msg))` with a kept `EntityId`
    /// (the clone is a reference-count increment, as the direct path clones no `ActorRef`).
    EnvelopeKeptId,
    /// The floor under `Envelope`: the `String` id cloned, looked up in a `HashMap<String,
    /// ActorRef>` (foldhash, built once, never locked), then a direct tell.
    MapString,
    /// The floor under `EnvelopeKeptId`: a kept `EntityId` (its hash precomputed) looked up in
    /// a `HashMap<EntityId, ActorRef>` (foldhash, never locked), then a direct tell.
    MapKeptId,
}

/// How many paths.
pub(crate) const PATH_COUNT: usize = 6;

pub(crate) const PATHS: [Path; PATH_COUNT] = [
    Path::Direct,
    Path::EntityRef,
    Path::Envelope,
    Path::EnvelopeKeptId,
    Path::MapString,
    Path::MapKeptId,
];

type Map<K> = HashMap<K, ActorRef<u64>, foldhash::fast::FixedState>;

pub(crate) struct Throughput {
    pub(crate) config_entities: usize,
    pub(crate) quota: u64,
    pub(crate) direct: Vec<ActorRef<u64>>,
    pub(crate) direct_round: Arc<Round>,
    pub(crate) region: ShardRegion<u64>,
    pub(crate) entity_refs: Vec<EntityRef<u64>>,
    pub(crate) ids: Vec<String>,
    pub(crate) entity_ids: Vec<EntityId>,
    pub(crate) region_round: Arc<Round>,
    /// The floors' maps, to a third set of counters.
    pub(crate) by_string: Map<String>,
    pub(crate) by_kept_id: Map<EntityId>,
    pub(crate) map_round: Arc<Round>,
    // Last: the system shuts down after the references into it are gone.
    pub(crate) _system: ActorSystem,
}

impl Throughput {
    pub(crate) fn new(config: &Config) -> Self {
        let system = system("sharding-throughput", config);
        let quota = config.quota();
        let direct_round = Round::new(RUN_TIMEOUT);
        let direct = (0..config.entities)
            .map(|_| {
                system
                    .spawn_anonymous(Counter::new(quota, direct_round.clone()))
                    .expect("spawn a counter")
            })
            .collect();
        let region_round = Round::new(RUN_TIMEOUT);
        let factory_round = region_round.clone();
        let region = system
            .sharding()
            .init(
                ShardedEntity::new(EntityTypeKey::<u64>::new("counter"), move |_entity| {
                    Counter::new(quota, factory_round.clone())
                })
                .without_idle_timeout(),
            )
            .expect("start the counter region");
        let ids: Vec<String> = (0..config.entities)
            .map(|i| format!("counter-{i}"))
            .collect();
        // The application keeps its ids: the `EntityRef`s share them, and so the entities'
        // slots (made by the warm-up's first message to each) key on the same text.
        let entity_ids: Vec<EntityId> = ids.iter().map(EntityId::from).collect();
        let entity_refs = entity_ids.iter().map(|id| region.entity(id)).collect();
        let map_round = Round::new(RUN_TIMEOUT);
        let floor: Vec<ActorRef<u64>> = (0..config.entities)
            .map(|_| {
                system
                    .spawn_anonymous(Counter::new(quota, map_round.clone()))
                    .expect("spawn a counter")
            })
            .collect();
        let by_string = ids.iter().cloned().zip(floor.iter().cloned()).collect();
        let by_kept_id = entity_ids.iter().cloned().zip(floor).collect();
        Self {
            config_entities: config.entities,
            quota,
            direct,
            direct_round,
            region,
            entity_refs,
            ids,
            entity_ids,
            region_round,
            by_string,
            by_kept_id,
            map_round,
            _system: system,
        }
    }

    /// One run of `path` from `senders` threads: every entity gets `quota` messages, each
    /// sender a share of them, round-robin over all entities from its own starting point.
    /// Returns the time from the senders' start to the last entity seeing its last message,
    /// and the CPU time the sender threads used, together.
    pub(crate) fn run(&self, path: Path, senders: usize) -> (Duration, Duration) {
        let round = match path {
            Path::Direct => &self.direct_round,
            Path::EntityRef | Path::Envelope | Path::EnvelopeKeptId => &self.region_round,
            Path::MapString | Path::MapKeptId => &self.map_round,
        };
        round.arm(self.config_entities);
        let start_line = Barrier::new(senders + 1);
        let entities = self.config_entities;
        let sender_cpu_ns = AtomicU64::new(0);
        let elapsed = thread::scope(|scope| {
            for sender in 0..senders {
                let sender_cpu_ns = &sender_cpu_ns;
                let start_line = &start_line;
                // This sender's share of each entity's quota.
                let passes = self.quota / senders as u64
                    + u64::from((sender as u64) < self.quota % senders as u64);
                let offset = sender * entities / senders;
                scope.spawn(move || {
                    start_line.wait();
                    let cpu_before = thread_cpu();
                    match path {
                        Path::Direct => {
                            send(passes, offset, entities, |i, msg| self.direct[i].tell(msg))
                        }
                        Path::EntityRef => send(passes, offset, entities, |i, msg| {
                            self.entity_refs[i].tell(msg)
                        }),
                        Path::Envelope => send(passes, offset, entities, |i, msg| {
                            self.region
                                .tell(ShardingEnvelope::new(self.ids[i].clone(), msg))
                        }),
                        Path::EnvelopeKeptId => send(passes, offset, entities, |i, msg| {
                            self.region
                                .tell(ShardingEnvelope::new(self.entity_ids[i].clone(), msg))
                        }),
                        Path::MapString => send(passes, offset, entities, |i, msg| {
                            let id = self.ids[i].clone();
                            match self.by_string.get(&id) {
                                Some(actor) => actor.tell(msg),
                                None => unreachable!("every id is in the map"),
                            }
                        }),
                        Path::MapKeptId => send(passes, offset, entities, |i, msg| {
                            match self.by_kept_id.get(&self.entity_ids[i]) {
                                Some(actor) => actor.tell(msg),
                                None => unreachable!("every id is in the map"),
                            }
                        }),
                    }
                    let used = thread_cpu().saturating_sub(cpu_before);
                    sender_cpu_ns.fetch_add(used.as_nanos() as u64, Ordering::Relaxed);
                });
            }
            start_line.wait();
            let start = Instant::now();
            round.wait(&format!("{path:?} with {senders} senders"));
            start.elapsed()
        });
        (
            elapsed,
            Duration::from_nanos(sender_cpu_ns.load(Ordering::Relaxed)),
        )
    }
}

/// `passes` rounds over all `entities`, starting at `offset`.
#[inline]
pub(crate) fn send(passes: u64, offset: usize, entities: usize, tell: impl Fn(usize, u64)) {
    let mut msg = 0u64;
    for _ in 0..passes {
        for i in (offset..entities).chain(0..offset) {
            msg += 1;
            tell(i, msg);
        }
    }
}

/// Rates of one sender count, each path's runs in order, and the senders' CPU time per
/// message (ns) in those runs.
pub(crate) struct SenderRates {
    pub(crate) senders: usize,
    pub(crate) rates: [Vec<f64>; PATH_COUNT],
    pub(crate) cpu_ns: [Vec<f64>; PATH_COUNT],
}

pub(crate) struct ThroughputResults {
    pub(crate) rows: Vec<SenderRates>,
    pub(crate) messages_per_run: u64,
    pub(crate) warm_up: Duration,
    pub(crate) stats: RegionStats,
}

pub(crate) fn routing_throughput(config: &Config) -> ThroughputResults {
    let bench = Throughput::new(config);
    let messages_per_run = bench.quota * config.entities as u64;
    println!(
        "\nrouting: {} entities, {} messages per run ({} each), paths alternate, {} runs each",
        config.entities, messages_per_run, bench.quota, config.runs
    );
    // Warm-up: one unmeasured run of each path with one sender starts all the entities, so
    // the measured runs are steady state.
    let warm_up = Instant::now();
    for path in PATHS {
        bench.run(path, 1);
    }
    let warm_up = warm_up.elapsed();
    let stats = bench.region.stats();
    assert_eq!(
        stats.active_entities, config.entities,
        "every entity runs after the warm-up: {stats:?}"
    );
    println!(
        "warm-up (one run of each path, starts the {} entities): {warm_up:.2?}",
        config.entities
    );
    let mut rows = Vec::new();
    for &senders in &config.senders {
        let mut rates: [Vec<f64>; PATH_COUNT] = Default::default();
        let mut cpu_ns: [Vec<f64>; PATH_COUNT] = Default::default();
        for _ in 0..config.runs {
            for (p, path) in PATHS.into_iter().enumerate() {
                let (elapsed, sender_cpu) = bench.run(path, senders);
                rates[p].push(per_second(messages_per_run, elapsed));
                cpu_ns[p].push(sender_cpu.as_nanos() as f64 / messages_per_run as f64);
            }
        }
        println!(
            "{senders} senders (msgs/s per run): direct {}; EntityRef {}; envelope (String id) \
             {}; envelope (kept EntityId) {}; map floor (String id) {}; map floor (kept \
             EntityId) {}",
            list_millions(&rates[0]),
            list_millions(&rates[1]),
            list_millions(&rates[2]),
            list_millions(&rates[3]),
            list_millions(&rates[4]),
            list_millions(&rates[5])
        );
        println!(
            "{senders} senders (sender CPU ns per message): direct {}; EntityRef {}; envelope \
             (String id) {}; envelope (kept EntityId) {}; map floor (String id) {}; map floor \
             (kept EntityId) {}",
            list_ns(&cpu_ns[0]),
            list_ns(&cpu_ns[1]),
            list_ns(&cpu_ns[2]),
            list_ns(&cpu_ns[3]),
            list_ns(&cpu_ns[4]),
            list_ns(&cpu_ns[5])
        );
        rows.push(SenderRates {
            senders,
            rates,
            cpu_ns,
        });
    }
    let stats = bench.region.stats();
    assert_eq!(
        stats.entities_started, config.entities as u64,
        "no entity restarted: {stats:?}"
    );
    assert_eq!(stats.dropped_messages, 0, "no message dropped: {stats:?}");
    ThroughputResults {
        rows,
        messages_per_run,
        warm_up,
        stats,
    }
}

pub(crate) fn print_throughput(config: &Config, results: &ThroughputResults) {
    println!(
        "\nRouting to {} entities, {} messages per run; msgs/s, median of {} runs (min–max); \
         ratio = region / direct (target ≥ 0.50: the region costs at most 2× the direct path); \
         the map floors: a lock-free map from id to ActorRef, then a direct tell, what any \
         routing by id costs at least",
        config.entities, results.messages_per_run, config.runs
    );
    let mut table = Table::new(
        [
            "senders",
            "direct ActorRef",
            "EntityRef",
            "EntityRef/direct",
            "envelope (String id)",
            "String/direct",
            "envelope (kept EntityId)",
            "kept/direct",
            "≥ 0.50",
            "map floor (String id)",
            "floor/direct",
            "map floor (kept EntityId)",
            "floor/direct",
        ]
        .map(String::from)
        .to_vec(),
    );
    for row in &results.rows {
        let [direct, entity_ref, envelope, kept, floor_string, floor_kept] =
            row.rates.each_ref().map(|r| median(r));
        let ratios = [entity_ref, envelope, kept].map(|rate| rate / direct);
        let met: Vec<&str> = ["EntityRef", "String", "kept"]
            .into_iter()
            .zip(ratios)
            .filter(|&(_, ratio)| ratio >= 0.5)
            .map(|(path, _)| path)
            .collect();
        table.row(vec![
            row.senders.to_string(),
            spread(&row.rates[0]),
            spread(&row.rates[1]),
            format!("{:.2}", ratios[0]),
            spread(&row.rates[2]),
            format!("{:.2}", ratios[1]),
            spread(&row.rates[3]),
            format!("{:.2}", ratios[2]),
            if met.is_empty() {
                "none".into()
            } else {
                met.join(", ")
            },
            spread(&row.rates[4]),
            format!("{:.2}", floor_string / direct),
            spread(&row.rates[5]),
            format!("{:.2}", floor_kept / direct),
        ]);
    }
    table.print();
    println!(
        "\nSender CPU time per message (ns; all sender threads together / messages), median of \
         {} runs (min–max): what a send costs the sending thread, whatever else shares the cores",
        config.runs
    );
    let mut table = Table::new(
        [
            "senders",
            "direct ActorRef",
            "EntityRef",
            "envelope (String id)",
            "envelope (kept EntityId)",
            "map floor (String id)",
            "map floor (kept EntityId)",
        ]
        .map(String::from)
        .to_vec(),
    );
    for row in &results.rows {
        let mut cells = vec![row.senders.to_string()];
        cells.extend(row.cpu_ns.iter().map(|ns| spread_ns(ns)));
        table.row(cells);
    }
    table.print();
    println!(
        "region after the runs: {} active entities over {} shards, {} started, {} dropped; warm-up \
         {:.2?}",
        results.stats.active_entities,
        results.stats.number_of_shards,
        results.stats.entities_started,
        results.stats.dropped_messages,
        results.warm_up
    );
}
