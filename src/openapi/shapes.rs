//! Documentation-only shapes of answers that handlers build with `json!` (objects whose keys the
//! original clients fix, often the same list under two names). They are never serialized; the fuzzer's
//! response-schema check in `.ci/fuzz.sh` keeps them true.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use utoipa::ToSchema;

use crate::modules::chat::dto::{BillingView, MessageView, SessionView};
use crate::modules::finance::dto::{AccountView, WithdrawView};

/// `{session_id, status}` of a chat session.
#[derive(ToSchema)]
pub struct ChatSessionRef {
    pub session_id: i64,
    pub status: i32,
}

/// A user as the chat views embed it.
#[derive(ToSchema)]
pub struct ChatUser {
    pub id: i64,
    pub username: String,
    pub avatar: String,
}

/// A counselor as the chat and finance views embed it (only `id` and `name` when the row is gone).
#[derive(ToSchema)]
pub struct ChatCounselor {
    pub id: i64,
    pub name: String,
    pub user_id: Option<i64>,
    pub title: Option<String>,
    pub avatar: Option<String>,
    pub price: Option<f64>,
}

/// The nested session of `GET /api/chat/messages/{id}`: `duration` is the booked minutes there, and
/// `duration_seconds` the seconds chatted.
#[derive(ToSchema)]
pub struct ChatMessages {
    pub messages: Vec<MessageView>,
    pub total: u64,
    pub last_seq: i64,
    pub session: SessionView,
}

#[derive(ToSchema)]
pub struct ChatRead {
    pub read_seq: i64,
}

#[derive(ToSchema)]
pub struct ChatEnded {
    pub duration: i64,
    pub status: i32,
    pub billing: Option<BillingView>,
}

#[derive(ToSchema)]
pub struct ChatSessions {
    pub sessions: Vec<SessionView>,
    pub total: u64,
}

#[derive(ToSchema)]
pub struct ChatBillings {
    pub billings: Vec<BillingView>,
    pub total: u64,
}

#[derive(ToSchema)]
pub struct CounselorAccount {
    pub account: AccountView,
}

#[derive(ToSchema)]
pub struct CounselorWithdraw {
    pub withdraw: WithdrawView,
}

#[derive(ToSchema)]
pub struct CounselorWithdraws {
    pub withdraws: Vec<WithdrawView>,
    pub total: u64,
}

/// `sessions` and `list` are the same page.
#[derive(ToSchema)]
pub struct AdminChatSessions {
    pub sessions: Vec<SessionView>,
    pub list: Vec<SessionView>,
    pub total: u64,
}

/// A message row as the admin chat views list it.
#[derive(ToSchema)]
pub struct AdminChatMessage {
    pub id: i64,
    pub session_id: i64,
    pub seq: i64,
    pub sender_id: i64,
    pub sender_type: String,
    pub content_type: String,
    pub content: String,
    pub file_url: String,
    pub is_read: bool,
    pub read_time: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(ToSchema)]
pub struct AdminSessionMessagesData {
    pub messages: Vec<AdminChatMessage>,
    pub total: u64,
    pub session: Option<SessionView>,
}

/// The console reads `messages`/`total` at the top level, the contract inside `data`: both are sent.
#[derive(ToSchema)]
pub struct AdminSessionMessages {
    pub code: u16,
    pub msg: String,
    pub data: AdminSessionMessagesData,
    pub messages: Vec<AdminChatMessage>,
    pub total: u64,
}

#[derive(ToSchema)]
pub struct AdminChatStatistics {
    pub total_sessions: u64,
    pub active_sessions: u64,
    pub total_messages: u64,
    pub today_messages: u64,
    pub total_billing: f64,
    pub recent_messages: Vec<AdminChatMessage>,
}

#[derive(ToSchema)]
pub struct AdminMessageSearch {
    pub messages: Vec<AdminChatMessage>,
    /// Matches among the messages searched.
    pub total: u64,
    /// True when only the newest `privacy.search_scan_limit` messages were searched (content is encrypted
    /// at rest and matched after decryption; narrow with `session_id` to search a whole session).
    pub truncated: bool,
}

