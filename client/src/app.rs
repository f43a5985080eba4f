//! One run of `igor`: the pre-scan, which tree to build, the built-ins' dispatch, and a
//! schema command's path from schema resolution to the rendered answer. The run's context
//! (`App`, exit codes, error printing) lives in `context.rs`, which the built-ins share.

use anyhow::{Result, anyhow};
use clap::{ArgMatches, Command};
use schema::ErrorCode;

use crate::auth::TokenState;
use crate::call::{ApiError, rpc, rpc_lines};
use crate::cmd;
use crate::config::{EnvVars, NoServer, Paths, Target};
use crate::context::{App, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, print_error};
use crate::diag::Diag;
use crate::exit::{stderr_line, unreached};
use crate::render::{Format, Order, Printed, StreamPrinter, Style, render};
use crate::resolve::{Resolved, Source};
use crate::scan::scan;
use crate::tree::{self, BUILTINS, Invocation};

impl App<'_> {
    /// After a run: a certificate accepted through an explicit trust (`--trust-fingerprint`,
    /// or the question of `igor login`) becomes the server's pin; `-v` notes of the TLS layer.
    fn finish_tls(&self) -> Result<()> {
        let Some(tls) = self.http.tls() else {
            return Ok(());
        };
        for note in tls.take_notes() {
            self.diag.info(note);
        }
        if let (Some(crate::tls::Accepted::Pinned(fp)), true) =
            (tls.accepted(), tls.trust().pin_from_flag)
        {
            let server = self.target()?.server;
            let known = crate::tls::KnownServers::load(&self.paths.known_servers)?;
            if known.servers.get(&server) != Some(&fp) {
                crate::tls::KnownServers::pin(&self.paths.known_servers, &server, &fp)?;
                self.diag
                    .info(format_args!("tls: pinned {fp} for {server}"));
            }
        }
        Ok(())
    }

    /// A refusal of the server, with a 401 of an expired token said as such.
    fn refused(&self, e: ApiError, state: &TokenState, t: &Target) -> anyhow::Error {
        match state {
            TokenState::Expired { user, at } if e.status == 401 => ApiError {
                message: format!("the token of {user} for {} expired at {at}", t.identity),
                ..e
            }
            .into(),
            _ => e.into(),
        }
    }

    /// Parses argv against `top`; `Err(code)` when clap printed help, version or a usage
    /// error itself.
    fn parse(&mut self, top: Command, argv: &[String]) -> Result<ArgMatches, i32> {
        top.try_get_matches_from(argv)
            .map_err(|e| self.print_clap(e))
    }

    /// Help goes to our stdout (so tests can read it), errors to stderr; clap's styles
    /// only where that stream has colour (`color.rs`).
    fn print_clap(&mut self, e: clap::Error) -> i32 {
        if e.use_stderr() {
            let text = self.paint_err.styled(&e.render());
            let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
        } else {
            // Help carries clap's styles (and our topic headings) only where colour is on.
            let text = self.paint_out.styled(&e.render());
            let nl = if text.ends_with('\n') { "" } else { "\n" };
            let _ = write!(self.out, "{text}{nl}");
        }
        e.exit_code()
    }

    pub fn run(&mut self, argv: &[String]) -> i32 {
        let code = match self.dispatch(argv) {
            Ok(code) => code,
            Err(e) => {
                print_error(&e, self.paint_err);
                crate::exit::code_of(&e)
            }
        };
        if let Err(e) = self.finish_tls() {
            print_error(&e, self.paint_err);
            return crate::exit::code_of(&e);
        }
        code
    }

    fn dispatch(&mut self, argv: &[String]) -> Result<i32> {
        if self.scan.version && self.scan.command.is_none() {
            writeln!(self.out, "igor {}", env!("CARGO_PKG_VERSION"))?;
            return Ok(EXIT_OK);
        }
        match self.scan.target().map(str::to_owned) {
            Some(t) if BUILTINS.contains(&t.as_str()) && t != "help" => {
                let top = tree::top_command(cmd::builtins(), &[], None);
                let m = match self.parse(top, argv) {
                    Ok(m) => m,
                    Err(code) => return Ok(code),
                };
                match m.subcommand() {
                    Some((name, sub)) => cmd::exec(self, name, sub),
                    None => Ok(EXIT_USAGE),
                }
            }
            Some(t) => self.schema_command(argv, &t),
            None => self.top_level_help(argv),
        }
    }

    /// `igor`, `igor --help`, `igor help`: the commands by topic. The list needs the schema
    /// if one can be had; with no server configured at all, that of the newest bundle, said
    /// so; if the configuration is broken, the built-ins alone with a warning.
    fn top_level_help(&mut self, argv: &[String]) -> Result<i32> {
        let target = self.target();
        let mut note = None;
        let resolved = match target {
            Err(e) if e.is::<NoServer>() => self
                .newest_bundle()
                .inspect(|r| note = Some(bundled_note(r.doc.api_level))),
            Err(e) => {
                self.diag
                    .warn(format_args!("{e:#}; listing the built-in commands only"));
                None
            }
            Ok(t) => match self.resolve(&t.server, self.force_schema_check()) {
                Ok(r) => Some(r),
                Err(e) => {
                    self.diag
                        .warn(format_args!("{e:#}; listing the built-in commands only"));
                    None
                }
            },
        };
        let entries = resolved
            .as_ref()
            .map(|r| tree::entries(&r.doc, self.known.as_ref()))
            .unwrap_or_default();
        let topics = resolved.as_ref().map(|r| r.doc.topics.as_slice());
        let listed = tree::top_command(cmd::builtins(), &entries, None);
        // Help alone (`igor`, `igor --help`) is answered from the top level: clap needs the
        // schema's commands only to name them in an error (a missing command, `igor help`).
        let help_only = self.scan.command.is_none() && (self.scan.help || argv.len() <= 1);
        let top = match help_only {
            true => tree::top_command(cmd::builtins(), &[], None),
            false => listed.clone(),
        };
        let topics = topics.unwrap_or_default();
        let top = tree::by_topic(top, &listed, topics, &entries, note.as_deref());
        match self.parse(top, argv) {
            Ok(_) => Ok(EXIT_USAGE),
            Err(code) => Ok(code),
        }
    }

    /// The newest bundled schema this client may use, as a resolution without a server.
    fn newest_bundle(&self) -> Option<Resolved> {
        self.bundles.newest().map(|doc| Resolved {
            source: Source::Bundled(doc.api_level),
            doc,
            offline: None,
        })
    }

    /// Whether this run asks for help (`igor X --help`, `igor help X`), which needs no server.
    fn asks_help(&self) -> bool {
        self.scan.help || self.scan.command.as_deref() == Some("help")
    }

    /// `igor X --help` with no server configured: X's help from the newest bundle, said so.
    fn bundled_help(
        &mut self,
        argv: &[String],
        token: &str,
        no_server: anyhow::Error,
    ) -> Result<i32> {
        let Some(resolved) = self.newest_bundle() else {
            return Err(no_server);
        };
        if resolved.doc.topics.iter().any(|t| t.name == token) {
            let code = self.topic_help(token, &resolved)?;
            writeln!(self.out, "\n{}", bundled_note(resolved.doc.api_level))?;
            return Ok(code);
        }
        match tree::invoke(
            &resolved.doc,
            self.known.as_ref(),
            cmd::builtins(),
            token,
            argv,
        ) {
            Invocation::Clap(e) => {
                let help = !e.use_stderr();
                let code = self.print_clap(e);
                if help {
                    writeln!(self.out, "\n{}", bundled_note(resolved.doc.api_level))?;
                }
                Ok(code)
            }
            Invocation::Unknown => self.unknown_command(token, &resolved),
            _ => Err(no_server),
        }
    }

    fn schema_command(&mut self, argv: &[String], token: &str) -> Result<i32> {
        self.schema_command_once(argv, token, true)
    }

    /// `may_rerun`: when the server answers "unknown command" for a version this run chose
    /// by default (the cached schema was of another replica's level), the run starts over
    /// once with the refreshed schema, whose default may differ. Unknown commands had no
    /// effect, so this is safe; a version the user named is never changed.
    fn schema_command_once(
        &mut self,
        argv: &[String],
        token: &str,
        may_rerun: bool,
    ) -> Result<i32> {
        let target = match self.target() {
            Ok(t) => t,
            Err(e) if e.is::<NoServer>() && self.asks_help() => {
                return self.bundled_help(argv, token, e);
            }
            Err(e) => return Err(e),
        };
        let server = target.server.clone();
        let mut resolved = self.resolve(&server, self.force_schema_check())?;
        self.diag.info(format_args!("server: {server}"));
        let mut def = tree::lookup(&resolved.doc, self.known.as_ref(), token).cloned();
        // A command the cache does not know may be new on the server: look once more.
        if def.is_none()
            && resolved.source == Source::Cache
            && token.parse::<schema::CommandName>().is_ok()
        {
            resolved = self.resolve(&server, true)?;
            def = tree::lookup(&resolved.doc, self.known.as_ref(), token).cloned();
        }
        self.diag.info(format_args!(
            "schema: {} (level {}, {})",
            resolved.source, resolved.doc.api_level, resolved.doc.fingerprint
        ));
        if def.is_none() {
            if self.asks_help() && resolved.doc.topics.iter().any(|t| t.name == token) {
                return self.topic_help(token, &resolved);
            }
            return self.unknown_command(token, &resolved);
        }
        if self.asks_help() && resolved.offline.is_none() {
            self.server_defaults_into_help(&target, &mut resolved, def.as_ref());
        }
        let (def, params, format) = match tree::invoke(
            &resolved.doc,
            self.known.as_ref(),
            cmd::builtins(),
            token,
            argv,
        ) {
            Invocation::Call {
                def,
                mut params,
                secrets,
                matches,
            } => {
                // `-o` wins over the configuration's `output`.
                let format = match matches.get_one::<String>("output") {
                    Some(flag) => Format::parse(Some(flag)).map_err(|e| anyhow!(e))?,
                    None => Format::parse(target.output.as_deref()).map_err(|e| {
                        anyhow!(
                            "{e} (the output setting in {})",
                            self.paths.config_file.display()
                        )
                    })?,
                };
                crate::prompt::ask_secrets(&mut params, &secrets, self.prompter)
                    .map_err(|m| anyhow!(m))?;
                (def.clone(), params, format)
            }
            Invocation::Clap(e) => return Ok(self.print_clap(e)),
            Invocation::Usage(msg) => {
                stderr_line(format_args!(
                    "error: {msg}\n\nFor more information, try '{token} --help'."
                ));
                return Ok(EXIT_USAGE);
            }
            Invocation::Unknown => return self.unknown_command(token, &resolved),
            Invocation::Defect(e) => return Err(anyhow!("{e}")),
        };
        if let Some(reason) = &resolved.offline {
            return Err(crate::exit::offline(reason.clone()));
        }
        let rerun = may_rerun.then_some((argv, token));
        self.call(&target, &def, params, resolved, format, rerun)
    }

    /// For `igor COMMAND --help`: asks the server (`command-defaults`) what it would apply
    /// to the parameters whose default it decides (`x-igor-dynamic-default`), and writes
    /// the answers into this run's copy of the schema as their defaults, so the help shows
    /// them. Best effort: without a login, or from a server without the command, the help
    /// says the server decides. Nothing is ever sent for them on a call.
    fn server_defaults_into_help(
        &mut self,
        target: &Target,
        resolved: &mut Resolved,
        def: Option<&schema::LazyCommand>,
    ) {
        let Some(def) = def else { return };
        let dynamic: Vec<String> = schema::params::params(&tree::json_of(&def.params))
            .into_iter()
            .filter(|p| p.dynamic_default.is_some())
            .map(|p| p.key)
            .collect();
        if dynamic.is_empty() || resolved.doc.latest("command-defaults").is_none() {
            return;
        }
        let (token, _) = self.token(target);
        let Some(token) = token else { return };
        let params = serde_json::json!({ "command": def.full_name });
        // A help text must not wait long for a server that does not answer.
        let answer = crate::call::rpc_within(
            self.http,
            &target.server,
            Some(&token),
            "command-defaults/1",
            &params,
            Some(std::time::Duration::from_secs(2)),
        );
        let defaults = match answer.map(|o| o.result) {
            Ok(Ok(r)) => r.result["defaults"].clone(),
            Ok(Err(e)) => {
                self.diag
                    .info(format_args!("help: no server defaults ({})", e.message));
                return;
            }
            Err(e) => {
                self.diag
                    .info(format_args!("help: no server defaults ({e})"));
                return;
            }
        };
        let full_name = def.full_name.clone();
        let Some(cmd) = resolved
            .doc
            .commands
            .iter_mut()
            .find(|c| c.full_name == full_name)
        else {
            return;
        };
        let mut params = tree::json_of(&cmd.params);
        for key in dynamic {
            if let Some(v) = defaults.get(&key)
                && let Some(prop) = params["properties"].get_mut(&key)
            {
                prop["default"] = v.clone();
            }
        }
        if let Ok(raw) = serde_json::value::to_raw_value(&params) {
            cmd.params = raw;
        }
    }

    /// `igor help TOPIC`: the topic's commands, as the top-level help lists them.
    fn topic_help(&mut self, topic: &str, resolved: &Resolved) -> Result<i32> {
        let entries = tree::entries(&resolved.doc, self.known.as_ref());
        let top = tree::top_command(cmd::builtins(), &entries, None);
        let text = tree::topic_listing(&top, &resolved.doc.topics, &entries, Some(topic));
        let text = self.paint_out.styled(&text.into());
        writeln!(
            self.out,
            "{text}\nSee 'igor COMMAND --help' for the options of a command."
        )?;
        Ok(EXIT_OK)
    }

    /// A well-formed name the schema lacks: the same words the server uses, exit 1.
    fn unknown_command(&mut self, token: &str, resolved: &Resolved) -> Result<i32> {
        // The name as the user typed it, as the server words it: `unknown command 'ping'`.
        let full = token.to_owned();
        let name = full.split('/').next().unwrap_or_default();
        let versions: Vec<&str> = resolved
            .doc
            .commands
            .iter()
            .filter(|c| c.name == name)
            .map(|c| c.full_name.as_str())
            .collect();
        stderr_line(format_args!("error: unknown command '{full}'"));
        if !versions.is_empty() {
            stderr_line(format_args!("  available: {}", versions.join(", ")));
        } else if let Some(close) =
            closest(name, resolved.doc.commands.iter().map(|c| c.name.as_str()))
        {
            stderr_line(format_args!("  did you mean '{close}'?"));
        }
        Ok(crate::context::EXIT_FAILED)
    }

    fn call(
        &mut self,
        target: &Target,
        def: &schema::LazyCommand,
        params: serde_json::Value,
        resolved: Resolved,
        format: Format,
        rerun: Option<(&[String], &str)>,
    ) -> Result<i32> {
        if def.stream {
            return self.call_stream(target, def, params, resolved, format, rerun);
        }
        let server = target.server.as_str();
        let (token, state) = self.token(target);
        self.diag
            .info(format_args!("forwarding '{}' to {server}", def.full_name));
        let mut outcome = rpc(self.http, server, token.as_deref(), &def.full_name, &params)
            .map_err(|e| unreached(server, e))?;
        let mut refreshed = false;
        // An unknown command had no effect: refresh once, and retry once if the fresh
        // schema still has it (a replica behind the same URL may be at another level).
        if let Err(e) = &outcome.result
            && e.code == ErrorCode::UnknownCommand
        {
            refreshed = true;
            match self.refresh_schema(server) {
                Some(fresh)
                    if fresh.offline.is_none()
                        && fresh.doc.command(&def.name, def.version).is_some() =>
                {
                    self.diag.info(format_args!(
                        "schema refreshed; retrying '{}'",
                        def.full_name
                    ));
                    outcome = rpc(self.http, server, token.as_deref(), &def.full_name, &params)
                        .map_err(|e| unreached(server, e))?;
                }
                Some(fresh) => {
                    if let Some((argv, typed)) = self.rerun_with(&fresh, def, rerun) {
                        return self.run_again(def, argv, typed);
                    }
                }
                None => {}
            }
        }
        // The server's schema moved on: refresh for next time; this call stands.
        if !refreshed
            && let Some(fp) = &outcome.fingerprint
            && *fp != resolved.doc.fingerprint
        {
            self.diag
                .info("the server's schema changed; refreshing the cache");
            self.refresh_schema(server);
        }
        let resp = outcome
            .result
            .map_err(|e| self.refused(e, &state, target))?;
        let style = self.style();
        let output = tree::json_of(&def.output);
        let text = render(format, style, &resp.result, &output).map_err(|e| anyhow!(e))?;
        self.out.write_all(text.as_bytes())?;
        if format == Format::Table && !resp.summary.is_empty() {
            self.summary(&resp.summary)?;
        }
        // The answer is out before anything else is asked.
        self.out.flush()?;
        self.after_call(
            target,
            def,
            &params,
            Some(&resp.result),
            &resolved,
            token.as_deref(),
        );
        Ok(if partly_failed(def, &resp.result) {
            EXIT_PARTIAL
        } else {
            EXIT_OK
        })
    }

    /// Tables are boxed on a terminal and plain columns elsewhere.
    fn style(&self) -> Style {
        Style {
            boxed: self.tty,
            headers: !self.scan.no_headers,
            all_columns: self.scan.raw,
        }
    }

    /// A table's summary line: under the table on a terminal; on stderr otherwise, so that
    /// a script reading the rows never takes it for one.
    fn summary(&mut self, line: &str) -> Result<()> {
        if self.tty {
            writeln!(self.out, "{line}")?;
        } else {
            self.diag.note(line);
        }
        Ok(())
    }
}

