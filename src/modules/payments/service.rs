//! Rules for payments: creating them on a channel, applying a confirmation exactly once, refunds, and
//! the order side of both (through `orders::service::transition` on the same transaction).

use std::collections::HashMap;

use chrono::Utc;
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::Value;

use super::dto::{
    CreatePaymentRequest, PaymentCreated, PaymentList, PaymentListItem, PaymentView,
    RechargeRequest, RefundView,
};
use super::entity::{
    REFUND_FAILED, REFUND_PROCESSING, REFUND_SUCCEEDED, STATUS_PAID, STATUS_PENDING,
    STATUS_REFUNDED, payment, refund,
};
use super::wallet::{self, Movement};
use super::{alipay, is_untrusted_reply, sandbox, wechat};
use crate::bus::{DomainEvent, EventBus};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::http::Pagination;
use crate::modules::orders::dto::OrderView;
use crate::modules::orders::entity::order;
use crate::modules::orders::rules::{OrderAction, action_allowed, can_transition};
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
    match (p.purpose.as_str(), p.order_id) {
        (PURPOSE_ORDER, Some(order_id)) => {
            let order = orders::get_order(txn, order_id).await?;
            if order.status == i32::from(OrderStatus::PendingPayment) {
                orders::transition(
                    txn,
                    &order,
                    OrderStatus::Paid,
                    Actor::System,
                    None,
                    &format!(
                        "支付成功（{}），金额：{:.2}元",
                        p.payment_method,
                        money::to_yuan(p.amount)
                    ),
                )
                .await?;
            } else {
                // Paid after the order closed (timeout, or paid twice): the money goes to the wallet.
                wallet::apply(
                    txn,
                    Movement {
                        user_id: p.user_id,
                        kind: wallet::KIND_REFUND,
                        amount: p.amount,
                        description: &format!("订单{}已关闭，支付款退回余额", order.order_no),
                        order_id: Some(order.id),
                        payment_id: Some(p.id),
                        dedupe_key: &format!("late:{}", p.payment_no),
                    },
                )
                .await?;
                payment::Entity::update_many()
                    .col_expr(payment::Column::Status, Expr::value(STATUS_REFUNDED))
                    .col_expr(payment::Column::RefundedAmount, Expr::value(p.amount))
                    .col_expr(
                        payment::Column::FailureReason,
                        Expr::value("订单已关闭，款项已退回余额".to_owned()),
                    )
                    .filter(payment::Column::Id.eq(p.id))
                    .exec(txn)
                    .await?;
            }
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
    EventBus::record(
        txn,
        &DomainEvent::PaymentConfirmed {
            payment_id: p.id,
            user_id: p.user_id,
            order_id: p.order_id,
            purpose: p.purpose.clone(),
            amount: p.amount,
        },
    )
    .await?;
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
    let p = payment::Entity::find()
        .filter(payment::Column::PaymentNo.eq(payment_no))
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_PAYMENT_NOT_FOUND))?;
    if channel_of(&p) != channel {
        return Err(AppError::bad_request("支付渠道不匹配"));
    }
    if p.status != STATUS_PENDING {
        return Ok(Outcome::AlreadyApplied);
    }
    if transaction_id.is_empty() {
        return Err(AppError::bad_request("缺少交易号"));
    }
    let txn = state.db.begin().await?;
    let outcome = confirm_in_txn(&txn, &p, transaction_id, amount, raw).await?;
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

