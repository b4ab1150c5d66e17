//! Deterministic simulation (issue 20, item 5): every actor on the test's thread in an order
//! drawn from a seed, on virtual time, with the journal's faults drawn from the same seed. The
//! same seed reproduces the same run exactly; a failing run prints its seed; sharded,
//! event-sourced entities run under it unchanged, and many seeds check that no acknowledged
//! event is lost and that memory equals the journal.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use reactant::persistence::PersistenceId;
use reactant::prelude::*;
use reactant::testkit::{PersistenceTestKit, Sim, Simulation, TraceEvent};
use serde::{Deserialize, Serialize};

/// Virtual time a test waits for an answer: nothing real passes.
const PATIENCE: Duration = Duration::from_secs(30);

// ----- a scenario of plain actors: pings, timers, asks with timeouts -----

#[derive(Clone)]
enum Node {
    Ping { from: usize, hops: u32 },
    Tick,
    Slow(ActorRef<u32>),
    Asked(Result<u32, AskError>),
}

/// Three nodes that bounce pings between them, tick on a timer, and ask a slow peer with a
/// timeout: everything they see goes to `log`, in the order they see it.
fn scenario(sim: &mut Sim, log: &Arc<Mutex<Vec<String>>>) {
    let peers: Arc<Mutex<Vec<ActorRef<Node>>>> = Arc::default();
    for index in 0..3 {
        let log = log.clone();
        let peers_of = peers.clone();
        let node = sim.spawn(
            Behaviors::with_timers(move |timers| {
                timers.start_fixed_rate("tick", Node::Tick, Duration::from_millis(70 + index * 10));
                let log = log.clone();
                let peers = peers_of.clone();
                Behaviors::receive(move |ctx, msg| {
                    match msg {
                        Node::Ping { from, hops } => {
                            log.lock()
                                .push(format!("{index} ping from {from} hops {hops}"));
                            if hops > 0 {
                                let next =
                                    peers.lock()[(index as usize + hops as usize) % 3].clone();
                                next.tell(Node::Ping {
                                    from: index as usize,
                                    hops: hops - 1,
                                });
                            }
                        }
                        Node::Tick => {
                            log.lock().push(format!("{index} tick"));
                            let peer = peers.lock()[(index as usize + 1) % 3].clone();
                            ctx.ask(&peer, Node::Slow, Duration::from_millis(25), Node::Asked);
                        }
                        Node::Slow(reply_to) => {
                            ctx.timers().start_single(
                                "answer",
                                Node::Asked(Ok(index as u32)),
                                Duration::from_millis(20),
                            );
                            // The reply races the asker's timeout.
                            reply_to.tell(index as u32);
                        }
                        Node::Asked(outcome) => {
                            log.lock()
                                .push(format!("{index} asked: {}", outcome.is_ok()));
                        }
                    }
                    Behaviors::same()
                })
            }),
            &format!("node-{index}"),
        );
        peers.lock().push(node);
    }
    let nodes = peers.lock().clone();
    for (index, node) in nodes.iter().enumerate() {
        node.tell(Node::Ping {
            from: 9,
            hops: 5 + index as u32,
        });
    }
    sim.run_for(Duration::from_millis(500));
}

fn run_scenario(seed: u64) -> (Vec<TraceEvent>, Vec<String>) {
    Simulation::new(seed).run(|sim| {
        let log = Arc::new(Mutex::new(Vec::new()));
        scenario(sim, &log);
        let log = log.lock().clone();
        (sim.trace().to_vec(), log)
    })
}

#[test]
fn the_same_seed_reproduces_the_same_run_exactly() {
    for seed in [1, 7, 42, 1_000_003] {
        let (trace, log) = run_scenario(seed);
        assert!(trace.len() > 50, "a run of some length: {}", trace.len());
        assert!(log.iter().any(|line| line.contains("tick")), "{log:?}");
        let (again, log_again) = run_scenario(seed);
        assert_eq!(
            trace, again,
            "seed {seed}: the same steps in the same order"
        );
        assert_eq!(
            log, log_again,
            "seed {seed}: the same messages in the same order"
        );
    }
}

