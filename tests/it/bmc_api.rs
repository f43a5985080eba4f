//! The BMC commands through igord's API against real `ipmi_sim` BMCs, cross-checked with
//! `ipmitool`: power, boot device, SEL, sensors, permissions, audit, and faults (dead BMC,
//! restarted BMC, wrong password, session leaks).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::db::{Backend, TestDb};
use tests::relay::CutRelay;
use tests::server::{Server, ServerOptions};
use tests::sim::SimBmc;

on_both_backends!(
    power_and_bootdev_agree_with_ipmitool,
    sel_and_sensors_agree_with_ipmitool,
    roles_are_enforced_and_everything_is_audited,
    faults_cost_one_deadline_and_stay_contained,
);

/// `sel-delete/2` over a link that breaks after two records: the answer still reports the
/// two deleted records, the one in flight as unknown and the last as not attempted, and
/// `sel-delete/1` says the outcome of its record is unknown.
#[test]
fn sel_delete_reports_partial_outcomes_when_the_link_breaks() {
    let sim = SimBmc::start_new();
    let (_db, s) = server(Backend::Sqlite, 3000);
    let admin = s.admin();
    let via = |name: &str, relay: &CutRelay| {
        s.ok(
            &admin,
            "machine-add",
            json!({"name": name, "bmc_host": sim.host, "bmc_port": relay.port,
                   "bmc_user": sim.user, "bmc_password": sim.password}),
        );
    };
    // Learn what opening a session and one request cost, on a machine of its own.
    let calibrate = CutRelay::start(sim.port);
    via("probe", &calibrate);
    s.ok(&admin, "bmc-info", json!({"machine": "probe"}));
    let setup = calibrate.forwarded() - 1;

    let ids = sim.sel_ids::<u64>();
    assert!(
        ids.len() >= 4,
        "the simulator starts with 4 SEL records: {ids:?}"
    );
    let relay = CutRelay::start(sim.port);
    via("m1", &relay);
    relay.cut_after(setup + 1 + 2);
    let out = s.ok(
        &admin,
        "sel-delete/2",
        json!({"machine": "m1", "ids": ids[..4]}),
    );
    let items = out.as_array().expect("an array of outcomes");
    let outcomes: Vec<(&str, &str)> = items
        .iter()
        .map(|i| {
            (
                i["outcome"].as_str().unwrap_or_default(),
                i["message"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(outcomes[0], ("deleted", ""), "{out}");
    assert_eq!(outcomes[1], ("deleted", ""), "{out}");
    assert_eq!(outcomes[2].0, "bmc_timeout", "{out}");
    assert!(
        outcomes[2].1.contains("unknown whether it was deleted"),
        "{out}"
    );
    assert_eq!(outcomes[3].0, "bmc_timeout", "{out}");
    assert!(outcomes[3].1.contains("not attempted"), "{out}");
    assert_eq!(sim.sel_ids::<u64>(), ids[2..]);

    // The single-record version over a link that breaks on its only request.
    let relay = CutRelay::start(sim.port);
    via("m2", &relay);
    relay.cut_after(setup + 1);
    let r = s.rpc(&admin, "sel-delete", json!({"machine": "m2", "id": ids[2]}));
    assert_eq!((r.status, r.code()), (504, "bmc_timeout"), "{r:?}");
    assert!(
        r.message().contains(&format!(
            "unknown whether SEL record {} was deleted",
            ids[2]
        )),
        "{r:?}"
    );
}

fn server(backend: Backend, deadline_ms: u64) -> (TestDb, Server) {
    let db = TestDb::new(backend);
    let s = Server::start_with(
        &db,
        ServerOptions {
            config_toml: Some(format!("[bmc]\ndeadline_ms = {deadline_ms}\n")),
            ..Default::default()
        },
    );
    (db, s)
}

fn add(s: &Server, admin: &str, name: &str, sim: &SimBmc) {
    s.ok(
        admin,
        "machine-add",
        json!({"name": name, "bmc_host": sim.host, "bmc_port": sim.port,
               "bmc_user": sim.user, "bmc_password": sim.password}),
    );
}

fn power_and_bootdev_agree_with_ipmitool(backend: Backend) {
    let sim = SimBmc::start_new();
    let (_db, s) = server(backend, 3000);
    let admin = s.admin();
    add(&s, &admin, "m1", &sim);
    assert_eq!(
        s.ok(&admin, "power-status", json!({"machine": "m1"}))["power"],
        "off"
    );
    for (cmd, want) in [
        ("power-on", "on"),
        ("power-off", "off"),
        ("power-on", "on"),
        ("power-soft", "off"),
    ] {
        let r = s.ok(&admin, cmd, json!({"machine": "m1"}));
        assert_eq!(r["machine"], "m1");
        assert_eq!(
            sim.power_status(),
            format!("Chassis Power is {want}"),
            "after {cmd}"
        );
        assert_eq!(
            s.ok(&admin, "power-status", json!({"machine": "m1"}))["power"],
            want
        );
    }
    // A change made behind igord's back is seen: nothing is cached but the session.
    sim.ipmitool_ok(&["chassis", "power", "on"]);
    assert_eq!(
        s.ok(&admin, "power-status", json!({"machine": "m1"}))["power"],
        "on"
    );
    s.ok(&admin, "power-off", json!({"machine": "m1"}));
    let r = s.ok(
        &admin,
        "power-on/2",
        json!({"machine": "m1", "wait": true, "timeout_secs": 10}),
    );
    assert_eq!(
        (r["power"].as_str(), r["waited"].as_bool()),
        (Some("on"), Some(true))
    );
    assert_eq!(sim.power_status(), "Chassis Power is on");
    let st = s.ok(&admin, "chassis-status", json!({"machine": "m1"}));
    assert_eq!(st["power"], "on");
    assert!(st["power_restore_policy"].is_string());
    let info = s.ok(&admin, "bmc-info", json!({"machine": "m1"}));
    let mc = sim.ipmitool_ok(&["mc", "info"]);
    assert!(
        mc.contains(&format!(
            "Firmware Revision         : {}",
            info["firmware_version"].as_str().unwrap()
        )),
        "{mc}\n{info}"
    );
    for (dev, text) in [
        ("pxe", "Force PXE"),
        ("disk", "Force Boot from default Hard-Drive"),
        ("bios", "Force Boot into BIOS Setup"),
    ] {
        s.ok(
            &admin,
            "bootdev-set",
            json!({"machine": "m1", "device": dev}),
        );
        let out = sim.ipmitool_ok(&["chassis", "bootparam", "get", "5"]);
        assert!(out.contains(text), "{dev}: {out}");
    }
    s.ok(
        &admin,
        "chassis-identify",
        json!({"machine": "m1", "action": "blink", "seconds": 7}),
    );
    assert_eq!(sim.state("identify").as_deref().map(str::trim), Some("7 0"));
    s.ok(
        &admin,
        "chassis-identify",
        json!({"machine": "m1", "action": "off"}),
    );
    assert_eq!(sim.state("identify").as_deref().map(str::trim), Some("0 0"));
    let r = s.rpc(
        &admin,
        "chassis-identify",
        json!({"machine": "m1", "action": "on", "seconds": 3}),
    );
    assert_eq!(r.status, 400);
}

fn sel_and_sensors_agree_with_ipmitool(backend: Backend) {
    let sim = SimBmc::start_new();
    let (_db, s) = server(backend, 3000);
    let admin = s.admin();
    add(&s, &admin, "m1", &sim);
    // An event injected at run time through the simulator's console shows up.
    let before: Vec<u64> = s
        .ok(&admin, "sel-list", json!({"machine": "m1"}))
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    let added = sim.console(
        "sel_add 0x20 0x02 0x00 0x00 0x00 0x00 0x20 0x00 0x04 0x01 0x01 0x01 0x59 0x5c 0x5a",
    );
    assert!(added.contains("Added record"), "{added}");
    let list = s.ok(&admin, "sel-list", json!({"machine": "m1"}));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), before.len() + 1);
    let ids: Vec<u64> = list.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, sim.sel_ids::<u64>());
    let injected = list
        .iter()
        .find(|r| !before.contains(&r["id"].as_u64().unwrap()))
        .unwrap();
    assert_eq!(injected["sensor_type"], "temperature");
    assert_eq!(injected["event"], "upper critical going high");
    assert_eq!(injected["direction"], "asserted");
    assert_eq!(injected["raw"].as_str().unwrap().len(), 32);
    assert_eq!(
        s.ok(&admin, "sel-info", json!({"machine": "m1"}))["entries"],
        ids.len()
    );

    s.ok(&admin, "sel-delete", json!({"machine": "m1", "id": ids[0]}));
    assert_eq!(sim.sel_ids::<u64>(), ids[1..]);
    let r = s.rpc(&admin, "sel-delete", json!({"machine": "m1", "id": 0x7777}));
    assert_eq!((r.status, r.code()), (404, "not_found"), "{r:?}");
    let out = s.ok(
        &admin,
        "sel-delete/2",
        json!({"machine": "m1", "ids": [ids[1], 0x7777, ids[2]]}),
    );
    let outcomes: Vec<&str> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["deleted", "not_found", "deleted"]);
    assert_eq!(sim.sel_ids::<u64>(), ids[3..]);
    s.ok(&admin, "sel-clear", json!({"machine": "m1"}));
    assert!(sim.sel_ids::<u64>().is_empty());
    assert_eq!(
        s.ok(&admin, "sel-list", json!({"machine": "m1"})),
        json!([])
    );

    sim.console("sensor_set_value 0x20 0 1 0x5c 1");
    let ours = s.ok(&admin, "sensor-list", json!({"machine": "m1"}));
    let tool = sim.ipmitool_ok(&["sensor", "list"]);
    let mut compared = 0;
    for line in tool.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 4 || cols[2] == "discrete" {
            continue;
        }
        let r = ours
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == cols[0])
            .unwrap_or_else(|| panic!("{line}"));
        let v: f64 = cols[1].parse().unwrap();
        assert!(
            (r["value"].as_f64().unwrap() - v).abs() < 0.01,
            "{line} vs {r}"
        );
        assert_eq!(r["unit"], cols[2]);
        compared += 1;
    }
    assert!(compared >= 2, "{tool}");
}

