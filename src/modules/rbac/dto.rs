use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::entity::{administrator, permission};

/// The Administrator object: `role` is the first role's code, `roles` all of them.
#[derive(Serialize)]
pub struct AdminView {
    pub id: i64,
    pub username: String,
    pub real_name: String,
    pub email: String,
    pub phone: String,
    pub avatar: String,
    pub role: String,
    pub roles: Vec<String>,
    pub status: i32,
    pub last_login: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AdminView {
    pub fn new(a: &administrator::Model, roles: Vec<String>) -> Self {
        Self {
            id: a.id,
            username: a.username.clone(),
            real_name: a.real_name.clone(),
            email: a.email.clone().unwrap_or_default(),
            phone: a.phone.clone(),
            avatar: a.avatar.clone(),
            role: roles.first().cloned().unwrap_or_default(),
            roles,
            status: a.status,
            last_login: a.last_login,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A permission row as the console shows it.
#[derive(Serialize, Clone)]
pub struct PermissionView {
    pub id: i64,
    pub parent_id: i64,
    pub name: String,
    pub code: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub icon: String,
    pub component: String,
    pub sort: i32,
    pub status: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&permission::Model> for PermissionView {
    fn from(p: &permission::Model) -> Self {
        Self {
            id: p.id,
            parent_id: p.parent_id,
            name: p.name.clone(),
            code: p.code.clone(),
            kind: p.kind.clone(),
            path: p.path.clone(),
            icon: p.icon.clone(),
            component: p.component.clone(),
            sort: p.sort,
            status: p.status,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Deserialize, Validate)]
pub struct UpdateOwnProfileRequest {
    #[serde(default)]
    #[validate(length(max = 50, message = "姓名过长"))]
    pub real_name: String,
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
