//! HTTP handlers for recorded uploads on 8080.

use actix_multipart::Multipart;
use actix_web::web;
use serde_json::json;

use super::dto::{FileView, Uploader};
use super::service::{self, MSG_NOT_FOUND};
use crate::http::parse_id;
use crate::modules::auth::CurrentUser;
use crate::modules::users;
use crate::response::{ApiResult, ok, ok_msg};
use crate::state::AppState;

pub fn user_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/upload", web::post().to(upload))
        .route("/api/file/{id}", web::get().to(get_file))
        .route("/api/file/{id}", web::delete().to(delete_file));
}

#[utoipa::path(post, path = "/api/upload", tag = "file", security(("bearer" = [])), request_body(content = crate::openapi::shapes::UserFileUpload, content_type = "multipart/form-data"),
    responses((status = 200, description = "`data.{id, file_name, original_name, file_url, url, file_size, mime_type}`", body = crate::openapi::Envelope<crate::openapi::shapes::UploadedFile>),
        (status = 400, description = "No file, too large, refused type, bad form field")))]
pub async fn upload(
    state: web::Data<AppState>,
    user: CurrentUser,
    payload: Multipart,
) -> ApiResult {
    let form = service::read_upload_form(payload, state.settings.upload.max_bytes).await?;
    let file = service::upload(&state, user.0.id, form).await?;
    ok(
        "上传成功",
        json!({
            "id": file.id,
            "file_name": file.file_name,
            "original_name": file.original_name,
            "file_url": file.file_url,
            "url": file.file_url,
            "file_size": file.file_size,
            "mime_type": file.mime_type,
            "file_type": file.file_type,
        }),
    )
}

#[utoipa::path(get, path = "/api/file/{id}", tag = "file", security(("bearer" = [])),
    responses((status = 200, description = "The file with its uploader", body = crate::openapi::Envelope<crate::modules::files::dto::FileView>), (status = 403, description = "无权访问此文件"),
        (status = 404, description = "文件不存在 (also once deleted)")))]
pub async fn get_file(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> ApiResult {
    let id = parse_id(&path, MSG_NOT_FOUND)?;
    let file = service::read_file(&state, user.0.id, id).await?;
    let uploader = users::service::find_many(&state.db, &[file.uploader_id])
        .await?
        .remove(&file.uploader_id)
        .map(|u| Uploader {
            id: u.id,
            username: u.username,
            avatar: u.avatar,
        })
        .unwrap_or_default();
    ok("获取成功", FileView::new(&file, uploader))
}

#[utoipa::path(delete, path = "/api/file/{id}", tag = "file", security(("bearer" = [])),
    responses((status = 200, description = "Deleted: status 0 and removed from disk", body = crate::openapi::Done), (status = 403, description = "无权删除此文件"),
        (status = 404, description = "文件不存在")))]
pub async fn delete_file(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> ApiResult {
    let id = parse_id(&path, MSG_NOT_FOUND)?;
    service::delete_file(&state, user.0.id, id).await?;
    ok_msg("删除成功")
}
