//! `igor login`: trade a user name and password for a bearer token and keep the token in a
//! private file of the run's identity (its context, or the bare `--server` URL). The password
//! comes from a prompt without echo, from stdin or from a file, never from argv; neither it
//! nor the token is ever printed. Against an https server whose certificate is neither valid
//! nor pinned, login shows the certificate's fingerprint and asks, on a terminal only,
//! before anything else: the password is typed only to a trusted server.

use anyhow::{Context as _, Result, bail};
use clap::{Arg, ArgAction, ArgMatches, Command};
use schema::{LoginRequest, LoginResponse};

use crate::auth::StoredToken;
use crate::call::ApiError;
use crate::context::{App, EXIT_OK};
use crate::http::HttpRequest;
use crate::prompt::read_secret;
use crate::tls::Refusal;
use crate::tree::{SecretSource, refuse_secret_value};

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
        .arg(
            Arg::new("password-file")
                .long("password-file")
                .value_name("PATH")
                .conflicts_with("password-stdin")
                .help("read the password from the first line of PATH"),
        )
        .arg(
            // Parsed only to be refused: a password in argv is in `ps` for everyone.
            Arg::new("password")
                .long("password")
                .num_args(0..=1)
                .hide(true),
        )
}

/// Makes sure the server's certificate is trusted before a password is typed: a request
/// that fails on an unknown certificate is answered by asking on a terminal (never
/// otherwise), and a yes pins it (`App::finish_tls` writes the pin once it was used).
fn ensure_trusted(app: &mut App<'_>, server: &str) -> Result<()> {
    let Some(tls) = app.http.tls() else {
        return Ok(());
    };
    if !server.starts_with("https://") {
        return Ok(());
    }
    let ping = || HttpRequest::get(format!("{server}/api/ping"));
    let Err(e) = app.http.send(ping()) else {
        return Ok(());
    };
    let presented = match tls.take_refusal() {
        Some(Refusal::Unknown { presented, reason }) if app.prompter.stdin_is_terminal() => {
            crate::exit::stderr_line(format_args!(
                "The certificate of {server} is not trusted ({reason}).\nIts fingerprint is {presented}\nCompare it with what 'igord tls-fingerprint' prints on the server."
            ));
            presented
        }
        Some(r) => bail!("{r}"),
        None => return Err(crate::exit::unreached(server, e)),
    };
    let answer = app
        .prompter
        .line("Trust this certificate and pin it? [y/N] ")
        .context("cannot read the answer")?;
    if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        bail!("the certificate of {server} was not trusted; nothing was sent");
    }
    let mut trust = tls.trust();
    trust.pin = Some(presented);
    trust.pin_from_flag = true;
    tls.set_trust(trust);
    app.http
        .send(ping())
        .map_err(|e| crate::exit::unreached(server, e))?;
    Ok(())
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
    if m.value_source("password") == Some(clap::parser::ValueSource::CommandLine) {
        bail!("{}", refuse_secret_value("password"));
    }
    ensure_trusted(app, &server)?;
    let source = match m.get_one::<String>("password-file") {
        Some(path) => SecretSource::File(path.to_owned()),
        None if m.get_flag("password-stdin") || !app.prompter.stdin_is_terminal() => {
            SecretSource::Stdin
        }
        None => SecretSource::Prompt,
    };
    let password = match read_secret("password", &source, app.prompter) {
        Ok(p) => p,
        Err(m) => bail!("{m}"),
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
        .map_err(|e| crate::exit::unreached(&server, e))?;
    if resp.status != 200 {
        return Err(ApiError::from_response(&resp).into());
    }
    let login: LoginResponse =
        serde_json::from_str(&resp.body).context("the server's login answer is malformed")?;
    let path = app.tokens().save(
        &target.identity,
        &StoredToken {
            server: server.clone(),
            user: login.user.clone(),
            expires_at: login.expires_at.clone(),
            token: login.token,
        },
    )?;
    app.diag
        .info(format_args!("token kept in {}", path.display()));
    writeln!(
        app.out,
        "logged in to {server} as {} ({}){}; the token expires at {}",
        login.user,
        login.role,
        target.identity.suffix(),
        login.expires_at
    )?;
    Ok(EXIT_OK)
}
