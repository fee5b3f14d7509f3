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
mod m20260102_000006_create_counselors;
mod m20260102_000007_create_orders;
mod m20260102_000008_create_payments;
mod m20260102_000009_create_notifications_files;
mod m20260102_000010_create_chat;
mod m20260102_000011_create_finance;
mod m20260102_000012_create_lowcode;
mod m20261127_000013_orders_ranking_index;
mod m20261206_000014_money_integrity;
mod m20261207_000015_chat_encryption;

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
            Box::new(m20260102_000006_create_counselors::Migration),
            Box::new(m20260102_000007_create_orders::Migration),
            Box::new(m20260102_000008_create_payments::Migration),
            Box::new(m20260102_000009_create_notifications_files::Migration),
            Box::new(m20260102_000010_create_chat::Migration),
            Box::new(m20260102_000011_create_finance::Migration),
            Box::new(m20260102_000012_create_lowcode::Migration),
            Box::new(m20261127_000013_orders_ranking_index::Migration),
            Box::new(m20261206_000014_money_integrity::Migration),
            Box::new(m20261207_000015_chat_encryption::Migration),
        ]
    }
}
