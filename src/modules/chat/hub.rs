//! The live connections of this instance, and delivery to them from any instance.
//!
//! Every delivery goes through pub/sub (Redis when configured, an in-process channel otherwise), so a
//! frame for a user reaches their sockets wherever they are connected. A frame goes straight into the
//! socket's bounded outgoing queue (actix-ws's, 32 frames) without waiting: a consumer too slow to keep
//! up is disconnected rather than allowed to slow anyone else.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_ws::{CloseCode, CloseReason};
use bytestring::ByteString;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use futures_util::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;

use crate::infra::{Presence, PubSub, TokenRevocation};

const CHANNEL: &str = "ws:deliveries";
/// How long a presence entry lives without a heartbeat.
pub const PRESENCE_TTL: Duration = Duration::from_secs(90);

/// Who a delivery is for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Users(Vec<i64>),
    All,
}

/// What to do with the target's connections. On the wire a frame delivery is this header as one JSON line,
/// then the frame text as it is, so a frame is neither escaped nor parsed on its way through pub/sub.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Delivery {
    Frame {
        target: Target,
    },
    /// Close the connections (and revoke the tokens they were opened with).
    Kick {
        target: Target,
        reason: String,
    },
}

/// One socket, as the hub knows it.
pub struct Connection {
    pub user_id: i64,
    pub connected_at: DateTime<Utc>,
    /// The session this socket is attached to (path session or last `join`).
    pub session_id: Option<i64>,
    /// The token it was opened with, revoked if the user is kicked.
    pub jti: String,
    pub token_ttl: Duration,
    /// The socket's outgoing side; the connection task holds another handle on the same queue.
    socket: actix_ws::Session,
    /// Fired when the hub wants the connection's task gone (slow consumer, kick, shutdown).
    kill: Arc<Notify>,
}

/// Handle a connection task keeps.
pub struct Registration {
    pub id: u64,
    pub kill: Arc<Notify>,
}

pub struct Hub {
    conns: DashMap<u64, Connection>,
    by_user: DashMap<i64, HashSet<u64>>,
    next_id: AtomicU64,
    instance_id: String,
    pubsub: Arc<dyn PubSub>,
    presence: Arc<dyn Presence>,
    revocation: Arc<dyn TokenRevocation>,
}

impl Hub {
    pub fn new(
        pubsub: Arc<dyn PubSub>,
        presence: Arc<dyn Presence>,
        revocation: Arc<dyn TokenRevocation>,
    ) -> Arc<Self> {
        Arc::new(Self {
            conns: DashMap::new(),
            by_user: DashMap::new(),
            next_id: AtomicU64::new(1),
            instance_id: uuid::Uuid::new_v4().simple().to_string(),
            pubsub,
            presence,
            revocation,
        })
    }

    fn connection_key(&self, id: u64) -> String {
        format!("{}:{id}", self.instance_id)
    }

