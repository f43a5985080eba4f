//! What it takes to put igord on a network: HTTPS, and the findings of an abuse probe, one
//! test each: the last admin under races, login throttling and memory under a login flood,
//! slow bodies and connection caps, concurrent writers, audit floods and work budgets,
//! file modes, JSON errors everywhere, and a change committed with its audit row.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::db::{Backend, TestDb};
use tests::server::{ADMIN_PASSWORD, Server, ServerOptions, fresh};

on_both_backends!(
    https_with_the_generated_certificate,
    last_admin_survives_races,
    admin_reset_recovers_offline,
    failed_logins_are_throttled_and_audited,
    concurrent_writes_never_fail,
    bulk_calls_audit_one_row_and_spend_a_budget,
    a_change_commits_with_its_audit_row,
);

/// A raw HTTP/1.1 exchange from a chosen loopback source address (igord throttles per
/// address, so the tests need more than one): writes `request`, reads until igord closes
/// or `Connection: close` ends the answer. Returns the status and the body.
fn raw_from(src: &str, port: u16, request: &[u8]) -> (u16, String) {
    let stream = connect_from(src, port);
    exchange(stream, request)
}

fn connect_from(src: &str, port: u16) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let src: SocketAddr = format!("{src}:0").parse().expect("source address");
    socket.bind(&src.into()).expect("bind the source address");
    let dst: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    socket.connect(&dst.into()).expect("connect to igord");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream
}

fn exchange(mut stream: TcpStream, request: &[u8]) -> (u16, String) {
    stream.write_all(request).expect("send the request");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    parse_answer(&answer)
}

fn parse_answer(answer: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (
        status,
        format!("{}\n{body}", text.lines().collect::<Vec<_>>().join("\n")),
    )
}

