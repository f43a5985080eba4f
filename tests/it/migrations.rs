//! Migrations, on empty databases of both kinds: the whole schema (columns with their types,
//! nullability and defaults, indexes, constraints, sequences, triggers, functions) is the
//! same after up, down and up again; every `down.sql` undoes exactly its own `up.sql`;
//! after every down nothing of ours is left; and both folders hold the same migrations.

use diesel::Connection;
use diesel::backend::Backend as DieselBackend;
use diesel::migration::MigrationSource;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use server::db::{self, DbUrl};
use tests::db::{Backend, TestDb};

on_both_backends!(up_down_up, each_down_undoes_its_own_up);

/// The tables the migrations create; the dump must show each, or it shows nothing.
const TABLES: &[&str] = &["users", "tokens", "machines", "permissions", "audit"];

/// diesel's own bookkeeping, which outlives every down.
const DIESEL_TABLE: &str = "__diesel_schema_migrations";

/// Every object of the test database's own schema, one sorted line each.
fn dump(db: &TestDb) -> Vec<String> {
    let mut lines = match db.backend {
        // The statements SQLite keeps for every table, index, view and trigger hold their
        // columns, types, defaults and constraints. `sqlite_sequence` is SQLite's
        // AUTOINCREMENT counter table: created with the first such table, never dropped.
        Backend::Sqlite => db.lines(
            "SELECT type || ' ' || name || ' on ' || tbl_name || ': ' \
                 || COALESCE(sql, '(made by SQLite for a constraint)') AS line \
             FROM sqlite_master WHERE name <> 'sqlite_sequence'",
        ),
        Backend::Postgres => PG_DUMP.iter().flat_map(|sql| db.lines(sql)).collect(),
    };
    lines.sort();
    lines
}

/// What PostgreSQL knows of the schema `current_schema()` (the test database's own).
/// Columns are numbered among the live ones: a column dropped and added again gets a new
/// attribute number, but the table is the same.
const PG_DUMP: &[&str] = &[
    "SELECT format('relation %s kind %s', c.relname, c.relkind) AS line
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema()",
    "SELECT format('column %s.%s #%s %s%s nullable %s default %s identity %s generated %s',
                   table_name, column_name,
                   row_number() OVER (PARTITION BY table_name ORDER BY ordinal_position),
                   data_type, coalesce('(' || character_maximum_length || ')', ''),
                   is_nullable, coalesce(column_default, '-'), is_identity, is_generated)
            AS line
     FROM information_schema.columns WHERE table_schema = current_schema()",
    "SELECT format('constraint %s on %s: %s', co.conname, co.conrelid::regclass,
                   pg_get_constraintdef(co.oid)) AS line
     FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace
     WHERE n.nspname = current_schema()",
    "SELECT format('index %s on %s: %s', indexname, tablename, indexdef) AS line
     FROM pg_indexes WHERE schemaname = current_schema()",
    "SELECT format('sequence %s %s start %s by %s', sequencename, data_type, start_value,
                   increment_by) AS line
     FROM pg_sequences WHERE schemaname = current_schema()",
    "SELECT format('trigger %s', pg_get_triggerdef(t.oid)) AS line
     FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND NOT t.tgisinternal",
    "SELECT format('function %s', p.oid::regprocedure) AS line
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = current_schema()",
    "SELECT format('type %s kind %s', t.typname, t.typtype) AS line
     FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname = current_schema()",
];

/// The lines that are not diesel's bookkeeping.
fn ours(dump: &[String]) -> Vec<String> {
    dump.iter()
        .filter(|l| !l.contains(DIESEL_TABLE))
        .cloned()
        .collect()
}

/// igord's own path (`db::migrate`, `db::revert_all`): the schema after up, every down and
/// every up again is the one of the first up, and after every down only diesel's
/// bookkeeping is left.
fn up_down_up(backend: Backend) {
    let test_db = TestDb::new(backend);
    let url = DbUrl::parse(test_db.url()).unwrap();
    let fresh = dump(&test_db);
    db::migrate(&url).unwrap();
    let up = dump(&test_db);
    for table in TABLES {
        assert!(
            up.iter().any(|l| l.contains(&format!(" {table} "))),
            "{table} missing from the dump after up:\n{}",
            up.join("\n")
        );
    }
    assert!(
        up.iter().any(|l| l.contains("detail")),
        "the last migration's column is missing from the dump:\n{}",
        up.join("\n")
    );

    let reverted = db::revert_all(&url).unwrap();
    assert_eq!(reverted, db::migration_names().0.len());
    let down = dump(&test_db);
    assert_eq!(
        ours(&down),
        ours(&fresh),
        "after every down.sql, something of ours is left"
    );

    db::migrate(&url).unwrap();
    assert_eq!(dump(&test_db), up, "up again after down: another schema");
}

/// One migration at a time: each one changes the schema, its `down.sql` brings back exactly
/// the schema before its `up.sql`, and its `up.sql` again gives the same schema. A down that
/// forgets part of its up is caught here even when a later down (dropping the whole table)
/// would hide it from `up_down_up`.
fn each_down_undoes_its_own_up(backend: Backend) {
    let test_db = TestDb::new(backend);
    match backend {
        Backend::Sqlite => step_by_step(
            &mut diesel::sqlite::SqliteConnection::establish(
                test_db.sqlite_path().to_str().unwrap(),
            )
            .unwrap(),
            "sqlite",
            &test_db,
        ),
        Backend::Postgres => step_by_step(
            &mut diesel::pg::PgConnection::establish(test_db.url()).unwrap(),
            "postgres",
            &test_db,
        ),
    }
    // And it ends where igord's own migration ends.
    let other = TestDb::new(backend);
    db::migrate(&DbUrl::parse(other.url()).unwrap()).unwrap();
    assert_eq!(dump(&test_db), dump(&other));
}

fn step_by_step<DB: DieselBackend>(
    conn: &mut impl MigrationHarness<DB>,
    folder: &str,
    test_db: &TestDb,
) where
    FileBasedMigrations: MigrationSource<DB>,
{
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(folder);
    let source = FileBasedMigrations::from_path(&path).unwrap();
    let count = MigrationSource::<DB>::migrations(&source).unwrap().len();
    assert_eq!(count, db::migration_names().0.len(), "{}", path.display());
    let mut before = dump(test_db);
    for _ in 0..count {
        let version = conn.run_next_migration(source.clone()).unwrap().to_string();
        let after = dump(test_db);
        assert_ne!(ours(&before), ours(&after), "{version} changes nothing");
        conn.revert_last_migration(source.clone()).unwrap();
        // diesel's table, made by the first migration run, is the only thing it may leave.
        assert_eq!(
            ours(&dump(test_db)),
            ours(&before),
            "the down.sql of {version} does not undo its up.sql"
        );
        conn.run_next_migration(source.clone()).unwrap();
        assert_eq!(
            dump(test_db),
            after,
            "the up.sql of {version} again after its down.sql"
        );
        before = after;
    }
    assert!(
        !conn.has_pending_migration(source).unwrap(),
        "{folder}: every migration applied"
    );
}

#[test]
fn both_backends_have_the_same_migrations() {
    let (sqlite, pg) = db::migration_names();
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, pg);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    for dir in ["sqlite", "postgres"] {
        for name in &sqlite {
            for file in ["up.sql", "down.sql"] {
                let p = root.join(dir).join(name).join(file);
                assert!(p.exists(), "{} missing", p.display());
            }
        }
    }
}
