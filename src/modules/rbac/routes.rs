//! Console routes for administrators, roles, permissions and menus. Every one is covered by the
//! permission table in [`super::guard`].

use actix_web::{HttpRequest, web};
use serde::Deserialize;
use serde_json::json;

use super::dto::{
    AssignPermissionsRequest, CreateAdminRequest, MenuRequest, PermissionRequest,
    ResetPasswordRequest, RoleRequest, StatusRequest, UpdateAdminRequest,
};
use super::service::{
    self, MSG_ADMIN_NOT_FOUND, MSG_MENU_NOT_FOUND, MSG_PERMISSION_NOT_FOUND, MSG_ROLE_NOT_FOUND,
};
use crate::error::AppError;
use crate::http::{Pagination, ValidatedJson, parse_id};
use crate::modules::auth::CurrentAdmin;
use crate::modules::users::service::normalize_email;
use crate::response::{ApiResult, ok, ok_msg};
use crate::state::AppState;

pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin2/administrators", web::get().to(list_admins))
        .route("/api/admin2/administrators", web::post().to(create_admin))
        .route("/api/admin2/administrators/{id}", web::get().to(get_admin))
        .route(
            "/api/admin2/administrators/{id}",
            web::put().to(update_admin),
        )
        .route(
            "/api/admin2/administrators/{id}",
            web::delete().to(delete_admin),
        )
        .route(
            "/api/admin2/administrators/{id}/password",
            web::post().to(reset_admin_password),
        )
        .route(
            "/api/admin2/administrators/{id}/status",
            web::put().to(set_admin_status),
        )
        .route("/api/admin/roles", web::get().to(list_roles))
        .route("/api/admin/roles", web::post().to(create_role))
        .route("/api/admin/roles/{id}", web::get().to(get_role))
        .route("/api/admin/roles/{id}", web::put().to(update_role))
        .route("/api/admin/roles/{id}", web::delete().to(delete_role))
        .route(
            "/api/admin/roles/{id}/permissions",
            web::get().to(role_permissions),
        )
        .route(
            "/api/admin/roles/{id}/permissions",
            web::put().to(assign_permissions),
        )
        .route(
            "/api/admin/roles/{id}/permissions",
            web::post().to(assign_permissions),
        )
        .route("/api/admin/roles/{id}/users", web::get().to(role_users))
        .route("/api/admin/permissions", web::get().to(list_permissions))
        .route("/api/admin/permissions", web::post().to(create_permission))
        .route(
            "/api/admin/permissions/tree",
            web::get().to(permission_tree),
        )
        .route("/api/admin/permissions/{id}", web::get().to(get_permission))
        .route(
            "/api/admin/permissions/{id}",
            web::put().to(update_permission),
        )
        .route(
            "/api/admin/permissions/{id}",
            web::delete().to(delete_permission),
        )
        .route("/api/admin/menus", web::get().to(list_menus))
        .route("/api/admin/menus", web::post().to(create_menu))
        .route("/api/admin/menus/tree", web::get().to(menu_tree))
        .route("/api/admin/menus/{id}", web::get().to(get_menu))
        .route("/api/admin/menus/{id}", web::put().to(update_menu))
        .route("/api/admin/menus/{id}", web::delete().to(delete_menu));
}

/// Optional query filters; a non-numeric `status` is a 400, an empty one means "all".
#[derive(Deserialize, Default)]
pub struct ListFilter {
    pub keyword: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
}

impl ListFilter {
    pub fn status(&self) -> Result<Option<i32>, AppError> {
        match self.status.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse::<i32>()
                .map(Some)
                .map_err(|_| AppError::invalid_input("参数错误: status: 必须是整数")),
        }
    }
}

fn filter(req: &HttpRequest) -> Result<ListFilter, AppError> {
    web::Query::<ListFilter>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|e| AppError::invalid_input(format!("参数错误: {e}")))
}

