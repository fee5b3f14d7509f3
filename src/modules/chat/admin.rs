//! The admin side of chat (8081): sessions and messages, statistics, deletion, and the live presence
//! actions (online lists, kick, mute, send-to-user, broadcast) that act on real connections everywhere.
//! Every route that returns message content (session messages, search, statistics' recent messages)
//! writes the read audit first (`system::reads`), with the staff member's optional `reason`.

use std::collections::HashMap;

use actix_web::web;
use chrono::Utc;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::dto::{SessionView, user_brief};
use super::entity::{billing, message, session};
use super::hub::{Target, frame};
use super::routes::counselor_brief;
use super::service::{self as chat, EndReason, Session};
use crate::error::AppError;
use crate::http::{Pagination, parse_id};
use crate::modules::auth::CurrentAdmin;
use crate::modules::counselors::service as counselors;
use crate::modules::system::reads::{self, ContentRead};
use crate::modules::users::service as users;
use crate::money;
use crate::response::{ApiResult, ok, ok_msg};
use crate::state::AppState;

pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/chat/sessions", web::get().to(list_sessions))
        .route(
            "/api/admin/chat/sessions/{session_id}/messages",
            web::get().to(session_messages),
        )
        .route("/api/admin/chat/statistics", web::get().to(statistics))
        .route(
            "/api/admin/chat/messages/search",
            web::get().to(search_messages),
        )
        .route(
            "/api/admin/chat/sessions/{session_id}",
            web::delete().to(delete_session),
        )
        .route("/api/admin/session/stats", web::get().to(session_stats));
    // The console's online page calls these without the `/api` prefix; serve both.
    for prefix in ["/api/admin", "/admin"] {
        cfg.route(
            &format!("{prefix}/online/users"),
            web::get().to(online_users),
        )
        .route(
            &format!("{prefix}/online/users/detailed"),
            web::get().to(online_users_detailed),
        )
        .route(
            &format!("{prefix}/online/statistics"),
            web::get().to(online_statistics),
        )
        .route(
            &format!("{prefix}/online/users/{{user_id}}/kick"),
            web::post().to(kick),
        )
        .route(&format!("{prefix}/online/mute"), web::post().to(mute))
        .route(
            &format!("{prefix}/online/users/{{user_id}}/message"),
            web::post().to(message_user),
        )
        .route(&format!("{prefix}/broadcast"), web::post().to(broadcast));
    }
}

#[derive(Deserialize)]
struct SessionFilter {
    status: Option<String>,
    keyword: Option<String>,
}

/// Session views with their user and counselor objects, loaded in two queries.
pub async fn session_views(
    state: &AppState,
    rows: &[Session],
) -> Result<Vec<SessionView>, AppError> {
    let user_ids: Vec<i64> = rows.iter().map(|s| s.user_id).collect();
    let counselor_ids: Vec<i64> = rows.iter().map(|s| s.counselor_id).collect();
    let people: HashMap<i64, Value> = users::find_many(&state.db, &user_ids)
        .await?
        .into_values()
        .map(|u| (u.id, user_brief(u.id, &u.username, &u.avatar)))
        .collect();
    let counselors: HashMap<i64, Value> = counselors::find_many(&state.db, &counselor_ids)
        .await?
        .iter()
        .map(|c| (c.id, counselor_brief(c)))
        .collect();
    Ok(rows
        .iter()
        .map(|s| {
            SessionView::new(
                s,
                people
                    .get(&s.user_id)
                    .cloned()
                    .unwrap_or_else(|| user_brief(s.user_id, "", "")),
                counselors
                    .get(&s.counselor_id)
                    .cloned()
                    .unwrap_or_else(|| json!({ "id": s.counselor_id, "name": "" })),
            )
        })
        .collect())
}

