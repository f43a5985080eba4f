//! The real `igor` binary for tests, in an isolated setup (its own config file, token folder,
//! cache folder and HOME), and `CountingProxy`: a plain TCP relay in front of igord that
//! records every request the client sends, which is how the cache tests count requests.

use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Environment variables igor reads; a test's setup starts without any of them.
const IGOR_ENV: &[&str] = &[
    "IGOR_SERVER",
    "IGOR_CONTEXT",
    "IGOR_TOKEN",
    "IGOR_CONFIG",
    "IGOR_CACHE_DIR",
    "IGOR_FORCE_SCHEMA_CHECK",
    "IGOR_KNOWN_LEVEL",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "COMPLETE",
    "NO_COLOR",
];

/// Marks of a Debug dump or a panic: what a user must never see on stderr.
const NEVER_ON_STDERR: &[&str] = &[
    "panicked at",
    "stack backtrace",
    "RUST_BACKTRACE",
    "Error {",
    "ApiError",
    "Unreachable(",
    "Os { code",
    "Custom {",
];

/// One user's igor setup talking to one server URL (given as `--server` on every run).
pub struct Igor {
    pub server: String,
    pub config: PathBuf,
    pub cache_dir: PathBuf,
    /// Extra environment for every run (e.g. `IGOR_KNOWN_LEVEL`).
    pub env: Vec<(String, String)>,
    home: tempfile::TempDir,
}

/// What one run of igor produced.
#[derive(Debug)]
pub struct Run {
    pub argv: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing the whole run when it differs.
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(self.code, expected, "exit code of {self}");
        self
    }

    /// The `warning: ` lines on stderr.
    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("warning: "))
            .collect()
    }

    /// stdout parsed as JSON (for `-o json` runs).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }
}

impl Run {
    /// stdout parsed as JSON lines (a streamed command's `-o json` output: one per item).
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("'{l}' is not a JSON line ({e}): {self}"))
            })
            .collect()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "igor {}\n--- exit {}\n--- stdout\n{}--- stderr\n{}---",
            self.argv.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }
}

impl Igor {
    pub fn new(server: &str) -> Igor {
        let home = tempfile::tempdir().expect("temp dir");
        Igor {
            server: server.to_owned(),
            config: home.path().join("config").join("config.toml"),
            cache_dir: home.path().join("cache"),
            env: Vec::new(),
            home,
        }
    }

    /// A setup whose every run also gets `env`.
    pub fn with_env(server: &str, env: &[(&str, &str)]) -> Igor {
        let mut igor = Igor::new(server);
        igor.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        igor
    }