#[derive(ToSchema)]
pub struct ActiveSessionTotals {
    pub active_sessions: u64,
    /// Minutes chatted so far, over the active sessions.
    pub total_duration: i64,
    pub total_amount: f64,
}

#[derive(ToSchema)]
pub struct OnlineUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub phone: String,
    pub avatar: String,
    pub status: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(ToSchema)]
pub struct OnlineUsers {
    pub user_ids: Vec<i64>,
    pub users: Vec<OnlineUser>,
    pub count: u64,
    pub total: u64,
}

#[derive(ToSchema)]
pub struct OnlineUserDetail {
    pub user_id: i64,
    pub username: String,
    /// `user` or `counselor`.
    pub role: String,
    /// RFC 3339 time of the earliest connection on this instance, or `在线`.
    pub online_time: String,
    pub session_id: Option<i64>,
    pub is_muted: bool,
}

#[derive(ToSchema)]
pub struct OnlineUsersDetailed {
    pub users: Vec<OnlineUserDetail>,
    pub total: u64,
}

#[derive(ToSchema)]
pub struct OnlineStatistics {
    pub total_online: u64,
    pub counselor_online: u64,
    pub user_online: u64,
    pub muted_counselor: u64,
    pub muted_online_count: u64,
}

#[derive(ToSchema)]
pub struct Muted {
    pub user_id: i64,
    pub is_muted: bool,
}

/// `withdraws` and `list` are the same page.
#[derive(ToSchema)]
pub struct WithdrawPage {
    pub withdraws: Vec<WithdrawView>,
    pub list: Vec<WithdrawView>,
    pub total: u64,
}

/// `accounts` and `list` are the same page.
#[derive(ToSchema)]
pub struct AccountPage {
    pub accounts: Vec<AccountView>,
    pub list: Vec<AccountView>,
    pub total: u64,
}

#[derive(ToSchema)]
pub struct AccountDetail {
    pub account: AccountView,
    pub withdraw_count: u64,
    pub withdraw_total: f64,
    pub pending_withdraws: Vec<WithdrawView>,
}

#[derive(ToSchema)]
pub struct RevenuePoint {
    /// The bucket: `YYYY-MM-DD`, `YYYY-MM` or `YYYY`.
    pub date: String,
    pub amount: f64,
    pub count: i64,
}

#[derive(ToSchema)]
pub struct RevenueData {
    pub revenue_data: Vec<RevenuePoint>,
    /// `day`, `month` or `year`.
    pub group_by: String,
}

/// The console reads `revenue_data`/`group_by` at the top level, the contract inside `data`.
#[derive(ToSchema)]
pub struct Revenue {
    pub code: u16,
    pub msg: String,
    pub data: RevenueData,
    pub revenue_data: Vec<RevenuePoint>,
    pub group_by: String,
}

#[derive(ToSchema)]
pub struct FinanceStatsData {
    pub total_revenue: f64,
    pub total_withdrawn: f64,
    pub total_commission: f64,
    pub total_counselor_earning: f64,
    pub total_counselor_balance: f64,
    pub pending_withdraws: u64,
    pub pending_withdraw_amount: f64,
    pub approved_withdraws: u64,
    pub today_revenue: f64,
    pub today_orders: u64,
}

/// The statistics in `data` and, for the console, again at the top level.
#[derive(ToSchema)]
pub struct FinanceStats {
    pub code: u16,
    pub msg: String,
    pub data: FinanceStatsData,
}

