//! Rows and queries. Rows never serialize: command handlers turn them into wire types.
//! Every function takes a connection and returns `QueryResult`, so a caller can compose
//! several in one transaction.

use diesel::prelude::*;

use super::DbConn;
use super::schema::{audit, machines, permissions, tokens, users};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub password_hash: String,
    pub role: String,
    pub enabled: bool,
    pub created_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub enabled: bool,
    pub created_at: i64,
}

#[derive(Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub password_hash: Option<String>,
    pub role: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = machines)]
pub struct Machine {
    pub id: i64,
    pub name: String,
    pub bmc_host: String,
    pub bmc_port: i32,
    pub bmc_user: String,
    /// Ciphertext; see `crate::crypto`.
    pub bmc_password_enc: String,
    pub cipher_suite: i32,
    pub description: String,
    pub created_at: i64,
    /// `ipmi` or `redfish`.
    pub driver: String,
    /// Redfish: the ComputerSystem id (found at `machine-add` when the service has one).
    pub redfish_system: Option<String>,
    /// Redfish: the pinned certificate fingerprint (`sha256:HEX`).
    pub tls_pin: Option<String>,
    /// Redfish: the CA (PEM) that vouches for the BMC's certificate, instead of a pin.
    pub tls_ca: Option<String>,
}

#[cfg(test)]
impl Machine {
    /// An IPMI machine `m1` (id 1), for unit tests.
    pub fn sample() -> Machine {
        Machine {
            id: 1,
            name: "m1".into(),
            bmc_host: "127.0.0.1".into(),
            bmc_port: 623,
            bmc_user: "admin".into(),
            bmc_password_enc: String::new(),
            cipher_suite: 3,
            description: String::new(),
            created_at: 0,
            driver: "ipmi".into(),
            redfish_system: None,
            tls_pin: None,
            tls_ca: None,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = machines)]
pub struct NewMachine<'a> {
    pub name: &'a str,
    pub bmc_host: &'a str,
    pub bmc_port: i32,
    pub bmc_user: &'a str,
    pub bmc_password_enc: &'a str,
    pub cipher_suite: i32,
    pub description: &'a str,
    pub created_at: i64,
    pub driver: &'a str,
    pub redfish_system: Option<&'a str>,
    pub tls_pin: Option<&'a str>,
    pub tls_ca: Option<&'a str>,
}

#[derive(Default, AsChangeset)]
#[diesel(table_name = machines)]
pub struct MachineChanges {
    pub bmc_host: Option<String>,
    pub bmc_port: Option<i32>,
    pub bmc_user: Option<String>,
    pub bmc_password_enc: Option<String>,
    pub cipher_suite: Option<i32>,
    pub description: Option<String>,
    pub driver: Option<String>,
    pub redfish_system: Option<Option<String>>,
    pub tls_pin: Option<Option<String>>,
    pub tls_ca: Option<Option<String>>,
}

impl MachineChanges {
    pub fn is_empty(&self) -> bool {
        self.bmc_host.is_none()
            && self.bmc_port.is_none()
            && self.bmc_user.is_none()
            && self.bmc_password_enc.is_none()
            && self.cipher_suite.is_none()
            && self.description.is_none()
            && self.driver.is_none()
            && self.redfish_system.is_none()
            && self.tls_pin.is_none()
            && self.tls_ca.is_none()
    }
}

/// A permission with the names it joins.
#[derive(Clone, Debug)]
pub struct PermissionRow {
    pub user: String,
    pub machine: String,
    pub role: String,
}

#[derive(Insertable)]
#[diesel(table_name = audit)]
pub struct NewAudit<'a> {
    pub at_ms: i64,
    pub user_name: &'a str,
    pub command: &'a str,
    pub machine: Option<&'a str>,
    pub outcome: &'a str,
    pub duration_ms: i64,
    pub detail: Option<&'a str>,
    pub params: Option<&'a str>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = audit)]
pub struct AuditRow {
    pub id: i64,
    pub at_ms: i64,
    pub user_name: String,
    pub command: String,
    pub machine: Option<String>,
    pub outcome: String,
    pub duration_ms: i64,
    pub detail: Option<String>,
    pub params: Option<String>,
}

// Lookups by unique key use `get_result`, not `first`: `first` adds a bound `LIMIT ?`,
// and SQLite re-prepares a statement whose LIMIT is a parameter on every execution.

// ---- users ----

pub fn user_count(c: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(c)
}

pub fn user_insert(c: &mut DbConn, u: &NewUser<'_>) -> QueryResult<i64> {
    diesel::insert_into(users::table)
        .values(u)
        .returning(users::id)
        .get_result(c)
}

