//! Rules for payments: creating them on a channel, applying a confirmation exactly once, and the order
//! side of it (through `orders::service::transition` on the same transaction). Refunds are
//! [`super::refunds`].

use std::collections::HashMap;

use chrono::Utc;
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::Value;

use super::dto::{
    CreatePaymentRequest, PaymentCreated, PaymentList, PaymentListItem, PaymentView,
    RechargeRequest,
};
use super::entity::{STATUS_PAID, STATUS_PENDING, payment};
use super::wallet::{self, Movement};
use super::{alipay, sandbox, wechat};
use crate::bus::{DomainEvent, EventBus};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::http::Pagination;
use crate::modules::orders::dto::OrderView;
use crate::modules::orders::entity::order;
use crate::modules::orders::rules::{OrderAction, action_allowed};
use crate::modules::orders::service::{self as orders, Order};
use crate::modules::orders::status::{Actor, OrderStatus};
use crate::modules::users;
use crate::money;
use crate::state::AppState;

pub type Payment = payment::Model;

pub const MSG_PAYMENT_NOT_FOUND: &str = "支付记录不存在";
pub const MSG_NOT_CONFIGURED: &str = "支付方式未配置";
pub const MSG_EXCESSIVE_REFUND: &str = "退款金额不能超过支付金额";
pub const PURPOSE_ORDER: &str = "order";
pub const PURPOSE_RECHARGE: &str = "recharge";
/// `trade_type` stored for payments the sandbox gateway serves.
pub const SANDBOX_TRADE_TYPE: &str = "SANDBOX";
/// Largest single recharge, fen.
const MAX_RECHARGE: i64 = 100_000_000;

/// Who actually moves the money for a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Wechat,
    Alipay,
    Sandbox,
    Balance,
}

/// The channel that serves `method` under the current configuration.
///
/// # Errors
/// 400 `支付方式未配置` for a channel without keys when the sandbox is off; 400 for unknown methods.
pub fn resolve_channel(state: &AppState, method: &str) -> AppResult<Channel> {
    let p = &state.settings.payments;
    let real = match method {
        "balance" => return Ok(Channel::Balance),
        "sandbox" => None,
        "wechat" => Some((wechat::is_configured(&p.wechat), Channel::Wechat)),
        "alipay" => Some((alipay::is_configured(&p.alipay), Channel::Alipay)),
        _ => return Err(AppError::bad_request("不支持的支付方式")),
    };
    match real {
        Some((true, channel)) => Ok(channel),
        _ if p.sandbox_enabled => Ok(Channel::Sandbox),
        _ => Err(AppError::bad_request(MSG_NOT_CONFIGURED)),
    }
}

pub fn channel_of(p: &Payment) -> Channel {
    match p.payment_method.as_str() {
        "balance" => Channel::Balance,
        _ if p.trade_type == SANDBOX_TRADE_TYPE || p.payment_method == "sandbox" => {
            Channel::Sandbox
        }
        "alipay" => Channel::Alipay,
        _ => Channel::Wechat,
    }
}

/// `PREFIX` + UTC `yyyymmddHHMMSS` + 10 random digits (27 chars).
pub fn new_number(prefix: &str) -> String {
    let n: u64 = rand::rng().random_range(0..10_000_000_000);
    format!("{prefix}{}{n:010}", Utc::now().format("%Y%m%d%H%M%S"))
}

/// Request facts the channels need.
pub struct PayContext {
    /// `scheme://host[:port]` of the user API as the client reached it.
    pub base_url: String,
    pub client_ip: String,
}

fn public_base(state: &AppState, ctx: &PayContext) -> String {
    let configured = state.settings.payments.public_base_url.trim();
    if configured.is_empty() {
        ctx.base_url.trim_end_matches('/').to_owned()
    } else {
        configured.trim_end_matches('/').to_owned()
    }
}

struct NewPayment<'a> {
    purpose: &'a str,
    order: Option<&'a Order>,
    user_id: i64,
    method: &'a str,
    trade_type: String,
    amount: i64,
}

