//! `audit-find` (1.2): who did what, when, on which machine. Admins only. `audit-find/2`
//! (1.4) bounds its text filters in its schema. `audit-find/3` (1.5) shows each call's
//! parameters (recorded with secrets masked), filters by outcome and time, and is open to
//! every user for its own records and those on machines it may view. `audit-find/4` (1.6)
//! streams the records, oldest first, and with `follow` keeps streaming new ones as they
//! are written, as `tail -f` does.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::access::Access;
use crate::db::models::{self, AuditFilter};
use crate::error::ApiError;
use crate::registry::{CommandSpec, ItemStream, Out, Verb, command, streaming};
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

/// `audit-find/3`: any user, with time and outcome filters.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditFind3 {
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
    /// Only records with this outcome: `ok`, an error code, `partial` or `failed`.
    #[schemars(length(max = 64))]
    pub outcome: Option<String>,
    /// Only records from this time on: RFC 3339 (`2026-12-02T10:00:00Z`) or an age
    /// (`90s`, `10m`, `1h`, `7d`).
    #[schemars(length(max = 64))]
    pub since: Option<String>,
    /// Only records up to this time, written as `since` is.
    #[schemars(length(max = 64))]
    pub until: Option<String>,
    /// At most this many entries, newest first.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 10000))]
    pub limit: u32,
}

/// `audit-find/3`'s record: version 2's, plus the call's parameters.
#[derive(Serialize, JsonSchema)]
pub struct AuditOut3 {
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
    /// The call's parameters as JSON, secrets shown as `***` (recorded from this release
    /// on; older records have none).
    pub params: Option<String>,
}

/// `audit-find/4`: version 3's filters, streamed oldest first, optionally followed.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditFind4 {
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
    /// Only records with this outcome: `ok`, an error code, `partial` or `failed`.
    #[schemars(length(max = 64))]
    pub outcome: Option<String>,
    /// Only records from this time on: RFC 3339 (`2026-12-02T10:00:00Z`) or an age
    /// (`90s`, `10m`, `1h`, `7d`).
    #[schemars(length(max = 64))]
    pub since: Option<String>,
    /// Only records up to this time, written as `since` is.
    #[schemars(length(max = 64))]
    pub until: Option<String>,
    /// At most this many of the records already written (the newest of them).
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 10000))]
    pub limit: u32,
    /// Keep streaming records as they are written, until the client leaves, its token
    /// ends, or an hour has passed.
    #[serde(default)]
    pub follow: bool,
}

/// How often a follower looks for new records.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(500);
/// How long one follow lasts at most; the client may start another.
const FOLLOW_MAX: std::time::Duration = std::time::Duration::from_secs(3600);
/// A follower looks again at this many ids below the highest it has seen: on PostgreSQL a
/// record may commit after records with higher ids (ids are taken at insert), and a
/// record committed later than this many newer ones would be missed.
const FOLLOW_LOOKBACK_IDS: i64 = 1000;

/// A point in time as `audit-find/3` takes it: RFC 3339, or an age before `now_ms`.
fn when(text: &str, what: &str, now_ms: i64) -> Result<i64, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let bad = || ApiError::InvalidParams {
        message: format!(
            "invalid parameters: {what}: '{}' is neither RFC 3339 (2026-12-02T10:00:00Z) nor an age (90s, 10m, 1h, 7d)",
            crate::error::escape_controls(text)
        ),
        details: None,
    };
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (n, unit) = (
        text.get(..split).ok_or_else(bad)?,
        text.get(split..).ok_or_else(bad)?,
    );
    let n: i64 = n.parse().map_err(|_| bad())?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    if n < 0 {
        return Err(bad());
    }
    Ok(now_ms.saturating_sub(n.saturating_mul(unit_ms)))
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
        )
        .rest(Verb::Get, "/api/audit")
        .rest_hidden(&["follow"]),
        command(
            "audit-find",
            2,
            "1.4",
            "audit",
            Access::Admin,
            "List audit records, newest first: every BMC command and every change to users, machines and permissions\nAs version 1, with the length of each filter bounded, and each record's detail: a bulk call is one record with its selector and counts, plus one per machine acted on; failed logins carry their source address.",
            find_2,
        )
        .rest(Verb::Get, "/api/audit")
        .rest_hidden(&["follow"]),
        command(
            "audit-find",
            3,
            "1.5",
            "audit",
            Access::User,
            "List audit records, newest first, with each call's parameters\n\
             As version 2, plus --outcome, --since and --until (RFC 3339, or an age such as \
             10m or 1h) and each record's parameters (secrets shown as ***). Admins see \
             every record; other users see their own and those on machines they may view.",
            find_3,
        )
        .rest(Verb::Get, "/api/audit")
        .rest_hidden(&["follow"]),
        streaming::<_, AuditOut3, _, _>(
            "audit-find",
            4,
            "1.6",
            "audit",
            Access::User,
            "Stream audit records, oldest first, and with --follow the new ones as they are written\n\
             Version 3's filters and records. Without --follow the newest --limit records that \
             match are streamed, oldest first; with --follow the stream then goes on with each \
             new matching record until the client leaves, its token is revoked or expires, or \
             an hour has passed.",
            find_4,
        )
        .rest(Verb::Get, "/api/audit")
        .rest_hidden(&["follow"]),
    ]
}

