//! Level 1.6, what an operator needs beyond power: the FRU inventory read as ipmitool reads
//! it, defaults that come from igord's configuration (`command-defaults`, `machine-add/3`),
//! and an audit trail that says what a change created.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::json;
use tests::cli::Igor;
use tests::db::{Backend, TestDb};
use tests::server::{ADMIN_PASSWORD, Server, ServerOptions};
use tests::sim::SimBmc;

on_both_backends!(
    defaults_come_from_the_server_configuration,
    changes_record_what_they_created,
    audit_follow_streams_new_records_until_the_token_ends
);

/// `ipmitool fru print 0` as `key -> value` (`Board Mfg -> Acme Servers`).
fn ipmitool_fru(sim: &SimBmc) -> BTreeMap<String, String> {
    sim.ipmitool_ok(&["fru", "print", "0"])
        .lines()
        .filter_map(|l| l.split_once(" : "))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// GNU date turns ipmitool's `Sat Jun 15 12:00:00 2024 UTC` into RFC 3339.
fn rfc3339_of(ipmitool_time: &str) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", ipmitool_time, "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("run date");
    assert!(out.status.success(), "date -d {ipmitool_time:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn fru_show_agrees_with_ipmitool_fru_print() {
    let sims: Vec<SimBmc> = (0..2).map(|_| SimBmc::start_new()).collect();
    let db = TestDb::new(Backend::Sqlite);
    let s = Server::start_with(&db, ServerOptions::default());
    let admin = Igor::new(&s.url);
    admin.login("admin", ADMIN_PASSWORD);
    for (i, sim) in sims.iter().enumerate() {
        admin.add_machine(&format!("rack1-n{}", i + 1), sim);
    }
    admin.add_machine("other", &sims[0]);

    let lines = admin
        .ok(&["-o", "json", "fru-show", "rack1-*"])
        .json_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let theirs = ipmitool_fru(&sims[0]);
    let fields = [
        ("Chassis Type", "chassis_type"),
        ("Chassis Part Number", "chassis_part_number"),
        ("Chassis Serial", "chassis_serial"),
        ("Board Mfg", "board_manufacturer"),
        ("Board Product", "board_product"),
        ("Board Serial", "board_serial"),
        ("Board Part Number", "board_part_number"),
        ("Product Manufacturer", "product_manufacturer"),
        ("Product Name", "product_name"),
        ("Product Part Number", "product_part_number"),
        ("Product Version", "product_version"),
        ("Product Serial", "product_serial"),
        ("Product Asset Tag", "product_asset_tag"),
    ];
    for line in &lines {
        assert_eq!(line["ok"], true, "{line}");
        let ours = &line["result"];
        for (label, key) in fields {
            let want = theirs
                .get(label)
                .unwrap_or_else(|| panic!("ipmitool shows no {label}: {theirs:?}"));
            assert_eq!(ours[key].as_str(), Some(want.as_str()), "{key}: {ours}");
        }
        assert_eq!(
            ours["board_mfg_date"].as_str(),
            Some(rfc3339_of(&theirs["Board Mfg Date"]).as_str()),
            "{ours}"
        );
        assert_eq!(
            ours["extra"],
            json!([format!("product: {}", theirs["Product Extra"])]),
            "{ours}"
        );
    }

    // A table shows the columns the schema names; --raw shows every field.
    let table = admin.ok(&["fru-show", "rack1-n1"]);
    assert!(table.stdout.contains("Igor Test Server"), "{table}");
    assert!(table.stdout.contains("PRD-0001"), "{table}");
    assert!(!table.stdout.contains("CHS-1000"), "{table}");
    let raw = admin.ok(&["fru-show", "rack1-n1", "--raw"]);
    assert!(raw.stdout.contains("CHS-1000"), "{raw}");

    // A FRU device the BMC does not have: the BMC's own answer, named, per machine.
    let r = admin.run(&["-o", "json", "fru-show", "rack1-n1", "--device", "7"]);
    r.code(3);
    let item = &r.json_lines()[0];
    assert_eq!(item["ok"], false, "{r}");
    let message = item["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("rack1-n1"), "{r}");
    // Out of range is a usage error, refused before anything is sent.
    let r = admin.run(&["fru-show", "rack1-n1", "--device", "255"]);
    r.code(2);
    assert!(r.stderr.contains("--device"), "{r}");

    // Viewers may read it, others are refused per machine.
    admin.ok_stdin(&["user-add", "eve", "--password-stdin"], "eve-password\n");
    admin.ok(&["permission-grant", "eve", "rack1-n2", "viewer"]);
    let eve = Igor::new(&s.url);
    eve.login("eve", "eve-password");
    let r = eve.run(&["-o", "json", "fru-show", "rack1-n1", "rack1-n2"]);
    r.code(3);
    let lines = r.json_lines();
    let by = |m: &str| lines.iter().find(|l| l["machine"] == m).cloned();
    assert_eq!(
        by("rack1-n2").map(|l| l["result"]["product_serial"].clone()),
        Some(json!("PRD-0001")),
        "{r}"
    );
    assert_eq!(
        by("rack1-n1").map(|l| l["error"]["code"].clone()),
        Some(json!("forbidden")),
        "{r}"
    );
}

fn defaults_come_from_the_server_configuration(backend: Backend) {
    let sim = SimBmc::start_new();
    let db = TestDb::new(backend);
    let s = Server::start_with(
        &db,
        ServerOptions {
            config_toml: Some(format!(
                "[bmc]\ndefault_user = \"{}\"\ndefault_port = {}\n",
                sim.user, sim.port
            )),
            ..Default::default()
        },
    );
    let token = s.admin();
    // The schema says which parameters the server fills in, and from which setting.
    let r = s.ok(
        &token,
        "command-defaults",
        json!({"command": "machine-add/3", "params": {"name": "n1"}}),
    );
    assert_eq!(
        r,
        json!({"command": "machine-add/3",
               "defaults": {"bmc_user": sim.user, "bmc_port": sim.port},
               "required": []}),
    );
    // What is given is not defaulted.
    let r = s.ok(
        &token,
        "command-defaults",
        json!({"command": "machine-add/3", "params": {"bmc_port": 1623}}),
    );
    assert_eq!(r["defaults"], json!({"bmc_user": sim.user}), "{r}");
    // A command without dynamic defaults has none; an unknown one is named.
    let r = s.ok(&token, "command-defaults", json!({"command": "power-on/4"}));
    assert_eq!(r["defaults"], json!({}), "{r}");
    let r = s.rpc(&token, "command-defaults", json!({"command": "power-up/1"}));
    assert_eq!(r.status, 404, "{r:?}");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("power-up/1")
    );

    // The CLI: machine-add without --bmc-user and --bmc-port gets the configured values,
    // and the machine works.
    let igor = Igor::new(&s.url);
    igor.login("admin", ADMIN_PASSWORD);
    igor.ok_stdin(
        &[
            "machine-add",
            "n1",
            "--bmc-host",
            &sim.host,
            "--bmc-password-stdin",
        ],
        &format!("{}\n", sim.password),
    );
    let m = igor.json(&["machine-show", "n1"]);
    assert_eq!(
        (m["bmc_user"].as_str(), m["bmc_port"].as_u64()),
        (Some(sim.user.as_str()), Some(u64::from(sim.port))),
        "{m}"
    );
    let lines = igor.ok(&["-o", "json", "power-status", "n1"]).json_lines();
    assert_eq!(lines[0]["result"]["power"], "off", "{lines:?}");
    // --help shows what the server would apply; without a login it says who decides.
    let help = igor.ok(&["machine-add", "--help"]);
    assert!(
        help.stdout
            .contains(&format!("[server default: {}]", sim.user))
            && help
                .stdout
                .contains(&format!("[server default: {}]", sim.port)),
        "{help}"
    );
    let stranger = Igor::new(&s.url);
    let help = stranger.ok(&["machine-add", "--help"]);
    assert!(
        help.stdout
            .contains("[default: the server's bmc.default_user]"),
        "{help}"
    );
    // The older versions keep their meaning: machine-add/2 still needs the user.
    let r = s.rpc(
        &token,
        "machine-add/2",
        json!({"name": "n2", "bmc_host": sim.host, "bmc_password": "x"}),
    );
    assert_eq!(r.status, 400, "{r:?}");

    // A plain user may not read the defaults of an admin command.
    s.ok(
        &token,
        "user-add",
        json!({"name": "bob", "password": "bob-password"}),
    );
    let bob = s.token("bob", "bob-password");
    let r = s.rpc(
        &bob,
        "command-defaults",
        json!({"command": "machine-add/3"}),
    );
    assert_eq!(r.status, 403, "{r:?}");

    // Without a configured default user, the parameter is reported required, and a call
    // that leaves it out is refused naming it, with nothing written.
    drop(s);
    let s = Server::start_with(&db, ServerOptions::default());
    let token = s.admin();
    let r = s.ok(
        &token,
        "command-defaults",
        json!({"command": "machine-add/3"}),
    );
    assert_eq!(
        (r["defaults"].clone(), r["required"].clone()),
        (json!({"bmc_port": 623}), json!(["bmc_user"])),
        "{r}"
    );
    let r = s.rpc(
        &token,
        "machine-add/3",
        json!({"name": "n3", "bmc_host": sim.host, "bmc_password": "x"}),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["error"]["code"], "invalid_params", "{r:?}");
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("bmc_user") && message.contains("default_user"),
        "{message}"
    );
    let r = s.rpc(&token, "machine-show", json!({"name": "n3"}));
    assert_eq!(r.status, 404, "{r:?}");
}