pub fn user_by_name(c: &mut DbConn, name: &str) -> QueryResult<User> {
    users::table
        .filter(users::name.eq(name))
        .select(User::as_select())
        .get_result(c)
}

pub fn user_by_id(c: &mut DbConn, id: i64) -> QueryResult<User> {
    users::table
        .find(id)
        .select(User::as_select())
        .get_result(c)
}

/// Users whose name contains `pattern` (all when `None`), by name.
pub fn user_find(c: &mut DbConn, pattern: Option<&str>) -> QueryResult<Vec<User>> {
    let mut q = users::table.select(User::as_select()).into_boxed();
    if let Some(p) = pattern {
        q = q.filter(users::name.like(like_pattern(p)).escape('\\'));
    }
    q.order(users::name.asc()).load(c)
}

pub fn user_update(c: &mut DbConn, id: i64, ch: &UserChanges) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(ch).execute(c)
}

/// Deletes a user with its tokens and permissions (explicitly, not trusting that every
/// backend enforces `ON DELETE CASCADE`).
pub fn user_delete(c: &mut DbConn, id: i64) -> QueryResult<usize> {
    super::transaction(c, |c| {
        diesel::delete(tokens::table.filter(tokens::user_id.eq(id))).execute(c)?;
        diesel::delete(permissions::table.filter(permissions::user_id.eq(id))).execute(c)?;
        diesel::delete(users::table.find(id)).execute(c)
    })
}

/// Serializes every transaction that changes who is an enabled admin, so that two admins
/// demoting each other at the same moment cannot both pass the last-admin check. SQLite's
/// transactions already begin as writers (`super::transaction`); PostgreSQL takes a
/// transaction-scoped advisory lock, released at commit or rollback.
pub fn lock_admins(c: &mut DbConn) -> QueryResult<()> {
    use diesel::connection::SimpleConnection;
    match c {
        DbConn::Sqlite(_) => Ok(()),
        // The key is arbitrary but fixed: "igor" in ASCII, then 1 for "admins".
        DbConn::Pg(_) => c.batch_execute("SELECT pg_advisory_xact_lock(1768383346, 1)"),
    }
}

pub fn admins_enabled(c: &mut DbConn) -> QueryResult<i64> {
    users::table
        .filter(users::role.eq("admin").and(users::enabled.eq(true)))
        .count()
        .get_result(c)
}

// ---- tokens ----

pub fn token_insert(
    c: &mut DbConn,
    token_hash: &str,
    user_id: i64,
    now: i64,
    expires_at: i64,
) -> QueryResult<()> {
    // Tokens expired for a week are swept at each login so the table does not grow without
    // bound; until then an expired token is still recognised, and answered as expired.
    diesel::delete(tokens::table.filter(tokens::expires_at.le(now - 7 * 24 * 3600))).execute(c)?;
    diesel::insert_into(tokens::table)
        .values((
            tokens::token_hash.eq(token_hash),
            tokens::user_id.eq(user_id),
            tokens::created_at.eq(now),
            tokens::expires_at.eq(expires_at),
        ))
        .execute(c)
        .map(|_| ())
}

/// The enabled user owning an unexpired token with this hash, and the token's expiry.
pub fn token_user(c: &mut DbConn, token_hash: &str, now: i64) -> QueryResult<(User, i64)> {
    tokens::table
        .inner_join(users::table)
        .filter(tokens::token_hash.eq(token_hash))
        .filter(tokens::expires_at.gt(now))
        .filter(users::enabled.eq(true))
        .select((User::as_select(), tokens::expires_at))
        .get_result(c)
}

/// When the token with this hash expires (or expired), if it is still stored.
pub fn token_expiry(c: &mut DbConn, token_hash: &str) -> QueryResult<Option<i64>> {
    tokens::table
        .filter(tokens::token_hash.eq(token_hash))
        .select(tokens::expires_at)
        .get_result(c)
        .optional()
}

pub fn token_delete(c: &mut DbConn, token_hash: &str) -> QueryResult<usize> {
    diesel::delete(tokens::table.filter(tokens::token_hash.eq(token_hash))).execute(c)
}

pub fn tokens_delete_for_user(c: &mut DbConn, user_id: i64) -> QueryResult<usize> {
    diesel::delete(tokens::table.filter(tokens::user_id.eq(user_id))).execute(c)
}