#[utoipa::path(get, path = "/api/admin/chat/sessions", tag = "admin-chat", security(("bearer" = [])),
    params(("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query), ("status" = Option<i32>, Query), ("keyword" = Option<String>, Query)),
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::AdminChatSessions>)))]
async fn list_sessions(
    state: web::Data<AppState>,
    page: Pagination,
    filter: web::Query<SessionFilter>,
) -> ApiResult {
    let mut condition = Condition::all();
    if let Some(status) = filter.status.as_deref().filter(|s| !s.is_empty()) {
        let status: i32 = status
            .parse()
            .map_err(|_| AppError::invalid_input("参数错误: status"))?;
        condition = condition.add(session::Column::Status.eq(status));
    }
    if let Some(keyword) = filter
        .keyword
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        let user_ids = users::ids_matching(&state.db, keyword, 1000).await?;
        let counselor_ids = counselors::ids_matching(&state.db, keyword, 1000).await?;
        condition = condition.add(
            Condition::any()
                .add(session::Column::UserId.is_in(user_ids))
                .add(session::Column::CounselorId.is_in(counselor_ids)),
        );
    }
    let query = session::Entity::find().filter(condition);
    let total = query.clone().count(&state.db).await?;
    let rows = query
        .order_by_desc(session::Column::CreatedAt)
        .order_by_desc(session::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(&state.db)
        .await?;
    let list = session_views(&state, &rows).await?;
    ok(
        "获取成功",
        json!({ "sessions": &list, "list": &list, "total": total }),
    )
}

#[utoipa::path(get, path = "/api/admin/chat/sessions/{session_id}/messages", tag = "admin-chat", security(("bearer" = [])),
    params(("session_id" = i64, Path), ("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query), crate::modules::system::reads::ReasonParam),
    responses((status = 200, description = "Success; the read is audited (`GET /api/admin/logs?action=chat:read`)", body = crate::openapi::shapes::AdminSessionMessages),
        (status = 400, description = "No `reason` while `privacy.require_reason` is on")))]
async fn session_messages(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    path: web::Path<String>,
    req: actix_web::HttpRequest,
) -> ApiResult {
    let session_id = parse_id(&path, chat::MSG_SESSION_NOT_FOUND)?;
    let reason = reads::reason_of(&state, &req)?;
    let session = chat::get_session(&state.db, session_id).await?;
    let page = Pagination::from_query(req.query_string(), 50)?;
    let (rows, total) =
        chat::list_messages(&state, session_id, None, page.offset(), page.page_size).await?;
    let read = ContentRead {
        what: "session_messages",
        session_ids: vec![session_id],
        reason,
    };
    reads::record_read(&state, &req, &admin, read).await?;
    let view = session_views(&state, std::slice::from_ref(&session))
        .await?
        .pop();
    let messages: Vec<Value> = rows.iter().map(message_json).collect();
    // The console reads `messages`/`total` at the top level; the contract puts them in `data`. Serve both.
    Ok(actix_web::HttpResponse::Ok().json(json!({
        "code": 200,
        "msg": "获取成功",
        "data": { "messages": &messages, "total": total, "session": view },
        "messages": &messages,
        "total": total,
    })))
}

fn message_json(m: &message::Model) -> Value {
    json!({
        "id": m.id,
        "session_id": m.session_id,
        "seq": m.seq,
        "sender_id": m.sender_id,
        "sender_type": m.sender_type,
        "content_type": m.content_type,
        "content": m.content.clone().unwrap_or_default(),
        "file_url": m.file_url,
        "is_read": m.is_read,
        "read_time": m.read_time,
        "created_at": m.created_at,
    })
}

#[utoipa::path(get, path = "/api/admin/chat/statistics", tag = "admin-chat", security(("bearer" = [])),
    params(crate::modules::system::reads::ReasonParam),
    responses((status = 200, description = "Success; `recent_messages` carry content, so the read is audited", body = crate::openapi::Envelope<crate::openapi::shapes::AdminChatStatistics>),
        (status = 400, description = "No `reason` while `privacy.require_reason` is on")))]
