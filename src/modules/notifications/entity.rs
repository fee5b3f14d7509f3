//! The `notifications` table. `dedupe_key` is unique: a redelivered event creates nothing twice.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The receiver (`users.id`).
    pub user_id: i64,
    /// `order`, `payment`, `review`, `system` or `chat`.
    #[sea_orm(column_name = "type")]
    pub kind: String,
    /// `info`, `warning`, `error` or `success`.
    pub level: String,
    pub title: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub content: Option<String>,
    /// JSON text.
    #[sea_orm(column_type = "Text", nullable)]
    pub extra_data: Option<String>,
    pub is_read: bool,
    pub read_time: Option<DateTimeUtc>,
    pub dedupe_key: Option<String>,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
