//! Wire shapes of orders. Money leaves as yuan numbers; ids and statuses as the clients number them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::entity::{order, order_event};
use super::status::OrderStatus;
use crate::modules::counselors::service::Counselor;
use crate::modules::users::entity::Model as User;
use crate::money;

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct CreateOrderRequest {
    #[validate(range(min = 1, message = "咨询师ID无效"))]
    pub counselor_id: i64,
    #[validate(range(min = 15, max = 180, message = "咨询时长应为15-180分钟"))]
    pub duration: i32,
    /// RFC 3339 with an offset, `YYYY-MM-DDTHH:mm:ss`, `YYYY-MM-DD HH:mm:ss` or `YYYY-MM-DD` (UTC).
    pub schedule_time: String,
    #[serde(default)]
    #[validate(length(max = 2000, message = "备注过长"))]
    pub notes: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedOrder {
    pub order_id: i64,
    pub id: i64,
    pub order_no: String,
    pub amount: f64,
    pub status: i32,
    pub create_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// `PUT …/status`: `0` is a value, not "missing".
#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct UpdateStatusRequest {
    #[validate(range(min = 0, max = 4, message = "状态值应为0-4"))]
    pub status: i32,
    #[serde(default)]
    #[validate(length(max = 200, message = "备注过长"))]
    pub note: String,
    /// Yuan, admin refunds (`status` 4) only: how much to give back; the default is all that is still
    /// refundable.
    #[serde(default)]
    pub amount: Option<f64>,
}

#[derive(Deserialize)]
pub struct ValidateQuery {
    #[serde(default)]
    pub action: String,
}

/// The user object inside an order.
#[derive(Serialize, Clone, Default, utoipa::ToSchema)]
pub struct UserBrief {
    pub id: i64,
    pub username: String,
    pub avatar: String,
    pub email: String,
    pub phone: String,
}

impl From<&User> for UserBrief {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            avatar: u.avatar.clone(),
            email: u.email.clone().unwrap_or_default(),
            phone: u.phone.clone(),
        }
    }
}

/// The counselor object inside an order (price in yuan per minute, rating 0–5).
#[derive(Serialize, Clone, Default, utoipa::ToSchema)]
pub struct CounselorBrief {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub title: String,
    pub avatar: String,
    pub bio: String,
    pub specialty: String,
    pub price: f64,
    pub years_exp: i32,
    pub rating: f64,
    pub status: i32,
}

impl From<&Counselor> for CounselorBrief {
    fn from(c: &Counselor) -> Self {
        Self {
            id: c.id,
            user_id: c.user_id.unwrap_or_default(),
            name: c.name.clone(),
            title: c.title.clone(),
            avatar: c.avatar.clone(),
            bio: c.bio.clone().unwrap_or_default(),
            specialty: c.specialty.clone(),
            price: money::to_yuan(c.price),
            years_exp: c.years_exp,
            rating: f64::from(c.rating) / 100.0,
            status: c.status,
        }
    }
}

/// An order with every §4.3 key, its buyer and counselor, and `has_review`.
#[derive(Serialize, Clone, utoipa::ToSchema)]
pub struct OrderView {
    pub id: i64,
    pub order_no: String,
    pub user_id: i64,
    pub counselor_id: i64,
    pub duration: i32,
    pub amount: f64,
    pub refunded_amount: f64,
    pub status: i32,
    pub status_text: &'static str,
    pub schedule_time: DateTime<Utc>,
    pub notes: String,
    pub pay_time: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub has_review: bool,
    pub user: UserBrief,
    pub counselor: CounselorBrief,
}

impl OrderView {
    pub fn new(
        o: &order::Model,
        user: UserBrief,
        counselor: CounselorBrief,
        has_review: bool,
    ) -> Self {
        Self {
            id: o.id,
            order_no: o.order_no.clone(),
            user_id: o.user_id,
            counselor_id: o.counselor_id,
            duration: o.duration,
            amount: money::to_yuan(o.amount),
            refunded_amount: money::to_yuan(o.refunded_amount),
            status: o.status,
            status_text: status_text(o.status),
            schedule_time: o.schedule_time,
            notes: o.notes.clone().unwrap_or_default(),
            pay_time: o.pay_time,
            created_at: o.created_at,
            updated_at: o.updated_at,
            has_review,
            user,
            counselor,
        }
    }
}

impl OrderView {
    /// The zero-valued order an association shows when there is none (user API §1.7: ids 0, strings
    /// empty, times `0001-01-01T00:00:00Z`, nested objects zero-valued, never `null`).
    pub fn zero() -> Self {
        let zero_time = chrono::NaiveDate::from_ymd_opt(1, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
            .unwrap_or_default();
        Self {
            id: 0,
            order_no: String::new(),
            user_id: 0,
            counselor_id: 0,
            duration: 0,
            amount: 0.0,
            refunded_amount: 0.0,
            status: 0,
            status_text: "",
            schedule_time: zero_time,
            notes: String::new(),
            pay_time: None,
            created_at: zero_time,
            updated_at: zero_time,
            has_review: false,
            user: UserBrief::default(),
            counselor: CounselorBrief::default(),
        }
    }
}

pub fn status_text(status: i32) -> &'static str {
    match OrderStatus::try_from(status) {
        Ok(OrderStatus::PendingPayment) => "待支付",
        Ok(OrderStatus::Paid) => "已支付",
        Ok(OrderStatus::Completed) => "已完成",
        Ok(OrderStatus::Cancelled) => "已取消",
        Ok(OrderStatus::Refunded) => "已退款",
        Err(_) => "未知状态",
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrderList {
    pub orders: Vec<OrderView>,
    /// The admin console reads `list`.
    pub list: Vec<OrderView>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ValidateResult {
    pub action: String,
    pub valid: bool,
    pub allowed: bool,
    pub errors: Vec<String>,
    /// The first error, or "" when allowed.
    pub reason: String,
    pub status: i32,
    pub status_text: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub event: &'static str,
    pub time: DateTime<Utc>,
    pub message: String,
    pub from_status: Option<i32>,
    pub to_status: i32,
    pub actor: String,
    pub actor_id: Option<i64>,
}

impl From<&order_event::Model> for TimelineEntry {
    fn from(e: &order_event::Model) -> Self {
        let event = if e.from_status < 0 {
            "创建订单"
        } else {
            match OrderStatus::try_from(e.to_status) {
                Ok(OrderStatus::Paid) => "支付订单",
                Ok(OrderStatus::Completed) => "完成咨询",
                Ok(OrderStatus::Cancelled) => "取消订单",
                Ok(OrderStatus::Refunded) => "退款成功",
                _ => "状态变更",
            }
        };
        Self {
            event,
            time: e.created_at,
            message: e.note.clone(),
            from_status: (e.from_status >= 0).then_some(e.from_status),
            to_status: e.to_status,
            actor: e.actor.clone(),
            actor_id: e.actor_id,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrderStatistics {
    pub total_orders: u64,
    pub pending_orders: u64,
    pub paid_orders: u64,
    pub completed_orders: u64,
    pub cancelled_orders: u64,
    pub refunded_orders: u64,
    /// Money kept from paid and completed orders (amount − refunded), yuan.
    pub total_amount: f64,
    pub today_amount: f64,
    pub this_month_amount: f64,
}
