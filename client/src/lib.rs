//! igor, the thin client: configuration and login, the schema cache and its resolution,
//! the command tree built from the schema, calls and rendering. `main.rs` only calls
//! `app::main_entry` (which builds the real `App` and runs it) and exits with its code.

// Panics are bugs: outside tests, no unwrap, expect or panic!. Where an invariant is
// local and obvious, the call may stay under an `#[allow]` with an `// invariant: ...`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod app;
pub mod auth;
pub mod cache;
pub mod call;
pub mod cmd;
pub mod color;
pub mod config;
pub mod context;
pub mod diag;
pub mod exit;
pub mod hostlist;
pub mod http;
pub mod machines;
pub mod prompt;
pub mod render;
pub mod resolve;
pub mod scan;
pub mod tls;
pub mod tree;
pub mod version;

#[cfg(test)]
mod tests;
