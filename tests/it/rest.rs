//! The REST view against a real igord and a real `ipmi_sim` BMC: the permission flow purely
//! over REST, the version rule (version 1 without `Igor-Api-Level`, the level's versions
//! with it, 406 outside the served range), bulk versions behind single-machine routes, the
//! OpenAPI document of every level against its snapshot (and openapi-spec-validator), and
//! schemathesis fuzzing every operation.

use std::path::PathBuf;
use std::process::Command;

use schema::ApiLevel;
use serde_json::{Value, json};
use tests::db::{Backend, TestDb};
use tests::server::{Reply, Server, ServerOptions, fresh};
use tests::sim::SimBmc;

on_both_backends!(permission_flow_over_rest);

/// A REST client for one igord: a token and, optionally, a level.
struct Rest<'a> {
    s: &'a Server,
    auth: String,
    level: Option<&'a str>,
}

impl<'a> Rest<'a> {
    fn new(s: &'a Server, token: &str) -> Rest<'a> {
        Rest {
            s,
            auth: format!("Bearer {token}"),
            level: None,
        }
    }

    fn at(&self, level: &'a str) -> Rest<'a> {
        Rest {
            s: self.s,
            auth: self.auth.clone(),
            level: Some(level),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut headers = vec![("Authorization", self.auth.as_str())];
        if let Some(l) = self.level {
            headers.push(("Igor-Api-Level", l));
        }
        self.s.request(method, path, &headers, body.as_ref())
    }
}

fn add_machine(admin: &Rest<'_>, name: &str, sim: &SimBmc) {
    let r = admin.call(
        "POST",
        "/api/machines",
        Some(
            json!({"name": name, "bmc_host": sim.host, "bmc_port": sim.port,
                    "bmc_user": sim.user, "bmc_password": sim.password}),
        ),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.header("Location"),
        Some(format!("/api/machines/{name}").as_str())
    );
    assert_eq!(r.body["bmc_password"], Value::Null, "never answered: {r:?}");
}

/// The seed's flow, nothing but REST: the admin creates a user and a machine, grants
/// operator with PUT, the user powers the machine on, the admin revokes with DELETE, and
/// the user is refused. Without a level header (version 1 of each command), then again at
/// the server's level (bulk grant and revoke, power-on/4), which must mean the same.
fn permission_flow_over_rest(backend: Backend) {
    let sim = SimBmc::start_new();
    let (_db, s) = fresh(backend);
    let admin = Rest::new(&s, &s.admin());
    let r = admin.call(
        "POST",
        "/api/users",
        Some(json!({"name": "alice", "password": "alice-password-1"})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("Location"), Some("/api/users/alice"));
    assert_eq!(r.body["role"], "user");
    // The Location names the resource.
    let r = admin.call("GET", "/api/users/alice", None);
    assert_eq!((r.status, &r.body["name"]), (200, &json!("alice")), "{r:?}");
    add_machine(&admin, "m1", &sim);
    let alice = Rest::new(&s, &s.token("alice", "alice-password-1"));
    let own = server::own_level().to_string();
    for level in [None, Some(own.as_str())] {
        let (admin, alice) = match level {
            Some(l) => (admin.at(l), alice.at(l)),
            None => (admin.at_none(), alice.at_none()),
        };
        let r = alice.call(
            "POST",
            "/api/machines/m1/power",
            Some(json!({"action": "on"})),
        );
        assert_eq!((r.status, r.code()), (403, "forbidden"), "{level:?}: {r:?}");

        let r = admin.call(
            "PUT",
            "/api/machines/m1/permissions/alice",
            Some(json!({"role": "operator"})),
        );
        assert_eq!(r.status, 200, "{level:?}: {r:?}");
        assert_eq!(
            r.body,
            json!({"user": "alice", "machine": "m1", "role": "operator"})
        );
        let r = alice.call("GET", "/api/machines/m1/permissions", None);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body.as_array().map(Vec::len), Some(1), "{r:?}");

        let r = alice.call(
            "POST",
            "/api/machines/m1/power",
            Some(json!({"action": "on"})),
        );
        assert_eq!(r.status, 200, "{level:?}: {r:?}");
        assert_eq!(r.body["machine"], "m1");
        assert_eq!(sim.power_status(), "Chassis Power is on");
        let r = alice.call("GET", "/api/machines/m1/power", None);
        assert_eq!((r.status, &r.body["power"]), (200, &json!("on")), "{r:?}");

        let r = admin.call("DELETE", "/api/machines/m1/permissions/alice", None);
        assert_eq!((r.status, &r.body), (204, &Value::Null), "{level:?}: {r:?}");
        let r = alice.call(
            "POST",
            "/api/machines/m1/power",
            Some(json!({"action": "off"})),
        );
        assert_eq!((r.status, r.code()), (403, "forbidden"), "{level:?}: {r:?}");
        let r = alice.call("GET", "/api/machines/m1/power", None);
        assert_eq!((r.status, r.code()), (403, "forbidden"), "{level:?}: {r:?}");
        assert_eq!(
            sim.power_status(),
            "Chassis Power is on",
            "nothing was sent"
        );
        // Revoking again: the permission is gone.
        let r = admin.call("DELETE", "/api/machines/m1/permissions/alice", None);
        assert_eq!((r.status, r.code()), (404, "not_found"), "{level:?}: {r:?}");
        // Powered off again for the next round.
        let r = admin.call(
            "POST",
            "/api/machines/m1/power",
            Some(json!({"action": "off"})),
        );
        assert_eq!(r.status, 200, "{r:?}");
    }
    // The same audit as RPC: grants, revokes and power calls, by the versions that ran.
    let r = admin.at(&own).call("GET", "/api/audit?limit=100", None);
    assert_eq!(r.status, 200, "{r:?}");
    let rows: Vec<(String, String, String)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["user"].as_str().unwrap_or("").to_owned(),
                a["command"].as_str().unwrap_or("").to_owned(),
                a["outcome"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for want in [
        ("admin", "user-add/1", "ok"),
        ("admin", "machine-add/1", "ok"),
        ("admin", "permission-grant/1", "ok"),
        ("alice", "power-on/1", "ok"),
        ("admin", "permission-revoke/1", "ok"),
        ("alice", "power-off/1", "forbidden"),
        ("admin", "permission-revoke/1", "not_found"),
        ("admin", "permission-grant/2", "ok"),
        ("alice", "power-on/4", "ok"),
        ("admin", "permission-revoke/2", "ok"),
    ] {
        assert!(
            rows.iter()
                .any(|(u, c, o)| (u.as_str(), c.as_str(), o.as_str()) == want),
            "no audit row {want:?} in {rows:?}"
        );
    }
}

impl<'a> Rest<'a> {
    fn at_none(&self) -> Rest<'a> {
        Rest {
            s: self.s,
            auth: self.auth.clone(),
            level: None,
        }
    }
}

/// Which version a request runs, the level headers, 406, and the answers of bulk versions
/// and multi-record versions behind single-resource routes.
#[test]
fn versions_levels_and_single_resources() {
    let sim = SimBmc::start_new();
    let (_db, s) = fresh(Backend::Sqlite);
    let token = s.admin();
    let admin = Rest::new(&s, &token);
    add_machine(&admin, "m1", &sim);
    let own = server::own_level().to_string();

    // No header: version 1 (power-on/1 answers what it sent); at 1.5 and up power-on/4
    // (what it found and reached); at 1.2 power-on/2.
    let r = admin.call(
        "POST",
        "/api/machines/m1/power",
        Some(json!({"action": "on"})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"machine": "m1", "action": "on"}));
    let r = admin.at(&own).call(
        "POST",
        "/api/machines/m1/power",
        Some(json!({"action": "on"})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["outcome"], "already on", "{r:?}");
    // A parameter of another version is refused, by name.
    let r = admin.call(
        "POST",
        "/api/machines/m1/power",
        Some(json!({"action": "on", "no_wait": true})),
    );
    assert_eq!((r.status, r.code()), (400, "invalid_params"), "{r:?}");
    assert!(r.message().contains("no_wait"), "{r:?}");
    let r = admin.at("1.2").call(
        "POST",
        "/api/machines/m1/power",
        Some(json!({"action": "off", "machine": "m1"})),
    );
    assert_eq!((r.status, r.code()), (400, "invalid_params"), "{r:?}");
    assert!(r.message().contains("given by the path"), "{r:?}");
    let r = admin.call(
        "POST",
        "/api/machines/m1/power",
        Some(json!({"action": "dim"})),
    );
    assert_eq!((r.status, r.code()), (400, "invalid_params"), "{r:?}");
    assert!(r.message().contains("cycle, off, on, reset, soft"), "{r:?}");

    // Every response carries the range; a level outside it is 406 with the range.
    for r in [
        s.get("/api/ping", &[]),
        admin.call("GET", "/api/machines", None),
        s.get("/api/nothing", &[]),
    ] {
        assert_eq!(r.header("Igor-Api-Minimum-Level"), Some("1.0"), "{r:?}");
        assert_eq!(
            r.header("Igor-Api-Maximum-Level"),
            Some(own.as_str()),
            "{r:?}"
        );
    }
    for bad in ["0.9", "9.0", "latest", "1.6.1", ""] {
        let r = admin.at(bad).call("GET", "/api/machines", None);
        assert_eq!(
            (r.status, r.code()),
            (406, "unsupported_level"),
            "{bad}: {r:?}"
        );
        assert_eq!(
            r.body["error"]["details"],
            json!({"minimum": "1.0", "maximum": own}),
            "{r:?}"
        );
    }
    let r = s.get("/api/openapi.json?level=0.1", &[]);
    assert_eq!((r.status, r.code()), (406, "unsupported_level"), "{r:?}");

    // A route whose command is not part of the level named.
    let r = admin.at("1.5").call("GET", "/api/machines/m1/fru", None);
    assert_eq!((r.status, r.code()), (404, "not_found"), "{r:?}");
    assert!(r.message().contains("API level 1.5"), "{r:?}");
    let r = admin.at(&own).call("GET", "/api/machines/m1/fru", None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body["machine"], "m1",
        "one machine's result, not a stream: {r:?}"
    );

    // A bulk version behind a route: the one machine's error with its status, and never
    // a set: a glob or hostrange in the path is no machine.
    for path in ["/api/machines/nope/power", "/api/machines/m*/power"] {
        let r = admin.at(&own).call("GET", path, None);
        assert_eq!((r.status, r.code()), (404, "not_found"), "{path}: {r:?}");
    }
    let r = admin
        .at(&own)
        .call("PUT", "/api/machines/m%5B1-2%5D/identify", Some(json!({})));
    assert_eq!((r.status, r.code()), (404, "not_found"), "{r:?}");

    // One SEL record: sel-delete/1 without the header, sel-delete/2 (a list of one) at the
    // level; both 204, then 404 for a record that is gone.
    let ids = sim.sel_ids::<u64>();
    assert!(
        ids.len() >= 2,
        "the simulator starts with SEL records: {ids:?}"
    );
    for (rest, id) in [(admin.at_none(), ids[0]), (admin.at(&own), ids[1])] {
        let path = format!("/api/machines/m1/sel/{id}");
        let r = rest.call("DELETE", &path, None);
        assert_eq!(r.status, 204, "{:?}: {r:?}", rest.level);
        let r = rest.call("DELETE", &path, None);
        assert_eq!(
            (r.status, r.code()),
            (404, "not_found"),
            "{:?}: {r:?}",
            rest.level
        );
    }
    assert_eq!(sim.sel_ids::<u64>(), ids[2..]);
    let r = admin.call("DELETE", "/api/machines/m1/sel/x", None);
    assert_eq!((r.status, r.code()), (400, "invalid_params"), "{r:?}");

    // Reads, the query as parameters; a streamed list of records is an array.
    let r = admin.at(&own).call("GET", "/api/machines/m1/sensors", None);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.as_array().is_some_and(|a| !a.is_empty()), "{r:?}");
    let r = admin
        .at(&own)
        .call("GET", "/api/audit?command=sel-delete&limit=10", None);
    assert_eq!(r.status, 200, "{r:?}");
    let commands: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["command"].as_str())
        .collect();
    assert!(commands.contains(&"sel-delete/1"), "{commands:?}");
    assert!(commands.contains(&"sel-delete/2"), "{commands:?}");
    let r = admin.at(&own).call("GET", "/api/audit?follow=true", None);
    assert_eq!((r.status, r.code()), (400, "invalid_params"), "{r:?}");
    let r = admin.call("GET", "/api/machines?criteria=m", None);
    assert_eq!(r.body.as_array().map(Vec::len), Some(1), "{r:?}");

    // Unknown methods on a route, and no token at all.
    let r = admin.call("DELETE", "/api/machines/m1/power", None);
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"), "{r:?}");
    let r = s.get("/api/machines", &[]);
    assert_eq!((r.status, r.code()), (401, "unauthenticated"), "{r:?}");

    // Deletes are 204, then the resource is gone.
    let r = admin.call("DELETE", "/api/machines/m1", None);
    assert_eq!((r.status, &r.body), (204, &Value::Null), "{r:?}");
    let r = admin.call("GET", "/api/machines/m1", None);
    assert_eq!((r.status, r.code()), (404, "not_found"), "{r:?}");
}

/// A pinned server serves exactly its level's REST view: the routes its commands have,
/// version 1 without the header, and levels up to the pin.
#[test]
fn a_pinned_server_serves_its_levels_view() {
    let db = TestDb::new(Backend::Sqlite);
    let s = Server::start_with(
        &db,
        ServerOptions {
            pin: Some("1.2".into()),
            ..Default::default()
        },
    );
    let admin = Rest::new(&s, &s.admin());
    let r = admin.call("GET", "/api/machines/m1/fru", None);
    assert_eq!(
        (r.status, r.code()),
        (404, "not_found"),
        "no such route: {r:?}"
    );
    let r = admin.at("1.3").call("GET", "/api/users", None);
    assert_eq!((r.status, r.code()), (406, "unsupported_level"), "{r:?}");
    assert_eq!(r.header("Igor-Api-Maximum-Level"), Some("1.2"));
    let r = admin.at("1.2").call("GET", "/api/audit", None);
    assert_eq!(r.status, 200, "audit-find/1 at 1.2: {r:?}");
    let r = s.get("/api/openapi.json", &[]);
    assert_eq!(r.body["info"]["version"], "1.2");
    assert_eq!(r.body, snapshot(ApiLevel::new(1, 2)));
}

fn snapshot_path(level: ApiLevel) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schema-compat/openapi"
    ))
    .join(format!("{level}.json"))
}

