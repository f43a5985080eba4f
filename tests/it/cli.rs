//! The real `igor` binary end to end, against a real igord and real `ipmi_sim` BMCs: login
//! and the token file, the demo's calls, how refusals and usage errors are printed and which
//! exit codes they give, and the schema cache (fresh, revalidated with a conditional GET,
//! refreshed on a changed fingerprint, repaired when damaged), whose requests are counted by
//! a relay in front of igord.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::cli::{CountingProxy, Igor, Run, jq, pyyaml_load_all};
use tests::db::{Backend, TestDb};
use tests::server::{ADMIN_PASSWORD, Server, ServerOptions, fresh};
use tests::sim::SimBmc;

on_both_backends!(demo_calls);

/// An SEL event to inject: CPU Temp (sensor 1) upper critical going high, reading 0x5c.
const SEL_EVENT: &str =
    "sel_add 0x20 0x02 0x00 0x00 0x00 0x00 0x20 0x00 0x04 0x01 0x01 0x01 0x59 0x5c 0x5a";

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn sqlite_server(opts: ServerOptions) -> (TestDb, Server) {
    let db = TestDb::new(Backend::Sqlite);
    let s = Server::start_with(&db, opts);
    (db, s)
}

/// Login with the password on stdin, the private token file, calls in every output format,
/// `-v`, and logout revoking the token on the server.
#[test]
fn login_keeps_a_private_token_and_logout_revokes_it() {
    let (_db, s) = sqlite_server(ServerOptions::default());
    let igor = Igor::new(&s.url);

    let r = igor.run(&["ping"]);
    r.code(1);
    assert!(
        r.stderr.starts_with("error: authentication required") && r.stderr.contains("igor login"),
        "{r}"
    );
    let r = igor.run_stdin(
        &["login", "--user", "admin", "--password-stdin"],
        "wrong-password\n",
    );
    r.code(1);
    assert_eq!(r.stderr, "error: invalid user name or password\n", "{r}");
    assert!(
        igor.token_files().is_empty(),
        "a failed login keeps nothing"
    );

    let r = igor.login("admin", ADMIN_PASSWORD);
    assert!(
        r.stdout
            .starts_with(&format!("logged in to {} as admin (admin)", s.url)),
        "{r}"
    );
    assert!(!r.stdout.contains(ADMIN_PASSWORD) && !r.stderr.contains(ADMIN_PASSWORD));
    let files = igor.token_files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        mode_of(&files[0]),
        0o600,
        "token file {}",
        files[0].display()
    );
    assert_eq!(mode_of(files[0].parent().unwrap()), 0o700, "token folder");
    let stored = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        !stored.contains(ADMIN_PASSWORD),
        "the password is never kept"
    );
    let token = stored
        .lines()
        .find_map(|l| l.strip_prefix("token = "))
        .map(|t| t.trim_matches('"').to_owned())
        .expect("a token line");
    assert_eq!(s.ok(&token, "ping", json!({}))["user"], "admin");

    let level = s.get("/api/ping", &[]).body["api_level"].clone();
    let table = igor.ok(&["ping"]);
    assert!(
        table.stdout.contains("user") && table.stdout.contains("admin"),
        "{table}"
    );
    let v = igor.json(&["ping"]);
    assert_eq!(
        (&v["user"], &v["api_level"]),
        (&Value::from("admin"), &level)
    );
    let yaml = igor.ok(&["ping", "--output", "yaml"]);
    assert!(yaml.stdout.contains("user: admin"), "{yaml}");
    let verbose = igor.ok(&["-v", "ping"]);
    assert!(
        verbose
            .stderr
            .contains(&format!("forwarding 'ping/1' to {}\n", s.url)),
        "{verbose}"
    );
    assert!(verbose.stderr.contains("schema: cache"), "{verbose}");

    let r = igor.ok(&["logout"]);
    assert_eq!(r.stdout, format!("logged out of {}\n", s.url));
    assert!(igor.token_files().is_empty());
    assert_eq!(s.rpc(&token, "ping", json!({})).status, 401, "revoked");
    igor.run(&["ping"]).code(1);
}

