//! Database connection and migrations. SQLite gets WAL, a busy timeout, foreign keys, and a single
//! pooled connection: SQLite has one writer, and a second connection upgrading a read transaction to a
//! write fails with "database is locked" instead of waiting, which money code cannot afford.

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, QuerySelect,
    Statement, Value,
};

use crate::config::Settings;

/// SQLite's one connection is busy, never down: waiting for it is contention, so the wait is long.
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a pooled connection may sit idle before it is tested again when handed out (see [`connect`]).
const IDLE_BEFORE_TEST: Duration = Duration::from_secs(5);

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
        if let Some(path) = sqlite_file(&url) {
            restrict_sqlite_file(path)?;
        }
    }
    let mut options = ConnectOptions::new(url.clone());
    let (max_connections, acquire_timeout) = if is_sqlite {
        (1, SQLITE_ACQUIRE_TIMEOUT)
    } else {
        (
            settings.database.max_connections,
            Duration::from_millis(settings.database.acquire_timeout_ms.max(1)),
        )
    };
    options
        .max_connections(max_connections)
        // The pool's own task opens every connection up front, on the main runtime. A connection opened
        // on demand belongs to the runtime that asked first, often an HTTP worker's: its replies then
        // wait until that worker polls its reactor, and it dies with that worker at shutdown.
        .min_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        // sqlx tests every connection when it comes back to the pool (a round trip, on every release);
        // testing it again when it is handed out doubled that for a connection released moments ago.
        // A connection that sat idle long enough for the server or a firewall to drop it is still
        // tested before use.
        .test_before_acquire_if_idle_for(IDLE_BEFORE_TEST)
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

/// The file a `sqlite:` URL names; `None` for in-memory databases.
fn sqlite_file(url: &str) -> Option<&std::path::Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| std::path::Path::new(path))
}

/// Creates the SQLite file owner-only (0600), like `secrets.json`, and tightens an existing one: it holds
/// password hashes and the wallet ledger. SQLite gives its `-wal` and `-shm` files the database file's
/// permissions, so they follow.
fn restrict_sqlite_file(path: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create the database file {}", path.display()))?;
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot restrict {}", file.display()))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("database migration failed")
}

/// `select` taking its rows' write lock until the transaction ends (`FOR UPDATE`), so what the caller
/// computes from them is not overtaken by a concurrent change. SQLite has no `FOR UPDATE` and needs none:
/// its one writer on one pooled connection already reads the latest rows and holds them.
pub fn for_update<S: QuerySelect>(select: S, backend: DatabaseBackend) -> S {
    if backend == DatabaseBackend::Sqlite {
        select
    } else {
        select.lock_exclusive()
    }
}

/// Begins a transaction that reads rows and then writes them. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`, waiting like any writer): a deferred one that read first could not write after
/// another connection had committed meanwhile, and failed at once with "database is locked" (a key
/// rotation during chat did). Elsewhere, row locks do this job, so a plain `BEGIN`.
pub async fn begin_read_then_write(
    db: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        return db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await;
    }
    db.begin().await
}

/// A raw statement written with `?` placeholders, which become `$n` on PostgreSQL.
pub fn statement(backend: DatabaseBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DatabaseBackend::Postgres {
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        out
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, values)
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

/// How finely to bucket times in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateBucket {
    Day,
    Month,
    Year,
}

/// A SQL expression giving `column` (a UTC timestamp) as `YYYY-MM-DD`, `YYYY-MM` or `YYYY` in a zone
/// `offset_minutes` east of UTC, for GROUP BY in reports. `column` must be a trusted identifier.
pub fn date_bucket_expr(
    backend: sea_orm::DatabaseBackend,
    column: &str,
    bucket: DateBucket,
    offset_minutes: i32,
) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::DatabaseBackend::*;
    let sql = match backend {
        MySql => {
            let fmt = match bucket {
                DateBucket::Day => "%Y-%m-%d",
                DateBucket::Month => "%Y-%m",
                DateBucket::Year => "%Y",
            };
            format!("DATE_FORMAT(DATE_ADD({column}, INTERVAL {offset_minutes} MINUTE), '{fmt}')")
        }
        Postgres => {
            let fmt = match bucket {
                DateBucket::Day => "YYYY-MM-DD",
                DateBucket::Month => "YYYY-MM",
                DateBucket::Year => "YYYY",
            };
            format!(
                "to_char(({column} AT TIME ZONE 'UTC') + INTERVAL '{offset_minutes} minutes', '{fmt}')"
            )
        }
        _ => {
            let fmt = match bucket {
                DateBucket::Day => "%Y-%m-%d",
                DateBucket::Month => "%Y-%m",
                DateBucket::Year => "%Y",
            };
            format!("strftime('{fmt}', {column}, '{offset_minutes} minutes')")
        }
    };
    sea_orm::sea_query::Expr::cust(sql)
}

/// `%term%` for LIKE, with `!` escaping the wildcards: a backslash escape would need per-backend quoting.
pub fn like_pattern(term: &str) -> sea_orm::sea_query::LikeExpr {
    let mut escaped = String::with_capacity(term.len() + 2);
    escaped.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '!') {
            escaped.push('!');
        }
        escaped.push(c);
    }
    escaped.push('%');
    sea_orm::sea_query::LikeExpr::new(escaped).escape('!')
}
