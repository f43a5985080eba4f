//! Redfish, the second BMC protocol: an async HTTPS client for one BMC (reqwest on rustls,
//! connections kept alive), logged in through the SessionService (`X-Auth-Token`, the
//! session deleted on close) or, where the service has none, with Basic auth; and the
//! operations igor's commands need, following the DMTF schema and, where it leaves room,
//! the choices of Ironic and sushy (power through `ComputerSystem.Reset`, boot through
//! `Boot.BootSourceOverride*`, identify through `IndicatorLED` or
//! `LocationIndicatorActive`, the event log through `LogServices`, readings through
//! `Sensors` or the older `Thermal` and `Power`).
//!
//! Every request has the call's deadline; no action is ever re-sent (only a read is
//! repeated, once, after logging in again when a session expired); links from the BMC are
//! followed only when they are paths under `/redfish/`, so a BMC cannot send igord (and the
//! credentials) elsewhere.

pub mod ops;
pub mod payload;
pub mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use self::payload::{Chassis, LogEntry, Reading, ServiceRoot, System};
use self::tls::{Seen, Trust};

/// At most this many pages of a log, and members of a sensor collection, are read: a BMC
/// cannot make one call unbounded.
const MAX_PAGES: usize = 100;
const MAX_SENSORS: usize = 500;

/// How to reach and trust one Redfish BMC. `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub struct RedfishTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub trust: Trust,
}

impl std::fmt::Debug for RedfishTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedfishTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"***")
            .field("trust", &self.trust)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedfishError {
    #[error("the BMC did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the BMC refused the credentials")]
    AuthFailed,
    #[error(
        "the BMC's certificate changed: pinned {pinned}, presented {presented}; an admin must re-pin it"
    )]
    CertificateChanged { pinned: String, presented: String },
    #[error("{0}")]
    Unreachable(String),
    /// The BMC answered with an error status; the message is the BMC's own words.
    #[error("the BMC refused: {message} (HTTP {status})")]
    Refused { status: u16, message: String },
    #[error("the BMC has no {0}")]
    NotFound(String),
    #[error("the BMC sent an answer we could not understand: {0}")]
    Protocol(String),
    /// The BMC does not offer what the command needs (named).
    #[error("not supported by this BMC: {0}")]
    NotSupported(String),
}

type Result<T> = std::result::Result<T, RedfishError>;

enum Auth {
    /// A SessionService session: its token and the session's own URI (deleted on close).
    Session {
        token: String,
        location: String,
    },
    Basic,
}

/// An open connection to one BMC.
pub struct Conn {
    http: reqwest::Client,
    base: String,
    target: RedfishTarget,
    auth: Auth,
    root: ServiceRoot,
    seen: Arc<Seen>,
    deadline_for_errors: Duration,
    /// Counts a kept connection in `igord_bmc_sessions_open` while it lives.
    pub(crate) held: Option<crate::metrics::Held>,
}

fn client(config: rustls::ClientConfig) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        // BMCs are addressed directly; a proxy from the environment must not see them.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| RedfishError::Unreachable(format!("cannot make an HTTPS client: {e}")))
}

fn base_of(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("https://[{host}]:{port}")
    } else {
        format!("https://{host}:{port}")
    }
}

/// A path the BMC gave, checked: only paths under `/redfish/` are followed.
fn checked(path: &str) -> Result<&str> {
    if path.starts_with("/redfish/") && !path.contains("://") {
        Ok(path)
    } else {
        Err(RedfishError::Protocol(format!(
            "the BMC linked to '{}', which is not a path under /redfish/",
            crate::error::escape_controls(path)
        )))
    }
}

/// First contact with a BMC whose certificate is not trusted yet: reads the (public)
/// service root over TLS, sending no credentials, and returns the certificate's
/// fingerprint for the admin to pin.
pub async fn probe_certificate(host: &str, port: u16, deadline: Instant) -> Result<String> {
    let seen = Arc::new(Seen::default());
    let config = tls::probe_config(seen.clone()).map_err(RedfishError::Unreachable)?;
    let http = client(config)?;
    let url = format!("{}/redfish/v1/", base_of(host, port));
    let wait = deadline.saturating_duration_since(Instant::now());
    let sent = tokio::time::timeout(wait, http.get(&url).send()).await;
    match sent {
        Err(_) => Err(RedfishError::Timeout(wait)),
        Ok(Err(e)) => seen.get().ok_or_else(|| {
            RedfishError::Unreachable(format!("{}: {}", base_of(host, port), words(&e)))
        }),
        Ok(Ok(_)) => seen
            .get()
            .ok_or_else(|| RedfishError::Protocol("no certificate was presented".into())),
    }
}

