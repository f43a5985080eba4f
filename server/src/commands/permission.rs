//! Permissions: `permission-grant`, `permission-revoke`, `permission-find`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::bulk::{MachineSet, bulk};
use crate::access::Access;
use crate::db::models::{self, Machine, PermissionRow};
use crate::error::ApiError;
use crate::registry::{CommandSpec, Out, Verb, command};
use crate::state::Ctx;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PermRole {
    /// Read status, SEL and sensors.
    Viewer,
    /// Also change: power, SEL delete and clear, identify, boot device.
    Operator,
}

impl PermRole {
    fn as_str(self) -> &'static str {
        match self {
            PermRole::Viewer => "viewer",
            PermRole::Operator => "operator",
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct PermissionOut {
    /// User name.
    pub user: String,
    /// Machine name.
    pub machine: String,
    /// `viewer` or `operator`.
    pub role: String,
}

fn out(p: PermissionRow) -> PermissionOut {
    PermissionOut {
        user: p.user,
        machine: p.machine,
        role: p.role,
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionGrant {
    /// User name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub user: String,
    /// Machine name.
    #[schemars(extend("x-igor-positional" = 1))]
    pub machine: String,
    /// Role on the machine.
    #[schemars(extend("x-igor-positional" = 2))]
    pub role: PermRole,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionRevoke {
    /// User name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub user: String,
    /// Machine name.
    #[schemars(extend("x-igor-positional" = 1))]
    pub machine: String,
}

/// `permission-grant/2`: one role for one user on a set of machines. The arguments keep
/// version 1's order (`USER MACHINE ROLE`), so a script written for version 1 means the
/// same with version 2; the machine may now be a set.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionGrantBulk {
    /// User name.
    #[schemars(length(min = 1, max = 64))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub user: String,
    /// Machines: a name, a hostrange such as node[01-40] (commas allowed), or a glob such
    /// as rack4-*.
    #[schemars(length(min = 1, max = 4096))]
    #[schemars(extend("x-igor-positional" = 1))]
    pub machine: String,
    /// Role on each machine.
    #[schemars(extend("x-igor-positional" = 2))]
    pub role: PermRole,
}

impl MachineSet for PermissionGrantBulk {
    fn machines(&self) -> &[String] {
        std::slice::from_ref(&self.machine)
    }
}

/// `permission-revoke/2`: a user's role on a set of machines taken away; version 1's
/// arguments, with the machine now a set.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionRevokeBulk {
    /// User name.
    #[schemars(length(min = 1, max = 64))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub user: String,
    /// Machines: a name, a hostrange such as node[01-40] (commas allowed), or a glob such
    /// as rack4-*.
    #[schemars(length(min = 1, max = 4096))]
    #[schemars(extend("x-igor-positional" = 1))]
    pub machine: String,
}

impl MachineSet for PermissionRevokeBulk {
    fn machines(&self) -> &[String] {
        std::slice::from_ref(&self.machine)
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionFind {
    /// Only this user's permissions.
    pub user: Option<String>,
    /// Only permissions on this machine.
    pub machine: Option<String>,
}

pub fn specs() -> Vec<CommandSpec> {
    vec![
        command(
            "permission-grant",
            1,
            "1.0",
            "permission",
            Access::Admin,
            "Give a user a role on a machine\nA user holds at most one role per machine: revoke it first to change it.",
            grant,
        )
        .rest(Verb::Put, "/api/machines/{machine}/permissions/{user}")
        .rest_may(&[404, 409])
        .object("permission", "grant")
        .audited()
        .target("machine"),
        command(
            "permission-revoke",
            1,
            "1.0",
            "permission",
            Access::Admin,
            "Take a user's role on a machine away",
            revoke,
        )
        .rest(Verb::Delete, "/api/machines/{machine}/permissions/{user}")
        .rest_may(&[404])
        .object("permission", "revoke")
        .audited()
        .target("machine"),
        command(
            "permission-find",
            1,
            "1.0",
            "permission",
            Access::User,
            "List permissions\nUsers who are not admins see only their own.",
            find,
        )
        .rest(Verb::Get, "/api/machines/{machine}/permissions")
        .rest_may(&[403])
        .object("permission", "find"),
        bulk(
            "permission-grant",
            2,
            "1.5",
            "permission",
            Access::Admin,
            "Give a user a role on a set of machines\n\
             One outcome per machine; a machine where the user already holds a role is \
             reported as a conflict and keeps that role.",
            |ctx: Ctx, m: Machine, p: Arc<PermissionGrantBulk>| async move {
                grant_on(&ctx, m, &p.user, p.role).await
            },
        )
        .rest(Verb::Put, "/api/machines/{machine}/permissions/{user}")
        .rest_may(&[404, 409])
        .object("permission", "grant"),
        bulk(
            "permission-revoke",
            2,
            "1.5",
            "permission",
            Access::Admin,
            "Take a user's role on a set of machines away\n\
             One outcome per machine; a machine where the user holds no role is reported as \
             not_found.",
            |ctx: Ctx, m: Machine, p: Arc<PermissionRevokeBulk>| async move {
                revoke_on(&ctx, m, &p.user).await
            },
        )
        .rest(Verb::Delete, "/api/machines/{machine}/permissions/{user}")
        .rest_may(&[404])
        .object("permission", "revoke"),
    ]
}

async fn grant(ctx: Ctx, p: PermissionGrant) -> Result<Out<PermissionOut>, ApiError> {
    let row = ctx
        .write_recorded(move |c| {
            let m = models::machine_by_name(c, &p.machine)
                .map_err(|e| ApiError::db(e, "machine", &p.machine))?;
            grant_row(c, &m, &p.user, p.role)
        })
        .await?;
    let summary = format!(
        "granted '{}' on '{}' to '{}'",
        row.role, row.machine, row.user
    );
    Ok(Out::new(out(row), summary))
}

/// Grants `role` on `m` to `user`, unless the user holds a role there already.
fn grant_row(
    c: &mut crate::db::DbConn,
    m: &Machine,
    user: &str,
    role: PermRole,
) -> Result<(PermissionRow, Option<String>), ApiError> {
    let u = models::user_by_name(c, user).map_err(|e| ApiError::db(e, "user", user))?;
    if let Some(existing) = models::permission_role(c, u.id, m.id)? {
        return Err(ApiError::Conflict(format!(
            "user '{user}' already holds '{existing}' on machine '{}'; revoke it first to change it",
            m.name
        )));
    }
    models::permission_insert(c, u.id, m.id, role.as_str())?;
    let detail = format!(
        "created permission: user '{}' (id {}) is {} on machine '{}' (id {})",
        u.name,
        u.id,
        role.as_str(),
        m.name,
        m.id
    );
    let row = PermissionRow {
        user: u.name,
        machine: m.name.clone(),
        role: role.as_str().to_owned(),
    };
    Ok((row, Some(detail)))
}

async fn grant_on(
    ctx: &Ctx,
    m: Machine,
    user: &str,
    role: PermRole,
) -> Result<PermissionOut, ApiError> {
    let user = user.to_owned();
    let row = ctx
        .write_recorded(move |c| grant_row(c, &m, &user, role))
        .await?;
    Ok(out(row))
}

async fn revoke(ctx: Ctx, p: PermissionRevoke) -> Result<Out<PermissionOut>, ApiError> {
    let row = ctx
        .write_recorded(move |c| {
            let m = models::machine_by_name(c, &p.machine)
                .map_err(|e| ApiError::db(e, "machine", &p.machine))?;
            revoke_row(c, &m, &p.user)
        })
        .await?;
    let summary = format!(
        "revoked '{}' on '{}' from '{}'",
        row.role, row.machine, row.user
    );
    Ok(Out::new(out(row), summary))
}

/// Takes `user`'s role on `m` away.
fn revoke_row(
    c: &mut crate::db::DbConn,
    m: &Machine,
    user: &str,
) -> Result<(PermissionRow, Option<String>), ApiError> {
    let u = models::user_by_name(c, user).map_err(|e| ApiError::db(e, "user", user))?;
    let Some(role) = models::permission_role(c, u.id, m.id)? else {
        return Err(ApiError::NotFound(format!(
            "user '{user}' holds no permission on machine '{}'",
            m.name
        )));
    };
    models::permission_delete(c, u.id, m.id)?;
    let detail = format!(
        "removed permission: user '{}' (id {}) was {role} on machine '{}' (id {})",
        u.name, u.id, m.name, m.id
    );
    let row = PermissionRow {
        user: u.name,
        machine: m.name.clone(),
        role,
    };
    Ok((row, Some(detail)))
}

async fn revoke_on(ctx: &Ctx, m: Machine, user: &str) -> Result<PermissionOut, ApiError> {
    let user = user.to_owned();
    let row = ctx
        .write_recorded(move |c| revoke_row(c, &m, &user))
        .await?;
    Ok(out(row))
}

async fn find(ctx: Ctx, p: PermissionFind) -> Result<Out<Vec<PermissionOut>>, ApiError> {
    let user = if ctx.caller.is_admin() {
        p.user
    } else {
        match p.user {
            Some(u) if u != ctx.caller.name => {
                return Err(ApiError::Forbidden(format!(
                    "not permitted to see the permissions of user '{u}'"
                )));
            }
            _ => Some(ctx.caller.name.clone()),
        }
    };
    let rows = ctx
        .db(move |c| {
            models::permission_find(c, user.as_deref(), p.machine.as_deref())
                .map_err(ApiError::from)
        })
        .await?;
    let summary = format!("{} permission(s)", rows.len());
    Ok(Out::new(rows.into_iter().map(out).collect(), summary))
}
