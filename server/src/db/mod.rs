//! Storage: one diesel `MultiConnection` over SQLite and PostgreSQL, the connection pool,
//! embedded migrations, and the queries (in `models`). Only this module names diesel.

pub mod locks;
pub mod models;
pub mod schema;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use diesel::result::{DatabaseErrorKind, Error as DbError, QueryResult};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

/// Which backend a URL names. The scheme decides; anything else is refused, because the
/// derived `establish` would otherwise try each backend in turn and turn `postgres:x` into a
/// SQLite file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbUrl {
    /// A filesystem path.
    Sqlite(String),
    Postgres(String),
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "unsupported database URL scheme in '{0}': use sqlite://PATH or postgres://USER@HOST/DB"
    )]
    Scheme(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("cannot apply migrations: {0}")]
    Migrate(String),
    #[error(
        "another igord is serving the SQLite database {0} (it holds {1}); SQLite serves one \
         igord at a time: stop the other one, or use PostgreSQL to run several replicas"
    )]
    InUse(String, String),
    #[error("cannot lock {0}: {1}")]
    Lock(String, String),
}

impl DbUrl {
    pub fn parse(url: &str) -> Result<Self, OpenError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(OpenError::Scheme(url.to_owned()));
            }
            return Ok(DbUrl::Sqlite(path.to_owned()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(url.to_owned()));
        }
        Err(OpenError::Scheme(redact_url(url)))
    }

    /// The URL without any password, for messages and logs.
    pub fn display(&self) -> String {
        match self {
            DbUrl::Sqlite(p) => format!("sqlite://{p}"),
            DbUrl::Postgres(u) => redact_url(u),
        }
    }

    /// One connection outside the pool (migrations, the up/down tests).
    fn connect_one(&self) -> Result<DbConn, OpenError> {
        self.connect()
            .map_err(|e| OpenError::Connect(format!("{}: {e}", self.display())))
    }

    fn connect(&self) -> Result<DbConn, diesel::ConnectionError> {
        match self {
            DbUrl::Sqlite(path) => {
                let mut c = SqliteConnection::establish(path)?;
                // busy_timeout lets concurrent writers queue instead of failing at once.
                // synchronous = NORMAL is the setting SQLite recommends with WAL: a commit
                // is durable against a crash of igord, and only the last commits can be lost
                // to a power cut; FULL would fsync every audit row.
                c.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Sqlite(c))
            }
            DbUrl::Postgres(url) => Ok(DbConn::Pg(PgConnection::establish(url)?)),
        }
    }
}

/// Replaces the password of `scheme://user:password@host`, and of a `password=` query
/// parameter, with `***` (parsed by the `url` crate, as libpq would read the URL). Text
/// that does not parse as a URL is returned as is when it cannot hold a password (no `@`,
/// no `password=`), and replaced whole otherwise.
pub fn redact_url(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        let may_hold_secret = text.contains('@') || text.to_ascii_lowercase().contains("password=");
        return if may_hold_secret {
            "<a URL that does not parse>".to_owned()
        } else {
            text.to_owned()
        };
    };
    if url.password().is_some() {
        // Only fails for URLs that cannot have a password, and this one has one.
        let _ = url.set_password(Some("***"));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// r2d2 manager that connects through our own URL dispatch (see `DbUrl`).
pub struct Manager(DbUrl);

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        self.0.connect().map_err(r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        // Checked when a connection comes back: one that broke mid-query (a restarted
        // PostgreSQL) is dropped instead of failing every later call.
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// Opens the database, creating a SQLite file and its folder if needed, switches SQLite to
/// WAL and applies pending migrations on one connection before the pool exists (a fresh
/// file otherwise sometimes answers "database is locked").
pub fn open(url: &DbUrl, max_size: u32) -> Result<Pool, OpenError> {
    let connect_err =
        |e: &dyn std::fmt::Display| OpenError::Connect(format!("{}: {e}", url.display()));
    if let DbUrl::Sqlite(path) = url
        && let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| connect_err(&e))?;
    }
    let mut conn = url.connect().map_err(|e| connect_err(&e))?;
    if let DbConn::Sqlite(c) = &mut conn {
        c.batch_execute("PRAGMA journal_mode = WAL;")
            .map_err(|e| connect_err(&e))?;
    }
    run_migrations(&mut conn)?;
    drop(conn);
    // SQLite allows one writer at a time; a small pool with busy_timeout serializes writers
    // without starving readers (WAL lets them proceed).
    let size = match url {
        DbUrl::Sqlite(_) => max_size.min(8),
        DbUrl::Postgres(_) => max_size,
    };
    r2d2::Pool::builder()
        .max_size(size)
        .connection_timeout(Duration::from_secs(10))
        // A broken connection fails its query and is dropped then; a `SELECT 1` before
        // every checkout would double the round trips of every call.
        .test_on_check_out(false)
        .build(Manager(url.clone()))
        .map_err(|e| connect_err(&e))
}