/// reqwest's error with its causes, which hold what went wrong (refused, reset, TLS).
fn words(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl Conn {
    /// Connects and logs in: a SessionService session where the service offers one,
    /// otherwise Basic auth (checked with one read, so wrong credentials fail here).
    pub async fn open(target: &RedfishTarget, deadline: Instant) -> Result<Conn> {
        let seen = Arc::new(Seen::default());
        let config =
            tls::client_config(&target.trust, seen.clone()).map_err(RedfishError::Unreachable)?;
        let mut conn = Conn {
            http: client(config)?,
            base: base_of(&target.host, target.port),
            target: target.clone(),
            auth: Auth::Basic,
            root: ServiceRoot {
                systems: None,
                chassis: None,
                sessions: None,
            },
            seen,
            deadline_for_errors: deadline.saturating_duration_since(Instant::now()),
            held: None,
        };
        let root = conn
            .send(reqwest::Method::GET, "/redfish/v1/", None, deadline, false)
            .await?;
        conn.root = payload::service_root(&root.unwrap_or_default());
        if let Some(sessions) = conn.root.sessions.clone() {
            match conn.login(&sessions, deadline).await {
                Ok(auth) => conn.auth = auth,
                // No SessionService after all: Basic auth, as Ironic falls back.
                Err(
                    RedfishError::NotFound(_)
                    | RedfishError::Refused {
                        status: 405 | 501, ..
                    },
                ) => {}
                Err(e) => return Err(e),
            }
        }
        if matches!(conn.auth, Auth::Basic) {
            // Basic auth is only known to work once a read with it worked.
            let systems = conn.systems_path()?;
            conn.get(&systems, deadline).await?;
        }
        Ok(conn)
    }

    async fn login(&self, sessions: &str, deadline: Instant) -> Result<Auth> {
        let body = json!({"UserName": self.target.user, "Password": self.target.password});
        let url = format!("{}{}", self.base, checked(sessions)?);
        let resp = self
            .timed(self.http.post(&url).json(&body).send(), deadline)
            .await?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (token, location) = (header("X-Auth-Token"), header("Location"));
        let body = resp.bytes().await.unwrap_or_default();
        match status {
            200 | 201 => {}
            401 | 403 => return Err(RedfishError::AuthFailed),
            404 => return Err(RedfishError::NotFound("SessionService".into())),
            s => return Err(refusal(s, &body)),
        }
        let token =
            token.ok_or_else(|| RedfishError::Protocol("a session without X-Auth-Token".into()))?;
        // Location may be absolute (same service) or a path; keep the path.
        let location = location
            .map(|l| l.strip_prefix(&self.base).map(str::to_owned).unwrap_or(l))
            .unwrap_or_default();
        Ok(Auth::Session { token, location })
    }

    /// Logs out (deletes the session); best effort, within a short bound.
    pub async fn close(self) {
        if let Auth::Session { location, .. } = &self.auth
            && checked(location).is_ok()
        {
            let deadline = Instant::now() + Duration::from_secs(2);
            let _ = self
                .send(reqwest::Method::DELETE, location, None, deadline, false)
                .await;
        }
    }

    /// The `@odata.id` of the ComputerSystem `id` in this service's Systems collection.
    pub fn system_path(&self, id: &str) -> Result<String> {
        Ok(format!(
            "{}/{id}",
            self.systems_path()?.trim_end_matches('/')
        ))
    }

    /// The target this connection was opened for.
    pub fn target(&self) -> &RedfishTarget {
        &self.target
    }

    fn systems_path(&self) -> Result<String> {
        self.root
            .systems
            .clone()
            .ok_or_else(|| RedfishError::NotSupported("a Systems collection".into()))
    }

    async fn timed<F, T>(&self, fut: F, deadline: Instant) -> Result<T>
    where
        F: std::future::Future<Output = std::result::Result<T, reqwest::Error>>,
    {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return Err(RedfishError::Timeout(self.deadline_for_errors));
        }
        match tokio::time::timeout(wait, fut).await {
            Err(_) => Err(RedfishError::Timeout(self.deadline_for_errors)),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.transport(&e)),
        }
    }

    fn transport(&self, e: &reqwest::Error) -> RedfishError {
        if e.is_timeout() {
            return RedfishError::Timeout(self.deadline_for_errors);
        }
        if let (Trust::Pinned(pinned), Some(presented)) = (&self.target.trust, self.seen.get())
            && *pinned != presented
        {
            return RedfishError::CertificateChanged {
                pinned: pinned.clone(),
                presented,
            };
        }
        RedfishError::Unreachable(format!("{}: {}", self.base, words(e)))
    }

    /// One request; `retry_read`: a GET that met an expired session logs in again and is
    /// sent once more (never an action).
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        deadline: Instant,
        authenticated: bool,
    ) -> Result<Option<Value>> {
        let url = format!("{}{}", self.base, checked(path)?);
        let mut req = self.http.request(method, &url);
        if authenticated {
            req = match &self.auth {
                Auth::Session { token, .. } => req.header("X-Auth-Token", token),
                Auth::Basic => req.basic_auth(&self.target.user, Some(&self.target.password)),
            };
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = self.timed(req.send(), deadline).await?;
        let status = resp.status().as_u16();
        let bytes = self.timed(resp.bytes(), deadline).await?;
        match status {
            200..=299 if bytes.is_empty() => Ok(None),
            200..=299 => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| RedfishError::Protocol(format!("{path}: not JSON: {e}"))),
            401 => Err(RedfishError::AuthFailed),
            404 => Err(RedfishError::NotFound(path.to_owned())),
            s => Err(refusal(s, &bytes)),
        }
    }

    pub async fn get(&self, path: &str, deadline: Instant) -> Result<Value> {
        self.send(reqwest::Method::GET, path, None, deadline, true)
            .await?
            .ok_or_else(|| RedfishError::Protocol(format!("{path}: an empty answer")))
    }

    async fn act(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        deadline: Instant,
    ) -> Result<()> {
        self.send(method, path, Some(body), deadline, true)
            .await
            .map(drop)
    }

    /// The ids of the service's ComputerSystems.
    pub async fn systems(&self, deadline: Instant) -> Result<Vec<String>> {
        let systems = self.systems_path()?;
        let list = self.get(&systems, deadline).await?;
        Ok(payload::members(&list))
    }

    pub async fn system(&self, path: &str, deadline: Instant) -> Result<System> {
        Ok(payload::system(&self.get(path, deadline).await?))
    }

    /// `ComputerSystem.Reset` with `reset_type` (On, ForceOff, GracefulShutdown,
    /// ForceRestart, PowerCycle...), refused up front when the service lists the types it
    /// allows and this is not one of them.
    pub async fn reset(&self, system: &System, reset_type: &str, deadline: Instant) -> Result<()> {
        if !system.reset_types.is_empty() && !system.reset_types.iter().any(|t| t == reset_type) {
            return Err(RedfishError::NotSupported(format!(
                "reset type {reset_type} (it allows {})",
                system.reset_types.join(", ")
            )));
        }
        let target = system
            .reset_target
            .clone()
            .ok_or_else(|| RedfishError::NotSupported("ComputerSystem.Reset".into()))?;
        self.act(
            reqwest::Method::POST,
            &target,
            &json!({"ResetType": reset_type}),
            deadline,
        )
        .await
    }

    /// Sets the boot override: `target` (Pxe, Hdd, Cd, BiosSetup...), `Once` or
    /// `Continuous`, and the mode when asked (`UEFI` or `Legacy`).
    pub async fn set_boot(
        &self,
        system_path: &str,
        system: &System,
        target: &str,
        persistent: bool,
        mode: Option<&str>,
        deadline: Instant,
    ) -> Result<()> {
        if !system.boot.allowed_targets.is_empty()
            && !system.boot.allowed_targets.iter().any(|t| t == target)
        {
            return Err(RedfishError::NotSupported(format!(
                "boot target {target} (it allows {})",
                system.boot.allowed_targets.join(", ")
            )));
        }
        let mut boot = json!({
            "BootSourceOverrideTarget": target,
            "BootSourceOverrideEnabled": if persistent { "Continuous" } else { "Once" },
        });
        if let Some(m) = mode {
            boot["BootSourceOverrideMode"] = json!(m);
        }
        self.act(
            reqwest::Method::PATCH,
            system_path,
            &json!({"Boot": boot}),
            deadline,
        )
        .await
    }

    /// Turns the identify light on or off: `LocationIndicatorActive` where the system has
    /// it (the current schema), else `IndicatorLED` (`Lit`/`Blinking`/`Off`).
    pub async fn identify(
        &self,
        system_path: &str,
        system: &System,
        on: bool,
        deadline: Instant,
    ) -> Result<()> {
        let body = if system.location_indicator_active.is_some() {
            json!({"LocationIndicatorActive": on})
        } else if system.indicator_led.is_some() {
            json!({"IndicatorLED": if on { "Lit" } else { "Off" }})
        } else {
            return Err(RedfishError::NotSupported("an identify indicator".into()));
        };
        self.act(reqwest::Method::PATCH, system_path, &body, deadline)
            .await
    }

    /// The system's event log: the LogService named `SEL` if there is one, else `Log`,
    /// else the first; every page of its entries (up to [`MAX_PAGES`]).
    pub async fn log(
        &self,
        system: &System,
        deadline: Instant,
    ) -> Result<(payload::LogService, Vec<LogEntry>)> {
        let services = system
            .log_services
            .clone()
            .ok_or_else(|| RedfishError::NotSupported("an event log (LogServices)".into()))?;
        let list = payload::members(&self.get(&services, deadline).await?);
        let pick = ["SEL", "Log", "EventLog"]
            .iter()
            .find_map(|name| list.iter().find(|m| payload::id_of(m) == *name))
            .or_else(|| list.first())
            .cloned()
            .ok_or_else(|| RedfishError::NotSupported("an event log (no LogService)".into()))?;
        let service = payload::log_service(&self.get(&pick, deadline).await?);
        let mut entries = Vec::new();
        let mut next = service.entries.clone();
        let mut pages = 0;
        while let Some(page) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                break;
            }
            let (more, link) = payload::log_entries(&self.get(&page, deadline).await?);
            entries.extend(more);
            next = link;
        }
        Ok((service, entries))
    }

    /// `LogService.ClearLog` on the log [`Conn::log`] reads.
    pub async fn clear_log(&self, service: &payload::LogService, deadline: Instant) -> Result<()> {
        let target = service
            .clear_target
            .clone()
            .ok_or_else(|| RedfishError::NotSupported("LogService.ClearLog".into()))?;
        self.act(reqwest::Method::POST, &target, &json!({}), deadline)
            .await
    }

    /// The system's chassis (the first it links to).
    pub async fn chassis(&self, system: &System, deadline: Instant) -> Result<Option<Chassis>> {
        match system.chassis.first() {
            Some(c) => Ok(Some(payload::chassis(&self.get(c, deadline).await?))),
            None => Ok(None),
        }
    }

    /// Readings of a chassis: its `Sensors` collection, else `Thermal` and `Power`.
    pub async fn readings(&self, chassis: &Chassis, deadline: Instant) -> Result<Vec<Reading>> {
        if let Some(sensors) = &chassis.sensors {
            let list = payload::members(&self.get(sensors, deadline).await?);
            let mut out = Vec::new();
            for m in list.iter().take(MAX_SENSORS) {
                out.push(payload::sensor(&self.get(m, deadline).await?));
            }
            return Ok(out);
        }
        let mut out = Vec::new();
        if let Some(t) = &chassis.thermal {
            out.extend(payload::thermal(&self.get(t, deadline).await?));
        }
        if let Some(p) = &chassis.power {
            match self.get(p, deadline).await {
                Ok(v) => out.extend(payload::power(&v)),
                Err(RedfishError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if chassis.thermal.is_none() && chassis.power.is_none() {
            return Err(RedfishError::NotSupported(
                "sensors (Sensors, Thermal or Power)".into(),
            ));
        }
        Ok(out)
    }
}

/// An error answer in the BMC's own words.
fn refusal(status: u16, body: &[u8]) -> RedfishError {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| payload::error_message(&v))
        .unwrap_or_else(|| format!("HTTP {status}"));
    RedfishError::Refused {
        status,
        message: crate::error::escape_controls(&message).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_outside_redfish_are_not_followed() {
        assert!(checked("/redfish/v1/Systems/1").is_ok());
        for bad in [
            "https://evil.example/redfish/v1",
            "/etc/passwd",
            "//evil/redfish/",
            "/redfish/v1/x?u=https://evil",
        ] {
            assert!(checked(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_target_never_shows_its_password() {
        let t = RedfishTarget {
            host: "10.0.0.1".into(),
            port: 443,
            user: "root".into(),
            password: "s3cret-pw".into(),
            trust: Trust::Pinned("sha256:00".into()),
        };
        assert!(!format!("{t:?}").contains("s3cret-pw"));
    }

    #[test]
    fn refusals_carry_the_bmcs_words() {
        let body = br#"{"error": {"message": "Power state Bogus is not supported"}}"#;
        assert_eq!(
            refusal(501, body).to_string(),
            "the BMC refused: Power state Bogus is not supported (HTTP 501)"
        );
        assert_eq!(
            refusal(500, b"<html>").to_string(),
            "the BMC refused: HTTP 500 (HTTP 500)"
        );
    }
}
