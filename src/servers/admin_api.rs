//! Port 8081: the admin API, and the console when `server.static_dir_admin` is set. Everything under
//! `/api` except login needs an admin token; `/metrics` needs `server.metrics_token` and is off without
//! one.

use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use prometheus::{Encoder, TextEncoder};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use utoipa::OpenApi;

use crate::error::AppError;

use crate::modules::{
    auth, chat, counselors, files, finance, health, lowcode, orders, privacy, rbac, stats, system,
    users,
};
use crate::openapi::{self, AdminApiDoc};
use crate::servers::spa::Spa;
use crate::state::AppState;

pub fn routes(state: &AppState) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    let uploads = state.settings.uploads_dir();
    let metrics_token = state
        .settings
        .server
        .metrics_token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .filter(|t| !t.is_empty())
        .map(|t| MetricsToken(Sha256::digest(t.as_bytes()).into()));
    let console = web_app(state);
    move |cfg| {
        if let Some(token) = metrics_token {
            cfg.app_data(web::Data::new(token))
                .route("/metrics", web::get().to(serve_metrics));
        }
        cfg.configure(health::routes)
            .configure(openapi::swagger(AdminApiDoc::openapi()))
            .configure(files::uploads_routes(uploads))
            .configure(auth::admin_public_routes)
            .configure(counselors::admin_public_routes)
            .route("/api/test", web::get().to(backend_alive));
        // Before the authenticated scope below, which would otherwise answer the console's pages 401.
        if let Some(console) = console {
            console.mount(cfg);
        }
        cfg.service(
            // Middleware runs bottom-up: find the route (404/405 before any token is asked for),
            // authenticate, audit mutations, then check the route's permission.
            web::scope("")
                .wrap(from_fn(rbac::require_permission))
                .wrap(from_fn(system::record_mutations))
                .wrap(from_fn(auth::require_admin))
                .wrap(from_fn(rbac::guard::resolve_route))
                .configure(protected_routes),
        );
    }
}

/// The handlers behind an admin token, each listed in [`rbac::guard::ROUTES`].
pub fn protected_routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(auth::admin_account_routes)
        .configure(counselors::admin_routes)
        .configure(orders::admin_routes)
        .configure(chat::admin_routes)
        .configure(finance::admin::admin_routes)
        .configure(rbac::admin_routes)
        .configure(system::admin_routes)
        .configure(users::admin_routes::admin_routes)
        .configure(stats::admin_routes)
        .configure(files::admin_routes::admin_routes)
        .configure(privacy::admin_routes)
        .configure(lowcode::admin_routes);
}

/// The console's "is the backend up" probe; no envelope, as the original.
async fn backend_alive() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "msg": "后端正常运行" }))
}

/// The SHA-256 of `server.metrics_token`: comparing digests keeps the comparison's time independent of
/// how much of the token a guess got right.
#[derive(Clone)]
struct MetricsToken([u8; 32]);

/// Prometheus text for a scraper presenting the metrics token as a bearer token.
async fn serve_metrics(
    req: HttpRequest,
    token: web::Data<MetricsToken>,
    registry: web::Data<prometheus::Registry>,
) -> Result<HttpResponse, AppError> {
    let presented = auth::bearer_token(&req)?;
    if <[u8; 32]>::from(Sha256::digest(presented.as_bytes())) != token.0 {
        return Err(AppError::unauthorized("token无效"));
    }
    let mut body = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut body)
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(body))
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