impl App<'_> {
    /// Revalidates the schema now; a failure is one warning (the call's own answer stands).
    fn refresh_schema(&mut self, server: &str) -> Option<Resolved> {
        match self.resolve(server, true) {
            Ok(fresh) => Some(fresh),
            Err(e) => {
                self.diag
                    .warn(format_args!("cannot refresh the schema: {e:#}"));
                None
            }
        }
    }

    /// Whether a call answered "unknown command" should run again from its argv with the
    /// refreshed schema: only for a version chosen by default that the fresh schema
    /// resolves differently (see `schema_command_once`).
    fn rerun_with<'x>(
        &self,
        fresh: &Resolved,
        def: &schema::LazyCommand,
        rerun: Option<(&'x [String], &'x str)>,
    ) -> Option<(&'x [String], &'x str)> {
        let (argv, typed) = rerun?;
        let changed = !typed.contains('/')
            && fresh.offline.is_none()
            && tree::lookup(&fresh.doc, self.known.as_ref(), typed)
                .is_some_and(|d| d.version != def.version);
        changed.then_some((argv, typed))
    }

    fn run_again(
        &mut self,
        def: &schema::LazyCommand,
        argv: &[String],
        typed: &str,
    ) -> Result<i32> {
        self.diag.info(format_args!(
            "the server does not offer '{}'; running '{typed}' again with its current schema",
            def.full_name
        ));
        self.schema_command_once(argv, typed, false)
    }

    /// A streamed command (bulk versions): each machine's result is printed as it arrives,
    /// under a progress bar when stderr is a terminal. Exit 3 if any machine failed; under
    /// `--quiet` each failure is an error line on stderr.
    fn call_stream(
        &mut self,
        target: &Target,
        def: &schema::LazyCommand,
        params: serde_json::Value,
        resolved: Resolved,
        format: Format,
        rerun: Option<(&[String], &str)>,
    ) -> Result<i32> {
        use std::io::IsTerminal;
        let server = target.server.as_str();
        let (token, state) = self.token(target);
        self.diag.info(format_args!(
            "forwarding '{}' to {server} (streamed)",
            def.full_name
        ));
        let order = if self.scan.consolidate {
            Order::Consolidated
        } else if self.scan.stream {
            Order::Stream
        } else {
            Order::Sorted
        };
        let output = tree::json_of(&def.output);
        let mut printer = StreamPrinter::new(format)
            .for_output(&output, self.style())
            .ordered(order, self.paint_out);
        printer.follow = params.get("follow") == Some(&serde_json::Value::Bool(true));
        let quiet = self.scan.quiet;
        let paint_err = self.paint_err;
        let bar =
            (format == Format::Table && !quiet && std::io::stderr().is_terminal()).then(|| {
                let bar = indicatif::ProgressBar::new(0);
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} machines {elapsed}",
                ) {
                    bar.set_style(style);
                }
                bar
            });
        let http = self.http;
        let out = &mut *self.out;
        let mut write_error = None;
        let mut emit = |printed: Printed, bar: Option<&indicatif::ProgressBar>| {
            if quiet {
                for e in &printed.errors {
                    stderr_line(format_args!("{} {e}", paint_err.bad("error:")));
                }
            }
            if printed.out.is_empty() {
                return;
            }
            let mut write = || {
                out.write_all(printed.out.as_bytes())?;
                out.flush()
            };
            let written = match bar {
                Some(b) => b.suspend(write),
                None => write(),
            };
            if let Err(e) = written {
                write_error.get_or_insert(e);
            }
        };
        let outcome = {
            let mut on_line = |l: &str| {
                let printed = printer.line(l);
                if let (Some(bar), Some(total)) = (&bar, printer.total) {
                    bar.set_length(total);
                    bar.set_position(printer.seen);
                }
                emit(printed, bar.as_ref());
            };
            rpc_lines(
                http,
                server,
                token.as_deref(),
                &def.full_name,
                &params,
                &mut on_line,
            )
        };
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        // What was held for the end (all of it unless --stream), also when the answer
        // broke off: the machines that did answer are shown.
        emit(printer.finish(), None);
        let outcome = outcome.map_err(|e| unreached(server, e))?;
        if let Some(e) = write_error {
            return Err(anyhow!("cannot write the output: {e}"));
        }
        let stale = matches!(&outcome.result, Err(e) if e.code == ErrorCode::UnknownCommand)
            || outcome
                .fingerprint
                .as_ref()
                .is_some_and(|fp| *fp != resolved.doc.fingerprint);
        if stale {
            // A streamed call that answered may have acted on some machines: refresh, never
            // retry. An unknown command answered before any item: nothing ran.
            self.diag
                .info("the server's schema changed; refreshing the cache");
            let unknown = matches!(&outcome.result, Err(e) if e.code == ErrorCode::UnknownCommand);
            if let Some(fresh) = self.refresh_schema(server)
                && unknown
                && let Some((argv, typed)) = self.rerun_with(&fresh, def, rerun)
            {
                return self.run_again(def, argv, typed);
            }
        }
        outcome
            .result
            .map_err(|e| self.refused(e, &state, target))?;
        if format == Format::Table
            && let Some(summary) = &printer.summary
        {
            self.summary(summary)?;
        }
        self.out.flush()?;
        self.after_call(target, def, &params, None, &resolved, token.as_deref());
        Ok(if printer.failed > 0 {
            EXIT_PARTIAL
        } else {
            EXIT_OK
        })
    }
}

