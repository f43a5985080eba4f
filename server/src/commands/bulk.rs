//! Bulk commands (level 1.3): one command over a set of machines given as names, hostranges
//! (`node[01-40]`, as FreeIPMI and pdsh write them) or globs (`rack4-*`), resolved on the
//! server to the machines the caller may act on. Machines it may not act on are reported as
//! items, never silently dropped. Each machine runs concurrently (the BMC pool applies the
//! global cap and the per-BMC serialization) and its result is streamed as it completes,
//! so a slow or dead BMC costs its own deadline only.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::access::{self, Access, Who};
use crate::db::models::{self, Machine};
use crate::error::ApiError;
use crate::registry::{CommandSpec, ItemStream, streaming};
use crate::state::{AuditRow, CallAudit, Ctx};

/// The most machines one call may name after expanding hostranges.
pub const MAX_MACHINES: usize = 10_000;
/// The most globs one call may give: each is matched against every machine the caller may
/// see, so globs are what makes resolving cost more than the call's own size.
pub const MAX_GLOBS: usize = 1_000;
/// The most names the hostranges of one call may expand to before duplicates are removed
/// (`MAX_MACHINES` counts after): bounds the expansion work of a call that repeats a large
/// range.
pub const MAX_EXPANDED: u128 = 10 * MAX_MACHINES as u128;

/// Parameters naming a machine set.
pub trait MachineSet {
    fn machines(&self) -> &[String];
}

/// One machine's outcome in a bulk answer.
#[derive(Serialize, JsonSchema)]
pub struct BulkItem<O> {
    /// Machine name (or the pattern that matched nothing).
    pub machine: String,
    pub ok: bool,
    /// The command's result for this machine, when ok.
    pub result: Option<O>,
    /// What went wrong for this machine, when not ok.
    pub error: Option<ItemError>,
    /// How long this machine took, in milliseconds.
    pub duration_ms: u64,
}

#[derive(Serialize, JsonSchema)]
pub struct ItemError {
    /// The same codes as whole-call errors: forbidden, not_found, bmc_timeout, ...
    pub code: String,
    pub message: String,
}

