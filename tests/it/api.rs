//! The HTTP API of igord: every route, authentication, CRUD of users, machines and
//! permissions, authorization, and that a BMC password never leaves the server.

use serde_json::{Value, json};
use tests::db::Backend;
use tests::server::{ADMIN_PASSWORD, Server, ServerOptions, fresh};

on_both_backends!(
    routes_need_credentials,
    login_logout_and_revocation,
    expired_token_is_refused,
    users_crud,
    machines_crud_and_secret_never_leaves,
    permissions_and_visibility,
    invalid_params_name_every_violation,
    deleting_removes_permissions,
    error_statuses_and_headers,
);

/// Every route of `server::http::ROUTES`: protected ones answer 401 without a token, with
/// a garbage token and with a revoked one; open ones answer without, and only ping, schema
/// and login are open.
fn routes_need_credentials(backend: Backend) {
    let open: Vec<String> = server::http::ROUTES
        .iter()
        .filter(|r| !r.auth)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        open,
        [
            "GET /api/ping",
            "GET /api/schema",
            "POST /api/login",
            "GET /api/openapi.json",
            "GET /ui",
            "GET /ui/",
            "GET /ui/{file}",
            "GET /ui/vendor/{file}"
        ],
        "only ping, schema, login, the OpenAPI document and the web UI's static files answer \
         without a token"
    );
    let (_db, s) = fresh(backend);
    let revoked = s.admin();
    let bearer = format!("Bearer {revoked}");
    assert_eq!(
        s.post("/api/logout", &[("Authorization", &bearer)], None)
            .status,
        204
    );
    for r in server::http::ROUTES {
        let body = json!({"command": "ping", "params": {}});
        let call = |headers: &[(&str, &str)]| match r.method {
            "GET" => s.get(r.path, headers),
            _ => s.post(r.path, headers, Some(&body)),
        };
        if r.auth {
            for bad in ["", "Bearer nonsense", "Basic YWRtaW46eA==", bearer.as_str()] {
                let resp = if bad.is_empty() {
                    call(&[])
                } else {
                    call(&[("Authorization", bad)])
                };
                assert_eq!(
                    resp.status, 401,
                    "{} {} with '{bad}': {resp:?}",
                    r.method, r.path
                );
                assert_eq!(resp.code(), "unauthenticated");
                assert_eq!(resp.header("WWW-Authenticate"), Some("Bearer"));
            }
            let good = format!("Bearer {}", s.admin());
            let resp = call(&[("Authorization", &good)]);
            // A route with a path variable answers for what it names: here no machine.
            let names_nothing = r.path.contains('{')
                && resp.status == 404
                && resp.message().starts_with("machine '");
            assert!(
                resp.status < 300 || names_nothing,
                "{} {} with a good token: {resp:?}",
                r.method,
                r.path
            );
        } else {
            let resp = call(&[]);
            assert_ne!(
                resp.status, 401,
                "{} {} must not need a token",
                r.method, r.path
            );
            // A route with a path variable answers for what it names: here no such file.
            let names_nothing = r.path.contains('{') && resp.message().starts_with("no file '");
            assert!(
                resp.status != 404 || names_nothing,
                "{} {} must exist: {resp:?}",
                r.method,
                r.path
            );
        }
    }
    // A path outside the list is a JSON 404, and a wrong method a 405.
    let r = s.get("/api/nothing", &[]);
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = s.get("/api/rpc", &[]);
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));
}

