//! Tables of the finance module. Money is fen.

pub mod account {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "counselor_accounts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub counselor_id: i64,
        pub total_income: i64,
        pub withdrawn: i64,
        /// Available to withdraw.
        pub balance: i64,
        /// Held by pending or approved withdrawals.
        pub frozen_amount: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod ledger {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "account_transactions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub counselor_id: i64,
        /// income, withdraw_freeze, withdraw_unfreeze, withdraw_paid.
        #[sea_orm(column_name = "type")]
        pub kind: String,
        pub balance_delta: i64,
        pub frozen_delta: i64,
        pub balance_after: i64,
        pub frozen_after: i64,
        pub reference_type: String,
        pub reference_id: Option<i64>,
        pub description: String,
        pub dedupe_key: Option<String>,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod withdrawal {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "withdraw_records")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub counselor_id: i64,
        pub amount: i64,
        /// 0 pending review, 1 approved, 2 rejected, 3 transferred.
        pub status: i32,
        pub bank_name: String,
        pub bank_account: String,
        pub account_name: String,
        pub rejected_reason: String,
        pub audited_by: Option<i64>,
        pub audited_at: Option<DateTimeUtc>,
        pub transferred_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
