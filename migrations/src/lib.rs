//! Schema migrations for MyChat. The same migrations run on SQLite, MySQL/MariaDB and PostgreSQL.
//!
//! One migration per file: `DeriveMigrationName` takes the name from the file name.

pub use sea_orm_migration::prelude::*;

mod columns;
mod m20260101_000001_create_users;
mod m20260101_000002_create_administrators;
mod m20260101_000003_create_rbac;
mod m20260101_000004_create_system;
mod m20260101_000005_create_outbox;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_create_users::Migration),
            Box::new(m20260101_000002_create_administrators::Migration),
            Box::new(m20260101_000003_create_rbac::Migration),
            Box::new(m20260101_000004_create_system::Migration),
            Box::new(m20260101_000005_create_outbox::Migration),
        ]
    }
}
