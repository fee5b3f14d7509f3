//! Reviews of completed orders, and the counselor rating they keep: one review per order, by its buyer,
//! after completion, never by the order's own counselor. The rating is the rounded average of the visible reviews, kept in the same
//! transaction as the insert through the counselor's statistics row (`review_count`, `sum_rating`).

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::dto::{CreateReviewRequest, ReviewUser, ReviewView};
use super::entity::{counselor, review, statistics};
use super::service::{self, ensure_statistics, get_counselor};
use crate::bus::{DomainEvent, EventBus};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::http::Pagination;
use crate::modules::orders::status::OrderStatus;
use crate::modules::{orders, users};
use crate::state::AppState;

pub const MSG_ALREADY_REVIEWED: &str = "该订单已评价";
pub const MSG_NOT_COMPLETED: &str = "订单未完成，无法评价";
pub const MSG_NOT_YOUR_ORDER: &str = "无权评价此订单";
pub const MSG_OWN_SERVICE: &str = "不能评价自己的咨询服务";

/// The rounded average in hundredths (half up): 9 stars over 2 reviews → 450.
pub fn average_hundredths(sum: i64, count: i64) -> Option<i32> {
    if count <= 0 || sum < 0 {
        return None;
    }
    i32::try_from((sum * 200 + count) / (2 * count)).ok()
}

/// `POST /api/counselor/review`.
///
/// # Errors
/// 404 no such order; 403 someone else's order; 400 not completed, already reviewed, or a
/// `counselor_id` that is not the order's.
pub async fn create_review(
    state: &AppState,
    user_id: i64,
    req: CreateReviewRequest,
) -> AppResult<ReviewView> {
    let order = orders::service::get_order(&state.db, req.order_id).await?;
    if order.user_id != user_id {
        return Err(AppError::forbidden(MSG_NOT_YOUR_ORDER));
    }
    if req
        .counselor_id
        .is_some_and(|c| c != 0 && c != order.counselor_id)
    {
        return Err(AppError::bad_request("咨询师与订单不匹配"));
    }
    if order.status != OrderStatus::Completed as i32 {
        return Err(AppError::bad_request(MSG_NOT_COMPLETED));
    }
    // An order placed before self-booking was refused, or by an account that became the counselor.
    if get_counselor(&state.db, order.counselor_id).await?.user_id == Some(user_id) {
        return Err(AppError::bad_request(MSG_OWN_SERVICE));
    }
    let already = review::Entity::find()
        .filter(review::Column::OrderId.eq(order.id))
        .count(&state.db)
        .await?;
    if already > 0 {
        return Err(AppError::bad_request(MSG_ALREADY_REVIEWED));
    }
    let now = Utc::now();
    let txn = state.db.begin().await?;
    let created = review::ActiveModel {
        order_id: Set(order.id),
        user_id: Set(user_id),
        counselor_id: Set(order.counselor_id),
        rating: Set(req.rating),
        comment: Set(Some(req.comment.trim().to_owned())),
        is_anonymous: Set(req.is_anonymous),
        is_visible: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        // Two submissions racing past the check above.
        if is_unique_violation(&e) {
            AppError::bad_request(MSG_ALREADY_REVIEWED)
        } else {
            e.into()
        }
    })?;
    apply_rating(&txn, order.counselor_id, i64::from(req.rating)).await?;
    EventBus::record(
        &txn,
        &DomainEvent::ReviewCreated {
            review_id: created.id,
            order_id: order.id,
            counselor_id: order.counselor_id,
            rating: req.rating,
        },
    )
    .await?;
    txn.commit().await?;
    service::invalidate_list_cache(state.infra.cache.as_ref()).await;
    state.bus.notify();
    let author = users::service::find_many(&state.db, &[user_id]).await?;
    Ok(ReviewView::new(
        &created,
        author.get(&user_id).map(review_user),
    ))
}

/// Adds one visible review of `stars` to the counselor's statistics and recomputes the rating from them.
/// The statistics update takes the row lock first, so concurrent reviews of one counselor serialize and
/// each recomputation sees every earlier review.
async fn apply_rating<C: ConnectionTrait>(
    conn: &C,
    counselor_id: i64,
    stars: i64,
) -> AppResult<()> {
    ensure_statistics(conn, counselor_id).await?;
    statistics::Entity::update_many()
        .col_expr(
            statistics::Column::ReviewCount,
            Expr::col(statistics::Column::ReviewCount).add(1),
        )
        .col_expr(
            statistics::Column::SumRating,
            Expr::col(statistics::Column::SumRating).add(stars),
        )
        .col_expr(statistics::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(statistics::Column::CounselorId.eq(counselor_id))
        .exec(conn)
        .await?;
    let stats = statistics::Entity::find()
        .filter(statistics::Column::CounselorId.eq(counselor_id))
        .one(conn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("statistics row vanished"))?;
    if let Some(rating) = average_hundredths(stats.sum_rating, stats.review_count) {
        counselor::Entity::update_many()
            .col_expr(counselor::Column::Rating, Expr::value(rating))
            .col_expr(counselor::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(counselor::Column::Id.eq(counselor_id))
            .exec(conn)
            .await?;
    }
    Ok(())
}

fn review_user(u: &users::entity::Model) -> ReviewUser {
    ReviewUser {
        id: u.id,
        username: u.username.clone(),
        avatar: u.avatar.clone(),
    }
}

/// `GET /api/counselor/:id/reviews`: visible reviews, newest first, with their authors (hidden when
/// anonymous).
pub async fn list_reviews<C: ConnectionTrait>(
    db: &C,
    counselor_id: i64,
    paging: &Pagination,
) -> AppResult<(Vec<ReviewView>, u64)> {
    get_counselor(db, counselor_id).await?;
    let query = review::Entity::find()
        .filter(review::Column::CounselorId.eq(counselor_id))
        .filter(review::Column::IsVisible.eq(true));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(review::Column::CreatedAt)
        .order_by_desc(review::Column::Id)
        .offset(paging.offset())
        .limit(paging.page_size)
        .all(db)
        .await?;
    let author_ids: Vec<i64> = rows
        .iter()
        .filter(|r| !r.is_anonymous)
        .map(|r| r.user_id)
        .collect();
    let authors = users::service::find_many(db, &author_ids).await?;
    let views = rows
        .iter()
        .map(|r| ReviewView::new(r, authors.get(&r.user_id).map(review_user)))
        .collect();
    Ok((views, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_round_half_up_in_hundredths() {
        assert_eq!(average_hundredths(9, 2), Some(450));
        assert_eq!(average_hundredths(5, 1), Some(500));
        assert_eq!(average_hundredths(13, 3), Some(433));
        assert_eq!(average_hundredths(14, 3), Some(467));
        assert_eq!(average_hundredths(0, 0), None);
    }
}
