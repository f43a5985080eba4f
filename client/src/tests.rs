//! Table-driven tests of the CLI mapping (`check(fixture, argv, expect)`: one line per
//! case), and of schema resolution and the cache against a fake server and a fixed clock.

use std::cell::RefCell;
use std::collections::VecDeque;

use schema::{LazyDocument, SchemaDocument};
use serde_json::{Value, json};

use crate::cache::{Cache, Meta, Origin};
use crate::diag::Diag;
use crate::http::{Http, HttpRequest, HttpResponse, Unreachable};
use crate::prompt::ScriptedPrompter;
use crate::resolve::{Resolver, Source};
use crate::tree::{Invocation, invoke};

/// A fixture as igor reads a schema: its parameter and output schemas kept as text.
fn fixture(name: &str) -> LazyDocument {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut doc: SchemaDocument = serde_json::from_str(&text).unwrap();
    doc.fingerprint = doc.compute_fingerprint();
    serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap()
}

enum Expect {
    /// The request: full name and params.
    Call(&'static str, Value),
    /// Help output containing this.
    Help(&'static str),
    /// A usage error (exit 2) containing this.
    Usage(&'static str),
    /// A secret that could not be had (exit 1) containing this.
    Refused(&'static str),
    Unknown,
}
use Expect::*;

/// One case of the CLI mapping: the schema fixture, the fixture standing for this client's
/// newest bundle, what the prompts are told, argv after `igor`, and what must come of it.
struct Case {
    line: u32,
    schema: &'static str,
    known: Option<&'static str>,
    answers: &'static [&'static str],
    argv: &'static str,
    expect: Expect,
}

/// `case!(schema, argv, expect)`, or `case!(schema, known, answers, argv, expect)`. A
/// case is named by its line in this file.
macro_rules! case {
    ($schema:expr, $argv:expr, $expect:expr) => {
        case!($schema, None, &[], $argv, $expect)
    };
    ($schema:expr, $known:expr, $answers:expr, $argv:expr, $expect:expr) => {
        Case {
            line: line!(),
            schema: $schema,
            known: $known,
            answers: $answers,
            argv: $argv,
            expect: $expect,
        }
    };
}

/// Runs every case, then fails once with the list of every case that failed (a case that
/// panics counts as failed).
fn check_all(cases: Vec<Case>) {
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(case)))
                .unwrap_or_else(|panic| {
                    let msg = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Err(format!("panicked: {msg}"))
                });
            let known = case
                .known
                .map(|k| format!(", known {k}"))
                .unwrap_or_default();
            outcome.err().map(|why| {
                format!(
                    "tests.rs:{} `igor {}` ({}{known}): {why}",
                    case.line, case.argv, case.schema
                )
            })
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n\n")
    );
}

/// A secret that could not be read, against what the case expects.
fn refused(message: String, expect: &Expect) -> Result<(), String> {
    match expect {
        Refused(want) if message.contains(want) => Ok(()),
        Refused(want) => Err(format!("error lacks {want:?}:\n{message}")),
        _ => Err(format!("unexpected {message}")),
    }
}