    /// Adds a socket of `user_id` and marks the user present.
    pub async fn register(
        &self,
        user_id: i64,
        session_id: Option<i64>,
        jti: String,
        token_ttl: Duration,
        socket: actix_ws::Session,
    ) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let kill = Arc::new(Notify::new());
        self.conns.insert(
            id,
            Connection {
                user_id,
                connected_at: Utc::now(),
                session_id,
                jti,
                token_ttl,
                socket,
                kill: kill.clone(),
            },
        );
        self.by_user.entry(user_id).or_default().insert(id);
        self.heartbeat(id).await;
        Registration { id, kill }
    }

    /// Refreshes the presence of a connection's user.
    pub async fn heartbeat(&self, id: u64) {
        let Some(user_id) = self.conns.get(&id).map(|c| c.user_id) else {
            return;
        };
        if let Err(e) = self
            .presence
            .heartbeat(user_id, &self.connection_key(id), PRESENCE_TTL)
            .await
        {
            tracing::warn!(error.cause_chain = ?e, "presence heartbeat failed");
        }
    }

    pub async fn unregister(&self, id: u64) {
        let Some((_, conn)) = self.conns.remove(&id) else {
            return;
        };
        if let Some(mut ids) = self.by_user.get_mut(&conn.user_id) {
            ids.remove(&id);
        }
        self.by_user
            .remove_if(&conn.user_id, |_, ids| ids.is_empty());
        if let Err(e) = self
            .presence
            .remove(conn.user_id, &self.connection_key(id))
            .await
        {
            tracing::warn!(error.cause_chain = ?e, "presence removal failed");
        }
    }

    pub fn set_session(&self, id: u64, session_id: i64) {
        if let Some(mut c) = self.conns.get_mut(&id) {
            c.session_id = Some(session_id);
        }
    }

    /// Sends `frame` to every connection of the target, on every instance.
    pub async fn send(&self, target: Target, frame: &Value) {
        self.publish(&Delivery::Frame { target }, Some(&frame.to_string()))
            .await;
    }

    /// Closes every connection of `user_id` on every instance and revokes their tokens.
    pub async fn kick(&self, user_id: i64, reason: &str) {
        let kick = Delivery::Kick {
            target: Target::Users(vec![user_id]),
            reason: reason.to_owned(),
        };
        self.publish(&kick, None).await;
    }

    async fn publish(&self, delivery: &Delivery, frame: Option<&str>) {
        let mut payload = match serde_json::to_string(delivery) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "unserializable delivery");
                return;
            }
        };
        if let Some(frame) = frame {
            payload.push('\n');
            payload.push_str(frame);
        }
        if let Err(e) = self.pubsub.publish(CHANNEL, &payload).await {
            tracing::warn!(error.cause_chain = ?e, "delivery publish failed; delivering locally only");
            self.deliver_payload(payload).await;
        }
    }

    /// Delivers a payload as `publish` wrote it.
    async fn deliver_payload(&self, mut payload: String) {
        let frame = payload.find('\n').map(|at| {
            let frame = payload.split_off(at + 1);
            payload.pop();
            ByteString::from(frame)
        });
        match serde_json::from_str::<Delivery>(&payload) {
            Ok(delivery) => self.deliver_local(&delivery, frame).await,
            Err(e) => tracing::warn!(error = %e, "unreadable delivery"),
        }
    }

    /// Hands deliveries from pub/sub to this instance's sockets until `shutdown`.
    pub async fn run_listener(
        self: Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut stream = self.pubsub.subscribe(CHANNEL).await?;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                next = stream.next() => {
                    let Some(payload) = next else { return Ok(()) };
                    self.deliver_payload(payload).await;
                }
            }
        }
    }

    fn local_ids(&self, target: &Target) -> Vec<u64> {
        match target {
            Target::All => self.conns.iter().map(|c| *c.key()).collect(),
            Target::Users(users) => users
                .iter()
                .filter_map(|u| self.by_user.get(u).map(|ids| ids.clone()))
                .flatten()
                .collect(),
        }
    }

    async fn deliver_local(&self, delivery: &Delivery, frame: Option<ByteString>) {
        match delivery {
            Delivery::Frame { target } => {
                let Some(frame) = frame else {
                    tracing::warn!("frame delivery without a frame");
                    return;
                };
                for id in self.local_ids(target) {
                    self.push(id, frame.clone());
                }
            }
            Delivery::Kick { target, reason } => {
                for id in self.local_ids(target) {
                    let token = self.conns.get(&id).map(|c| (c.jti.clone(), c.token_ttl));
                    if let Some((jti, ttl)) = token
                        && let Err(e) = self.revocation.revoke(&jti, ttl).await
                    {
                        tracing::warn!(error.cause_chain = ?e, "token revocation on kick failed");
                    }
                    self.close(id, reason);
                }
            }
        }
    }

    /// Queues a frame on the socket without waiting; a full queue means a slow consumer, which is
    /// disconnected. (A send that is not ready at once is dropped unsent: the queue's sends are
    /// cancel-safe.)
    fn push(&self, id: u64, frame: ByteString) {
        let Some(mut conn) = self.conns.get_mut(&id) else {
            return;
        };
        // Unconstrained: a fan-out to thousands of sockets would otherwise use up this task's
        // cooperative budget, and every send after that would look like a full queue.
        let sent = tokio::task::unconstrained(conn.socket.text(frame)).now_or_never();
        if sent.is_none() {
            tracing::warn!(
                connection = id,
                user_id = conn.user_id,
                "send queue full: disconnecting slow consumer"
            );
            conn.kill.notify_one();
        }
    }

    /// Sends a close frame with `reason` (when the queue has room) and ends the connection's task.
    fn close(&self, id: u64, reason: &str) {
        if let Some(conn) = self.conns.get(&id) {
            let close = CloseReason {
                code: CloseCode::Normal,
                description: Some(reason.to_owned()),
            };
            let _ =
                tokio::task::unconstrained(conn.socket.clone().close(Some(close))).now_or_never();
            conn.kill.notify_one();
        }
    }

    /// Asks every local socket to close (graceful shutdown).
    pub fn close_all(&self, reason: &str) {
        let ids: Vec<u64> = self.conns.iter().map(|c| *c.key()).collect();
        for id in ids {
            self.close(id, reason);
        }
    }

    pub fn local_connection_count(&self) -> usize {
        self.conns.len()
    }

    /// This instance's connections of `user_id`: (connected at, attached session).
    pub fn local_connections_of(&self, user_id: i64) -> Vec<(DateTime<Utc>, Option<i64>)> {
        self.local_ids(&Target::Users(vec![user_id]))
            .into_iter()
            .filter_map(|id| self.conns.get(&id).map(|c| (c.connected_at, c.session_id)))
            .collect()
    }

    /// Users online on any instance.
    pub async fn online_users(&self) -> Vec<i64> {
        self.presence.online_users().await.unwrap_or_else(|e| {
            tracing::warn!(error.cause_chain = ?e, "presence lookup failed");
            Vec::new()
        })
    }

    pub async fn is_online(&self, user_id: i64) -> bool {
        self.presence.is_online(user_id).await.unwrap_or(false)
    }
}

