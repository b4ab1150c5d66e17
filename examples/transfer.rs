//! Money transfers between bank accounts as a saga: a persistent process manager that finishes
//! or compensates every transfer, through `kill -9`, restarts and passivations, and never
//! creates or loses a cent.
//!
//! Build it with the tests (`cargo test --workspace --no-run`, as `./dev test` does) and run
//! `target/debug/examples/transfer`; `tests/transfer_example.rs` runs it under random kills.
//!
//! ```text
//! /user/sharding-account   accounts: sharded event-sourced entities, written with the macros.
//!                          Every debit and credit names its step ("t1-7/withdraw"); an account
//!                          records the outcome of each step, so a step sent twice is applied
//!                          once and answered the same way twice.
//! /user/sharding-transfer  transfers: the process manager, one sharded event-sourced entity
//!                          per transfer, also written with the macros. It journals where it
//!                          is, then asks the account for the next step:
//!
//!    start ─► Withdrawing ──debited──► Depositing ──credited──► Completed
//!                  │                        │
//!                  │ refused                │ refused (the account is frozen)
//!                  ▼                        ▼
//!              Rejected                Refunding ──credited back──► Compensated
//! ```
//!
//! Why nothing is lost:
//!
//! - A transfer **remembers** itself (`ctx.sharding().remember()`) before it persists `Started`,
//!   and forgets itself only once its last event is durable. A remembered entity is never
//!   passivated for idleness, and after a crash its region starts it again by itself; its
//!   `on_signal` hook then sends the step it was waiting for again.
//! - Sending a step again is safe: the account answers a step it has seen with the outcome it
//!   recorded. A transfer ignores answers for a step it is no longer at, and retries after a
//!   short pause when the answer does not come, or comes as "try again later" (one credit in
//!   ten here: the flaky step).
//! - Accounts passivate after a short idle time, in the middle of transfers; a message that
//!   arrives while one stops or restarts is held by its shard for the next incarnation.
//! - The program is an at-least-once client: each run sends every `start` of its plan again,
//!   and a transfer started already only replies where it is.
//!
//! At the end the program audits the journal: every transfer finished, the money in the
//! accounts is what they were opened with, no balance ever went below zero, and no step was
//! applied twice.
//!
//! Usage: `transfer [--data DIR] [--transfers N] [--seed S] [--idle-ms MS] [--check]`
//! (`--help` says more). The journal lives in `DIR` (default `data/transfer`); the transfers
//! of a seed are always the same, so a run killed half-way and run again finishes them.
//! `--check` starts no transfer: it lets the unfinished ones finish, then audits.
//!
//! Over 600 lines on purpose: the example is the whole saga (accounts, the transfer process
//! manager, the audit and the command line) in one file a reader can follow from the top.

use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reactant::persistence::rocksdb::RocksJournal;
use reactant::persistence::{
    Codec, Entity, EntityContext, EntitySignal, MessagePack, Persistence, PersistenceId,
};
use reactant::prelude::*;
use reactant::sharding::{EntityTypeKey, ShardRegion, ShardingSettings};
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

/// How many accounts, and what each is opened with.
const ACCOUNTS: usize = 6;
const OPENING_BALANCE: u64 = 1_000;
/// Deposits to this account are refused, so transfers to it are compensated.
const FROZEN_ACCOUNT: &str = "acc-5";
/// How long a transfer waits for an account's answer before it asks again.
const STEP_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a transfer pauses before it retries a step that could not be done now.
const RETRY_AFTER: Duration = Duration::from_millis(20);
/// How long a transfer waits before it looks for the accounts' region again.
const NO_REGION_RETRY: Duration = Duration::from_secs(1);
/// How long the program waits for a reply, and for every transfer to finish.
const TIMEOUT: Duration = Duration::from_secs(5);
const FINISH_WITHIN: Duration = Duration::from_secs(30);
/// Transfers started at once; the program prints a line after each wave.
const WAVE: usize = 50;

/// Prints a line to standard output and returns the `io::Result` (see `examples/shop.rs`).
macro_rules! say {
    ($($arg:tt)*) => {{
        let line = format!($($arg)*);
        writeln!(std::io::stdout().lock(), "{line}")
    }};
}