/// The records `filter` selects, newest first. A caller who is not an admin sees its own
/// records and those on the machines it may view, whatever the filter says (versions 1 and
/// 2 are for admins only, so this narrows `audit-find/3` alone).
async fn query(ctx: &Ctx, mut filter: AuditFilter) -> Result<Vec<models::AuditRow>, ApiError> {
    let uid = (!ctx.caller.is_admin()).then_some(ctx.caller.id);
    let me = ctx.caller.name.clone();
    ctx.db(move |c| {
        if let Some(uid) = uid {
            let machines = models::machines_with_role(c, Some(uid))?
                .into_iter()
                .map(|(m, _)| m.name)
                .collect();
            filter.visible_to = Some((me, machines));
        }
        models::audit_find(c, &filter).map_err(ApiError::from)
    })
    .await
}

/// Records as one command version shows them, with the summary every version prints.
fn listed<T>(rows: Vec<models::AuditRow>, show: impl Fn(models::AuditRow) -> T) -> Out<Vec<T>> {
    let out: Vec<T> = rows.into_iter().map(show).collect();
    let summary = format!("{} audit record(s)", out.len());
    Out::new(out, summary)
}

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

async fn find(ctx: Ctx, p: AuditFind) -> Result<Out<Vec<AuditOut>>, ApiError> {
    let filter = AuditFilter {
        user: p.user,
        machine: p.machine,
        command: p.command,
        limit: i64::from(p.limit),
        ..AuditFilter::default()
    };
    Ok(listed(query(&ctx, filter).await?, |r| AuditOut {
        id: r.id,
        at: at(r.at_ms),
        user: r.user_name,
        command: r.command,
        machine: r.machine,
        outcome: r.outcome,
        duration_ms: r.duration_ms,
    }))
}

async fn find_2(ctx: Ctx, p: AuditFind2) -> Result<Out<Vec<AuditOut2>>, ApiError> {
    let filter = AuditFilter {
        user: p.user,
        machine: p.machine,
        command: p.command,
        limit: i64::from(p.limit),
        ..AuditFilter::default()
    };
    Ok(listed(query(&ctx, filter).await?, |r| AuditOut2 {
        id: r.id,
        at: at(r.at_ms),
        user: r.user_name,
        command: r.command,
        machine: r.machine,
        outcome: r.outcome,
        duration_ms: r.duration_ms,
        detail: r.detail,
    }))
}

impl AuditFind3 {
    /// The query these filters ask for (`since`/`until` read against now).
    fn filter(self) -> Result<AuditFilter, ApiError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        Ok(AuditFilter {
            since_ms: self.since.map(|t| when(&t, "since", now_ms)).transpose()?,
            until_ms: self.until.map(|t| when(&t, "until", now_ms)).transpose()?,
            user: self.user,
            machine: self.machine,
            command: self.command,
            outcome: self.outcome,
            limit: i64::from(self.limit),
            ..AuditFilter::default()
        })
    }
}

async fn find_3(ctx: Ctx, p: AuditFind3) -> Result<Out<Vec<AuditOut3>>, ApiError> {
    Ok(listed(query(&ctx, p.filter()?).await?, record_3))
}

fn record_3(r: models::AuditRow) -> AuditOut3 {
    AuditOut3 {
        id: r.id,
        at: at(r.at_ms),
        user: r.user_name,
        command: r.command,
        machine: r.machine,
        outcome: r.outcome,
        duration_ms: r.duration_ms,
        detail: r.detail,
        params: r.params,
    }
}

