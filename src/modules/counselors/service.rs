//! Rules for counselors. Other modules call these instead of reading the tables.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::entity::counselor;
use crate::error::{AppError, AppResult};

pub type Counselor = counselor::Model;

pub const MSG_COUNSELOR_NOT_FOUND: &str = "咨询师不存在";

pub async fn find_counselor<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Option<Counselor>> {
    Ok(counselor::Entity::find_by_id(id).one(db).await?)
}

pub async fn get_counselor<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Counselor> {
    find_counselor(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_COUNSELOR_NOT_FOUND))
}

/// The counselor whose account is user `user_id`, if that user is a counselor.
pub async fn counselor_of_user<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> AppResult<Option<Counselor>> {
    Ok(counselor::Entity::find()
        .filter(counselor::Column::UserId.eq(user_id))
        .one(db)
        .await?)
}