// ----- Accounts: idempotent steps, keyed by step id -----

/// Why an account turned a step down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// Not enough money for the debit. Final, and recorded: asked again, the answer is the same.
    InsufficientFunds,
    /// The account takes no deposits. Final, and recorded.
    Frozen,
    /// No such account was opened. Final.
    NoSuchAccount,
    /// The bank's core system is busy: try again later. Not recorded.
    Unavailable,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InsufficientFunds => "insufficient funds",
            Self::Frozen => "the account is frozen",
            Self::NoSuchAccount => "no such account",
            Self::Unavailable => "the bank is busy",
        })
    }
}

/// An account's answer to a step: done (now or before), or refused.
pub type StepAnswer = Result<(), Refusal>;

/// What the journal keeps about an account.
#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(tag = "account")]
pub enum AccountEvent {
    Opened { balance: u64, frozen: bool },
    Debited { step: String, amount: u64 },
    Credited { step: String, amount: u64 },
    Refused { step: String, reason: Refusal },
}

/// An account: its balance, and the outcome of every step it has answered, by step id.
#[derive(Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "account", event = AccountEvent, snapshot_every = 100)]
pub struct Account {
    opened: bool,
    frozen: bool,
    balance: u64,
    steps: BTreeMap<String, StepAnswer>,
}

#[entity]
impl Account {
    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { balance, frozen } => {
                self.opened = true;
                self.balance = *balance;
                self.frozen = *frozen;
            }
            AccountEvent::Debited { step, amount } => {
                // `debit` checked the balance before persisting this.
                self.balance -= amount;
                self.steps.insert(step.clone(), Ok(()));
            }
            AccountEvent::Credited { step, amount } => {
                self.balance += amount;
                self.steps.insert(step.clone(), Ok(()));
            }
            AccountEvent::Refused { step, reason } => {
                self.steps.insert(step.clone(), Err(*reason));
            }
        }
    }

    /// Opens the account once; opening it again changes nothing. Replies the balance.
    pub fn open(&self, balance: u64, frozen: bool) -> Effect<AccountEvent, u64> {
        if self.opened {
            return Effect::reply(self.balance);
        }
        Effect::persist(AccountEvent::Opened { balance, frozen }).then_reply(|a| a.balance)
    }

    /// Takes `amount` out for `step`, unless the balance is short.
    pub fn debit(&self, step: String, amount: u64) -> Effect<AccountEvent, StepAnswer> {
        if let Some(answer) = self.answered(&step) {
            return Effect::reply(answer);
        }
        if self.balance < amount {
            return self.refuse(step, Refusal::InsufficientFunds);
        }
        Effect::persist(AccountEvent::Debited { step, amount }).then_reply(|_| Ok(()))
    }

    /// Puts `amount` in for `step`, unless the account is frozen — or the bank is busy, which
    /// it is for one credit in ten: the flaky step, retried by the transfer.
    pub fn credit(&self, step: String, amount: u64) -> Effect<AccountEvent, StepAnswer> {
        if let Some(answer) = self.answered(&step) {
            return Effect::reply(answer);
        }
        if self.frozen {
            return self.refuse(step, Refusal::Frozen);
        }
        if fastrand::u8(..10) == 0 {
            return Effect::reply(Err(Refusal::Unavailable));
        }
        Effect::persist(AccountEvent::Credited { step, amount }).then_reply(|_| Ok(()))
    }

    /// Gives back `amount` taken for a transfer that could not finish: never refused, not
    /// even by a frozen account, since the money came from it.
    pub fn refund(&self, step: String, amount: u64) -> Effect<AccountEvent, StepAnswer> {
        if let Some(answer) = self.answered(&step) {
            return Effect::reply(answer);
        }
        Effect::persist(AccountEvent::Credited { step, amount }).then_reply(|_| Ok(()))
    }

    /// The balance, answered from memory.
    pub fn balance(&self) -> u64 {
        self.balance
    }

    /// The recorded answer to `step`, if it was seen before; a refusal to an account never
    /// opened.
    fn answered(&self, step: &str) -> Option<StepAnswer> {
        if !self.opened {
            return Some(Err(Refusal::NoSuchAccount));
        }
        self.steps.get(step).copied()
    }

    /// Records a final refusal, so that the step asked again is refused again.
    fn refuse(&self, step: String, reason: Refusal) -> Effect<AccountEvent, StepAnswer> {
        Effect::persist(AccountEvent::Refused { step, reason }).then_reply(move |_| Err(reason))
    }
}

