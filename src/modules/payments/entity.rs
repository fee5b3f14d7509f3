//! Tables of the payments module. Money is fen.

pub mod payment {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "payments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub payment_no: String,
        /// `order` or `recharge`.
        pub purpose: String,
        pub order_id: Option<i64>,
        pub order_no: String,
        pub user_id: i64,
        /// `wechat`, `alipay`, `balance` or `sandbox`.
        pub payment_method: String,
        pub trade_type: String,
        /// The provider's trade number; NULL until paid, unique.
        pub transaction_id: Option<String>,
        pub amount: i64,
        pub refunded_amount: i64,
        /// See `PaymentStatus`.
        pub status: i32,
        pub pay_time: Option<DateTimeUtc>,
        pub notify_time: Option<DateTimeUtc>,
        #[sea_orm(column_type = "Text", nullable)]
        pub notify_data: Option<String>,
        pub failure_reason: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod refund {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "payment_refunds")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub refund_no: String,
        pub payment_id: i64,
        pub order_id: Option<i64>,
        pub user_id: i64,
        pub amount: i64,
        pub reason: String,
        /// 0 processing, 1 succeeded, 2 failed.
        pub status: i32,
        pub channel_refund_id: Option<String>,
        /// How often the query job asked the channel about this processing refund.
        pub query_attempts: i32,
        /// When the query job asks next (backoff); `None` until a reply left it processing.
        pub next_query_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user_transaction {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_transactions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub user_id: i64,
        /// `recharge`, `consume` or `refund`.
        #[sea_orm(column_name = "type")]
        pub kind: String,
        /// Signed fen: credits positive, debits negative. The balance is the sum of these.
        pub amount: i64,
        pub description: String,
        pub order_id: Option<i64>,
        pub payment_id: Option<i64>,
        /// Balance after this row.
        pub balance: i64,
        pub dedupe_key: Option<String>,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub const STATUS_PENDING: i32 = 0;
pub const STATUS_PAID: i32 = 1;
pub const STATUS_FAILED: i32 = 2;
pub const STATUS_REFUNDED: i32 = 3;
pub const STATUS_CANCELLED: i32 = 4;

pub const REFUND_PROCESSING: i32 = 0;
pub const REFUND_SUCCEEDED: i32 = 1;
pub const REFUND_FAILED: i32 = 2;

pub fn status_text(status: i32) -> &'static str {
    match status {
        STATUS_PENDING => "待支付",
        STATUS_PAID => "已支付",
        STATUS_FAILED => "支付失败",
        STATUS_REFUNDED => "已退款",
        STATUS_CANCELLED => "已取消",
        _ => "未知状态",
    }
}
