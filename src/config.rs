//! Typed settings, layered: embedded `config/default.toml` < `config/default.toml` on disk
//! < `config/<MYCHAT_ENV>.toml` < short environment names (`DATABASE_URL`, `MYCHAT_USER_PORT`, ...)
//! < `MYCHAT__SECTION__KEY`.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::Deserialize;

const EMBEDDED_DEFAULT: &str = include_str!("../config/default.toml");
const EMBEDDED_DEVELOPMENT: &str = include_str!("../config/development.toml");
const EMBEDDED_PRODUCTION: &str = include_str!("../config/production.toml");
const EMBEDDED_TEST: &str = include_str!("../config/test.toml");

/// Short environment names operators expect, and the key each one sets.
const SHORT_ENV_NAMES: &[(&str, &str)] = &[
    ("MYCHAT_USER_PORT", "server.user_port"),
    ("MYCHAT_ADMIN_PORT", "server.admin_port"),
    ("MYCHAT_WS_PORT", "server.ws_port"),
    ("MYCHAT_BIND", "server.bind"),
    ("MYCHAT_DATA_DIR", "server.data_dir"),
    ("DATABASE_URL", "database.url"),
    ("REDIS_URL", "redis.url"),
    ("MYCHAT_ADMIN_PASSWORD", "admin.password"),
];

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `development`, `test` or `production` (from `MYCHAT_ENV`).
    #[serde(default = "default_env")]
    pub env: String,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub admin: AdminSettings,
    pub payments: PaymentSettings,
    pub billing: BillingSettings,
    pub order: OrderSettings,
    pub upload: UploadSettings,
    pub chat: ChatSettings,
    pub stats: StatsSettings,
    #[serde(default)]
    pub privacy: PrivacySettings,
    pub log: LogSettings,
}

fn default_env() -> String {
    "development".into()
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub bind: String,
    pub user_port: u16,
    pub admin_port: u16,
    pub ws_port: u16,
    pub data_dir: PathBuf,
    pub workers: usize,
    pub max_json_bytes: usize,
    pub health_cache_ms: u64,
    pub cors_origins: Vec<String>,
    /// Bearer token a scraper sends to read `/metrics` on the admin port; unset or empty: no `/metrics`.
    #[serde(default)]
    pub metrics_token: Option<SecretString>,
    pub static_dir_user: String,
    pub static_dir_admin: String,
    /// Proxies whose `X-Forwarded-For` is believed (see `http::ClientIp`). Empty: none.
    #[serde(default)]
    pub trusted_proxies: TrustedProxies,
}

