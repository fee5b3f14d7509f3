//! `GET /health` on every port: the database, Redis and the outbox backlog, and whether the payment
//! sandbox is on.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::state::AppState;

#[derive(Serialize)]
struct Health {
    /// `ok` or `degraded`.
    status: &'static str,
    /// `connected` or `disconnected`.
    database: &'static str,
    /// `connected`, `disconnected` or `not_configured` (in-memory stand-ins).
    redis: &'static str,
    version: &'static str,
    /// Whether the payment sandbox is on (payments confirmed without real money): never in production.
    payment_sandbox: bool,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health));
}

#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "All dependencies answer"), (status = 503, description = "A dependency is down")))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let database_up = crate::db::ping(&state.db).await;
    let redis = state.infra.redis_healthy().await;
    let healthy = database_up && redis != Some(false);
    let body = Health {
        status: if healthy { "ok" } else { "degraded" },
        database: if database_up {
            "connected"
        } else {
            "disconnected"
        },
        redis: match redis {
            None => "not_configured",
            Some(true) => "connected",
            Some(false) => "disconnected",
        },
        version: env!("CARGO_PKG_VERSION"),
        payment_sandbox: state.settings.payments.sandbox_enabled,
    };
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
