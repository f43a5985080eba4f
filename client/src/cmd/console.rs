//! `igor console MACHINE`: a machine's serial console through igord's broker (a WebSocket,
//! `GET /api/console/{machine}`), as `ipmitool sol activate` gives it without the BMC's
//! password and with igord's permissions: an operator types, a viewer watches, several
//! may watch at once, and one holds the keyboard.
//!
//! On a terminal, stdin is put in raw mode for the session and restored on every way out:
//! return, error, panic (a hook) and SIGTERM/SIGHUP/SIGINT/SIGQUIT (flags the loop checks,
//! since the signal interrupts its `poll`). At the start of a line the escape character
//! (`~`) introduces `~.` (detach), `~B` (break), `~~` (a `~`) and `~?` (help), as in ssh
//! and ipmitool. A stdin that is not a terminal is sent as it is, escapes included, and
//! its end detaches once what was sent has reached the BMC and the host's answer has
//! come back: `printf 'uptime\r' | igor console node1` types a line, prints the answer
//! and leaves.
//!
//! One thread: `poll` on stdin and the socket, so a keystroke goes out as soon as it is
//! read and output is written as soon as it arrives.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::{Arg, ArgAction, ArgMatches, Command};
use rustix::event::{PollFd, PollFlags};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::{HandshakeError, Message, WebSocket};

use crate::call::ApiError;
use crate::context::{App, EXIT_FAILED, EXIT_OK};
use crate::exit::Exit;
use crate::http::HttpResponse;

pub fn cli() -> Command {
    Command::new("console")
        .about("attach to a machine's serial console through igord (~. detaches)")
        .long_about(
            "Attach to a machine's serial console (IPMI Serial-over-LAN) through igord.\n\
             Everyone attached sees the output; one operator at a time holds the keyboard, \
             and the others watch read-only until it is free. On a terminal, at the start of \
             a line: ~. detaches, ~B sends a break, ~~ sends a ~, ~? lists these. A stdin \
             that is not a terminal is typed as it comes, and its end detaches once it has \
             reached the BMC and the host's answer has been printed.",
        )
        .arg(
            Arg::new("machine")
                .value_name("MACHINE")
                .required(true)
                .help("machine name"),
        )
        .arg(
            Arg::new("read-only")
                .long("read-only")
                .action(ArgAction::SetTrue)
                .help("watch without typing, even with the operator role"),
        )
        .arg(
            Arg::new("force")
                .long("force")
                .action(ArgAction::SetTrue)
                .help(
                    "take the keyboard from whoever holds it, or SOL from another tool on the BMC",
                ),
        )
        .arg(
            Arg::new("escape")
                .long("escape-char")
                .short('e')
                .value_name("CHAR")
                .default_value("~")
                .help("the escape character (one printable ASCII character), or 'none'"),
        )
}

pub fn exec(app: &mut App<'_>, m: &ArgMatches) -> Result<i32> {
    let machine = m.get_one::<String>("machine").cloned().unwrap_or_default();
    let read_only = m.get_flag("read-only");
    let force = m.get_flag("force");
    let escape = escape_char(m.get_one::<String>("escape").map_or("~", String::as_str))?;
    let target = app.target()?;
    let (token, _) = app.token(&target);
    let token = token.ok_or_else(|| {
        anyhow!(
            "not logged in to {}{}: run 'igor login' first",
            target.server,
            target.identity.suffix()
        )
    })?;
    let url = console_url(&target.server, &machine, read_only, force)?;
    let tls = app.http.tls_shared();
    let ws = connect(&url, &token, tls.as_ref(), &target.server)?;
    let stdin_tty = rustix::termios::isatty(std::io::stdin());
    let mut console = Console {
        ws,
        escapes: Escapes::new(if stdin_tty { escape } else { None }),
        read_only,
        raw: None,
        told_read_only: false,
    };
    if stdin_tty {
        console.raw = Some(RawMode::enter()?);
    }
    let code = console.relay();
    // Restored before any error is printed.
    drop(console.raw.take());
    code
}

fn escape_char(s: &str) -> Result<Option<u8>> {
    match s.as_bytes() {
        _ if s == "none" => Ok(None),
        [c] if c.is_ascii_graphic() => Ok(Some(*c)),
        _ => Err(Exit::usage(format!(
            "invalid --escape-char '{s}': give one printable ASCII character, or 'none'"
        ))),
    }
}

