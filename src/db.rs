//! Database connection and migrations. SQLite gets WAL, a busy timeout, foreign keys, and a single
//! pooled connection: SQLite has one writer, and a second connection upgrading a read transaction to a
//! write fails with "database is locked" instead of waiting, which money code cannot afford.

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

use crate::config::Settings;

pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database_url();
    let is_sqlite = url.starts_with("sqlite:");
    if is_sqlite {
        std::fs::create_dir_all(&settings.server.data_dir).with_context(|| {
            format!(
                "cannot create data dir {}",
                settings.server.data_dir.display()
            )
        })?;
    }
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(if is_sqlite {
            1
        } else {
            settings.database.max_connections
        })
        .acquire_timeout(Duration::from_secs(settings.database.acquire_timeout_secs))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    let db = Database::connect(options)
        .await
        .with_context(|| format!("cannot connect to the database at {}", redact(&url)))?;
    Ok(db)
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("database migration failed")
}

/// Whether the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.execute_unprepared("SELECT 1").await.is_ok()
}

/// The URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            super::redact("mysql://root:secret@127.0.0.1/db"),
            "mysql://root:***@127.0.0.1/db"
        );
        assert_eq!(
            super::redact("postgres://root@h/db"),
            "postgres://root@h/db"
        );
        assert_eq!(
            super::redact("sqlite://./data/x.db?mode=rwc"),
            "sqlite://./data/x.db?mode=rwc"
        );
    }
}

/// `CAST(COALESCE(SUM(column), 0) AS <64-bit int>)`: `SUM` of a BIGINT is DECIMAL on MySQL and NUMERIC on
/// PostgreSQL, which do not decode as `i64`. `column` must be a trusted identifier.
pub fn sum_as_i64(
    backend: sea_orm::DatabaseBackend,
    column: &str,
) -> sea_orm::sea_query::SimpleExpr {
    let int = match backend {
        sea_orm::DatabaseBackend::MySql => "SIGNED",
        sea_orm::DatabaseBackend::Postgres => "BIGINT",
        _ => "INTEGER",
    };
    sea_orm::sea_query::Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS {int})"))
}
