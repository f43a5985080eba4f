//! `igor config`: show the configuration and manage named contexts (kubectl-style).

use anyhow::{Result, bail};
use clap::{Arg, ArgMatches, Command};
use comfy_table::{Table, presets};

use crate::app::{App, EXIT_OK, EXIT_USAGE};
use crate::config::{ContextConfig, normalize_server};

pub fn cli() -> Command {
    Command::new("config")
        .about("show the configuration and manage server contexts")
        .subcommand_required(true)
        .subcommand(Command::new("show").about("show the configuration file and the server in use"))
        .subcommand(
            Command::new("use-context")
                .about("make a context the current one")
                .arg(Arg::new("name").required(true)),
        )
        .subcommand(
            Command::new("set-context")
                .about("create or change a context")
                .arg(Arg::new("name").required(true))
                .after_help(
                    "The context's server is the global --server flag: igor config set-context lab --server http://igord:8623",
                )
                .arg(
                    Arg::new("user")
                        .long("user")
                        .value_name("USER")
                        .help("default user for 'igor login'"),
                ),
        )
        .subcommand(Command::new("get-contexts").about("list the contexts"))
}

pub fn exec(app: &mut App<'_>, m: &ArgMatches) -> Result<i32> {
    let path = app.paths.config_file.clone();
    let mut cfg = app.config()?;
    match m.subcommand() {
        Some(("show", _)) => {
            writeln!(app.out, "# {}", path.display())?;
            write!(app.out, "{}", toml::to_string_pretty(&cfg)?)?;
            match app.target() {
                Ok(t) => {
                    let login = match app.tokens().load(&t.server) {
                        Some(s) => format!("logged in as {} until {}", s.user, s.expires_at),
                        None if app.env.token.is_some() => "token from IGOR_TOKEN".to_owned(),
                        None => "not logged in".to_owned(),
                    };
                    writeln!(app.out, "# server in use: {} ({login})", t.server)?;
                }
                Err(e) => writeln!(app.out, "# {e:#}")?,
            }
        }
        Some(("use-context", s)) => {
            let name = s.get_one::<String>("name").cloned().unwrap_or_default();
            if !cfg.contexts.contains_key(&name) {
                bail!("no context '{name}' in {}", path.display());
            }
            cfg.current = Some(name.clone());
            cfg.save(&path)?;
            writeln!(app.out, "current context is now '{name}'")?;
        }
        Some(("set-context", s)) => {
            let name = s.get_one::<String>("name").cloned().unwrap_or_default();
            // The global --server names the context's server here, not a server to talk to.
            let Some(url) = s.get_one::<String>("server") else {
                bail!("set-context needs --server URL");
            };
            let server = normalize_server(url)?;
            let user = s.get_one::<String>("user").cloned();
            let first = cfg.contexts.is_empty();
            cfg.contexts
                .insert(name.clone(), ContextConfig { server, user });
            // The first context is the only sensible current one.
            if first || cfg.current.is_none() {
                cfg.current = Some(name.clone());
            }
            cfg.save(&path)?;
            writeln!(app.out, "context '{name}' saved in {}", path.display())?;
        }
        Some(("get-contexts", _)) => {
            let mut t = Table::new();
            t.load_style(presets::NOTHING);
            t.set_header(vec!["CURRENT", "NAME", "SERVER", "USER"]);
            for (name, c) in &cfg.contexts {
                let current = if cfg.current.as_deref() == Some(name.as_str()) {
                    "*"
                } else {
                    ""
                };
                t.add_row(vec![
                    current,
                    name,
                    &c.server,
                    c.user.as_deref().unwrap_or(""),
                ]);
            }
            writeln!(app.out, "{t}")?;
        }
        _ => return Ok(EXIT_USAGE),
    }
    Ok(EXIT_OK)
}
