use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::entity::{administrator, permission};

/// The Administrator object: `role` is the first role's code, `roles` all of them.
#[derive(Serialize, utoipa::ToSchema)]
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
#[derive(Serialize, Clone, utoipa::ToSchema)]
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

#[derive(Deserialize, Validate, utoipa::ToSchema)]
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

fn default_status() -> i32 {
    1
}

/// `status` is 0 or 1; 0 is a real value ("present", not "non-zero").
fn valid_status(status: i32) -> Result<(), validator::ValidationError> {
    if status == 0 || status == 1 {
        Ok(())
    } else {
        Err(validator::ValidationError::new("status").with_message("状态只能是0或1".into()))
    }
}

fn valid_role_code(code: &str) -> Result<(), validator::ValidationError> {
    let mut chars = code.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(validator::ValidationError::new("code")
            .with_message("编码只能包含小写字母、数字和下划线，且以字母开头".into()))
    }
}

fn valid_permission_code(code: &str) -> Result<(), validator::ValidationError> {
    let mut chars = code.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(validator::ValidationError::new("code")
            .with_message("编码只能包含小写字母、数字、下划线和冒号".into()))
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RoleView {
    pub id: i64,
    pub name: String,
    pub code: String,
    pub description: String,
    pub sort: i32,
    pub status: i32,
    pub user_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RoleView {
    pub fn new(r: &super::entity::role::Model, user_count: u64) -> Self {
        Self {
            id: r.id,
            name: r.name.clone(),
            code: r.code.clone(),
            description: r.description.clone(),
            sort: r.sort,
            status: r.status,
            user_count,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct RoleRequest {
    #[validate(length(min = 1, max = 50, message = "角色名称长度为1-50"))]
    pub name: String,
    #[validate(
        length(min = 1, max = 50, message = "角色编码长度为1-50"),
        custom(function = "valid_role_code")
    )]
    pub code: String,
    #[serde(default)]
    #[validate(length(max = 255, message = "描述过长"))]
    pub description: String,
    #[serde(default)]
    pub sort: i32,
    #[serde(default = "default_status")]
    #[validate(custom(function = "valid_status"))]
    pub status: i32,
}

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct AssignPermissionsRequest {
    pub permission_ids: Vec<i64>,
}

/// A permission tree node: `children` omitted when empty.
#[derive(Serialize, Clone, utoipa::ToSchema)]
pub struct PermissionNode {
    #[serde(flatten)]
    pub permission: PermissionView,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub children: Vec<PermissionNode>,
}

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct PermissionRequest {
    #[serde(default)]
    pub parent_id: Option<i64>,
    #[validate(length(min = 1, max = 50, message = "权限名称长度为1-50"))]
    pub name: String,
    #[validate(
        length(min = 1, max = 100, message = "权限编码长度为1-100"),
        custom(function = "valid_permission_code")
    )]
    pub code: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    #[validate(length(max = 255, message = "路径过长"))]
    pub path: String,
    #[serde(default)]
    #[validate(length(max = 255, message = "组件过长"))]
    pub component: String,
    #[serde(default)]
    #[validate(length(max = 50, message = "图标过长"))]
    pub icon: String,
    #[serde(default)]
    pub sort: i32,
    #[serde(default = "default_status")]
    #[validate(custom(function = "valid_status"))]
    pub status: i32,
}

#[derive(Serialize, Clone, utoipa::ToSchema)]
pub struct MenuView {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: i32,
    pub path: String,
    pub component: String,
    pub permission: String,
    pub icon: String,
    pub sort: i32,
    pub status: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&super::entity::menu::Model> for MenuView {
    fn from(m: &super::entity::menu::Model) -> Self {
        Self {
            id: m.id,
            parent_id: m.parent_id,
            name: m.name.clone(),
            kind: m.kind,
            path: m.path.clone(),
            component: m.component.clone(),
            permission: m.permission.clone(),
            icon: m.icon.clone(),
            sort: m.sort,
            status: m.status,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A menu tree node: no timestamps, `children` omitted when empty.
#[derive(Serialize, Clone, utoipa::ToSchema)]
pub struct MenuNode {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: i32,
    pub path: String,
    pub component: String,
    pub permission: String,
    pub icon: String,
    pub sort: i32,
    pub status: i32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub children: Vec<MenuNode>,
}

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct MenuRequest {
    #[serde(default)]
    pub parent_id: Option<i64>,
    #[serde(default)]
    #[validate(length(max = 100, message = "菜单名称过长"))]
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: Option<i32>,
    #[serde(default)]
    #[validate(length(max = 200, message = "路径过长"))]
    pub path: String,
    #[serde(default)]
    #[validate(length(max = 200, message = "组件过长"))]
    pub component: String,
    #[serde(default)]
    #[validate(length(max = 100, message = "权限标识过长"))]
    pub permission: String,
    #[serde(default)]
    #[validate(length(max = 50, message = "图标过长"))]
    pub icon: String,
    #[serde(default)]
    pub sort: i32,
    #[serde(default = "default_status")]
    #[validate(custom(function = "valid_status"))]
    pub status: i32,
}

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct CreateAdminRequest {
    #[validate(length(min = 3, max = 50, message = "用户名长度为3-50"))]
    pub username: String,
    #[validate(length(min = 6, max = 72, message = "密码长度为6-72"))]
    pub password: String,
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
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub role_ids: Option<Vec<i64>>,
    #[serde(default = "default_status")]
    #[validate(custom(function = "valid_status"))]
    pub status: i32,
}

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct UpdateAdminRequest {
    #[serde(default)]
    #[validate(length(min = 3, max = 50, message = "用户名长度为3-50"))]
    pub username: Option<String>,
    #[serde(default)]
    #[validate(length(max = 50, message = "姓名过长"))]
    pub real_name: Option<String>,
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
    pub role: Option<String>,
    #[serde(default)]
    pub role_ids: Option<Vec<i64>>,
    #[serde(default)]
    #[validate(custom(function = "valid_status"))]
    pub status: Option<i32>,
}

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct ResetPasswordRequest {
    #[validate(length(min = 6, max = 72, message = "密码长度为6-72"))]
    pub password: String,
}

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct StatusRequest {
    #[validate(custom(function = "valid_status"))]
    pub status: i32,
}
