//! The probes on every port: `GET /livez` (the process answers; no I/O), `GET /readyz` (the database
//! and, when configured, Redis answer, and the background tasks run) and `GET /health` (the original
//! clients' status body). `/health` reuses its dependency check for `server.health_cache_ms`, so a load
//! balancer polling it does not cost a database round trip per request. The background tasks' states
//! come from the supervisor (`crate::supervisor`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::supervisor::TaskStatus;

use crate::state::AppState;

/// Probe state shared by the ports: the cached `/health` check.
#[derive(Default)]
pub struct Probes {
    last: Mutex<Option<(Instant, Dependencies)>>,
}

impl Probes {
    fn cached(&self, ttl: Duration) -> Option<Dependencies> {
        let last = self.last.lock().ok()?;
        last.filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, deps)| deps)
    }

    fn remember(&self, deps: Dependencies) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), deps));
        }
    }
}

#[derive(Clone, Copy)]
struct Dependencies {
    database: bool,
    /// `None` when Redis is not configured.
    redis: Option<bool>,
}

impl Dependencies {
    async fn check(state: &AppState) -> Self {
        Self {
            database: crate::db::ping(&state.db).await,
            redis: state.infra.redis_healthy().await,
        }
    }

    fn up(self) -> bool {
        self.database && self.redis != Some(false)
    }

    fn database(self) -> &'static str {
        if self.database {
            "connected"
        } else {
            "disconnected"
        }
    }

    fn redis(self) -> &'static str {
        match self.redis {
            None => "not_configured",
            Some(true) => "connected",
            Some(false) => "disconnected",
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `degraded`.
    status: &'static str,
    /// `connected` or `disconnected`.
    database: &'static str,
    /// `connected`, `disconnected` or `not_configured` (in-memory stand-ins).
    redis: &'static str,
    version: &'static str,
    /// Whether the payment sandbox is on (payments confirmed without real money): never in production.
    payment_sandbox: bool,
    /// Every background task (listeners, outbox, watchdogs) by name; one that is down says why.
    tasks: BTreeMap<String, TaskStatus>,
}

#[derive(Serialize, ToSchema)]
pub struct Live {
    /// Always `ok`.
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// `ready` or `not_ready`.
    status: &'static str,
    /// `connected` or `disconnected`.
    database: &'static str,
    /// `connected`, `disconnected` or `not_configured`.
    redis: &'static str,
    /// Background tasks that are not running.
    stopped_tasks: Vec<String>,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/livez", web::get().to(livez))
        .route("/readyz", web::get().to(readyz));
}

#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "All dependencies answer", body = Health),
        (status = 503, description = "A dependency is down", body = Health)))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let ttl = Duration::from_millis(state.settings.server.health_cache_ms);
    let deps = match state.probes.cached(ttl) {
        Some(deps) => deps,
        None => {
            let deps = Dependencies::check(&state).await;
            state.probes.remember(deps);
            deps
        }
    };
    let tasks = state.tasks.statuses();
    let healthy = deps.up() && tasks.values().all(|t| t.up);
    let body = Health {
        status: if healthy { "ok" } else { "degraded" },
        database: deps.database(),
        redis: deps.redis(),
        version: env!("CARGO_PKG_VERSION"),
        payment_sandbox: state.settings.payments.sandbox_enabled,
        tasks,
    };
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[utoipa::path(get, path = "/livez", tag = "health",
    responses((status = 200, description = "The process answers", body = Live)))]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(Live { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready for traffic", body = Ready),
        (status = 503, description = "A dependency is down or a background task stopped", body = Ready)))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let deps = Dependencies::check(&state).await;
    let stopped_tasks: Vec<String> = state
        .tasks
        .statuses()
        .into_iter()
        .filter(|(_, task)| !task.up)
        .map(|(name, _)| name)
        .collect();
    let ready = deps.up() && stopped_tasks.is_empty();
    let body = Ready {
        status: if ready { "ready" } else { "not_ready" },
        database: deps.database(),
        redis: deps.redis(),
        stopped_tasks,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
