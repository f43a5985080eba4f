//! Replicas and the BMCs they share. On PostgreSQL, igord replicas take turns on a BMC
//! through advisory locks keyed by machine, so one call at a time reaches it whichever
//! replica it came to, and a replica that dies releases its locks with its connection. A
//! SQLite file serves one igord only: a second one refuses to start.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use server::bmc::ReplicaLocks;
use server::db::locks::AdvisoryLocks;
use tests::db::{Backend, TestDb};
use tests::relay::OverlapRelay;
use tests::server::{ADMIN_PASSWORD, Server, ServerOptions};
use tests::sim::SimBmc;

const REPLICAS: usize = 3;
const CALLERS: usize = 4;
const CALLS: usize = 15;

fn replica(db: &TestDb) -> Server {
    Server::start_with(
        db,
        ServerOptions {
            // Replicas share the database, so they share the key of its BMC passwords.
            env: vec![("IGOR_SECRET_KEY".into(), "cd".repeat(32))],
            ..Default::default()
        },
    )
}

/// Active sessions on a BMC, from Get Session Info (byte 3), ipmitool's own included.
fn active_sessions(sim: &SimBmc) -> u32 {
    let out = sim.ipmitool_ok(&["raw", "0x06", "0x3d", "0x00"]);
    let bytes: Vec<&str> = out.split_whitespace().collect();
    u32::from_str_radix(bytes[2], 16).unwrap()
}

/// Every replica's callers at once, reads and actions mixed; the failed calls, described.
fn hammer(replicas: &[&Server], tokens: &[String]) -> Vec<String> {
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (r, token) in replicas.iter().zip(tokens) {
            for caller in 0..CALLERS {
                handles.push(scope.spawn(move || {
                    let mut failed = Vec::new();
                    for i in 0..CALLS {
                        let (command, params) = if (caller + i) % 3 == 0 {
                            (
                                "chassis-identify",
                                json!({"machine": "m1", "action": "off"}),
                            )
                        } else {
                            ("power-status", json!({"machine": "m1"}))
                        };
                        let reply = r.rpc(token, command, params);
                        if reply.status != 200 {
                            failed.push(format!("{} {command}: {reply:?}", r.url));
                        }
                    }
                    failed
                }));
            }
        }
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

#[test]
fn replicas_on_postgresql_take_turns_on_a_shared_bmc() {
    let sim = SimBmc::start_new();
    let relay = OverlapRelay::start(sim.port);
    let db = TestDb::new(Backend::Postgres);
    let replicas: Vec<Server> = (0..REPLICAS).map(|_| replica(&db)).collect();
    let tokens: Vec<String> = replicas.iter().map(Server::admin).collect();
    replicas[0].ok(
        &tokens[0],
        "machine-add",
        json!({"name": "m1", "bmc_host": "127.0.0.1", "bmc_port": relay.port,
            "bmc_user": sim.user, "bmc_password": sim.password}),
    );

    let all: Vec<&Server> = replicas.iter().collect();
    let failed = hammer(&all, &tokens);
    assert!(
        failed.is_empty(),
        "{} calls failed: {failed:#?}",
        failed.len()
    );
    assert_eq!(
        relay.most_in_flight(),
        1,
        "requests of different replicas overlapped at the BMC"
    );
    // Each replica keeps one session: the BMC's slots are far from full.
    let active = active_sessions(&sim);
    assert!(
        active <= 1 + REPLICAS as u32,
        "{active} sessions active, over {} sockets",
        relay.clients()
    );

    // A replica killed outright leaves no lock behind: the others go on without waiting.
    let killed = &replicas[REPLICAS - 1];
    let status = Command::new("kill")
        .args(["-KILL", &killed.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let failed = hammer(&all[..REPLICAS - 1], &tokens[..REPLICAS - 1]);
    assert!(
        failed.is_empty(),
        "{} calls failed: {failed:#?}",
        failed.len()
    );
    assert_eq!(relay.most_in_flight(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_dies_releases_its_machine_locks() {
    let db = TestDb::new(Backend::Postgres);
    // A lock that must not be had is asked for briefly; one that must be had, patiently.
    let brief = || Instant::now() + Duration::from_millis(300);
    let patient = || Instant::now() + Duration::from_secs(10);
    let a = AdvisoryLocks::start(db.url()).unwrap();
    let b = AdvisoryLocks::start(db.url()).unwrap();
    assert_eq!(a.acquire(7, patient()).await, Ok(true));
    assert_eq!(b.acquire(7, brief()).await, Ok(false), "a holds machine 7");
    // What igord_replica_locks_held shows: counted before acquire answers.
    assert_eq!((a.held(), b.held()), (1, 0));
    b.release(7);
    assert_eq!(b.acquire(8, patient()).await, Ok(true), "machine 8 is free");
    b.release(8);
    a.release(7);
    // A release is a message to the lock thread: its count follows shortly.
    let until = Instant::now() + Duration::from_secs(5);
    while (a.held(), b.held()) != (0, 0) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!((a.held(), b.held()), (0, 0));
    assert_eq!(a.acquire(7, patient()).await, Ok(true));
    // The replica holding 7 goes away, its connection with it: b gets 7 once PostgreSQL
    // has seen the connection close.
    drop(a);
    assert_eq!(b.acquire(7, patient()).await, Ok(true));
    let c = AdvisoryLocks::start(db.url()).unwrap();
    assert_eq!(c.acquire(7, brief()).await, Ok(false), "b holds it now");
    b.release(7);
    assert_eq!(c.acquire(7, patient()).await, Ok(true));
}

#[test]
fn a_sqlite_database_serves_one_igord() {
    let db = TestDb::new(Backend::Sqlite);
    let first = Server::start(&db);
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(tests::bin("igord"))
        .args(["--listen", "127.0.0.1:0", "--insecure-http", "--data-dir"])
        .arg(data.path())
        .env("IGOR_DATABASE_URL", db.url())
        .env("IGOR_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second igord started: {err}");
    let path = db.sqlite_path();
    assert!(
        err.contains(&format!(
            "another igord is serving the SQLite database {}",
            path.display()
        )) && err.contains("use PostgreSQL to run several replicas"),
        "{err}"
    );
    // The first one is unharmed, and once it is gone the file is free again.
    assert_eq!(first.get("/api/ping", &[]).status, 200);
    drop(first);
    let second = Server::start(&db);
    assert_eq!(second.get("/api/ping", &[]).status, 200);
}
