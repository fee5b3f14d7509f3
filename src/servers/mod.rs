//! The three HTTP servers. Each file is the route map of one port; this one is the middleware stack
//! they share.

pub mod admin_api;
pub mod spa;
pub mod user_api;
pub mod ws;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, web};
use actix_web_prom::PrometheusMetrics;
use tracing_actix_web::TracingLogger;

use crate::error::AppError;
use crate::http::{
    CorsOrigins, catch_panic, configure_extractors, cors, envelope_errors, request_id_header,
};
use crate::state::AppState;

/// An app with the shared middleware, from the inside out: panics become a 500 envelope, non-JSON errors
/// become the envelope, metrics, the `X-Request-Id` header, CORS, and a tracing span per request.
pub fn app(
    state: web::Data<AppState>,
    metrics: PrometheusMetrics,
    routes: impl FnOnce(&mut web::ServiceConfig),
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let max_json_bytes = state.settings.server.max_json_bytes;
    let origins = CorsOrigins(state.settings.server.cors_origins.clone());
    // The registry every server's metrics go to, for the admin port's `/metrics`.
    let registry = web::Data::new(metrics.registry.clone());
    App::new()
        .app_data(state)
        .app_data(web::Data::new(origins))
        .app_data(registry)
        .configure(|cfg| configure_extractors(cfg, max_json_bytes))
        .configure(routes)
        .default_service(web::to(unknown_route))
        .wrap(from_fn(catch_panic))
        .wrap(envelope_errors())
        .wrap(metrics)
        .wrap(from_fn(request_id_header))
        .wrap(from_fn(cors))
        .wrap(TracingLogger::default())
}

async fn unknown_route() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::not_found("接口不存在"))
}
