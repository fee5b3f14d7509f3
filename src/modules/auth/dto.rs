use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

#[derive(Deserialize, Validate, ToSchema)]
pub struct RegisterRequest {
    /// Checked after normalization: `users::service::normalize_username`.
    pub username: String,
    #[validate(length(min = 6, max = 128, message = "密码长度为6-128位"))]
    pub password: String,
    #[serde(default)]
    #[validate(length(max = 100, message = "邮箱过长"))]
    pub email: String,
    #[serde(default)]
    #[validate(length(max = 20, message = "手机号过长"))]
    pub phone: String,
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct LoginRequest {
    #[validate(length(min = 1, max = 50, message = "用户名不能为空"))]
    pub username: String,
    #[validate(length(min = 1, max = 128, message = "密码不能为空"))]
    pub password: String,
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct RefreshRequest {
    #[validate(length(min = 1, message = "token不能为空"))]
    pub token: String,
}

/// The `user` object of a login: the original sends `user_id`, not `id`.
#[derive(Serialize, ToSchema)]
pub struct LoginUser {
    pub user_id: i64,
    pub id: i64,
    pub username: String,
    pub email: String,
    pub avatar: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub user: LoginUser,
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct AdminPasswordRequest {
    #[validate(length(min = 1, max = 128, message = "原密码不能为空"))]
    pub old_password: String,
    #[validate(length(min = 6, max = 128, message = "新密码长度为6-128位"))]
    pub new_password: String,
}
