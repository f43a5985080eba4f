//! The `igor` binary: everything lives in the library; this only turns its answer into the
//! process exit code.

// Panics are bugs: outside tests, no unwrap, expect or panic!. Where an invariant is
// local and obvious, the call may stay under an `#[allow]` with an `// invariant: ...`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

fn main() {
    std::process::exit(client::app::main_entry());
}
