//! Helpers shared by Reactant's top-level examples, integration tests and benches. Not
//! published: applications depend on the `reactant` crate.
#![deny(missing_docs)]

/// Resident set size of this process in bytes, from `/proc/self/statm` (Linux); `None`
/// elsewhere.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident_pages * page_size())
}

fn page_size() -> u64 {
    // The kernel's page size on every Linux target this project runs on.
    4096
}

/// The README's Rust code blocks, compiled and run by `cargo test --doc`.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "rocksdb"))]
pub struct ReadmeDoctests;