async fn statistics(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    req: actix_web::HttpRequest,
) -> ApiResult {
    let reason = reads::reason_of(&state, &req)?;
    let db = &state.db;
    let total_sessions = session::Entity::find().count(db).await?;
    let active_sessions = session::Entity::find()
        .filter(session::Column::Status.eq(chat::status::ACTIVE))
        .count(db)
        .await?;
    let total_messages = message::Entity::find().count(db).await?;
    let today_start = crate::modules::chat::admin::today_start_utc(&state);
    let today_messages = message::Entity::find()
        .filter(message::Column::CreatedAt.gte(today_start))
        .count(db)
        .await?;
    let total_billing: Option<i64> = billing::Entity::find()
        .select_only()
        .column_as(
            crate::db::sum_as_i64(db.get_database_backend(), "total_amount"),
            "total",
        )
        .into_tuple()
        .one(db)
        .await?;
    let recent_rows = chat::recent_messages(&state, 10).await?;
    let read = ContentRead {
        what: "chat_statistics",
        session_ids: recent_rows.iter().map(|m| m.session_id).collect(),
        reason,
    };
    reads::record_read(&state, &req, &admin, read).await?;
    let recent: Vec<Value> = recent_rows.iter().map(message_json).collect();
    ok(
        "获取成功",
        json!({
            "total_sessions": total_sessions,
            "active_sessions": active_sessions,
            "total_messages": total_messages,
            "today_messages": today_messages,
            "total_billing": money::to_yuan(total_billing.unwrap_or(0)),
            "recent_messages": recent,
        }),
    )
}

/// Midnight today in the configured time zone, as UTC.
pub fn today_start_utc(state: &AppState) -> chrono::DateTime<Utc> {
    let tz: chrono_tz::Tz = state
        .settings
        .stats
        .timezone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let local = Utc::now().with_timezone(&tz).date_naive();
    local
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(tz).earliest())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now)
}

#[derive(Deserialize)]
struct SearchQuery {
    keyword: Option<String>,
    session_id: Option<i64>,
}

/// Content is sealed at rest, so the service decrypts and matches the newest messages (see
/// `service::search_messages`).
#[utoipa::path(get, path = "/api/admin/chat/messages/search", tag = "admin-chat", security(("bearer" = [])),
    params(("keyword" = Option<String>, Query), ("session_id" = Option<i64>, Query), ("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query), crate::modules::system::reads::ReasonParam),
    responses((status = 200, description = "Success; the read is audited, one row per session found", body = crate::openapi::Envelope<crate::openapi::shapes::AdminMessageSearch>),
        (status = 400, description = "No keyword, or no `reason` while `privacy.require_reason` is on")))]
async fn search_messages(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    page: Pagination,
    query: web::Query<SearchQuery>,
    req: actix_web::HttpRequest,
) -> ApiResult {
    let reason = reads::reason_of(&state, &req)?;
    let keyword = query
        .keyword
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| AppError::bad_request("搜索关键词不能为空"))?;
    if keyword.chars().count() > 100 {
        return Err(AppError::invalid_input("参数错误: keyword: 关键词过长"));
    }
    let found = chat::search_messages(
        &state,
        keyword,
        query.session_id,
        page.offset(),
        page.page_size,
    )
    .await?;
    let read = ContentRead {
        what: "message_search",
        session_ids: found.messages.iter().map(|m| m.session_id).collect(),
        reason,
    };
    reads::record_read(&state, &req, &admin, read).await?;
    let messages: Vec<Value> = found.messages.iter().map(message_json).collect();
    let total = found.total;
    let truncated = found.truncated;
    ok(
        "获取成功",
        json!({ "messages": messages, "total": total, "truncated": truncated }),
    )
}

/// Deletes a session and its messages. An open session is ended (and billed) first; billing rows stay.
#[utoipa::path(delete, path = "/api/admin/chat/sessions/{session_id}", tag = "admin-chat", security(("bearer" = [])),
    params(("session_id" = i64, Path)),
    responses((status = 200, description = "删除成功: the session, its messages and billing", body = crate::openapi::Done)))]
async fn delete_session(state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let session_id = parse_id(&path, chat::MSG_SESSION_NOT_FOUND)?;
    let session = chat::get_session(&state.db, session_id).await?;
    if session.status == chat::status::WAITING || session.status == chat::status::ACTIVE {
        chat::end_session(&state, session_id, EndReason::Admin).await?;
    }
    let txn = state.db.begin().await?;
    // The session row first, as sending a message takes it (bumping `seq`) before inserting: deleting
    // the messages first would hold their index range while a send holds the session, a deadlock on
    // MariaDB.
    chat::lock_session(&txn, session_id).await?;
    message::Entity::delete_many()
        .filter(message::Column::SessionId.eq(session_id))
        .exec(&txn)
        .await?;
    session::Entity::delete_by_id(session_id).exec(&txn).await?;
    txn.commit().await?;
    ok_msg("删除成功")
}

