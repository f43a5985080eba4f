//! The command tree as a pure function of the schema (no I/O here): JSON Schema
//! parameters become clap arguments, clap matches become the `params` object, and the top
//! level lists every command by name and summary. Only the invoked command gets arguments
//! built, which is what keeps start-up flat as the schema grows.
//!
//! Mapping decisions (where the schema leaves room):
//! - a non-nullable boolean without a `true` default is a presence flag (`--force`): given
//!   means `true`, absent means not sent. A nullable boolean (`Option<bool>`, the tri-state
//!   of `*-mod` commands) or one defaulting to `true` takes a value: `--enabled true|false`.
//! - arrays accept repeated flags and comma-separated values (`--ids 3,4 --ids 5`); the last
//!   positional, when it is an array, takes the rest of the arguments.
//! - a sensitive parameter gets `--NAME-stdin` (one line from stdin, or a prompt without echo
//!   when stdin is a terminal) and `--NAME-file PATH`; a required one not given is prompted.
//!   `--NAME VALUE` would show the secret to every user of the machine (`ps`): it is parsed
//!   only to be refused with a pointer to the safe forms. An empty secret is refused.
//! - a parameter whose flag would shadow a global flag (`--server`, `--output`...) is
//!   spelled `--param-NAME`.
//! - defaults are shown in help but never sent: the server applies its own.
//! - `NAME` is the default version (see `version.rs`); every `NAME/N` also parses and is
//!   listed under the command's help, hidden from the top-level list to keep it readable.

use std::collections::BTreeSet;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser, ValueParser};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
pub use schema::params::Kind;
use schema::{CommandName, LazyCommand, LazyDocument};
use serde_json::{Map, Value};

use crate::version::{Known, default_version};

/// Client commands that exist before any schema. A server command of the same name stays
/// reachable as `NAME/N`.
pub const BUILTINS: &[&str] = &[
    "login",
    "logout",
    "console",
    "config",
    "schema",
    "completion",
    "help",
];

/// Long flags the top level owns on every subcommand.
const RESERVED: &[&str] = &[
    "help",
    "server",
    "context",
    "output",
    "no-headers",
    "verbose",
    "quiet",
    "force-schema-check",
    "version",
    "certificate-authority",
    "trust-fingerprint",
    "stream",
    "consolidate",
    "raw",
    "color",
];

/// The heading of the global flags in every command's help, apart from its own options.
pub const GLOBAL_HEADING: &str = "Global options";

/// One parameter, as the CLI sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// The JSON property name, also the clap id.
    pub key: String,
    pub flag: String,
    pub kind: Kind,
    pub nullable: bool,
    pub required: bool,
    pub positional: Option<u64>,
    pub sensitive: bool,
    pub help: Option<String>,
    pub default: Option<Value>,
    /// `x-igor-dynamic-default`: the server decides the default (a `default` here is then
    /// the value it reported for this help).
    pub dynamic_default: Option<String>,
}

impl ParamSpec {
    fn is_switch(&self) -> bool {
        self.kind == Kind::Bool
            && !self.nullable
            && !self.required
            && self.default.as_ref() != Some(&Value::Bool(true))
    }

    fn stdin_id(&self) -> String {
        format!("{}@stdin", self.key)
    }

    fn file_id(&self) -> String {
        format!("{}@file", self.key)
    }
}

