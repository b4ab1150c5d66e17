//! Helpers the benches share: the bench system (worker threads from `REACTANT_BENCH_THREADS`,
//! else 2), and turning runs into figures to print: rates, medians and ranges, sizes, the
//! current thread's CPU time, and a padded table. Included by each bench
//! with `#[path = "figures.rs"] mod figures;` (each uses some of them).

use std::time::Duration;

use reactant::prelude::ActorSystem;
use reactant_workspace::resident_bytes;

/// A bench system named `name` with `REACTANT_BENCH_THREADS` workers (else 2).
pub fn system(name: &str) -> ActorSystem {
    ActorSystem::builder()
        .name(name)
        .threads(bench_threads())
        .build()
        .expect("a valid bench system configuration")
}

/// The bench systems' worker threads: `REACTANT_BENCH_THREADS`, else 2.
pub fn bench_threads() -> usize {
    std::env::var("REACTANT_BENCH_THREADS")
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(2)
}

/// CPU time this thread has used so far (`/proc/thread-self/schedstat`, Linux, nanoseconds;
/// zero elsewhere): what the work costs the thread, whatever else shares the cores.
pub fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Resident memory of this process.
pub fn rss() -> u64 {
    resident_bytes().expect("RSS is readable from /proc/self/statm")
}

pub fn per_second(elements: u64, elapsed: Duration) -> f64 {
    elements as f64 / elapsed.as_secs_f64()
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

pub fn millions(rate: f64) -> String {
    format!("{:.2}M", rate / 1e6)
}

pub fn list_millions(rates: &[f64]) -> String {
    rates
        .iter()
        .map(|&r| millions(r))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn list_ns(values: &[f64]) -> String {
    values
        .iter()
        .map(|&ns| format!("{ns:.0}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The median of nanosecond figures, and their range.
pub fn spread_ns(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    format!("{:.0} ({min:.0}–{max:.0})", median(values))
}

/// The median, and the range of the runs.
pub fn spread(rates: &[f64]) -> String {
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    format!(
        "{} ({:.2}–{:.2})",
        millions(median(rates)),
        min / 1e6,
        max / 1e6
    )
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A table printed once its rows are in, columns padded to their widest cell.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: Vec<String>) -> Self {
        Self {
            header,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.header.len(), "a cell per column");
        self.rows.push(cells);
    }

    pub fn print(&self) {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, &width)| format!("{cell:<width$}"))
                .collect();
            println!("| {} |", padded.join(" | "));
        };
        line(&self.header);
        line(
            &widths
                .iter()
                .map(|&width| "-".repeat(width))
                .collect::<Vec<_>>(),
        );
        for row in &self.rows {
            line(row);
        }
    }
}