/// One row of a report; its keys depend on `report_type` (income: date, amount, order_count,
/// commission, counselor_earnings; withdraw: date, amount, count, approved_count, rejected_count;
/// account: counselor_id, counselor_name, total_income, balance, withdrawn, frozen_amount).
#[derive(ToSchema)]
pub struct ReportRow {
    pub date: Option<String>,
    pub amount: Option<f64>,
    pub order_count: Option<i64>,
    pub commission: Option<f64>,
    pub counselor_earnings: Option<f64>,
    pub count: Option<i64>,
    pub approved_count: Option<i64>,
    pub rejected_count: Option<i64>,
    pub counselor_id: Option<i64>,
    pub counselor_name: Option<String>,
    pub total_income: Option<f64>,
    pub balance: Option<f64>,
    pub withdrawn: Option<f64>,
    pub frozen_amount: Option<f64>,
}

#[derive(ToSchema)]
pub struct FinanceReport {
    /// `income`, `withdraw` or `account`.
    pub report_type: String,
    pub start_date: String,
    pub end_date: String,
    pub records: Vec<ReportRow>,
}

/// `POST /api/admin/online/mute`.
#[derive(ToSchema)]
pub struct MuteRequest {
    pub user_id: i64,
    pub is_muted: bool,
}

/// `POST /api/admin/online/users/{id}/message` and `/api/admin/broadcast`: 1 to 1000 characters.
#[derive(ToSchema)]
pub struct ContentRequest {
    pub content: String,
}

#[derive(ToSchema)]
pub struct OrderTimeline {
    pub timeline: Vec<crate::modules::orders::dto::TimelineEntry>,
}

#[derive(ToSchema)]
pub struct Registered {
    pub user_id: i64,
    pub username: String,
}

#[derive(ToSchema)]
pub struct Token {
    pub token: String,
}

#[derive(ToSchema)]
pub struct AdminLogin {
    pub token: String,
    pub admin: crate::modules::rbac::dto::AdminView,
}

/// The legacy login names the administrator `user`.
#[derive(ToSchema)]
pub struct AdminLoginLegacy {
    pub token: String,
    pub user: crate::modules::rbac::dto::AdminView,
}

#[derive(ToSchema)]
pub struct PermissionCodes {
    pub permissions: Vec<String>,
    pub roles: Vec<String>,
}

#[derive(ToSchema)]
pub struct PermissionRows {
    pub permissions: Vec<crate::modules::rbac::dto::PermissionView>,
    pub roles: Vec<String>,
}

/// `administrators` and `list` are the same page.
#[derive(ToSchema)]
pub struct AdminPage {
    pub administrators: Vec<crate::modules::rbac::dto::AdminView>,
    pub list: Vec<crate::modules::rbac::dto::AdminView>,
    pub total: u64,
}

#[derive(ToSchema)]
pub struct RolePage {
    pub list: Vec<crate::modules::rbac::dto::RoleView>,
    pub total: u64,
}

#[derive(ToSchema)]
pub struct RoleUser {
    pub id: i64,
    pub username: String,
    pub nickname: String,
    pub real_name: String,
    pub email: String,
    pub status: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(ToSchema)]
pub struct RoleUserPage {
    pub list: Vec<RoleUser>,
    pub total: u64,
}

#[derive(ToSchema)]
pub struct PermissionPage {
    pub list: Vec<crate::modules::rbac::dto::PermissionView>,
    pub total: u64,
}

/// The menus as a tree in `list`; `total` counts every node.
#[derive(ToSchema)]
pub struct MenuPage {
    pub list: Vec<crate::modules::rbac::dto::MenuNode>,
    pub total: u64,
}

/// What the payment providers' (and the sandbox's) notifications are answered with.
#[derive(ToSchema)]
pub struct ProviderAck {
    /// `SUCCESS` or `FAIL`.
    pub code: String,
    pub message: String,
}

#[derive(ToSchema)]
pub struct Id {
    pub id: i64,
}

/// A stored upload: `url` and `file_url` are the same relative URL.
#[derive(ToSchema)]
pub struct Uploaded {
    pub url: String,
    pub file_url: String,
}

#[derive(ToSchema)]
pub struct UploadedFile {
    pub id: i64,
    pub file_name: String,
    pub original_name: String,
    pub file_url: String,
    pub url: String,
    pub file_size: i64,
    pub mime_type: String,
    pub file_type: String,
}