/// A parameter or output schema of a `LazyDocument`, parsed: the invoked command's only.
/// The text was checked to be JSON when the document was read, so `null` never stands in.
pub fn json_of(raw: &serde_json::value::RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// A defect in a published parameter schema that makes a command unusable from the CLI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaDefect(pub String);

impl std::fmt::Display for SchemaDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The parameters of a command in CLI terms, positionals first in their order, then flags
/// in property order.
pub fn param_specs(def: &LazyCommand) -> Result<Vec<ParamSpec>, SchemaDefect> {
    let mut specs = Vec::new();
    let mut flags = BTreeSet::new();
    for p in schema::params::params(&json_of(&def.params)) {
        let mut flag = p.cli_name;
        if RESERVED.contains(&flag.as_str()) {
            flag = format!("param-{flag}");
        }
        // A secret is never positional: it would end up in argv.
        let positional = if p.sensitive { None } else { p.positional };
        if positional.is_none() && !flags.insert(flag.clone()) {
            return Err(SchemaDefect(format!(
                "command {} has two parameters spelled --{flag}",
                def.full_name
            )));
        }
        specs.push(ParamSpec {
            key: p.key,
            flag,
            kind: p.kind,
            nullable: p.nullable,
            required: p.required,
            positional,
            sensitive: p.sensitive,
            help: p.doc,
            default: p.default,
            dynamic_default: p.dynamic_default,
        });
    }
    for s in specs.iter().filter(|s| s.sensitive) {
        for suffix in ["stdin", "file"] {
            let extra = format!("{}-{suffix}", s.flag);
            if flags.contains(&extra) {
                return Err(SchemaDefect(format!(
                    "command {} has a parameter spelled --{extra}, which --{} needs",
                    def.full_name, s.flag
                )));
            }
        }
    }
    specs.sort_by_key(|s| s.positional.map_or((1, 0), |p| (0, p)));
    Ok(specs)
}

fn value_parser(kind: &Kind) -> ValueParser {
    match kind {
        Kind::Str => {
            ValueParser::new(|s: &str| -> Result<Value, String> { Ok(Value::String(s.to_owned())) })
        }
        Kind::Int { min, max } => {
            let (min, max) = (*min, *max);
            ValueParser::new(move |s: &str| -> Result<Value, String> {
                let n: i128 = s
                    .trim()
                    .parse()
                    .map_err(|_| format!("'{s}' is not an integer"))?;
                if n < min || n > max {
                    return Err(format!("{n} is not in {min}..={max}"));
                }
                Ok(i64::try_from(n)
                    .map(Value::from)
                    .or_else(|_| u64::try_from(n).map(Value::from))
                    .unwrap_or(Value::Null))
            })
        }
        Kind::Num => ValueParser::new(|s: &str| -> Result<Value, String> {
            let n: f64 = s
                .trim()
                .parse()
                .map_err(|_| format!("'{s}' is not a number"))?;
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| format!("'{s}' is not a finite number"))
        }),
        Kind::Bool => ValueParser::new(
            PossibleValuesParser::new(["true", "false"]).map(|s| Value::Bool(s == "true")),
        ),
        Kind::Enum(values) => {
            let pvs = values.iter().map(|(v, help)| {
                let pv = PossibleValue::new(v.clone());
                match help {
                    Some(h) => pv.help(h.clone()),
                    None => pv,
                }
            });
            ValueParser::new(PossibleValuesParser::new(pvs).map(Value::String))
        }
        Kind::Array(inner) => value_parser(inner),
        Kind::Json => ValueParser::new(|s: &str| -> Result<Value, String> {
            Ok(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned())))
        }),
    }
}

