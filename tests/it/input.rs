//! Hostile and careless input against the real igord (and igor): overlong searches, LIKE
//! wildcards, control characters, hostrange sizes and selector caps. Nothing a client sends
//! is answered 500, and no message carries a control character back.

use serde_json::{Value, json};
use tests::cli::Igor;
use tests::db::Backend;
use tests::server::{ADMIN_PASSWORD, Reply, fresh};
use tests::sim::SimBmc;

on_both_backends!(
    long_searches_are_refused_with_the_limit,
    like_wildcards_match_themselves,
    control_characters_are_refused,
    hostrange_sizes_add_and_selectors_are_capped,
    params_that_are_not_what_their_schema_says,
);

/// What the JSON Schema allows is what the command takes (`5.0` is an integer there, so
/// it is one here, never a 500); an unknown parameter is named; `params` is an object.
fn params_that_are_not_what_their_schema_says(backend: Backend) {
    let (_db, s) = fresh(backend);
    let admin = s.admin();
    let rows = s.ok(&admin, "audit-find", json!({"limit": 2.0}));
    assert!(rows.as_array().is_some_and(|r| r.len() <= 2), "{rows}");
    let r = s.rpc(&admin, "audit-find", json!({"limit": 2.5}));
    assert_eq!((r.status, r.code()), (400, "invalid_params"), "{r:?}");

    let r = s.rpc(&admin, "ping/1", json!({"x": 1}));
    assert_eq!((r.status, r.code()), (400, "invalid_params"), "{r:?}");
    assert!(
        r.message()
            .contains("x: is not a parameter; ping/1 takes no parameters"),
        "{r:?}"
    );
    let r = s.rpc(&admin, "machine-show", json!({"name": "m", "nmae": "m"}));
    assert_eq!((r.status, r.code()), (400, "invalid_params"), "{r:?}");
    assert!(r.message().contains("nmae"), "{r:?}");
    assert!(r.message().contains("takes: name"), "{r:?}");

    let auth = format!("Bearer {admin}");
    for (params, kind) in [
        (Value::Null, "null"),
        (json!([1]), "an array"),
        (json!("x"), "a string"),
    ] {
        let r = s.post(
            "/api/rpc",
            &[("Authorization", &auth)],
            Some(&json!({"command": "ping/1", "params": params})),
        );
        assert_eq!((r.status, r.code()), (400, "bad_request"), "{r:?}");
        assert!(
            r.message()
                .contains(&format!("'params' must be a JSON object, not {kind}")),
            "{r:?}"
        );
    }
    // Absent is the empty object.
    let r = s.post(
        "/api/rpc",
        &[("Authorization", &auth)],
        Some(&json!({"command": "ping/1"})),
    );
    assert_eq!(r.status, 200, "{r:?}");
}

/// An answer refusing `param` with 400 invalid_params and `needle` in its message, which is
/// short and free of control characters whatever was sent.
fn refused(r: &Reply, param: &str, needle: &str) {
    assert_eq!((r.status, r.code()), (400, "invalid_params"), "{r:?}");
    let m = r.message();
    assert!(
        m.contains(&format!("{param}: ")) && m.contains(needle),
        "{param} / {needle}: {m}"
    );
    assert!(m.len() < 400, "the message echoes the value: {m}");
    assert!(!m.chars().any(char::is_control), "{m:?}");
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect()
}

/// F5: a 50,000-character search was SQLite's LIKE limit and a 500. The released versions
/// now refuse over 4096 characters at the server; the 1.4 versions publish tighter bounds.
fn long_searches_are_refused_with_the_limit(backend: Backend) {
    let (_db, s) = fresh(backend);
    let admin = s.admin();
    let long = "a".repeat(50_000);
    for (command, param) in [
        ("user-find", "criteria"),
        ("machine-find", "criteria"),
        ("audit-find", "user"),
        ("audit-find", "machine"),
        ("audit-find", "command"),
    ] {
        let r = s.rpc(&admin, command, json!({ param: long }));
        refused(
            &r,
            param,
            "is 50000 characters long; at most 4096 are allowed",
        );
    }
    // At the cap the search runs, on both backends, even when every character is escaped.
    for text in ["a".repeat(4096), "%".repeat(4096), "\\_".repeat(2048)] {
        for command in ["user-find", "machine-find"] {
            let found = s.ok(&admin, command, json!({ "criteria": text }));
            assert_eq!(found, json!([]), "{command}");
        }
        let found = s.ok(&admin, "audit-find", json!({ "command": text }));
        assert_eq!(found, json!([]));
    }
    // The 1.4 versions publish the bounds, and the server applies them.
    let schema = s.get("/api/schema", &[]).body;
    for (command, param, limit) in [
        ("user-find/2", "criteria", 64),
        ("machine-find/2", "criteria", 63),
        ("audit-find/2", "user", 64),
        ("audit-find/2", "command", 64),
        ("audit-find/2", "machine", 4096),
    ] {
        let r = s.rpc(&admin, command, json!({ param: "b".repeat(limit + 1) }));
        refused(&r, param, &format!("is longer than {limit} characters"));
        let r = s.rpc(&admin, command, json!({ param: long }));
        refused(&r, param, &format!("is longer than {limit} characters"));
        s.ok(&admin, command, json!({ param: "b".repeat(limit) }));
        let published = schema["commands"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["full_name"] == command)
            .unwrap_or_else(|| panic!("{command} is not published"));
        assert_eq!(
            published["params"]["properties"][param]["maxLength"], limit,
            "{command}"
        );
    }
}