#[utoipa::path(get, path = "/api/admin/session/stats", tag = "admin-chat", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::ActiveSessionTotals>)))]
async fn session_stats(state: web::Data<AppState>) -> ApiResult {
    ok("获取成功", chat::active_session_totals(&state.db).await?)
}

/// The online users' ids and user rows.
async fn online(
    state: &AppState,
) -> Result<(Vec<i64>, Vec<crate::modules::users::entity::Model>), AppError> {
    let ids = state.realtime.online_users().await;
    let mut rows: Vec<_> = users::find_many(&state.db, &ids)
        .await?
        .into_values()
        .collect();
    rows.sort_by_key(|u| u.id);
    Ok((ids, rows))
}

#[utoipa::path(get, path = "/api/admin/online/users", tag = "admin-online", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::OnlineUsers>)))]
async fn online_users(state: web::Data<AppState>) -> ApiResult {
    let (ids, rows) = online(&state).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|u| {
            json!({
                "id": u.id,
                "username": u.username,
                "email": u.email.clone().unwrap_or_default(),
                "phone": u.phone,
                "avatar": u.avatar,
                "status": u.status,
                "created_at": u.created_at,
                "updated_at": u.updated_at,
                "deleted_at": u.deleted_at,
            })
        })
        .collect();
    ok(
        "获取成功",
        json!({ "user_ids": ids, "users": list, "count": ids.len(), "total": ids.len() }),
    )
}

#[utoipa::path(get, path = "/api/admin/online/users/detailed", tag = "admin-online", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::OnlineUsersDetailed>)))]
async fn online_users_detailed(state: web::Data<AppState>) -> ApiResult {
    let (ids, rows) = online(&state).await?;
    let counselor_users: std::collections::HashSet<i64> = counselors_by_user(&state, &ids).await?;
    // Each online user's active session, from one query.
    let mut active_of: HashMap<i64, i64> = HashMap::new();
    for s in session::Entity::find()
        .filter(session::Column::Status.eq(chat::status::ACTIVE))
        .filter(
            Condition::any()
                .add(session::Column::UserId.is_in(ids.iter().copied()))
                .add(session::Column::CounselorUserId.is_in(ids.iter().copied())),
        )
        .all(&state.db)
        .await?
    {
        active_of.insert(s.user_id, s.id);
        active_of.insert(s.counselor_user_id, s.id);
    }
    let mut list = Vec::with_capacity(rows.len());
    for u in &rows {
        let active = active_of.get(&u.id).copied();
        let since = state
            .realtime
            .local_connections_of(u.id)
            .into_iter()
            .map(|(at, _)| at)
            .min();
        list.push(json!({
            "user_id": u.id,
            "username": u.username,
            "role": if counselor_users.contains(&u.id) { "counselor" } else { "user" },
            "online_time": since.map(|t| t.to_rfc3339()).unwrap_or_else(|| "在线".into()),
            "session_id": active,
            "is_muted": chat::is_muted(&state, u.id).await,
        }));
    }
    ok("获取成功", json!({ "users": list, "total": list.len() }))
}

async fn counselors_by_user(
    state: &AppState,
    user_ids: &[i64],
) -> Result<std::collections::HashSet<i64>, AppError> {
    counselors::counselor_user_ids(&state.db, user_ids).await
}

#[utoipa::path(get, path = "/api/admin/online/statistics", tag = "admin-online", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::OnlineStatistics>)))]
async fn online_statistics(state: web::Data<AppState>) -> ApiResult {
    let ids = state.realtime.online_users().await;
    let counselor_users = counselors_by_user(&state, &ids).await?;
    let mut muted_online = 0;
    let mut muted_counselors = 0;
    for id in &ids {
        if chat::is_muted(&state, *id).await {
            muted_online += 1;
            if counselor_users.contains(id) {
                muted_counselors += 1;
            }
        }
    }
    ok(
        "获取成功",
        json!({
            "total_online": ids.len(),
            "counselor_online": counselor_users.len(),
            "user_online": ids.len() - counselor_users.len(),
            "muted_counselor": muted_counselors,
            "muted_online_count": muted_online,
        }),
    )
}

