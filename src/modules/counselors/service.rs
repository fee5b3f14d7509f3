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

/// The orders among `order_ids` that have a review (for `has_review` on order lists).
pub async fn reviewed_order_ids<C: ConnectionTrait>(
    db: &C,
    order_ids: &[i64],
) -> AppResult<std::collections::HashSet<i64>> {
    use super::entity::review;
    if order_ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(review::Entity::find()
        .filter(review::Column::OrderId.is_in(order_ids.to_vec()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.order_id)
        .collect())
}

/// Counselors by id.
pub async fn find_many<C: ConnectionTrait>(db: &C, ids: &[i64]) -> AppResult<Vec<Counselor>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(counselor::Entity::find()
        .filter(counselor::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?)
}
