//! Notifications (created by bus subscribers; `dedupe_key` makes redelivery harmless) and uploaded files.

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
            "notifications",
            vec![
                id("id"),
                int64("user_id"),
                varchar("type", 20),
                varchar("level", 20),
                varchar("title", 255),
                long_text_null("content"),
                long_text_null("extra_data"),
                boolean_default("is_read", false),
                utc_time_null(b, "read_time"),
                varchar_null("dedupe_key", 100),
                utc_time_required(b, "created_at"),
            ],
            vec![
                index("notifications", &["user_id", "is_read"], false),
                index("notifications", &["user_id", "created_at"], false),
                index("notifications", &["dedupe_key"], true),
            ],
        )
        .await?;

        let [created, updated] = timestamps(b);
        create_table(
            manager,
            "files",
            vec![
                id("id"),
                varchar("file_name", 255),
                varchar("original_name", 255),
                varchar("file_type", 20),
                varchar("file_path", 500),
                varchar("file_url", 500),
                int64_default("file_size", 0),
                varchar("mime_type", 100),
                int64("uploader_id"),
                int64_null("relation_id"),
                varchar("relation_type", 50),
                int32_default("status", 1),
                created,
                updated,
            ],
            vec![
                index("files", &["uploader_id"], false),
                index("files", &["relation_type", "relation_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["files", "notifications"]).await
    }
}