// ----- Transfers: the process manager -----

/// Where a transfer is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Not started.
    #[default]
    New,
    /// Taking the money out of the source account.
    Withdrawing,
    /// Putting it into the target account.
    Depositing,
    /// The deposit was refused: giving the money back to the source account.
    Refunding,
    /// Done: the money moved.
    Completed,
    /// Undone: the money went back.
    Compensated,
    /// The withdrawal was refused: nothing moved.
    Rejected,
}

impl Phase {
    fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Compensated | Self::Rejected)
    }

    /// The name of the step this phase waits for, in step ids.
    fn step(self) -> &'static str {
        match self {
            Self::Withdrawing => "withdraw",
            Self::Depositing => "deposit",
            Self::Refunding => "refund",
            _ => "none",
        }
    }
}

/// What the journal keeps about a transfer.
#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(tag = "transfer")]
pub enum TransferEvent {
    Started {
        from: String,
        to: String,
        amount: u64,
    },
    Withdrawn,
    Rejected {
        reason: Refusal,
    },
    Deposited,
    DepositRefused {
        reason: Refusal,
    },
    Refunded,
}

/// A transfer: what it moves, and how far it got.
#[derive(Default, Serialize, Deserialize, Entity)]
#[entity(type_key = "transfer", event = TransferEvent)]
pub struct Transfer {
    from: String,
    to: String,
    amount: u64,
    phase: Phase,
}

#[entity]
impl Transfer {
    fn apply(&mut self, event: &TransferEvent) {
        self.phase = match event {
            TransferEvent::Started { from, to, amount } => {
                self.from = from.clone();
                self.to = to.clone();
                self.amount = *amount;
                Phase::Withdrawing
            }
            TransferEvent::Withdrawn => Phase::Depositing,
            TransferEvent::Rejected { .. } => Phase::Rejected,
            TransferEvent::Deposited => Phase::Completed,
            TransferEvent::DepositRefused { .. } => Phase::Refunding,
            TransferEvent::Refunded => Phase::Compensated,
        };
    }

    /// After recovery — a restart of the process, a passivation, a failure — an unfinished
    /// transfer sends its step again. A finished one makes sure it is forgotten: the process
    /// may have died between its last event and the forgetting; so does one never started,
    /// remembered by a `start` whose `Started` was never stored.
    fn on_signal(&self, ctx: &mut EntityContext<'_, TransferCommand>, signal: &EntitySignal) {
        if let EntitySignal::RecoveryCompleted { .. } = signal {
            match self.phase {
                phase if phase == Phase::New || phase.is_final() => keep_running(ctx, false),
                _ => {
                    keep_running(ctx, true);
                    self.proceed(ctx);
                }
            }
        }
    }

    /// Starts the transfer, once: started again, it only replies where it is.
    pub fn start(
        &self,
        ctx: &mut EntityContext<'_, TransferCommand>,
        from: String,
        to: String,
        amount: u64,
    ) -> Effect<TransferEvent, Phase> {
        if self.phase != Phase::New {
            return Effect::reply(self.phase);
        }
        // Remembered before `Started` is persisted: stored no later than it.
        keep_running(ctx, true);
        let me = ctx.self_ref();
        Effect::persist(TransferEvent::Started { from, to, amount })
            .then_run(move |_| me.proceed())
            .then_reply(|transfer| transfer.phase)
    }

