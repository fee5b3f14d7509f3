use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub username: String,
    /// argon2id PHC string.
    pub password: String,
    /// NULL when empty, so accounts without an email never collide.
    pub email: Option<String>,
    pub phone: String,
    pub avatar: String,
    /// Wallet balance in fen.
    pub balance: i64,
    /// 1 normal, 0 disabled.
    pub status: i32,
    pub is_admin: bool,
    pub tokens_valid_after: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}

pub const STATUS_ACTIVE: i32 = 1;
