//! Rules for orders. (Placeholder holding only what the counselors module needs; the orders module's
//! real service replaces this file.)

use sea_orm::{ConnectionTrait, EntityTrait};

use super::entity::order;
use crate::error::{AppError, AppResult};

/// The order `id`.
///
/// # Errors
/// 404 `订单不存在` when there is none.
pub async fn get_order<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<order::Model> {
    order::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("订单不存在"))
}
