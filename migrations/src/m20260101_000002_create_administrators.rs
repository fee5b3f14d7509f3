//! Admin accounts (table `administrator`, as the original named it). Their roles live in `admin_roles`.

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
            "administrator",
            vec![
                id("id"),
                varchar("username", 50),
                varchar("password", 255),
                varchar("real_name", 50),
                varchar_null("email", 100),
                varchar("phone", 20),
                varchar("avatar", 255),
                int32_default("status", 1),
                utc_time_null(b, "last_login"),
                int64_default("tokens_valid_after", 0),
                created,
                updated,
            ],
            vec![
                index("administrator", &["username"], true),
                index("administrator", &["email"], true),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["administrator"]).await
    }
}
