//! Wire shapes of payments, refunds and the wallet routes. Money is yuan on the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use validator::Validate;

use super::entity::{payment, status_text};
use crate::modules::orders::dto::OrderView;
use crate::money;

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct CreatePaymentRequest {
    #[validate(range(min = 1, message = "订单ID无效"))]
    pub order_id: i64,
    /// `wechat`, `alipay`, `balance` or `sandbox`.
    #[validate(length(min = 1, max = 20, message = "支付方式不能为空"))]
    pub payment_method: String,
    /// `NATIVE`, `JSAPI`, `H5`, `APP` (WeChat); `NATIVE`, `PAGE`, `H5`, `APP` (Alipay).
    #[serde(default)]
    #[validate(length(max = 20, message = "交易类型过长"))]
    pub trade_type: String,
    #[serde(default)]
    #[validate(length(max = 64, message = "IP过长"))]
    pub client_ip: String,
    #[serde(default)]
    #[validate(length(max = 500, message = "返回地址过长"))]
    pub return_url: String,
    /// The payer's openid, for WeChat JSAPI.
    #[serde(default)]
    #[validate(length(max = 128, message = "openid过长"))]
    pub openid: String,
}

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct RechargeRequest {
    /// Yuan, > 0.
    pub amount: f64,
    /// Default: the sandbox when enabled, else the first configured channel.
    #[serde(default)]
    #[validate(length(max = 20, message = "支付方式过长"))]
    pub payment_method: String,
    #[serde(default)]
    #[validate(length(max = 20, message = "交易类型过长"))]
    pub trade_type: String,
    #[serde(default)]
    #[validate(length(max = 128, message = "openid过长"))]
    pub openid: String,
}

#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct RefundRequest {
    #[validate(range(min = 1, message = "支付ID无效"))]
    pub payment_id: i64,
    /// Yuan, > 0 and at most what is left to refund.
    pub refund_amount: f64,
    #[serde(default)]
    #[validate(length(max = 200, message = "退款原因过长"))]
    pub refund_reason: String,
}

/// What `POST /api/payment/create` and recharge answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentCreated {
    pub payment_id: i64,
    pub payment_no: String,
    pub amount: f64,
    pub pay_url: String,
    /// What the client hands to the provider's SDK (WeChat JSAPI parameters), if anything.
    #[schema(value_type = Option<Object>)]
    pub pay_params: Option<Value>,
    pub trade_type: String,
    pub payment_method: String,
    pub status: i32,
    pub expired_at: DateTime<Utc>,
    /// The wallet balance after this call (recharges grow it only once paid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<f64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    pub id: i64,
    pub payment_no: String,
    pub purpose: String,
    pub order_id: i64,
    pub order_no: String,
    pub user_id: i64,
    pub payment_method: String,
    pub trade_type: String,
    pub transaction_id: String,
    pub amount: f64,
    pub refunded_amount: f64,
    pub status: i32,
    pub status_text: &'static str,
    pub pay_time: Option<DateTime<Utc>>,
    pub notify_time: Option<DateTime<Utc>>,
    pub failure_reason: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&payment::Model> for PaymentView {
    fn from(p: &payment::Model) -> Self {
        Self {
            id: p.id,
            payment_no: p.payment_no.clone(),
            purpose: p.purpose.clone(),
            order_id: p.order_id.unwrap_or_default(),
            order_no: p.order_no.clone(),
            user_id: p.user_id,
            payment_method: p.payment_method.clone(),
            trade_type: p.trade_type.clone(),
            transaction_id: p.transaction_id.clone().unwrap_or_default(),
            amount: money::to_yuan(p.amount),
            refunded_amount: money::to_yuan(p.refunded_amount),
            status: p.status,
            status_text: status_text(p.status),
            pay_time: p.pay_time,
            notify_time: p.notify_time,
            failure_reason: p.failure_reason.clone(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A payment as `GET /api/payment/list` shows it: every §4.4 key, with its order preloaded (the
/// zero-valued order for a recharge, which has none).
#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentListItem {
    #[serde(flatten)]
    pub payment: PaymentView,
    /// The raw provider notification, `""` until one arrived.
    pub notify_data: String,
    pub order: OrderView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentList {
    pub payments: Vec<PaymentListItem>,
    pub total: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RefundView {
    pub refund_id: i64,
    pub refund_no: String,
    pub payment_id: i64,
    pub amount: f64,
    pub status: i32,
    /// `partial` or `full`.
    pub kind: &'static str,
    pub payment_status: i32,
    pub refunded_amount: f64,
}
