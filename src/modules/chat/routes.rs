use std::collections::HashMap;

use actix_web::web;
use serde_json::{Value, json};

use super::dto::{
    BillingView, MessageView, MessagesQuery, ReadRequest, SendMessageRequest, SessionView,
    WithdrawRequestBody, user_brief,
};
use super::entity::{billing, session};
use super::service::{self as chat, EndReason, NewMessage, Session};
use crate::error::AppError;
use crate::http::{Pagination, ValidatedJson, parse_id};
use crate::modules::auth::CurrentUser;
use crate::modules::counselors::service as counselors;
use crate::modules::finance::dto::{AccountView, WithdrawView};
use crate::modules::finance::entity::withdrawal;
use crate::modules::finance::service as finance;
use crate::modules::users::service as users;
use crate::money;
use crate::response::{ApiResult, ok};
use crate::state::AppState;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

/// Both route sets (the design's and the client's) share these handlers.
pub fn user_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/chat/start/{order_id}", web::post().to(start))
        .route("/api/chat/session/{order_id}/start", web::post().to(start))
        .route(
            "/api/chat/order/{order_id}/session",
            web::get().to(session_of_order),
        )
        .route(
            "/api/chat/session/{session_id}/message",
            web::post().to(send),
        )
        .route("/api/chat/messages/{session_id}", web::get().to(messages))
        .route(
            "/api/chat/session/{session_id}/messages",
            web::get().to(messages),
        )
        .route("/api/chat/session/{session_id}/read", web::post().to(read))
        .route("/api/chat/end/{session_id}", web::post().to(end))
        .route("/api/chat/session/{session_id}/end", web::post().to(end))
        .route("/api/chat/sessions", web::get().to(sessions))
        .route("/api/chat/billings", web::get().to(my_billings))
        .route(
            "/api/chat/counselor/billings",
            web::get().to(counselor_billings),
        )
        .route(
            "/api/chat/counselor/account",
            web::get().to(counselor_account),
        )
        .route(
            "/api/chat/counselor/withdraw",
            web::post().to(request_withdraw),
        )
        .route("/api/chat/counselor/withdraws", web::get().to(my_withdraws));
}

const MSG_ORDER_NOT_FOUND: &str = "订单不存在";

#[utoipa::path(post, path = "/api/chat/start/{order_id}", tag = "chat", security(("bearer" = [])),
    params(("order_id" = i64, Path)),
    responses((status = 200, description = "创建成功, or 会话已存在 with the existing session (counselor only)", body = crate::openapi::Envelope<crate::openapi::shapes::ChatSessionRef>)))]
