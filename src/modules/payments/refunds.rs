//! The one refund path for orders. Every money movement back to a buyer — the end of a chat session
//! (unused minutes), a cancel, a buyer's refund request, an administrator's refund or status change to
//! refunded, a payment that arrived after its order closed — is decided by [`refund_in_txn`] inside one
//! transaction that holds the order's row lock (and its payment's): refundable = paid − billed − already
//! refunded (channel refunds still processing count as refunded), a request above it is refused whole
//! and nothing is credited, and the refund is recorded on the payment (`refunded_amount` and a
//! `payment_refunds` row), the order (`refunded_amount`), the wallet ledger and the outbox together.
//!
//! Refunds of a WeChat or Alipay payment go back through the channel: reserved in that transaction,
//! then settled exactly once by the channel's verified reply, its notification, or (Alipay replies that
//! could not be verified) [`query_processing_refunds`], which the supervised `refund_query` task runs
//! to ask the channel with backoff; the order moves to refunded when that settlement covers its payment.
//! The reserved money can be neither refunded again nor billed meanwhile.
//!
//! Tables: `payments.refunded_amount`, `payment_refunds`; the order, wallet and counselor ledgers through
//! their modules. Publishes: `PaymentRefunded`, `PaymentRefundFailed` (and `WalletChanged`,
//! `OrderStatusChanged` through their modules).

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use super::dto::RefundView;
use super::entity::{
    REFUND_FAILED, REFUND_PROCESSING, REFUND_SUCCEEDED, STATUS_PAID, STATUS_REFUNDED, payment,
    refund,
};
use super::service::{
    Channel, MSG_EXCESSIVE_REFUND, Outcome, PURPOSE_ORDER, Payment, channel_of, get_payment,
    new_number,
};
use super::wallet::{self, Movement};
use super::{alipay, is_untrusted_reply, wechat};
use crate::bus::{DomainEvent, EventBus};
use crate::error::{AppError, AppResult};
use crate::modules::chat::service as chat;
use crate::modules::finance::service as finance;
use crate::modules::orders::rules::{Refusal, check_refund};
use crate::modules::orders::service::{self as orders, Order};
use crate::modules::orders::status::{Actor, OrderStatus};
use crate::money;
use crate::state::AppState;

pub const MSG_SESSION_OPEN: &str = "会话进行中，请先结束咨询";
pub const MSG_COUNSELOR_SHARE: &str = "咨询师可用余额不足以退回其分成，请减少退款金额";
pub const MSG_REFUND_PENDING: &str = "退款处理中，请等待支付渠道结果";
const MSG_NOT_POSITIVE: &str = "退款金额必须大于0";
const MSG_NOTHING_LEFT: &str = "没有可退款的金额";

/// What asks for the money back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The buyer or the counselor: a cancel (all that is left) or a buyer's refund request.
    Party,
    /// An administrator: a refund or a status change to refunded.
    Admin,
    /// The end of the chat session: `billed` of what is left is kept, the rest goes to the wallet.
    SessionEnd { billed: i64 },
    /// A payment confirmed after its order closed: all of it goes to the wallet; the order is untouched.
    LatePayment,
}

/// A refund request.
pub struct Ask<'a> {
    /// Fen; `None` means everything still refundable.
    pub amount: Option<i64>,
    pub cause: Cause,
    pub actor: Actor,
    pub actor_id: Option<i64>,
    pub reason: &'a str,
}

/// What was paid for an order, read under the lock.
pub struct Paid {
    /// The payment that paid the order; `None` for an order an administrator marked paid (offline),
    /// whose refunds go to the wallet and are recorded on the order only.
    pub payment: Option<Payment>,
    pub amount: i64,
    /// Refunded so far, reservations of channel refunds still processing included.
    pub refunded: i64,
}

impl Paid {
    pub fn remaining(&self) -> i64 {
        std::cmp::max(self.amount - self.refunded, 0)
    }
}

