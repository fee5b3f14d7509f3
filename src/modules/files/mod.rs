//! Files: reading uploads, checking their type by content, and keeping them under `<data_dir>/uploads`
//! with server-generated names; the `files` records of generic uploads (`POST /api/upload`,
//! `GET/DELETE /api/file/:id`). Serves `/uploads/*` on both REST ports.
//!
//! Tables: `files`. Events: none.
//!
//! Who may read a recorded file: its uploader, and whoever the hook of its `relation_type` allows
//! (`service::FileAccess`): for `session` and `message`, both members of that session, as the chat
//! module's `takes_part_in` says. Deleting a file marks its row (status 0), removes the bytes, and makes
//! it unreadable. Avatars uploaded by users are recorded too (`relation_type` `avatar`), so that only
//! their owner's own, unshared avatar files are ever removed.
//! The retention purge removes chat files (`session`/`message`) past `message_retention_days`, and an
//! account's erasure removes its uploads and the files shared in its erased conversations
//! (`service::purge_chat_files`, `service::erase_files`).
//!
//! `/uploads/*` is served as untrusted content: `nosniff`, a `sandbox` CSP, and only images inline
//! (everything else as an attachment); uploads whose bytes hide HTML or script behind an image, and PDFs
//! with JavaScript or automatic actions, are refused (`storage::refuse_active_content`).

pub mod admin_routes;
pub mod dto;
pub mod entity;
pub mod routes;
pub mod service;
pub mod storage;

use actix_files::Files;
use actix_web::http::header::{self, DispositionType};
use actix_web::middleware::DefaultHeaders;
use actix_web::web;

pub use routes::user_routes;

/// Mounts `/uploads/*` from the data dir. Uploaded bytes are other people's content: the browser must
/// not sniff them into something else, nor run them as a page of ours, and only images show inline.
pub fn uploads_routes(uploads_dir: std::path::PathBuf) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope("/uploads")
                .wrap(
                    DefaultHeaders::new()
                        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                        .add((
                            header::CONTENT_SECURITY_POLICY,
                            "sandbox; default-src 'none'; img-src 'self'; media-src 'self'",
                        )),
                )
                .service(
                    Files::new("", uploads_dir)
                        .prefer_utf8(true)
                        .mime_override(|kind| {
                            if *kind == actix_web::mime::IMAGE {
                                DispositionType::Inline
                            } else {
                                DispositionType::Attachment
                            }
                        }),
                ),
        );
    }
}