fn login_logout_and_revocation(backend: Backend) {
    let (_db, s) = fresh(backend);
    let r = s.login("admin", "wrong-password");
    assert_eq!((r.status, r.code()), (401, "login_failed"));
    let r = s.login("nobody", "whatever-password");
    assert_eq!((r.status, r.code()), (401, "login_failed"));
    assert_eq!(r.message(), "invalid user name or password");
    let r = s.post("/api/login", &[], Some(&json!({"user": "admin"})));
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    let ok = s.login("admin", ADMIN_PASSWORD);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["role"], "admin");
    assert!(ok.body["expires_at"].as_str().unwrap().ends_with('Z'));
    let token = ok.body["token"].as_str().unwrap().to_owned();
    assert_eq!(s.ok(&token, "ping", json!({}))["user"], "admin");
    let auth = format!("Bearer {token}");
    assert_eq!(
        s.post("/api/logout", &[("Authorization", &auth)], None)
            .status,
        204
    );
    assert_eq!(s.rpc(&token, "ping", json!({})).status, 401);
    // A disabled user cannot log in, and its live tokens stop working at once.
    let admin = s.admin();
    s.ok(
        &admin,
        "user-add",
        json!({"name": "bob", "password": "bob-password"}),
    );
    let bob = s.token("bob", "bob-password");
    s.ok(&admin, "user-mod", json!({"name": "bob", "enabled": false}));
    assert_eq!(s.rpc(&bob, "ping", json!({})).status, 401);
    assert_eq!(s.login("bob", "bob-password").status, 401);
    // A password change by an admin revokes the user's tokens.
    s.ok(&admin, "user-mod", json!({"name": "bob", "enabled": true}));
    let bob = s.token("bob", "bob-password");
    s.ok(
        &admin,
        "user-mod",
        json!({"name": "bob", "password": "new-bob-password"}),
    );
    assert_eq!(s.rpc(&bob, "ping", json!({})).status, 401);
    let bob = s.token("bob", "new-bob-password");
    let bobs_other_session = s.token("bob", "new-bob-password");
    // passwd needs the current password.
    let r = s.rpc(
        &bob,
        "passwd",
        json!({"current_password": "wrong-one!", "new_password": "third-password"}),
    );
    assert_eq!(r.status, 403);
    s.ok(
        &bob,
        "passwd",
        json!({"current_password": "new-bob-password", "new_password": "third-password"}),
    );
    assert_eq!(s.login("bob", "third-password").status, 200);
    // passwd ends every other session of the user (a stolen token, say), not its own.
    assert_eq!(s.rpc(&bob, "ping", json!({})).status, 200);
    assert_eq!(s.rpc(&bobs_other_session, "ping", json!({})).status, 401);
    // Disabling ends sessions for good: re-enabling does not bring old tokens back.
    let before = s.token("bob", "third-password");
    s.ok(&admin, "user-mod", json!({"name": "bob", "enabled": false}));
    s.ok(&admin, "user-mod", json!({"name": "bob", "enabled": true}));
    assert_eq!(s.rpc(&before, "ping", json!({})).status, 401);
    // A failed login never logs what was typed as the user name. Its log line is written
    // before the answer, so it is there to look at.
    let failed = |log: String| log.matches("login failed: no such user").count();
    let before = failed(s.log());
    assert_eq!(s.login("typed-a-password-here", "x").status, 401);
    let log = s.log();
    assert_eq!(
        failed(log.clone()),
        before + 1,
        "the failed login is logged: {log}"
    );
    assert!(!log.contains("typed-a-password-here"), "{log}");
}

