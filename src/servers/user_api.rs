//! Port 8080: the user API.

use actix_web::web;

use crate::modules::{
    auth, chat, counselors, files, health, notifications, orders, payments, users,
};
use crate::openapi::{self, UserApiDoc};
use crate::state::AppState;
use utoipa::OpenApi;

pub fn routes(state: &AppState) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    let uploads = state.settings.uploads_dir();
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
            // Keep last: `/api/counselor/{id}` would shadow later `/api/counselor/<word>` routes.
            .configure(counselors::user_detail_routes);
    }
}
