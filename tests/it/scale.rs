//! Scale of the BMC layer: a bulk call over a thousand machines runs on a fixed handful of
//! threads, whatever the number of BMCs, kept sessions and calls in flight; idle sessions
//! are closed afterwards. The fleet is a few real `ipmi_sim` BMCs (several machines each)
//! plus loopback ports that never answer and ports where nobody listens.

use std::io::BufRead;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::db::{Backend, TestDb};
use tests::server::{Server, ServerOptions};
use tests::sim::SimBmc;

const MACHINES: usize = 1000;
const SIMS: usize = 4;
/// Machines on the real BMCs (kept sessions afterwards); the rest are dead.
const LIVE: usize = 40;
/// igord's threads must stay below this during the call: the HTTP workers, the database
/// pool's threads, the hashing pool, the BMC runtime and a few of tokio's and actix's.
const MAX_THREADS: u64 = 40;
/// Where the dead BMCs are: no other test uses this loopback address.
const DEAD_HOST: &str = "127.0.9.1";

on_both_backends!(a_bulk_call_over_a_thousand_machines_keeps_threads_bounded);

/// `Threads:` and `VmRSS:` (KiB) of a process.
fn threads_and_rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("Threads:"), field("VmRSS:"))
}

/// Active sessions on a BMC, from Get Session Info (byte 3), ipmitool's own included.
fn active_sessions(sim: &SimBmc) -> u32 {
    let out = sim.ipmitool_ok(&["raw", "0x06", "0x3d", "0x00"]);
    let bytes: Vec<&str> = out.split_whitespace().collect();
    u32::from_str_radix(bytes[2], 16).unwrap()
}

fn a_bulk_call_over_a_thousand_machines_keeps_threads_bounded(backend: Backend) {
    let sims: Vec<SimBmc> = (0..SIMS).map(|_| SimBmc::start_new()).collect();
    // The dead BMCs live on a loopback address of their own: a port freed here for "nobody
    // listens" could otherwise be taken by another test's simulator on 127.0.0.1, which
    // would then get 480 machines' sessions.
    // Never answers: a powered-off BMC behind a router.
    let hole = UdpSocket::bind((DEAD_HOST, 0)).unwrap();
    // Nobody listens: loopback answers ICMP port unreachable.
    let closed = UdpSocket::bind((DEAD_HOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = TestDb::new(backend);
    // Every machine in flight at once, so nothing but the pool's design bounds the threads.
    let s = Server::start_with(
        &db,
        ServerOptions {
            config_toml: Some(format!(
                "[bmc]\nmax_concurrent = {MACHINES}\ndeadline_ms = 2000\nidle_timeout_secs = 1\n"
            )),
            ..Default::default()
        },
    );
    let admin = s.admin();
    for i in 0..MACHINES {
        let (host, port, user, password) = if i < LIVE {
            let sim = &sims[i % SIMS];
            (
                sim.host.clone(),
                sim.port,
                sim.user.clone(),
                sim.password.clone(),
            )
        } else if i % 2 == 0 {
            let port = hole.local_addr().unwrap().port();
            (DEAD_HOST.into(), port, "admin".into(), "admin".into())
        } else {
            (DEAD_HOST.into(), closed, "admin".into(), "admin".into())
        };
        s.ok(
            &admin,
            "machine-add",
            json!({"name": format!("node{:04}", i + 1), "bmc_host": host, "bmc_port": port,
                "bmc_user": user, "bmc_password": password}),
        );
    }
    let pid = s.pid();
    let (threads_before, rss_before) = threads_and_rss(pid);

    // The call streams one line per machine as it completes; the threads are read at every
    // line, so the readings span the whole call.
    let started = Instant::now();
    let mut resp = ureq::post(&format!("{}/api/rpc", s.url))
        .header("Authorization", &format!("Bearer {admin}"))
        // Get Device ID: no helper process forked per call on the simulators, so the load
        // is igord's own.
        .send_json(json!({"command": "bmc-info/2",
            "params": {"machines": [format!("node[0001-{MACHINES:04}]")]}}))
        .unwrap();
    let mut max_threads = threads_before;
    let mut items = Vec::new();
    let mut done = None;
    for line in std::io::BufReader::new(resp.body_mut().as_reader()).lines() {
        max_threads = max_threads.max(threads_and_rss(pid).0);
        let line: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if let Some(item) = line.get("item") {
            items.push(item.clone());
        } else if line.get("done").is_some() {
            done = Some(line);
        }
    }
    let took = started.elapsed();
    let (_, rss_after_call) = threads_and_rss(pid);
    let done = done.expect("the stream's last line");
    assert_eq!(items.len(), MACHINES);
    assert_eq!(done["ok"], LIVE, "{done}");
    for item in &items {
        let n: usize = item["machine"].as_str().unwrap()[4..].parse().unwrap();
        if n <= LIVE {
            assert_eq!(item["result"]["ipmi_version"], "2.0", "{item}");
        } else {
            let code = item["error"]["code"].as_str().unwrap_or("");
            assert!(code == "bmc_timeout" || code == "bmc_unreachable", "{item}");
        }
    }
    assert!(
        max_threads < MAX_THREADS,
        "igord ran {max_threads} threads during a call over {MACHINES} machines"
    );

    // Idle sessions are closed (idle timeout 1 s): only ipmitool's own is left on each BMC.
    let waiting = Instant::now();
    while sims.iter().any(|sim| active_sessions(sim) > 1) {
        assert!(
            waiting.elapsed() < Duration::from_secs(20),
            "idle sessions were not closed"
        );
    }
    let (threads_idle, rss_idle) = threads_and_rss(pid);
    eprintln!(
        "{backend:?}: {MACHINES} machines in {took:?}: threads {threads_before} before, \
         {max_threads} at most during, {threads_idle} idle; RSS {rss_before} KiB before, \
         {rss_after_call} KiB after the call, {rss_idle} KiB idle"
    );
    assert!(threads_idle < MAX_THREADS);
}
