//! The client × server matrix of API levels and default command versions: for every server
//! level L (one igord pinned to each) and every client known level K (`IGOR_KNOWN_LEVEL`, a
//! client release that knows only the bundles up to K), the same conformance scenario passes
//! with the real `igor` against a real `ipmi_sim`. The FreeIPA rule is checked on the way: a
//! newer client against an older server sends exactly the requests the older client sends.
//! The matrix is printed; scripts/test runs this test with --nocapture so it shows in CI's log.

use std::collections::BTreeMap;

use serde_json::Value;
use tests::cli::{CountingProxy, Igor};
use tests::db::{Backend, TestDb};
use tests::server::{ADMIN_PASSWORD, Server, ServerOptions};
use tests::sim::SimBmc;

const LEVELS: &[&str] = &["1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6"];

/// What a cell found: the versions the client chose by default, and the requests it sent.
struct Cell {
    defaults: BTreeMap<&'static str, String>,
    requests: Vec<(String, Value)>,
}

/// The version `-v` says was forwarded: `forwarding 'power-on/2' to ...`.
fn forwarded(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("forwarding '"))
        .and_then(|l| l.split('\'').next())
        .unwrap_or_else(|| panic!("no 'forwarding' line in: {stderr}"))
        .to_owned()
}

fn expected_default(name: &str, k: &str, l: &str) -> String {
    // The highest version known at K (its newest bundle) that the server at L offers.
    let versions: &[(&str, u32)] = match name {
        "power-on" => &[("1.0", 1), ("1.2", 2), ("1.3", 3), ("1.5", 4)],
        "power-status" => &[("1.0", 1), ("1.3", 2)],
        "sel-delete" => &[("1.0", 1), ("1.2", 2)],
        other => panic!("{other}"),
    };
    let v = versions
        .iter()
        .filter(|(since, _)| *since <= k && *since <= l)
        .map(|(_, v)| *v)
        .max()
        .unwrap_or(1);
    format!("{name}/{v}")
}

/// A command newer than L, and the message the client must print.
fn newer_than(l: &str) -> (&'static str, &'static str) {
    match l {
        "1.0" => ("command-find", "unknown command 'command-find'"),
        "1.1" => ("audit-find", "unknown command 'audit-find'"),
        "1.2" => ("power-status/2", "unknown command 'power-status/2'"),
        "1.3" => ("machine-find/2", "unknown command 'machine-find/2'"),
        "1.4" => ("machine-find/3", "unknown command 'machine-find/3'"),
        "1.5" => ("fru-show", "unknown command 'fru-show'"),
        _ => ("sel-delete/9", "unknown command 'sel-delete/9'"),
    }
}

fn scenario(server: &Server, l: &str, k: &str, cell_no: usize) -> Cell {
    let sim = SimBmc::start_new();
    let proxy = CountingProxy::new(&server.url);
    let igor = Igor::with_env(&proxy.url, &[("IGOR_KNOWN_LEVEL", k)]);
    let machine = format!("m{cell_no}");
    let user = format!("u{cell_no}");
    igor.login("admin", ADMIN_PASSWORD);
    let port = sim.port.to_string();
    igor.add_machine(&machine, &sim);
    igor.ok_stdin(&["user-add", &user, "--password-stdin"], "user-password\n");
    igor.ok(&["permission-grant", &user, &machine, "operator"]);
    let mut defaults = BTreeMap::new();
    let on = igor.ok(&["-v", "power-on", &machine]);
    defaults.insert("power-on", forwarded(&on.stderr));
    assert_eq!(
        sim.ipmitool_ok(&["chassis", "power", "status"]).trim(),
        "Chassis Power is on",
        "L={l} K={k}"
    );
    let status = igor.ok(&["-v", "power-status", &machine]);
    defaults.insert("power-status", forwarded(&status.stderr));
    assert!(status.stdout.contains("on"), "L={l} K={k}: {status}");
    let list = igor.json(&["sel-list/1", &machine]);
    let ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap().to_string())
        .collect();
    assert!(
        ids.len() >= 2,
        "the simulated BMC starts with SEL records: {list}"
    );
    let del = igor.ok(&["-v", "sel-delete", &machine, &ids[0]]);
    defaults.insert("sel-delete", forwarded(&del.stderr));
    igor.ok(&["sel-delete/1", &machine, &ids[1]]);
    let left = igor.json(&["sel-list/1", &machine]);
    assert_eq!(left.as_array().unwrap().len(), ids.len() - 2, "L={l} K={k}");
    let (newer, message) = newer_than(l);
    let r = igor.run(&[newer, &machine]);
    r.code(1);
    assert!(r.stderr.contains(message), "L={l} K={k}: {r}");
    for (name, got) in &defaults {
        assert_eq!(
            *got,
            expected_default(name, k, l),
            "default version of {name} at L={l} K={k}"
        );
    }
    let requests = proxy
        .take_bodies()
        .into_iter()
        .filter(|(line, _)| line.starts_with("POST /api/rpc"))
        .map(|(line, body)| {
            // Names differ per cell; the shape of every request must not.
            let text = body.replace(&machine, "MACHINE").replace(&user, "USER");
            let text = text.replace(&port, "PORT");
            (
                line,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
        .collect();
    Cell { defaults, requests }
}

#[test]
fn client_server_matrix() {
    let db_and_servers: Vec<(TestDb, Server)> = LEVELS
        .iter()
        .map(|l| {
            let db = TestDb::new(Backend::Sqlite);
            let s = Server::start_with(
                &db,
                ServerOptions {
                    pin: Some((*l).into()),
                    ..Default::default()
                },
            );
            (db, s)
        })
        .collect();
    let mut cells: BTreeMap<(&str, &str), Cell> = BTreeMap::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = LEVELS
            .iter()
            .enumerate()
            .map(|(li, l)| {
                let server = &db_and_servers[li].1;
                scope.spawn(move || {
                    LEVELS
                        .iter()
                        .enumerate()
                        .map(|(ki, k)| ((*l, *k), scenario(server, l, k, li * 10 + ki)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            cells.extend(h.join().expect("a matrix row failed"));
        }
    });

    // The matrix, as it ran.
    let mut table =
        String::from("\nclient known level (K) x server level (L): default versions chosen\n");
    table.push_str(&format!("{:<8}", "L \\ K"));
    for k in LEVELS {
        table.push_str(&format!("{:<44}", k));
    }
    table.push('\n');
    for l in LEVELS {
        table.push_str(&format!("{l:<8}"));
        for k in LEVELS {
            let c = &cells[&(*l, *k)];
            let short: Vec<String> = c
                .defaults
                .values()
                .map(|v| v.replace("power-", "p-").replace("sel-delete", "sd"))
                .collect();
            table.push_str(&format!("{:<44}", format!("ok {}", short.join(" "))));
        }
        table.push('\n');
    }
    println!("{table}");

    // The FreeIPA rule: against a server at L, a client that knows more than L sends
    // exactly what the client of level L sends.
    for l in LEVELS {
        let old = &cells[&(*l, *l)].requests;
        assert!(old.len() >= 8, "{l}: {old:?}");
        for k in LEVELS.iter().filter(|k| *k > l) {
            let new = &cells[&(*l, *k)].requests;
            assert_eq!(
                new, old,
                "client K={k} against server L={l} sends other requests than client K={l}"
            );
        }
    }
}