fn changes_record_what_they_created(backend: Backend) {
    let sim = SimBmc::with_user("bmcop", "bmc-secret-9");
    let db = TestDb::new(backend);
    let s = Server::start_with(&db, ServerOptions::default());
    let token = s.admin();
    s.ok(
        &token,
        "user-add",
        json!({"name": "carol", "password": "carol-password"}),
    );
    s.ok(
        &token,
        "machine-add",
        json!({"name": "n1", "bmc_host": sim.host, "bmc_port": sim.port,
               "bmc_user": sim.user, "bmc_password": sim.password}),
    );
    s.ok(
        &token,
        "permission-grant",
        json!({"user": "carol", "machine": "n1", "role": "operator"}),
    );
    s.ok(
        &token,
        "permission-revoke",
        json!({"user": "carol", "machine": "n1"}),
    );
    let rows = s.ok(&token, "audit-find/3", json!({"since": "10m"}));
    let detail = |command: &str| -> String {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["command"] == command && r["outcome"] == "ok")
            .and_then(|r| r["detail"].as_str())
            .unwrap_or_else(|| panic!("no detail for {command}: {rows}"))
            .to_owned()
    };
    let created = detail("user-add/1");
    assert!(
        created.starts_with("created user 'carol' (id "),
        "{created}"
    );
    assert!(created.contains("role user"), "{created}");
    let created = detail("machine-add/1");
    assert!(
        created.starts_with("created machine 'n1' (id ")
            && created.contains(&format!("{}:{}", sim.host, sim.port)),
        "{created}"
    );
    assert!(!created.contains(&sim.password), "{created}");
    let granted = detail("permission-grant/1");
    assert!(
        granted.starts_with("created permission: user 'carol' (id ")
            && granted.contains("is operator on machine 'n1' (id "),
        "{granted}"
    );
    let revoked = detail("permission-revoke/1");
    assert!(
        revoked.starts_with("removed permission: user 'carol'") && revoked.contains("was operator"),
        "{revoked}"
    );
}