/// The demo's calls, as the demo makes them, checked against what the BMC says.
fn demo_calls(backend: Backend) {
    let (_db, s) = fresh(backend);
    let sim = SimBmc::start_new();
    let admin = Igor::new(&s.url);
    admin.login("admin", ADMIN_PASSWORD);
    let added = admin.add_machine("m1", &sim);
    assert!(added.stdout.contains("m1"), "{added}");
    let shown = admin.json(&["machine-show", "m1"]);
    assert_eq!(shown["bmc_port"], sim.port);
    assert!(shown.get("bmc_password").is_none(), "{shown}");
    admin.ok_stdin(
        &["user-add", "viewer1", "--password-stdin"],
        "viewer-password\n",
    );
    // Version 2 (level 1.5) takes the same arguments, the machine now a set: one item each.
    let grant = admin.json(&["permission-grant", "viewer1", "m1", "viewer"]);
    let grant = grant.as_array().map(|a| a[0].clone()).unwrap_or(grant);
    assert_eq!(grant["result"]["role"], "viewer", "{grant}");

    // `bootdev-set MACHINE DEVICE` as version 1 took it; the default version (3) agrees.
    admin.ok(&["bootdev-set", "m1", "pxe"]);
    let boot = sim.ipmitool_ok(&["chassis", "bootparam", "get", "5"]);
    assert!(boot.contains("Force PXE"), "{boot}");
    let got = admin.json(&["bootdev-get", "m1"]);
    assert_eq!(got["result"]["device"], "pxe", "{got}");

    let on = admin.json(&["power-on/1", "m1"]);
    assert_eq!(on["machine"], "m1", "{on}");
    assert!(
        sim.ipmitool_ok(&["chassis", "power", "status"])
            .contains("Chassis Power is on")
    );
    let status = admin.json(&["power-status/1", "m1"]);
    assert_eq!(status["power"], "on", "{status}");
    // Unversioned, as the demo types it: the newest version this client knows, which
    // since level 1.3 is the bulk one, one JSON line per machine.
    let lines = admin.ok(&["-o", "json", "power-status", "m1"]).json_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        (
            &lines[0]["machine"],
            &lines[0]["ok"],
            &lines[0]["result"]["power"]
        ),
        (&Value::from("m1"), &Value::from(true), &Value::from("on")),
        "{lines:?}"
    );

    let before = sim.sel_ids::<u64>();
    let added = sim.console(SEL_EVENT);
    // The console echoes the command, then answers `Added record N`.
    let new_id: u64 = added
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("Added record "))
        .and_then(|id| id.trim().parse().ok())
        .unwrap_or_else(|| panic!("sel_add answered {added}"));
    let sel = admin.json(&["sel-list/1", "m1"]);
    let records = sel.as_array().expect("sel-list answers an array");
    let ids: Vec<u64> = records
        .iter()
        .map(|r| r["id"].as_u64().expect("record id"))
        .collect();
    assert_eq!(ids, sim.sel_ids::<u64>(), "{sel}");
    assert_eq!(ids.len(), before.len() + 1, "{sel}");
    let injected = records
        .iter()
        .find(|r| r["id"] == new_id)
        .unwrap_or_else(|| panic!("record {new_id} missing: {sel}"));
    assert_eq!(
        (
            &injected["sensor_type"],
            &injected["sensor_number"],
            &injected["event"]
        ),
        (
            &Value::from("temperature"),
            &Value::from(1),
            &Value::from("upper critical going high")
        ),
        "{sel}"
    );
    let (a, b) = (new_id.to_string(), before[0].to_string());
    // One record of three is not there: the call partly failed (exit 3), each record says
    // how it went.
    let deleted = admin.run(&["-o", "json", "sel-delete/2", "m1", &a, &b, "30583"]);
    deleted.code(3);
    let deleted = deleted.json();
    let outcomes: Vec<(u64, &str)> = deleted
        .as_array()
        .expect("sel-delete/2 answers an array")
        .iter()
        .map(|r| (r["id"].as_u64().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (new_id, "deleted"),
            (before[0], "deleted"),
            (30583, "not_found")
        ],
        "{deleted}"
    );
    assert_eq!(sim.sel_ids::<u64>(), before[1..].to_vec());

    let sensors = admin.json(&["sensor-list/1", "m1"]);
    let names: Vec<&str> = sensors
        .as_array()
        .expect("sensor-list answers an array")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"CPU Temp"), "{sensors}");
    let help = admin.ok(&["command-show", "sel-delete/2"]);
    assert!(help.stdout.contains("sel-delete/2"), "{help}");
    assert!(help.stdout.contains("ids"), "{help}");

    // The viewer sees the machine but may not change it.
    let viewer = Igor::new(&s.url);
    viewer.login("viewer1", "viewer-password");
    assert_eq!(viewer.json(&["power-status/1", "m1"])["power"], "on");
    let r = viewer.run(&["power-off/1", "m1"]);
    r.code(1);
    assert_eq!(
        r.stderr, "error: not permitted on machine 'm1': this needs the operator role\n",
        "{r}"
    );
    assert!(r.stdout.is_empty(), "{r}");
    // A bulk call with a failed machine exits 3, whatever the share of failures.
    let r = viewer.run(&["-o", "json", "power-off", "m1"]);
    r.code(3);
    let lines = r.json_lines();
    assert_eq!(lines.len(), 1, "{r}");
    assert_eq!(
        (&lines[0]["ok"], &lines[0]["error"]["code"]),
        (&Value::from(false), &Value::from("forbidden")),
        "{r}"
    );
    assert_eq!(sim.state("power").as_deref(), Some("1"), "still on");
}