fn post(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: igord\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn login_body(user: &str, password: &str) -> String {
    json!({"user": user, "password": password}).to_string()
}

fn tls_server(db: &TestDb) -> Server {
    Server::start_with(
        db,
        ServerOptions {
            tls: true,
            ..Default::default()
        },
    )
}

/// HTTPS is the default: igord generates a self-signed certificate on first start (key
/// 0600), logs its fingerprint, `igord tls-fingerprint` prints the same, a restart reuses
/// it, and plain HTTP to the HTTPS port gets no answer that could carry a token.
fn https_with_the_generated_certificate(backend: Backend) {
    let db = TestDb::new(backend);
    let mut s = tls_server(&db);
    assert!(s.url.starts_with("https://"), "{}", s.url);
    let token = s.admin();
    let r = s.rpc(&token, "user-show", json!({"name": "admin"}));
    assert_eq!(r.status, 200, "{r:?}");
    let key = s.data_dir.join("tls-key.pem");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", key.display());

    let printed = std::process::Command::new(tests::bin("igord"))
        .arg("tls-fingerprint")
        .arg("--data-dir")
        .arg(&s.data_dir)
        .output()
        .unwrap();
    assert!(printed.status.success(), "{printed:?}");
    let fingerprint = String::from_utf8(printed.stdout).unwrap().trim().to_owned();
    assert!(
        fingerprint.starts_with("sha256:") && fingerprint.len() == 7 + 64,
        "{fingerprint}"
    );
    assert!(
        s.log().contains(&format!("fingerprint {fingerprint}")),
        "the start-up log names the fingerprint: {}",
        s.log()
    );

    // Plain HTTP to the TLS port: no HTTP answer, and igord goes on serving.
    let (_, port) = s.url.rsplit_once(':').unwrap();
    let mut plain = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET /api/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(
        !got.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(s.get("/api/ping", &[]).status, 200);

    s.restart(
        &db,
        ServerOptions {
            tls: true,
            ..Default::default()
        },
    );
    let log = s.log();
    assert_eq!(
        log.matches("igord: generated a self-signed TLS certificate")
            .count(),
        1,
        "a restart reuses the certificate: {log}"
    );
    let logged = log
        .lines()
        .filter(|l| l.contains("TLS certificate") && l.contains(&fingerprint))
        .count();
    assert!(logged >= 2, "every start logs the fingerprint: {log}");
    assert_eq!(s.get("/api/ping", &[]).status, 200);
}

/// F1: two admins demoting, disabling or deleting each other at the same moment never
/// leave no enabled admin: exactly one of the two changes wins, every round.
fn last_admin_survives_races(backend: Backend) {
    let (_db, s) = fresh(backend);
    let root = s.admin();
    s.ok(
        &root,
        "user-add",
        json!({"name": "second", "password": "second-password", "role": "admin"}),
    );
    let password = |name: &str| {
        if name == "admin" {
            ADMIN_PASSWORD.to_owned()
        } else {
            "second-password".to_owned()
        }
    };
    let ops = ["demote", "disable", "delete"];
    for round in 0..12 {
        let op = ops[round % ops.len()];
        let (a, b) = (
            s.token("admin", ADMIN_PASSWORD),
            s.token("second", "second-password"),
        );
        let barrier = std::sync::Barrier::new(2);
        let act = |token: &str, other: &str| {
            barrier.wait();
            match op {
                "demote" => s.rpc(token, "user-mod", json!({"name": other, "role": "user"})),
                "disable" => s.rpc(token, "user-mod", json!({"name": other, "enabled": false})),
                _ => s.rpc(token, "user-del", json!({"name": other})),
            }
        };
        let (ra, rb) = std::thread::scope(|sc| {
            let ha = sc.spawn(|| act(&a, "second"));
            let hb = sc.spawn(|| act(&b, "admin"));
            (ha.join().unwrap(), hb.join().unwrap())
        });
        let wins = [&ra, &rb].iter().filter(|r| r.status == 200).count();
        assert_eq!(wins, 1, "round {round} ({op}): {ra:?} / {rb:?}");
        for r in [&ra, &rb].iter().filter(|r| r.status != 200) {
            assert!(
                matches!(r.code(), "conflict" | "forbidden" | "unauthenticated"),
                "round {round} ({op}): {r:?}"
            );
        }
        // The survivor is the one whose call won; it is the only enabled admin.
        let (survivor, loser) = if ra.status == 200 {
            ("admin", "second")
        } else {
            ("second", "admin")
        };
        let t = s.token(survivor, &password(survivor));
        let users = s.ok(&t, "user-find", json!({}));
        let admins: Vec<&Value> = users
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["role"] == "admin" && u["enabled"] == true)
            .collect();
        assert_eq!(admins.len(), 1, "round {round} ({op}): {users}");
        assert_eq!(admins[0]["name"], survivor);
        // Put the loser back as an enabled admin for the next round.
        if op == "delete" {
            s.ok(
                &t,
                "user-add",
                json!({"name": loser, "password": password(loser), "role": "admin"}),
            );
        } else {
            s.ok(
                &t,
                "user-mod",
                json!({"name": loser, "role": "admin", "enabled": true}),
            );
        }
    }
    // And the last admin cannot remove itself by another road either.
    let t = s.token("admin", ADMIN_PASSWORD);
    s.ok(&t, "user-del", json!({"name": "second"}));
    let r = s.rpc(&t, "user-mod", json!({"name": "admin", "role": "user"}));
    assert_eq!(r.status, 409, "{r:?}");
}

/// The documented recovery: `igord admin-reset NAME` on the server machine gives NAME the
/// admin role, enables it, sets the password from stdin and revokes its tokens.
fn admin_reset_recovers_offline(backend: Backend) {
    let db = TestDb::new(backend);
    let mut s = Server::start(&db);
    let root = s.admin();
    s.ok(
        &root,
        "user-add",
        json!({"name": "ops", "password": "ops-password"}),
    );
    let old = s.token("ops", "ops-password");
    s.stop();
    let run = |args: &[&str], stdin: &str| {
        let mut child = std::process::Command::new(tests::bin("igord"))
            .args(args)
            .arg("--data-dir")
            .arg(&s.data_dir)
            .env("IGOR_DATABASE_URL", db.url())
            .env_remove("IGOR_ADMIN_PASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(
        &["admin-reset", "ops", "--password-stdin"],
        "recovered-pass\n",
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("reset admin 'ops'") && !text.contains("recovered-pass"),
        "{text}"
    );
    let out = run(
        &["admin-reset", "Bad Name", "--password-stdin"],
        "whatever-pass\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid user name"));
    s.restart(&db, ServerOptions::default());
    assert_eq!(s.rpc(&old, "ping", json!({})).status, 401, "tokens revoked");
    assert_eq!(s.login("ops", "ops-password").status, 401);
    let t = s.token("ops", "recovered-pass");
    let me = s.ok(&t, "user-show", json!({"name": "ops"}));
    assert_eq!(
        (me["role"].as_str(), me["enabled"].as_bool()),
        (Some("admin"), Some(true))
    );
    let audit = s.ok(&t, "audit-find", json!({"command": "igord admin-reset"}));
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
}

/// F3: wrong passwords are throttled per user name and source address with an exponential
/// delay (429 + Retry-After), a correct login from another address still works, failed
/// logins are audited, and `passwd` counts as a login attempt.
fn failed_logins_are_throttled_and_audited(backend: Backend) {
    let (_db, s) = fresh(backend);
    let admin = s.admin();
    s.ok(
        &admin,
        "user-add",
        json!({"name": "alice", "password": "alice-password"}),
    );
    let port = s.port();
    let wrong = post("/api/login", &login_body("alice", "guess"));
    let right = post("/api/login", &login_body("alice", "alice-password"));
    let statuses: Vec<u16> = (0..4)
        .map(|_| raw_from("127.0.0.2", port, &wrong).0)
        .collect();
    // Three free failures; the fourth locks alice at that address for 1 s, each later one
    // for twice as long, so a 429 comes within the next tries (answered at once, nothing
    // hashed) however slow the machine is.
    assert_eq!(statuses, [401, 401, 401, 401]);
    let mut locked = None;
    for _ in 0..6 {
        let (status, answer) = raw_from("127.0.0.2", port, &wrong);
        if status == 429 {
            locked = Some(answer);
            break;
        }
        assert_eq!(status, 401, "{answer}");
    }
    let answer = locked.expect("no 429 after repeated failures");
    assert!(answer.to_lowercase().contains("retry-after:"), "{answer}");
    assert!(answer.contains("\"rate_limited\""), "{answer}");
    // A correct login from another address is not locked out.
    let (status, answer) = raw_from("127.0.0.3", port, &right);
    assert_eq!(status, 200, "{answer}");

    let audit = s.ok(
        &admin,
        "audit-find",
        json!({"command": "login", "user": "alice"}),
    );
    let failed: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "login_failed")
        .collect();
    assert!(failed.len() >= 4, "one row per failed login: {audit}");

    // passwd/1 with a wrong current password is a failed login too.
    let t = s.token("alice", "alice-password");
    let guess = json!({"current_password": "wrong-guess", "new_password": "new-password-1"});
    let codes: Vec<u16> = (0..4)
        .map(|_| s.rpc(&t, "passwd", guess.clone()).status)
        .collect();
    assert_eq!(codes, [403, 403, 403, 403]);
    let later: Vec<u16> = (0..6)
        .map(|_| s.rpc(&t, "passwd", guess.clone()).status)
        .take_while(|&c| c != 429)
        .collect();
    assert!(
        later.len() < 6 && later.iter().all(|&c| c == 403),
        "passwd is throttled like a login: {later:?}"
    );
}

