//! A real `igord` process for a test: started on `127.0.0.1:0` with its own data folder,
//! its log captured to a file, stopped on drop.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::db::{Backend, TestDb};

pub const ADMIN_PASSWORD: &str = "admin-password-1";

#[derive(Default)]
pub struct ServerOptions {
    pub pin: Option<String>,
    pub config_toml: Option<String>,
    pub env: Vec<(String, String)>,
    /// Serve HTTPS (the generated certificate, or `--tls-cert/--tls-key` in `args`);
    /// otherwise plain HTTP on loopback with `--insecure-http`.
    pub tls: bool,
    /// More igord flags.
    pub args: Vec<String>,
    /// The address to listen on [default: `127.0.0.1:0`, a free port]; a restart on the
    /// same address keeps the server's URL.
    pub listen: Option<String>,
    /// The PEM file the test's HTTP client trusts over TLS [default: the generated
    /// self-signed certificate in the data folder].
    pub trust: Option<PathBuf>,
}

pub struct Server {
    pub url: String,
    /// Trusts this server's certificate when it serves HTTPS.
    agent: ureq::Agent,
    pub data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

/// An HTTP answer: status, headers we care about, JSON body (Null when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

fn agent() -> ureq::Agent {
    agent_trusting(None)
}

/// An HTTP client; over TLS it trusts only the certificates in `pem` (none: no https).
pub fn agent_trusting(pem: Option<&[u8]>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)));
    if let Some(pem) = pem {
        let roots: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        assert!(
            !roots.is_empty(),
            "no certificate in the PEM given to trust"
        );
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(roots)))
                .build(),
        );
    }
    config.build().into()
}

pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Reply {
    send_with(&agent(), method, url, headers, body)
}

