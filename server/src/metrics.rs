//! igord's metrics, in the Prometheus text format (`GET /metrics` on `[metrics] listen`).
//!
//! One `prometheus::Registry` per server, held in the app state (never the crate's global
//! one). Labels are bounded by construction: a command label is only ever a declared
//! command version's full name (`CommandSpec::full_name`), a status an HTTP status igord
//! answers, an outcome `ok` or an error code of `schema::ErrorCode`, a driver `ipmi` or
//! `redfish`. Nothing a client sends (a machine or user name, an unknown command) is a
//! label. Counting costs what the crate costs: a read lock and a hash lookup for the label
//! values, then an atomic add.
//!
//! What is not counted as it happens (login keys locked now, replica locks held now) is
//! read when scraped (`Metrics::render`).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Request latency buckets (seconds): a cached read takes a millisecond, a BMC call up to
/// its deadline (5 s by default), a bulk call longer.
const REQUEST_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// BMC call buckets (seconds): a kept session answers in milliseconds, a new one or a
/// Redfish login in tens to hundreds, a dead BMC at the deadline.
const BMC_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric igord exports.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_seconds: HistogramVec,
    logins: IntCounterVec,
    login_locked_keys: IntGauge,
    replica_locks_held: IntGauge,
    /// What the BMC pool counts (it holds a clone).
    pub bmc: BmcMetrics,
}

/// The BMC pool's share: calls by driver and outcome, their duration, open sessions.
#[derive(Clone)]
pub struct BmcMetrics {
    calls: IntCounterVec,
    call_seconds: HistogramVec,
    sessions: IntGaugeVec,
}

impl std::fmt::Debug for BmcMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BmcMetrics")
    }
}

/// How a BMC is reached, as a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    Ipmi,
    Redfish,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Ipmi => "ipmi",
            Driver::Redfish => "redfish",
        }
    }
}

/// One open BMC session (a kept RMCP+ session or Redfish connection) in
/// `igord_bmc_sessions_open`, for as long as it lives: counted when made, uncounted when
/// dropped, however it goes.
pub struct Held(IntGauge);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl BmcMetrics {
    fn new() -> prometheus::Result<BmcMetrics> {
        Ok(BmcMetrics {
            calls: IntCounterVec::new(
                Opts::new(
                    "igord_bmc_calls_total",
                    "BMC calls by driver and outcome (ok, or the error code answered)",
                ),
                &["driver", "outcome"],
            )?,
            call_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "igord_bmc_call_duration_seconds",
                    "BMC calls' whole duration (waiting for the machine's turn, the replica \
                     lock and the global permit included)",
                )
                .buckets(BMC_BUCKETS.to_vec()),
                &["driver"],
            )?,
            sessions: IntGaugeVec::new(
                Opts::new(
                    "igord_bmc_sessions_open",
                    "BMC sessions open: kept RMCP+ sessions (ipmi) and Redfish connections",
                ),
                &["driver"],
            )?,
        })
    }

    /// Counts one finished BMC call; `outcome` is `ok` or an error code.
    pub fn call(&self, driver: Driver, outcome: &'static str, seconds: f64) {
        if let Ok(c) = self
            .calls
            .get_metric_with_label_values(&[driver.as_str(), outcome])
        {
            c.inc();
        }
        if let Ok(h) = self
            .call_seconds
            .get_metric_with_label_values(&[driver.as_str()])
        {
            h.observe(seconds);
        }
    }

    /// Counts a session just opened, until the returned guard is dropped with it.
    pub fn opened(&self, driver: Driver) -> Option<Held> {
        let g = self
            .sessions
            .get_metric_with_label_values(&[driver.as_str()])
            .ok()?;
        g.inc();
        Some(Held(g))
    }
}

