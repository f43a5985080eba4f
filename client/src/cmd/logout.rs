//! `igor logout`: revoke the token on the server, then forget it. A token the server
//! could not be told about is kept, so the user can retry rather than leave a live
//! credential behind unknowingly.

use anyhow::{Result, anyhow};
use clap::{ArgMatches, Command};

use crate::call::ApiError;
use crate::context::{App, EXIT_OK};
use crate::http::HttpRequest;

pub fn cli() -> Command {
    Command::new("logout").about("revoke the token on the server and delete it here")
}

pub fn exec(app: &mut App<'_>, _m: &ArgMatches) -> Result<i32> {
    let target = app.target()?;
    let server = target.server.clone();
    let Some(stored) = app.stored_login(&target).map(|l| l.token) else {
        writeln!(
            app.out,
            "not logged in to {server}{}",
            target.identity.suffix()
        )?;
        return Ok(EXIT_OK);
    };
    let resp = app
        .http
        .send(HttpRequest::post(format!("{server}/api/logout"), None).bearer(Some(&stored.token)))
        .map_err(|e| {
            anyhow!("cannot reach the server at {server}: {e}; the token was not revoked and is kept, run 'igor logout' again")
        })?;
    // 401: the token had already expired or been revoked; either way it is dead.
    if !matches!(resp.status, 200 | 204 | 401) {
        return Err(ApiError::from_response(&resp).into());
    }
    app.tokens().delete(&target.identity)?;
    writeln!(
        app.out,
        "logged out of {server}{}",
        target.identity.suffix()
    )?;
    Ok(EXIT_OK)
}