/// Declares a bulk command version whose per-machine work is `f`.
pub fn bulk<P, O, F, Fut>(
    name: &'static str,
    version: u32,
    since: &str,
    topic: &'static str,
    need: Access,
    doc: &'static str,
    f: F,
) -> CommandSpec
where
    P: DeserializeOwned + JsonSchema + MachineSet + Send + Sync + 'static,
    O: Serialize + JsonSchema + Send + 'static,
    F: Fn(Ctx, Machine, Arc<P>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, ApiError>> + Send + 'static,
{
    let f = Arc::new(f);
    let full_name = format!("{name}/{version}");
    streaming::<P, BulkItem<O>, _, _>(name, version, since, topic, need, doc, move |ctx, p| {
        let f = f.clone();
        let full_name = full_name.clone();
        async move {
            let targets = resolve(&ctx, p.machines(), need).await?;
            // One unit of the caller's budget per machine named, acted on or not: naming
            // 10,000 machines is work even when every one is refused.
            let units = u64::try_from(targets.len()).unwrap_or(u64::MAX);
            ctx.state
                .work
                .charge(ctx.caller.id, units, Instant::now())
                .map_err(|wait| {
                    ApiError::rate_limited(
                        &format!(
                            "this call names {units} machine(s), more than is left of your budget of {} per minute",
                            ctx.state.work.per_minute()
                        ),
                        wait,
                    )
                })?;
            let selector = p.machines().join(" ");
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            // Audit rows are gathered and written in one transaction when every machine is
            // done (one commit instead of one per machine). The stream's last line waits for
            // it: the audit writer holds a sender until it has written.
            let (audit_tx, audit_rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
            let total = targets.len();
            let p = Arc::new(p);
            let started = Instant::now();
            for target in targets {
                let (ctx, f, p, tx, audit_tx) = (
                    ctx.clone(),
                    f.clone(),
                    p.clone(),
                    tx.clone(),
                    audit_tx.clone(),
                );
                let full_name = full_name.clone();
                tokio::spawn(async move {
                    let started = Instant::now();
                    let params = ctx.audit_params.clone();
                    // A change on one machine (a bulk grant) writes its own audit row in its
                    // own transaction through `Ctx::write`, as a single call does.
                    let mut written = None;
                    let (machine, acted, outcome) = match target {
                        Ok(m) => {
                            let audit = Arc::new(
                                CallAudit::new(full_name, Some(m.name.clone()))
                                    .with_params(params.clone()),
                            );
                            let ctx = Ctx {
                                audit: Some(audit.clone()),
                                ..ctx
                            };
                            written = Some(audit);
                            (m.name.clone(), true, f(ctx, m, p).await)
                        }
                        Err((name, e)) => (name, false, Err(e)),
                    };
                    let written = written.is_some_and(|a| a.written());
                    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(0);
                    let code = match &outcome {
                        Ok(_) => "ok".to_owned(),
                        Err(e) => e.code().as_str().to_owned(),
                    };
                    let _ = audit_tx.send(Outcome {
                        acted,
                        written,
                        row: AuditRow {
                            at_ms: chrono::Utc::now().timestamp_millis(),
                            machine: Some(machine.clone()),
                            outcome: code.clone(),
                            duration_ms,
                            detail: None,
                            params,
                        },
                    });
                    let item = match outcome {
                        Ok(o) => BulkItem {
                            machine,
                            ok: true,
                            result: Some(o),
                            error: None,
                            duration_ms,
                        },
                        Err(e) => BulkItem {
                            machine,
                            ok: false,
                            result: None,
                            error: Some(ItemError {
                                code,
                                message: e.to_string(),
                            }),
                            duration_ms,
                        },
                    };
                    // The client may have gone away; the work is done and audited anyway.
                    let _ = tx.send(serde_json::to_value(item).unwrap_or(Value::Null));
                });
            }
            drop(audit_tx);
            tokio::spawn(write_audit(ctx, full_name, selector, started, audit_rx, tx));
            Ok(ItemStream {
                total,
                items: rx,
                records: None,
            })
        }
    })
}

/// One machine's outcome, for the audit.
struct Outcome {
    /// The machine was resolved and permitted, so its BMC was called.
    acted: bool,
    /// Its row is already committed, with the change it records.
    written: bool,
    row: AuditRow,
}

/// How much of a selector the call's audit row keeps.
const AUDIT_SELECTOR_MAX: usize = 512;

/// Writes the audit rows of one bulk call once every machine has reported: one row for
/// the call (its selector and counts), and one per machine acted on. Machines refused
/// (not permitted, not found) are only counted, so a caller naming 10,000 machines it may
/// not touch writes one row, not 10,000. Then lets the stream end by dropping `hold`.
async fn write_audit(
    ctx: Ctx,
    command: String,
    selector: String,
    started: Instant,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Outcome>,
    hold: tokio::sync::mpsc::UnboundedSender<Value>,
) {
    let (mut ok, mut failed, mut refused) = (0usize, 0usize, 0usize);
    let mut rows = vec![];
    while let Some(o) = rx.recv().await {
        match (o.acted, o.row.outcome == "ok") {
            (true, true) => ok += 1,
            (true, false) => failed += 1,
            (false, _) => refused += 1,
        }
        if o.acted && !o.written {
            rows.push(o.row);
        }
    }
    let mut shown: String = selector.chars().take(AUDIT_SELECTOR_MAX).collect();
    if shown.len() < selector.len() {
        shown.push_str("...");
    }
    let outcome = match (ok, failed + refused) {
        (_, 0) => "ok",
        (0, _) => "failed",
        _ => "partial",
    };
    rows.insert(
        0,
        AuditRow {
            at_ms: chrono::Utc::now().timestamp_millis(),
            machine: None,
            outcome: outcome.to_owned(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(0),
            detail: Some(format!(
                "machines {shown}: {} named, {ok} ok, {failed} failed, {refused} refused",
                ok + failed + refused
            )),
            params: ctx.audit_params.clone(),
        },
    );
    ctx.state
        .audit(ctx.caller.name.clone(), command, rows)
        .await;
    drop(hold);
}

/// A machine a selector resolved to, or the name (or pattern) and why it is not one.
pub type Target = Result<Machine, (String, ApiError)>;

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// Upper bound of how many names a hostrange expands to, without expanding it. As
/// hostlist-parser reads it: top-level commas separate host lists, whose sizes add
/// (`a[1-101],b[1-100]` is 201); bracket groups in sequence within one host list multiply
/// (`rack[1-2]-n[1-3]` is 6); a group's comma-separated parts add (`[1-2,5]` is 3). Guards
/// the expansion against `node[1-999999999]`. `None` for what is not a hostrange.
fn range_size(spec: &str) -> Option<u128> {
    let mut total: u128 = 0;
    for host_list in top_level_parts(spec)? {
        let mut product: u128 = 1;
        let mut rest = host_list;
        while let Some(open) = rest.find('[') {
            let close = rest[open..].find(']')? + open;
            let mut group: u128 = 0;
            for part in rest[open + 1..close].split(',') {
                let size = match part.split_once('-') {
                    Some((a, b)) => {
                        let (a, b): (u128, u128) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                        b.checked_sub(a)?.checked_add(1)?
                    }
                    None => 1,
                };
                group = group.checked_add(size)?;
            }
            product = product.saturating_mul(group.max(1));
            rest = &rest[close + 1..];
        }
        total = total.saturating_add(product);
    }
    Some(total)
}

/// `spec` split at the commas outside brackets; `None` if brackets do not pair up.
fn top_level_parts(spec: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0u32, 0);
    for (i, ch) in spec.char_indices() {
        match ch {
            '[' if depth == 0 => depth = 1,
            ']' if depth == 1 => depth = 0,
            '[' | ']' => return None,
            ',' if depth == 0 => {
                parts.push(&spec[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return None;
    }
    parts.push(&spec[start..]);
    Some(parts)
}

/// Expands names and hostranges (not globs) in order, without duplicates. Refuses more
/// than `MAX_GLOBS` globs, and hostranges naming more than `MAX_EXPANDED` names in all.
pub fn expand(specs: &[String]) -> Result<Vec<String>, ApiError> {
    let globs = specs.iter().filter(|s| is_glob(s)).count();
    if globs > MAX_GLOBS {
        return Err(ApiError::BadRequest(format!(
            "{globs} globs given; at most {MAX_GLOBS} globs per call (each is matched against every machine)"
        )));
    }
    let mut names: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut expanded_total: u128 = 0;
    for spec in specs {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(ApiError::BadRequest(
                "an empty machine name was given".into(),
            ));
        }
        let expanded = if spec.contains(['[', ',']) && !is_glob(spec) {
            let size = range_size(spec).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "invalid hostrange '{spec}': expected e.g. node[01-40]"
                ))
            })?;
            if size > MAX_MACHINES as u128 {
                return Err(ApiError::BadRequest(format!(
                    "hostrange '{spec}' names {size} machines; at most {MAX_MACHINES} per call"
                )));
            }
            expanded_total += size;
            if expanded_total > MAX_EXPANDED {
                return Err(ApiError::BadRequest(format!(
                    "the hostranges of this call name more than {MAX_EXPANDED} machines before duplicates are removed"
                )));
            }
            hostlist_parser::parse(spec)
                .map_err(|e| ApiError::BadRequest(format!("invalid hostrange '{spec}': {e}")))?
        } else {
            vec![spec.to_owned()]
        };
        for n in expanded {
            if seen.insert(n.clone()) {
                names.push(n);
            }
        }
        if names.len() > MAX_MACHINES {
            return Err(ApiError::BadRequest(format!(
                "at most {MAX_MACHINES} machines per call"
            )));
        }
    }
    Ok(names)
}

/// The machines of `specs` the caller may act on with `need`, and an error for each it may
/// not. A name the caller cannot see reads the same whether or not it exists.
pub async fn resolve(ctx: &Ctx, specs: &[String], need: Access) -> Result<Vec<Target>, ApiError> {
    let specs = specs.to_vec();
    let who = ctx.who();
    let uid = (!who.admin).then_some(ctx.caller.id);
    let caches = ctx.state.caches.clone();
    // Off the async workers: expansion and lookups are bounded, not free.
    ctx.db(move |c| {
        let names = expand(&specs)?;
        // A glob matches among every machine the caller may see: that list comes from the
        // database. Names (and hostranges, expanded) are looked up one by one in the hot
        // rows the single-machine calls share, and those not there in one query: a call
        // over 20 machines of a fleet of 10,000 reads 20 rows, not 10,000.
        if names.iter().any(|n| is_glob(n)) {
            let visible = models::machines_with_role(c, uid)?;
            return Ok(select(names, &visible, who, need));
        }
        let generation = caches.generation();
        let mut known: Vec<(Machine, Option<String>)> = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        for name in &names {
            match caches.machine(uid, name) {
                Some(found) => known.extend(found),
                None => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            let found = crate::state::load_machines(c, &caches, uid, missing, generation)?;
            known.extend(found.into_iter().flatten());
        }
        Ok(select(names, &known, who, need))
    })
    .await
}

/// The machines `names` select among those the caller can see (`visible`, with the
/// caller's role on each), each decided by the one machine access rule.
fn select(
    names: Vec<String>,
    visible: &[(Machine, Option<String>)],
    who: Who,
    need: Access,
) -> Vec<Target> {
    let by_name: std::collections::HashMap<&str, &(Machine, Option<String>)> =
        visible.iter().map(|v| (v.0.name.as_str(), v)).collect();
    let decide = |name: &str, found: Option<&(Machine, Option<String>)>| -> Target {
        access::on_machine(who, name, found.map(|(m, r)| (m, r.as_deref())), need)
            .map_err(|e| (name.to_owned(), e))
    };
    let mut out: Vec<Target> = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for name in names {
        if is_glob(&name) {
            let pattern = wildmatch::WildMatch::new(&name);
            let matched: Vec<&(Machine, Option<String>)> = visible
                .iter()
                .filter(|(m, _)| pattern.matches(&m.name))
                .collect();
            if matched.is_empty() {
                out.push(Err((
                    name.clone(),
                    ApiError::NotFound(format!("no machine you may see matches '{name}'")),
                )));
            }
            for found in matched {
                if taken.insert(found.0.id) {
                    out.push(decide(&found.0.name, Some(found)));
                }
            }
            continue;
        }
        match by_name.get(name.as_str()) {
            Some(found) => {
                if taken.insert(found.0.id) {
                    out.push(decide(&name, Some(found)));
                }
            }
            None => out.push(decide(&name, None)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bound must be at least what hostlist-parser expands (so the cap holds) and,
    /// without duplicates, exactly it (so no honest call is refused).
    #[test]
    fn range_sizes() {
        let check = |spec: &str, want: Option<u128>| {
            assert_eq!(range_size(spec), want, "{spec}");
            if let Some(n) = want.filter(|n| *n <= 1000) {
                let names = hostlist_parser::parse(spec).unwrap();
                assert_eq!(names.len() as u128, n, "hostlist-parser on {spec}");
            }
        };
        check("a[1-101],b[1-100]", Some(201));
        check("a[1-3]b[1-2]", Some(6));
        check("a,b,c", Some(3));
        check("a", Some(1));
        check("node[01-40]", Some(40));
        check("n[1-2,5]", Some(3));
        check("n[1-2,5],m[7]", Some(4));
        check("rack[1-2]-n[1-3]", Some(6));
        check("rack[1-2]-n[1-3],spare[1-4]", Some(10));
        check("a[1-3]b[1-2],c[1-2]d[1-2],e", Some(11));
        check("a[1-10], b[1-10]", Some(20));
        check("x[0-0]", Some(1));
        check("node[001-100]", Some(100));
        check("a[1-5000],b[1-5000],c[1]", Some(10_001));
        check("n[1-100]m[1-100]", Some(10_000));
        check("n[1-1000]m[1-1000]k[1-1000]", Some(1_000_000_000));
        check("node[3-1]", None);
        check("node[1-", None);
        check("node1-]", None);
        check("node[[1-2]]", None);
        check("node[x-2]", None);
    }

    #[test]
    fn expansion() {
        let check = |specs: &[&str], want: Result<Vec<&str>, &str>| {
            let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
            let got = expand(&specs).map_err(|e| e.to_string());
            match want {
                Ok(names) => assert_eq!(got.unwrap(), names, "{specs:?}"),
                Err(needle) => assert!(got.unwrap_err().contains(needle), "{specs:?}"),
            }
        };
        check(&["node[01-03]"], Ok(vec!["node01", "node02", "node03"]));
        check(&["n[1-2,5]", "n2", "m1"], Ok(vec!["n1", "n2", "n5", "m1"]));
        check(
            &["rack[1-2]-n[1-2]"],
            Ok(vec!["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]),
        );
        check(&["web-*"], Ok(vec!["web-*"]));
        check(&["node[1-99999999]"], Err("at most 10000"));
        let a_and_b: Vec<String> = (1..=101)
            .map(|i| format!("a{i}"))
            .chain((1..=100).map(|i| format!("b{i}")))
            .collect();
        check(
            &["a[1-101],b[1-100]"],
            Ok(a_and_b.iter().map(String::as_str).collect()),
        );
        check(&["a[1-5000],b[1-5001]"], Err("names 10001 machines"));
        let huge = format!("node[0-{}]", u128::MAX);
        check(&[huge.as_str()], Err("invalid hostrange"));
        let two = format!("node[1-{m},1-{m}]", m = u128::MAX - 1);
        check(&[two.as_str()], Err("invalid hostrange"));
        check(&["node[3-1]"], Err("invalid hostrange"));
        check(&["node[1-"], Err("invalid hostrange"));
        check(&[" "], Err("empty machine name"));
        let globs = |n: usize| (0..n).map(|i| format!("g{i}-*")).collect::<Vec<_>>();
        let at_cap = globs(MAX_GLOBS);
        check(
            &at_cap.iter().map(String::as_str).collect::<Vec<_>>(),
            Ok(at_cap.iter().map(String::as_str).collect()),
        );
        let over = globs(MAX_GLOBS + 1);
        check(
            &over.iter().map(String::as_str).collect::<Vec<_>>(),
            Err("1001 globs given; at most 1000 globs per call"),
        );
        // Ten times the same range: 100,000 names before duplicates, 10,000 after.
        let n10000: Vec<String> = (1..=10_000).map(|i| format!("n{i}")).collect();
        check(
            &["n[1-10000]"; 10],
            Ok(n10000.iter().map(String::as_str).collect()),
        );
        check(
            &["n[1-10000]"; 11],
            Err("more than 100000 machines before duplicates are removed"),
        );
    }
}
