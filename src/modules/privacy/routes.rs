//! HTTP handlers: the user's export and erasure on 8080, the retention dry run and purge on 8081.

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::dto::DeleteAccountRequest;
use super::{retention, service};
use crate::http::ValidatedJson;
use crate::modules::auth::CurrentUser;
use crate::response::{ApiResult, ok, ok_msg};
use crate::state::AppState;

pub fn user_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/user/export", web::get().to(export))
        .route("/api/user/delete", web::post().to(delete_account));
}

pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/admin/privacy/retention",
        web::get().to(retention_status),
    )
    .route(
        "/api/admin/privacy/retention/purge",
        web::post().to(retention_purge),
    );
}

#[utoipa::path(get, path = "/api/user/export", tag = "user", security(("bearer" = [])),
    responses((status = 200, description = "Everything the platform holds about the caller, as one JSON document (sent as an attachment)", body = crate::openapi::Envelope<crate::modules::privacy::dto::ExportDocument>)))]
pub async fn export(state: web::Data<AppState>, user: CurrentUser) -> ApiResult {
    let document = service::export(&state, user.0.id).await?;
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(format!(
            "mychat-export-{}.json",
            user.0.id
        ))],
    };
    Ok(HttpResponse::Ok()
        .insert_header(disposition)
        .json(json!({ "code": 200, "msg": "导出成功", "data": document })))
}

#[utoipa::path(post, path = "/api/user/delete", tag = "user", security(("bearer" = [])),
    request_body = crate::modules::privacy::dto::DeleteAccountRequest,
    responses((status = 200, description = "账户已注销: personal data erased, money records kept, signed out everywhere", body = crate::openapi::Done),
        (status = 400, description = "密码错误"),
        (status = 409, description = "A chat session in progress, or a paid order not yet completed")))]
pub async fn delete_account(
    state: web::Data<AppState>,
    user: CurrentUser,
    ValidatedJson(body): ValidatedJson<DeleteAccountRequest>,
) -> ApiResult {
    service::erase(&state, &user, &body.password).await?;
    ok_msg("账户已注销")
}

#[utoipa::path(get, path = "/api/admin/privacy/retention", tag = "admin-privacy", security(("bearer" = [])),
    responses((status = 200, description = "`message_retention_days`, the dry run (what a purge now would remove) and the schedule", body = crate::openapi::Envelope<crate::modules::privacy::retention::RetentionStatus>)))]
pub async fn retention_status(state: web::Data<AppState>) -> ApiResult {
    ok("获取成功", retention::status(&state).await?)
}

#[utoipa::path(post, path = "/api/admin/privacy/retention/purge", tag = "admin-privacy", security(("bearer" = [])),
    responses((status = 200, description = "Purged now, under the job's rules", body = crate::openapi::Envelope<crate::modules::privacy::retention::Purged>),
        (status = 400, description = "Retention is off (0 days)"),
        (status = 409, description = "Within the grace period after the setting changed")))]
pub async fn retention_purge(state: web::Data<AppState>) -> ApiResult {
    ok("清理完成", retention::purge_now(&state).await?)
}