/// What a refused or malformed call prints and its exit code: one line per case.
/// `who` is "admin" or "bob" (a plain user with viewer on m1 only).
#[test]
fn refusals_and_usage_errors() {
    let (_db, s) = sqlite_server(ServerOptions::default());
    let admin = Igor::new(&s.url);
    admin.login("admin", ADMIN_PASSWORD);
    // A BMC nobody answers at: every refusal below comes before any BMC traffic.
    admin.ok_stdin(
        &[
            "machine-add",
            "m1",
            "--bmc-host",
            "127.0.0.1",
            "--bmc-port",
            "9",
            "--bmc-user",
            "u",
            "--bmc-password-stdin",
        ],
        "p\n",
    );
    admin.ok_stdin(&["user-add", "bob", "--password-stdin"], "bob-password\n");
    admin.ok(&["permission-grant", "bob", "m1", "viewer"]);
    let bob = Igor::new(&s.url);
    bob.login("bob", "bob-password");

    #[rustfmt::skip]
    let cases: &[(&str, &[&str], &str, i32, &str)] = &[
        // Usage errors: clap's words, exit 2.
        ("admin", &["machine-add"], "", 2, "error: the following required arguments were not provided"),
        ("admin", &["permission-grant", "bob", "m1", "superuser"], "", 2, "error: invalid value 'superuser' for '<ROLE>'"),
        ("admin", &["machine-add", "m2", "--bmc-host", "h", "--bmc-user", "u", "--bmc-port", "abc"], "", 2, "error: invalid value 'abc' for '--bmc-port <BMC_PORT>'"),
        ("admin", &["ping", "--no-such-flag"], "", 2, "error: unexpected argument '--no-such-flag'"),
        ("admin", &["-o", "xml", "ping"], "", 2, "error: invalid value 'xml' for '--output <FORMAT>'"),
        ("admin", &["sel-delete/2", "m1", "three"], "", 2, "error: invalid value 'three'"),
        ("admin", &["bootdev-set/1", "m1", "floppy"], "", 2, "error: invalid value 'floppy'"),
        // Refusals and failures: the server's message, exit 1.
        ("admin", &["sel-delete/9", "m1", "1"], "", 1, "error: unknown command 'sel-delete/9'\n  available: sel-delete/1, sel-delete/2\n"),
        ("admin", &["ping/9"], "", 1, "error: unknown command 'ping/9'\n  available: ping/1\n"),
        ("admin", &["sel-lst", "m1"], "", 1, "error: unknown command 'sel-lst'\n  did you mean 'sel-list'?\n"),
        ("admin", &["machine-show", "nope"], "", 1, "error: machine 'nope' not found\n"),
        ("admin", &["user-add", "carol", "--password-stdin"], "short\n", 1, "error: invalid parameters for 'user-add/1': password: value is shorter than 8 characters\n"),
        ("bob", &["power-off/1", "m1"], "", 1, "error: not permitted on machine 'm1': this needs the operator role\n"),
        ("bob", &["sel-clear/1", "m1"], "", 1, "error: not permitted on machine 'm1': this needs the operator role\n"),
        ("bob", &["user-add", "carol", "--password-stdin"], "carol-password\n", 1, "error: 'user-add/1' needs the admin role\n"),
        ("bob", &["machine-show", "m2"], "", 1, "error: not permitted on machine 'm2'\n"),
    ];
    for (who, argv, stdin, code, stderr) in cases {
        let igor = if *who == "bob" { &bob } else { &admin };
        let r = igor.run_stdin(argv, stdin);
        assert_eq!(r.code, *code, "{who}: {r}");
        assert!(r.stdout.is_empty(), "{who}: nothing on stdout: {r}");
        if *code == 1 {
            // The whole stderr: one error line, nothing else.
            assert_eq!(r.stderr, *stderr, "{who}: {r}");
        } else {
            assert!(r.stderr.starts_with(stderr), "{who}: {r}");
        }
    }
}

