//! Chat sessions (one per order), their messages with a per-session `seq`, and the one billing row
//! per session.

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
            "chat_sessions",
            vec![
                id("id"),
                int64("order_id"),
                int64("user_id"),
                int64("counselor_id"),
                int64("counselor_user_id"),
                int32_default("status", 0),
                utc_time_null(b, "start_time"),
                utc_time_null(b, "end_time"),
                int64_default("duration", 0),
                int64_default("price", 0),
                int32_default("booked_minutes", 0),
                int64_default("total_amount", 0),
                int64_default("last_seq", 0),
                int64_default("user_read_seq", 0),
                int64_default("counselor_read_seq", 0),
                varchar("ended_by", 20),
                boolean_default("warned", false),
                created,
                updated,
            ],
            vec![
                index("chat_sessions", &["order_id"], true),
                index("chat_sessions", &["user_id"], false),
                index("chat_sessions", &["counselor_id"], false),
                index("chat_sessions", &["counselor_user_id"], false),
                index("chat_sessions", &["status"], false),
            ],
        )
        .await?;

        create_table(
            manager,
            "chat_messages",
            vec![
                id("id"),
                int64("session_id"),
                int64_default("seq", 0),
                int64("sender_id"),
                varchar("sender_type", 20),
                varchar("content_type", 20),
                long_text_null("content"),
                varchar("file_url", 255),
                varchar_null("client_msg_id", 64),
                boolean_default("is_read", false),
                utc_time_null(b, "read_time"),
                utc_time_required(b, "created_at"),
            ],
            vec![
                index("chat_messages", &["session_id", "seq"], true),
                index(
                    "chat_messages",
                    &["session_id", "sender_id", "client_msg_id"],
                    true,
                ),
            ],
        )
        .await?;

        let [created, updated] = timestamps(b);
        create_table(
            manager,
            "chat_billings",
            vec![
                id("id"),
                int64("session_id"),
                int64("order_id"),
                int64("user_id"),
                int64("counselor_id"),
                int64_default("duration", 0),
                int64_default("billed_minutes", 0),
                int64_default("price_per_minute", 0),
                int64_default("total_amount", 0),
                int64_default("platform_fee", 0),
                int64_default("counselor_fee", 0),
                int64_default("refund_amount", 0),
                int32_default("status", 0),
                utc_time_null(b, "settled_at"),
                created,
                updated,
            ],
            vec![
                index("chat_billings", &["session_id"], true),
                index("chat_billings", &["counselor_id", "created_at"], false),
                index("chat_billings", &["user_id", "created_at"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &["chat_billings", "chat_messages", "chat_sessions"],
        )
        .await
    }
}