#[derive(ToSchema)]
pub struct AdminUploadedFile {
    pub file_name: String,
    pub original_name: String,
    pub url: String,
    pub file_url: String,
    pub file_size: u64,
    pub mime_type: String,
}

#[derive(ToSchema)]
pub struct ReviewPage {
    pub reviews: Vec<crate::modules::counselors::dto::ReviewView>,
    pub total: u64,
}

#[derive(ToSchema)]
pub struct ApplicationPage {
    pub list: Vec<crate::modules::counselors::dto::ApplicationView>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// The counselor an approval created (`null` for a rejection).
#[derive(ToSchema)]
pub struct ApprovedCounselor {
    pub counselor_id: Option<i64>,
}

/// `users` and `list` are the same page.
#[derive(ToSchema)]
pub struct UserPage {
    pub users: Vec<crate::modules::users::dto::UserView>,
    pub list: Vec<crate::modules::users::dto::UserView>,
    pub total: u64,
}

/// `notifications` and `list` are the same page.
#[derive(ToSchema)]
pub struct NotificationPage {
    pub notifications: Vec<crate::modules::notifications::dto::NotificationView>,
    pub list: Vec<crate::modules::notifications::dto::NotificationView>,
    pub total: u64,
    pub unread_count: u64,
}

/// `list`/`total` at the top level, beside `code` and `msg`, as the console reads them.
#[derive(ToSchema)]
pub struct LogList {
    pub code: u16,
    pub msg: String,
    pub list: Vec<crate::modules::system::dto::LogView>,
    pub total: u64,
}

/// `list`/`total` at the top level, beside `code` and `msg`, as the console reads them.
#[derive(ToSchema)]
pub struct ConfigList {
    pub code: u16,
    pub msg: String,
    pub list: Vec<crate::modules::system::dto::ConfigView>,
    pub total: u64,
}

#[derive(ToSchema)]
pub struct FormPage {
    pub list: Vec<crate::modules::lowcode::dto::FormView>,
    pub total: u64,
}

/// The page in `data` and, for the console, `list`/`total` again at the top level.
#[derive(ToSchema)]
pub struct FormList {
    pub code: u16,
    pub msg: String,
    pub data: FormPage,
    pub list: Vec<crate::modules::lowcode::dto::FormView>,
    pub total: u64,
}

#[derive(ToSchema)]
pub struct PagePage {
    pub list: Vec<crate::modules::lowcode::dto::PageView>,
    pub total: u64,
}

/// The page in `data` and, for the console, `list`/`total` again at the top level.
#[derive(ToSchema)]
pub struct PageList {
    pub code: u16,
    pub msg: String,
    pub data: PagePage,
    pub list: Vec<crate::modules::lowcode::dto::PageView>,
    pub total: u64,
}

#[derive(ToSchema)]
pub struct FormDataPage {
    pub list: Vec<crate::modules::lowcode::dto::FormDataView>,
    pub total: u64,
}

/// A form definition: its fields as `items`, or as `form_json` (JSON text of the same list).
#[derive(ToSchema)]
pub struct SaveForm {
    pub id: Option<i64>,
    pub title: String,
    pub description: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub items: Option<Vec<serde_json::Value>>,
    pub form_json: Option<String>,
    pub status: Option<i32>,
}

/// A page definition: its blocks as `items`, or as `page_json` (JSON text of the same list).
#[derive(ToSchema)]
pub struct SavePage {
    pub id: Option<i64>,
    pub title: String,
    pub description: Option<String>,
    pub path: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub items: Option<Vec<serde_json::Value>>,
    pub page_json: Option<String>,
    pub status: Option<i32>,
}

/// A multipart upload: the file in the part named `file`.
#[derive(ToSchema)]
pub struct FileUpload {
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// `POST /api/upload`: the file in the part `file`, and optionally its kind.
#[derive(ToSchema)]
pub struct UserFileUpload {
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// avatar, document, image, audio, video or other.
    pub file_type: Option<String>,
}