fn arg_for(
    spec: &ParamSpec,
    index: Option<usize>,
    last_positional: bool,
    clap_required: bool,
) -> Arg {
    let mut help = spec.help.clone().unwrap_or_default();
    let shown = spec.default.as_ref().map(|d| match d {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let note = match (&spec.dynamic_default, shown) {
        (Some(_), Some(d)) => format!("[server default: {d}]"),
        (Some(setting), None) => format!("[default: the server's {setting}]"),
        (None, Some(d)) => format!("[default: {d}]"),
        (None, None) => String::new(),
    };
    help = format!("{help} {note}").trim().to_owned();
    if spec.sensitive {
        // Parsed only to be refused (see `refuse_secret_value`), so it is not offered.
        return Arg::new(spec.key.clone())
            .long(spec.flag.clone())
            .num_args(0..=1)
            .value_name(spec.flag.to_uppercase().replace('-', "_"))
            .hide(true);
    }
    let mut arg = Arg::new(spec.key.clone()).help(help);
    if spec.is_switch() {
        return arg.long(spec.flag.clone()).action(ArgAction::SetTrue);
    }
    arg = arg
        .value_parser(value_parser(&spec.kind))
        .value_name(spec.flag.to_uppercase().replace('-', "_"))
        .required(clap_required);
    if matches!(spec.kind, Kind::Array(_)) {
        arg = arg.action(ArgAction::Append).value_delimiter(',');
        if index.is_some() && last_positional {
            arg = arg.num_args(1..);
        }
    } else {
        arg = arg.action(ArgAction::Set);
    }
    match index {
        Some(i) => arg.index(i),
        None => arg.long(spec.flag.clone()),
    }
}

/// The clap command of one command version, with its arguments.
pub fn command_for(
    subname: &str,
    def: &LazyCommand,
    doc: &LazyDocument,
) -> Result<Command, SchemaDefect> {
    let specs = param_specs(def)?;
    let versions: Vec<String> = doc
        .commands
        .iter()
        .filter(|c| c.name == def.name)
        .map(|c| c.full_name.clone())
        .collect();
    let mut cmd = Command::new(subname.to_owned())
        .about(def.summary().to_owned())
        .long_about(def.doc.trim().to_owned())
        .after_long_help(format!(
            "Runs {} (since API level {}; access: {}).\nVersions on this server: {}",
            def.full_name,
            def.since,
            def.access,
            versions.join(", ")
        ));
    let positionals: Vec<&ParamSpec> = specs.iter().filter(|s| s.positional.is_some()).collect();
    // clap refuses a required positional after an optional one: such a parameter is
    // optional to clap and checked in `params_from_matches` instead.
    let mut seen_optional = false;
    for (i, spec) in positionals.iter().enumerate() {
        let clap_required = spec.required && !seen_optional;
        seen_optional |= !spec.required;
        cmd = cmd.arg(arg_for(
            spec,
            Some(i + 1),
            i + 1 == positionals.len(),
            clap_required,
        ));
    }
    for spec in specs.iter().filter(|s| s.positional.is_none()) {
        let clap_required = spec.required && !spec.sensitive;
        cmd = cmd.arg(arg_for(spec, None, false, clap_required));
        if spec.sensitive {
            let what = spec.help.clone().unwrap_or_else(|| spec.flag.clone());
            let when = if spec.required {
                "; prompted without echo when neither is given"
            } else {
                ""
            };
            cmd = cmd
                .arg(
                    Arg::new(spec.stdin_id())
                        .long(format!("{}-stdin", spec.flag))
                        .action(ArgAction::SetTrue)
                        .conflicts_with(spec.key.clone())
                        .help(format!(
                            "{what}: read it from stdin (prompted without echo on a terminal){when}"
                        )),
                )
                .arg(
                    Arg::new(spec.file_id())
                        .long(format!("{}-file", spec.flag))
                        .value_name("PATH")
                        .action(ArgAction::Set)
                        .conflicts_with_all([spec.key.clone(), spec.stdin_id()])
                        .help(format!("{what}: read it from the first line of PATH")),
                );
        }
    }
    Ok(cmd)
}

/// The `params` object of a call: exactly what the user gave (no nulls, no defaults), and
/// the secrets still to be read (from stdin, a file or a prompt) before it is sent.
pub fn params_from_matches(
    def: &LazyCommand,
    m: &ArgMatches,
) -> Result<(Value, Vec<SecretAsk>), String> {
    let specs = param_specs(def).map_err(|e| e.0)?;
    let mut params = Map::new();
    let mut secrets = Vec::new();
    for spec in &specs {
        let given = m.value_source(&spec.key) == Some(ValueSource::CommandLine);
        if given && spec.sensitive {
            return Err(refuse_secret_value(&spec.flag));
        }
        let value = if spec.is_switch() {
            (given && m.get_flag(&spec.key)).then_some(Value::Bool(true))
        } else if !given {
            None
        } else if matches!(spec.kind, Kind::Array(_)) {
            m.try_get_many::<Value>(&spec.key)
                .ok()
                .flatten()
                .map(|vals| Value::Array(vals.cloned().collect()))
        } else {
            m.try_get_one::<Value>(&spec.key).ok().flatten().cloned()
        };
        if value.is_none()
            && spec.sensitive
            && let Some(ask) = secret(spec, m)
        {
            secrets.push(ask);
            continue;
        }
        match value {
            Some(v) => {
                params.insert(spec.key.clone(), v);
            }
            None if spec.required && !spec.is_switch() => {
                let name = match spec.positional {
                    Some(_) => format!("<{}>", spec.flag.to_uppercase().replace('-', "_")),
                    None => format!("--{}", spec.flag),
                };
                return Err(format!(
                    "the following required argument was not provided: {name}"
                ));
            }
            None => {}
        }
    }
    Ok((Value::Object(params), secrets))
}

/// Whether parameter `key` of `def` names machines, which completion offers machine names
/// for. The schema has no keyword for it (levels up to 1.5); every level spells such a
/// parameter `machine` or `machines` (a name, or a name, hostrange or glob), and the machine
/// commands name theirs `name` (all but `machine-add`, whose name is new).
pub fn is_machine_param(def: &LazyCommand, key: &str) -> bool {
    match key {
        "machine" | "machines" => true,
        "name" => def.object.as_deref() == Some("machine") && def.method.as_deref() != Some("add"),
        _ => false,
    }
}

/// The refusal of `--FLAG VALUE` for a secret (also `igor login --password`).
pub fn refuse_secret_value(flag: &str) -> String {
    format!(
        "--{flag} VALUE would show the secret to every user of this machine (ps, /proc); \
         use --{flag}-stdin, --{flag}-file PATH, or leave it out to be asked without echo"
    )
}

/// A secret the call needs and where the user chose to give it; the tree only says so,
/// the caller asks (`prompt::ask_secrets`), so nothing here does I/O.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretAsk {
    /// The parameter's key in `params`.
    pub key: String,
    /// Its flag, for prompts and messages.
    pub flag: String,
    pub source: SecretSource,
}

/// Where a secret comes from, as the user chose on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Stdin,
    File(String),
    Prompt,
}