/// Every token of the user but `keep` (the one making the call).
pub fn tokens_delete_others(c: &mut DbConn, user_id: i64, keep: &str) -> QueryResult<usize> {
    diesel::delete(
        tokens::table
            .filter(tokens::user_id.eq(user_id))
            .filter(tokens::token_hash.ne(keep)),
    )
    .execute(c)
}

// ---- machines ----

pub fn machine_insert(c: &mut DbConn, m: &NewMachine<'_>) -> QueryResult<i64> {
    diesel::insert_into(machines::table)
        .values(m)
        .returning(machines::id)
        .get_result(c)
}

pub fn machine_by_name(c: &mut DbConn, name: &str) -> QueryResult<Machine> {
    machines::table
        .filter(machines::name.eq(name))
        .select(Machine::as_select())
        .get_result(c)
}

/// Machines whose name contains `pattern`; for `visible_to = Some(user)` only those the user
/// holds a permission on.
pub fn machine_find(
    c: &mut DbConn,
    pattern: Option<&str>,
    visible_to: Option<i64>,
) -> QueryResult<Vec<Machine>> {
    let mut q = machines::table.select(Machine::as_select()).into_boxed();
    if let Some(p) = pattern {
        q = q.filter(machines::name.like(like_pattern(p)).escape('\\'));
    }
    if let Some(uid) = visible_to {
        let ids = permissions::table
            .filter(permissions::user_id.eq(uid))
            .select(permissions::machine_id);
        q = q.filter(machines::id.eq_any(ids));
    }
    q.order(machines::name.asc()).load(c)
}

/// Every machine with the role `user` holds on it (`None` for admins: every machine, no
/// role), by name.
pub fn machines_with_role(
    c: &mut DbConn,
    user: Option<i64>,
) -> QueryResult<Vec<(Machine, Option<String>)>> {
    match user {
        None => Ok(machines::table
            .select(Machine::as_select())
            .order(machines::name.asc())
            .load(c)?
            .into_iter()
            .map(|m| (m, None))
            .collect()),
        Some(uid) => {
            let rows: Vec<(Machine, String)> = machines::table
                .inner_join(permissions::table)
                .filter(permissions::user_id.eq(uid))
                .select((Machine::as_select(), permissions::role))
                .order(machines::name.asc())
                .load(c)?;
            Ok(rows.into_iter().map(|(m, r)| (m, Some(r))).collect())
        }
    }
}

/// The machines of `names` that exist, each with `user`'s role on it (`None` for an admin,
/// and where the user holds none): what a bulk call naming machines needs, in two queries
/// per few thousand names instead of one per name.
pub fn machines_named(
    c: &mut DbConn,
    user: Option<i64>,
    names: &[String],
) -> QueryResult<Vec<(Machine, Option<String>)>> {
    let mut out = Vec::with_capacity(names.len());
    for chunk in names.chunks(5000) {
        let found: Vec<Machine> = machines::table
            .filter(machines::name.eq_any(chunk))
            .select(Machine::as_select())
            .load(c)?;
        let mut roles: std::collections::HashMap<i64, String> = match user {
            Some(uid) if !found.is_empty() => permissions::table
                .filter(permissions::user_id.eq(uid))
                .filter(permissions::machine_id.eq_any(found.iter().map(|m| m.id)))
                .select((permissions::machine_id, permissions::role))
                .load(c)?
                .into_iter()
                .collect(),
            _ => Default::default(),
        };
        out.extend(found.into_iter().map(|m| {
            let role = roles.remove(&m.id);
            (m, role)
        }));
    }
    Ok(out)
}

pub fn machine_update(c: &mut DbConn, id: i64, ch: &MachineChanges) -> QueryResult<usize> {
    diesel::update(machines::table.find(id)).set(ch).execute(c)
}

pub fn machine_delete(c: &mut DbConn, id: i64) -> QueryResult<usize> {
    super::transaction(c, |c| {
        diesel::delete(permissions::table.filter(permissions::machine_id.eq(id))).execute(c)?;
        diesel::delete(machines::table.find(id)).execute(c)
    })
}

// ---- permissions ----

/// The role `user_id` holds on `machine_id`, if any.
pub fn permission_role(
    c: &mut DbConn,
    user_id: i64,
    machine_id: i64,
) -> QueryResult<Option<String>> {
    permissions::table
        .filter(permissions::user_id.eq(user_id))
        .filter(permissions::machine_id.eq(machine_id))
        .select(permissions::role)
        .get_result(c)
        .optional()
}

