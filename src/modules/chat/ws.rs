//! The WebSocket endpoints on 8082: `/ws`, `/ws/chat/{sessionId}`, `/ws/counselor/{id}`, and `/ws/stats`
//! (plain HTTP, for an administrator's token).
//!
//! The token comes in the query string; errors before the upgrade answer the original's `{"error": …}`
//! bodies. Frames are `{type, session_id, data}`; `payload` is accepted for `data`, and on
//! `/ws/chat/{id}` a missing or zero `session_id` means the path's session, which the socket joins on
//! connect.
//!
//! Handshake: actix-http's checks plus a refusal of a repeated `Sec-WebSocket-Key`; a token that could not
//! be checked is a 503. An open socket closes with 1008 when its token expires (seen at the ping tick) and,
//! through the hub, when its credentials stop working; protocol faults close it with the code
//! [`super::socket::Reader`] names, after the messages that came before them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_codec::Framed;
use actix_http::body::BodySize;
use actix_http::h1;
use actix_http::ws::{CloseCode, CloseReason, HandshakeError, OpCode};
use actix_http::{ConnectionType, Request, RequestHead, Response, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::SinkExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tracing::Instrument;

use super::hub::{Target, error_frame, frame};
use super::service::{self as chat, EndReason, NewMessage, Session, status};
use super::socket::{End, Reader, Received, Socket, encode};
use crate::bus::Realm;
use crate::error::AppError;
use crate::modules::auth::{Principal, authenticate_token};
use crate::modules::counselors::service as counselors;
use crate::state::AppState;

/// How long a socket may take to drain its queued output before the peer counts as stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Plain HTTP requests to the socket paths (no `Upgrade` header): the same checks as an upgrade, then
/// the handshake's refusal. Upgrades never reach these: actix-http hands them to [`accept`].
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(not_upgraded))
        .route("/ws/chat/{session_id}", web::get().to(not_upgraded))
        .route("/ws/counselor/{counselor_id}", web::get().to(not_upgraded))
        .route("/ws/stats", web::get().to(ws_stats));
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// A refusal before the upgrade, with the original's `{"error": …}` body.
struct Refusal(StatusCode, &'static str);

/// Who may open the socket, and what it starts with.
struct Admission {
    who: Principal,
    /// `/ws/chat/{id}`: the session the socket joins on connect.
    path_session: Option<Session>,
    /// `/ws/counselor/{id}`: the `connected` frame.
    welcome: Option<Value>,
}

/// The user behind `?token=`, or the original's refusal. `Err`: the token could not be checked (503).
async fn principal(state: &AppState, query: &str) -> Result<Result<Principal, Refusal>, AppError> {
    let token = web::Query::<TokenQuery>::from_query(query)
        .ok()
        .and_then(|q| q.into_inner().token)
        .filter(|t| !t.is_empty() && t != "null");
    let Some(token) = token else {
        return Ok(Err(Refusal(StatusCode::UNAUTHORIZED, "缺少token")));
    };
    match authenticate_token(state, Realm::User, &token).await {
        Ok(who) => Ok(Ok(who)),
        Err(AppError::Unauthorized(_)) => Ok(Err(Refusal(StatusCode::UNAUTHORIZED, "token无效"))),
        Err(e) => Err(e),
    }
}

/// What the checks before the upgrade decided.
enum Verdict {
    /// Not one of the socket paths.
    NoSocketHere,
    Refused(Refusal),
    Admitted(Box<Admission>),
}

fn refused(status: StatusCode, msg: &'static str) -> Result<Verdict, AppError> {
    Ok(Verdict::Refused(Refusal(status, msg)))
}

/// The checks of the socket path `path`: the token, then what the path names.
async fn admit(state: &AppState, path: &str, query: &str) -> Result<Verdict, AppError> {
    let (kind, id) = match path.trim_end_matches('/') {
        "/ws" => ("generic", None),
        p => {
            let named = p
                .strip_prefix("/ws/chat/")
                .map(|id| ("chat", id))
                .or_else(|| p.strip_prefix("/ws/counselor/").map(|id| ("counselor", id)));
            match named {
                Some((kind, id)) if !id.contains('/') => (kind, Some(id)),
                _ => return Ok(Verdict::NoSocketHere),
            }
        }
    };
    let who = match principal(state, query).await? {
        Ok(p) => p,
        Err(refusal) => return Ok(Verdict::Refused(refusal)),
    };
    let mut admission = Admission {
        who,
        path_session: None,
        welcome: None,
    };
    match (kind, id.map(str::parse::<i64>)) {
        ("chat", Some(Ok(session_id))) => {
            let Some(session) = chat::find_session(&state.db, session_id).await? else {
                return refused(StatusCode::NOT_FOUND, chat::MSG_SESSION_NOT_FOUND);
            };
            if chat::role_of(&session, admission.who.id).is_none() {
                return refused(StatusCode::FORBIDDEN, "无权加入此会话");
            }
            admission.path_session = Some(session);
        }
        ("chat", _) => return refused(StatusCode::BAD_REQUEST, "无效的会话ID"),
        ("counselor", Some(Ok(counselor_id))) => {
            let owns = counselors::find_counselor(&state.db, counselor_id)
                .await?
                .is_some_and(|c| c.user_id == Some(admission.who.id));
            if !owns {
                return refused(StatusCode::FORBIDDEN, "无权访问");
            }
            admission.welcome = Some(frame(
                "connected",
                0,
                json!({ "counselor_id": counselor_id, "timestamp": chrono::Utc::now().timestamp() }),
            ));
        }
        ("counselor", _) => return refused(StatusCode::BAD_REQUEST, "无效的咨询师ID"),
        _ => {}
    }
    Ok(Verdict::Admitted(Box::new(admission)))
}

async fn not_upgraded(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, actix_web::Error> {
    match admit(&state, req.path(), req.query_string()).await? {
        Verdict::Refused(Refusal(status, msg)) => {
            Ok(HttpResponse::build(status).json(json!({ "error": msg })))
        }
        // Admitted, but this is no handshake.
        Verdict::Admitted(_) => Err(check_handshake(req.head())
            .err()
            .unwrap_or(HandshakeError::NoConnectionUpgrade)
            .into()),
        Verdict::NoSocketHere => Err(AppError::not_found("接口不存在").into()),
    }
}

/// Live totals of the active sessions, for an administrator (the admin API's bearer token).
async fn ws_stats(
    state: web::Data<AppState>,
    _admin: crate::modules::auth::CurrentAdmin,
) -> Result<HttpResponse, AppError> {
    let stats = chat::active_session_totals(&state.db).await?;
    Ok(HttpResponse::Ok().json(json!({ "code": 200, "msg": "获取成功", "data": stats })))
}

/// actix-http's upgrade service for port 8082: every request with `Connection: upgrade` comes here with
/// its connection. An admitted handshake gets its `101`, and the stream moves to a task of its own, so
/// nothing of actix-http's per-connection state outlives the handshake.
pub async fn accept(
    state: web::Data<AppState>,
    req: Request,
    mut framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), Infallible> {
    let request_id = uuid::Uuid::new_v4();
    let span = tracing::info_span!(
        "websocket",
        %request_id,
        path = %req.path(),
        user_id = tracing::field::Empty,
    );
    let answer = async {
        let query = req.uri().query().unwrap_or_default();
        let admission = match admit(&state, req.path(), query).await {
            Ok(Verdict::NoSocketHere) => Err(http_reply(
                StatusCode::NOT_FOUND,
                json!({ "code": 404, "msg": "接口不存在", "data": null }),
            )),
            // 503 when the token could not be checked, 500 for anything else.
            Err(e) => Err(http_reply(
                actix_web::ResponseError::status_code(&e),
                json!({ "error": public_message(&e) }),
            )),
            Ok(Verdict::Refused(Refusal(status, msg))) => {
                Err(http_reply(status, json!({ "error": msg })))
            }
            Ok(Verdict::Admitted(admission)) => match check_handshake(req.head()) {
                Ok(()) => Ok(admission),
                // actix-http's answer (426 with `Sec-WebSocket-Version: 13`, 405 with `Allow: GET`,
                // else 400) with a body that says why.
                Err(e) => Err(with_json_body(
                    Response::from(e).drop_body(),
                    json!({ "error": e.to_string() }),
                )),
            },
        };
        match admission {
            Err((head, body)) => {
                tracing::info!(status = head.status().as_u16(), "websocket refused");
                let size = BodySize::Sized(body.len() as u64);
                let sent = async {
                    // One write: a client reading only what came with the head still gets the body.
                    framed.feed((head, size).into()).await?;
                    framed.feed(h1::Message::Chunk(Some(body))).await?;
                    framed.send(h1::Message::Chunk(None)).await
                };
                let _ = tokio::time::timeout(WRITE_TIMEOUT, sent).await;
                None
            }
            Ok(admission) => {
                let mut head = actix_http::ws::handshake_response(req.head());
                if let Ok(id) = actix_http::header::HeaderValue::from_str(&request_id.to_string()) {
                    head.insert_header(("x-request-id", id));
                }
                let head = head.finish().drop_body();
                match tokio::time::timeout(
                    WRITE_TIMEOUT,
                    framed.send((head, BodySize::None).into()),
                )
                .await
                {
                    Ok(Ok(())) => Some(admission),
                    _ => None,
                }
            }
        }
    }
    .instrument(span.clone())
    .await;
    if let Some(admission) = answer {
        span.record("user_id", admission.who.id);
        let parts = framed.into_parts();
        let reader = Reader::with_early_bytes(parts.read_buf);
        let socket = Arc::new(Socket::new(parts.io));
        actix_web::rt::spawn(run(state, socket, reader, *admission).instrument(span));
    }
    Ok(())
}

/// A JSON reply that closes the connection.
fn http_reply(status: StatusCode, body: Value) -> (Response<()>, actix_web::web::Bytes) {
    with_json_body(Response::new(status).drop_body(), body)
}

/// `head` with a JSON `body`, closing the connection.
fn with_json_body(mut head: Response<()>, body: Value) -> (Response<()>, actix_web::web::Bytes) {
    head.headers_mut().insert(
        actix_http::header::CONTENT_TYPE,
        actix_http::header::HeaderValue::from_static("application/json"),
    );
    head.head_mut().set_connection_type(ConnectionType::Close);
    (head, body.to_string().into())
}

/// actix-http's handshake checks, and one it lacks: a request naming `Sec-WebSocket-Key` twice is
/// refused (RFC 6455 §4.2.1 asks for exactly one) rather than answered for whichever comes first.
pub fn check_handshake(head: &RequestHead) -> Result<(), HandshakeError> {
    actix_http::ws::verify_handshake(head)?;
    if head
        .headers()
        .get_all(actix_http::header::SEC_WEBSOCKET_KEY)
        .nth(1)
        .is_some()
    {
        return Err(HandshakeError::BadWebsocketKey);
    }
    Ok(())
}

/// One socket's life: registered with the hub until it closes.
async fn run(
    state: web::Data<AppState>,
    socket: Arc<Socket>,
    reader: Reader,
    admission: Admission,
) {
    let who = admission.who;
    // Checked at the heartbeat tick rather than with a timer of its own: a socket lives at most one
    // ping interval past its token.
    let token_expires = Instant::now() + Duration::from_secs(who.remaining_secs);
    let path_session = admission.path_session;
    let id = state
        .realtime
        .register(
            who.id,
            path_session.as_ref().map(|s| s.id),
            who.jti.clone(),
            Duration::from_secs(who.remaining_secs),
            socket.clone(),
        )
        .await;
    let mut conn = Conn {
        state,
        user_id: who.id,
        id,
        session: path_session.as_ref().map(|s| s.id),
        joined: None,
        socket,
    };
    conn.run(reader, path_session, admission.welcome, token_expires)
        .await;
}

/// One socket's task.
struct Conn {
    state: web::Data<AppState>,
    user_id: i64,
    id: u64,
    /// The session this socket speaks for when a frame names none.
    session: Option<i64>,
    /// The parties of the session it joined last, so frames for it need no session read.
    joined: Option<chat::Parties>,
    socket: Arc<Socket>,
}

/// An inbound frame. `payload` is the Vue client's name for `data`.
#[derive(Deserialize)]
struct Inbound {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    session_id: Option<Value>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    payload: Option<Value>,
}

impl Conn {
    /// Queues a frame for this socket; a peer too slow to take it is cut off.
    fn send(&self, value: &Value) {
        let _ = self.socket.send_text(&value.to_string());
    }

    async fn run(
        &mut self,
        mut reader: Reader,
        path_session: Option<Session>,
        welcome: Option<Value>,
        token_expires: Instant,
    ) {
        let settings = self.state.settings.chat.clone();
        let idle_limit = Duration::from_secs(settings.ws_idle_timeout_secs.max(1));
        let mut ticker =
            tokio::time::interval(Duration::from_secs(settings.ws_ping_interval_secs.max(1)));
        ticker.tick().await;
        let mut last_seen = Instant::now();
        // Frames may have come with the handshake.
        let mut batch = reader.decode_pending();
        let mut close = None;
        if let Some(welcome) = welcome {
            self.send(&welcome);
        }
        if let Some(session) = path_session {
            Box::pin(self.join_loaded(session)).await;
        }
        'life: loop {
            for message in batch.messages.drain(..) {
                match message {
                    // Boxed: the frame handlers' futures are large, and an idle socket should not carry
                    // them.
                    Received::Text(text) => Box::pin(self.on_text(&text)).await,
                    Received::Binary => self.send(&error_frame("不支持二进制消息")),
                    Received::Ping(bytes) => {
                        let _ = self.socket.send(encode(OpCode::Pong, &bytes));
                    }
                    Received::Pong => {}
                    Received::Close(reason) => {
                        // The peer's code echoed (RFC 6455 §5.5.1).
                        close = reason.map(|r| closing(r.code, None));
                        break 'life;
                    }
                }
            }
            match batch.end {
                Some(End::HungUp) => break 'life,
                Some(End::Failed(code)) => {
                    close = Some(closing(code, None));
                    break 'life;
                }
                None => {}
            }
            tokio::select! {
                // Output waits for the peer, or the hub closed the socket (kick, shutdown) or found
                // it too slow.
                _ = self.socket.woken() => {
                    let flushed = tokio::time::timeout(WRITE_TIMEOUT, self.socket.flush()).await;
                    if !matches!(flushed, Ok(Ok(false))) {
                        break 'life;
                    }
                }
                _ = ticker.tick() => {
                    if last_seen.elapsed() > idle_limit {
                        close = Some(closing(CloseCode::Away, Some("idle")));
                        break 'life;
                    }
                    if Instant::now() >= token_expires {
                        close = Some(closing(CloseCode::Policy, Some("token expired")));
                        break 'life;
                    }
                    if self.socket.send(encode(OpCode::Ping, b"")).is_err() {
                        break 'life;
                    }
                    self.state.realtime.heartbeat(self.id).await;
                    self.mark_present().await;
                }
                readable = self.socket.readable() => {
                    if readable.is_err() {
                        break 'life;
                    }
                    batch = reader.read(&self.socket);
                    if !batch.messages.is_empty() {
                        last_seen = Instant::now();
                    }
                }
            }
        }
        self.state.realtime.unregister(self.id).await;
        if let Some(session_id) = self.session {
            let _ = self
                .state
                .infra
                .cache
                .delete(&present_key(session_id, self.user_id))
                .await;
        }
        // Does nothing when the socket is closing or gone already; a stuck peer may never take it.
        self.socket.close(close);
        let _ = tokio::time::timeout(WRITE_TIMEOUT, self.socket.flush()).await;
    }

    /// Keeps this user's "connected to the session" mark alive.
    async fn mark_present(&self) {
        if let Some(session_id) = self.session {
            let ttl = super::hub::PRESENCE_TTL;
            let _ = self
                .state
                .infra
                .cache
                .set(&present_key(session_id, self.user_id), "1", ttl)
                .await;
        }
    }

    async fn on_text(&mut self, text: &str) {
        let Ok(frame_in) = serde_json::from_str::<Inbound>(text) else {
            self.send(&error_frame("消息格式错误"));
            return;
        };
        let data = frame_in.data.or(frame_in.payload).unwrap_or(Value::Null);
        let named = frame_in
            .session_id
            .as_ref()
            .and_then(Value::as_i64)
            .filter(|id| *id > 0);
        let session_id = named.or(self.session);
        // A stored message marks the session active itself; other frames do it here.
        if let Some(id) = session_id
            && frame_in.kind != "message"
        {
            chat::touch(&self.state, id).await;
        }
        match frame_in.kind.as_str() {
            "ping" => {
                let pong = frame(
                    "pong",
                    0,
                    json!({ "timestamp": chrono::Utc::now().timestamp() }),
                );
                self.send(&pong);
            }
            "join" => match session_id {
                Some(id) => self.join(id).await,
                None => {
                    self.send(&error_frame(chat::MSG_SESSION_NOT_FOUND));
                }
            },
            "message" => self.on_message(session_id, &data).await,
            "leave" => self.on_leave(session_id).await,
            "typing" | "typing_stop" => self.on_typing(&frame_in.kind, session_id).await,
            "read" => self.on_read(session_id, &data).await,
            _ => {
                self.send(&error_frame("未知消息类型"));
            }
        }
    }

    /// The session if this user takes part in it, else an `error` frame.
    async fn participant_session(&mut self, session_id: Option<i64>) -> Option<Session> {
        let Some(id) = session_id else {
            self.send(&error_frame(chat::MSG_SESSION_NOT_FOUND));
            return None;
        };
        match chat::find_session(&self.state.db, id).await {
            Ok(Some(s)) if chat::role_of(&s, self.user_id).is_some() => Some(s),
            Ok(Some(_)) => {
                self.send(&error_frame("无权访问此会话"));
                None
            }
            Ok(None) => {
                self.send(&error_frame(chat::MSG_SESSION_NOT_FOUND));
                None
            }
            Err(e) => {
                self.send(&error_frame(&public_message(&e)));
                None
            }
        }
    }

    /// The parties of a session this user takes part in (known without a read for the joined one),
    /// else an `error` frame.
    async fn parties(&mut self, session_id: Option<i64>) -> Option<chat::Parties> {
        if let Some(joined) = self.joined
            && session_id == Some(joined.session_id)
        {
            return Some(joined);
        }
        let session = self.participant_session(session_id).await?;
        Some(chat::Parties::of(&session))
    }

    async fn join(&mut self, session_id: i64) {
        if let Some(session) = self.participant_session(Some(session_id)).await {
            self.join_loaded(session).await;
        }
    }

    /// Attaches the socket to a session it takes part in.
    async fn join_loaded(&mut self, session: Session) {
        let session_id = session.id;
        if session.status != status::WAITING && session.status != status::ACTIVE {
            self.send(&error_frame(chat::MSG_ENDED));
            return;
        }
        self.session = Some(session_id);
        self.joined = Some(chat::Parties::of(&session));
        self.state.realtime.set_session(self.id, session_id);
        self.mark_present().await;
        let reply = frame(
            "join_success",
            0,
            json!({ "session_id": session_id, "status": session.status, "last_seq": session.last_seq }),
        );
        self.send(&reply);
        // Joining is a presence: the second party's first one starts the billing clock.
        if let Err(e) = chat::join(&self.state, &session, self.user_id).await {
            tracing::error!(error.cause_chain = ?e, "session join failed");
        }
    }

    async fn on_message(&mut self, session_id: Option<i64>, data: &Value) {
        let Some(parties) = self.parties(session_id).await else {
            return;
        };
        let text = |key: &str| {
            data.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let content_type = Some(text("content_type"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "text".into());
        let client_msg_id = data
            .get("client_msg_id")
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .filter(|s| !s.is_empty());
        let msg = NewMessage {
            content: text("content"),
            content_type,
            file_url: text("file_url"),
            client_msg_id,
        };
        match chat::send_message(&self.state, self.user_id, &parties, msg).await {
            // A fresh message reached every connection of both parties, this one included (the ack).
            Ok((_, true)) => {}
            Ok((stored, false)) => {
                self.send(&chat::message_frame(&stored));
            }
            Err(e) => {
                self.send(&error_frame(&public_message(&e)));
            }
        }
    }

    async fn on_leave(&mut self, session_id: Option<i64>) {
        let Some(session) = self.participant_session(session_id).await else {
            return;
        };
        if session.status != status::ACTIVE && session.status != status::WAITING {
            self.send(&error_frame(chat::MSG_NOT_ACTIVE));
            return;
        }
        if let Err(e) = chat::end_session(&self.state, session.id, EndReason::WsLeave).await {
            self.send(&error_frame(&public_message(&e)));
        }
    }

    async fn on_typing(&mut self, kind: &str, session_id: Option<i64>) {
        let Some(parties) = self.parties(session_id).await else {
            return;
        };
        let relay = frame(kind, parties.session_id, json!({ "user_id": self.user_id }));
        self.state
            .realtime
            .send(
                Target::Users(vec![parties.other_than(self.user_id)]),
                &relay,
            )
            .await;
    }

    async fn on_read(&mut self, session_id: Option<i64>, data: &Value) {
        let Some(session) = self.participant_session(session_id).await else {
            return;
        };
        let seq = match (
            data.get("seq").and_then(Value::as_i64),
            data.get("message_id").and_then(Value::as_i64),
        ) {
            (Some(seq), _) => Some(seq),
            (None, Some(message_id)) => {
                chat::seq_of_message(&self.state.db, session.id, message_id)
                    .await
                    .ok()
                    .flatten()
            }
            _ => None,
        };
        let Some(seq) = seq else {
            self.send(&error_frame("缺少message_id或seq"));
            return;
        };
        if let Err(e) = chat::mark_read(&self.state, self.user_id, session.id, seq).await {
            self.send(&error_frame(&public_message(&e)));
        }
    }
}

fn closing(code: CloseCode, description: Option<&str>) -> CloseReason {
    CloseReason {
        code,
        description: description.map(str::to_owned),
    }
}

fn present_key(session_id: i64, user_id: i64) -> String {
    format!("chat:present:{session_id}:{user_id}")
}

/// The text of an `error` frame: as REST would say it (a database or Redis outage says the service is
/// unavailable, not that the server failed); internal causes go to the log.
fn public_message(e: &AppError) -> String {
    match e {
        AppError::Internal(cause) if e.is_outage() => {
            tracing::warn!(error.cause_chain = ?cause, "websocket frame refused: dependency unavailable");
        }
        AppError::Internal(cause) => {
            tracing::error!(error.cause_chain = ?cause, "websocket handler failed");
        }
        _ => {}
    }
    e.public_message()
}
