//! The event outbox: domain events written in the same transaction as the change they announce.

use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        create_table(
            manager,
            "outbox_events",
            vec![
                id("id"),
                varchar("event_type", 100),
                long_text("payload"),
                int32_default("attempts", 0),
                long_text_null("last_error"),
                varchar_null("locked_by", 64),
                utc_time_null(b, "locked_until"),
                utc_time_required(b, "available_at"),
                utc_time_null(b, "processed_at"),
                utc_time_required(b, "created_at"),
            ],
            vec![index(
                "outbox_events",
                &["processed_at", "available_at"],
                false,
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["outbox_events"]).await
    }
}