fn check(case: &Case) -> Result<(), String> {
    let doc = fixture(case.schema);
    let known = case.known.map(|k| crate::version::Known::of(&fixture(k)));
    let argv: Vec<String> = std::iter::once("igor".to_owned())
        .chain(case.argv.split_whitespace().map(str::to_owned))
        .collect();
    let mut prompter = ScriptedPrompter::new(case.answers);
    let got = match crate::scan::scan(&argv[1..]).target() {
        Some(token) => invoke(&doc, known.as_ref(), crate::cmd::builtins(), token, &argv),
        None => {
            let entries = crate::tree::entries(&doc, known.as_ref());
            let top = crate::tree::top_command(crate::cmd::builtins(), &entries, None);
            match top.try_get_matches_from(&argv) {
                Err(e) => Invocation::Clap(e),
                Ok(_) => return Err("clap accepted argv without a command".to_owned()),
            }
        }
    };
    let contains = |text: &str, want: &str, what: &str| {
        if text.contains(want) {
            Ok(())
        } else {
            Err(format!("{what} lacks {want:?}:\n{text}"))
        }
    };
    // The app reads the secrets a call asks for; so does this table.
    let got = match got {
        Invocation::Call {
            def,
            mut params,
            secrets,
            matches,
        } => match crate::prompt::ask_secrets(&mut params, &secrets, &mut prompter) {
            Ok(()) => Invocation::Call {
                def,
                params,
                secrets,
                matches,
            },
            Err(m) => return refused(m, &case.expect),
        },
        other => other,
    };
    match (got, &case.expect) {
        (Invocation::Call { def, params, .. }, Call(full, want)) => {
            if (def.full_name.as_str(), &params) != (*full, want) {
                return Err(format!(
                    "want {full} {want}, got {} {params}",
                    def.full_name
                ));
            }
            if !prompter.answers.is_empty() {
                return Err(format!("unused answers {:?}", prompter.answers));
            }
            Ok(())
        }
        (Invocation::Clap(e), Help(want)) if !e.use_stderr() => {
            contains(&e.render().to_string(), want, "help")
        }
        (Invocation::Clap(e), Usage(want)) if e.use_stderr() => {
            if e.exit_code() != 2 {
                return Err(format!("exit code {}, want 2", e.exit_code()));
            }
            contains(&e.render().to_string(), want, "error")
        }
        (Invocation::Usage(text), Usage(want)) => contains(&text, want, "error"),
        (Invocation::Unknown, Unknown) => Ok(()),
        (Invocation::Clap(e), _) => Err(format!("unexpected clap answer:\n{}", e.render())),
        (Invocation::Call { def, params, .. }, _) => {
            Err(format!("unexpected call {} {params}", def.full_name))
        }
        (Invocation::Usage(m), _) => Err(format!("unexpected {m}")),
        (Invocation::Unknown, _) => Err("unexpected unknown command".to_owned()),
        (Invocation::Defect(d), _) => Err(format!("schema defect {d}")),
    }
}

const S: &str = "schema-1.2";
const S11: &str = "schema-1.1";

