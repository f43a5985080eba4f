//! https end to end, the real igord and the real igor: the generated self-signed certificate
//! pinned on first use, a pinned certificate that changes, a CA-signed certificate trusted
//! through a CA file, and plain HTTP refused where it does not belong.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::cli::{Igor, Run};
use tests::db::{Backend, TestDb};
use tests::server::{ADMIN_PASSWORD, Server, ServerOptions};
use tests::sim::SimBmc;

on_both_backends!(
    generated_certificate_is_pinned_on_first_use,
    changed_certificate_is_refused_and_nothing_is_sent,
    ca_signed_certificate_needs_no_pin,
    plain_http_only_on_loopback_and_refused_on_https,
);

/// `igord ARGS` run to completion (with a deadline), environment cleared of igor's own.
fn igord(args: &[&str], db: &TestDb) -> std::process::Output {
    let mut child = Command::new(tests::bin("igord"))
        .args(args)
        .env("IGOR_DATABASE_URL", db.url())
        .env("IGOR_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env_remove("IGOR_LISTEN")
        .env_remove("IGOR_DATA_DIR")
        .env_remove("IGOR_CONFIG_FILE")
        .env_remove("IGOR_TLS_CERT")
        .env_remove("IGOR_TLS_KEY")
        .env_remove("IGOR_INSECURE_HTTP")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start igord");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait for igord").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("igord output");
            panic!(
                "igord {args:?} did not exit within 30 s; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("igord output")
}

/// What `igord tls-fingerprint ARGS` prints, checked to be `sha256:` and 64 hex digits.
fn tls_fingerprint(args: &[&str], db: &TestDb) -> String {
    let mut all = vec!["tls-fingerprint"];
    all.extend_from_slice(args);
    let out = igord(&all, db);
    assert!(
        out.status.success(),
        "igord {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fp = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let hex = fp.strip_prefix("sha256:").unwrap_or_default();
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "not a fingerprint: {fp:?}"
    );
    fp
}

/// The fingerprint of the generated certificate in the data folder of `s`.
fn generated_fingerprint(s: &Server, db: &TestDb) -> String {
    let dir = s.data_dir.to_str().expect("utf-8 path");
    tls_fingerprint(&["--data-dir", dir], db)
}

/// The pins igor keeps beside its config file (empty when there is no file).
fn pins(igor: &Igor) -> String {
    let path = igor.config.with_file_name("known_servers.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// `igor login` as admin with the password on stdin and `flags` before the command.
fn login(igor: &Igor, flags: &[&str]) -> Run {
    let mut args = flags.to_vec();
    args.extend_from_slice(&["login", "--user", "admin", "--password-stdin"]);
    igor.run_stdin(&args, &format!("{ADMIN_PASSWORD}\n"))
}

fn tls_server(db: &TestDb) -> Server {
    Server::start_with(
        db,
        ServerOptions {
            tls: true,
            ..ServerOptions::default()
        },
    )
}

/// igord's generated certificate: refused until trusted (the message shows the fingerprint
/// igord printed and `igord tls-fingerprint` prints), a wrong `--trust-fingerprint` refused,
/// the right one pinned by `igor login`, then the whole stack (a real BMC) over TLS with
/// no flag.
fn generated_certificate_is_pinned_on_first_use(backend: Backend) {
    let db = TestDb::new(backend);
    let s = tls_server(&db);
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    let fp = generated_fingerprint(&s, &db);
    assert!(
        s.log().contains(&format!(
            "igord: generated a self-signed TLS certificate, fingerprint {fp}\n"
        )),
        "the start-up line lacks {fp}:\n{}",
        s.log()
    );
    // The flag before the subcommand says the same.
    let out = igord(
        &[
            "--data-dir",
            s.data_dir.to_str().unwrap(),
            "tls-fingerprint",
        ],
        &db,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), fp);
    let igor = Igor::new(&s.url);

    // Unknown: refused before the password is read, with the fingerprint to compare.
    let r = login(&igor, &[]);
    r.code(1);
    assert!(
        r.stderr
            .contains("the server's certificate is not trusted (")
            && r.stderr.contains(&format!("its fingerprint is {fp}. "))
            && r.stderr.contains(&format!("--trust-fingerprint {fp}")),
        "{r}"
    );
    assert!(igor.token_files().is_empty(), "{r}");
    assert_eq!(pins(&igor), "", "nothing pinned");
    let r = igor.run(&["machine-find"]);
    r.code(1);
    assert!(
        r.stderr.contains(&format!("its fingerprint is {fp}")),
        "{r}"
    );

    // A fingerprint that is not the server's: refused, naming both, nothing pinned.
    let wrong = format!("sha256:{}", "0".repeat(64));
    let r = login(&igor, &["--trust-fingerprint", &wrong]);
    r.code(1);
    assert!(
        r.stderr.contains(&format!(
            "the server presents the certificate {fp}, not {wrong} as --trust-fingerprint says; refusing to talk to it"
        )),
        "{r}"
    );
    assert!(igor.token_files().is_empty(), "{r}");
    assert_eq!(pins(&igor), "");
    let r = login(&igor, &["--trust-fingerprint", "sha256:abc"]);
    r.code(1);
    assert!(
        r.stderr
            .contains("--trust-fingerprint: invalid fingerprint 'sha256:abc'"),
        "{r}"
    );

    // The right one, as the admin would paste it (upper case with colons): pinned.
    let pasted = fp
        .trim_start_matches("sha256:")
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let r = login(&igor, &["--trust-fingerprint", &format!("sha256:{pasted}")]);
    r.code(0);
    assert_eq!(igor.token_files().len(), 1, "{r}");
    let known = pins(&igor);
    assert!(
        known.contains(&format!("\"{}\" = \"{fp}\"", s.url)),
        "known_servers.toml: {known}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let path = igor.config.with_file_name("known_servers.toml");
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // The whole stack over TLS, no flag: a real BMC added, switched on and read back.
    let sim = SimBmc::start_new();
    igor.add_machine("m1", &sim);
    let on = igor.json(&["power-on/1", "m1"]);
    assert_eq!(on["machine"], "m1", "{on}");
    assert_eq!(sim.power_status(), "Chassis Power is on");
    let status = igor.json(&["power-status/1", "m1"]);
    assert_eq!(status["power"], "on", "{status}");
    let r = igor.ok(&["-v", "machine-find"]);
    assert!(
        r.stderr
            .contains(&format!("tls: the certificate {fp} is pinned")),
        "{r}"
    );
    assert!(r.stdout.contains("m1"), "{r}");

    // A wrong flag still loses against the server's certificate, and the pin stays.
    let r = igor.run(&["--trust-fingerprint", &wrong, "machine-find"]);
    r.code(1);
    assert!(r.stderr.contains(&format!("not {wrong}")), "{r}");
    assert_eq!(pins(&igor), known);
    igor.ok(&["machine-show", "m1"]);
}

/// A pinned certificate replaced by a new one: every call is refused loudly, naming both
/// fingerprints, before anything (the token) is sent; `--trust-fingerprint NEW` re-pins.
fn changed_certificate_is_refused_and_nothing_is_sent(backend: Backend) {
    let db = TestDb::new(backend);
    // A fixed port, so that the restarted igord has the same URL (pins are per URL).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let opts = || ServerOptions {
        tls: true,
        listen: Some(format!("127.0.0.1:{port}")),
        ..ServerOptions::default()
    };
    let mut s = Server::start_with(&db, opts());
    let old = generated_fingerprint(&s, &db);
    let igor = Igor::new(&s.url);
    login(&igor, &["--trust-fingerprint", &old]).code(0);
    igor.ok(&["machine-find"]);
    let url = s.url.clone();

    s.stop();
    for name in ["tls-cert.pem", "tls-key.pem"] {
        std::fs::remove_file(s.data_dir.join(name)).expect("remove the generated pair");
    }
    s.restart(&db, opts());
    assert_eq!(s.url, url, "the restarted igord listens elsewhere");
    let new = generated_fingerprint(&s, &db);
    assert_ne!(new, old, "a new certificate was generated");
    assert!(
        s.log().contains(&format!(
            "igord: generated a self-signed TLS certificate, fingerprint {new}\n"
        )),
        "{}",
        s.log()
    );
    let key = s.data_dir.join("tls-key.pem");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }

    for _ in 0..2 {
        let r = igor.run(&["machine-show", "m1"]);
        r.code(1);
        assert!(
            r.stderr.contains(&format!(
                "THE SERVER'S CERTIFICATE HAS CHANGED. The pinned certificate is {old}, the server now presents {new}."
            )) && r.stderr.contains(&format!("trust it with --trust-fingerprint {new}")),
            "{r}"
        );
        assert!(pins(&igor).contains(&old), "the old pin stays");
    }
    // A login is refused the same way, before the password is read.
    let r = login(&igor, &[]);
    r.code(1);
    assert!(r.stderr.contains("HAS CHANGED"), "{r}");

    // Re-pinned explicitly; the token of before still works (same database and key).
    igor.ok(&["--trust-fingerprint", &new, "machine-find"]);
    let known = pins(&igor);
    assert!(known.contains(&new) && !known.contains(&old), "{known}");
    igor.ok(&["machine-find"]);
    // Nothing of the refused calls reached igord: since its restart it logged the two
    // machine-find calls, and no machine-show and no login, which came before them.
    let since_restart = || {
        s.log()
            .rsplit_once(&format!("fingerprint {new}"))
            .map(|(_, after)| after.to_owned())
            .unwrap_or_default()
    };
    let rpc = |log: &str, command: &str| {
        log.lines()
            .filter(|l| {
                // `command=NAME/VERSION` (or a bare NAME)
                l.contains(" rpc ")
                    && (l.contains(&format!("command={command}/"))
                        || l.contains(&format!("command={command} ")))
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while rpc(&since_restart(), "machine-find") < 2 {
        assert!(
            Instant::now() < deadline,
            "igord logged no two machine-find calls: {}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = since_restart();
    assert_eq!(rpc(&log, "machine-show"), 0, "{log}");
    assert!(!log.contains(" login "), "a login reached igord: {log}");
    assert_eq!(rpc(&s.log(), "machine-show"), 0, "{}", s.log());
}

/// Makes a CA and a server certificate signed by it (for 127.0.0.1 and localhost) with the
/// openssl command; returns (ca.pem, server.pem, server.key).
fn make_ca_and_server_cert(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("openssl is needed (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut ca = vec!["req", "-x509", "-nodes", "-days", "30"];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&[
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=igor test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&ca);
    let mut csr = vec!["req", "-new", "-nodes"];
    csr.extend_from_slice(&ec);
    csr.extend_from_slice(&[
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n\
         basicConstraints = CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "2",
        "-days",
        "30",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// A certificate signed by a CA: trusted through the CA file (the global flag or the
/// context's), with no pin; refused without it.
fn ca_signed_certificate_needs_no_pin(backend: Backend) {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_ca_and_server_cert(certs.path());
    let (ca, cert, key) = (
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    );
    let db = TestDb::new(backend);
    let s = Server::start_with(
        &db,
        ServerOptions {
            tls: true,
            args: vec![
                "--tls-cert".into(),
                cert.into(),
                "--tls-key".into(),
                key.into(),
            ],
            trust: Some(PathBuf::from(ca)),
            ..ServerOptions::default()
        },
    );
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    assert!(!s.log().contains("generated a self-signed"), "{}", s.log());
    assert!(!s.data_dir.join("tls-cert.pem").exists());
    let fp = tls_fingerprint(&["--tls-cert", cert, "--tls-key", key], &db);
    // The harness's own client validates the chain against the CA.
    assert_eq!(s.get("/api/ping", &[]).status, 200);

    // Without the CA: refused, saying why, with the fingerprint of the served certificate.
    let igor = Igor::new(&s.url);
    let r = login(&igor, &[]);
    r.code(1);
    assert!(
        r.stderr.contains(&format!(
            "the server's certificate is not trusted (it is not signed by a trusted authority); its fingerprint is {fp}."
        )),
        "{r}"
    );
    assert!(igor.token_files().is_empty());

    // With it (the global flag): valid, nothing pinned.
    login(&igor, &["--certificate-authority", ca]).code(0);
    let r = igor.ok(&["--certificate-authority", ca, "-v", "-o", "json", "ping"]);
    assert!(
        r.stderr
            .contains(&format!("tls: trusting 1 certificates of {ca}"))
            && r.stderr
                .contains(&format!("tls: the certificate {fp} is valid")),
        "{r}"
    );
    assert_eq!(r.json()["user"], "admin", "{r}");
    assert_eq!(pins(&igor), "", "a valid certificate is not pinned");
    // The CA was for one run: without it, refused again.
    let r = igor.run(&["ping"]);
    r.code(1);
    assert!(
        r.stderr.contains("not signed by a trusted authority"),
        "{r}"
    );

    // A CA file that is not there: said in words, with what to give instead.
    let r = igor.run(&["--certificate-authority", "/nonexistent/ca.pem", "ping"]);
    r.code(1);
    assert!(
        r.stderr.contains(
            "cannot read the certificate authority file /nonexistent/ca.pem: no such file; give the PEM file"
        ) && !r.stderr.contains("os error"),
        "{r}"
    );
    let r = igor.run_bare(
        &[
            "config",
            "set-context",
            "x",
            "--server",
            &s.url,
            "--certificate-authority",
            "/nonexistent/ca.pem",
        ],
        "",
    );
    r.code(1);
    assert!(
        r.stderr.starts_with(
            "error: --certificate-authority /nonexistent/ca.pem: no such file; give the PEM file"
        ) && !r.stderr.contains("os error"),
        "{r}"
    );

    // Through a context that names the CA file.
    let ctx = Igor::new(&s.url);
    ctx.run_bare(
        &[
            "config",
            "set-context",
            "lab",
            "--server",
            &s.url,
            "--user",
            "admin",
            "--certificate-authority",
            ca,
        ],
        "",
    )
    .code(0);
    ctx.run_bare(&["config", "set-context", "no-ca", "--server", &s.url], "")
        .code(0);
    let r = ctx.run_bare(
        &["--context", "lab", "login", "--password-stdin"],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    r.code(0);
    let r = ctx.run_bare(&["--context", "lab", "-o", "json", "ping"], "");
    r.code(0);
    assert_eq!(r.json()["user"], "admin", "{r}");
    let r = ctx.run_bare(&["--context", "lab", "machine-find"], "");
    r.code(0);
    assert_eq!(pins(&ctx), "", "a valid certificate is not pinned");
    // The same server through a context without the CA: refused.
    let r = ctx.run_bare(&["--context", "no-ca", "ping"], "");
    r.code(1);
    assert!(
        r.stderr.contains("not signed by a trusted authority"),
        "{r}"
    );
}

/// `--insecure-http` off loopback is refused at start; a plain-HTTP client of the https
/// port gets an error and igord goes on serving https.
fn plain_http_only_on_loopback_and_refused_on_https(backend: Backend) {
    let db = TestDb::new(backend);
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    let data_dir = data_dir.to_str().unwrap();
    for listen in ["0.0.0.0:0", "192.0.2.1:8623", "[::]:0"] {
        let out = igord(
            &[
                "--listen",
                listen,
                "--insecure-http",
                "--data-dir",
                data_dir,
            ],
            &db,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{listen}: {stderr}");
        assert!(
            stderr.contains(&format!("refusing plain HTTP on {listen}"))
                && stderr.contains("--insecure-http is allowed only on a loopback address"),
            "{listen}: {stderr}"
        );
        assert!(!stderr.contains("listening on"), "{stderr}");
    }

    let s = tls_server(&db);
    let fp = generated_fingerprint(&s, &db);
    let igor = Igor::new(&s.url);
    login(&igor, &["--trust-fingerprint", &fp]).code(0);
    let plain = s.url.replacen("https://", "http://", 1);
    for _ in 0..3 {
        let r = igor.run_bare(&["--server", &plain, "ping"], "");
        r.code(1);
        assert!(
            r.stderr
                .contains(&format!("error: cannot reach the server at {plain}: ")),
            "{r}"
        );
    }
    // igord is still up and serving https, to igor and to the harness's client.
    let r = igor.ok(&["-o", "json", "ping"]);
    assert_eq!(r.json()["user"], "admin", "{r}");
    assert_eq!(s.get("/api/ping", &[]).status, 200);
    assert!(!s.log().contains("panicked"), "{}", s.log());
}