pub fn permission_insert(
    c: &mut DbConn,
    user_id: i64,
    machine_id: i64,
    role: &str,
) -> QueryResult<()> {
    diesel::insert_into(permissions::table)
        .values((
            permissions::user_id.eq(user_id),
            permissions::machine_id.eq(machine_id),
            permissions::role.eq(role),
        ))
        .execute(c)
        .map(|_| ())
}

pub fn permission_delete(c: &mut DbConn, user_id: i64, machine_id: i64) -> QueryResult<usize> {
    diesel::delete(
        permissions::table
            .filter(permissions::user_id.eq(user_id))
            .filter(permissions::machine_id.eq(machine_id)),
    )
    .execute(c)
}

pub fn permission_find(
    c: &mut DbConn,
    user: Option<&str>,
    machine: Option<&str>,
) -> QueryResult<Vec<PermissionRow>> {
    let mut q = permissions::table
        .inner_join(users::table)
        .inner_join(machines::table)
        .select((users::name, machines::name, permissions::role))
        .into_boxed();
    if let Some(u) = user {
        q = q.filter(users::name.eq(u.to_owned()));
    }
    if let Some(m) = machine {
        q = q.filter(machines::name.eq(m.to_owned()));
    }
    let rows: Vec<(String, String, String)> =
        q.order((machines::name.asc(), users::name.asc())).load(c)?;
    Ok(rows
        .into_iter()
        .map(|(user, machine, role)| PermissionRow {
            user,
            machine,
            role,
        })
        .collect())
}

// ---- audit ----

pub fn audit_insert(c: &mut DbConn, a: &NewAudit<'_>) -> QueryResult<()> {
    diesel::insert_into(audit::table)
        .values(a)
        .execute(c)
        .map(|_| ())
}

/// Rows per INSERT statement on PostgreSQL: 8 parameters each, well under its 65,535.
const AUDIT_ROWS_PER_INSERT: usize = 1000;

/// Several audit rows in one transaction: one commit for a whole bulk call. On PostgreSQL
/// a statement inserts up to `AUDIT_ROWS_PER_INSERT` rows, so a bulk call over a thousand
/// machines costs one round trip, not a thousand; SQLite, in process, takes them one by
/// one (a multi-row INSERT does not compile through the multi-backend connection, and
/// costs SQLite nothing to do without).
pub fn audit_insert_many(c: &mut DbConn, rows: &[NewAudit<'_>]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    match c {
        DbConn::Pg(pg) => pg.transaction(|pg| {
            rows.chunks(AUDIT_ROWS_PER_INSERT).try_for_each(|chunk| {
                diesel::insert_into(audit::table)
                    .values(chunk)
                    .execute(pg)
                    .map(|_| ())
            })
        }),
        DbConn::Sqlite(_) => {
            super::transaction(c, |c| rows.iter().try_for_each(|r| audit_insert(c, r)))
        }
    }
}

#[derive(Clone, Default)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub machine: Option<String>,
    pub command: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub outcome: Option<String>,
    /// For a caller who is not an admin: its own name and the machines it may view; it
    /// sees its own records and those on these machines.
    pub visible_to: Option<(String, Vec<String>)>,
    /// Only records with a greater id (a follower's window).
    pub after_id: Option<i64>,
    pub limit: i64,
}

/// Newest first.
pub fn audit_find(c: &mut DbConn, f: &AuditFilter) -> QueryResult<Vec<AuditRow>> {
    let mut q = audit::table.select(AuditRow::as_select()).into_boxed();
    if let Some(u) = &f.user {
        q = q.filter(audit::user_name.eq(u.clone()));
    }
    if let Some(m) = &f.machine {
        q = q.filter(audit::machine.eq(m.clone()));
    }
    if let Some(cmd) = &f.command {
        q = q.filter(
            audit::command
                .like(format!("{}%", escape_like(cmd)))
                .escape('\\'),
        );
    }
    if let Some(s) = f.since_ms {
        q = q.filter(audit::at_ms.ge(s));
    }
    if let Some(u) = f.until_ms {
        q = q.filter(audit::at_ms.le(u));
    }
    if let Some(o) = &f.outcome {
        q = q.filter(audit::outcome.eq(o.clone()));
    }
    if let Some(id) = f.after_id {
        q = q.filter(audit::id.gt(id));
    }
    if let Some((me, machines)) = &f.visible_to {
        q = q.filter(
            audit::user_name
                .eq(me.clone())
                .or(audit::machine.eq_any(machines.clone())),
        );
    }
    q.order(audit::id.desc()).limit(f.limit).load(c)
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

fn like_pattern(s: &str) -> String {
    format!("%{}%", escape_like(s))
}
