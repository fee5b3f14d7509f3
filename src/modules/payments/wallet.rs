//! The user wallet: an append-only ledger (`user_transactions`) whose sum is always the balance.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::bus::{DomainEvent, EventBus};
use crate::error::AppResult;
use crate::modules::users::service as users;

pub mod transaction {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_transactions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub user_id: i64,
        /// recharge, consume, refund.
        #[sea_orm(column_name = "type")]
        pub kind: String,
        /// Signed fen: credits positive, debits negative.
        pub amount: i64,
        pub description: String,
        pub order_id: Option<i64>,
        pub payment_id: Option<i64>,
        /// Balance after this entry.
        pub balance: i64,
        pub dedupe_key: Option<String>,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Returns unused prepaid money to a user's wallet on `txn` (once per `dedupe_key`) and returns the
/// balance after it.
pub async fn credit_refund<C: ConnectionTrait>(
    txn: &C,
    user_id: i64,
    amount: i64,
    order_id: Option<i64>,
    description: &str,
    dedupe_key: &str,
) -> AppResult<i64> {
    let seen = transaction::Entity::find()
        .filter(transaction::Column::DedupeKey.eq(dedupe_key))
        .one(txn)
        .await?;
    if seen.is_some() || amount <= 0 {
        return Ok(users::get_active(txn, user_id).await?.balance);
    }
    let balance = users::adjust_balance(txn, user_id, amount).await?;
    transaction::ActiveModel {
        user_id: Set(user_id),
        kind: Set("refund".into()),
        amount: Set(amount),
        description: Set(description.chars().take(255).collect()),
        order_id: Set(order_id),
        payment_id: Set(None),
        balance: Set(balance),
        dedupe_key: Set(Some(dedupe_key.to_owned())),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    EventBus::record(
        txn,
        &DomainEvent::WalletChanged {
            user_id,
            delta: amount,
            balance,
            kind: "refund".into(),
        },
    )
    .await?;
    Ok(balance)
}
