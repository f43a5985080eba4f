//! `GET /metrics` on its own listener (`[metrics] listen`): calls that succeed and fail,
//! over RPC and REST, a BMC call that answers and one that times out, refused logins; then
//! a scrape parsed by the Prometheus project's own parser (Python's `prometheus_client`),
//! and the counters checked. The API's port does not serve the metrics, and the metrics
//! port serves nothing else.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tests::db::{Backend, TestDb};
use tests::server::{Server, ServerOptions};
use tests::sim::SimBmc;

on_both_backends!(counters_move_as_calls_are_made);

/// One sample of a scrape: its name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition with `prometheus_client.parser` (a malformed scrape fails
/// there) and returns every sample.
fn parse(text: &str) -> Vec<Sample> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    let mut child = Command::new(tests::python_tool("python"))
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write the scrape");
    let out = child.wait_with_output().expect("python");
    assert!(
        out.status.success(),
        "prometheus_client could not parse the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    samples
        .into_iter()
        .map(|s| Sample {
            name: s["name"].as_str().expect("name").to_owned(),
            labels: serde_json::from_value(s["labels"].clone()).expect("labels"),
            value: s["value"].as_f64().expect("value"),
        })
        .collect()
}

/// The sum of the samples named `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
        })
        .map(|s| s.value)
        .sum()
}

fn metrics_url(s: &Server) -> String {
    let log = s.log();
    let rest = log
        .split_once("igord: metrics on ")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no metrics listener in the log:\n{log}"));
    rest.lines().next().expect("a line").trim().to_owned()
}

fn scrape(url: &str) -> (String, String) {
    let mut resp = ureq::get(url).call().expect("scrape");
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.body_mut().read_to_string().expect("scrape body");
    (content_type, text)
}