#[test]
#[rustfmt::skip]
fn cli_mapping() {
    check_all(vec![
        // Strings, positionals, flag renames (x-igor-cli-name), unset parameters not sent.
        case!(S, "ping", Call("ping/1", json!({}))),
        case!(S, "machine-add m1 --address 10.0.0.1 --bmc-user admin", Call("machine-add/1", json!({"name": "m1", "bmc_address": "10.0.0.1", "bmc_user": "admin"}))),
        // Integers with ranges from format and minimum/maximum.
        case!(S, "machine-add m1 --address a --bmc-user u --bmc-port 6230", Call("machine-add/1", json!({"name": "m1", "bmc_address": "a", "bmc_user": "u", "bmc_port": 6230}))),
        case!(S, "machine-add m1 --address a --bmc-user u --bmc-port 70000", Usage("70000 is not in 1..=65535")),
        case!(S, "machine-add m1 --address a --bmc-user u --bmc-port 0", Usage("0 is not in 1..=65535")),
        case!(S, "machine-add m1 --address a --bmc-user u --cipher-suite x", Usage("'x' is not an integer")),
        // Arrays: repeatable and comma-separated flags; positional arrays take the rest.
        case!(S, "machine-add m1 --address a --bmc-user u --tags x,y --tags z", Call("machine-add/1", json!({"name": "m1", "bmc_address": "a", "bmc_user": "u", "tags": ["x", "y", "z"]}))),
        case!(S, "sel-delete/2 m1 3 4", Call("sel-delete/2", json!({"machine": "m1", "ids": [3, 4]}))),
        case!(S, "sel-delete/2 m1 3,4 5", Call("sel-delete/2", json!({"machine": "m1", "ids": [3, 4, 5]}))),
        case!(S, "sel-delete/2 m1 3 70000", Usage("70000 is not in 0..=65535")),
        // Positional order follows x-igor-positional, not property order.
        case!(S, "permission-grant alice m1 --role viewer", Call("permission-grant/1", json!({"user": "alice", "machine": "m1", "role": "viewer"}))),
        case!(S, "sel-delete/1 m1 7", Call("sel-delete/1", json!({"machine": "m1", "id": 7}))),
        // Optional positional.
        case!(S, "machine-find", Call("machine-find/1", json!({}))),
        case!(S, "machine-find web --limit 5", Call("machine-find/1", json!({"pattern": "web", "limit": 5}))),
        // Enums: plain `enum`, `oneOf` of consts, and Option<Enum> (anyOf with null).
        case!(S, "permission-grant alice m1 --role root", Usage("[possible values: viewer, operator]")),
        case!(S, None, &["pw"], "user-add bob --role admin", Call("user-add/1", json!({"name": "bob", "password": "pw", "role": "admin"}))),
        case!(S, None, &["pw"], "user-add bob --role god", Usage("[possible values: admin, user]")),
        case!(S, "user-mod bob --role user", Call("user-mod/1", json!({"name": "bob", "role": "user"}))),
        // Booleans: a presence flag, and true|false for Option<bool> or a `true` default.
        case!(S, "power-on/2 m1 --wait", Call("power-on/2", json!({"machine": "m1", "wait": true}))),
        case!(S, "power-on/2 m1", Call("power-on/2", json!({"machine": "m1"}))),
        case!(S, "user-mod bob --enabled false", Call("user-mod/1", json!({"name": "bob", "enabled": false}))),
        case!(S, "user-mod bob --enabled maybe", Usage("[possible values: true, false]")),
        case!(S, None, &["pw"], "user-add bob --enabled false", Call("user-add/1", json!({"name": "bob", "password": "pw", "enabled": false}))),
        // Sensitive: prompted when required and not given, taken from the flag, from stdin,
        // and not asked for when optional and not given.
        case!(S, None, &["s3cret"], "user-add bob", Call("user-add/1", json!({"name": "bob", "password": "s3cret"}))),
        // F9: a secret in argv is refused (it would be in `ps`), with the safe forms named;
        // a file works; an empty secret from stdin or a file is refused.
        case!(S, "user-add bob --password given", Usage("--password VALUE would show the secret to every user of this machine (ps, /proc); use --password-stdin, --password-file PATH")),
        case!(S, "user-add bob --password", Usage("--password-stdin")),
        case!(S, None, &["from-file"], "user-add bob --password-file /run/pw", Call("user-add/1", json!({"name": "bob", "password": "from-file"}))),
        case!(S, None, &[""], "user-add bob --password-file /run/pw", Refused("the secret from the file is empty")),
        case!(S, None, &[""], "user-add bob --password-stdin", Refused("empty")),
        // No terminal to prompt on: what to pass instead, not the OS's error number.
        case!(S, "user-add bob", Refused("no terminal to ask for --password on: pass --password-stdin (with the secret on stdin) or --password-file PATH")),
        case!(S, "user-add bob --password-file a --password-stdin", Usage("cannot be used with")),
        case!(S, None, &["fromstdin"], "user-mod bob --password-stdin", Call("user-mod/1", json!({"name": "bob", "new_password": "fromstdin"}))),
        case!(S, "user-mod bob", Call("user-mod/1", json!({"name": "bob"}))),
        case!(S, "user-mod bob --password a --password-stdin", Usage("cannot be used with")),
        // Missing required parameters.
        case!(S, "machine-add m1 --address a", Usage("--bmc-user")),
        case!(S, "sel-delete/2 m1", Usage("<IDS>")),
        case!(S, "power-on", Usage("<MACHINE>")),
        // Versioned names, the default version rule, unknown commands.
        case!(S, "power-on m1", Call("power-on/1", json!({"machine": "m1"}))),
        case!(S, "power-on/2 m1", Call("power-on/2", json!({"machine": "m1"}))),
        case!(S, Some(S), &[], "power-on m1", Call("power-on/2", json!({"machine": "m1"}))),
        case!(S, Some(S11), &[], "power-on m1", Call("power-on/1", json!({"machine": "m1"}))),
        case!(S11, Some(S), &[], "power-on m1", Call("power-on/1", json!({"machine": "m1"}))),
        case!(S, Some(S11), &[], "sel-delete/2 m1 1", Call("sel-delete/2", json!({"machine": "m1", "ids": [1]}))),
        case!(S, "sel-delete/9 m1 3", Unknown),
        case!(S, "frobnicate", Unknown),
        case!(S, "Not_A_Name", Usage("unrecognized subcommand")),
        case!(S, "power-on m1 --bogus", Usage("unexpected argument '--bogus'")),
        // Help: about from the doc's first line, long help with the rest and the versions.
        case!(S, "power-on/2 --help", Help("With --wait, returns once the chassis reports power on.")),
        case!(S, "power-on/2 --help", Help("Versions on this server: power-on/1, power-on/2")),
        case!(S, "power-on/2 --help", Help("How long to wait")),
        case!(S, "help sel-delete/2", Help("Record ids")),
        case!(S, "machine-add --help", Help("[default: 623]")),
        case!(S, "permission-grant --help", Help("Reads status, SEL and sensors")),
        case!(S, "--help", Help("Check that the server answers.")),
    ]);
}

