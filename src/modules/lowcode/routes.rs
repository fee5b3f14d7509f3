//! Admin routes for forms, submissions and pages. The forms list mirrors `list`/`total` at the top level
//! because the console's data view reads them there (contract M9).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::fields::{self, FieldErrors};
use super::service::{self, MSG_FORM_NOT_FOUND, MSG_PAGE_NOT_FOUND, MSG_RECORD_NOT_FOUND};
use crate::error::AppError;
use crate::http::{Pagination, parse_id};
use crate::modules::auth::CurrentAdmin;
use crate::response::{ApiResult, ok, ok_msg};
use crate::state::AppState;

pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/lowcode/forms", web::get().to(list_forms))
        .route("/api/admin/lowcode/forms", web::post().to(save_form))
        .route("/api/admin/lowcode/forms/{id}", web::get().to(get_form))
        .route("/api/admin/lowcode/forms/{id}", web::put().to(update_form))
        .route(
            "/api/admin/lowcode/forms/{id}",
            web::delete().to(delete_form),
        )
        .route(
            "/api/admin/lowcode/forms/{id}/data",
            web::get().to(list_data),
        )
        .route("/api/admin/lowcode/forms/{id}/data", web::post().to(submit))
        .route(
            "/api/admin/lowcode/forms/{id}/submit",
            web::post().to(submit),
        )
        .route(
            "/api/admin/lowcode/forms/{id}/data/{data_id}",
            web::delete().to(delete_data),
        )
        .route("/api/admin/lowcode/pages", web::get().to(list_pages))
        .route("/api/admin/lowcode/pages", web::post().to(save_page))
        .route("/api/admin/lowcode/pages/{id}", web::get().to(get_page))
        .route("/api/admin/lowcode/pages/{id}", web::put().to(update_page))
        .route(
            "/api/admin/lowcode/pages/{id}",
            web::delete().to(delete_page),
        )
        .route(
            "/api/admin/lowcode/pages/{id}/preview",
            web::get().to(preview_page),
        );
}

#[derive(Deserialize)]
struct TitleFilter {
    title: Option<String>,
}

fn title_filter(req: &HttpRequest) -> Result<Option<String>, AppError> {
    web::Query::<TitleFilter>::from_query(req.query_string())
        .map(|q| q.into_inner().title)
        .map_err(|e| AppError::invalid_input(format!("参数错误: {e}")))
}

/// 400 with the per-field reasons in `data.errors`.
fn field_errors(prefix: &str, errors: &FieldErrors) -> ApiResult {
    let msg = format!("{prefix}: {}", fields::describe(errors));
    Ok(HttpResponse::BadRequest().json(json!({
        "code": 400,
        "msg": msg,
        "error": "invalid_input",
        "data": { "errors": errors },
    })))
}

#[utoipa::path(get, path = "/api/admin/lowcode/forms", tag = "admin-lowcode", security(("bearer" = [])),
    responses((status = 200, description = "`data: {list, total}`, mirrored as top-level `list`/`total`; query page, page_size|pageSize, title", body = crate::openapi::shapes::FormList)))]
pub async fn list_forms(
    state: web::Data<AppState>,
    req: HttpRequest,
    page: Pagination,
) -> ApiResult {
    let title = title_filter(&req)?;
    let (list, total) = service::list_forms(&state.db, title.as_deref(), &page).await?;
    Ok(HttpResponse::Ok().json(json!({
        "code": 200,
        "msg": "获取成功",
        "data": { "list": list, "total": total },
        "list": list,
        "total": total,
    })))
}

async fn save_form_as(state: &AppState, path_id: Option<i64>, body: &Value) -> ApiResult {
    let input = service::parse_save_body(body, "form_json")?;
    // The original takes the id from the body on both methods; the path wins on PUT.
    let id = path_id.or(input.body_id.filter(|id| *id > 0));
    let saved = match id {
        Some(id) => service::update_form(&state.db, id, input).await?,
        None => service::create_form(&state.db, input).await?,
    };
    match saved {
        Ok(form) => ok("保存成功", form),
        Err(errors) => field_errors("表单定义校验失败", &errors),
    }
}