// --- administrators -----------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/admin2/administrators", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: {administrators, total}`")))]
pub async fn list_admins(
    state: web::Data<AppState>,
    req: HttpRequest,
    page: Pagination,
) -> ApiResult {
    let f = filter(&req)?;
    let (list, total) =
        service::list_admins(&state.db, f.keyword.as_deref(), f.status()?, &page).await?;
    ok(
        "获取成功",
        json!({ "administrators": list, "list": list, "total": total }),
    )
}

#[utoipa::path(get, path = "/api/admin2/administrators/{id}", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: Administrator`"), (status = 404, description = "管理员不存在")))]
pub async fn get_admin(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_ADMIN_NOT_FOUND)?;
    let admin = service::get_admin(&state.db, id).await?;
    ok("获取成功", service::admin_view(&state.db, &admin).await?)
}

#[utoipa::path(post, path = "/api/admin2/administrators", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: Administrator`"), (status = 409, description = "Username or email taken")))]
pub async fn create_admin(
    state: web::Data<AppState>,
    caller: CurrentAdmin,
    ValidatedJson(body): ValidatedJson<CreateAdminRequest>,
) -> ApiResult {
    let hash = state.passwords.hash(&body.password).await?;
    let new = service::NewAdmin {
        username: body.username.trim().to_owned(),
        password_hash: hash,
        real_name: body.real_name.trim().to_owned(),
        email: normalize_email(&body.email)?,
        phone: body.phone.trim().to_owned(),
        avatar: body.avatar,
        role: body.role,
        role_ids: body.role_ids,
        status: body.status,
    };
    ok(
        "创建成功",
        service::create_admin(&state, caller.0.id, new).await?,
    )
}

#[utoipa::path(put, path = "/api/admin2/administrators/{id}", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "Updated"), (status = 400, description = "Self, last super admin")))]
pub async fn update_admin(
    state: web::Data<AppState>,
    caller: CurrentAdmin,
    id: web::Path<String>,
    ValidatedJson(body): ValidatedJson<UpdateAdminRequest>,
) -> ApiResult {
    let id = parse_id(&id, MSG_ADMIN_NOT_FOUND)?;
    let email = match body.email {
        Some(e) => Some(normalize_email(&e)?),
        None => None,
    };
    let change = service::AdminChange {
        username: body
            .username
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty()),
        real_name: body.real_name.map(|v| v.trim().to_owned()),
        email,
        phone: body.phone.map(|v| v.trim().to_owned()),
        avatar: body.avatar,
        role: body.role,
        role_ids: body.role_ids,
        status: body.status,
    };
    let view = service::update_admin(&state, caller.0.id, id, change).await?;
    ok("更新成功", view)
}

#[utoipa::path(delete, path = "/api/admin2/administrators/{id}", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "Deleted"), (status = 400, description = "Self, last super admin")))]
pub async fn delete_admin(
    state: web::Data<AppState>,
    caller: CurrentAdmin,
    id: web::Path<String>,
) -> ApiResult {
    let id = parse_id(&id, MSG_ADMIN_NOT_FOUND)?;
    service::delete_admin(&state, caller.0.id, id).await?;
    ok_msg("删除成功")
}

#[utoipa::path(post, path = "/api/admin2/administrators/{id}/password", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "Reset; the admin's tokens stop working")))]
pub async fn reset_admin_password(
    state: web::Data<AppState>,
    caller: CurrentAdmin,
    id: web::Path<String>,
    ValidatedJson(body): ValidatedJson<ResetPasswordRequest>,
) -> ApiResult {
    let id = parse_id(&id, MSG_ADMIN_NOT_FOUND)?;
    service::reset_admin_password(&state, caller.0.id, id, &body.password).await?;
    ok_msg("重置成功")
}

