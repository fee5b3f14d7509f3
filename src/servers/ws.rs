//! Port 8082: the WebSocket server, and the construction it shares with the user port (which takes the
//! same upgrades on `/ws/...`).
//!
//! actix-web's `HttpServer` cannot take over an upgraded connection, so this port is built one level
//! down, the way `HttpServer` builds the others: actix-server accepts, actix-http speaks HTTP/1.1, and
//! requests with `Connection: upgrade` go to [`chat::ws::accept`], which keeps the TCP stream after the
//! handshake. Everything else (`/ws/stats`, `/health`, a socket path without an upgrade) is an
//! ordinary actix-web app with the shared middleware.

use std::convert::Infallible;
use std::net::TcpListener;
use std::time::Duration;

use actix_http::HttpService;
use actix_server::Server;
use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_factory, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::web;
use actix_web_prom::PrometheusMetrics;

use crate::modules::{chat, health};
use crate::openapi::{self, WsApiDoc};
use crate::servers;
use crate::state::AppState;
use utoipa::OpenApi;

pub fn routes(_state: &AppState) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    move |cfg| {
        cfg.configure(health::routes)
            .configure(openapi::swagger(WsApiDoc::openapi()))
            .configure(openapi::asyncapi_route)
            .configure(chat::ws::routes);
    }
}

pub fn server(
    state: web::Data<AppState>,
    metrics: PrometheusMetrics,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<Server> {
    with_upgrades("mychat-ws", state, metrics, listener, workers, routes)
}

/// A port whose WebSocket upgrades (`Connection: upgrade`) go to [`chat::ws::accept`] and whose other
/// requests go to the actix-web app of `routes` with the shared middleware. Port 8082 is one; the user
/// port is another, because the user web app opens its socket on its own origin.
pub fn with_upgrades<R, F>(
    name: &'static str,
    state: web::Data<AppState>,
    metrics: PrometheusMetrics,
    listener: TcpListener,
    workers: usize,
    routes: R,
) -> std::io::Result<Server>
where
    R: Fn(&AppState) -> F + Clone + Send + 'static,
    F: FnOnce(&mut web::ServiceConfig) + 'static,
{
    let addr = listener.local_addr()?;
    Ok(Server::build()
        .listen(name, listener, move || {
            let app = servers::app(state.clone(), metrics.clone(), routes(&state))
                .into_factory()
                .map_err(|e: actix_web::Error| e.error_response());
            let upgrade_state = state.clone();
            HttpService::build()
                // Small frames go out at once instead of waiting for the peer's delayed ACK (Nagle).
                .tcp_nodelay(true)
                // actix-web's HttpServer defaults: a client still sending a body we already refused
                // (413) gets a second to read the answer instead of a reset mid-write.
                .keep_alive(Duration::from_secs(5))
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                .upgrade(fn_factory(move || {
                    let state = upgrade_state.clone();
                    async move {
                        Ok::<_, Infallible>(fn_service(move |(req, framed)| {
                            chat::ws::accept(state.clone(), req, framed)
                        }))
                    }
                }))
                .finish(map_config(app, |_| AppConfig::default()))
                .tcp()
        })?
        .workers(workers)
        .disable_signals()
        // A graceful stop waits for this port's connections, and an idle keep-alive connection counts
        // until it times out: 3 s keeps a stop (SIGTERM) under 5 s while in-flight requests finish.
        .shutdown_timeout(3)
        .run())
}
