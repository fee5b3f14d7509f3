//! Rules for orders. Every status change goes through [`transition`], which asks the transition table,
//! updates the row only if it is still in the expected state, writes the timeline event and records the
//! outbox event, all on the caller's transaction.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entity::{order, order_event};
use super::rules::can_transition;
use super::status::{Actor, OrderStatus};
use crate::bus::{DomainEvent, EventBus};
use crate::error::{AppError, AppResult};

pub type Order = order::Model;

pub const MSG_ORDER_NOT_FOUND: &str = "订单不存在";
pub const MSG_STATE_CONFLICT: &str = "订单状态不允许此操作";

pub async fn find_order<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Option<Order>> {
    Ok(order::Entity::find_by_id(id).one(db).await?)
}

pub async fn get_order<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Order> {
    find_order(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_ORDER_NOT_FOUND))
}

pub fn status_of(order: &Order) -> AppResult<OrderStatus> {
    OrderStatus::try_from(order.status)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("order {}: {e}", order.id)))
}

/// Moves `order` to `to` on `txn` if the table allows `actor` to, and the row is still in the state the
/// caller saw (a concurrent change makes this a 409, never a double move).
///
/// # Errors
/// 400 when the table refuses the move, 409 when the order changed meanwhile.
pub async fn transition<C: ConnectionTrait>(
    txn: &C,
    order: &Order,
    to: OrderStatus,
    actor: Actor,
    actor_id: Option<i64>,
    note: &str,
) -> AppResult<Order> {
    let from = status_of(order)?;
    if !can_transition(from, to, actor) {
        return Err(AppError::bad_request(MSG_STATE_CONFLICT));
    }
    let now = Utc::now();
    let mut update = order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(i32::from(to)))
        .col_expr(order::Column::UpdatedAt, Expr::value(now))
        .filter(order::Column::Id.eq(order.id))
        .filter(order::Column::Status.eq(i32::from(from)));
    if to == OrderStatus::Paid {
        update = update.col_expr(order::Column::PayTime, Expr::value(now));
    }
    if update.exec(txn).await?.rows_affected != 1 {
        return Err(AppError::conflict(MSG_STATE_CONFLICT));
    }
    record_event(txn, order.id, Some(from), to, actor, actor_id, note).await?;
    EventBus::record(
        txn,
        &DomainEvent::OrderStatusChanged {
            order_id: order.id,
            user_id: order.user_id,
            counselor_id: order.counselor_id,
            from: from.into(),
            to: to.into(),
            actor: actor.as_str().to_owned(),
        },
    )
    .await?;
    get_order(txn, order.id).await
}

/// Appends a timeline entry. `from` is `None` for the creation event.
pub async fn record_event<C: ConnectionTrait>(
    txn: &C,
    order_id: i64,
    from: Option<OrderStatus>,
    to: OrderStatus,
    actor: Actor,
    actor_id: Option<i64>,
    note: &str,
) -> AppResult<()> {
    order_event::ActiveModel {
        order_id: Set(order_id),
        from_status: Set(from.map_or(-1, i32::from)),
        to_status: Set(to.into()),
        actor: Set(actor.as_str().to_owned()),
        actor_id: Set(actor_id),
        note: Set(note.chars().take(255).collect()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Adds `amount` fen to what the buyer got back, never past the order amount.
///
/// # Errors
/// 400 when that would exceed the amount paid.
pub async fn add_refunded_amount<C: ConnectionTrait>(
    txn: &C,
    order_id: i64,
    amount: i64,
) -> AppResult<()> {
    if amount <= 0 {
        return Ok(());
    }
    let res = order::Entity::update_many()
        .col_expr(
            order::Column::RefundedAmount,
            Expr::col(order::Column::RefundedAmount).add(amount),
        )
        .col_expr(order::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(order::Column::Id.eq(order_id))
        .filter(
            Expr::col(order::Column::RefundedAmount)
                .add(amount)
                .lte(Expr::col(order::Column::Amount)),
        )
        .exec(txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::bad_request("退款金额不能超过支付金额"));
    }
    Ok(())
}
