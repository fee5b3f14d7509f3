//! The user wallet: an append-only ledger (`user_transactions`) whose rows sum to `users.balance`.
//! The balance moves only through here, with conditional SQL updates, and every row carries a unique
//! `dedupe_key` so a retried credit or debit applies once.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;

use super::entity::user_transaction;
use crate::bus::{DomainEvent, EventBus};
use crate::error::{AppError, AppResult};
use crate::http::Pagination;
use crate::modules::users;
use crate::money;

pub const KIND_RECHARGE: &str = "recharge";
pub const KIND_CONSUME: &str = "consume";
pub const KIND_REFUND: &str = "refund";

pub const MSG_INSUFFICIENT: &str = "余额不足";

/// One ledger movement.
pub struct Movement<'a> {
    pub user_id: i64,
    pub kind: &'a str,
    /// Positive fen; the direction comes from `kind`.
    pub amount: i64,
    pub description: &'a str,
    pub order_id: Option<i64>,
    pub payment_id: Option<i64>,
    pub dedupe_key: &'a str,
}

async fn existing<C: ConnectionTrait>(txn: &C, dedupe_key: &str) -> AppResult<bool> {
    Ok(user_transaction::Entity::find()
        .filter(user_transaction::Column::DedupeKey.eq(dedupe_key))
        .one(txn)
        .await?
        .is_some())
}

/// Applies `m` on `txn`: the conditional balance update, the ledger row and `WalletChanged`. Returns the
/// balance after. A `dedupe_key` seen before changes nothing and returns the current balance.
///
/// # Errors
/// 400 `余额不足` when a debit is not covered; 400 for a non-positive amount.
pub async fn apply<C: ConnectionTrait>(txn: &C, m: Movement<'_>) -> AppResult<i64> {
    if m.amount <= 0 {
        return Err(AppError::bad_request("金额必须大于0"));
    }
    if existing(txn, m.dedupe_key).await? {
        return users::service::balance_of(txn, m.user_id).await;
    }
    let (delta, balance) = if m.kind == KIND_CONSUME {
        let balance = users::service::debit_balance(txn, m.user_id, m.amount)
            .await?
            .ok_or_else(|| AppError::bad_request(MSG_INSUFFICIENT))?;
        (-m.amount, balance)
    } else {
        (
            m.amount,
            users::service::credit_balance(txn, m.user_id, m.amount).await?,
        )
    };
    user_transaction::ActiveModel {
        user_id: Set(m.user_id),
        kind: Set(m.kind.to_owned()),
        amount: Set(delta),
        description: Set(m.description.chars().take(255).collect()),
        order_id: Set(m.order_id),
        payment_id: Set(m.payment_id),
        balance: Set(balance),
        dedupe_key: Set(Some(m.dedupe_key.to_owned())),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    EventBus::record(
        txn,
        &DomainEvent::WalletChanged {
            user_id: m.user_id,
            delta,
            balance,
            kind: m.kind.to_owned(),
        },
    )
    .await?;
    Ok(balance)
}

/// Returns `amount` fen to the user's wallet (e.g. unused prepaid chat minutes), on the caller's
/// transaction. A repeated `dedupe_key` is a no-op that returns the current balance.
pub async fn credit_refund<C: ConnectionTrait>(
    txn: &C,
    user_id: i64,
    amount: i64,
    order_id: Option<i64>,
    description: &str,
    dedupe_key: &str,
) -> AppResult<i64> {
    apply(
        txn,
        Movement {
            user_id,
            kind: KIND_REFUND,
            amount,
            description,
            order_id,
            payment_id: None,
            dedupe_key,
        },
    )
    .await
}

/// A ledger row as the client reads it: `amount` is positive, `type` says the direction.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TransactionView {
    pub id: i64,
    pub user_id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub amount: f64,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<i64>,
    pub balance: f64,
    pub created_at: chrono::DateTime<Utc>,
}

impl From<&user_transaction::Model> for TransactionView {
    fn from(t: &user_transaction::Model) -> Self {
        Self {
            id: t.id,
            user_id: t.user_id,
            kind: t.kind.clone(),
            amount: money::to_yuan(t.amount.abs()),
            description: t.description.clone(),
            order_id: t.order_id,
            payment_id: t.payment_id,
            balance: money::to_yuan(t.balance),
            created_at: t.created_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TransactionList {
    pub transactions: Vec<TransactionView>,
    pub total: u64,
}

/// The caller's ledger, newest first; `kind` filters on `recharge`/`consume`/`refund`.
pub async fn list_transactions(
    db: &DatabaseConnection,
    user_id: i64,
    kind: Option<&str>,
    page: &Pagination,
) -> AppResult<TransactionList> {
    let mut query =
        user_transaction::Entity::find().filter(user_transaction::Column::UserId.eq(user_id));
    if let Some(kind) = kind.map(str::trim).filter(|k| !k.is_empty()) {
        query = query.filter(user_transaction::Column::Kind.eq(kind));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(user_transaction::Column::CreatedAt)
        .order_by_desc(user_transaction::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(db)
        .await?;
    Ok(TransactionList {
        transactions: rows.iter().map(TransactionView::from).collect(),
        total,
    })
}