fn counters_move_as_calls_are_made(backend: Backend) {
    let sim = SimBmc::start_new();
    let db = TestDb::new(backend);
    let s = Server::start_with(
        &db,
        ServerOptions {
            config_toml: Some(
                "[metrics]\nlisten = \"127.0.0.1:0\"\n[bmc]\ndeadline_ms = 1500\n".into(),
            ),
            ..Default::default()
        },
    );
    let url = metrics_url(&s);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // Only the metrics listener serves them, and it serves nothing else.
    let on_api = s.get("/metrics", &[]);
    assert_eq!(on_api.status, 404, "{on_api:?}");
    let base = url.trim_end_matches("/metrics");
    let api_on_metrics = tests::server::send("GET", &format!("{base}/api/ping"), &[], None);
    assert_eq!(api_on_metrics.status, 404, "{api_on_metrics:?}");

    let admin = s.admin();
    s.ok(
        &admin,
        "user-add",
        json!({"name": "alice", "password": "alice-password-1"}),
    );
    let alice = s.token("alice", "alice-password-1");
    s.ok(
        &admin,
        "machine-add",
        json!({"name": "m1", "bmc_host": sim.host, "bmc_port": sim.port,
               "bmc_user": sim.user, "bmc_password": sim.password}),
    );
    // A BMC that never answers: its call times out.
    let hole = UdpSocket::bind("127.0.0.1:0").expect("udp");
    s.ok(
        &admin,
        "machine-add",
        json!({"name": "dead", "bmc_host": "127.0.0.1",
               "bmc_port": hole.local_addr().expect("addr").port(),
               "bmc_user": "u", "bmc_password": "p"}),
    );
    for _ in 0..3 {
        s.ok(&admin, "machine-show", json!({"name": "m1"}));
    }
    let rest = s.get(
        "/api/machines/m1",
        &[("Authorization", &format!("Bearer {admin}"))],
    );
    assert_eq!(rest.status, 200, "{rest:?}");
    let denied = s.rpc(&alice, "machine-show", json!({"name": "m1"}));
    assert_eq!(denied.status, 403, "{denied:?}");
    let not_admin = s.rpc(
        &alice,
        "user-add",
        json!({"name": "bob", "password": "bob-password-1"}),
    );
    assert_eq!(not_admin.status, 403, "{not_admin:?}");
    s.ok(&admin, "power-status", json!({"machine": "m1"}));
    let timed_out = s.rpc(&admin, "power-status", json!({"machine": "dead"}));
    assert_eq!(timed_out.status, 504, "{timed_out:?}");
    // Wrong passwords: 3 free, the 4th locks the name at this address for 1 s, a 5th
    // (after that second) for 2 s, in which one more attempt is throttled.
    for _ in 0..4 {
        assert_eq!(s.login("mallory", "wrong-password").status, 401);
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(s.login("mallory", "wrong-password").status, 401);
    let throttled = s.login("mallory", "wrong-password");
    assert_eq!(throttled.status, 429, "{throttled:?}");

    let (content_type, text) = scrape(&url);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let samples = parse(&text);
    let v = |name: &str, labels: &[(&str, &str)]| value(&samples, name, labels);
    let req = "igord_requests_total";
    let show = ("command", "machine-show/1");
    assert_eq!(
        v(req, &[show, ("via", "rpc"), ("status", "200")]),
        3.0,
        "{text}"
    );
    assert_eq!(
        v(req, &[show, ("via", "rest"), ("status", "200")]),
        1.0,
        "{text}"
    );
    assert_eq!(v(req, &[show, ("status", "403")]), 1.0, "{text}");
    assert_eq!(v(req, &[("command", "user-add/1"), ("status", "403")]), 1.0);
    assert_eq!(v(req, &[("command", "user-add/1"), ("status", "200")]), 1.0);
    assert_eq!(
        v(req, &[("command", "power-status/1"), ("status", "504")]),
        1.0
    );
    assert_eq!(
        v("igord_request_duration_seconds_count", &[show]),
        5.0,
        "every machine-show/1 call, whatever its answer: {text}"
    );
    // Labels are declared command versions only: never a machine or user name.
    for s in samples
        .iter()
        .filter(|s| s.name.starts_with("igord_request"))
    {
        let command = &s.labels["command"];
        assert!(command.contains('/'), "{s:?}");
        assert!(
            !s.labels.values().any(|l| l == "m1" || l == "alice"),
            "{s:?}"
        );
    }
    let bmc = "igord_bmc_calls_total";
    assert!(
        v(bmc, &[("driver", "ipmi"), ("outcome", "ok")]) >= 1.0,
        "{text}"
    );
    assert_eq!(
        v(bmc, &[("driver", "ipmi"), ("outcome", "bmc_timeout")]),
        1.0,
        "{text}"
    );
    assert!(
        v(
            "igord_bmc_call_duration_seconds_count",
            &[("driver", "ipmi")]
        ) >= 2.0
    );
    // m1's session is kept (idle timeout 20 s); the dead BMC never opened one.
    assert_eq!(
        v("igord_bmc_sessions_open", &[("driver", "ipmi")]),
        1.0,
        "{text}"
    );
    assert_eq!(
        v("igord_logins_total", &[("outcome", "failed")]),
        5.0,
        "{text}"
    );
    assert_eq!(
        v("igord_logins_total", &[("outcome", "throttled")]),
        1.0,
        "{text}"
    );
    assert!(
        v("igord_logins_total", &[("outcome", "ok")]) >= 2.0,
        "{text}"
    );
    assert!(v("igord_login_locked_keys", &[]) >= 1.0, "{text}");
    assert_eq!(v("igord_replica_locks_held", &[]), 0.0, "{text}");
    assert!(v("process_resident_memory_bytes", &[]) > 0.0, "{text}");
    assert!(v("process_open_fds", &[]) > 0.0, "{text}");
}

/// Off loopback the metrics are served over HTTPS with igord's certificate, never plain.
#[test]
fn off_loopback_the_metrics_are_https() {
    let db = TestDb::new(Backend::Sqlite);
    let s = Server::start_with(
        &db,
        ServerOptions {
            tls: true,
            // Any address but loopback; the scrape below still goes through 127.0.0.1.
            config_toml: Some("[metrics]\nlisten = \"0.0.0.0:0\"\n".into()),
            ..Default::default()
        },
    );
    let url = metrics_url(&s);
    let port = url
        .strip_prefix("https://0.0.0.0:")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("not HTTPS on 0.0.0.0: {url}"));
    let pem = std::fs::read(s.data_dir.join("tls-cert.pem")).expect("the certificate");
    let agent = tests::server::agent_trusting(Some(&pem));
    let mut resp = agent
        .get(&format!("https://127.0.0.1:{port}/metrics"))
        .call()
        .expect("scrape over https");
    assert_eq!(resp.status(), 200);
    let text = resp.body_mut().read_to_string().expect("body");
    let samples = parse(&text);
    assert!(value(&samples, "process_threads", &[]) > 0.0, "{text}");
    let plain = ureq::get(&format!("http://127.0.0.1:{port}/metrics")).call();
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
}

/// A Redfish BMC's calls and kept connection are counted under `driver="redfish"`.
#[test]
fn redfish_calls_are_counted_by_driver() {
    let sim = tests::redfish::RedfishSim::start(1);
    let db = TestDb::new(Backend::Sqlite);
    let s = Server::start_with(
        &db,
        ServerOptions {
            config_toml: Some("[metrics]\nlisten = \"127.0.0.1:0\"\n".into()),
            ..Default::default()
        },
    );
    let admin = s.admin();
    s.ok(
        &admin,
        "machine-add/3",
        json!({"name": "rf1", "driver": "redfish", "bmc_host": sim.host,
               "bmc_port": sim.port, "bmc_user": sim.user, "bmc_password": sim.password}),
    );
    s.ok(&admin, "power-status", json!({"machine": "rf1"}));
    s.ok(&admin, "power-status", json!({"machine": "rf1"}));
    let (_, text) = scrape(&metrics_url(&s));
    let samples = parse(&text);
    let v = |name: &str, labels: &[(&str, &str)]| value(&samples, name, labels);
    let calls = "igord_bmc_calls_total";
    assert_eq!(
        v(calls, &[("driver", "redfish"), ("outcome", "ok")]),
        2.0,
        "{text}"
    );
    assert_eq!(v(calls, &[("driver", "ipmi")]), 0.0, "{text}");
    // One kept connection, reused by the second call.
    assert_eq!(
        v("igord_bmc_sessions_open", &[("driver", "redfish")]),
        1.0,
        "{text}"
    );
}