/// What help from a bundle says about itself.
fn bundled_note(level: schema::ApiLevel) -> String {
    format!(
        "Note: no server is configured, so these are the commands of the bundled API level {level}; your server's may differ (see 'igor config set-context')."
    )
}

/// Whether a call over several records (`sel-delete/2`) left some undone: an item whose
/// `outcome` is neither `deleted` nor `ok`. A query's records carry outcomes of other calls
/// (`audit-find`): those are what was asked for, not a failure of this one.
fn partly_failed(def: &schema::LazyCommand, result: &serde_json::Value) -> bool {
    let query = matches!(def.name.rsplit('-').next(), Some("find" | "list" | "show"));
    !query
        && result.as_array().is_some_and(|items| {
            items.iter().any(|i| {
                i.get("outcome")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|o| o != "deleted" && o != "ok")
            })
        })
}

/// The name the user most likely meant, if any. A name the word begins wins over any edit
/// distance: `power-stat` means `power-status`, though `power-soft` (a shutdown) is as few
/// edits away. A word that begins several names suggests none (picking one would be a guess
/// among commands that may act); otherwise the closest name by Levenshtein distance, if at
/// most 2 (a typo), the first by name on a tie.
fn closest<'a>(word: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let names: std::collections::BTreeSet<&str> = names.collect();
    let mut prefixed = names.iter().filter(|n| n.starts_with(word));
    match (prefixed.next(), prefixed.next()) {
        (Some(only), None) => return Some(only),
        (Some(_), Some(_)) => return None,
        (None, _) => {}
    }
    names
        .into_iter()
        .map(|n| (strsim::levenshtein(word, n), n))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n)
}

