//! Column helpers shared by the migrations, so every table spells ids, money and times the same way.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// A UTC timestamp with sub-second precision on every backend.
///
/// MySQL's `TIMESTAMP` (what `timestamp_with_time_zone` becomes there) drops sub-seconds and ends in 2038,
/// so MySQL gets `DATETIME(6)` holding UTC values instead.
pub fn utc_time(backend: DatabaseBackend, name: &'static str) -> ColumnDef {
    let mut col = ColumnDef::new(Alias::new(name));
    match backend {
        DatabaseBackend::MySql => col.custom(Alias::new("DATETIME(6)")),
        _ => col.timestamp_with_time_zone(),
    };
    col
}

pub fn utc_time_required(backend: DatabaseBackend, name: &'static str) -> ColumnDef {
    let mut col = utc_time(backend, name);
    col.not_null();
    col
}

pub fn utc_time_null(backend: DatabaseBackend, name: &'static str) -> ColumnDef {
    let mut col = utc_time(backend, name);
    col.null();
    col
}

/// Auto-increment 64-bit primary key.
pub fn id(name: &'static str) -> ColumnDef {
    let mut col = ColumnDef::new(Alias::new(name));
    col.big_integer().not_null().auto_increment().primary_key();
    col
}

/// A required 64-bit integer (foreign ids, money in fen, counters).
pub fn int64(name: &'static str) -> ColumnDef {
    let mut col = ColumnDef::new(Alias::new(name));
    col.big_integer().not_null();
    col
}

pub fn int64_default(name: &'static str, default: i64) -> ColumnDef {
    let mut col = int64(name);
    col.default(default);
    col
}

pub fn int64_null(name: &'static str) -> ColumnDef {
    let mut col = ColumnDef::new(Alias::new(name));
    col.big_integer().null();
    col
}

pub fn int32_default(name: &'static str, default: i32) -> ColumnDef {
    let mut col = ColumnDef::new(Alias::new(name));
    col.integer().not_null().default(default);
    col
}

/// A required varchar with a default of `''`.
pub fn varchar(name: &'static str, len: u32) -> ColumnDef {
    let mut col = ColumnDef::new(Alias::new(name));
    col.string_len(len).not_null().default("");
    col
}

pub fn varchar_null(name: &'static str, len: u32) -> ColumnDef {
    let mut col = ColumnDef::new(Alias::new(name));
    col.string_len(len).null();
    col
}

pub fn long_text(name: &'static str) -> ColumnDef {
    let mut col = ColumnDef::new(Alias::new(name));
    col.text().not_null();
    col
}

pub fn long_text_null(name: &'static str) -> ColumnDef {
    let mut col = ColumnDef::new(Alias::new(name));
    col.text().null();
    col
}

pub fn boolean_default(name: &'static str, default: bool) -> ColumnDef {
    let mut col = ColumnDef::new(Alias::new(name));
    col.boolean().not_null().default(default);
    col
}

/// `created_at` and `updated_at`, both required.
pub fn timestamps(backend: DatabaseBackend) -> [ColumnDef; 2] {
    [
        utc_time_required(backend, "created_at"),
        utc_time_required(backend, "updated_at"),
    ]
}

/// Creates an index named `idx_<table>_<cols>`.
pub fn index(table: &'static str, cols: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(format!("idx_{}_{}", table, cols.join("_")))
        .table(Alias::new(table));
    for c in cols {
        idx.col(Alias::new(*c));
    }
    if unique {
        idx.unique();
    }
    idx.to_owned()
}

/// Creates a table (if missing) from its columns and then its indexes.
pub async fn create_table(
    manager: &SchemaManager<'_>,
    name: &'static str,
    columns: Vec<ColumnDef>,
    indexes: Vec<IndexCreateStatement>,
) -> Result<(), DbErr> {
    let mut table = Table::create();
    table.table(Alias::new(name)).if_not_exists();
    for mut c in columns {
        table.col(&mut c);
    }
    manager.create_table(table.to_owned()).await?;
    for idx in indexes {
        manager.create_index(idx).await?;
    }
    Ok(())
}

pub async fn drop_tables(manager: &SchemaManager<'_>, names: &[&'static str]) -> Result<(), DbErr> {
    for n in names {
        manager
            .drop_table(Table::drop().table(Alias::new(*n)).if_exists().to_owned())
            .await?;
    }
    Ok(())
}