async fn start(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> ApiResult {
    let order_id = parse_id(&path, MSG_ORDER_NOT_FOUND)?;
    let (session, existed) = chat::start_session(&state, user.0.id, order_id).await?;
    let msg = if existed {
        "会话已存在"
    } else {
        "创建成功"
    };
    ok(
        msg,
        json!({ "session_id": session.id, "status": session.status }),
    )
}

#[utoipa::path(get, path = "/api/chat/order/{order_id}/session", tag = "chat", security(("bearer" = [])),
    params(("order_id" = i64, Path)),
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::ChatSessionRef>)))]
async fn session_of_order(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> ApiResult {
    let order_id = parse_id(&path, MSG_ORDER_NOT_FOUND)?;
    let order = crate::modules::orders::service::get_order(&state.db, order_id).await?;
    let counselor = counselors::get_counselor(&state.db, order.counselor_id).await?;
    if order.user_id != user.0.id && counselor.user_id != Some(user.0.id) {
        return Err(AppError::forbidden("无权访问此订单"));
    }
    let session = chat::session_of_order(&state.db, order_id)
        .await?
        .ok_or_else(|| AppError::not_found("会话尚未创建，请等待咨询师发起"))?;
    ok(
        "获取成功",
        json!({ "session_id": session.id, "status": session.status }),
    )
}

/// The user objects of a session's two parties, and its counselor object.
async fn parties(state: &AppState, s: &Session) -> Result<(HashMap<i64, Value>, Value), AppError> {
    let mut people = HashMap::new();
    for id in [s.user_id, s.counselor_user_id] {
        let brief = users::find_active(&state.db, id)
            .await?
            .map(|u| user_brief(u.id, &u.username, &u.avatar))
            .unwrap_or_else(|| user_brief(id, "", ""));
        people.insert(id, brief);
    }
    let counselor = counselors::find_counselor(&state.db, s.counselor_id)
        .await?
        .map(|c| counselor_brief(&c))
        .unwrap_or_else(|| json!({ "id": s.counselor_id, "name": "" }));
    Ok((people, counselor))
}

pub fn counselor_brief(c: &counselors::Counselor) -> Value {
    json!({
        "id": c.id,
        "user_id": c.user_id.unwrap_or_default(),
        "name": c.name,
        "title": c.title,
        "avatar": c.avatar,
        "price": money::to_yuan(c.price),
    })
}

#[utoipa::path(post, path = "/api/chat/session/{session_id}/message", tag = "chat", security(("bearer" = [])),
    params(("session_id" = i64, Path)),
    request_body = SendMessageRequest,
    responses((status = 200, description = "发送成功 (a repeated client_msg_id answers the stored message)", body = crate::openapi::Envelope<MessageView>)))]
async fn send(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
    ValidatedJson(body): ValidatedJson<SendMessageRequest>,
) -> ApiResult {
    let session_id = parse_id(&path, chat::MSG_SESSION_NOT_FOUND)?;
    let content_type = if body.content_type.is_empty() {
        "text".to_owned()
    } else {
        body.content_type
    };
    let (session, _) = chat::session_for(&state.db, user.0.id, session_id).await?;
    let (stored, _) = chat::send_message(
        &state,
        user.0.id,
        &chat::Parties::of(&session),
        NewMessage {
            content: body.content,
            content_type,
            file_url: body.file_url,
            client_msg_id: body.client_msg_id.filter(|id| !id.is_empty()),
        },
    )
    .await?;
    let session = chat::get_session(&state.db, session_id).await?;
    let (people, counselor) = parties(&state, &session).await?;
    let session_json = serde_json::to_value(SessionView::new(
        &session,
        people.get(&session.user_id).cloned().unwrap_or(Value::Null),
        counselor,
    ))
    .map_err(anyhow::Error::from)?;
    let sender = people
        .get(&stored.sender_id)
        .cloned()
        .unwrap_or(Value::Null);
    ok("发送成功", MessageView::new(&stored, sender, session_json))
}

#[utoipa::path(get, path = "/api/chat/messages/{session_id}", tag = "chat", security(("bearer" = [])),
    params(("session_id" = i64, Path), ("after_seq" = Option<i64>, Query), ("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query)),
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::ChatMessages>)))]
async fn messages(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
    query: web::Query<MessagesQuery>,
    req: actix_web::HttpRequest,
) -> ApiResult {
    let session_id = parse_id(&path, chat::MSG_SESSION_NOT_FOUND)?;
    let (session, _) = chat::session_for(&state.db, user.0.id, session_id).await?;
    let page = Pagination::from_query(req.query_string(), 20)?;
    let (rows, total) = chat::list_messages(
        &state,
        session_id,
        query.after_seq,
        page.offset(),
        page.page_size,
    )
    .await?;
    let (people, counselor) = parties(&state, &session).await?;
    // Chat.vue counts down from `session.start_time + session.duration` minutes, so the nested session
    // carries the booked minutes as `duration` (and the seconds chatted as `duration_seconds`).
    let mut session_json = serde_json::to_value(SessionView::new(
        &session,
        people.get(&session.user_id).cloned().unwrap_or(Value::Null),
        counselor,
    ))
    .map_err(anyhow::Error::from)?;
    session_json["duration_seconds"] = json!(session.duration);
    session_json["duration"] = json!(session.booked_minutes);
    let list: Vec<MessageView> = rows
        .iter()
        .map(|m| {
            let sender = people.get(&m.sender_id).cloned().unwrap_or(Value::Null);
            MessageView::new(m, sender, session_json.clone())
        })
        .collect();
    ok(
        "获取成功",
        json!({ "messages": list, "total": total, "last_seq": session.last_seq, "session": session_json }),
    )
}

