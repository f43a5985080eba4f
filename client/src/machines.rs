//! The machine names shell completion offers: kept in the cache folder of the server
//! (`cache::MachineNames`, written atomically), and refreshed by ordinary calls, never by
//! TAB. A call on machines (one whose command has a machine parameter) refreshes them when
//! they are older than `cache::MACHINES_TTL_SECS`, after its own answer is printed, with one
//! `machine-find` bounded by `REFRESH_TIMEOUT`; nothing about the refresh can fail, delay
//! the answer of, or change the exit code of the call, and it is silent but for `-v`.
//! An unfiltered `machine-find` stores its own answer, without a second request.

use std::time::Duration;

use serde_json::Value;

use crate::cache::MachineNames;
use crate::call::rpc;
use crate::config::Target;
use crate::context::App;
use crate::http::{HttpRequest, Unreachable};
use crate::resolve::Resolved;

/// How long the refresh may take, after the call's answer is out.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(2);

/// The names of `machine-find`'s answer: each item's `name`.
fn names_of(result: &Value) -> Option<Vec<String>> {
    result
        .as_array()?
        .iter()
        .map(|m| m.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

impl App<'_> {
    /// After a successful call of `def` with `params`: keep the machine names fresh for
    /// completion (see the module doc). `result` is the call's answer when it had one.
    pub fn after_call(
        &self,
        target: &Target,
        def: &schema::LazyCommand,
        params: &Value,
        result: Option<&Value>,
        resolved: &Resolved,
        token: Option<&str>,
    ) {
        let cache = self.cache();
        let unfiltered = params.as_object().is_none_or(|p| {
            p.values()
                .all(|v| v.is_null() || v.as_array().is_some_and(Vec::is_empty))
        });
        if def.name == "machine-find"
            && unfiltered
            && let Some(names) = result.and_then(names_of)
        {
            self.store_machines(&cache, target, names);
            return;
        }
        let on_machines = schema::params::params(&crate::tree::json_of(&def.params))
            .iter()
            .any(|p| crate::tree::is_machine_param(def, &p.key));
        if !on_machines
            || token.is_none()
            || resolved.offline.is_some()
            || cache
                .load_machines(&target.server)
                .is_some_and(|m| m.is_fresh(self.now))
        {
            return;
        }
        let Some(find) = crate::tree::lookup(&resolved.doc, self.known.as_ref(), "machine-find")
        else {
            return;
        };
        match self.find_machines(&target.server, token, &find.full_name) {
            Ok(names) => self.store_machines(&cache, target, names),
            Err(why) => self.diag.info(format_args!(
                "machines: not refreshed for completion: {why}"
            )),
        }
    }

    fn find_machines(
        &self,
        server: &str,
        token: Option<&str>,
        full_name: &str,
    ) -> Result<Vec<String>, String> {
        let timed = Timed {
            inner: self.http,
            timeout: REFRESH_TIMEOUT,
        };
        let outcome = rpc(
            &timed,
            server,
            token,
            full_name,
            &Value::Object(Default::default()),
        )
        .map_err(|e| e.message)?;
        let resp = outcome.result.map_err(|e| e.message)?;
        names_of(&resp.result).ok_or_else(|| "machine-find answered no list of names".to_owned())
    }

    fn store_machines(&self, cache: &crate::cache::Cache, target: &Target, names: Vec<String>) {
        let count = names.len();
        let names = MachineNames {
            fetched_at: self.now,
            names,
        };
        match cache.store_machines(&target.server, &names) {
            Ok(()) => self.diag.info(format_args!(
                "machines: {count} name(s) kept for completion"
            )),
            Err(e) => self.diag.info(format_args!(
                "machines: cannot keep names for completion: {e}"
            )),
        }
    }
}

/// An `Http` whose every request has a deadline of its own.
struct Timed<'a> {
    inner: &'a dyn crate::http::Http,
    timeout: Duration,
}

impl crate::http::Http for Timed<'_> {
    fn send(&self, req: HttpRequest) -> Result<crate::http::HttpResponse, Unreachable> {
        self.inner.send(req.timeout(self.timeout))
    }

    fn tls(&self) -> Option<&crate::tls::Shared> {
        self.inner.tls()
    }
}
