use actix_web::web;
use serde_json::json;

use super::dto::{
    AdminPasswordRequest, LoginRequest, LoginResponse, LoginUser, RefreshRequest, RegisterRequest,
};
use super::{CurrentAdmin, CurrentUser, service};
use crate::http::{ClientIp, ValidatedJson};
use crate::modules::rbac::dto::{AdminView, PermissionView, UpdateOwnProfileRequest};
use crate::modules::rbac::service as admins;
use crate::modules::users::service::normalize_email;
use crate::response::{ApiResult, ok, ok_msg};
use crate::state::AppState;

/// Identity routes of the user API: public ones, and logout (which takes the token it revokes).
pub fn user_public_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/register", web::post().to(register))
        .route("/api/login", web::post().to(login))
        .route("/api/token/refresh", web::post().to(refresh))
        .route("/api/logout", web::post().to(logout));
}

/// Public identity routes of the admin API.
pub fn admin_public_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin2/login", web::post().to(admin_login))
        .route("/api/admin/login", web::post().to(admin_login_legacy));
}

/// The caller's own account (any logged-in administrator, no permission needed).
pub fn admin_account_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin2/info", web::get().to(admin_info))
        .route("/api/admin/user/info", web::get().to(admin_info))
        .route("/api/admin/profile", web::get().to(admin_info))
        .route(
            "/api/admin2/permissions",
            web::get().to(admin_permission_codes),
        )
        .route(
            "/api/admin/user/permissions",
            web::get().to(admin_permission_rows),
        )
        .route("/api/admin2/logout", web::post().to(admin_logout))
        .route("/api/admin/logout", web::post().to(admin_logout))
        .route("/api/admin2/profile", web::put().to(admin_update_profile))
        .route("/api/admin/profile", web::put().to(admin_update_profile))
        .route(
            "/api/admin2/password",
            web::post().to(admin_change_password),
        )
        .route(
            "/api/admin/user/password",
            web::post().to(admin_change_password),
        );
}

#[utoipa::path(post, path = "/api/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 200, description = "`data: {user_id, username}`", body = crate::openapi::Envelope<crate::openapi::shapes::Registered>), (status = 400, description = "Invalid or taken"),
        (status = 429, description = "Too many registrations from this address")))]
pub async fn register(
    state: web::Data<AppState>,
    ip: ClientIp,
    ValidatedJson(body): ValidatedJson<RegisterRequest>,
) -> ApiResult {
    let user = service::register_from(
        &state,
        &ip.0,
        service::Registration {
            username: body.username,
            password: body.password,
            email: body.email,
            phone: body.phone,
        },
    )
    .await?;
    ok(
        "注册成功",
        json!({ "user_id": user.id, "username": user.username }),
    )
}

#[utoipa::path(post, path = "/api/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = crate::openapi::Envelope<LoginResponse>), (status = 401, description = "Wrong credentials"), (status = 429, description = "Too many attempts")))]
pub async fn login(
    state: web::Data<AppState>,
    ip: ClientIp,
    ValidatedJson(body): ValidatedJson<LoginRequest>,
) -> ApiResult {
    let (token, user) = service::login_user(&state, &ip.0, &body.username, &body.password).await?;
    ok(
        "登录成功",
        LoginResponse {
            token,
            user: LoginUser {
                user_id: user.id,
                id: user.id,
                username: user.username,
                email: user.email.unwrap_or_default(),
                avatar: user.avatar,
            },
        },
    )
}

#[utoipa::path(post, path = "/api/token/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, description = "`data.token` replaces the old token, which is revoked", body = crate::openapi::Envelope<crate::openapi::shapes::Token>)))]
pub async fn refresh(
    state: web::Data<AppState>,
    ValidatedJson(body): ValidatedJson<RefreshRequest>,
) -> ApiResult {
    let token = service::refresh_user_token(&state, &body.token).await?;
    ok("刷新成功", json!({ "token": token }))
}

#[utoipa::path(post, path = "/api/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "The token is revoked on every instance", body = crate::openapi::Done), (status = 401, description = "No valid token")))]
pub async fn logout(state: web::Data<AppState>, user: CurrentUser) -> ApiResult {
    service::revoke(&state, &user.0).await?;
    ok_msg("退出成功")
}

async fn admin_login_common(
    state: &AppState,
    ip: &str,
    body: LoginRequest,
) -> Result<(String, AdminView), crate::error::AppError> {
    let (token, admin) = service::login_admin(state, ip, &body.username, &body.password).await?;
    let view = admins::admin_view(&state.db, &admin).await?;
    Ok((token, view))
}

#[utoipa::path(post, path = "/api/admin2/login", tag = "admin-auth", request_body = LoginRequest,
    responses((status = 200, description = "`data: {token, admin}`", body = crate::openapi::Envelope<crate::openapi::shapes::AdminLogin>), (status = 401, description = "Wrong credentials")))]
