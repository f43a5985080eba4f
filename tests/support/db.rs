//! Databases for tests: a fresh SQLite file, or a fresh PostgreSQL database created on the
//! server named by `IGOR_TEST_DATABASE_URL` (default: postgres@127.0.0.1:5432) and dropped
//! afterwards.

use std::sync::atomic::{AtomicU32, Ordering};

use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn pg_admin_url() -> String {
    std::env::var("IGOR_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.to_owned())
}

fn pg_admin() -> PgConnection {
    let url = pg_admin_url();
    PgConnection::establish(&url).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is needed for this test and {} does not answer ({e}).\n\
             Run scripts/test, which finds or starts one, or set IGOR_TEST_DATABASE_URL to \
             a server where this user may CREATE DATABASE.",
            server::db::redact_url(&url)
        )
    })
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn new(backend: Backend) -> TestDb {
        static N: AtomicU32 = AtomicU32::new(0);
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("igor.db").display());
                TestDb {
                    url,
                    backend,
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let name = format!(
                    "igor_test_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst)
                );
                let mut admin = pg_admin();
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&mut admin)
                    .expect("drop old test database");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                let base = pg_admin_url();
                let url = match base.rsplit_once('/') {
                    Some((prefix, _)) => format!("{prefix}/{name}"),
                    None => panic!("IGOR_TEST_DATABASE_URL has no database part: {base}"),
                };
                TestDb {
                    url,
                    backend,
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// A second database sharing this one's server is not needed; two igord sharing one
    /// database just use the same `url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs SQL on the database behind igord's back: rows as an older release left them,
    /// or a trigger that makes a write fail.
    pub fn execute(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        let done = match self.backend {
            Backend::Sqlite => {
                let path = self.url.strip_prefix("sqlite://").expect("a sqlite URL");
                diesel::sqlite::SqliteConnection::establish(path)
                    .expect("open the test database")
                    .batch_execute(sql)
            }
            Backend::Postgres => PgConnection::establish(&self.url)
                .expect("open the test database")
                .batch_execute(sql),
        };
        done.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The `line` column of every row `sql` returns, read behind igord's back (the
    /// migration tests dump the schema this way).
    pub fn lines(&self, sql: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Line {
            #[diesel(sql_type = diesel::sql_types::Text)]
            line: String,
        }
        let rows: Result<Vec<Line>, _> = match self.backend {
            Backend::Sqlite => diesel::sql_query(sql).load(
                &mut diesel::sqlite::SqliteConnection::establish(
                    self.sqlite_path().to_str().expect("a UTF-8 path"),
                )
                .expect("open the test database"),
            ),
            Backend::Postgres => diesel::sql_query(sql)
                .load(&mut PgConnection::establish(&self.url).expect("open the test database")),
        };
        rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
            .into_iter()
            .map(|r| r.line)
            .collect()
    }

    /// The SQLite file (panics for PostgreSQL).
    pub fn sqlite_path(&self) -> std::path::PathBuf {
        self.url
            .strip_prefix("sqlite://")
            .expect("a sqlite URL")
            .into()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name
            && let Ok(mut admin) = PgConnection::establish(&pg_admin_url())
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}
