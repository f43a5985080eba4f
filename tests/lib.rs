//! Test support for the one integration-test binary (`it/`): real `igord` processes on
//! `127.0.0.1:0`, fresh SQLite files and fresh PostgreSQL databases, an HTTP client, and
//! the real `igor` binary. Nothing here is a mock.

#[path = "support/cli.rs"]
pub mod cli;
#[path = "support/db.rs"]
pub mod db;
#[path = "support/relay.rs"]
pub mod relay;
#[path = "support/server.rs"]
pub mod server;
#[path = "support/sim.rs"]
pub mod sim;

use std::path::PathBuf;

/// A binary of this workspace, built by `cargo build --workspace` (scripts/test does it).
pub fn bin(name: &str) -> PathBuf {
    // The test executable lives in target/<profile>/deps/; the binaries one level up.
    let exe = std::env::current_exe().expect("current test executable");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile> folder");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found: build the workspace first with `cargo build --workspace` (scripts/test does)",
        path.display()
    );
    path
}
