//! Port 8082: the WebSocket server. Chat endpoints arrive with the chat module; until then it serves
//! health and answers the envelope 404 for everything else.

use actix_web::web;

use crate::modules::health;
use crate::state::AppState;

pub fn routes(_state: &AppState) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    move |cfg| {
        cfg.configure(health::routes);
    }
}