fn secret(spec: &ParamSpec, m: &ArgMatches) -> Option<SecretAsk> {
    let from_stdin = m.try_get_one::<bool>(&spec.stdin_id()).ok().flatten() == Some(&true);
    let file = m.try_get_one::<String>(&spec.file_id()).ok().flatten();
    let source = match (from_stdin, file) {
        (true, _) => SecretSource::Stdin,
        (false, Some(path)) => SecretSource::File(path.clone()),
        (false, None) if spec.required => SecretSource::Prompt,
        (false, None) => return None,
    };
    Some(SecretAsk {
        key: spec.key.clone(),
        flag: spec.flag.clone(),
        source,
    })
}

/// One top-level entry: `power-on` (the default version) or `power-on/2`.
pub struct Entry<'a> {
    pub subname: String,
    pub def: &'a LazyCommand,
    pub hidden: bool,
}

/// Every subcommand name the schema provides: each command's name for its default version,
/// and each full name.
pub fn entries<'a>(doc: &'a LazyDocument, known: Option<&Known>) -> Vec<Entry<'a>> {
    let names: BTreeSet<&str> = doc.commands.iter().map(|c| c.name.as_str()).collect();
    let mut out = Vec::new();
    for name in names {
        if BUILTINS.contains(&name) {
            continue;
        }
        if let Some(def) = doc.command(name, default_version(name, known, doc)) {
            out.push(Entry {
                subname: name.to_owned(),
                def,
                hidden: false,
            });
        }
    }
    for def in &doc.commands {
        out.push(Entry {
            subname: def.full_name.clone(),
            def,
            hidden: true,
        });
    }
    out
}

/// The command version a subcommand token names, if the schema has it.
pub fn lookup<'a>(
    doc: &'a LazyDocument,
    known: Option<&Known>,
    token: &str,
) -> Option<&'a LazyCommand> {
    let name: CommandName = token.parse().ok()?;
    match name.version {
        Some(v) => doc.command(&name.name, v),
        None if BUILTINS.contains(&name.name.as_str()) => None,
        None => doc.command(&name.name, default_version(&name.name, known, doc)),
    }
}

/// The full name a token stands for, for the "unknown command" message: what the server
/// would be asked for.
pub fn requested_full_name(
    doc: &LazyDocument,
    known: Option<&Known>,
    token: &str,
) -> Option<String> {
    let name: CommandName = token.parse().ok()?;
    let v = name
        .version
        .unwrap_or_else(|| default_version(&name.name, known, doc));
    Some(CommandName::full(&name.name, v))
}

