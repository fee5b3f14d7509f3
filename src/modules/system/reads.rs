//! The read audit of counselling records: every admin request that returns chat message content (or
//! the links of chat files) leaves one `system_logs` row per session it disclosed, with who, when, the
//! route and the staff member's `reason`. The rows are append-only like the rest of the audit log: no
//! route updates or deletes `system_logs`. `GET /api/admin/logs?action=chat:read&session_id=…` lists them.
//!
//! The rows are written before the content is sent, and a failed write refuses the request (500): a
//! record that cannot be audited is not shown.

use actix_web::HttpRequest;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde_json::json;

use super::entity::system_log;
use crate::error::{AppError, AppResult};
use crate::http::ClientIp;
use crate::modules::auth::CurrentAdmin;
use crate::state::AppState;

/// The `reason` query parameter of the routes that return chat content (documentation only; the value is
/// read by [`reason_of`]).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReasonParam {
    /// Why the record is read; kept in the audit log. Required when `privacy.require_reason` is on.
    pub reason: Option<String>,
}

/// `action` of a read of chat content.
pub const ACTION_CHAT_READ: &str = "chat:read";
/// `module` of read audits and retention purges.
pub const MODULE_PRIVACY: &str = "privacy";
/// `action` of a retention purge that removed something.
pub const ACTION_RETENTION_PURGE: &str = "privacy:retention";
/// `action` of an account's erasure by its owner (`target` the user id).
pub const ACTION_ERASURE: &str = "privacy:erasure";

pub const MSG_REASON_REQUIRED: &str = "查看聊天记录须填写原因（reason 参数）";
const MAX_REASON_CHARS: usize = 200;

/// The staff member's stated reason, from the request's query string.
///
/// # Errors
/// 400 when `privacy.require_reason` is on and there is none ([`MSG_REASON_REQUIRED`]), or when it is
/// longer than 200 characters.
pub fn reason_of(state: &AppState, req: &HttpRequest) -> AppResult<Option<String>> {
    let reason = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == "reason")
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    match &reason {
        None if state.settings.privacy.require_reason => {
            Err(AppError::bad_request(MSG_REASON_REQUIRED))
        }
        Some(r) if r.chars().count() > MAX_REASON_CHARS => Err(AppError::invalid_input(
            "参数错误: reason: 不能超过200个字符",
        )),
        _ => Ok(reason),
    }
}

/// What an admin request disclosed.
pub struct ContentRead<'a> {
    /// The route's name for the log, e.g. `session_messages`.
    pub what: &'a str,
    /// The sessions whose messages the response carries; empty when it carries none (one row is still
    /// written: the request was made).
    pub session_ids: Vec<i64>,
    pub reason: Option<String>,
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Writes one audit row per disclosed session.
///
/// # Errors
/// A failed write: the caller must not send the content.
pub async fn record_read(
    state: &AppState,
    req: &HttpRequest,
    admin: &CurrentAdmin,
    read: ContentRead<'_>,
) -> AppResult<()> {
    let mut sessions = read.session_ids.clone();
    sessions.sort_unstable();
    sessions.dedup();
    let targets: Vec<String> = if sessions.is_empty() {
        vec![String::new()]
    } else {
        sessions.iter().map(i64::to_string).collect()
    };
    let reason = read.reason.clone().unwrap_or_default();
    let description = format!(
        "查看聊天内容 {} — 原因: {}",
        read.what,
        if reason.is_empty() {
            "（未填写）"
        } else {
            &reason
        }
    );
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let ip = ClientIp::of(req);
    let now = Utc::now();
    let rows = targets.into_iter().map(|target| {
        system_log::ActiveModel {
        admin_id: Set(Some(admin.0.id)),
        operator: Set(clip(&admin.0.username, 50)),
        action: Set(ACTION_CHAT_READ.to_owned()),
        module: Set(MODULE_PRIVACY.to_owned()),
        description: Set(Some(clip(&description, 1000))),
        method: Set(req.method().to_string()),
        path: Set(clip(req.path(), 255)),
        target: Set(target),
        ip_address: Set(clip(&ip, 50)),
        user_agent: Set(clip(user_agent, 500)),
        request_data: Set(Some(
            json!({ "route": read.what, "reason": reason, "query": clip(req.query_string(), 1000) })
                .to_string(),
        )),
        response: Set(None),
        status_code: Set(200),
        status: Set(1),
        created_at: Set(now),
        ..Default::default()
    }
    });
    let rows: Vec<system_log::ActiveModel> = rows.collect();
    system_log::Entity::insert_many(rows)
        .exec(&state.db)
        .await?;
    Ok(())
}

/// Records work done by the server itself (no administrator), e.g. a retention purge.
pub async fn record_system_event<C: ConnectionTrait>(
    db: &C,
    action: &str,
    target: String,
    description: String,
    data: serde_json::Value,
) -> AppResult<()> {
    system_log::ActiveModel {
        admin_id: Set(None),
        operator: Set("system".into()),
        action: Set(clip(action, 50)),
        module: Set(MODULE_PRIVACY.to_owned()),
        description: Set(Some(description)),
        method: Set(String::new()),
        path: Set(String::new()),
        target: Set(clip(&target, 100)),
        ip_address: Set(String::new()),
        user_agent: Set(String::new()),
        request_data: Set(Some(data.to_string())),
        response: Set(None),
        status_code: Set(200),
        status: Set(1),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// When the newest row with `action` was written.
pub async fn latest_of<C: ConnectionTrait>(
    db: &C,
    action: &str,
) -> AppResult<Option<(chrono::DateTime<Utc>, Option<String>)>> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    Ok(system_log::Entity::find()
        .filter(system_log::Column::Action.eq(action))
        .order_by_desc(system_log::Column::Id)
        .one(db)
        .await?
        .map(|row| (row.created_at, row.request_data)))
}