async fn find_4(ctx: Ctx, p: AuditFind4) -> Result<ItemStream, ApiError> {
    let following = p.follow;
    let filter = AuditFind3 {
        user: p.user,
        machine: p.machine,
        command: p.command,
        outcome: p.outcome,
        since: p.since,
        until: p.until,
        limit: p.limit,
    }
    .filter()?;
    let mut rows = query(&ctx, filter.clone()).await?;
    rows.reverse();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let total = rows.len();
    let mut cursor = rows.last().map_or(0, |r| r.id);
    for r in rows {
        let _ = tx.send(serde_json::to_value(record_3(r)).unwrap_or_default());
    }
    if following {
        if cursor == 0 {
            // Nothing matched yet: start from the newest record of all.
            let newest = AuditFilter {
                limit: 1,
                ..AuditFilter::default()
            };
            cursor = query_all(&ctx, newest).await?.first().map_or(0, |r| r.id);
        }
        tokio::spawn(follow(ctx, filter, cursor, tx));
    }
    Ok(ItemStream {
        total,
        items: rx,
        records: Some("audit record(s)"),
    })
}

/// The newest records of every user (for a follower's starting point only: its ids are
/// used, never shown).
async fn query_all(ctx: &Ctx, filter: AuditFilter) -> Result<Vec<models::AuditRow>, ApiError> {
    ctx.db(move |c| models::audit_find(c, &filter).map_err(ApiError::from))
        .await
}

/// Streams new matching records until the client leaves, the token stops being valid, or
/// [`FOLLOW_MAX`] has passed.
async fn follow(
    ctx: Ctx,
    mut filter: AuditFilter,
    mut cursor: i64,
    tx: tokio::sync::mpsc::UnboundedSender<serde_json::Value>,
) {
    let started = std::time::Instant::now();
    let mut seen = std::collections::BTreeSet::new();
    let mut tick = tokio::time::interval(FOLLOW_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    filter.limit = 10_000;
    // Records at or below the starting point were there when the stream began: they were
    // sent already, or left out by the filter or the limit. The first look only notes them.
    let start = cursor;
    let mut first = true;
    while !tx.is_closed() && started.elapsed() < FOLLOW_MAX {
        tick.tick().await;
        let hash = ctx.token_hash.clone();
        let valid = ctx
            .db(
                move |c| match models::token_user(c, &hash, crate::state::now()) {
                    Ok(_) => Ok(true),
                    Err(crate::db::DbError::NotFound) => Ok(false),
                    Err(e) => Err(ApiError::from(e)),
                },
            )
            .await;
        if !matches!(valid, Ok(true)) {
            break;
        }
        filter.after_id = Some(cursor - FOLLOW_LOOKBACK_IDS);
        let Ok(mut rows) = query(&ctx, filter.clone()).await else {
            break;
        };
        rows.reverse();
        for r in rows {
            if r.id <= cursor - FOLLOW_LOOKBACK_IDS || !seen.insert(r.id) {
                continue;
            }
            if first && r.id <= start {
                continue;
            }
            cursor = cursor.max(r.id);
            if tx
                .send(serde_json::to_value(record_3(r)).unwrap_or_default())
                .is_err()
            {
                return;
            }
        }
        first = false;
        let floor = cursor - FOLLOW_LOOKBACK_IDS;
        seen.retain(|id| *id > floor);
    }
}

#[cfg(test)]
mod tests {
    use super::when;

    #[test]
    fn points_in_time() {
        let now = 1_000_000_000;
        let mut wrong = vec![];
        for (text, want) in [
            ("90s", Some(now - 90_000)),
            ("10m", Some(now - 600_000)),
            ("1h", Some(now - 3_600_000)),
            ("7d", Some(now - 7 * 86_400_000)),
            ("2026-12-02T10:00:00Z", Some(1_796_205_600_000)),
            ("2026-12-02T11:00:00+01:00", Some(1_796_205_600_000)),
            ("", None),
            ("m", None),
            ("10", None),
            ("-5m", None),
            ("5w", None),
            ("yesterday", None),
            ("\u{e9}m", None),
        ] {
            let got = when(text, "since", now).ok();
            if got != want {
                wrong.push(format!("{text:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
