//! Permissions: `permission-grant`, `permission-revoke`, `permission-find`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::access::Access;
use crate::db::models::{self, PermissionRow};
use crate::error::ApiError;
use crate::registry::{CommandSpec, Out, command};
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
        .object("permission", "find"),
    ]
}

async fn grant(ctx: Ctx, p: PermissionGrant) -> Result<Out<PermissionOut>, ApiError> {
    let row = ctx
        .write(move |c| {
            {
                let u = models::user_by_name(c, &p.user).map_err(|e| ApiError::db(e, "user", &p.user))?;
                let m = models::machine_by_name(c, &p.machine)
                    .map_err(|e| ApiError::db(e, "machine", &p.machine))?;
                if let Some(existing) = models::permission_role(c, u.id, m.id)? {
                    return Err(ApiError::Conflict(format!(
                        "user '{}' already holds '{existing}' on machine '{}'; revoke it first to change it",
                        p.user, p.machine
                    )));
                }
                models::permission_insert(c, u.id, m.id, p.role.as_str())?;
                Ok(PermissionRow {
                    user: u.name,
                    machine: m.name,
                    role: p.role.as_str().to_owned(),
                })
            }
        })
        .await?;
    let summary = format!(
        "granted '{}' on '{}' to '{}'",
        row.role, row.machine, row.user
    );
    Ok(Out::new(out(row), summary))
}

async fn revoke(ctx: Ctx, p: PermissionRevoke) -> Result<Out<PermissionOut>, ApiError> {
    let row = ctx
        .write(move |c| {
            let u =
                models::user_by_name(c, &p.user).map_err(|e| ApiError::db(e, "user", &p.user))?;
            let m = models::machine_by_name(c, &p.machine)
                .map_err(|e| ApiError::db(e, "machine", &p.machine))?;
            let Some(role) = models::permission_role(c, u.id, m.id)? else {
                return Err(ApiError::NotFound(format!(
                    "user '{}' holds no permission on machine '{}'",
                    p.user, p.machine
                )));
            };
            models::permission_delete(c, u.id, m.id)?;
            Ok(PermissionRow {
                user: u.name,
                machine: m.name,
                role,
            })
        })
        .await?;
    let summary = format!(
        "revoked '{}' on '{}' from '{}'",
        row.role, row.machine, row.user
    );
    Ok(Out::new(out(row), summary))
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
