//! The one integration-test binary: a real igord, real databases (SQLite and PostgreSQL),
//! real simulated BMCs and the real igor client. Modules by area.

/// Declares `name` as a test on each backend: `sqlite::name` and `postgres::name`, each
/// calling `name(Backend)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(tests::db::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(tests::db::Backend::Postgres) } )*
        }
    };
}

mod api;
mod bmc_api;
mod bmc_layer;
mod bulk;
mod caches;
mod cli;
mod client;
mod compat;
mod console;
mod deploy;
mod harness;
mod input;
mod matrix;
mod metrics;
mod migrations;
mod operator;
mod output;
mod redfish;
mod replicas;
mod rest;
mod rolling;
mod scale;
mod schema_doc;
mod tls;
mod ui;