/// What [`refund_in_txn`] did.
pub struct Granted {
    /// Fen refunded (or reserved) now; 0 when nothing was refundable.
    pub amount: i64,
    /// The refund row, when there is a payment to record it on.
    pub row: Option<refund::Model>,
    /// The channel still has to be asked (WeChat/Alipay) after the transaction commits.
    pub via_channel: bool,
    /// What is still refundable after this one.
    pub rest: i64,
}

/// The 4xx a refusal of the lifecycle table answers with.
pub fn refusal_error(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::State => AppError::bad_request(orders::MSG_STATE_CONFLICT),
        Refusal::SessionOpen => AppError::conflict(MSG_SESSION_OPEN),
    }
}

/// The payment that paid `order`, locked on `txn` (the caller holds the order's lock already), or the
/// order's own amounts when it was marked paid without one.
pub async fn paid_in_txn<C: ConnectionTrait>(txn: &C, order: &Order) -> AppResult<Paid> {
    let query = payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order.id))
        .filter(payment::Column::Purpose.eq(PURPOSE_ORDER))
        .filter(payment::Column::Status.is_in([STATUS_PAID, STATUS_REFUNDED]))
        // The first confirmed payment paid the order; a later one was refunded whole on arrival.
        .order_by_asc(payment::Column::PayTime)
        .order_by_asc(payment::Column::Id);
    let p = crate::db::for_update(query, txn.get_database_backend())
        .one(txn)
        .await?;
    Ok(match p {
        Some(p) => Paid {
            amount: p.amount,
            refunded: p.refunded_amount,
            payment: Some(p),
        },
        None => {
            let paid = matches!(
                orders::status_of(order)?,
                OrderStatus::Paid | OrderStatus::Completed | OrderStatus::Refunded
            );
            Paid {
                payment: None,
                amount: if paid { order.amount } else { 0 },
                refunded: order.refunded_amount,
            }
        }
    })
}

/// Decides and records one refund of `order` on `txn`, which must hold the order's row lock and have
/// read `paid` under it. Nothing is written when the request is refused.
///
/// # Errors
/// 400 for a non-positive amount or one above what is refundable, 409 when the counselor's share of an
/// administrator's refund of a completed order cannot be taken back.
pub async fn refund_in_txn<C: ConnectionTrait>(
    txn: &C,
    order: &Order,
    paid: &Paid,
    ask: &Ask<'_>,
) -> AppResult<Granted> {
    let keep = match ask.cause {
        Cause::SessionEnd { billed } => std::cmp::max(billed, 0),
        _ => 0,
    };
    let refundable = std::cmp::max(paid.remaining() - keep, 0);
    let amount = match ask.amount {
        Some(a) if a <= 0 => return Err(AppError::bad_request(MSG_NOT_POSITIVE)),
        Some(a) if a > refundable => return Err(AppError::bad_request(MSG_EXCESSIVE_REFUND)),
        Some(a) => a,
        None => refundable,
    };
    let mut granted = Granted {
        amount,
        row: None,
        via_channel: false,
        rest: refundable - amount,
    };
    if amount == 0 {
        return Ok(granted);
    }
    if ask.cause == Cause::Admin && orders::status_of(order)? == OrderStatus::Completed {
        take_back_counselor_share(txn, order, paid, amount).await?;
    }
    let on_order = ask.cause != Cause::LatePayment;
    let description = match ask.cause {
        Cause::SessionEnd { .. } => "咨询未使用时长退款".to_owned(),
        Cause::LatePayment => format!("订单{}已关闭，支付款退回余额", order.order_no),
        _ => format!("订单退款 {}", order.order_no),
    };
    let Some(p) = &paid.payment else {
        // Marked paid without a payment: the money goes to the wallet, recorded on the order.
        orders::add_refunded_amount(txn, order.id, amount).await?;
        wallet::apply(
            txn,
            Movement {
                user_id: order.user_id,
                kind: wallet::KIND_REFUND,
                amount,
                description: &description,
                order_id: Some(order.id),
                payment_id: None,
                // The refunded total before this one is unique per order under the lock.
                dedupe_key: &format!("refund:order:{}:{}", order.id, paid.refunded),
            },
        )
        .await?;
        return Ok(granted);
    };
    let row = reserve(txn, p, amount, ask.reason).await?;
    let to_wallet = channel_of(p) == Channel::Balance
        || matches!(ask.cause, Cause::SessionEnd { .. } | Cause::LatePayment);
    if to_wallet || channel_of(p) == Channel::Sandbox {
        let how = Settle {
            to_wallet,
            on_order,
            description: &description,
        };
        settle_in_txn(txn, &row, &RefundResult::Succeeded(None), &how).await?;
    } else {
        granted.via_channel = true;
    }
    granted.row = Some(row);
    Ok(granted)
}

