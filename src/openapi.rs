//! The OpenAPI documents of the three ports, served with Swagger UI (vendored, so it works offline) at
//! `/swagger/` and `/api-docs/openapi.json` on each port, and the AsyncAPI document of the WebSocket
//! protocol at `/asyncapi.json` on the WebSocket and user ports.
//!
//! Every operation answers the envelope: [`Envelope`] (or [`Done`] without `data`) on success and
//! [`ErrorEnvelope`] for each status in [`ERROR_STATUSES`], which [`ErrorResponses`] adds to every
//! operation. A handler mounted on several paths is documented once and copied to the others by
//! [`ALIASES`]. `tests/api/openapi.rs` fails when a mounted route is missing from its port's document or
//! a documented one is not mounted.

use actix_web::{HttpResponse, web};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

pub mod shapes;

use crate::modules::{
    auth, chat, counselors, files, finance, health, lowcode, notifications, orders, payments,
    privacy, rbac, stats, system, users,
};

/// The success envelope: `data` is typed per operation. `code` equals the HTTP status.
#[derive(ToSchema)]
pub struct Envelope<T> {
    #[schema(example = 200)]
    pub code: u16,
    pub msg: String,
    pub data: T,
}

/// A success without `data` (updates, deletions).
#[derive(ToSchema)]
pub struct Done {
    #[schema(example = 200)]
    pub code: u16,
    pub msg: String,
}

/// Every error: `code` equals the HTTP status, `error` is a stable snake_case code (see `AppError::code`),
/// `msg` the text the clients show.
#[derive(ToSchema)]
pub struct ErrorEnvelope {
    pub code: u16,
    pub msg: String,
    #[schema(example = "invalid_input")]
    pub error: String,
}

/// The statuses any operation may answer with the error envelope: bad input, no or bad token, no
/// permission, not found (also the generic "接口不存在"), conflict, body too large, rate limited, and a
/// dependency down.
pub const ERROR_STATUSES: [(u16, &str); 8] = [
    (400, "Bad request or invalid input"),
    (
        401,
        "Missing, invalid, expired or revoked token, or wrong credentials",
    ),
    (403, "Not allowed"),
    (404, "No such resource"),
    (409, "Conflict with the current state"),
    (413, "Body too large"),
    (429, "Too many requests"),
    (503, "A dependency is unavailable"),
];

/// Adds the error envelope for every status of [`ERROR_STATUSES`] that an operation does not document
/// itself.
pub struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (status, description) in ERROR_STATUSES {
            components.responses.insert(
                format!("Error{status}"),
                RefOr::T(
                    ResponseBuilder::new()
                        .description(description)
                        .content("application/json", error_content())
                        .build(),
                ),
            );
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                for (status, _) in ERROR_STATUSES {
                    let response = operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| {
                            RefOr::Ref(Ref::from_response_name(format!("Error{status}")))
                        });
                    // A status the operation describes itself, without a body, answers the envelope.
                    if let RefOr::T(response) = response
                        && response.content.is_empty()
                    {
                        response
                            .content
                            .insert("application/json".to_owned(), RefOr::T(error_content()));
                    }
                }
            }
        }
    }
}

fn error_content() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
        .build()
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

fn operation_mut<'a>(item: &'a mut PathItem, method: &str) -> Option<&'a mut Option<Operation>> {
    match method {
        "get" => Some(&mut item.get),
        "put" => Some(&mut item.put),
        "post" => Some(&mut item.post),
        "delete" => Some(&mut item.delete),
        "patch" => Some(&mut item.patch),
        _ => None,
    }
}

