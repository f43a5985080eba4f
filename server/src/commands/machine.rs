//! Machines: `machine-add`, `machine-show`, `machine-find`, `machine-mod`, `machine-del`.
//! The BMC password is write-only: encrypted before it reaches the database, never returned.
//! Level 1.4 adds `machine-add/2`, `machine-mod/2` and `machine-find/2`, whose schemas
//! publish what the server refuses in every version (control characters, overlong text).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Deleted;
use crate::access::Access;
use crate::db::models::{self, Machine, MachineChanges, NewMachine};
use crate::error::ApiError;
use crate::registry::{CommandSpec, OnMachine, Out, Verb, command, on_machine};
use crate::state::{Ctx, now, rfc3339};

#[derive(Serialize, JsonSchema)]
pub struct MachineOut {
    /// Machine name.
    pub name: String,
    /// BMC host name or IP address.
    pub bmc_host: String,
    /// BMC UDP port (RMCP+).
    pub bmc_port: u16,
    /// BMC user name.
    pub bmc_user: String,
    /// RMCP+ cipher suite.
    pub cipher_suite: u8,
    /// Free text.
    pub description: String,
    /// When the machine was added (RFC 3339).
    pub created_at: String,
}

pub fn out(m: &Machine) -> MachineOut {
    MachineOut {
        name: m.name.clone(),
        bmc_host: m.bmc_host.clone(),
        bmc_port: u16::try_from(m.bmc_port).unwrap_or_default(),
        bmc_user: m.bmc_user.clone(),
        cipher_suite: u8::try_from(m.cipher_suite).unwrap_or_default(),
        description: m.description.clone(),
        created_at: rfc3339(m.created_at),
    }
}

fn default_port() -> u16 {
    623
}

