//! Port 8081: the admin API, and the console when `server.static_dir_admin` is set. Everything under
//! `/api` except login needs an admin token.

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use utoipa::OpenApi;

use crate::modules::{
    auth, chat, counselors, files, finance, health, lowcode, orders, rbac, stats, system, users,
};
use crate::openapi::{self, AdminApiDoc};
use crate::servers::spa::Spa;
use crate::state::AppState;

pub fn routes(state: &AppState) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    let uploads = state.settings.uploads_dir();
    let console = web_app(state);
    move |cfg| {
        cfg.configure(health::routes)
            .configure(openapi::swagger(AdminApiDoc::openapi()))
            .configure(files::uploads_routes(uploads))
            .configure(auth::admin_public_routes)
            .configure(counselors::admin_public_routes)
            .route("/api/test", web::get().to(backend_alive))
            // The metrics middleware fills this route's body; it only needs to be routable.
            .route("/metrics", web::get().to(HttpResponse::Ok));
        // Before the authenticated scope below, which would otherwise answer the console's pages 401.
        if let Some(console) = console {
            console.mount(cfg);
        }
        cfg.service(
            // Middleware runs bottom-up: authenticate, audit mutations, then check the permission.
            web::scope("")
                .wrap(from_fn(rbac::require_permission))
                .wrap(from_fn(system::record_mutations))
                .wrap(from_fn(auth::require_admin))
                .configure(auth::admin_account_routes)
                .configure(counselors::admin_routes)
                .configure(orders::admin_routes)
                .configure(chat::admin_routes)
                .configure(finance::admin::admin_routes)
                .configure(rbac::admin_routes)
                .configure(system::admin_routes)
                .configure(users::admin_routes::admin_routes)
                .configure(stats::admin_routes)
                .configure(files::admin_routes::admin_routes)
                .configure(lowcode::admin_routes),
        );
    }
}

/// The console's "is the backend up" probe; no envelope, as the original.
async fn backend_alive() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "msg": "后端正常运行" }))
}

/// The console, if configured (see [`super::user_api::web_app`]).
pub fn web_app(state: &AppState) -> Option<std::sync::Arc<Spa>> {
    Spa::open(
        "server.static_dir_admin",
        &state.settings.server.static_dir_admin,
    )
    .ok()
    .flatten()
}