/// clap's debug assertions over the built-ins and every command of the fixture: a tree
/// that panics on a user's machine is the worst kind of usage error.
#[test]
fn every_tree_is_valid() {
    for name in [S, S11] {
        let doc = fixture(name);
        let mut top = crate::tree::top_command(crate::cmd::builtins(), &[], None);
        for e in crate::tree::entries(&doc, Some(&crate::version::Known::of(&doc))) {
            top = top.subcommand(crate::tree::command_for(&e.subname, e.def, &doc).unwrap());
        }
        top.debug_assert();
    }
}

/// Every bundled document (each level this client may fall back to) builds a valid tree
/// with every one of its commands: each full name, and each name for its default version,
/// with an argument for each parameter. Every failing level is reported at once.
#[test]
fn every_bundle_builds_a_tree() {
    let (_, known) =
        crate::version::known_bundles(schema_compat::BUNDLED, schema_compat::KNOWN_COMMANDS, None)
            .unwrap();
    assert!(known.is_some(), "no bundled schema");
    let failed: Vec<String> = schema_compat::BUNDLED
        .iter()
        .filter_map(|(level, text)| {
            let doc: LazyDocument = match serde_json::from_str(text) {
                Ok(d) => d,
                Err(e) => return Some(format!("{level}: does not parse: {e}")),
            };
            let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                bundle_tree(&doc, known.as_ref())
            }));
            match built {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("{level}: {e}")),
                Err(_) => Some(format!("{level}: building the tree panicked")),
            }
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The whole tree of `doc`, checked by clap's debug assertions and against the document.
fn bundle_tree(doc: &LazyDocument, known: Option<&crate::version::Known>) -> Result<(), String> {
    if doc.commands.is_empty() {
        return Err("no commands".to_owned());
    }
    let mut top = crate::tree::top_command(crate::cmd::builtins(), &[], None);
    for e in crate::tree::entries(doc, known) {
        let sub = crate::tree::command_for(&e.subname, e.def, doc)
            .map_err(|d| format!("{}: {d}", e.subname))?;
        top = top.subcommand(sub);
    }
    top.clone().debug_assert();
    let mut names: Vec<&str> = doc.commands.iter().map(|c| c.full_name.as_str()).collect();
    names.extend(
        doc.commands
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| !crate::tree::BUILTINS.contains(n)),
    );
    for name in names {
        let Some(sub) = top.find_subcommand(name) else {
            return Err(format!("no subcommand {name}"));
        };
        let def = crate::tree::lookup(doc, known, name)
            .ok_or_else(|| format!("{name} does not resolve"))?;
        let specs = crate::tree::param_specs(def).map_err(|d| format!("{name}: {d}"))?;
        for spec in specs {
            if !sub.get_arguments().any(|a| a.get_id() == spec.key.as_str()) {
                return Err(format!("{name} lacks an argument for {}", spec.key));
            }
        }
    }
    Ok(())
}

