//! Rules for chat sessions and messages: who may take part, the per-session message sequence, idempotent
//! resends, read markers, and ending a session, which bills it exactly once whichever path ends it.
//! The console's settings (through `system::settings`) switch image and voice messages off, set the idle
//! timeout, and set the free period and billing cycle of the tariff.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;

use super::billing::bill;
use super::crypto;
use super::entity::{billing, message, session};
use super::hub::{Target, frame};
use crate::bus::{DomainEvent, EventBus};
use crate::db::statement;
use crate::error::{AppError, AppResult, is_unique_violation, unique_or_internal};
use crate::modules::counselors::service as counselors;
use crate::modules::finance::service as finance;
use crate::modules::orders::service as orders;
use crate::modules::orders::status::{Actor, OrderStatus};
use crate::modules::payments::refunds;
use crate::money;
use crate::state::AppState;

pub type Session = session::Model;
pub type Message = message::Model;
pub type Billing = billing::Model;

pub const MSG_SESSION_NOT_FOUND: &str = "会话不存在";
pub const MSG_NO_ACCESS: &str = "无权访问此会话";
pub const MSG_NOT_ACTIVE: &str = "会话未进行中";
pub const MSG_ENDED: &str = "会话已结束";
pub const MSG_MUTED: &str = "您已被禁言";

/// Session states.
pub mod status {
    pub const WAITING: i32 = 0;
    pub const ACTIVE: i32 = 1;
    pub const ENDED: i32 = 2;
    pub const TIMED_OUT: i32 = 3;
}

/// Which side of a session someone is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Counselor,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Counselor => "counselor",
        }
    }
}

/// Why a session ended; also the `ended_by` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Rest,
    WsLeave,
    Idle,
    Duration,
    Admin,
}

impl EndReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::WsLeave => "ws",
            Self::Idle => "idle",
            Self::Duration => "duration",
            Self::Admin => "admin",
        }
    }
}

pub fn role_of(session: &Session, user_id: i64) -> Option<Role> {
    Parties::of(session).role_of(user_id)
}

pub async fn find_session<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Option<Session>> {
    Ok(session::Entity::find_by_id(id).one(db).await?)
}

pub async fn get_session<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Session> {
    find_session(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_SESSION_NOT_FOUND))
}

/// Reads the session inside `txn` and keeps it locked until `txn` ends (see [`crate::db::for_update`]).
pub async fn lock_session<C: ConnectionTrait>(txn: &C, id: i64) -> AppResult<Session> {
    crate::db::for_update(session::Entity::find_by_id(id), txn.get_database_backend())
        .one(txn)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_SESSION_NOT_FOUND))
}

/// The session if `user_id` takes part in it, with their role.
pub async fn session_for(
    db: &DatabaseConnection,
    user_id: i64,
    session_id: i64,
) -> AppResult<(Session, Role)> {
    let session = get_session(db, session_id).await?;
    let role = role_of(&session, user_id).ok_or_else(|| AppError::forbidden(MSG_NO_ACCESS))?;
    Ok((session, role))
}

pub async fn session_of_order<C: ConnectionTrait>(
    db: &C,
    order_id: i64,
) -> AppResult<Option<Session>> {
    Ok(session::Entity::find()
        .filter(session::Column::OrderId.eq(order_id))
        .one(db)
        .await?)
}

/// Whether `user_id` is the buyer or the counselor of `order`; returns the counselor's user id.
async fn order_participant(
    db: &DatabaseConnection,
    order: &orders::Order,
    user_id: i64,
) -> AppResult<Option<i64>> {
    let counselor = counselors::get_counselor(db, order.counselor_id).await?;
    let is_party = order.user_id == user_id || counselor.user_id == Some(user_id);
    if !is_party {
        return Err(AppError::forbidden("无权访问此订单"));
    }
    Ok(counselor.user_id)
}

