//! Bare actix-web baseline for `bench/run.sh`: `GET /health` answers a small JSON body, nothing else.
//! No middleware, no database, no state. Same worker count as mychat's user API
//! (one worker per core, via `std::thread::available_parallelism`).
//!
//! Usage: baseline-hello [PORT]   (default 18090, binds 127.0.0.1)

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Serialize;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    database: &'static str,
    redis: &'static str,
    outbox_pending: Option<u64>,
    version: &'static str,
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        database: "connected",
        redis: "not_configured",
        outbox_pending: Some(0),
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(18090);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("baseline-hello: 127.0.0.1:{port}, {workers} workers");
    HttpServer::new(|| App::new().route("/health", web::get().to(health)))
        .workers(workers)
        .bind(("127.0.0.1", port))?
        .run()
        .await
}
