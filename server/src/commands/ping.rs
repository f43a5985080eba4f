//! `ping`: is the server alive, which version and level does it serve, who am I.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::access::Access;
use crate::error::ApiError;
use crate::registry::{CommandSpec, Out, command};
use crate::state::Ctx;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ping {}

#[derive(Serialize, JsonSchema)]
pub struct PingOut {
    /// The igord release.
    pub server_version: String,
    /// The API level served (the pin, if any).
    pub api_level: String,
    /// The user the token belongs to.
    pub user: String,
}

pub fn specs() -> Vec<CommandSpec> {
    vec![command(
        "ping",
        1,
        "1.0",
        "server",
        Access::User,
        "Check that the server answers and who you are logged in as",
        ping,
    )]
}

async fn ping(ctx: Ctx, _: Ping) -> Result<Out<PingOut>, ApiError> {
    let level = ctx.state.published.level().to_string();
    Ok(Out::new(
        PingOut {
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            api_level: level.clone(),
            user: ctx.caller.name.clone(),
        },
        format!("igord {} at API level {level}", env!("CARGO_PKG_VERSION")),
    ))
}