async fn insert_payment<C: ConnectionTrait>(db: &C, new: &NewPayment<'_>) -> AppResult<Payment> {
    let now = Utc::now();
    Ok(payment::ActiveModel {
        payment_no: Set(new_number("PAY")),
        purpose: Set(new.purpose.to_owned()),
        order_id: Set(new.order.map(|o| o.id)),
        order_no: Set(new.order.map(|o| o.order_no.clone()).unwrap_or_default()),
        user_id: Set(new.user_id),
        payment_method: Set(new.method.to_owned()),
        trade_type: Set(new.trade_type.clone()),
        transaction_id: Set(None),
        amount: Set(new.amount),
        refunded_amount: Set(0),
        status: Set(STATUS_PENDING),
        pay_time: Set(None),
        notify_time: Set(None),
        notify_data: Set(None),
        failure_reason: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// How long a payment (and its sandbox checkout link) stays payable, as `expired_at` tells the client.
pub const PAYMENT_TTL_SECS: i64 = 2 * 3600;

fn created(p: &Payment, pay_url: String, pay_params: Option<Value>) -> PaymentCreated {
    PaymentCreated {
        payment_id: p.id,
        payment_no: p.payment_no.clone(),
        amount: money::to_yuan(p.amount),
        pay_url,
        pay_params,
        trade_type: p.trade_type.clone(),
        payment_method: p.payment_method.clone(),
        status: p.status,
        expired_at: p.created_at + chrono::Duration::seconds(PAYMENT_TTL_SECS),
        balance: None,
    }
}

fn default_trade_type(channel: Channel, requested: &str) -> String {
    let requested = requested.trim().to_ascii_uppercase();
    match channel {
        Channel::Sandbox => SANDBOX_TRADE_TYPE.to_owned(),
        Channel::Balance => "BALANCE".to_owned(),
        _ if requested.is_empty() => "NATIVE".to_owned(),
        _ => requested,
    }
}

/// Creates a payment for the buyer's pending order. Wallet payments complete at once; the other
/// channels answer where to pay.
///
/// # Errors
/// 404 `订单不存在`, 403 `无权操作此订单`, 400 `订单状态不允许创建支付`, 400 `余额不足`,
/// 400 `支付方式未配置`.
pub async fn create_order_payment(
    state: &AppState,
    user_id: i64,
    req: &CreatePaymentRequest,
    ctx: &PayContext,
) -> AppResult<PaymentCreated> {
    let method = req.payment_method.trim();
    let channel = resolve_channel(state, method)?;
    let order = orders::get_order(&state.db, req.order_id).await?;
    if order.user_id != user_id {
        return Err(AppError::forbidden(orders::MSG_FORBIDDEN_CHANGE));
    }
    if !action_allowed(OrderAction::Pay, orders::status_of(&order)?, Actor::User) {
        return Err(AppError::bad_request("订单状态不允许创建支付"));
    }
    let new = NewPayment {
        purpose: PURPOSE_ORDER,
        order: Some(&order),
        user_id,
        method,
        trade_type: default_trade_type(channel, &req.trade_type),
        amount: order.amount,
    };
    if channel == Channel::Balance {
        return pay_with_balance(state, &new).await;
    }
    let subject = format!("心理咨询订单 {}", order.order_no);
    start_channel_payment(state, &new, channel, &subject, &req.openid, ctx).await
}

/// Creates a recharge payment; the balance grows only when it is confirmed.
///
/// # Errors
/// 400 for a non-positive or too large amount, or a method that cannot recharge.
pub async fn create_recharge(
    state: &AppState,
    user_id: i64,
    req: &RechargeRequest,
    ctx: &PayContext,
) -> AppResult<PaymentCreated> {
    let amount = money::from_yuan(req.amount)
        .filter(|a| *a > 0)
        .ok_or_else(|| AppError::invalid_input("参数错误: amount: 充值金额必须大于0"))?;
    if amount > MAX_RECHARGE {
        return Err(AppError::bad_request("单次充值金额过大"));
    }
    let requested = req.payment_method.trim();
    let method = if requested.is_empty() {
        let p = &state.settings.payments;
        if p.sandbox_enabled {
            "sandbox"
        } else if wechat::is_configured(&p.wechat) {
            "wechat"
        } else if alipay::is_configured(&p.alipay) {
            "alipay"
        } else {
            return Err(AppError::bad_request(MSG_NOT_CONFIGURED));
        }
    } else {
        requested
    };
    let channel = resolve_channel(state, method)?;
    if channel == Channel::Balance {
        return Err(AppError::bad_request("不能用余额充值"));
    }
    let new = NewPayment {
        purpose: PURPOSE_RECHARGE,
        order: None,
        user_id,
        method,
        trade_type: default_trade_type(channel, &req.trade_type),
        amount,
    };
    let mut out = start_channel_payment(state, &new, channel, "账户充值", &req.openid, ctx).await?;
    out.balance = Some(money::to_yuan(
        users::service::balance_of(&state.db, user_id).await?,
    ));
    Ok(out)
}

async fn start_channel_payment(
    state: &AppState,
    new: &NewPayment<'_>,
    channel: Channel,
    subject: &str,
    openid: &str,
    ctx: &PayContext,
) -> AppResult<PaymentCreated> {
    let p = insert_payment(&state.db, new).await?;
    let base = public_base(state, ctx);
    let cfg = &state.settings.payments;
    let outcome = match channel {
        Channel::Sandbox => {
            let token = sandbox::PayToken::issue(
                &sandbox::secret(&state.settings)?,
                &p.payment_no,
                p.amount,
                p.created_at.timestamp() + PAYMENT_TTL_SECS,
            );
            Ok((
                format!(
                    "{base}/api/payment/sandbox/checkout/{}?token={token}",
                    p.payment_no
                ),
                None,
            ))
        }
        Channel::Wechat => {
            let notify = if cfg.wechat.notify_url.is_empty() {
                format!("{base}/api/payment/wechat/callback")
            } else {
                cfg.wechat.notify_url.clone()
            };
            let req = wechat::PrepayRequest {
                trade_type: &p.trade_type,
                payment_no: &p.payment_no,
                amount: p.amount,
                description: subject,
                notify_url: &notify,
                openid: Some(openid),
                client_ip: &ctx.client_ip,
            };
            wechat::prepay(&cfg.wechat, &req)
                .await
                .map(|r| (r.pay_url, r.pay_params))
        }
        Channel::Alipay => {
            let notify = if cfg.alipay.notify_url.is_empty() {
                format!("{base}/api/payment/alipay/callback")
            } else {
                cfg.alipay.notify_url.clone()
            };
            alipay::prepay(
                &cfg.alipay,
                &p.trade_type,
                &p.payment_no,
                p.amount,
                subject,
                &notify,
            )
            .await
        }
        Channel::Balance => Err(AppError::bad_request("不支持的支付方式")),
    };
    match outcome {
        Ok((pay_url, pay_params)) => Ok(created(&p, pay_url, pay_params)),
        Err(e) => {
            // The provider never saw a payable order: mark it failed so it is not mistaken for one.
            let reason: String = e.to_string().chars().take(255).collect();
            payment::Entity::update_many()
                .col_expr(
                    payment::Column::Status,
                    Expr::value(super::entity::STATUS_FAILED),
                )
                .col_expr(payment::Column::FailureReason, Expr::value(reason))
                .col_expr(payment::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(payment::Column::Id.eq(p.id))
                .filter(payment::Column::Status.eq(STATUS_PENDING))
                .exec(&state.db)
                .await?;
            Err(e)
        }
    }
}

/// Pays an order from the wallet: the payment, the debit, the order change and the events commit
/// together or not at all.
async fn pay_with_balance(state: &AppState, new: &NewPayment<'_>) -> AppResult<PaymentCreated> {
    let txn = state.db.begin().await?;
    let p = insert_payment(&txn, new).await?;
    let balance = wallet::apply(
        &txn,
        Movement {
            user_id: p.user_id,
            kind: wallet::KIND_CONSUME,
            amount: p.amount,
            description: &format!("订单支付 {}", p.order_no),
            order_id: p.order_id,
            payment_id: Some(p.id),
            dedupe_key: &format!("pay:{}", p.payment_no),
        },
    )
    .await?;
    let outcome = confirm_in_txn(&txn, &p, &format!("BAL{}", p.payment_no), p.amount, None).await?;
    if outcome != Outcome::Applied {
        return Err(AppError::conflict(orders::MSG_STATE_CONFLICT));
    }
    txn.commit().await?;
    state.bus.notify();
    let paid = get_payment(&state.db, p.id).await?;
    let mut out = created(&paid, String::new(), None);
    out.balance = Some(money::to_yuan(balance));
    Ok(out)
}

/// What applying a confirmation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied now.
    Applied,
    /// Applied before (a retry or a concurrent duplicate): nothing changed.
    AlreadyApplied,
    /// The amount differs from ours: flagged, not applied.
    AmountMismatch,
}

/// Marks `p` paid on `txn` if it is still pending, then applies what it pays for. The conditional
/// update (`WHERE status = 0`) and the unique `transaction_id` make a second application a no-op.
async fn confirm_in_txn<C: ConnectionTrait>(
    txn: &C,
    p: &Payment,
    transaction_id: &str,
    amount: i64,
    raw: Option<String>,
) -> AppResult<Outcome> {
    let now = Utc::now();
    if amount != p.amount {
        payment::Entity::update_many()
            .col_expr(
                payment::Column::FailureReason,
                Expr::value(format!("金额不一致: 应付{} 实付{}", p.amount, amount)),
            )
            .col_expr(payment::Column::NotifyTime, Expr::value(now))
            .col_expr(payment::Column::UpdatedAt, Expr::value(now))
            .filter(payment::Column::Id.eq(p.id))
            .filter(payment::Column::Status.eq(STATUS_PENDING))
            .exec(txn)
            .await?;
        EventBus::record(
            txn,
            &DomainEvent::PaymentAmountMismatch {
                payment_id: p.id,
                expected: p.amount,
                received: amount,
            },
        )
        .await?;
        return Ok(Outcome::AmountMismatch);
    }
    let updated = payment::Entity::update_many()
        .col_expr(payment::Column::Status, Expr::value(STATUS_PAID))
        .col_expr(
            payment::Column::TransactionId,
            Expr::value(transaction_id.to_owned()),
        )
        .col_expr(payment::Column::PayTime, Expr::value(now))
        .col_expr(payment::Column::NotifyTime, Expr::value(now))
        .col_expr(payment::Column::NotifyData, Expr::value(raw))
        .col_expr(payment::Column::FailureReason, Expr::value(String::new()))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(p.id))
        .filter(payment::Column::Status.eq(STATUS_PENDING))
        .exec(txn)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                AppError::conflict("交易号已被使用")
            } else {
                e.into()
            }
        })?;
    if updated.rows_affected != 1 {
        return Ok(Outcome::AlreadyApplied);
    }
    let confirmed = DomainEvent::PaymentConfirmed {
        payment_id: p.id,
        user_id: p.user_id,
        order_id: p.order_id,
        purpose: p.purpose.clone(),
        amount: p.amount,
    };
    match (p.purpose.as_str(), p.order_id) {
        (PURPOSE_ORDER, Some(order_id)) => {
            // The order is expected to wait for this payment: moved without reading it first, the
            // confirmation recorded with the move.
            let note = format!(
                "支付成功（{}），金额：{:.2}元",
                p.payment_method,
                money::to_yuan(p.amount)
            );
            let paid = orders::Move {
                order_id,
                from: OrderStatus::PendingPayment,
                to: OrderStatus::Paid,
                actor: Actor::System,
                actor_id: None,
                note: &note,
            };
            if orders::transition_unread(txn, &paid, std::slice::from_ref(&confirmed))
                .await?
                .is_some()
            {
                return Ok(Outcome::Applied);
            }
            // Paid after the order closed (timeout, or paid twice): the money goes to the wallet,
            // through the one refund path, with its refund row.
            let order = orders::get_order(txn, order_id).await?;
            let paid_now = get_payment(txn, p.id).await?;
            super::refunds::refund_late_payment(txn, &order, &paid_now).await?;
            payment::Entity::update_many()
                .col_expr(
                    payment::Column::FailureReason,
                    Expr::value("订单已关闭，款项已退回余额".to_owned()),
                )
                .filter(payment::Column::Id.eq(p.id))
                .exec(txn)
                .await?;
        }
        (PURPOSE_RECHARGE, _) => {
            wallet::apply(
                txn,
                Movement {
                    user_id: p.user_id,
                    kind: wallet::KIND_RECHARGE,
                    amount: p.amount,
                    description: "账户充值",
                    order_id: None,
                    payment_id: Some(p.id),
                    dedupe_key: &format!("recharge:{}", p.payment_no),
                },
            )
            .await?;
        }
        (purpose, _) => {
            return Err(AppError::Internal(anyhow::anyhow!(
                "payment {} has unknown purpose {purpose}",
                p.id
            )));
        }
    }
    EventBus::record(txn, &confirmed).await?;
    Ok(Outcome::Applied)
}

