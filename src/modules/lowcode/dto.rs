//! Wire shapes. JSON columns stay strings.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::entity::{form_data_record, lowcode_form, lowcode_page};

#[derive(Debug, Serialize, ToSchema)]
pub struct FormView {
    pub id: i64,
    pub title: String,
    pub description: String,
    /// JSON text of the field list.
    pub form_json: String,
    pub version: i32,
    pub status: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<lowcode_form::Model> for FormView {
    fn from(m: lowcode_form::Model) -> Self {
        Self {
            id: m.id,
            title: m.title,
            description: m.description.unwrap_or_default(),
            form_json: m.form_json,
            version: m.version,
            status: m.status,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PageView {
    pub id: i64,
    pub title: String,
    pub description: String,
    /// JSON text of the page definition.
    pub page_json: String,
    pub path: String,
    pub status: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<lowcode_page::Model> for PageView {
    fn from(m: lowcode_page::Model) -> Self {
        Self {
            id: m.id,
            title: m.title,
            description: m.description.unwrap_or_default(),
            page_json: m.page_json,
            path: m.path,
            status: m.status,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FormDataView {
    pub id: i64,
    pub form_id: i64,
    pub form_version: i32,
    /// JSON text of the submitted object.
    pub form_data: String,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<form_data_record::Model> for FormDataView {
    fn from(m: form_data_record::Model) -> Self {
        Self {
            id: m.id,
            form_id: m.form_id,
            form_version: m.form_version,
            form_data: m.form_data,
            created_by: m.created_by,
            created_at: m.created_at,
        }
    }
}