fn expired_token_is_refused(backend: Backend) {
    let db = tests::db::TestDb::new(backend);
    let s = Server::start_with(
        &db,
        ServerOptions {
            // Expiry has whole-second resolution: 2 s leaves at least 1 s for the first call.
            config_toml: Some("token_ttl_secs = 2\n".into()),
            ..Default::default()
        },
    );
    let token = s.admin();
    assert_eq!(s.rpc(&token, "ping", json!({})).status, 200);
    // Honoured until it expires, then refused as expired: ask until it is refused.
    let waiting = std::time::Instant::now();
    let r = loop {
        let r = s.rpc(&token, "ping", json!({}));
        if r.status != 200 {
            break r;
        }
        assert!(
            waiting.elapsed() < std::time::Duration::from_secs(20),
            "a 2 s token still works after 20 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!((r.status, r.code()), (401, "token_expired"), "{r:?}");
    assert!(r.message().contains("log in again"), "{r:?}");
    assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
}

fn users_crud(backend: Backend) {
    let (_db, s) = fresh(backend);
    let admin = s.admin();
    let u = s.ok(
        &admin,
        "user-add",
        json!({"name": "alice", "password": "alice-password"}),
    );
    assert_eq!(
        (
            u["name"].as_str(),
            u["role"].as_str(),
            u["enabled"].as_bool()
        ),
        (Some("alice"), Some("user"), Some(true))
    );
    assert!(u.get("password").is_none() && u.get("password_hash").is_none());
    let r = s.rpc(
        &admin,
        "user-add",
        json!({"name": "alice", "password": "other-password"}),
    );
    assert_eq!((r.status, r.code()), (409, "conflict"));
    assert_eq!(r.message(), "user 'alice' already exists");
    let r = s.rpc(&admin, "user-show", json!({"name": "ghost"}));
    assert_eq!((r.status, r.message()), (404, "user 'ghost' not found"));
    let names = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&s.ok(&admin, "user-find", json!({}))),
        ["admin", "alice"]
    );
    assert_eq!(
        names(&s.ok(&admin, "user-find", json!({"criteria": "lic"}))),
        ["alice"]
    );
    let alice = s.token("alice", "alice-password");
    // A user sees only itself, and cannot manage users.
    assert_eq!(names(&s.ok(&alice, "user-find", json!({}))), ["alice"]);
    assert_eq!(
        s.rpc(&alice, "user-show", json!({"name": "admin"})).status,
        403
    );
    assert_eq!(
        s.ok(&alice, "user-show", json!({"name": "alice"}))["name"],
        "alice"
    );
    for (cmd, p) in [
        ("user-add", json!({"name": "x", "password": "xxxxxxxx"})),
        ("user-mod", json!({"name": "alice", "role": "admin"})),
        ("user-del", json!({"name": "admin"})),
    ] {
        let r = s.rpc(&alice, cmd, p);
        assert_eq!((r.status, r.code()), (403, "forbidden"), "{cmd}");
    }
    let u = s.ok(
        &admin,
        "user-mod",
        json!({"name": "alice", "role": "admin"}),
    );
    assert_eq!(u["role"], "admin");
    // No admin can lock itself out.
    let r = s.rpc(
        &admin,
        "user-mod",
        json!({"name": "admin", "enabled": false}),
    );
    assert_eq!(r.status, 409);
    let r = s.rpc(&admin, "user-del", json!({"name": "admin"}));
    assert_eq!(r.status, 409);
    let r = s.rpc(&admin, "user-mod", json!({"name": "alice"}));
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    assert_eq!(
        s.ok(&admin, "user-del", json!({"name": "alice"}))["deleted"],
        true
    );
    assert_eq!(
        s.rpc(&admin, "user-del", json!({"name": "alice"})).status,
        404
    );
    assert_eq!(
        s.rpc(&alice, "ping", json!({})).status,
        401,
        "a deleted user's token is dead"
    );
}

const BMC_SECRET: &str = "Zq8-bmc-Secret";