    /// Asks the account for the step this transfer is at (again). Its answer comes back as
    /// [`answered`](Self::answered).
    pub fn proceed(&self, ctx: &mut EntityContext<'_, TransferCommand>) {
        let phase = self.phase;
        let account_id = match phase {
            Phase::Withdrawing | Phase::Refunding => &self.from,
            Phase::Depositing => &self.to,
            _ => return,
        };
        let account = ctx
            .sharding()
            .and_then(|sharding| sharding.entity_ref_for(&accounts_key(), account_id));
        let Some(account) = account else {
            tracing::error!(
                "transfer {}: the account region is not running (initialise it before the \
                 transfer region, and run transfers sharded); trying again in {NO_REGION_RETRY:?}",
                ctx.entity_id()
            );
            return retry_later(ctx, NO_REGION_RETRY);
        };
        let step = format!("{}/{}", ctx.entity_id(), phase.step());
        let answer = match phase {
            Phase::Withdrawing => account.debit(step, self.amount),
            Phase::Depositing => account.credit(step, self.amount),
            _ => account.refund(step, self.amount),
        };
        answer.pipe_to(ctx, STEP_TIMEOUT, move |answer| TransferCommand::Answered {
            phase,
            answer,
        });
    }

    /// An account's answer to the step of `phase`; sent by the transfer to itself.
    pub fn answered(
        &self,
        ctx: &mut EntityContext<'_, TransferCommand>,
        phase: Phase,
        answer: Result<StepAnswer, AskError>,
    ) -> Effect<TransferEvent> {
        if phase != self.phase {
            // An answer to an earlier attempt of a step already recorded.
            return Effect::none();
        }
        let event = match (phase, answer) {
            (Phase::New | Phase::Completed | Phase::Compensated | Phase::Rejected, _) => {
                return Effect::none();
            }
            (Phase::Withdrawing, Ok(Ok(()))) => TransferEvent::Withdrawn,
            (Phase::Depositing, Ok(Ok(()))) => TransferEvent::Deposited,
            (Phase::Refunding, Ok(Ok(()))) => TransferEvent::Refunded,
            (_, Ok(Err(Refusal::Unavailable)) | Err(_)) | (Phase::Refunding, Ok(Err(_))) => {
                retry_later(ctx, RETRY_AFTER);
                return Effect::none();
            }
            (Phase::Withdrawing, Ok(Err(reason))) => TransferEvent::Rejected { reason },
            (_, Ok(Err(reason))) => TransferEvent::DepositRefused { reason },
        };
        let me = ctx.self_ref();
        let sharding = ctx.sharding().cloned();
        Effect::persist(event).then_run(move |transfer: &Transfer| {
            if !transfer.phase.is_final() {
                me.proceed();
            } else if let Some(sharding) = sharding {
                // Only now that the last event is durable.
                if let Err(error) = sharding.forget() {
                    tracing::error!("a finished transfer could not be forgotten: {error}");
                }
            }
        })
    }

    /// Where the transfer is, answered from memory.
    pub fn phase(&self) -> Phase {
        self.phase
    }
}

/// The accounts' type key, to find their region from inside a transfer.
fn accounts_key() -> EntityTypeKey<AccountCommand> {
    EntityTypeKey::new(Account::TYPE_KEY)
}

/// Remembers (keeps running until done, and starts again after a crash) or forgets the
/// transfer of `ctx`.
fn keep_running(ctx: &EntityContext<'_, TransferCommand>, remembered: bool) {
    if let Some(sharding) = ctx.sharding() {
        let outcome = if remembered {
            sharding.remember()
        } else {
            sharding.forget()
        };
        if let Err(error) = outcome {
            tracing::error!("transfer {}: {error}", ctx.entity_id());
        }
    }
}

/// Sends the step again after `pause`.
fn retry_later(ctx: &mut EntityContext<'_, TransferCommand>, pause: Duration) {
    ctx.timers()
        .start_single("retry", TransferCommand::Proceed, pause);
}

// ----- The program: open the accounts, start the transfers, wait, audit -----

/// What to do, from the command line.
struct Options {
    data: PathBuf,
    transfers: usize,
    seed: u64,
    idle: Duration,
    check_only: bool,
}

