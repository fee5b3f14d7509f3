//! Counselor money: every movement is one conditional update of the account row plus one ledger row, on
//! the caller's transaction, so balance = Σ balance_delta and frozen_amount = Σ frozen_delta always hold
//! and no request can overdraw.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, TransactionTrait,
};

use super::entity::{account, ledger, withdrawal};
use crate::bus::{DomainEvent, EventBus};
use crate::error::{AppError, AppResult};
use crate::modules::counselors::service as counselors;

pub type Account = account::Model;
pub type Withdrawal = withdrawal::Model;

pub const MSG_NOT_COUNSELOR: &str = "不是咨询师";
pub const MSG_INSUFFICIENT: &str = "余额不足";
pub const MSG_WITHDRAW_NOT_FOUND: &str = "提现记录不存在";
pub const MSG_WITHDRAW_STATE: &str = "提现状态不允许此操作";

/// Withdrawal states.
pub mod withdraw_status {
    pub const PENDING: i32 = 0;
    pub const APPROVED: i32 = 1;
    pub const REJECTED: i32 = 2;
    pub const TRANSFERRED: i32 = 3;
}

/// One movement of a counselor's money.
pub struct Movement<'a> {
    pub counselor_id: i64,
    pub kind: &'a str,
    pub balance_delta: i64,
    pub frozen_delta: i64,
    pub income_delta: i64,
    pub withdrawn_delta: i64,
    pub reference_type: &'a str,
    pub reference_id: Option<i64>,
    pub description: &'a str,
    /// A movement with a key is applied at most once.
    pub dedupe_key: Option<String>,
}

/// Creates the counselor's account row if it does not exist yet.
pub async fn ensure_account<C: ConnectionTrait>(db: &C, counselor_id: i64) -> AppResult<()> {
    let now = Utc::now();
    account::Entity::insert(account::ActiveModel {
        counselor_id: Set(counselor_id),
        total_income: Set(0),
        withdrawn: Set(0),
        balance: Set(0),
        frozen_amount: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([account::Column::CounselorId])
    .exec(db)
    .await?;
    Ok(())
}

pub async fn get_account<C: ConnectionTrait>(db: &C, counselor_id: i64) -> AppResult<Account> {
    ensure_account(db, counselor_id).await?;
    find_account(db, counselor_id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("account {counselor_id} vanished")))
}

async fn find_account<C: ConnectionTrait>(db: &C, counselor_id: i64) -> AppResult<Option<Account>> {
    Ok(account::Entity::find()
        .filter(account::Column::CounselorId.eq(counselor_id))
        .one(db)
        .await?)
}

/// Applies the deltas of `m` unless the balance or the frozen amount would go negative; the rows moved.
async fn move_account<C: ConnectionTrait>(txn: &C, m: &Movement<'_>) -> AppResult<u64> {
    let updated = account::Entity::update_many()
        .col_expr(
            account::Column::Balance,
            Expr::col(account::Column::Balance).add(m.balance_delta),
        )
        .col_expr(
            account::Column::FrozenAmount,
            Expr::col(account::Column::FrozenAmount).add(m.frozen_delta),
        )
        .col_expr(
            account::Column::TotalIncome,
            Expr::col(account::Column::TotalIncome).add(m.income_delta),
        )
        .col_expr(
            account::Column::Withdrawn,
            Expr::col(account::Column::Withdrawn).add(m.withdrawn_delta),
        )
        .col_expr(account::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(account::Column::CounselorId.eq(m.counselor_id))
        .filter(
            Expr::col(account::Column::Balance)
                .add(m.balance_delta)
                .gte(0),
        )
        .filter(
            Expr::col(account::Column::FrozenAmount)
                .add(m.frozen_delta)
                .gte(0),
        )
        .exec(txn)
        .await?;
    Ok(updated.rows_affected)
}

/// Applies `m` on `txn`. Returns `None` when its dedupe key was already applied.
///
/// # Errors
/// 400 `余额不足` when the balance or the frozen amount would go negative.
pub async fn apply<C: ConnectionTrait>(txn: &C, m: Movement<'_>) -> AppResult<Option<Account>> {
    if let Some(key) = &m.dedupe_key {
        let seen = ledger::Entity::find()
            .filter(ledger::Column::DedupeKey.eq(key.as_str()))
            .one(txn)
            .await?;
        if seen.is_some() {
            return Ok(None);
        }
    }
    // The update comes first, and the account is created only when it is missing: creating it first
    // every time takes a shared lock on the existing row, which two concurrent movements then both want
    // to upgrade, and InnoDB aborts one of them as a deadlock.
    let mut moved = move_account(txn, &m).await?;
    if moved == 0 && find_account(txn, m.counselor_id).await?.is_none() {
        ensure_account(txn, m.counselor_id).await?;
        moved = move_account(txn, &m).await?;
    }
    if moved != 1 {
        return Err(AppError::bad_request(MSG_INSUFFICIENT));
    }
    let after = find_account(txn, m.counselor_id).await?.ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("account {} vanished", m.counselor_id))
    })?;
    ledger::ActiveModel {
        counselor_id: Set(m.counselor_id),
        kind: Set(m.kind.to_owned()),
        balance_delta: Set(m.balance_delta),
        frozen_delta: Set(m.frozen_delta),
        balance_after: Set(after.balance),
        frozen_after: Set(after.frozen_amount),
        reference_type: Set(m.reference_type.to_owned()),
        reference_id: Set(m.reference_id),
        description: Set(m.description.chars().take(255).collect()),
        dedupe_key: Set(m.dedupe_key),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(Some(after))
}

