//! `igor completion bash|zsh|fish`: a completion script from the cached schema (no
//! network; a missing cache gives the built-ins only, with a warning). Re-run it after the
//! server gains commands.

use anyhow::Result;
use clap::{Arg, ArgMatches, Command};
use clap_complete::Shell;

use crate::cmd::builtins;
use crate::context::{App, EXIT_OK, EXIT_USAGE};
use crate::tree;

pub fn cli() -> Command {
    Command::new("completion")
        .about("print a shell completion script (from the cached schema)")
        .arg(
            Arg::new("shell")
                .required(true)
                .value_parser(["bash", "zsh", "fish"]),
        )
}

pub fn exec(app: &mut App<'_>, m: &ArgMatches) -> Result<i32> {
    let shell = match m.get_one::<String>("shell").map(String::as_str) {
        Some("bash") => Shell::Bash,
        Some("zsh") => Shell::Zsh,
        Some("fish") => Shell::Fish,
        _ => return Ok(EXIT_USAGE),
    };
    let resolved = match app.target() {
        Ok(t) => app.with_resolver(&t.server, |r| r.offline_only()),
        Err(_) => None,
    };
    let resolved = resolved.or_else(|| {
        use crate::version::BundleSet;
        app.bundles
            .docs()
            .iter()
            .max_by_key(|b| b.api_level)
            .cloned()
            .map(|doc| crate::resolve::Resolved {
                doc,
                source: crate::resolve::Source::Bundled(schema::ApiLevel::new(0, 0)),
                offline: None,
            })
    });
    let mut top = match &resolved {
        Some(r) => {
            // Completion wants every command's arguments: the one place the whole tree is built.
            let mut top = tree::top_command(builtins(), &[], None);
            for e in tree::entries(&r.doc, app.known.as_ref()) {
                if let Ok(c) = tree::command_for(&e.subname, e.def, &r.doc) {
                    top = top.subcommand(c.hide(e.hidden));
                }
            }
            top
        }
        None => {
            app.diag.warn("no cached schema for this server: completing the built-in commands only (run any command once, then again)");
            tree::top_command(builtins(), &[], None)
        }
    };
    clap_complete::generate(shell, &mut top, "igor", app.out);
    Ok(EXIT_OK)
}
