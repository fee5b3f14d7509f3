//! RBAC: roles, permissions (the one namespace of codes), their links to administrators, and the console menus.

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
            "roles",
            vec![
                id("id"),
                varchar("name", 50),
                varchar("code", 50),
                varchar("description", 255),
                int32_default("sort", 0),
                int32_default("status", 1),
                created,
                updated,
            ],
            vec![
                index("roles", &["name"], true),
                index("roles", &["code"], true),
            ],
        )
        .await?;

        let [created, updated] = timestamps(b);
        create_table(
            manager,
            "permissions",
            vec![
                id("id"),
                int64_default("parent_id", 0),
                varchar("name", 50),
                varchar("code", 100),
                varchar("type", 20),
                varchar("path", 255),
                varchar("icon", 50),
                varchar("component", 255),
                int32_default("sort", 0),
                int32_default("status", 1),
                created,
                updated,
            ],
            vec![
                index("permissions", &["code"], true),
                index("permissions", &["parent_id"], false),
            ],
        )
        .await?;

        create_table(
            manager,
            "role_permissions",
            vec![id("id"), int64("role_id"), int64("permission_id")],
            vec![
                index("role_permissions", &["role_id", "permission_id"], true),
                index("role_permissions", &["permission_id"], false),
            ],
        )
        .await?;

        create_table(
            manager,
            "admin_roles",
            vec![id("id"), int64("admin_id"), int64("role_id")],
            vec![
                index("admin_roles", &["admin_id", "role_id"], true),
                index("admin_roles", &["role_id"], false),
            ],
        )
        .await?;

        let [created, updated] = timestamps(b);
        create_table(
            manager,
            "menus",
            vec![
                id("id"),
                int64_null("parent_id"),
                varchar("name", 100),
                int32_default("type", 2),
                varchar("path", 200),
                varchar("component", 200),
                varchar("permission", 100),
                varchar("icon", 50),
                int32_default("sort", 0),
                int32_default("status", 1),
                created,
                updated,
            ],
            vec![index("menus", &["parent_id"], false)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "menus",
                "admin_roles",
                "role_permissions",
                "permissions",
                "roles",
            ],
        )
        .await
    }
}
