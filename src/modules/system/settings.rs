//! The seeded settings the rest of the server obeys: the type and range each one accepts (a console write
//! outside them is refused whole), and one typed reader per setting. Readers go through the config cache,
//! which every instance drops on `ConfigChanged`, so a change in the console takes effect at once
//! everywhere; an absent or unreadable value falls back to the default shown next to it.
//!
//! The payment channel keys (`alipay_app_id`, `wechat_api_key`, ...) are not settings: the channels are
//! configured in the server's `payments.*` configuration (secrets never travel through the console), so
//! the console may not change them.

use std::time::Duration;

use serde_json::Value;

use super::service::{config_bool, config_i64};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// What a setting accepts.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Bool,
    /// A whole number within `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// Any number within `min..=max`.
    Number {
        min: f64,
        max: f64,
    },
}

/// Every setting some code reads, with what it accepts.
const RULES: &[(&str, Rule)] = &[
    ("allow_register", Rule::Bool),
    // Never below the floor the request validation keeps (6).
    ("password_min_length", Rule::Int { min: 6, max: 128 }),
    // 0 turns the lockout off.
    ("login_max_attempts", Rule::Int { min: 0, max: 100 }),
    ("login_lock_time", Rule::Int { min: 1, max: 1440 }),
    ("free_chat_duration", Rule::Int { min: 0, max: 1440 }),
    ("billing_cycle", Rule::Int { min: 1, max: 3600 }),
    ("session_timeout", Rule::Int { min: 1, max: 1440 }),
    ("message_retention_days", Rule::Int { min: 0, max: 36500 }),
    ("allow_image_message", Rule::Bool),
    ("allow_voice_message", Rule::Bool),
    ("platform_commission", Rule::Number { min: 0.0, max: 1.0 }),
    ("order_payment_timeout", Rule::Int { min: 1, max: 10080 }),
];

/// Payment channel keys the console shows but may not change.
const PAYMENT_CHANNEL_KEYS: &[&str] = &[
    "alipay_app_id",
    "alipay_public_key",
    "wechat_app_id",
    "wechat_mch_id",
    "wechat_api_key",
];

pub const MSG_PAYMENT_CHANNEL_READ_ONLY: &str =
    "支付渠道参数由服务器配置文件（payments.wechat / payments.alipay）管理，不能在控制台修改";

fn rule_of(key: &str) -> Option<Rule> {
    RULES.iter().find(|(k, _)| *k == key).map(|(_, r)| *r)
}

fn fits(rule: Rule, value: &Value) -> bool {
    match rule {
        Rule::Bool => value.is_boolean(),
        Rule::Int { min, max } => value.as_i64().is_some_and(|v| (min..=max).contains(&v)),
        Rule::Number { min, max } => value.as_f64().is_some_and(|v| (min..=max).contains(&v)),
    }
}

fn describe(rule: Rule) -> String {
    match rule {
        Rule::Bool => "必须是 true 或 false".into(),
        Rule::Int { min, max } => format!("必须是 {min} 到 {max} 之间的整数"),
        Rule::Number { min, max } => format!("必须是 {min} 到 {max} 之间的数字"),
    }
}

/// Checks a write of `key` from `old` (its stored JSON text, when it exists) to `new` (normalized JSON
/// text): a known setting must fit its rule, and a payment channel key must keep its value (the console
/// saves a whole tab, so an unchanged value passes).
pub fn check_write(key: &str, old: Option<&str>, new: &str) -> AppResult<()> {
    if PAYMENT_CHANNEL_KEYS.contains(&key) {
        let parse = |text: &str| serde_json::from_str::<Value>(text).ok();
        if old.and_then(parse) != parse(new) {
            return Err(AppError::bad_request(MSG_PAYMENT_CHANNEL_READ_ONLY));
        }
        return Ok(());
    }
    let Some(rule) = rule_of(key) else {
        return Ok(());
    };
    let value: Value = serde_json::from_str(new).unwrap_or(Value::Null);
    if fits(rule, &value) {
        Ok(())
    } else {
        Err(AppError::invalid_input(format!(
            "参数错误: value: {key} {}",
            describe(rule)
        )))
    }
}

