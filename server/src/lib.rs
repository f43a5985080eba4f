//! igord as a library: the binary in `main.rs` is a thin shell over `serve` and
//! `export_schema`, and the integration tests reach the database helpers through it.

pub mod auth;
pub mod bmc;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod http;
pub mod registry;
pub mod state;

use std::sync::Arc;

use anyhow::Context;
use schema::{ApiLevel, SchemaDocument};

use crate::config::Config;
use crate::registry::{Registry, newest_level};
use crate::state::AppState;

/// The newest API level this build serves.
pub fn own_level() -> ApiLevel {
    newest_level(&commands::all())
}

/// The registry of one level (the pin, or the newest).
pub fn registry_at(level: Option<ApiLevel>) -> anyhow::Result<Registry> {
    let specs = commands::all();
    let level = level.unwrap_or_else(|| newest_level(&specs));
    Ok(Registry::at_level(
        specs,
        commands::classes(),
        commands::TOPICS,
        level,
    )?)
}

/// What `igord schema export --api-level X` prints (the newest level without one).
pub fn export_schema(level: Option<ApiLevel>) -> anyhow::Result<SchemaDocument> {
    Ok(registry_at(level)?.document().clone())
}

/// Creates the data folder readable by its owner only (it holds the database with password
/// hashes and sealed BMC passwords, and the key); an existing folder is left as it is.
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data folder {}", dir.display()))
}

/// Creates the first admin when the user table is empty (DESIGN §7).
fn bootstrap_admin(state: &AppState, password_env: Option<String>) -> anyhow::Result<()> {
    let mut conn = state.pool.get().context("database pool")?;
    if db::models::user_count(&mut conn)? > 0 {
        return Ok(());
    }
    let (password, generated) = match password_env.filter(|p| !p.is_empty()) {
        Some(p) => (p, false),
        None => (auth::generate_password().map_err(anyhow::Error::msg)?, true),
    };
    let hash = auth::hash_password(&password).map_err(anyhow::Error::msg)?;
    db::models::user_insert(
        &mut conn,
        &db::models::NewUser {
            name: "admin",
            password_hash: &hash,
            role: "admin",
            enabled: true,
            created_at: state::now(),
        },
    )?;
    if generated {
        // Printed once on the terminal that started the server, never through the log.
        eprintln!(
            "igord: created user 'admin' with the generated password: {password}\n\
             igord: it is shown only this once; change it with 'igor passwd'"
        );
    } else {
        tracing::info!("created user 'admin' with the password from IGOR_ADMIN_PASSWORD");
    }
    Ok(())
}

/// Opens everything and serves until SIGINT/SIGTERM.
pub async fn serve(
    config: Config,
    admin_password: Option<String>,
    secret_env: Option<String>,
) -> anyhow::Result<()> {
    let registry = registry_at(config.pin_api_level)?;
    let url = db::DbUrl::parse(&config.database_url)?;
    create_private_dir(&config.data_dir)?;
    let key = crypto::SecretKey::load(secret_env.as_deref(), &config.secret_key_file)?;
    let pool = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || db::open(&url, 16)).await??
    };
    let bmc = bmc::BmcPool::new(bmc::BmcConfig {
        max_concurrent: config.bmc_max_concurrent,
        deadline: config.bmc_deadline,
        idle_timeout: config.bmc_idle_timeout,
    });
    let state = Arc::new(AppState {
        registry,
        pool,
        key,
        bmc,
        tokens: state::TokenCache::default(),
        config: config.clone(),
    });
    {
        let state = state.clone();
        tokio::task::spawn_blocking(move || bootstrap_admin(&state, admin_password)).await??;
    }
    let server = {
        let state = state.clone();
        actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .wrap(http::default_headers(&state))
                .configure(http::configure(state.clone()))
        })
        .bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?
    };
    for addr in server.addrs() {
        // The test harness reads this line to learn the port of `--listen 127.0.0.1:0`.
        tracing::info!(
            "igord {} listening on http://{addr} (API level {}, database {})",
            env!("CARGO_PKG_VERSION"),
            state.registry.level(),
            url.display()
        );
        eprintln!("igord: listening on http://{addr}");
    }
    let served = server.run().await;
    // Close every BMC session: a BMC has few session slots and keeps ours until timeout.
    state.bmc.shutdown().await;
    served?;
    tracing::info!("igord stopped");
    Ok(())
}