/// Applies a verified provider confirmation at most once.
///
/// # Errors
/// 404 `支付记录不存在` for an unknown payment number, 400 when the payment belongs to another channel.
pub async fn apply_confirmation(
    state: &AppState,
    channel: Channel,
    payment_no: &str,
    transaction_id: &str,
    amount: i64,
    raw: Option<String>,
) -> AppResult<Outcome> {
    let p = find_by_no(&state.db, payment_no).await?;
    apply_confirmation_to(state, channel, &p, transaction_id, amount, raw).await
}

/// [`apply_confirmation`] for a payment the caller has just read (the sandbox checkout's pay button).
pub async fn apply_confirmation_to(
    state: &AppState,
    channel: Channel,
    p: &Payment,
    transaction_id: &str,
    amount: i64,
    raw: Option<String>,
) -> AppResult<Outcome> {
    if channel_of(p) != channel {
        return Err(AppError::bad_request("支付渠道不匹配"));
    }
    if p.status != STATUS_PENDING {
        return Ok(Outcome::AlreadyApplied);
    }
    if transaction_id.is_empty() {
        return Err(AppError::bad_request("缺少交易号"));
    }
    let txn = state.db.begin().await?;
    let outcome = confirm_in_txn(&txn, p, transaction_id, amount, raw).await?;
    match outcome {
        Outcome::Applied | Outcome::AmountMismatch => {
            txn.commit().await?;
            state.bus.notify();
            if outcome == Outcome::AmountMismatch {
                tracing::warn!(
                    payment_id = p.id,
                    expected = p.amount,
                    received = amount,
                    "payment amount mismatch; not applied"
                );
            } else {
                tracing::info!(payment_id = p.id, "payment confirmed");
            }
        }
        Outcome::AlreadyApplied => txn.rollback().await?,
    }
    Ok(outcome)
}