#[test]
fn different_seeds_give_different_interleavings() {
    let logs: Vec<Vec<String>> = (0..8).map(|seed| run_scenario(seed).1).collect();
    let distinct: std::collections::HashSet<&Vec<String>> = logs.iter().collect();
    assert!(distinct.len() > 1, "eight seeds, one interleaving");
}

#[test]
fn timers_and_timeouts_run_on_virtual_time() {
    Simulation::new(3).run(|sim| {
        let inbox = sim.inbox::<&'static str>("alarms");
        let reply_to = inbox.r#ref();
        sim.spawn(
            Behaviors::with_timers(move |timers| {
                timers.start_single("hour", (), Duration::from_secs(3600));
                let reply_to = reply_to.clone();
                Behaviors::receive_message(move |()| {
                    reply_to.tell("an hour passed");
                    Behaviors::same()
                })
            }),
            "alarm",
        );
        sim.run_for(Duration::from_secs(3599));
        assert!(!inbox.has_messages());
        sim.run_for(Duration::from_secs(1));
        inbox.expect_message("an hour passed");
        assert_eq!(sim.elapsed(), Duration::from_secs(3600));

        // An ask nobody answers times out on virtual time, not on the wall clock.
        let silent = sim.spawn(Behaviors::ignore::<ActorRef<u32>>(), "silent");
        let pending = silent.ask(|reply_to| reply_to);
        assert!(sim.wait_for(pending, Duration::from_secs(5)).is_err());
    });
}

/// Re-runs this test binary on one test, which a variable tells to fail, and reads its
/// standard error.
#[test]
fn a_failing_run_prints_its_seed() {
    if std::env::var_os("REACTANT_SIMULATION_FAIL").is_some() {
        Simulation::new(4242).run(|sim| {
            sim.run_until_quiet();
            panic!("the invariant broke");
        });
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "a_failing_run_prints_its_seed", "--nocapture"])
        .env("REACTANT_SIMULATION_FAIL", "1")
        .output()
        .expect("the test binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("the invariant broke"), "{stderr}");
    assert!(
        stderr.contains("seed 4242") && stderr.contains("Simulation::new(4242)"),
        "{stderr}"
    );
}

// ----- sharded, event-sourced accounts with journal faults -----

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
enum Ledger {
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "sim-account", event = Ledger)]
struct Account {
    balance: u64,
}

#[entity]
impl Account {
    fn apply(&mut self, event: &Ledger) {
        match event {
            Ledger::Deposited { amount } => self.balance += amount,
            Ledger::Withdrawn { amount } => self.balance -= amount,
        }
    }

    pub fn deposit(&self, amount: u64) -> Effect<Ledger, u64> {
        Effect::persist(Ledger::Deposited { amount }).then_reply(|s| s.balance)
    }

    pub fn withdraw(&self, amount: u64) -> Effect<Ledger, Option<u64>> {
        if amount > self.balance {
            return Effect::reply(None);
        }
        Effect::persist(Ledger::Withdrawn { amount }).then_reply(|s| Some(s.balance))
    }

    pub fn balance(&self) -> u64 {
        self.balance
    }

    pub fn passivate(&self) -> Effect<Ledger> {
        Effect::stop()
    }
}

const ACCOUNTS: [&str; 3] = ["a", "b", "c"];

/// What the journal says the balance is, and the events it holds.
fn journal_balance(storage: &PersistenceTestKit, id: &str) -> (u64, Vec<Ledger>) {
    let events = storage.persisted::<Ledger>(&PersistenceId::of("sim-account", id));
    let balance = events.iter().fold(0, |balance, event| match event {
        Ledger::Deposited { amount } => balance + amount,
        Ledger::Withdrawn { amount } => balance - amount,
    });
    (balance, events)
}

