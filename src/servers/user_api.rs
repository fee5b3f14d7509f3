//! Port 8080: the user API, the user web app when `server.static_dir_user` is set, and the chat
//! WebSocket upgrades of port 8082 on `/ws/...` (see `servers::ws::with_upgrades`).

use actix_web::web;

use crate::modules::{
    auth, chat, counselors, files, health, notifications, orders, payments, privacy, users,
};
use crate::openapi::{self, UserApiDoc};
use crate::servers::spa::Spa;
use crate::state::AppState;
use utoipa::OpenApi;

pub fn routes(state: &AppState) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    let uploads = state.settings.uploads_dir();
    let app = web_app(state);
    move |cfg| {
        cfg.configure(health::routes)
            .configure(openapi::swagger(UserApiDoc::openapi()))
            .configure(openapi::asyncapi_route)
            .configure(files::uploads_routes(uploads))
            .configure(auth::user_public_routes)
            .configure(users::user_routes)
            .configure(orders::user_routes)
            .configure(payments::user_routes)
            .configure(counselors::user_routes)
            .configure(files::user_routes)
            .configure(notifications::user_routes)
            .configure(chat::user_routes)
            .configure(privacy::user_routes)
            // Keep last: `/api/counselor/{id}` would shadow later `/api/counselor/<word>` routes.
            .configure(counselors::user_detail_routes);
        if let Some(app) = app {
            app.mount(cfg);
        }
    }
}

/// The user web app, if configured. [`crate::app::Application::build`] has already refused a bad
/// directory, so a failure here means it vanished since; the port then serves the API alone.
pub fn web_app(state: &AppState) -> Option<std::sync::Arc<Spa>> {
    Spa::open(
        "server.static_dir_user",
        &state.settings.server.static_dir_user,
    )
    .ok()
    .flatten()
}
