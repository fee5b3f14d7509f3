//! Orders and their event history (the timeline). Amounts are fen; `price_per_minute` is the snapshot
//! the order was priced with.

use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        let [created, updated] = timestamps(b);
        create_table(
            manager,
            "orders",
            vec![
                id("id"),
                varchar("order_no", 32),
                int64("user_id"),
                int64("counselor_id"),
                int32_default("duration", 0),
                int64_default("price_per_minute", 0),
                int64_default("amount", 0),
                int64_default("refunded_amount", 0),
                int32_default("status", 0),
                utc_time_required(b, "schedule_time"),
                long_text_null("notes"),
                utc_time_null(b, "pay_time"),
                created,
                updated,
            ],
            vec![
                index("orders", &["order_no"], true),
                index("orders", &["user_id", "status"], false),
                index("orders", &["counselor_id", "status"], false),
                index("orders", &["status", "created_at"], false),
                index("orders", &["created_at"], false),
            ],
        )
        .await?;

        create_table(
            manager,
            "order_events",
            vec![
                id("id"),
                int64("order_id"),
                int32_default("from_status", -1),
                int32_default("to_status", 0),
                varchar("actor", 20),
                int64_null("actor_id"),
                varchar("note", 255),
                utc_time_required(b, "created_at"),
            ],
            vec![index("order_events", &["order_id"], false)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["order_events", "orders"]).await
    }
}