#[test]
#[rustfmt::skip]
fn global_flags_after_the_command() {
    check_all(vec![
        case!(S, "power-on m1 -o json -v --server http://x:1", Call("power-on/1", json!({"machine": "m1"}))),
        case!(S, "power-on m1 -o xml", Usage("[possible values: table, json, yaml, name]")),
    ]);
}

/// A fake server: canned answers in order, and every request recorded.
struct Fake {
    answers: RefCell<VecDeque<Result<HttpResponse, Unreachable>>>,
    seen: RefCell<Vec<HttpRequest>>,
}

impl Fake {
    fn new(answers: Vec<Result<HttpResponse, Unreachable>>) -> Self {
        Fake {
            answers: RefCell::new(answers.into()),
            seen: RefCell::default(),
        }
    }
}

impl Http for Fake {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, Unreachable> {
        self.seen.borrow_mut().push(req.clone());
        self.answers.borrow_mut().pop_front().unwrap_or_else(|| {
            Err(Unreachable::answer(format!(
                "unexpected request {}",
                req.url
            )))
        })
    }
}

fn ok(status: u16, body: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, Unreachable> {
    Ok(HttpResponse {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_owned(),
    })
}

fn down() -> Result<HttpResponse, Unreachable> {
    Err(Unreachable::no_connection("connection refused"))
}

const SRV: &str = "http://127.0.0.1:8623";

fn resolve(
    cache: &Cache,
    http: &Fake,
    now: u64,
    bundles: &[LazyDocument],
    force: bool,
    diag: &Diag,
) -> anyhow::Result<crate::resolve::Resolved> {
    Resolver {
        server: SRV,
        cache,
        http,
        now,
        bundles: &bundles,
        diag,
    }
    .resolve(force)
}

fn doc_text(doc: &LazyDocument) -> String {
    serde_json::to_string(doc).unwrap()
}

#[test]
fn resolution_order() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().to_owned());
    let doc = fixture(S);
    let text = doc_text(&doc);
    let diag = Diag::collect();
    // Nothing cached: fetch (no If-None-Match), cache with the server's TTL.
    let http = Fake::new(vec![ok(200, &text, &[("Cache-Control", "max-age=60")])]);
    let r = resolve(&cache, &http, 1000, &[], false, &diag).unwrap();
    assert_eq!(r.source, Source::Refreshed);
    assert!(http.seen.borrow()[0].headers.is_empty());
    // Fresh: no network at all.
    let http = Fake::new(vec![]);
    let r = resolve(&cache, &http, 1059, &[], false, &diag).unwrap();
    assert_eq!((r.source, http.seen.borrow().len()), (Source::Cache, 0));
    // Forced, or expired: a conditional GET; 304 renews the TTL.
    let http = Fake::new(vec![ok(304, "", &[("Cache-Control", "max-age=100")])]);
    let r = resolve(&cache, &http, 1060, &[], false, &diag).unwrap();
    assert_eq!(r.source, Source::Revalidated);
    let sent = &http.seen.borrow()[0];
    assert_eq!(
        sent.headers,
        vec![(
            "If-None-Match".to_owned(),
            format!("\"{}\"", doc.fingerprint)
        )]
    );
    let r = resolve(&cache, &Fake::new(vec![]), 1159, &[], false, &diag).unwrap();
    assert_eq!(r.source, Source::Cache);
    let http = Fake::new(vec![ok(304, "", &[])]);
    let r = resolve(&cache, &http, 1100, &[], true, &diag).unwrap();
    assert_eq!(r.source, Source::Revalidated);
    // A new schema replaces the old one, whose file is pruned.
    let new = fixture(S11);
    let http = Fake::new(vec![ok(200, &doc_text(&new), &[])]);
    let r = resolve(&cache, &http, 5000, &[], false, &diag).unwrap();
    assert_eq!(
        (r.source, r.doc.fingerprint.clone()),
        (Source::Refreshed, new.fingerprint.clone())
    );
    let files: Vec<String> = std::fs::read_dir(cache.server_dir(SRV))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(cache.schema_path(SRV, &new.fingerprint).exists());
    assert!(!cache.schema_path(SRV, &doc.fingerprint).exists());
    // Unreachable with an expired cache: the stale cache, one warning, offline set.
    let r = resolve(&cache, &Fake::new(vec![down()]), 99999, &[], false, &diag).unwrap();
    assert_eq!(r.source, Source::StaleCache);
    let offline = r.offline.as_ref().unwrap();
    assert!(offline.message.contains("cannot reach the server"));
    assert!(offline.no_connection, "{offline:?}");
    assert_eq!(diag.warnings().len(), 1, "{:?}", diag.warnings());
    assert!(diag.lines().iter().all(|l| !l.contains("Debug")));
}

