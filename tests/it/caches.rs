//! Tokens and machine lookups are cached in memory on every replica; a change on one
//! replica empties the caches of all of them at once (PostgreSQL NOTIFY at commit), and a
//! replica that cannot hear the others does not cache.

use std::time::{Duration, Instant};

use serde_json::json;
use tests::db::{Backend, TestDb};
use tests::server::{Server, ServerOptions};

fn replica(db: &TestDb) -> Server {
    Server::start_with(
        db,
        ServerOptions {
            env: vec![
                ("IGOR_SECRET_KEY".into(), "cd".repeat(32)),
                ("IGOR_LOG".into(), "info".into()),
            ],
            ..Default::default()
        },
    )
}

/// Waits (bounded) until `cond` holds; the caches' TTL is minutes, so anything that
/// holds within this bound came through the notification.
fn within_a_second(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within a second");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_change_on_one_replica_reaches_the_caches_of_the_others() {
    let db = TestDb::new(Backend::Postgres);
    let (a, b) = (replica(&db), replica(&db));
    let admin = a.admin();
    a.ok(
        &admin,
        "user-add",
        json!({"name": "bob", "password": "bob-password"}),
    );
    a.ok(
        &admin,
        "machine-add",
        json!({"name": "m1", "bmc_host": "127.0.0.1", "bmc_port": 9,
               "bmc_user": "u", "bmc_password": "p"}),
    );
    a.ok(
        &admin,
        "permission-grant",
        json!({"user": "bob", "machine": "m1", "role": "viewer"}),
    );
    let bob = a.token("bob", "bob-password");
    // Warm B's caches: bob's token and his lookup of m1.
    for _ in 0..3 {
        assert_eq!(
            b.rpc(&bob, "machine-show", json!({"name": "m1"})).status,
            200
        );
    }

    // A revoke on A: B refuses bob at once, though its cached row said viewer.
    a.ok(
        &admin,
        "permission-revoke",
        json!({"user": "bob", "machine": "m1"}),
    );
    within_a_second("B sees the revoke", || {
        b.rpc(&bob, "machine-show", json!({"name": "m1"})).status == 403
    });
    // A new machine on A is found on B (no cached "no such machine" survives it).
    assert_eq!(
        b.rpc(&admin, "machine-show", json!({"name": "m2"})).status,
        404
    );
    a.ok(
        &admin,
        "machine-add",
        json!({"name": "m2", "bmc_host": "127.0.0.1", "bmc_port": 9,
               "bmc_user": "u", "bmc_password": "p"}),
    );
    within_a_second("B sees the new machine", || {
        b.rpc(&admin, "machine-show", json!({"name": "m2"})).status == 200
    });

    // Logout on A: B, which has the token cached, refuses it.
    assert_eq!(b.rpc(&bob, "machine-find", json!({})).status, 200);
    let r = a.post(
        "/api/logout",
        &[("Authorization", &format!("Bearer {bob}"))],
        None,
    );
    assert_eq!(r.status, 204, "{r:?}");
    within_a_second("B sees the logout", || {
        b.rpc(&bob, "machine-find", json!({})).status == 401
    });

    // B's listener loses its connection: until it listens again B caches nothing, and a
    // change made meanwhile (its notification unheard by B) is honoured all the same.
    let carol = {
        a.ok(
            &admin,
            "user-add",
            json!({"name": "carol", "password": "carol-password"}),
        );
        a.token("carol", "carol-password")
    };
    assert_eq!(b.rpc(&carol, "machine-find", json!({})).status, 200);
    let killed_before = b
        .log()
        .matches("change listener lost its connection")
        .count();
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'igord-listen'",
    );
    within_a_second("B notices its listener is gone", || {
        b.log()
            .matches("change listener lost its connection")
            .count()
            > killed_before
    });
    a.ok(
        &admin,
        "user-mod",
        json!({"name": "carol", "enabled": false}),
    );
    assert_eq!(
        b.rpc(&carol, "machine-find", json!({})).status,
        401,
        "B must not answer from a cache it could not keep current"
    );
}
