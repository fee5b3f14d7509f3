//! App users. Money is integer fen. An empty email is stored as NULL so it never collides in the unique index.

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
            "users",
            vec![
                id("id"),
                varchar("username", 50),
                varchar("password", 255),
                varchar_null("email", 100),
                varchar("phone", 20),
                varchar("avatar", 255),
                int64_default("balance", 0),
                int32_default("status", 1),
                boolean_default("is_admin", false),
                int64_default("tokens_valid_after", 0),
                created,
                updated,
                utc_time_null(b, "deleted_at"),
            ],
            vec![
                index("users", &["username"], true),
                index("users", &["email"], true),
                index("users", &["deleted_at"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["users"]).await
    }
}
