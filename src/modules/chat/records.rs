//! Counselling records as a whole, for the privacy rules: the retention purge of message content, the
//! erasure of an account's messages, and the export of a user's sessions with their messages. Messages
//! are read through [`service::list_messages`], so whatever it applies to stored content applies here.
//!
//! Retention blanks a message (content NULL, `file_url` empty) and keeps its row: `seq`, `last_seq` and
//! the read markers stay consistent, and a client catching up after a reconnect sees the purged messages
//! as empty ones instead of holes. Erasure deletes the rows (see [`erase_messages_of`]).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::{Value, json};

use super::entity::{message, session};
use super::service::{self, Session, status};
use crate::error::AppResult;
use crate::state::AppState;

/// Messages still holding content or a file link and older than `cutoff`.
fn purgeable(cutoff: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(message::Column::CreatedAt.lt(cutoff))
        .add(
            Condition::any()
                .add(message::Column::Content.is_not_null())
                .add(message::Column::FileUrl.ne("")),
        )
}

/// How many messages a purge at `cutoff` would blank (the dry run).
pub async fn purgeable_messages(db: &DatabaseConnection, cutoff: DateTime<Utc>) -> AppResult<u64> {
    Ok(message::Entity::find()
        .filter(purgeable(cutoff))
        .count(db)
        .await?)
}

/// Blanks up to `limit` messages older than `cutoff`; returns how many. Call until it returns less than
/// `limit`.
pub async fn purge_batch(
    db: &DatabaseConnection,
    cutoff: DateTime<Utc>,
    limit: u64,
) -> AppResult<u64> {
    let ids: Vec<i64> = message::Entity::find()
        .select_only()
        .column(message::Column::Id)
        .filter(purgeable(cutoff))
        .order_by_asc(message::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let result = message::Entity::update_many()
        .col_expr(
            message::Column::Content,
            Expr::value(Option::<String>::None),
        )
        .col_expr(message::Column::FileUrl, Expr::value(""))
        // Nothing sealed is left: the row reads as an empty plaintext message.
        .col_expr(message::Column::KeyId, Expr::value(Option::<i32>::None))
        .filter(message::Column::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Every session `user_id` took part in, as the buyer or as the counselor, oldest first.
pub async fn sessions_of(db: &DatabaseConnection, user_id: i64) -> AppResult<Vec<Session>> {
    Ok(session::Entity::find()
        .filter(
            Condition::any()
                .add(session::Column::UserId.eq(user_id))
                .add(session::Column::CounselorUserId.eq(user_id)),
        )
        .order_by_asc(session::Column::Id)
        .all(db)
        .await?)
}

/// Whether `user_id` has a session that is waiting or active, on either side.
pub async fn has_live_session(db: &DatabaseConnection, user_id: i64) -> AppResult<bool> {
    Ok(session::Entity::find()
        .filter(
            Condition::any()
                .add(session::Column::UserId.eq(user_id))
                .add(session::Column::CounselorUserId.eq(user_id)),
        )
        .filter(session::Column::Status.is_in([status::WAITING, status::ACTIVE]))
        .count(db)
        .await?
        > 0)
}

const EXPORT_PAGE: u64 = 500;

/// The user's sessions (both roles) with every message, opened, for `GET /api/user/export`.
pub async fn export_sessions(state: &AppState, user_id: i64) -> AppResult<Vec<Value>> {
    let mut out = Vec::new();
    for s in sessions_of(&state.db, user_id).await? {
        let mut messages = Vec::new();
        let mut offset = 0;
        loop {
            let (rows, _) = service::list_messages(state, s.id, None, offset, EXPORT_PAGE).await?;
            let n = rows.len() as u64;
            messages.extend(rows.iter().map(|m| {
                json!({
                    "id": m.id,
                    "seq": m.seq,
                    "sender_id": m.sender_id,
                    "sender_type": m.sender_type,
                    "content_type": m.content_type,
                    "content": m.content.clone().unwrap_or_default(),
                    "file_url": m.file_url,
                    "created_at": m.created_at,
                })
            }));
            if n < EXPORT_PAGE {
                break;
            }
            offset += n;
        }
        out.push(json!({
            "id": s.id,
            "order_id": s.order_id,
            "role": if s.user_id == user_id { "user" } else { "counselor" },
            "counselor_id": s.counselor_id,
            "status": s.status,
            "start_time": s.start_time,
            "end_time": s.end_time,
            "duration": s.duration,
            "created_at": s.created_at,
            "messages": messages,
        }));
    }
    Ok(out)
}

/// What erasing an account's messages removed.
pub struct ErasedMessages {
    pub messages: u64,
    /// The sessions the account bought (all their messages went).
    pub bought_sessions: Vec<i64>,
    /// Every deleted message's id (files shared in them go too).
    pub message_ids: Vec<i64>,
}

/// Deletes every message of the sessions `user_id` bought (the whole conversation is the client's
/// counselling record, the counselor's replies included), and every message `user_id` sent anywhere
/// (as a counselor: their side of their clients' conversations; the clients' own messages stay theirs).
/// The session rows stay: billing, orders and the ledger refer to them.
pub async fn erase_messages_of(db: &DatabaseConnection, user_id: i64) -> AppResult<ErasedMessages> {
    let bought_sessions: Vec<i64> = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::UserId.eq(user_id))
        .into_tuple()
        .all(db)
        .await?;
    let mine = Condition::any()
        .add(message::Column::SenderId.eq(user_id))
        .add(message::Column::SessionId.is_in(bought_sessions.clone()));
    let message_ids: Vec<i64> = message::Entity::find()
        .select_only()
        .column(message::Column::Id)
        .filter(mine)
        .into_tuple()
        .all(db)
        .await?;
    let mut messages = 0;
    for chunk in message_ids.chunks(500) {
        messages += message::Entity::delete_many()
            .filter(message::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(ErasedMessages {
        messages,
        bought_sessions,
        message_ids,
    })
}
