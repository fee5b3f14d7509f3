//! Redis implementations, shared by every instance pointed at the same Redis. Keys and channels carry the
//! configured prefix.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use async_trait::async_trait;
use deadpool_redis::redis::{self, AsyncCommands};
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};
use futures_util::{FutureExt, StreamExt};

use super::{Cache, Presence, PubSub, RateDecision, RateLimiter, Subscription, TokenRevocation};

/// How long a request waits for a Redis connection before it gives up and falls back: a refused
/// connection fails at once, this bounds one that hangs.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Set once the revocation list has been loaded from the database: without it (Redis restarted empty)
/// "not revoked" is not a trustworthy answer.
const REVOCATIONS_COMPLETE: &str = "revoked:complete";
/// Presence entries refreshed per script call.
const REFRESH_CHUNK: usize = 500;
/// Extends the entries that still exist. KEYS: the user set, then one hash per entry; ARGV: expiry (ms),
/// ttl (ms), then user id and connection id per entry.
const REFRESH_SCRIPT: &str = r"
for i = 2, #KEYS do
  local conn = ARGV[2 * i]
  if redis.call('HEXISTS', KEYS[i], conn) == 1 then
    redis.call('HSET', KEYS[i], conn, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2 * i - 1])
  end
end
return 0
";

#[derive(Clone)]
pub struct RedisBackend {
    pool: Pool,
    /// Pub/sub connections are not pooled: each subscription opens its own from this client.
    client: redis::Client,
    prefix: String,
}

