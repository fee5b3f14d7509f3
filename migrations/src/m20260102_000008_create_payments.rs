//! Payments (for orders and wallet recharges), their refunds, and the users' wallet ledger.
//! `transaction_id` is NULL until paid and unique. Ledger rows carry a unique `dedupe_key`, so a
//! retried credit or debit can never apply twice.

use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        let [created, updated] = timestamps(b);
        create_table(
            manager,
            "payments",
            vec![
                id("id"),
                varchar("payment_no", 32),
                varchar("purpose", 20),
                int64_null("order_id"),
                varchar("order_no", 32),
                int64("user_id"),
                varchar("payment_method", 20),
                varchar("trade_type", 20),
                varchar_null("transaction_id", 64),
                int64_default("amount", 0),
                int64_default("refunded_amount", 0),
                int32_default("status", 0),
                utc_time_null(b, "pay_time"),
                utc_time_null(b, "notify_time"),
                long_text_null("notify_data"),
                varchar("failure_reason", 255),
                created,
                updated,
            ],
            vec![
                index("payments", &["payment_no"], true),
                index("payments", &["transaction_id"], true),
                index("payments", &["order_id"], false),
                index("payments", &["user_id", "created_at"], false),
                index("payments", &["status", "created_at"], false),
            ],
        )
        .await?;

        let [created, updated] = timestamps(b);
        create_table(
            manager,
            "payment_refunds",
            vec![
                id("id"),
                varchar("refund_no", 32),
                int64("payment_id"),
                int64_null("order_id"),
                int64("user_id"),
                int64_default("amount", 0),
                varchar("reason", 255),
                int32_default("status", 0),
                varchar_null("channel_refund_id", 64),
                created,
                updated,
            ],
            vec![
                index("payment_refunds", &["refund_no"], true),
                index("payment_refunds", &["payment_id"], false),
            ],
        )
        .await?;

        create_table(
            manager,
            "user_transactions",
            vec![
                id("id"),
                int64("user_id"),
                varchar("type", 20),
                int64_default("amount", 0),
                varchar("description", 255),
                int64_null("order_id"),
                int64_null("payment_id"),
                int64_default("balance", 0),
                varchar_null("dedupe_key", 100),
                utc_time_required(b, "created_at"),
            ],
            vec![
                index("user_transactions", &["user_id", "created_at"], false),
                index("user_transactions", &["dedupe_key"], true),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &["user_transactions", "payment_refunds", "payments"],
        )
        .await
    }
}
