//! The user's own rights: the export of everything the platform holds about them, and the erasure of
//! their personal data. Each part is read or removed through the service of the module that owns it.

use chrono::Utc;
use serde_json::{Value, json};

use crate::error::{AppError, AppResult};
use crate::http::Pagination;
use crate::modules::auth::{CurrentUser, service as auth};
use crate::modules::chat::records as chat_records;
use crate::modules::counselors::{privacy as counselor_privacy, service as counselors};
use crate::modules::files::service as files;
use crate::modules::finance::service as finance;
use crate::modules::notifications::service as notifications;
use crate::modules::orders::service as orders;
use crate::modules::payments::{service as payments, wallet};
use crate::modules::system::reads::{self, ACTION_ERASURE};
use crate::modules::users::{dto::UserView, service as users};
use crate::state::AppState;

pub const MSG_WRONG_PASSWORD: &str = "密码错误";
pub const MSG_LIVE_SESSION: &str = "有进行中的咨询会话，请先结束会话再注销账户";
pub const MSG_OPEN_ORDER: &str =
    "有已支付但未完成的订单，请先完成咨询或取消订单（退款）后再注销账户";

/// Everything at once: no list here is paged.
fn everything() -> Pagination {
    Pagination {
        page: 1,
        page_size: u64::from(u32::MAX),
    }
}

/// `GET /api/user/export`: the account, orders (as buyer and as counselor), payments, the wallet
/// ledger, reviews, counselor profile, applications and finance (account, ledger, withdrawals), chat sessions (both roles) with every message,
/// notifications and uploaded files, as one JSON document.
pub async fn export(state: &AppState, user_id: i64) -> AppResult<Value> {
    let user = users::get_active(&state.db, user_id).await?;
    let counselor = counselors::counselor_of_user(&state.db, user_id).await?;
    let orders =
        orders::orders_of_party(&state.db, user_id, counselor.as_ref().map(|c| c.id)).await?;
    let payments = payments::list_payments(&state.db, user_id, None, None, &everything()).await?;
    let ledger = wallet::list_transactions(&state.db, user_id, None, &everything()).await?;
    let counselor_part = counselor_privacy::export_of_user(state, user_id).await?;
    let counselor_finance = match &counselor {
        Some(c) => finance::export_of_counselor(&state.db, c.id).await?,
        None => Value::Null,
    };
    let sessions = chat_records::export_sessions(state, user_id).await?;
    let notifications = notifications::all_of_user(&state.db, user_id).await?;
    let uploads: Vec<Value> = files::files_of(state, user_id)
        .await?
        .iter()
        .map(|f| {
            json!({
                "id": f.id,
                "original_name": f.original_name,
                "file_url": f.file_url,
                "file_type": f.file_type,
                "mime_type": f.mime_type,
                "file_size": f.file_size,
                "relation_type": f.relation_type,
                "relation_id": f.relation_id,
                "created_at": f.created_at,
            })
        })
        .collect();
    Ok(json!({
        "exported_at": Utc::now(),
        "account": UserView::from(&user),
        "orders": orders,
        "payments": payments.payments,
        "wallet_transactions": ledger.transactions,
        "reviews": counselor_part["reviews"],
        "counselor": counselor_part["counselor"],
        "counselor_applications": counselor_part["applications"],
        "counselor_finance": counselor_finance,
        "chat_sessions": sessions,
        "notifications": notifications,
        "files": uploads,
    }))
}

/// `POST /api/user/delete`: erases the caller's personal data (see README "Privacy"). Money records
/// (orders, payments, refunds, the wallet and counselor ledgers, billing) stay, tied to the anonymised
/// account.
///
/// # Errors
/// 400 [`MSG_WRONG_PASSWORD`]; 409 [`MSG_LIVE_SESSION`] or [`MSG_OPEN_ORDER`] while money or a
/// conversation is in flight.
pub async fn erase(state: &AppState, caller: &CurrentUser, password: &str) -> AppResult<()> {
    let user_id = caller.0.id;
    let user = users::get_active(&state.db, user_id).await?;
    if !state.passwords.verify(password, Some(&user.password)).await {
        return Err(AppError::bad_request(MSG_WRONG_PASSWORD));
    }
    let counselor = counselors::counselor_of_user(&state.db, user_id).await?;
    if chat_records::has_live_session(&state.db, user_id).await? {
        return Err(AppError::conflict(MSG_LIVE_SESSION));
    }
    if orders::has_open_paid_order(&state.db, user_id, counselor.as_ref().map(|c| c.id)).await? {
        return Err(AppError::conflict(MSG_OPEN_ORDER));
    }
    // The data first and the account last: if a step fails, the owner can still log in and retry.
    let erased = chat_records::erase_messages_of(&state.db, user_id).await?;
    let removed_files =
        files::erase_files(state, user_id, &erased.bought_sessions, &erased.message_ids).await?;
    let removed_notifications = notifications::delete_all_of_user(&state.db, user_id).await?;
    counselor_privacy::erase_of_user(state, user_id).await?;
    users::erase_account(&state.db, &state.bus, &state.account_states, user_id).await?;
    auth::revoke(state, &caller.0).await?;
    reads::record_system_event(
        &state.db,
        ACTION_ERASURE,
        user_id.to_string(),
        format!(
            "用户注销并删除个人数据: {} 条消息, {} 个文件, {} 条通知",
            erased.messages, removed_files, removed_notifications
        ),
        json!({
            "user_id": user_id,
            "messages": erased.messages,
            "files": removed_files,
            "notifications": removed_notifications,
            "counselor_id": counselor.map(|c| c.id),
        }),
    )
    .await?;
    tracing::info!(
        user_id,
        messages = erased.messages,
        files = removed_files,
        "account erased by its owner"
    );
    Ok(())
}
