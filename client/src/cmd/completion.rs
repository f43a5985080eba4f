//! Shell completion. `igor completion bash|zsh|fish` prints a small script that, on each
//! TAB, asks igor itself what fits (`COMPLETE=bash igor -- igor power-status no`:
//! clap_complete's engine, through `complete()` below). So completion knows the server's
//! commands as the cached schema has them now, machine names for machine parameters (from
//! the names ordinary calls keep in the cache folder, see `machines.rs`) and context names
//! for `--context` (from config.toml). TAB never touches the network: it reads the cache,
//! the configuration and the bundles only, and prints nothing but candidates.

use std::ffi::{OsStr, OsString};
use std::sync::Arc;

use anyhow::{Result, anyhow};
use clap::{Arg, ArgMatches, Command};
use clap_complete::env::Shells;
use clap_complete::{ArgValueCompleter, CompletionCandidate};

use crate::cmd::builtins;
use crate::context::{App, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::tree;

/// The environment variable the registration script sets to ask for candidates.
pub const VAR: &str = "COMPLETE";

pub fn cli() -> Command {
    Command::new("completion")
        .about("print a shell completion script (commands, machine names and contexts)")
        .long_about(
            "Print a shell completion script. Load it from your shell's startup file, e.g.\n  \
             bash: source <(igor completion bash)\n  \
             zsh:  source <(igor completion zsh)\n  \
             fish: igor completion fish | source\n\
             On each TAB the script asks igor, which answers from the cached schema, the \
             machine names kept by your last calls (refreshed every 5 minutes by calls on \
             machines) and config.toml; TAB never waits for the server.",
        )
        .arg(
            Arg::new("shell")
                .required(true)
                .value_parser(["bash", "zsh", "fish"]),
        )
}

pub fn exec(app: &mut App<'_>, m: &ArgMatches) -> Result<i32> {
    let shells = Shells::builtins();
    let Some(shell) = m
        .get_one::<String>("shell")
        .and_then(|s| shells.completer(s))
    else {
        return Ok(EXIT_USAGE);
    };
    // The script calls igor as it was called now: a name found on PATH stays that name, a
    // relative path (`./igor`) becomes absolute, since TAB may come from another folder.
    let called = std::path::PathBuf::from(std::env::args().next().unwrap_or_default());
    let completer = match std::env::current_dir() {
        Ok(cwd) if called.is_relative() && called.components().count() > 1 => {
            cwd.join(called).components().collect()
        }
        _ if called.as_os_str().is_empty() => std::path::PathBuf::from("igor"),
        _ => called,
    };
    let completer = completer.to_string_lossy();
    shell.write_registration(VAR, "igor", "igor", &completer, app.out)?;
    Ok(EXIT_OK)
}

/// Whether this run is the completion script asking for candidates: `COMPLETE` names a
/// shell clap_complete knows and the arguments start with `--`, as every registration
/// script calls igor. Anything else is an ordinary run, so a `COMPLETE` variable some other
/// tool left in the environment changes nothing.
pub fn requested(argv: &[String]) -> Option<String> {
    let shell = std::env::var(VAR).ok()?;
    (Shells::builtins().completer(&shell).is_some() && argv.get(1).is_some_and(|a| a == "--"))
        .then_some(shell)
}

/// Answers the completion script: the candidates for the words after `--` in `argv`
/// (`igor -- igor power-status no`), in the shell's format. `app` was set up from those
/// words (their `--server`, `--context`), with a silent `Diag`.
pub fn complete(app: &mut App<'_>, shell: &str, argv: &[String]) -> i32 {
    let shells = Shells::builtins();
    let Some(completer) = shells.completer(shell) else {
        return EXIT_USAGE;
    };
    let words: Vec<OsString> = argv
        .iter()
        .skip_while(|a| *a != "--")
        .skip(1)
        .map(OsString::from)
        .collect();
    let mut top = full_tree(app);
    let cwd = std::env::current_dir().ok();
    let written = completer
        .write_complete(&mut top, words, cwd.as_deref(), app.out)
        .map_err(|e| anyhow!(e));
    match written.and_then(|()| app.out.flush().map_err(|e| anyhow!(e))) {
        Ok(()) => EXIT_OK,
        Err(_) => EXIT_FAILED,
    }
}

/// Every command with its arguments (completion is the one place the whole tree is
/// built), from the cached schema of the target, else the newest bundle, with candidates
/// for machine parameters and `--context`.
fn full_tree(app: &App<'_>) -> Command {
    let target = app.target().ok();
    let resolved = target
        .as_ref()
        .and_then(|t| app.with_resolver(&t.server, |r| r.offline_only()));
    let newest = match &resolved {
        Some(_) => None,
        None => app.bundles.newest(),
    };
    let doc = resolved.as_ref().map(|r| &r.doc).or(newest.as_ref());
    let machines: Arc<Vec<String>> = Arc::new(
        target
            .as_ref()
            .and_then(|t| app.cache().load_machines(&t.server))
            .map(|m| m.names)
            .unwrap_or_default(),
    );
    let contexts: Arc<Vec<String>> = Arc::new(
        app.config()
            .map(|c| c.contexts.into_keys().collect())
            .unwrap_or_default(),
    );
    let mut top = tree::top_command(builtins(), &[], None);
    if let Some(doc) = doc {
        for e in tree::entries(doc, app.known.as_ref()) {
            let Ok(mut c) = tree::command_for(&e.subname, e.def, doc) else {
                continue;
            };
            for p in schema::params::params(&crate::tree::json_of(&e.def.params)) {
                if tree::is_machine_param(e.def, &p.key)
                    && c.get_arguments().any(|a| a.get_id() == p.key.as_str())
                {
                    let names = machines.clone();
                    c = c.mut_arg(p.key.as_str(), |a| {
                        a.add(ArgValueCompleter::new(move |current: &OsStr| {
                            candidates(&names, current)
                        }))
                    });
                }
            }
            top = top.subcommand(c.hide(e.hidden));
        }
    }
    top.mut_arg("context", |a| {
        a.add(ArgValueCompleter::new(move |current: &OsStr| {
            candidates(&contexts, current)
        }))
    })
}

/// The names that begin with what is typed. After a comma (`node1,no`), the last item is
/// completed and what comes before it kept: a set may be given as one comma list.
fn candidates(names: &[String], current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let (kept, typed) = match current.rsplit_once(',') {
        Some((before, last)) => (format!("{before},"), last),
        None => (String::new(), current.as_ref()),
    };
    let mut out: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| n.starts_with(typed))
        .collect();
    out.sort_by(|a, b| crate::hostlist::natural_cmp(a, b));
    out.into_iter()
        .map(|n| CompletionCandidate::new(format!("{kept}{n}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_complete_the_last_item() {
        let names: Vec<String> = ["node10", "node2", "gpu1"].map(String::from).to_vec();
        let got = |typed: &str| -> Vec<String> {
            candidates(&names, OsStr::new(typed))
                .iter()
                .map(|c| c.get_value().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(got("no"), ["node2", "node10"]);
        assert_eq!(got(""), ["gpu1", "node2", "node10"]);
        assert_eq!(got("gpu1,node1"), ["gpu1,node10"]);
        assert!(got("x").is_empty());
    }
}
