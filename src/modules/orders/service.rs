//! Rules for orders. Every status change goes through [`transition`], which asks the transition table,
//! updates the row only if it is still in the expected state, writes the timeline event and records the
//! outbox event, all on the caller's transaction.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::dto::{
    CounselorBrief, CreateOrderRequest, OrderList, OrderStatistics, OrderView, TimelineEntry,
    UserBrief, ValidateResult, status_text,
};
use super::entity::{order, order_event};
use super::rules::{OrderAction, action_allowed, can_transition, check};
use super::status::{Actor, OrderStatus};
use crate::bus::{DomainEvent, EventBus};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::http::Pagination;
use crate::modules::{counselors, users};
use crate::money;
use crate::state::AppState;

pub type Order = order::Model;

pub const MSG_ORDER_NOT_FOUND: &str = "订单不存在";
pub const MSG_STATE_CONFLICT: &str = "订单状态不允许此操作";
pub const MSG_OWN_SERVICE: &str = "不能预约自己的咨询服务";

pub async fn find_order<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Option<Order>> {
    Ok(order::Entity::find_by_id(id).one(db).await?)
}

pub async fn get_order<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Order> {
    find_order(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_ORDER_NOT_FOUND))
}

/// Reads the order inside `txn` and keeps it locked until `txn` ends (see [`crate::db::for_update`]).
pub async fn get_order_for_update<C: ConnectionTrait>(txn: &C, id: i64) -> AppResult<Order> {
    crate::db::for_update(order::Entity::find_by_id(id), txn.get_database_backend())
        .one(txn)
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
    let moved = Move {
        order_id: order.id,
        from,
        to,
        actor,
        actor_id,
        note,
    };
    transition_unread(txn, &moved, &[])
        .await?
        .ok_or_else(|| AppError::conflict(MSG_STATE_CONFLICT))
}

/// A transition as [`transition`] makes it, for an order the caller has not read.
pub struct Move<'a> {
    pub order_id: i64,
    /// The state the order must be in: the update checks it.
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub actor: Actor,
    pub actor_id: Option<i64>,
    pub note: &'a str,
}

/// Makes `moved` if the order is in `moved.from`, without reading it first: the update is the check
/// (the pay step's confirmation, one read less). `also` are recorded with its `OrderStatusChanged`, in
/// the same insert. `None`, with nothing changed or recorded, when the order is not in `moved.from`.
///
/// # Errors
/// 400 when the table refuses the move.
pub async fn transition_unread<C: ConnectionTrait>(
    txn: &C,
    moved: &Move<'_>,
    also: &[DomainEvent],
) -> AppResult<Option<Order>> {
    let Move {
        order_id,
        from,
        to,
        actor,
        actor_id,
        note,
    } = *moved;
    if !can_transition(from, to, actor) {
        return Err(AppError::bad_request(MSG_STATE_CONFLICT));
    }
    let now = Utc::now();
    let mut update = order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(i32::from(to)))
        .col_expr(order::Column::UpdatedAt, Expr::value(now))
        .filter(order::Column::Id.eq(order_id))
        .filter(order::Column::Status.eq(i32::from(from)));
    if to == OrderStatus::Paid {
        update = update.col_expr(order::Column::PayTime, Expr::value(now));
    }
    // The row as updated: in the update's own reply where the database has RETURNING (one round trip
    // less on every transition, the pay step included), else read again after it.
    let updated = if txn.support_returning() {
        update.exec_with_returning(txn).await?.pop()
    } else if update.exec(txn).await?.rows_affected == 1 {
        Some(get_order(txn, order_id).await?)
    } else {
        None
    };
    let Some(updated) = updated else {
        return Ok(None);
    };
    record_event(txn, order_id, Some(from), to, actor, actor_id, note).await?;
    let unserved = matches!(from, OrderStatus::PendingPayment | OrderStatus::Paid);
    if unserved && matches!(to, OrderStatus::Cancelled | OrderStatus::Refunded) {
        crate::modules::counselors::service::record_order_cancelled(txn, updated.counselor_id)
            .await?;
    }
    let mut events = Vec::with_capacity(1 + also.len());
    events.push(DomainEvent::OrderStatusChanged {
        order_id,
        user_id: updated.user_id,
        counselor_id: updated.counselor_id,
        from: from.into(),
        to: to.into(),
        actor: actor.as_str().to_owned(),
    });
    events.extend_from_slice(also);
    EventBus::record_all(txn, &events).await?;
    Ok(Some(updated))
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