/// Connects and checks the connection with a PING, so a wrong URL fails at start-up.
pub async fn connect_redis(url: &str, prefix: &str) -> anyhow::Result<RedisBackend> {
    let mut config = Config::from_url(url);
    config.pool = Some(PoolConfig {
        timeouts: Timeouts {
            wait: Some(CONNECT_TIMEOUT),
            create: Some(CONNECT_TIMEOUT),
            recycle: Some(CONNECT_TIMEOUT),
        },
        ..PoolConfig::default()
    });
    let pool = config
        .create_pool(Some(Runtime::Tokio1))
        .context("invalid REDIS_URL")?;
    let client = redis::Client::open(url).context("invalid REDIS_URL")?;
    let backend = RedisBackend {
        pool,
        client,
        prefix: prefix.to_owned(),
    };
    backend.ping().await.context("Redis did not answer PING")?;
    Ok(backend)
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl RedisBackend {
    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    async fn conn(&self) -> anyhow::Result<deadpool_redis::Connection> {
        self.pool
            .get()
            .await
            .context("no Redis connection available")
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Whether the revocation list was loaded since Redis last started (false after a restart without
    /// persistence, until it is rebuilt).
    pub async fn revocations_loaded(&self) -> anyhow::Result<bool> {
        let mut conn = self.conn().await?;
        Ok(conn.exists(self.key(REVOCATIONS_COMPLETE)).await?)
    }

    fn presence_set(&self) -> String {
        self.key("presence:users")
    }

    fn presence_user(&self, user_id: i64) -> String {
        self.key(&format!("presence:user:{user_id}"))
    }
}

#[async_trait]
impl Cache for RedisBackend {
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        let mut conn = self.conn().await?;
        Ok(conn.get(self.key(key)).await?)
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        let _: () = conn
            .set_ex(self.key(key), value, ttl.as_secs().max(1))
            .await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        let _: () = conn.del(self.key(key)).await?;
        Ok(())
    }
}

/// Presence: one hash per user (connection id → expiry in ms) and a sorted set of users scored by their
/// latest expiry, so expired users fall out without a sweeper.
#[async_trait]
impl Presence for RedisBackend {
    async fn heartbeat(
        &self,
        user_id: i64,
        connection_id: &str,
        ttl: Duration,
    ) -> anyhow::Result<()> {
        let expires = unix_millis() + ttl.as_millis() as i64;
        let user_key = self.presence_user(user_id);
        let mut conn = self.conn().await?;
        let _: () = redis::pipe()
            .atomic()
            .hset(&user_key, connection_id, expires)
            .pexpire(&user_key, ttl.as_millis() as i64)
            .zadd(self.presence_set(), user_id, expires)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn refresh(&self, entries: &[(i64, String)], ttl: Duration) -> anyhow::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let script = redis::Script::new(REFRESH_SCRIPT);
        let expires = unix_millis() + ttl.as_millis() as i64;
        let mut conn = self.conn().await?;
        for chunk in entries.chunks(REFRESH_CHUNK) {
            let mut call = script.prepare_invoke();
            call.key(self.presence_set())
                .arg(expires)
                .arg(ttl.as_millis() as i64);
            for (user_id, connection_id) in chunk {
                call.key(self.presence_user(*user_id))
                    .arg(*user_id)
                    .arg(connection_id);
            }
            let _: i64 = call.invoke_async(&mut conn).await?;
        }
        Ok(())
    }

    async fn remove_user(&self, user_id: i64) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        let _: () = redis::pipe()
            .atomic()
            .del(self.presence_user(user_id))
            .zrem(self.presence_set(), user_id)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn remove(&self, user_id: i64, connection_id: &str) -> anyhow::Result<()> {
        let user_key = self.presence_user(user_id);
        let mut conn = self.conn().await?;
        let _: () = conn.hdel(&user_key, connection_id).await?;
        let remaining: std::collections::HashMap<String, i64> = conn.hgetall(&user_key).await?;
        let now = unix_millis();
        match remaining.values().copied().filter(|exp| *exp > now).max() {
            Some(latest) => {
                let _: () = conn.zadd(self.presence_set(), user_id, latest).await?;
            }
            None => {
                let _: () = conn.zrem(self.presence_set(), user_id).await?;
            }
        }
        Ok(())
    }

    async fn is_online(&self, user_id: i64) -> anyhow::Result<bool> {
        let mut conn = self.conn().await?;
        let score: Option<i64> = conn.zscore(self.presence_set(), user_id).await?;
        Ok(score.is_some_and(|exp| exp > unix_millis()))
    }

    async fn online_users(&self) -> anyhow::Result<Vec<i64>> {
        let mut conn = self.conn().await?;
        let now = unix_millis();
        let _: () = conn.zrembyscore(self.presence_set(), "-inf", now).await?;
        let mut users: Vec<i64> = conn.zrangebyscore(self.presence_set(), now, "+inf").await?;
        users.sort_unstable();
        Ok(users)
    }
}

#[async_trait]
impl PubSub for RedisBackend {
    async fn publish(&self, channel: &str, payload: &str) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        let _: () = conn.publish(self.key(channel), payload).await?;
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> anyhow::Result<Subscription> {
        let pubsub = tokio::time::timeout(CONNECT_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| anyhow::anyhow!("Redis did not accept a pub/sub connection in time"))?
            .context("cannot open a Redis pub/sub connection")?;
        let (mut sink, stream) = pubsub.split();
        sink.subscribe(self.key(channel)).await?;
        // The probe holds the sink, which keeps the connection open as long as the subscription lives.
        let probe = move || {
            let mut sink = sink.clone();
            async move {
                let _: redis::Value = sink.ping().await?;
                Ok(())
            }
            .boxed()
        };
        Ok(Subscription {
            messages: stream
                .filter_map(|msg| async move { msg.get_payload::<String>().ok() })
                .boxed(),
            probe: Some(Box::new(probe)),
        })
    }
}

#[async_trait]
impl RateLimiter for RedisBackend {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> anyhow::Result<RateDecision> {
        let key = self.key(&format!("rate:{key}"));
        let mut conn = self.conn().await?;
        // INCR, then start the window's clock only if this hit created the key.
        let (count, _): (u32, i64) = redis::pipe()
            .atomic()
            .incr(&key, 1u32)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(window.as_millis() as u64)
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        Ok(RateDecision {
            allowed: count <= limit,
            count,
        })
    }
}

#[async_trait]
impl TokenRevocation for RedisBackend {
    async fn revoke(&self, jti: &str, ttl: Duration) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        let _: () = conn
            .set_ex(self.key(&format!("revoked:{jti}")), 1, ttl.as_secs().max(1))
            .await?;
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> anyhow::Result<bool> {
        let mut conn = self.conn().await?;
        let (complete, revoked): (Option<String>, Option<String>) = redis::cmd("MGET")
            .arg(self.key(REVOCATIONS_COMPLETE))
            .arg(self.key(&format!("revoked:{jti}")))
            .query_async(&mut conn)
            .await?;
        if complete.is_none() {
            anyhow::bail!("the revocation list in Redis is not loaded");
        }
        Ok(revoked.is_some())
    }

    async fn restore(&self, entries: &[(String, Duration)]) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        let mut pipe = redis::pipe();
        for (jti, ttl) in entries {
            pipe.set_ex(self.key(&format!("revoked:{jti}")), 1, ttl.as_secs().max(1))
                .ignore();
        }
        pipe.set(self.key(REVOCATIONS_COMPLETE), 1).ignore();
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(())
    }
}