/// `ws[s]://HOST:PORT/api/console/MACHINE?...` of the server URL.
fn console_url(server: &str, machine: &str, read_only: bool, force: bool) -> Result<url::Url> {
    let mut u = url::Url::parse(server).with_context(|| format!("invalid server URL {server}"))?;
    let scheme = match u.scheme() {
        "https" => "wss",
        "http" => "ws",
        other => bail!("server URL {server}: unknown scheme '{other}'"),
    };
    u.set_scheme(scheme)
        .map_err(|()| anyhow!("server URL {server}: cannot make a WebSocket URL of it"))?;
    u.path_segments_mut()
        .map_err(|()| anyhow!("server URL {server} cannot have a path"))?
        .pop_if_empty()
        .extend(["api", "console", machine]);
    {
        let mut q = u.query_pairs_mut();
        if read_only {
            q.append_pair("read_only", "true");
        }
        if force {
            q.append_pair("force", "true");
        }
    }
    if u.query() == Some("") {
        u.set_query(None);
    }
    Ok(u)
}

/// The socket under the WebSocket: plain on loopback http, TLS with igor's trust otherwise.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// How long the upgrade may take: igord opens the SOL session before it answers.
const HANDSHAKE: Duration = Duration::from_secs(30);

fn connect(
    url: &url::Url,
    token: &str,
    tls: Option<&Arc<crate::tls::Shared>>,
    server: &str,
) -> Result<WebSocket<Stream>> {
    let host = url
        .host_str()
        .ok_or_else(|| anyhow!("server URL {server} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let unreached = |e: &dyn std::fmt::Display| Exit {
        code: crate::exit::EXIT_UNREACHABLE,
        message: format!("cannot reach the server at {server}: {e}"),
    };
    let addrs: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| unreached(&e))?
        .collect();
    let mut last = None;
    let mut tcp = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, Duration::from_secs(10)) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = match (tcp, last) {
        (Some(t), _) => t,
        (None, Some(e)) => return Err(unreached(&e).into()),
        (None, None) => return Err(unreached(&"the host name has no address").into()),
    };
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(HANDSHAKE))?;
    tcp.set_write_timeout(Some(HANDSHAKE))?;
    let stream = match (url.scheme(), tls) {
        ("wss", Some(tls)) => {
            let config = tls.client_config().map_err(|r| anyhow!("{r}"))?;
            let name = ServerName::try_from(host.clone())
                .map_err(|e| anyhow!("invalid server name '{host}': {e}"))?;
            let conn = ClientConnection::new(config, name)?;
            Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
        }
        ("wss", None) => bail!("no TLS set up for {server}"),
        _ => Stream::Plain(tcp),
    };
    let mut request = url.as_str().into_client_request()?;
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| anyhow!("the stored token is not a valid header value"))?,
    );
    let ws = match tungstenite::client(request, stream) {
        Ok((ws, _)) => ws,
        Err(HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            if status == 404 && !body.contains("\"code\"") {
                bail!("the server at {server} has no serial console (it came with API level 1.6)");
            }
            let resp = HttpResponse {
                status,
                headers: Vec::new(),
                body,
            };
            return Err(ApiError::from_response(&resp).into());
        }
        Err(HandshakeError::Failure(e)) => {
            if let Some(r) = tls.and_then(|t| t.take_refusal()) {
                bail!("{r}");
            }
            return Err(unreached(&e).into());
        }
        Err(HandshakeError::Interrupted(_)) => {
            return Err(unreached(&"the WebSocket handshake was interrupted").into());
        }
    };
    ws.get_ref().tcp().set_nonblocking(true)?;
    Ok(ws)
}

/// The terminal's settings before raw mode, for the restorers that cannot reach the guard
/// (the panic hook).
static SAVED: Mutex<Option<rustix::termios::Termios>> = Mutex::new(None);

fn restore_terminal() {
    let saved = SAVED.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(t) = saved {
        let _ =
            rustix::termios::tcsetattr(std::io::stdin(), rustix::termios::OptionalActions::Now, &t);
    }
}

/// Raw mode on stdin, undone on drop, on panic, and (through `Console::relay`) on signals.
struct RawMode;

impl RawMode {
    fn enter() -> Result<RawMode> {
        use rustix::termios::{OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).context("cannot read the terminal's settings")?;
        let mut raw = saved.clone();
        raw.make_raw();
        *SAVED.lock().unwrap_or_else(|p| p.into_inner()) = Some(saved);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        tcsetattr(&stdin, OptionalActions::Now, &raw)
            .context("cannot put the terminal in raw mode")?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// What the escape sequences at the start of a line ask for.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Send(Vec<u8>),
    Break,
    Detach,
    Help,
}

struct Escapes {
    ch: Option<u8>,
    line_start: bool,
    pending: bool,
}

impl Escapes {
    fn new(ch: Option<u8>) -> Self {
        Escapes {
            ch,
            line_start: true,
            pending: false,
        }
    }