/// Cache (a): with a fresh cache, a call sends only itself and `--help` sends nothing, even
/// with the server stopped.
#[test]
fn warm_cache_sends_nothing_before_the_call() {
    let (_db, mut s) = sqlite_server(ServerOptions::default());
    let proxy = CountingProxy::new(&s.url);
    let igor = Igor::new(&proxy.url);
    igor.login("admin", ADMIN_PASSWORD);
    assert_eq!(proxy.take(), ["POST /api/login 200"]);
    igor.ok(&["ping"]);
    assert_eq!(proxy.take(), ["GET /api/schema 200", "POST /api/rpc 200"]);

    for _ in 0..2 {
        igor.ok(&["ping"]);
        assert_eq!(proxy.take(), ["POST /api/rpc 200"]);
    }
    let help = igor.ok(&["--help"]);
    assert!(help.stdout.contains("machine-add"), "{help}");
    let help = igor.ok(&["power-status", "--help"]);
    assert!(help.stdout.contains("MACHINES"), "{help}");
    assert!(proxy.take().is_empty(), "--help needs no request");
    // A command whose defaults the server decides asks for them (command-defaults), once.
    let help = igor.ok(&["machine-add", "--help"]);
    assert!(help.stdout.contains("--bmc-host"), "{help}");
    assert!(help.stdout.contains("[server default: 623]"), "{help}");
    assert_eq!(proxy.take(), ["POST /api/rpc 200"]);

    s.stop();
    let help = igor.ok(&["--help"]);
    assert!(help.stdout.contains("machine-add"), "{help}");
    let help = igor.ok(&["user-add", "--help"]);
    assert!(help.stdout.contains("--password-stdin"), "{help}");
    // The server's defaults cannot be had: the help says who decides them.
    assert!(proxy.take().is_empty(), "--help needs no request");
    // The server's defaults cannot be had (it was asked, and did not answer): the help
    // says who decides them.
    let help = igor.ok(&["machine-add", "--help"]);
    assert!(
        help.stdout
            .contains("[default: the server's bmc.default_port]"),
        "{help}"
    );
    assert_eq!(proxy.take(), ["POST /api/rpc unreachable"]);
    // Completion answers from the cached schema too, with the server down.
    let offered = igor.complete(&[""]);
    for command in ["machine-add", "power-status", "sel-delete", "login"] {
        assert!(
            offered.contains(&command.to_owned()),
            "completion lacks {command}: {offered:?}"
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let script = igor.ok(&["completion", shell]);
        assert!(script.stdout.contains("COMPLETE"), "{shell}: {script}");
    }
    assert!(proxy.take().is_empty(), "nothing reached the proxy");
    // The relay took the connection and closed it unanswered: reached, but no answer
    // (exit 1, not 4: the call may have been sent).
    let r = igor.run(&["ping"]);
    r.code(1);
    assert!(
        r.stderr.starts_with("error: cannot reach the server at"),
        "{r}"
    );
    assert_eq!(proxy.take(), ["POST /api/rpc unreachable"]);
}

/// Cache (b): an expired cache is revalidated with a conditional GET, answered 304.
#[test]
fn expired_cache_is_revalidated_with_304() {
    let (_db, s) = sqlite_server(ServerOptions {
        config_toml: Some("schema_ttl_secs = 1\n".into()),
        ..ServerOptions::default()
    });
    let proxy = CountingProxy::new(&s.url);
    let igor = Igor::new(&proxy.url);
    igor.login("admin", ADMIN_PASSWORD);
    igor.ok(&["ping"]);
    assert_eq!(
        proxy.take(),
        [
            "POST /api/login 200",
            "GET /api/schema 200",
            "POST /api/rpc 200"
        ]
    );
    // Until the 1 s TTL runs out a call sends only itself; the first call after it
    // revalidates. Ask until it does.
    let waiting = Instant::now();
    loop {
        let r = igor.ok(&["-v", "ping"]);
        let seen = proxy.take();
        if r.stderr.contains("schema: revalidated (304)") {
            assert_eq!(seen, ["GET /api/schema 304", "POST /api/rpc 200"], "{r}");
            break;
        }
        assert_eq!(seen, ["POST /api/rpc 200"], "a fresh cache: {r}");
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "a 1 s schema cache is still fresh after 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(igor.json(&["ping"])["user"], "admin");
}

/// Cache (c): a server whose schema changed behind the same URL (restarted at another
/// level) is noticed from the call's fingerprint header and refetched once.
#[test]
fn changed_fingerprint_refreshes_once() {
    let db = TestDb::new(Backend::Sqlite);
    let mut s = Server::start(&db);
    let proxy = CountingProxy::new(&s.url);
    let igor = Igor::new(&proxy.url);
    igor.login("admin", ADMIN_PASSWORD);
    let before = igor.json(&["ping"]);
    assert_ne!(
        before["api_level"], "1.1",
        "the newest level must be above 1.1"
    );
    proxy.take();

    s.restart(
        &db,
        ServerOptions {
            pin: Some("1.1".into()),
            ..ServerOptions::default()
        },
    );
    proxy.set_upstream(&s.url);
    let r = igor.ok(&["-v", "ping"]);
    assert_eq!(proxy.take(), ["POST /api/rpc 200", "GET /api/schema 200"]);
    assert!(r.stderr.contains("the server's schema changed"), "{r}");
    assert!(r.stdout.contains("1.1"), "the call itself stands: {r}");
    igor.ok(&["ping"]);
    assert_eq!(
        proxy.take(),
        ["POST /api/rpc 200"],
        "refreshed once, for good"
    );
    // Level 1.1 has no sel-delete/2: the tree follows the server.
    let r = igor.run(&["sel-delete/2", "m1", "1"]);
    r.code(1);
    assert_eq!(
        r.stderr, "error: unknown command 'sel-delete/2'\n  available: sel-delete/1\n",
        "{r}"
    );
}

/// Cache (d): a corrupted cache file is a miss with exactly one warning, then refetched.
#[test]
fn corrupt_cache_is_refetched_with_one_warning() {
    let (_db, s) = sqlite_server(ServerOptions::default());
    let proxy = CountingProxy::new(&s.url);
    let igor = Igor::new(&proxy.url);
    igor.login("admin", ADMIN_PASSWORD);
    igor.ok(&["ping"]);
    let folder = igor.cache_folder();
    proxy.take();

    let schema_file = || {
        std::fs::read_dir(&folder)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("sha256-")
            })
            .expect("a cached schema file")
    };
    // Each damage in turn, each repaired by the run that notices it.
    for what in ["schema truncated", "schema edited", "meta garbage"] {
        match what {
            "schema truncated" => {
                let path = schema_file();
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(&path, &text[..text.len() / 2]).unwrap();
            }
            "schema edited" => {
                let path = schema_file();
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(&path, text.replacen("machine-add", "machine-addd", 1)).unwrap();
            }
            _ => std::fs::write(folder.join("meta.json"), "{\"fetched_at\": [").unwrap(),
        }
        let r = igor.run(&["ping"]);
        r.code(0);
        assert_eq!(r.warnings().len(), 1, "{what}: {r}");
        assert!(r.warnings()[0].contains("schema cache"), "{what}: {r}");
        assert!(r.stdout.contains("admin"), "{what}: {r}");
        assert_eq!(
            proxy.take(),
            ["GET /api/schema 200", "POST /api/rpc 200"],
            "{what}"
        );
        igor.ok(&["ping"]);
        assert_eq!(proxy.take(), ["POST /api/rpc 200"], "{what}: repaired");
    }
}