/// Credits a counselor's share of a billed session (once per session).
pub async fn credit_session_income<C: ConnectionTrait>(
    txn: &C,
    counselor_id: i64,
    session_id: i64,
    amount: i64,
) -> AppResult<()> {
    apply(
        txn,
        Movement {
            counselor_id,
            kind: "income",
            balance_delta: amount,
            frozen_delta: 0,
            income_delta: amount,
            withdrawn_delta: 0,
            reference_type: "chat_session",
            reference_id: Some(session_id),
            description: "咨询收入",
            dedupe_key: Some(format!("income:session:{session_id}")),
        },
    )
    .await?;
    Ok(())
}

/// The counselor the user `user_id` is, or 403 `不是咨询师`.
pub async fn counselor_id_of_user(db: &DatabaseConnection, user_id: i64) -> AppResult<i64> {
    counselors::counselor_of_user(db, user_id)
        .await?
        .map(|c| c.id)
        .ok_or_else(|| AppError::forbidden(MSG_NOT_COUNSELOR))
}

pub struct WithdrawRequest {
    pub amount: i64,
    pub bank_name: String,
    pub bank_account: String,
    pub account_name: String,
}

/// Moves `amount` from available to frozen and records a pending withdrawal, in one transaction.
pub async fn request_withdrawal(
    db: &DatabaseConnection,
    bus: &EventBus,
    counselor_id: i64,
    req: WithdrawRequest,
) -> AppResult<Withdrawal> {
    if req.amount <= 0 {
        return Err(AppError::invalid_input(
            "参数错误: amount: 提现金额必须大于0",
        ));
    }
    let now = Utc::now();
    let txn = db.begin().await?;
    let record = withdrawal::ActiveModel {
        counselor_id: Set(counselor_id),
        amount: Set(req.amount),
        status: Set(withdraw_status::PENDING),
        bank_name: Set(req.bank_name),
        bank_account: Set(req.bank_account),
        account_name: Set(req.account_name),
        rejected_reason: Set(String::new()),
        audited_by: Set(None),
        audited_at: Set(None),
        transferred_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    apply(
        &txn,
        Movement {
            counselor_id,
            kind: "withdraw_freeze",
            balance_delta: -req.amount,
            frozen_delta: req.amount,
            income_delta: 0,
            withdrawn_delta: 0,
            reference_type: "withdrawal",
            reference_id: Some(record.id),
            description: "提现申请冻结",
            dedupe_key: None,
        },
    )
    .await?;
    EventBus::record(
        &txn,
        &DomainEvent::WithdrawalRequested {
            withdraw_id: record.id,
            counselor_id,
            amount: record.amount,
        },
    )
    .await?;
    txn.commit().await?;
    bus.notify();
    Ok(record)
}

pub async fn get_withdrawal<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Withdrawal> {
    withdrawal::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_WITHDRAW_NOT_FOUND))
}

/// Moves a withdrawal from `from` to `to` if it is still in `from`.
async fn move_withdrawal<C: ConnectionTrait>(
    txn: &C,
    id: i64,
    from: i32,
    to: i32,
    admin_id: i64,
    reason: &str,
) -> AppResult<Withdrawal> {
    let now = Utc::now();
    let mut update = withdrawal::Entity::update_many()
        .col_expr(withdrawal::Column::Status, Expr::value(to))
        .col_expr(withdrawal::Column::UpdatedAt, Expr::value(now))
        .filter(withdrawal::Column::Id.eq(id))
        .filter(withdrawal::Column::Status.eq(from));
    if to == withdraw_status::TRANSFERRED {
        update = update.col_expr(withdrawal::Column::TransferredAt, Expr::value(now));
    } else {
        update = update
            .col_expr(withdrawal::Column::AuditedAt, Expr::value(now))
            .col_expr(withdrawal::Column::AuditedBy, Expr::value(admin_id))
            .col_expr(
                withdrawal::Column::RejectedReason,
                Expr::value(reason.chars().take(255).collect::<String>()),
            );
    }
    if update.exec(txn).await?.rows_affected != 1 {
        get_withdrawal(txn, id).await?;
        return Err(AppError::bad_request(MSG_WITHDRAW_STATE));
    }
    get_withdrawal(txn, id).await
}