/// A login's outcome, as a label.
#[derive(Clone, Copy, Debug)]
pub enum Login {
    Ok,
    /// Wrong password, unknown or disabled user.
    Failed,
    /// Refused by the throttle before any hashing.
    Throttled,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "igord_requests_total",
                "calls to a command version (RPC and REST alike) by command, way and HTTP status",
            ),
            &["command", "via", "status"],
        )?;
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "igord_request_duration_seconds",
                "time from a call's dispatch to its answer (to its first line for a streamed one)",
            )
            .buckets(REQUEST_BUCKETS.to_vec()),
            &["command"],
        )?;
        let logins = IntCounterVec::new(
            Opts::new(
                "igord_logins_total",
                "logins by outcome: ok, failed, throttled (refused before any hashing)",
            ),
            &["outcome"],
        )?;
        let login_locked_keys = IntGauge::new(
            "igord_login_locked_keys",
            "login throttle keys (source addresses, user names at an address) locked out now",
        )?;
        let replica_locks_held = IntGauge::new(
            "igord_replica_locks_held",
            "machine locks this replica holds in PostgreSQL (0 on SQLite)",
        )?;
        let bmc = BmcMetrics::new()?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_seconds.clone()))?;
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(login_locked_keys.clone()))?;
        registry.register(Box::new(replica_locks_held.clone()))?;
        registry.register(Box::new(bmc.calls.clone()))?;
        registry.register(Box::new(bmc.call_seconds.clone()))?;
        registry.register(Box::new(bmc.sessions.clone()))?;
        // process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds,
        // process_threads...: read from /proc at each scrape.
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Metrics {
            registry,
            requests,
            request_seconds,
            logins,
            login_locked_keys,
            replica_locks_held,
            bmc,
        })
    }

    /// Counts one dispatched call. `command` is a declared command version's full name,
    /// never what the client typed.
    pub fn request(&self, command: &str, via: &'static str, status: u16, seconds: f64) {
        let status = status_text(status);
        if let Ok(c) = self
            .requests
            .get_metric_with_label_values(&[command, via, &status])
        {
            c.inc();
        }
        if let Ok(h) = self
            .request_seconds
            .get_metric_with_label_values(&[command])
        {
            h.observe(seconds);
        }
    }

    pub fn login(&self, outcome: Login) {
        let label = match outcome {
            Login::Ok => "ok",
            Login::Failed => "failed",
            Login::Throttled => "throttled",
        };
        if let Ok(c) = self.logins.get_metric_with_label_values(&[label]) {
            c.inc();
        }
    }

    /// The text exposition, with the values read at scrape time set first.
    pub fn render(&self, login_locked_keys: usize, replica_locks_held: usize) -> String {
        self.login_locked_keys
            .set(i64::try_from(login_locked_keys).unwrap_or(i64::MAX));
        self.replica_locks_held
            .set(i64::try_from(replica_locks_held).unwrap_or(i64::MAX));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// An HTTP status as label text, without allocating for the usual ones.
fn status_text(status: u16) -> std::borrow::Cow<'static, str> {
    use std::borrow::Cow::Borrowed;
    match status {
        200 => Borrowed("200"),
        201 => Borrowed("201"),
        204 => Borrowed("204"),
        400 => Borrowed("400"),
        401 => Borrowed("401"),
        403 => Borrowed("403"),
        404 => Borrowed("404"),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders() {
        let m = Metrics::new().unwrap();
        m.request("machine-show/1", "rpc", 200, 0.002);
        m.request("machine-show/1", "rest", 403, 0.001);
        m.login(Login::Throttled);
        m.bmc.call(Driver::Ipmi, "ok", 0.01);
        let held = m.bmc.opened(Driver::Redfish);
        let text = m.render(2, 0);
        for line in [
            "igord_requests_total{command=\"machine-show/1\",status=\"200\",via=\"rpc\"} 1",
            "igord_requests_total{command=\"machine-show/1\",status=\"403\",via=\"rest\"} 1",
            "igord_logins_total{outcome=\"throttled\"} 1",
            "igord_login_locked_keys 2",
            "igord_bmc_calls_total{driver=\"ipmi\",outcome=\"ok\"} 1",
            "igord_bmc_sessions_open{driver=\"redfish\"} 1",
            "igord_request_duration_seconds_count{command=\"machine-show/1\"} 2",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        drop(held);
        assert!(
            m.render(0, 0)
                .contains("igord_bmc_sessions_open{driver=\"redfish\"} 0")
        );
    }
}