fn machines_crud_and_secret_never_leaves(backend: Backend) {
    let (db, s) = fresh(backend);
    let admin = s.admin();
    // The key and the folder holding it are the owner's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&s.data_dir), 0o700);
    assert_eq!(mode(&s.data_dir.join("secret.key")), 0o600);
    let add = json!({"name": "node01", "bmc_host": "127.0.1.1", "bmc_user": "ipmiusr",
        "bmc_password": BMC_SECRET, "description": "rack 4"});
    let mut bodies = vec![];
    let m = s.ok(&admin, "machine-add", add.clone());
    assert_eq!(m["bmc_port"], 623, "default port");
    assert_eq!(m["cipher_suite"], 3, "default cipher suite");
    assert_eq!(m["description"], "rack 4");
    bodies.push(m.to_string());
    let r = s.rpc(&admin, "machine-add", add);
    assert_eq!((r.status, r.code()), (409, "conflict"));
    bodies.push(r.body.to_string());
    bodies.push(
        s.ok(&admin, "machine-show", json!({"name": "node01"}))
            .to_string(),
    );
    bodies.push(s.ok(&admin, "machine-find", json!({})).to_string());
    let m = s.ok(
        &admin,
        "machine-mod",
        json!({"name": "node01", "bmc_port": 6230, "bmc_password": "Other-Secret-2"}),
    );
    assert_eq!(m["bmc_port"], 6230);
    bodies.push(m.to_string());
    // A violation on a sensitive parameter names the parameter, not the value.
    let too_long = format!("{BMC_SECRET}{BMC_SECRET}");
    let r = s.rpc(
        &admin,
        "machine-mod",
        json!({"name": "node01", "bmc_password": too_long}),
    );
    assert_eq!(r.status, 400);
    assert!(r.message().contains("bmc_password"), "{r:?}");
    bodies.push(r.body.to_string());
    bodies.push(
        s.ok(&admin, "param-find", json!({"command": "machine-add"}))
            .to_string(),
    );
    bodies.push(s.get("/api/schema", &[]).body.to_string());
    let r = s.rpc(&admin, "machine-show", json!({"name": "nope"}));
    assert_eq!((r.status, r.message()), (404, "machine 'nope' not found"));
    let r = s.rpc(&admin, "machine-mod", json!({"name": "node01"}));
    assert_eq!(r.status, 400);
    for b in &bodies {
        assert!(
            !b.contains(BMC_SECRET) && !b.contains("Other-Secret-2"),
            "secret in a response: {b}"
        );
    }
    let log = s.log();
    assert!(log.contains("machine-add/1"), "the log records calls");
    assert!(
        !log.contains(BMC_SECRET) && !log.contains("Other-Secret-2"),
        "secret in the log"
    );
    assert!(!log.contains(ADMIN_PASSWORD), "admin password in the log");
    // The database holds ciphertext only.
    if backend == Backend::Sqlite {
        let path = db.url().trim_start_matches("sqlite://").to_owned();
        let mut raw = std::fs::read(&path).unwrap();
        raw.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        let hay = String::from_utf8_lossy(&raw);
        assert!(
            !hay.contains(BMC_SECRET) && !hay.contains("Other-Secret-2"),
            "plaintext secret in the database file"
        );
    }
    assert_eq!(
        s.ok(&admin, "machine-del", json!({"name": "node01"}))["deleted"],
        true
    );
    assert_eq!(
        s.rpc(&admin, "machine-del", json!({"name": "node01"}))
            .status,
        404
    );
}

fn add_machine(s: &Server, admin: &str, name: &str) {
    s.ok(
        admin,
        "machine-add",
        json!({"name": name, "bmc_host": "127.0.1.9", "bmc_user": "u", "bmc_password": "p"}),
    );
}

