//! Dynamic defaults (level 1.6): `command-defaults`, FreeIPA's answer to defaults that
//! depend on the server. The schema carries no code, so a parameter whose default comes
//! from igord's configuration is marked `x-igor-dynamic-default` with the setting's name;
//! a client asks this command what the server would use, and the handler of the command
//! applies the same value through [`setting`], so the answer cannot drift from the call.

use schema::{CommandDef, CommandName};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::access::Access;
use crate::config::Config;
use crate::error::ApiError;
use crate::registry::{CommandSpec, Out, command};
use crate::state::Ctx;

/// The BMC user `machine-add/3` applies: `[bmc] default_user`.
pub const BMC_DEFAULT_USER: &str = "bmc.default_user";
/// The BMC port `machine-add/3` applies: `[bmc] default_port`.
pub const BMC_DEFAULT_PORT: &str = "bmc.default_port";

/// The HTTPS port of a Redfish BMC when none is given.
pub const REDFISH_PORT: u16 = 443;

/// The value of a server setting named by `x-igor-dynamic-default`, given the parameters
/// of the call so far; `None` when the setting is not configured (the parameter must then
/// be given). The BMC port depends on the driver: RMCP+ for IPMI, HTTPS for Redfish.
pub fn setting(config: &Config, name: &str, given: &Map<String, Value>) -> Option<Value> {
    match name {
        BMC_DEFAULT_USER => config.bmc_default_user.clone().map(Value::String),
        BMC_DEFAULT_PORT if given.get("driver").and_then(Value::as_str) == Some("redfish") => {
            Some(REDFISH_PORT.into())
        }
        BMC_DEFAULT_PORT => Some(config.bmc_default_port.into()),
        _ => None,
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultsParams {
    /// The command, by full name (machine-add/3); a bare name means version 1, as in a call.
    #[schemars(extend("x-igor-positional" = 0))]
    #[schemars(length(min = 1, max = 128))]
    pub command: String,
    /// The parameters given so far (JSON object); defaults are computed for the others.
    #[serde(default)]
    pub params: Map<String, Value>,
}

#[derive(Serialize, JsonSchema)]
pub struct DefaultsOut {
    /// Full name of the command.
    pub command: String,
    /// Parameter name to the value the server would apply, for each parameter not given
    /// whose default is dynamic and configured.
    pub defaults: Map<String, Value>,
    /// Parameters not given whose dynamic default this server does not configure: the
    /// call must give them.
    pub required: Vec<String>,
}

pub fn specs() -> Vec<CommandSpec> {
    vec![command(
        "command-defaults",
        1,
        "1.6",
        "schema",
        Access::User,
        "Show the defaults the server would apply to a command's parameters left out\n\
         For parameters marked x-igor-dynamic-default in the schema, whose default comes \
         from the server's configuration (the BMC user and port of machine-add).",
        defaults,
    )]
}

async fn defaults(ctx: Ctx, p: DefaultsParams) -> Result<Out<DefaultsOut>, ApiError> {
    let doc = &ctx.state.published.document;
    let unknown = || ApiError::UnknownCommand(p.command.clone());
    let name: CommandName = p.command.parse().map_err(|_| unknown())?;
    let def: &CommandDef = doc
        .command(&name.name, name.version.unwrap_or(1))
        .ok_or_else(unknown)?;
    // A setting is shown only to those who may call the command that uses it.
    if def.access == "admin" && !ctx.caller.is_admin() {
        return Err(ApiError::Forbidden(format!(
            "{} needs an admin, so its defaults do too",
            def.full_name
        )));
    }
    let mut out = DefaultsOut {
        command: def.full_name.clone(),
        defaults: Map::new(),
        required: Vec::new(),
    };
    for param in schema::params::params(&def.params) {
        let Some(setting_name) = param.dynamic_default else {
            continue;
        };
        if p.params.contains_key(&param.key) {
            continue;
        }
        match setting(&ctx.state.config, &setting_name, &p.params) {
            Some(v) => {
                out.defaults.insert(param.key, v);
            }
            None => out.required.push(param.key),
        }
    }
    let summary = format!(
        "{}: {} default(s) from the server",
        out.command,
        out.defaults.len()
    );
    Ok(Out::new(out, summary))
}
