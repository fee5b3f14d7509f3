//! Tables of the counselors module. Money is fen; `rating` is hundredths (500 = 5.00).

pub mod counselor {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "counselors")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The user account of this counselor (`users.id`); `None` for counselors created by an admin
        /// without an account.
        pub user_id: Option<i64>,
        pub name: String,
        pub title: String,
        pub avatar: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub bio: Option<String>,
        pub specialty: String,
        /// Price per minute in fen.
        pub price: i64,
        pub years_exp: i32,
        /// Hundredths: 485 = 4.85.
        pub rating: i32,
        /// 1 enabled, 0 disabled.
        pub status: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod statistics {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "counselor_statistics")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub counselor_id: i64,
        pub total_orders: i64,
        pub completed_orders: i64,
        pub cancelled_orders: i64,
        /// Minutes.
        pub total_duration: i64,
        /// Fen.
        pub total_amount: i64,
        pub review_count: i64,
        pub sum_rating: i64,
        pub last_order_time: Option<DateTimeUtc>,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod application {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "counselor_applications")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub user_id: i64,
        pub name: String,
        pub gender: String,
        pub phone: String,
        pub email: String,
        pub title: String,
        pub specialty: String,
        pub years_exp: i32,
        #[sea_orm(column_type = "Text", nullable)]
        pub bio: Option<String>,
        pub certificate_img1: String,
        pub certificate_img2: String,
        pub certificate_img3: String,
        /// 0 pending, 1 approved, 2 rejected.
        pub status: i32,
        #[sea_orm(column_type = "Text", nullable)]
        pub reject_reason: Option<String>,
        /// The administrator who reviewed it.
        pub reviewer_id: Option<i64>,
        pub reviewed_at: Option<DateTimeUtc>,
        /// The counselor created on approval.
        pub counselor_id: Option<i64>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod review {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "counselor_reviews")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub order_id: i64,
        pub user_id: i64,
        pub counselor_id: i64,
        /// 1–5.
        pub rating: i32,
        #[sea_orm(column_type = "Text", nullable)]
        pub comment: Option<String>,
        pub is_anonymous: bool,
        pub is_visible: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
