//! A bare actix-ws server on `PORT` (default 28095), with nothing of MyChat's (no middleware, hub,
//! presence or database):
//! - `GET /ws` upgrades any request; one spawned task per socket echoes text frames and answers pings;
//! - `POST /broadcast` sends its body as a text frame to every open socket, straight through each
//!   socket's `actix_ws::Session` from the request's task: the cheapest fan-out actix-ws allows.

use std::sync::Mutex;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;

#[derive(Default)]
struct Sockets(Mutex<Vec<actix_ws::Session>>);

async fn ws(
    req: HttpRequest,
    body: web::Payload,
    sockets: web::Data<Sockets>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, mut session, stream) = actix_ws::handle(&req, body)?;
    sockets
        .0
        .lock()
        .expect("socket list lock")
        .push(session.clone());
    let mut stream = stream.aggregate_continuations();
    actix_web::rt::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                actix_ws::AggregatedMessage::Text(text) => {
                    if session.text(text).await.is_err() {
                        break;
                    }
                }
                actix_ws::AggregatedMessage::Ping(bytes) => {
                    if session.pong(&bytes).await.is_err() {
                        break;
                    }
                }
                actix_ws::AggregatedMessage::Close(_) => break,
                _ => {}
            }
        }
        let _ = session.close(None).await;
    });
    Ok(response)
}

async fn broadcast(body: String, sockets: web::Data<Sockets>) -> HttpResponse {
    let all = sockets.0.lock().expect("socket list lock").clone();
    let text = bytestring::ByteString::from(body);
    for mut session in all {
        let _ = session.text(text.clone()).await;
    }
    HttpResponse::Ok().finish()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(28095);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sockets = web::Data::new(Sockets::default());
    HttpServer::new(move || {
        App::new()
            .app_data(sockets.clone())
            .route("/ws", web::get().to(ws))
            .route("/broadcast", web::post().to(broadcast))
    })
    .workers(workers)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
