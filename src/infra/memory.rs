//! In-memory implementations for a single instance.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::DashMap;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use super::{Cache, Presence, PubSub, RateDecision, RateLimiter, Subscription, TokenRevocation};

/// Expired entries are swept when the map grows past this many, so memory stays bounded.
const SWEEP_THRESHOLD: usize = 10_000;
/// ...and then only on every this-many writes, so a large live map is not scanned on each write.
const SWEEP_EVERY: u64 = 4096;

/// Counts writes and says when a sweep is due.
#[derive(Default)]
struct SweepClock(std::sync::atomic::AtomicU64);

impl SweepClock {
    fn due(&self, len: usize) -> bool {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        len > SWEEP_THRESHOLD && n.is_multiple_of(SWEEP_EVERY)
    }
}

#[derive(Default)]
pub struct MemoryCache {
    entries: DashMap<String, (String, Instant)>,
    sweep: SweepClock,
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        let now = Instant::now();
        if let Some(entry) = self.entries.get(key) {
            if entry.1 > now {
                return Ok(Some(entry.0.clone()));
            }
        } else {
            return Ok(None);
        }
        self.entries.remove_if(key, |_, (_, exp)| *exp <= now);
        Ok(None)
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()> {
        if self.sweep.due(self.entries.len()) {
            let now = Instant::now();
            self.entries.retain(|_, (_, exp)| *exp > now);
        }
        self.entries
            .insert(key.to_owned(), (value.to_owned(), Instant::now() + ttl));
        Ok(())
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.entries.remove(key);
        Ok(())
    }
}

#[derive(Default)]
pub struct MemoryPresence {
    /// user id → connection id → expiry
    users: DashMap<i64, HashMap<String, Instant>>,
}

#[async_trait]
impl Presence for MemoryPresence {
    async fn heartbeat(
        &self,
        user_id: i64,
        connection_id: &str,
        ttl: Duration,
    ) -> anyhow::Result<()> {
        self.users
            .entry(user_id)
            .or_default()
            .insert(connection_id.to_owned(), Instant::now() + ttl);
        Ok(())
    }

    async fn refresh(&self, entries: &[(i64, String)], ttl: Duration) -> anyhow::Result<()> {
        let expires = Instant::now() + ttl;
        for (user_id, connection_id) in entries {
            if let Some(mut conns) = self.users.get_mut(user_id)
                && let Some(exp) = conns.get_mut(connection_id)
            {
                *exp = expires;
            }
        }
        Ok(())
    }

    async fn remove_user(&self, user_id: i64) -> anyhow::Result<()> {
        self.users.remove(&user_id);
        Ok(())
    }

    async fn remove(&self, user_id: i64, connection_id: &str) -> anyhow::Result<()> {
        if let Some(mut conns) = self.users.get_mut(&user_id) {
            conns.remove(connection_id);
        }
        self.users.remove_if(&user_id, |_, conns| conns.is_empty());
        Ok(())
    }

    async fn is_online(&self, user_id: i64) -> anyhow::Result<bool> {
        let now = Instant::now();
        Ok(self
            .users
            .get(&user_id)
            .is_some_and(|conns| conns.values().any(|exp| *exp > now)))
    }

    async fn online_users(&self) -> anyhow::Result<Vec<i64>> {
        let now = Instant::now();
        let online: BTreeSet<i64> = self
            .users
            .iter()
            .filter(|e| e.value().values().any(|exp| *exp > now))
            .map(|e| *e.key())
            .collect();
        Ok(online.into_iter().collect())
    }
}

/// Payloads a subscriber may fall behind by before it loses some: a burst of chat traffic queues here
/// while the hub's listener hands frames to sockets.
const PUBSUB_CAPACITY: usize = 16 * 1024;

pub struct MemoryPubSub {
    channels: DashMap<String, broadcast::Sender<String>>,
}

impl Default for MemoryPubSub {
    fn default() -> Self {
        Self {
            channels: DashMap::new(),
        }
    }
}

impl MemoryPubSub {
    fn sender(&self, channel: &str) -> broadcast::Sender<String> {
        self.channels
            .entry(channel.to_owned())
            .or_insert_with(|| broadcast::channel(PUBSUB_CAPACITY).0)
            .clone()
    }
}

