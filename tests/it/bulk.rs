//! Bulk commands (level 1.3) over a fleet of real `ipmi_sim` BMCs: hostranges and globs
//! resolved on the server, mixed permissions reported per machine, one dead BMC costing only
//! its own deadline, results streamed as NDJSON as they complete.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::db::{Backend, TestDb};
use tests::server::{Server, ServerOptions};
use tests::sim::SimBmc;

const FLEET: usize = 20;

/// The lines of a streamed answer, parsed.
fn lines(r: &tests::server::Reply) -> Vec<Value> {
    let text = match &r.body {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn items(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter_map(|l| l.get("item")).collect()
}

fn by_machine<'a>(items: &[&'a Value], name: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["machine"] == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

on_both_backends!(fleet_of_twenty_with_mixed_permissions_and_a_dead_bmc);

fn fleet_of_twenty_with_mixed_permissions_and_a_dead_bmc(backend: Backend) {
    let sims: Vec<SimBmc> = (0..FLEET).map(|_| SimBmc::start_new()).collect();
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    let db = TestDb::new(backend);
    let s = Server::start_with(
        &db,
        ServerOptions {
            config_toml: Some("[bmc]\ndeadline_ms = 1500\n".into()),
            ..Default::default()
        },
    );
    let admin = s.admin();
    for (i, sim) in sims.iter().enumerate() {
        s.ok(
            &admin,
            "machine-add",
            json!({"name": format!("node{:02}", i + 1), "bmc_host": sim.host,
            "bmc_port": sim.port, "bmc_user": sim.user, "bmc_password": sim.password}),
        );
    }
    s.ok(&admin, "machine-add", json!({"name": "node21", "bmc_host": "127.0.0.1",
        "bmc_port": hole.local_addr().unwrap().port(), "bmc_user": "admin", "bmc_password": "admin"}));
    s.ok(
        &admin,
        "user-add",
        json!({"name": "op", "password": "op-password"}),
    );
    for i in 1..=15 {
        let role = if i <= 10 { "operator" } else { "viewer" };
        s.ok(
            &admin,
            "permission-grant",
            json!({"user": "op", "machine": format!("node{i:02}"), "role": role}),
        );
    }

    // Admin, every machine: 20 answers, and the dead BMC costs its own deadline only. It is
    // named first, so that it would answer first if the others waited for it.
    let started = Instant::now();
    let r = s.rpc(
        &admin,
        "power-status/2",
        json!({"machines": ["node21", "node[01-20]"]}),
    );
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let l = lines(&r);
    assert_eq!(l[0], json!({"total": 21}));
    let it = items(&l);
    assert_eq!(it.len(), 21);
    for i in 1..=20 {
        let item = by_machine(&it, &format!("node{i:02}"));
        assert_eq!(
            (item["ok"].as_bool(), item["result"]["power"].as_str()),
            (Some(true), Some("off")),
            "{item}"
        );
    }
    let dead = by_machine(&it, "node21");
    assert_eq!(
        (dead["ok"].as_bool(), dead["error"]["code"].as_str()),
        (Some(false), Some("bmc_timeout"))
    );
    assert_eq!(
        it.last().unwrap()["machine"],
        "node21",
        "the dead BMC, named first, answers last: the others did not wait"
    );
    // Only a hang is bounded by the clock, generously for a loaded machine.
    assert!(
        took < Duration::from_millis(5 * 1500),
        "fan-out took {took:?}"
    );
    let done = l.last().unwrap();
    assert_eq!(
        (
            done["done"].as_bool(),
            done["ok"].as_u64(),
            done["failed"].as_u64()
        ),
        (Some(true), Some(20), Some(1))
    );

    // A user with mixed permissions: others are reported, not silently dropped, and nothing
    // it may not operate is touched.
    let op = s.token("op", "op-password");
    let r = s.rpc(
        &op,
        "power-on/3",
        json!({"machines": ["node[01-16]", "ghost"]}),
    );
    let l = lines(&r);
    let it = items(&l);
    assert_eq!(it.len(), 17);
    for i in 1..=10 {
        assert_eq!(by_machine(&it, &format!("node{i:02}"))["ok"], true);
        assert_eq!(
            sims[i - 1]
                .ipmitool_ok(&["chassis", "power", "status"])
                .trim(),
            "Chassis Power is on"
        );
    }
    for i in 11..=15 {
        let item = by_machine(&it, &format!("node{i:02}"));
        assert_eq!(item["error"]["code"], "forbidden");
        assert!(
            item["error"]["message"]
                .as_str()
                .unwrap()
                .contains("operator")
        );
        assert_eq!(
            sims[i - 1]
                .ipmitool_ok(&["chassis", "power", "status"])
                .trim(),
            "Chassis Power is off"
        );
    }
    // Invisible and non-existent machines read the same.
    let hidden = by_machine(&it, "node16");
    let ghost = by_machine(&it, "ghost");
    assert_eq!(hidden["error"]["code"], "forbidden");
    assert_eq!(
        hidden["error"]["message"]
            .as_str()
            .unwrap()
            .replace("node16", "X"),
        ghost["error"]["message"]
            .as_str()
            .unwrap()
            .replace("ghost", "X")
    );
    assert_eq!(
        sims[15].ipmitool_ok(&["chassis", "power", "status"]).trim(),
        "Chassis Power is off"
    );

    // Globs match only what the caller may see; a viewer role suffices for status.
    let r = s.rpc(
        &op,
        "power-status/2",
        json!({"machines": ["node1*", "zzz*"]}),
    );
    let l = lines(&r);
    let it = items(&l);
    let mut names: Vec<&str> = it.iter().map(|i| i["machine"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "node10", "node11", "node12", "node13", "node14", "node15", "zzz*"
        ]
    );
    assert_eq!(by_machine(&it, "zzz*")["error"]["code"], "not_found");
    assert_eq!(by_machine(&it, "node10")["result"]["power"], "on");

    // Bad sets are refused before anything runs.
    let r = s.rpc(
        &admin,
        "power-off/2",
        json!({"machines": ["node[1-99999999]"]}),
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"), "{r:?}");
    let r = s.rpc(&admin, "power-off/2", json!({"machines": []}));
    assert_eq!((r.status, r.code()), (400, "invalid_params"));

    // A bulk call is one audit row for the call, plus one per machine acted on with its
    // own outcome; machines refused (node11: not permitted) are only counted.
    let audit = s.ok(
        &admin,
        "audit-find",
        json!({"command": "power-on/3", "limit": 100}),
    );
    let rows = audit.as_array().unwrap();
    let calls: Vec<&Value> = rows.iter().filter(|r| r["machine"].is_null()).collect();
    assert_eq!(calls.len(), 1, "{rows:?}");
    assert_eq!(calls[0]["outcome"], "partial");
    let acted = rows.iter().filter(|r| !r["machine"].is_null()).count();
    assert_eq!(acted, 10, "{rows:?}");
    assert_eq!(rows.iter().filter(|r| r["outcome"] == "ok").count(), 10);
    assert!(!rows.iter().any(|r| r["machine"] == "node11"), "{rows:?}");

    // The other bulk versions over the fleet.
    let r = s.rpc(
        &admin,
        "bootdev-set/2",
        json!({"machines": ["node[01-03]"], "device": "pxe"}),
    );
    assert_eq!(lines(&r).last().unwrap()["ok"], 3);
    for sim in &sims[..3] {
        assert!(
            sim.ipmitool_ok(&["chassis", "bootparam", "get", "5"])
                .contains("Force PXE")
        );
    }
    for cmd in ["chassis-status/2", "sel-info/2"] {
        let r = s.rpc(&admin, cmd, json!({"machines": ["node0*"]}));
        let done = lines(&r).last().cloned().unwrap();
        assert_eq!(
            (done["ok"].as_u64(), done["failed"].as_u64()),
            (Some(9), Some(0)),
            "{cmd}"
        );
    }
    let r = s.rpc(
        &admin,
        "chassis-identify/2",
        json!({"machines": ["node01", "node02"], "action": "blink", "seconds": 9}),
    );
    assert_eq!(lines(&r).last().unwrap()["ok"], 2);
    assert_eq!(sims[1].state("identify").as_deref(), Some("9 0"));
}

/// Level 1.3 is served only unpinned: a server pinned to 1.2 does not know the bulk versions.
#[test]
fn bulk_versions_are_unknown_below_1_3() {
    let db = TestDb::new(Backend::Sqlite);
    let s = Server::start_with(
        &db,
        ServerOptions {
            pin: Some("1.2".into()),
            ..Default::default()
        },
    );
    let admin = s.admin();
    let r = s.rpc(&admin, "power-status/2", json!({"machines": ["x"]}));
    assert_eq!(
        (r.status, r.message()),
        (404, "unknown command 'power-status/2'")
    );
}