fn default_cipher_suite() -> u8 {
    3
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineAdd {
    /// Machine name: letters, digits, '.', '_' and '-'.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
    /// BMC host name or IP address.
    #[schemars(length(min = 1, max = 253))]
    pub bmc_host: String,
    /// BMC UDP port.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1))]
    pub bmc_port: u16,
    /// BMC user name.
    #[schemars(length(min = 1, max = 16))]
    pub bmc_user: String,
    /// BMC password (stored encrypted, never shown).
    #[schemars(length(max = 20))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub bmc_password: String,
    /// RMCP+ cipher suite; 3 (HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) is the one supported.
    #[serde(default = "default_cipher_suite")]
    #[schemars(range(min = 3, max = 3))]
    pub cipher_suite: u8,
    /// Free text.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub description: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineName {
    /// Machine name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
}

impl OnMachine for MachineName {
    const FIELD: &'static str = "name";
    fn machine(&self) -> &str {
        &self.name
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineFind {
    /// Only machines whose name contains this text.
    #[schemars(extend("x-igor-positional" = 0))]
    pub criteria: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineMod {
    /// Machine name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
    /// New BMC host name or IP address.
    #[schemars(length(min = 1, max = 253))]
    pub bmc_host: Option<String>,
    /// New BMC UDP port.
    #[schemars(range(min = 1))]
    pub bmc_port: Option<u16>,
    /// New BMC user name.
    #[schemars(length(min = 1, max = 16))]
    pub bmc_user: Option<String>,
    /// New BMC password (stored encrypted, never shown).
    #[schemars(length(max = 20))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub bmc_password: Option<String>,
    /// New RMCP+ cipher suite.
    #[schemars(range(min = 3, max = 3))]
    pub cipher_suite: Option<u8>,
    /// New description.
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
}

/// A machine name, as `machine-add` allows it (so no other name can exist).
const NAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$";

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineAdd2 {
    /// Machine name: letters, digits, '.', '_' and '-'.
    #[schemars(regex(pattern = NAME_PATTERN))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
    /// BMC host name or IP address: letters, digits, '.', '_', '-', ':' and '%'.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[A-Za-z0-9._:%-]+$"))]
    pub bmc_host: String,
    /// BMC UDP port.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1))]
    pub bmc_port: u16,
    /// BMC user name: printable ASCII.
    #[schemars(length(min = 1, max = 16), regex(pattern = r"^[\u0020-\u007e]+$"))]
    pub bmc_user: String,
    /// BMC password (stored encrypted, never shown).
    #[schemars(length(max = 20))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub bmc_password: String,
    /// RMCP+ cipher suite; 3 (HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) is the one supported.
    #[serde(default = "default_cipher_suite")]
    #[schemars(range(min = 3, max = 3))]
    pub cipher_suite: u8,
    /// Free text; tabs and newlines are the only control characters allowed.
    #[serde(default)]
    #[schemars(length(max = 1024), regex(pattern = DESCRIPTION_PATTERN))]
    pub description: String,
}

/// `machine-add/3` (1.6): as version 2, with the BMC user and port defaulting to igord's
/// `[bmc] default_user` and `default_port` (see `command-defaults`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineAdd3 {
    /// Machine name: letters, digits, '.', '_' and '-'.
    #[schemars(regex(pattern = NAME_PATTERN))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
    /// BMC host name or IP address: letters, digits, '.', '_', '-', ':' and '%'.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[A-Za-z0-9._:%-]+$"))]
    pub bmc_host: String,
    /// BMC UDP port; default: the server's [bmc] default_port (623 unless configured).
    #[schemars(range(min = 1))]
    #[schemars(extend("x-igor-dynamic-default" = "bmc.default_port"))]
    pub bmc_port: Option<u16>,
    /// BMC user name: printable ASCII; default: the server's [bmc] default_user, if set.
    #[schemars(length(min = 1, max = 16), regex(pattern = r"^[\u0020-\u007e]+$"))]
    #[schemars(extend("x-igor-dynamic-default" = "bmc.default_user"))]
    pub bmc_user: Option<String>,
    /// BMC password (stored encrypted, never shown).
    #[schemars(length(max = 20))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub bmc_password: String,
    /// RMCP+ cipher suite; 3 (HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) is the one supported.
    #[serde(default = "default_cipher_suite")]
    #[schemars(range(min = 3, max = 3))]
    pub cipher_suite: u8,
    /// Free text; tabs and newlines are the only control characters allowed.
    #[serde(default)]
    #[schemars(length(max = 1024), regex(pattern = DESCRIPTION_PATTERN))]
    pub description: String,
}

impl MachineAdd3 {
    /// Version 2's parameters, with the server's defaults applied (the same values
    /// `command-defaults` reports).
    fn resolve(self, config: &crate::config::Config) -> Result<MachineAdd, ApiError> {
        let bmc_user = match self.bmc_user {
            Some(u) => u,
            None => config.bmc_default_user.clone().ok_or_else(|| {
                ApiError::invalid_param(
                    "bmc_user",
                    "required: this server has no [bmc] default_user to apply",
                )
            })?,
        };
        Ok(MachineAdd {
            name: self.name,
            bmc_host: self.bmc_host,
            bmc_port: self.bmc_port.unwrap_or(config.bmc_default_port),
            bmc_user,
            bmc_password: self.bmc_password,
            cipher_suite: self.cipher_suite,
            description: self.description,
        })
    }
}

/// Free text: no control character but tab and newline.
const DESCRIPTION_PATTERN: &str = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$";

impl From<MachineAdd2> for MachineAdd {
    fn from(p: MachineAdd2) -> Self {
        MachineAdd {
            name: p.name,
            bmc_host: p.bmc_host,
            bmc_port: p.bmc_port,
            bmc_user: p.bmc_user,
            bmc_password: p.bmc_password,
            cipher_suite: p.cipher_suite,
            description: p.description,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineMod2 {
    /// Machine name.
    #[schemars(regex(pattern = NAME_PATTERN))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
    /// New BMC host name or IP address: letters, digits, '.', '_', '-', ':' and '%'.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[A-Za-z0-9._:%-]+$"))]
    pub bmc_host: Option<String>,
    /// New BMC UDP port.
    #[schemars(range(min = 1))]
    pub bmc_port: Option<u16>,
    /// New BMC user name: printable ASCII.
    #[schemars(length(min = 1, max = 16), regex(pattern = r"^[\u0020-\u007e]+$"))]
    pub bmc_user: Option<String>,
    /// New BMC password (stored encrypted, never shown).
    #[schemars(length(max = 20))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub bmc_password: Option<String>,
    /// New RMCP+ cipher suite.
    #[schemars(range(min = 3, max = 3))]
    pub cipher_suite: Option<u8>,
    /// New description; tabs and newlines are the only control characters allowed.
    #[schemars(length(max = 1024), regex(pattern = DESCRIPTION_PATTERN))]
    pub description: Option<String>,
}

impl From<MachineMod2> for MachineMod {
    fn from(p: MachineMod2) -> Self {
        MachineMod {
            name: p.name,
            bmc_host: p.bmc_host,
            bmc_port: p.bmc_port,
            bmc_user: p.bmc_user,
            bmc_password: p.bmc_password,
            cipher_suite: p.cipher_suite,
            description: p.description,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineFind2 {
    /// Only machines whose name contains this text (a name has at most 63 characters).
    #[schemars(length(max = 63))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub criteria: Option<String>,
}

/// `machine-find/3`: the machines a set of selectors names, as a bulk command would
/// resolve them, optionally narrowed by a search text.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineFind3 {
    /// Machines: names, hostranges such as node[01-40], or globs such as rack4-*; none
    /// means every machine you may see.
    #[serde(default)]
    #[schemars(extend("x-igor-positional" = 0))]
    #[schemars(length(max = 10000))]
    pub machines: Vec<String>,
    /// Only machines whose name contains this text.
    #[schemars(length(max = 63))]
    pub criteria: Option<String>,
}

pub fn specs() -> Vec<CommandSpec> {
    vec![
        command(
            "machine-add",
            1,
            "1.0",
            "machine",
            Access::Admin,
            "Add a machine and the credentials of its BMC",
            add,
        )
        .rest(Verb::Post, "/api/machines")
        .rest_creates("/api/machines/{name}")
        .rest_may(&[409])
        .object("machine", "add")
        .audited()
        .target("name"),
        on_machine(
            "machine-show",
            1,
            "1.0",
            "machine",
            Access::Viewer,
            "Show a machine",
            show,
        )
        .rest(Verb::Get, "/api/machines/{name}")
        .object("machine", "show"),
        command(
            "machine-find",
            1,
            "1.0",
            "machine",
            Access::User,
            "List the machines you may see\nAdmins see every machine; users see those they hold a permission on.",
            find,
        )
        .rest(Verb::Get, "/api/machines")
        .object("machine", "find"),
        command(
            "machine-mod",
            1,
            "1.0",
            "machine",
            Access::Admin,
            "Change a machine's BMC address, credentials or description",
            modify,
        )
        .rest(Verb::Put, "/api/machines/{name}")
        .rest_may(&[404])
        .object("machine", "mod")
        .audited()
        .target("name"),
        command(
            "machine-del",
            1,
            "1.0",
            "machine",
            Access::Admin,
            "Delete a machine and every permission on it",
            del,
        )
        .rest(Verb::Delete, "/api/machines/{name}")
        .rest_may(&[404])
        .object("machine", "del")
        .audited()
        .target("name"),
        command(
            "machine-add",
            2,
            "1.4",
            "machine",
            Access::Admin,
            "Add a machine and the credentials of its BMC\nAs version 1, with the limits published: the BMC host and user hold no control characters, the description none but tabs and newlines.",
            |ctx, p: MachineAdd2| add(ctx, p.into()),
        )
        .rest(Verb::Post, "/api/machines")
        .rest_creates("/api/machines/{name}")
        .rest_may(&[409])
        .object("machine", "add")
        .audited()
        .target("name"),
        command(
            "machine-add",
            3,
            "1.6",
            "machine",
            Access::Admin,
            "Add a machine and the credentials of its BMC\nAs version 2, with the BMC user and port defaulting to the server's [bmc] default_user and default_port (command-defaults shows them).",
            |ctx: Ctx, p: MachineAdd3| async move {
                let p = p.resolve(&ctx.state.config)?;
                add(ctx, p).await
            },
        )
        .rest(Verb::Post, "/api/machines")
        .rest_creates("/api/machines/{name}")
        .rest_may(&[409])
        .object("machine", "add")
        .audited()
        .target("name"),
        command(
            "machine-find",
            2,
            "1.4",
            "machine",
            Access::User,
            "List the machines you may see\nAdmins see every machine; users see those they hold a permission on. As version 1, with the length of the search text bounded.",
            |ctx, p: MachineFind2| {
                find(
                    ctx,
                    MachineFind {
                        criteria: p.criteria,
                    },
                )
            },
        )
        .rest(Verb::Get, "/api/machines")
        .object("machine", "find"),
        command(
            "machine-mod",
            2,
            "1.4",
            "machine",
            Access::Admin,
            "Change a machine's BMC address, credentials or description\nAs version 1, with the limits of machine-add/2 published.",
            |ctx, p: MachineMod2| modify(ctx, p.into()),
        )
        .rest(Verb::Put, "/api/machines/{name}")
        .rest_may(&[404])
        .object("machine", "mod")
        .audited()
        .target("name"),
        command(
            "machine-find",
            3,
            "1.5",
            "machine",
            Access::User,
            "List the machines a set of names, hostranges or globs selects\n\
             What a bulk command given the same machines would act on, in the order it \
             would report them; selectors that name nothing you may see are counted in the \
             summary. Without machines, every machine you may see.",
            find_3,
        )
        .rest(Verb::Get, "/api/machines")
        .object("machine", "find"),
    ]
}

async fn add(ctx: Ctx, p: MachineAdd) -> Result<Out<MachineOut>, ApiError> {
    let enc = ctx.state.key.encrypt(&p.bmc_password);
    let m = ctx
        .write_recorded(move |c| {
            let new = NewMachine {
                name: &p.name,
                bmc_host: &p.bmc_host,
                bmc_port: i32::from(p.bmc_port),
                bmc_user: &p.bmc_user,
                bmc_password_enc: &enc,
                cipher_suite: i32::from(p.cipher_suite),
                description: &p.description,
                created_at: now(),
            };
            models::machine_insert(c, &new).map_err(|e| ApiError::db(e, "machine", &p.name))?;
            let m = models::machine_by_name(c, &p.name).map_err(ApiError::from)?;
            let detail = format!(
                "created machine '{}' (id {}, BMC {}:{} as '{}')",
                m.name, m.id, m.bmc_host, m.bmc_port, m.bmc_user
            );
            Ok((m, Some(detail)))
        })
        .await?;
    let summary = format!("added machine '{}'", m.name);
    Ok(Out::new(out(&m), summary))
}

async fn show(_: Ctx, m: Machine, _: MachineName) -> Result<Out<MachineOut>, ApiError> {
    Ok(Out::new(out(&m), format!("machine '{}'", m.name)))
}

async fn find(ctx: Ctx, p: MachineFind) -> Result<Out<Vec<MachineOut>>, ApiError> {
    let visible_to = (!ctx.caller.is_admin()).then_some(ctx.caller.id);
    let list = ctx
        .db(move |c| {
            models::machine_find(c, p.criteria.as_deref(), visible_to).map_err(ApiError::from)
        })
        .await?;
    let summary = format!("{} machine(s)", list.len());
    Ok(Out::new(list.iter().map(out).collect(), summary))
}

async fn find_3(ctx: Ctx, p: MachineFind3) -> Result<Out<Vec<MachineOut>>, ApiError> {
    if p.machines.is_empty() {
        return find(
            ctx,
            MachineFind {
                criteria: p.criteria,
            },
        )
        .await;
    }
    let targets = super::bulk::resolve(&ctx, &p.machines, Access::Viewer).await?;
    let criteria = p.criteria.unwrap_or_default();
    let (mut list, mut unmatched) = (Vec::new(), Vec::new());
    for t in targets {
        match t {
            Ok(m) if m.name.contains(&criteria) => list.push(out(&m)),
            Ok(_) => {}
            Err((name, _)) => unmatched.push(name),
        }
    }
    let mut summary = format!("{} machine(s)", list.len());
    if !unmatched.is_empty() {
        // The first few say which; a call naming thousands must not echo them all.
        let shown: Vec<&str> = unmatched.iter().take(10).map(String::as_str).collect();
        let more = if unmatched.len() > shown.len() {
            ", ..."
        } else {
            ""
        };
        summary.push_str(&format!(
            "; {} selector(s) name nothing you may see: {}{more}",
            unmatched.len(),
            shown.join(", ")
        ));
    }
    Ok(Out::new(list, summary))
}

async fn modify(ctx: Ctx, p: MachineMod) -> Result<Out<MachineOut>, ApiError> {
    let changes = MachineChanges {
        bmc_host: p.bmc_host,
        bmc_port: p.bmc_port.map(i32::from),
        bmc_user: p.bmc_user,
        bmc_password_enc: p.bmc_password.map(|pw| ctx.state.key.encrypt(&pw)),
        cipher_suite: p.cipher_suite.map(i32::from),
        description: p.description,
    };
    if changes.is_empty() {
        return Err(ApiError::BadRequest(
            "nothing to change: give bmc_host, bmc_port, bmc_user, bmc_password, cipher_suite or description"
                .into(),
        ));
    }
    let name = p.name;
    let m = ctx
        .write(move |c| {
            let m =
                models::machine_by_name(c, &name).map_err(|e| ApiError::db(e, "machine", &name))?;
            models::machine_update(c, m.id, &changes)?;
            models::machine_by_name(c, &name).map_err(ApiError::from)
        })
        .await?;
    // New address or credentials: the kept session belongs to the old ones.
    ctx.state.bmc.forget(m.id).await;
    let summary = format!("modified machine '{}'", m.name);
    Ok(Out::new(out(&m), summary))
}

async fn del(ctx: Ctx, p: MachineName) -> Result<Out<Deleted>, ApiError> {
    let name = p.name;
    let deleted = ctx
        .write(move |c| {
            let m =
                models::machine_by_name(c, &name).map_err(|e| ApiError::db(e, "machine", &name))?;
            models::machine_delete(c, m.id)?;
            Ok(m)
        })
        .await?;
    ctx.state.bmc.forget(deleted.id).await;
    let summary = format!("deleted machine '{}'", deleted.name);
    Ok(Out::new(
        Deleted {
            name: deleted.name,
            deleted: true,
        },
        summary,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::registry::Registry;

    /// What the published patterns of the 1.4 versions let through, and what the server
    /// refuses in the released versions whose schemas do not say it: the same values.
    #[test]
    fn control_characters_in_machine_fields() {
        let level = crate::registry::newest_level(&crate::commands::all());
        let registry = Registry::at_level(
            crate::commands::all(),
            crate::commands::classes(),
            crate::commands::TOPICS,
            level,
        )
        .unwrap();
        let base = json!({"name": "node01", "bmc_host": "10.0.0.1", "bmc_user": "ADMIN",
            "bmc_password": "pw"});
        let check = |field: &str, value: &str, refused: bool| {
            for version in [1, 2] {
                let mut p = base.clone();
                p[field] = Value::String(value.to_owned());
                let got = registry.get("machine-add", version).unwrap().validate(&p);
                assert_eq!(
                    got.is_err(),
                    refused,
                    "machine-add/{version} {field}={value:?}: {got:?}"
                );
                if let Err(e) = got {
                    let message = e.to_string();
                    assert!(message.contains(field), "{message}");
                    assert!(!message.chars().any(char::is_control), "{message:?}");
                }
                let mut m = json!({"name": "node01"});
                m[field] = Value::String(value.to_owned());
                assert_eq!(
                    registry
                        .get("machine-mod", version)
                        .unwrap()
                        .validate(&m)
                        .is_err(),
                    refused,
                    "machine-mod/{version} {field}={value:?}"
                );
            }
        };
        check("bmc_host", "bmc01.example.com", false);
        check("bmc_host", "fe80::1%eth0", false);
        check("bmc_host", "evil\u{1b}[2J", true);
        check("bmc_host", "host\0", true);
        check("bmc_host", "host\n", true);
        check("bmc_user", "ADMIN", false);
        check("bmc_user", "root user", false);
        check("bmc_user", "ad\u{1b}]0;x\u{7}", true);
        check("bmc_user", "ad\u{9b}m", true);
        check("bmc_user", "\t", true);
        check("description", "rack 4\nslot 2\tleft", false);
        check("description", "caf\u{e9} \u{2603}", false);
        check("description", "red\u{1b}[31m", true);
        check("description", "over\rwrite", true);
        check("description", "nul\0", true);
        check("description", "del\u{7f}", true);
    }
}
