//! HTTP handlers of the counselors module: thin wrappers over the services.

use actix_multipart::Multipart;
use actix_web::{HttpRequest, web};
use serde_json::json;

use super::applications::{self, Reviewer};
use super::dto::{
    ApplicationListQuery, ApplicationRequest, CreateCounselorRequest, CreateReviewRequest,
    ListQuery, ReviewApplicationRequest, UpdateCounselorRequest,
};
use super::reviews;
use super::service::{self, ListFilter, MSG_COUNSELOR_NOT_FOUND};
use crate::error::AppError;
use crate::http::{Pagination, ValidatedJson, parse_id};
use crate::modules::auth::{CurrentAdmin, CurrentUser};
use crate::modules::files::storage;
use crate::modules::users;
use crate::response::{ApiResult, ok, ok_msg, ok_null, ok_raw};
use crate::state::AppState;

/// Port 8080. The static `/api/counselor/...` paths come before `/api/counselor/{id}`, which must stay
/// after every other `/api/counselor/<word>` route of any module (e.g. `/api/counselor/orders`).
pub fn user_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/counselor/list", web::get().to(list_public))
        .route(
            "/api/counselor/my-application",
            web::get().to(my_application),
        )
        .route(
            "/api/counselor/applications",
            web::get().to(legacy_list_applications),
        )
        .route(
            "/api/counselor/application",
            web::post().to(submit_application),
        )
        .route(
            "/api/counselor/application/{id}/review",
            web::put().to(legacy_review_application),
        )
        .route(
            "/api/counselor/upload-certificate",
            web::post().to(upload_certificate),
        )
        .route("/api/counselor/review", web::post().to(create_review))
        .route(
            "/api/counselor/{id}/reviews",
            web::get().to(counselor_reviews),
        );
}

/// Port 8080, last: the catch-all detail route (see [`user_routes`]).
pub fn user_detail_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/counselor/{id}", web::get().to(counselor_detail));
}

/// Port 8081, outside the admin scope: the console's public directory routes.
pub fn admin_public_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/counselor/list", web::get().to(list_public))
        .route("/api/counselor/{id}", web::get().to(counselor_detail));
}

/// Port 8081, inside the protected admin scope.
pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/counselors", web::get().to(admin_list))
        .route("/api/admin/counselors", web::post().to(admin_create))
        .route("/api/admin/counselors/{id}", web::get().to(admin_detail))
        .route("/api/admin/counselors/{id}", web::put().to(admin_update))
        .route("/api/admin/counselors/{id}", web::delete().to(admin_delete))
        .route(
            "/api/admin/counselor/applications",
            web::get().to(admin_list_applications),
        )
        .route(
            "/api/admin/counselor/applications/{id}",
            web::get().to(admin_application_detail),
        )
        .route(
            "/api/admin/counselor/applications/{id}/review",
            web::put().to(admin_review_application),
        )
        .route(
            "/api/admin/counselor/applications/{id}/review",
            web::post().to(admin_review_application),
        );
}

fn list_query(req: &HttpRequest) -> Result<ListQuery, AppError> {
    web::Query::<ListQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| AppError::invalid_input(format!("参数错误: {e}")))
}

#[utoipa::path(get, path = "/api/counselor/list", tag = "counselor",
    params(("keyword" = Option<String>, Query, description = "name, specialty or title contains"),
        ("specialty" = Option<String>, Query), ("min_price" = Option<f64>, Query), ("max_price" = Option<f64>, Query),
        ("sort_by" = Option<String>, Query, description = "rating | price | service_count | created_at | review_count | years_exp"),
        ("sort_order" = Option<String>, Query, description = "asc | desc"),
        ("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query)),
    responses((status = 200, description = "`data.counselors` (and `data.list`), `data.total`; enabled counselors only")))]
pub async fn list_public(state: web::Data<AppState>, req: HttpRequest) -> ApiResult {
    let filter = ListFilter::parse(&list_query(&req)?, true)?;
    let paging = Pagination::from_query(req.query_string(), 10)?;
    ok_raw(
        "获取成功",
        &service::list_counselors(&state, &filter, &paging).await?,
    )
}

#[utoipa::path(get, path = "/api/counselor/{id}", tag = "counselor",
    responses((status = 200, description = "The counselor with service_count, review_count, is_recommended"),
        (status = 404, description = "咨询师不存在")))]
pub async fn counselor_detail(state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let id = parse_id(&path, MSG_COUNSELOR_NOT_FOUND)?;
    ok("获取成功", service::counselor_view(&state.db, id).await?)
}

#[utoipa::path(get, path = "/api/counselor/{id}/reviews", tag = "counselor",
    responses((status = 200, description = "`data.reviews`, `data.total`: visible reviews, newest first")))]