    fn feed(&mut self, input: &[u8]) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut send = Vec::new();
        let Some(esc) = self.ch else {
            return vec![Action::Send(input.to_vec())];
        };
        for &b in input {
            if self.pending {
                self.pending = false;
                let action = match b {
                    b'.' => Some(Action::Detach),
                    b'B' => Some(Action::Break),
                    b'?' => Some(Action::Help),
                    _ if b == esc => {
                        send.push(esc);
                        None
                    }
                    _ => {
                        send.extend([esc, b]);
                        None
                    }
                };
                if let Some(a) = action {
                    if !send.is_empty() {
                        actions.push(Action::Send(std::mem::take(&mut send)));
                    }
                    let detach = a == Action::Detach;
                    actions.push(a);
                    if detach {
                        return actions;
                    }
                }
                self.line_start = matches!(b, b'\r' | b'\n');
                continue;
            }
            if self.line_start && b == esc {
                self.pending = true;
                continue;
            }
            send.push(b);
            self.line_start = matches!(b, b'\r' | b'\n');
        }
        if !send.is_empty() {
            actions.push(Action::Send(send));
        }
        actions
    }
}

struct Console {
    ws: WebSocket<Stream>,
    escapes: Escapes,
    read_only: bool,
    raw: Option<RawMode>,
    told_read_only: bool,
}

/// How the relay ended.
enum Done {
    Detached,
    Ended(String),
}

impl Console {
    /// A line of ours on stderr, set apart from the console's own output.
    fn note(&self, text: &str) {
        let nl = if self.raw.is_some() { "\r\n" } else { "\n" };
        let _ = write!(std::io::stderr(), "{nl}[igor: {text}]{nl}");
    }

    fn relay(&mut self) -> Result<i32> {
        let stop = Arc::new(AtomicBool::new(false));
        for sig in [
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGQUIT,
        ] {
            signal_hook::flag::register(sig, stop.clone())?;
        }
        let mut stdin_open = true;
        let mut detaching: Option<Instant> = None;
        let mut buf = vec![0u8; 4096];
        loop {
            if stop.load(Ordering::Relaxed) {
                self.note("signalled: detaching");
                let _ = self.ws.close(None);
                let _ = self.ws.flush();
                return Ok(EXIT_FAILED);
            }
            if let Some(done) = self.drain()? {
                return Ok(match done {
                    Done::Detached => EXIT_OK,
                    Done::Ended(why) => {
                        self.note(&format!("the console ended: {why}"));
                        EXIT_FAILED
                    }
                });
            }
            if detaching.is_some_and(|t| t.elapsed() > Duration::from_secs(10)) {
                self.note("igord did not confirm the detach; leaving");
                return Ok(EXIT_OK);
            }
            let pending_write = match self.ws.flush() {
                Ok(()) => false,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => true,
                Err(e) => return Err(lost(e)),
            };
            let stdin = std::io::stdin();
            let sock = self.ws.get_ref().tcp().as_fd();
            let mut sock_flags = PollFlags::IN;
            if pending_write {
                sock_flags |= PollFlags::OUT;
            }
            let mut fds = vec![PollFd::new(&sock, sock_flags)];
            if stdin_open {
                fds.push(PollFd::new(&stdin, PollFlags::IN));
            }
            let timeout = rustix::event::Timespec {
                tv_sec: 1,
                tv_nsec: 0,
            };
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(anyhow!("poll: {e}")),
            }
            let stdin_ready = stdin_open
                && fds[1]
                    .revents()
                    .intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR);
            drop(fds);
            if !stdin_ready {
                continue;
            }
            let n = match std::io::stdin().lock().read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(anyhow!("reading stdin: {e}")),
            };
            if n == 0 {
                // The end of a script's input: leave once it has reached the BMC.
                stdin_open = false;
                detaching = Some(Instant::now());
                self.control(json!({"type": "detach"}))?;
                continue;
            }
            for action in self.escapes.feed(&buf[..n]) {
                match action {
                    Action::Send(keys) if self.read_only => {
                        if !self.told_read_only && !keys.is_empty() {
                            self.told_read_only = true;
                            self.note("read-only: keystrokes are not sent (~. detaches)");
                        }
                    }
                    Action::Send(keys) => self.send(Message::binary(keys))?,
                    Action::Break => self.control(json!({"type": "break"}))?,
                    Action::Help => self.note(
                        "~. detach, ~B send a break, ~~ send ~, ~? this help (at the start of a line)",
                    ),
                    Action::Detach => {
                        let _ = self.ws.close(None);
                        let _ = self.ws.flush();
                        self.note("detached");
                        return Ok(EXIT_OK);
                    }
                }
            }
        }
    }

    fn control(&mut self, v: Value) -> Result<()> {
        self.send(Message::text(v.to_string()))
    }

    fn send(&mut self, m: Message) -> Result<()> {
        match self.ws.send(m) {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(lost(e)),
        }
    }

    /// Handles everything the server has sent so far.
    fn drain(&mut self) -> Result<Option<Done>> {
        loop {
            let msg = match self.ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    return Ok(None);
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(Some(Done::Ended("igord closed the connection".into())));
                }
                Err(e) => return Err(lost(e)),
            };
            match msg {
                Message::Binary(bytes) => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&bytes)?;
                    out.flush()?;
                }
                Message::Text(t) => {
                    if let Some(done) = self.server_says(&t) {
                        return Ok(Some(done));
                    }
                }
                Message::Close(_) => {
                    return Ok(Some(Done::Ended("igord closed the connection".into())));
                }
                _ => {}
            }
        }
    }

    fn server_says(&mut self, text: &str) -> Option<Done> {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let holder = |h: &Value| {
            format!(
                "{} since {}",
                h.get("user").and_then(Value::as_str).unwrap_or("?"),
                h.get("since").and_then(Value::as_str).unwrap_or("?")
            )
        };
        match s("type").as_str() {
            "attached" => {
                let how = match s("mode").as_str() {
                    "write" => "you hold the keyboard".to_owned(),
                    _ => s("message"),
                };
                let took = match v.get("took_over_from") {
                    Some(h) if !h.is_null() => format!("; took the keyboard from {}", holder(h)),
                    _ => String::new(),
                };
                let esc = match self.escapes.ch {
                    Some(c) => format!("; {}. detaches, {}? help", c as char, c as char),
                    None => String::new(),
                };
                self.note(&format!("attached to {}: {how}{took}{esc}", s("machine")));
            }
            "writer" => match v.get("writer") {
                Some(h) if !h.is_null() => self.note(&format!("keyboard: {}", holder(h))),
                _ => self.note("the keyboard is free"),
            },
            "notice" | "dropped" => self.note(&s("message")),
            "ended" => return Some(Done::Ended(s("message"))),
            "detached" => return Some(Done::Detached),
            _ => {}
        }
        None
    }
}