/// Opens (or returns) the session of a paid order and records that the caller joined it (the REST side
/// of joining). The buyer or the order's counselor may call it. The billing clock starts only once both
/// parties have joined (here or over WebSocket). Returns the session and whether it existed already.
///
/// The session is created under the order's row lock, so a cancel (which checks for an open session
/// under the same lock) and a start can never both win.
pub async fn start_session(
    state: &AppState,
    user_id: i64,
    order_id: i64,
) -> AppResult<(Session, bool)> {
    let db = &state.db;
    let order = orders::get_order(db, order_id).await?;
    let counselor_user_id = order_participant(db, &order, user_id).await?;
    if let Some(existing) = session_of_order(db, order_id).await? {
        if existing.status == status::WAITING || existing.status == status::ACTIVE {
            join(state, &existing, user_id).await?;
            return Ok((get_session(db, existing.id).await?, true));
        }
        return Err(AppError::bad_request(MSG_ENDED));
    }
    let Some(counselor_user_id) = counselor_user_id else {
        return Err(AppError::bad_request("咨询师尚未开通账号，暂无法开始会话"));
    };
    let txn = db.begin().await?;
    let order = orders::get_order_for_update(&txn, order_id).await?;
    if orders::status_of(&order)? != OrderStatus::Paid {
        return Err(AppError::bad_request("订单状态不允许开始会话"));
    }
    // All of it is reserved by a refund the channel has not settled: once it does, the order is
    // refunded, and a session opened meanwhile would be left open on a refunded order.
    if refunds::paid_in_txn(&txn, &order).await?.remaining() == 0 {
        return Err(AppError::conflict(refunds::MSG_REFUND_PENDING));
    }
    let now = Utc::now();
    let joined = |who: i64| Set((who == user_id).then_some(now));
    let inserted = session::ActiveModel {
        order_id: Set(order.id),
        user_id: Set(order.user_id),
        counselor_id: Set(order.counselor_id),
        counselor_user_id: Set(counselor_user_id),
        status: Set(status::WAITING),
        start_time: Set(None),
        end_time: Set(None),
        duration: Set(0),
        price: Set(order.price_per_minute),
        booked_minutes: Set(order.duration),
        total_amount: Set(0),
        last_seq: Set(0),
        user_read_seq: Set(0),
        counselor_read_seq: Set(0),
        ended_by: Set(String::new()),
        warned: Set(false),
        user_joined_at: joined(order.user_id),
        counselor_joined_at: joined(counselor_user_id),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let created = match inserted {
        Ok(s) => s,
        // Two starts raced (on a backend where the lock did not serialize them); the other one created it.
        Err(e) if is_unique_violation(&e) => {
            drop(txn);
            let existing = session_of_order(db, order_id)
                .await?
                .ok_or_else(|| AppError::conflict("会话已存在"))?;
            join(state, &existing, user_id).await?;
            return Ok((get_session(db, existing.id).await?, true));
        }
        Err(e) => return Err(e.into()),
    };
    txn.commit().await?;
    Ok((created, false))
}

/// Where the session of `order_id` is, for the order lifecycle table. Read on the caller's transaction,
/// which holds the order's lock: every session state change takes that lock first.
pub async fn phase_of_order<C: ConnectionTrait>(
    db: &C,
    order_id: i64,
) -> AppResult<crate::modules::orders::rules::SessionPhase> {
    use crate::modules::orders::rules::SessionPhase;
    Ok(
        match session_of_order(db, order_id).await?.map(|s| s.status) {
            None => SessionPhase::None,
            Some(status::WAITING) => SessionPhase::Waiting,
            Some(status::ACTIVE) => SessionPhase::Active,
            Some(_) => SessionPhase::Ended,
        },
    )
}

/// The billing of the session of `order_id`, if it was billed.
pub async fn billing_of_order<C: ConnectionTrait>(
    db: &C,
    order_id: i64,
) -> AppResult<Option<Billing>> {
    Ok(billing::Entity::find()
        .filter(billing::Column::OrderId.eq(order_id))
        .one(db)
        .await?)
}

/// Records that `user_id` joined `session` (REST start or WebSocket join). The first presence of the
/// second party starts the billing clock (0 → 1), under the order's lock and only while the order is
/// still paid; then both parties are told. Returns whether the clock started now.
pub async fn join(state: &AppState, session: &Session, user_id: i64) -> AppResult<bool> {
    let Some(role) = role_of(session, user_id) else {
        return Err(AppError::forbidden(MSG_NO_ACCESS));
    };
    let already = match role {
        Role::User => session.user_joined_at.is_some(),
        Role::Counselor => session.counselor_joined_at.is_some(),
    };
    // The common case (a reconnect to a running session) costs nothing.
    if already && session.status != status::WAITING {
        return Ok(false);
    }
    let column = match role {
        Role::User => session::Column::UserJoinedAt,
        Role::Counselor => session::Column::CounselorJoinedAt,
    };
    let now = Utc::now();
    let txn = state.db.begin().await?;
    let order = orders::get_order_for_update(&txn, session.order_id).await?;
    session::Entity::update_many()
        .col_expr(column, Expr::value(now))
        .filter(session::Column::Id.eq(session.id))
        .filter(column.is_null())
        .exec(&txn)
        .await?;
    let current = lock_session(&txn, session.id).await?;
    let both = current.user_joined_at.is_some() && current.counselor_joined_at.is_some();
    let paid = orders::status_of(&order)? == OrderStatus::Paid;
    if !(both && paid && current.status == status::WAITING) {
        txn.commit().await?;
        return Ok(false);
    }
    // Nothing left to bill (a refund of all of it is still processing at the channel): no clock.
    if refunds::paid_in_txn(&txn, &order).await?.remaining() == 0 {
        txn.commit().await?;
        return Ok(false);
    }
    let res = session::Entity::update_many()
        .col_expr(session::Column::Status, Expr::value(status::ACTIVE))
        .col_expr(session::Column::StartTime, Expr::value(now))
        .col_expr(session::Column::UpdatedAt, Expr::value(now))
        .filter(session::Column::Id.eq(session.id))
        .filter(session::Column::Status.eq(status::WAITING))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        txn.commit().await?;
        return Ok(false);
    }
    EventBus::record(
        &txn,
        &DomainEvent::ChatSessionStarted {
            session_id: session.id,
            order_id: session.order_id,
            user_id: session.user_id,
            counselor_user_id: session.counselor_user_id,
        },
    )
    .await?;
    txn.commit().await?;
    state.bus.notify();
    let data = json!({
        "price": money::to_yuan(session.price),
        "start_time": now,
        "booked_minutes": session.booked_minutes,
    });
    state
        .realtime
        .send(
            participants(session),
            &frame("session_start", session.id, data),
        )
        .await;
    Ok(true)
}