    /// The folder holding this setup's config, tokens and cache (also its HOME).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Runs `igor --server URL ARGS` with empty stdin.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_stdin(args, "")
    }

    /// Runs `igor --server URL ARGS` with `stdin` as its standard input. Every run is
    /// checked for panics and Debug dumps on stderr, whatever its exit code.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut argv = vec!["--server", self.server.as_str()];
        argv.extend_from_slice(args);
        self.run_bare(&argv, stdin)
    }

    /// Runs `igor ARGS` without the `--server` flag (contexts choose the server), with
    /// `stdin` as its standard input, checked like `run_stdin`.
    pub fn run_bare(&self, args: &[&str], stdin: &str) -> Run {
        self.spawn(args, stdin, Spawn::default())
    }

    /// `igor --server URL ARGS` writing into a pipe whose reader has already gone, as in
    /// `igor ... | head -1` once head is done: every write to stdout fails with EPIPE.
    pub fn run_closed_stdout(&self, args: &[&str]) -> Run {
        let mut argv = vec!["--server", self.server.as_str()];
        argv.extend_from_slice(args);
        let spawn = Spawn {
            closed_stdout: true,
            ..Spawn::default()
        };
        self.spawn(&argv, "", spawn)
    }

    /// `igor --server URL ARGS` in a session of its own, without a controlling terminal
    /// (`setsid`), as from cron or CI: nothing can be asked on `/dev/tty`, even when the
    /// tests run from a terminal.
    pub fn run_without_terminal(&self, args: &[&str], stdin: &str) -> Run {
        let mut argv = vec!["--server", self.server.as_str()];
        argv.extend_from_slice(args);
        let spawn = Spawn {
            no_terminal: true,
            ..Spawn::default()
        };
        self.spawn(&argv, stdin, spawn)
    }

    /// `igor --server URL ARGS` with stdin, stdout and stderr on a terminal (a
    /// pseudo-terminal from util-linux's `script`), as at a shell, with `env` added (it
    /// overrides the `NO_COLOR=1` every other run gets). The terminal mixes both streams:
    /// they come back together as `stdout`, its `\r\n` made `\n`.
    pub fn run_on_terminal(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let mut line = quote(&crate::bin("igor").display().to_string());
        for a in ["--server", self.server.as_str()].iter().chain(args) {
            line.push(' ');
            line.push_str(&quote(a));
        }
        let mut cmd = Command::new("script");
        cmd.args(["-q", "-e", "-c", &line, "/dev/null"]);
        for k in IGOR_ENV {
            cmd.env_remove(k);
        }
        let out = cmd
            .env("HOME", self.home.path())
            .env("IGOR_CONFIG", &self.config)
            .env("IGOR_CACHE_DIR", &self.cache_dir)
            .env("RUST_BACKTRACE", "0")
            .env("NO_COLOR", "1")
            .env("TERM", "xterm")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run script ({e}); this test needs util-linux: apt-get install util-linux")
            });
        let run = Run {
            argv: args.iter().map(|a| a.to_string()).collect(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        for mark in NEVER_ON_STDERR {
            assert!(
                !run.stdout.contains(mark),
                "the terminal shows '{mark}': {run}"
            );
        }
        run
    }

    /// What the completion script gets when it asks igor for candidates, as fish's asks:
    /// `COMPLETE=fish igor -- igor --server URL WORDS...`, the last word the one being
    /// completed. One
    /// candidate a line, without the description fish shows beside it. Completion must
    /// succeed and say nothing on stderr.
    pub fn complete(&self, words: &[&str]) -> Vec<String> {
        let mut argv = vec!["--", "igor", "--server", self.server.as_str()];
        argv.extend_from_slice(words);
        let spawn = Spawn {
            complete: true,
            ..Spawn::default()
        };
        let run = self.spawn(&argv, "", spawn);
        assert_eq!(run.code, 0, "completion failed: {run}");
        assert!(run.stderr.is_empty(), "completion said something: {run}");
        run.stdout
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
            .collect()
    }

    fn spawn(&self, args: &[&str], stdin: &str, how: Spawn) -> Run {
        let argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let mut cmd = if how.no_terminal {
            let mut c = Command::new("setsid");
            c.arg(crate::bin("igor"));
            c
        } else {
            Command::new(crate::bin("igor"))
        };
        for k in IGOR_ENV {
            cmd.env_remove(k);
        }
        let stdout = if how.closed_stdout {
            let (reader, writer) = std::io::pipe().expect("a pipe");
            drop(reader);
            Stdio::from(writer)
        } else {
            Stdio::piped()
        };
        cmd.args(&argv)
            .env("HOME", self.home.path())
            .env("IGOR_CONFIG", &self.config)
            .env("IGOR_CACHE_DIR", &self.cache_dir)
            .env("RUST_BACKTRACE", "0")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(how.complete.then_some(("COMPLETE", "fish")))
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({e}){}",
                crate::bin("igor").display(),
                if how.no_terminal {
                    "; setsid comes with util-linux: apt-get install util-linux"
                } else {
                    ""
                }
            )
        });
        let mut input = child.stdin.take().expect("stdin");
        let stdin = stdin.to_owned();
        let writer = std::thread::spawn(move || {
            // igor may exit without reading its stdin (a refused call): a broken pipe here
            // is its answer, checked through its exit code and output.
            let _ = input.write_all(stdin.as_bytes());
        });
        // Both streams are read on threads of their own, so that the deadline below holds
        // even when igor hangs with them open.
        let read_all = |mut from: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                from.read_to_end(&mut bytes).map(|_| bytes)
            })
        };
        let out = read_all(match child.stdout.take() {
            Some(out) => Box::new(out),
            None => Box::new(std::io::empty()),
        });
        let err = read_all(Box::new(child.stderr.take().expect("stderr")));
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for igor") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("igor {} did not finish within 60 s", argv.join(" "));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        writer.join().expect("the stdin writer");
        // A stream that cannot be read, or is not UTF-8, fails the run: taking it for
        // empty would make every "nothing on stdout" and "no secret on stderr" pass.
        let text = |stream: std::thread::JoinHandle<std::io::Result<Vec<u8>>>, name: &str| {
            let bytes = stream
                .join()
                .expect("a stream reader")
                .unwrap_or_else(|e| panic!("reading igor's {name}: {e}"));
            String::from_utf8(bytes).unwrap_or_else(|e| {
                panic!(
                    "igor {} wrote non-UTF-8 to {name}: {:?}",
                    argv.join(" "),
                    String::from_utf8_lossy(e.as_bytes())
                )
            })
        };
        let (stdout, stderr) = (text(out, "stdout"), text(err, "stderr"));
        let run = Run {
            argv,
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        };
        for mark in NEVER_ON_STDERR {
            assert!(
                !run.stderr.contains(mark),
                "stderr shows '{mark}' (a panic or a Debug dump): {run}"
            );
        }
        run
    }

    /// Starts `igor --server URL ARGS` and hands its stdout over line by line as it comes
    /// (a followed stream); stderr is kept for the end. Killed when dropped.
    pub fn start(&self, args: &[&str]) -> Running {
        self.start_with(args, Stdio::null())
    }

    /// `igor --server URL ARGS` in this setup, for a test that wires its standard streams
    /// itself (a pseudo-terminal, say).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(crate::bin("igor"));
        for k in IGOR_ENV {
            cmd.env_remove(k);
        }
        cmd.arg("--server")
            .arg(&self.server)
            .args(args)
            .env("HOME", self.home.path())
            .env("IGOR_CONFIG", &self.config)
            .env("IGOR_CACHE_DIR", &self.cache_dir)
            .env("RUST_BACKTRACE", "0")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// As [`Igor::start`], with `stdin` (a pipe the test keeps open, say).
    pub fn start_with(&self, args: &[&str], stdin: Stdio) -> Running {
        let mut cmd = self.command(args);
        cmd.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} ({e})", crate::bin("igor").display()));
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Running {
            child,
            lines,
            stderr: Some(stderr),
        }
    }

    /// A run that must succeed without a warning.
    pub fn ok(&self, args: &[&str]) -> Run {
        self.ok_stdin(args, "")
    }

    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let run = self.run_stdin(args, stdin);
        run.code(0);
        assert!(run.warnings().is_empty(), "unexpected warning: {run}");
        run
    }

    /// `igor -o json ARGS`, which must succeed; its stdout parsed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["-o", "json"];
        all.extend_from_slice(args);
        self.ok(&all).json()
    }

    /// `igor login --user USER --password-stdin`, which must succeed.
    pub fn login(&self, user: &str, password: &str) -> Run {
        self.ok_stdin(
            &["login", "--user", user, "--password-stdin"],
            &format!("{password}\n"),
        )
    }

    /// `igor machine-add NAME` for a simulated BMC, its password on stdin (never in argv).
    pub fn add_machine(&self, name: &str, sim: &crate::sim::SimBmc) -> Run {
        let port = sim.port.to_string();
        self.ok_stdin(
            &[
                "machine-add",
                name,
                "--bmc-host",
                &sim.host,
                "--bmc-port",
                &port,
                "--bmc-user",
                &sim.user,
                "--bmc-password-stdin",
            ],
            &format!("{}\n", sim.password),
        )
    }

    /// The token files kept beside the config file.
    pub fn token_files(&self) -> Vec<PathBuf> {
        let dir = self.config.with_file_name("tokens");
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }

    /// The cache folder of this server, as `igor schema path` reports it.
    pub fn cache_folder(&self) -> PathBuf {
        PathBuf::from(self.ok(&["schema", "path"]).stdout.trim())
    }
}