fn snapshot(level: ApiLevel) -> Value {
    let path = snapshot_path(level);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; IGOR_UPDATE_OPENAPI=1 writes the snapshots",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// Every served level's OpenAPI document is its snapshot (schema-compat/openapi/X.Y.json),
/// byte for byte in canonical form, and valid OpenAPI 3.1 (openapi-spec-validator). A
/// released level's document never changes: it describes what requests naming that level
/// run. `IGOR_UPDATE_OPENAPI=1` rewrites the snapshots, for the unreleased level only.
#[test]
fn openapi_documents_equal_their_snapshots() {
    let (_db, s) = fresh(Backend::Sqlite);
    let own = server::own_level();
    let update = std::env::var_os("IGOR_UPDATE_OPENAPI").is_some();
    let validator = tests::python_tool("openapi-spec-validator");
    let dir = tempfile::tempdir().unwrap();
    let mut levels = vec![];
    let mut l = ApiLevel::new(1, 0);
    while l <= own {
        levels.push(l);
        l = ApiLevel::new(l.major, l.minor + 1);
    }
    let mut wrong = vec![];
    for level in &levels {
        let r = s.get(&format!("/api/openapi.json?level={level}"), &[]);
        assert_eq!(r.status, 200, "{level}: {r:?}");
        let served = r.body;
        assert_eq!(served["info"]["version"], level.to_string());
        // Keys sorted at every depth: the served bytes are the canonical form.
        let raw = s.get(&format!("/api/openapi.json?level={level}"), &[]);
        assert_eq!(
            schema::canonical_json(&raw.body),
            serde_json::to_string(&raw.body).unwrap()
        );
        let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
        if update {
            std::fs::write(snapshot_path(*level), &pretty).unwrap();
        } else if snapshot(*level) != served {
            wrong.push(format!(
                "{level}: the served document differs from {}",
                snapshot_path(*level).display()
            ));
        }
        let file = dir.path().join(format!("{level}.json"));
        std::fs::write(&file, &pretty).unwrap();
        let out = Command::new(&validator).arg(&file).output().unwrap();
        if !out.status.success() {
            wrong.push(format!(
                "{level}: openapi-spec-validator: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        // Each operation runs the command version its operationId names, alive at the
        // level.
        let doc = server::export_schema(Some(*level)).unwrap();
        for (path, item) in served["paths"].as_object().unwrap() {
            for (verb, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                for full in id.split('+') {
                    if !doc.commands.iter().any(|c| c.full_name == full) {
                        wrong.push(format!(
                            "{level}: {verb} {path}: {full} is not at the level"
                        ));
                    }
                }
            }
        }
    }
    // The server's own level without `level`, and no snapshot of a level not served.
    assert_eq!(s.get("/api/openapi.json", &[]).body, snapshot(own));
    for entry in std::fs::read_dir(snapshot_path(own).parent().unwrap()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            levels.iter().any(|l| format!("{l}.json") == name),
            "schema-compat/openapi/{name} is no served level"
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// schemathesis against a live igord with a machine on a real simulated BMC: every
/// operation of every served level (the server's own with more examples), positive and
/// negative cases, every check it has that applies. No server error, every response as
/// documented. Its counts are printed (`--nocapture`).
#[test]
fn schemathesis_finds_no_failure() {
    let sim = SimBmc::start_new();
    let db = TestDb::new(Backend::Sqlite);
    let s = Server::start_with(
        &db,
        ServerOptions {
            config_toml: Some("[bmc]\ndeadline_ms = 3000\n".into()),
            ..Default::default()
        },
    );
    let token = s.admin();
    let admin = Rest::new(&s, &token);
    add_machine(&admin, "sim1", &sim);
    let own = server::own_level();
    let records: Vec<u64> = sim.sel_ids::<u64>();
    let mut failed = vec![];
    let mut counts = vec![];
    let mut l = ApiLevel::new(1, 0);
    let mut previous = Value::Null;
    while l <= own {
        // A level whose document is the previous level's (1.1 added no route) is the same
        // run again.
        let full = s.get(&format!("/api/openapi.json?level={l}"), &[]).body;
        let doc = json!([full["paths"], full["components"]]);
        if doc == previous {
            counts.push(format!("level {l}: the document of the level before"));
            l = ApiLevel::new(l.major, l.minor + 1);
            continue;
        }
        previous = doc;
        // The server's own level gets more examples and the stateful phase too (sequences
        // along the links schemathesis infers: create, then read, change, delete).
        let (examples, phases) = if l == own {
            (15, "examples,coverage,fuzzing,stateful")
        } else {
            (5, "examples,coverage,fuzzing")
        };
        // Fuzzing may delete or change the machine (its name is in every listing): each
        // level starts with it as added.
        let gone = admin.call("GET", "/api/machines/sim1", None);
        if gone.status != 200 {
            let why = admin.at(&own.to_string()).call(
                "GET",
                "/api/audit?machine=sim1&command=machine-&limit=10",
                None,
            );
            println!("sim1 gone before level {l}: {}", why.body);
            add_machine(&admin, "sim1", &sim);
        }
        let mut run = fuzz(&s, &token, &l.to_string(), examples, phases, &records);
        // Debian 12's Python 3.11 can fail inside hypothesis while it describes a lambda
        // ("AST constructor recursion depth mismatch", CPython gh-106905): the tool
        // crashed, it found nothing. That level runs once more; a second crash fails.
        if !run.ok
            && run
                .output
                .contains("AST constructor recursion depth mismatch")
        {
            println!("level {l}: schemathesis crashed on CPython gh-106905; running it again");
            run = fuzz(&s, &token, &l.to_string(), examples, phases, &records);
        }
        let line = run
            .output
            .lines()
            .skip_while(|x| !x.starts_with("Test cases:"))
            .nth(1)
            .unwrap_or("no counts")
            .trim()
            .to_owned();
        counts.push(format!("level {l}: {line}"));
        if !run.ok {
            failed.push(format!("level {l}:\n{}", run.output));
        }
        l = ApiLevel::new(l.major, l.minor + 1);
    }
    println!("schemathesis:\n{}", counts.join("\n"));
    assert!(
        failed.is_empty(),
        "schemathesis found failures:\n{}",
        failed.join("\n")
    );
    // The machine was reached: its calls are in the audit log.
    let r = admin
        .at(&own.to_string())
        .call("GET", "/api/audit?machine=sim1&limit=1000", None);
    let reached = r
        .body
        .as_array()
        .map(|a| a.iter().filter(|x| x["outcome"] == "ok").count())
        .unwrap_or(0);
    assert!(
        reached > 10,
        "schemathesis hardly reached the machine: {r:?}"
    );
}

struct Fuzzed {
    ok: bool,
    output: String,
}

/// One schemathesis run over the document of `level`, with requests naming that level.
fn fuzz(
    s: &Server,
    token: &str,
    level: &str,
    examples: u32,
    phases: &str,
    records: &[u64],
) -> Fuzzed {
    let tool = tests::python_tool("schemathesis");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    // The machine routes get the real machine most of the time, so they reach handlers
    // and the BMC, not only 404s. A server error is a 500 (igord's fault) or a 503; 502
    // and 504 are a BMC's refusal and silence relayed, as documented (a FRU device the
    // simulator does not have is refused by it with a completion code).
    // SEL record ids are the simulator's, half of the time.
    let ids: Vec<String> = records.iter().map(u64::to_string).collect();
    std::fs::write(
        &config,
        format!(
            "[dictionaries.machines]\nvalues = [\"sim1\"]\n\n\
             [dictionaries.records]\nvalues = [{}]\n\n\
             [parameters]\n\"path.machine\" = {{ dictionary = \"machines\", probability = 0.9 }}\n\
             \"path.id\" = {{ dictionary = \"records\", probability = 0.5 }}\n\n\
             [checks.not_a_server_error]\nexpected-statuses = [\"2xx\", \"3xx\", \"4xx\", \"502\", \"504\"]\n",
            ids.join(", ")
        ),
    )
    .unwrap();
    let auth = format!("Authorization: Bearer {token}");
    let level_header = format!("Igor-Api-Level: {level}");
    let out = Command::new(&tool)
        .current_dir(dir.path())
        .env("SCHEMATHESIS_HOOKS", "")
        // tests/python/sitecustomize.py: CPython 3.11's ast crash inside hypothesis.
        .env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/python"))
        .args(["--config-file"])
        .arg(&config)
        .args([
            "run",
            &format!("{}/api/openapi.json?level={level}", s.url),
            "--url",
            &s.url,
            "-H",
            &auth,
            "-H",
            &level_header,
            "--checks",
            "all",
            // The frozen parameter schemas cannot say every rule a handler checks (a time
            // as RFC 3339 or an age, at least one change in a PUT, a BMC user where igord
            // has no default): such requests are refused with a documented 400, which this
            // check would count as a failure.
            "--exclude-checks",
            "positive_data_acceptance",
            "--phases",
            phases,
            "--max-examples",
            &examples.to_string(),
            "--seed",
            "1",
            "--request-timeout",
            "30",
            "--workers",
            "2",
            "--no-color",
        ])
        .output()
        .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{output}");
    Fuzzed {
        ok: out.status.success(),
        output,
    }
}

/// Every route of the REST view, as the declarations give them (`server::rest::routes`),
/// answers 401 without a token or with one igord does not know, before anything else; and
/// with a good token it reaches a handler (a 4xx about the placeholder values at most).
#[test]
fn every_rest_route_needs_a_token() {
    let (_db, s) = fresh(Backend::Sqlite);
    let good = format!("Bearer {}", s.admin());
    let registry = server::registry_at(None).unwrap();
    let routes = server::rest::routes(&registry);
    let operations: usize = routes.iter().map(|(_, v)| v.len()).sum();
    assert!(operations >= 27, "{operations} operations in {routes:?}");
    for (path, verbs) in routes {
        let concrete = path.replace("{id}", "1").replace(['{', '}'], "");
        for verb in verbs {
            let method = verb.as_str();
            let body = verb.has_body().then(|| json!({}));
            for bad in [None, Some("Bearer nonsense")] {
                let headers: Vec<(&str, &str)> =
                    bad.map(|b| vec![("Authorization", b)]).unwrap_or_default();
                let r = s.request(method, &concrete, &headers, body.as_ref());
                assert_eq!(
                    (r.status, r.code()),
                    (401, "unauthenticated"),
                    "{method} {concrete} with {bad:?}: {r:?}"
                );
                assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
            }
            let r = s.request(
                method,
                &concrete,
                &[("Authorization", &good)],
                body.as_ref(),
            );
            assert!(
                r.status != 401 && r.status < 500,
                "{method} {concrete} with a good token: {r:?}"
            );
        }
    }
}