pub fn participants(session: &Session) -> Target {
    Parties::of(session).target()
}

fn mute_key(user_id: i64) -> String {
    format!("chat:mute:{user_id}")
}

pub async fn is_muted(state: &AppState, user_id: i64) -> bool {
    matches!(state.infra.cache.get(&mute_key(user_id)).await, Ok(Some(_)))
}

/// Mutes or unmutes a user on every instance.
pub async fn set_muted(state: &AppState, user_id: i64, muted: bool) -> AppResult<()> {
    let key = mute_key(user_id);
    if muted {
        state
            .infra
            .cache
            .set(&key, "1", Duration::from_secs(365 * 24 * 3600))
            .await?;
    } else {
        state.infra.cache.delete(&key).await?;
    }
    Ok(())
}

fn activity_key(session_id: i64) -> String {
    format!("chat:activity:{session_id}")
}

/// Marks a session as in use now (any inbound frame), so the idle timeout starts over.
pub async fn touch(state: &AppState, session_id: i64) {
    let ttl = crate::modules::system::settings::session_idle_timeout(state).await;
    if let Err(e) = state
        .infra
        .cache
        .set(&activity_key(session_id), "1", ttl)
        .await
    {
        tracing::warn!(error.cause_chain = ?e, "session activity mark failed");
    }
}

/// What a message may link to: one of our uploads, or an http(s) URL with a host. Anything else
/// (`javascript:`, `data:`, `//evil`, `/uploads/../x`) would be rendered as a link by the clients.
fn is_file_link(url: &str) -> bool {
    if url.starts_with("/uploads/") {
        return crate::modules::files::storage::local_path_of(std::path::Path::new("/"), url)
            .is_some()
            && !url.chars().any(|c| c.is_control() || c.is_whitespace());
    }
    reqwest::Url::parse(url).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host().is_some() && url.starts_with(u.scheme())
    })
}

pub struct NewMessage {
    pub content: String,
    pub content_type: String,
    pub file_url: String,
    pub client_msg_id: Option<String>,
}

const CONTENT_TYPES: &[&str] = &["text", "image", "file", "voice", "video"];

fn validate_message(state: &AppState, msg: &NewMessage) -> AppResult<()> {
    if !CONTENT_TYPES.contains(&msg.content_type.as_str()) {
        return Err(AppError::invalid_input(
            "参数错误: content_type: 不支持的消息类型",
        ));
    }
    if msg.content_type == "text" && msg.content.trim().is_empty() {
        return Err(AppError::invalid_input(
            "参数错误: content: 消息内容不能为空",
        ));
    }
    if msg.content.chars().count() > state.settings.chat.max_message_chars {
        return Err(AppError::invalid_input("参数错误: content: 消息过长"));
    }
    if msg.content_type != "text" && msg.file_url.trim().is_empty() && msg.content.trim().is_empty()
    {
        return Err(AppError::invalid_input("参数错误: file_url: 缺少文件地址"));
    }
    if msg.file_url.len() > 255 {
        return Err(AppError::invalid_input("参数错误: file_url: 文件地址过长"));
    }
    if !msg.file_url.is_empty() && !is_file_link(&msg.file_url) {
        return Err(AppError::invalid_input(
            "参数错误: file_url: 只能是 /uploads/ 下的文件或 http(s) 地址",
        ));
    }
    if msg.client_msg_id.as_ref().is_some_and(|id| id.len() > 64) {
        return Err(AppError::invalid_input("参数错误: client_msg_id: 过长"));
    }
    Ok(())
}

async fn find_by_client_id<C: ConnectionTrait>(
    db: &C,
    session_id: i64,
    sender_id: i64,
    client_msg_id: &str,
) -> AppResult<Option<Message>> {
    Ok(message::Entity::find()
        .filter(message::Column::SessionId.eq(session_id))
        .filter(message::Column::SenderId.eq(sender_id))
        .filter(message::Column::ClientMsgId.eq(client_msg_id))
        .one(db)
        .await?)
}

/// Where a file was shared in a chat: a session, or one message of it.
#[derive(Debug, Clone, Copy)]
pub enum SharedIn {
    Session(i64),
    Message(i64),
}

/// Whether `user_id` is one of the two members of the session a file was shared in (the files module's
/// read check for chat files).
pub async fn takes_part_in<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    shared: SharedIn,
) -> AppResult<bool> {
    let session_id = match shared {
        SharedIn::Session(id) => id,
        SharedIn::Message(id) => match message::Entity::find_by_id(id).one(db).await? {
            Some(m) => m.session_id,
            None => return Ok(false),
        },
    };
    Ok(find_session(db, session_id)
        .await?
        .is_some_and(|s| role_of(&s, user_id).is_some()))
}

/// Who takes part in a session. It never changes while the session lives, so a socket keeps it instead of
/// reading the session row for every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parties {
    pub session_id: i64,
    pub user_id: i64,
    pub counselor_user_id: i64,
}

impl Parties {
    pub fn of(session: &Session) -> Self {
        Self {
            session_id: session.id,
            user_id: session.user_id,
            counselor_user_id: session.counselor_user_id,
        }
    }

