//! What a user's privacy rights need from this module: their counselor profile, reviews and applications
//! in the export, and their anonymisation when the account is erased.
//!
//! An erased counselor's profile row stays (orders, sessions, billing and the finance ledger refer to
//! it) but says nothing about the person: name `已注销咨询师`, no avatar, title, specialty or bio, and
//! disabled, so it leaves the directory and takes no bookings. Price, experience and rating stay: they
//! describe past orders, not the person. Reviews the account wrote keep their rating (the counselor's
//! average depends on it) and lose their text, shown as anonymous. Applications lose name, gender,
//! phone, email, bio and certificate images.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use super::entity::{application, counselor, review};
use super::service::{STATUS_DISABLED, counselor_of_user, counselor_view, invalidate_list_cache};
use crate::error::AppResult;
use crate::state::AppState;

/// Name shown for an erased counselor.
pub const ERASED_NAME: &str = "已注销咨询师";

/// `{counselor, reviews, applications}` of user `user_id`, for `GET /api/user/export`.
pub async fn export_of_user(state: &AppState, user_id: i64) -> AppResult<Value> {
    let profile = match counselor_of_user(&state.db, user_id).await? {
        Some(c) => Some(counselor_view(&state.db, c.id).await?),
        None => None,
    };
    let reviews: Vec<Value> = review::Entity::find()
        .filter(review::Column::UserId.eq(user_id))
        .order_by_asc(review::Column::Id)
        .all(&state.db)
        .await?
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "order_id": r.order_id,
                "counselor_id": r.counselor_id,
                "rating": r.rating,
                "comment": r.comment.clone().unwrap_or_default(),
                "is_anonymous": r.is_anonymous,
                "created_at": r.created_at,
            })
        })
        .collect();
    let applications: Vec<Value> = application::Entity::find()
        .filter(application::Column::UserId.eq(user_id))
        .order_by_asc(application::Column::Id)
        .all(&state.db)
        .await?
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "name": a.name,
                "gender": a.gender,
                "phone": a.phone,
                "email": a.email,
                "title": a.title,
                "specialty": a.specialty,
                "years_exp": a.years_exp,
                "bio": a.bio.clone().unwrap_or_default(),
                "status": a.status,
                "created_at": a.created_at,
            })
        })
        .collect();
    Ok(json!({ "counselor": profile, "reviews": reviews, "applications": applications }))
}

/// Anonymises what this module holds about user `user_id` (see the module header).
pub async fn erase_of_user(state: &AppState, user_id: i64) -> AppResult<()> {
    let now = Utc::now();
    if let Some(c) = counselor_of_user(&state.db, user_id).await? {
        counselor::Entity::update_many()
            .col_expr(counselor::Column::Name, Expr::value(ERASED_NAME))
            .col_expr(counselor::Column::Avatar, Expr::value(""))
            .col_expr(counselor::Column::Title, Expr::value(""))
            .col_expr(counselor::Column::Specialty, Expr::value(""))
            .col_expr(counselor::Column::Bio, Expr::value(Option::<String>::None))
            .col_expr(counselor::Column::Status, Expr::value(STATUS_DISABLED))
            .col_expr(counselor::Column::UpdatedAt, Expr::value(now))
            .filter(counselor::Column::Id.eq(c.id))
            .exec(&state.db)
            .await?;
        invalidate_list_cache(state.infra.cache.as_ref()).await;
    }
    review::Entity::update_many()
        .col_expr(review::Column::Comment, Expr::value(Option::<String>::None))
        .col_expr(review::Column::IsAnonymous, Expr::value(true))
        .col_expr(review::Column::UpdatedAt, Expr::value(now))
        .filter(review::Column::UserId.eq(user_id))
        .exec(&state.db)
        .await?;
    application::Entity::update_many()
        .col_expr(application::Column::Name, Expr::value(ERASED_NAME))
        .col_expr(application::Column::Gender, Expr::value(""))
        .col_expr(application::Column::Phone, Expr::value(""))
        .col_expr(application::Column::Email, Expr::value(""))
        .col_expr(
            application::Column::Bio,
            Expr::value(Option::<String>::None),
        )
        .col_expr(application::Column::CertificateImg1, Expr::value(""))
        .col_expr(application::Column::CertificateImg2, Expr::value(""))
        .col_expr(application::Column::CertificateImg3, Expr::value(""))
        .col_expr(application::Column::UpdatedAt, Expr::value(now))
        .filter(application::Column::UserId.eq(user_id))
        .exec(&state.db)
        .await?;
    Ok(())
}