fn roles_are_enforced_and_everything_is_audited(backend: Backend) {
    // A BMC password used nowhere else, so finding it in any output is a leak.
    let sim = SimBmc::with_user("ops", "Audit-Bmc-Secret-7q");
    let (_db, s) = server(backend, 3000);
    let admin = s.admin();
    add(&s, &admin, "m1", &sim);
    add(&s, &admin, "m2", &sim);
    for u in ["viewer1", "operator1", "stranger"] {
        s.ok(
            &admin,
            "user-add",
            json!({"name": u, "password": format!("{u}-password")}),
        );
    }
    s.ok(
        &admin,
        "permission-grant",
        json!({"user": "viewer1", "machine": "m1", "role": "viewer"}),
    );
    s.ok(
        &admin,
        "permission-grant",
        json!({"user": "operator1", "machine": "m1", "role": "operator"}),
    );
    let viewer = s.token("viewer1", "viewer1-password");
    let operator = s.token("operator1", "operator1-password");
    let stranger = s.token("stranger", "stranger-password");
    let m1 = json!({"machine": "m1"});
    for read in [
        "power-status",
        "chassis-status",
        "sel-list",
        "sel-info",
        "sensor-list",
        "bmc-info",
    ] {
        s.ok(&viewer, read, m1.clone());
    }
    for (action, p) in [
        ("power-off", m1.clone()),
        ("power-on", m1.clone()),
        ("sel-clear", m1.clone()),
        ("sel-delete/2", json!({"machine": "m1", "ids": [1]})),
        ("bootdev-set", json!({"machine": "m1", "device": "pxe"})),
    ] {
        let r = s.rpc(&viewer, action, p);
        assert_eq!((r.status, r.code()), (403, "forbidden"), "viewer {action}");
        assert!(r.message().contains("operator"), "{r:?}");
    }
    s.ok(&operator, "power-on", m1.clone());
    assert_eq!(sim.power_status(), "Chassis Power is on");
    // No permission: 403, and the same answer for a machine that does not exist.
    let r1 = s.rpc(&stranger, "power-status", m1.clone());
    let r2 = s.rpc(&stranger, "power-status", json!({"machine": "nope"}));
    assert_eq!((r1.status, r2.status), (403, 403));
    assert_eq!(
        r1.message().replace("m1", "X"),
        r2.message().replace("nope", "X")
    );
    assert_eq!(
        s.rpc(&operator, "power-off", json!({"machine": "m2"}))
            .status,
        403
    );
    assert_eq!(s.rpc(&operator, "audit-find", json!({})).status, 403);
    // Every BMC command, allowed or refused, is in the audit log.
    let audit = s.ok(&admin, "audit-find", json!({"limit": 1000}));
    let rows = audit.as_array().unwrap();
    let has = |user: &str, cmd: &str, outcome: &str| {
        rows.iter()
            .any(|r| r["user"] == user && r["command"] == cmd && r["outcome"] == outcome)
    };
    for read in [
        "power-status/1",
        "chassis-status/1",
        "sel-list/1",
        "sel-info/1",
        "sensor-list/1",
        "bmc-info/1",
    ] {
        assert!(has("viewer1", read, "ok"), "{read} not audited: {audit}");
    }
    assert!(has("viewer1", "power-off/1", "forbidden"));
    assert!(has("operator1", "power-on/1", "ok"));
    assert!(has("stranger", "power-status/1", "forbidden"));
    assert!(has("admin", "machine-add/1", "ok"));
    assert!(has("admin", "permission-grant/1", "ok"));
    assert!(rows.iter().all(|r| r["duration_ms"].as_i64().unwrap() >= 0));
    let only = s.ok(
        &admin,
        "audit-find",
        json!({"user": "operator1", "command": "power-"}),
    );
    // Exactly the operator's two power calls (`all` over an empty answer would pass).
    let mut only: Vec<String> = only
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {} {}", r["user"], r["command"], r["outcome"]))
        .collect();
    only.sort();
    assert_eq!(
        only,
        [
            r#""operator1" "power-off/1" "forbidden""#,
            r#""operator1" "power-on/1" "ok""#
        ]
    );
    assert!(
        !audit.to_string().contains(&sim.password),
        "the BMC password in the audit output: {audit}"
    );
    let log = s.log();
    assert!(
        log.contains("machine-add/1"),
        "the log records calls: {log}"
    );
    assert!(
        !log.contains(&sim.password),
        "the BMC password in igord's log"
    );
}