/// F5: `_`, `%` and `\` in a search match themselves, on both backends.
fn like_wildcards_match_themselves(backend: Backend) {
    let (_db, s) = fresh(backend);
    let admin = s.admin();
    for name in ["a_b", "axb", "a.b"] {
        s.ok(
            &admin,
            "user-add",
            json!({"name": name, "password": "some-password"}),
        );
        s.ok(
            &admin,
            "machine-add",
            json!({"name": name, "bmc_host": "10.0.0.1", "bmc_user": "ADMIN", "bmc_password": "pw"}),
        );
    }
    for version in ["", "/2"] {
        for (criteria, want) in [
            ("a_b", vec!["a_b"]),
            ("_", vec!["a_b"]),
            ("%", vec![]),
            ("a%b", vec![]),
            ("\\", vec![]),
            ("x", vec!["axb"]),
        ] {
            let users = s.ok(
                &admin,
                &format!("user-find{version}"),
                json!({ "criteria": criteria }),
            );
            assert_eq!(names(&users), want, "user-find{version} {criteria}");
            let machines = s.ok(
                &admin,
                &format!("machine-find{version}"),
                json!({ "criteria": criteria }),
            );
            assert_eq!(names(&machines), want, "machine-find{version} {criteria}");
        }
        let count = |prefix: &str| {
            s.ok(
                &admin,
                &format!("audit-find{version}"),
                json!({ "command": prefix }),
            )
            .as_array()
            .unwrap()
            .len()
        };
        assert_eq!(count("user-add/"), 3, "audit-find{version}");
        assert_eq!(
            count("user_add"),
            0,
            "audit-find{version}: '_' is no wildcard"
        );
        assert_eq!(count("%"), 0, "audit-find{version}: '%' is no wildcard");
    }
}

/// F13: control characters in names, hosts and users, and in descriptions beyond tab and
/// newline, are refused by every version, the released ones at the server and the 1.4 ones
/// in their published schemas too; no answer carries them back.
fn control_characters_are_refused(backend: Backend) {
    let (_db, s) = fresh(backend);
    let admin = s.admin();
    let add = |version: &str, field: &str, value: &str| {
        let mut p = json!({"name": "node01", "bmc_host": "10.0.0.1", "bmc_user": "ADMIN",
            "bmc_password": "pw"});
        p[field] = Value::String(value.to_owned());
        s.rpc(&admin, &format!("machine-add{version}"), p)
    };
    for version in ["", "/2"] {
        let r = add(version, "bmc_host", "evil\u{1b}[2J");
        refused(&r, "bmc_host", "contains the control character \\x1b");
        let r = add(version, "bmc_user", "ADMIN\0");
        refused(&r, "bmc_user", "contains the control character \\x00");
        let r = add(version, "description", "over\rwrite");
        refused(
            &r,
            "description",
            "contains the control character \\x0d; only tabs and newlines are allowed",
        );
        let r = add(version, "name", "node\u{1b}");
        refused(&r, "name", "contains the control character \\x1b");
        let r = s.rpc(
            &admin,
            &format!("machine-mod{version}"),
            json!({"name": "node01", "bmc_user": "a\u{9b}b"}),
        );
        refused(&r, "bmc_user", "contains the control character \\x9b");
    }
    let m = s.ok(
        &admin,
        "machine-add/2",
        json!({"name": "node01", "bmc_host": "10.0.0.1", "bmc_user": "ADMIN",
            "bmc_password": "pw", "description": "rack 4\nslot 2\tleft"}),
    );
    assert_eq!(m["description"], "rack 4\nslot 2\tleft");
    let m = s.ok(
        &admin,
        "machine-mod",
        json!({"name": "node01", "description": "tab\there"}),
    );
    assert_eq!(m["description"], "tab\there");
    // Names other commands look up, and the command name itself, are not echoed raw.
    let r = s.rpc(
        &admin,
        "power-status",
        json!({"machine": "\u{1b}]0;pwned\u{7}"}),
    );
    refused(&r, "machine", "contains the control character \\x1b");
    let r = s.rpc(&admin, "user-show", json!({"name": "x\u{1b}[2J"}));
    refused(&r, "name", "contains the control character \\x1b");
    let r = s.rpc(
        &admin,
        "power-status/2",
        json!({"machines": ["ok", "n\u{1b}*"]}),
    );
    refused(&r, "machines/1", "contains the control character \\x1b");
    let r = s.rpc(&admin, "\u{1b}[2Jping", json!({}));
    assert_eq!(
        (r.status, r.message()),
        (404, "unknown command '\\x1b[2Jping'")
    );
    // Secrets are bounded in length only, and never described.
    let r = s.rpc(
        &admin,
        "user-add",
        json!({"name": "carol", "password": "pass\u{1b}word"}),
    );
    assert_eq!(r.status, 200, "{r:?}");

    // The real igor shows the refusal, escaped, and exits 1.
    let igor = Igor::new(&s.url);
    igor.login("admin", ADMIN_PASSWORD);
    let run = igor.run_stdin(
        &[
            "machine-add",
            "node02",
            "--bmc-host",
            "10.0.0.2",
            "--bmc-user",
            "ADMIN\u{1b}[8m",
            "--bmc-password-stdin",
        ],
        "pw\n",
    );
    run.code(1);
    assert!(
        run.stderr
            .contains("bmc_user: contains the control character \\x1b"),
        "{run}"
    );
    assert!(!run.stderr.contains('\u{1b}'), "{run}");
}