#[test]
fn servers_without_schema_use_the_floor_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().to_owned());
    let diag = Diag::collect();
    let b11 = fixture(S11);
    let b12 = fixture(S);
    let ping = |level: &str| {
        ok(
            200,
            &format!(
                r#"{{"server_version":"0.1.0","api_level":"{level}","min_api_level":"1.0","schema":false}}"#
            ),
            &[],
        )
    };
    let bundles = vec![b11.clone(), b12.clone()];
    let http = Fake::new(vec![ok(404, "", &[]), ping("1.1")]);
    let r = resolve(&cache, &http, 10, &bundles, false, &diag).unwrap();
    assert_eq!(r.source, Source::Bundled(b11.api_level));
    assert_eq!(r.source.to_string(), "bundled 1.1");
    // Remembered for the TTL: no network next time.
    let r = resolve(&cache, &Fake::new(vec![]), 20, &bundles, false, &diag).unwrap();
    assert_eq!(r.source, Source::Bundled(b11.api_level));
    // Older than every bundle, or no bundles: errors naming both levels.
    let http = Fake::new(vec![ok(404, "", &[]), ping("1.0")]);
    let e = resolve(&cache, &http, 10, &bundles, true, &diag)
        .unwrap_err()
        .to_string();
    assert!(e.contains("1.0") && e.contains("1.1"), "{e}");
    let http = Fake::new(vec![ok(404, "", &[]), ping("1.0")]);
    let e = resolve(&cache, &http, 10, &[], true, &diag)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("API level 1.0") && e.contains("no bundled schema"),
        "{e}"
    );
    // Unreachable with nothing cached: the newest bundle serves help; nothing: an error.
    let empty = Cache::new(dir.path().join("other"));
    let r = resolve(&empty, &Fake::new(vec![down()]), 10, &bundles, false, &diag).unwrap();
    assert_eq!(
        (r.source, r.offline.is_some()),
        (Source::Bundled(b12.api_level), true)
    );
    let e = resolve(&empty, &Fake::new(vec![down()]), 10, &[], false, &diag).unwrap_err();
    assert!(format!("{e:#}").contains("no schema is cached"));
}

