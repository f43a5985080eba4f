//! `audit-find` (1.2): who did what, when, on which machine. Admins only. Sensitive
//! parameters never reach the audit table: it stores no parameters at all. `audit-find/2`
//! (1.4) bounds its text filters in its schema.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::access::Access;
use crate::db::models::{self, AuditFilter};
use crate::error::ApiError;
use crate::registry::{CommandSpec, Out, command};
use crate::state::Ctx;

fn default_limit() -> u32 {
    100
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditFind {
    /// Only calls by this user.
    pub user: Option<String>,
    /// Only calls on this machine.
    #[schemars(extend("x-igor-positional" = 0))]
    pub machine: Option<String>,
    /// Only commands whose full name starts with this, e.g. `power-` or `sel-delete/2`.
    pub command: Option<String>,
    /// At most this many entries, newest first.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 10000))]
    pub limit: u32,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditFind2 {
    /// Only calls by this user.
    #[schemars(length(max = 64))]
    pub user: Option<String>,
    /// Only calls on this machine (or on this name or pattern, for one that matched none).
    #[schemars(length(max = 4096))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub machine: Option<String>,
    /// Only commands whose full name starts with this, e.g. `power-` or `sel-delete/2`.
    #[schemars(length(max = 64))]
    pub command: Option<String>,
    /// At most this many entries, newest first.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 10000))]
    pub limit: u32,
}

#[derive(Serialize, JsonSchema)]
pub struct AuditOut {
    pub id: i64,
    /// When the call finished (RFC 3339, milliseconds).
    pub at: String,
    pub user: String,
    /// Full command name, e.g. power-off/1.
    pub command: String,
    pub machine: Option<String>,
    /// `ok` or the error code.
    pub outcome: String,
    pub duration_ms: i64,
}

/// `audit-find/2`'s record: version 1's, plus what the outcome alone cannot say.
#[derive(Serialize, JsonSchema)]
pub struct AuditOut2 {
    pub id: i64,
    /// When the call finished (RFC 3339, milliseconds).
    pub at: String,
    pub user: String,
    /// Full command name, e.g. power-off/1.
    pub command: String,
    /// The machine acted on; none for a bulk call's own record and for logins.
    pub machine: Option<String>,
    /// `ok` or the error code; a bulk call's own record says `ok`, `partial` or `failed`.
    pub outcome: String,
    pub duration_ms: i64,
    /// A bulk call's selector and counts; a failed login's source address.
    pub detail: Option<String>,
}

pub fn specs() -> Vec<CommandSpec> {
    vec![
        command(
            "audit-find",
            1,
            "1.2",
            "audit",
            Access::Admin,
            "List audit records, newest first: every BMC command and every change to users, machines and permissions",
            find,
        ),
        command(
            "audit-find",
            2,
            "1.4",
            "audit",
            Access::Admin,
            "List audit records, newest first: every BMC command and every change to users, machines and permissions\nAs version 1, with the length of each filter bounded, and each record's detail: a bulk call is one record with its selector and counts, plus one per machine acted on; failed logins carry their source address.",
            find_2,
        ),
    ]
}

async fn rows(ctx: &Ctx, p: AuditFind) -> Result<Vec<models::AuditRow>, ApiError> {
    let filter = AuditFilter {
        user: p.user,
        machine: p.machine,
        command: p.command,
        since_ms: None,
        limit: i64::from(p.limit),
    };
    ctx.db(move |c| models::audit_find(c, &filter).map_err(ApiError::from))
        .await
}

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

async fn find(ctx: Ctx, p: AuditFind) -> Result<Out<Vec<AuditOut>>, ApiError> {
    let out: Vec<AuditOut> = rows(&ctx, p)
        .await?
        .into_iter()
        .map(|r| AuditOut {
            id: r.id,
            at: at(r.at_ms),
            user: r.user_name,
            command: r.command,
            machine: r.machine,
            outcome: r.outcome,
            duration_ms: r.duration_ms,
        })
        .collect();
    let summary = format!("{} audit record(s)", out.len());
    Ok(Out::new(out, summary))
}

async fn find_2(ctx: Ctx, p: AuditFind2) -> Result<Out<Vec<AuditOut2>>, ApiError> {
    let p = AuditFind {
        user: p.user,
        machine: p.machine,
        command: p.command,
        limit: p.limit,
    };
    let out: Vec<AuditOut2> = rows(&ctx, p)
        .await?
        .into_iter()
        .map(|r| AuditOut2 {
            id: r.id,
            at: at(r.at_ms),
            user: r.user_name,
            command: r.command,
            machine: r.machine,
            outcome: r.outcome,
            duration_ms: r.duration_ms,
            detail: r.detail,
        })
        .collect();
    let summary = format!("{} audit record(s)", out.len());
    Ok(Out::new(out, summary))
}