/// Cache (e): a cache folder that cannot be created (its parent is a file, which stops
/// root too) costs a warning and a schema request per run, never the command.
#[test]
fn unwritable_cache_still_works() {
    let (_db, s) = sqlite_server(ServerOptions::default());
    let proxy = CountingProxy::new(&s.url);
    let mut igor = Igor::new(&proxy.url);
    let file = igor.home().join("not-a-folder");
    std::fs::write(&file, "a file").unwrap();
    igor.cache_dir = file.join("cache");
    igor.login("admin", ADMIN_PASSWORD);
    proxy.take();
    for _ in 0..2 {
        let r = igor.run(&["ping", "-o", "json"]);
        r.code(0);
        assert_eq!(r.json()["user"], "admin");
        assert_eq!(r.warnings().len(), 1, "{r}");
        assert!(
            r.warnings()[0].starts_with("warning: cannot write the schema cache"),
            "{r}"
        );
        assert_eq!(proxy.take(), ["GET /api/schema 200", "POST /api/rpc 200"]);
    }
    let help = igor.run(&["machine-add", "--help"]);
    help.code(0);
    assert!(help.stdout.contains("--bmc-host"), "{help}");
}

/// Cache (f): an expired cache and a stopped server: `--help` still works, with one
/// warning; a call fails clearly.
#[test]
fn expired_cache_and_server_down_still_give_help() {
    let (_db, mut s) = sqlite_server(ServerOptions {
        config_toml: Some("schema_ttl_secs = 1\n".into()),
        ..ServerOptions::default()
    });
    let igor = Igor::new(&s.url);
    igor.login("admin", ADMIN_PASSWORD);
    igor.ok(&["ping"]);
    s.stop();

    let check = |r: &Run| {
        r.code(0);
        assert_eq!(r.warnings().len(), 1, "{r}");
        assert!(
            r.warnings()[0].starts_with(&format!("warning: cannot reach the server at {}", s.url))
                && r.warnings()[0].ends_with("using the cached schema"),
            "{r}"
        );
    };
    // While the 1 s TTL lasts, help comes from the cache without a word; once it has run
    // out, igor tries the server first and says it used the cache. Ask until it does.
    let waiting = Instant::now();
    let r = loop {
        let r = igor.run(&["--help"]);
        if !r.warnings().is_empty() {
            break r;
        }
        r.code(0);
        assert!(r.stdout.contains("machine-add"), "{r}");
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "a 1 s schema cache is still fresh after 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    check(&r);
    assert!(r.stdout.contains("machine-add"), "{r}");
    let r = igor.run(&["machine-add", "--help"]);
    check(&r);
    assert!(r.stdout.contains("--bmc-host"), "{r}");
    // Nothing listens there any more: no connection, exit 4.
    let r = igor.run(&["ping"]);
    r.code(4);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr
            .contains(&format!("error: cannot reach the server at {}", s.url)),
        "{r}"
    );
}