fn target_user(path: &str) -> Result<i64, AppError> {
    parse_id(path, "用户不存在")
}

#[utoipa::path(post, path = "/api/admin/online/users/{user_id}/kick", tag = "admin-online", security(("bearer" = [])),
    params(("user_id" = i64, Path)),
    responses((status = 200, description = "用户已强制下线; 400 用户不在线; 503 when presence cannot be read and the user has no socket on this instance", body = crate::openapi::Done)))]
async fn kick(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    path: web::Path<String>,
) -> ApiResult {
    let user_id = target_user(&path)?;
    if !state.realtime.is_online(user_id).await? {
        return Err(AppError::bad_request("用户不在线"));
    }
    let notice = json!({
        "type": "force_logout",
        "session_id": 0,
        "data": { "reason": "管理员强制下线", "created_at": Utc::now() },
    });
    state
        .realtime
        .kick(user_id, "管理员强制下线", Some(&notice))
        .await;
    tracing::info!(admin_id = admin.0.id, user_id, "user kicked");
    ok_msg("用户已强制下线")
}

#[derive(Deserialize)]
struct MuteRequest {
    user_id: i64,
    is_muted: bool,
}

#[utoipa::path(post, path = "/api/admin/online/mute", tag = "admin-online", security(("bearer" = [])),
    request_body = crate::openapi::shapes::MuteRequest,
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::Muted>)))]
async fn mute(state: web::Data<AppState>, body: web::Json<MuteRequest>) -> ApiResult {
    users::get_active(&state.db, body.user_id).await?;
    chat::set_muted(&state, body.user_id, body.is_muted).await?;
    ok(
        "操作成功",
        json!({ "user_id": body.user_id, "is_muted": body.is_muted }),
    )
}

#[derive(Deserialize)]
struct ContentRequest {
    content: String,
}

fn checked_content(content: &str) -> Result<String, AppError> {
    let content = content.trim();
    if content.is_empty() {
        return Err(AppError::invalid_input("参数错误: content: 内容不能为空"));
    }
    if content.chars().count() > 1000 {
        return Err(AppError::invalid_input("参数错误: content: 内容过长"));
    }
    Ok(content.to_owned())
}

#[utoipa::path(post, path = "/api/admin/online/users/{user_id}/message", tag = "admin-online", security(("bearer" = [])),
    params(("user_id" = i64, Path)),
    request_body = crate::openapi::shapes::ContentRequest,
    responses((status = 200, description = "消息发送成功 (an admin_message frame); 400 用户不在线", body = crate::openapi::Done)))]
async fn message_user(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ContentRequest>,
) -> ApiResult {
    let user_id = target_user(&path)?;
    let content = checked_content(&body.content)?;
    if !state.realtime.is_online(user_id).await? {
        return Err(AppError::bad_request("用户不在线"));
    }
    let data = json!({ "content": content, "created_at": Utc::now() });
    state
        .realtime
        .send(
            Target::Users(vec![user_id]),
            &frame("admin_message", 0, data),
        )
        .await;
    ok_msg("消息发送成功")
}

#[utoipa::path(post, path = "/api/admin/broadcast", tag = "admin-online", security(("bearer" = [])),
    request_body = crate::openapi::shapes::ContentRequest,
    responses((status = 200, description = "广播成功 (a system_message frame to every connection)", body = crate::openapi::Done)))]
async fn broadcast(state: web::Data<AppState>, body: web::Json<ContentRequest>) -> ApiResult {
    let content = checked_content(&body.content)?;
    let data = json!({ "content": content, "created_at": Utc::now() });
    state
        .realtime
        .send(Target::All, &frame("system_message", 0, data))
        .await;
    ok_msg("广播成功")
}