#[async_trait]
impl PubSub for MemoryPubSub {
    async fn publish(&self, channel: &str, payload: &str) -> anyhow::Result<()> {
        // No subscriber is not an error: pub/sub is fire-and-forget.
        let _ = self.sender(channel).send(payload.to_owned());
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> anyhow::Result<Subscription> {
        let receiver = self.sender(channel).subscribe();
        let messages: BoxStream<'static, String> = BroadcastStream::new(receiver)
            .filter_map(|item| async move {
                item.map_err(|lagged| {
                    // Pub/sub is fire-and-forget like Redis's, but a loss must not go unnoticed.
                    tracing::warn!(error = %lagged, "in-memory pub/sub subscriber fell behind");
                })
                .ok()
            })
            .boxed();
        Ok(Subscription {
            messages,
            probe: None,
        })
    }
}

#[derive(Default)]
pub struct MemoryRateLimiter {
    /// key → (window start, count)
    windows: Mutex<HashMap<String, (Instant, u32)>>,
    sweep: SweepClock,
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> anyhow::Result<RateDecision> {
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .map_err(|_| anyhow::anyhow!("rate limiter lock poisoned"))?;
        if self.sweep.due(windows.len()) {
            windows.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        Ok(RateDecision {
            allowed: entry.1 <= limit,
            count: entry.1,
        })
    }
}

#[derive(Default)]
pub struct MemoryRevocation {
    revoked: DashMap<String, Instant>,
    sweep: SweepClock,
}

#[async_trait]
impl TokenRevocation for MemoryRevocation {
    async fn revoke(&self, jti: &str, ttl: Duration) -> anyhow::Result<()> {
        if self.sweep.due(self.revoked.len()) {
            let now = Instant::now();
            self.revoked.retain(|_, exp| *exp > now);
        }
        self.revoked.insert(jti.to_owned(), Instant::now() + ttl);
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> anyhow::Result<bool> {
        Ok(self
            .revoked
            .get(jti)
            .is_some_and(|exp| *exp > Instant::now()))
    }

    async fn restore(&self, entries: &[(String, Duration)]) -> anyhow::Result<()> {
        for (jti, ttl) in entries {
            self.revoke(jti, *ttl).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rate_limiter_counts_within_a_window() {
        let limiter = MemoryRateLimiter::default();
        let window = Duration::from_secs(60);
        for i in 1..=3 {
            let d = limiter.hit("k", 3, window).await.unwrap();
            assert!(d.allowed, "attempt {i} should pass");
        }
        assert!(!limiter.hit("k", 3, window).await.unwrap().allowed);
        assert!(limiter.hit("other", 3, window).await.unwrap().allowed);
    }

    #[tokio::test]
    async fn cache_entries_expire() {
        let cache = MemoryCache::default();
        cache.set("a", "1", Duration::from_millis(0)).await.unwrap();
        assert_eq!(cache.get("a").await.unwrap(), None);
        cache.set("b", "2", Duration::from_secs(60)).await.unwrap();
        assert_eq!(cache.get("b").await.unwrap().as_deref(), Some("2"));
        cache.delete("b").await.unwrap();
        assert_eq!(cache.get("b").await.unwrap(), None);
    }

    #[tokio::test]
    async fn presence_tracks_each_connection() {
        let p = MemoryPresence::default();
        let ttl = Duration::from_secs(60);
        p.heartbeat(7, "a", ttl).await.unwrap();
        p.heartbeat(7, "b", ttl).await.unwrap();
        p.remove(7, "a").await.unwrap();
        assert!(p.is_online(7).await.unwrap());
        p.remove(7, "b").await.unwrap();
        assert!(!p.is_online(7).await.unwrap());
        assert!(p.online_users().await.unwrap().is_empty());
        // A refresh does not bring back what was removed (a kick elsewhere).
        p.refresh(&[(7, "b".into())], ttl).await.unwrap();
        assert!(!p.is_online(7).await.unwrap());
        p.heartbeat(8, "c", Duration::from_millis(0)).await.unwrap();
        p.refresh(&[(8, "c".into())], ttl).await.unwrap();
        assert!(p.is_online(8).await.unwrap(), "a refresh extends");
        p.remove_user(8).await.unwrap();
        assert!(!p.is_online(8).await.unwrap());
    }

    #[tokio::test]
    async fn pubsub_delivers_to_subscribers() {
        let ps = MemoryPubSub::default();
        let mut sub = ps.subscribe("c").await.unwrap();
        ps.publish("c", "hello").await.unwrap();
        assert_eq!(sub.messages.next().await.as_deref(), Some("hello"));
    }
}