pub fn send_with(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Reply {
    try_send_with(agent, method, url, headers, body)
        .unwrap_or_else(|e| panic!("HTTP request failed: {method} {url}: {e}"))
}

/// `send_with`, with a failure to exchange the request (no HTTP answer) returned.
fn try_send_with(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Reply, ureq::Error> {
    let resp = match (method, body) {
        ("GET", _) => {
            let mut r = agent.get(url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        (m, b) => {
            let mut r = match m {
                "POST" => agent.post(url),
                "PUT" => agent.put(url),
                "DELETE" => {
                    let mut r = agent.delete(url);
                    for (k, v) in headers {
                        r = r.header(*k, *v);
                    }
                    return finish(r.call());
                }
                other => panic!("method {other} not supported by the test client"),
            };
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            match b {
                Some(b) => r.send_json(b),
                None => r.send_empty(),
            }
        }
    };
    finish(resp)
}

fn finish(
    resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Reply, ureq::Error> {
    let mut resp = resp?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    // A body that cannot be read fails the call: taking it for empty would make every
    // "the secret is not in the answer" pass.
    let text = resp
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("reading the body of a {status} answer: {e}"));
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

impl Server {
    pub fn start(db: &TestDb) -> Server {
        Server::start_with(db, ServerOptions::default())
    }

    pub fn start_with(db: &TestDb, opts: ServerOptions) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let mut s = Server {
            url: String::new(),
            agent: agent(),
            log_path: dir.path().join("igord.log"),
            data_dir,
            child: None,
            _dir: Some(dir),
        };
        s.spawn(db.url(), &opts);
        s
    }

    /// Starts igord again on the same data folder and database (a restart).
    pub fn restart(&mut self, db: &TestDb, opts: ServerOptions) {
        self.stop();
        self.spawn(db.url(), &opts);
    }

    fn spawn(&mut self, db_url: &str, opts: &ServerOptions) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("log file");
        let start_len = std::fs::metadata(&self.log_path)
            .map(|m| m.len())
            .unwrap_or(0);
        let mut cmd = Command::new(crate::bin("igord"));
        cmd.arg("--listen")
            .arg(opts.listen.as_deref().unwrap_or("127.0.0.1:0"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&opts.args)
            .env("IGOR_DATABASE_URL", db_url)
            .env("IGOR_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("IGOR_LOG", "info")
            .env_remove("IGOR_SECRET_KEY")
            .env_remove("IGOR_PIN_API_LEVEL")
            .env_remove("IGOR_CONFIG_FILE")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        if !opts.tls {
            cmd.arg("--insecure-http");
        }
        if let Some(pin) = &opts.pin {
            cmd.arg("--pin-api-level").arg(pin);
        }
        if let Some(toml) = &opts.config_toml {
            let path = self.data_dir.with_file_name("igord.toml");
            std::fs::write(&path, toml).expect("config file");
            cmd.arg("--config").arg(path);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start igord");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = read_from(&self.log_path, start_len);
            // Only a whole line: stderr is unbuffered, so the line may arrive in pieces.
            let listening = log
                .find("igord: listening on ")
                .map(|pos| &log[pos + "igord: listening on ".len()..])
                .and_then(|rest| rest.split_once('\n'));
            if let Some((url, _)) = listening {
                self.url = url.trim().to_owned();
                if opts.tls {
                    let trust = opts
                        .trust
                        .clone()
                        .unwrap_or_else(|| self.data_dir.join("tls-cert.pem"));
                    let pem = std::fs::read(&trust).expect("the certificate to trust");
                    self.agent = agent_trusting(Some(&pem));
                }
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("igord exited with {status} before listening; its log:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "igord did not start within 30 s; log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits; kills after 10 s.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The igord process id (for /proc readings).
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("igord is running")
    }

    /// The port igord listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the server URL")
    }

    /// Everything igord wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        read_from(&self.log_path, 0)
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers, None)
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Reply {
        self.send("POST", path, headers, body)
    }

    /// Any request (GET, POST, PUT, DELETE) to this igord.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        self.send(method, path, headers, body)
    }

    /// A request to this igord; when it gets no HTTP answer at all, the panic shows the
    /// end of igord's log, which is gone with the test's folder once the test has failed.
    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let url = format!("{}{path}", self.url);
        try_send_with(&self.agent, method, &url, headers, body).unwrap_or_else(|e| {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "HTTP request failed: {method} {url}: {e}\n--- the end of igord's log\n{}",
                tail.join("\n")
            )
        })
    }

    pub fn login(&self, user: &str, password: &str) -> Reply {
        self.post(
            "/api/login",
            &[],
            Some(&json!({"user": user, "password": password})),
        )
    }

    /// A token for `user`, or panics with the server's answer.
    pub fn token(&self, user: &str, password: &str) -> String {
        let r = self.login(user, password);
        assert_eq!(r.status, 200, "login of {user}: {r:?}");
        r.body["token"].as_str().expect("token").to_owned()
    }

    pub fn admin(&self) -> String {
        self.token("admin", ADMIN_PASSWORD)
    }

    pub fn rpc(&self, token: &str, command: &str, params: Value) -> Reply {
        let auth = format!("Bearer {token}");
        self.post(
            "/api/rpc",
            &[("Authorization", &auth)],
            Some(&json!({"command": command, "params": params})),
        )
    }

    /// An RPC that must succeed; returns its `result`.
    pub fn ok(&self, token: &str, command: &str, params: Value) -> Value {
        let r = self.rpc(token, command, params);
        assert_eq!(r.status, 200, "{command} failed: {r:?}");
        r.body["result"].clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The log from byte `from` on. Read as bytes and shown lossily: one byte that is not
/// UTF-8 must not make the whole log read as empty, and every "never in the log" pass.
fn read_from(path: &Path, from: u64) -> String {
    let mut bytes = Vec::new();
    let mut f =
        std::fs::File::open(path).unwrap_or_else(|e| panic!("igord's log {}: {e}", path.display()));
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(from))
        .and_then(|_| f.read_to_end(&mut bytes))
        .unwrap_or_else(|e| panic!("igord's log {}: {e}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A server on a fresh database of `backend`; keep the `TestDb` alive as long as the server.
pub fn fresh(backend: Backend) -> (TestDb, Server) {
    let db = TestDb::new(backend);
    let server = Server::start(&db);
    (db, server)
}