fn permissions_and_visibility(backend: Backend) {
    let (_db, s) = fresh(backend);
    let admin = s.admin();
    for m in ["m1", "m2", "m3"] {
        add_machine(&s, &admin, m);
    }
    s.ok(
        &admin,
        "user-add",
        json!({"name": "carol", "password": "carol-password"}),
    );
    s.ok(
        &admin,
        "user-add",
        json!({"name": "dave", "password": "dave-password"}),
    );
    let p = s.ok(
        &admin,
        "permission-grant",
        json!({"user": "carol", "machine": "m1", "role": "viewer"}),
    );
    assert_eq!(
        p,
        json!({"user": "carol", "machine": "m1", "role": "viewer"})
    );
    s.ok(
        &admin,
        "permission-grant",
        json!({"user": "carol", "machine": "m2", "role": "operator"}),
    );
    s.ok(
        &admin,
        "permission-grant",
        json!({"user": "dave", "machine": "m3", "role": "operator"}),
    );
    let r = s.rpc(
        &admin,
        "permission-grant",
        json!({"user": "carol", "machine": "m1", "role": "operator"}),
    );
    assert_eq!((r.status, r.code()), (409, "conflict"));
    let r = s.rpc(
        &admin,
        "permission-grant",
        json!({"user": "ghost", "machine": "m1", "role": "viewer"}),
    );
    assert_eq!((r.status, r.message()), (404, "user 'ghost' not found"));
    let r = s.rpc(
        &admin,
        "permission-grant",
        json!({"user": "carol", "machine": "ghost", "role": "viewer"}),
    );
    assert_eq!((r.status, r.message()), (404, "machine 'ghost' not found"));
    let r = s.rpc(
        &admin,
        "permission-grant",
        json!({"user": "carol", "machine": "m3", "role": "owner"}),
    );
    assert_eq!((r.status, r.code()), (400, "invalid_params"));

    let carol = s.token("carol", "carol-password");
    let names = |v: Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(s.ok(&carol, "machine-find", json!({}))), ["m1", "m2"]);
    assert_eq!(
        names(s.ok(&admin, "machine-find", json!({}))),
        ["m1", "m2", "m3"]
    );
    assert_eq!(
        s.ok(&carol, "machine-show", json!({"name": "m1"}))["name"],
        "m1"
    );
    // Without permission, an existing and a missing machine look the same.
    let hidden = s.rpc(&carol, "machine-show", json!({"name": "m3"}));
    let missing = s.rpc(&carol, "machine-show", json!({"name": "zz"}));
    assert_eq!((hidden.status, hidden.code()), (403, "forbidden"));
    assert_eq!(
        hidden.message().replace("m3", "X"),
        missing.message().replace("zz", "X")
    );
    for (cmd, p) in [
        (
            "machine-add",
            json!({"name": "m9", "bmc_host": "h", "bmc_user": "u", "bmc_password": "p"}),
        ),
        ("machine-mod", json!({"name": "m1", "description": "x"})),
        ("machine-del", json!({"name": "m1"})),
        (
            "permission-grant",
            json!({"user": "carol", "machine": "m3", "role": "operator"}),
        ),
        (
            "permission-revoke",
            json!({"user": "carol", "machine": "m1"}),
        ),
    ] {
        assert_eq!(s.rpc(&carol, cmd, p).status, 403, "{cmd}");
    }
    let mine = s.ok(&carol, "permission-find", json!({}));
    assert_eq!(mine.as_array().unwrap().len(), 2);
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|p| p["user"] == "carol")
    );
    assert_eq!(
        s.rpc(&carol, "permission-find", json!({"user": "dave"}))
            .status,
        403
    );
    assert_eq!(
        s.ok(&admin, "permission-find", json!({}))
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        s.ok(&admin, "permission-find", json!({"machine": "m3"}))[0]["user"],
        "dave"
    );
    let p = s.ok(
        &admin,
        "permission-revoke",
        json!({"user": "carol", "machine": "m1"}),
    );
    assert_eq!(p["role"], "viewer");
    assert_eq!(
        s.rpc(
            &admin,
            "permission-revoke",
            json!({"user": "carol", "machine": "m1"})
        )
        .status,
        404
    );
    assert_eq!(names(s.ok(&carol, "machine-find", json!({}))), ["m2"]);
}