#[utoipa::path(put, path = "/api/admin2/administrators/{id}/status", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`{status: 0|1}` applied (0 is accepted)")))]
pub async fn set_admin_status(
    state: web::Data<AppState>,
    caller: CurrentAdmin,
    id: web::Path<String>,
    ValidatedJson(body): ValidatedJson<StatusRequest>,
) -> ApiResult {
    let id = parse_id(&id, MSG_ADMIN_NOT_FOUND)?;
    service::set_admin_status(&state, caller.0.id, id, body.status).await?;
    ok_msg("操作成功")
}

// --- roles --------------------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/admin/roles", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: {list, total}`")))]
pub async fn list_roles(
    state: web::Data<AppState>,
    req: HttpRequest,
    page: Pagination,
) -> ApiResult {
    let f = filter(&req)?;
    let (list, total) =
        service::list_roles(&state.db, f.name.as_deref(), f.status()?, &page).await?;
    ok("获取成功", json!({ "list": list, "total": total }))
}

#[utoipa::path(get, path = "/api/admin/roles/{id}", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: Role`")))]
pub async fn get_role(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_ROLE_NOT_FOUND)?;
    let role = service::get_role(&state.db, id).await?;
    ok("获取成功", service::role_view(&state.db, &role).await?)
}

#[utoipa::path(post, path = "/api/admin/roles", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: Role`"), (status = 409, description = "Name or code taken")))]
pub async fn create_role(
    state: web::Data<AppState>,
    ValidatedJson(body): ValidatedJson<RoleRequest>,
) -> ApiResult {
    ok("创建成功", service::create_role(&state, body).await?)
}

#[utoipa::path(put, path = "/api/admin/roles/{id}", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: Role`")))]
pub async fn update_role(
    state: web::Data<AppState>,
    id: web::Path<String>,
    ValidatedJson(body): ValidatedJson<RoleRequest>,
) -> ApiResult {
    let id = parse_id(&id, MSG_ROLE_NOT_FOUND)?;
    ok("更新成功", service::update_role(&state, id, body).await?)
}

#[utoipa::path(delete, path = "/api/admin/roles/{id}", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "Deleted with its links")))]
pub async fn delete_role(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_ROLE_NOT_FOUND)?;
    service::delete_role(&state, id).await?;
    ok_msg("删除成功")
}

#[utoipa::path(get, path = "/api/admin/roles/{id}/permissions", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: Permission[]` (flat)")))]
pub async fn role_permissions(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_ROLE_NOT_FOUND)?;
    ok("获取成功", service::role_permissions(&state.db, id).await?)
}

#[utoipa::path(put, path = "/api/admin/roles/{id}/permissions", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`{permission_ids}` replaces the set (POST is an alias)")))]
pub async fn assign_permissions(
    state: web::Data<AppState>,
    id: web::Path<String>,
    ValidatedJson(body): ValidatedJson<AssignPermissionsRequest>,
) -> ApiResult {
    let id = parse_id(&id, MSG_ROLE_NOT_FOUND)?;
    service::assign_permissions(&state, id, body.permission_ids).await?;
    ok_msg("分配成功")
}

#[utoipa::path(get, path = "/api/admin/roles/{id}/users", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: {list, total}`: administrators holding the role")))]
pub async fn role_users(
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> ApiResult {
    let id = parse_id(&id, MSG_ROLE_NOT_FOUND)?;
    let page = Pagination::from_query(req.query_string(), 10)?;
    let (list, total) = service::role_users(&state.db, id, &page).await?;
    ok("获取成功", json!({ "list": list, "total": total }))
}

// --- permissions ----------------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/admin/permissions", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: {list, total}`")))]
pub async fn list_permissions(
    state: web::Data<AppState>,
    req: HttpRequest,
    page: Pagination,
) -> ApiResult {
    let f = filter(&req)?;
    let (list, total) = service::list_permissions(&state.db, f.name.as_deref(), &page).await?;
    ok("获取成功", json!({ "list": list, "total": total }))
}

#[utoipa::path(get, path = "/api/admin/permissions/tree", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: Permission[]` as a tree")))]
pub async fn permission_tree(state: web::Data<AppState>) -> ApiResult {
    ok("获取成功", service::permission_tree(&state.db).await?)
}

#[utoipa::path(get, path = "/api/admin/permissions/{id}", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: Permission`")))]
pub async fn get_permission(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_PERMISSION_NOT_FOUND)?;
    let p = service::get_permission(&state.db, id).await?;
    ok("获取成功", super::dto::PermissionView::from(&p))
}