/// Approves (0 → 1) or rejects (0 → 2, frozen funds return to available) a pending withdrawal.
pub async fn review_withdrawal(
    db: &DatabaseConnection,
    bus: &EventBus,
    id: i64,
    admin_id: i64,
    approved: bool,
    reason: &str,
) -> AppResult<Withdrawal> {
    if !approved && reason.trim().is_empty() {
        return Err(AppError::invalid_input(
            "参数错误: rejected_reason: 拒绝时必须填写原因",
        ));
    }
    let txn = db.begin().await?;
    let to = if approved {
        withdraw_status::APPROVED
    } else {
        withdraw_status::REJECTED
    };
    let record = move_withdrawal(&txn, id, withdraw_status::PENDING, to, admin_id, reason).await?;
    if !approved {
        apply(
            &txn,
            Movement {
                counselor_id: record.counselor_id,
                kind: "withdraw_unfreeze",
                balance_delta: record.amount,
                frozen_delta: -record.amount,
                income_delta: 0,
                withdrawn_delta: 0,
                reference_type: "withdrawal",
                reference_id: Some(record.id),
                description: "提现被拒绝，解冻",
                dedupe_key: Some(format!("withdraw:{}:unfreeze", record.id)),
            },
        )
        .await?;
    }
    EventBus::record(
        &txn,
        &DomainEvent::WithdrawalReviewed {
            withdraw_id: record.id,
            counselor_id: record.counselor_id,
            amount: record.amount,
            approved,
        },
    )
    .await?;
    txn.commit().await?;
    bus.notify();
    Ok(record)
}

/// Marks an approved withdrawal as paid out (1 → 3): the frozen funds leave the account.
pub async fn transfer_withdrawal(
    db: &DatabaseConnection,
    bus: &EventBus,
    id: i64,
    admin_id: i64,
) -> AppResult<Withdrawal> {
    let txn = db.begin().await?;
    let record = move_withdrawal(
        &txn,
        id,
        withdraw_status::APPROVED,
        withdraw_status::TRANSFERRED,
        admin_id,
        "",
    )
    .await?;
    apply(
        &txn,
        Movement {
            counselor_id: record.counselor_id,
            kind: "withdraw_paid",
            balance_delta: 0,
            frozen_delta: -record.amount,
            income_delta: 0,
            withdrawn_delta: record.amount,
            reference_type: "withdrawal",
            reference_id: Some(record.id),
            description: "提现已打款",
            dedupe_key: Some(format!("withdraw:{}:paid", record.id)),
        },
    )
    .await?;
    EventBus::record(
        &txn,
        &DomainEvent::WithdrawalTransferred {
            withdraw_id: record.id,
            counselor_id: record.counselor_id,
            amount: record.amount,
        },
    )
    .await?;
    txn.commit().await?;
    bus.notify();
    Ok(record)
}

/// Σ of the ledger for a counselor: (balance, frozen). Equal to the account row at all times.
pub async fn ledger_sums<C: ConnectionTrait>(db: &C, counselor_id: i64) -> AppResult<(i64, i64)> {
    use sea_orm::QuerySelect;
    let backend = db.get_database_backend();
    let row: Option<(i64, i64)> = ledger::Entity::find()
        .select_only()
        .column_as(crate::db::sum_as_i64(backend, "balance_delta"), "b")
        .column_as(crate::db::sum_as_i64(backend, "frozen_delta"), "f")
        .filter(ledger::Column::CounselorId.eq(counselor_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.unwrap_or_default())
}

/// A counselor's money records for their own data export (`GET /api/user/export`): the account, every
/// ledger row and every withdrawal with the bank details they entered, oldest first; amounts in yuan like
/// the rest of the API. `account` is null before the first income.
pub async fn export_of_counselor(
    db: &DatabaseConnection,
    counselor_id: i64,
) -> AppResult<serde_json::Value> {
    use super::dto::{AccountView, WithdrawView};
    use crate::money::to_yuan;
    use sea_orm::QueryOrder;
    let account = account::Entity::find()
        .filter(account::Column::CounselorId.eq(counselor_id))
        .one(db)
        .await?;
    let ledger = ledger::Entity::find()
        .filter(ledger::Column::CounselorId.eq(counselor_id))
        .order_by_asc(ledger::Column::Id)
        .all(db)
        .await?;
    let withdrawals = withdrawal::Entity::find()
        .filter(withdrawal::Column::CounselorId.eq(counselor_id))
        .order_by_asc(withdrawal::Column::Id)
        .all(db)
        .await?;
    let transactions: Vec<serde_json::Value> = ledger
        .iter()
        .map(|t| {
            serde_json::json!({
                "id": t.id,
                "type": t.kind,
                "balance_delta": to_yuan(t.balance_delta),
                "frozen_delta": to_yuan(t.frozen_delta),
                "balance_after": to_yuan(t.balance_after),
                "frozen_after": to_yuan(t.frozen_after),
                "reference_type": t.reference_type,
                "reference_id": t.reference_id,
                "description": t.description,
                "created_at": t.created_at,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "account": account.map(|a| AccountView::new(&a, serde_json::Value::Null)),
        "transactions": transactions,
        "withdrawals": withdrawals
            .iter()
            .map(|w| WithdrawView::new(w, serde_json::Value::Null))
            .collect::<Vec<_>>(),
    }))
}