/// F2: a flood of concurrent wrong-password logins from many addresses queues on a small
/// hashing pool (or is told to come back) instead of running every argon2 hash at once:
/// igord's peak memory stays far below what 160 parallel hashes (~19 MiB each) would take.
#[test]
fn a_login_flood_keeps_memory_bounded() {
    let (_db, s) = fresh(Backend::Sqlite);
    let admin = s.admin();
    let port = s.port();
    let barrier = std::sync::Barrier::new(160);
    let statuses: Vec<u16> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..160)
            .map(|i| {
                let barrier = &barrier;
                sc.spawn(move || {
                    let src = format!("127.0.7.{}", i + 1);
                    let stream = connect_from(&src, port);
                    barrier.wait();
                    exchange(stream, &post("/api/login", &login_body("admin", "wrong"))).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 503)),
        "only 'wrong password' and 'busy': {statuses:?}"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/PID/status");
    assert!(
        peak_kb < 256 * 1024,
        "igord's peak RSS {peak_kb} kB under a login flood"
    );
    // Everyone else is served.
    assert_eq!(s.rpc(&admin, "ping", json!({})).status, 200);
}

/// F4: a body that trickles in is cut at the body deadline with a JSON 408, and an address
/// holding its share of connections gets 429 for more while other addresses are served.
#[test]
fn slow_bodies_are_cut_and_connections_capped() {
    let db = TestDb::new(Backend::Sqlite);
    let s = Server::start_with(
        &db,
        ServerOptions {
            config_toml: Some("[limits]\nconnections_per_address = 4\n".into()),
            ..Default::default()
        },
    );
    let port = s.port();
    let mut slow = connect_from("127.0.0.4", port);
    slow.write_all(
        b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    let (status, text) = parse_answer(&answer);
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("\"request_timeout\""), "{text}");
    assert!(started.elapsed() < Duration::from_secs(30));

    let held: Vec<TcpStream> = (0..4).map(|_| connect_from("127.0.0.5", port)).collect();
    let ping = b"GET /api/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // The held connections are counted when igord accepts them: wait for that.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, text) = loop {
        let (status, text) = raw_from("127.0.0.5", port, ping);
        if status == 429 || Instant::now() > deadline {
            break (status, text);
        }
    };
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("\"rate_limited\""), "{text}");
    assert_eq!(
        raw_from("127.0.0.6", port, ping).0,
        200,
        "other addresses are served"
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if raw_from("127.0.0.5", port, ping).0 == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the address's slots were never given back"
        );
    }
}

