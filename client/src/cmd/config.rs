//! `igor config`: show the configuration and manage named contexts (kubectl-style): each
//! context has its server, its login, and optionally a CA file; `--trust-fingerprint` pins
//! the server's certificate.

use anyhow::{Result, bail};
use clap::{Arg, ArgMatches, Command};
use comfy_table::{Table, presets};

use crate::auth::TokenState;
use crate::config::{ContextConfig, normalize_server};
use crate::context::{App, EXIT_OK, EXIT_USAGE};
use crate::tls::{Fingerprint, KnownServers};

/// A CA file as the context keeps it: an absolute path to a PEM file with a certificate.
fn ca_file(file: &str) -> Result<String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let path = std::fs::canonicalize(file).map_err(|e| {
        anyhow::anyhow!(
            "--certificate-authority {file}: {}; give the PEM file of the CA that signed igord's certificate",
            crate::prompt::io_words(&e)
        )
    })?;
    let certs = CertificateDer::pem_file_iter(&path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow::anyhow!(
                "--certificate-authority {file}: {}",
                crate::tls::pem_words(&e)
            )
        })?;
    if certs.is_empty() {
        bail!("--certificate-authority {file}: no PEM certificate in it");
    }
    Ok(path.to_string_lossy().into_owned())
}

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
                    "The context's server is the global --server flag, its CA file the global --certificate-authority flag, and --trust-fingerprint pins the server's certificate:\n  igor config set-context lab --server https://igord:8623 --trust-fingerprint sha256:...",
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
                    let stored = app.stored_login(&t).map(|l| l.token);
                    let state = TokenState::of(stored.as_ref(), app.now);
                    let (user, token) = match (&app.env.token, &state) {
                        (Some(_), _) => (
                            "(the user of IGOR_TOKEN)".to_owned(),
                            "from IGOR_TOKEN".to_owned(),
                        ),
                        (None, TokenState::Valid { user, until }) => {
                            (user.clone(), format!("valid until {until}"))
                        }
                        (None, TokenState::Expired { user, at }) => {
                            (user.clone(), format!("expired at {at}; run 'igor login'"))
                        }
                        (None, TokenState::None) => (
                            t.user.clone().unwrap_or_else(|| "none".to_owned()),
                            "none; run 'igor login'".to_owned(),
                        ),
                    };
                    let context = t.context.as_deref().unwrap_or("none (a bare server URL)");
                    writeln!(app.out, "# context: {context}")?;
                    writeln!(app.out, "# server:  {}", t.server)?;
                    writeln!(app.out, "# user:    {user}")?;
                    writeln!(app.out, "# token:   {token}")?;
                    if let Some(ca) = &t.certificate_authority {
                        writeln!(app.out, "# certificate authority: {}", ca.display())?;
                    }
                    let known = KnownServers::load(&app.paths.known_servers)?;
                    if let Some(fp) = known.servers.get(&t.server) {
                        writeln!(app.out, "# pinned certificate: {fp}")?;
                    }
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
            let server = normalize_server(url).map_err(crate::exit::Exit::usage)?;
            let user = s.get_one::<String>("user").cloned();
            let certificate_authority = match s.get_one::<String>("certificate-authority") {
                Some(file) => Some(ca_file(file)?),
                None => None,
            };
            if let Some(text) = s.get_one::<String>("trust-fingerprint") {
                let fp: Fingerprint = text
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--trust-fingerprint: {e}"))?;
                KnownServers::pin(&app.paths.known_servers, &server, &fp)?;
                writeln!(app.out, "pinned {fp} for {server}")?;
            }
            let first = cfg.contexts.is_empty();
            // Set by editing the file only; a changed server or user keeps it.
            let output = cfg.contexts.get(&name).and_then(|c| c.output.clone());
            cfg.contexts.insert(
                name.clone(),
                ContextConfig {
                    server,
                    user,
                    certificate_authority,
                    output,
                },
            );
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