/// The global flags, on the top level and every subcommand.
pub fn global_args() -> Vec<Arg> {
    vec![
        Arg::new("server")
            .long("server")
            .global(true)
            .value_name("URL")
            .help("server URL (overrides --context, IGOR_SERVER and the current context)"),
        Arg::new("context")
            .long("context")
            .global(true)
            .value_name("NAME")
            .help("use this context of the configuration"),
        Arg::new("output")
            .long("output")
            .short('o')
            .global(true)
            .value_name("FORMAT")
            .value_parser(crate::render::FORMATS)
            .help(
                "output format: table, json, yaml, or name (one name a line) [default: table, or the configuration's output]",
            ),
        Arg::new("no-headers")
            .long("no-headers")
            .global(true)
            .action(ArgAction::SetTrue)
            .help("leave out the header line of tables"),
        Arg::new("quiet")
            .long("quiet")
            .short('q')
            .global(true)
            .action(ArgAction::SetTrue)
            .conflicts_with("verbose")
            .help("print nothing but errors (the exit code tells the rest)"),
        Arg::new("verbose")
            .long("verbose")
            .short('v')
            .global(true)
            .action(ArgAction::Count)
            .help("say which server, schema and command version are used"),
        Arg::new("force-schema-check")
            .long("force-schema-check")
            .global(true)
            .action(ArgAction::SetTrue)
            .help("revalidate the cached schema now (also IGOR_FORCE_SCHEMA_CHECK=1)"),
        Arg::new("certificate-authority")
            .long("certificate-authority")
            .global(true)
            .value_name("FILE")
            .help("also trust the CA certificates of this PEM file (overrides the context's)"),
        Arg::new("trust-fingerprint")
            .long("trust-fingerprint")
            .global(true)
            .value_name("sha256:HEX")
            .help("trust the server's certificate if it has this fingerprint, and pin it"),
        Arg::new("stream")
            .long("stream")
            .global(true)
            .action(ArgAction::SetTrue)
            .help("bulk commands: print each machine's result as it arrives, in completion order [default: all at the end, sorted by machine]"),
        Arg::new("consolidate")
            .long("consolidate")
            .short('C')
            .global(true)
            .action(ArgAction::SetTrue)
            .conflicts_with("stream")
            .help("bulk commands: merge machines with identical results (or errors) under one hostrange, like node[1-2,4]"),
        Arg::new("raw")
            .long("raw")
            .global(true)
            .action(ArgAction::SetTrue)
            .help("tables: show every field, raw bytes and codes included [default: the columns the command names]"),
        Arg::new("color")
            .long("color")
            .global(true)
            .value_name("WHEN")
            .value_parser(crate::color::CHOICES)
            .help("colour failures on a terminal: auto, always or never [default: auto, off when NO_COLOR is set]"),
    ]
    .into_iter()
    .map(|a| a.help_heading(GLOBAL_HEADING))
    .collect()
}