/// The buyer's refund request on one of their order payments.
///
/// # Errors
/// 404/403 for a missing or foreign payment, 400 `支付状态不允许退款`, 400 for a non-positive or
/// excessive amount, 400 when the order's state does not allow the buyer a refund.
pub async fn request_refund(
    state: &AppState,
    user_id: i64,
    payment_id: i64,
    amount_yuan: f64,
    reason: &str,
) -> AppResult<RefundView> {
    let amount = money::from_yuan(amount_yuan)
        .filter(|a| *a > 0)
        .ok_or_else(|| AppError::bad_request("退款金额必须大于0"))?;
    let p = get_payment(&state.db, payment_id).await?;
    if p.user_id != user_id {
        return Err(AppError::forbidden("无权操作此支付记录"));
    }
    if p.status != STATUS_PAID {
        return Err(AppError::bad_request("支付状态不允许退款"));
    }
    let Some(order_id) = p.order_id.filter(|_| p.purpose == PURPOSE_ORDER) else {
        return Err(AppError::bad_request("充值不支持退款"));
    };
    let order = orders::get_order(&state.db, order_id).await?;
    if !action_allowed(OrderAction::Refund, orders::status_of(&order)?, Actor::User) {
        return Err(AppError::bad_request("订单状态不允许退款"));
    }
    let reason = if reason.trim().is_empty() {
        "用户申请退款"
    } else {
        reason.trim()
    };
    refund_payment(state, &p, amount, reason, Actor::User, Some(user_id)).await
}

/// Refunds what is left of an order's payment and moves the order to refunded (cancel of a paid
/// order, a counselor's or admin's refund). An order without a refundable payment just moves.
pub async fn refund_order(
    state: &AppState,
    order: &Order,
    actor: Actor,
    actor_id: Option<i64>,
    note: &str,
) -> AppResult<Order> {
    let from = orders::status_of(order)?;
    if !can_transition(from, OrderStatus::Refunded, actor) {
        return Err(AppError::bad_request(orders::MSG_STATE_CONFLICT));
    }
    let paid = payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order.id))
        .filter(payment::Column::Purpose.eq(PURPOSE_ORDER))
        .filter(payment::Column::Status.eq(STATUS_PAID))
        .order_by_desc(payment::Column::Id)
        .one(&state.db)
        .await?;
    match paid {
        Some(p) if p.amount > p.refunded_amount => {
            let refund = refund_payment(
                state,
                &p,
                p.amount - p.refunded_amount,
                note,
                actor,
                actor_id,
            )
            .await?;
            let after = orders::get_order(&state.db, order.id).await?;
            // A refund the channel is still processing moves the order when its notification comes.
            if after.status != i32::from(OrderStatus::Refunded)
                && refund.status != REFUND_PROCESSING
            {
                return Err(AppError::conflict(orders::MSG_STATE_CONFLICT));
            }
            Ok(after)
        }
        // Paid, but every fen is reserved by refunds the channel is still processing.
        Some(_) => Err(AppError::conflict("退款处理中")),
        None => {
            let txn = state.db.begin().await?;
            let updated =
                orders::transition(&txn, order, OrderStatus::Refunded, actor, actor_id, note)
                    .await?;
            txn.commit().await?;
            state.bus.notify();
            Ok(updated)
        }
    }
}

/// How a channel settled a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundResult {
    /// The money went back; the channel's refund id when it gave one.
    Succeeded(Option<String>),
    /// The refund did not happen (refused, closed, abnormal): the reserved amount is released.
    Failed(String),
}

/// What the channel answered to a refund request.
enum ChannelRefund {
    /// Settled now (sandbox, wallet, Alipay, or WeChat `SUCCESS`).
    Settled(Option<String>),
    /// Accepted; a notification settles it (WeChat `PROCESSING`).
    Pending(String),
}

