//! Tables of the orders module. Money is fen.

pub mod order {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub order_no: String,
        /// The buyer (`users.id`).
        pub user_id: i64,
        /// `counselors.id`, never a user id.
        pub counselor_id: i64,
        /// Booked minutes.
        pub duration: i32,
        /// Price per minute (fen) the order was priced with.
        pub price_per_minute: i64,
        /// Prepaid amount in fen: duration × price_per_minute.
        pub amount: i64,
        /// Fen returned to the buyer so far (refunds, unused chat minutes).
        pub refunded_amount: i64,
        /// See `OrderStatus`.
        pub status: i32,
        pub schedule_time: DateTimeUtc,
        #[sea_orm(column_type = "Text", nullable)]
        pub notes: Option<String>,
        pub pay_time: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order_event {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub order_id: i64,
        /// -1 for the creation event.
        pub from_status: i32,
        pub to_status: i32,
        /// `user`, `counselor`, `system` or `admin`.
        pub actor: String,
        pub actor_id: Option<i64>,
        pub note: String,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
