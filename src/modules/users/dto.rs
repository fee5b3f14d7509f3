use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::entity::Model as User;
use crate::money;

/// `GET /api/user/info`: `id` and `user_id` are both the user id, as the client reads either.
#[derive(Serialize)]
pub struct UserInfo {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub phone: String,
    pub avatar: String,
    pub balance: f64,
    pub status: i32,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserInfo {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            user_id: u.id,
            username: u.username.clone(),
            email: u.email.clone().unwrap_or_default(),
            phone: u.phone.clone(),
            avatar: u.avatar.clone(),
            balance: money::to_yuan(u.balance),
            status: u.status,
            created_at: u.created_at,
        }
    }
}

/// The full user object as the contract models it (`deleted_at` always present).
#[derive(Serialize, Clone)]
pub struct UserView {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub username: String,
    pub email: String,
    pub phone: String,
    pub avatar: String,
    pub balance: f64,
    pub status: i32,
    pub is_admin: bool,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            created_at: u.created_at,
            updated_at: u.updated_at,
            deleted_at: u.deleted_at,
            username: u.username.clone(),
            email: u.email.clone().unwrap_or_default(),
            phone: u.phone.clone(),
            avatar: u.avatar.clone(),
            balance: money::to_yuan(u.balance),
            status: u.status,
            is_admin: u.is_admin,
        }
    }
}

#[derive(Deserialize, Validate)]
pub struct UpdateProfileRequest {
    #[serde(default)]
    #[validate(length(max = 100, message = "邮箱过长"))]
    pub email: String,
    #[serde(default)]
    #[validate(length(max = 20, message = "手机号过长"))]
    pub phone: String,
    #[serde(default)]
    #[validate(length(max = 255, message = "头像地址过长"))]
    pub avatar: String,
}

#[derive(Deserialize, Validate)]
pub struct ChangePasswordRequest {
    #[validate(length(min = 1, max = 128, message = "旧密码不能为空"))]
    pub old_password: String,
    #[validate(length(min = 6, max = 128, message = "新密码长度为6-128位"))]
    pub new_password: String,
}

fn valid_user_status(status: i32) -> Result<(), validator::ValidationError> {
    if status == 0 || status == 1 {
        Ok(())
    } else {
        Err(validator::ValidationError::new("status").with_message("状态只能是0或1".into()))
    }
}

fn default_active() -> i32 {
    1
}

/// `POST /api/admin/users`.
#[derive(Deserialize, Validate)]
pub struct AdminCreateUserRequest {
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
    #[serde(default)]
    #[validate(length(max = 255, message = "头像地址过长"))]
    pub avatar: String,
    #[serde(default = "default_active")]
    #[validate(custom(function = "valid_user_status"))]
    pub status: i32,
}

/// `PUT /api/admin/users/:id`: `username` is ignored, as in the original.
#[derive(Deserialize, Validate)]
pub struct AdminUpdateUserRequest {
    #[serde(default)]
    #[validate(length(max = 100, message = "邮箱过长"))]
    pub email: Option<String>,
    #[serde(default)]
    #[validate(length(max = 20, message = "手机号过长"))]
    pub phone: Option<String>,
    #[serde(default)]
    #[validate(length(max = 255, message = "头像地址过长"))]
    pub avatar: Option<String>,
    #[serde(default)]
    #[validate(custom(function = "valid_user_status"))]
    pub status: Option<i32>,
}

#[derive(Deserialize, Validate)]
pub struct AdminResetPasswordRequest {
    #[validate(length(min = 6, max = 128, message = "密码长度为6-128位"))]
    pub password: String,
}
