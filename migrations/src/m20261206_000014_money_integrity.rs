//! Issue 10 (money integrity): when each party of a chat session first joined it (billing starts when both
//! have), and the backoff of the query job that settles channel refunds left processing.

use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(table, column)` pairs, added one statement each (SQLite alters one column at a time).
const TIME_COLUMNS: &[(&str, &str)] = &[
    ("chat_sessions", "user_joined_at"),
    ("chat_sessions", "counselor_joined_at"),
    ("payment_refunds", "next_query_at"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        for (table, column) in TIME_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(*table))
                        .add_column(utc_time_null(backend, column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("payment_refunds"))
                    .add_column(int32_default("query_attempts", 0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut all: Vec<(&str, &str)> = TIME_COLUMNS.to_vec();
        all.push(("payment_refunds", "query_attempts"));
        for (table, column) in all {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