    pub fn role_of(&self, user_id: i64) -> Option<Role> {
        if self.user_id == user_id {
            Some(Role::User)
        } else if self.counselor_user_id == user_id {
            Some(Role::Counselor)
        } else {
            None
        }
    }

    /// The other side of `user_id`.
    pub fn other_than(&self, user_id: i64) -> i64 {
        if self.user_id == user_id {
            self.counselor_user_id
        } else {
            self.user_id
        }
    }

    pub fn target(&self) -> Target {
        Target::Users(vec![self.user_id, self.counselor_user_id])
    }
}

/// Stores a message with the next `seq` of its session, then delivers it to both parties (the sender's
/// own connections get it back as the acknowledgement). A resend with the same `client_msg_id` returns
/// the stored message without storing or delivering it again; the flag says whether it is new.
pub async fn send_message(
    state: &AppState,
    user_id: i64,
    parties: &Parties,
    msg: NewMessage,
) -> AppResult<(Message, bool)> {
    let role = parties
        .role_of(user_id)
        .ok_or_else(|| AppError::forbidden(MSG_NO_ACCESS))?;
    validate_message(state, &msg)?;
    if !crate::modules::system::settings::message_type_allowed(state, &msg.content_type).await {
        let kind = if msg.content_type == "image" {
            "图片"
        } else {
            "语音"
        };
        return Err(AppError::forbidden(format!(
            "管理员已关闭{kind}消息，请发送文字"
        )));
    }
    if is_muted(state, user_id).await {
        return resend_or(
            state,
            parties,
            user_id,
            &msg,
            AppError::forbidden(MSG_MUTED),
        )
        .await;
    }
    // The happy path costs one statement; a resend shows up as the unique key's conflict, and a resend
    // to a session that has since ended as "not active", so both look the stored message up only then.
    let stored = match store_message(state, parties.session_id, user_id, role, &msg).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            let not_active = AppError::bad_request(MSG_NOT_ACTIVE);
            return resend_or(state, parties, user_id, &msg, not_active).await;
        }
        Err(AppError::Conflict(m)) => {
            return resend_or(state, parties, user_id, &msg, AppError::Conflict(m)).await;
        }
        Err(e) => return Err(e),
    };
    touch(state, parties.session_id).await;
    state
        .realtime
        .send(parties.target(), &message_frame(&stored))
        .await;
    Ok((stored, true))
}

/// The stored message this one resends, if any; otherwise `refusal`.
async fn resend_or(
    state: &AppState,
    parties: &Parties,
    user_id: i64,
    msg: &NewMessage,
    refusal: AppError,
) -> AppResult<(Message, bool)> {
    if let Some(client_id) = &msg.client_msg_id
        && let Some(existing) =
            find_by_client_id(&state.db, parties.session_id, user_id, client_id).await?
    {
        return Ok((open_message(&state.chat_keys, existing), false));
    }
    Err(refusal)
}

/// Takes the next `seq` of an active session inside `txn` (MySQL/MariaDB and SQLite; PostgreSQL does it in
/// the insert's own statement). `None` when the session is not active.
async fn next_seq<C: ConnectionTrait>(
    txn: &C,
    session_id: i64,
    now: chrono::DateTime<Utc>,
) -> AppResult<Option<i64>> {
    let backend = txn.get_database_backend();
    let values = vec![now.into(), session_id.into(), status::ACTIVE.into()];
    if backend == DatabaseBackend::MySql {
        // LAST_INSERT_ID(expr) hands the new seq back in the reply to the UPDATE itself. `status + 0`
        // keeps InnoDB on the primary key: through the status index it locked that index first and the
        // row second, the reverse of ending a session (row, then its status entry), and the two
        // deadlocked.
        let bumped = txn
            .execute_raw(statement(
                backend,
                "UPDATE chat_sessions SET last_seq = LAST_INSERT_ID(last_seq + 1), updated_at = ? \
                 WHERE id = ? AND status + 0 = ?",
                values,
            ))
            .await?;
        return Ok((bumped.rows_affected() == 1).then(|| bumped.last_insert_id() as i64));
    }
    let row = txn
        .query_one_raw(statement(
            backend,
            "UPDATE chat_sessions SET last_seq = last_seq + 1, updated_at = ? \
             WHERE id = ? AND status = ? RETURNING last_seq",
            values,
        ))
        .await?;
    Ok(match row {
        Some(row) => Some(row.try_get::<i64>("", "last_seq")?),
        None => None,
    })
}

const INSERT_MESSAGE_COLUMNS: &str = "session_id, seq, sender_id, sender_type, content_type, content, \
     file_url, client_msg_id, is_read, created_at, key_id";