/// Reserves `amount` on the payment and writes the processing refund row.
async fn reserve<C: ConnectionTrait>(
    txn: &C,
    p: &Payment,
    amount: i64,
    reason: &str,
) -> AppResult<refund::Model> {
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
        .exec(txn)
        .await?;
    if reserved.rows_affected != 1 {
        // Read under the lock, so only a payment already refunded whole gets here.
        return Err(AppError::bad_request(MSG_EXCESSIVE_REFUND));
    }
    let now = Utc::now();
    Ok(refund::ActiveModel {
        refund_no: Set(new_number("RFD")),
        payment_id: Set(p.id),
        order_id: Set(p.order_id),
        user_id: Set(p.user_id),
        amount: Set(amount),
        reason: Set(reason.chars().take(200).collect()),
        status: Set(REFUND_PROCESSING),
        channel_refund_id: Set(None),
        query_attempts: Set(0),
        next_query_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?)
}

/// The counselor's part of refunding `amount` of a completed order: the refund comes first out of what
/// was never billed, then out of the billed amount, of which the counselor got `counselor_fee / total`.
/// Cumulative rounding, so refunding the whole bill takes back exactly the fee credited.
fn counselor_share(
    paid_amount: i64,
    refunded_before: i64,
    billed: i64,
    fee: i64,
    amount: i64,
) -> i64 {
    if billed <= 0 || fee <= 0 {
        return 0;
    }
    let unbilled_left = std::cmp::max(paid_amount - billed - refunded_before, 0);
    let billed_before = (refunded_before - (paid_amount - billed)).clamp(0, billed);
    let billed_after = std::cmp::min(
        billed_before + std::cmp::max(amount - unbilled_left, 0),
        billed,
    );
    let part = |x: i64| (i128::from(x) * i128::from(fee) / i128::from(billed)) as i64;
    part(billed_after) - part(billed_before)
}

/// Takes the counselor's share of an administrator's refund back from their available balance, or
/// refuses the refund (409) when they no longer have it (withdrawn or frozen).
async fn take_back_counselor_share<C: ConnectionTrait>(
    txn: &C,
    order: &Order,
    paid: &Paid,
    amount: i64,
) -> AppResult<()> {
    let Some(bill) = chat::billing_of_order(txn, order.id).await? else {
        return Ok(());
    };
    let share = counselor_share(
        paid.amount,
        paid.refunded,
        bill.total_amount,
        bill.counselor_fee,
        amount,
    );
    if share <= 0 {
        return Ok(());
    }
    let taken = finance::apply(
        txn,
        finance::Movement {
            counselor_id: order.counselor_id,
            kind: "refund_reversal",
            balance_delta: -share,
            frozen_delta: 0,
            income_delta: -share,
            withdrawn_delta: 0,
            reference_type: "order",
            reference_id: Some(order.id),
            description: "订单退款，退回咨询收入",
            dedupe_key: Some(format!("reversal:order:{}:{}", order.id, paid.refunded)),
        },
    )
    .await;
    match taken {
        Ok(_) => Ok(()),
        Err(AppError::BadRequest(_)) => Err(AppError::conflict(MSG_COUNSELOR_SHARE)),
        Err(e) => Err(e),
    }
}

/// A refund asked for by a person (buyer, counselor, administrator): checked against the lifecycle
/// table under the order lock, decided by [`refund_in_txn`], the order moved to refunded when nothing
/// refundable is left, then (WeChat/Alipay) sent to the channel and settled.
///
/// # Errors
/// 404 for a missing order; 400/409 from the table ([`refusal_error`]) or from [`refund_in_txn`].
pub async fn refund_order(
    state: &AppState,
    order_id: i64,
    ask: &Ask<'_>,
) -> AppResult<(Order, Option<refund::Model>)> {
    let txn = state.db.begin().await?;
    let order = orders::get_order_for_update(&txn, order_id).await?;
    let status = orders::status_of(&order)?;
    let phase = chat::phase_of_order(&txn, order.id).await?;
    check_refund(status, ask.actor, phase).map_err(refusal_error)?;
    let paid = paid_in_txn(&txn, &order).await?;
    let granted = refund_in_txn(&txn, &order, &paid, ask).await?;
    if granted.amount == 0 && status == OrderStatus::Refunded {
        return Err(AppError::bad_request(MSG_NOTHING_LEFT));
    }
    let pending = match &paid.payment {
        Some(p) => processing_refunds(&txn, p.id).await?,
        None => 0,
    };
    if granted.amount == 0 && pending > 0 {
        // What is left is reserved by a channel refund that may still fail: the order is not refunded
        // until the channel says so.
        return Err(AppError::conflict(MSG_REFUND_PENDING));
    }
    // A channel refund moves the order when the channel confirms it ([`settle_refund`]); the money is
    // reserved meanwhile, so nothing else can be refunded or billed from it.
    let closes = matches!(status, OrderStatus::Paid | OrderStatus::Completed)
        && granted.rest == 0
        && !granted.via_channel
        && pending == 0;
    if closes {
        orders::transition(
            &txn,
            &order,
            OrderStatus::Refunded,
            ask.actor,
            ask.actor_id,
            ask.reason,
        )
        .await?;
    }
    txn.commit().await?;
    state.bus.notify();
    let mut row = granted.row;
    if let (true, Some(r), Some(p)) = (granted.via_channel, &row, &paid.payment) {
        send_to_channel(state, p, r).await?;
        row = refund::Entity::find_by_id(r.id).one(&state.db).await?;
    }
    Ok((orders::get_order(&state.db, order_id).await?, row))
}

/// The buyer's refund request on one of their order payments (`POST /api/payment/refund`).
///
/// # Errors
/// 404/403 for a missing or foreign payment, 400 `支付状态不允许退款`, 400 for a non-positive or
/// excessive amount, 400/409 when the lifecycle table refuses the buyer a refund now.
pub async fn request_refund(
    state: &AppState,
    user_id: i64,
    payment_id: i64,
    amount_yuan: f64,
    reason: &str,
) -> AppResult<RefundView> {
    let amount = money::from_yuan(amount_yuan)
        .filter(|a| *a > 0)
        .ok_or_else(|| AppError::bad_request(MSG_NOT_POSITIVE))?;
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
    let reason = if reason.trim().is_empty() {
        "用户申请退款"
    } else {
        reason.trim()
    };
    let ask = Ask {
        amount: Some(amount),
        cause: Cause::Party,
        actor: Actor::User,
        actor_id: Some(user_id),
        reason,
    };
    let (_, row) = refund_order(state, order_id, &ask).await?;
    let row = row.ok_or_else(|| AppError::bad_request(MSG_EXCESSIVE_REFUND))?;
    if row.payment_id != p.id {
        // The order was paid by another payment; this one was refunded whole on arrival.
        return Err(AppError::bad_request("支付状态不允许退款"));
    }
    if row.status == REFUND_FAILED {
        return Err(AppError::conflict("退款失败"));
    }
    let current = get_payment(&state.db, p.id).await?;
    Ok(RefundView {
        refund_id: row.id,
        refund_no: row.refund_no,
        payment_id: p.id,
        amount: money::to_yuan(amount),
        status: row.status,
        kind: if current.refunded_amount >= current.amount {
            "full"
        } else {
            "partial"
        },
        payment_status: current.status,
        refunded_amount: money::to_yuan(current.refunded_amount),
    })
}

/// Refunds a payment confirmed after its order closed (timed out, cancelled, or paid twice) to the
/// wallet, on the confirmation's transaction. The order's amounts are not touched: it was never paid by
/// this payment.
pub async fn refund_late_payment<C: ConnectionTrait>(
    txn: &C,
    order: &Order,
    p: &Payment,
) -> AppResult<()> {
    let paid = Paid {
        amount: p.amount,
        refunded: p.refunded_amount,
        payment: Some(p.clone()),
    };
    let ask = Ask {
        amount: None,
        cause: Cause::LatePayment,
        actor: Actor::System,
        actor_id: None,
        reason: "订单已关闭，款项已退回余额",
    };
    refund_in_txn(txn, order, &paid, &ask).await?;
    Ok(())
}

/// How a channel settled a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundResult {
    /// The money went back; the channel's refund id when it gave one.
    Succeeded(Option<String>),
    /// The refund did not happen (refused, closed, abnormal): the reserved amount is released.
    Failed(String),
}

