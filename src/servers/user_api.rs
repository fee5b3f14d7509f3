//! Port 8080: the user API.

use actix_web::web;

use crate::modules::{auth, files, health, orders, payments, users};
use crate::openapi::{self, UserApiDoc};
use crate::state::AppState;
use utoipa::OpenApi;

pub fn routes(state: &AppState) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    let uploads = state.settings.uploads_dir();
    move |cfg| {
        cfg.configure(health::routes)
            .configure(openapi::swagger(UserApiDoc::openapi()))
            .configure(files::uploads_routes(uploads))
            .configure(auth::user_public_routes)
            .configure(users::user_routes)
            .configure(orders::user_routes)
            .configure(payments::user_routes);
    }
}
