//! Test support for the one integration-test binary (`it/`): real `igord` processes on
//! `127.0.0.1:0`, fresh SQLite files and fresh PostgreSQL databases, an HTTP client, and
//! the real `igor` binary. Nothing here is a mock.

#[path = "support/cli.rs"]
pub mod cli;
#[path = "support/db.rs"]
pub mod db;
#[path = "support/pty.rs"]
pub mod pty;
#[path = "support/redfish.rs"]
pub mod redfish;
#[path = "support/relay.rs"]
pub mod relay;
#[path = "support/server.rs"]
pub mod server;
#[path = "support/sim.rs"]
pub mod sim;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A binary of this workspace, built by `cargo build --workspace` (scripts/test does it)
/// from the sources as they are now.
///
/// `cargo test` builds the test executable and the libraries it links, never the binaries
/// the tests run, so after an edit of the server or the client it would happily run the
/// igord or igor of the previous build. The first call for each binary refuses that: see
/// `stale`.
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
    static CHECKED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
    if !checked.iter().any(|n| n == name) {
        if let Some(why) = stale(&path) {
            panic!(
                "{why}: the tests would run a stale {name}. Build the workspace first with \
                 `cargo build --workspace` (scripts/test does); `cargo test` alone does not \
                 rebuild the binaries the tests run"
            );
        }
        checked.push(name.to_owned());
    }
    path
}

/// Why the binary at `path` was not built from this checkout's sources as they are now, if
/// it was not.
///
/// The sources are the ones cargo itself lists in the dep-info file it writes beside every
/// final artifact (`target/<profile>/igord.d`, Makefile syntax): exactly the files the
/// compiler read for the binary and its path dependencies, `include_str!`'d migrations and
/// bundled schemas included. Cargo rebuilds an artifact when one of those files is newer
/// than its last build, so this check agrees with cargo: it never flags an edit that
/// `cargo build --workspace` would not act on (another crate, a file nothing includes),
/// which would fail every test with no way to clear it, and it follows the crates'
/// dependencies as they change, which a hand-kept list of folders does not. The paths also
/// tell a binary built by another checkout sharing the target folder. Manifests and
/// Cargo.lock are not compared: cargo does not list them, and a lockfile change made for
/// another crate does not relink these binaries.
pub fn stale(path: &Path) -> Option<String> {
    let built = match std::fs::metadata(path).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    let dep_info = path.with_file_name(format!(
        "{}.d",
        path.file_name()
            .expect("a binary's file name")
            .to_string_lossy()
    ));
    let Ok(text) = std::fs::read_to_string(&dep_info) else {
        return Some(format!(
            "{} has no dep-info file {} beside it, so it was not built by cargo here",
            path.display(),
            dep_info.display()
        ));
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace folder");
    let target = path
        .parent()
        .and_then(Path::parent)
        .expect("a binary in target/<profile>/");
    let sources: Vec<PathBuf> = dep_info_sources(&text)
        .into_iter()
        // Relative only under `build.dep-info-basedir`, which would be the workspace.
        .map(|p| root.join(p))
        // Build-script output in the target folder is written during the build itself.
        .filter(|p| !p.starts_with(target))
        .collect();
    if !sources.iter().any(|p| p.starts_with(root)) {
        return Some(format!(
            "{} was built from other sources ({}), not from this checkout ({})",
            path.display(),
            sources
                .first()
                .map_or("none listed".into(), |p| p.display().to_string()),
            root.display()
        ));
    }
    for source in sources {
        match std::fs::metadata(&source).and_then(|m| m.modified()) {
            Err(_) => {
                return Some(format!(
                    "{} was built from {}, which is gone",
                    path.display(),
                    source.display()
                ));
            }
            Ok(changed) if changed > built => {
                let after = changed.duration_since(built).unwrap_or_default();
                return Some(format!(
                    "{} changed {:.1} s after {} was built",
                    source.display(),
                    after.as_secs_f64(),
                    path.display()
                ));
            }
            Ok(_) => {}
        }
    }
    None
}

/// The prerequisites of a dep-info file (`target: dep dep...`), with the escapes cargo
/// writes: `\ ` for a space in a path, a backslash at the end of a line to continue it.
fn dep_info_sources(text: &str) -> Vec<PathBuf> {
    let mut sources = Vec::new();
    for rule in text.replace("\\\n", " ").lines() {
        // The target ends at the first unescaped ": ".
        let Some(deps) = split_rule(rule) else {
            continue;
        };
        let mut current = String::new();
        let mut chars = deps.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    current.push(' ');
                    chars.next();
                }
                c if c.is_whitespace() => {
                    if !current.is_empty() {
                        sources.push(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            sources.push(PathBuf::from(current));
        }
    }
    sources
}

fn split_rule(rule: &str) -> Option<&str> {
    let bytes = rule.as_bytes();
    (0..bytes.len().saturating_sub(1))
        .find(|&i| bytes[i] == b':' && bytes[i + 1] == b' ' && (i == 0 || bytes[i - 1] != b'\\'))
        .map(|i| &rule[i + 2..])
}

/// A program of the Python virtualenv the tests use for third-party tools (schemathesis,
/// openapi-spec-validator): `IGOR_TEST_VENV`, else `py-venv` in the target folder, as
/// scripts/test creates it from tests/python-requirements.txt.
pub fn python_tool(name: &str) -> PathBuf {
    let venv = match std::env::var_os("IGOR_TEST_VENV") {
        Some(v) => PathBuf::from(v),
        None => bin("igord")
            .parent()
            .and_then(Path::parent)
            .expect("the target folder")
            .join("py-venv"),
    };
    let tool = venv.join("bin").join(name);
    assert!(
        tool.exists(),
        "{} not found: scripts/test creates the virtualenv; by hand (Debian: apt-get install \
         python3-venv): python3 -m venv {v} && {v}/bin/pip install -r tests/python-requirements.txt",
        tool.display(),
        v = venv.display()
    );
    tool
}