#[utoipa::path(post, path = "/api/chat/session/{session_id}/read", tag = "chat", security(("bearer" = [])),
    params(("session_id" = i64, Path)),
    request_body = ReadRequest,
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::ChatRead>)))]
async fn read(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
    ValidatedJson(body): ValidatedJson<ReadRequest>,
) -> ApiResult {
    let session_id = parse_id(&path, chat::MSG_SESSION_NOT_FOUND)?;
    let seq = match (body.seq, body.message_id) {
        (Some(seq), _) => seq,
        (None, Some(id)) => chat::seq_of_message(&state.db, session_id, id)
            .await?
            .ok_or_else(|| AppError::not_found("消息不存在"))?,
        (None, None) => return Err(AppError::invalid_input("参数错误: 缺少seq或message_id")),
    };
    let read_seq = chat::mark_read(&state, user.0.id, session_id, seq).await?;
    ok("标记成功", json!({ "read_seq": read_seq }))
}

#[utoipa::path(post, path = "/api/chat/end/{session_id}", tag = "chat", security(("bearer" = [])),
    params(("session_id" = i64, Path)),
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::ChatEnded>)))]
async fn end(state: web::Data<AppState>, user: CurrentUser, path: web::Path<String>) -> ApiResult {
    let session_id = parse_id(&path, chat::MSG_SESSION_NOT_FOUND)?;
    let (session, _) = chat::session_for(&state.db, user.0.id, session_id).await?;
    if session.status != chat::status::ACTIVE && session.status != chat::status::WAITING {
        return Err(AppError::bad_request(chat::MSG_ENDED));
    }
    let ended = chat::end_session(&state, session_id, EndReason::Rest).await?;
    if !ended.ended_now {
        return Err(AppError::bad_request(chat::MSG_ENDED));
    }
    ok(
        "结束成功",
        json!({
            "duration": ended.session.duration,
            "status": ended.session.status,
            "billing": ended.billing.as_ref().map(BillingView::from),
        }),
    )
}

#[utoipa::path(get, path = "/api/chat/sessions", tag = "chat", security(("bearer" = [])),
    params(("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query)),
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::ChatSessions>)))]
async fn sessions(state: web::Data<AppState>, user: CurrentUser, page: Pagination) -> ApiResult {
    let filter = Condition::any()
        .add(session::Column::UserId.eq(user.0.id))
        .add(session::Column::CounselorUserId.eq(user.0.id));
    let query = session::Entity::find().filter(filter);
    let total = query.clone().count(&state.db).await?;
    let rows = query
        .order_by_desc(session::Column::CreatedAt)
        .order_by_desc(session::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(&state.db)
        .await?;
    let list = super::admin::session_views(&state, &rows).await?;
    ok("获取成功", json!({ "sessions": list, "total": total }))
}

async fn billings_page(state: &AppState, condition: Condition, page: Pagination) -> ApiResult {
    let query = billing::Entity::find().filter(condition);
    let total = query.clone().count(&state.db).await?;
    let rows = query
        .order_by_desc(billing::Column::CreatedAt)
        .order_by_desc(billing::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(&state.db)
        .await?;
    let list: Vec<BillingView> = rows.iter().map(BillingView::from).collect();
    ok("获取成功", json!({ "billings": list, "total": total }))
}

#[utoipa::path(get, path = "/api/chat/billings", tag = "chat", security(("bearer" = [])),
    params(("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query)),
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::ChatBillings>)))]
async fn my_billings(state: web::Data<AppState>, user: CurrentUser, page: Pagination) -> ApiResult {
    billings_page(
        &state,
        Condition::all().add(billing::Column::UserId.eq(user.0.id)),
        page,
    )
    .await
}