/// How `Igor::spawn` starts igor.
#[derive(Clone, Copy, Default)]
struct Spawn {
    closed_stdout: bool,
    no_terminal: bool,
    /// `COMPLETE=fish`: the completion script asking for candidates.
    complete: bool,
}

/// Reads a YAML stream the way Ansible does: PyYAML's `safe_load_all` (YAML 1.1), each
/// document as JSON. Fails, saying how to get it, when python3 or PyYAML is missing.
pub fn pyyaml_load_all(yaml: &str) -> Vec<Value> {
    const SCRIPT: &str = "import json, sys\n\
try:\n    import yaml\n\
except ImportError:\n    sys.exit('PyYAML is not importable')\n\
print(json.dumps(list(yaml.safe_load_all(sys.stdin))))\n";
    let out = consumer(
        "python3",
        &["-c", SCRIPT],
        yaml,
        "python3 with PyYAML: apt-get install python3-yaml (or pip install pyyaml)",
    );
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("PyYAML's reading is not JSON ({e}): {out}"))
}

/// `jq FILTER` over `input`; fails, saying how to get it, when jq is missing.
pub fn jq(args: &[&str], input: &str) -> String {
    consumer("jq", args, input, "jq: apt-get install jq")
}

/// Runs a real consumer of igor's output on `input`; its stdout, or a failure naming what
/// to install.
fn consumer(program: &str, args: &[&str], input: &str, install: &str) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); this test needs {install}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let bytes = input.as_bytes().to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let out = child.wait_with_output().expect("wait for the consumer");
    writer
        .join()
        .expect("the stdin writer")
        .expect("write the consumer's stdin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("PyYAML is not importable"),
        "this test needs {install}"
    );
    assert!(
        out.status.success(),
        "{program} {args:?} refused its input ({}): {stderr}\n--- input\n{input}",
        out.status
    );
    String::from_utf8(out.stdout).expect("UTF-8 from the consumer")
}

