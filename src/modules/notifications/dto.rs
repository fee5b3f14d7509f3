//! Wire shapes of notifications (user_api.md §4.5).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::entity::Model as Notification;

/// The receiver shown with each notification.
#[derive(Serialize, Clone, Debug, Default, utoipa::ToSchema)]
pub struct Receiver {
    pub id: i64,
    pub username: String,
    pub avatar: String,
}

#[derive(Serialize, Clone, Debug, utoipa::ToSchema)]
pub struct NotificationView {
    pub id: i64,
    pub user_id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub level: String,
    pub title: String,
    pub content: String,
    /// JSON text, `""` when none.
    pub extra_data: String,
    pub is_read: bool,
    pub read_time: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub user: Receiver,
}

impl NotificationView {
    pub fn new(n: &Notification, user: Receiver) -> Self {
        Self {
            id: n.id,
            user_id: n.user_id,
            kind: n.kind.clone(),
            level: n.level.clone(),
            title: n.title.clone(),
            content: n.content.clone().unwrap_or_default(),
            extra_data: n.extra_data.clone().unwrap_or_default(),
            is_read: n.is_read,
            read_time: n.read_time,
            created_at: n.created_at,
            user,
        }
    }
}

/// Filters of `GET /api/notification/list`.
#[derive(Deserialize, Default, Debug)]
pub struct ListQuery {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `true` → read only; any other non-empty value → unread only.
    pub is_read: Option<String>,
}