/// Allocates the next `seq` of an active session and stores the message, sealed, in one short
/// transaction. The session row's update both allocates the seq and serializes the senders of one
/// session. The seq is known before the insert because it is sealed into the content's associated data
/// (PostgreSQL once did both in one statement; that cannot seal with the seq). `None` when the session
/// is not active.
async fn store_message(
    state: &AppState,
    session_id: i64,
    sender_id: i64,
    role: Role,
    msg: &NewMessage,
) -> AppResult<Option<Message>> {
    let db = &state.db;
    let backend = db.get_database_backend();
    let now = Utc::now();
    let conflict = |e: sea_orm::DbErr| unique_or_internal(e, "消息重复");
    let txn = db.begin().await?;
    let Some(seq) = next_seq(&txn, session_id, now).await? else {
        return Ok(None);
    };
    let sealed = state
        .chat_keys
        .seal(msg.content.as_bytes(), &crypto::message_ad(session_id, seq))
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("sealing a message")))?;
    let values: Vec<sea_orm::Value> = vec![
        session_id.into(),
        seq.into(),
        sender_id.into(),
        role.as_str().into(),
        msg.content_type.as_str().into(),
        sealed.text.into(),
        msg.file_url.as_str().into(),
        msg.client_msg_id.clone().into(),
        false.into(),
        now.into(),
        sealed.key_id.into(),
    ];
    let sql = format!(
        "INSERT INTO chat_messages ({INSERT_MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    let id = if backend == DatabaseBackend::Postgres {
        let row = txn
            .query_one_raw(statement(backend, &format!("{sql} RETURNING id"), values))
            .await
            .map_err(conflict)?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("INSERT RETURNING gave no row")))?;
        row.try_get::<i64>("", "id")?
    } else {
        let inserted = txn
            .execute_raw(statement(backend, &sql, values))
            .await
            .map_err(conflict)?;
        inserted.last_insert_id() as i64
    };
    txn.commit().await?;
    Ok(Some(Message {
        id,
        session_id,
        seq,
        sender_id,
        sender_type: role.as_str().to_owned(),
        content_type: msg.content_type.clone(),
        content: Some(msg.content.clone()),
        file_url: msg.file_url.clone(),
        client_msg_id: msg.client_msg_id.clone(),
        is_read: false,
        read_time: None,
        created_at: now,
        key_id: Some(sealed.key_id),
    }))
}

/// Shown in place of a message whose content does not open (a lost key or a changed row); the cause is
/// logged.
pub const UNREADABLE: &str = "[无法解密的消息]";

/// The one way a stored message's content becomes readable: opens `content` with key `key_id` and the
/// message's `(session_id, seq)`. A row with no `key_id` is plaintext from before encryption and is
/// returned as it is. Every read of `chat_messages.content` goes through here (or [`open_messages`]).
pub fn open_message(keys: &crypto::Keyring, mut m: Message) -> Message {
    if let (Some(key_id), Some(sealed)) = (m.key_id, m.content.as_deref()) {
        match keys.open_text(key_id, sealed, &crypto::message_ad(m.session_id, m.seq)) {
            Ok(text) => m.content = Some(text),
            Err(e) => {
                tracing::error!(message_id = m.id, key_id, error = %e, "a chat message does not decrypt");
                m.content = Some(UNREADABLE.to_owned());
            }
        }
    }
    m
}

pub fn open_messages(keys: &crypto::Keyring, rows: Vec<Message>) -> Vec<Message> {
    rows.into_iter().map(|m| open_message(keys, m)).collect()
}

/// The `message` frame: the original's `data` fields plus `seq` and `client_msg_id`, mirrored under
/// `payload` for the Vue client.
pub fn message_frame(m: &Message) -> serde_json::Value {
    let data = json!({
        "content": m.content.clone().unwrap_or_default(),
        "content_type": m.content_type,
        "created_at": m.created_at,
        "file_url": m.file_url,
        "message_id": m.id,
        "id": m.id,
        "sender_id": m.sender_id,
        "sender_type": m.sender_type,
        "seq": m.seq,
        "client_msg_id": m.client_msg_id,
        "session_id": m.session_id,
    });
    json!({ "type": "message", "session_id": m.session_id, "data": data, "payload": data })
}

/// A page of a session's messages in `seq` order. With `after_seq`, only newer messages (catch-up after
/// a reconnect).
pub async fn list_messages(
    state: &AppState,
    session_id: i64,
    after_seq: Option<i64>,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<Message>, u64)> {
    let db = &state.db;
    let mut query = message::Entity::find().filter(message::Column::SessionId.eq(session_id));
    if let Some(after) = after_seq {
        query = query.filter(message::Column::Seq.gt(after));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(message::Column::Seq)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((open_messages(&state.chat_keys, rows), total))
}

/// The newest `limit` messages of all sessions, readable.
pub async fn recent_messages(state: &AppState, limit: u64) -> AppResult<Vec<Message>> {
    let rows = message::Entity::find()
        .order_by_desc(message::Column::Id)
        .limit(limit)
        .all(&state.db)
        .await?;
    Ok(open_messages(&state.chat_keys, rows))
}

/// What one re-sealing batch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Resealed {
    /// The highest id looked at: the next batch starts after it.
    pub last_id: i64,
    /// Rows looked at; 0 means nothing is left after `after_id`.
    pub rows: u64,
    /// Rows now sealed with the active key.
    pub resealed: u64,
    /// Rows that did not open (logged, left as they are).
    pub failed: u64,
}