/// An exclusive lock on a file beside a SQLite database, held while it lives (the kernel
/// drops it when igord exits, however it exits). SQLite serves one igord at a time: the
/// per-BMC turns, the token cache and every limit live in one process's memory.
#[derive(Debug)]
pub struct SqliteClaim {
    _file: std::fs::File,
}

/// Claims a SQLite database for this process, or says which igord holds it. Nothing to
/// claim on PostgreSQL, which replicas share.
pub fn claim_sqlite(url: &DbUrl) -> Result<Option<SqliteClaim>, OpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    let DbUrl::Sqlite(path) = url else {
        return Ok(None);
    };
    let lock_path = format!("{path}.lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| OpenError::Lock(lock_path.clone(), e.to_string()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(SqliteClaim { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Err(OpenError::InUse(path.clone(), lock_path)),
        Err(std::fs::TryLockError::Error(e)) => Err(OpenError::Lock(lock_path, e.to_string())),
    }
}

/// The channel every replica listens on for changes to users, machines, permissions and
/// tokens (see `crate::hot`).
const CHANGED_CHANNEL: &str = "igor_changed";

/// Tells every replica sharing a PostgreSQL database that something their caches hold has
/// changed. Inside a transaction, PostgreSQL delivers it at commit, and only if the
/// transaction commits. Nothing to do on SQLite, which one process owns.
pub fn notify_changed(c: &mut DbConn) -> QueryResult<()> {
    match c {
        DbConn::Pg(pg) => pg.batch_execute(&format!("NOTIFY {CHANGED_CHANNEL}")),
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// How often the listener looks for notifications (a non-blocking read of its socket).
const LISTEN_POLL: Duration = Duration::from_millis(20);
/// How often the listener proves its connection alive with a query, since a connection
/// that died quietly would otherwise just deliver nothing.
const LISTEN_CHECK: Duration = Duration::from_secs(2);

/// Listens for [`notify_changed`] from every replica (this one included), on a connection
/// of its own, until `stop` is set: each notification calls `changed`; `live(true)` once
/// listening, `live(false)` when the connection is lost (then it reconnects).
pub fn listen(
    url: &DbUrl,
    stop: &std::sync::atomic::AtomicBool,
    changed: &dyn Fn(),
    live: &dyn Fn(bool),
) {
    use std::sync::atomic::Ordering;
    let DbUrl::Postgres(pg_url) = url else {
        return;
    };
    // Named, so that an operator (and the tests) can tell it in pg_stat_activity.
    let sep = if pg_url.contains('?') { '&' } else { '?' };
    let pg_url = format!("{pg_url}{sep}application_name=igord-listen");
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::SeqCst) {
        let conn = PgConnection::establish(&pg_url)
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                c.batch_execute(&format!("LISTEN {CHANGED_CHANNEL}"))
                    .map(|_| c)
                    .map_err(|e| e.to_string())
            });
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(database = %url.display(), error = %e, "change listener cannot connect; caches stay off");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        live(true);
        let mut checked = std::time::Instant::now();
        'listening: while !stop.load(Ordering::SeqCst) {
            for n in conn.notifications_iter() {
                match n {
                    Ok(_) => changed(),
                    Err(e) => {
                        tracing::warn!(error = %e, "change listener lost its connection");
                        break 'listening;
                    }
                }
            }
            if checked.elapsed() >= LISTEN_CHECK {
                if let Err(e) = conn.batch_execute("SELECT 1") {
                    tracing::warn!(error = %e, "change listener lost its connection");
                    break 'listening;
                }
                checked = std::time::Instant::now();
            }
            std::thread::sleep(LISTEN_POLL);
        }
        live(false);
    }
}

