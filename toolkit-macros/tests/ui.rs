//! The compile-fail suite: each case in the workspace's `tests/ui/` is a misuse of a macro, and
//! its `.stderr` the exact errors, at the user's own lines. `TRYBUILD=overwrite cargo test -p
//! reactant-macros --test ui` rewrites them after a deliberate change.
//!
//! It runs from this crate because trybuild builds the cases with the dev-dependencies of the
//! crate that runs it: here, `reactant` without RocksDB.

#[test]
fn misuses_are_compile_errors_at_the_users_span() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("../tests/ui/*.rs");
    cases.pass("../tests/ui/pass/*.rs");
}
