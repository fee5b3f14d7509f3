//! Issue 15 (privacy of counselling records), encryption at rest: the id of the key that sealed a chat
//! message's `content` and a chat file's `original_name`. NULL means the value is still plaintext (rows
//! written before this migration); `mychat admin rotate-chat-key` seals those too.
//!
//! A sealed file name is base64 of nonce, name and tag (about 4/3 × (name + 28) bytes), so
//! `files.original_name` grows from 255 to 1200 characters (200 characters of up to 4 bytes each fit).
//! SQLite does not enforce a varchar length and cannot alter a column, so it is left as it is there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(table, column)`: one statement each (SQLite alters one column at a time).
const KEY_COLUMNS: &[(&str, &str)] = &[("chat_messages", "key_id"), ("files", "name_key_id")];

fn original_name(len: u32) -> ColumnDef {
    let mut col = ColumnDef::new(Alias::new("original_name"));
    col.string_len(len).not_null().default("");
    col
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in KEY_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(*table))
                        .add_column(ColumnDef::new(Alias::new(*column)).integer().null())
                        .to_owned(),
                )
                .await?;
        }
        if manager.get_database_backend() != DatabaseBackend::Sqlite {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("files"))
                        .modify_column(original_name(1200))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in KEY_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(*table))
                        .drop_column(Alias::new(*column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
