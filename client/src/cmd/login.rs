//! `igor login`: trade a user name and password for a bearer token and keep the token in a
//! private file. The password comes from a prompt without echo, or from stdin for scripts;
//! neither it nor the token is ever printed.

use anyhow::{Context as _, Result, anyhow, bail};
use clap::{Arg, ArgAction, ArgMatches, Command};
use schema::{LoginRequest, LoginResponse};

use crate::app::{App, EXIT_OK};
use crate::auth::StoredToken;
use crate::call::ApiError;
use crate::http::HttpRequest;

pub fn cli() -> Command {
    Command::new("login")
        .about("log in to the server and keep the token for later commands")
        .arg(
            Arg::new("user")
                .long("user")
                .short('u')
                .value_name("USER")
                .help("user name [default: the context's user]"),
        )
        .arg(
            Arg::new("password-stdin")
                .long("password-stdin")
                .action(ArgAction::SetTrue)
                .help("read the password from stdin (implied when stdin is not a terminal)"),
        )
}

pub fn exec(app: &mut App<'_>, m: &ArgMatches) -> Result<i32> {
    let target = app.target()?;
    let server = target.server.clone();
    let user = match m.get_one::<String>("user").cloned().or(target.user.clone()) {
        Some(u) => u,
        None if app.prompter.stdin_is_terminal() => app
            .prompter
            .line("user: ")
            .context("cannot read the user name")?
            .trim()
            .to_owned(),
        None => bail!("no user name: pass --user or set one in the context"),
    };
    if user.is_empty() {
        bail!("no user name given");
    }
    let from_stdin = m.get_flag("password-stdin") || !app.prompter.stdin_is_terminal();
    let password = if from_stdin {
        app.prompter
            .stdin_line()
            .context("cannot read the password from stdin")?
    } else {
        app.prompter
            .secret(&format!("password for {user} at {server}: "))
            .context("cannot read the password")?
    };
    let body = serde_json::to_string(&LoginRequest {
        user: user.clone(),
        password,
    })?;
    app.diag
        .info(format_args!("logging in to {server} as {user}"));
    let resp = app
        .http
        .send(HttpRequest::post(format!("{server}/api/login"), Some(body)))
        .map_err(|e| anyhow!("cannot reach the server at {server}: {e}"))?;
    if resp.status != 200 {
        return Err(ApiError::from_response(&resp).into());
    }
    let login: LoginResponse =
        serde_json::from_str(&resp.body).context("the server's login answer is malformed")?;
    let path = app.tokens().save(&StoredToken {
        server: server.clone(),
        user: login.user.clone(),
        expires_at: login.expires_at.clone(),
        token: login.token,
    })?;
    app.diag
        .info(format_args!("token kept in {}", path.display()));
    writeln!(
        app.out,
        "logged in to {server} as {} ({}); the token expires at {}",
        login.user, login.role, login.expires_at
    )?;
    Ok(EXIT_OK)
}
