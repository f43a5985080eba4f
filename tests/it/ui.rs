//! The web UI (`/ui/`) in a real browser: Debian's chromium driven headless by Playwright
//! (`tests/ui/ui_check.py`), against a real igord and ipmi_sim BMCs. The script says what
//! each step proves; this side sets the server up, cross-checks the power state with
//! ipmitool, checks the page's headers, and that the page follows the schema's level.

use std::process::Command;

use serde_json::json;
use tests::cli::Igor;
use tests::db::{Backend, TestDb};
use tests::server::{ADMIN_PASSWORD, Server, ServerOptions, send};
use tests::sim::SimBmc;

fn chromium() -> String {
    let path = "/usr/bin/chromium";
    assert!(
        std::path::Path::new(path).exists(),
        "{path} not found: scripts/test installs it (Debian: apt-get install chromium)"
    );
    path.to_owned()
}

/// Where the tests write their screenshots (docs/screenshots/ holds the committed ones).
fn shots() -> std::path::PathBuf {
    let dir = tests::bin("igord")
        .parent()
        .expect("the profile folder")
        .join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The host's end of a serial line (`tests/bmc-sim/serial_host.py`): it prints a login
/// prompt again after every line typed, and echoes what is typed. Stopped when dropped.
struct SerialHost {
    child: std::process::Child,
    port: u16,
}

impl SerialHost {
    fn start(banner: &str) -> SerialHost {
        use std::io::BufRead;
        let mut child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/bmc-sim/serial_host.py"
            ))
            .args(["0", "1024", banner])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run tests/bmc-sim/serial_host.py with python3");
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().expect("its stdout"));
        out.read_line(&mut line).expect("its first line");
        // It says "connected" on each connection: its stdout must stay open, or it dies.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("serial_host.py said {line:?}, not where it listens"));
        SerialHost { child, port }
    }
}