/// The top level: global flags, the built-ins, and the schema's commands by name and
/// summary. `invoked` is the one subcommand that gets its full arguments.
pub fn top_command(
    builtins: Vec<Command>,
    entries: &[Entry<'_>],
    invoked: Option<Command>,
) -> Command {
    let mut top = Command::new("igor")
        .version(env!("CARGO_PKG_VERSION"))
        .about("igor: manage the BMCs of a fleet through an igord server")
        .after_help(
            "Every server command also accepts an explicit version, e.g. 'igor sel-delete/2'.\nSee 'igor help TOPIC' for the commands of one topic, 'igor command-find' for all commands and versions.",
        )
        .subcommand_required(true)
        .arg_required_else_help(true)
        .args(global_args())
        .subcommands(builtins);
    let invoked_name = invoked.as_ref().map(|c| c.get_name().to_owned());
    for e in entries {
        if invoked_name.as_deref() == Some(e.subname.as_str()) {
            continue;
        }
        top = top.subcommand(
            Command::new(e.subname.clone())
                .about(e.def.summary().to_owned())
                .hide(e.hidden),
        );
    }
    if let Some(cmd) = invoked {
        top = top.subcommand(cmd);
    }
    top
}

/// The topic the built-in commands are listed under.
pub const CLIENT_TOPIC: &str = "client";

/// The top level's help with the commands under a heading per topic (as FreeIPA's `ipa
/// help` groups them), topics in name order, the built-ins last under `client`; `note`
/// goes above the list. clap lists subcommands under one heading only, so the list is
/// written here and clap's own is hidden; the global flags keep clap's layout.
///
/// `listed` is the tree whose commands are listed; `top` the one that parses. They differ
/// for `igor --help`: clap answers it from the top level alone, so `top` need not carry
/// the schema's commands (each would cost its copy of the global flags).
pub fn by_topic(
    top: Command,
    listed: &Command,
    topics: &[schema::Topic],
    entries: &[Entry<'_>],
    note: Option<&str>,
) -> Command {
    let mut text = String::new();
    if let Some(note) = note {
        text.push_str(note);
        text.push_str("\n\n");
    }
    text.push_str(&topic_listing(listed, topics, entries, None));
    let text = text.trim_end().to_owned();
    top.mut_subcommands(|c| c.hide(true))
        .override_usage("igor [OPTIONS] <COMMAND>")
        .before_help(text)
        .help_template(
            "{about-with-newline}\n{usage-heading} {usage}\n\n{before-help}{all-args}{after-help}",
        )
}

/// The commands of `top` (those not hidden) under a heading per topic, each heading with
/// the topic's doc; only topic `only` when given (`igor help power`). Styled as clap styles
/// help: headings bold and underlined, command names bold (stripped where colour is off).
pub fn topic_listing(
    top: &Command,
    topics: &[schema::Topic],
    entries: &[Entry<'_>],
    only: Option<&str>,
) -> String {
    use std::collections::BTreeMap;
    let topic_of = |name: &str| {
        entries
            .iter()
            .find(|e| e.subname == name)
            .map_or(CLIENT_TOPIC, |e| e.def.topic.as_str())
    };
    let mut groups: BTreeMap<(bool, &str), Vec<(String, String)>> = BTreeMap::new();
    for c in top.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = c.get_name();
        let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
        let topic = topic_of(name);
        groups
            .entry((topic == CLIENT_TOPIC, topic))
            .or_default()
            .push((name.to_owned(), about));
    }
    // clap adds its `help` subcommand only when the tree is built.
    groups.entry((true, CLIENT_TOPIC)).or_default().push((
        "help".to_owned(),
        "print this list, the commands of a topic (igor help power), or a command's help"
            .to_owned(),
    ));
    groups.retain(|(_, topic), _| only.is_none_or(|o| o == *topic));
    let width = groups
        .values()
        .flatten()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0);
    let styles = clap::builder::Styles::default();
    let (header, literal) = (*styles.get_header(), *styles.get_literal());
    let mut text = String::new();
    for ((_, topic), commands) in &groups {
        if !text.is_empty() {
            text.push('\n');
        }
        let doc = match topics.iter().find(|t| t.name == *topic) {
            Some(t) => format!(" {}", t.doc.lines().next().unwrap_or_default()),
            None if *topic == CLIENT_TOPIC => " This client's own commands.".to_owned(),
            None => String::new(),
        };
        text.push_str(&format!("{header}{topic}:{header:#}{doc}\n"));
        for (name, about) in commands {
            let pad = " ".repeat(width.saturating_sub(name.chars().count()));
            text.push_str(&format!("  {literal}{name}{literal:#}{pad}  {about}\n"));
        }
    }
    text
}

/// What an argv means against a schema: the one parsing path the binary and the tests share.
pub enum Invocation<'a> {
    Call {
        def: &'a LazyCommand,
        params: Value,
        /// Secrets to read before the call is sent.
        secrets: Vec<SecretAsk>,
        matches: ArgMatches,
    },
    /// clap's own answer: help (exit 0) or a usage error (exit 2).
    Clap(clap::Error),
    /// A usage error found after clap (exit 2).
    Usage(String),
    /// A well-formed command name the schema lacks.
    Unknown,
    Defect(SchemaDefect),
}

pub fn invoke<'a>(
    doc: &'a LazyDocument,
    known: Option<&Known>,
    builtins: Vec<Command>,
    token: &str,
    argv: &[String],
) -> Invocation<'a> {
    let Some(def) = lookup(doc, known, token) else {
        if token.parse::<CommandName>().is_ok() {
            return Invocation::Unknown;
        }
        // Not even a command name: clap's error, with its suggestions, says it best.
        let top = top_command(builtins, &entries(doc, known), None);
        return match top.try_get_matches_from(argv) {
            Err(e) => Invocation::Clap(e),
            Ok(_) => Invocation::Unknown,
        };
    };
    let invoked = match command_for(token, def, doc) {
        Ok(c) => c,
        Err(e) => return Invocation::Defect(e),
    };
    // The invoked command is the only one clap needs to parse this argv: every other would
    // cost its copy of the global flags and be thrown away.
    let top = top_command(builtins, &[], Some(invoked));
    let matches = match top.try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => return Invocation::Clap(e),
    };
    let Some((_, sub)) = matches.subcommand() else {
        return Invocation::Usage("no command given".to_owned());
    };
    match params_from_matches(def, sub) {
        Ok((params, secrets)) => Invocation::Call {
            def,
            params,
            secrets,
            matches,
        },
        Err(m) => Invocation::Usage(m),
    }
}