fn faults_cost_one_deadline_and_stay_contained(backend: Backend) {
    let mut sim = SimBmc::start_new();
    let (_db, s) = server(backend, 1500);
    let admin = s.admin();
    add(&s, &admin, "good", &sim);
    // A BMC that never answers: a bound UDP socket that reads nothing.
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.ok(&admin, "machine-add", json!({"name": "dead", "bmc_host": "127.0.0.1",
        "bmc_port": hole.local_addr().unwrap().port(), "bmc_user": "admin", "bmc_password": "admin"}));
    hole.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let ((dead, dead_at), (good, good_at)) = std::thread::scope(|scope| {
        let d = scope.spawn(|| {
            let r = s.rpc(&admin, "power-status", json!({"machine": "dead"}));
            (r, Instant::now())
        });
        // The dead call's first datagram arriving: its BMC worker is waiting on the hole.
        hole.recv_from(&mut [0u8; 512])
            .expect("the dead call sent nothing to its BMC");
        let good = s.rpc(&admin, "power-status", json!({"machine": "good"}));
        let good_at = Instant::now();
        (d.join().unwrap(), (good, good_at))
    });
    assert_eq!((dead.status, dead.code()), (504, "bmc_timeout"), "{dead:?}");
    assert!(dead.message().contains("dead"), "{dead:?}");
    assert_eq!(good.status, 200, "{good:?}");
    // The healthy BMC answered while the dead one's call was still pending; only a hang is
    // bounded by the clock, generously for a loaded machine (the deadline is 1.5 s).
    assert!(
        good_at < dead_at,
        "the healthy call ended {:?} after the dead one",
        good_at - dead_at
    );
    assert!(
        dead_at - started < Duration::from_millis(5 * 1500),
        "the dead call took {:?}",
        dead_at - started
    );

    // A BMC killed and restarted between two calls: the second call reopens and succeeds.
    s.ok(&admin, "power-status", json!({"machine": "good"}));
    sim.restart();
    assert_eq!(
        s.rpc(&admin, "power-status", json!({"machine": "good"}))
            .status,
        200
    );

    // Wrong password: a clear error naming the machine and the fix.
    s.ok(
        &admin,
        "machine-mod",
        json!({"name": "good", "bmc_password": "wrong-pass"}),
    );
    let r = s.rpc(&admin, "power-status", json!({"machine": "good"}));
    assert_eq!((r.status, r.code()), (502, "bmc_auth_failed"), "{r:?}");
    assert!(
        r.message().contains("'good'") && r.message().contains("credentials"),
        "{r:?}"
    );
    assert!(!r.body.to_string().contains("wrong-pass"));
    s.ok(
        &admin,
        "machine-mod",
        json!({"name": "good", "bmc_password": sim.password.clone()}),
    );

    // 200 calls in a row leave the BMC's session table usable by others.
    for i in 0..200 {
        let cmd = if i % 2 == 0 {
            "power-status"
        } else {
            "chassis-status"
        };
        let r = s.rpc(&admin, cmd, json!({"machine": "good"}));
        assert_eq!(r.status, 200, "call {i}: {r:?}");
    }
    let out = sim.ipmitool_ok(&["chassis", "power", "status"]);
    assert!(out.starts_with("Chassis Power is"), "{out}");
    // The server is still healthy for everything else.
    assert_eq!(s.get("/api/ping", &[]).status, 200);
    let _: Value = s.ok(&admin, "machine-find", json!({}));
}
