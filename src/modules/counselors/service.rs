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

/// Ids of counselors whose name contains `keyword` (escaped), at most `limit`.
pub async fn ids_matching(
    db: &sea_orm::DatabaseConnection,
    keyword: &str,
    limit: u64,
) -> AppResult<Vec<i64>> {
    use sea_orm::QuerySelect;
    use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
    Ok(counselor::Entity::find()
        .select_only()
        .column(counselor::Column::Id)
        .filter(
            Expr::col(counselor::Column::Name)
                .like(LikeExpr::new(crate::db::like_contains(keyword)).escape('\\')),
        )
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?)
}

/// Counselors by id, for embedding counselor objects in lists without one query per row.
pub async fn find_many<C: ConnectionTrait>(db: &C, ids: &[i64]) -> AppResult<Vec<Counselor>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(counselor::Entity::find()
        .filter(counselor::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}
