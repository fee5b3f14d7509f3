//! System configs (typed values, JSON text), the admin audit log, and persisted token revocations.

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
            "system_configs",
            vec![
                id("id"),
                varchar("config_key", 100),
                long_text("value"),
                varchar("category", 50),
                varchar("label", 100),
                varchar("type", 20),
                boolean_default("is_system", false),
                int32_default("sort", 0),
                varchar("remark", 255),
                created,
                updated,
            ],
            vec![index("system_configs", &["config_key"], true)],
        )
        .await?;

        create_table(
            manager,
            "system_logs",
            vec![
                id("id"),
                int64_null("admin_id"),
                varchar("operator", 50),
                varchar("action", 50),
                varchar("module", 50),
                long_text_null("description"),
                varchar("method", 10),
                varchar("path", 255),
                varchar("target", 100),
                varchar("ip_address", 50),
                varchar("user_agent", 500),
                long_text_null("request_data"),
                long_text_null("response"),
                int32_default("status_code", 200),
                int32_default("status", 1),
                utc_time_required(b, "created_at"),
            ],
            vec![
                index("system_logs", &["created_at"], false),
                index("system_logs", &["admin_id"], false),
            ],
        )
        .await?;

        let mut jti = ColumnDef::new(Alias::new("jti"));
        jti.string_len(64).not_null().primary_key();
        create_table(
            manager,
            "revoked_tokens",
            vec![jti, utc_time_required(b, "expires_at")],
            vec![index("revoked_tokens", &["expires_at"], false)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &["revoked_tokens", "system_logs", "system_configs"],
        )
        .await
    }
}