/// Seals with the active key up to `batch` messages after id `after_id` that are plaintext or sealed
/// with another key, in one transaction (`mychat admin rotate-chat-key`). A row changed meanwhile (its
/// content or key no longer what was read) is left alone. Resumable: a later run finds what is left by
/// its key id.
pub async fn reseal_messages(state: &AppState, after_id: i64, batch: u64) -> AppResult<Resealed> {
    let keys = &state.chat_keys;
    let active = keys.active_id();
    let txn = crate::db::begin_read_then_write(&state.db).await?;
    let rows = message::Entity::find()
        .filter(message::Column::Id.gt(after_id))
        .filter(message::Column::Content.is_not_null())
        .filter(
            sea_orm::Condition::any()
                .add(message::Column::KeyId.is_null())
                .add(message::Column::KeyId.ne(active)),
        )
        .order_by_asc(message::Column::Id)
        .limit(batch)
        .all(&txn)
        .await?;
    let mut done = Resealed {
        last_id: after_id,
        rows: rows.len() as u64,
        ..Default::default()
    };
    for row in rows {
        done.last_id = row.id;
        let Some(stored) = row.content.clone() else {
            continue;
        };
        let ad = crypto::message_ad(row.session_id, row.seq);
        let plain = match row.key_id {
            None => stored.clone(),
            Some(key_id) => match keys.open_text(key_id, &stored, &ad) {
                Ok(plain) => plain,
                Err(e) => {
                    tracing::error!(message_id = row.id, key_id, error = %e, "a chat message does not decrypt; left as it is");
                    done.failed += 1;
                    continue;
                }
            },
        };
        let sealed = keys
            .seal(plain.as_bytes(), &ad)
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("sealing a message")))?;
        let same_key = match row.key_id {
            Some(key_id) => message::Column::KeyId.eq(key_id),
            None => message::Column::KeyId.is_null(),
        };
        let updated = message::Entity::update_many()
            .col_expr(message::Column::Content, Expr::value(sealed.text))
            .col_expr(message::Column::KeyId, Expr::value(sealed.key_id))
            .filter(message::Column::Id.eq(row.id))
            .filter(message::Column::Content.eq(stored))
            .filter(same_key)
            .exec(&txn)
            .await?;
        done.resealed += updated.rows_affected;
    }
    txn.commit().await?;
    Ok(done)
}

/// A page of an admin search, and how far it looked.
pub struct SearchPage {
    pub messages: Vec<Message>,
    /// Matches among the scanned messages.
    pub total: u64,
    /// Whether the scan stopped at `privacy.search_scan_limit` with older messages left unsearched.
    pub truncated: bool,
}

const SEARCH_BATCH: u64 = 500;

/// Messages whose content contains `keyword` (case-insensitively), newest first. The content is sealed,
/// so the database cannot match it: the newest `privacy.search_scan_limit` messages (of `session_id`, if
/// given) are read in batches, opened and matched here. Cost: one decryption per scanned message (about
/// a microsecond for a short one) plus reading the rows; older messages are not searched, which
/// `truncated` tells.
pub async fn search_messages(
    state: &AppState,
    keyword: &str,
    session_id: Option<i64>,
    offset: u64,
    limit: u64,
) -> AppResult<SearchPage> {
    let needle = keyword.to_lowercase();
    let scan_limit = state.settings.privacy.search_scan_limit;
    let mut select = message::Entity::find();
    if let Some(session_id) = session_id {
        select = select.filter(message::Column::SessionId.eq(session_id));
    }
    let (mut scanned, mut total, mut truncated) = (0u64, 0u64, false);
    let mut messages = Vec::new();
    loop {
        let take = SEARCH_BATCH.min(scan_limit - scanned);
        if take == 0 {
            truncated = select
                .clone()
                .offset(scanned)
                .limit(1)
                .one(&state.db)
                .await?
                .is_some();
            break;
        }
        let rows = select
            .clone()
            .order_by_desc(message::Column::CreatedAt)
            .order_by_desc(message::Column::Id)
            .offset(scanned)
            .limit(take)
            .all(&state.db)
            .await?;
        let fetched = rows.len() as u64;
        scanned += fetched;
        for m in rows {
            let m = open_message(&state.chat_keys, m);
            if m.content
                .as_deref()
                .is_some_and(|c| c.to_lowercase().contains(&needle))
            {
                if total >= offset && (messages.len() as u64) < limit {
                    messages.push(m);
                }
                total += 1;
            }
        }
        if fetched < take {
            break;
        }
    }
    Ok(SearchPage {
        messages,
        total,
        truncated,
    })
}

/// Records that `user_id` has read everything up to `seq` (never moving backwards), marks the other
/// side's messages read, and tells the other side.
pub async fn mark_read(
    state: &AppState,
    user_id: i64,
    session_id: i64,
    seq: i64,
) -> AppResult<i64> {
    let (session, role) = session_for(&state.db, user_id, session_id).await?;
    let upto = seq.min(session.last_seq).max(0);
    let column = match role {
        Role::User => session::Column::UserReadSeq,
        Role::Counselor => session::Column::CounselorReadSeq,
    };
    let now = Utc::now();
    let txn = state.db.begin().await?;
    session::Entity::update_many()
        .col_expr(column, Expr::value(upto))
        .filter(session::Column::Id.eq(session_id))
        .filter(column.lt(upto))
        .exec(&txn)
        .await?;
    message::Entity::update_many()
        .col_expr(message::Column::IsRead, Expr::value(true))
        .col_expr(message::Column::ReadTime, Expr::value(now))
        .filter(message::Column::SessionId.eq(session_id))
        .filter(message::Column::SenderId.ne(user_id))
        .filter(message::Column::Seq.lte(upto))
        .filter(message::Column::IsRead.eq(false))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    let other = match role {
        Role::User => session.counselor_user_id,
        Role::Counselor => session.user_id,
    };
    let data = json!({ "read_by": user_id, "read_seq": upto, "read_at": now });
    state
        .realtime
        .send(
            Target::Users(vec![other]),
            &frame("message_read", session_id, data),
        )
        .await;
    Ok(upto)
}