pub const MSG_FORBIDDEN_VIEW: &str = "无权访问此订单";
pub const MSG_FORBIDDEN_CHANGE: &str = "无权操作此订单";
pub const MSG_NOT_COUNSELOR: &str = "不是咨询师";

/// Parses `schedule_time` in the formats the clients send. Strings without a zone are UTC.
pub fn parse_schedule_time(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// `ORD` + UTC `yyyymmddHHMMSS` + 8 random digits (25 chars): unique in practice even within a second;
/// the unique index and a retry settle the rest.
pub fn new_order_no() -> String {
    let n: u32 = rand::rng().random_range(0..100_000_000);
    format!("ORD{}{n:08}", Utc::now().format("%Y%m%d%H%M%S"))
}

/// How long an unpaid order lives. Read through here so it can become a runtime setting.
pub async fn payment_timeout_minutes(state: &AppState) -> i64 {
    crate::modules::system::service::order_payment_timeout_minutes(state).await
}

/// Creates a pending order priced from the counselor, with its creation event and `OrderCreated`, in
/// one transaction.
///
/// # Errors
/// 404 `咨询师不存在`, 400 `咨询师暂不可用`, 400 for an unparsable `schedule_time`.
pub async fn create_order(
    state: &AppState,
    user_id: i64,
    req: &CreateOrderRequest,
) -> AppResult<Order> {
    let schedule_time = parse_schedule_time(&req.schedule_time).ok_or_else(|| {
        AppError::invalid_input(format!(
            "参数错误: 无法解析时间: {}",
            req.schedule_time.chars().take(64).collect::<String>()
        ))
    })?;
    let notes = req.notes.trim();
    for attempt in 0..3 {
        // The counselor is read on the order's transaction: one pooled connection per attempt, and
        // sqlx tests each connection it takes back (a round trip).
        let txn = state.db.begin().await?;
        let counselor = counselors::service::get_counselor(&txn, req.counselor_id).await?;
        if counselor.status != 1 {
            return Err(AppError::bad_request("咨询师暂不可用"));
        }
        if counselor.user_id == Some(user_id) {
            return Err(AppError::bad_request(MSG_OWN_SERVICE));
        }
        let amount = i64::from(req.duration)
            .checked_mul(counselor.price)
            .ok_or_else(|| AppError::bad_request("订单金额过大"))?;
        let now = Utc::now();
        let inserted = order::ActiveModel {
            order_no: Set(new_order_no()),
            user_id: Set(user_id),
            counselor_id: Set(counselor.id),
            duration: Set(req.duration),
            price_per_minute: Set(counselor.price),
            amount: Set(amount),
            refunded_amount: Set(0),
            status: Set(OrderStatus::PendingPayment.into()),
            schedule_time: Set(schedule_time),
            notes: Set((!notes.is_empty()).then(|| notes.to_owned())),
            pay_time: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        let created = match inserted {
            Ok(o) => o,
            Err(e) if is_unique_violation(&e) && attempt < 2 => continue,
            Err(e) => return Err(e.into()),
        };
        record_event(
            &txn,
            created.id,
            None,
            OrderStatus::PendingPayment,
            Actor::User,
            Some(user_id),
            "用户创建了订单",
        )
        .await?;
        crate::modules::counselors::service::record_order_created(&txn, counselor.id).await?;
        EventBus::record(
            &txn,
            &DomainEvent::OrderCreated {
                order_id: created.id,
                user_id,
                counselor_id: counselor.id,
                amount,
            },
        )
        .await?;
        txn.commit().await?;
        state.bus.notify();
        return Ok(created);
    }
    Err(AppError::conflict("订单号冲突，请重试"))
}

/// How the caller relates to an order.
pub async fn actor_for<C: ConnectionTrait>(
    db: &C,
    order: &Order,
    user_id: i64,
) -> AppResult<Option<Actor>> {
    if order.user_id == user_id {
        return Ok(Some(Actor::User));
    }
    let counselor = counselors::service::counselor_of_user(db, user_id).await?;
    Ok(counselor
        .filter(|c| c.id == order.counselor_id)
        .map(|_| Actor::Counselor))
}

/// The order, if the caller is its buyer or its counselor; otherwise 403 with `forbidden_msg`.
pub async fn order_for_party(
    db: &DatabaseConnection,
    order_id: i64,
    user_id: i64,
    forbidden_msg: &str,
) -> AppResult<(Order, Actor)> {
    let order = get_order(db, order_id).await?;
    match actor_for(db, &order, user_id).await? {
        Some(actor) => Ok((order, actor)),
        None => Err(AppError::forbidden(forbidden_msg)),
    }
}

/// Order views with their buyer, counselor and `has_review`, loaded in three queries.
pub async fn views<C: ConnectionTrait>(db: &C, orders: &[Order]) -> AppResult<Vec<OrderView>> {
    let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
    let mut user_ids: Vec<i64> = orders.iter().map(|o| o.user_id).collect();
    user_ids.dedup();
    let mut counselor_ids: Vec<i64> = orders.iter().map(|o| o.counselor_id).collect();
    counselor_ids.dedup();
    let users: HashMap<i64, UserBrief> = users::service::find_many(db, &user_ids)
        .await?
        .values()
        .map(|u| (u.id, UserBrief::from(u)))
        .collect();
    let counselors: HashMap<i64, CounselorBrief> =
        counselors::service::find_many(db, &counselor_ids)
            .await?
            .iter()
            .map(|c| (c.id, CounselorBrief::from(c)))
            .collect();
    let reviewed = counselors::service::reviewed_order_ids(db, &ids).await?;
    Ok(orders
        .iter()
        .map(|o| {
            OrderView::new(
                o,
                users.get(&o.user_id).cloned().unwrap_or_default(),
                counselors.get(&o.counselor_id).cloned().unwrap_or_default(),
                reviewed.contains(&o.id),
            )
        })
        .collect())
}

pub async fn view<C: ConnectionTrait>(db: &C, order: &Order) -> AppResult<OrderView> {
    views(db, std::slice::from_ref(order))
        .await?
        .pop()
        .ok_or_else(|| AppError::not_found(MSG_ORDER_NOT_FOUND))
}

/// Filters of the order lists.
#[derive(Default)]
pub struct OrderFilter {
    pub user_id: Option<i64>,
    pub counselor_id: Option<i64>,
    pub status: Option<i32>,
    pub keyword: Option<String>,
}

/// A status filter from the query; anything but 0–4 is ignored, as "all".
pub fn parse_status_filter(raw: Option<&str>) -> Option<i32> {
    raw.and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|s| OrderStatus::try_from(*s).is_ok())
}

pub async fn list_orders(
    db: &DatabaseConnection,
    filter: &OrderFilter,
    page: &Pagination,
) -> AppResult<OrderList> {
    let mut query = order::Entity::find();
    if let Some(uid) = filter.user_id {
        query = query.filter(order::Column::UserId.eq(uid));
    }
    if let Some(cid) = filter.counselor_id {
        query = query.filter(order::Column::CounselorId.eq(cid));
    }
    if let Some(status) = filter.status {
        query = query.filter(order::Column::Status.eq(status));
    }
    if let Some(keyword) = filter.keyword.as_deref().filter(|k| !k.trim().is_empty()) {
        let pattern = format!("%{}%", escape_like(keyword.trim()));
        query = query.filter(
            Condition::any()
                .add(Expr::col(order::Column::OrderNo).like(LikeExpr::new(&pattern).escape('\\')))
                .add(Expr::col(order::Column::Notes).like(LikeExpr::new(&pattern).escape('\\'))),
        );
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(order::Column::CreatedAt)
        .order_by_desc(order::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(db)
        .await?;
    let orders = views(db, &rows).await?;
    let list = views(db, &rows).await?;
    Ok(OrderList {
        orders,
        list,
        total,
        page: page.page,
        page_size: page.page_size,
    })
}

/// `%`, `_` and `\` match themselves.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Answers `GET /api/order/:id/validate` from the transition table.
pub async fn validate_action(
    db: &DatabaseConnection,
    order: &Order,
    actor: Actor,
    action_raw: &str,
) -> AppResult<ValidateResult> {
    let action: OrderAction = action_raw
        .parse()
        .map_err(|_| AppError::bad_request("不支持的操作类型"))?;
    let status = status_of(order)?;
    let mut errors = Vec::new();
    if !action_allowed(action, status, actor) {
        errors.push(
            match action {
                OrderAction::Pay => "订单状态不允许支付",
                OrderAction::Cancel => "订单状态不允许取消",
                OrderAction::Refund => "订单状态不允许退款",
                OrderAction::Review => "订单未完成，无法评价",
                OrderAction::Complete => "订单未支付，无法完成",
            }
            .to_owned(),
        );
    }
    if action == OrderAction::Pay && errors.is_empty() {
        let counselor = counselors::service::find_counselor(db, order.counselor_id).await?;
        if counselor.is_none_or(|c| c.status != 1) {
            errors.push("咨询师暂不可用".to_owned());
        }
    }
    if action == OrderAction::Review
        && errors.is_empty()
        && counselors::service::reviewed_order_ids(db, &[order.id])
            .await?
            .contains(&order.id)
    {
        errors.push("该订单已评价".to_owned());
    }
    Ok(ValidateResult {
        action: action_raw.to_owned(),
        valid: errors.is_empty(),
        allowed: errors.is_empty(),
        reason: errors.first().cloned().unwrap_or_default(),
        errors,
        status: order.status,
        status_text: status_text(order.status),
    })
}

pub async fn timeline(db: &DatabaseConnection, order_id: i64) -> AppResult<Vec<TimelineEntry>> {
    Ok(order_event::Entity::find()
        .filter(order_event::Column::OrderId.eq(order_id))
        .order_by_asc(order_event::Column::Id)
        .all(db)
        .await?
        .iter()
        .map(TimelineEntry::from)
        .collect())
}

/// Cancels unpaid orders older than the payment timeout (`0 → 3` by the system). Each cancel is its own
/// conditional transition, so two instances running this at once cancel each order once.
///
/// # Errors
/// Database failures while listing; a failure on one order is logged and skipped.
pub async fn cancel_expired_orders(state: &AppState) -> AppResult<u64> {
    let cutoff = Utc::now() - chrono::Duration::minutes(payment_timeout_minutes(state).await);
    let expired = order::Entity::find()
        .filter(order::Column::Status.eq(i32::from(OrderStatus::PendingPayment)))
        .filter(order::Column::CreatedAt.lt(cutoff))
        .order_by_asc(order::Column::Id)
        .limit(500)
        .all(&state.db)
        .await?;
    let mut cancelled = 0;
    for o in expired {
        let txn = state.db.begin().await?;
        match transition(
            &txn,
            &o,
            OrderStatus::Cancelled,
            Actor::System,
            None,
            "超时未支付，系统自动取消",
        )
        .await
        {
            Ok(_) => {
                txn.commit().await?;
                cancelled += 1;
            }
            Err(AppError::Conflict(_)) => {
                tracing::debug!(
                    order_id = o.id,
                    "order changed meanwhile; not auto-cancelled"
                );
            }
            Err(e) => tracing::warn!(order_id = o.id, error = %e, "auto-cancel failed"),
        }
    }
    if cancelled > 0 {
        state.bus.notify();
        tracing::info!(cancelled, "unpaid orders auto-cancelled");
    }
    Ok(cancelled)
}

/// Order counts and amounts for the admin console; "today" and "this month" in `stats.timezone`.
pub async fn statistics(state: &AppState) -> AppResult<OrderStatistics> {
    let db = &state.db;
    let tz: chrono_tz::Tz = state
        .settings
        .stats
        .timezone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let local_now = Utc::now().with_timezone(&tz);
    let day_start = local_now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(tz).earliest())
        .map(|t| t.with_timezone(&Utc));
    let month_start = local_now
        .date_naive()
        .with_day(1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_local_timezone(tz).earliest())
        .map(|t| t.with_timezone(&Utc));
    let day_start = day_start.unwrap_or_else(Utc::now);
    let month_start = month_start.unwrap_or_else(Utc::now);
    // One pass over the table: counts per status and the kept revenue (paid + completed − refunds) in
    // SQL, instead of loading every paid order three times.
    use crate::db::statement;
    use crate::modules::stats::service::{REVENUE_STATUSES, col, count_if, one_row, sum};
    let b = db.get_database_backend();
    let kept = |since: &str| {
        sum(
            b,
            &format!(
                "CASE WHEN status IN {REVENUE_STATUSES}{since} THEN amount - refunded_amount ELSE 0 END"
            ),
        )
    };
    let sql = format!(
        "SELECT COUNT(*) AS total, {s0} AS s0, {s1} AS s1, {s2} AS s2, {s3} AS s3, {s4} AS s4, \
         {all} AS kept_all, {today} AS kept_today, {month} AS kept_month FROM orders",
        s0 = count_if(
            b,
            &format!("status = {}", i32::from(OrderStatus::PendingPayment))
        ),
        s1 = count_if(b, &format!("status = {}", i32::from(OrderStatus::Paid))),
        s2 = count_if(
            b,
            &format!("status = {}", i32::from(OrderStatus::Completed))
        ),
        s3 = count_if(
            b,
            &format!("status = {}", i32::from(OrderStatus::Cancelled))
        ),
        s4 = count_if(b, &format!("status = {}", i32::from(OrderStatus::Refunded))),
        all = kept(""),
        today = kept(" AND created_at >= ?"),
        month = kept(" AND created_at >= ?"),
    );
    let row = one_row(
        db,
        statement(b, &sql, vec![day_start.into(), month_start.into()]),
    )
    .await?;
    let count = |name: &str| col(&row, name).map(|n| u64::try_from(n).unwrap_or_default());
    Ok(OrderStatistics {
        total_orders: count("total")?,
        pending_orders: count("s0")?,
        paid_orders: count("s1")?,
        completed_orders: count("s2")?,
        cancelled_orders: count("s3")?,
        refunded_orders: count("s4")?,
        total_amount: money::to_yuan(col(&row, "kept_all")?),
        today_amount: money::to_yuan(col(&row, "kept_today")?),
        this_month_amount: money::to_yuan(col(&row, "kept_month")?),
    })
}

/// Moves an order as `actor` asked, checked against the lifecycle table under the order's lock with its
/// session's phase read under that lock. A move to refunded is a refund: it goes through the one refund
/// path (`payments::refunds`), which returns the money and moves the order in one transaction; `amount`
/// (fen) is how much an administrator gives back, all that is refundable by default.
///
/// # Errors
/// 400 when the table refuses the move, 409 `会话进行中，请先结束咨询` while the chat is open, 409 when
/// the order changed meanwhile; refunds' own 4xx.
pub async fn change_status(
    state: &AppState,
    order_id: i64,
    to: OrderStatus,
    actor: Actor,
    actor_id: Option<i64>,
    note: &str,
    amount: Option<i64>,
) -> AppResult<Order> {
    use crate::modules::payments::refunds;
    if to == OrderStatus::Refunded {
        let ask = refunds::Ask {
            amount,
            cause: if actor == Actor::Admin {
                refunds::Cause::Admin
            } else {
                refunds::Cause::Party
            },
            actor,
            actor_id,
            reason: note,
        };
        return Ok(refunds::refund_order(state, order_id, &ask).await?.0);
    }
    if amount.is_some() {
        return Err(AppError::invalid_input(
            "参数错误: amount: 仅退款时可指定金额",
        ));
    }
    let txn = state.db.begin().await?;
    let order = get_order_for_update(&txn, order_id).await?;
    let phase = crate::modules::chat::service::phase_of_order(&txn, order.id).await?;
    check(status_of(&order)?, to, actor, phase).map_err(refunds::refusal_error)?;
    let updated = transition(&txn, &order, to, actor, actor_id, note).await?;
    txn.commit().await?;
    state.bus.notify();
    Ok(updated)
}

/// Every order of buyer `user_id`, and every order of counselor `counselor_id` (if any), oldest first,
/// as views: for the user's export.
pub async fn orders_of_party(
    db: &DatabaseConnection,
    user_id: i64,
    counselor_id: Option<i64>,
) -> AppResult<Vec<OrderView>> {
    let mut party = Condition::any().add(order::Column::UserId.eq(user_id));
    if let Some(c) = counselor_id {
        party = party.add(order::Column::CounselorId.eq(c));
    }
    let rows = order::Entity::find()
        .filter(party)
        .order_by_asc(order::Column::Id)
        .all(db)
        .await?;
    views(db, &rows).await
}

/// Whether buyer `user_id` (or counselor `counselor_id`) has a paid order not yet completed, refunded or
/// cancelled: money is in flight, and its session, billing or refund still needs the account.
pub async fn has_open_paid_order(
    db: &DatabaseConnection,
    user_id: i64,
    counselor_id: Option<i64>,
) -> AppResult<bool> {
    let mut party = Condition::any().add(order::Column::UserId.eq(user_id));
    if let Some(c) = counselor_id {
        party = party.add(order::Column::CounselorId.eq(c));
    }
    Ok(order::Entity::find()
        .filter(party)
        .filter(order::Column::Status.eq(OrderStatus::Paid as i32))
        .count(db)
        .await?
        > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_time_formats_parse_to_utc() {
        let utc = |s: &str| parse_schedule_time(s).map(|t| t.to_rfc3339());
        assert_eq!(
            utc("2026-02-05T14:30:00+08:00").as_deref(),
            Some("2026-02-05T06:30:00+00:00")
        );
        assert_eq!(
            utc("2026-02-05T14:30:00").as_deref(),
            Some("2026-02-05T14:30:00+00:00")
        );
        assert_eq!(
            utc("2026-02-05 14:30:00").as_deref(),
            Some("2026-02-05T14:30:00+00:00")
        );
        assert_eq!(
            utc("2026-02-05").as_deref(),
            Some("2026-02-05T00:00:00+00:00")
        );
        assert!(parse_schedule_time("\"2026-02-05\"").is_none());
        assert!(parse_schedule_time("2026-02-30").is_none());
    }

    #[test]
    fn order_numbers_fit_the_column_and_differ_within_a_second() {
        let a = new_order_no();
        let b = new_order_no();
        assert!(a.starts_with("ORD") && a.len() == 25 && a.len() <= 32);
        assert_ne!(a, b);
    }

    #[test]
    fn like_terms_are_escaped() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
