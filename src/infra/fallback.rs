//! What the request paths use while Redis is unreachable: the cache is bypassed (a miss, a write that is
//! skipped) and rate limits are counted by this instance alone. Each failure is logged at `debug` only:
//! the Redis watch (see `app.rs`) logs the outage once, and no request becomes a 500.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Cache, MemoryRateLimiter, RateDecision, RateLimiter};

/// A cache that answers "not cached" when its store fails.
pub struct BypassedCache<C>(pub Arc<C>);

#[async_trait]
impl<C: Cache + 'static> Cache for BypassedCache<C> {
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        Ok(self.0.get(key).await.unwrap_or_else(|e| {
            tracing::debug!(error.cause_chain = ?e, "cache read failed: bypassing the cache");
            None
        }))
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()> {
        if let Err(e) = self.0.set(key, value, ttl).await {
            tracing::debug!(error.cause_chain = ?e, "cache write failed: bypassing the cache");
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        // A failed invalidation is not bypassed: the caller must know the old value may still be served.
        self.0.delete(key).await
    }
}

/// A shared rate limiter that counts in this instance's memory while the shared one fails.
pub struct LocalRateLimiter<L> {
    shared: Arc<L>,
    local: MemoryRateLimiter,
}

impl<L> LocalRateLimiter<L> {
    pub fn new(shared: Arc<L>) -> Self {
        Self {
            shared,
            local: MemoryRateLimiter::default(),
        }
    }
}

#[async_trait]
impl<L: RateLimiter + 'static> RateLimiter for LocalRateLimiter<L> {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> anyhow::Result<RateDecision> {
        match self.shared.hit(key, limit, window).await {
            Ok(decision) => Ok(decision),
            Err(e) => {
                tracing::debug!(error.cause_chain = ?e, "shared rate limiter failed: counting on this instance");
                self.local.hit(key, limit, window).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Down;

    #[async_trait]
    impl Cache for Down {
        async fn get(&self, _: &str) -> anyhow::Result<Option<String>> {
            anyhow::bail!("connection refused")
        }
        async fn set(&self, _: &str, _: &str, _: Duration) -> anyhow::Result<()> {
            anyhow::bail!("connection refused")
        }
        async fn delete(&self, _: &str) -> anyhow::Result<()> {
            anyhow::bail!("connection refused")
        }
    }

    #[async_trait]
    impl RateLimiter for Down {
        async fn hit(&self, _: &str, _: u32, _: Duration) -> anyhow::Result<RateDecision> {
            anyhow::bail!("connection refused")
        }
    }

    #[tokio::test]
    async fn a_failing_store_is_bypassed_and_counted_locally() {
        let cache = BypassedCache(Arc::new(Down));
        cache.set("k", "v", Duration::from_secs(5)).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), None);
        let limiter = LocalRateLimiter::new(Arc::new(Down));
        let window = Duration::from_secs(60);
        assert!(limiter.hit("ip", 2, window).await.unwrap().allowed);
        assert!(limiter.hit("ip", 2, window).await.unwrap().allowed);
        assert!(!limiter.hit("ip", 2, window).await.unwrap().allowed);
    }
}