/// Builds the real `App` pieces and runs; `main.rs` exits with the result.
pub fn main_entry() -> i32 {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // The completion script asks for candidates as `COMPLETE=bash igor -- igor WORDS...`:
    // the words typed so far are what this run's flags come from.
    let completing = cmd::completion::requested(&argv);
    let words = match &completing {
        Some(_) => argv
            .iter()
            .skip_while(|a| *a != "--")
            .skip(2)
            .cloned()
            .collect(),
        None => argv.get(1..).unwrap_or_default().to_vec(),
    };
    let scan = scan(&words);
    use std::io::IsTerminal;
    let (paint_out, paint_err) = {
        // A value clap will refuse colours nothing meanwhile.
        let choice = crate::color::Choice::parse(scan.color.as_deref())
            .unwrap_or(crate::color::Choice::Never);
        let (no_color, term) = (std::env::var("NO_COLOR").ok(), std::env::var("TERM").ok());
        let paint = |terminal: bool| crate::color::Paint {
            on: choice.enabled(terminal, no_color.as_deref(), term.as_deref()),
        };
        (
            paint(std::io::stdout().is_terminal()),
            paint(std::io::stderr().is_terminal()),
        )
    };
    // TAB shows candidates only: whatever goes wrong meanwhile stays unsaid.
    let diag = match completing {
        Some(_) => Diag::collect(),
        None => Diag::stderr(scan.verbose > 0, scan.quiet, paint_err),
    };
    let env = EnvVars::from_process();
    let setup = (|| -> Result<_> {
        let paths = Paths::new(&env)?;
        let (bundles, known) = crate::version::known_bundles(
            schema_compat::BUNDLED,
            schema_compat::KNOWN_COMMANDS,
            env.known_level.as_deref(),
        )?;
        Ok((paths, bundles, known))
    })();
    let (paths, bundles, known) = match setup {
        Ok(s) => s,
        Err(e) => {
            print_error(&e, paint_err);
            return crate::exit::code_of(&e);
        }
    };
    let http = crate::http::UreqHttp::new();
    let mut prompter = crate::prompt::TermPrompter;
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    // `--quiet` keeps stdout empty, except for help asked for explicitly.
    let asked_help = scan.help || matches!(scan.command.as_deref(), None | Some("help"));
    let mut out: Box<dyn std::io::Write> = if scan.quiet && !asked_help {
        Box::new(std::io::sink())
    } else {
        Box::new(crate::exit::PipeEnd::new(stdout.lock()))
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut app = App {
        env,
        paths,
        scan,
        diag: &diag,
        http: &http,
        now,
        bundles,
        known,
        prompter: &mut prompter,
        out: &mut out,
        tty,
        paint_out,
        paint_err,
    };
    let code = match &completing {
        Some(shell) => cmd::completion::complete(&mut app, shell, &argv),
        None => app.run(&argv),
    };
    let _ = app.out.flush();
    // The process exits once this returns. `App` still owns the known document (the newest
    // bundle, parsed at start) and any bundles parsed on demand: leaking them skips freeing
    // them one allocation at a time. The schema this run resolved was freed inside `run`
    // already, and what `App` only borrows (HTTP agent, prompter, stdout) is dropped as
    // usual when this function returns.
    std::mem::forget(app);
    code
}

#[cfg(test)]
mod tests {
    /// Suggestions against the commands of the newest bundle: one line per case, every
    /// failing case reported at once.
    #[test]
    fn suggestions_prefer_prefixes() {
        let docs = schema_compat::bundled();
        let newest = docs.last().expect("a bundled schema");
        let names = || newest.commands.iter().map(|c| c.name.as_str());
        let cases: &[(&str, Option<&str>)] = &[
            // Begins exactly one name: that name, however close another is by edits.
            ("power-stat", Some("power-status")),
            ("power-st", Some("power-status")),
            ("power-of", Some("power-off")),
            ("sel-lis", Some("sel-list")),
            ("user-ad", Some("user-add")),
            // Begins several names: none of them is a safe guess.
            ("power-s", None),
            ("power", None),
            ("sel", None),
            // Typos within two edits.
            ("sel-lst", Some("sel-list")),
            ("pwer-on", Some("power-on")),
            ("sel-delte", Some("sel-delete")),
            ("chasis-status", Some("chassis-status")),
            ("pinng", Some("ping")),
            // Nothing close.
            ("frobnicate", None),
            ("power-statistics", None),
        ];
        let failed: Vec<String> = cases
            .iter()
            .filter_map(|&(word, want)| {
                let got = super::closest(word, names());
                (got != want).then(|| format!("{word}: want {want:?}, got {got:?}"))
            })
            .collect();
        assert!(failed.is_empty(), "failing cases:\n{}", failed.join("\n"));
    }
}