/// `(method, documented path, alias method, alias path)`: one handler mounted on more than one route (the
/// design's path and the client's, or a second method). A document gets the alias when it has the
/// documented operation.
pub const ALIASES: &[(&str, &str, &str, &str)] = &[
    (
        "post",
        "/api/chat/start/{order_id}",
        "post",
        "/api/chat/session/{order_id}/start",
    ),
    (
        "get",
        "/api/chat/messages/{session_id}",
        "get",
        "/api/chat/session/{session_id}/messages",
    ),
    (
        "post",
        "/api/chat/end/{session_id}",
        "post",
        "/api/chat/session/{session_id}/end",
    ),
    ("get", "/api/admin2/info", "get", "/api/admin/user/info"),
    ("get", "/api/admin2/info", "get", "/api/admin/profile"),
    ("post", "/api/admin2/logout", "post", "/api/admin/logout"),
    ("put", "/api/admin2/profile", "put", "/api/admin/profile"),
    (
        "post",
        "/api/admin2/password",
        "post",
        "/api/admin/user/password",
    ),
    (
        "put",
        "/api/admin/counselor/applications/{id}/review",
        "post",
        "/api/admin/counselor/applications/{id}/review",
    ),
    (
        "post",
        "/api/admin/lowcode/forms/{id}/submit",
        "post",
        "/api/admin/lowcode/forms/{id}/data",
    ),
    (
        "put",
        "/api/admin/roles/{id}/permissions",
        "post",
        "/api/admin/roles/{id}/permissions",
    ),
    (
        "post",
        "/api/admin/upload/image",
        "post",
        "/api/admin/upload",
    ),
    (
        "get",
        "/api/admin/statistics",
        "get",
        "/api/admin/dashboard/statistics",
    ),
    (
        "get",
        "/api/admin/online/users",
        "get",
        "/admin/online/users",
    ),
    (
        "get",
        "/api/admin/online/users/detailed",
        "get",
        "/admin/online/users/detailed",
    ),
    (
        "get",
        "/api/admin/online/statistics",
        "get",
        "/admin/online/statistics",
    ),
    (
        "post",
        "/api/admin/online/users/{user_id}/kick",
        "post",
        "/admin/online/users/{user_id}/kick",
    ),
    (
        "post",
        "/api/admin/online/mute",
        "post",
        "/admin/online/mute",
    ),
    (
        "post",
        "/api/admin/online/users/{user_id}/message",
        "post",
        "/admin/online/users/{user_id}/message",
    ),
    ("post", "/api/admin/broadcast", "post", "/admin/broadcast"),
];

/// Copies each operation of [`ALIASES`] to its alias route, with an operation id of its own.
pub struct Aliases;

impl Modify for Aliases {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for &(method, path, alias_method, alias_path) in ALIASES {
            let Some(mut operation) = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| operation_mut(item, method))
                .and_then(|slot| slot.clone())
            else {
                continue;
            };
            let suffix: String = alias_path
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            operation.operation_id = Some(format!(
                "{}_{alias_method}{suffix}",
                operation.operation_id.as_deref().unwrap_or(path)
            ));
            let item = openapi
                .paths
                .paths
                .entry(alias_path.to_owned())
                .or_default();
            if let Some(slot) = operation_mut(item, alias_method) {
                *slot = Some(operation);
            }
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "MyChat user API", description = "Port 8080. Every response is the envelope {code,msg,data}; HTTP status = code."),
    paths(
        health::health,
        health::livez,
        health::readyz,
        auth::routes::register,
        auth::routes::login,
        auth::routes::refresh,
        auth::routes::logout,
        users::routes::user_info,
        users::routes::update_profile,
        users::routes::change_password,
        users::routes::upload_avatar,
        counselors::routes::list_public,
        counselors::routes::counselor_detail,
        counselors::routes::counselor_reviews,
        counselors::routes::create_review,
        counselors::routes::submit_application,
        counselors::routes::my_application,
        counselors::routes::upload_certificate,
        counselors::routes::legacy_list_applications,
        counselors::routes::legacy_review_application,
        files::routes::upload,
        files::routes::get_file,
        files::routes::delete_file,
        notifications::routes::list,
        notifications::routes::read,
        notifications::routes::read_all,
        notifications::routes::delete,
        orders::routes::create_order,
        orders::routes::get_order,
        orders::routes::list_my_orders,
        orders::routes::list_counselor_orders,
        orders::routes::update_status,
        orders::routes::cancel_order,
        orders::routes::validate_order,
        orders::routes::order_timeline,
        payments::routes::create_payment,
        payments::routes::get_payment,
        payments::routes::list_payments,
        payments::routes::refund_payment,
        payments::routes::wechat_callback,
        payments::routes::alipay_callback,
        payments::routes::sandbox_callback,
        payments::routes::sandbox_checkout,
        payments::routes::sandbox_pay,
        payments::routes::recharge,
        payments::routes::transactions,
        chat::routes::start,
        chat::routes::session_of_order,
        chat::routes::send,
        chat::routes::messages,
        chat::routes::read,
        chat::routes::end,
        chat::routes::sessions,
        chat::routes::my_billings,
        chat::routes::counselor_billings,
        chat::routes::counselor_account,
        chat::routes::request_withdraw,
        chat::routes::my_withdraws,
        privacy::routes::export,
        privacy::routes::delete_account,
        uploaded_file,
    ),
    components(schemas(ErrorEnvelope, auth::dto::RegisterRequest, auth::dto::LoginRequest, auth::dto::RefreshRequest, auth::dto::LoginResponse, auth::dto::LoginUser,
        orders::dto::CreateOrderRequest, orders::dto::UpdateStatusRequest,
        payments::dto::CreatePaymentRequest, payments::dto::RechargeRequest, payments::dto::RefundRequest)),
    modifiers(&BearerAuth, &Aliases, &ErrorResponses)
)]
pub struct UserApiDoc;

