//! Files: reading uploads, checking their type by content, and keeping them under `<data_dir>/uploads`
//! with server-generated names; the `files` records of generic uploads (`POST /api/upload`,
//! `GET/DELETE /api/file/:id`). Serves `/uploads/*` on both REST ports.
//!
//! Tables: `files`. Events: none.
//!
//! Who may read a recorded file: its uploader, and whoever the hook of its `relation_type` allows
//! (`service::FileAccess`). The chat module fills in `service::ChatFileAccess` (relation types `session`
//! and `message`) so both members of a session can read what was shared in it; until then only owners.
//! Deleting a file marks its row (status 0), removes the bytes, and makes it unreadable.

pub mod admin_routes;
pub mod dto;
pub mod entity;
pub mod routes;
pub mod service;
pub mod storage;

use actix_files::Files;
use actix_web::web;

pub use routes::user_routes;

/// Mounts `/uploads/*` from the data dir.
pub fn uploads_routes(uploads_dir: std::path::PathBuf) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(Files::new("/uploads", uploads_dir).prefer_utf8(true));
    }
}