/// F12 and F14: `a[1-101],b[1-100]` is 201 names (sizes add), and the number of globs per
/// call is capped, with a call at the cap resolved correctly.
fn hostrange_sizes_add_and_selectors_are_capped(backend: Backend) {
    let sim = SimBmc::start_new();
    let (_db, s) = fresh(backend);
    let admin = s.admin();
    s.ok(
        &admin,
        "machine-add",
        json!({"name": "node01", "bmc_host": sim.host, "bmc_port": sim.port,
            "bmc_user": sim.user, "bmc_password": sim.password}),
    );
    let items = |r: &Reply| -> Vec<Value> {
        assert_eq!(r.status, 200, "{r:?}");
        let text = r
            .body
            .as_str()
            .map(str::to_owned)
            .unwrap_or(r.body.to_string());
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect()
    };
    let lines = items(&s.rpc(
        &admin,
        "power-status/2",
        json!({"machines": ["a[1-101],b[1-100]"]}),
    ));
    assert_eq!(lines[0], json!({"total": 201}));
    let missing = lines
        .iter()
        .filter(|l| l["item"]["error"]["code"] == "not_found")
        .count();
    assert_eq!(missing, 201);
    let r = s.rpc(
        &admin,
        "power-status/2",
        json!({"machines": ["a[1-5000],b[1-5001]"]}),
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"), "{r:?}");
    assert!(r.message().contains("names 10001 machines"), "{r:?}");

    // One glob over the cap is refused before any work; at the cap every glob is matched.
    let globs = |n: usize| -> Vec<String> {
        std::iter::once("node0*".to_owned())
            .chain((1..n).map(|i| format!("none-{i}-*")))
            .collect()
    };
    let r = s.rpc(&admin, "power-status/2", json!({ "machines": globs(1001) }));
    assert_eq!((r.status, r.code()), (400, "bad_request"), "{r:?}");
    assert!(
        r.message()
            .contains("1001 globs given; at most 1000 globs per call"),
        "{r:?}"
    );
    let lines = items(&s.rpc(&admin, "power-status/2", json!({ "machines": globs(1000) })));
    assert_eq!(lines[0], json!({"total": 1000}));
    let item_of = |machine: &str| {
        lines
            .iter()
            .find(|l| l["item"]["machine"] == machine)
            .unwrap_or_else(|| panic!("{machine} missing"))["item"]
            .clone()
    };
    assert_eq!(item_of("node01")["result"]["power"], "off");
    assert_eq!(item_of("none-999-*")["error"]["code"], "not_found");
    assert_eq!(lines.last().unwrap()["failed"], 999, "{:?}", lines.last());
    // The server still answers, and logged no internal error for any of this.
    assert_eq!(s.get("/api/ping", &[]).status, 200);
    assert!(!s.log().contains("internal error"), "{}", s.log());
}