pub async fn get_payment<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Payment> {
    payment::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_PAYMENT_NOT_FOUND))
}

pub async fn find_by_no(db: &DatabaseConnection, payment_no: &str) -> AppResult<Payment> {
    payment::Entity::find()
        .filter(payment::Column::PaymentNo.eq(payment_no))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_PAYMENT_NOT_FOUND))
}

/// The caller's payments, newest first.
pub async fn list_payments(
    db: &DatabaseConnection,
    user_id: i64,
    status: Option<i32>,
    method: Option<&str>,
    page: &Pagination,
) -> AppResult<PaymentList> {
    let mut query = payment::Entity::find().filter(payment::Column::UserId.eq(user_id));
    if let Some(status) = status {
        query = query.filter(payment::Column::Status.eq(status));
    }
    if let Some(method) = method.map(str::trim).filter(|m| !m.is_empty()) {
        query = query.filter(payment::Column::PaymentMethod.eq(method));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(payment::Column::CreatedAt)
        .order_by_desc(payment::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(db)
        .await?;
    // The page's orders in one query, then their views (buyer, counselor, review) in a fixed number
    // more: never a query per payment.
    let mut order_ids: Vec<i64> = rows.iter().filter_map(|p| p.order_id).collect();
    order_ids.sort_unstable();
    order_ids.dedup();
    let page_orders = if order_ids.is_empty() {
        Vec::new()
    } else {
        order::Entity::find()
            .filter(order::Column::Id.is_in(order_ids))
            .all(db)
            .await?
    };
    let views: HashMap<i64, OrderView> = orders::views(db, &page_orders)
        .await?
        .into_iter()
        .map(|v| (v.id, v))
        .collect();
    Ok(PaymentList {
        payments: rows
            .iter()
            .map(|p| PaymentListItem {
                payment: PaymentView::from(p),
                notify_data: p.notify_data.clone().unwrap_or_default(),
                order: p
                    .order_id
                    .and_then(|id| views.get(&id).cloned())
                    .unwrap_or_else(OrderView::zero),
            })
            .collect(),
        total,
    })
}

pub fn view(p: &Payment) -> PaymentView {
    PaymentView::from(p)
}
