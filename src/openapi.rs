//! The OpenAPI documents of the two REST APIs, served with Swagger UI (vendored, so it works offline)
//! at `/swagger/` on each port.

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::modules::{
    auth, counselors, files, health, lowcode, notifications, orders, payments, rbac, stats, system,
    users,
};

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
    ),
    components(schemas(auth::dto::RegisterRequest, auth::dto::LoginRequest, auth::dto::RefreshRequest, auth::dto::LoginResponse, auth::dto::LoginUser,
        orders::dto::CreateOrderRequest, orders::dto::UpdateStatusRequest,
        payments::dto::CreatePaymentRequest, payments::dto::RechargeRequest, payments::dto::RefundRequest)),
    modifiers(&BearerAuth)
)]
pub struct UserApiDoc;

#[derive(OpenApi)]
#[openapi(
    info(title = "MyChat admin API", description = "Port 8081. Admin tokens only; every route but login is checked by RBAC."),
    paths(
        health::health,
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
    ),
    components(schemas(auth::dto::LoginRequest, auth::dto::AdminPasswordRequest, orders::dto::UpdateStatusRequest, lowcode::dto::FormView, lowcode::dto::PageView, lowcode::dto::FormDataView)),
    modifiers(&BearerAuth)
)]
pub struct AdminApiDoc;

async fn redirect_to_swagger() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/swagger/"))
        .finish()
}

/// Mounts `/swagger/` and `/api-docs/openapi.json` for one document.
pub fn swagger(doc: utoipa::openapi::OpenApi) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.route("/swagger", web::get().to(redirect_to_swagger))
            .service(SwaggerUi::new("/swagger/{_:.*}").url("/api-docs/openapi.json", doc));
    }
}
