//! The HTTP seam: a tiny request/response model and the `Http` trait, so schema resolution
//! and calls can be tested against a fake server; `UreqHttp` is the real one, speaking https
//! through `tls.rs`.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// JSON text; `None` sends an empty body.
    pub body: Option<String>,
    /// A deadline for this request alone, shorter than the agent's (a background refresh).
    pub timeout: Option<Duration>,
}

impl HttpRequest {
    pub fn get(url: impl Into<String>) -> Self {
        HttpRequest {
            method: Method::Get,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout: None,
        }
    }

    pub fn post(url: impl Into<String>, body: Option<String>) -> Self {
        HttpRequest {
            method: Method::Post,
            url: url.into(),
            headers: Vec::new(),
            body,
            timeout: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    pub fn bearer(self, token: Option<&str>) -> Self {
        match token {
            Some(t) => self.header("Authorization", format!("Bearer {t}")),
            None => self,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// Header lookup, case-insensitive as HTTP requires.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The server could not be reached or did not answer with HTTP at all (as opposed to
/// answering with an error status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreachable {
    pub message: String,
    /// No connection was made at all (refused, no route, no such host, connect timeout):
    /// nothing was sent. Otherwise a connection was made and what came back was unusable,
    /// or the server's certificate was refused.
    pub no_connection: bool,
}

impl Unreachable {
    /// A connection was made, but what came back cannot be used.
    pub fn answer(message: impl Into<String>) -> Self {
        Unreachable {
            message: message.into(),
            no_connection: false,
        }
    }

    /// No connection could be made.
    pub fn no_connection(message: impl Into<String>) -> Self {
        Unreachable {
            message: message.into(),
            no_connection: true,
        }
    }
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Whether ureq failed before any connection was made.
fn is_no_connection(e: &ureq::Error) -> bool {
    use std::io::ErrorKind;
    use ureq::Timeout;
    match e {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
        ureq::Error::Timeout(t) => matches!(t, Timeout::Resolve | Timeout::Connect),
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
                | ErrorKind::AddrNotAvailable
                | ErrorKind::NotConnected
        ),
        _ => false,
    }
}

pub trait Http {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, Unreachable>;

    /// The TLS state of a real connection: the trust to apply, and what the handshakes
    /// decided. Test doubles speak no TLS.
    fn tls(&self) -> Option<&crate::tls::Shared> {
        None
    }

    /// The same, shared, for a connection made outside this trait (the console's
    /// WebSocket).
    fn tls_shared(&self) -> Option<std::sync::Arc<crate::tls::Shared>> {
        None
    }

    /// Like `send`, but a 200 body is handed to `line` one line at a time as it arrives
    /// (streamed commands answer NDJSON) and comes back empty; other answers come whole.
    /// The default reads the whole body first, which is all a test double needs.
    fn send_lines(
        &self,
        req: HttpRequest,
        line: &mut dyn FnMut(&str),
    ) -> Result<HttpResponse, Unreachable> {
        let mut resp = self.send(req)?;
        if resp.status == 200 {
            for l in resp.body.lines() {
                line(l);
            }
            resp.body.clear();
        }
        Ok(resp)
    }
}

/// ureq with status codes as data (we read error bodies) and a global deadline. BMC calls
/// are bounded on the server; a bulk `power-on --wait` may legitimately stream for up to
/// its 600 s wait limit, hence the quarter hour.
/// Building it loads nothing: TLS is set up on the first https connection (`tls.rs`).
pub struct UreqHttp {
    agent: ureq::Agent,
    tls: std::sync::Arc<crate::tls::Shared>,
}

impl UreqHttp {
    pub fn new() -> Self {
        use ureq::unversioned::resolver::DefaultResolver;
        use ureq::unversioned::transport::{Connector, TcpConnector};
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(900)))
            .timeout_connect(Some(Duration::from_secs(10)))
            .build();
        let tls = std::sync::Arc::new(crate::tls::Shared::default());
        let connector = TcpConnector::default().chain(crate::tls::TlsConnector {
            shared: tls.clone(),
        });
        UreqHttp {
            agent: ureq::Agent::with_parts(config, connector, DefaultResolver::default()),
            tls,
        }
    }

    /// A failed request's message: a refused certificate says why in full (and stays
    /// recorded for the caller), anything else as ureq words it.
    fn unreachable(&self, e: ureq::Error) -> Unreachable {
        match &*self.tls.peek_refusal() {
            Some(r) => Unreachable::answer(r.to_string()),
            None if is_no_connection(&e) => Unreachable::no_connection(e.to_string()),
            None => Unreachable::answer(e.to_string()),
        }
    }
}

impl Default for UreqHttp {
    fn default() -> Self {
        Self::new()
    }
}

impl UreqHttp {
    fn call(&self, req: HttpRequest) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        match req.method {
            Method::Get => {
                let mut r = self.agent.get(&req.url);
                for (k, v) in &req.headers {
                    r = r.header(k, v);
                }
                if let Some(t) = req.timeout {
                    r = r.config().timeout_global(Some(t)).build();
                }
                r.call()
            }
            Method::Post => {
                let mut r = self.agent.post(&req.url);
                for (k, v) in &req.headers {
                    r = r.header(k, v);
                }
                if let Some(t) = req.timeout {
                    r = r.config().timeout_global(Some(t)).build();
                }
                match req.body {
                    Some(body) => r.content_type("application/json").send(body),
                    None => r.send_empty(),
                }
            }
        }
    }
}

impl Http for UreqHttp {
    fn tls(&self) -> Option<&crate::tls::Shared> {
        Some(&self.tls)
    }

    fn tls_shared(&self) -> Option<std::sync::Arc<crate::tls::Shared>> {
        Some(self.tls.clone())
    }

    fn send(&self, req: HttpRequest) -> Result<HttpResponse, Unreachable> {
        let unreachable = |e: ureq::Error| self.unreachable(e);
        let mut resp = self.call(req).map_err(unreachable)?;
        let headers = headers_of(&resp);
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().map_err(unreachable)?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    fn send_lines(
        &self,
        req: HttpRequest,
        line: &mut dyn FnMut(&str),
    ) -> Result<HttpResponse, Unreachable> {
        use std::io::BufRead;
        let unreachable = |e: ureq::Error| self.unreachable(e);
        let mut resp = self.call(req).map_err(unreachable)?;
        let headers = headers_of(&resp);
        let status = resp.status().as_u16();
        if status != 200 {
            let body = resp.body_mut().read_to_string().map_err(unreachable)?;
            return Ok(HttpResponse {
                status,
                headers,
                body,
            });
        }
        // Line by line as the chunks arrive: each machine's result shows when it is ready.
        let reader = std::io::BufReader::new(resp.into_body().into_reader());
        for l in reader.lines() {
            let l = l.map_err(|e| Unreachable::answer(format!("the answer broke off: {e}")))?;
            line(&l);
        }
        Ok(HttpResponse {
            status,
            headers,
            body: String::new(),
        })
    }
}

fn headers_of(resp: &ureq::http::Response<ureq::Body>) -> Vec<(String, String)> {
    resp.headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
