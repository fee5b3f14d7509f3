//! Console routes for configs and the audit log. Both list routes put `list`/`total` at the top level,
//! as the console reads them.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::dto::{BatchConfigRequest, ConfigRequest, LogQuery};
use super::service::{self, MSG_CONFIG_NOT_FOUND};
use crate::error::AppError;
use crate::http::{Pagination, ValidatedJson, parse_id};
use crate::response::{ApiResult, ok, ok_msg};
use crate::state::AppState;

pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/logs", web::get().to(list_logs))
        .route("/api/admin/configs", web::get().to(list_configs))
        .route("/api/admin/configs", web::post().to(create_config))
        .route("/api/admin/configs/batch", web::post().to(batch_save))
        .route("/api/admin/configs/{id}", web::get().to(get_config))
        .route("/api/admin/configs/{id}", web::put().to(update_config))
        .route("/api/admin/configs/{id}", web::delete().to(delete_config));
}

fn top_level_list<T: serde::Serialize>(list: T, total: u64) -> ApiResult {
    Ok(HttpResponse::Ok()
        .json(json!({ "code": 200, "msg": "获取成功", "list": list, "total": total })))
}

#[utoipa::path(get, path = "/api/admin/logs", tag = "admin-system", security(("bearer" = [])),
    params(("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query), ("operator" = Option<String>, Query), ("admin_id" = Option<i64>, Query),
        ("action" = Option<String>, Query, description = "e.g. `chat:read` (staff reads of chat content) or `privacy:retention` (purges)"),
        ("module" = Option<String>, Query, description = "e.g. `privacy`"), ("session_id" = Option<i64>, Query, description = "Rows about this chat session"),
        ("target" = Option<String>, Query, description = "Rows whose target is exactly this"),
        ("startDate" = Option<String>, Query), ("endDate" = Option<String>, Query)),
    responses((status = 200, description = "Top-level `list`/`total`; filters operator, admin_id, action, module, session_id, target, startDate, endDate. Append-only: no route updates or deletes these rows", body = crate::openapi::shapes::LogList)))]
pub async fn list_logs(
    state: web::Data<AppState>,
    req: HttpRequest,
    page: Pagination,
) -> ApiResult {
    let q = web::Query::<LogQuery>::from_query(req.query_string())
        .map_err(|e| AppError::invalid_input(format!("参数错误: {e}")))?
        .into_inner();
    let (list, total) = service::list_logs(&state, &q, &page).await?;
    top_level_list(list, total)
}

#[derive(Deserialize)]
struct ConfigFilter {
    category: Option<String>,
}

#[utoipa::path(get, path = "/api/admin/configs", tag = "admin-system", security(("bearer" = [])),
    responses((status = 200, description = "Top-level `list`/`total`", body = crate::openapi::shapes::ConfigList)))]
pub async fn list_configs(
    state: web::Data<AppState>,
    req: HttpRequest,
    page: Pagination,
) -> ApiResult {
    let f = web::Query::<ConfigFilter>::from_query(req.query_string())
        .map_err(|e| AppError::invalid_input(format!("参数错误: {e}")))?;
    let (list, total) = service::list_configs(&state.db, f.category.as_deref(), &page).await?;
    top_level_list(list, total)
}

#[utoipa::path(get, path = "/api/admin/configs/{id}", tag = "admin-system", security(("bearer" = [])),
    responses((status = 200, description = "`data: SystemConfig`", body = crate::openapi::Envelope<crate::modules::system::dto::ConfigView>)))]
pub async fn get_config(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_CONFIG_NOT_FOUND)?;
    let c = service::get_config(&state.db, id).await?;
    ok("获取成功", super::dto::ConfigView::from(&c))
}

#[utoipa::path(post, path = "/api/admin/configs", tag = "admin-system", security(("bearer" = [])), request_body = crate::modules::system::dto::ConfigRequest,
    responses((status = 200, description = "`data: SystemConfig`", body = crate::openapi::Envelope<crate::modules::system::dto::ConfigView>), (status = 409, description = "Key taken")))]
pub async fn create_config(
    state: web::Data<AppState>,
    ValidatedJson(body): ValidatedJson<ConfigRequest>,
) -> ApiResult {
    ok("创建成功", service::create_config(&state, body).await?)
}

#[utoipa::path(put, path = "/api/admin/configs/{id}", tag = "admin-system", security(("bearer" = [])), request_body = crate::modules::system::dto::ConfigRequest,
    responses((status = 200, description = "`data: SystemConfig`", body = crate::openapi::Envelope<crate::modules::system::dto::ConfigView>)))]
pub async fn update_config(
    state: web::Data<AppState>,
    id: web::Path<String>,
    ValidatedJson(body): ValidatedJson<ConfigRequest>,
) -> ApiResult {
    let id = parse_id(&id, MSG_CONFIG_NOT_FOUND)?;
    ok("更新成功", service::update_config(&state, id, body).await?)
}

#[utoipa::path(delete, path = "/api/admin/configs/{id}", tag = "admin-system", security(("bearer" = [])),
    responses((status = 200, description = "Deleted", body = crate::openapi::Done), (status = 400, description = "System config")))]
pub async fn delete_config(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_CONFIG_NOT_FOUND)?;
    service::delete_config(&state, id).await?;
    ok_msg("删除成功")
}

#[utoipa::path(post, path = "/api/admin/configs/batch", tag = "admin-system", security(("bearer" = [])), request_body = crate::modules::system::dto::BatchConfigRequest,
    responses((status = 200, description = "All saved in one transaction, or none", body = crate::openapi::Done)))]
pub async fn batch_save(
    state: web::Data<AppState>,
    ValidatedJson(body): ValidatedJson<BatchConfigRequest>,
) -> ApiResult {
    service::batch_save(&state, body.configs).await?;
    ok_msg("保存成功")
}