/// Streamed items come in completion order and take their own time: compared by machine,
/// without `duration_ms`.
fn by_machine(mut items: Vec<Value>) -> Vec<Value> {
    items.sort_by_key(|i| i["machine"].as_str().map(str::to_owned));
    for i in &mut items {
        i.as_object_mut().map(|o| o.remove("duration_ms"));
    }
    items
}

/// The output contract scripts rely on, read by real consumers: `-o yaml` through PyYAML's
/// `safe_load_all` (YAML 1.1, what Ansible uses) gives what `-o json` gives through jq, with
/// names and values YAML 1.1 would take for booleans, numbers or dates (`off`, `yes`, `012`,
/// `1e3`, `2024-01-01`) kept strings; a pipe gets plain columns, `--no-headers` and `-o name`
/// give what `awk` and `xargs` need; and the configuration's `output` is the default.
#[test]
fn output_reads_back_in_its_consumers() {
    let (_db, s) = sqlite_server(ServerOptions::default());
    let sim = SimBmc::start_new();
    let admin = Igor::new(&s.url);
    admin.login("admin", ADMIN_PASSWORD);
    let port = sim.port.to_string();
    #[rustfmt::skip]
    let machines: &[(&str, &str)] = &[
        ("off", "off"), ("yes", "yes"), ("012", "~"), ("1e3", "12:30"), ("NULL", "2024-01-01"),
        ("y", "a: b # c"), ("0x1f", "tab\there\nnext line"), ("1_000", "\u{2028}separated"),
        ("2024-01-01", " leading and trailing "), ("on", "'q' \"d\" \\x1b é"), ("node-01", ""),
    ];
    for (name, description) in machines {
        admin.ok_stdin(
            &[
                "machine-add",
                name,
                "--bmc-host",
                &sim.host,
                "--bmc-port",
                &port,
                "--bmc-user",
                &sim.user,
                "--description",
                description,
                "--bmc-password-stdin",
            ],
            &format!("{}\n", sim.password),
        );
    }
    let mut names: Vec<&str> = machines.iter().map(|(n, _)| *n).collect();
    names.sort();

    // A record list: YAML as PyYAML reads it is the JSON, and jq reads the names.
    let json = admin.ok(&["-o", "json", "machine-find"]);
    let yaml = admin.ok(&["-o", "yaml", "machine-find"]);
    assert_eq!(pyyaml_load_all(&yaml.stdout), vec![json.json()], "{yaml}");
    let mut listed: Vec<String> = jq(&["-r", ".[].name"], &json.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    listed.sort();
    assert_eq!(listed, names, "{json}");
    for (name, description) in machines {
        assert_eq!(
            jq(
                &[
                    "-r",
                    "--arg",
                    "n",
                    name,
                    ".[] | select(.name == $n) | .description"
                ],
                &json.stdout
            ),
            format!("{description}\n"),
            "{name}: {json}"
        );
    }

    // One record: `power: off` is the string "off" to PyYAML, not false.
    admin.ok(&["power-off/1", "off"]);
    let status = admin.ok(&["-o", "yaml", "power-status/1", "off"]);
    assert_eq!(
        pyyaml_load_all(&status.stdout),
        vec![json!({"machine": "off", "power": "off"})],
        "{status}"
    );
    let json = admin.ok(&["-o", "json", "power-status/1", "off"]);
    assert_eq!(jq(&["-r", ".power"], &json.stdout), "off\n", "{json}");

    // A stream: one YAML document per machine, one JSON line per machine.
    let bulk = ["power-status", "off", "yes", "012"];
    let yaml = admin.ok(&[&["-o", "yaml"][..], &bulk].concat());
    let json = admin.ok(&[&["-o", "json"][..], &bulk].concat());
    let docs = by_machine(pyyaml_load_all(&yaml.stdout));
    assert_eq!(docs.len(), 3, "{yaml}");
    assert_eq!(docs, by_machine(json.json_lines()), "{yaml}\n{json}");
    let mut machines_seen: Vec<String> = jq(&["-r", ".machine"], &json.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    machines_seen.sort();
    assert_eq!(machines_seen, ["012", "off", "yes"], "{json}");

    // A pipe: plain columns, a header line then one line per machine, no box drawing.
    let table = admin.ok(&["machine-find"]);
    assert!(!table.stdout.contains(['│', '─', '┌', '└']), "{table}");
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), names.len() + 1, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    // machine-find/4's columns (x-igor-columns), the default version at level 1.6.
    assert_eq!(
        &header[..4],
        ["name", "driver", "bmc_host", "access"],
        "{table}"
    );
    let firsts: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split("   ").next().unwrap().trim_end())
        .collect();
    assert_eq!(firsts, names, "{table}");
    // Without the header the columns may narrow; the rows keep their fields.
    let bare = admin.ok(&["machine-find", "--no-headers"]);
    let fields = |text: &str| -> Vec<Vec<String>> {
        text.lines()
            .map(|l| {
                l.split("   ")
                    .map(|f| f.trim().to_owned())
                    .filter(|f| !f.is_empty())
                    .collect()
            })
            .collect()
    };
    assert_eq!(fields(&bare.stdout), fields(&table.stdout)[1..], "{bare}");
    let named = admin.ok(&["machine-find", "-o", "name"]);
    assert_eq!(named.stdout, format!("{}\n", names.join("\n")), "{named}");
    let named = admin.ok(&["-o", "name", "power-status", "off", "yes"]);
    let mut got: Vec<&str> = named.stdout.lines().collect();
    got.sort();
    assert_eq!(got, ["off", "yes"], "{named}");
    let r = admin.run(&["-o", "name", "ping"]);
    r.code(1);
    assert!(
        r.stderr
            .contains("without a name, machine or id field; use -o json"),
        "{r}"
    );

    // The configuration's default output, and -o over it: the file's for a bare URL...
    std::fs::write(&admin.config, "output = \"json\"\n").unwrap();
    assert_eq!(
        admin.ok(&["machine-find"]).json().as_array().unwrap().len(),
        names.len()
    );
    let yaml = admin.ok(&["-o", "yaml", "power-status/1", "off"]);
    assert_eq!(yaml.stdout, "machine: \"off\"\npower: \"off\"\n", "{yaml}");
    // ...and a context's over the file's.
    admin
        .run_bare(&["config", "set-context", "lab", "--server", &s.url], "")
        .code(0);
    admin
        .run_bare(
            &["login", "--user", "admin", "--password-stdin"],
            &format!("{ADMIN_PASSWORD}\n"),
        )
        .code(0);
    let text = std::fs::read_to_string(&admin.config).unwrap();
    let text = text.replace("[contexts.lab]\n", "[contexts.lab]\noutput = \"name\"\n");
    std::fs::write(&admin.config, &text).unwrap();
    let r = admin.run_bare(&["machine-find", "node*"], "");
    assert_eq!((r.code, r.stdout.as_str()), (0, "node-01\n"), "{r}");
    let r = admin.run_bare(&["-o", "json", "machine-find", "node*"], "");
    assert_eq!(r.json()[0]["name"], "node-01", "{r}");
    std::fs::write(&admin.config, "output = \"xml\"\n").unwrap();
    let r = admin.run(&["machine-find"]);
    r.code(1);
    assert!(
        r.stderr.starts_with("error: invalid output format 'xml'")
            && r.stderr.contains(&admin.config.display().to_string()),
        "{r}"
    );
}