/// A frame as the clients know it: `{type, session_id, data}` (session_id always present).
pub fn frame(kind: &str, session_id: i64, data: Value) -> Value {
    serde_json::json!({ "type": kind, "session_id": session_id, "data": data })
}

/// The `error` frame.
pub fn error_frame(message: &str) -> Value {
    frame("error", 0, serde_json::json!({ "error": message }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::{MemoryPresence, MemoryPubSub, MemoryRevocation};
    use actix_web::FromRequest;
    use actix_web::body::MessageBody;

    fn hub() -> Arc<Hub> {
        Hub::new(
            Arc::new(MemoryPubSub::default()),
            Arc::new(MemoryPresence::default()),
            Arc::new(MemoryRevocation::default()),
        )
    }

    /// A real actix-ws socket without a network: its outgoing frames are read from the response body.
    async fn socket() -> (actix_ws::Session, actix_web::body::BoxBody) {
        let (req, mut payload) = actix_web::test::TestRequest::default()
            .insert_header(("upgrade", "websocket"))
            .insert_header(("connection", "upgrade"))
            .insert_header(("sec-websocket-version", "13"))
            .insert_header(("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="))
            .to_http_parts();
        let body = actix_web::web::Payload::from_request(&req, &mut payload)
            .await
            .expect("payload");
        let (response, session, _stream) = actix_ws::handle(&req, body).expect("handshake");
        (session, response.into_body())
    }

    /// The next chunk the socket would write, if one comes soon.
    async fn next_written(body: &mut actix_web::body::BoxBody) -> Option<Vec<u8>> {
        let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_next(cx));
        match tokio::time::timeout(Duration::from_millis(50), next).await {
            Ok(Some(Ok(bytes))) => Some(bytes.to_vec()),
            _ => None,
        }
    }

    #[actix_web::test]
    async fn a_slow_consumer_is_told_to_go_instead_of_blocking() {
        let hub = hub();
        // Nobody drains this socket's queue.
        let (session, _body) = socket().await;
        let reg = hub
            .register(7, None, "j".into(), Duration::from_secs(60), session)
            .await;
        let killed = reg.kill.clone();
        let waiter = tokio::spawn(async move { killed.notified().await });
        for _ in 0..100 {
            hub.push(reg.id, ByteString::from_static("x"));
        }
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("kill fired")
            .unwrap();
    }

    #[actix_web::test]
    async fn a_broadcast_to_many_sockets_disconnects_none_of_them() {
        let hub = hub();
        let mut sockets = Vec::new();
        // Well past tokio's cooperative budget of 128 operations per task poll.
        for i in 0..600 {
            let (session, body) = socket().await;
            let reg = hub
                .register(i, None, format!("j{i}"), Duration::from_secs(60), session)
                .await;
            sockets.push((reg, body));
        }
        hub.deliver_local(
            &Delivery::Frame {
                target: Target::All,
            },
            Some(ByteString::from_static("{\"type\":\"system_message\"}")),
        )
        .await;
        for (reg, body) in &mut sockets {
            let killed = tokio::time::timeout(Duration::from_millis(1), reg.kill.notified()).await;
            assert!(killed.is_err(), "socket {} was told to go", reg.id);
            assert!(
                next_written(body).await.is_some(),
                "socket {} got nothing",
                reg.id
            );
        }
    }

    #[actix_web::test]
    async fn every_connection_of_a_user_gets_the_frame() {
        let hub = hub();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let listener = tokio::spawn(hub.clone().run_listener(rx));
        tokio::task::yield_now().await;
        let (sa, mut a) = socket().await;
        let (sb, mut b) = socket().await;
        let (sc, mut other) = socket().await;
        let ra = hub
            .register(1, None, "a".into(), Duration::from_secs(60), sa)
            .await;
        let rb = hub
            .register(1, None, "b".into(), Duration::from_secs(60), sb)
            .await;
        hub.register(2, None, "c".into(), Duration::from_secs(60), sc)
            .await;
        // The listener subscribes asynchronously; retry until it is up.
        let mut got = None;
        for _ in 0..50 {
            hub.send(Target::Users(vec![1]), &frame("ping", 0, Value::Null))
                .await;
            if let Some(bytes) = next_written(&mut a).await {
                got = Some(bytes);
                break;
            }
        }
        let contains_ping = |bytes: &[u8]| bytes.windows(6).any(|w| w == b"\"ping\"");
        assert!(got.as_deref().is_some_and(contains_ping));
        assert!(
            next_written(&mut b)
                .await
                .as_deref()
                .is_some_and(contains_ping)
        );
        assert!(next_written(&mut other).await.is_none());
        assert!(hub.is_online(1).await);
        hub.unregister(ra.id).await;
        hub.unregister(rb.id).await;
        assert!(!hub.is_online(1).await);
        tx.send(true).unwrap();
        listener.await.unwrap().unwrap();
    }
}