#[utoipa::path(get, path = "/api/chat/counselor/billings", tag = "chat", security(("bearer" = [])),
    params(("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query)),
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::ChatBillings>)))]
async fn counselor_billings(
    state: web::Data<AppState>,
    user: CurrentUser,
    page: Pagination,
) -> ApiResult {
    let counselor_id = finance::counselor_id_of_user(&state.db, user.0.id).await?;
    billings_page(
        &state,
        Condition::all().add(billing::Column::CounselorId.eq(counselor_id)),
        page,
    )
    .await
}

#[utoipa::path(get, path = "/api/chat/counselor/account", tag = "chat", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::CounselorAccount>)))]
async fn counselor_account(state: web::Data<AppState>, user: CurrentUser) -> ApiResult {
    let counselor = counselors::counselor_of_user(&state.db, user.0.id)
        .await?
        .ok_or_else(|| AppError::forbidden(finance::MSG_NOT_COUNSELOR))?;
    let account = finance::get_account(&state.db, counselor.id).await?;
    ok(
        "获取成功",
        json!({ "account": AccountView::new(&account, counselor_brief(&counselor)) }),
    )
}

#[utoipa::path(post, path = "/api/chat/counselor/withdraw", tag = "chat", security(("bearer" = [])),
    request_body = WithdrawRequestBody,
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::CounselorWithdraw>)))]
async fn request_withdraw(
    state: web::Data<AppState>,
    user: CurrentUser,
    ValidatedJson(body): ValidatedJson<WithdrawRequestBody>,
) -> ApiResult {
    let counselor = counselors::counselor_of_user(&state.db, user.0.id)
        .await?
        .ok_or_else(|| AppError::forbidden(finance::MSG_NOT_COUNSELOR))?;
    let amount = money::from_yuan(body.amount)
        .filter(|fen| *fen > 0)
        .ok_or_else(|| {
            AppError::invalid_input("参数错误: amount: 提现金额必须大于0且最多两位小数")
        })?;
    let record = finance::request_withdrawal(
        &state.db,
        &state.bus,
        counselor.id,
        finance::WithdrawRequest {
            amount,
            bank_name: body.bank_name,
            bank_account: body.bank_account,
            account_name: body.account_name,
        },
    )
    .await?;
    ok(
        "申请成功",
        json!({ "withdraw": WithdrawView::new(&record, counselor_brief(&counselor)) }),
    )
}

#[utoipa::path(get, path = "/api/chat/counselor/withdraws", tag = "chat", security(("bearer" = [])),
    params(("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query)),
    responses((status = 200, description = "Success", body = crate::openapi::Envelope<crate::openapi::shapes::CounselorWithdraws>)))]
async fn my_withdraws(
    state: web::Data<AppState>,
    user: CurrentUser,
    page: Pagination,
) -> ApiResult {
    let counselor = counselors::counselor_of_user(&state.db, user.0.id)
        .await?
        .ok_or_else(|| AppError::forbidden(finance::MSG_NOT_COUNSELOR))?;
    let query = withdrawal::Entity::find().filter(withdrawal::Column::CounselorId.eq(counselor.id));
    let total = query.clone().count(&state.db).await?;
    let rows = query
        .order_by_desc(withdrawal::Column::CreatedAt)
        .order_by_desc(withdrawal::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(&state.db)
        .await?;
    let brief = counselor_brief(&counselor);
    let list: Vec<WithdrawView> = rows
        .iter()
        .map(|w| WithdrawView::new(w, brief.clone()))
        .collect();
    ok("获取成功", json!({ "withdraws": list, "total": total }))
}
