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

on_both_backends!(
    fleet_of_twenty_with_mixed_permissions_and_a_dead_bmc,
    level_1_5_machine_sets_for_reads_clears_and_grants,
);

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

/// Level 1.5: the SEL, sensors and BMC identity over machine sets, read as ipmitool reads
/// them; SEL clears and grants over sets; machine-find previews what a set selects.
fn level_1_5_machine_sets_for_reads_clears_and_grants(backend: Backend) {
    let sims: Vec<SimBmc> = (0..2).map(|_| SimBmc::start_new()).collect();
    let db = TestDb::new(backend);
    let s = Server::start_with(&db, ServerOptions::default());
    let admin = s.admin();
    for (i, sim) in sims.iter().enumerate() {
        s.ok(
            &admin,
            "machine-add",
            json!({"name": format!("m{}", i + 1), "bmc_host": sim.host,
            "bmc_port": sim.port, "bmc_user": sim.user, "bmc_password": sim.password}),
        );
    }
    let added = sims[0].console(
        "sel_add 0x20 0x02 0x00 0x00 0x00 0x00 0x20 0x00 0x04 0x01 0x01 0x01 0x59 0x5c 0x5a",
    );
    assert!(added.contains("Added record"), "{added}");

    // machine-find/3 previews a set: hostlist order, and what names nothing is counted.
    let r = s.rpc(
        &admin,
        "machine-find/3",
        json!({"machines": ["m[2,1]", "nope*"]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let names: Vec<&str> = r.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["m2", "m1"]);
    assert!(
        r.body["summary"]
            .as_str()
            .is_some_and(|t| t.contains("1 selector(s) name nothing you may see: nope*")),
        "{r:?}"
    );

    // sel-list/2: every record of m1 as ipmitool's sel elist words it.
    let r = s.rpc(&admin, "sel-list/2", json!({"machines": ["m1"]}));
    let l = lines(&r);
    let item = by_machine(&items(&l), "m1");
    assert_eq!(item["ok"], true, "{item}");
    let ours = item["result"].as_array().unwrap();
    let elist = sims[0].ipmitool_ok(&["sel", "elist"]);
    assert_eq!(ours.len(), elist.lines().count(), "{elist}");
    let injected = ours.last().unwrap();
    assert_eq!(injected["sensor"], "CPU Temp", "{injected}");
    assert_eq!(injected["event"], "Upper Critical going high", "{injected}");
    let tool_line = elist.lines().last().unwrap();
    for field in ["sensor", "event", "reading"] {
        let text = injected[field].as_str().unwrap();
        assert!(
            tool_line.contains(text),
            "{field} {text:?} not in {tool_line:?}"
        );
    }
    for r in ours {
        let event = r["event"].as_str().unwrap();
        assert!(!event.starts_with("offset"), "{r}");
    }

    // sensor-list/2: thresholds and named states, as ipmitool sensor shows them.
    let r = s.rpc(&admin, "sensor-list/2", json!({"machines": ["m1"]}));
    let l = lines(&r);
    let sensors = by_machine(&items(&l), "m1")["result"]
        .as_array()
        .unwrap()
        .clone();
    let tool = sims[0].ipmitool_ok(&["sensor"]);
    let mut compared = 0;
    for line in tool.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(ours) = sensors.iter().find(|x| x["name"] == cols[0]) else {
            continue;
        };
        // Columns 5..10: lnr, lcr, lnc, unc, ucr, unr ("na" when absent).
        for (i, key) in ["lnr", "lc", "lnc", "unc", "uc", "unr"].iter().enumerate() {
            match cols.get(4 + i).and_then(|c| c.parse::<f64>().ok()) {
                Some(want) => {
                    let got = ours[key].as_f64().unwrap_or(f64::NAN);
                    assert!(
                        (got - want).abs() < 0.01,
                        "{} {key}: {got} vs {want}",
                        cols[0]
                    );
                    compared += 1;
                }
                None => assert!(ours[key].is_null(), "{} {key}: {ours}", cols[0]),
            }
        }
    }
    assert!(compared > 0, "no threshold was compared: {tool}");

    // bootdev-get/1 reads back what ipmitool set, as `chassis bootparam get 5` shows it.
    for (dev, text) in [("pxe", "Force PXE"), ("bios", "Force Boot into BIOS Setup")] {
        sims[1].ipmitool_ok(&["chassis", "bootdev", dev]);
        let tool = sims[1].ipmitool_ok(&["chassis", "bootparam", "get", "5"]);
        assert!(tool.contains(text), "{tool}");
        let r = s.rpc(&admin, "bootdev-get/1", json!({"machines": ["m2"]}));
        let l = lines(&r);
        let item = by_machine(&items(&l), "m2");
        assert_eq!(item["result"]["device"], dev, "{item}");
    }

    // power-on/4 and power-off/3 say what each machine was and became; a machine already in
    // the state gets nothing sent.
    sims[0].ipmitool_ok(&["chassis", "power", "on"]);
    sims[1].ipmitool_ok(&["chassis", "power", "off"]);
    let r = s.rpc(&admin, "power-on/4", json!({"machines": ["m*"]}));
    let l = lines(&r);
    let it = items(&l);
    let (m1, m2) = (
        &by_machine(&it, "m1")["result"],
        &by_machine(&it, "m2")["result"],
    );
    assert_eq!(
        (&m1["found"], &m1["outcome"]),
        (&json!("on"), &json!("already on")),
        "{l:?}"
    );
    assert_eq!(
        (&m2["found"], &m2["outcome"], &m2["power"]),
        (&json!("off"), &json!("on"), &json!("on")),
        "{l:?}"
    );
    assert_eq!(sims[1].power_status(), "Chassis Power is on");
    let r = s.rpc(
        &admin,
        "power-off/3",
        json!({"machines": ["m1"], "no_wait": true}),
    );
    let l = lines(&r);
    assert_eq!(items(&l)[0]["result"]["outcome"], "sent", "{l:?}");
    let r = s.rpc(&admin, "power-off/3", json!({"machines": ["m[1-2]"]}));
    let l = lines(&r);
    assert_eq!(l.last().unwrap()["ok"], 2, "{l:?}");
    for sim in &sims {
        assert_eq!(sim.power_status(), "Chassis Power is off");
    }

    // bootdev-set/3: version 1's arguments, the machine a set.
    let r = s.rpc(
        &admin,
        "bootdev-set/3",
        json!({"machine": "m[1-2]", "device": "cdrom", "efi": true}),
    );
    let l = lines(&r);
    assert_eq!(l.last().unwrap()["ok"], 2, "{l:?}");
    for sim in &sims {
        let tool = sim.ipmitool_ok(&["chassis", "bootparam", "get", "5"]);
        assert!(tool.contains("Force Boot from CD/DVD"), "{tool}");
    }

    // bmc-info/2 and sel-clear/2 over a glob.
    let r = s.rpc(&admin, "bmc-info/2", json!({"machines": ["m*"]}));
    let l = lines(&r);
    assert_eq!(l.last().unwrap()["ok"], 2, "{l:?}");
    let r = s.rpc(&admin, "sel-clear/2", json!({"machines": ["m[1-2]"]}));
    let l = lines(&r);
    assert_eq!(l.last().unwrap()["ok"], 2, "{l:?}");
    for sim in &sims {
        assert!(sim.sel_ids::<u16>().is_empty());
    }

    // permission-grant/2 over a set: each grant is its own change with its own audit row;
    // a second grant is a conflict per machine and changes nothing.
    s.ok(
        &admin,
        "user-add",
        json!({"name": "bob", "password": "bob-password"}),
    );
    let r = s.rpc(
        &admin,
        "permission-grant/2",
        json!({"user": "bob", "role": "viewer", "machine": "m*"}),
    );
    let l = lines(&r);
    assert_eq!(l.last().unwrap()["ok"], 2, "{l:?}");
    let r = s.rpc(
        &admin,
        "permission-grant/2",
        json!({"user": "bob", "role": "operator", "machine": "m1"}),
    );
    let l = lines(&r);
    assert_eq!(items(&l)[0]["error"]["code"], "conflict", "{l:?}");
    let rows = s.ok(
        &admin,
        "audit-find/2",
        json!({"command": "permission-grant/2", "machine": "m1"}),
    );
    let outcomes: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "ok").count(), 1, "{rows}");
    assert_eq!(
        outcomes.iter().filter(|o| **o == "conflict").count(),
        1,
        "{rows}"
    );
    let bob = s.token("bob", "bob-password");
    let r = s.rpc(&bob, "machine-find/3", json!({"machines": ["m*"]}));
    assert_eq!(r.body["result"].as_array().map(Vec::len), Some(2), "{r:?}");
    let r = s.rpc(
        &admin,
        "permission-revoke/2",
        json!({"user": "bob", "machine": "m2,m3"}),
    );
    let l = lines(&r);
    let it = items(&l);
    assert_eq!(by_machine(&it, "m2")["ok"], true, "{l:?}");
    assert_eq!(by_machine(&it, "m3")["error"]["code"], "not_found", "{l:?}");
    // audit-find/3: each call's parameters, secrets masked; time and outcome filters; a
    // user sees its own records and those on machines it may view.
    let rows = s.ok(
        &admin,
        "audit-find/3",
        json!({"command": "permission-grant/2", "machine": "m1", "outcome": "conflict",
               "since": "10m"}),
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let params: Value = serde_json::from_str(rows[0]["params"].as_str().unwrap()).unwrap();
    assert_eq!(
        params,
        json!({"user": "bob", "role": "operator", "machine": "m1"})
    );
    let adds = s.ok(&admin, "audit-find/3", json!({"command": "machine-add"}));
    let adds = adds.as_array().unwrap();
    assert_eq!(adds.len(), 2, "{adds:?}");
    for row in adds {
        let params: Value = serde_json::from_str(row["params"].as_str().unwrap()).unwrap();
        assert_eq!(
            params["bmc_password"], "***",
            "a secret in the audit: {row}"
        );
        assert_eq!(params["bmc_user"], sims[0].user, "{row}");
    }
    let logins = s.ok(
        &admin,
        "audit-find/3",
        json!({"command": "login", "user": "bob"}),
    );
    let logins = logins.as_array().unwrap();
    assert!(
        logins
            .iter()
            .any(|r| r["outcome"] == "ok" && r["detail"] == "from 127.0.0.1"),
        "bob's login is recorded: {logins:?}"
    );
    let r = s.rpc(&admin, "audit-find/3", json!({"until": "1h"}));
    assert_eq!(r.body["result"], json!([]), "nothing is an hour old: {r:?}");
    let r = s.rpc(&admin, "audit-find/3", json!({"since": "yesterday"}));
    assert_eq!((r.status, r.code()), (400, "invalid_params"), "{r:?}");
    let r = s.rpc(&bob, "audit-find/2", json!({}));
    assert_eq!(r.status, 403, "version 2 stays admins' only: {r:?}");
    let seen = s.ok(&bob, "audit-find/3", json!({"limit": 1000}));
    let seen = seen.as_array().unwrap();
    assert!(!seen.is_empty());
    for row in seen {
        assert!(
            row["user"] == "bob" || row["machine"] == "m1",
            "bob sees a record he may not: {row}"
        );
    }
    assert!(
        seen.iter()
            .any(|r| r["machine"] == "m1" && r["user"] == "admin"),
        "{seen:?}"
    );

    let r = s.rpc(&bob, "machine-find/3", json!({"machines": ["m*"]}));
    let names: Vec<&str> = r.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["m1"]);
}