const USAGE: &str = "usage: transfer [--data DIR] [--transfers N] [--seed S] [--idle-ms MS] \
                     [--check]
  --data DIR      the journal's folder (default data/transfer)
  --transfers N   how many transfers the seed plans (default 100)
  --seed S        which transfers: the same seed plans the same ones (default 1)
  --idle-ms MS    entities passivate after this long without a message (default 100)
  --check         start no transfer: let the unfinished ones finish, then audit";

/// A command line the program cannot follow.
#[derive(Debug)]
struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{USAGE}", self.0)
    }
}

impl Error for UsageError {}

impl Options {
    /// The options of the command line, or `None` if it asks for help.
    fn from_args() -> Result<Option<Self>, UsageError> {
        let mut options = Self {
            data: PathBuf::from("data/transfer"),
            transfers: 100,
            seed: 1,
            idle: Duration::from_millis(100),
            check_only: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .ok_or_else(|| UsageError(format!("{arg} needs a value")))
            };
            match arg.as_str() {
                "--data" => options.data = PathBuf::from(value()?),
                "--transfers" => options.transfers = number(&arg, &value()?)?,
                "--seed" => options.seed = number(&arg, &value()?)?,
                "--idle-ms" => options.idle = Duration::from_millis(number(&arg, &value()?)?),
                "--check" => options.check_only = true,
                "--help" | "-h" => return Ok(None),
                _ => return Err(UsageError(format!("unknown argument {arg:?}"))),
            }
        }
        if options.idle.is_zero() {
            return Err(UsageError("--idle-ms must be at least 1".into()));
        }
        Ok(Some(options))
    }
}

fn number<T: std::str::FromStr>(arg: &str, text: &str) -> Result<T, UsageError> {
    text.parse()
        .map_err(|_| UsageError(format!("{arg} takes a whole number, not {text:?}")))
}

/// One transfer of the plan.
struct Planned {
    id: String,
    from: String,
    to: String,
    amount: u64,
}

fn account_id(n: usize) -> String {
    format!("acc-{n}")
}

