//! Writes `known_commands.rs` into OUT_DIR: the `(name, version)` pairs of every bundled
//! level, read from `bundled/*.json` here once, so that igor's start (which needs the
//! newest level's pairs for the default-version rule) never parses a bundle for them.
//! The bundles themselves are untouched; a test keeps these pairs equal to theirs.

// A build script fails by panicking: the build stops and cargo prints the message.
#![allow(clippy::panic)]

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new("bundled");
    println!("cargo:rerun-if-changed=bundled");
    let mut levels: Vec<(String, Vec<(String, u64)>)> = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("bundled/: {e}"));
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(level) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .map(str::to_owned)
        else {
            continue;
        };
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{level}: {e}"));
        let doc: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{level}: {e}"));
        let pairs = doc["commands"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| Some((c["name"].as_str()?.to_owned(), c["version"].as_u64()?)))
                    .collect()
            })
            .unwrap_or_default();
        levels.push((level, pairs));
    }
    levels.sort();
    let mut out = String::from(
        "/// `(level, [(name, version)])` of every bundled level, as build.rs read them.\n\
         pub const KNOWN_COMMANDS: &[(&str, &[(&str, u32)])] = &[\n",
    );
    for (level, pairs) in &levels {
        let _ = write!(out, "    ({level:?}, &[");
        for (name, version) in pairs {
            let _ = write!(out, "({name:?}, {version}), ");
        }
        out.push_str("]),\n");
    }
    out.push_str("];\n");
    let out_dir = std::env::var("OUT_DIR").unwrap_or_else(|e| panic!("OUT_DIR: {e}"));
    std::fs::write(Path::new(&out_dir).join("known_commands.rs"), out)
        .unwrap_or_else(|e| panic!("known_commands.rs: {e}"));
}