#[utoipa::path(post, path = "/api/admin/lowcode/forms", tag = "admin-lowcode", security(("bearer" = [])), request_body = crate::openapi::shapes::SaveForm,
    responses((status = 200, description = "`data: LowcodeForm`; body {id?, title, description?, items | form_json (JSON text), status?}", body = crate::openapi::Envelope<super::dto::FormView>),
        (status = 400, description = "Invalid field list: `data.errors`")))]
pub async fn save_form(state: web::Data<AppState>, body: web::Json<Value>) -> ApiResult {
    save_form_as(&state, None, &body).await
}

#[utoipa::path(put, path = "/api/admin/lowcode/forms/{id}", tag = "admin-lowcode", security(("bearer" = [])), request_body = crate::openapi::shapes::SaveForm,
    responses((status = 200, description = "`data: LowcodeForm`; a changed field list of a form with submissions becomes version+1", body = crate::openapi::Envelope<super::dto::FormView>),
        (status = 404, description = "表单不存在")))]
pub async fn update_form(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> ApiResult {
    let id = parse_id(&id, MSG_FORM_NOT_FOUND)?;
    save_form_as(&state, Some(id), &body).await
}

#[utoipa::path(get, path = "/api/admin/lowcode/forms/{id}", tag = "admin-lowcode", security(("bearer" = [])),
    responses((status = 200, description = "`data: LowcodeForm`", body = crate::openapi::Envelope<super::dto::FormView>), (status = 404, description = "表单不存在")))]
pub async fn get_form(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_FORM_NOT_FOUND)?;
    let form = service::find_form(&state.db, id).await?;
    ok("获取成功", super::dto::FormView::from(form))
}

#[utoipa::path(delete, path = "/api/admin/lowcode/forms/{id}", tag = "admin-lowcode", security(("bearer" = [])),
    responses((status = 200, description = "Deleted with its submissions and versions", body = crate::openapi::Done), (status = 404, description = "表单不存在")))]
pub async fn delete_form(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_FORM_NOT_FOUND)?;
    service::delete_form(&state.db, id).await?;
    ok_msg("删除成功")
}

#[utoipa::path(get, path = "/api/admin/lowcode/forms/{id}/data", tag = "admin-lowcode", security(("bearer" = [])),
    responses((status = 200, description = "`data: {list: [{id, form_id, form_version, form_data, created_by, created_at}], total}`", body = crate::openapi::Envelope<crate::openapi::shapes::FormDataPage>)))]
pub async fn list_data(
    state: web::Data<AppState>,
    id: web::Path<String>,
    page: Pagination,
) -> ApiResult {
    let id = parse_id(&id, MSG_FORM_NOT_FOUND)?;
    let (list, total) = service::list_submissions(&state.db, id, &page).await?;
    ok("获取成功", json!({ "list": list, "total": total }))
}

#[utoipa::path(post, path = "/api/admin/lowcode/forms/{id}/submit", tag = "admin-lowcode", security(("bearer" = [])), request_body = Object,
    responses((status = 200, description = "`data: FormData`; body: {form_data: JSON text} | {data: {...}} | the object itself; also POST …/data", body = crate::openapi::Envelope<super::dto::FormDataView>),
        (status = 400, description = "表单数据校验失败: `data.errors`"), (status = 404, description = "表单不存在")))]
pub async fn submit(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> ApiResult {
    let id = parse_id(&id, MSG_FORM_NOT_FOUND)?;
    let data = service::submission_object(&body)?;
    match service::submit(&state.db, id, admin.0.id, data).await? {
        Ok(record) => ok("提交成功", record),
        Err(errors) => field_errors("表单数据校验失败", &errors),
    }
}

#[utoipa::path(delete, path = "/api/admin/lowcode/forms/{id}/data/{data_id}", tag = "admin-lowcode", security(("bearer" = [])),
    responses((status = 200, description = "Deleted", body = crate::openapi::Done), (status = 404, description = "记录不存在")))]
