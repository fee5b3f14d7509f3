//! Low-code forms (versioned), pages, and form submissions stored with the version they were validated
//! against.

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
            "lowcode_forms",
            vec![
                id("id"),
                varchar("title", 200),
                long_text_null("description"),
                long_text("form_json"),
                int32_default("version", 1),
                int32_default("status", 1),
                created,
                updated,
            ],
            vec![],
        )
        .await?;

        create_table(
            manager,
            "lowcode_form_versions",
            vec![
                id("id"),
                int64("form_id"),
                int32_default("version", 1),
                long_text("form_json"),
                utc_time_required(b, "created_at"),
            ],
            vec![index(
                "lowcode_form_versions",
                &["form_id", "version"],
                true,
            )],
        )
        .await?;

        let [created, updated] = timestamps(b);
        create_table(
            manager,
            "lowcode_pages",
            vec![
                id("id"),
                varchar("title", 200),
                long_text_null("description"),
                long_text("page_json"),
                varchar("path", 200),
                int32_default("status", 1),
                created,
                updated,
            ],
            vec![],
        )
        .await?;

        create_table(
            manager,
            "form_data_records",
            vec![
                id("id"),
                int64("form_id"),
                int32_default("form_version", 1),
                long_text("form_data"),
                int64_null("created_by"),
                utc_time_required(b, "created_at"),
            ],
            vec![index(
                "form_data_records",
                &["form_id", "created_at"],
                false,
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "form_data_records",
                "lowcode_pages",
                "lowcode_form_versions",
                "lowcode_forms",
            ],
        )
        .await
    }
}
