//! Users: `user-add`, `user-show`, `user-find`, `user-mod`, `user-del`, `passwd`.
//! Level 1.4 adds `user-find/2`, whose search text is bounded in its schema.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Deleted;
use crate::access::Access;
use crate::auth;
use crate::db::models::{self, NewUser, User, UserChanges};
use crate::error::ApiError;
use crate::registry::{CommandSpec, Out, Verb, command};
use crate::state::{Ctx, now, rfc3339};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    /// Manages users, machines and permissions, and may operate every machine.
    Admin,
    /// Sees and operates only the machines it holds a permission on.
    User,
}

impl UserRole {
    fn as_str(self) -> &'static str {
        match self {
            UserRole::Admin => "admin",
            UserRole::User => "user",
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct UserOut {
    /// Login name.
    pub name: String,
    /// `admin` or `user`.
    pub role: String,
    /// A disabled user cannot log in, and its tokens stop working.
    pub enabled: bool,
    /// When the user was created (RFC 3339).
    pub created_at: String,
}

fn out(u: &User) -> UserOut {
    UserOut {
        name: u.name.clone(),
        role: u.role.clone(),
        enabled: u.enabled,
        created_at: rfc3339(u.created_at),
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserAdd {
    /// Login name: lowercase letters, digits, '.', '_' and '-'.
    #[schemars(regex(pattern = r"^[a-z_][a-z0-9_.-]{0,63}$"))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
    /// Initial password (at least 8 characters).
    #[schemars(length(min = 8, max = 1024))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub password: String,
    /// Role of the new user.
    #[serde(default = "default_role")]
    pub role: UserRole,
}

fn default_role() -> UserRole {
    UserRole::User
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserName {
    /// Login name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserFind {
    /// Only users whose name contains this text.
    #[schemars(extend("x-igor-positional" = 0))]
    pub criteria: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserFind2 {
    /// Only users whose name contains this text (a user name has at most 64 characters).
    #[schemars(length(max = 64))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub criteria: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserMod {
    /// Login name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
    /// New password (at least 8 characters); the user's tokens are revoked.
    #[schemars(length(min = 8, max = 1024))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub password: Option<String>,
    /// New role.
    pub role: Option<UserRole>,
    /// Enable or disable the user.
    pub enabled: Option<bool>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Passwd {
    /// Your current password.
    #[schemars(extend("x-igor-sensitive" = true))]
    pub current_password: String,
    /// Your new password (at least 8 characters).
    #[schemars(length(min = 8, max = 1024))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub new_password: String,
}

pub fn specs() -> Vec<CommandSpec> {
    vec![
        command(
            "user-add",
            1,
            "1.0",
            "user",
            Access::Admin,
            "Create a user",
            add,
        )
        .rest(Verb::Post, "/api/users")
        .rest_creates("/api/users/{name}")
        .rest_may(&[409, 503])
        .object("user", "add")
        .audited(),
        command(
            "user-show",
            1,
            "1.0",
            "user",
            Access::User,
            "Show a user\nUsers who are not admins may only show themselves.",
            show,
        )
        .rest(Verb::Get, "/api/users/{name}")
        .rest_may(&[403, 404])
        .object("user", "show"),
        command(
            "user-find",
            1,
            "1.0",
            "user",
            Access::User,
            "List users\nUsers who are not admins see only themselves.",
            find,
        )
        .rest(Verb::Get, "/api/users")
        .object("user", "find"),
        command(
            "user-find",
            2,
            "1.4",
            "user",
            Access::User,
            "List users\nUsers who are not admins see only themselves. As version 1, with the length of the search text bounded.",
            |ctx, p: UserFind2| {
                find(
                    ctx,
                    UserFind {
                        criteria: p.criteria,
                    },
                )
            },
        )
        .rest(Verb::Get, "/api/users")
        .object("user", "find"),
        command(
            "user-mod",
            1,
            "1.0",
            "user",
            Access::Admin,
            "Change a user's password, role or enabled state",
            modify,
        )
        .rest(Verb::Put, "/api/users/{name}")
        .rest_may(&[404, 409, 503])
        .object("user", "mod")
        .audited(),
        command(
            "user-del",
            1,
            "1.0",
            "user",
            Access::Admin,
            "Delete a user with its tokens and permissions",
            del,
        )
        .rest(Verb::Delete, "/api/users/{name}")
        .rest_may(&[404, 409])
        .object("user", "del")
        .audited(),
        command(
            "passwd",
            1,
            "1.0",
            "user",
            Access::User,
            "Change your own password",
            passwd,
        )
        .audited(),
    ]
}

async fn hash(ctx: &Ctx, password: String) -> Result<String, ApiError> {
    // argon2 is deliberately slow: it runs on the bounded hashing pool.
    ctx.hash(move || auth::hash_password(&password))
        .await?
        .map_err(ApiError::internal)
}

async fn add(ctx: Ctx, p: UserAdd) -> Result<Out<UserOut>, ApiError> {
    let hash = hash(&ctx, p.password).await?;
    let user = ctx
        .write_recorded(move |c| {
            let new = NewUser {
                name: &p.name,
                password_hash: &hash,
                role: p.role.as_str(),
                enabled: true,
                created_at: now(),
            };
            models::user_insert(c, &new).map_err(|e| ApiError::db(e, "user", &p.name))?;
            let u = models::user_by_name(c, &p.name).map_err(ApiError::from)?;
            let detail = format!(
                "created user '{}' (id {}, role {}, enabled)",
                u.name, u.id, u.role
            );
            Ok((u, Some(detail)))
        })
        .await?;
    let summary = format!("added user '{}'", user.name);
    Ok(Out::new(out(&user), summary))
}

fn may_see(ctx: &Ctx, name: &str) -> Result<(), ApiError> {
    if ctx.caller.is_admin() || ctx.caller.name == name {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "not permitted to see user '{name}'"
        )))
    }
}

async fn show(ctx: Ctx, p: UserName) -> Result<Out<UserOut>, ApiError> {
    may_see(&ctx, &p.name)?;
    let user = ctx
        .db(move |c| models::user_by_name(c, &p.name).map_err(|e| ApiError::db(e, "user", &p.name)))
        .await?;
    Ok(Out::new(out(&user), format!("user '{}'", user.name)))
}

async fn find(ctx: Ctx, p: UserFind) -> Result<Out<Vec<UserOut>>, ApiError> {
    let caller = ctx.caller.clone();
    let users = ctx
        .db(move |c| {
            let all = models::user_find(c, p.criteria.as_deref())?;
            Ok(all
                .into_iter()
                .filter(|u| caller.is_admin() || u.id == caller.id)
                .collect::<Vec<_>>())
        })
        .await?;
    let summary = format!("{} user(s)", users.len());
    Ok(Out::new(users.iter().map(out).collect(), summary))
}

async fn modify(ctx: Ctx, p: UserMod) -> Result<Out<UserOut>, ApiError> {
    if p.password.is_none() && p.role.is_none() && p.enabled.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: give password, role or enabled".into(),
        ));
    }
    let password_hash = match p.password {
        Some(pw) => Some(hash(&ctx, pw).await?),
        None => None,
    };
    let caller = ctx.caller.clone();
    let user = ctx
        .write(move |c| {
            {
                let user = models::user_by_name(c, &p.name)
                    .map_err(|e| ApiError::db(e, "user", &p.name))?;
                let demotes = p.role == Some(UserRole::User) || p.enabled == Some(false);
                if demotes && user.id == caller.id {
                    return Err(ApiError::Conflict(
                        "you cannot demote or disable yourself; ask another admin".into(),
                    ));
                }
                if demotes {
                    keep_an_admin(c, &user, "demote or disable")?;
                }
                let changes = UserChanges {
                    password_hash: password_hash.clone(),
                    role: p.role.map(|r| r.as_str().to_owned()),
                    enabled: p.enabled,
                };
                models::user_update(c, user.id, &changes)?;
                // A new password or a disabled account ends every session: re-enabling an
                // account later must not bring old tokens back.
                if password_hash.is_some() || p.enabled == Some(false) {
                    models::tokens_delete_for_user(c, user.id)?;
                }
                models::user_by_id(c, user.id).map_err(ApiError::from)
            }
        })
        .await?;
    // Disabled, demoted or with a new password: no cached token may outlive the change.
    let summary = format!("modified user '{}'", user.name);
    Ok(Out::new(out(&user), summary))
}

/// Refuses a change that would take away the last enabled admin. Runs inside the change's
/// own transaction, after `lock_admins`, so two admins demoting each other at the same
/// moment are serialized and the second one sees the first one's change.
fn keep_an_admin(c: &mut crate::db::DbConn, user: &User, what: &str) -> Result<(), ApiError> {
    models::lock_admins(c)?;
    // Re-read under the lock: the row read before it may be stale.
    let current = models::user_by_id(c, user.id)?;
    if current.role == "admin" && current.enabled && models::admins_enabled(c)? <= 1 {
        return Err(ApiError::Conflict(format!(
            "cannot {what} '{}': it is the last enabled admin; make another user an admin first",
            current.name
        )));
    }
    Ok(())
}

async fn del(ctx: Ctx, p: UserName) -> Result<Out<Deleted>, ApiError> {
    let caller = ctx.caller.clone();
    let name = ctx
        .write(move |c| {
            let user =
                models::user_by_name(c, &p.name).map_err(|e| ApiError::db(e, "user", &p.name))?;
            if user.id == caller.id {
                return Err(ApiError::Conflict("you cannot delete yourself".into()));
            }
            keep_an_admin(c, &user, "delete")?;
            models::user_delete(c, user.id)?;
            Ok(user.name)
        })
        .await?;
    let summary = format!("deleted user '{name}'");
    Ok(Out::new(
        Deleted {
            name,
            deleted: true,
        },
        summary,
    ))
}

async fn passwd(ctx: Ctx, p: Passwd) -> Result<Out<UserOut>, ApiError> {
    // A wrong current password is a failed login: the same throttle, the same audit.
    let name = ctx.caller.name.clone();
    if let Some(peer) = ctx.peer {
        ctx.state
            .logins
            .check(&name, peer, std::time::Instant::now())
            .map_err(|wait| ApiError::rate_limited("too many wrong passwords", wait))?;
    }
    let id = ctx.caller.id;
    let user = ctx
        .db(move |c| models::user_by_id(c, id).map_err(ApiError::from))
        .await?;
    let current_hash = user.password_hash.clone();
    let ok = ctx
        .hash(move || auth::verify_password(&p.current_password, &current_hash))
        .await?;
    if !ok {
        if let Some(peer) = ctx.peer {
            ctx.state
                .logins
                .failed(&name, peer, std::time::Instant::now());
        }
        return Err(ApiError::Forbidden("the current password is wrong".into()));
    }
    if let Some(peer) = ctx.peer {
        ctx.state.logins.succeeded(&name, peer);
    }
    let new_hash = hash(&ctx, p.new_password).await?;
    let keep = ctx.token_hash.clone();
    let user = ctx
        .write(move |c| {
            let changes = UserChanges {
                password_hash: Some(new_hash),
                ..Default::default()
            };
            models::user_update(c, id, &changes)?;
            // Whoever else holds a token of this user (a stolen one, say) is out; the
            // session that changed the password goes on.
            models::tokens_delete_others(c, id, &keep)?;
            models::user_by_id(c, id).map_err(ApiError::from)
        })
        .await?;
    Ok(Out::new(out(&user), "password changed"))
}