#[derive(OpenApi)]
#[openapi(
    info(title = "MyChat admin API", description = "Port 8081. Admin tokens only; every route but login is checked by RBAC."),
    paths(
        health::health,
        health::livez,
        health::readyz,
        auth::routes::admin_login,
        auth::routes::admin_login_legacy,
        auth::routes::admin_info,
        auth::routes::admin_permission_codes,
        auth::routes::admin_permission_rows,
        auth::routes::admin_logout,
        auth::routes::admin_update_profile,
        auth::routes::admin_change_password,
        counselors::routes::list_public,
        counselors::routes::counselor_detail,
        counselors::routes::admin_list,
        counselors::routes::admin_detail,
        counselors::routes::admin_create,
        counselors::routes::admin_update,
        counselors::routes::admin_delete,
        counselors::routes::admin_list_applications,
        counselors::routes::admin_application_detail,
        counselors::routes::admin_review_application,
        orders::routes::admin_list_orders,
        orders::routes::admin_statistics,
        orders::routes::admin_update_status,
        rbac::routes::list_admins,
        rbac::routes::get_admin,
        rbac::routes::create_admin,
        rbac::routes::update_admin,
        rbac::routes::delete_admin,
        rbac::routes::reset_admin_password,
        rbac::routes::set_admin_status,
        rbac::routes::list_roles,
        rbac::routes::get_role,
        rbac::routes::create_role,
        rbac::routes::update_role,
        rbac::routes::delete_role,
        rbac::routes::role_permissions,
        rbac::routes::assign_permissions,
        rbac::routes::role_users,
        rbac::routes::list_permissions,
        rbac::routes::permission_tree,
        rbac::routes::get_permission,
        rbac::routes::create_permission,
        rbac::routes::update_permission,
        rbac::routes::delete_permission,
        rbac::routes::list_menus,
        rbac::routes::menu_tree,
        rbac::routes::get_menu,
        rbac::routes::create_menu,
        rbac::routes::update_menu,
        rbac::routes::delete_menu,
        users::admin_routes::list_users,
        users::admin_routes::get_user,
        users::admin_routes::create_user,
        users::admin_routes::update_user,
        users::admin_routes::delete_user,
        users::admin_routes::reset_password,
        system::routes::list_logs,
        system::routes::list_configs,
        system::routes::get_config,
        system::routes::create_config,
        system::routes::update_config,
        system::routes::delete_config,
        system::routes::batch_save,
        stats::routes::statistics,
        stats::routes::ranking,
        stats::routes::order_trend,
        files::admin_routes::upload_image,
        files::admin_routes::upload_file,
        lowcode::routes::list_forms,
        lowcode::routes::save_form,
        lowcode::routes::get_form,
        lowcode::routes::update_form,
        lowcode::routes::delete_form,
        lowcode::routes::list_data,
        lowcode::routes::submit,
        lowcode::routes::delete_data,
        lowcode::routes::list_pages,
        lowcode::routes::save_page,
        lowcode::routes::get_page,
        lowcode::routes::update_page,
        lowcode::routes::delete_page,
        lowcode::routes::preview_page,
        chat::admin::list_sessions,
        chat::admin::session_messages,
        chat::admin::statistics,
        chat::admin::search_messages,
        chat::admin::delete_session,
        chat::admin::session_stats,
        chat::admin::online_users,
        chat::admin::online_users_detailed,
        chat::admin::online_statistics,
        chat::admin::kick,
        chat::admin::mute,
        chat::admin::message_user,
        chat::admin::broadcast,
        finance::admin::list_withdraws,
        finance::admin::pending_withdraws,
        finance::admin::approve,
        finance::admin::transfer,
        finance::admin::stats,
        finance::admin::revenue,
        finance::admin::reports,
        finance::admin::accounts,
        finance::admin::account_detail,
        privacy::routes::retention_status,
        privacy::routes::retention_purge,
        backend_alive,
        metrics,
        uploaded_file,
    ),
    components(schemas(ErrorEnvelope, auth::dto::LoginRequest, auth::dto::AdminPasswordRequest, orders::dto::UpdateStatusRequest, lowcode::dto::FormView, lowcode::dto::PageView, lowcode::dto::FormDataView)),
    modifiers(&BearerAuth, &Aliases, &ErrorResponses)
)]
pub struct AdminApiDoc;