/// Moves a processing refund to its final state on `txn`, with the payment, the order and the outbox
/// event. The conditional update (`WHERE status = 0`) comes first, so a duplicate or concurrent
/// settlement of the same refund changes nothing and answers `AlreadyApplied`.
///
/// On success: the payment becomes refunded once its succeeded refunds cover it, a wallet payment is
/// credited back, the order's refunded amount grows and a full refund moves the order to refunded as
/// `actor`. On failure: the amount reserved on the payment is released.
async fn settle_refund_in_txn<C: ConnectionTrait>(
    txn: &C,
    row: &refund::Model,
    result: &RefundResult,
    actor: Actor,
    actor_id: Option<i64>,
) -> AppResult<Outcome> {
    let now = Utc::now();
    let (status, channel_refund_id) = match result {
        RefundResult::Succeeded(id) => (REFUND_SUCCEEDED, id.clone()),
        RefundResult::Failed(_) => (REFUND_FAILED, None),
    };
    let mut update = refund::Entity::update_many()
        .col_expr(refund::Column::Status, Expr::value(status))
        .col_expr(refund::Column::UpdatedAt, Expr::value(now))
        .filter(refund::Column::Id.eq(row.id))
        .filter(refund::Column::Status.eq(REFUND_PROCESSING));
    if let Some(id) = channel_refund_id.filter(|id| !id.is_empty()) {
        update = update.col_expr(refund::Column::ChannelRefundId, Expr::value(id));
    }
    if update.exec(txn).await?.rows_affected != 1 {
        return Ok(Outcome::AlreadyApplied);
    }
    let p = get_payment(txn, row.payment_id).await?;
    if let RefundResult::Failed(reason) = result {
        payment::Entity::update_many()
            .col_expr(
                payment::Column::RefundedAmount,
                Expr::col(payment::Column::RefundedAmount).sub(row.amount),
            )
            .col_expr(payment::Column::UpdatedAt, Expr::value(now))
            .filter(payment::Column::Id.eq(p.id))
            .exec(txn)
            .await?;
        EventBus::record(
            txn,
            &DomainEvent::PaymentRefundFailed {
                payment_id: p.id,
                refund_id: row.id,
                user_id: p.user_id,
                order_id: p.order_id,
                amount: row.amount,
                reason: reason.chars().take(200).collect(),
            },
        )
        .await?;
        return Ok(Outcome::Applied);
    }
    // Full when the refunds that succeeded cover the payment; a reservation still processing does
    // not count, since it may yet fail.
    let succeeded = succeeded_refunds(txn, p.id).await?;
    let full = succeeded >= p.amount;
    if full {
        payment::Entity::update_many()
            .col_expr(payment::Column::Status, Expr::value(STATUS_REFUNDED))
            .col_expr(payment::Column::UpdatedAt, Expr::value(now))
            .filter(payment::Column::Id.eq(p.id))
            .filter(payment::Column::Status.eq(STATUS_PAID))
            .exec(txn)
            .await?;
    }
    // The order before the wallet, the order every path that touches both takes (ending a chat
    // session does too), so two of them never wait on each other.
    if let Some(order_id) = p.order_id {
        if let Err(e) = orders::add_refunded_amount(txn, order_id, row.amount).await {
            tracing::warn!(order_id, error = %e, "order refunded amount not recorded");
        }
        if full {
            let order = orders::get_order(txn, order_id).await?;
            if let Err(e) = orders::transition(
                txn,
                &order,
                OrderStatus::Refunded,
                actor,
                actor_id,
                &row.reason,
            )
            .await
            {
                tracing::warn!(order_id, error = %e, "refunded payment left the order unchanged");
            }
        }
    }
    if channel_of(&p) == Channel::Balance {
        wallet::apply(
            txn,
            Movement {
                user_id: p.user_id,
                kind: wallet::KIND_REFUND,
                amount: row.amount,
                description: &format!("订单退款 {}", p.order_no),
                order_id: p.order_id,
                payment_id: Some(p.id),
                dedupe_key: &format!("refund:{}", row.refund_no),
            },
        )
        .await?;
    }
    EventBus::record(
        txn,
        &DomainEvent::PaymentRefunded {
            payment_id: p.id,
            user_id: p.user_id,
            order_id: p.order_id,
            amount: row.amount,
        },
    )
    .await?;
    Ok(Outcome::Applied)
}

