//! The built-in client commands, which exist before any schema: one file each, with
//! `cli()` (its clap command) and `exec()` (what it does), as in cargo.

use anyhow::Result;
use clap::{ArgMatches, Command};

use crate::context::{App, EXIT_USAGE};

pub mod completion;
pub mod config;
pub mod console;
pub mod login;
pub mod logout;
pub mod schema;

pub fn builtins() -> Vec<Command> {
    vec![
        login::cli(),
        logout::cli(),
        console::cli(),
        config::cli(),
        schema::cli(),
        completion::cli(),
    ]
}

pub fn exec(app: &mut App<'_>, name: &str, m: &ArgMatches) -> Result<i32> {
    match name {
        "login" => login::exec(app, m),
        "logout" => logout::exec(app, m),
        "console" => console::exec(app, m),
        "config" => config::exec(app, m),
        "schema" => schema::exec(app, m),
        "completion" => completion::exec(app, m),
        _ => Ok(EXIT_USAGE),
    }
}