/// One seed: rounds of concurrent commands to sharded accounts, with write failures,
/// rejections, read failures, passivations and crashes of the whole system drawn from the seed. Every acknowledged command
/// must be in the journal (in the order acknowledged), and each account's memory must equal its
/// journal, before and after every account recovers.
fn bank_run(sim: &mut Sim) {
    let storage = PersistenceTestKit::inline();
    let start = |sim: &Sim| {
        sim.system()
            .sharding()
            .init::<Account>(storage.persistence())
            .expect("the region starts")
    };
    let mut accounts = start(sim);
    // Per account, the events the entity acknowledged, in the order it acknowledged them.
    let mut acknowledged: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for _round in 0..12 {
        match sim.below(10) {
            0 => storage.fail_next_persisted(),
            1 => storage.reject_next_persisted(),
            2 => storage.fail_next_read(),
            3 => {
                // The whole system dies between two rounds; a fresh one recovers the accounts.
                sim.crash();
                accounts = start(sim);
            }
            _ => {}
        }
        let mut pending = Vec::new();
        for _ in 0..1 + sim.below(3) {
            let id = ACCOUNTS[sim.below(ACCOUNTS.len())];
            let entity = accounts.entity(id);
            match sim.below(6) {
                0 => entity.passivate(),
                1 => pending.push((
                    id,
                    entity
                        .withdraw(1 + sim.below(5) as u64)
                        .map(|b| b.unwrap_or(u64::MAX)),
                )),
                _ => pending.push((id, entity.deposit(1 + sim.below(9) as u64))),
            }
        }
        for (id, reply) in pending {
            if let Ok(balance) = sim.wait_for(reply, PATIENCE)
                && balance != u64::MAX
            {
                acknowledged.entry(id).or_default().push(balance);
            }
        }
    }
    let check = |sim: &mut Sim, when: &str| {
        for id in ACCOUNTS {
            let (journal, events) = journal_balance(&storage, id);
            // A read fault still armed fails one recovery: the query is refused (a dead
            // letter, answered at once as an error) and the next one recovers.
            let mut answer = sim.wait_for(accounts.entity(id).balance(), PATIENCE);
            for _ in 0..2 {
                if answer.is_ok() {
                    break;
                }
                answer = sim.wait_for(accounts.entity(id).balance(), PATIENCE);
            }
            let memory = answer
                .unwrap_or_else(|error| panic!("{when}: account {id} did not answer: {error}"));
            assert_eq!(
                memory, journal,
                "{when}: account {id}: memory {memory}, journal {journal} ({events:?})"
            );
            // Each acknowledged balance is one the journal passed through, in that order: no
            // acknowledged event is missing.
            let mut running = Vec::new();
            let mut balance = 0;
            for event in &events {
                balance = match event {
                    Ledger::Deposited { amount } => balance + amount,
                    Ledger::Withdrawn { amount } => balance - amount,
                };
                running.push(balance);
            }
            let mut at = 0;
            for acked in acknowledged.get(id).into_iter().flatten() {
                match running[at..].iter().position(|b| b == acked) {
                    Some(offset) => at += offset + 1,
                    None => panic!(
                        "{when}: account {id} acknowledged a balance of {acked} that its \
                         journal never reached after the earlier ones: {running:?}"
                    ),
                }
            }
        }
    };
    if std::env::var_os("REACTANT_SIMULATION_VERBOSE").is_some() {
        let acked: usize = acknowledged.values().map(Vec::len).sum();
        eprintln!(
            "seed {}: {acked} acknowledged, {} crashes, {} writes, {} replays, {} steps",
            sim.seed(),
            sim.trace()
                .iter()
                .filter(|e| matches!(e, TraceEvent::Crashed { .. }))
                .count(),
            storage.write_calls(),
            storage.replay_calls(),
            sim.trace().len()
        );
    }
    check(sim, "after the commands");
    for id in ACCOUNTS {
        accounts.entity(id).passivate();
    }
    sim.run_for(Duration::from_secs(1));
    check(sim, "after recovery");
}

#[test]
fn sharded_accounts_lose_no_acknowledged_event_under_random_faults_and_orders() {
    // 1,000 seeds (a few seconds in the dev profile); REACTANT_SIMULATION_SEEDS=n for more.
    let seeds: u64 = std::env::var("REACTANT_SIMULATION_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    Simulation::run_seeds(0..seeds, bank_run);
}

#[test]
fn a_bank_run_is_reproduced_by_its_seed() {
    let run = |seed| {
        Simulation::new(seed).run(|sim| {
            bank_run(sim);
            sim.trace().to_vec()
        })
    };
    assert_eq!(run(99), run(99));
}
