//! Tables of the chat module. Money is fen; durations are seconds unless named minutes.

pub mod session {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chat_sessions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub order_id: i64,
        /// The buyer (`users.id`).
        pub user_id: i64,
        /// `counselors.id`.
        pub counselor_id: i64,
        /// The counselor's own user account (`counselors.user_id`), who may join and end.
        pub counselor_user_id: i64,
        /// 0 waiting, 1 active, 2 ended, 3 timed out.
        pub status: i32,
        pub start_time: Option<DateTimeUtc>,
        pub end_time: Option<DateTimeUtc>,
        /// Seconds actually chatted, set at the end.
        pub duration: i64,
        /// Fen per minute, copied from the order.
        pub price: i64,
        /// Minutes booked by the order: the session ends when they are used up.
        pub booked_minutes: i32,
        /// Fen billed, set at the end.
        pub total_amount: i64,
        /// The `seq` of the newest message.
        pub last_seq: i64,
        pub user_read_seq: i64,
        pub counselor_read_seq: i64,
        /// Which path ended it: rest, ws, idle, duration, admin.
        pub ended_by: String,
        /// Whether the five-minute warning was sent.
        pub warned: bool,
        /// When the buyer first joined (WebSocket join or REST start); billing needs both parties.
        pub user_joined_at: Option<DateTimeUtc>,
        /// When the counselor first joined.
        pub counselor_joined_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod message {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chat_messages")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub session_id: i64,
        /// Position in the session, from 1, without gaps.
        pub seq: i64,
        pub sender_id: i64,
        /// `user`, `counselor` or `system`.
        pub sender_type: String,
        pub content_type: String,
        /// Sealed at rest (see `chat::crypto`): base64 of nonce, ciphertext and tag under key `key_id`.
        /// Read it through `service::open_message`, never directly.
        #[sea_orm(column_type = "Text", nullable)]
        pub content: Option<String>,
        pub file_url: String,
        /// The sender's id for this message: a resend with the same id returns the stored message.
        pub client_msg_id: Option<String>,
        pub is_read: bool,
        pub read_time: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        /// The key that sealed `content`; NULL: plaintext from before encryption at rest.
        pub key_id: Option<i32>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod billing {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chat_billings")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub session_id: i64,
        pub order_id: i64,
        pub user_id: i64,
        pub counselor_id: i64,
        /// Seconds chatted.
        pub duration: i64,
        pub billed_minutes: i64,
        pub price_per_minute: i64,
        pub total_amount: i64,
        pub platform_fee: i64,
        pub counselor_fee: i64,
        /// Unused prepaid fen returned to the buyer's wallet.
        pub refund_amount: i64,
        /// 1 settled (always, since billing and settlement are one transaction).
        pub status: i32,
        pub settled_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
