use actix_multipart::Multipart;
use actix_web::web;

use super::dto::{ChangePasswordRequest, UpdateProfileRequest, UserInfo};
use super::service;
use crate::http::ValidatedJson;
use crate::modules::auth::{self, CurrentUser};
use crate::modules::files::storage;
use crate::response::{ApiResult, ok, ok_msg};
use crate::state::AppState;

pub fn user_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/user/info", web::get().to(user_info))
        .route("/api/user/profile", web::put().to(update_profile))
        .route("/api/user/password", web::post().to(change_password))
        .route("/api/upload/avatar", web::post().to(upload_avatar));
}

#[utoipa::path(get, path = "/api/user/info", tag = "user", security(("bearer" = [])),
    responses((status = 200, description = "The caller's account")))]
pub async fn user_info(state: web::Data<AppState>, user: CurrentUser) -> ApiResult {
    let user = service::get_active(&state.db, user.0.id).await?;
    ok("获取成功", UserInfo::from(&user))
}

#[utoipa::path(put, path = "/api/user/profile", tag = "user", security(("bearer" = [])),
    responses((status = 200, description = "Updated")))]
pub async fn update_profile(
    state: web::Data<AppState>,
    user: CurrentUser,
    ValidatedJson(body): ValidatedJson<UpdateProfileRequest>,
) -> ApiResult {
    let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let avatar = match non_empty(&body.avatar) {
        Some(url) => Some(service::check_avatar_choice(&state, user.0.id, url).await?),
        None => None,
    };
    let change = service::ProfileChange {
        email: service::normalize_email(&body.email)?,
        phone: non_empty(&service::normalize_phone(&body.phone)?),
        avatar,
    };
    service::update_profile(&state.db, user.0.id, change).await?;
    ok_msg("更新成功")
}

#[utoipa::path(post, path = "/api/user/password", tag = "user", security(("bearer" = [])),
    responses((status = 200, description = "Changed; every earlier token is void")))]
pub async fn change_password(
    state: web::Data<AppState>,
    user: CurrentUser,
    ValidatedJson(body): ValidatedJson<ChangePasswordRequest>,
) -> ApiResult {
    auth::service::change_user_password(&state, &user.0, &body.old_password, &body.new_password)
        .await?;
    ok_msg("修改成功")
}

const AVATAR_MAX_BYTES: usize = 2 * 1024 * 1024;

#[utoipa::path(post, path = "/api/upload/avatar", tag = "user", security(("bearer" = [])),
    responses((status = 200, description = "`data.url` is the new avatar")))]
pub async fn upload_avatar(
    state: web::Data<AppState>,
    user: CurrentUser,
    payload: Multipart,
) -> ApiResult {
    let file =
        storage::read_file_field(payload, "file", AVATAR_MAX_BYTES, "图片大小不能超过2MB").await?;
    let sniffed =
        storage::sniff_allowed(&file.bytes, storage::JPEG_PNG, "只支持JPG、PNG格式的图片")?;
    let url = service::replace_avatar(&state, user.0.id, file, sniffed).await?;
    ok(
        "上传成功",
        serde_json::json!({ "url": url, "file_url": url }),
    )
}