/// What ending a session produced.
pub struct Ended {
    pub session: Session,
    pub billing: Option<Billing>,
    /// False when the session had already ended (the billing is the earlier one).
    pub ended_now: bool,
}

/// Ends a session and bills it, exactly once whatever the path. The session row moves only if it is
/// still open, and in the same transaction: the billing row (unique per session), the counselor's
/// credit, the buyer's refund of unused prepaid minutes (through the one refund path,
/// `payments::refunds`), the order 1 → 2, and their outbox events. A session whose clock never started
/// (the buyer never joined) bills 0 and refunds everything.
pub async fn end_session(state: &AppState, session_id: i64, reason: EndReason) -> AppResult<Ended> {
    let db = &state.db;
    let commission = crate::modules::system::service::platform_commission(state).await;
    let tariff = crate::modules::system::settings::chat_tariff(state).await;
    let final_status = if reason == EndReason::Idle {
        status::TIMED_OUT
    } else {
        status::ENDED
    };

    let order_id = get_session(db, session_id).await?.order_id;
    let txn = db.begin().await?;
    // The order, then the session, then the payment are locked inside the transaction (the order first,
    // as every path that changes an order's money or its session does): a session that starts a moment
    // before it ends is billed as started, and what is billed and refunded below is what is left of the
    // payment now, even when a refund committed a moment ago.
    let order = orders::get_order_for_update(&txn, order_id).await?;
    let session = lock_session(&txn, session_id).await?;
    let now = Utc::now();
    let started = session.status == status::ACTIVE && session.start_time.is_some();
    let seconds = session
        .start_time
        .map(|s| (now - s).num_seconds())
        .unwrap_or(0);
    let paid = refunds::paid_in_txn(&txn, &order).await?;
    let b = bill(
        started,
        seconds,
        i64::from(session.booked_minutes),
        session.price,
        paid.remaining(),
        commission,
        tariff,
    );
    let moved = session::Entity::update_many()
        .col_expr(session::Column::Status, Expr::value(final_status))
        .col_expr(session::Column::EndTime, Expr::value(now))
        .col_expr(session::Column::Duration, Expr::value(seconds.max(0)))
        .col_expr(session::Column::TotalAmount, Expr::value(b.total))
        .col_expr(session::Column::EndedBy, Expr::value(reason.as_str()))
        .col_expr(session::Column::UpdatedAt, Expr::value(now))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::Status.is_in([status::WAITING, status::ACTIVE]))
        .exec(&txn)
        .await?;
    if moved.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(Ended {
            session: get_session(db, session_id).await?,
            billing: billing_of(db, session_id).await?,
            ended_now: false,
        });
    }
    let billing_row = billing::ActiveModel {
        session_id: Set(session.id),
        order_id: Set(session.order_id),
        user_id: Set(session.user_id),
        counselor_id: Set(session.counselor_id),
        duration: Set(seconds.max(0)),
        billed_minutes: Set(b.minutes),
        price_per_minute: Set(session.price),
        total_amount: Set(b.total),
        platform_fee: Set(b.platform_fee),
        counselor_fee: Set(b.counselor_fee),
        refund_amount: Set(b.refund),
        status: Set(1),
        settled_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    if started {
        counselors::record_completed_order(&txn, session.counselor_id, b.minutes, b.total).await?;
    }
    if b.counselor_fee > 0 {
        finance::credit_session_income(&txn, session.counselor_id, session.id, b.counselor_fee)
            .await?;
    }
    if b.refund > 0 {
        let ask = refunds::Ask {
            amount: Some(b.refund),
            cause: refunds::Cause::SessionEnd { billed: b.total },
            actor: Actor::System,
            actor_id: None,
            reason: "咨询未使用时长退款",
        };
        refunds::refund_in_txn(&txn, &order, &paid, &ask).await?;
    }
    // A session that never started delivered nothing: the order is refunded, not completed. While part
    // of it is still with a channel refund, it stays paid: that refund's settlement closes it, and if
    // the channel refuses, what it held is still the buyer's to ask back.
    let to = if started {
        Some((OrderStatus::Completed, "咨询结束，已结算"))
    } else if refunds::pending_in_txn(&txn, &paid).await? > 0 {
        None
    } else {
        Some((OrderStatus::Refunded, "会话未开始即结束，已退款"))
    };
    if let Some((to, note)) = to
        && orders::status_of(&order)? == OrderStatus::Paid
    {
        orders::transition(&txn, &order, to, Actor::System, None, note).await?;
    }
    EventBus::record(
        &txn,
        &DomainEvent::SessionBilled {
            session_id: session.id,
            order_id: session.order_id,
            user_id: session.user_id,
            counselor_id: session.counselor_id,
            total_amount: b.total,
            counselor_fee: b.counselor_fee,
            refund_amount: b.refund,
        },
    )
    .await?;
    EventBus::record(
        &txn,
        &DomainEvent::ChatSessionEnded {
            session_id: session.id,
            order_id: session.order_id,
            user_id: session.user_id,
            counselor_user_id: session.counselor_user_id,
            reason: reason.as_str().to_owned(),
        },
    )
    .await?;
    txn.commit().await?;
    state.bus.notify();

    let billing_data = json!({
        "counselor_fee": money::to_yuan(b.counselor_fee),
        "duration": seconds.max(0),
        "duration_minutes": b.minutes,
        "platform_fee": money::to_yuan(b.platform_fee),
        "price_per_minute": money::to_yuan(session.price),
        "total_amount": money::to_yuan(b.total),
        "refund_amount": money::to_yuan(b.refund),
    });
    state
        .realtime
        .send(
            Target::Users(vec![session.user_id]),
            &frame("billing", session.id, billing_data),
        )
        .await;
    state
        .realtime
        .send(
            participants(&session),
            &frame(
                "session_end",
                session.id,
                json!({ "ended_by": reason.as_str(), "status": final_status }),
            ),
        )
        .await;
    Ok(Ended {
        session: get_session(db, session_id).await?,
        billing: Some(billing_row),
        ended_now: true,
    })
}

