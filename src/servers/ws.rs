//! Port 8082: the WebSocket server.

use actix_web::web;

use crate::modules::{chat, health};
use crate::state::AppState;

pub fn routes(_state: &AppState) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    move |cfg| {
        cfg.configure(health::routes).configure(chat::ws::routes);
    }
}
