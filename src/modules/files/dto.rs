//! Wire shapes of recorded files (user_api.md §4.6).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::entity::Model as File;

/// The uploader shown with a file.
#[derive(Serialize, Clone, Debug, Default, utoipa::ToSchema)]
pub struct Uploader {
    pub id: i64,
    pub username: String,
    pub avatar: String,
}

#[derive(Serialize, Clone, Debug, utoipa::ToSchema)]
pub struct FileView {
    pub id: i64,
    pub file_name: String,
    pub original_name: String,
    pub file_type: String,
    pub file_path: String,
    pub file_url: String,
    /// Same as `file_url`, as the other upload routes answer.
    pub url: String,
    pub file_size: i64,
    pub mime_type: String,
    pub uploader_id: i64,
    /// 0 when the file belongs to nothing.
    pub relation_id: i64,
    pub relation_type: String,
    pub status: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub uploader: Uploader,
}

impl FileView {
    pub fn new(f: &File, uploader: Uploader) -> Self {
        Self {
            id: f.id,
            file_name: f.file_name.clone(),
            original_name: f.original_name.clone(),
            file_type: f.file_type.clone(),
            file_path: f.file_path.clone(),
            file_url: f.file_url.clone(),
            url: f.file_url.clone(),
            file_size: f.file_size,
            mime_type: f.mime_type.clone(),
            uploader_id: f.uploader_id,
            relation_id: f.relation_id.unwrap_or_default(),
            relation_type: f.relation_type.clone(),
            status: f.status,
            created_at: f.created_at,
            updated_at: f.updated_at,
            uploader,
        }
    }
}
