//! igord as a library: the binary in `main.rs` is a thin shell over `serve` and
//! `export_schema`, and the integration tests reach the database helpers through it.

pub mod access;
pub mod auth;
pub mod bmc;
pub mod commands;
pub mod config;
pub mod console;
pub mod console_log;
pub mod console_ws;
pub mod crypto;
pub mod db;
pub mod error;
pub mod hot;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod registry;
pub mod rest;
pub mod state;
pub mod tls;
pub mod ui;

use std::sync::Arc;

use anyhow::Context;
use schema::{ApiLevel, SchemaDocument};

use crate::config::Config;

/// Database connections in the pool, and blocking threads per worker that use them.
const DB_CONNECTIONS: u32 = 16;
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
/// hashes and sealed BMC passwords, the keys); an existing folder is left as it is, with a
/// warning when others may read it (every file igord creates in it is 0600 anyway).
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Ok(meta) = std::fs::metadata(dir) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                "the data folder {} is readable by others (mode {mode:o}); igord's files in it are \
                 0600, but 'chmod 700 {}' keeps their names private too",
                dir.display(),
                dir.display()
            );
        }
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data folder {}", dir.display()))
}

/// Makes the SQLite database and its `-wal`/`-shm` files 0600 whatever the folder's mode
/// and the umask: they hold password hashes. A new database file is created 0600 before
/// SQLite opens it; SQLite then creates the WAL and shared-memory files with the same mode.
fn private_sqlite_files(url: &db::DbUrl) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let db::DbUrl::Sqlite(path) = url else {
        return Ok(());
    };
    let path = std::path::Path::new(path);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create the database {}", path.display()))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::metadata(&file) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot make {} private", file.display()))?;
                tracing::warn!("{} was readable by others; it is 0600 now", file.display());
            }
            _ => {}
        }
    }
    Ok(())
}

/// The fingerprint clients pin (`igord tls-fingerprint`); generates the self-signed
/// certificate when there is none yet, as the first start would.
pub fn tls_fingerprint(config: &Config) -> anyhow::Result<String> {
    let Some(source) = &config.tls else {
        anyhow::bail!(
            "igord is configured for plain HTTP (--insecure-http): there is no certificate"
        );
    };
    if let tls::TlsSource::Generated { dir } = source {
        create_private_dir(dir)?;
    }
    Ok(tls::Identity::load(source, config.listen)?.fingerprint())
}

/// `igord admin-reset NAME`: the offline way back in when no admin can log in. Makes NAME
/// an enabled admin with a new password (created if missing), revokes its tokens, and
/// records it in the audit log, in one transaction.
pub fn admin_reset(config: &Config, name: &str, password: Option<String>) -> anyhow::Result<()> {
    let url = db::DbUrl::parse(&config.database_url)?;
    create_private_dir(&config.data_dir)?;
    private_sqlite_files(&url)?;
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if !valid_name {
        anyhow::bail!(
            "invalid user name '{}': use up to 64 lowercase letters, digits, '.', '_' and '-'",
            name.escape_default()
        );
    }
    let (password, generated) = match password {
        Some(p) if p.chars().count() >= 8 => (p, false),
        Some(_) => anyhow::bail!("the password must have at least 8 characters"),
        None => (auth::generate_password().map_err(anyhow::Error::msg)?, true),
    };
    let hash = auth::hash_password(&password).map_err(anyhow::Error::msg)?;
    let pool = db::open(&url, 1)?;
    let mut conn = pool.get().context("database pool")?;
    let created = db::transaction(&mut conn, |c| -> anyhow::Result<bool> {
        let created = match db::models::user_by_name(c, name) {
            Ok(user) => {
                db::models::user_update(
                    c,
                    user.id,
                    &db::models::UserChanges {
                        password_hash: Some(hash.clone()),
                        role: Some("admin".into()),
                        enabled: Some(true),
                    },
                )?;
                db::models::tokens_delete_for_user(c, user.id)?;
                // Replicas still running on a shared database drop their cached tokens.
                db::notify_changed(c)?;
                false
            }
            Err(db::DbError::NotFound) => {
                db::models::user_insert(
                    c,
                    &db::models::NewUser {
                        name,
                        password_hash: &hash,
                        role: "admin",
                        enabled: true,
                        created_at: state::now(),
                    },
                )?;
                true
            }
            Err(e) => return Err(e.into()),
        };
        db::models::audit_insert(
            c,
            &db::models::NewAudit {
                at_ms: chrono::Utc::now().timestamp_millis(),
                user_name: name,
                command: "igord admin-reset",
                machine: None,
                outcome: "ok",
                duration_ms: 0,
                detail: Some(if created {
                    "created as an admin"
                } else {
                    "made an enabled admin with a new password; its tokens revoked"
                }),
                params: None,
            },
        )?;
        Ok(created)
    })?;
    let what = if created { "created" } else { "reset" };
    if generated {
        // Printed on the terminal of whoever ran it, never through the log.
        println!("igord: {what} admin '{name}' with the generated password: {password}");
    } else {
        println!("igord: {what} admin '{name}' with the password from standard input");
    }
    Ok(())
}

