//! HTTP handlers for the caller's notifications on 8080.

use actix_web::{HttpRequest, web};
use serde_json::json;

use super::dto::ListQuery;
use super::service::{self, MSG_NOT_FOUND};
use crate::error::AppError;
use crate::http::{Pagination, parse_id};
use crate::modules::auth::CurrentUser;
use crate::response::{ApiResult, ok, ok_msg};
use crate::state::AppState;

pub fn user_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/notification/list", web::get().to(list))
        .route("/api/notification/read-all", web::post().to(read_all))
        .route("/api/notification/{id}/read", web::post().to(read))
        .route("/api/notification/{id}", web::delete().to(delete));
}

#[utoipa::path(get, path = "/api/notification/list", tag = "notification", security(("bearer" = [])),
    params(("type" = Option<String>, Query), ("is_read" = Option<String>, Query, description = "`true` read only; other non-empty values unread only"),
        ("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query)),
    responses((status = 200, description = "`data.notifications`, `data.total`, `data.unread_count`")))]
pub async fn list(state: web::Data<AppState>, user: CurrentUser, req: HttpRequest) -> ApiResult {
    let q = web::Query::<ListQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| AppError::invalid_input(format!("参数错误: {e}")))?;
    let paging = Pagination::from_query(req.query_string(), 10)?;
    let (notifications, total, unread) = service::list(&state.db, user.0.id, &q, &paging).await?;
    ok(
        "获取成功",
        json!({ "notifications": notifications, "list": notifications, "total": total, "unread_count": unread }),
    )
}

#[utoipa::path(post, path = "/api/notification/{id}/read", tag = "notification", security(("bearer" = [])),
    responses((status = 200, description = "标记成功"), (status = 404, description = "通知不存在 (also someone else's)")))]
pub async fn read(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> ApiResult {
    let id = parse_id(&path, MSG_NOT_FOUND)?;
    service::mark_read(&state.db, user.0.id, id).await?;
    ok_msg("标记成功")
}

#[utoipa::path(post, path = "/api/notification/read-all", tag = "notification", security(("bearer" = [])),
    responses((status = 200, description = "标记成功")))]
pub async fn read_all(state: web::Data<AppState>, user: CurrentUser) -> ApiResult {
    service::mark_all_read(&state.db, user.0.id).await?;
    ok_msg("标记成功")
}

#[utoipa::path(delete, path = "/api/notification/{id}", tag = "notification", security(("bearer" = [])),
    responses((status = 200, description = "删除成功"), (status = 404, description = "通知不存在 (also someone else's)")))]
pub async fn delete(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> ApiResult {
    let id = parse_id(&path, MSG_NOT_FOUND)?;
    service::delete(&state.db, user.0.id, id).await?;
    ok_msg("删除成功")
}
