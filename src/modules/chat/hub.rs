//! The live connections of this instance, and delivery to them from any instance.
//!
//! Every delivery goes through pub/sub (Redis when configured, an in-process channel otherwise), so a
//! frame for a user reaches their sockets wherever they are connected. A frame is encoded once per
//! delivery and written to each socket without waiting (see [`super::socket`]): a consumer too slow to
//! keep up is disconnected rather than allowed to slow anyone else.
//!
//! The listener is supervised: while it is down, deliveries still reach this instance's sockets directly,
//! and when it is back every local socket gets a `resync` frame (catch up by `seq` over REST).
//!
//! Presence entries belong to the instance holding the socket: it refreshes them every
//! [`PRESENCE_REFRESH`] for [`PRESENCE_ENTRY_TTL`] and removes them at a graceful stop, so a crashed
//! instance's entries expire within seconds. A kick closes local sockets and removes the user's entries on
//! every instance before it returns.
//!
//! Closing: a kick, or credentials that stopped working ([`Hub::disconnect`]), closes the user's sockets
//! on every instance with 1008 (policy); shutdown closes this instance's with 1001 (going away).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::socket::{Refused, Socket, encode};
use crate::error::{AppError, AppResult};
use crate::infra::{Presence, PubSub, TokenRevocation};
use crate::supervisor::{self, Task};
use actix_http::ws::{CloseCode, CloseReason, OpCode};
use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

const CHANNEL: &str = "ws:deliveries";
const MSG_PRESENCE_UNAVAILABLE: &str = "在线状态暂时无法查询，请稍后重试";
/// How long a session's "present" mark lives without a heartbeat.
pub const PRESENCE_TTL: Duration = Duration::from_secs(90);
/// How long a connection's presence entry lives unless its instance refreshes it.
pub const PRESENCE_ENTRY_TTL: Duration = Duration::from_secs(15);
/// How often an instance refreshes its connections' presence entries.
pub const PRESENCE_REFRESH: Duration = Duration::from_secs(5);

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
    /// Close the connections of a user whose credentials stopped working: those opened with `jti`, or
    /// all of them.
    Disconnect {
        user_id: i64,
        jti: Option<String>,
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
    /// The socket; its connection task holds another handle.
    socket: Arc<Socket>,
}