/// A TCP relay on `127.0.0.1:0` to an HTTP server, recording `METHOD PATH STATUS` for each
/// request. It asks both ends for `Connection: close`, so each connection carries exactly
/// one request and no request can hide in a kept-alive connection. The upstream can be
/// changed (a restarted igord listens on a new port) while the proxy URL stays the same,
/// and with it the client's cache folder.
pub struct CountingProxy {
    pub url: String,
    upstream: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<String>>>,
    bodies: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl CountingProxy {
    /// A proxy to `upstream`, an `http://HOST:PORT` URL.
    pub fn new(upstream: &str) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let proxy = CountingProxy {
            url: format!("http://{addr}"),
            upstream: Arc::new(Mutex::new(host_port(upstream))),
            seen: Arc::default(),
            bodies: Arc::default(),
            stop: Arc::default(),
            addr,
        };
        let (upstream, seen, bodies, stop) = (
            proxy.upstream.clone(),
            proxy.seen.clone(),
            proxy.bodies.clone(),
            proxy.stop.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let to = upstream.lock().expect("proxy lock").clone();
                let (seen, bodies) = (seen.clone(), bodies.clone());
                std::thread::spawn(move || relay(conn, &to, &seen, &bodies));
            }
        });
        proxy
    }

    pub fn set_upstream(&self, upstream: &str) {
        *self.upstream.lock().expect("proxy lock") = host_port(upstream);
    }

    /// The requests recorded since the last call with their bodies, oldest first:
    /// `("POST /api/rpc", "{...}")`. Separate from `take`, which it does not drain.
    pub fn take_bodies(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.bodies.lock().expect("proxy lock"))
    }

    /// The requests recorded since the last call, oldest first: `"GET /api/schema 304"`.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().expect("proxy lock"))
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag and lets the listener go.
        let _ = TcpStream::connect(self.addr);
    }
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One request: read its head and body, forward it with `Connection: close`, pass the whole
/// answer back, record it. A client that connects and sends nothing is not a request.
fn relay(
    mut client: TcpStream,
    upstream: &str,
    seen: &Mutex<Vec<String>>,
    bodies: &Mutex<Vec<(String, String)>>,
) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = find(&buf, b"\r\n\r\n") {
            break pos + 4;
        }
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut length = 0usize;
    let mut out_head = format!("{request_line}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let name = name.trim().to_ascii_lowercase();
        assert_ne!(
            name, "transfer-encoding",
            "the proxy relays Content-Length bodies only: {head}"
        );
        if name == "content-length" {
            length = value.trim().parse().unwrap_or(0);
        }
        if name != "connection" && name != "keep-alive" {
            out_head.push_str(line);
            out_head.push_str("\r\n");
        }
    }
    out_head.push_str("Connection: close\r\n\r\n");
    while buf.len() < head_end + length {
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut answer = Vec::new();
    let forwarded = (|| -> std::io::Result<()> {
        let mut up = TcpStream::connect(upstream)?;
        up.write_all(out_head.as_bytes())?;
        up.write_all(&buf[head_end..head_end + length])?;
        up.read_to_end(&mut answer).map(drop)
    })();
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let status = match forwarded {
        Ok(()) => String::from_utf8_lossy(&answer)
            .split(' ')
            .nth(1)
            .unwrap_or("???")
            .to_owned(),
        // The server is down: the client sees a closed connection, we record why.
        Err(_) => "unreachable".to_owned(),
    };
    seen.lock()
        .expect("proxy lock")
        .push(format!("{method} {path} {status}"));
    bodies.lock().expect("proxy lock").push((
        format!("{method} {path}"),
        String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned(),
    ));
    let _ = client.write_all(&answer);
    let _ = client.shutdown(Shutdown::Both);
}

/// A running igor whose stdout is read line by line (see [`Igor::start`]).
pub struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    /// The next line of stdout, waiting at most `within`; `None` if none came (or stdout
    /// ended).
    pub fn line(&self, within: Duration) -> Option<String> {
        self.lines.recv_timeout(within).ok()
    }

    /// Writes to igor's stdin (started with a pipe, `Igor::start_with`).
    pub fn type_keys(&mut self, bytes: &[u8]) {
        self.child
            .stdin
            .as_mut()
            .expect("igor was started with a stdin pipe")
            .write_all(bytes)
            .expect("write to igor's stdin");
    }

    /// Closes igor's stdin: the end of its input.
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Waits at most `within` for igor to exit; its exit code and stderr.
    pub fn wait(mut self, within: Duration) -> (i32, String) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for igor") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "igor did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().expect("stderr reader"))
            .unwrap_or_default();
        (status.code().unwrap_or(-1), stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
