use serde::{Deserialize, Serialize};
use validator::Validate;

/// `POST /api/user/delete`.
#[derive(Deserialize, Validate, utoipa::ToSchema)]
pub struct DeleteAccountRequest {
    /// The account's current password.
    #[validate(length(min = 1, max = 128, message = "请输入密码"))]
    pub password: String,
}

/// `GET /api/user/export`: one JSON document (documented by its keys; each list holds the objects the
/// user API shows elsewhere).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ExportDocument {
    pub exported_at: String,
    /// The account (`GET /api/user/info`'s object, with `updated_at`).
    pub account: serde_json::Value,
    /// Orders as buyer, and as counselor for a counselor account.
    pub orders: Vec<serde_json::Value>,
    pub payments: Vec<serde_json::Value>,
    /// The wallet ledger (`GET /api/user/transactions`).
    pub wallet_transactions: Vec<serde_json::Value>,
    pub reviews: Vec<serde_json::Value>,
    /// The counselor profile, null for a plain user.
    pub counselor: Option<serde_json::Value>,
    pub counselor_applications: Vec<serde_json::Value>,
    /// A counselor's money, null for a plain user: `account` (the withdraw page's object), every
    /// `transactions` row of its ledger and every `withdrawals` request, bank details included.
    pub counselor_finance: Option<serde_json::Value>,
    /// Every session as buyer (`role` `user`) or counselor (`role` `counselor`), with its `messages`.
    pub chat_sessions: Vec<serde_json::Value>,
    pub notifications: Vec<serde_json::Value>,
    /// Files the user uploaded (metadata and URL).
    pub files: Vec<serde_json::Value>,
}