fn audit_follow_streams_new_records_until_the_token_ends(backend: Backend) {
    let db = TestDb::new(backend);
    let s = Server::start_with(&db, ServerOptions::default());
    let admin = Igor::new(&s.url);
    admin.login("admin", ADMIN_PASSWORD);
    for name in ["u1", "u2"] {
        admin.ok_stdin(&["user-add", name, "--password-stdin"], "user-password\n");
    }
    // Without --follow: the matching records, oldest first, then the stream ends.
    let r = admin.ok(&[
        "-o",
        "json",
        "audit-find",
        "--command",
        "user-add",
        "--since",
        "10m",
    ]);
    let users: Vec<String> = r
        .json_lines()
        .iter()
        .map(|l| l["params"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(users.len(), 2, "{r}");
    assert!(users[0].contains("u1") && users[1].contains("u2"), "{r}");

    // With --follow: the last record already there (--limit 1), then each new one as it
    // is written, and nothing that does not match.
    let follower = Igor::new(&s.url);
    follower.login("admin", ADMIN_PASSWORD);
    let running = follower.start(&[
        "-o",
        "json",
        "audit-find",
        "--follow",
        "--command",
        "user-add",
        "--limit",
        "1",
    ]);
    let wait = std::time::Duration::from_secs(15);
    let first: serde_json::Value =
        serde_json::from_str(&running.line(wait).expect("the existing record")).unwrap();
    assert!(
        first["params"].as_str().unwrap_or_default().contains("u2"),
        "{first}"
    );
    admin.ok(&["machine-find"]);
    admin.ok_stdin(&["user-add", "u3", "--password-stdin"], "user-password\n");
    let next: serde_json::Value =
        serde_json::from_str(&running.line(wait).expect("the new record")).unwrap();
    assert_eq!(next["command"], "user-add/1", "{next}");
    assert!(
        next["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("created user 'u3'"),
        "{next}"
    );
    // Revoking the follower's token ends its stream, cleanly.
    follower.ok(&["logout"]);
    let (code, stderr) = running.wait(wait);
    assert_eq!(code, 0, "{stderr}");
}
