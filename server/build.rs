//! Installs the web UI's third-party files from the npm registry, exactly as
//! `ui-deps/package-lock.json` pins them (`npm ci`), into `OUT_DIR`, and copies the few the
//! console page loads into `OUT_DIR/ui-vendor`, which `src/ui.rs` embeds. Nothing is
//! written into the source tree; the install runs again only when the lockfile changes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (file in node_modules, name it is served under at /ui/vendor/).
const VENDOR: &[(&str, &str)] = &[
    ("@xterm/xterm/lib/xterm.mjs", "xterm.mjs"),
    ("@xterm/xterm/css/xterm.css", "xterm.css"),
    ("@xterm/xterm/LICENSE", "xterm.LICENSE.txt"),
    ("@xterm/addon-fit/lib/addon-fit.mjs", "addon-fit.mjs"),
];

fn main() {
    if let Err(e) = run() {
        // A build script's error, as cargo shows it; the build stops.
        println!("cargo::error={e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let dir = |var: &str| {
        std::env::var(var)
            .map(PathBuf::from)
            .map_err(|e| format!("{var}: {e}"))
    };
    let (manifest, out) = (dir("CARGO_MANIFEST_DIR")?, dir("OUT_DIR")?);
    let deps = manifest.join("ui-deps");
    let work = out.join("ui-deps");
    let vendor = out.join("ui-vendor");
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    std::fs::create_dir_all(&work).map_err(|e| io("cannot create", &work, e))?;
    for f in ["package.json", "package-lock.json"] {
        println!("cargo::rerun-if-changed=ui-deps/{f}");
        std::fs::copy(deps.join(f), work.join(f))
            .map_err(|e| io("cannot copy", &deps.join(f), e))?;
    }
    npm_ci(&work)?;
    let _ = std::fs::remove_dir_all(&vendor);
    std::fs::create_dir_all(&vendor).map_err(|e| io("cannot create", &vendor, e))?;
    for (from, to) in VENDOR {
        let src = work.join("node_modules").join(from);
        std::fs::copy(&src, vendor.join(to)).map_err(|e| {
            format!(
                "{} (server/ui-deps/package-lock.json no longer provides it?)",
                io("cannot copy", &src, e)
            )
        })?;
    }
    Ok(())
}

fn npm_ci(dir: &Path) -> Result<(), String> {
    println!("cargo::rerun-if-env-changed=NPM");
    let npm = std::env::var("NPM").unwrap_or_else(|_| "npm".into());
    let ran = Command::new(&npm)
        .args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .current_dir(dir)
        .status();
    let why = match ran {
        Ok(s) if s.success() => return Ok(()),
        Ok(s) => format!("`{npm} ci` failed ({s})"),
        Err(e) => format!("cannot run `{npm}`: {e}"),
    };
    Err(format!(
        "{why}. igord embeds the web console's xterm.js from the npm registry, pinned in \
         server/ui-deps/package-lock.json: install Node.js and npm (Debian: apt-get install \
         nodejs npm; scripts/test does) and let the build reach the registry (or set NPM to \
         another npm)"
    ))
}
