//! Counselor accounts: a balance row plus an append-only ledger (`account_transactions`), and withdrawals.
//! balance = Σ ledger.balance_delta and frozen_amount = Σ ledger.frozen_delta at all times.

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
            "counselor_accounts",
            vec![
                id("id"),
                int64("counselor_id"),
                int64_default("total_income", 0),
                int64_default("withdrawn", 0),
                int64_default("balance", 0),
                int64_default("frozen_amount", 0),
                created,
                updated,
            ],
            vec![index("counselor_accounts", &["counselor_id"], true)],
        )
        .await?;

        create_table(
            manager,
            "account_transactions",
            vec![
                id("id"),
                int64("counselor_id"),
                varchar("type", 30),
                int64_default("balance_delta", 0),
                int64_default("frozen_delta", 0),
                int64_default("balance_after", 0),
                int64_default("frozen_after", 0),
                varchar("reference_type", 30),
                int64_null("reference_id"),
                varchar("description", 255),
                varchar_null("dedupe_key", 100),
                utc_time_required(b, "created_at"),
            ],
            vec![
                index(
                    "account_transactions",
                    &["counselor_id", "created_at"],
                    false,
                ),
                index("account_transactions", &["dedupe_key"], true),
            ],
        )
        .await?;

        let [created, updated] = timestamps(b);
        create_table(
            manager,
            "withdraw_records",
            vec![
                id("id"),
                int64("counselor_id"),
                int64_default("amount", 0),
                int32_default("status", 0),
                varchar("bank_name", 50),
                varchar("bank_account", 50),
                varchar("account_name", 50),
                varchar("rejected_reason", 255),
                int64_null("audited_by"),
                utc_time_null(b, "audited_at"),
                utc_time_null(b, "transferred_at"),
                created,
                updated,
            ],
            vec![
                index("withdraw_records", &["counselor_id", "status"], false),
                index("withdraw_records", &["status", "created_at"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "withdraw_records",
                "account_transactions",
                "counselor_accounts",
            ],
        )
        .await
    }
}