pub async fn admin_login(
    state: web::Data<AppState>,
    ip: ClientIp,
    ValidatedJson(body): ValidatedJson<LoginRequest>,
) -> ApiResult {
    let (token, admin) = admin_login_common(&state, &ip.0, body).await?;
    ok("登录成功", json!({ "token": token, "admin": admin }))
}

#[utoipa::path(post, path = "/api/admin/login", tag = "admin-auth", request_body = LoginRequest,
    responses((status = 200, description = "`data: {token, user}` (legacy shape)", body = crate::openapi::Envelope<crate::openapi::shapes::AdminLoginLegacy>)))]
pub async fn admin_login_legacy(
    state: web::Data<AppState>,
    ip: ClientIp,
    ValidatedJson(body): ValidatedJson<LoginRequest>,
) -> ApiResult {
    let (token, admin) = admin_login_common(&state, &ip.0, body).await?;
    ok("登录成功", json!({ "token": token, "user": admin }))
}

#[utoipa::path(get, path = "/api/admin2/info", tag = "admin-auth", security(("bearer" = [])),
    responses((status = 200, description = "The caller's Administrator object", body = crate::openapi::Envelope<AdminView>)))]
pub async fn admin_info(state: web::Data<AppState>, admin: CurrentAdmin) -> ApiResult {
    let account = admins::get_admin(&state.db, admin.0.id).await?;
    ok("获取成功", admins::admin_view(&state.db, &account).await?)
}

#[utoipa::path(get, path = "/api/admin2/permissions", tag = "admin-auth", security(("bearer" = [])),
    responses((status = 200, description = "`data: {permissions: [code], roles: [code]}` from the RBAC tables", body = crate::openapi::Envelope<crate::openapi::shapes::PermissionCodes>)))]
pub async fn admin_permission_codes(state: web::Data<AppState>, admin: CurrentAdmin) -> ApiResult {
    let permissions: Vec<String> = admins::granted_permissions(&state.db, admin.0.id)
        .await?
        .into_iter()
        .map(|p| p.code)
        .collect();
    let roles = admins::client_roles(admins::role_codes(&state.db, admin.0.id).await?);
    ok(
        "获取成功",
        json!({ "permissions": permissions, "roles": roles }),
    )
}

#[utoipa::path(get, path = "/api/admin/user/permissions", tag = "admin-auth", security(("bearer" = [])),
    responses((status = 200, description = "`data: {permissions: [Permission], roles: [code]}`", body = crate::openapi::Envelope<crate::openapi::shapes::PermissionRows>)))]
pub async fn admin_permission_rows(state: web::Data<AppState>, admin: CurrentAdmin) -> ApiResult {
    let permissions: Vec<PermissionView> = admins::granted_permissions(&state.db, admin.0.id)
        .await?
        .iter()
        .map(PermissionView::from)
        .collect();
    let roles = admins::client_roles(admins::role_codes(&state.db, admin.0.id).await?);
    ok(
        "获取成功",
        json!({ "permissions": permissions, "roles": roles }),
    )
}

#[utoipa::path(post, path = "/api/admin2/logout", tag = "admin-auth", security(("bearer" = [])),
    responses((status = 200, description = "The token is revoked on every instance", body = crate::openapi::Done)))]
pub async fn admin_logout(state: web::Data<AppState>, admin: CurrentAdmin) -> ApiResult {
    service::revoke(&state, &admin.0).await?;
    ok_msg("退出成功")
}

#[utoipa::path(put, path = "/api/admin2/profile", tag = "admin-auth", security(("bearer" = [])), request_body = UpdateOwnProfileRequest,
    responses((status = 200, description = "Updated", body = crate::openapi::Done)))]
pub async fn admin_update_profile(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    ValidatedJson(body): ValidatedJson<UpdateOwnProfileRequest>,
) -> ApiResult {
    let non_empty = |s: String| {
        let t = s.trim().to_owned();
        (!t.is_empty()).then_some(t)
    };
    let change = admins::AdminProfileChange {
        real_name: non_empty(body.real_name),
        email: normalize_email(&body.email)?,
        phone: non_empty(body.phone),
        avatar: non_empty(body.avatar),
    };
    admins::update_own_profile(&state.db, admin.0.id, change).await?;
    ok_msg("更新成功")
}

#[utoipa::path(post, path = "/api/admin2/password", tag = "admin-auth", request_body = AdminPasswordRequest, security(("bearer" = [])),
    responses((status = 200, description = "Changed; earlier tokens are void", body = crate::openapi::Done), (status = 400, description = "Wrong old password")))]
pub async fn admin_change_password(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    ValidatedJson(body): ValidatedJson<AdminPasswordRequest>,
) -> ApiResult {
    service::change_admin_password(&state, &admin.0, &body.old_password, &body.new_password)
        .await?;
    ok_msg("修改成功")
}
