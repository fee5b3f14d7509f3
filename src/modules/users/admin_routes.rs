//! Back-office routes over app users (`/api/admin/users…`), guarded by the RBAC table.

use actix_web::{HttpRequest, web};
use serde::Deserialize;
use serde_json::json;

use super::dto::{
    AdminCreateUserRequest, AdminResetPasswordRequest, AdminUpdateUserRequest, UserView,
};
use super::service::{self, MSG_NOT_FOUND, normalize_email};
use crate::error::AppError;
use crate::http::{Pagination, ValidatedJson, parse_id};
use crate::response::{ApiResult, ok, ok_msg};
use crate::state::AppState;

pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/users", web::get().to(list_users))
        .route("/api/admin/users", web::post().to(create_user))
        .route("/api/admin/users/{id}", web::get().to(get_user))
        .route("/api/admin/users/{id}", web::put().to(update_user))
        .route("/api/admin/users/{id}", web::delete().to(delete_user))
        .route(
            "/api/admin/users/{id}/password",
            web::post().to(reset_password),
        );
}

#[derive(Deserialize)]
struct Filter {
    keyword: Option<String>,
    status: Option<String>,
}

#[utoipa::path(get, path = "/api/admin/users", tag = "admin-users", security(("bearer" = [])),
    responses((status = 200, description = "`data: {users, total}`", body = crate::openapi::Envelope<crate::openapi::shapes::UserPage>)))]
pub async fn list_users(
    state: web::Data<AppState>,
    req: HttpRequest,
    page: Pagination,
) -> ApiResult {
    let f = web::Query::<Filter>::from_query(req.query_string())
        .map_err(|e| AppError::invalid_input(format!("参数错误: {e}")))?;
    let status = match f.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<i32>()
                .map_err(|_| AppError::invalid_input("参数错误: status: 必须是整数"))?,
        ),
    };
    let (rows, total) = service::admin_list(&state.db, f.keyword.as_deref(), status, &page).await?;
    let users: Vec<UserView> = rows.iter().map(UserView::from).collect();
    ok(
        "获取成功",
        json!({ "users": users, "list": users, "total": total }),
    )
}

#[utoipa::path(get, path = "/api/admin/users/{id}", tag = "admin-users", security(("bearer" = [])),
    responses((status = 200, description = "`data: User`", body = crate::openapi::Envelope<crate::modules::users::dto::UserView>), (status = 404, description = "用户不存在")))]
pub async fn get_user(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_NOT_FOUND)?;
    ok(
        "获取成功",
        UserView::from(&service::get_active(&state.db, id).await?),
    )
}

#[utoipa::path(post, path = "/api/admin/users", tag = "admin-users", security(("bearer" = [])), request_body = crate::modules::users::dto::AdminCreateUserRequest,
    responses((status = 200, description = "`data: User`", body = crate::openapi::Envelope<crate::modules::users::dto::UserView>), (status = 400, description = "用户名已存在"), (status = 409, description = "Email taken")))]
pub async fn create_user(
    state: web::Data<AppState>,
    ValidatedJson(body): ValidatedJson<AdminCreateUserRequest>,
) -> ApiResult {
    let new = service::NewUser {
        username: body.username,
        password_hash: state.passwords.hash(&body.password).await?,
        email: normalize_email(&body.email)?,
        phone: body.phone.trim().to_owned(),
        avatar: body.avatar,
        status: body.status,
    };
    let user = service::register(&state.db, &state.bus, new).await?;
    ok("创建成功", UserView::from(&user))
}

#[utoipa::path(put, path = "/api/admin/users/{id}", tag = "admin-users", security(("bearer" = [])), request_body = crate::modules::users::dto::AdminUpdateUserRequest,
    responses((status = 200, description = "Updated", body = crate::openapi::Envelope<crate::modules::users::dto::UserView>), (status = 404, description = "用户不存在")))]
pub async fn update_user(
    state: web::Data<AppState>,
    id: web::Path<String>,
    ValidatedJson(body): ValidatedJson<AdminUpdateUserRequest>,
) -> ApiResult {
    let id = parse_id(&id, MSG_NOT_FOUND)?;
    let email = match body.email {
        Some(e) => Some(normalize_email(&e)?),
        None => None,
    };
    let change = service::AdminUserChange {
        email,
        phone: body.phone.map(|p| p.trim().to_owned()),
        avatar: body.avatar,
        status: body.status,
    };
    let user =
        service::admin_update(&state.db, &state.bus, &state.account_states, id, change).await?;
    ok("更新成功", UserView::from(&user))
}

#[utoipa::path(delete, path = "/api/admin/users/{id}", tag = "admin-users", security(("bearer" = [])),
    responses((status = 200, description = "Soft-deleted", body = crate::openapi::Done)))]
pub async fn delete_user(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_NOT_FOUND)?;
    service::admin_soft_delete(&state.db, &state.bus, &state.account_states, id).await?;
    ok_msg("删除成功")
}

#[utoipa::path(post, path = "/api/admin/users/{id}/password", tag = "admin-users", security(("bearer" = [])), request_body = crate::modules::users::dto::AdminResetPasswordRequest,
    responses((status = 200, description = "Reset; the user's tokens stop working", body = crate::openapi::Done)))]
pub async fn reset_password(
    state: web::Data<AppState>,
    id: web::Path<String>,
    ValidatedJson(body): ValidatedJson<AdminResetPasswordRequest>,
) -> ApiResult {
    let id = parse_id(&id, MSG_NOT_FOUND)?;
    service::get_active(&state.db, id).await?;
    let hash = state.passwords.hash(&body.password).await?;
    service::set_password(&state.db, &state.bus, &state.account_states, id, hash).await?;
    ok_msg("重置成功")
}
