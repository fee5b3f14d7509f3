//! Shared infrastructure behind traits, each with an in-memory implementation (one instance, the embedded
//! default) and a Redis one (several instances sharing state): cache, presence, pub/sub, rate limiting
//! and token revocation.

mod memory;
mod redis_impl;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

pub use memory::{MemoryCache, MemoryPresence, MemoryPubSub, MemoryRateLimiter, MemoryRevocation};
pub use redis_impl::{RedisBackend, connect_redis};

/// A string cache with per-key expiry.
#[async_trait]
pub trait Cache: Send + Sync {
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>>;
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()>;
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
}

/// Which users have live connections, refreshed by heartbeats that expire.
#[async_trait]
pub trait Presence: Send + Sync {
    /// Marks one connection of a user alive for `ttl`.
    async fn heartbeat(
        &self,
        user_id: i64,
        connection_id: &str,
        ttl: Duration,
    ) -> anyhow::Result<()>;
    /// Forgets one connection; the user is offline when none is left.
    async fn remove(&self, user_id: i64, connection_id: &str) -> anyhow::Result<()>;
    async fn is_online(&self, user_id: i64) -> anyhow::Result<bool>;
    /// Every user with at least one live connection, ascending.
    async fn online_users(&self) -> anyhow::Result<Vec<i64>>;
}

/// Fire-and-forget messages between instances.
#[async_trait]
pub trait PubSub: Send + Sync {
    async fn publish(&self, channel: &str, payload: &str) -> anyhow::Result<()>;
    /// A stream of payloads published on `channel` from now on.
    async fn subscribe(&self, channel: &str) -> anyhow::Result<BoxStream<'static, String>>;
}

/// What a rate limiter says about one more attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// Attempts counted in the current window, including this one.
    pub count: u32,
}

/// Fixed-window counters.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one attempt under `key` and says whether it is within `limit` per `window`.
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> anyhow::Result<RateDecision>;
}

/// Revoked token ids (`jti`), kept until the token would have expired anyway.
#[async_trait]
pub trait TokenRevocation: Send + Sync {
    async fn revoke(&self, jti: &str, ttl: Duration) -> anyhow::Result<()>;
    async fn is_revoked(&self, jti: &str) -> anyhow::Result<bool>;
}

/// The set of implementations the app runs with.
#[derive(Clone)]
pub struct Infra {
    pub cache: Arc<dyn Cache>,
    pub presence: Arc<dyn Presence>,
    pub pubsub: Arc<dyn PubSub>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub revocation: Arc<dyn TokenRevocation>,
    /// Set when Redis backs the above, for health checks.
    pub redis: Option<RedisBackend>,
}

impl Infra {
    pub fn in_memory() -> Self {
        Self {
            cache: Arc::new(MemoryCache::default()),
            presence: Arc::new(MemoryPresence::default()),
            pubsub: Arc::new(MemoryPubSub::default()),
            rate_limiter: Arc::new(MemoryRateLimiter::default()),
            revocation: Arc::new(MemoryRevocation::default()),
            redis: None,
        }
    }

    pub fn redis(backend: RedisBackend) -> Self {
        let shared = Arc::new(backend.clone());
        Self {
            cache: shared.clone(),
            presence: shared.clone(),
            pubsub: shared.clone(),
            rate_limiter: shared.clone(),
            revocation: shared,
            redis: Some(backend),
        }
    }

    /// `None` when Redis is not configured, else whether it answers a PING.
    pub async fn redis_healthy(&self) -> Option<bool> {
        match &self.redis {
            None => None,
            Some(backend) => Some(backend.ping().await.is_ok()),
        }
    }
}