#[utoipa::path(post, path = "/api/admin/permissions", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: Permission`"), (status = 409, description = "Code taken")))]
pub async fn create_permission(
    state: web::Data<AppState>,
    ValidatedJson(body): ValidatedJson<PermissionRequest>,
) -> ApiResult {
    ok(
        "创建成功",
        service::save_permission(&state, None, body).await?,
    )
}

#[utoipa::path(put, path = "/api/admin/permissions/{id}", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: Permission`")))]
pub async fn update_permission(
    state: web::Data<AppState>,
    id: web::Path<String>,
    ValidatedJson(body): ValidatedJson<PermissionRequest>,
) -> ApiResult {
    let id = parse_id(&id, MSG_PERMISSION_NOT_FOUND)?;
    ok(
        "更新成功",
        service::save_permission(&state, Some(id), body).await?,
    )
}

#[utoipa::path(delete, path = "/api/admin/permissions/{id}", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "Deleted"), (status = 400, description = "Has children")))]
pub async fn delete_permission(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_PERMISSION_NOT_FOUND)?;
    service::delete_permission(&state, id).await?;
    ok_msg("删除成功")
}

// --- menus ----------------------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/admin/menus", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: {list: MenuNode tree, total}`")))]
pub async fn list_menus(state: web::Data<AppState>, req: HttpRequest) -> ApiResult {
    let f = filter(&req)?;
    let (list, total) = service::menu_tree(&state.db, f.name.as_deref()).await?;
    ok("获取成功", json!({ "list": list, "total": total }))
}

#[utoipa::path(get, path = "/api/admin/menus/tree", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: MenuNode[]`")))]
pub async fn menu_tree(state: web::Data<AppState>) -> ApiResult {
    let (list, _) = service::menu_tree(&state.db, None).await?;
    ok("获取成功", list)
}

#[utoipa::path(get, path = "/api/admin/menus/{id}", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: Menu`")))]
pub async fn get_menu(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_MENU_NOT_FOUND)?;
    let m = service::get_menu(&state.db, id).await?;
    ok("获取成功", super::dto::MenuView::from(&m))
}

#[utoipa::path(post, path = "/api/admin/menus", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: Menu`")))]
pub async fn create_menu(
    state: web::Data<AppState>,
    ValidatedJson(body): ValidatedJson<MenuRequest>,
) -> ApiResult {
    ok("创建成功", service::save_menu(&state.db, None, body).await?)
}

#[utoipa::path(put, path = "/api/admin/menus/{id}", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "`data: Menu`")))]
pub async fn update_menu(
    state: web::Data<AppState>,
    id: web::Path<String>,
    ValidatedJson(body): ValidatedJson<MenuRequest>,
) -> ApiResult {
    let id = parse_id(&id, MSG_MENU_NOT_FOUND)?;
    ok(
        "更新成功",
        service::save_menu(&state.db, Some(id), body).await?,
    )
}

#[utoipa::path(delete, path = "/api/admin/menus/{id}", tag = "admin-rbac", security(("bearer" = [])),
    responses((status = 200, description = "Deleted"), (status = 400, description = "Has children")))]
pub async fn delete_menu(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let id = parse_id(&id, MSG_MENU_NOT_FOUND)?;
    service::delete_menu(&state.db, id).await?;
    ok_msg("删除成功")
}