/// Setting `key` as a whole number within its rule, else `default`.
async fn int_setting(state: &AppState, key: &str, default: i64) -> i64 {
    match config_i64(state, key).await {
        Ok(Some(v)) if rule_of(key).is_none_or(|r| fits(r, &Value::from(v))) => v,
        Ok(_) => default,
        Err(e) => {
            tracing::warn!(error.cause_chain = ?e, key, "setting unreadable; using its default");
            default
        }
    }
}

async fn bool_setting(state: &AppState, key: &str, default: bool) -> bool {
    match config_bool(state, key).await {
        Ok(v) => v.unwrap_or(default),
        Err(e) => {
            tracing::warn!(error.cause_chain = ?e, key, "setting unreadable; using its default");
            default
        }
    }
}

/// `allow_register` (default true): whether new app accounts may register.
pub async fn allow_register(state: &AppState) -> bool {
    bool_setting(state, "allow_register", true).await
}

/// `password_min_length` (default 6): the shortest password an app user may choose.
pub async fn password_min_length(state: &AppState) -> usize {
    int_setting(state, "password_min_length", 6).await as usize
}

/// The per-account login lockout.
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    /// Failed logins in a row that lock the account; 0 turns the lockout off.
    pub max_attempts: u32,
    pub lock_for: Duration,
}

/// `login_max_attempts` (default 5) and `login_lock_time` (minutes, default 30).
pub async fn login_lockout(state: &AppState) -> Lockout {
    let max_attempts = int_setting(state, "login_max_attempts", 5).await;
    let minutes = int_setting(state, "login_lock_time", 30).await;
    Lockout {
        max_attempts: u32::try_from(max_attempts).unwrap_or(0),
        lock_for: Duration::from_secs(minutes.max(1) as u64 * 60),
    }
}

/// `free_chat_duration` (minutes, default 0) and `billing_cycle` (seconds, default 60).
pub async fn chat_tariff(state: &AppState) -> crate::modules::chat::billing::Tariff {
    crate::modules::chat::billing::Tariff {
        free_seconds: int_setting(state, "free_chat_duration", 0).await * 60,
        cycle_seconds: int_setting(state, "billing_cycle", 60).await,
    }
}

/// `session_timeout` (minutes): how long an active chat may stay silent before it times out. Default:
/// the server's `chat.session_idle_timeout_secs`.
pub async fn session_idle_timeout(state: &AppState) -> Duration {
    let fallback = state.settings.chat.session_idle_timeout_secs.max(1);
    match config_i64(state, "session_timeout").await {
        Ok(Some(minutes)) if minutes > 0 => Duration::from_secs(minutes as u64 * 60),
        Ok(_) => Duration::from_secs(fallback),
        Err(e) => {
            tracing::warn!(error.cause_chain = ?e, "session_timeout unreadable; using the setting");
            Duration::from_secs(fallback)
        }
    }
}

/// Whether chat messages of `content_type` are allowed: `allow_image_message` and
/// `allow_voice_message` (default true) switch images and voice off; other types are always allowed.
pub async fn message_type_allowed(state: &AppState, content_type: &str) -> bool {
    match content_type {
        "image" => bool_setting(state, "allow_image_message", true).await,
        "voice" => bool_setting(state, "allow_voice_message", true).await,
        _ => true,
    }
}

/// `message_retention_days` (default 0 = keep forever): chat message content and chat files older than
/// this are purged by the retention job.
pub async fn message_retention_days(state: &AppState) -> i64 {
    int_setting(state, "message_retention_days", 0).await.max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_settings_are_checked_against_their_rule() {
        assert!(check_write("allow_register", None, "false").is_ok());
        assert!(check_write("allow_register", None, "\"false\"").is_err());
        assert!(check_write("password_min_length", None, "8").is_ok());
        assert!(check_write("password_min_length", None, "3").is_err());
        assert!(check_write("password_min_length", None, "8.5").is_err());
        assert!(check_write("platform_commission", None, "0.25").is_ok());
        assert!(check_write("platform_commission", None, "1.5").is_err());
        assert!(check_write("anything_else", None, "\"x\"").is_ok());
        assert!(check_write("message_retention_days", None, "30").is_ok());
        assert!(check_write("message_retention_days", None, "-1").is_err());
    }

    #[test]
    fn payment_channel_keys_keep_their_value() {
        assert!(check_write("wechat_api_key", Some("\"\""), "\"\"").is_ok());
        assert!(check_write("wechat_api_key", Some("\"\""), "\"secret\"").is_err());
        assert!(check_write("alipay_app_id", None, "\"x\"").is_err());
    }
}
