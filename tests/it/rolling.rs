//! A rolling upgrade: replicas at different levels on one PostgreSQL database, and a client
//! that is sent to one and then the other (the test's TCP relay stands in for whatever
//! balances the replicas). The client learns of each switch from the fingerprint header,
//! refreshes its schema once, and keeps working; replicas pinned to one level publish one
//! fingerprint, the bundled one.

use serde_json::json;
use tests::cli::{CountingProxy, Igor};
use tests::db::{Backend, TestDb};
use tests::server::{ADMIN_PASSWORD, Server, ServerOptions};
use tests::sim::SimBmc;

fn replica(db: &TestDb, pin: Option<&str>) -> Server {
    Server::start_with(
        db,
        ServerOptions {
            pin: pin.map(str::to_owned),
            // Replicas share the database, so they must share the key of its BMC passwords.
            env: vec![("IGOR_SECRET_KEY".into(), "ab".repeat(32))],
            ..Default::default()
        },
    )
}

fn schema_gets(requests: &[String]) -> usize {
    requests
        .iter()
        .filter(|r| r.starts_with("GET /api/schema"))
        .count()
}

#[test]
fn rolling_upgrade_on_one_postgresql_database() {
    let db = TestDb::new(Backend::Postgres);
    let new = replica(&db, None);
    let old = replica(&db, Some("1.1"));
    let old_too = replica(&db, Some("1.1"));
    let fp = |s: &Server| {
        s.get("/api/schema", &[]).body["fingerprint"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let bundled_1_1 = schema_compat::bundled()
        .into_iter()
        .find(|d| d.api_level.to_string() == "1.1")
        .unwrap()
        .fingerprint;
    assert_eq!(
        fp(&old),
        fp(&old_too),
        "two replicas pinned to one level: one fingerprint"
    );
    assert_eq!(fp(&old), bundled_1_1, "and it is the bundled level's");
    assert_ne!(fp(&old), fp(&new));

    let sim = SimBmc::start_new();
    let proxy = CountingProxy::new(&new.url);
    let igor = Igor::new(&proxy.url);
    igor.login("admin", ADMIN_PASSWORD);
    igor.add_machine("m1", &sim);
    let r = igor.ok(&["-v", "power-status", "m1"]);
    assert!(
        r.stderr.contains("forwarding 'power-status/2'"),
        "the new replica offers the bulk version: {r}"
    );
    proxy.take();

    // To the old replica: the answer's fingerprint differs, so the client refreshes once.
    proxy.set_upstream(&old.url);
    igor.ok(&["ping"]);
    let seen = proxy.take();
    assert_eq!(schema_gets(&seen), 1, "{seen:?}");
    let r = igor.ok(&["-v", "power-status", "m1"]);
    assert!(r.stderr.contains("forwarding 'power-status/1'"), "{r}");
    assert_eq!(
        schema_gets(&proxy.take()),
        0,
        "the refreshed cache is current"
    );
    // The old replica sees the machine the new one wrote, and decrypts its BMC password.
    assert!(r.stdout.contains("off"), "{r}");

    // Back to the new replica.
    proxy.set_upstream(&new.url);
    igor.ok(&["power-status", "m1"]);
    assert_eq!(schema_gets(&proxy.take()), 1);
    let r = igor.ok(&["-v", "power-status", "m1"]);
    assert!(r.stderr.contains("forwarding 'power-status/2'"), "{r}");

    // The hard case: the cache says 1.3, the replica is 1.1, and the default version the
    // client chose does not exist there. The call had no effect, so the client runs it
    // again with the replica's schema, once, and succeeds.
    proxy.set_upstream(&old.url);
    let r = igor.ok(&["-v", "power-status", "m1"]);
    assert!(r.stderr.contains("running 'power-status' again"), "{r}");
    assert!(r.stderr.contains("forwarding 'power-status/1'"), "{r}");
    // A version the user named is never changed behind its back.
    proxy.set_upstream(&new.url);
    igor.ok(&["ping"]);
    proxy.set_upstream(&old.url);
    let r = igor.run(&["power-status/2", "m1"]);
    r.code(1);
    assert!(r.stderr.contains("unknown command 'power-status/2'"), "{r}");

    // Both replicas serve the same data.
    let admin_new = new.admin();
    let admin_old = old.admin();
    assert_eq!(
        new.ok(&admin_new, "machine-find", json!({})),
        old.ok(&admin_old, "machine-find", json!({}))
    );
}