/// The transfers of `seed`: always the same ones, so that a killed run can be run again.
fn plan(seed: u64, transfers: usize) -> Vec<Planned> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..transfers)
        .map(|n| {
            let from = rng.usize(..ACCOUNTS);
            let to = (from + rng.usize(1..ACCOUNTS)) % ACCOUNTS;
            Planned {
                id: format!("t{seed}-{n}"),
                from: account_id(from),
                to: account_id(to),
                amount: rng.u64(1..=100),
            }
        })
        .collect()
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let outcome = match Options::from_args() {
        Ok(Some(options)) => run(options),
        Ok(None) => say!("{USAGE}").map_err(Box::from),
        Err(usage) => Err(Box::from(usage)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "transfer: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: Options) -> Result<(), Box<dyn Error>> {
    let began = Instant::now();
    let journal = RocksJournal::open(&options.data)?;
    let persistence = Persistence::from_backend(journal)?;
    let unfinished = persistence.journal().remembered(Transfer::TYPE_KEY)?.len();
    let system = ActorSystem::new("transfer")?;
    let settings = ShardingSettings::default()
        .with_number_of_shards(10)
        .with_idle_timeout(options.idle);
    // The accounts first: remembered transfers start again as soon as their own region starts,
    // and look the accounts' region up.
    let accounts = system
        .sharding()
        .init_with::<Account>(persistence.clone(), settings.clone())?;
    let transfers = system
        .sharding()
        .init_with::<Transfer>(persistence.clone(), settings)?;
    say!(
        "transfer: journal in {}; {unfinished} unfinished transfers resume",
        options.data.display()
    )?;

    for n in 0..ACCOUNTS {
        let id = account_id(n);
        let frozen = id == FROZEN_ACCOUNT;
        accounts
            .entity(id)
            .open(OPENING_BALANCE, frozen)
            .wait(TIMEOUT)?;
    }
    let plan = plan(options.seed, options.transfers);
    if !options.check_only {
        say!("transfer: starting {} transfers", plan.len())?;
        // Started in waves: each reply comes once its `Started` is durable.
        let mut sent = 0;
        for wave in plan.chunks(WAVE) {
            let started: Vec<_> = wave
                .iter()
                .map(|t| {
                    let transfer = transfers.entity(t.id.as_str());
                    transfer.start(t.from.clone(), t.to.clone(), t.amount)
                })
                .collect();
            for phase in started {
                phase.wait(TIMEOUT)?;
            }
            sent += wave.len();
            say!("transfer: {sent} of {} started", plan.len())?;
        }
    }

    let phases = wait_until_finished(&transfers, &plan)?;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for phase in phases.values() {
        *counts.entry(format!("{phase:?}")).or_default() += 1;
    }
    let mut balances = Vec::with_capacity(ACCOUNTS);
    for n in 0..ACCOUNTS {
        balances.push(accounts.entity(account_id(n)).balance().wait(TIMEOUT)?);
    }
    let audit = audit(&persistence, &plan, &phases)?;
    let stats = accounts.stats();
    let count = |phase: &str| counts.get(phase).copied().unwrap_or(0);
    say!(
        "transfer: {} transfers: {} completed, {} compensated (deposit refused), {} rejected \
         (withdrawal refused), {} not started",
        plan.len(),
        count("Completed"),
        count("Compensated"),
        count("Rejected"),
        count("New")
    )?;
    say!(
        "transfer: the accounts hold {} in all (opened with {}): {balances:?}",
        balances.iter().sum::<u64>(),
        ACCOUNTS as u64 * OPENING_BALANCE
    )?;
    say!(
        "transfer: the accounts' journals ({} events) add up to {}; steps applied twice: {}, \
         accounts below zero: {}, transfers that disagree with them: {}",
        audit.events,
        audit.total,
        audit.applied_twice.len(),
        audit.below_zero.len(),
        audit.mismatched.len()
    )?;
    // One line for scripts and tests.
    say!(
        "summary transfers={} completed={} compensated={} rejected={} not_started={} total={} \
         opened_with={} journal_total={} account_events={} steps_applied_twice={} \
         below_zero={} mismatched={} account_starts={} account_passivations={} ms={}",
        plan.len(),
        count("Completed"),
        count("Compensated"),
        count("Rejected"),
        count("New"),
        balances.iter().sum::<u64>(),
        ACCOUNTS as u64 * OPENING_BALANCE,
        audit.total,
        audit.events,
        audit.applied_twice.len(),
        audit.below_zero.len(),
        audit.mismatched.len(),
        stats.entities_started,
        stats.passivations,
        began.elapsed().as_millis()
    )?;
    system.shutdown();
    audit.verdict(balances.iter().sum())
}

/// Asks the transfers of the plan where they are until none is under way; a transfer the
/// plan never started (`--check` after a killed run) stays `New`.
fn wait_until_finished(
    transfers: &ShardRegion<TransferCommand>,
    plan: &[Planned],
) -> Result<HashMap<String, Phase>, Box<dyn Error>> {
    let deadline = Instant::now() + FINISH_WITHIN;
    let mut phases = HashMap::with_capacity(plan.len());
    loop {
        // A finished transfer stays finished: ask only the others.
        let asked: Vec<_> = plan
            .iter()
            .filter(|t| !phases.get(&t.id).is_some_and(|p: &Phase| p.is_final()))
            .map(|t| (t.id.clone(), transfers.entity(t.id.as_str()).phase()))
            .collect();
        for (id, phase) in asked {
            phases.insert(id, phase.wait(TIMEOUT)?);
        }
        let under_way = phases
            .values()
            .filter(|p| !p.is_final() && **p != Phase::New)
            .count();
        if under_way == 0 {
            return Ok(phases);
        }
        if Instant::now() > deadline {
            return Err(Box::new(AuditFailed(format!(
                "{under_way} transfers are still under way after {FINISH_WITHIN:?}"
            ))));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the journal says, read without trusting any entity.
struct Audit {
    /// The sum of the balances the account events add up to.
    total: u64,
    events: usize,
    /// Steps credited or debited more than once.
    applied_twice: Vec<String>,
    /// Accounts whose events take them below zero.
    below_zero: Vec<String>,
    /// Transfers whose outcome disagrees with the steps the accounts applied.
    mismatched: Vec<String>,
}

/// Invariants that do not hold, as a sentence.
#[derive(Debug)]
struct AuditFailed(String);

impl fmt::Display for AuditFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the audit failed: {}", self.0)
    }
}

impl Error for AuditFailed {}

impl Audit {
    fn verdict(&self, balances: u64) -> Result<(), Box<dyn Error>> {
        let opened_with = ACCOUNTS as u64 * OPENING_BALANCE;
        let mut wrong = Vec::new();
        if balances != opened_with || self.total != opened_with {
            wrong.push(format!(
                "the accounts hold {balances} (their journals say {}), not the {opened_with} \
                 they were opened with",
                self.total
            ));
        }
        for (what, ids) in [
            ("steps applied twice", &self.applied_twice),
            ("accounts below zero", &self.below_zero),
            (
                "transfers that disagree with the accounts",
                &self.mismatched,
            ),
        ] {
            if !ids.is_empty() {
                wrong.push(format!("{what}: {}", ids.join(", ")));
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(Box::new(AuditFailed(wrong.join("; "))))
        }
    }
}

/// Replays every account's journal: sums the money, finds steps applied twice and balances
/// below zero, and checks each finished transfer against the steps applied for it.
fn audit(
    persistence: &Arc<Persistence>,
    plan: &[Planned],
    phases: &HashMap<String, Phase>,
) -> Result<Audit, Box<dyn Error>> {
    let mut audit = Audit {
        total: 0,
        events: 0,
        applied_twice: Vec::new(),
        below_zero: Vec::new(),
        mismatched: Vec::new(),
    };
    // Step id → (account, amount) for every step applied.
    let mut applied: HashMap<String, (String, u64)> = HashMap::new();
    for n in 0..ACCOUNTS {
        let id = account_id(n);
        let mut stored = Vec::new();
        persistence.journal().replay(
            &PersistenceId::of(Account::TYPE_KEY, &id),
            1,
            u64::MAX,
            u64::MAX,
            &mut |event| stored.push(event),
        )?;
        let mut balance: i128 = 0;
        for event in stored {
            audit.events += 1;
            let (step, amount) =
                match MessagePack.decode::<AccountEvent>(&event.manifest, &event.payload)? {
                    AccountEvent::Opened {
                        balance: opened, ..
                    } => {
                        balance += i128::from(opened);
                        continue;
                    }
                    AccountEvent::Refused { .. } => continue,
                    AccountEvent::Debited { step, amount } => {
                        balance -= i128::from(amount);
                        (step, amount)
                    }
                    AccountEvent::Credited { step, amount } => {
                        balance += i128::from(amount);
                        (step, amount)
                    }
                };
            if balance < 0 && !audit.below_zero.contains(&id) {
                audit.below_zero.push(id.clone());
            }
            if applied.insert(step.clone(), (id.clone(), amount)).is_some() {
                audit.applied_twice.push(step);
            }
        }
        // A balance below zero is reported above; it adds nothing here.
        audit.total += u64::try_from(balance).unwrap_or(0);
    }
    for t in plan {
        let step = |name: &str| applied.get(&format!("{}/{name}", t.id));
        let moved = |name: &str, account: &str| step(name) == Some(&(account.to_owned(), t.amount));
        let consistent = match phases.get(&t.id).copied().unwrap_or_default() {
            Phase::Completed => {
                moved("withdraw", &t.from) && moved("deposit", &t.to) && step("refund").is_none()
            }
            Phase::Compensated => {
                moved("withdraw", &t.from) && moved("refund", &t.from) && step("deposit").is_none()
            }
            Phase::Rejected | Phase::New => {
                step("withdraw").is_none() && step("deposit").is_none() && step("refund").is_none()
            }
            Phase::Withdrawing | Phase::Depositing | Phase::Refunding => false,
        };
        if !consistent {
            audit.mismatched.push(t.id.clone());
        }
    }
    Ok(audit)
}
