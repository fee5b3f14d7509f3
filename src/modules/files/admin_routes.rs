//! Console uploads (`system:upload`): images for avatars, and general files.
//!
//! `POST /api/admin/upload` (the profile page's avatar upload, which the console sends without a token) is
//! served as an alias of the image upload but stays behind admin auth: an anonymous upload endpoint would be
//! an open file drop, and that page is unreachable from the console's navigation anyway.

use actix_multipart::Multipart;
use actix_web::web;
use serde_json::json;

use super::storage;
use crate::response::{ApiResult, ok};
use crate::state::AppState;

const IMAGE_MAX_BYTES: usize = 2 * 1024 * 1024;
/// What the general upload accepts, by content.
const FILE_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "application/pdf",
    "application/zip",
    "audio/mpeg",
    "video/mp4",
];

pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/upload/image", web::post().to(upload_image))
        .route("/api/admin/upload", web::post().to(upload_image))
        .route("/api/admin/upload/file", web::post().to(upload_file));
}

#[utoipa::path(post, path = "/api/admin/upload/image", tag = "admin-files", security(("bearer" = [])), request_body(content = crate::openapi::shapes::FileUpload, content_type = "multipart/form-data"),
    responses((status = 200, description = "`data: {url, file_url}` (relative)", body = crate::openapi::Envelope<crate::openapi::shapes::Uploaded>), (status = 400, description = "Too large or not an image")))]
pub async fn upload_image(state: web::Data<AppState>, payload: Multipart) -> ApiResult {
    let file =
        storage::read_file_field(payload, "file", IMAGE_MAX_BYTES, "文件大小不能超过2MB").await?;
    let sniffed = storage::sniff_allowed(&file.bytes, storage::WEB_IMAGES, "不支持的图片格式")?;
    let stored = storage::store(
        &state.settings.uploads_dir(),
        "admin",
        sniffed.extension,
        &file.bytes,
    )
    .await?;
    ok(
        "上传成功",
        json!({ "url": stored.url, "file_url": stored.url }),
    )
}

#[utoipa::path(post, path = "/api/admin/upload/file", tag = "admin-files", security(("bearer" = [])), request_body(content = crate::openapi::shapes::FileUpload, content_type = "multipart/form-data"),
    responses((status = 200, description = "`data: {file_name, original_name, url, file_url, file_size, mime_type}`", body = crate::openapi::Envelope<crate::openapi::shapes::AdminUploadedFile>)))]
pub async fn upload_file(state: web::Data<AppState>, payload: Multipart) -> ApiResult {
    let max = state.settings.upload.max_bytes;
    let file = storage::read_file_field(
        payload,
        "file",
        max,
        &format!("文件大小不能超过{}MB", max / (1024 * 1024)),
    )
    .await?;
    let sniffed = storage::sniff_allowed(&file.bytes, FILE_TYPES, "文件类型不支持")?;
    let stored = storage::store(
        &state.settings.uploads_dir(),
        "files",
        sniffed.extension,
        &file.bytes,
    )
    .await?;
    let file_name = stored
        .relative_path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    ok(
        "上传成功",
        json!({
            "file_name": file_name,
            "original_name": file.original_name,
            "url": stored.url,
            "file_url": stored.url,
            "file_size": stored.size,
            "mime_type": sniffed.mime,
        }),
    )
}