pub struct Hub {
    conns: DashMap<u64, Connection>,
    by_user: DashMap<i64, HashSet<u64>>,
    next_id: AtomicU64,
    instance_id: String,
    pubsub: Arc<dyn PubSub>,
    presence: Arc<dyn Presence>,
    revocation: Arc<dyn TokenRevocation>,
    /// Whether the listener is subscribed: if not, deliveries are also made to local sockets directly.
    listening: AtomicBool,
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
            listening: AtomicBool::new(false),
        })
    }

    fn connection_key(&self, id: u64) -> String {
        format!("{}:{id}", self.instance_id)
    }

    /// Adds a socket of `user_id`, marks the user present, and returns the connection's id.
    pub async fn register(
        &self,
        user_id: i64,
        session_id: Option<i64>,
        jti: String,
        token_ttl: Duration,
        socket: Arc<Socket>,
    ) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.conns.insert(
            id,
            Connection {
                user_id,
                connected_at: Utc::now(),
                session_id,
                jti,
                token_ttl,
                socket,
            },
        );
        self.by_user.entry(user_id).or_default().insert(id);
        if let Err(e) = self
            .presence
            .heartbeat(user_id, &self.connection_key(id), PRESENCE_ENTRY_TTL)
            .await
        {
            tracing::warn!(error.cause_chain = ?e, "presence heartbeat failed");
        }
        id
    }

    /// Refreshes the presence of one connection (unless a kick removed it meanwhile).
    pub async fn heartbeat(&self, id: u64) {
        let Some(user_id) = self.conns.get(&id).map(|c| c.user_id) else {
            return;
        };
        let entry = [(user_id, self.connection_key(id))];
        if let Err(e) = self.presence.refresh(&entry, PRESENCE_ENTRY_TTL).await {
            tracing::debug!(error.cause_chain = ?e, "presence heartbeat failed");
        }
    }

    /// This instance's presence entries.
    fn presence_entries(&self) -> Vec<(i64, String)> {
        self.conns
            .iter()
            .map(|c| (c.user_id, self.connection_key(*c.key())))
            .collect()
    }

    /// Refreshes every local connection's presence entry: the supervised `presence` task.
    pub async fn run_presence(
        self: Arc<Self>,
        task: Task,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(PRESENCE_REFRESH);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                _ = tick.tick() => match self.presence.refresh(&self.presence_entries(), PRESENCE_ENTRY_TTL).await {
                    Ok(()) => { task.up(); }
                    Err(e) => task.failing(&e),
                }
            }
        }
    }

    /// Writes every local connection's presence entry again, e.g. after Redis came back empty.
    pub async fn reassert_presence(&self) -> anyhow::Result<()> {
        for (user_id, key) in self.presence_entries() {
            self.presence
                .heartbeat(user_id, &key, PRESENCE_ENTRY_TTL)
                .await?;
        }
        Ok(())
    }

    /// Removes this instance's presence entries (graceful stop).
    pub async fn forget_presence(&self) {
        for (user_id, key) in self.presence_entries() {
            if let Err(e) = self.presence.remove(user_id, &key).await {
                tracing::warn!(error.cause_chain = ?e, "presence removal at shutdown failed");
                return;
            }
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

    /// Closes every connection of `user_id` on every instance and revokes their tokens. Returns once the
    /// local sockets are closed and the user's presence is gone on every instance, so a second look right
    /// after sees the user offline.
    ///
    /// `farewell`, when given, is written to each socket right before its close frame, on every
    /// instance. Sent on its own beforehand, it went through the relay while the local close did not, and
    /// under load the close overtook it: the client never learned why it was logged out.
    pub async fn kick(&self, user_id: i64, reason: &str, farewell: Option<&Value>) {
        let kick = Delivery::Kick {
            target: Target::Users(vec![user_id]),
            reason: reason.to_owned(),
        };
        let farewell = farewell.map(Value::to_string);
        let local_frame = farewell
            .as_deref()
            .map(|text| encode(OpCode::Text, text.as_bytes()));
        self.deliver_local(&kick, local_frame).await;
        if let Err(e) = self
            .pubsub
            .publish(CHANNEL, &self.encode(&kick, farewell.as_deref()))
            .await
        {
            tracing::warn!(error.cause_chain = ?e, "kick publish failed; only local sockets were closed");
        }
        // Other instances refresh only entries that still exist, so this removal sticks.
        if let Err(e) = self.presence.remove_user(user_id).await {
            tracing::warn!(error.cause_chain = ?e, "presence removal on kick failed");
        }
    }

    /// Closes (1008) the connections of `user_id` opened with the token `jti`, or all of them, on every
    /// instance: the token was revoked, the account disabled or its password changed.
    pub async fn disconnect(&self, user_id: i64, jti: Option<&str>, reason: &str) {
        let disconnect = Delivery::Disconnect {
            user_id,
            jti: jti.map(str::to_owned),
            reason: reason.to_owned(),
        };
        self.publish(&disconnect, None).await;
    }

    /// Tells every local socket to catch up over REST: deliveries from other instances may have been missed.
    fn resync(&self) {
        let hint = frame(
            "resync",
            0,
            serde_json::json!({ "reason": "delivery_restored" }),
        );
        let sockets = self.local_sockets(&Target::All);
        tracing::info!(
            sockets = sockets.len(),
            "delivery listener back: asking sockets to resync"
        );
        let bytes = encode(OpCode::Text, hint.to_string().as_bytes());
        for (_, _, socket) in sockets {
            let _ = socket.send(bytes.clone());
        }
    }

    fn encode(&self, delivery: &Delivery, frame: Option<&str>) -> String {
        let mut payload = match serde_json::to_string(delivery) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "unserializable delivery");
                return String::new();
            }
        };
        if let Some(frame) = frame {
            payload.push('\n');
            payload.push_str(frame);
        }
        payload
    }

    async fn publish(&self, delivery: &Delivery, frame: Option<&str>) {
        let payload = self.encode(delivery, frame);
        let published = self.pubsub.publish(CHANNEL, &payload).await;
        if let Err(e) = &published {
            tracing::debug!(error.cause_chain = ?e, "delivery publish failed; delivering locally only");
        }
        // The listener would bring it back to this instance's sockets; without it, deliver here directly.
        if published.is_err() || !self.listening.load(Ordering::Acquire) {
            self.deliver_payload(payload).await;
        }
    }

    /// Delivers a payload as `publish` wrote it.
    async fn deliver_payload(&self, mut payload: String) {
        let frame = payload.find('\n').map(|at| {
            let frame = encode(OpCode::Text, &payload.as_bytes()[at + 1..]);
            payload.truncate(at);
            frame
        });
        match serde_json::from_str::<Delivery>(&payload) {
            Ok(delivery) => self.deliver_local(&delivery, frame).await,
            Err(e) => tracing::warn!(error = %e, "unreadable delivery"),
        }
    }

    /// Hands deliveries from pub/sub to this instance's sockets until `shutdown`: the supervised
    /// `ws_listener` task. An error when the subscription is lost.
    pub async fn run_listener(
        self: Arc<Self>,
        task: Task,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let subscription = self.pubsub.subscribe(CHANNEL).await?;
        self.listening.store(true, Ordering::Release);
        if task.up() {
            self.resync();
        }
        let outcome = supervisor::listen(subscription, &mut shutdown, |payload| {
            self.deliver_payload(payload)
        })
        .await;
        self.listening.store(false, Ordering::Release);
        outcome
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

    /// The target's sockets on this instance, taken out of the maps so no lock is held while writing.
    fn local_sockets(&self, target: &Target) -> Vec<(u64, i64, Arc<Socket>)> {
        let entry = |id: u64, c: &Connection| (id, c.user_id, c.socket.clone());
        match target {
            Target::All => self.conns.iter().map(|c| entry(*c.key(), &c)).collect(),
            Target::Users(_) => self
                .local_ids(target)
                .into_iter()
                .filter_map(|id| self.conns.get(&id).map(|c| entry(id, &c)))
                .collect(),
        }
    }

    async fn deliver_local(&self, delivery: &Delivery, frame: Option<Bytes>) {
        match delivery {
            Delivery::Frame { target } => {
                let Some(frame) = frame else {
                    tracing::warn!("frame delivery without a frame");
                    return;
                };
                write_to_all(self.local_sockets(target), frame).await;
            }
            Delivery::Kick { target, reason } => {
                for id in self.local_ids(target) {
                    if let (Some(frame), Some(conn)) = (&frame, self.conns.get(&id)) {
                        let _ = conn.socket.send(frame.clone());
                    }
                    let token = self.conns.get(&id).map(|c| (c.jti.clone(), c.token_ttl));
                    if let Some((jti, ttl)) = token
                        && let Err(e) = self.revocation.revoke(&jti, ttl).await
                    {
                        tracing::warn!(error.cause_chain = ?e, "token revocation on kick failed");
                    }
                    self.close(id, reason);
                    // Gone from the maps and from presence now, not when its task gets round to it.
                    self.unregister(id).await;
                }
            }
            Delivery::Disconnect {
                user_id,
                jti,
                reason,
            } => {
                for id in self.local_ids(&Target::Users(vec![*user_id])) {
                    let opened_with = |c: &Connection| jti.as_ref().is_none_or(|j| *j == c.jti);
                    if self.conns.get(&id).is_some_and(|c| opened_with(&c)) {
                        self.close(id, reason);
                    }
                }
            }
        }
    }

    /// Sends a policy close frame (1008) with `reason` and ends the connection's task.
    fn close(&self, id: u64, reason: &str) {
        if let Some(conn) = self.conns.get(&id) {
            conn.socket.close(goodbye(CloseCode::Policy, reason));
        }
    }

    /// Asks every local socket to close with 1001 (going away: graceful shutdown), which clients take
    /// as a reason to reconnect.
    pub fn close_all(&self, reason: &str) {
        for conn in self.conns.iter() {
            conn.socket.close(goodbye(CloseCode::Away, reason));
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

    /// Users online on any instance; only this instance's while presence cannot be read (Redis down).
    pub async fn online_users(&self) -> Vec<i64> {
        self.presence.online_users().await.unwrap_or_else(|e| {
            tracing::warn!(error.cause_chain = ?e, "presence lookup failed: listing this instance's users only");
            let mut users: Vec<i64> = self.by_user.iter().map(|entry| *entry.key()).collect();
            users.sort_unstable();
            users
        })
    }

    /// Whether `user_id` is online on any instance. While presence cannot be read, a user with sockets
    /// here is online; for anyone else "offline" would be a guess, so the answer is 503.
    pub async fn is_online(&self, user_id: i64) -> AppResult<bool> {
        match self.presence.is_online(user_id).await {
            Ok(online) => Ok(online),
            Err(_) if !self.local_ids(&Target::Users(vec![user_id])).is_empty() => Ok(true),
            Err(e) => {
                tracing::warn!(error.cause_chain = ?e, user_id, "presence lookup failed");
                Err(AppError::Unavailable(MSG_PRESENCE_UNAVAILABLE.into()))
            }
        }
    }
}

/// From this many sockets on, a delivery's writes are spread over one blocking thread per core: each
/// write is a system call that also runs the loopback receiver's side, so one thread alone would
/// leave the other cores idle during a broadcast.
const PARALLEL_FROM: usize = 1024;

async fn write_to_all(sockets: Vec<(u64, i64, Arc<Socket>)>, frame: Bytes) {
    let write = |(id, user_id, socket): &(u64, i64, Arc<Socket>), frame: &Bytes| {
        if socket.send(frame.clone()) == Err(Refused::TooSlow) {
            tracing::warn!(
                connection = id,
                user_id,
                "send queue full: disconnecting slow consumer"
            );
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if sockets.len() < PARALLEL_FROM || cores == 1 {
        for entry in &sockets {
            write(entry, &frame);
        }
        return;
    }
    let per_thread = sockets.len().div_ceil(cores);
    let mut chunks = Vec::with_capacity(cores);
    let mut rest = sockets;
    while rest.len() > per_thread {
        let tail = rest.split_off(per_thread);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    let mut writers = Vec::with_capacity(cores);
    for chunk in chunks {
        let frame = frame.clone();
        writers.push(tokio::task::spawn_blocking(move || {
            for entry in &chunk {
                write(entry, &frame);
            }
        }));
    }
    // Every write of this delivery is done before the next delivery starts, so frames keep their order.
    for writer in writers {
        if let Err(e) = writer.await {
            tracing::error!(error = %e, "broadcast writer failed");
        }
    }
}

fn goodbye(code: CloseCode, reason: &str) -> Option<CloseReason> {
    Some(CloseReason {
        code,
        description: Some(reason.to_owned()),
    })
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
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    fn hub() -> Arc<Hub> {
        Hub::new(
            Arc::new(MemoryPubSub::default()),
            Arc::new(MemoryPresence::default()),
            Arc::new(MemoryRevocation::default()),
        )
    }

    /// A server-side socket over loopback TCP, and the peer's end of it.
    async fn socket() -> (Arc<Socket>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, peer) = tokio::join!(listener.accept(), peer);
        (Arc::new(Socket::new(accepted.unwrap().0)), peer.unwrap())
    }

    /// What the peer can read within a short wait.
    async fn received(peer: &mut TcpStream) -> Vec<u8> {
        let mut buf = vec![0; 64 * 1024];
        match tokio::time::timeout(Duration::from_millis(200), peer.read(&mut buf)).await {
            Ok(Ok(n)) => buf[..n].to_vec(),
            _ => Vec::new(),
        }
    }

    fn contains(bytes: &[u8], needle: &[u8]) -> bool {
        bytes.windows(needle.len()).any(|w| w == needle)
    }

    async fn register(hub: &Hub, user_id: i64, socket: &Arc<Socket>) -> u64 {
        hub.register(
            user_id,
            None,
            format!("jti-{user_id}"),
            Duration::from_secs(60),
            socket.clone(),
        )
        .await
    }

    #[tokio::test]
    async fn a_slow_consumer_is_cut_off_instead_of_queueing_without_end() {
        let hub = hub();
        // The peer never reads: the kernel's buffers fill, then the socket's queue.
        let (socket, _peer) = socket().await;
        let id = register(&hub, 7, &socket).await;
        let frame = encode(OpCode::Text, &vec![b'x'; 60 * 1024]);
        let conn = hub.conns.get(&id).unwrap();
        let mut outcome = Ok(());
        for _ in 0..2_000 {
            outcome = conn.socket.send(frame.clone());
            if outcome.is_err() {
                break;
            }
        }
        assert_eq!(outcome, Err(Refused::TooSlow));
        assert_eq!(socket.send(frame), Err(Refused::Gone));
        // The connection's task is told to end.
        tokio::time::timeout(Duration::from_secs(1), socket.woken())
            .await
            .expect("woken");
        assert!(socket.flush().await.expect("flush"), "finished");
    }

    #[tokio::test]
    async fn a_broadcast_to_many_sockets_reaches_every_one_of_them() {
        let hub = hub();
        let mut peers = Vec::new();
        // Past the size from which the writes are spread over several threads.
        for i in 0..(PARALLEL_FROM as i64 + 100) {
            let (socket, peer) = socket().await;
            register(&hub, i, &socket).await;
            peers.push((socket, peer));
        }
        hub.deliver_local(
            &Delivery::Frame {
                target: Target::All,
            },
            Some(encode(OpCode::Text, b"{\"type\":\"system_message\"}")),
        )
        .await;
        for (i, (socket, peer)) in peers.iter_mut().enumerate() {
            let got = received(peer).await;
            assert!(contains(&got, b"system_message"), "socket {i} got {got:?}");
            assert_eq!(socket.send_text("still open"), Ok(()), "socket {i} is open");
        }
    }

    #[tokio::test]
    async fn every_connection_of_a_user_gets_the_frame() {
        let hub = hub();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let tasks = crate::supervisor::Supervisor::new().unwrap();
        let listening = hub.clone();
        let listener = tasks.spawn("ws_listener", rx, move |task, rx| {
            listening.clone().run_listener(task, rx)
        });
        tokio::task::yield_now().await;
        let (sa, mut a) = socket().await;
        let (sb, mut b) = socket().await;
        let (sc, mut other) = socket().await;
        let ra = register(&hub, 1, &sa).await;
        let rb = register(&hub, 1, &sb).await;
        register(&hub, 2, &sc).await;
        // The listener subscribes asynchronously; retry until it is up.
        let mut got = Vec::new();
        for _ in 0..25 {
            hub.send(Target::Users(vec![1]), &frame("ping", 0, Value::Null))
                .await;
            got = received(&mut a).await;
            if !got.is_empty() {
                break;
            }
        }
        assert!(contains(&got, b"\"ping\""));
        assert!(contains(&received(&mut b).await, b"\"ping\""));
        assert!(received(&mut other).await.is_empty());
        assert!(hub.is_online(1).await.unwrap());
        hub.unregister(ra).await;
        hub.unregister(rb).await;
        assert!(!hub.is_online(1).await.unwrap());
        tx.send(true).unwrap();
        listener.await.unwrap();
    }

    #[tokio::test]
    async fn closing_sends_a_close_frame_and_nothing_after_it() {
        let hub = hub();
        let (socket, mut peer) = socket().await;
        let id = register(&hub, 3, &socket).await;
        hub.close(id, "bye");
        assert_eq!(
            socket.send_text("late"),
            Err(Refused::Gone),
            "nothing after the close frame"
        );
        let got = received(&mut peer).await;
        // FIN + opcode 8, then the policy code 1008 and the reason.
        assert_eq!(got[0], 0x88);
        assert_eq!(got[2..4], 1008u16.to_be_bytes());
        assert!(contains(&got, b"bye"));
        assert!(socket.flush().await.expect("flush"), "finished");
    }
}
