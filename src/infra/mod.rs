//! Shared infrastructure behind traits, each with an in-memory implementation (one instance, the embedded
//! default) and a Redis one (several instances sharing state): cache, presence, pub/sub, rate limiting
//! and token revocation.
//!
//! With Redis, the request paths do not fail when Redis does: rate limits fall back to this instance's own
//! counters and the cache is bypassed ([`fallback`]); token revocations are kept durable by the auth module.

mod fallback;
mod memory;
mod redis_impl;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
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
    /// Extends the connections that still exist for `ttl`, in one round trip; one that was removed
    /// meanwhile (a kick on another instance) stays removed.
    async fn refresh(&self, entries: &[(i64, String)], ttl: Duration) -> anyhow::Result<()>;
    /// Forgets one connection; the user is offline when none is left.
    async fn remove(&self, user_id: i64, connection_id: &str) -> anyhow::Result<()>;
    /// Forgets every connection of a user, on every instance.
    async fn remove_user(&self, user_id: i64) -> anyhow::Result<()>;
    async fn is_online(&self, user_id: i64) -> anyhow::Result<bool>;
    /// Every user with at least one live connection, ascending.
    async fn online_users(&self) -> anyhow::Result<Vec<i64>>;
}

/// Fire-and-forget messages between instances.
#[async_trait]
pub trait PubSub: Send + Sync {
    async fn publish(&self, channel: &str, payload: &str) -> anyhow::Result<()>;
    /// The payloads published on `channel` from now on.
    async fn subscribe(&self, channel: &str) -> anyhow::Result<Subscription>;
}

/// Checks that a subscription still receives (a PING on its connection).
pub type Probe = Box<dyn FnMut() -> BoxFuture<'static, anyhow::Result<()>> + Send>;

/// A live subscription: its payloads, and how to check it when no payload comes.
pub struct Subscription {
    pub messages: BoxStream<'static, String>,
    /// `None` when the subscription cannot be lost without its stream ending (in-process).
    pub probe: Option<Probe>,
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
    /// An error when the answer is unknown, e.g. the store was emptied and not yet [`restore`]d.
    ///
    /// [`restore`]: TokenRevocation::restore
    async fn is_revoked(&self, jti: &str) -> anyhow::Result<bool>;
    /// Loads the durable list (token id, time left) and marks the store complete.
    async fn restore(&self, entries: &[(String, Duration)]) -> anyhow::Result<()>;
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
            cache: Arc::new(fallback::BypassedCache(shared.clone())),
            presence: shared.clone(),
            pubsub: shared.clone(),
            rate_limiter: Arc::new(fallback::LocalRateLimiter::new(shared.clone())),
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
