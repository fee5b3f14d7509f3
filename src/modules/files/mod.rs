//! Files: reading uploads, checking their type by content, and keeping them under `<data_dir>/uploads`
//! with server-generated names. Serves `/uploads/*` on both REST ports.
//!
//! Tables: none yet. Events: none.

pub mod admin_routes;
pub mod storage;

use actix_files::Files;
use actix_web::web;

/// Mounts `/uploads/*` from the data dir.
pub fn uploads_routes(uploads_dir: std::path::PathBuf) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(Files::new("/uploads", uploads_dir).prefer_utf8(true));
    }
}