fn lost(e: tungstenite::Error) -> anyhow::Error {
    anyhow!("the connection to igord was lost: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_only_at_the_start_of_a_line() {
        let mut e = Escapes::new(Some(b'~'));
        assert_eq!(e.feed(b"ls ~.\r"), vec![Action::Send(b"ls ~.\r".to_vec())]);
        assert_eq!(
            e.feed(b"~B"),
            vec![Action::Break],
            "after a newline ~B is a break"
        );
        assert_eq!(e.feed(b"x\r~~y"), vec![Action::Send(b"x\r~y".to_vec())]);
        assert_eq!(e.feed(b"\r~q"), vec![Action::Send(b"\r~q".to_vec())]);
        // Split across reads, as a person types.
        let mut e = Escapes::new(Some(b'~'));
        assert_eq!(e.feed(b"~"), vec![]);
        assert_eq!(e.feed(b"."), vec![Action::Detach]);
        let mut e = Escapes::new(Some(b'&'));
        assert_eq!(
            e.feed(b"~.&?"),
            vec![Action::Send(b"~.&?".to_vec())],
            "~ is plain text when the escape is &"
        );
        let mut e = Escapes::new(None);
        assert_eq!(e.feed(b"~."), vec![Action::Send(b"~.".to_vec())]);
        let mut e = Escapes::new(Some(b'~'));
        assert_eq!(
            e.feed(b"date\r~?"),
            vec![Action::Send(b"date\r".to_vec()), Action::Help]
        );
    }

    #[test]
    fn console_urls() {
        let u = console_url("https://igor.example:8623", "node 1", false, true).unwrap();
        assert_eq!(
            u.as_str(),
            "wss://igor.example:8623/api/console/node%201?force=true"
        );
        let u = console_url("http://127.0.0.1:8623", "n1", true, false).unwrap();
        assert_eq!(
            u.as_str(),
            "ws://127.0.0.1:8623/api/console/n1?read_only=true"
        );
        let u = console_url("http://127.0.0.1:8623", "n1", false, false).unwrap();
        assert_eq!(u.as_str(), "ws://127.0.0.1:8623/api/console/n1");
    }

    #[test]
    fn escape_characters() {
        assert_eq!(escape_char("~").unwrap(), Some(b'~'));
        assert_eq!(escape_char("none").unwrap(), None);
        assert!(escape_char("ab").is_err());
        assert!(escape_char(" ").is_err());
    }
}