#[test]
fn corrupt_cache_is_a_miss_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().to_owned());
    let doc = fixture(S);
    let diag = Diag::collect();
    let meta = Meta {
        fetched_at: 0,
        ttl_secs: 3600,
        fingerprint: doc.fingerprint.clone(),
        api_level: doc.api_level,
        origin: Origin::Server,
        file_sha256: None,
    };
    cache.store_schema(SRV, &doc_text(&doc), &meta, &diag);
    assert!(cache.load(SRV, &diag).is_some());
    // Flip the content: the checksum recorded at write time no longer matches.
    let path = cache.schema_path(SRV, &doc.fingerprint);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("Power a machine on", "Power a machine off");
    std::fs::write(&path, text).unwrap();
    assert!(cache.load(SRV, &diag).is_none());
    assert!(cache.load(SRV, &diag).is_none());
    let w = diag.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("corrupt") && w[0].contains("checksum mismatch"),
        "{w:?}"
    );
    // The resolver treats it as a miss: a plain GET, then a healthy cache again.
    let http = Fake::new(vec![ok(200, &doc_text(&doc), &[])]);
    let r = resolve(&cache, &http, 10, &[], false, &diag).unwrap();
    assert_eq!(r.source, Source::Refreshed);
    assert!(http.seen.borrow()[0].headers.is_empty());
    assert!(cache.load(SRV, &diag).is_some());
    // A garbled metadata file is a miss too.
    std::fs::write(cache.server_dir(SRV).join("meta.json"), "{not json").unwrap();
    let diag = Diag::collect();
    assert!(cache.load(SRV, &diag).is_none());
    assert_eq!(diag.warnings().len(), 1);
}

#[test]
fn unwritable_cache_still_works() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the cache folder should be: unwritable even for root.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "").unwrap();
    let cache = Cache::new(blocker.join("cache"));
    let doc = fixture(S);
    let diag = Diag::collect();
    for _ in 0..2 {
        let http = Fake::new(vec![ok(200, &doc_text(&doc), &[])]);
        let r = resolve(&cache, &http, 10, &[], false, &diag).unwrap();
        assert_eq!(r.source, Source::Refreshed);
    }
    let w = diag.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("cannot write the schema cache"), "{w:?}");
}

#[test]
fn read_only_cache_dir_still_serves() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().to_owned());
    let doc = fixture(S);
    let diag = Diag::collect();
    let http = Fake::new(vec![ok(
        200,
        &doc_text(&doc),
        &[("Cache-Control", "max-age=10")],
    )]);
    resolve(&cache, &http, 0, &[], false, &diag).unwrap();
    // Make the folder's meta file a directory: renewals cannot be written, reads still work.
    let http = Fake::new(vec![ok(304, "", &[])]);
    let meta = cache.server_dir(SRV).join("meta.json");
    let saved = std::fs::read(&meta).unwrap();
    std::fs::remove_file(&meta).unwrap();
    std::fs::create_dir(&meta).unwrap();
    let diag = Diag::collect();
    // With the metadata unreadable the cache is a miss: the resolver fetches afresh and
    // cannot store it, and the command still gets its schema.
    let http2 = Fake::new(vec![ok(200, &doc_text(&doc), &[])]);
    let r = resolve(&cache, &http2, 20, &[], false, &diag).unwrap();
    assert_eq!(r.source, Source::Refreshed);
    assert!(!diag.warnings().is_empty());
    std::fs::remove_dir(&meta).unwrap();
    std::fs::write(&meta, saved).unwrap();
    let r = resolve(&cache, &http, 20, &[], false, &Diag::collect()).unwrap();
    assert_eq!(r.source, Source::Revalidated);
}

#[test]
fn ttl_header() {
    let t = |cc: &str| crate::resolve::ttl_of(&ok(200, "", &[("cache-control", cc)]).unwrap());
    assert_eq!(t("max-age=60"), 60);
    assert_eq!(t("public, max-age=5"), 5);
    assert_eq!(t("no-cache"), 0);
    assert_eq!(
        crate::resolve::ttl_of(&ok(200, "", &[]).unwrap()),
        crate::resolve::DEFAULT_TTL_SECS
    );
}