/// Σ of the succeeded refunds of a payment, fen.
async fn succeeded_refunds<C: ConnectionTrait>(db: &C, payment_id: i64) -> AppResult<i64> {
    let backend = db.get_database_backend();
    let sum: Option<i64> = refund::Entity::find()
        .select_only()
        .column_as(crate::db::sum_as_i64(backend, "amount"), "s")
        .filter(refund::Column::PaymentId.eq(payment_id))
        .filter(refund::Column::Status.eq(REFUND_SUCCEEDED))
        .into_tuple()
        .one(db)
        .await?;
    Ok(sum.unwrap_or_default())
}

/// Settles one refund in its own transaction; commits only when it changed something.
async fn settle_refund(
    state: &AppState,
    row: &refund::Model,
    result: &RefundResult,
    actor: Actor,
    actor_id: Option<i64>,
) -> AppResult<Outcome> {
    let txn = state.db.begin().await?;
    let outcome = settle_refund_in_txn(&txn, row, result, actor, actor_id).await?;
    if outcome == Outcome::Applied {
        txn.commit().await?;
        state.bus.notify();
    } else {
        txn.rollback().await?;
    }
    Ok(outcome)
}

/// Who a refund settled later (by a notification) moves the order as: the system, or an administrator
/// for a completed order, since only an administrator may have asked for that refund.
fn settling_actor(order_status: Option<i32>) -> Actor {
    match order_status.map(OrderStatus::try_from) {
        Some(Ok(OrderStatus::Completed)) => Actor::Admin,
        _ => Actor::System,
    }
}

/// Applies a verified refund result reported by a channel's notification, at most once.
///
/// # Errors
/// 404 for an unknown refund number, 400 when the refund belongs to another payment or channel.
pub async fn apply_refund_notice(
    state: &AppState,
    channel: Channel,
    refund_no: &str,
    payment_no: &str,
    refunded: i64,
    result: RefundResult,
) -> AppResult<Outcome> {
    let row = refund::Entity::find()
        .filter(refund::Column::RefundNo.eq(refund_no))
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::not_found("退款记录不存在"))?;
    let p = get_payment(&state.db, row.payment_id).await?;
    if p.payment_no != payment_no || channel_of(&p) != channel {
        return Err(AppError::bad_request("退款单与支付记录不匹配"));
    }
    if row.status != REFUND_PROCESSING {
        let settled_as = if row.status == REFUND_SUCCEEDED {
            matches!(result, RefundResult::Succeeded(_))
        } else {
            matches!(result, RefundResult::Failed(_))
        };
        if !settled_as {
            tracing::warn!(
                refund_no,
                status = row.status,
                ?result,
                "refund notice contradicts the settled refund; ignored"
            );
        }
        return Ok(Outcome::AlreadyApplied);
    }
    if matches!(result, RefundResult::Succeeded(_)) && refunded != row.amount {
        tracing::warn!(
            refund_no,
            expected = row.amount,
            received = refunded,
            "refund amount mismatch; not applied"
        );
        return Ok(Outcome::AmountMismatch);
    }
    let order_status = match p.order_id {
        Some(id) => orders::find_order(&state.db, id).await?.map(|o| o.status),
        None => None,
    };
    let outcome = settle_refund(state, &row, &result, settling_actor(order_status), None).await?;
    if outcome == Outcome::Applied {
        tracing::info!(refund_no, ?result, "refund settled by notification");
    }
    Ok(outcome)
}