/// Runs `f` in one transaction: all of its changes or none.
///
/// On SQLite the outermost transaction begins as a writer (`BEGIN IMMEDIATE`), so that
/// concurrent writers queue on the busy timeout. A deferred transaction that reads first
/// and writes later cannot wait: SQLite answers "database is locked" at once when another
/// writer committed in between. It also makes every transaction that checks a rule before
/// writing (the last enabled admin, say) serialized against every other writer. Nested
/// calls become savepoints, as diesel's own `transaction` does.
pub fn transaction<T, E, F>(c: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<DbError>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Tm = <DbConn as Connection>::TransactionManager;
    let outermost = Tm::transaction_manager_status_mut(c)
        .transaction_depth()
        .map_err(E::from)?
        .is_none();
    let DbConn::Sqlite(inner) = c else {
        return c.transaction(f);
    };
    if !outermost {
        return c.transaction(f);
    }
    AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE").map_err(E::from)?;
    match f(c) {
        Ok(value) => {
            Tm::commit_transaction(c).map_err(E::from)?;
            Ok(value)
        }
        Err(e) => {
            Tm::rollback_transaction(c).map_err(E::from)?;
            Err(e)
        }
    }
}

pub fn run_migrations(conn: &mut DbConn) -> Result<(), OpenError> {
    let res = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        DbConn::Pg(c) => c.run_pending_migrations(PG_MIGRATIONS).map(|_| ()),
    };
    res.map_err(|e| OpenError::Migrate(e.to_string()))
}

/// Reverts every applied migration (for the up/down tests), newest first.
pub fn revert_all(url: &DbUrl) -> Result<usize, OpenError> {
    let mut conn = url.connect_one()?;
    let res = match &mut conn {
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConn::Pg(c) => c.revert_all_migrations(PG_MIGRATIONS).map(|v| v.len()),
    };
    res.map_err(|e| OpenError::Migrate(e.to_string()))
}

/// Applies all migrations on a fresh connection (for the up/down tests).
pub fn migrate(url: &DbUrl) -> Result<(), OpenError> {
    let mut conn = url.connect_one()?;
    run_migrations(&mut conn)
}

/// Names of the embedded migrations of each backend (for the same-names test).
pub fn migration_names() -> (Vec<String>, Vec<String>) {
    use diesel::migration::MigrationSource;
    let sqlite = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
        .map(|v| v.into_iter().map(|m| m.name().to_string()).collect())
        .unwrap_or_default();
    let pg = MigrationSource::<diesel::pg::Pg>::migrations(&PG_MIGRATIONS)
        .map(|v| v.into_iter().map(|m| m.name().to_string()).collect())
        .unwrap_or_default();
    (sqlite, pg)
}

#[cfg(test)]
mod tests {
    #[test]
    fn redaction() {
        let check = |url: &str, want: &str| assert_eq!(super::redact_url(url), want);
        check(
            "postgres://igor:s3cret@db/igor",
            "postgres://igor:***@db/igor",
        );
        check(
            "postgres://igor@db/igor?password=s3cret&sslmode=require",
            "postgres://igor@db/igor?password=***&sslmode=require",
        );
        check("postgres://db/igor", "postgres://db/igor");
        check(
            "postgres://igor:p%40ss@db:5432/igor",
            "postgres://igor:***@db:5432/igor",
        );
        check("igor.db", "igor.db");
        check("not a url user:pw@host", "<a URL that does not parse>");
    }
}