/// F11: every error is the JSON envelope, including an oversize body and unknown routes.
#[test]
fn every_error_is_json() {
    let (_db, s) = fresh(Backend::Sqlite);
    let port = s.port();
    let big = format!(
        "POST /api/rpc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        s.admin(),
        400 * 1024
    );
    let (status, text) = raw_from("127.0.0.1", port, big.as_bytes());
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("\"payload_too_large\""), "{text}");
    let big = format!(
        "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        400 * 1024
    );
    let (status, text) = raw_from("127.0.0.1", port, big.as_bytes());
    assert_eq!(status, 413, "{text}");
    assert!(
        text.to_lowercase()
            .contains("content-type: application/json"),
        "{text}"
    );
    for (req, code) in [
        (
            &b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..],
            404,
        ),
        (
            &b"DELETE /api/rpc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..],
            405,
        ),
    ] {
        let (status, text) = raw_from("127.0.0.1", port, req);
        assert_eq!(status, code, "{text}");
        assert!(text.contains("{\"error\":{\"code\":"), "{text}");
    }
}

/// F6: concurrent read-then-write transactions (permission-grant) never fail with
/// "database is locked": 6 threads x 60 grants, 0 errors.
fn concurrent_writes_never_fail(backend: Backend) {
    let (_db, s) = fresh(backend);
    let admin = s.admin();
    for u in 0..6 {
        s.ok(
            &admin,
            "user-add",
            json!({"name": format!("u{u}"), "password": "user-password"}),
        );
    }
    for m in 0..60 {
        s.ok(
            &admin,
            "machine-add",
            json!({"name": format!("m{m}"), "bmc_host": "127.0.0.1", "bmc_user": "x", "bmc_password": "y"}),
        );
    }
    let failures: Vec<String> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..6)
            .map(|u| {
                let (s, admin) = (&s, &admin);
                sc.spawn(move || {
                    (0..60)
                        .map(|m| {
                            s.rpc(
                                admin,
                                "permission-grant",
                                json!({"user": format!("u{u}"), "machine": format!("m{m}"), "role": "viewer"}),
                            )
                        })
                        .filter(|r| r.status != 200)
                        .map(|r| format!("{r:?}"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        failures.first()
    );
    let all = s.ok(&admin, "permission-find", json!({}));
    assert_eq!(all.as_array().unwrap().len(), 360);
}

/// F7: a caller without permission naming 10,000 machines writes one audit row (the call,
/// with its selector and counts), not 10,000; and naming machines spends a per-minute
/// budget, so the next such call is refused with 429.
fn bulk_calls_audit_one_row_and_spend_a_budget(backend: Backend) {
    let db = TestDb::new(backend);
    let s = Server::start_with(
        &db,
        ServerOptions {
            config_toml: Some("[limits]\nwork_per_minute = 12000\n".into()),
            ..Default::default()
        },
    );
    let admin = s.admin();
    s.ok(
        &admin,
        "user-add",
        json!({"name": "mallory", "password": "mallory-password"}),
    );
    let count = |s: &Server| {
        s.ok(&admin, "audit-find", json!({"limit": 10000}))
            .as_array()
            .unwrap()
            .len()
    };
    // Logins are audited too: count from after mallory's.
    let t = s.token("mallory", "mallory-password");
    let before = count(&s);
    let r = s.rpc(&t, "power-status/2", json!({"machines": ["n[1-10000]"]}));
    assert_eq!(r.status, 200, "{r:?}");
    let lines: Vec<Value> = r
        .body
        .as_str()
        .unwrap_or("")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.last().unwrap()["failed"], 10000);
    assert_eq!(count(&s), before + 1, "one row for the whole call");
    let rows = s.ok(
        &admin,
        "audit-find/2",
        json!({"user": "mallory", "limit": 10}),
    );
    let row = &rows[0];
    assert_eq!(
        (row["command"].as_str(), row["outcome"].as_str()),
        (Some("power-status/2"), Some("failed"))
    );
    assert!(
        row["detail"]
            .as_str()
            .is_some_and(|d| d.contains("n[1-10000]")
                && d.contains("10000 named")
                && d.contains("10000 refused")),
        "{row}"
    );
    let r = s.rpc(&t, "power-status/2", json!({"machines": ["n[1-10000]"]}));
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{r:?}");
    assert!(r.header("Retry-After").is_some());
    assert!(r.message().contains("10000 machine(s)"), "{r:?}");
    // The budget is per user: the admin is not affected.
    assert_eq!(s.rpc(&admin, "ping", json!({})).status, 200);
}

/// A change and its audit row are one transaction: when the audit row cannot be written,
/// the change is not made either.
fn a_change_commits_with_its_audit_row(backend: Backend) {
    let (db, s) = fresh(backend);
    let admin = s.admin();
    let refuse = match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit refused'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION no_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER no_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION no_audit();"
        }
    };
    db.execute(refuse);
    let machine =
        json!({"name": "m1", "bmc_host": "127.0.0.1", "bmc_user": "x", "bmc_password": "y"});
    let r = s.rpc(&admin, "machine-add", machine.clone());
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(r.message(), "internal error", "no cause leaks: {r:?}");
    let r = s.rpc(
        &admin,
        "user-add",
        json!({"name": "bob", "password": "bob-password"}),
    );
    assert_eq!(r.status, 500, "{r:?}");
    db.execute(match backend {
        Backend::Sqlite => "DROP TRIGGER no_audit;",
        Backend::Postgres => "DROP TRIGGER no_audit ON audit;",
    });
    assert_eq!(
        s.rpc(&admin, "machine-show", json!({"name": "m1"})).status,
        404
    );
    assert_eq!(
        s.rpc(&admin, "user-show", json!({"name": "bob"})).status,
        404
    );
    s.ok(&admin, "machine-add", machine);
    let audit = s.ok(&admin, "audit-find", json!({"command": "machine-add"}));
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
}

/// F8: the database and its WAL and shared-memory files are 0600 even in a folder others
/// may read, and igord says the folder is open.
#[test]
fn database_files_are_private() {
    let db = TestDb::new(Backend::Sqlite);
    let path = db.sqlite_path();
    let folder = path.parent().unwrap().to_owned();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A database left 0644 by an older release is made private too.
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = Server::start(&db);
    let admin = s.admin();
    s.ok(&admin, "ping", json!({}));
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        let mode = std::fs::metadata(&file)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    assert!(s.log().contains("readable by others"), "{}", s.log());
}
