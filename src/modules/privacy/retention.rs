//! The retention purge of counselling records: with the console's `message_retention_days` at N > 0,
//! message content and chat files older than N days are removed in batches by a supervised periodic job
//! (`retention_purge`, every `privacy.retention_interval_secs`). Billing, ledger, order, payment and
//! audit rows are never touched.
//!
//! The operator sees before anything goes: after the setting is set or changed, the purge waits
//! `privacy.retention_grace_secs` (default 24 h) counted from the setting's last change, and
//! `GET /api/admin/privacy/retention` shows in the meantime what a purge would remove (the dry run). Each
//! purge that removed something leaves an audit row (`action` `privacy:retention`).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use crate::error::{AppError, AppResult};
use crate::modules::chat::records as chat_records;
use crate::modules::files::service as files;
use crate::modules::system::reads::{self, ACTION_RETENTION_PURGE};
use crate::modules::system::{service as system, settings};
use crate::state::AppState;

const SETTING: &str = "message_retention_days";

/// `GET /api/admin/privacy/retention`: the setting, the dry run and the purge schedule.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RetentionStatus {
    /// The console's `message_retention_days`; 0 keeps everything.
    pub retention_days: i64,
    /// Content older than this goes; null while retention is off.
    pub cutoff: Option<DateTime<Utc>>,
    /// Messages a purge now would blank (the dry run).
    pub messages: u64,
    /// Chat files a purge now would remove (the dry run).
    pub files: u64,
    /// When the setting last changed; null while retention is off.
    pub setting_changed_at: Option<DateTime<Utc>>,
    pub grace_secs: u64,
    pub interval_secs: u64,
    /// The first moment the job may purge (the setting's last change + the grace period); null while
    /// retention is off.
    pub purge_allowed_from: Option<DateTime<Utc>>,
    /// Whether the grace period is over.
    pub purge_allowed: bool,
    /// When a purge last removed something, and what.
    pub last_purge_at: Option<DateTime<Utc>>,
    pub last_purge: Option<serde_json::Value>,
}

/// What one purge removed.
#[derive(Serialize, Default, utoipa::ToSchema)]
pub struct Purged {
    pub messages: u64,
    pub files: u64,
    pub cutoff: Option<DateTime<Utc>>,
}

struct Plan {
    days: i64,
    cutoff: Option<DateTime<Utc>>,
    changed_at: Option<DateTime<Utc>>,
    allowed_from: Option<DateTime<Utc>>,
}

impl Plan {
    fn allowed(&self, now: DateTime<Utc>) -> bool {
        self.cutoff.is_some() && self.allowed_from.is_none_or(|t| now >= t)
    }
}

async fn plan(state: &AppState, now: DateTime<Utc>) -> AppResult<Plan> {
    let days = settings::message_retention_days(state).await;
    // Off (the default): no further query, the job's pass costs one cached read.
    let changed_at = if days > 0 {
        system::config_changed_at(&state.db, SETTING).await?
    } else {
        None
    };
    let grace = i64::try_from(state.settings.privacy.retention_grace_secs)
        .ok()
        .and_then(Duration::try_seconds)
        .unwrap_or_else(|| Duration::days(36500));
    let on = days > 0;
    Ok(Plan {
        days,
        cutoff: on.then(|| now - Duration::days(days)),
        changed_at,
        allowed_from: if on {
            changed_at.map(|t| t + grace)
        } else {
            None
        },
    })
}

/// The setting, the dry-run counts and the schedule.
pub async fn status(state: &AppState) -> AppResult<RetentionStatus> {
    let now = Utc::now();
    let plan = plan(state, now).await?;
    let (messages, files) = match plan.cutoff {
        Some(cutoff) => (
            chat_records::purgeable_messages(&state.db, cutoff).await?,
            files::purgeable_chat_files(state, cutoff).await?,
        ),
        None => (0, 0),
    };
    let last = reads::latest_of(&state.db, ACTION_RETENTION_PURGE).await?;
    Ok(RetentionStatus {
        retention_days: plan.days,
        cutoff: plan.cutoff,
        messages,
        files,
        setting_changed_at: plan.changed_at,
        grace_secs: state.settings.privacy.retention_grace_secs,
        interval_secs: state.settings.privacy.retention_interval_secs,
        purge_allowed_from: plan.allowed_from,
        purge_allowed: plan.allowed(now),
        last_purge_at: last.as_ref().map(|(at, _)| *at),
        last_purge: last
            .and_then(|(_, data)| data)
            .and_then(|d| serde_json::from_str(&d).ok()),
    })
}

/// Purges everything older than `cutoff`, batch by batch, logging progress, and records the purge.
async fn purge(state: &AppState, days: i64, cutoff: DateTime<Utc>) -> AppResult<Purged> {
    let batch = state.settings.privacy.retention_batch.max(1);
    let mut purged = Purged {
        cutoff: Some(cutoff),
        ..Default::default()
    };
    loop {
        let n = chat_records::purge_batch(&state.db, cutoff, batch).await?;
        purged.messages += n;
        if n > 0 {
            tracing::info!(batch = n, total = purged.messages, %cutoff, "retention: message content purged");
        }
        if n < batch {
            break;
        }
    }
    loop {
        let n = files::purge_chat_files(state, cutoff, batch).await?;
        purged.files += n;
        if n > 0 {
            tracing::info!(batch = n, total = purged.files, %cutoff, "retention: chat files removed");
        }
        if n < batch {
            break;
        }
    }
    if purged.messages > 0 || purged.files > 0 {
        reads::record_system_event(
            &state.db,
            ACTION_RETENTION_PURGE,
            String::new(),
            format!(
                "保留期清理: {} 条消息内容, {} 个聊天文件 (早于 {cutoff}, 保留 {days} 天)",
                purged.messages, purged.files
            ),
            json!({ "messages": purged.messages, "files": purged.files, "cutoff": cutoff, "retention_days": days }),
        )
        .await?;
    }
    Ok(purged)
}

/// One pass of the periodic job: purges when retention is on and its grace period is over.
pub async fn purge_pass(state: &AppState) -> AppResult<u64> {
    let now = Utc::now();
    let plan = plan(state, now).await?;
    let Some(cutoff) = plan.cutoff else {
        return Ok(0);
    };
    if !plan.allowed(now) {
        tracing::debug!(allowed_from = ?plan.allowed_from, "retention: waiting out the grace period");
        return Ok(0);
    }
    let purged = purge(state, plan.days, cutoff).await?;
    Ok(purged.messages + purged.files)
}

pub const MSG_RETENTION_OFF: &str = "未设置消息保留期（message_retention_days 为 0），不清理";
pub const MSG_IN_GRACE: &str =
    "保留期设置变更后的宽限期内，请先查看预览（dry run），宽限期结束后才会清理";

/// `POST /api/admin/privacy/retention/purge`: runs a purge now, under the same rules as the job.
///
/// # Errors
/// 400 while retention is off; 409 during the grace period.
pub async fn purge_now(state: &AppState) -> AppResult<Purged> {
    let now = Utc::now();
    let plan = plan(state, now).await?;
    let Some(cutoff) = plan.cutoff else {
        return Err(AppError::bad_request(MSG_RETENTION_OFF));
    };
    if !plan.allowed(now) {
        return Err(AppError::conflict(MSG_IN_GRACE));
    }
    purge(state, plan.days, cutoff).await
}