/// Where a settled refund is recorded.
struct Settle<'a> {
    /// Credit the buyer's wallet (wallet payments, unused minutes, late payments).
    to_wallet: bool,
    /// Add it to the order's refunded amount (not for a late payment, which the order never got).
    on_order: bool,
    description: &'a str,
}

/// Moves a processing refund to its final state on `txn`, with the payment, the order, the wallet and
/// the outbox event. The conditional update (`WHERE status = 0`) comes first, so a duplicate or
/// concurrent settlement changes nothing and answers `AlreadyApplied`. Any failure (a cap above all)
/// is an error that rolls everything back: nothing is credited after a failed check.
async fn settle_in_txn<C: ConnectionTrait>(
    txn: &C,
    row: &refund::Model,
    result: &RefundResult,
    how: &Settle<'_>,
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
    // Refunded when the refunds that succeeded cover the payment; a reservation still processing does
    // not count, since it may yet fail.
    if succeeded_refunds(txn, p.id).await? >= p.amount {
        payment::Entity::update_many()
            .col_expr(payment::Column::Status, Expr::value(STATUS_REFUNDED))
            .col_expr(payment::Column::UpdatedAt, Expr::value(now))
            .filter(payment::Column::Id.eq(p.id))
            .filter(payment::Column::Status.eq(STATUS_PAID))
            .exec(txn)
            .await?;
    }
    if let Some(order_id) = p.order_id.filter(|_| how.on_order) {
        orders::add_refunded_amount(txn, order_id, row.amount).await?;
    }
    if how.to_wallet {
        wallet::apply(
            txn,
            Movement {
                user_id: p.user_id,
                kind: wallet::KIND_REFUND,
                amount: row.amount,
                description: how.description,
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
    refunds_in_status(db, payment_id, REFUND_SUCCEEDED).await
}

/// Σ of the refunds of a payment still waiting for their channel, fen.
async fn processing_refunds<C: ConnectionTrait>(db: &C, payment_id: i64) -> AppResult<i64> {
    refunds_in_status(db, payment_id, REFUND_PROCESSING).await
}

async fn refunds_in_status<C: ConnectionTrait>(
    db: &C,
    payment_id: i64,
    status: i32,
) -> AppResult<i64> {
    let backend = db.get_database_backend();
    let sum: Option<i64> = refund::Entity::find()
        .select_only()
        .column_as(crate::db::sum_as_i64(backend, "amount"), "s")
        .filter(refund::Column::PaymentId.eq(payment_id))
        .filter(refund::Column::Status.eq(status))
        .into_tuple()
        .one(db)
        .await?;
    Ok(sum.unwrap_or_default())
}

/// Settles a channel refund in its own transaction, under the order's and the payment's locks (the
/// order first, as every refund path takes them); commits only when it changed something.
async fn settle_refund(
    state: &AppState,
    row: &refund::Model,
    result: &RefundResult,
) -> AppResult<Outcome> {
    let txn = state.db.begin().await?;
    if let Some(order_id) = row.order_id {
        orders::get_order_for_update(&txn, order_id).await?;
    }
    let backend = txn.get_database_backend();
    let p = crate::db::for_update(payment::Entity::find_by_id(row.payment_id), backend)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found(super::service::MSG_PAYMENT_NOT_FOUND))?;
    let description = format!("订单退款 {}", p.order_no);
    let how = Settle {
        to_wallet: channel_of(&p) == Channel::Balance,
        on_order: true,
        description: &description,
    };
    let outcome = settle_in_txn(&txn, row, result, &how).await?;
    if outcome == Outcome::Applied
        && matches!(result, RefundResult::Succeeded(_))
        && let Some(order_id) = row.order_id
    {
        close_if_refunded(&txn, order_id, p.id).await?;
    }
    if outcome == Outcome::Applied {
        txn.commit().await?;
        state.bus.notify();
    } else {
        txn.rollback().await?;
    }
    Ok(outcome)
}

/// Moves a paid or completed order to refunded once the succeeded refunds of its payment cover it, as
/// the system (or an administrator for a completed order: only one may have asked for that refund).
async fn close_if_refunded<C: ConnectionTrait>(
    txn: &C,
    order_id: i64,
    payment_id: i64,
) -> AppResult<()> {
    let p = get_payment(txn, payment_id).await?;
    if p.status != STATUS_REFUNDED {
        return Ok(());
    }
    let order = orders::get_order(txn, order_id).await?;
    let actor = match orders::status_of(&order)? {
        OrderStatus::Paid => Actor::System,
        OrderStatus::Completed => Actor::Admin,
        _ => return Ok(()),
    };
    let note = "退款已到账，订单已退款";
    orders::transition(txn, &order, OrderStatus::Refunded, actor, None, note).await?;
    Ok(())
}

/// What the channel answered to a refund request.
enum ChannelRefund {
    /// Settled now (Alipay, or WeChat `SUCCESS`).
    Settled(Option<String>),
    /// Accepted; a notification settles it (WeChat `PROCESSING`).
    Pending(String),
}

/// Asks WeChat/Alipay to pay back a reserved refund and settles it with a verified answer. A channel
/// that answers "processing" leaves it to the notification; a reply whose signature does not verify
/// leaves it to the query job (the channel may have refunded).
async fn send_to_channel(state: &AppState, p: &Payment, row: &refund::Model) -> AppResult<()> {
    let cfg = &state.settings.payments;
    let answer = match channel_of(p) {
        Channel::Wechat => wechat::refund(
            &cfg.wechat,
            &p.payment_no,
            &row.refund_no,
            row.amount,
            p.amount,
            &row.reason,
        )
        .await
        .map(|reply| match reply {
            wechat::RefundReply::Succeeded(id) => ChannelRefund::Settled(Some(id)),
            wechat::RefundReply::Processing(id) => ChannelRefund::Pending(id),
        }),
        Channel::Alipay => alipay::refund(
            &cfg.alipay,
            &p.payment_no,
            &row.refund_no,
            row.amount,
            &row.reason,
        )
        .await
        .map(|id| ChannelRefund::Settled(Some(id))),
        Channel::Sandbox | Channel::Balance => Ok(ChannelRefund::Settled(None)),
    };
    match answer {
        Ok(ChannelRefund::Settled(id)) => {
            settle_refund(state, row, &RefundResult::Succeeded(id)).await?;
        }
        Ok(ChannelRefund::Pending(id)) => {
            refund::Entity::update_many()
                .col_expr(refund::Column::ChannelRefundId, Expr::value(id))
                .col_expr(refund::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(refund::Column::Id.eq(row.id))
                .filter(refund::Column::Status.eq(REFUND_PROCESSING))
                .exec(&state.db)
                .await?;
            tracing::info!(
                payment_id = p.id,
                row.refund_no,
                "channel refund processing"
            );
        }
        Err(e) if is_untrusted_reply(&e) => {
            schedule_query(state, row.id, 0).await?;
            tracing::warn!(
                payment_id = p.id,
                row.refund_no,
                "channel refund outcome unknown; reserved until the query job settles it"
            );
            return Err(e);
        }
        Err(e) => {
            settle_refund(state, row, &RefundResult::Failed(e.to_string())).await?;
            tracing::warn!(payment_id = p.id, row.refund_no, error = %e, "channel refund failed");
            return Err(e);
        }
    }
    Ok(())
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
    let outcome = settle_refund(state, &row, &result).await?;
    if outcome == Outcome::Applied {
        tracing::info!(refund_no, ?result, "refund settled by notification");
    }
    Ok(outcome)
}

/// The wait before the query job asks about a refund after `attempts` asks: `base` doubling, at most an
/// hour.
pub fn query_backoff(base: Duration, attempts: i32) -> Duration {
    let secs = std::cmp::max(base.as_secs(), 1).saturating_mul(1u64 << attempts.clamp(0, 12));
    Duration::from_secs(std::cmp::min(secs, 3600))
}

/// Marks a processing refund for the query job, `attempts` asks so far.
async fn schedule_query(state: &AppState, refund_id: i64, attempts: i32) -> AppResult<()> {
    let base = Duration::from_secs(state.settings.payments.refund_query_interval_secs);
    let wait = chrono::Duration::from_std(query_backoff(base, attempts)).unwrap_or_default();
    let db = &state.db;
    refund::Entity::update_many()
        .col_expr(refund::Column::QueryAttempts, Expr::value(attempts))
        .col_expr(refund::Column::NextQueryAt, Expr::value(Utc::now() + wait))
        .filter(refund::Column::Id.eq(refund_id))
        .filter(refund::Column::Status.eq(REFUND_PROCESSING))
        .exec(db)
        .await?;
    Ok(())
}

/// One pass of the refund query job: asks Alipay about every processing refund that is due and settles
/// the verified answers; an answer that cannot be trusted (or no answer) backs off. Returns how many
/// refunds it settled.
///
/// # Errors
/// Database failures while listing; a failure on one refund is logged and backed off.
pub async fn query_processing_refunds(state: &AppState) -> AppResult<u32> {
    let due = refund::Entity::find()
        .filter(refund::Column::Status.eq(REFUND_PROCESSING))
        .filter(refund::Column::NextQueryAt.lte(Utc::now()))
        .order_by_asc(refund::Column::NextQueryAt)
        .limit(100)
        .all(&state.db)
        .await?;
    let mut settled = 0;
    for row in due {
        let p = get_payment(&state.db, row.payment_id).await?;
        if channel_of(&p) != Channel::Alipay {
            continue;
        }
        let answer = alipay::query_refund(
            &state.settings.payments.alipay,
            &p.payment_no,
            &row.refund_no,
        )
        .await;
        let result = match answer {
            Ok(alipay::RefundQuery::Succeeded(id)) => RefundResult::Succeeded(Some(id)),
            Ok(alipay::RefundQuery::NotRefunded) => {
                RefundResult::Failed("支付宝查询: 退款未成功".to_owned())
            }
            Err(e) => {
                tracing::warn!(refund_no = row.refund_no, error = %e, "refund query failed; backing off");
                schedule_query(state, row.id, row.query_attempts.saturating_add(1)).await?;
                continue;
            }
        };
        if settle_refund(state, &row, &result).await? == Outcome::Applied {
            tracing::info!(
                refund_no = row.refund_no,
                ?result,
                "refund settled by query"
            );
            settled += 1;
        }
    }
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counselor_gives_back_exactly_their_fee_over_the_whole_bill() {
        // Paid 1500, billed 100 (fee 70), 1400 refunded at the end of the session.
        assert_eq!(counselor_share(1500, 1400, 100, 70, 100), 70);
        // In two parts the shares add up to the fee.
        let first = counselor_share(1500, 1400, 100, 70, 33);
        let second = counselor_share(1500, 1433, 100, 70, 67);
        assert_eq!(first + second, 70);
        // What was never billed is refunded first and costs the counselor nothing.
        assert_eq!(counselor_share(1500, 0, 100, 70, 1400), 0);
        assert_eq!(counselor_share(1500, 0, 100, 70, 1450), 35);
        assert_eq!(counselor_share(1500, 1400, 0, 0, 100), 0);
    }

    #[test]
    fn queries_back_off_to_an_hour() {
        let base = Duration::from_secs(30);
        assert_eq!(query_backoff(base, 0), Duration::from_secs(30));
        assert_eq!(query_backoff(base, 1), Duration::from_secs(60));
        assert_eq!(query_backoff(base, 50), Duration::from_secs(3600));
    }
}
