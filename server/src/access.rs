//! Who may call what: the access a command version declares, and the one rule that decides
//! whether a caller may act on a machine. Single-machine commands (`Ctx::machine`) and bulk
//! commands (`commands::bulk`) both decide through [`on_machine`], so the rule that a user
//! without permission learns nothing about a machine exists once.

use crate::db::models::Machine;
use crate::error::ApiError;

/// Who may call a command. `Viewer`/`Operator` are checked against the machine the call
/// names (admins always pass), before the handler runs; `Admin` is checked at the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Any logged-in user.
    User,
    Admin,
    /// Read access to the named machine.
    Viewer,
    /// Change access to the named machine.
    Operator,
}

impl Access {
    /// Whether a permission `role` on a machine (`viewer`, `operator`, or none) grants this
    /// access. Admins are let through before this is asked.
    pub fn allowed_by(self, role: Option<&str>) -> bool {
        matches!(
            (self, role),
            (Access::Viewer, Some("viewer" | "operator")) | (Access::Operator, Some("operator"))
        )
    }

    /// Whether this access is decided per machine (and so needs a machine to decide on).
    pub fn is_per_machine(self) -> bool {
        matches!(self, Access::Viewer | Access::Operator)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Access::User => "user",
            Access::Admin => "admin",
            Access::Viewer => "viewer",
            Access::Operator => "operator",
        }
    }
}

/// What the caller is, as far as machine access goes.
#[derive(Clone, Copy, Debug)]
pub struct Who {
    pub admin: bool,
}

/// Decides whether the caller may act on the machine called `name` with `need`, given
/// what the database holds: the machine (if it exists) and the caller's role on it.
///
/// A user without permission gets the same 403 whether or not the machine exists; a user
/// with the viewer role who needs operator is told so; admins pass, and get 404 for a
/// machine that does not exist.
pub fn on_machine(
    who: Who,
    name: &str,
    found: Option<(&Machine, Option<&str>)>,
    need: Access,
) -> Result<Machine, ApiError> {
    match found {
        Some((m, _)) if who.admin => Ok(m.clone()),
        None if who.admin => Err(ApiError::not_found("machine", name)),
        Some((m, role)) if need.allowed_by(role) => Ok(m.clone()),
        Some((_, Some(_))) => Err(ApiError::Forbidden(format!(
            "not permitted on machine '{name}': this needs the operator role"
        ))),
        Some((_, None)) | None => Err(ApiError::Forbidden(format!(
            "not permitted on machine '{name}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule as a table: (admin, machine exists, role, need) -> status or Ok.
    #[test]
    fn the_machine_access_rule() {
        let m = Machine::sample();
        let user = Who { admin: false };
        let admin = Who { admin: true };
        type Case<'a> = (
            Who,
            bool,
            Option<&'a str>,
            Access,
            Result<(), (u16, &'a str)>,
        );
        let cases: &[Case<'_>] = &[
            (admin, true, None, Access::Operator, Ok(())),
            (
                admin,
                false,
                None,
                Access::Viewer,
                Err((404, "machine 'm1' not found")),
            ),
            (
                user,
                false,
                None,
                Access::Viewer,
                Err((403, "not permitted on machine 'm1'")),
            ),
            (
                user,
                true,
                None,
                Access::Viewer,
                Err((403, "not permitted on machine 'm1'")),
            ),
            (user, true, Some("viewer"), Access::Viewer, Ok(())),
            (user, true, Some("operator"), Access::Viewer, Ok(())),
            (user, true, Some("operator"), Access::Operator, Ok(())),
            (
                user,
                true,
                Some("viewer"),
                Access::Operator,
                Err((
                    403,
                    "not permitted on machine 'm1': this needs the operator role",
                )),
            ),
        ];
        let mut wrong = vec![];
        for (i, (who, exists, role, need, want)) in cases.iter().enumerate() {
            let found = exists.then_some((&m, *role));
            let got = on_machine(*who, "m1", found, *need)
                .map(|_| ())
                .map_err(|e| {
                    use actix_web::ResponseError;
                    (e.status_code().as_u16(), e.to_string())
                });
            let got = got.as_ref().map_err(|(s, t)| (*s, t.as_str())).copied();
            if got != *want {
                wrong.push(format!("case {i}: want {want:?}, got {got:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
