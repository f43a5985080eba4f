//! The serial console over IPMI 2.0 SOL against OpenIPMI's ipmi_sim, whose serial port is a
//! TCP server of the test's (the host's side of the line): output reaches us, keystrokes
//! reach the host, a second console is refused while ours holds SOL (ipmitool is too), and
//! a forced one takes it over.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use server::bmc::BmcTarget;
use server::bmc::sol::{ConsoleError, SolConsole};
use tests::cli::Igor;
use tests::db::{Backend, TestDb};
use tests::pty::{Pty, is_cooked};
use tests::server::{ADMIN_PASSWORD, Server, ServerOptions};
use tests::sim::SimBmc;

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

/// The host's end of the serial line: ipmi_sim connects when SOL is activated.
fn accept(host: &TcpListener) -> TcpStream {
    host.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match host.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "ipmi_sim did not connect its serial port"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Reads from the host's end until `want` has arrived.
fn read_until(serial: &mut TcpStream, want: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.windows(want.len()).any(|w| w == want) {
        let n = serial.read(&mut buf).expect("the host's serial line");
        assert!(n > 0, "the serial line closed; got {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    got
}

async fn output_until(console: &mut SolConsole, want: &[u8]) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while !got.windows(want.len()).any(|w| w == want) {
        assert!(Instant::now() < deadline, "no {want:?} in {got:?}");
        let out = console
            .pump(Instant::now() + Duration::from_millis(200))
            .await
            .unwrap();
        got.extend(out.data);
    }
    got
}

/// Types `keys` and pumps until the BMC has acknowledged every one.
async fn type_acknowledged(console: &mut SolConsole, keys: &[u8]) {
    console.write(keys);
    let deadline = Instant::now() + Duration::from_secs(10);
    while console.unacknowledged() > 0 {
        assert!(Instant::now() < deadline, "keystrokes not acknowledged");
        console
            .pump(Instant::now() + Duration::from_millis(100))
            .await
            .unwrap();
    }
}

#[test]
fn sol_console_against_ipmi_sim() {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let sim = SimBmc::with_serial(host.local_addr().unwrap().port());
    let target = BmcTarget {
        host: sim.host.clone(),
        port: sim.port,
        username: sim.user.clone(),
        password: sim.password.clone(),
        cipher_suite: 3,
        redfish: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut console = SolConsole::activate(&target, soon(), false).await.unwrap();
        let mut serial = accept(&host);

        // The host prints; the console sees it.
        serial
            .write_all(b"\r\nDebian GNU/Linux 13 node1 ttyS0\r\n\r\nnode1 login: ")
            .unwrap();
        let got = output_until(&mut console, b"login: ").await;
        assert!(got.ends_with(b"node1 login: "), "{got:?}");

        // Keystrokes reach the host, acknowledged.
        type_acknowledged(&mut console, b"root\r").await;
        assert_eq!(read_until(&mut serial, b"root\r"), b"root\r");

        // Several kilobytes in one go arrive whole and in order.
        let text: Vec<u8> = (0..4000u32)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789\r\n"[(i % 38) as usize])
            .chain(b"END".iter().copied())
            .collect();
        serial.write_all(&text).unwrap();
        let got = output_until(&mut console, b"END").await;
        assert_eq!(got, text);

        // While we hold SOL: ipmitool is refused, and so is another console of ours.
        let other = sim.ipmitool(&["sol", "activate"]);
        let said = String::from_utf8_lossy(&other.stdout).to_string()
            + &String::from_utf8_lossy(&other.stderr);
        assert!(said.to_lowercase().contains("already active"), "{said}");
        match SolConsole::activate(&target, soon(), false).await {
            Err(ConsoleError::InUse(why)) => assert!(why.contains("already active"), "{why}"),
            Err(e) => panic!("expected in use, got {e}"),
            Ok(_) => panic!("a second console while SOL is active"),
        }

        // --force takes it over. ipmi_sim tells the session it took SOL from nothing; its
        // next keystrokes go unacknowledged, and it ends with a message saying so.
        let mut second = SolConsole::activate(&target, soon(), true).await.unwrap();
        console.write(b"x");
        let deadline = Instant::now() + Duration::from_secs(10);
        let ended = loop {
            match console
                .pump(Instant::now() + Duration::from_millis(200))
                .await
            {
                Ok(out) if out.deactivated => break "deactivated".to_owned(),
                Ok(_) => assert!(Instant::now() < deadline, "the first console did not end"),
                Err(e) => break e.to_string(),
            }
        };
        assert!(
            ended == "deactivated" || ended.contains("did not acknowledge"),
            "{ended}"
        );
        // The serial line stays connected: the new console sees the host's output.
        serial.write_all(b"again: ").unwrap();
        output_until(&mut second, b"again: ").await;
        second.deactivate(Duration::from_secs(2)).await;
        // Released: ipmitool could activate now (checked through ours, which does not hang).
        // A new session's keystrokes get through, although ipmi_sim keeps the number it
        // last acknowledged across sessions (the probe at activation steps past it).
        let mut third = SolConsole::activate(&target, soon(), false).await.unwrap();
        type_acknowledged(&mut third, b"third\r").await;
        read_until(&mut serial, b"third\r");
        third.deactivate(Duration::from_secs(2)).await;
    });
}

/// Everything `serial` receives from now on, gathered by a thread (the host's end of the
/// line, read while the test types elsewhere).
fn record_serial(serial: &TcpStream) -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut reader = serial.try_clone().unwrap();
    reader.set_read_timeout(None).unwrap();
    let sink = got.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    got
}