/// `server.trusted_proxies`: CIDRs (`10.0.0.0/8`) or single addresses. A bad entry fails start-up.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TryFrom<Vec<String>> for TrustedProxies {
    type Error = String;

    fn try_from(entries: Vec<String>) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("server.trusted_proxies: not a CIDR or address: {entry}"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl TrustedProxies {
    pub fn contains(&self, ip: &std::net::IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(*ip, std::net::IpAddr::V4),
            v4 => *v4,
        };
        self.0.iter().any(|net| net.contains(&ip))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a pooled connection of a database server before it answers 503.
    pub acquire_timeout_ms: u64,
    /// PostgreSQL: the dispatcher vacuums the outbox after marking this many rows delivered (see
    /// `bus::EventBus::vacuum_when_due`). 0: never.
    pub outbox_vacuum_after_rows: u64,
    /// Delivered outbox rows are kept this many hours (the event relay replays from them), then deleted.
    /// 0: kept forever.
    pub outbox_retention_hours: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: String,
    pub key_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub user_jwt_secret: SecretString,
    pub admin_jwt_secret: SecretString,
    pub access_token_ttl_hours: i64,
    pub login_rate_per_ip_per_minute: u32,
    pub login_rate_per_account_per_minute: u32,
    pub register_rate_per_ip_per_hour: u32,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// How long this instance may reuse a user account's auth state (enabled, password change time)
    /// instead of reading it per request; changes are seen at once regardless (see
    /// `users::account_states`). 0: read on every request.
    pub account_cache_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AdminSettings {
    pub password: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentSettings {
    pub sandbox_enabled: bool,
    /// Secret of the sandbox gateway's callback signatures. Empty: generated and kept in the data dir.
    #[serde(default)]
    pub sandbox_secret: String,
    /// Base URL the providers and the sandbox checkout call back, e.g. `https://api.example.com`.
    #[serde(default)]
    pub public_base_url: String,
    /// How often the refund query job looks for channel refunds left processing, seconds; also the first
    /// wait before a refund is queried, doubling per attempt up to an hour.
    #[serde(default = "default_refund_query_interval")]
    pub refund_query_interval_secs: u64,
    #[serde(default)]
    pub wechat: WechatPaySettings,
    #[serde(default)]
    pub alipay: AlipaySettings,
}

fn default_refund_query_interval() -> u64 {
    30
}

/// WeChat Pay API v3 merchant settings. The channel is configured when `mch_id`, `private_key`,
/// `apiv3_key` and one platform public key are set. Keys are PEM text or a file path.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WechatPaySettings {
    pub app_id: String,
    pub mch_id: String,
    pub mch_serial_no: String,
    pub private_key: String,
    pub apiv3_key: String,
    /// `Wechatpay-Serial` → the platform public key, or the platform certificate (X.509) with that
    /// serial; PEM, base64 DER, or a path to either.
    pub platform_public_keys: std::collections::HashMap<String, String>,
    pub base_url: String,
    pub notify_url: String,
}

/// Alipay open-platform settings (RSA2). Configured when `app_id`, `private_key` and
/// `alipay_public_key` are set. Keys are PEM text, bare base64 DER, or a file path.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AlipaySettings {
    pub app_id: String,
    pub private_key: String,
    pub alipay_public_key: String,
    pub gateway_url: String,
    pub notify_url: String,
    pub return_url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BillingSettings {
    pub platform_commission: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderSettings {
    pub payment_timeout_minutes: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChatSettings {
    pub session_idle_timeout_secs: u64,
    pub warn_before_end_secs: u64,
    pub watchdog_interval_secs: u64,
    pub ws_ping_interval_secs: u64,
    pub ws_idle_timeout_secs: u64,
    pub max_message_chars: usize,
}

/// `[privacy]`: encryption at rest of chat messages and chat file names (see `modules::chat::crypto`),
/// staff access to counselling records, and their retention (see README "Privacy").
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PrivacySettings {
    /// Admin routes that return message content or chat files refuse a request without `reason` (400).
    pub require_reason: bool,
    /// After the console's `message_retention_days` changes, how long the purge waits, so the dry-run
    /// count (`GET /api/admin/privacy/retention`) can be seen before anything is removed.
    pub retention_grace_secs: u64,
    /// Seconds between passes of the retention purge.
    pub retention_interval_secs: u64,
    /// Messages (or files) purged per batch; each batch is one statement and one log line.
    pub retention_batch: u64,
    /// AES-256-GCM keys, each `{ id, key }` with `key` the base64 of 32 random bytes. Empty: a key is
    /// generated once into `<data_dir>/chat_keys.json` (0600), and `mychat admin rotate-chat-key` adds more.
    pub chat_keys: Vec<ChatKeySetting>,
    /// The id among `chat_keys` that seals new rows (required when `chat_keys` is set; 0: none named).
    pub active_chat_key: i32,
    /// How often a running server looks at `chat_keys.json` for a new active key (seconds).
    pub key_reload_secs: u64,
    /// How many of the newest messages an admin search decrypts and scans at most.
    pub search_scan_limit: u64,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            require_reason: false,
            retention_grace_secs: 86_400,
            retention_interval_secs: 3600,
            retention_batch: 500,
            chat_keys: Vec::new(),
            active_chat_key: 0,
            key_reload_secs: 10,
            search_scan_limit: 5000,
        }
    }
}

/// One key of `privacy.chat_keys` (its `Debug` does not show the key).
#[derive(Debug, Clone, Deserialize)]
pub struct ChatKeySetting {
    pub id: i32,
    pub key: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UploadSettings {
    pub max_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StatsSettings {
    pub timezone: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: String,
    pub level: String,
}

/// The configuration key an environment variable sets (`MYCHAT__SERVER__BIND` → `server.bind`,
/// `DATABASE_URL` → `database.url`, `MYCHAT_ENV` → `env`), or `None` when the configuration does not
/// read that name. Whether the key exists is up to the caller (`figment().find_value`).
pub fn env_key(name: &str) -> Option<String> {
    if name == "MYCHAT_ENV" {
        return Some("env".into());
    }
    if let Some((_, key)) = SHORT_ENV_NAMES.iter().find(|(short, _)| *short == name) {
        return Some((*key).into());
    }
    name.strip_prefix("MYCHAT__")
        .filter(|rest| !rest.is_empty())
        .map(|rest| {
            rest.split("__")
                .collect::<Vec<_>>()
                .join(".")
                .to_lowercase()
        })
}

impl Settings {
    /// Loads the settings for the environment named by `MYCHAT_ENV` (default `development`).
    pub fn load() -> anyhow::Result<Self> {
        let env = std::env::var("MYCHAT_ENV").unwrap_or_else(|_| default_env());
        Self::from_figment(Self::figment(&env, Path::new("config")))
    }

    /// The layered configuration for `env`, reading override files from `config_dir` when present.
    /// Tests merge their own values on top of this.
    pub fn figment(env: &str, config_dir: &Path) -> Figment {
        let embedded_env = match env {
            "development" => EMBEDDED_DEVELOPMENT,
            "production" => EMBEDDED_PRODUCTION,
            "test" => EMBEDDED_TEST,
            _ => "",
        };
        let short_names = Env::raw().filter_map(|key| {
            let upper = key.as_str().to_ascii_uppercase();
            SHORT_ENV_NAMES
                .iter()
                .find(|(name, _)| *name == upper)
                .map(|(_, target)| (*target).into())
        });
        Figment::new()
            .merge(Toml::string(EMBEDDED_DEFAULT))
            .merge(Toml::string(embedded_env))
            .merge(Toml::file(config_dir.join("default.toml")))
            .merge(Toml::file(config_dir.join(format!("{env}.toml"))))
            .merge(Serialized::default("env", env))
            .merge(short_names)
            .merge(Env::prefixed("MYCHAT__").split("__"))
    }

    pub fn from_figment(figment: Figment) -> anyhow::Result<Self> {
        let settings: Settings = figment.extract()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.billing.platform_commission),
            "billing.platform_commission must be between 0 and 1"
        );
        anyhow::ensure!(
            self.auth.access_token_ttl_hours > 0,
            "auth.access_token_ttl_hours must be positive"
        );
        anyhow::ensure!(
            self.order.payment_timeout_minutes > 0,
            "order.payment_timeout_minutes must be positive"
        );
        self.stats
            .timezone
            .parse::<chrono_tz::Tz>()
            .map_err(|e| anyhow::anyhow!("stats.timezone: {e}"))?;
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.env == "production"
    }

    /// The database URL, defaulting to a SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        if self.database.url.trim().is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("mychat.db").display()
            )
        } else {
            self.database.url.clone()
        }
    }

    pub fn redis_url(&self) -> Option<&str> {
        let url = self.redis.url.trim();
        (!url.is_empty()).then_some(url)
    }

    pub fn uploads_dir(&self) -> PathBuf {
        self.server.data_dir.join("uploads")
    }
}
