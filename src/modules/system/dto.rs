use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::entity::{system_config, system_log};

/// A config as the console reads it: `value` is JSON text.
#[derive(Serialize, Clone, utoipa::ToSchema)]
pub struct ConfigView {
    pub id: i64,
    pub key: String,
    pub value: String,
    pub category: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub is_system: bool,
    pub sort: i32,
    pub remark: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&system_config::Model> for ConfigView {
    fn from(c: &system_config::Model) -> Self {
        Self {
            id: c.id,
            key: c.config_key.clone(),
            value: c.value.clone(),
            category: c.category.clone(),
            label: c.label.clone(),
            kind: c.kind.clone(),
            is_system: c.is_system,
            sort: c.sort,
            remark: c.remark.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// `value` may be JSON text (what the console sends) or a bare JSON value.
#[derive(Deserialize, Validate, Clone, Default, utoipa::ToSchema)]
pub struct ConfigRequest {
    #[serde(default)]
    #[validate(length(max = 100, message = "配置键过长"))]
    pub key: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub value: Option<serde_json::Value>,
    #[serde(default)]
    #[validate(length(max = 50, message = "分类过长"))]
    pub category: Option<String>,
    #[serde(default)]
    #[validate(length(max = 100, message = "名称过长"))]
    pub label: Option<String>,
    #[serde(default, rename = "type")]
    #[validate(length(max = 20, message = "类型过长"))]
    pub kind: Option<String>,
    #[serde(default)]
    pub is_system: Option<bool>,
    #[serde(default)]
    pub sort: Option<i32>,
    #[serde(default)]
    #[validate(length(max = 255, message = "备注过长"))]
    pub remark: Option<String>,
}

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct BatchConfigRequest {
    #[validate(nested)]
    pub configs: Vec<ConfigRequest>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LogView {
    pub id: i64,
    pub admin_id: Option<i64>,
    pub operator: String,
    pub action: String,
    pub module: String,
    pub description: String,
    pub method: String,
    pub path: String,
    pub target: String,
    pub ip_address: String,
    pub user_agent: String,
    pub request_data: String,
    pub response: String,
    pub status_code: i32,
    pub status: i32,
    pub created_at: DateTime<Utc>,
}

impl From<system_log::Model> for LogView {
    fn from(l: system_log::Model) -> Self {
        Self {
            id: l.id,
            admin_id: l.admin_id,
            operator: l.operator,
            action: l.action,
            module: l.module,
            description: l.description.unwrap_or_default(),
            method: l.method,
            path: l.path,
            target: l.target,
            ip_address: l.ip_address,
            user_agent: l.user_agent,
            request_data: l.request_data.unwrap_or_default(),
            response: l.response.unwrap_or_default(),
            status_code: l.status_code,
            status: l.status,
            created_at: l.created_at,
        }
    }
}

#[derive(Deserialize, Default)]
pub struct LogQuery {
    pub operator: Option<String>,
    pub admin_id: Option<String>,
    pub action: Option<String>,
    pub module: Option<String>,
    #[serde(alias = "start_date")]
    #[serde(rename = "startDate")]
    pub start_date: Option<String>,
    #[serde(alias = "end_date")]
    #[serde(rename = "endDate")]
    pub end_date: Option<String>,
    /// Rows about one chat session (`target`), e.g. the read audit `action=chat:read`.
    pub session_id: Option<String>,
    /// Rows whose `target` is exactly this (e.g. the user id of `action=privacy:erasure`).
    pub target: Option<String>,
}