impl Drop for SerialHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_web_ui_in_chromium() {
    // A password that nothing else on the page could contain, so its absence means something.
    let node1 = SimBmc::with_user("admin", "Bmc-secret-91");
    let node2 = SimBmc::start_new();
    // console1's serial port is a host that prompts for a login.
    let host =
        SerialHost::start("\\r\\nDebian GNU/Linux 13 console1 ttyS0\\r\\n\\r\\nconsole1 login: ");
    let console1 = SimBmc::with_serial(host.port);
    let db = TestDb::new(Backend::Sqlite);
    let server = Server::start(&db);
    let admin = Igor::new(&server.url);
    admin.login("admin", ADMIN_PASSWORD);
    admin.add_machine("node2", &node2);
    admin.add_machine("console1", &console1);
    let mut users = serde_json::Map::new();
    for (name, password) in [("vera", "vera-password-1"), ("otto", "otto-password-1")] {
        admin.ok_stdin(
            &["user-add", name, "--password-stdin"],
            &format!("{password}\n"),
        );
        users.insert(name.into(), json!([name, password]));
    }
    admin.ok(&["permission-grant", "vera", "console1", "viewer"]);
    admin.ok(&["permission-grant", "otto", "console1", "operator"]);
    // The page adds node1 itself (as the admin); the grants need it to exist, so they are
    // given by the script's run below through igor, once it has.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("users.json");
    std::fs::write(
        &cfg,
        json!({
            "admin": ["admin", ADMIN_PASSWORD],
            "viewer": users["vera"],
            "operator": users["otto"],
            "machine": "node1",
            "other": "node2",
            "console": "console1",
            "axe": concat!(env!("CARGO_MANIFEST_DIR"), "/ui/node_modules/axe-core/axe.min.js"),
            "bmc": {"host": node1.host, "port": node1.port, "user": node1.user, "password": node1.password},
        })
        .to_string(),
    )
    .unwrap();
    // The script adds node1 through the page; the grants it needs next are given here
    // as soon as node1 exists (the script waits for them on its login pages).
    let mut child = Command::new(tests::python_tool("python"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/ui_check.py"))
        .args(["--url", &server.url, "--users"])
        .arg(&cfg)
        .arg("--shots")
        .arg(shots())
        .args(["--chromium", &chromium()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the browser test");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let mut granted = false;
    while child.try_wait().expect("the browser test").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the browser test did not end"
        );
        if !granted && admin.run(&["machine-show", "node1"]).code == 0 {
            admin.ok(&["permission-grant", "vera", "node1", "viewer"]);
            admin.ok(&["permission-grant", "otto", "node1", "operator"]);
            granted = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("the browser test's output");
    assert!(
        out.status.success(),
        "the browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let measured: serde_json::Value = serde_json::from_slice(&out.stdout).expect("its figures");
    println!("web UI: {measured}");
    assert!(
        measured["first_load_bytes"].as_u64().unwrap_or(0) > 0,
        "{measured}"
    );
    // The operator's click reached the BMC: ipmitool agrees.
    let status = node1.ipmitool_ok(&["chassis", "power", "status"]);
    assert!(status.contains("on"), "{status}");

    // The page's headers: a strict CSP, no sniffing, no framing; a missing file is a 404.
    let r = send("GET", &format!("{}/ui/app.js", server.url), &[], None);
    assert_eq!(r.status, 200);
    let csp = r.header("Content-Security-Policy").unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
    let r = send("GET", &format!("{}/ui/nothing.js", server.url), &[], None);
    assert_eq!((r.status, r.code()), (404, "not_found"));

    // The console page alone allows inline styles (xterm.js's renderer writes <style>
    // elements); its scripts are this origin's files all the same. xterm.js comes from
    // the binary, installed from npm at build time.
    let r = send("GET", &format!("{}/ui/console.html", server.url), &[], None);
    let csp = r.header("Content-Security-Policy").unwrap_or_default();
    assert!(
        csp.contains("script-src 'self';")
            && csp.contains("style-src 'self' 'unsafe-inline'")
            && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let r = send(
        "GET",
        &format!("{}/ui/vendor/xterm.mjs", server.url),
        &[],
        None,
    );
    assert_eq!(r.status, 200);
    assert!(
        r.header("Content-Type")
            .is_some_and(|t| t.contains("javascript")),
        "{:?}",
        r.header("Content-Type")
    );
    // The console WebSocket takes a browser's token from its subprotocols: a wrong one is
    // refused before the upgrade, and so is a token offered without `igor.console`.
    let upgrade = |protocols: &str| {
        send(
            "GET",
            &format!("{}/api/console/console1", server.url),
            &[
                ("Connection", "Upgrade"),
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Protocol", protocols),
            ],
            None,
        )
    };
    let r = upgrade("igor.console, igor.bearer.igor_0123456789abcdef");
    assert_eq!(
        (r.status, r.code()),
        (401, "unauthenticated"),
        "{:?}",
        r.body
    );
    let token = server.token("admin", ADMIN_PASSWORD);
    let r = upgrade(&format!("igor.bearer.{token}"));
    assert_eq!(
        (r.status, r.code()),
        (401, "unauthenticated"),
        "{:?}",
        r.body
    );
}

/// The page is a function of the schema: a server pinned at an older level offers fewer
/// commands, and the same page shows fewer, with no change to the page.
#[test]
fn the_page_follows_the_servers_level() {
    let db = TestDb::new(Backend::Sqlite);
    let old = Server::start_with(
        &db,
        ServerOptions {
            pin: Some("1.5".into()),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("nav.py");
    std::fs::write(
        &script,
        r#"
import json, sys
from playwright.sync_api import sync_playwright, expect
url, password, chromium = sys.argv[1], sys.argv[2], sys.argv[3]
with sync_playwright() as p:
    b = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
    page = b.new_page()
    page.goto(url + "/ui/")
    page.get_by_label("User").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Machines")).to_be_visible()
    links = page.locator("nav a").all_inner_texts()
    print(json.dumps(links))
    b.close()
"#,
    )
    .unwrap();
    let nav = |server: &Server| -> Vec<String> {
        let out = Command::new(tests::python_tool("python"))
            .arg(&script)
            .args([&server.url, ADMIN_PASSWORD, &chromium()])
            .output()
            .expect("run the browser");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("the links")
    };
    let at_15 = nav(&old);
    drop(old);
    let db = TestDb::new(Backend::Sqlite);
    let new = Server::start(&db);
    let at_16 = nav(&new);
    for c in ["console-log", "fru-show", "command-defaults"] {
        assert!(!at_15.iter().any(|l| l == c), "{c} at 1.5: {at_15:?}");
        assert!(
            at_16.iter().any(|l| l == c),
            "{c} missing at 1.6: {at_16:?}"
        );
    }
    assert!(at_15.iter().any(|l| l == "sel-list"), "{at_15:?}");
}