/// Creates the first admin when the user table is empty.
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

fn hash_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// How many connections igord accepts at once: the file-descriptor limit (raised to its
/// hard limit first) minus a reserve for the database, BMC sockets and files, so that a
/// flood of connections waits at accept instead of starving everything else of
/// descriptors.
fn connection_budget(workers: usize) -> usize {
    const RESERVE: u64 = 512;
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!("cannot raise the open-file limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    };
    let budget = soft
        .saturating_sub(RESERVE)
        .clamp(workers as u64 * 16, 100_000);
    usize::try_from(budget).unwrap_or(25_000)
}

/// Starts the metrics listener (`[metrics] listen`): `GET /metrics` only, plain HTTP on
/// loopback (config.rs refuses plain HTTP elsewhere), else HTTPS with the API's
/// certificate. It has no token check: whoever reaches the address may read the metrics,
/// which hold counts and timings by command version, never a user, machine or secret.
/// Stopped through the returned handle when the API's server stops.
fn metrics_server(
    state: Arc<AppState>,
    addr: std::net::SocketAddr,
    identity: Option<&tls::Identity>,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .wrap(http::json_errors())
            .configure(http::configure_metrics(state.clone()))
    })
    // A scrape every few seconds needs no more; the API's signals stop it (below).
    .workers(1)
    .disable_signals()
    .client_request_timeout(std::time::Duration::from_secs(5))
    .keep_alive(std::time::Duration::from_secs(15))
    .max_connections(64);
    let cannot = || format!("cannot listen for metrics on {addr}");
    let (server, scheme) = match identity {
        Some(id) if !addr.ip().is_loopback() => (
            server
                .bind_rustls_0_23(addr, id.server_config()?)
                .with_context(cannot)?,
            "https",
        ),
        _ => (server.bind(addr).with_context(cannot)?, "http"),
    };
    for a in server.addrs() {
        tracing::info!("metrics on {scheme}://{a}/metrics");
        // The test harness reads this line to learn the port of `listen = "127.0.0.1:0"`.
        eprintln!("igord: metrics on {scheme}://{a}/metrics");
    }
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(handle)
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
    private_sqlite_files(&url)?;
    let identity = match &config.tls {
        Some(source) => Some(tls::Identity::load(source, config.listen)?),
        None => None,
    };
    // Held until serve returns: a second igord on the same SQLite file refuses to start.
    let _sqlite_claim = db::claim_sqlite(&url)?;
    let key = crypto::SecretKey::load(secret_env.as_deref(), &config.secret_key_file)?;
    let pool = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || db::open(&url, DB_CONNECTIONS)).await??
    };
    let metrics = Arc::new(
        metrics::Metrics::new().map_err(|e| anyhow::anyhow!("cannot set up the metrics: {e}"))?,
    );
    let bmc_config = bmc::BmcConfig {
        max_concurrent: config.bmc_max_concurrent,
        deadline: config.bmc_deadline,
        idle_timeout: config.bmc_idle_timeout,
        metrics: Some(metrics.bmc.clone()),
    };
    let bmc = match &url {
        db::DbUrl::Sqlite(_) => bmc::BmcPool::new(bmc_config),
        // Replicas share the database and the BMCs: one call at a time per BMC across all of
        // them, through advisory locks on a connection of the replica's own.
        db::DbUrl::Postgres(u) => {
            let u = u.clone();
            let locks = tokio::task::spawn_blocking(move || db::locks::AdvisoryLocks::start(&u))
                .await?
                .map_err(|e| anyhow::anyhow!("cannot open the machine-lock connection: {e}"))?;
            bmc::BmcPool::with_replica_locks(bmc_config, Arc::new(locks))
        }
    }
    .context("cannot start the bmc runtime")?;
    let registry = Arc::new(registry);
    let caches = Arc::new(hot::Invalidation::new(matches!(
        url,
        db::DbUrl::Postgres(_)
    )));
    let stop_listening = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = {
        let (url, caches, stop) = (url.clone(), caches.clone(), stop_listening.clone());
        std::thread::Builder::new()
            .name("db-listen".into())
            .spawn(move || {
                let on = caches.clone();
                db::listen(&url, &stop, &|| caches.changed(), &|live| on.set_live(live));
            })?
    };
    let consoles = Arc::new(
        console::Consoles::new(config.console.clone(), bmc.clone())
            .context("cannot start the console broker (console.log_dir)")?,
    );
    let state = Arc::new(AppState {
        consoles,
        published: registry.published(),
        pool,
        key,
        bmc,
        caches,
        // Hashing gets at most half the cores (at least one), so that a login flood leaves
        // the other half to everyone else's calls; 64 waiting is enough for any real burst.
        hasher: auth::Hasher::new(hash_threads(), 64)?,
        logins: limits::LoginThrottle::default(),
        work: limits::WorkBudget::new(config.work_per_minute),
        metrics,
        config: config.clone(),
    });
    {
        let state = state.clone();
        tokio::task::spawn_blocking(move || bootstrap_admin(&state, admin_password)).await??;
    }
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let max_conns = connection_budget(workers);
    let conns = limits::ConnLimiter::new(config.connections_per_address);
    let server = {
        let state = state.clone();
        actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .wrap(actix_web::middleware::from_fn(http::connection_cap))
                .wrap(http::json_errors())
                .wrap(http::default_headers(&state))
                .configure(http::configure(state.clone(), registry.clone()))
        })
        .workers(workers)
        // Only diesel runs on the blocking pool (argon2 has threads of its own, BMC
        // sessions a runtime of their own), and a closure there holds one of
        // DB_CONNECTIONS connections: threads beyond that only wait, and each costs a stack
        // and a malloc arena (hundreds of them under a login flood on PostgreSQL pushed
        // igord past 256 MiB).
        .worker_max_blocking_threads(DB_CONNECTIONS as usize)
        .on_connect(move |conn, ext| {
            if let Some(addr) = http::peer_of_connection(conn) {
                ext.insert(std::rc::Rc::new(conns.open(addr)));
            }
        })
        // A request head must arrive within 5 s, a body within http::BODY_DEADLINE, and
        // an idle kept-alive connection is closed after 15 s: no slow client holds a
        // connection for long, and the total is capped below the file descriptor limit.
        .client_request_timeout(std::time::Duration::from_secs(5))
        .client_disconnect_timeout(std::time::Duration::from_secs(1))
        .keep_alive(std::time::Duration::from_secs(15))
        .max_connections((max_conns / workers).max(16))
    };
    let (server, scheme) = match &identity {
        Some(id) => {
            let fp = id.fingerprint();
            tracing::info!(certificate = %id.origin, fingerprint = %fp, "TLS certificate");
            if id.created {
                eprintln!("igord: generated a self-signed TLS certificate, fingerprint {fp}");
            }
            (
                server
                    .bind_rustls_0_23(config.listen, id.server_config()?)
                    .with_context(|| format!("cannot listen on {}", config.listen))?,
                "https",
            )
        }
        None => {
            tracing::warn!("serving plain HTTP on loopback (--insecure-http)");
            (
                server
                    .bind(config.listen)
                    .with_context(|| format!("cannot listen on {}", config.listen))?,
                "http",
            )
        }
    };
    for addr in server.addrs() {
        tracing::info!(
            "igord {} listening on {scheme}://{addr} (API level {}, database {})",
            env!("CARGO_PKG_VERSION"),
            state.published.level(),
            url.display()
        );
        // The test harness reads this line to learn the port of `--listen 127.0.0.1:0`.
        eprintln!("igord: listening on {scheme}://{addr}");
    }
    let metrics_server = match config.metrics_listen {
        Some(addr) => Some(metrics_server(state.clone(), addr, identity.as_ref())?),
        None => None,
    };
    let served = server.run().await;
    if let Some(handle) = metrics_server {
        handle.stop(true).await;
    }
    // Close every BMC session: a BMC has few session slots and keeps ours until timeout.
    state.bmc.shutdown().await;
    stop_listening.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = tokio::task::spawn_blocking(move || listener.join()).await;
    served?;
    tracing::info!("igord stopped");
    Ok(())
}