pub async fn counselor_reviews(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult {
    let id = parse_id(&path, MSG_COUNSELOR_NOT_FOUND)?;
    let paging = Pagination::from_query(req.query_string(), 10)?;
    let (reviews, total) = reviews::list_reviews(&state.db, id, &paging).await?;
    ok("获取成功", json!({ "reviews": reviews, "total": total }))
}

#[utoipa::path(post, path = "/api/counselor/review", tag = "counselor", security(("bearer" = [])),
    responses((status = 200, description = "Review stored; the counselor's rating follows"),
        (status = 400, description = "Not completed, already reviewed"), (status = 403, description = "Not your order")))]
pub async fn create_review(
    state: web::Data<AppState>,
    user: CurrentUser,
    ValidatedJson(body): ValidatedJson<CreateReviewRequest>,
) -> ApiResult {
    let review = reviews::create_review(&state, user.0.id, body).await?;
    ok("评价成功", review)
}

#[utoipa::path(post, path = "/api/counselor/application", tag = "counselor", security(("bearer" = [])),
    responses((status = 200, description = "`data.id`")))]
pub async fn submit_application(
    state: web::Data<AppState>,
    user: CurrentUser,
    ValidatedJson(body): ValidatedJson<ApplicationRequest>,
) -> ApiResult {
    let id = applications::submit(&state, user.0.id, body).await?;
    ok("申请提交成功，请等待审核", json!({ "id": id }))
}

#[utoipa::path(get, path = "/api/counselor/my-application", tag = "counselor", security(("bearer" = [])),
    responses((status = 200, description = "The caller's application, or `data: null`")))]
pub async fn my_application(state: web::Data<AppState>, user: CurrentUser) -> ApiResult {
    match applications::my_application(&state.db, user.0.id).await? {
        Some(app) => ok("查询成功", app),
        None => ok_null("暂无入驻申请"),
    }
}

const CERTIFICATE_MAX_BYTES: usize = 5 * 1024 * 1024;

#[utoipa::path(post, path = "/api/counselor/upload-certificate", tag = "counselor", security(("bearer" = [])),
    responses((status = 200, description = "`data.url` (and `data.file_url`)")))]
pub async fn upload_certificate(
    state: web::Data<AppState>,
    _user: CurrentUser,
    payload: Multipart,
) -> ApiResult {
    let file = storage::read_file_field(
        payload,
        "file",
        CERTIFICATE_MAX_BYTES,
        "图片大小不能超过5MB",
    )
    .await?;
    let sniffed = storage::sniff_allowed(
        &file.bytes,
        storage::JPEG_PNG,
        "仅支持JPG、JPEG、PNG格式的图片",
    )?;
    let stored = storage::store(
        &state.settings.uploads_dir(),
        "certificates",
        sniffed.extension,
        &file.bytes,
    )
    .await?;
    ok(
        "上传成功",
        json!({ "url": stored.url, "file_url": stored.url }),
    )
}

/// The legacy user-API review routes are for users with `is_admin`.
async fn require_user_admin(state: &AppState, user: &CurrentUser) -> Result<i64, AppError> {
    let account = users::service::find_active(&state.db, user.0.id)
        .await?
        .ok_or_else(|| AppError::unauthorized("用户不存在"))?;
    if !account.is_admin {
        return Err(AppError::forbidden("无权限访问"));
    }
    Ok(account.id)
}

fn application_query(req: &HttpRequest) -> Result<ApplicationListQuery, AppError> {
    web::Query::<ApplicationListQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| AppError::invalid_input(format!("参数错误: {e}")))
}

#[utoipa::path(get, path = "/api/counselor/applications", tag = "counselor", security(("bearer" = [])),
    responses((status = 200, description = "`data.list`, `total`, `page`, `page_size`; users with is_admin only")))]
pub async fn legacy_list_applications(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
) -> ApiResult {
    require_user_admin(&state, &user).await?;
    let paging = Pagination::from_query(req.query_string(), 20)?;
    let (list, total) =
        applications::list_applications(&state.db, &application_query(&req)?, &paging).await?;
    ok(
        "查询成功",
        json!({ "list": list, "total": total, "page": paging.page, "page_size": paging.page_size }),
    )
}

#[utoipa::path(put, path = "/api/counselor/application/{id}/review", tag = "counselor", security(("bearer" = [])),
    responses((status = 200, description = "审核成功; users with is_admin only")))]
pub async fn legacy_review_application(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
    ValidatedJson(body): ValidatedJson<ReviewApplicationRequest>,
) -> ApiResult {
    let reviewer = require_user_admin(&state, &user).await?;
    let id = raw_application_id(&path)?;
    applications::review(
        &state,
        id,
        Reviewer::LegacyUserAdmin(reviewer),
        body.status,
        &body.reject_reason,
    )
    .await?;
    ok_msg("审核成功")
}

/// The user API answers a non-numeric application id with 400 `申请ID错误`.
fn raw_application_id(raw: &str) -> Result<i64, AppError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| AppError::bad_request("申请ID错误"))
}

#[utoipa::path(get, path = "/api/admin/counselors", tag = "admin-counselor", security(("bearer" = [])),
    params(("keyword" = Option<String>, Query), ("status" = Option<i32>, Query), ("sort_by" = Option<String>, Query),
        ("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query)),
    responses((status = 200, description = "`data.list` and `data.counselors`, `data.total`; all statuses unless filtered")))]
