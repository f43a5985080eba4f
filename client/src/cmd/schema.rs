//! `igor schema`: the schema this client uses for the server (show), fetch it now
//! (refresh), and where its cache lives (path).

use anyhow::Result;
use clap::{Arg, ArgAction, ArgMatches, Command};
use comfy_table::{Table, presets};

use crate::context::{App, EXIT_OK, EXIT_USAGE};

pub fn cli() -> Command {
    Command::new("schema")
        .about("show, refresh or locate the server's schema")
        .subcommand_required(true)
        .subcommand(
            Command::new("show").about("show the schema in use").arg(
                Arg::new("json")
                    .long("json")
                    .action(ArgAction::SetTrue)
                    .help("print the whole schema document as JSON"),
            ),
        )
        .subcommand(
            Command::new("refresh").about("revalidate the cached schema with the server now"),
        )
        .subcommand(
            Command::new("path").about("print the cache folder of this server (no network)"),
        )
}

pub fn exec(app: &mut App<'_>, m: &ArgMatches) -> Result<i32> {
    match m.subcommand() {
        Some(("path", _)) => {
            let dir = match app.target() {
                Ok(t) => app.cache().server_dir(&t.server),
                Err(_) => app.cache().root().to_owned(),
            };
            writeln!(app.out, "{}", dir.display())?;
        }
        Some(("show", s)) => {
            let server = app.target()?.server;
            let r = app.resolve(&server, app.force_schema_check())?;
            if s.get_flag("json") {
                writeln!(
                    app.out,
                    "{}",
                    serde_json::to_string_pretty(&r.doc.parsed())?
                )?;
                return Ok(EXIT_OK);
            }
            writeln!(app.out, "server:      {server}")?;
            writeln!(app.out, "api level:   {}", r.doc.api_level)?;
            writeln!(app.out, "fingerprint: {}", r.doc.fingerprint)?;
            writeln!(app.out, "source:      {}", r.source)?;
            let mut t = Table::new();
            t.load_style(presets::NOTHING);
            t.set_header(vec!["COMMAND", "TOPIC", "SINCE", "SUMMARY"]);
            for c in &r.doc.commands {
                t.add_row(vec![
                    c.full_name.clone(),
                    c.topic.clone(),
                    c.since.to_string(),
                    c.summary().to_owned(),
                ]);
            }
            writeln!(app.out, "{t}")?;
        }
        Some(("refresh", _)) => {
            let server = app.target()?.server;
            let r = app.resolve(&server, true)?;
            if let Some(reason) = r.offline {
                return Err(crate::exit::offline(reason));
            }
            writeln!(
                app.out,
                "schema of {server}: level {}, {} ({})",
                r.doc.api_level, r.doc.fingerprint, r.source
            )?;
        }
        _ => return Ok(EXIT_USAGE),
    }
    Ok(EXIT_OK)
}