/// Exit codes scripts can branch on: 0 all done, 1 refused or failed, 2 usage (a malformed
/// --server too), 3 a bulk or multi-record call partly failed, 4 no connection to the server;
/// `--quiet` leaves only errors; a closed stdout (`| head -1`) ends the output quietly; and a
/// secret with no terminal to ask on says what to pass instead.
#[test]
fn exit_codes_quiet_and_closed_pipes() {
    let (_db, mut s) = sqlite_server(ServerOptions::default());
    let sim = SimBmc::start_new();
    let igor = Igor::new(&s.url);
    igor.login("admin", ADMIN_PASSWORD);
    igor.add_machine("m1", &sim);

    igor.ok(&["power-status", "m1"]);
    let r = igor.run(&["power-status", "m1", "nope"]);
    r.code(3);
    assert!(
        r.stdout.contains("nope") && r.stdout.contains("failed"),
        "{r}"
    );
    let r = igor.run(&["sel-delete", "m1", "30583"]);
    r.code(3);
    assert!(r.stdout.contains("not_found"), "{r}");
    // The summary is for people: on stderr when stdout is a pipe.
    assert!(r.stderr.contains("0 of 1"), "{r}");
    // A query listing failed calls did not fail itself (audit-find/4 streams its records:
    // one JSON object a line, exit 0).
    let audit = igor.ok(&["-o", "json", "audit-find"]).json_lines();
    assert!(audit.iter().any(|a| a["outcome"] != "ok"), "{audit:?}");
    igor.run(&["machine-show", "nope"]).code(1);
    for url in ["not-a-url", "ftp://h:1", "http://"] {
        let r = igor.run_bare(&["--server", url, "ping"], "");
        r.code(2);
        assert!(r.stderr.starts_with("error: invalid server URL"), "{r}");
    }

    // --quiet: nothing on stdout, errors alone on stderr, the exit code as without it.
    let r = igor.run(&["-q", "machine-find"]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "", ""),
        "{r}"
    );
    let r = igor.run(&["-q", "sel-delete", "m1", "30583"]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (3, "", ""),
        "{r}"
    );
    let r = igor.run(&["--quiet", "power-status", "m1", "nope"]);
    r.code(3);
    assert!(r.stdout.is_empty(), "{r}");
    assert!(
        r.stderr.starts_with("error: nope: not_found: ") && r.stderr.lines().count() == 1,
        "{r}"
    );
    let r = igor.run(&["-q", "machine-show", "nope"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (1, "error: machine 'nope' not found\n"),
        "{r}"
    );

    // A reader that has gone: the output ends, the run does not fail or panic.
    for args in [
        &["completion", "bash"][..],
        &["machine-find"],
        &["-o", "json", "sel-list", "m1"],
        &["power-status", "m1"],
    ] {
        let r = igor.run_closed_stdout(args);
        r.code(0);
        // A table's summary still goes to stderr; nothing else does.
        assert!(
            r.stderr.is_empty()
                || r.stderr.starts_with("1 machine(s)") && r.stderr.lines().count() == 1,
            "{r}"
        );
    }
    let r = igor.run_closed_stdout(&["power-status", "m1", "nope"]);
    r.code(3);

    // No terminal to ask for a secret on (cron, CI): what to pass instead.
    let r = igor.run_without_terminal(
        &["machine-add", "m2", "--bmc-host", "h", "--bmc-user", "u"],
        "",
    );
    r.code(1);
    assert_eq!(
        r.stderr,
        "error: no terminal to ask for --bmc-password on: pass --bmc-password-stdin (with the secret on stdin) or --bmc-password-file PATH\n",
        "{r}"
    );
    let r = igor.run(&[
        "machine-add",
        "m2",
        "--bmc-host",
        "h",
        "--bmc-user",
        "u",
        "--bmc-password-file",
        "/nonexistent/pw",
    ]);
    r.code(1);
    assert!(
        r.stderr
            .contains("cannot read --bmc-password-file /nonexistent/pw: no such file;"),
        "{r}"
    );
    assert!(!r.stderr.contains("os error"), "{r}");

    // Nothing listens: exit 4, with a cached schema or without one.
    s.stop();
    let r = igor.run(&["machine-find"]);
    r.code(4);
    assert!(
        r.stderr.starts_with("error: cannot reach the server at"),
        "{r}"
    );
    let nowhere = Igor::new(&s.url);
    let r = nowhere.run(&["ping"]);
    r.code(4);
    assert!(
        r.stderr.contains("error: cannot reach the server at"),
        "{r}"
    );
}