fn deleting_removes_permissions(backend: Backend) {
    let (_db, s) = fresh(backend);
    let admin = s.admin();
    add_machine(&s, &admin, "m1");
    add_machine(&s, &admin, "m2");
    s.ok(
        &admin,
        "user-add",
        json!({"name": "erin", "password": "erin-password"}),
    );
    s.ok(
        &admin,
        "user-add",
        json!({"name": "frank", "password": "frank-password"}),
    );
    s.ok(
        &admin,
        "permission-grant",
        json!({"user": "erin", "machine": "m1", "role": "viewer"}),
    );
    s.ok(
        &admin,
        "permission-grant",
        json!({"user": "erin", "machine": "m2", "role": "viewer"}),
    );
    s.ok(
        &admin,
        "permission-grant",
        json!({"user": "frank", "machine": "m1", "role": "operator"}),
    );
    s.ok(&admin, "machine-del", json!({"name": "m1"}));
    let left = s.ok(&admin, "permission-find", json!({}));
    assert_eq!(
        left,
        json!([{"user": "erin", "machine": "m2", "role": "viewer"}])
    );
    s.ok(&admin, "user-del", json!({"name": "erin"}));
    assert_eq!(s.ok(&admin, "permission-find", json!({})), json!([]));
    // A machine re-created under the same name does not inherit old permissions.
    add_machine(&s, &admin, "m1");
    assert_eq!(
        s.ok(&admin, "permission-find", json!({"machine": "m1"})),
        json!([])
    );
}

fn invalid_params_name_every_violation(backend: Backend) {
    let (_db, s) = fresh(backend);
    let admin = s.admin();
    let r = s.rpc(
        &admin,
        "machine-add",
        json!({"name": "bad name!", "bmc_port": 0, "cipher_suite": 9, "color": "red"}),
    );
    assert_eq!((r.status, r.code()), (400, "invalid_params"));
    let violations = r.body["error"]["details"]["violations"].as_array().unwrap();
    let text = r.message();
    for needle in [
        "bmc_host",
        "bmc_user",
        "bmc_password",
        "name",
        "bmc_port",
        "cipher_suite",
        "color",
    ] {
        assert!(text.contains(needle), "'{needle}' not named in: {text}");
    }
    assert!(violations.len() >= 6, "{violations:?}");
    // Nothing was written.
    assert_eq!(s.ok(&admin, "machine-find", json!({})), json!([]));
    let r = s.rpc(
        &admin,
        "user-add",
        json!({"name": "u", "password": "Qx7zP"}),
    );
    assert!(r.message().contains("password"), "{r:?}");
    assert!(
        !r.body.to_string().contains("Qx7zP"),
        "sensitive value echoed: {r:?}"
    );
    let r = s.rpc(&admin, "ping", json!([1, 2]));
    assert_eq!(r.status, 400);
    let auth = format!("Bearer {admin}");
    let r = s.post(
        "/api/rpc",
        &[("Authorization", &auth)],
        Some(&json!({"params": {}})),
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"));
}

fn error_statuses_and_headers(backend: Backend) {
    let (_db, s) = fresh(backend);
    let admin = s.admin();
    for (command, message) in [
        ("ping/2", "unknown command 'ping/2'"),
        ("nosuch", "unknown command 'nosuch'"),
        ("nosuch/3", "unknown command 'nosuch/3'"),
        ("Bad Name", "unknown command 'Bad Name'"),
    ] {
        let r = s.rpc(&admin, command, json!({}));
        assert_eq!(
            (r.status, r.code(), r.message()),
            (404, "unknown_command", message)
        );
    }
    // Unversioned means version 1; explicit /1 is the same command.
    assert_eq!(
        s.ok(&admin, "ping", json!({}))["api_level"],
        s.ok(&admin, "ping/1", json!({}))["api_level"]
    );
    let level = server::own_level().to_string();
    let fp = s.get("/api/schema", &[]).body["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    for r in [
        s.get("/api/ping", &[]),
        s.rpc(&admin, "nosuch", json!({})),
        s.login("x", "y"),
        s.get("/api/x", &[]),
    ] {
        assert_eq!(r.header("Igor-Api-Level"), Some(level.as_str()), "{r:?}");
        assert_eq!(
            r.header("Igor-Schema-Fingerprint"),
            Some(fp.as_str()),
            "{r:?}"
        );
    }
}
