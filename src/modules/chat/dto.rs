use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use validator::Validate;

use super::entity::{billing, message, session};
use crate::money;

/// A session as the clients read it. `duration` is seconds chatted (0 while active);
/// `booked_minutes` is what the order paid for.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: i64,
    pub order_id: i64,
    pub user_id: i64,
    pub counselor_id: i64,
    pub status: i32,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub duration: i64,
    pub booked_minutes: i32,
    pub price: f64,
    pub total_amount: f64,
    pub last_seq: i64,
    pub ended_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = Option<crate::openapi::shapes::ChatUser>)]
    pub user: Value,
    #[schema(value_type = crate::openapi::shapes::ChatCounselor)]
    pub counselor: Value,
}

impl SessionView {
    pub fn new(s: &session::Model, user: Value, counselor: Value) -> Self {
        Self {
            id: s.id,
            order_id: s.order_id,
            user_id: s.user_id,
            counselor_id: s.counselor_id,
            status: s.status,
            start_time: s.start_time,
            end_time: s.end_time,
            duration: s.duration,
            booked_minutes: s.booked_minutes,
            price: money::to_yuan(s.price),
            total_amount: money::to_yuan(s.total_amount),
            last_seq: s.last_seq,
            ended_by: s.ended_by.clone(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            user,
            counselor,
        }
    }
}

/// A message with the `sender` and `session` objects Chat.vue reads.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub session_id: i64,
    pub seq: i64,
    pub sender_id: i64,
    pub sender_type: String,
    pub content_type: String,
    pub content: String,
    pub file_url: String,
    pub client_msg_id: Option<String>,
    pub is_read: bool,
    pub read_time: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[schema(value_type = Option<crate::openapi::shapes::ChatUser>)]
    pub sender: Value,
    #[schema(value_type = SessionView)]
    pub session: Value,
}

impl MessageView {
    pub fn new(m: &message::Model, sender: Value, session: Value) -> Self {
        Self {
            id: m.id,
            session_id: m.session_id,
            seq: m.seq,
            sender_id: m.sender_id,
            sender_type: m.sender_type.clone(),
            content_type: m.content_type.clone(),
            content: m.content.clone().unwrap_or_default(),
            file_url: m.file_url.clone(),
            client_msg_id: m.client_msg_id.clone(),
            is_read: m.is_read,
            read_time: m.read_time,
            created_at: m.created_at,
            sender,
            session,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BillingView {
    pub id: i64,
    pub session_id: i64,
    pub order_id: i64,
    pub user_id: i64,
    pub counselor_id: i64,
    pub duration: i64,
    pub duration_minutes: i64,
    pub price_per_minute: f64,
    pub total_amount: f64,
    pub platform_fee: f64,
    pub counselor_fee: f64,
    pub refund_amount: f64,
    pub status: i32,
    pub settled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&billing::Model> for BillingView {
    fn from(b: &billing::Model) -> Self {
        Self {
            id: b.id,
            session_id: b.session_id,
            order_id: b.order_id,
            user_id: b.user_id,
            counselor_id: b.counselor_id,
            duration: b.duration,
            duration_minutes: b.billed_minutes,
            price_per_minute: money::to_yuan(b.price_per_minute),
            total_amount: money::to_yuan(b.total_amount),
            platform_fee: money::to_yuan(b.platform_fee),
            counselor_fee: money::to_yuan(b.counselor_fee),
            refund_amount: money::to_yuan(b.refund_amount),
            status: b.status,
            settled_at: b.settled_at,
            created_at: b.created_at,
            updated_at: b.updated_at,
        }
    }
}

/// `POST /api/chat/session/{id}/message`. `sender_type` is accepted but the role comes from the token.
#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct SendMessageRequest {
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    #[validate(length(max = 20, message = "sender_type过长"))]
    pub sender_type: String,
    #[serde(default)]
    pub content_type: String,
    #[serde(default)]
    pub file_url: String,
    #[serde(default)]
    pub client_msg_id: Option<String>,
}

#[derive(Deserialize)]
pub struct MessagesQuery {
    /// Only messages after this `seq` (catch-up).
    pub after_seq: Option<i64>,
}

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct ReadRequest {
    pub seq: Option<i64>,
    pub message_id: Option<i64>,
}

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct WithdrawRequestBody {
    pub amount: f64,
    #[validate(length(min = 1, max = 50, message = "开户银行不能为空"))]
    pub bank_name: String,
    #[validate(length(min = 1, max = 50, message = "银行账号不能为空"))]
    pub bank_account: String,
    #[validate(length(min = 1, max = 50, message = "开户名不能为空"))]
    pub account_name: String,
}

/// A user object as the chat views embed it.
pub fn user_brief(id: i64, username: &str, avatar: &str) -> Value {
    json!({ "id": id, "username": username, "avatar": avatar })
}