/// Refunds `amount` fen of a paid payment: reserve it (so two refunds can never exceed the payment),
/// ask the channel, then settle with its answer ([`settle_refund_in_txn`]). A channel that answers
/// "processing" leaves the refund reserved until its notification settles it; so does a reply whose
/// signature does not verify, since the channel may have refunded.
pub async fn refund_payment(
    state: &AppState,
    p: &Payment,
    amount: i64,
    reason: &str,
    actor: Actor,
    actor_id: Option<i64>,
) -> AppResult<RefundView> {
    if amount <= 0 {
        return Err(AppError::bad_request("退款金额必须大于0"));
    }
    if amount > p.amount - p.refunded_amount {
        return Err(AppError::bad_request(MSG_EXCESSIVE_REFUND));
    }
    let reason: String = reason.chars().take(200).collect();
    let refund_no = new_number("RFD");

    let txn = state.db.begin().await?;
    let reserved = payment::Entity::update_many()
        .col_expr(
            payment::Column::RefundedAmount,
            Expr::col(payment::Column::RefundedAmount).add(amount),
        )
        .col_expr(payment::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(payment::Column::Id.eq(p.id))
        .filter(payment::Column::Status.eq(STATUS_PAID))
        .filter(
            Expr::col(payment::Column::RefundedAmount)
                .add(amount)
                .lte(Expr::col(payment::Column::Amount)),
        )
        .exec(&txn)
        .await?;
    if reserved.rows_affected != 1 {
        return Err(AppError::bad_request(MSG_EXCESSIVE_REFUND));
    }
    let now = Utc::now();
    let row = refund::ActiveModel {
        refund_no: Set(refund_no.clone()),
        payment_id: Set(p.id),
        order_id: Set(p.order_id),
        user_id: Set(p.user_id),
        amount: Set(amount),
        reason: Set(reason.clone()),
        status: Set(REFUND_PROCESSING),
        channel_refund_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;

    let cfg = &state.settings.payments;
    let channel_result = match channel_of(p) {
        Channel::Wechat => wechat::refund(
            &cfg.wechat,
            &p.payment_no,
            &refund_no,
            amount,
            p.amount,
            &reason,
        )
        .await
        .map(|reply| match reply {
            wechat::RefundReply::Succeeded(id) => ChannelRefund::Settled(Some(id)),
            wechat::RefundReply::Processing(id) => ChannelRefund::Pending(id),
        }),
        Channel::Alipay => alipay::refund(&cfg.alipay, &p.payment_no, &refund_no, amount, &reason)
            .await
            .map(|id| ChannelRefund::Settled(Some(id))),
        Channel::Sandbox | Channel::Balance => Ok(ChannelRefund::Settled(None)),
    };
    match channel_result {
        Ok(ChannelRefund::Settled(id)) => {
            let result = RefundResult::Succeeded(id);
            settle_refund(state, &row, &result, actor, actor_id).await?;
        }
        Ok(ChannelRefund::Pending(id)) => {
            refund::Entity::update_many()
                .col_expr(refund::Column::ChannelRefundId, Expr::value(id))
                .col_expr(refund::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(refund::Column::Id.eq(row.id))
                .filter(refund::Column::Status.eq(REFUND_PROCESSING))
                .exec(&state.db)
                .await?;
            tracing::info!(payment_id = p.id, refund_no, "channel refund processing");
        }
        Err(e) if is_untrusted_reply(&e) => {
            tracing::warn!(
                payment_id = p.id,
                refund_no,
                "channel refund outcome unknown; it stays processing with its amount reserved"
            );
            return Err(e);
        }
        Err(e) => {
            let result = RefundResult::Failed(e.to_string());
            settle_refund(state, &row, &result, actor, actor_id).await?;
            tracing::warn!(payment_id = p.id, refund_no, error = %e, "channel refund failed");
            return Err(e);
        }
    }
    // Read back rather than assume: a notification may have settled the refund meanwhile.
    let status = refund::Entity::find_by_id(row.id)
        .one(&state.db)
        .await?
        .map_or(REFUND_PROCESSING, |r| r.status);
    if status == REFUND_FAILED {
        return Err(AppError::conflict("退款失败"));
    }
    let current = get_payment(&state.db, p.id).await?;
    let full = current.refunded_amount >= current.amount;
    Ok(RefundView {
        refund_id: row.id,
        refund_no,
        payment_id: p.id,
        amount: money::to_yuan(amount),
        status,
        kind: if full { "full" } else { "partial" },
        payment_status: current.status,
        refunded_amount: money::to_yuan(current.refunded_amount),
    })
}