#[derive(OpenApi)]
#[openapi(
    info(title = "MyChat WebSocket server", description = "Port 8082. The frames exchanged after the upgrade are in the AsyncAPI document at /asyncapi.json."),
    paths(health::health, health::livez, health::readyz, ws_generic, ws_chat, ws_counselor, ws_stats),
    components(schemas(ErrorEnvelope)),
    modifiers(&BearerAuth, &ErrorResponses)
)]
pub struct WsApiDoc;

/// Documentation of routes whose handlers live outside the modules' route files (the servers' own
/// routes, static uploads, and the WebSocket upgrades, whose frames are in the AsyncAPI document).
#[allow(dead_code)]
/// `{"error": msg}`: the WebSocket port's refusals before the upgrade, as the original sends them.
#[derive(ToSchema)]
pub struct UpgradeRefusal {
    pub error: String,
}

/// `{"msg": "后端正常运行"}`, without the envelope, as the original.
#[derive(ToSchema)]
pub struct BackendAlive {
    pub msg: String,
}

#[utoipa::path(get, path = "/api/test", tag = "health",
    responses((status = 200, description = "The console's is-the-backend-up probe", body = BackendAlive)))]
pub fn backend_alive() {}

#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition of all three ports", content_type = "text/plain", body = String)))]
pub fn metrics() {}

#[utoipa::path(get, path = "/uploads/{path}", tag = "file",
    params(("path" = String, Path, description = "The stored file's path under the uploads directory")),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream", body = Vec<u8>)))]
pub fn uploaded_file() {}

const WS_UPGRADE: &str = "A WebSocket upgrade (GET with `Connection: Upgrade`, `Upgrade: websocket`); the frames are in /asyncapi.json. A request without the upgrade headers is answered 400 `{\"error\"}`.";

#[utoipa::path(get, path = "/ws", tag = "websocket", description = WS_UPGRADE,
    params(("token" = String, Query, description = "The user's access token")),
    responses((status = 101, description = "Upgraded"), (status = 400, description = "Not an upgrade", body = UpgradeRefusal),
        (status = 401, description = "缺少token or token无效", body = UpgradeRefusal)))]
pub fn ws_generic() {}

#[utoipa::path(get, path = "/ws/chat/{session_id}", tag = "websocket", description = WS_UPGRADE,
    params(("session_id" = i64, Path), ("token" = String, Query, description = "The user's access token")),
    responses((status = 101, description = "Upgraded, joined to the session"), (status = 400, description = "Not an upgrade", body = UpgradeRefusal),
        (status = 401, description = "缺少token or token无效", body = UpgradeRefusal), (status = 403, description = "Not a party of the session", body = UpgradeRefusal),
        (status = 404, description = "No such session", body = UpgradeRefusal)))]
pub fn ws_chat() {}

#[utoipa::path(get, path = "/ws/counselor/{counselor_id}", tag = "websocket", description = WS_UPGRADE,
    params(("counselor_id" = i64, Path), ("token" = String, Query, description = "The counselor's user token")),
    responses((status = 101, description = "Upgraded; a `connected` frame follows"), (status = 400, description = "Not an upgrade or 无效的咨询师ID", body = UpgradeRefusal),
        (status = 401, description = "缺少token or token无效", body = UpgradeRefusal), (status = 403, description = "无权访问", body = UpgradeRefusal)))]
pub fn ws_counselor() {}

#[utoipa::path(get, path = "/ws/stats", tag = "websocket", security(("bearer" = [])),
    responses((status = 200, description = "The active sessions' totals", body = Envelope<shapes::ActiveSessionTotals>)))]
pub fn ws_stats() {}

async fn redirect_to_swagger() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/swagger/"))
        .finish()
}

/// The AsyncAPI 3 document of the WebSocket protocol: every frame in both directions.
pub const ASYNCAPI: &str = include_str!("openapi/asyncapi.json");

async fn asyncapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(ASYNCAPI)
}

/// Mounts `/asyncapi.json`.
pub fn asyncapi_route(cfg: &mut web::ServiceConfig) {
    cfg.route("/asyncapi.json", web::get().to(asyncapi));
}

/// Mounts `/swagger/` and `/api-docs/openapi.json` for one document.
pub fn swagger(doc: utoipa::openapi::OpenApi) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.route("/swagger", web::get().to(redirect_to_swagger))
            .service(SwaggerUi::new("/swagger/{_:.*}").url("/api-docs/openapi.json", doc));
    }
}