pub async fn billing_of<C: ConnectionTrait>(db: &C, session_id: i64) -> AppResult<Option<Billing>> {
    Ok(billing::Entity::find()
        .filter(billing::Column::SessionId.eq(session_id))
        .one(db)
        .await?)
}

/// Sends a `system_message` into a session (both parties), e.g. the five-minute warning.
pub async fn system_message(state: &AppState, session: &Session, content: &str) {
    let data = json!({ "content": content, "created_at": Utc::now() });
    state
        .realtime
        .send(
            participants(session),
            &frame("system_message", session.id, data),
        )
        .await;
}

/// One pass of the watchdog: warns sessions about to run out, ends those whose booked time is used up,
/// and times out those idle too long. Safe on several instances: every step is a conditional update.
pub async fn watchdog_pass(state: &AppState) -> AppResult<u32> {
    let now = Utc::now();
    let active = session::Entity::find()
        .filter(session::Column::Status.eq(status::ACTIVE))
        .all(&state.db)
        .await?;
    let warn_before = chrono::Duration::seconds(state.settings.chat.warn_before_end_secs as i64);
    let idle_after = chrono::Duration::seconds(
        crate::modules::system::settings::session_idle_timeout(state)
            .await
            .as_secs() as i64,
    );
    let mut ended = 0;
    for s in active {
        let Some(start) = s.start_time else { continue };
        let ends_at = start + chrono::Duration::minutes(i64::from(s.booked_minutes));
        if now >= ends_at {
            if end_session(state, s.id, EndReason::Duration)
                .await?
                .ended_now
            {
                ended += 1;
            }
            continue;
        }
        if now >= ends_at - warn_before && !s.warned {
            let first = session::Entity::update_many()
                .col_expr(session::Column::Warned, Expr::value(true))
                .filter(session::Column::Id.eq(s.id))
                .filter(session::Column::Warned.eq(false))
                .exec(&state.db)
                .await?
                .rows_affected
                == 1;
            if first {
                let left = (ends_at - now).num_minutes().max(1);
                system_message(state, &s, &format!("咨询将在{left}分钟后结束")).await;
            }
        }
        let active_recently = matches!(
            state.infra.cache.get(&activity_key(s.id)).await,
            Ok(Some(_))
        );
        if !active_recently
            && now - s.updated_at >= idle_after
            && end_session(state, s.id, EndReason::Idle).await?.ended_now
        {
            ended += 1;
        }
    }
    Ok(ended)
}

/// The `seq` of message `message_id` in `session_id`.
pub async fn seq_of_message(
    db: &DatabaseConnection,
    session_id: i64,
    message_id: i64,
) -> AppResult<Option<i64>> {
    Ok(message::Entity::find_by_id(message_id)
        .filter(message::Column::SessionId.eq(session_id))
        .one(db)
        .await?
        .map(|m| m.seq))
}

/// Live totals of the active sessions: count, minutes so far (at least one each) and their value.
pub async fn active_session_totals(db: &DatabaseConnection) -> AppResult<serde_json::Value> {
    let now = Utc::now();
    let active = session::Entity::find()
        .filter(session::Column::Status.eq(status::ACTIVE))
        .all(db)
        .await?;
    let (mut minutes, mut amount) = (0i64, 0i64);
    for s in &active {
        let m = s
            .start_time
            .map(|start| ((now - start).num_minutes()).clamp(1, i64::from(s.booked_minutes).max(1)))
            .unwrap_or(1);
        minutes += m;
        amount += m * s.price;
    }
    Ok(json!({
        "active_sessions": active.len(),
        "total_duration": minutes,
        "total_amount": money::to_yuan(amount),
    }))
}

#[cfg(test)]
mod tests {
    use super::is_file_link;

    #[test]
    fn message_links_are_uploads_or_web_urls() {
        for ok in [
            "/uploads/files/a.png",
            "https://cdn.example.com/a.png",
            "http://example.com/x?y=1",
        ] {
            assert!(is_file_link(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>",
            "/uploads/../secrets.json",
            "//evil.example/x",
            "/api/x",
            "https://",
            " javascript:alert(1)",
            "vbscript:x",
            "/uploads/a b",
        ] {
            assert!(!is_file_link(bad), "{bad}");
        }
    }
}
