//! Migrations: applied on empty databases of both kinds, each `down.sql` undoing its
//! `up.sql`, and the same migration names in both folders.

use server::db::{self, DbUrl};
use tests::db::{Backend, TestDb};

on_both_backends!(up_down_up);

fn up_down_up(backend: Backend) {
    let test_db = TestDb::new(backend);
    let url = DbUrl::parse(test_db.url()).unwrap();
    let empty = db::table_names(&url).unwrap();
    assert!(
        !empty.iter().any(|t| t == "users"),
        "fresh database: {empty:?}"
    );
    db::migrate(&url).unwrap();
    let up = db::table_names(&url).unwrap();
    for t in ["users", "tokens", "machines", "permissions", "audit"] {
        assert!(up.iter().any(|x| x == t), "{t} missing after up: {up:?}");
    }
    let reverted = db::revert_all(&url).unwrap();
    assert_eq!(reverted, db::migration_names().0.len());
    let down: Vec<String> = db::table_names(&url)
        .unwrap()
        .into_iter()
        .filter(|t| t != "__diesel_schema_migrations")
        .collect();
    let before: Vec<String> = empty
        .into_iter()
        .filter(|t| t != "__diesel_schema_migrations")
        .collect();
    assert_eq!(
        down, before,
        "down.sql leaves exactly what was there before up.sql"
    );
    db::migrate(&url).unwrap();
    assert_eq!(db::table_names(&url).unwrap(), up, "up again after down");
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