pub async fn admin_list(
    state: web::Data<AppState>,
    _admin: CurrentAdmin,
    req: HttpRequest,
) -> ApiResult {
    let filter = ListFilter::parse(&list_query(&req)?, false)?;
    let paging = Pagination::from_query(req.query_string(), 10)?;
    ok_raw(
        "获取成功",
        &service::list_counselors(&state, &filter, &paging).await?,
    )
}

#[utoipa::path(get, path = "/api/admin/counselors/{id}", tag = "admin-counselor", security(("bearer" = [])),
    responses((status = 200, description = "The counselor"), (status = 404, description = "咨询师不存在")))]
pub async fn admin_detail(
    state: web::Data<AppState>,
    _admin: CurrentAdmin,
    path: web::Path<String>,
) -> ApiResult {
    let id = parse_id(&path, MSG_COUNSELOR_NOT_FOUND)?;
    ok("获取成功", service::counselor_view(&state.db, id).await?)
}

#[utoipa::path(post, path = "/api/admin/counselors", tag = "admin-counselor", security(("bearer" = [])),
    responses((status = 200, description = "The created counselor"), (status = 409, description = "该用户已是咨询师")))]
pub async fn admin_create(
    state: web::Data<AppState>,
    _admin: CurrentAdmin,
    ValidatedJson(body): ValidatedJson<CreateCounselorRequest>,
) -> ApiResult {
    ok("创建成功", service::create_counselor(&state, body).await?)
}

#[utoipa::path(put, path = "/api/admin/counselors/{id}", tag = "admin-counselor", security(("bearer" = [])),
    responses((status = 200, description = "The updated counselor"), (status = 404, description = "咨询师不存在")))]
pub async fn admin_update(
    state: web::Data<AppState>,
    _admin: CurrentAdmin,
    path: web::Path<String>,
    ValidatedJson(body): ValidatedJson<UpdateCounselorRequest>,
) -> ApiResult {
    let id = parse_id(&path, MSG_COUNSELOR_NOT_FOUND)?;
    ok(
        "更新成功",
        service::update_counselor(&state, id, body).await?,
    )
}

#[utoipa::path(delete, path = "/api/admin/counselors/{id}", tag = "admin-counselor", security(("bearer" = [])),
    responses((status = 200, description = "Deleted"),
        (status = 400, description = "Has orders or reviews: disable it instead"), (status = 404, description = "咨询师不存在")))]
pub async fn admin_delete(
    state: web::Data<AppState>,
    _admin: CurrentAdmin,
    path: web::Path<String>,
) -> ApiResult {
    let id = parse_id(&path, MSG_COUNSELOR_NOT_FOUND)?;
    service::delete_counselor(&state, id).await?;
    ok_msg("删除成功")
}

#[utoipa::path(get, path = "/api/admin/counselor/applications", tag = "admin-counselor", security(("bearer" = [])),
    params(("status" = Option<i32>, Query), ("keyword" = Option<String>, Query), ("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query)),
    responses((status = 200, description = "`data.list`, `data.total`")))]
pub async fn admin_list_applications(
    state: web::Data<AppState>,
    _admin: CurrentAdmin,
    req: HttpRequest,
) -> ApiResult {
    let paging = Pagination::from_query(req.query_string(), 20)?;
    let (list, total) =
        applications::list_applications(&state.db, &application_query(&req)?, &paging).await?;
    ok(
        "获取成功",
        json!({ "list": list, "total": total, "page": paging.page, "page_size": paging.page_size }),
    )
}

#[utoipa::path(get, path = "/api/admin/counselor/applications/{id}", tag = "admin-counselor", security(("bearer" = [])),
    responses((status = 200, description = "The application"), (status = 404, description = "申请不存在")))]
pub async fn admin_application_detail(
    state: web::Data<AppState>,
    _admin: CurrentAdmin,
    path: web::Path<String>,
) -> ApiResult {
    let id = parse_id(&path, applications::MSG_NOT_FOUND)?;
    ok(
        "获取成功",
        applications::application_view(&state.db, id).await?,
    )
}

#[utoipa::path(put, path = "/api/admin/counselor/applications/{id}/review", tag = "admin-counselor", security(("bearer" = [])),
    responses((status = 200, description = "审核成功; approval creates the linked counselor (`data.counselor_id`)"),
        (status = 400, description = "Already processed, bad status, rejection without reason"), (status = 404, description = "申请不存在")))]
pub async fn admin_review_application(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    path: web::Path<String>,
    ValidatedJson(body): ValidatedJson<ReviewApplicationRequest>,
) -> ApiResult {
    let id = parse_id(&path, applications::MSG_NOT_FOUND)?;
    let counselor_id = applications::review(
        &state,
        id,
        Reviewer::Admin(admin.0.id),
        body.status,
        &body.reject_reason,
    )
    .await?;
    ok("审核成功", json!({ "counselor_id": counselor_id }))
}