pub async fn delete_data(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult {
    let (form_id, data_id) = path.into_inner();
    let form_id = parse_id(&form_id, MSG_RECORD_NOT_FOUND)?;
    let data_id = parse_id(&data_id, MSG_RECORD_NOT_FOUND)?;
    service::delete_submission(&state.db, form_id, data_id).await?;
    ok_msg("删除成功")
}

#[utoipa::path(get, path = "/api/admin/lowcode/pages", tag = "admin-lowcode", security(("bearer" = [])),
    responses((status = 200, description = "`data: {list, total}` (also top level); query page, page_size|pageSize, title", body = crate::openapi::shapes::PageList)))]
pub async fn list_pages(
    state: web::Data<AppState>,
    req: HttpRequest,
    page: Pagination,
) -> ApiResult {
    let title = title_filter(&req)?;
    let (list, total) = service::list_pages(&state.db, title.as_deref(), &page).await?;
    Ok(HttpResponse::Ok().json(json!({
        "code": 200,
        "msg": "获取成功",
        "data": { "list": list, "total": total },
        "list": list,
        "total": total,
    })))
}

async fn save_page_as(state: &AppState, path_id: Option<i64>, body: &Value) -> ApiResult {
    let input = service::parse_save_body(body, "page_json")?;
    let id = path_id.or(input.body_id.filter(|id| *id > 0));
    let page = match id {
        Some(id) => service::update_page(&state.db, id, input).await?,
        None => service::create_page(&state.db, input).await?,
    };
    ok("保存成功", page)
}

#[utoipa::path(post, path = "/api/admin/lowcode/pages", tag = "admin-lowcode", security(("bearer" = [])), request_body = crate::openapi::shapes::SavePage,
    responses((status = 200, description = "`data: LowcodePage`; body {id?, title, description?, path?, items | page_json (JSON text), status?}", body = crate::openapi::Envelope<super::dto::PageView>)))]
pub async fn save_page(state: web::Data<AppState>, body: web::Json<Value>) -> ApiResult {
    save_page_as(&state, None, &body).await
}

#[utoipa::path(put, path = "/api/admin/lowcode/pages/{id}", tag = "admin-lowcode", security(("bearer" = [])), request_body = crate::openapi::shapes::SavePage,
    responses((status = 200, description = "`data: LowcodePage`", body = crate::openapi::Envelope<super::dto::PageView>), (status = 404, description = "页面不存在")))]
pub async fn update_page(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> ApiResult {
    let id = parse_id(&id, MSG_PAGE_NOT_FOUND)?;
    save_page_as(&state, Some(id), &body).await
}

#[utoipa::path(get, path = "/api/admin/lowcode/pages/{id}", tag = "admin-lowcode", security(("bearer" = [])),
    responses((status = 200, description = "`data: LowcodePage`", body = crate::openapi::Envelope<super::dto::PageView>), (status = 404, description = "页面不存在")))]
pub async fn get_page(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_PAGE_NOT_FOUND)?;
    let page = service::find_page(&state.db, id).await?;
    ok("获取成功", super::dto::PageView::from(page))
}

#[utoipa::path(delete, path = "/api/admin/lowcode/pages/{id}", tag = "admin-lowcode", security(("bearer" = [])),
    responses((status = 200, description = "Deleted", body = crate::openapi::Done), (status = 404, description = "页面不存在")))]
pub async fn delete_page(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_PAGE_NOT_FOUND)?;
    service::delete_page(&state.db, id).await?;
    ok_msg("删除成功")
}

#[utoipa::path(get, path = "/api/admin/lowcode/pages/{id}/preview", tag = "admin-lowcode", security(("bearer" = [])),
    responses((status = 200, description = "text/html rendering of the page; every stored string is escaped", content_type = "text/html", body = String),
        (status = 404, description = "页面不存在")))]
pub async fn preview_page(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_PAGE_NOT_FOUND)?;
    let page = service::find_page(&state.db, id).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .body(fields::render_page(&page.title, &page.page_json)))
}
