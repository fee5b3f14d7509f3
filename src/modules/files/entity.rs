//! The `files` table: uploads recorded with their owner and what they belong to.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "files")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The server-generated stored name.
    pub file_name: String,
    /// The client's file name (last path segment only). Sealed at rest for chat files (`name_key_id` set):
    /// read it through `service::open_file`.
    pub original_name: String,
    /// `avatar`, `document`, `image`, `audio`, `video` or `other`.
    pub file_type: String,
    /// Relative to the uploads dir.
    pub file_path: String,
    pub file_url: String,
    pub file_size: i64,
    pub mime_type: String,
    pub uploader_id: i64,
    pub relation_id: Option<i64>,
    /// Free text: `order`, `session`, `message`…
    pub relation_type: String,
    /// 1 normal, 0 deleted.
    pub status: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The chat key that sealed `original_name`; NULL: plaintext (not a chat file, or stored before).
    pub name_key_id: Option<i32>,
}

impl ActiveModelBehavior for ActiveModel {}

pub const STATUS_NORMAL: i32 = 1;
pub const STATUS_DELETED: i32 = 0;
