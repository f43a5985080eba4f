//! The published schema: fingerprint stability and sensitivity, conditional GET, export,
//! pinning of the served level.

use schema::{ApiLevel, SchemaDocument};
use serde_json::json;
use tests::db::{Backend, TestDb};
use tests::server::{Server, ServerOptions, fresh};

on_both_backends!(
    fingerprint_stable_across_restart_and_servers,
    conditional_get
);

fn fingerprint_stable_across_restart_and_servers(backend: Backend) {
    let db = TestDb::new(backend);
    let mut a = Server::start(&db);
    let doc: SchemaDocument = serde_json::from_value(a.get("/api/schema", &[]).body).unwrap();
    assert!(
        doc.verify(),
        "the served fingerprint matches the served content"
    );
    a.restart(&db, ServerOptions::default());
    let again = a.get("/api/schema", &[]);
    assert_eq!(again.body["fingerprint"], doc.fingerprint.as_str());
    // A second server on another database, same level: same fingerprint.
    let (_db2, b) = fresh(Backend::Sqlite);
    assert_eq!(
        b.get("/api/schema", &[]).body["fingerprint"],
        doc.fingerprint.as_str()
    );
    // And it is what `igord schema export` prints for that level.
    let out = std::process::Command::new(tests::bin("igord"))
        .args([
            "schema",
            "export",
            "--api-level",
            &doc.api_level.to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let exported: SchemaDocument = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(exported, doc);
}

fn conditional_get(backend: Backend) {
    let (_db, s) = fresh(backend);
    let first = s.get("/api/schema", &[]);
    assert_eq!(first.status, 200);
    let fp = first.body["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(first.header("ETag"), Some(format!("\"{fp}\"").as_str()));
    assert_eq!(first.header("Cache-Control"), Some("max-age=3600"));
    let quoted = format!("\"{fp}\"");
    let r = s.get("/api/schema", &[("If-None-Match", &quoted)]);
    assert_eq!(r.status, 304);
    assert_eq!(r.body, serde_json::Value::Null);
    assert_eq!(r.header("ETag"), Some(quoted.as_str()));
    let r = s.get("/api/schema", &[("If-None-Match", "\"sha256:0000\"")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["fingerprint"], fp.as_str());
}

/// The fingerprint depends on content only: changing one parameter of one command changes it.
#[test]
fn fingerprint_changes_with_parameters() {
    let level = server::own_level();
    let build = |specs| {
        server::registry::Registry::at_level(
            specs,
            server::commands::classes(),
            server::commands::TOPICS,
            level,
        )
        .unwrap()
        .document()
        .fingerprint
        .clone()
    };
    let base = build(server::commands::all());
    assert_eq!(base, build(server::commands::all()), "deterministic");
    let mut changed = server::commands::all();
    let spec = changed
        .iter_mut()
        .find(|s| s.name == "machine-add")
        .unwrap();
    spec.params["properties"]["bmc_port"]["default"] = json!(6230);
    assert_ne!(base, build(changed));
    let mut doc_only = server::commands::all();
    doc_only.iter_mut().find(|s| s.name == "ping").unwrap().doc = "Something else";
    assert_ne!(base, build(doc_only), "docs are content too");
}

#[test]
fn pinned_levels_and_refused_pins() {
    let db = TestDb::new(Backend::Sqlite);
    let pinned = Server::start_with(
        &db,
        ServerOptions {
            pin: Some("1.0".into()),
            ..Default::default()
        },
    );
    let ping = pinned.get("/api/ping", &[]);
    assert_eq!(ping.body["api_level"], "1.0");
    assert_eq!(ping.body["schema"], false);
    assert_eq!(ping.header("Igor-Api-Level"), Some("1.0"));
    assert_eq!(ping.header("Igor-Schema-Fingerprint"), None);
    assert_eq!(
        pinned.get("/api/schema", &[]).status,
        404,
        "1.0 has no schema endpoint"
    );
    let admin = pinned.admin();
    let r = pinned.rpc(&admin, "command-find", json!({}));
    assert_eq!(
        (r.status, r.message()),
        (404, "unknown command 'command-find'")
    );
    drop(pinned);
    let newest = server::own_level();
    let above = ApiLevel::new(newest.major, newest.minor + 1).to_string();
    for (bad, needle) in [
        (above.as_str(), "cannot serve API level"),
        ("0.9", "cannot serve API level"),
        ("one", "invalid API level"),
    ] {
        let out = std::process::Command::new(tests::bin("igord"))
            .args(["--listen", "127.0.0.1:0", "--pin-api-level", bad])
            .env("IGOR_DATA_DIR", tempfile::tempdir().unwrap().path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "pin {bad}: {err}"
        );
    }
}

#[test]
fn bad_configuration_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "listen = '127.0.0.1:0'\ndatabse_url = 'x'\n").unwrap();
    for (args, env, needle) in [
        (vec!["--config", cfg.to_str().unwrap()], None, "databse_url"),
        (
            vec!["--database", "mysql://x/y"],
            None,
            "unsupported database URL scheme",
        ),
        (
            vec![],
            Some(("IGOR_DATABASE_URL", "redis://u:pw123@h/0")),
            "unsupported database URL scheme",
        ),
        (vec!["--listen", "nowhere"], None, "invalid listen address"),
    ] {
        let mut cmd = std::process::Command::new(tests::bin("igord"));
        cmd.args(&args)
            .env("IGOR_DATA_DIR", dir.path())
            .env_remove("IGOR_DATABASE_URL");
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{args:?}: {err}"
        );
        assert!(!err.contains("pw123"), "a database password leaked: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