fn wait_for_serial(got: &std::sync::Mutex<Vec<u8>>, want: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !got.lock().unwrap().windows(want.len()).any(|w| w == want) {
        assert!(
            Instant::now() < deadline,
            "the host never received {:?}; it got {:?}",
            String::from_utf8_lossy(want),
            String::from_utf8_lossy(&got.lock().unwrap())
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A user of the server with `role` on `machine`, logged in with igor.
fn user(admin: &Igor, url: &str, name: &str, machine: &str, role: &str) -> Igor {
    let password = format!("{name}-password-1");
    admin.ok_stdin(
        &["user-add", name, "--password-stdin"],
        &format!("{password}\n"),
    );
    admin.ok(&["permission-grant", name, machine, role]);
    let igor = Igor::new(url);
    igor.login(name, &password);
    igor
}

/// `ipmitool sol activate` at a terminal of its own (it needs one), holding the
/// simulator's SOL until it leaves or is killed.
fn ipmitool_sol(sim: &SimBmc) -> Pty {
    let port = sim.port.to_string();
    let mut cmd = std::process::Command::new("ipmitool");
    cmd.args(["-I", "lanplus", "-C", "3", "-H", &sim.host, "-p", &port])
        .args(["-U", &sim.user, "-E", "sol", "activate"])
        .env("IPMI_PASSWORD", &sim.password);
    Pty::spawn(cmd)
}

/// FreeIPMI's `ipmiconsole` at a terminal of its own against the simulator. The password
/// goes through a private config file (never argv); the workarounds are what ipmi_sim
/// needs (its Open Session privilege, and its answers about SOL payload support, size and
/// port; without them ipmiconsole gives up, or ipmi_sim crashes).
fn ipmiconsole(sim: &SimBmc, dir: &std::path::Path) -> Pty {
    let conf = dir.join("freeipmi.conf");
    std::fs::write(
        &conf,
        format!(
            "username {}\npassword {}\nworkaround-flags opensesspriv,solchannelsupport,solpayloadsize,solport\n",
            sim.user, sim.password
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new("ipmiconsole");
    cmd.args(["-h", &format!("{}:{}", sim.host, sim.port), "-I", "3"])
        .arg("--config-file")
        .arg(&conf);
    Pty::spawn(cmd)
}

/// `n` MiB of numbered lines, as a host printing a long log would, then `END-OF-BLOCK`.
fn mebibytes(n: usize) -> Vec<u8> {
    let mut block = Vec::with_capacity(n << 20);
    let mut i = 0u32;
    while block.len() < (n << 20) - 64 {
        block.extend_from_slice(
            format!("{i:07} the quick brown fox jumps over the lazy dog\r\n").as_bytes(),
        );
        i += 1;
    }
    block.extend_from_slice(b"END-OF-BLOCK\r\n");
    block
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

const LONG: Duration = Duration::from_secs(20);

/// `igor console` as people use it, through igord against ipmi_sim: at terminals, an
/// operator types and a viewer and a second operator watch; 1 MiB reaches every watcher
/// whole and in order; --force takes the keyboard over; ~. detaches and leaves the
/// terminal as it was (so does SIGTERM); ipmitool is refused while igord holds SOL and
/// works after; a script's end of input detaches; console-log and the audit trail.
#[test]
fn igor_console_with_watchers_and_a_takeover() {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let sim = SimBmc::with_serial(host.local_addr().unwrap().port());
    let db = TestDb::new(Backend::Sqlite);
    let logs = tempfile::tempdir().unwrap();
    let log_dir = logs.path().join("console");
    let server = Server::start_with(
        &db,
        ServerOptions {
            config_toml: Some(format!("[console]\nlog_dir = {:?}\n", log_dir)),
            ..Default::default()
        },
    );
    let admin = Igor::new(&server.url);
    admin.login("admin", ADMIN_PASSWORD);
    admin.add_machine("node1", &sim);
    let shown = admin.json(&["machine-show/2", "node1"]);
    assert!(
        shown["capabilities"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c == "console")),
        "an IPMI machine lists the console: {shown}"
    );
    let alice = user(&admin, &server.url, "alice", "node1", "operator");
    let bob = user(&admin, &server.url, "bob", "node1", "operator");
    let carol = user(&admin, &server.url, "carol", "node1", "viewer");

    // Alice attaches at a terminal and holds the keyboard.
    let mut a = Pty::spawn(alice.command(&["console", "node1"]));
    assert!(is_cooked(&a.termios()), "a fresh terminal is cooked");
    a.expect("you hold the keyboard", LONG);
    assert!(
        !is_cooked(&a.termios()),
        "igor console puts the terminal in raw mode"
    );
    let mut serial = accept(&host);
    let typed = record_serial(&serial);
    serial
        .write_all(b"\r\nDebian GNU/Linux 13 node1 ttyS0\r\n\r\nnode1 login: ")
        .unwrap();
    a.expect("node1 login: ", LONG);
    a.type_keys(b"root\r");
    wait_for_serial(&typed, b"root\r");
    serial.write_all(b"root\r\n[root@node1 ~]# ").unwrap();
    a.expect("[root@node1 ~]# ", LONG);

    // A viewer sees the scrollback and cannot type; a second operator is told who holds
    // the keyboard.
    let mut c = Pty::spawn(carol.command(&["console", "node1"]));
    c.expect("node1 login: root", LONG);
    c.expect("read-only", LONG);
    c.type_keys(b"rm -rf /\r");
    c.expect("typing needs the operator role", LONG);
    // A viewer's --force takes nothing: alice keeps the keyboard.
    let mut cf = Pty::spawn(carol.command(&["console", "--force", "node1"]));
    cf.expect("read-only", LONG);
    cf.type_keys(b"~.");
    assert_eq!(cf.wait(LONG), 0, "{}", cf.screen());
    assert!(
        !cf.screen().contains("took the keyboard"),
        "{}",
        cf.screen()
    );
    assert!(!a.screen().contains("taken over"), "{}", a.screen());
    let mut b = Pty::spawn(bob.command(&["console", "node1"]));
    b.expect("held by alice since", LONG);
    // An operator may choose to only watch: nothing typed leaves the client.
    let mut w = Pty::spawn(bob.command(&["console", "--read-only", "node1"]));
    w.expect("attached to node1", LONG);
    w.type_keys(b"halt\r");
    w.expect("keystrokes are not sent", LONG);
    w.type_keys(b"~.");
    assert_eq!(w.wait(LONG), 0, "{}", w.screen());
    // A window resize (SIGWINCH) is nothing to the console: alice types on below.
    let winch = std::process::Command::new("kill")
        .args(["-WINCH", &a.pid().to_string()])
        .status()
        .unwrap();
    assert!(winch.success());

    // 1 MiB of output reaches every watcher whole and in order.
    let block = mebibytes(1);
    serial.write_all(&block).unwrap();
    for (who, p) in [("alice", &a), ("carol", &c), ("bob", &b)] {
        p.expect("END-OF-BLOCK", Duration::from_secs(120));
        assert!(
            p.shows(&block),
            "{who}'s terminal does not hold the block whole and in order"
        );
        assert!(!p.shows(b"dropped"), "{who}: {}", p.screen());
    }

    // Bob leaves with ~. and his terminal is as it was.
    b.type_keys(b"\r~.");
    assert_eq!(b.wait(LONG), 0, "{}", b.screen());
    assert!(is_cooked(&b.termios()), "~. left bob's terminal raw");

    // Bob takes the keyboard over with --force; alice is told, and can no longer type.
    let mut b = Pty::spawn(bob.command(&["console", "--force", "node1"]));
    b.expect("took the keyboard from alice", LONG);
    a.expect("taken over by bob", LONG);
    b.type_keys(b"whoami\r");
    wait_for_serial(&typed, b"whoami\r");
    a.type_keys(b"reboot\r");
    a.expect("held by bob", LONG);
    b.type_keys(b"~B");
    // ipmi_sim hands the break to its line as telnet's IAC BRK, with the next characters.
    b.type_keys(b"id\r");
    wait_for_serial(&typed, &[0xff, 0xf3, b'i', b'd', b'\r']);
    // Bob sees his own line echoed by the host, and a break was sent (audited below).
    serial.write_all(b"whoami\r\nroot\r\n").unwrap();
    b.expect("whoami\r\nroot", LONG);

    // While igord holds SOL, ipmitool is refused.
    let other = sim.ipmitool(&["sol", "activate"]);
    let said = String::from_utf8_lossy(&other.stdout).to_string()
        + &String::from_utf8_lossy(&other.stderr);
    assert!(said.to_lowercase().contains("already active"), "{said}");
    let freeipmi_dir = tempfile::tempdir().unwrap();

    // Everyone leaves: ~., ~., and SIGTERM for carol; each terminal is restored.
    a.type_keys(b"\r~.");
    assert_eq!(a.wait(LONG), 0, "{}", a.screen());
    b.type_keys(b"\r~.");
    assert_eq!(b.wait(LONG), 0, "{}", b.screen());
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &c.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    c.wait(LONG);
    for (who, p) in [("alice", &a), ("bob", &b), ("carol", &c)] {
        assert!(is_cooked(&p.termios()), "{who}'s terminal was left raw");
    }
    assert!(
        !contains(&typed.lock().unwrap(), b"halt"),
        "a --read-only client's keys reached the host"
    );
    assert!(
        !contains(&typed.lock().unwrap(), b"rm -rf"),
        "the viewer's keys reached the host"
    );
    assert!(
        !contains(&typed.lock().unwrap(), b"reboot"),
        "a read-only operator's keys reached the host"
    );

    // The session is released: ipmiconsole gets SOL now and types through it (its escape
    // is &.), and so does ipmitool after it.
    let mut fi = ipmiconsole(&sim, freeipmi_dir.path());
    fi.expect("[SOL established]", LONG);
    fi.type_keys(b"freeipmi\r");
    wait_for_serial(&typed, b"freeipmi\r");
    fi.type_keys(b"&.");
    fi.wait(LONG);

    // igor without --force is told
    // the BMC's SOL is in use; --force takes it from ipmitool.
    let tool = ipmitool_sol(&sim);
    tool.expect("SOL Session operational", LONG);
    let r = alice.run_stdin(&["console", "node1"], "");
    r.code(1);
    assert!(
        r.stderr.contains("already active") && r.stderr.contains("--force"),
        "{r}"
    );
    let r = alice.run_stdin(&["console", "--force", "node1"], "uptime\r");
    r.code(0);
    wait_for_serial(&typed, b"uptime\r");
    drop(tool);

    // A script: its input typed, its end detaching once delivered, and the host's answer
    // to it shown before igor leaves.
    let answer = {
        let (typed, mut serial) = (typed.clone(), serial.try_clone().unwrap());
        std::thread::spawn(move || {
            wait_for_serial(&typed, b"date\r");
            serial
                .write_all(b"date\r\nWed Dec  2 10:02:00 UTC 2026\r\n# ")
                .unwrap();
        })
    };
    let r = alice.run_stdin(&["console", "node1"], "date\r");
    r.code(0);
    answer.join().unwrap();
    assert!(r.stderr.contains("attached to node1"), "{r}");
    assert!(r.stdout.contains("Wed Dec  2 10:02:00 UTC 2026"), "{r}");

    // console-log shows the end of the output without attaching, to a viewer too.
    let r = carol.ok(&["console-log", "node1", "--lines", "3"]);
    assert!(r.stdout.contains("Wed Dec  2 10:02:00 UTC 2026"), "{r}");
    assert_eq!(r.stdout.lines().count(), 3, "{r}");

    // The log file has the console's output, and only its owner may read it.
    let log = log_dir.join("node1.log");
    let deadline = Instant::now() + LONG;
    while !std::fs::read(&log).is_ok_and(|b| contains(&b, b"END-OF-BLOCK")) {
        assert!(
            Instant::now() < deadline,
            "no END-OF-BLOCK in {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read(&log).unwrap();
    assert!(
        contains(&text, b"node1 login: root"),
        "{}",
        String::from_utf8_lossy(&text[..200.min(text.len())])
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", log.display());
    }

    // The audit trail: attaches, the takeover and the break, with user and machine; no
    // keystroke.
    let audit = admin.ok(&["-o", "json", "audit-find", "--since", "10m", "node1"]);
    let rows = audit.json_lines();
    let has = |user: &str, command: &str, detail: &str| {
        rows.iter().any(|r| {
            r["user"] == user
                && r["command"] == command
                && r["detail"].as_str().unwrap_or_default().contains(detail)
        })
    };
    assert!(has("alice", "console-attach", "writer"), "{audit}");
    assert!(has("carol", "console-attach", "read-only"), "{audit}");
    assert!(has("bob", "console-takeover", "from alice"), "{audit}");
    assert!(has("bob", "console-break", ""), "{audit}");
    assert!(has("alice", "console-detach", ""), "{audit}");
    assert!(
        rows.iter().any(|r| r["user"] == "alice"
            && r["command"] == "console-attach"
            && r["outcome"] == "conflict"),
        "the refused attach is not in the audit: {audit}"
    );
    for secret in ["whoami", "uptime", "rm -rf"] {
        assert!(
            !audit.stdout.contains(secret),
            "a keystroke in the audit: {audit}"
        );
    }
}

/// A BMC that stops answering ends the console with a clear message, and the terminal is
/// restored.
#[test]
fn a_bmc_that_stops_answering_ends_the_console() {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut sim = SimBmc::with_serial(host.local_addr().unwrap().port());
    let db = TestDb::new(Backend::Sqlite);
    let server = Server::start(&db);
    let admin = Igor::new(&server.url);
    admin.login("admin", ADMIN_PASSWORD);
    admin.add_machine("node1", &sim);
    let mut p = Pty::spawn(admin.command(&["console", "node1"]));
    p.expect("you hold the keyboard", LONG);
    let _serial = accept(&host);
    sim.stop();
    p.expect("the BMC stopped answering", Duration::from_secs(40));
    assert_eq!(p.wait(LONG), 1, "{}", p.screen());
    assert!(is_cooked(&p.termios()), "the terminal was left raw");
}

/// A BMC whose serial line is `host`, the machine node1 on it, and igord on SQLite with its
/// admin logged in: what most console tests start from.
struct Lab {
    host: TcpListener,
    _sim: SimBmc,
    server: Server,
    admin: Igor,
    _db: TestDb,
}

fn lab() -> Lab {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let sim = SimBmc::with_serial(host.local_addr().unwrap().port());
    let db = TestDb::new(Backend::Sqlite);
    let server = Server::start(&db);
    let admin = Igor::new(&server.url);
    admin.login("admin", ADMIN_PASSWORD);
    admin.add_machine("node1", &sim);
    Lab {
        host,
        _sim: sim,
        server,
        admin,
        _db: db,
    }
}

/// A watcher that stops reading loses the oldest output and is told so, while the writer's
/// terminal gets every byte: its queue is bounded, and nobody waits for it.
#[test]
fn a_slow_watcher_is_told_what_it_lost_and_holds_up_nobody() {
    use tungstenite::client::IntoClientRequest;

    let lab = lab();
    let (host, server, admin) = (&lab.host, &lab.server, &lab.admin);
    let a = Pty::spawn(admin.command(&["console", "node1"]));
    a.expect("you hold the keyboard", LONG);
    let mut serial = accept(host);

    // The slow watcher: a WebSocket with a tiny receive buffer that reads nothing more
    // after its attach.
    let token = server.login("admin", ADMIN_PASSWORD).body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();
    sock.connect(&addr.into()).unwrap();
    let tcp: TcpStream = sock.into();
    let mut req = format!(
        "ws://127.0.0.1:{}/api/console/node1?read_only=true",
        server.port()
    )
    .into_client_request()
    .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tungstenite::client(req, tcp).expect("the WebSocket upgrade");
    let hello = ws.read().unwrap();
    assert!(
        hello.to_text().unwrap().contains("\"attached\""),
        "{hello:?}"
    );

    // More than the kernel's socket buffers can hold for it (4 MiB of send buffer at most
    // here), so its queue in igord must overflow.
    let block = mebibytes(8);
    serial.write_all(&block).unwrap();
    a.expect("END-OF-BLOCK", Duration::from_secs(120));
    assert!(
        a.shows(&block),
        "the writer's terminal lost output to a slow watcher"
    );

    // Now the slow one reads what was kept for it: less than everything, and a notice.
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut bytes = 0usize;
    let mut notices = Vec::new();
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Binary(b)) => bytes += b.len(),
            Ok(tungstenite::Message::Text(t)) => notices.push(t.to_string()),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(
        notices.iter().any(|n| n.contains("\"dropped\"")),
        "no dropped notice in {notices:?} ({bytes} bytes read)"
    );
    assert!(bytes < block.len(), "{bytes} bytes: nothing was dropped");
}

/// A console nobody types on and nothing prints to is released after
/// `[console] idle_timeout_secs`, and its clients are told why.
#[test]
fn an_idle_console_is_released() {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let sim = SimBmc::with_serial(host.local_addr().unwrap().port());
    let db = TestDb::new(Backend::Sqlite);
    let server = Server::start_with(
        &db,
        ServerOptions {
            config_toml: Some("[console]\nidle_timeout_secs = 2\n".into()),
            ..Default::default()
        },
    );
    let admin = Igor::new(&server.url);
    admin.login("admin", ADMIN_PASSWORD);
    admin.add_machine("node1", &sim);
    // A plain GET is refused before anything reaches the BMC: no SOL session is opened.
    let token = server.login("admin", ADMIN_PASSWORD).body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = server.get(
        "/api/console/node1",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"), "{r:?}");
    assert!(r.message().contains("WebSocket"), "{r:?}");
    let attaches = admin.ok(&[
        "-o",
        "json",
        "audit-find",
        "--since",
        "10m",
        "--command",
        "console-",
    ]);
    assert!(attaches.json_lines().is_empty(), "{attaches}");
    let mut p = Pty::spawn(admin.command(&["console", "node1"]));
    p.expect("you hold the keyboard", LONG);
    let _serial = accept(&host);
    p.expect("idle for 2 s and is released", LONG);
    assert_eq!(p.wait(LONG), 1, "{}", p.screen());
    assert!(is_cooked(&p.termios()), "the terminal was left raw");
    // Released on the BMC too: ipmitool may activate SOL now.
    let tool = ipmitool_sol(&sim);
    tool.expect("SOL Session operational", LONG);
}

/// An attached client keeps its console only while it keeps its access: a revoked
/// permission ends an operator's console, and a logged-out token a viewer's, each told why.
#[test]
fn revoked_access_ends_an_attached_console() {
    let lab = lab();
    let (host, server, admin) = (&lab.host, &lab.server, &lab.admin);
    let otto = user(admin, &server.url, "otto", "node1", "operator");
    let vera = user(admin, &server.url, "vera", "node1", "viewer");
    let mut writer = Pty::spawn(otto.command(&["console", "node1"]));
    writer.expect("you hold the keyboard", LONG);
    let _serial = accept(host);
    let mut watcher = Pty::spawn(vera.command(&["console", "node1"]));
    watcher.expect("read-only", LONG);

    admin.ok(&["permission-revoke", "otto", "node1"]);
    writer.expect("your access to the console changed", LONG);
    assert_eq!(writer.wait(LONG), 1, "{}", writer.screen());
    assert!(is_cooked(&writer.termios()), "the terminal was left raw");
    // The viewer stays attached (otto's revocation is not hers): it is still there to be
    // ended by her own logout.
    vera.ok(&["logout"]);
    watcher.expect("your session ended", LONG);
    assert_eq!(watcher.wait(LONG), 1, "{}", watcher.screen());
    let detaches = admin.ok(&["-o", "json", "audit-find", "--command", "console-detach"]);
    let why: Vec<String> = detaches
        .json_lines()
        .iter()
        .filter_map(|r| r["detail"].as_str().map(str::to_owned))
        .collect();
    assert!(
        why.iter()
            .any(|d| d.contains("access to the console changed"))
            && why.iter().any(|d| d.contains("session ended")),
        "{why:?}"
    );
}
