//! The system configs the console edits, inserted when their key is missing.

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};

use super::entity::system_config;
use crate::config::Settings;

/// `(category, key, JSON value, label, type, is_system, sort)`.
type ConfigSeed = (
    &'static str,
    &'static str,
    String,
    &'static str,
    &'static str,
    bool,
    i32,
);

fn configs(settings: &Settings) -> Vec<ConfigSeed> {
    let s = |v: &str| serde_json::Value::from(v).to_string();
    vec![
        (
            "basic",
            "system_name",
            s("MyChat 心理咨询平台"),
            "系统名称",
            "string",
            true,
            1,
        ),
        (
            "basic",
            "system_description",
            s("专业的在线心理咨询服务平台"),
            "系统简介",
            "string",
            true,
            2,
        ),
        (
            "basic",
            "site_domain",
            s("https://mychat.com"),
            "网站域名",
            "string",
            false,
            3,
        ),
        (
            "basic",
            "contact_phone",
            s("400-888-8888"),
            "联系电话",
            "string",
            false,
            4,
        ),
        (
            "basic",
            "contact_email",
            s("support@mychat.com"),
            "联系邮箱",
            "string",
            false,
            5,
        ),
        ("basic", "icp_code", s(""), "ICP备案号", "string", false, 6),
        (
            "user",
            "allow_register",
            "true".into(),
            "允许注册",
            "boolean",
            true,
            1,
        ),
        (
            "user",
            "default_avatar",
            s("/assets/default-avatar.png"),
            "默认头像",
            "string",
            false,
            2,
        ),
        (
            "user",
            "password_min_length",
            "6".into(),
            "密码最小长度",
            "number",
            true,
            3,
        ),
        (
            "user",
            "login_max_attempts",
            "5".into(),
            "账户锁定阈值",
            "number",
            true,
            4,
        ),
        (
            "user",
            "login_lock_time",
            "30".into(),
            "锁定时长(分钟)",
            "number",
            true,
            5,
        ),
        (
            "chat",
            "free_chat_duration",
            // No free period unless the operator sets one (the original seeded 5 but never read it).
            "0".into(),
            "免费聊天时长(分钟)",
            "number",
            true,
            1,
        ),
        (
            "chat",
            "billing_cycle",
            "60".into(),
            "计费周期(秒)",
            "number",
            true,
            2,
        ),
        (
            "chat",
            "session_timeout",
            settings
                .chat
                .session_idle_timeout_secs
                .div_ceil(60)
                .max(1)
                .to_string(),
            "会话超时(分钟)",
            "number",
            true,
            3,
        ),
        (
            "chat",
            "message_retention_days",
            "0".into(),
            "消息保留天数(0=永久)",
            "number",
            true,
            4,
        ),
        (
            "chat",
            "allow_image_message",
            "true".into(),
            "允许发图",
            "boolean",
            true,
            5,
        ),
        (
            "chat",
            "allow_voice_message",
            "true".into(),
            "允许发语音",
            "boolean",
            true,
            6,
        ),
        (
            "payment",
            "alipay_app_id",
            s(""),
            "支付宝AppID",
            "string",
            false,
            1,
        ),
        (
            "payment",
            "alipay_public_key",
            s(""),
            "支付宝公钥",
            "textarea",
            false,
            2,
        ),
        (
            "payment",
            "wechat_app_id",
            s(""),
            "微信AppID",
            "string",
            false,
            3,
        ),
        (
            "payment",
            "wechat_mch_id",
            s(""),
            "微信商户号",
            "string",
            false,
            4,
        ),
        (
            "payment",
            "wechat_api_key",
            s(""),
            "微信API密钥",
            "password",
            false,
            5,
        ),
        (
            "payment",
            "min_withdraw_amount",
            "100".into(),
            "提现最小金额(元)",
            "number",
            true,
            6,
        ),
        (
            "payment",
            "platform_commission",
            settings.billing.platform_commission.to_string(),
            "平台佣金比例",
            "number",
            true,
            7,
        ),
        (
            "payment",
            "order_payment_timeout",
            settings.order.payment_timeout_minutes.to_string(),
            "订单支付超时(分钟)",
            "number",
            true,
            8,
        ),
        (
            "notification",
            "email_enabled",
            "false".into(),
            "启用邮件通知",
            "boolean",
            true,
            1,
        ),
        (
            "notification",
            "smtp_host",
            s("smtp.gmail.com"),
            "SMTP服务器",
            "string",
            false,
            2,
        ),
        (
            "notification",
            "smtp_port",
            "465".into(),
            "SMTP端口",
            "number",
            false,
            3,
        ),
        (
            "notification",
            "smtp_username",
            s(""),
            "SMTP用户名",
            "string",
            false,
            4,
        ),
        (
            "notification",
            "smtp_password",
            s(""),
            "SMTP密码",
            "password",
            false,
            5,
        ),
        (
            "notification",
            "sms_enabled",
            "false".into(),
            "启用短信通知",
            "boolean",
            true,
            6,
        ),
        (
            "notification",
            "sms_provider",
            s("aliyun"),
            "短信服务商",
            "select",
            false,
            7,
        ),
        (
            "storage",
            "storage_type",
            s("local"),
            "存储方式",
            "radio",
            true,
            1,
        ),
        (
            "storage",
            "upload_path",
            s("/uploads"),
            "上传路径",
            "string",
            false,
            2,
        ),
        (
            "storage",
            "allowed_file_types",
            s("jpg,jpeg,png,gif,pdf,doc,docx,xls,xlsx"),
            "允许文件类型",
            "string",
            true,
            3,
        ),
        (
            "storage",
            "max_file_size",
            "10".into(),
            "最大文件大小(MB)",
            "number",
            true,
            4,
        ),
        (
            "storage",
            "image_compress",
            "true".into(),
            "图片压缩",
            "boolean",
            true,
            5,
        ),
        (
            "storage",
            "compress_quality",
            "80".into(),
            "压缩质量",
            "slider",
            true,
            6,
        ),
    ]
}

pub async fn seed(db: &DatabaseConnection, settings: &Settings) -> anyhow::Result<()> {
    let existing: HashSet<String> = system_config::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.config_key)
        .collect();
    let now = Utc::now();
    for (category, key, value, label, kind, is_system, sort) in configs(settings) {
        if existing.contains(key) {
            continue;
        }
        system_config::ActiveModel {
            config_key: Set(key.to_owned()),
            value: Set(value),
            category: Set(category.to_owned()),
            label: Set(label.to_owned()),
            kind: Set(kind.to_owned()),
            is_system: Set(is_system),
            sort: Set(sort),
            remark: Set(String::new()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seeded_value_is_json_and_keys_are_unique() {
        let settings = Settings::from_figment(Settings::figment(
            "test",
            std::path::Path::new("/nonexistent"),
        ))
        .unwrap();
        let mut keys = HashSet::new();
        for (_, key, value, ..) in configs(&settings) {
            assert!(keys.insert(key), "{key} twice");
            serde_json::from_str::<serde_json::Value>(&value)
                .unwrap_or_else(|_| panic!("{key} is not JSON: {value}"));
        }
        assert_eq!(keys.len(), 38);
    }
}
